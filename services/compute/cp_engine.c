/* cp_engine — start-up of the compute engine: checks the aggregated fields
 * against the input schema, compiles the rules, and lays out the per-key
 * state block.  The result is read-only afterwards, shared by all threads. */
#include "cfg.h"
#include "cp_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *spec_file(const spec_t *s) {
        return s->path ? s->path : "pipeline spec";
}

static const char *avro_type_word(avro_type_t t) {
        switch (t) {
        case AVRO_STRING:
                return "a string";
        case AVRO_BYTES:
                return "bytes";
        case AVRO_BOOLEAN:
                return "a boolean";
        case AVRO_NULL:
                return "null";
        case AVRO_RECORD:
                return "a record";
        case AVRO_ENUM:
                return "an enum";
        case AVRO_FIXED:
                return "a fixed";
        case AVRO_MAP:
                return "a map";
        case AVRO_ARRAY:
                return "an array";
        case AVRO_UNION:
                return "a union";
        default:
                return "not a number";
        }
}

static int numeric(avro_schema_t s) {
        avro_type_t t = avro_typeof(s);
        return t == AVRO_INT32 || t == AVRO_INT64 || t == AVRO_FLOAT || t == AVRO_DOUBLE;
}

/* 0 when the field is int/long/float/double or a union of null and one. */
static int check_field(const av_schema_t *input, const char *field, char *why, size_t whysz) {
        avro_schema_t rec = av_schema_avro(input);
        if (!rec || avro_typeof(rec) != AVRO_RECORD) {
                snprintf(why, whysz, "the input schema is not a record");
                return -1;
        }
        const char *sname = av_schema_name(input) ? av_schema_name(input) : "the input schema";
        int idx = avro_schema_record_field_get_index(rec, field);
        avro_schema_t f = idx < 0 ? NULL : avro_schema_record_field_get_by_index(rec, idx);
        if (!f) {
                snprintf(why, whysz, "\"%s\" is not a field of %s", field, sname);
                return -1;
        }
        if (numeric(f))
                return 0;
        if (avro_typeof(f) == AVRO_UNION && avro_schema_union_size(f) == 2) {
                avro_schema_t a = avro_schema_union_branch(f, 0),
                              b = avro_schema_union_branch(f, 1);
                if ((avro_typeof(a) == AVRO_NULL && numeric(b)) ||
                    (avro_typeof(b) == AVRO_NULL && numeric(a)))
                        return 0;
        }
        snprintf(why, whysz,
                 "field \"%s\" of %s is %s; aggregates need int, long, float, double or a union of "
                 "null and one of them",
                 field, sname, avro_type_word(avro_typeof(f)));
        return -1;
}

/* "absent for <duration>": 1 with *ms set; 0 when expr is not an absence
 * rule at all; -1 with why when it is one, badly written. */
static int parse_absent(const char *expr, int64_t *ms, char *why, size_t whysz) {
        const char *p = expr;
        while (isspace((unsigned char)*p))
                p++;
        if (strncmp(p, "absent", 6) != 0 || (p[6] && !isspace((unsigned char)p[6])))
                return 0;
        const char *q = p + 6;
        while (isspace((unsigned char)*q))
                q++;
        if (strncmp(q, "for", 3) != 0 || (q[3] && !isspace((unsigned char)q[3])))
                return 0; /* perhaps a field called absent: the expression parser says */
        q += 3;
        while (isspace((unsigned char)*q))
                q++;
        const char *d = q;
        while (*q && !isspace((unsigned char)*q))
                q++;
        char dur[64];
        snprintf(dur, sizeof(dur), "%.*s", (int)(q - d), d);
        const char *rest = q;
        while (isspace((unsigned char)*rest))
                rest++;
        if (*rest) {
                snprintf(why, whysz,
                         "column %zu: an absence rule is the whole expression (\"absent for "
                         "5m\"): it cannot be combined with other terms",
                         (size_t)(rest - expr) + 1);
                return -1;
        }
        if (!*dur || !isalpha((unsigned char)dur[strlen(dur) - 1]) ||
            cfg_parse_duration_ms(dur, ms) == -1 || *ms < 1) {
                snprintf(why, whysz,
                         "column %zu: expected a duration like \"5m\" after "
                         "\"absent for\", got \"%s\"",
                         (size_t)(d - expr) + 1, dur);
                return -1;
        }
        return 1;
}

static size_t align8(size_t n) {
        return (n + 7) & ~(size_t)7;
}

cp_engine_t *cp_engine_new(const spec_t *spec, const av_schema_t *input, char *errstr,
                           size_t errstr_size) {
        char why[512];
        if (!spec || !spec->compute) {
                snprintf(errstr, errstr_size, "%s: $.compute: the compute section is not loaded",
                         spec ? spec_file(spec) : "pipeline spec");
                return NULL;
        }
        const spec_compute_t *c = spec->compute;
        cp_engine_t *e = calloc(1, sizeof(*e));
        if (!e)
                goto oom;
        e->spec = spec;
        e->c = c;
        e->ndefs = c->nwindows;
        e->nf = c->naggregates;
        e->nrules = c->nrules;
        e->defs = calloc(e->ndefs ? e->ndefs : 1, sizeof(*e->defs));
        e->rules = calloc(e->nrules ? e->nrules : 1, sizeof(*e->rules));
        e->absent = calloc(e->nrules ? e->nrules : 1, sizeof(*e->absent));
        e->fields = calloc(e->nf ? e->nf : 1, sizeof(*e->fields));
        e->ops = calloc(e->nf ? e->nf : 1, sizeof(*e->ops));
        e->has_sk = calloc(e->nf ? e->nf : 1, 1);
        e->lay = calloc(e->nf ? e->nf : 1, sizeof(*e->lay));
        e->foff = calloc(e->nf ? e->nf : 1, sizeof(*e->foff));
        if (!e->defs || !e->rules || !e->fields || !e->ops || !e->has_sk || !e->absent || !e->lay ||
            !e->foff)
                goto oom;
        if (e->ndefs == 0 || e->ndefs > UINT16_MAX) {
                snprintf(errstr, errstr_size, "%s: $.compute.windows: expected 1 to 32 windows",
                         spec_file(spec));
                goto fail;
        }
        const unsigned qops = SPEC_OP_BIT(SPEC_OP_P50) | SPEC_OP_BIT(SPEC_OP_P90) |
                              SPEC_OP_BIT(SPEC_OP_P95) | SPEC_OP_BIT(SPEC_OP_P99);
        for (size_t i = 0; i < e->nf; i++) {
                e->fields[i] = c->aggregates[i].field;
                e->ops[i] = c->aggregates[i].ops;
                e->has_sk[i] = (c->aggregates[i].ops & qops) != 0;
                if (input && check_field(input, e->fields[i], why, sizeof(why)) < 0) {
                        snprintf(errstr, errstr_size, "%s: $.compute.aggregates[%zu].field: %s",
                                 spec_file(spec), i, why);
                        goto fail;
                }
        }
        double acc =
                c->quantile_accuracy > 0 && c->quantile_accuracy < 1 ? c->quantile_accuracy : 0.01;
        qs_params_init(&e->skp, acc);
        for (size_t d = 0; d < e->ndefs; d++) {
                const spec_window_t *w = &c->windows[d];
                e->defs[d].w = w;
                e->defs[d].close_extra =
                        w->grace_ms + (w->type == SPEC_WINDOW_SESSION ? w->gap_ms : 0);
                if (w->type == SPEC_WINDOW_SESSION ? w->gap_ms < 1 : w->size_ms < 1) {
                        snprintf(errstr, errstr_size, "%s: $.compute.windows[%zu]: no size/gap",
                                 spec_file(spec), d);
                        goto fail;
                }
                if (w->type == SPEC_WINDOW_HOPPING || w->type == SPEC_WINDOW_TUMBLING) {
                        int64_t adv = w->advance_ms > 0 ? w->advance_ms : w->size_ms;
                        if (w->size_ms / adv > CP_MAX_HOPS) {
                                snprintf(
                                        errstr, errstr_size,
                                        "%s: $.compute.windows[%zu].advance: size / advance = %lld "
                                        "overlapping windows per record; at most %d",
                                        spec_file(spec), d, (long long)(w->size_ms / adv),
                                        CP_MAX_HOPS);
                                goto fail;
                        }
                }
                e->defs[d].rules = calloc(e->nrules ? e->nrules : 1, sizeof(size_t));
                if (!e->defs[d].rules)
                        goto oom;
        }
        rule_env_t env = {e->nf, c->aggregates};
        for (size_t i = 0; i < e->nrules; i++) {
                const spec_rule_t *r = &c->rules[i];
                e->rules[i].r = r;
                e->rules[i].def = r->window_idx < e->ndefs ? r->window_idx : 0;
                int ab = parse_absent(r->expr, &e->rules[i].absent_ms, why, sizeof(why));
                if (ab < 0) {
                        snprintf(errstr, errstr_size, "%s: $.compute.rules[%zu].expr: %s",
                                 spec_file(spec), i, why);
                        goto fail;
                }
                if (ab) {
                        if (r->for_windows != 1) {
                                snprintf(errstr, errstr_size,
                                         "%s: $.compute.rules[%zu].for: an absence rule fires "
                                         "once the key has been silent for its duration; put "
                                         "the whole wait in it (\"absent for 15m\") instead of "
                                         "\"for\"",
                                         spec_file(spec), i);
                                goto fail;
                        }
                        e->absent[e->nabsent++] = i;
                        if (e->max_terms < 1)
                                e->max_terms = 1;
                        continue;
                }
                e->rules[i].prog = rule_compile(r->expr, &env, why, sizeof(why));
                if (!e->rules[i].prog) {
                        snprintf(errstr, errstr_size, "%s: $.compute.rules[%zu].expr: %s",
                                 spec_file(spec), i, why);
                        goto fail;
                }
                size_t nt = rule_nterms(e->rules[i].prog);
                if (nt > e->max_terms)
                        e->max_terms = nt;
                cp_def_t *df = &e->defs[e->rules[i].def];
                df->rules[df->nrules++] = i;
        }
        /* window node: the header, then each field's aggregate shaped by its ops */
        e->win_size = align8(sizeof(cp_win_t));
        for (size_t i = 0; i < e->nf; i++) {
                agg_lay_init(&e->lay[i], agg_groups(e->ops[i]));
                e->foff[i] = e->win_size;
                e->win_size += e->lay[i].size;
        }
        e->sent_size = align8(sizeof(int64_t) + e->nf * (sizeof(double) + 1));
        e->off_ew = align8(e->ndefs * sizeof(cp_dstate_t));
        e->off_rs = align8(e->off_ew + e->ndefs * e->nf * sizeof(ewma_t));
        e->tail_size = e->off_rs + e->nrules * sizeof(cp_rstate_t);
        return e;
oom:
        snprintf(errstr, errstr_size, "out of memory");
fail:
        cp_engine_destroy(e);
        return NULL;
}

void cp_engine_destroy(cp_engine_t *e) {
        if (!e)
                return;
        for (size_t i = 0; i < e->nrules && e->rules; i++)
                rule_free(e->rules[i].prog);
        for (size_t d = 0; d < e->ndefs && e->defs; d++)
                free(e->defs[d].rules);
        free(e->defs);
        free(e->rules);
        free(e->absent);
        free(e->fields);
        free(e->ops);
        free(e->has_sk);
        free(e->lay);
        free(e->foff);
        free(e);
}

size_t cp_engine_nfields(const cp_engine_t *e) {
        return e->nf;
}

const char *cp_engine_field(const cp_engine_t *e, size_t i) {
        return i < e->nf ? e->fields[i] : NULL;
}
