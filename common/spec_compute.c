/* spec_compute — the `compute` section of the pipeline spec: windows,
 * aggregates, emit mode, rules, anomaly scoring and output topics.
 * See spec.h for the structs and docs/pipeline-spec.md for the format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_int.h"

#define SPEC_MAX_WINDOWS    32
#define SPEC_MAX_AGGREGATES 256
#define SPEC_MAX_RULES      256
#define SPEC_MAX_LABELS     32

void spec_compute_free(spec_compute_t *cp) {
        if (!cp)
                return;
        for (size_t i = 0; i < cp->nwindows; i++)
                free(cp->windows[i].name);
        free(cp->windows);
        for (size_t i = 0; i < cp->naggregates; i++)
                free(cp->aggregates[i].field);
        free(cp->aggregates);
        for (size_t i = 0; i < cp->nrules; i++) {
                spec_rule_t *r = &cp->rules[i];
                free(r->name);
                free(r->expr);
                free(r->window);
                spec_kv_free(r->labels, r->nlabels);
        }
        free(cp->rules);
        free(cp->output.aggregates);
        free(cp->output.alerts);
        free(cp->output.dlq);
        free(cp->output.changelog);
        free(cp);
}

/* `emit` of obj (the section or one window), defaulting to the given mode
 * and interval. */
static int spec_emit_parse(spec_ctx_t *c, const cJSON *obj, spec_emit_mode_t *mode,
                           int64_t *interval) {
        static const char *const keys[] = {"mode", "min_interval", NULL};
        const cJSON *v = spec_member(obj, "emit");
        int m = (int)*mode;
        if (!v)
                return 0;
        size_t mark = spec_push_key(c, "emit");
        if (spec_object(c, v, keys) == -1 ||
            spec_enum(c, v, "mode", "emit mode", spec_emit_names, m, &m) == -1)
                return -1;
        if (m == SPEC_EMIT_FINAL && spec_member(v, "min_interval")) {
                spec_push_key(c, "min_interval");
                return spec_fail(c, "only for mode \"changes\" (\"final\" emits once, at close)");
        }
        if (spec_duration(c, v, "min_interval", *interval, 1, interval) == -1)
                return -1;
        *mode = (spec_emit_mode_t)m;
        spec_pop(c, mark);
        return 0;
}

/* Fails at key when present: it does not apply to this window type. */
static int spec_not_for(spec_ctx_t *c, const cJSON *v, const char *key, const char *why) {
        if (!spec_member(v, key))
                return 0;
        spec_push_key(c, key);
        return spec_fail(c, "%s", why);
}

static int spec_window_parse(spec_ctx_t *c, const cJSON *v, spec_window_t *w) {
        static const char *const keys[] = {"name", "type",  "size", "advance",
                                           "gap",  "grace", "emit", NULL};
        int type;
        if (spec_object(c, v, keys) == -1 ||
            spec_string(c, v, "name", SPEC_STR_NAME, 1, NULL, &w->name) == -1 ||
            spec_enum(c, v, "type", "window type", spec_window_names, -1, &type) == -1)
                return -1;
        w->type = (spec_window_type_t)type;
        if (w->type == SPEC_WINDOW_SESSION) {
                if (spec_not_for(c, v, "size",
                                 "not used by session windows (they close after \"gap\" "
                                 "without records)") == -1 ||
                    spec_duration(c, v, "gap", -1, 1, &w->gap_ms) == -1)
                        return -1;
        } else if (spec_duration(c, v, "size", -1, 1, &w->size_ms) == -1 ||
                   spec_not_for(c, v, "gap", "only for session windows") == -1) {
                return -1;
        }
        if (w->type == SPEC_WINDOW_HOPPING) {
                if (spec_duration(c, v, "advance", -1, 1, &w->advance_ms) == -1)
                        return -1;
                if (w->advance_ms > w->size_ms) {
                        spec_push_key(c, "advance");
                        return spec_fail(c, "must not be longer than the window's size");
                }
        } else if (spec_not_for(c, v, "advance", "only for hopping windows") == -1) {
                return -1;
        }
        if (w->type == SPEC_WINDOW_TUMBLING)
                w->advance_ms = w->size_ms;
        if (spec_duration(c, v, "grace", 0, 0, &w->grace_ms) == -1 ||
            spec_emit_parse(c, v, &w->emit, &w->emit_interval_ms) == -1)
                return -1;
        return 0;
}

static int spec_windows_parse(spec_ctx_t *c, const cJSON *v, spec_compute_t *cp) {
        const cJSON *arr;
        spec_emit_mode_t mode = SPEC_EMIT_FINAL;
        int64_t interval = 1000;
        if (spec_emit_parse(c, v, &mode, &interval) == -1 ||
            spec_array(c, v, "windows", 1, SPEC_MAX_WINDOWS, "window", &arr) == -1)
                return -1;
        cp->windows = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*cp->windows));
        if (!cp->windows)
                return spec_fail(c, "out of memory");
        size_t mark = spec_push_key(c, "windows");
        for (const cJSON *e = arr->child; e; e = e->next) {
                size_t i = cp->nwindows++, m2 = spec_push_idx(c, i);
                spec_window_t *w = &cp->windows[i];
                w->emit = mode;
                w->emit_interval_ms = interval;
                if (spec_window_parse(c, e, w) == -1)
                        return -1;
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(cp->windows[j].name, w->name)) {
                                spec_push_key(c, "name");
                                return spec_fail(c,
                                                 "duplicate window name \"%s\" (also at "
                                                 "$.compute.windows[%zu])",
                                                 w->name, j);
                        }
                spec_pop(c, m2);
        }
        spec_pop(c, mark);
        return 0;
}

static int spec_aggregates_parse(spec_ctx_t *c, const cJSON *v, spec_compute_t *cp) {
        static const char *const keys[] = {"field", "ops", NULL};
        const cJSON *arr;
        if (spec_array(c, v, "aggregates", 0, SPEC_MAX_AGGREGATES, "aggregate", &arr) == -1)
                return -1;
        if (!arr || !cJSON_GetArraySize(arr))
                return 0;
        cp->aggregates = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*cp->aggregates));
        if (!cp->aggregates)
                return spec_fail(c, "out of memory");
        size_t mark = spec_push_key(c, "aggregates");
        for (const cJSON *e = arr->child; e; e = e->next) {
                size_t i = cp->naggregates++, m2 = spec_push_idx(c, i);
                spec_aggregate_t *a = &cp->aggregates[i];
                const cJSON *ops;
                if (spec_object(c, e, keys) == -1 ||
                    spec_string(c, e, "field", SPEC_STR_FIELD, 1, NULL, &a->field) == -1)
                        return -1;
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(cp->aggregates[j].field, a->field)) {
                                spec_push_key(c, "field");
                                return spec_fail(c,
                                                 "duplicate field \"%s\" (also at "
                                                 "$.compute.aggregates[%zu]): list all its "
                                                 "ops in one entry",
                                                 a->field, j);
                        }
                if (spec_array(c, e, "ops", 1, 64, "op", &ops) == -1)
                        return -1;
                size_t m3 = spec_push_key(c, "ops"), k = 0;
                for (const cJSON *o = ops->child; o; o = o->next, k++) {
                        int op;
                        size_t m4 = spec_push_idx(c, k);
                        if (spec_enum_value(c, o, "aggregate", spec_op_names, &op) == -1)
                                return -1;
                        if (a->ops & SPEC_OP_BIT(op))
                                return spec_fail(c, "duplicate aggregate \"%s\"",
                                                 spec_op_names[op]);
                        a->ops |= SPEC_OP_BIT(op);
                        spec_pop(c, m4);
                }
                spec_pop(c, m3);
                spec_pop(c, m2);
        }
        spec_pop(c, mark);
        return 0;
}

static int spec_rule_parse(spec_ctx_t *c, const cJSON *v, const spec_compute_t *cp,
                           spec_rule_t *r) {
        static const char *const keys[] = {"name",     "expr",   "for", "labels",
                                           "severity", "window", NULL};
        int64_t n;
        int sev;
        if (spec_object(c, v, keys) == -1 ||
            spec_string(c, v, "name", SPEC_STR_NAME, 1, NULL, &r->name) == -1 ||
            spec_string(c, v, "expr", SPEC_STR_ANY, 1, NULL, &r->expr) == -1 ||
            spec_int(c, v, "for", 1, 1, 1000, &n) == -1 ||
            spec_enum(c, v, "severity", "severity", spec_severity_names, SPEC_SEVERITY_WARNING,
                      &sev) == -1 ||
            spec_string_map(c, v, "labels", SPEC_MAX_LABELS, &r->labels, &r->nlabels) == -1 ||
            spec_string(c, v, "window", SPEC_STR_NAME, 0, NULL, &r->window) == -1)
                return -1;
        r->for_windows = (int)n;
        r->severity = (spec_severity_t)sev;

        char names[512];
        size_t pos = 0;
        names[0] = '\0';
        for (size_t i = 0; i < cp->nwindows && pos < sizeof(names); i++)
                pos += (size_t)snprintf(names + pos, sizeof(names) - pos, "%s%s", i ? ", " : "",
                                        cp->windows[i].name);
        if (!r->window) {
                /* Only unambiguous with a single window. */
                if (cp->nwindows != 1)
                        return spec_fail(c,
                                         "missing required key \"window\" (the pipeline has %zu "
                                         "windows: %s)",
                                         cp->nwindows, names);
                r->window = strdup(cp->windows[0].name);
                return r->window ? 0 : spec_fail(c, "out of memory");
        }
        for (size_t i = 0; i < cp->nwindows; i++)
                if (!strcmp(cp->windows[i].name, r->window)) {
                        r->window_idx = i;
                        return 0;
                }
        spec_push_key(c, "window");
        return spec_fail(c, "unknown window \"%s\" (expected one of %s)", r->window, names);
}

static int spec_rules_parse(spec_ctx_t *c, const cJSON *v, spec_compute_t *cp) {
        const cJSON *arr;
        if (spec_array(c, v, "rules", 0, SPEC_MAX_RULES, "rule", &arr) == -1)
                return -1;
        if (!arr || !cJSON_GetArraySize(arr))
                return 0;
        cp->rules = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*cp->rules));
        if (!cp->rules)
                return spec_fail(c, "out of memory");
        size_t mark = spec_push_key(c, "rules");
        for (const cJSON *e = arr->child; e; e = e->next) {
                size_t i = cp->nrules++, m2 = spec_push_idx(c, i);
                if (spec_rule_parse(c, e, cp, &cp->rules[i]) == -1)
                        return -1;
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(cp->rules[j].name, cp->rules[i].name)) {
                                spec_push_key(c, "name");
                                return spec_fail(c,
                                                 "duplicate rule name \"%s\" (also at "
                                                 "$.compute.rules[%zu])",
                                                 cp->rules[i].name, j);
                        }
                spec_pop(c, m2);
        }
        spec_pop(c, mark);
        return 0;
}

static int spec_anomaly_parse(spec_ctx_t *c, const cJSON *v, spec_compute_t *cp) {
        static const char *const keys[] = {"alpha", "min_windows", NULL};
        const cJSON *a = spec_member(v, "anomaly");
        int64_t n = 10;
        cp->anomaly.alpha = 0.1;
        if (a) {
                size_t mark = spec_push_key(c, "anomaly");
                if (spec_object(c, a, keys) == -1 ||
                    spec_number(c, a, "alpha", 0.1, 0, 1, &cp->anomaly.alpha) == -1 ||
                    spec_int(c, a, "min_windows", 10, 1, 100000, &n) == -1)
                        return -1;
                spec_pop(c, mark);
        }
        cp->anomaly.min_windows = (int)n;
        return 0;
}

static int spec_output_parse(spec_ctx_t *c, const cJSON *v, spec_compute_t *cp) {
        static const char *const keys[] = {"aggregates", "alerts", "dlq", "changelog", NULL};
        char changelog[128];
        /* Per pipeline: two pipelines sharing a changelog would restore
         * each other's state. */
        snprintf(changelog, sizeof(changelog), "%s.compute.changelog", c->spec->name);
        const char *defs[] = {"aggregates", "alerts", "compute.dlq", changelog};
        char **out[] = {&cp->output.aggregates, &cp->output.alerts, &cp->output.dlq,
                        &cp->output.changelog};
        const char *others[6] = {c->spec->input.topic};
        const char *paths[6] = {"the input ($.input.topic)"};
        char pathbuf[6][64];
        return spec_topics(c, v, "output", keys, defs, out, others, paths, pathbuf, 1);
}

int spec_compute_parse(spec_ctx_t *c, const cJSON *v, spec_compute_t **out) {
        static const char *const keys[] = {"windows", "aggregates", "emit",
                                           "rules",   "anomaly",    "quantile_accuracy",
                                           "output",  "key_ttl",    NULL};
        spec_compute_t *cp = calloc(1, sizeof(*cp));
        *out = cp;
        if (!cp)
                return spec_fail(c, "out of memory");
        if (spec_object(c, v, keys) == -1 || spec_windows_parse(c, v, cp) == -1 ||
            spec_aggregates_parse(c, v, cp) == -1 || spec_rules_parse(c, v, cp) == -1 ||
            spec_anomaly_parse(c, v, cp) == -1 ||
            spec_number(c, v, "quantile_accuracy", 0.01, 0, 0.1, &cp->quantile_accuracy) == -1 ||
            spec_duration(c, v, "key_ttl", 0, 1, &cp->key_ttl_ms) == -1 ||
            spec_output_parse(c, v, cp) == -1)
                return -1;
        return 0;
}
