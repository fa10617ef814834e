/* spec — the pipeline spec (SPEC §3): one JSON document describing a
 * pipeline, loaded into plain C structs.  The format is documented in
 * docs/pipeline-spec.md; docs/examples/traffic-pipeline.json is a full
 * example.
 *
 * Each service loads the sections it needs: `name` and `input` always, plus
 * the parts it asks for; sections not asked for are not validated (and
 * their pointers stay NULL), so a mistake in the sink section does not stop
 * compute.  Unknown keys anywhere are errors, to catch typos.
 *
 * Errors name the file, the JSON path and what is wrong, e.g.
 *   pipeline.json: $.compute.windows[1].size: expected a duration like "60s", got 12
 * so a service prints errstr and exits non-zero.
 *
 * Ownership: spec_load()/spec_parse() return a spec_t the caller frees with
 * spec_free(); every string and array in it belongs to it.  Read-only
 * after loading, so threads may share it. */
#ifndef WEIR_SPEC_H
#define WEIR_SPEC_H

#include <stddef.h>
#include <stdint.h>

/* Sections to load.  `name` and `input` are always loaded. */
#define SPEC_PART_INPUT      0x0u
#define SPEC_PART_COMPUTE    0x1u
#define SPEC_PART_ENRICHMENT 0x2u
#define SPEC_PART_SINK       0x4u
#define SPEC_PART_ALL        0x7u

typedef struct {
        char *key, *value;
} spec_kv_t;

/* What a partition does once no record came for idle.after_ms of wall clock
 * (docs/compute.md, "Idle input"). */
typedef enum {
        SPEC_IDLE_NONE = 0, /* nothing: stream time moves with records only */
        SPEC_IDLE_ADVANCE,  /* stream time moves on with the wall clock */
        SPEC_IDLE_CLOSE     /* every open window is closed, as at the end of the input */
} spec_idle_action_t;

typedef struct {
        char *topic;      /* Kafka topic to consume */
        char *schema;     /* Avro full name of the value schema, e.g. weir.example.TrafficReading */
        char *key;        /* field holding the grouping key */
        char *event_time; /* field holding the event time, or NULL: the Kafka record timestamp */
        /* A string event time: "rfc3339" or a strftime-style pattern; NULL
         * for a numeric field.  Checked by compute (services/compute/et.h). */
        char *event_time_format;
        /* Offset from UTC of string times without their own offset, in
         * seconds east ("UTC": 0, "+01:00": 3600); event_time_zone keeps the
         * text as written (NULL: "UTC"). */
        char *event_time_zone;
        int32_t event_time_zone_s;
        struct {
                spec_idle_action_t action; /* SPEC_IDLE_NONE when input.idle is absent */
                int64_t after_ms;
        } idle;
} spec_input_t;

/* ------------------------------------------------------------ compute */

typedef enum {
        SPEC_WINDOW_TUMBLING,
        SPEC_WINDOW_HOPPING,
        SPEC_WINDOW_SLIDING,
        SPEC_WINDOW_SESSION
} spec_window_type_t;

typedef enum { SPEC_EMIT_FINAL, SPEC_EMIT_CHANGES } spec_emit_mode_t;

typedef struct {
        char *name;
        spec_window_type_t type;
        int64_t size_ms;    /* tumbling, hopping, sliding; 0 for session */
        int64_t advance_ms; /* hopping; equal to size_ms for tumbling; 0 otherwise */
        int64_t gap_ms;     /* session; 0 otherwise */
        int64_t grace_ms;
        spec_emit_mode_t emit;
        int64_t emit_interval_ms; /* changes: at most one update per key per interval */
} spec_window_t;

/* Aggregate operations, in the order of the Aggregate schema's fields. */
typedef enum {
        SPEC_OP_COUNT,
        SPEC_OP_SUM,
        SPEC_OP_MIN,
        SPEC_OP_MAX,
        SPEC_OP_MEAN,
        SPEC_OP_VARIANCE,
        SPEC_OP_STDDEV,
        SPEC_OP_FIRST,
        SPEC_OP_LAST,
        SPEC_OP_P50,
        SPEC_OP_P90,
        SPEC_OP_P95,
        SPEC_OP_P99,
        SPEC_OP__COUNT
} spec_op_t;
#define SPEC_OP_BIT(op) (1u << (op))

typedef struct {
        char *field;  /* numeric input field */
        unsigned ops; /* SPEC_OP_BIT() set */
} spec_aggregate_t;

typedef enum { SPEC_SEVERITY_INFO, SPEC_SEVERITY_WARNING, SPEC_SEVERITY_CRITICAL } spec_severity_t;

typedef struct {
        char *name;
        char *expr;      /* rule expression, parsed by the compute service */
        int for_windows; /* consecutive windows the expression must hold (>= 1) */
        spec_severity_t severity;
        spec_kv_t *labels;
        size_t nlabels;
        char *window;      /* name of the window it is evaluated on */
        size_t window_idx; /* index of that window in spec_compute_t.windows */
} spec_rule_t;

typedef struct {
        spec_window_t *windows;
        size_t nwindows;
        spec_aggregate_t *aggregates;
        size_t naggregates;
        spec_rule_t *rules;
        size_t nrules;
        double quantile_accuracy; /* relative error bound of p50..p99 */
        /* compute.key_ttl: a key with no open window and no firing alert,
         * unseen for this long of stream time, is forgotten; 0: never. */
        int64_t key_ttl_ms;
        struct {
                double alpha;    /* EWMA weight of the newest window, (0, 1] */
                int min_windows; /* windows of history before a z-score exists */
        } anomaly;
        struct {
                char *aggregates, *alerts, *dlq, *changelog;
        } output;
} spec_compute_t;

/* ------------------------------------------------------------ enrichment */

typedef enum { SPEC_SOURCE_KAFKA, SPEC_SOURCE_REDIS, SPEC_SOURCE_FILE } spec_source_type_t;
typedef enum { SPEC_MISSING_PASS, SPEC_MISSING_DROP, SPEC_MISSING_DLQ } spec_missing_t;
typedef enum { SPEC_FILE_JSON, SPEC_FILE_CSV } spec_file_format_t;
/* Which field of an aggregate or alert is looked up. */
typedef enum { SPEC_JOIN_KEY, SPEC_JOIN_WINDOW, SPEC_JOIN_PIPELINE } spec_join_t;

typedef struct {
        char *name;
        spec_source_type_t type;
        spec_missing_t on_missing;
        char **attributes; /* attributes to copy; nattributes == 0 means all */
        size_t nattributes;
        struct {
                char *topic;     /* compacted topic */
                char *key_field; /* value field holding the key, or NULL: the record key */
                char *schema;    /* Avro full name of the values, or NULL: from the wire format */
        } kafka;
        struct {
                char *url;          /* redis://host:port[/db], no password */
                char *password_env; /* environment variable holding the password, or NULL */
                char *key_pattern;  /* hash key, "{key}" replaced by the join value */
                int64_t ttl_ms, negative_ttl_ms, timeout_ms;
                int64_t cache_size; /* entries in the in-process LRU */
                int warm_up;        /* load every matching hash at start */
        } redis;
        struct {
                char *path; /* relative paths are resolved against the spec's directory */
                spec_file_format_t format;
                char *key; /* column (CSV) or member (JSON) holding the key */
        } file;
} spec_source_t;

typedef struct {
        spec_join_t join;
        spec_source_t *sources;
        size_t nsources;
        struct {
                char *aggregates, *alerts;
        } input;
        struct {
                char *aggregates, *alerts, *dlq;
        } output;
} spec_enrichment_t;

/* ------------------------------------------------------------ sink */

typedef enum {
        SPEC_PRECISION_NS,
        SPEC_PRECISION_US,
        SPEC_PRECISION_MS,
        SPEC_PRECISION_S
} spec_precision_t;

typedef struct {
        struct {
                char *aggregates, *alerts;
        } input;
        char *dlq;
        struct {
                int enabled;
                char *measurement;       /* template: "{name}" is a record field or attribute */
                char *alert_measurement; /* NULL: alerts are not written */
                char **tags;             /* extra tags: attribute names (or "pipeline") */
                size_t ntags;
                char **fields; /* "count" or "<field>_<op>"; nfields == 0 means all */
                size_t nfields;
                spec_precision_t precision;
        } influx;
        struct {
                int enabled;
                char *path;
        } websocket;
} spec_sink_t;

/* ------------------------------------------------------------ the spec */

typedef struct {
        char *path; /* as given to spec_load()/spec_parse() */
        char *name;
        spec_input_t input;
        spec_compute_t *compute;       /* NULL unless SPEC_PART_COMPUTE */
        spec_enrichment_t *enrichment; /* NULL unless SPEC_PART_ENRICHMENT */
        spec_sink_t *sink;             /* NULL unless SPEC_PART_SINK */
} spec_t;

/* Loads the file at `path`, or at $PIPELINE_SPEC when path is NULL.
 * Returns NULL with errstr set. */
spec_t *spec_load(const char *path, unsigned parts, char *errstr, size_t errstr_size);

/* Parses `len` bytes of JSON; `path` names it in messages and anchors
 * relative file paths (may be NULL: "pipeline spec", current directory). */
spec_t *spec_parse(const char *json, size_t len, const char *path, unsigned parts, char *errstr,
                   size_t errstr_size);

void spec_free(spec_t *spec);

/* Names as written in the spec ("p95", "hopping", "critical", ...). */
const char *spec_op_name(spec_op_t op);
const char *spec_window_type_name(spec_window_type_t t);
const char *spec_severity_name(spec_severity_t s);

/* The window named `name`, or NULL. */
const spec_window_t *spec_window_find(const spec_compute_t *c, const char *name);

#endif
