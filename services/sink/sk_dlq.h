/* sk_dlq — the sink's dead-letter records (topic sink.dlq by default), with
 * the headers every stage writes (common/kc_dlq.h):
 *   weir.stage             "sink"
 *   weir.error.class       malformed | schema | mapping | rejected
 *   weir.error.reason      human-readable text; for `rejected`, InfluxDB's message
 *   weir.source.topic      input topic
 *   weir.source.partition  decimal
 *   weir.source.offset     decimal
 *   weir.source.timestamp  decimal ms, when the input record is at hand
 * after the input record's own headers (traceparent...) when it is at hand,
 * else its traceparent alone (a rejected line keeps its record's).
 * A record the sink could not decode or map keeps its key and value; a
 * point InfluxDB rejected is the line-protocol line it rejected (the input
 * record is no longer held by then), keyed by the record key.
 *
 * Delivery is checked before offsets are committed: sk_dlq_flush() waits for
 * every report and says how many failed since the last call.  Not a hot
 * path: allocates per record (librdkafka headers). */
#ifndef WEIR_SINK_SK_DLQ_H
#define WEIR_SINK_SK_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include "kc.h"

typedef struct sk_dlq_s sk_dlq_t;

/* `producer` stays the caller's.  NULL when out of memory. */
sk_dlq_t *sk_dlq_new(kc_t *producer, const char *topic);
void sk_dlq_destroy(sk_dlq_t *d);
/* The producer after kc_renew() replaced it (nothing in flight on the old). */
void sk_dlq_set_producer(sk_dlq_t *d, kc_t *producer);

typedef struct sk_dlq_rec_s {
        const void *key, *value;
        size_t key_len, value_len;
        const rd_kafka_message_t *orig; /* its headers are copied; may be NULL */
        const void *traceparent;        /* without orig: the record's trace context, or NULL */
        size_t traceparent_len;
        const char *src_topic;
        int32_t src_partition;
        int64_t src_offset;
        const char *error_class, *reason;
} sk_dlq_rec_t;

/* Produces one DLQ record (waiting for queue room).  Returns 0, or -1 (the
 * error is logged and counted as a failure for sk_dlq_flush()). */
int sk_dlq_send(sk_dlq_t *d, const sk_dlq_rec_t *r);

/* Waits up to timeout_ms for every DLQ record sent to be acknowledged.
 * Returns the number of records that failed (or are still outstanding)
 * since the previous call; 0 means all are safely in Kafka. */
long sk_dlq_flush(sk_dlq_t *d, int timeout_ms);

#endif
