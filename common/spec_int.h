/* spec_int — the inside of the pipeline spec loader, shared by spec.c,
 * spec_json.c, spec_compute.c, spec_enrichment.c and spec_sink.c only.  Services use spec.h.
 *
 * A spec_ctx_t walks the cJSON tree keeping the JSON path of the value
 * being read ($.compute.windows[1].size), so every getter can say where a
 * problem is.  Getters return 0 (or 1, "present"), or -1 after recording
 * the error; the first error wins and the walk unwinds. */
#ifndef WEIR_SPEC_INT_H
#define WEIR_SPEC_INT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

#define SPEC_MAX_DURATION_MS (366LL * 86400000LL) /* a year: nothing sane is longer */

typedef struct {
        const char *file; /* name in messages */
        char *errstr;
        size_t errstr_size;
        int failed;
        char path[768];
        size_t plen;
        const cJSON *root;
        const spec_t *spec; /* what is loaded so far (name, input, ...) */
} spec_ctx_t;

/* Path: push returns a mark to pop back to. */
size_t spec_push_key(spec_ctx_t *c, const char *key);
size_t spec_push_idx(spec_ctx_t *c, size_t i);
void spec_pop(spec_ctx_t *c, size_t mark);

/* Records "<file>: <path>: <message>" (first error only); returns -1. */
int spec_fail(spec_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short description of a JSON value for messages: 12, "abc", an object. */
void spec_describe(const cJSON *v, char *buf, size_t size);

/* The member `key` of obj, or NULL when absent or JSON null. */
const cJSON *spec_member(const cJSON *obj, const char *key);

/* Checks that v is an object whose keys are all in `keys` (NULL-terminated,
 * at most 64), none repeated.  Required keys are the getters' business,
 * so a typo is reported as the unknown key it is, not as a missing one. */
int spec_object(spec_ctx_t *c, const cJSON *v, const char *const *keys);

/* An array member: sets *arr (NULL when absent and not required) and
 * checks its length against `max`.  The path stays at the parent. */
int spec_array(spec_ctx_t *c, const cJSON *obj, const char *key, int required, size_t max,
               const char *what, const cJSON **arr);

/* Kinds of strings, validated by spec_string(). */
typedef enum {
        SPEC_STR_ANY,    /* any non-empty string */
        SPEC_STR_NAME,   /* pipeline/window/rule/source name: [A-Za-z0-9._-]{1,64} */
        SPEC_STR_FIELD,  /* Avro field name */
        SPEC_STR_SCHEMA, /* Avro full name */
        SPEC_STR_TOPIC,  /* Kafka topic name */
        SPEC_STR_ENV     /* environment variable name */
} spec_str_kind_t;

/* A string member, strdup'd into *out; absent → strdup(def), or an error
 * when def is NULL and `required`, or *out = NULL. */
int spec_string(spec_ctx_t *c, const cJSON *obj, const char *key, spec_str_kind_t kind,
                int required, const char *def, char **out);
/* The same for a value already in hand (array elements). */
int spec_string_value(spec_ctx_t *c, const cJSON *v, spec_str_kind_t kind, char **out);

int spec_int(spec_ctx_t *c, const cJSON *obj, const char *key, int64_t def, int64_t min,
             int64_t max, int64_t *out);
/* min is exclusive, max inclusive: (min, max]. */
int spec_number(spec_ctx_t *c, const cJSON *obj, const char *key, double def, double min,
                double max, double *out);
int spec_bool(spec_ctx_t *c, const cJSON *obj, const char *key, int def, int *out);
/* def < 0: required. */
int spec_duration(spec_ctx_t *c, const cJSON *obj, const char *key, int64_t def, int64_t min,
                  int64_t *out);
/* One of `names` (NULL-terminated); `noun` names the kind in messages
 * ("unknown aggregate \"median\"").  def < 0: required. */
int spec_enum(spec_ctx_t *c, const cJSON *obj, const char *key, const char *noun,
              const char *const *names, int def, int *out);
int spec_enum_value(spec_ctx_t *c, const cJSON *v, const char *noun, const char *const *names,
                    int *out);
/* An array of distinct strings of one kind. */
int spec_string_list(spec_ctx_t *c, const cJSON *obj, const char *key, spec_str_kind_t kind,
                     size_t max, const char *what, char ***out, size_t *n);
/* An object of string values. */
int spec_string_map(spec_ctx_t *c, const cJSON *obj, const char *key, size_t max, spec_kv_t **out,
                    size_t *n);

/* A string at root.<a>.<b>.<c> in the raw document, or NULL: lets a stage
 * default its input topics to the upstream stage's outputs. */
const char *spec_peek(const cJSON *root, const char *a, const char *b, const char *c);

/* Fails when `topic` equals one of the NULL-terminated `others`, naming
 * the path of the clash (`other_paths`, parallel). */
int spec_distinct_topic(spec_ctx_t *c, const char *topic, const char *const *others,
                        const char *const *other_paths);

/* The topics object parent.<key> with members `keys` (NULL-terminated),
 * each defaulting to defs[i] and stored in *out[i], all distinct from each
 * other and from others[0..nothers) (named by paths[]).  Appends them to
 * others/paths (pathbuf holds the path texts), so a stage's outputs can
 * then be checked against its inputs. */
int spec_topics(spec_ctx_t *c, const cJSON *parent, const char *key, const char *const *keys,
                const char *const *defs, char **const *out, const char **others, const char **paths,
                char (*pathbuf)[64], size_t nothers);

/* Names as written in the document, indexed by the spec.h enums,
 * NULL-terminated (defined in spec.c). */
extern const char *const spec_op_names[];
extern const char *const spec_window_names[];
extern const char *const spec_emit_names[];
extern const char *const spec_severity_names[];
extern const char *const spec_source_names[];
extern const char *const spec_missing_names[];
extern const char *const spec_format_names[];
extern const char *const spec_join_names[];
extern const char *const spec_precision_names[];

/* Sections. */
int spec_compute_parse(spec_ctx_t *c, const cJSON *v, spec_compute_t **out);
void spec_compute_free(spec_compute_t *cp);
int spec_enrichment_parse(spec_ctx_t *c, const cJSON *v, spec_enrichment_t **out);
void spec_enrichment_free(spec_enrichment_t *e);
int spec_sink_parse(spec_ctx_t *c, const cJSON *v, spec_sink_t **out);
void spec_sink_free(spec_sink_t *s);

void spec_strv_free(char **v, size_t n);
void spec_kv_free(spec_kv_t *kv, size_t n);

#endif
