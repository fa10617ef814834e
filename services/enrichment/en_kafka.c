/* en_kafka — the compacted topic as an in-memory table; see en_kafka.h. */
#include "en_kafka.h"
#include "clk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kc.h"
#include "log.h"
#include "metrics.h"

#define EN_KAFKA_MAX_FIELDS 256

struct en_kafka_s {
        svc_t *svc;
        const spec_source_t *src;
        kc_t *kc;
        av_decoder_t *dec;
        en_table_t table;
        int nparts;
        uint8_t *at_end; /* per partition: EOF seen since its last record */
        int64_t caught_up_ms;
        int all_at_end;
        int64_t last_warn_ms;
        metrics_child_t *m_applied, *m_deleted, *m_errors;
        char num[EN_KAFKA_MAX_FIELDS][32]; /* numbers formatted while applying */
};

en_kafka_t *en_kafka_new(svc_t *svc, const spec_source_t *src, char *errstr, size_t errstr_size) {
        en_kafka_t *k = calloc(1, sizeof(*k));
        if (!k || en_table_init(&k->table) == -1) {
                free(k);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        k->svc = svc;
        k->src = src;
        const av_schema_t *reader = NULL;
        if (src->kafka.schema &&
            !(reader = svc_schema(svc, src->kafka.schema, errstr, errstr_size))) {
                en_kafka_destroy(k);
                return NULL;
        }
        k->dec = svc_decoder_new(svc, reader);
        /* No group membership: assign() only.  group.id is required by
         * kc_conf_new but never joined, and nothing is committed. */
        static const char *const props[] = {"enable.partition.eof", "true", "fetch.wait.max.ms",
                                            "100", NULL};
        char group[256];
        snprintf(group, sizeof(group), "weir-enrichment-table-%s", src->name);
        kc_opts_t o = {.stage = "enrichment", .group_id = group, .props = props};
        if (!k->dec || !(k->kc = kc_consumer_new(&o, errstr, errstr_size))) {
                if (!k->dec)
                        snprintf(errstr, errstr_size, "out of memory");
                en_kafka_destroy(k);
                return NULL;
        }
        metrics_family_t *f = metrics_counter_family(
                "weir_enrichment_table_records_total",
                "Records of a reference topic applied to the in-memory table, by kind.",
                "source,kind");
        k->m_applied = metrics_child(f, src->name, "upsert");
        k->m_deleted = metrics_child(f, src->name, "tombstone");
        k->m_errors = metrics_child(f, src->name, "error");
        return k;
}

/* One scalar as a string into buf (NUL-terminated): 1 written, 0 null or
 * not a scalar (skipped). */
static int en_scalar(avro_value_t *v, char *buf, size_t size, const char **out, size_t *len) {
        const char *s = NULL;
        size_t n = 0;
        int32_t i32;
        int64_t i64;
        float f;
        double d;
        int b;
        avro_value_t branch;
        switch (avro_value_get_type(v)) {
        case AVRO_STRING:
                if (avro_value_get_string(v, &s, &n) || n == 0)
                        return 0;
                *out = s;
                *len = n - 1; /* avro-c counts the NUL */
                return 1;
        case AVRO_BYTES: {
                const void *p;
                if (avro_value_get_bytes(v, &p, &n))
                        return 0;
                *out = p;
                *len = n;
                return 1;
        }
        case AVRO_INT32:
                avro_value_get_int(v, &i32);
                snprintf(buf, size, "%d", (int)i32);
                break;
        case AVRO_INT64:
                avro_value_get_long(v, &i64);
                snprintf(buf, size, "%lld", (long long)i64);
                break;
        case AVRO_FLOAT:
                avro_value_get_float(v, &f);
                d = (double)f;
                goto dbl;
        case AVRO_DOUBLE:
                avro_value_get_double(v, &d);
        dbl:
                if (d == floor(d) && fabs(d) < 1e15)
                        snprintf(buf, size, "%.0f", d);
                else
                        for (int prec = 15; prec <= 17; prec++) {
                                snprintf(buf, size, "%.*g", prec, d);
                                if (strtod(buf, NULL) == d)
                                        break;
                        }
                break;
        case AVRO_BOOLEAN:
                avro_value_get_boolean(v, &b);
                snprintf(buf, size, "%s", b ? "true" : "false");
                break;
        case AVRO_ENUM: {
                avro_value_get_enum(v, &b);
                const char *sym = avro_schema_enum_get(avro_value_get_schema(v), b);
                if (!sym)
                        return 0;
                *out = sym;
                *len = strlen(sym);
                return 1;
        }
        case AVRO_UNION:
                if (avro_value_get_current_branch(v, &branch))
                        return 0;
                return en_scalar(&branch, buf, size, out, len);
        default:
                return 0;
        }
        *out = buf;
        *len = strlen(buf);
        return 1;
}

/* Upserts or deletes one record's key. */
static void en_kafka_apply(en_kafka_t *k, const rd_kafka_message_t *m) {
        const spec_source_t *src = k->src;
        char err[512];
        if (!m->payload) { /* tombstone */
                if (!m->key)
                        return;
                free(en_table_remove(&k->table, m->key, m->key_len));
                metrics_inc(k->m_deleted, 1);
                return;
        }
        av_decoded_t d;
        int st = av_decode(k->dec, m->payload, m->len, &d, err, sizeof(err));
        if (st == AV_OK && avro_value_get_type(d.value) != AVRO_RECORD) {
                snprintf(err, sizeof(err), "the value is not an Avro record");
                st = AV_ERR_SCHEMA;
        }
        if (st != AV_OK) {
                metrics_inc(k->m_errors, 1);
                log_warn("enrichment", "source \"%s\": %s[%d]@%lld skipped: %s", src->name,
                         src->kafka.topic, (int)m->partition, (long long)m->offset, err);
                return;
        }
        size_t nf = 0;
        avro_value_get_size(d.value, &nf);
        if (nf > EN_KAFKA_MAX_FIELDS)
                nf = EN_KAFKA_MAX_FIELDS;
        const char *names[EN_KAFKA_MAX_FIELDS], *vals[EN_KAFKA_MAX_FIELDS];
        size_t nls[EN_KAFKA_MAX_FIELDS], vls[EN_KAFKA_MAX_FIELDS], n = 0;
        const char *key = m->key;
        size_t key_len = m->key_len;
        int have_key = m->key != NULL;
        if (src->kafka.key_field)
                have_key = 0;
        for (size_t i = 0; i < nf; i++) {
                avro_value_t f;
                const char *name = NULL;
                if (avro_value_get_by_index(d.value, i, &f, &name))
                        continue;
                const char *s;
                size_t len;
                if (!en_scalar(&f, k->num[i], sizeof(k->num[i]), &s, &len))
                        continue;
                if (src->kafka.key_field && !strcmp(name, src->kafka.key_field)) {
                        key = s;
                        key_len = len;
                        have_key = 1;
                        continue;
                }
                names[n] = name;
                nls[n] = strlen(name);
                vals[n] = s;
                vls[n] = len;
                n++;
        }
        if (!have_key) {
                metrics_inc(k->m_errors, 1);
                log_warn("enrichment", "source \"%s\": %s[%d]@%lld skipped: no key%s%s", src->name,
                         src->kafka.topic, (int)m->partition, (long long)m->offset,
                         src->kafka.key_field ? " in field " : "",
                         src->kafka.key_field ? src->kafka.key_field : "");
                return;
        }
        en_entry_t *e = en_entry_new(key, key_len, names, nls, vals, vls, n, src->attributes,
                                     src->nattributes);
        if (!e) {
                metrics_inc(k->m_errors, 1);
                return;
        }
        free(en_table_put(&k->table, e));
        metrics_inc(k->m_applied, 1);
}

/* Handles one polled message; returns 1 when it was a record. */
static int en_kafka_message(en_kafka_t *k, rd_kafka_message_t *m) {
        int rec = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (m->partition >= 0 && m->partition < k->nparts)
                        k->at_end[m->partition] = 1;
        } else if (m->err && kc_consumer_error(k->kc, m)) {
                /* Refused (a missing ACL): kc reports it. */
        } else if (m->err) {
                /* A broker outage repeats this every poll: say it every 10 s. */
                int64_t now = clk_mono_ms();
                if (now - k->last_warn_ms >= 10000) {
                        k->last_warn_ms = now;
                        log_warn("enrichment", "source \"%s\": %s", k->src->name,
                                 rd_kafka_message_errstr(m));
                }
        } else {
                if (m->partition >= 0 && m->partition < k->nparts)
                        k->at_end[m->partition] = 0;
                en_kafka_apply(k, m);
                rec = 1;
        }
        rd_kafka_message_destroy(m);
        int all = 1;
        for (int i = 0; i < k->nparts; i++)
                all &= k->at_end[i];
        k->all_at_end = all;
        if (all)
                k->caught_up_ms = clk_mono_ms();
        return rec;
}

/* Partitions of the topic, or 0 while it does not exist yet. */
static int en_kafka_partitions(en_kafka_t *k, char *errstr, size_t errstr_size) {
        rd_kafka_t *rk = kc_rk(k->kc);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, k->src->kafka.topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        int n = 0;
        if (err)
                snprintf(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(err));
        else if (md->topic_cnt == 1 && !md->topics[0].err)
                n = md->topics[0].partition_cnt;
        else
                snprintf(errstr, errstr_size, "%s",
                         md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return n;
}

st_t en_kafka_load(en_kafka_t *k, atomic_int *stop, admin_beat_t *beat, char *errstr,
                   size_t errstr_size) {
        const char *topic = k->src->kafka.topic;
        int64_t t0 = clk_mono_ms(), warned = 0;
        char why[256] = "";
        while ((k->nparts = en_kafka_partitions(k, why, sizeof(why))) <= 0) {
                if (stop && atomic_load(stop))
                        goto stopped;
                admin_beat(beat);
                if (clk_mono_ms() - t0 >= warned) {
                        log_warn("enrichment", "source \"%s\": waiting for topic %s (%s)",
                                 k->src->name, topic, why);
                        warned += 10000;
                }
                clk_sleep_ms(500);
        }
        k->at_end = calloc((size_t)k->nparts, 1);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(k->nparts);
        if (!k->at_end || !l) {
                if (l)
                        rd_kafka_topic_partition_list_destroy(l);
                snprintf(errstr, errstr_size, "out of memory");
                return ST_NOMEM;
        }
        for (int i = 0; i < k->nparts; i++)
                rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_resp_err_t err = rd_kafka_assign(kc_rk(k->kc), l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err) {
                snprintf(errstr, errstr_size, "source \"%s\": assign %s: %s", k->src->name, topic,
                         rd_kafka_err2str(err));
                return ST_FATAL;
        }
        long records = 0;
        while (!k->all_at_end) {
                if (stop && atomic_load(stop))
                        goto stopped;
                admin_beat(beat);
                rd_kafka_message_t *m = rd_kafka_consumer_poll(kc_rk(k->kc), 100);
                if (m)
                        records += en_kafka_message(k, m);
                if (kc_fatal(k->kc, why, sizeof(why))) {
                        snprintf(errstr, errstr_size, "source \"%s\": %s", k->src->name, why);
                        return ST_FATAL;
                }
        }
        log_info("enrichment",
                 "source \"%s\": table loaded from %s (%d partitions): %ld records read, %zu keys, "
                 "%.1f s",
                 k->src->name, topic, k->nparts, records, k->table.map.count,
                 (double)(clk_mono_ms() - t0) / 1000.0);
        return ST_OK;
stopped:
        snprintf(errstr, errstr_size, "stopped while loading source \"%s\"", k->src->name);
        return ST_STOPPED;
}

int en_kafka_follow(en_kafka_t *k, int max) {
        int n = 0;
        while (n < max) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(kc_rk(k->kc), 0);
                if (!m)
                        break;
                n += en_kafka_message(k, m);
        }
        return n;
}

en_table_t *en_kafka_table(en_kafka_t *k) {
        return &k->table;
}

double en_kafka_staleness_s(const en_kafka_t *k) {
        if (k->all_at_end)
                return 0;
        return (double)(clk_mono_ms() - k->caught_up_ms) / 1000.0;
}

void en_kafka_destroy(en_kafka_t *k) {
        if (!k)
                return;
        if (k->kc) {
                rd_kafka_consumer_close(kc_rk(k->kc));
                kc_destroy(k->kc);
        }
        if (k->dec)
                av_decoder_destroy(k->dec);
        en_table_fini(&k->table);
        free(k->at_end);
        free(k);
}
