/* out_dlq — headers of compute's dead-letter records and of the outputs
 * that carry a trace context.  A DLQ record is the input record's key and
 * value, unchanged, with its headers and these:
 *   weir.stage             "compute"
 *   weir.error.class       late | malformed | schema | key | event_time
 *   weir.error.reason      human-readable text
 *   weir.source.topic      input topic
 *   weir.source.partition  decimal
 *   weir.source.offset     decimal
 *   weir.source.timestamp  decimal, ms (the Kafka record timestamp)
 * The headers are common/kc_dlq's, as at every stage.  Not a hot path:
 * allocates per record (librdkafka headers). */
#include <stdio.h>
#include <string.h>

#include "kc_dlq.h"
#include "out.h"

rd_kafka_headers_t *out_dlq_headers(const rd_kafka_message_t *m, const char *error_class,
                                    const char *reason) {
        return kc_dlq_headers_msg("compute", m, error_class, reason);
}

int out_traceparent(const rd_kafka_message_t *m, const void **val, size_t *len) {
        rd_kafka_headers_t *hdrs = NULL;
        if (rd_kafka_message_headers((rd_kafka_message_t *)m, &hdrs) !=
                    RD_KAFKA_RESP_ERR_NO_ERROR ||
            !hdrs)
                return 0;
        if (rd_kafka_header_get_last(hdrs, "traceparent", val, len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            !*val || *len == 0 || *len > 256)
                return 0;
        return 1;
}

rd_kafka_headers_t *out_trace_headers(const void *traceparent, size_t len) {
        if (!traceparent)
                return NULL;
        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
        if (h)
                rd_kafka_header_add(h, "traceparent", -1, traceparent, (ssize_t)len);
        return h;
}
