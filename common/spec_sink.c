/* spec_sink — the `sink` section of the pipeline spec: input topics, the
 * InfluxDB mapping (measurement, tags, fields, precision) and the
 * WebSocket endpoint.  See spec.h and docs/pipeline-spec.md.
 *
 * Connection settings (URL, token, org, bucket) are not here: they are
 * per-deployment and secret, so they come from the environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_int.h"

#define SPEC_MAX_TAGS   64
#define SPEC_MAX_FIELDS 1024

void spec_sink_free(spec_sink_t *s) {
        if (!s)
                return;
        free(s->input.aggregates);
        free(s->input.alerts);
        free(s->dlq);
        free(s->influx.measurement);
        free(s->influx.alert_measurement);
        spec_strv_free(s->influx.tags, s->influx.ntags);
        spec_strv_free(s->influx.fields, s->influx.nfields);
        free(s->websocket.path);
        free(s);
}

/* "{name}" placeholders must be closed and name something. */
static int spec_template_check(spec_ctx_t *c, const char *t) {
        for (const char *p = t; *p; p++) {
                if (*p == '}')
                        return spec_fail(c, "unmatched \"}\" at offset %zu of \"%.64s\"",
                                         (size_t)(p - t), t);
                if (*p != '{')
                        continue;
                const char *end = strchr(p, '}');
                size_t n = end ? (size_t)(end - p - 1) : 0;
                if (!end || n == 0 || memchr(p + 1, '{', n))
                        return spec_fail(c,
                                         "bad placeholder at offset %zu of \"%.64s\" (expected "
                                         "\"{name}\", name a record field or attribute)",
                                         (size_t)(p - t), t);
                p = end;
        }
        return 0;
}

static int spec_measurement(spec_ctx_t *c, const cJSON *v, const char *key, const char *def,
                            char **out) {
        if (spec_string(c, v, key, SPEC_STR_ANY, 0, def, out) == -1 || !*out)
                return c->failed ? -1 : 0;
        size_t mark = spec_push_key(c, key);
        if ((*out)[0] == '_')
                return spec_fail(c, "must not start with '_' (reserved by InfluxDB)");
        if (spec_template_check(c, *out) == -1)
                return -1;
        spec_pop(c, mark);
        return 0;
}

/* An entry of influx.fields: "count" or "<field>_<op>"; when compute is
 * loaded too, the value must be one it computes. */
static int spec_field_check(spec_ctx_t *c, const char *f) {
        const spec_compute_t *cp = c->spec->compute;
        if (!strcmp(f, "count"))
                return 0;
        const char *us = strrchr(f, '_');
        int op = -1;
        if (us && us != f) {
                for (int i = 0; spec_op_names[i]; i++)
                        if (!strcmp(us + 1, spec_op_names[i]))
                                op = i;
                if (!strcmp(us + 1, "zscore"))
                        op = SPEC_OP__COUNT;
        }
        if (op < 0)
                return spec_fail(c,
                                 "invalid field \"%.64s\" (expected \"count\" or "
                                 "\"<field>_<op>\", op one of count, sum, min, max, mean, "
                                 "variance, stddev, first, last, p50, p90, p95, p99, zscore)",
                                 f);
        if (!cp)
                return 0;
        size_t flen = (size_t)(us - f);
        for (size_t i = 0; i < cp->naggregates; i++) {
                const spec_aggregate_t *a = &cp->aggregates[i];
                if (strlen(a->field) != flen || strncmp(a->field, f, flen) != 0)
                        continue;
                if (op == SPEC_OP__COUNT || (a->ops & SPEC_OP_BIT(op)))
                        return 0;
                return spec_fail(
                        c, "\"%s\" is not computed for \"%s\" (see $.compute.aggregates[%zu])",
                        us + 1, a->field, i);
        }
        return spec_fail(c, "\"%.*s\" is not aggregated in $.compute.aggregates", (int)flen, f);
}

static int spec_influx_parse(spec_ctx_t *c, const cJSON *v, spec_sink_t *s) {
        static const char *const keys[] = {
                "enabled", "measurement", "alert_measurement", "tags", "fields", "precision", NULL};
        int prec;
        s->influx.enabled = 1;
        s->influx.precision = SPEC_PRECISION_MS;
        if (!v) {
                s->influx.measurement = strdup(c->spec->name);
                s->influx.alert_measurement = strdup("alerts");
                return s->influx.measurement && s->influx.alert_measurement
                               ? 0
                               : spec_fail(c, "out of memory");
        }
        size_t mark = spec_push_key(c, "influx");
        const cJSON *am = cJSON_GetObjectItemCaseSensitive(v, "alert_measurement");
        if (spec_object(c, v, keys) == -1 ||
            spec_bool(c, v, "enabled", 1, &s->influx.enabled) == -1 ||
            spec_measurement(c, v, "measurement", c->spec->name, &s->influx.measurement) == -1 ||
            /* explicit null: alerts are not written */
            spec_measurement(c, v, "alert_measurement", cJSON_IsNull(am) ? NULL : "alerts",
                             &s->influx.alert_measurement) == -1 ||
            spec_string_list(c, v, "tags", SPEC_STR_ANY, SPEC_MAX_TAGS, "tag", &s->influx.tags,
                             &s->influx.ntags) == -1 ||
            spec_string_list(c, v, "fields", SPEC_STR_ANY, SPEC_MAX_FIELDS, "field",
                             &s->influx.fields, &s->influx.nfields) == -1 ||
            spec_enum(c, v, "precision", "precision", spec_precision_names, SPEC_PRECISION_MS,
                      &prec) == -1)
                return -1;
        s->influx.precision = (spec_precision_t)prec;
        for (size_t i = 0; i < s->influx.ntags; i++) {
                const char *t = s->influx.tags[i];
                if (t[0] != '_' && strcmp(t, "time") != 0)
                        continue;
                spec_push_key(c, "tags");
                spec_push_idx(c, i);
                return spec_fail(c, "\"%.64s\" is reserved by InfluxDB", t);
        }
        for (size_t i = 0; i < s->influx.nfields; i++) {
                size_t m2 = spec_push_key(c, "fields");
                spec_push_idx(c, i);
                if (spec_field_check(c, s->influx.fields[i]) == -1)
                        return -1;
                spec_pop(c, m2);
        }
        spec_pop(c, mark);
        return 0;
}

static int spec_websocket_parse(spec_ctx_t *c, const cJSON *v, spec_sink_t *s) {
        static const char *const keys[] = {"enabled", "path", NULL};
        size_t mark = spec_push_key(c, "websocket");
        if ((v && spec_object(c, v, keys) == -1) ||
            spec_bool(c, v, "enabled", 1, &s->websocket.enabled) == -1 ||
            spec_string(c, v, "path", SPEC_STR_ANY, 0, "/ws", &s->websocket.path) == -1)
                return -1;
        const char *p = s->websocket.path;
        int ok = p[0] == '/' && p[1];
        for (const char *q = p; ok && *q; q++)
                ok = *q > ' ' && *q < 0x7f && *q != '?' && *q != '#';
        if (!ok) {
                spec_push_key(c, "path");
                return spec_fail(c,
                                 "expected a URL path like \"/ws\" (not \"/\": the dashboard "
                                 "is there), got \"%.64s\"",
                                 p);
        }
        spec_pop(c, mark);
        return 0;
}

int spec_sink_parse(spec_ctx_t *c, const cJSON *v, spec_sink_t **out) {
        static const char *const keys[] = {"input", "dlq", "influx", "websocket", NULL};
        static const char *const in_keys[] = {"aggregates", "alerts", NULL};
        spec_sink_t *s = calloc(1, sizeof(*s));
        *out = s;
        if (!s)
                return spec_fail(c, "out of memory");
        if (spec_object(c, v, keys) == -1)
                return -1;
        const char *up_agg = spec_peek(c->root, "enrichment", "output", "aggregates");
        const char *up_alerts = spec_peek(c->root, "enrichment", "output", "alerts");
        const char *in_defs[] = {up_agg ? up_agg : "aggregates.enriched",
                                 up_alerts ? up_alerts : "alerts.enriched"};
        char **in_out[] = {&s->input.aggregates, &s->input.alerts};
        const char *others[4] = {NULL}, *paths[4] = {NULL};
        char pathbuf[4][64];
        if (spec_topics(c, v, "input", in_keys, in_defs, in_out, others, paths, pathbuf, 0) == -1 ||
            spec_string(c, v, "dlq", SPEC_STR_TOPIC, 0, "sink.dlq", &s->dlq) == -1)
                return -1;
        size_t mark = spec_push_key(c, "dlq");
        others[2] = NULL;
        if (spec_distinct_topic(c, s->dlq, others, paths) == -1)
                return -1;
        spec_pop(c, mark);
        if (spec_influx_parse(c, spec_member(v, "influx"), s) == -1 ||
            spec_websocket_parse(c, spec_member(v, "websocket"), s) == -1)
                return -1;
        if (!s->influx.enabled && !s->websocket.enabled)
                return spec_fail(c, "nothing to write to: influx and websocket are both disabled");
        return 0;
}
