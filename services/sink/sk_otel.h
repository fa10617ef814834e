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

#include <stddef.h>
#include <stdint.h>

#include "ix.h"

/* After ix_flush() of b, started at t0_ns (otel_now_ns(), or 0 when tracing
 * was off), that returned rc; url: the write URL (no credentials). */
void sk_otel_write(const ix_batch_t *b, uint64_t t0_ns, int rc, const char *url);

/* After the record at partition/offset, with its traceparent header (tp,
 * tp_len; NULL: none), was published to `clients` WebSocket clients from
 * t0_ns. */
void sk_otel_publish(const void *tp, size_t tp_len, int32_t partition, int64_t offset,
                     uint64_t t0_ns, const char *topic, const char *key, size_t key_len,
                     size_t clients);

#endif
