/* lp — InfluxDB line protocol for the sink: maps one enriched aggregate or
 * alert (weir.EnrichedAggregate / weir.EnrichedAlert, decoded by av_) to one
 * point, as the pipeline spec's sink.influx section says (docs/sink.md,
 * "Line-protocol mapping"):
 *
 *   <measurement>,<tags sorted by key> <fields> <window end at precision>
 *
 * A point's identity is measurement + tags + timestamp, and the timestamp is
 * the window end, so writing the same record twice overwrites the point.
 * Tags: <input.key>=<key>, window=<window> (alerts also rule=, severity=)
 * and the spec's extra tags (attributes or "pipeline"; a missing or empty
 * attribute leaves its tag out).  Escaping follows InfluxDB's rules:
 * measurement `,` and space; tag keys, tag values and field keys `,` `=`
 * and space; string field values `"` and `\`.  Non-finite doubles are left
 * out (InfluxDB has no NaN).  A newline in a measurement, tag or field key,
 * or a trailing backslash there (it would escape the separator), cannot be
 * written: the record is a mapping error (the caller sends it to the DLQ).
 *
 * Threads: a mapper is read-only after lp_mapper_new(); lp_aggregate() and
 * lp_alert() only append to the caller's buffer.
 * Files: lp.c the mapping, lp_fmt.c escaping and number formats. */
#ifndef WEIR_SINK_LP_H
#define WEIR_SINK_LP_H

#include <stddef.h>
#include <stdint.h>

#include "av_schema.h"
#include "buf.h"
#include "spec.h"

typedef struct lp_mapper_s lp_mapper_t;

/* What the caller needs about a record besides the line (for the WebSocket
 * feed, the DLQ and the end-to-end latency).  Pointers point into the
 * decoded value: valid until it is reused. */
typedef struct lp_info_s {
        int64_t time_ms; /* window end, Unix ms */
        const char *key; /* grouping key (not NUL-terminated) */
        size_t key_len;
        const char *severity; /* alerts: "INFO"|"WARNING"|"CRITICAL"; else NULL */
} lp_info_t;

enum {
        LP_OK = 0,   /* one line appended (ending in '\n') */
        LP_SKIP = 1, /* nothing to write (no writable field, alerts not written) */
        LP_ERR = -1, /* mapping error: errstr says why */
};

/* Builds the mapping from spec->sink (required) and spec->input.key, for
 * values of the two schemas (weir.EnrichedAggregate, weir.EnrichedAlert;
 * the mapper reads fields by position, so the values must be of exactly
 * these schemas: decode with them as reader).  Returns NULL with errstr. */
lp_mapper_t *lp_mapper_new(const spec_t *spec, const av_schema_t *aggregate,
                           const av_schema_t *alert, char *errstr, size_t errstr_size);
void lp_mapper_destroy(lp_mapper_t *m);

/* Appends the point of one record to `out` (NULL: only fill *info).
 * Returns LP_OK, LP_SKIP or LP_ERR (errstr set); out is unchanged unless
 * LP_OK.  *info is filled whenever the record could be read. */
int lp_aggregate(const lp_mapper_t *m, avro_value_t *rec, buf_t *out, lp_info_t *info, char *errstr,
                 size_t errstr_size);
int lp_alert(const lp_mapper_t *m, avro_value_t *rec, buf_t *out, lp_info_t *info, char *errstr,
             size_t errstr_size);

/* Escaping, exposed for the tests.  Appends s[0..n) escaped for `what`.
 * Returns 0, or -1 when the text cannot be written there (newline, trailing
 * backslash, empty key) or out of memory; out is then unchanged. */
typedef enum { LP_MEASUREMENT, LP_KEY, LP_STRING } lp_part_t;
int lp_escape(buf_t *out, const char *s, size_t n, lp_part_t what);

/* Unix ms → the precision's units (s rounds down, towards -inf). */
int64_t lp_time(int64_t ms, spec_precision_t p);
/* The precision as the write API's query parameter: 1.x n|u|ms|s, 2.x ns|us|ms|s. */
const char *lp_precision_param(spec_precision_t p, int influx_version);

/* Appends a double with the fewest digits that read back to the same value. */
int lp_double(buf_t *out, double v);

#endif
