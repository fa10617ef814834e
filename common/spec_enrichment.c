/* spec_enrichment — the `enrichment` section of the pipeline spec: the
 * join key, the reference-data sources and the topics.  See spec.h for the
 * structs and docs/pipeline-spec.md for the format.
 *
 * The input topics default to compute's outputs when the document sets
 * them, so renaming a topic is done in one place. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spec_int.h"

#define SPEC_MAX_SOURCES    16
#define SPEC_MAX_ATTRIBUTES 256

/* ------------------------------------------------------------ enrichment */

static void spec_source_free(spec_source_t *s) {
        free(s->name);
        spec_strv_free(s->attributes, s->nattributes);
        free(s->kafka.topic);
        free(s->kafka.key_field);
        free(s->kafka.schema);
        free(s->redis.url);
        free(s->redis.password_env);
        free(s->redis.key_pattern);
        free(s->file.path);
        free(s->file.key);
}

void spec_enrichment_free(spec_enrichment_t *e) {
        if (!e)
                return;
        for (size_t i = 0; i < e->nsources; i++)
                spec_source_free(&e->sources[i]);
        free(e->sources);
        free(e->input.aggregates);
        free(e->input.alerts);
        free(e->output.aggregates);
        free(e->output.alerts);
        free(e->output.dlq);
        free(e);
}

/* A ConfigMap is not a Secret: refuse a password in the URL. */
static int spec_redis_url_check(spec_ctx_t *c, const char *url) {
        static const char *const schemes[] = {"redis://", "rediss://", "unix://", NULL};
        size_t i = 0;
        while (schemes[i] && strncmp(url, schemes[i], strlen(schemes[i])) != 0)
                i++;
        if (!schemes[i])
                return spec_fail(c,
                                 "expected a URL like \"redis://host:6379/0\" (schemes redis://, "
                                 "rediss://, unix://), got \"%.64s\"",
                                 url);
        const char *auth = url + strlen(schemes[i]);
        const char *at = strchr(auth, '@'), *slash = strchr(auth, '/');
        if (at && (!slash || at < slash)) {
                const char *colon = memchr(auth, ':', (size_t)(at - auth));
                if (colon && colon + 1 < at)
                        return spec_fail(c, "must not contain a password: put it in an "
                                            "environment variable and name that variable in "
                                            "\"password_env\"");
        }
        return 0;
}

static int spec_source_kafka(spec_ctx_t *c, const cJSON *v, spec_source_t *s) {
        if (spec_string(c, v, "topic", SPEC_STR_TOPIC, 1, NULL, &s->kafka.topic) == -1 ||
            spec_string(c, v, "key_field", SPEC_STR_FIELD, 0, NULL, &s->kafka.key_field) == -1 ||
            spec_string(c, v, "schema", SPEC_STR_SCHEMA, 0, NULL, &s->kafka.schema) == -1)
                return -1;
        return 0;
}

static int spec_source_redis(spec_ctx_t *c, const cJSON *v, spec_source_t *s) {
        if (spec_string(c, v, "url", SPEC_STR_ANY, 1, NULL, &s->redis.url) == -1)
                return -1;
        size_t mark = spec_push_key(c, "url");
        if (spec_redis_url_check(c, s->redis.url) == -1)
                return -1;
        spec_pop(c, mark);
        if (spec_string(c, v, "password_env", SPEC_STR_ENV, 0, NULL, &s->redis.password_env) ==
                    -1 ||
            spec_string(c, v, "key_pattern", SPEC_STR_ANY, 0, "{key}", &s->redis.key_pattern) == -1)
                return -1;
        const char *k = strstr(s->redis.key_pattern, "{key}");
        if (!k || strstr(k + 1, "{key}")) {
                spec_push_key(c, "key_pattern");
                return spec_fail(c, "must contain \"{key}\" exactly once, got \"%.64s\"",
                                 s->redis.key_pattern);
        }
        if (spec_duration(c, v, "ttl", 300000, 1, &s->redis.ttl_ms) == -1 ||
            spec_duration(c, v, "negative_ttl", 30000, 0, &s->redis.negative_ttl_ms) == -1 ||
            spec_duration(c, v, "timeout", 500, 1, &s->redis.timeout_ms) == -1 ||
            spec_int(c, v, "cache_size", 100000, 1, 100000000, &s->redis.cache_size) == -1 ||
            spec_bool(c, v, "warm_up", 0, &s->redis.warm_up) == -1)
                return -1;
        return 0;
}

static int spec_ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && !strcasecmp(s + n - m, suffix);
}

static int spec_source_file(spec_ctx_t *c, const cJSON *v, spec_source_t *s) {
        char *path = NULL;
        if (spec_string(c, v, "path", SPEC_STR_ANY, 1, NULL, &path) == -1)
                return -1;
        /* Relative to the spec, so a spec and its reference data can be
         * mounted side by side wherever. */
        const char *slash = strrchr(c->spec->path, '/');
        if (path[0] != '/' && slash) {
                size_t dl = (size_t)(slash - c->spec->path) + 1, pl = strlen(path);
                s->file.path = malloc(dl + pl + 1);
                if (s->file.path) {
                        memcpy(s->file.path, c->spec->path, dl);
                        memcpy(s->file.path + dl, path, pl + 1);
                }
                free(path);
        } else {
                s->file.path = path;
        }
        if (!s->file.path)
                return spec_fail(c, "out of memory");
        int fmt = spec_ends_with(s->file.path, ".json")  ? SPEC_FILE_JSON
                  : spec_ends_with(s->file.path, ".csv") ? SPEC_FILE_CSV
                                                         : -1;
        if (fmt < 0 && !spec_member(v, "format"))
                return spec_fail(c, "missing required key \"format\" (cannot tell json or csv from "
                                    "the file name)");
        if (spec_enum(c, v, "format", "file format", spec_format_names, fmt, &fmt) == -1)
                return -1;
        s->file.format = (spec_file_format_t)fmt;
        return spec_string(c, v, "key_field", SPEC_STR_ANY, 1, NULL, &s->file.key);
}

static int spec_source_parse(spec_ctx_t *c, const cJSON *v, spec_source_t *s) {
        static const char *const kafka_keys[] = {"name",  "type",      "on_missing", "attributes",
                                                 "topic", "key_field", "schema",     NULL};
        static const char *const redis_keys[] = {
                "name",         "type",        "on_missing", "attributes",   "url",
                "password_env", "key_pattern", "ttl",        "negative_ttl", "timeout",
                "cache_size",   "warm_up",     NULL};
        static const char *const file_keys[] = {"name", "type",   "on_missing", "attributes",
                                                "path", "format", "key_field",  NULL};
        static const char *const all_keys[] = {
                "name",    "type",       "on_missing",   "attributes",  "topic",  "key_field",
                "schema",  "url",        "password_env", "key_pattern", "ttl",    "negative_ttl",
                "timeout", "cache_size", "warm_up",      "path",        "format", NULL};
        static const char *const *const type_keys[] = {kafka_keys, redis_keys, file_keys};
        int type, missing;
        /* Without a valid type, check against every key so a typo in "type"
         * itself is reported as the typo. */
        if (!spec_member(v, "type") && spec_object(c, v, all_keys) == -1)
                return -1;
        if (spec_enum(c, v, "type", "source type", spec_source_names, -1, &type) == -1 ||
            spec_object(c, v, type_keys[type]) == -1)
                return -1;
        s->type = (spec_source_type_t)type;
        if (spec_string(c, v, "name", SPEC_STR_NAME, 0, spec_source_names[type], &s->name) == -1 ||
            spec_enum(c, v, "on_missing", "missing-key policy", spec_missing_names,
                      SPEC_MISSING_PASS, &missing) == -1 ||
            spec_string_list(c, v, "attributes", SPEC_STR_ANY, SPEC_MAX_ATTRIBUTES, "attribute",
                             &s->attributes, &s->nattributes) == -1)
                return -1;
        s->on_missing = (spec_missing_t)missing;
        switch (s->type) {
        case SPEC_SOURCE_KAFKA:
                return spec_source_kafka(c, v, s);
        case SPEC_SOURCE_REDIS:
                return spec_source_redis(c, v, s);
        case SPEC_SOURCE_FILE:
                return spec_source_file(c, v, s);
        }
        return -1;
}

int spec_enrichment_parse(spec_ctx_t *c, const cJSON *v, spec_enrichment_t **out) {
        static const char *const keys[] = {"join_key", "sources", "input", "output", NULL};
        static const char *const in_keys[] = {"aggregates", "alerts", NULL};
        static const char *const out_keys[] = {"aggregates", "alerts", "dlq", NULL};
        spec_enrichment_t *e = calloc(1, sizeof(*e));
        const cJSON *arr;
        int join;
        *out = e;
        if (!e)
                return spec_fail(c, "out of memory");
        if (spec_object(c, v, keys) == -1 ||
            spec_enum(c, v, "join_key", "join key", spec_join_names, SPEC_JOIN_KEY, &join) == -1 ||
            spec_array(c, v, "sources", 1, SPEC_MAX_SOURCES, "source", &arr) == -1)
                return -1;
        e->join = (spec_join_t)join;
        e->sources = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*e->sources));
        if (!e->sources)
                return spec_fail(c, "out of memory");
        size_t mark = spec_push_key(c, "sources");
        for (const cJSON *s = arr->child; s; s = s->next) {
                size_t i = e->nsources++, m2 = spec_push_idx(c, i);
                if (spec_source_parse(c, s, &e->sources[i]) == -1)
                        return -1;
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(e->sources[j].name, e->sources[i].name))
                                return spec_fail(c,
                                                 "duplicate source name \"%s\" (also at "
                                                 "$.enrichment.sources[%zu]): give each source "
                                                 "its own \"name\"",
                                                 e->sources[i].name, j);
                spec_pop(c, m2);
        }
        spec_pop(c, mark);

        const char *up_agg = spec_peek(c->root, "compute", "output", "aggregates");
        const char *up_alerts = spec_peek(c->root, "compute", "output", "alerts");
        const char *in_defs[] = {up_agg ? up_agg : "aggregates", up_alerts ? up_alerts : "alerts"};
        const char *out_defs[] = {"aggregates.enriched", "alerts.enriched", "enrichment.dlq"};
        char **in_out[] = {&e->input.aggregates, &e->input.alerts};
        char **out_out[] = {&e->output.aggregates, &e->output.alerts, &e->output.dlq};
        const char *others[8] = {c->spec->input.topic};
        const char *paths[8] = {"the input ($.input.topic)"};
        char pathbuf[8][64];
        if (spec_topics(c, v, "input", in_keys, in_defs, in_out, others, paths, pathbuf, 1) == -1 ||
            spec_topics(c, v, "output", out_keys, out_defs, out_out, others, paths, pathbuf, 3) ==
                    -1)
                return -1;

        /* A reference topic cannot be one we write. */
        for (size_t i = 0; i < e->nsources; i++) {
                if (e->sources[i].type != SPEC_SOURCE_KAFKA)
                        continue;
                const char *mine[] = {e->output.aggregates, e->output.alerts, e->output.dlq, NULL};
                const char *mine_paths[] = {"$.enrichment.output.aggregates",
                                            "$.enrichment.output.alerts",
                                            "$.enrichment.output.dlq"};
                size_t m2 = spec_push_key(c, "sources");
                spec_push_idx(c, i);
                spec_push_key(c, "topic");
                if (spec_distinct_topic(c, e->sources[i].kafka.topic, mine, mine_paths) == -1)
                        return -1;
                spec_pop(c, m2);
        }
        return 0;
}
