/* cp — the compute engine: windows, aggregates, quantile sketches, rules,
 * anomaly scores and the serialised state of one input partition.  Pure C,
 * no Kafka, no Avro decoding, no JSON: the worker (wk_rec.c) decodes records into
 * cp_record_t, feeds them in, and encodes what the emit callbacks hand out.
 *
 * Threads: a cp_engine_t is immutable after cp_engine_new() and may be shared
 * read-only by every worker thread.  A cp_part_t is one input partition's
 * state, owned by one thread at a time: no locks inside.
 *
 * Semantics (docs/compute.md has the long form):
 *  - Windows are half-open [start_ms, end_ms): end is exclusive, as in the
 *    Aggregate schema.  Tumbling and hopping windows are aligned to the epoch
 *    (start = k * advance).  A sliding window of size D is Kafka Streams'
 *    SlidingWindows.ofTimeDifference(D): the records with time in
 *    [t - D, t] (both inclusive), reported as [t - D, t + 1).  A session
 *    window spans its records' times [first, last], reported as
 *    [first, last + 1); a record within `gap` (inclusive) of a session joins
 *    it, and one that bridges two sessions merges them.
 *  - Stream time S = the largest event time the partition has seen (or
 *    where cp_part_advance_to()/cp_part_close_all() moved it: idle input).  A
 *    window is closed once S >= end + grace (sessions: S >= end + gap +
 *    grace), as in Kafka Streams; at that moment its final aggregate is
 *    emitted, rules are evaluated and the anomaly baseline is updated.
 *  - Absence rules ("absent for D"): fire when a key's largest event time
 *    is D or more behind S (in the same closing order as windows), resolve
 *    when a record of the key brings it within D again.
 *  - A record too late for every window it belongs to (in every window
 *    definition) is CP_LATE: nothing counted it and the caller sends it to
 *    the DLQ.  A record late for some windows but counted in others is
 *    CP_OK; the windows it missed are counted in cp_part_stats_t.late_windows.
 *
 * Emission is synchronous, from inside cp_part_process()/cp_part_tick(): the
 * pointers in a cp_aggregate_t/cp_alert_t are valid only during the
 * callback. */
#ifndef WEIR_CP_H
#define WEIR_CP_H

#include "av_schema.h"
#include "spec.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cp_engine_s cp_engine_t;
typedef struct cp_part_s cp_part_t;

/* ---------------------------------------------------------------- engine */

/* Builds the engine for spec->compute (must be loaded with
 * SPEC_PART_COMPUTE) and the input value schema `input` (a record).  Checks
 * that every aggregated field is numeric in `input` (int, long, float,
 * double, or a union of null and one of them) and compiles every rule.
 * Errors name the spec path, e.g.
 *   $.compute.aggregates[1].field: "lane2" is not a field of weir.example.TrafficReading
 *   $.compute.rules[0].expr: column 12: expected ')' after the argument, got "and"
 * (with "line L, column C" when the expression has several lines).
 * `spec` and `input` must outlive the engine (it keeps pointers into them);
 * input may be NULL to skip the schema check (unit tests).
 * Returns NULL with errstr set. */
cp_engine_t *cp_engine_new(const spec_t *spec, const av_schema_t *input, char *errstr,
                           size_t errstr_size);
void cp_engine_destroy(cp_engine_t *e);

/* Aggregated fields, in spec order (spec->compute->aggregates[i].field);
 * cp_record_t.values/present have one entry per field in this order. */
size_t cp_engine_nfields(const cp_engine_t *e);
const char *cp_engine_field(const cp_engine_t *e, size_t i);

/* ---------------------------------------------------------------- records in */

typedef struct {
        const char *key; /* grouping key bytes (not NUL-terminated) */
        size_t key_len;
        int64_t ts_ms;                /* event time */
        const double *values;         /* cp_engine_nfields() values */
        const unsigned char *present; /* same length; 0 = null/absent (value ignored) */
} cp_record_t;

/* ---------------------------------------------------------------- results out */

/* One field's statistics; mirrors FieldStats in schemas/aggregate.avsc.
 * Each has_x is 1 when the spec asks for op x and the value exists (min,
 * mean, ... need count > 0; sum of no values is 0).  zscore is set once the
 * key's baseline has anomaly.min_windows windows and a variance > 0, and
 * the window has a value. */
typedef struct {
        const char *name;
        int64_t count; /* records of the window that had this field */
        unsigned char has_sum, has_min, has_max, has_mean, has_variance, has_stddev, has_first,
                has_last, has_p50, has_p90, has_p95, has_p99, has_zscore;
        double sum, min, max, mean, variance /* population */, stddev, first, last, p50, p90, p95,
                p99, zscore;
} cp_field_stats_t;

typedef struct {
        const char *key;
        size_t key_len;
        const char *window;       /* window name from the spec */
        size_t window_idx;        /* index in spec->compute->windows */
        int64_t start_ms, end_ms; /* [start, end) */
        int64_t count;            /* records in the window */
        int final;                /* 1 at close; 0 for an update in emit mode changes */
        int64_t emitted_at_ms;    /* now_ms of the call that emitted it */
        size_t nfields;
        const cp_field_stats_t *fields; /* cp_engine_nfields() entries, spec order */
} cp_aggregate_t;

typedef enum { CP_ALERT_FIRING = 0, CP_ALERT_RESOLVED = 1 } cp_alert_state_t; /* AlertState order */

typedef struct {
        const char *name; /* term as written canonically, e.g. "mean(speed_kmh)", "count()" */
        double value;
} cp_term_t;

/* Mirrors schemas/alert.avsc. */
typedef struct {
        const char *rule;
        const char *key;
        size_t key_len;
        const char *window;
        int64_t start_ms, end_ms; /* the window that made the rule fire or resolve */
        cp_alert_state_t state;
        spec_severity_t severity; /* same order as the Severity enum */
        const char *expr;         /* as written in the spec */
        size_t nvalues;
        const cp_term_t *values; /* the aggregate terms the expression referenced; a null term
                                    (e.g. zscore without enough history) is left out */
        size_t nlabels;
        const spec_kv_t *labels;
        int64_t emitted_at_ms;
} cp_alert_t;

typedef struct {
        void (*aggregate)(void *opaque, const cp_aggregate_t *a);
        void (*alert)(void *opaque, const cp_alert_t *a);
        void *opaque;
} cp_emit_t;

/* ---------------------------------------------------------------- partitions */

/* A new, empty partition state.  Returns NULL on out of memory. */
cp_part_t *cp_part_new(const cp_engine_t *e, int32_t partition);
void cp_part_destroy(cp_part_t *p);

/* Event times the engine accepts: |ts_ms| <= CP_TS_LIMIT_MS (73 million
 * years), so that end + grace + gap cannot overflow. */
#define CP_TS_LIMIT_MS ((int64_t)1 << 61)

typedef enum {
        CP_OK = 0,
        CP_LATE = 1,   /* too late for every window it belongs to (DLQ reason "late") */
        CP_INVALID = 2 /* event time beyond CP_TS_LIMIT_MS: not counted, stream time untouched;
                          the caller must DLQ it too (e.g. reason "event_time") */
} cp_res_t;

/* Adds one record.  Advances the partition's stream time and closes the
 * windows that closed (final aggregates, then rule evaluation and alerts,
 * then the EWMA update), emitting through `emit` before returning, in a
 * deterministic order (close time, key bytes, window definition, start).
 * In emit mode changes, an updated window that has not had an update for
 * min_interval (wall clock, now_ms; per key and window) is emitted with
 * final = 0; otherwise the update waits for cp_part_tick().
 * CP_LATE: the record was too late for every window it belongs to; it was
 * counted (cp_part_stats_t.late) and the caller sends it to the DLQ.
 * Values that are NaN or infinite count as null.
 * Steady state: no allocation (per-key state and windows come from free
 * lists); a new key or a window needing more sketch buckets allocates. */
cp_res_t cp_part_process(cp_part_t *p, const cp_record_t *r, int64_t now_ms, const cp_emit_t *emit);

/* Wall-clock tick: emits the pending 'changes' updates whose min_interval
 * has passed.  Call it every few hundred ms; costs nothing without emit
 * mode changes. */
void cp_part_tick(cp_part_t *p, int64_t now_ms, const cp_emit_t *emit);

/* Idle input (spec input.idle; the caller measures the wall clock).
 *
 * Moves the partition's stream time forward to `stream_time` (never back)
 * and closes what closed, as a record at that time would have, without
 * counting anything: idle.advance. */
void cp_part_advance_to(cp_part_t *p, int64_t stream_time, int64_t now_ms, const cp_emit_t *emit);

/* Closes every open window of the partition, as at the end of the input:
 * stream time moves to the latest close time (end + grace, sessions + gap)
 * of the open windows, so each is emitted (final) exactly as records past
 * it would have closed it, and a later record for any of them is late.
 * Returns the number of windows closed: idle.close. */
int64_t cp_part_close_all(cp_part_t *p, int64_t now_ms, const cp_emit_t *emit);

/* ---------------------------------------------------------------- changelog */

/* The state as bytes per changelog key.  Changelog keys are opaque bytes
 * (a grouping key's state is under 'K' + key bytes, the partition's own
 * metadata — stream time, late count — under "M", which no key state can
 * collide with); write them to the changelog partition with the same number
 * as the input partition and hand them back to cp_part_restore() as-is.
 * The value is a compact, versioned binary form (first byte = format
 * version); val NULL = tombstone (the key's state is gone). */
typedef void (*cp_dirty_cb)(void *opaque, const void *key, size_t key_len, const void *val,
                            size_t val_len);

/* Calls cb for each changelog key changed since the last flush (and for the
 * metadata when it changed), then marks everything clean.  The key/val
 * pointers are valid only during the callback. */
void cp_part_flush_dirty(cp_part_t *p, cp_dirty_cb cb, void *opaque);

/* Applies one changelog record (latest wins; val NULL = delete), into a
 * partition that has processed nothing since cp_part_new().  Bytes are
 * checked: corrupt or hostile input is an error (-1, errstr set; that key
 * is then without state, the rest of the partition is untouched), never a
 * crash.  Returns 0 on success.  A
 * partition restored from everything cp_part_flush_dirty() wrote behaves
 * exactly like the one that wrote it. */
int cp_part_restore(cp_part_t *p, const void *key, size_t key_len, const void *val, size_t val_len,
                    char *errstr, size_t errstr_size);

typedef struct {
        int64_t keys;           /* grouping keys with state */
        int64_t open_windows;   /* windows not yet closed, every definition */
        int64_t state_bytes;    /* memory held by the live state (approximate): keys, open
                                   windows, sketches, buffers, the partition's tables */
        int64_t pool_bytes;     /* closed window nodes kept for reuse (bounded) */
        int64_t evicted_keys;   /* keys forgotten by compute.key_ttl since creation */
        int64_t late;           /* records returned CP_LATE, since creation (restored too) */
        int64_t late_windows;   /* (record, window) pairs missed because the window had closed */
        int64_t stream_time_ms; /* INT64_MIN before the first record */
} cp_part_stats_t;

/* O(1) (the byte count is kept up to date as state changes): fine per
 * record as well as for metrics. */
void cp_part_stats(const cp_part_t *p, cp_part_stats_t *out);

#endif
