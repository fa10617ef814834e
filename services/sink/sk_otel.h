/* sk_otel — the sink's spans (common/otel.h), behind two calls so the sink's
 * loop carries only the call sites:
 *   "influxdb write"     CLIENT, one per batch write (retries included):
 *                        child of the first sampled record of the batch, with
 *                        span links to the other sampled ones (bounded);
 *   "websocket publish"  PRODUCER, one per record published to the feed,
 *                        child of the record's `traceparent`.
 * With tracing off each is one branch. */
#ifndef WEIR_SK_OTEL_H
#define WEIR_SK_OTEL_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "ix.h"

/* After ix_flush() of b, started at t0_ns (otel_now_ns(), or 0 when tracing
 * was off), that returned rc; url: the write URL (no credentials). */
void sk_otel_write(const ix_batch_t *b, uint64_t t0_ns, int rc, const char *url);

/* After m's record was published to `clients` WebSocket clients from t0_ns. */
void sk_otel_publish(const rd_kafka_message_t *m, uint64_t t0_ns, const char *topic,
                     const char *key, size_t key_len, size_t clients);

#endif
