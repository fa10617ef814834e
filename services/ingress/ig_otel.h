/* ig_otel — ingress's spans (common/otel.h): a SERVER span per request,
 * child of the caller's `traceparent` when it sent a valid one, and a
 * PRODUCER span per produced batch (the request's records), child of the
 * server span.  The records' Kafka `traceparent` is the producer span's
 * context, so compute's spans hang under it.  With tracing off every call is
 * one branch and `tp` is left as it came (carried on unchanged). */
#ifndef WEIR_IG_OTEL_H
#define WEIR_IG_OTEL_H

#include <stddef.h>

#include "ig_trace.h"
#include "kc_dr.h"
#include "otel.h"

typedef struct ig_otel_s {
        otel_span_t *srv, *prod; /* NULL: not recorded */
} ig_otel_t;

/* The request's headers arrived; `tp` holds ig_trace_take()'s result and
 * `from_caller` its return.  Rewrites tp to the server span's context. */
void ig_otel_begin(ig_otel_t *o, char tp[IG_TRACEPARENT_LEN + 1], int from_caller,
                   const char *method, const char *url);

/* About to produce n records to `topic`: starts the producer span and
 * rewrites tp to its context. */
void ig_otel_produce(ig_otel_t *o, char tp[IG_TRACEPARENT_LEN + 1], const char *topic, size_t n);

/* Every record of the batch settled (b may be NULL). */
void ig_otel_produced(ig_otel_t *o, kc_dr_batch_t *b);

/* The request is over, answered with `status` (0: none) on route `route`
 * ("topics", "events", "other"). */
void ig_otel_end(ig_otel_t *o, unsigned status, const char *route);

#endif
