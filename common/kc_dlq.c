/* kc_dlq — dead-letter headers shared by every stage; see kc_dlq.h. */
#include "kc_dlq.h"

#include <stdint.h>
#include <stdio.h>

#include "log.h"

rd_kafka_headers_t *kc_dlq_headers(const char *stage, const kc_dlq_src_t *src,
                                   const char *error_class, const char *reason) {
        rd_kafka_headers_t *h =
                src->headers ? rd_kafka_headers_copy(src->headers) : rd_kafka_headers_new(8);
        char num[32];
        if (!h)
                return NULL;
        rd_kafka_header_add(h, "weir.stage", -1, stage, -1);
        rd_kafka_header_add(h, "weir.error.class", -1, error_class, -1);
        rd_kafka_header_add(h, "weir.error.reason", -1, reason ? reason : "", -1);
        rd_kafka_header_add(h, "weir.source.topic", -1, src->topic ? src->topic : "", -1);
        snprintf(num, sizeof(num), "%d", (int)src->partition);
        rd_kafka_header_add(h, "weir.source.partition", -1, num, -1);
        snprintf(num, sizeof(num), "%lld", (long long)src->offset);
        rd_kafka_header_add(h, "weir.source.offset", -1, num, -1);
        if (src->timestamp_ms >= 0) {
                snprintf(num, sizeof(num), "%lld", (long long)src->timestamp_ms);
                rd_kafka_header_add(h, "weir.source.timestamp", -1, num, -1);
        }
        return h;
}

rd_kafka_headers_t *kc_dlq_headers_msg(const char *stage, const rd_kafka_message_t *m,
                                       const char *error_class, const char *reason) {
        rd_kafka_headers_t *orig = NULL;
        rd_kafka_timestamp_type_t tstype;
        kc_dlq_src_t src = {
                .topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL,
                .partition = m->partition,
                .offset = m->offset,
                .timestamp_ms = rd_kafka_message_timestamp(m, &tstype),
        };
        /* rd_kafka_message_headers() takes a non-const message; it only
         * parses the headers the message already holds. */
        if (rd_kafka_message_headers((rd_kafka_message_t *)(uintptr_t)m, &orig) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
                src.headers = orig;
        return kc_dlq_headers(stage, &src, error_class, reason);
}

int kc_txn_produce_dlq(kc_txn_t *t, const kc_dlq_rec_t *r) {
        rd_kafka_headers_t *h = NULL;
        if (r->orig) {
                h = kc_dlq_headers_msg(r->stage, r->orig, r->error_class, r->reason);
        } else {
                rd_kafka_headers_t *tp = NULL;
                if (r->traceparent && r->traceparent_len && (tp = rd_kafka_headers_new(1)))
                        rd_kafka_header_add(tp, "traceparent", -1, r->traceparent,
                                            (ssize_t)r->traceparent_len);
                kc_dlq_src_t src = {.headers = tp,
                                    .topic = r->src_topic,
                                    .partition = r->src_partition,
                                    .offset = r->src_offset,
                                    .timestamp_ms = -1};
                h = kc_dlq_headers(r->stage, &src, r->error_class, r->reason);
                if (tp)
                        rd_kafka_headers_destroy(tp);
        }
        kc_record_t rec = {
                .topic = r->topic,
                .partition = RD_KAFKA_PARTITION_UA,
                .key = r->key,
                .key_len = r->key_len,
                .value = r->value,
                .value_len = r->value_len,
                .headers = h, /* librdkafka's once produced */
        };
        rd_kafka_resp_err_t err = kc_txn_produce(t, &rec);
        if (err) {
                if (h)
                        rd_kafka_headers_destroy(h);
                log_error("dlq", "cannot produce to %s: %s", r->topic, rd_kafka_err2str(err));
                return -1;
        }
        return 0;
}
