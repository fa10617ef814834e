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
 * The records go out through the loop's producer (kc_txn_produce_dlq): the
 * batch's offsets are committed only once every one is delivered.  Not a
 * hot path: allocates per record (librdkafka headers). */
#ifndef WEIR_SINK_SK_DLQ_H
#define WEIR_SINK_SK_DLQ_H

#include "kc_dlq.h"

typedef struct sk_dlq_s sk_dlq_t;

/* NULL when out of memory.  Free with sk_dlq_destroy(). */
sk_dlq_t *sk_dlq_new(const char *topic);
void sk_dlq_destroy(sk_dlq_t *d);

/* Produces r (its topic and stage are set here) in t's open batch, counts
 * it by class and logs it.  0, or -1 (logged; the batch will not commit). */
int sk_dlq_send(sk_dlq_t *d, kc_txn_t *t, kc_dlq_rec_t *r);

#endif
