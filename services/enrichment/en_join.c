/* en_join — queue, batch look-up and output of aggregates and alerts; see
 * en_join.h. */
#include "en_join.h"
#include "clk.h"
#include "en_otel.h"
#include "kc_dlq.h"
#include "otel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

#define EN_BATCH   512 /* records looked up together (one Redis round trip) */
#define EN_STR(x)  #x
#define EN_XSTR(x) EN_STR(x)

const char *const en_join_producer_props[] = {"batch.num.messages", EN_XSTR(EN_BATCH), NULL};
const char *const en_join_commit_defaults[] = {"COMMIT_MAX_RECORDS", "20000", NULL};

enum { EN_AGG = 0, EN_ALERT = 1 };
static const char *const en_kind_names[] = {"aggregates", "alerts"};
static const char *const en_in_schemas[] = {"weir.Aggregate", "weir.Alert"};
static const char *const en_out_schemas[] = {"weir.EnrichedAggregate", "weir.EnrichedAlert"};

int en_join_check_schemas(svc_t *svc, char *errstr, size_t errstr_size) {
        for (int k = 0; k < 2; k++)
                if (!svc_schema(svc, en_in_schemas[k], errstr, errstr_size) ||
                    !svc_schema(svc, en_out_schemas[k], errstr, errstr_size)) {
                        size_t n = strlen(errstr);
                        snprintf(errstr + n, errstr_size - n,
                                 ": enrichment reads and writes it (copy aggregate.avsc, "
                                 "alert.avsc, aggregate_enriched.avsc and alert_enriched.avsc "
                                 "from Weir's schemas/ into SCHEMA_DIR)");
                        return -1;
                }
        return 0;
}

typedef struct en_item_s {
        int kind;
        size_t key_off, key_len;   /* Kafka record key */
        size_t orig_off, orig_len; /* the value as consumed, for the DLQ */
        size_t body_off, body_len; /* Avro binary in the current input schema */
        size_t join_off, join_len; /* the join value, inside the body */
        int key_null;
        rd_kafka_headers_t *hdrs; /* owned copy, or NULL */
        int64_t ts;
        int32_t partition;
        int64_t offset;
} en_item_t;

typedef struct en_kind_s {
        const char *in_topic, *out_topic;
        const av_schema_t *in, *out;
        uint64_t in_fp;
        uint8_t out_hdr[10];
        size_t out_hdr_len;
        int join_idx; /* field index of the join value; every field before it is a string */
        av_decoder_t *dec;
        metrics_child_t *m_res[4]; /* enriched, unenriched, dropped, dlq */
} en_kind_t;

struct en_join_s {
        svc_t *svc;
        const spec_enrichment_t *spec;
        en_source_t *sources;
        size_t nsources;
        en_kind_t kind[2];
        const char *topics[3];
        buf_t arena, scratch, out;
        en_item_t items[EN_BATCH];
        size_t nitems;
        const char *keys[EN_BATCH];
        size_t lens[EN_BATCH];
        const en_entry_t **ent;      /* [nsources][EN_BATCH] */
        uint8_t *res;                /* [nsources][EN_BATCH] */
        metrics_child_t **m_dropped; /* per source */
        metrics_family_t *f_dlq;
        int64_t last_error_log_ms;
};

static int en_kind_init(en_join_t *j, int k, const char *in_topic, const char *out_topic,
                        char *errstr, size_t errstr_size) {
        en_kind_t *kd = &j->kind[k];
        kd->in_topic = in_topic;
        kd->out_topic = out_topic;
        if (!(kd->in = svc_schema(j->svc, en_in_schemas[k], errstr, errstr_size)) ||
            !(kd->out = svc_schema(j->svc, en_out_schemas[k], errstr, errstr_size)))
                return -1;
        kd->in_fp = av_schema_fingerprint(kd->in);
        static const char *const join_fields[] = {"key", "window", "pipeline"};
        const char *jf = join_fields[j->spec->join];
        avro_schema_t rs = av_schema_avro(kd->in);
        kd->join_idx = avro_schema_record_field_get_index(rs, jf);
        for (int i = 0; kd->join_idx >= 0 && i <= kd->join_idx; i++)
                if (!is_avro_string(avro_schema_record_field_get_by_index(rs, i)))
                        kd->join_idx = -1;
        if (kd->join_idx < 0) {
                snprintf(errstr, errstr_size,
                         "%s: join field \"%s\" must be one of the leading string fields",
                         en_in_schemas[k], jf);
                return -1;
        }
        if (j->svc->wire == AV_WIRE_CONFLUENT) {
                int32_t id;
                if (svc_schema_id(j->svc, out_topic, kd->out, &id, errstr, errstr_size) != ST_OK)
                        return -1;
                kd->out_hdr[0] = 0;
                for (int i = 0; i < 4; i++)
                        kd->out_hdr[1 + i] = (uint8_t)((uint32_t)id >> (24 - 8 * i));
                kd->out_hdr_len = 5;
        } else {
                uint64_t fp = av_schema_fingerprint(kd->out);
                kd->out_hdr[0] = 0xC3;
                kd->out_hdr[1] = 0x01;
                for (int i = 0; i < 8; i++)
                        kd->out_hdr[2 + i] = (uint8_t)(fp >> (8 * i));
                kd->out_hdr_len = 10;
        }
        if (!(kd->dec = svc_decoder_new(j->svc, kd->in))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        static const char *const results[] = {"enriched", "unenriched", "dropped", "dlq"};
        metrics_family_t *f =
                metrics_counter_family("weir_enrichment_records_total",
                                       "Records consumed, by input and outcome.", "input,result");
        for (int i = 0; i < 4; i++)
                kd->m_res[i] = metrics_child(f, en_kind_names[k], results[i]);
        return 0;
}

en_join_t *en_join_new(svc_t *svc, en_source_t *sources, size_t nsources, char *errstr,
                       size_t errstr_size) {
        en_join_t *j = calloc(1, sizeof(*j));
        if (!j) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        j->svc = svc;
        j->spec = svc->spec->enrichment;
        j->sources = sources;
        j->nsources = nsources;
        j->ent = calloc(nsources * EN_BATCH, sizeof(*j->ent));
        j->res = calloc(nsources * EN_BATCH, 1);
        j->m_dropped = calloc(nsources, sizeof(*j->m_dropped));
        if (!j->ent || !j->res || !j->m_dropped) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (en_kind_init(j, EN_AGG, j->spec->input.aggregates, j->spec->output.aggregates, errstr,
                         errstr_size) == -1 ||
            en_kind_init(j, EN_ALERT, j->spec->input.alerts, j->spec->output.alerts, errstr,
                         errstr_size) == -1)
                goto fail;
        metrics_family_t *f = metrics_counter_family(
                "weir_enrichment_dropped_total",
                "Records dropped because a source with on_missing=drop lacked their key.",
                "source");
        for (size_t i = 0; i < nsources; i++)
                j->m_dropped[i] = metrics_child(f, sources[i].spec->name);
        j->f_dlq = metrics_counter_family("weir_enrichment_dlq_records_total",
                                          "Records sent to the dead-letter topic, by error class.",
                                          "class");
        j->topics[0] = j->kind[0].in_topic;
        j->topics[1] = j->kind[1].in_topic;
        return j;
fail:
        en_join_destroy(j);
        return NULL;
}

const char *const *en_join_topics(const en_join_t *j) {
        return j->topics;
}

/* ------------------------------------------------------------ DLQ */

static kc_txn_res_t en_dlq(en_join_t *j, kc_txn_t *t, int kind, const void *key, size_t key_len,
                           const void *val, size_t val_len, const rd_kafka_headers_t *in_hdrs,
                           int64_t ts, int32_t partition, int64_t offset, const char *cls,
                           const char *reason) {
        kc_dlq_src_t src = {.headers = in_hdrs,
                            .topic = j->kind[kind].in_topic,
                            .partition = partition,
                            .offset = offset,
                            .timestamp_ms = ts};
        rd_kafka_headers_t *h = kc_dlq_headers("enrichment", &src, cls, reason);
        kc_record_t r = {.topic = j->spec->output.dlq,
                         .partition = RD_KAFKA_PARTITION_UA,
                         .key = key,
                         .key_len = key_len,
                         .value = val,
                         .value_len = val_len,
                         .headers = h,
                         .timestamp_ms = ts};
        metrics_inc(j->kind[kind].m_res[3], 1);
        metrics_inc(metrics_child(j->f_dlq, cls), 1);
        if (kc_txn_produce(t, &r)) {
                rd_kafka_headers_destroy(h);
                return KC_TXN_ABORT;
        }
        return KC_TXN_OK;
}

static int64_t en_msg_ts(const rd_kafka_message_t *m) {
        int64_t ts = rd_kafka_message_timestamp(m, NULL);
        return ts > 0 ? ts : 0;
}

static kc_txn_res_t en_dlq_msg(en_join_t *j, kc_txn_t *t, int kind, const rd_kafka_message_t *m,
                               const char *cls, const char *reason) {
        rd_kafka_headers_t *hdrs = NULL;
        if (rd_kafka_message_headers(m, &hdrs))
                hdrs = NULL;
        log_debug("enrichment", "%s[%d]@%lld to the DLQ: %s: %s", j->kind[kind].in_topic,
                  (int)m->partition, (long long)m->offset, cls, reason);
        return en_dlq(j, t, kind, m->key, m->key_len, m->payload, m->len, hdrs, en_msg_ts(m),
                      m->partition, m->offset, cls, reason);
}

/* ------------------------------------------------------------ the batch */

static void en_clear(en_join_t *j) {
        for (size_t i = 0; i < j->nitems; i++)
                if (j->items[i].hdrs)
                        rd_kafka_headers_destroy(j->items[i].hdrs);
        j->nitems = 0;
        j->arena.len = 0;
}

/* Appends the enriched value of item i to j->out. */
static int en_compose(en_join_t *j, const en_item_t *it, size_t i, int enriched) {
        const en_kind_t *kd = &j->kind[it->kind];
        size_t count = 0, bytes = 0, ns = j->nsources;
        /* Attributes: earlier sources win, so a name already taken from an
         * earlier source is skipped. */
        for (size_t s = 0; s < ns; s++) {
                const en_entry_t *e = j->ent[s * EN_BATCH + i];
                for (size_t a = 0; e && a < e->nattrs; a++) {
                        int dup = 0;
                        for (size_t p = 0; p < s && !dup; p++) {
                                const en_entry_t *pe = j->ent[p * EN_BATCH + i];
                                for (size_t b = 0; pe && b < pe->nattrs && !dup; b++)
                                        dup = pe->attrs[b].name_len == e->attrs[a].name_len &&
                                              !memcmp(pe->attrs[b].name, e->attrs[a].name,
                                                      e->attrs[a].name_len);
                        }
                        if (!dup) {
                                count++;
                                bytes += e->attrs[a].enc_len;
                        }
                }
        }
        j->out.len = 0;
        if (buf_reserve(&j->out, kd->out_hdr_len + it->body_len + bytes + 22) == -1)
                return -1;
        uint8_t *p = (uint8_t *)j->out.data;
        memcpy(p, kd->out_hdr, kd->out_hdr_len);
        p += kd->out_hdr_len;
        memcpy(p, j->arena.data + it->body_off, it->body_len);
        p += it->body_len;
        *p++ = enriched ? 1 : 0;
        if (count) {
                p += en_avro_put_long(p, (int64_t)count);
                for (size_t s = 0; s < ns; s++) {
                        const en_entry_t *e = j->ent[s * EN_BATCH + i];
                        for (size_t a = 0; e && a < e->nattrs; a++) {
                                int dup = 0;
                                for (size_t q = 0; q < s && !dup; q++) {
                                        const en_entry_t *pe = j->ent[q * EN_BATCH + i];
                                        for (size_t b = 0; pe && b < pe->nattrs && !dup; b++)
                                                dup = pe->attrs[b].name_len ==
                                                              e->attrs[a].name_len &&
                                                      !memcmp(pe->attrs[b].name, e->attrs[a].name,
                                                              e->attrs[a].name_len);
                                }
                                if (!dup) {
                                        memcpy(p, e->attrs[a].enc, e->attrs[a].enc_len);
                                        p += e->attrs[a].enc_len;
                                }
                        }
                }
        }
        *p++ = 0; /* end of the map */
        j->out.len = (size_t)(p - (uint8_t *)j->out.data);
        return 0;
}

static kc_txn_res_t en_flush(en_join_t *j, kc_txn_t *t) {
        size_t n = j->nitems;
        if (n == 0)
                return KC_TXN_OK;
        uint64_t t0_ns = otel_on ? otel_now_ns() : 0;
        for (size_t i = 0; i < n; i++) {
                j->keys[i] = j->arena.data + j->items[i].join_off;
                j->lens[i] = j->items[i].join_len;
        }
        for (size_t s = 0; s < j->nsources; s++) {
                uint8_t *res = &j->res[s * EN_BATCH];
                en_source_lookup(&j->sources[s], j->keys, j->lens, n, &j->ent[s * EN_BATCH], res);
                for (size_t i = 0; i < n; i++)
                        if (res[i] == EN_ERROR) {
                                int64_t now = clk_mono_ms();
                                if (now - j->last_error_log_ms > 5000) {
                                        j->last_error_log_ms = now;
                                        log_warn("enrichment",
                                                 "source \"%s\" cannot answer for key \"%.*s\" "
                                                 "now: the batch is retried",
                                                 j->sources[s].spec->name, (int)j->lens[i],
                                                 j->keys[i]);
                                }
                                return KC_TXN_ABORT;
                        }
        }
        /* The previous batch delivered first (kc_txn_produce_wait): while
         * it is in flight, records queued behind it made librdkafka's
         * broker thread spin; meanwhile this batch was read and looked up. */
        kc_txn_produce_wait(t, 1000);
        kc_txn_res_t rc = KC_TXN_OK;
        for (size_t i = 0; i < n && rc == KC_TXN_OK; i++) {
                en_item_t *it = &j->items[i];
                en_kind_t *kd = &j->kind[it->kind];
                int enriched = 1;
                const spec_source_t *decider = NULL;
                size_t decider_idx = 0;
                for (size_t s = 0; s < j->nsources; s++) {
                        if (j->res[s * EN_BATCH + i] != EN_MISS)
                                continue;
                        enriched = 0;
                        if (j->sources[s].spec->on_missing != SPEC_MISSING_PASS) {
                                decider = j->sources[s].spec;
                                decider_idx = s;
                                break;
                        }
                }
                const char *key = it->key_null ? NULL : j->arena.data + it->key_off;
                en_otel_record(
                        it->hdrs, t0_ns,
                        &(en_otel_rec_t){kd->in_topic, kd->out_topic, j->svc->spec->name,
                                         it->partition, it->offset, j->arena.data + it->join_off,
                                         key, it->join_len, it->key_len,
                                         !decider ? (enriched ? "enriched" : "unenriched")
                                         : decider->on_missing == SPEC_MISSING_DROP ? "dropped"
                                                                                    : "dlq"},
                        j->sources, j->nsources, &j->res[i], EN_BATCH);
                if (decider && decider->on_missing == SPEC_MISSING_DROP) {
                        metrics_inc(j->m_dropped[decider_idx], 1);
                        metrics_inc(kd->m_res[2], 1);
                        continue;
                }
                if (decider) {
                        char reason[512];
                        snprintf(reason, sizeof(reason), "source \"%s\": key \"%.*s\" not found",
                                 decider->name, (int)it->join_len, j->arena.data + it->join_off);
                        rc = en_dlq(j, t, it->kind, key, it->key_len, j->arena.data + it->orig_off,
                                    it->orig_len, it->hdrs, it->ts, it->partition, it->offset,
                                    "missing_key", reason);
                        continue;
                }
                if (en_compose(j, it, i, enriched) == -1)
                        return KC_TXN_ABORT;
                kc_record_t r = {.topic = kd->out_topic,
                                 .partition = RD_KAFKA_PARTITION_UA,
                                 .key = key,
                                 .key_len = it->key_len,
                                 .value = j->out.data,
                                 .value_len = j->out.len,
                                 .headers = it->hdrs,
                                 .timestamp_ms = it->ts};
                if (kc_txn_produce(t, &r)) {
                        rc = KC_TXN_ABORT;
                        break;
                }
                it->hdrs = NULL; /* librdkafka took them */
                metrics_inc(kd->m_res[enriched ? 0 : 1], 1);
        }
        en_clear(j);
        return rc;
}

/* ------------------------------------------------------------ hooks */

kc_txn_res_t en_join_process(kc_txn_t *t, const rd_kafka_message_t *m, void *opaque) {
        en_join_t *j = opaque;
        const char *topic = rd_kafka_topic_name(m->rkt);
        int kind = !strcmp(topic, j->kind[EN_AGG].in_topic) ? EN_AGG : EN_ALERT;
        en_kind_t *kd = &j->kind[kind];
        char err[512];
        if (!m->payload || m->len == 0)
                return en_dlq_msg(j, t, kind, m, "malformed", "empty value");
        av_header_t h;
        if (av_header_parse(m->payload, m->len, &h, err, sizeof(err)) != AV_OK)
                return en_dlq_msg(j, t, kind, m, "malformed", err);
        const uint8_t *body;
        size_t body_len;
        int converted = 0;
        if (h.wire == AV_WIRE_SINGLE_OBJECT && h.fingerprint == kd->in_fp) {
                body = (const uint8_t *)m->payload + h.len;
                body_len = m->len - h.len;
                if (av_validate(kd->in, body, body_len, err, sizeof(err)) == -1)
                        return en_dlq_msg(j, t, kind, m, "malformed", err);
        } else {
                av_decoded_t d;
                int st = av_decode(kd->dec, m->payload, m->len, &d, err, sizeof(err));
                if (st == AV_ERR_RETRY)
                        return KC_TXN_ABORT; /* registry unreachable: try again later */
                if (st != AV_OK)
                        return en_dlq_msg(j, t, kind, m, av_status_name(st), err);
                j->scratch.len = 0;
                if (av_encode(kd->in, d.value, AV_WIRE_SINGLE_OBJECT, -1, &j->scratch, err,
                              sizeof(err)) == -1)
                        return en_dlq_msg(j, t, kind, m, "schema", err);
                body = (const uint8_t *)j->scratch.data + 10;
                body_len = j->scratch.len - 10;
                converted = 1;
        }
        /* The join value: the idx-th of the leading string fields. */
        const uint8_t *p = body, *end = body + body_len;
        const char *jv = NULL;
        size_t jl = 0;
        for (int f = 0; f <= kd->join_idx; f++)
                if (en_avro_get_string(&p, end, &jv, &jl) == -1)
                        return en_dlq_msg(j, t, kind, m, "malformed", "truncated record");

        en_item_t *it = &j->items[j->nitems];
        memset(it, 0, sizeof(*it));
        it->kind = kind;
        it->key_null = m->key == NULL;
        it->key_off = j->arena.len;
        it->key_len = m->key_len;
        it->orig_off = it->key_off + m->key_len;
        it->orig_len = m->len;
        if ((m->key_len && buf_append(&j->arena, m->key, m->key_len) == -1) ||
            buf_append(&j->arena, m->payload, m->len) == -1)
                return KC_TXN_ABORT;
        if (converted) {
                it->body_off = j->arena.len;
                if (buf_append(&j->arena, body, body_len) == -1)
                        return KC_TXN_ABORT;
        } else {
                it->body_off = it->orig_off + h.len;
        }
        it->body_len = body_len;
        it->join_off = it->body_off + (size_t)((const uint8_t *)jv - body);
        it->join_len = jl;
        /* librdkafka 2.0.2 parses an empty header list for every v2
         * record: copied (and produced) only when it holds something. */
        rd_kafka_headers_t *hdrs = NULL;
        if (!rd_kafka_message_headers(m, &hdrs) && rd_kafka_header_cnt(hdrs) > 0)
                it->hdrs = rd_kafka_headers_copy(hdrs);
        it->ts = en_msg_ts(m);
        it->partition = m->partition;
        it->offset = m->offset;
        j->nitems++;
        kc_txn_output_pending(t); /* commit once the input drains, not after the interval */
        return j->nitems == EN_BATCH ? en_flush(j, t) : KC_TXN_OK;
}

kc_txn_res_t en_join_pre_commit(kc_txn_t *t, void *opaque) {
        return en_flush(opaque, t);
}

void en_join_aborted(kc_txn_t *t, void *opaque) {
        (void)t;
        en_clear(opaque);
}

kc_txn_res_t en_join_tick(kc_txn_t *t, void *opaque) {
        (void)t;
        en_join_t *j = opaque;
        for (size_t s = 0; s < j->nsources; s++)
                en_source_tick(&j->sources[s]);
        return KC_TXN_OK;
}

void en_join_destroy(en_join_t *j) {
        if (!j)
                return;
        en_clear(j);
        for (int k = 0; k < 2; k++)
                if (j->kind[k].dec)
                        av_decoder_destroy(j->kind[k].dec);
        buf_free(&j->arena);
        buf_free(&j->scratch);
        buf_free(&j->out);
        free(j->ent);
        free(j->res);
        free(j->m_dropped);
        free(j);
}
