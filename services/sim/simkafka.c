/* simkafka — producing readings with kc_ (see simkafka.h). */
#include "simkafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kc.h"
#include "log.h"

struct simkafka_s {
        kc_t *kc;
        char *topic;
        simenc_t *enc;
        buf_t buf;
        kc_dr_t dr;    /* one callback for every record: it only counts */
        simstats_t st; /* st.failed: delivery reports with an error */
        uint64_t produce_failed;
};

static void on_delivery(kc_dr_t *dr, const rd_kafka_message_t *m) {
        simkafka_t *k = (simkafka_t *)(void *)((char *)dr - offsetof(simkafka_t, dr));
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                k->st.acked++;
                return;
        }
        if (k->st.failed++ == 0)
                log_error("kafka", "delivery failed: %s (further failures are only counted)",
                          rd_kafka_err2str(m->err));
}

simkafka_t *simkafka_new(const char *topic, simenc_t *enc, char *errstr, size_t errstr_size) {
        simkafka_t *k = calloc(1, sizeof(*k));
        if (!k || !(k->topic = strdup(topic))) {
                free(k);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        k->enc = enc;
        k->dr.cb = on_delivery;
        /* A load generator wants throughput: a longer linger than Weir's
         * latency-minded default; batches are Weir's own size (kc_conf.c), so
         * what it writes is what ingress would.  KAFKA_* still overrides. */
        static const char *const props[] = {"linger.ms", "20", NULL};
        kc_opts_t opts = {.stage = "sim", .props = props};
        if (!(k->kc = kc_producer_new(&opts, errstr, errstr_size))) {
                free(k->topic);
                free(k);
                return NULL;
        }
        return k;
}

void simkafka_destroy(simkafka_t *k) {
        if (!k)
                return;
        kc_destroy(k->kc);
        buf_free(&k->buf);
        free(k->topic);
        free(k);
}

int simkafka_send(simkafka_t *k, const tgen_reading_t *r, int partition, char *errstr,
                  size_t errstr_size) {
        if (simenc_avro(k->enc, r, &k->buf, errstr, errstr_size)) {
                k->produce_failed++;
                return -1;
        }
        kc_record_t rec = {
                .topic = k->topic,
                .partition = partition < 0 ? RD_KAFKA_PARTITION_UA : partition,
                .key = r->intersection_id,
                .key_len = strlen(r->intersection_id),
                .value = k->buf.data,
                .value_len = k->buf.len,
                /* 0 would mean "now"; a reading at the epoch is not a real case. */
                .timestamp_ms = r->ts > 0 ? r->ts : 1,
        };
        rd_kafka_resp_err_t err = kc_produce(k->kc, &rec, &k->dr, -1);
        if (err) {
                k->produce_failed++;
                snprintf(errstr, errstr_size, "produce to %s: %s", k->topic, rd_kafka_err2str(err));
                return -1;
        }
        k->st.sent++;
        return 0;
}

void simkafka_poll(simkafka_t *k) {
        rd_kafka_poll(kc_rk(k->kc), 0);
}

int simkafka_partitions(simkafka_t *k, char *errstr, size_t errstr_size) {
        rd_kafka_t *rk = kc_rk(k->kc);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, k->topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        int n = -1;
        rd_kafka_resp_err_t err =
                rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 10000) : RD_KAFKA_RESP_ERR__INVALID_ARG;
        if (err)
                snprintf(errstr, errstr_size, "metadata of %s: %s", k->topic,
                         rd_kafka_err2str(err));
        else if (md->topic_cnt != 1 || md->topics[0].err)
                snprintf(errstr, errstr_size, "metadata of %s: %s", k->topic,
                         rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
                                                        : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        else
                n = md->topics[0].partition_cnt;
        if (md)
                rd_kafka_metadata_destroy(md);
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        return n;
}

void simkafka_flush(simkafka_t *k, int timeout_ms) {
        rd_kafka_flush(kc_rk(k->kc), timeout_ms);
}

void simkafka_stats(const simkafka_t *k, simstats_t *out) {
        *out = k->st;
        /* Records without a report yet count as failed: the summary is
         * taken after the final flush. */
        out->failed += k->produce_failed + (k->st.sent - k->st.acked - k->st.failed);
}
