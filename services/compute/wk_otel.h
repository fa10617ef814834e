/* wk_otel — compute's spans (common/otel.h).
 *
 * One INTERNAL span per emitted aggregate or alert, from the window's close
 * (the emission) to the end of the Kafka transaction that carries it, with
 * the events kafka.txn.commit.begin (pre_commit done: the changelog is
 * flushed, the offsets and the commit are being sent) and kafka.txn.commit
 * or kafka.txn.abort (status error) of common/otel.h's otel_txn_t, as
 * enrichment's, so a trace shows what exactly-once costs.  The span's context
 * is the output record's `traceparent`.
 *
 * Links: the sampled input records the worker consumed since its previous
 * emission (at most OTEL_MAX_LINKS; more are counted as dropped links) —
 * for a key per partition these are the records of the window that closed,
 * plus the record that advanced stream time past it.  Tracking them per
 * window would cost state per key; this costs a fixed array per worker.
 * Parent: the oldest of those (then not also a link), else the record that
 * triggered the close, else none: a new trace (an idle close by wall-clock
 * time has no triggering record).  With tracing off every call is one branch and the output keeps
 * the triggering record's traceparent, as before. */
#ifndef WEIR_WK_OTEL_H
#define WEIR_WK_OTEL_H

#include <stddef.h>
#include <stdint.h>

#include "cp.h"
#include "otel.h"

typedef struct wk_otel_s {
        tp_ctx_t in[OTEL_MAX_LINKS]; /* sampled inputs since the last emission */
        size_t nin, seen;            /* kept, and seen (seen - nin: dropped links) */
        int clear_next;              /* an emission happened: start a new set */
        tp_ctx_t trigger;            /* the record being processed */
        int has_trigger;
        int32_t partition;
        int64_t offset;
        otel_txn_t txn;      /* spans awaiting the transaction's end */
        char tp[TP_LEN + 1]; /* the output's traceparent while emitting */
} wk_otel_t;

/* A record is about to be processed; tp/len its traceparent (tp may be NULL). */
void wk_otel_input(wk_otel_t *o, const void *tp, size_t len, int32_t partition, int64_t offset);

/* An aggregate / alert is about to be produced to `topic`: starts its span
 * and, when tracing is on, points *trace at the span's traceparent. */
void wk_otel_aggregate(wk_otel_t *o, const cp_aggregate_t *a, const char *topic, const char *group,
                       const void **trace, size_t *trace_len);
void wk_otel_alert(wk_otel_t *o, const cp_alert_t *al, const char *topic, const char *group,
                   const void **trace, size_t *trace_len);

/* pre_commit succeeded: the commit is being sent. */
void wk_otel_commit_begin(wk_otel_t *o);
/* The transaction committed (ok 1) or aborted (0): ends the open spans. */
void wk_otel_txn(wk_otel_t *o, int ok);

#endif
