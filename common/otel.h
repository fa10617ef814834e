/* otel — OpenTelemetry traces: spans exported over OTLP/HTTP (protobuf).
 *
 * Off unless configured.  otel_init() reads the standard variables:
 *   OTEL_SDK_DISABLED                    true: off whatever else is set
 *   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   full URL of the traces endpoint, or
 *   OTEL_EXPORTER_OTLP_ENDPOINT          base URL; /v1/traces is appended
 *                                        (neither set: tracing off)
 *   OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_HEADERS
 *                                        "k=v,k2=v2" (values URL-decoded; secrets
 *                                        never logged)
 *   OTEL_EXPORTER_OTLP_PROTOCOL          http/protobuf only (anything else: error)
 *   OTEL_EXPORTER_OTLP_TIMEOUT           ms per export request (10000)
 *   OTEL_SERVICE_NAME                    default weir-<stage>
 *   OTEL_RESOURCE_ATTRIBUTES             "k=v,..." resource attributes
 *   OTEL_TRACES_SAMPLER                  always_on | always_off | traceidratio |
 *                                        parentbased_always_on | parentbased_always_off |
 *                                        parentbased_traceidratio (default)
 *   OTEL_TRACES_SAMPLER_ARG              ratio for *traceidratio (default 1.0)
 *   OTEL_BSP_MAX_QUEUE_SIZE              spans held for export (2048)
 *   OTEL_BSP_MAX_EXPORT_BATCH_SIZE       spans per request (512)
 *   OTEL_BSP_SCHEDULE_DELAY              ms between exports (5000)
 *
 * Cost model.  The hot path tests `otel_on` (one predictable branch when off).
 * A recorded span is a fixed-size slot taken from a pool allocated once at
 * otel_init(): starting a span takes a slot, ending it queues the slot, the
 * exporter thread encodes up to a batch of queued slots into one reused buffer,
 * POSTs it with libcurl and gives the slots back.  No malloc per span; two
 * short mutex sections per recorded (sampled) span, none for unsampled ones.
 * libcurl is first called (so loaded: common/link/curl_lazy.c) at the first
 * export.
 * When the pool is empty (collector slow or absent) the span is dropped, the
 * context still propagates, and weir_<stage>_spans_dropped_total counts it;
 * a failed export drops its batch the same way, and the next export waits
 * a backoff (200 ms doubling to 5 s per failure in a row, jittered, reset by
 * a success; otel_fini does not wait it out) while new spans fill the queue
 * and the rest are dropped.  A warning is logged at most once per 10 s with
 * the count since the last one.  The pipeline never waits for the collector.
 *
 * Attribute keys, event names and span names must be string literals (or
 * otherwise outlive the export): only the pointer is kept.  String values are
 * copied (truncated when a span's value space is full). */
#ifndef WEIR_OTEL_H
#define WEIR_OTEL_H

#include <stddef.h>
#include <stdint.h>

#include "cfg_tab.h"
#include "tp.h"

typedef enum {
        OTEL_INTERNAL = 1,
        OTEL_SERVER = 2,
        OTEL_CLIENT = 3,
        OTEL_PRODUCER = 4,
        OTEL_CONSUMER = 5
} otel_kind_t;

#define OTEL_MAX_ATTRS  20
#define OTEL_MAX_LINKS  8 /* span links kept per span; more are counted as dropped */
#define OTEL_MAX_EVENTS 4
#define OTEL_VAL_SPACE  512

typedef struct otel_span_s otel_span_t;

/* Non-zero when tracing is on (read it on the hot path; set by otel_init). */
extern int otel_on;

/* The variables above as a settings table (otel_conf.c; docs/observability.md's
 * table is generated from it). */
extern const cfg_tab_t otel_conf_tab;

/* Reads the variables above for service `stage` ("ingress", ...), declares
 * weir_<stage>_spans_{dropped,exported}_total and, when an endpoint is set,
 * starts the exporter thread.  Returns 0 (tracing on or off), or -1 with
 * errstr naming the bad variable. */
int otel_init(const char *stage, char *errstr, size_t errstr_size);

/* Exports what is queued (for up to the export timeout), stops the thread and
 * frees everything.  Safe when otel_init() was not called or tracing is off. */
void otel_fini(void);

/* Starts a span at wall-clock time `start_ns` (0: now).  `parent` NULL or
 * with a zero trace-id: a root span in a new trace.  *ctx (may be NULL)
 * always gets the new span's context with the sampling decision in its
 * flags, so it can be propagated even when the span is not recorded.
 * Returns the span to fill and end, or NULL when tracing is off, the span is
 * not sampled, or no slot is free (then counted as dropped).  Every call
 * below accepts NULL and does nothing. */
otel_span_t *otel_start(const char *name, otel_kind_t kind, const tp_ctx_t *parent, tp_ctx_t *ctx,
                        uint64_t start_ns);

void otel_attr_str(otel_span_t *s, const char *key, const char *val, size_t len);
void otel_attr_cstr(otel_span_t *s, const char *key, const char *val);
void otel_attr_int(otel_span_t *s, const char *key, int64_t v);
void otel_attr_bool(otel_span_t *s, const char *key, int v);
void otel_link(otel_span_t *s, const tp_ctx_t *linked);
void otel_event(otel_span_t *s, const char *name, uint64_t t_ns); /* t_ns 0: now */
void otel_error(otel_span_t *s, const char *msg);                 /* status ERROR */
/* Ends the span at `end_ns` (0: now) and queues it for export; s is not
 * valid afterwards. */
void otel_end(otel_span_t *s, uint64_t end_ns);

/* Spans that end with the Kafka transaction carrying their output
 * (compute's aggregates and alerts, enrichment's records), so a trace shows
 * where exactly-once costs time.  They wait in an otel_txn_t until the
 * transaction ends and get the events
 *   kafka.txn.commit.begin   the transaction's last records are in, its
 *                            offsets and commit are being sent (when
 *                            otel_txn_commit_begin was called)
 *   kafka.txn.commit | kafka.txn.abort (status error, `abort_msg`)
 * and end at that moment.  An otel_txn_t belongs to one thread (the kc_txn
 * loop's that runs the transaction's hooks): no lock.  Zero-initialise it. */
#define OTEL_TXN_OPEN 256 /* spans awaiting one commit; more end at once, saying so */

typedef struct otel_txn_s {
        otel_span_t *open[OTEL_TXN_OPEN]; /* ended (so given back) by otel_txn_end */
        size_t n;
        uint64_t begin_ns; /* the commit being sent since; 0: not yet */
} otel_txn_t;

/* Keeps s until the transaction ends and returns it (still to fill); with
 * OTEL_TXN_OPEN spans already waiting, ends it at once with an event saying
 * so and returns NULL.  s NULL: NULL. */
otel_span_t *otel_txn_add(otel_txn_t *t, otel_span_t *s);
/* After the pre_commit hook succeeded: the commit is being sent. */
void otel_txn_commit_begin(otel_txn_t *t);
/* The transaction committed (ok 1) or aborted (0): ends the waiting spans. */
void otel_txn_end(otel_txn_t *t, int ok, const char *abort_msg);

/* Histogram samples with their trace as the bucket's exemplar (OpenMetrics,
 * common/metrics.h), so a dashboard goes from a slow point to its trace:
 * otel_observe: measured in recorded span `s` (NULL, or tracing off: a plain
 * metrics_observe); otel_observe_tp: in the context of a `traceparent`
 * (exemplar only when tracing is on and it is sampled). */
struct metrics_child_s;
void otel_observe(struct metrics_child_s *c, double v, const otel_span_t *s);
void otel_observe_tp(struct metrics_child_s *c, double v, const void *tp, size_t len);

/* Wall-clock time in ns since the epoch. */
uint64_t otel_now_ns(void);

/* Spans dropped so far; ended and waiting for an export (tests). */
uint64_t otel_stat_dropped(void);
size_t otel_stat_queued(void);

#endif
