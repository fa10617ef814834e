/* kc_dlq — dead-letter headers shared by every stage; see kc_dlq.h. */
#include "kc_dlq.h"

#include <stdint.h>
#include <stdio.h>

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
