/* sk_dlq — the sink's dead-letter records (see sk_dlq.h). */
#include "sk_dlq.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kc_dlq.h"
#include "log.h"
#include "metrics.h"

struct sk_dlq_s {
        kc_dr_t dr; /* first: the delivery callback gets &d->dr */
        kc_t *producer;
        char *topic;
        atomic_long sent, settled, failed, reported;
        metrics_family_t *records;
};

static void sk_dlq_dr(kc_dr_t *dr, const rd_kafka_message_t *m) {
        sk_dlq_t *d = (sk_dlq_t *)dr;
        if (m->err) {
                atomic_fetch_add(&d->failed, 1);
                log_error("dlq", "DLQ record to %s not delivered: %s", d->topic,
                          rd_kafka_err2str(m->err));
        }
        atomic_fetch_add(&d->settled, 1);
}

void sk_dlq_set_producer(sk_dlq_t *d, kc_t *producer) {
        d->producer = producer;
}

sk_dlq_t *sk_dlq_new(kc_t *producer, const char *topic) {
        sk_dlq_t *d = calloc(1, sizeof(*d));
        if (!d || !(d->topic = strdup(topic))) {
                free(d);
                return NULL;
        }
        d->dr.cb = sk_dlq_dr;
        d->producer = producer;
        d->records =
                metrics_counter_family("weir_sink_dlq_records_total",
                                       "Records sent to the sink's DLQ, by error class.", "class");
        return d;
}

void sk_dlq_destroy(sk_dlq_t *d) {
        if (!d)
                return;
        free(d->topic);
        free(d);
}

static rd_kafka_headers_t *sk_dlq_headers(const sk_dlq_rec_t *r) {
        if (r->orig)
                return kc_dlq_headers_msg("sink", r->orig, r->error_class, r->reason);
        rd_kafka_headers_t *tp = NULL;
        if (r->traceparent && r->traceparent_len && (tp = rd_kafka_headers_new(1)))
                rd_kafka_header_add(tp, "traceparent", -1, r->traceparent,
                                    (ssize_t)r->traceparent_len);
        kc_dlq_src_t src = {.headers = tp,
                            .topic = r->src_topic,
                            .partition = r->src_partition,
                            .offset = r->src_offset,
                            .timestamp_ms = -1};
        rd_kafka_headers_t *h = kc_dlq_headers("sink", &src, r->error_class, r->reason);
        if (tp)
                rd_kafka_headers_destroy(tp);
        return h;
}

int sk_dlq_send(sk_dlq_t *d, const sk_dlq_rec_t *r) {
        rd_kafka_headers_t *h = sk_dlq_headers(r);
        kc_record_t rec = {
                .topic = d->topic,
                .partition = RD_KAFKA_PARTITION_UA,
                .key = r->key,
                .key_len = r->key_len,
                .value = r->value,
                .value_len = r->value_len,
                .headers = h,
        };
        atomic_fetch_add(&d->sent, 1);
        rd_kafka_resp_err_t err = kc_produce(d->producer, &rec, &d->dr, -1);
        if (err) {
                if (h)
                        rd_kafka_headers_destroy(h);
                atomic_fetch_add(&d->failed, 1);
                atomic_fetch_add(&d->settled, 1);
                log_error("dlq", "cannot produce to %s: %s", d->topic, rd_kafka_err2str(err));
                return -1;
        }
        metrics_inc(metrics_child(d->records, r->error_class), 1);
        log_warn("dlq", "%s:%d@%lld to %s: %s: %s", r->src_topic ? r->src_topic : "?",
                 (int)r->src_partition, (long long)r->src_offset, d->topic, r->error_class,
                 r->reason);
        return 0;
}

long sk_dlq_flush(sk_dlq_t *d, int timeout_ms) {
        if (atomic_load(&d->settled) < atomic_load(&d->sent))
                rd_kafka_flush(kc_rk(d->producer), timeout_ms);
        long outstanding = atomic_load(&d->sent) - atomic_load(&d->settled);
        long failed = atomic_load(&d->failed);
        long news = failed - atomic_load(&d->reported);
        atomic_store(&d->reported, failed);
        return news + outstanding;
}
