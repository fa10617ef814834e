/* lp — enriched aggregates and alerts as InfluxDB line protocol (see lp.h).
 *
 * Everything the spec decides (measurement template, tag names and their
 * order, selected fields) is resolved once in lp_mapper_new(); per record
 * the mapper reads fields by position and appends to the caller's buffer,
 * so the hot path neither allocates (once the buffer has grown) nor looks
 * names up, except attributes, which live in a map. */
#include "lp.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a measurement segment or a tag value comes from. */
typedef enum { SRC_LIT, SRC_KEY, SRC_WINDOW, SRC_PIPELINE, SRC_RULE, SRC_SEVERITY, SRC_ATTR } src_t;

typedef struct {
        src_t src;
        char *text; /* SRC_LIT: the text; SRC_ATTR: the attribute name */
} seg_t;

typedef struct {
        char *name; /* tag key */
        seg_t val;
} tag_t;

typedef struct {
        seg_t *segs;
        size_t nsegs;
} tmpl_t;

/* FieldStats ops in schema order after name and count; "count" is separate. */
static const char *const OPS[] = {"sum",  "min", "max", "mean", "variance", "stddev", "first",
                                  "last", "p50", "p90", "p95",  "p99",      "zscore"};
#define NOPS (sizeof(OPS) / sizeof(OPS[0]))

/* Positions of the fields the mapper reads. */
enum { A_PIPELINE, A_KEY, A_WINDOW, A_WEND, A_COUNT, A_FIELDS, A_ATTRS, A_N };
enum {
        L_PIPELINE,
        L_RULE,
        L_KEY,
        L_WINDOW,
        L_WEND,
        L_STATE,
        L_SEV,
        L_EXPR,
        L_VALUES,
        L_ATTRS,
        L_N
};

struct lp_mapper_s {
        int agg_idx[A_N], alert_idx[L_N];
        int fs_name, fs_count, fs_ops[NOPS];
        tmpl_t meas, alert_meas; /* alert_meas.segs NULL: alerts not written */
        int write_alerts;
        tag_t *agg_tags, *alert_tags;
        size_t nagg_tags, nalert_tags;
        char **fields; /* selected field keys; nfields 0 = all */
        size_t nfields;
        int want_count;
        spec_precision_t precision;
};

static char *xstrdup(const char *s) {
        size_t n = strlen(s) + 1;
        char *d = malloc(n);
        if (d)
                memcpy(d, s, n);
        return d;
}

static src_t named_src(const char *name, int alert) {
        if (!strcmp(name, "key"))
                return SRC_KEY;
        if (!strcmp(name, "window"))
                return SRC_WINDOW;
        if (!strcmp(name, "pipeline"))
                return SRC_PIPELINE;
        if (alert && !strcmp(name, "rule"))
                return SRC_RULE;
        if (alert && !strcmp(name, "severity"))
                return SRC_SEVERITY;
        return SRC_ATTR;
}

/* "traffic_{window}" → literal "traffic_", placeholder window. */
static int tmpl_parse(tmpl_t *t, const char *s, int alert, char *errstr, size_t errstr_size) {
        size_t cap = strlen(s) + 1;
        t->segs = calloc(cap, sizeof(*t->segs));
        t->nsegs = 0;
        if (!t->segs)
                return -1;
        while (*s) {
                seg_t *g = &t->segs[t->nsegs++];
                const char *open = strchr(s, '{');
                const char *close = open ? strchr(open, '}') : NULL;
                if (open == s && close) {
                        char name[128];
                        size_t n = (size_t)(close - open - 1);
                        if (n == 0 || n >= sizeof(name)) {
                                snprintf(errstr, errstr_size, "measurement \"%s\": bad placeholder",
                                         s);
                                return -1;
                        }
                        memcpy(name, open + 1, n);
                        name[n] = 0;
                        g->src = named_src(name, alert);
                        g->text = xstrdup(name);
                        s = close + 1;
                } else {
                        size_t n = open && close ? (size_t)(open - s) : strlen(s);
                        if (n == 0) /* a lone '{' without '}' is literal */
                                n = strlen(s);
                        g->src = SRC_LIT;
                        g->text = malloc(n + 1);
                        if (g->text) {
                                memcpy(g->text, s, n);
                                g->text[n] = 0;
                        }
                        s += n;
                }
                if (!g->text)
                        return -1;
        }
        return 0;
}

static void tmpl_free(tmpl_t *t) {
        for (size_t i = 0; i < t->nsegs; i++)
                free(t->segs[i].text);
        free(t->segs);
}

static int tag_cmp(const void *a, const void *b) {
        return strcmp(((const tag_t *)a)->name, ((const tag_t *)b)->name);
}

static int tags_add(tag_t *tags, size_t *n, const char *name, src_t src) {
        for (size_t i = 0; i < *n; i++)
                if (!strcmp(tags[i].name, name))
                        return 0; /* listing the key field or window changes nothing */
        tags[*n].name = xstrdup(name);
        tags[*n].val.src = src;
        tags[*n].val.text = src == SRC_ATTR ? xstrdup(name) : NULL;
        (*n)++;
        return !tags[*n - 1].name || (src == SRC_ATTR && !tags[*n - 1].val.text) ? -1 : 0;
}

/* Builtin tags, then the spec's, sorted by key (InfluxDB's recommendation:
 * it sorts them anyway, and a sorted line is its fast path). */
static int tags_build(const spec_t *spec, int alert, tag_t **out, size_t *n) {
        const spec_sink_t *sk = spec->sink;
        tag_t *tags = calloc(sk->influx.ntags + 4, sizeof(*tags));
        *n = 0;
        if (!tags)
                return -1;
        *out = tags; /* *n counts what the caller frees, also on failure */
        if (tags_add(tags, n, spec->input.key, SRC_KEY) || tags_add(tags, n, "window", SRC_WINDOW))
                return -1;
        if (alert &&
            (tags_add(tags, n, "rule", SRC_RULE) || tags_add(tags, n, "severity", SRC_SEVERITY)))
                return -1;
        for (size_t i = 0; i < sk->influx.ntags; i++) {
                const char *t = sk->influx.tags[i];
                if (tags_add(tags, n, t, !strcmp(t, "pipeline") ? SRC_PIPELINE : SRC_ATTR))
                        return -1;
        }
        qsort(tags, *n, sizeof(*tags), tag_cmp);
        return 0;
}

static int field_index(const av_schema_t *s, avro_schema_t rs, const char *name, char *errstr,
                       size_t errstr_size) {
        int i = avro_schema_record_field_get_index(rs, name);
        if (i < 0)
                snprintf(errstr, errstr_size, "schema %s has no field \"%s\"", av_schema_name(s),
                         name);
        return i;
}

static int resolve(lp_mapper_t *m, const av_schema_t *agg, const av_schema_t *alert, char *errstr,
                   size_t errstr_size) {
        static const char *const an[A_N] = {"pipeline", "key",    "window",    "window_end",
                                            "count",    "fields", "attributes"};
        static const char *const ln[L_N] = {"pipeline", "rule",     "key",  "window", "window_end",
                                            "state",    "severity", "expr", "values", "attributes"};
        avro_schema_t as = av_schema_avro(agg), ls = av_schema_avro(alert);
        for (int i = 0; i < A_N; i++)
                if ((m->agg_idx[i] = field_index(agg, as, an[i], errstr, errstr_size)) < 0)
                        return -1;
        for (int i = 0; i < L_N; i++)
                if ((m->alert_idx[i] = field_index(alert, ls, ln[i], errstr, errstr_size)) < 0)
                        return -1;
        avro_schema_t fs = avro_schema_array_items(avro_schema_record_field_get(as, "fields"));
        if (!fs || !is_avro_record(fs)) {
                snprintf(errstr, errstr_size, "schema %s: fields is not an array of records",
                         av_schema_name(agg));
                return -1;
        }
        m->fs_name = avro_schema_record_field_get_index(fs, "name");
        m->fs_count = avro_schema_record_field_get_index(fs, "count");
        for (size_t i = 0; i < NOPS; i++)
                m->fs_ops[i] = avro_schema_record_field_get_index(fs, OPS[i]);
        if (m->fs_name < 0 || m->fs_count < 0) {
                snprintf(errstr, errstr_size, "schema %s: FieldStats lacks name or count",
                         av_schema_name(agg));
                return -1;
        }
        return 0;
}

lp_mapper_t *lp_mapper_new(const spec_t *spec, const av_schema_t *aggregate,
                           const av_schema_t *alert, char *errstr, size_t errstr_size) {
        const spec_sink_t *sk = spec->sink;
        lp_mapper_t *m = calloc(1, sizeof(*m));
        if (!m || !sk) {
                snprintf(errstr, errstr_size, m ? "the spec has no sink section" : "out of memory");
                free(m);
                return NULL;
        }
        snprintf(errstr, errstr_size, "out of memory");
        if (resolve(m, aggregate, alert, errstr, errstr_size) ||
            tmpl_parse(&m->meas, sk->influx.measurement ? sk->influx.measurement : spec->name, 0,
                       errstr, errstr_size))
                goto fail;
        m->write_alerts = sk->influx.alert_measurement != NULL;
        if (m->write_alerts &&
            tmpl_parse(&m->alert_meas, sk->influx.alert_measurement, 1, errstr, errstr_size))
                goto fail;
        if (tags_build(spec, 0, &m->agg_tags, &m->nagg_tags) ||
            tags_build(spec, 1, &m->alert_tags, &m->nalert_tags))
                goto fail;
        m->want_count = sk->influx.nfields == 0;
        if (sk->influx.nfields) {
                m->fields = calloc(sk->influx.nfields, sizeof(*m->fields));
                if (!m->fields)
                        goto fail;
                for (size_t i = 0; i < sk->influx.nfields; i++) {
                        if (!strcmp(sk->influx.fields[i], "count")) {
                                m->want_count = 1;
                                continue;
                        }
                        if (!(m->fields[m->nfields] = xstrdup(sk->influx.fields[i])))
                                goto fail;
                        m->nfields++;
                }
                if (m->nfields == 0) /* only "count": select no stats field */
                        m->nfields = (size_t)-1;
        }
        m->precision = sk->influx.precision;
        return m;
fail:
        lp_mapper_destroy(m);
        return NULL;
}

static void tags_free(tag_t *t, size_t n) {
        for (size_t i = 0; t && i < n; i++) {
                free(t[i].name);
                free(t[i].val.text);
        }
        free(t);
}

void lp_mapper_destroy(lp_mapper_t *m) {
        if (!m)
                return;
        tmpl_free(&m->meas);
        tmpl_free(&m->alert_meas);
        tags_free(m->agg_tags, m->nagg_tags);
        tags_free(m->alert_tags, m->nalert_tags);
        if (m->fields)
                for (size_t i = 0; i < m->nfields && m->nfields != (size_t)-1; i++)
                        free(m->fields[i]);
        free(m->fields);
        free(m);
}

/* ---------------------------------------------------------------- writing */

static int put_int(buf_t *out, int64_t v, const char *suffix) {
        char b[32];
        int n = snprintf(b, sizeof(b), "%" PRId64 "%s", v, suffix);
        return buf_append(out, b, (size_t)n);
}

/* The strings a record provides to templates and tags. */
typedef struct {
        const char *v[SRC_ATTR]; /* by src_t (SRC_LIT unused) */
        size_t n[SRC_ATTR];
        avro_value_t attrs;
} ctx_t;

static int get_str(avro_value_t *rec, int idx, const char **s, size_t *n) {
        avro_value_t v;
        size_t sz = 0;
        if (avro_value_get_by_index(rec, (size_t)idx, &v, NULL) ||
            avro_value_get_string(&v, s, &sz))
                return -1;
        *n = sz ? sz - 1 : 0; /* avro-c counts the NUL */
        return 0;
}

static int get_long(avro_value_t *rec, int idx, int64_t *out) {
        avro_value_t v;
        return avro_value_get_by_index(rec, (size_t)idx, &v, NULL) || avro_value_get_long(&v, out);
}

static int get_enum(avro_value_t *rec, int idx, const char **s, size_t *n) {
        avro_value_t v;
        int sym = 0;
        if (avro_value_get_by_index(rec, (size_t)idx, &v, NULL) || avro_value_get_enum(&v, &sym))
                return -1;
        *s = avro_schema_enum_get(avro_value_get_schema(&v), sym);
        if (!*s)
                return -1;
        *n = strlen(*s);
        return 0;
}

/* The value of a segment: 1 found, 0 absent (missing attribute). */
static int seg_value(const ctx_t *c, const seg_t *g, const char **s, size_t *n) {
        if (g->src == SRC_LIT) {
                *s = g->text;
                *n = strlen(g->text);
                return 1;
        }
        if (g->src != SRC_ATTR) {
                *s = c->v[g->src];
                *n = c->n[g->src];
                return *s != NULL;
        }
        avro_value_t v;
        size_t sz = 0;
        avro_value_t *attrs = (avro_value_t *)&c->attrs;
        if (avro_value_get_by_name(attrs, g->text, &v, NULL) || avro_value_get_string(&v, s, &sz))
                return 0;
        *n = sz ? sz - 1 : 0;
        return 1;
}

/* measurement,tags (no trailing space).  The template is expanded first and
 * escaped as a whole, so that only the end of the whole name matters for
 * the trailing-backslash rule. */
static int put_series(buf_t *out, const ctx_t *c, const tmpl_t *t, const tag_t *tags, size_t ntags,
                      char *errstr, size_t errstr_size) {
        const char *s;
        size_t n, mlen = 0;
        char meas[512];
        for (size_t i = 0; i < t->nsegs; i++) {
                if (!seg_value(c, &t->segs[i], &s, &n)) {
                        snprintf(errstr, errstr_size,
                                 "measurement: attribute \"%s\" missing from the record",
                                 t->segs[i].text);
                        return -1;
                }
                if (n >= sizeof(meas) - mlen) {
                        snprintf(errstr, errstr_size, "measurement: longer than %zu bytes",
                                 sizeof(meas) - 1);
                        return -1;
                }
                memcpy(meas + mlen, s, n);
                mlen += n;
        }
        if (lp_escape(out, meas, mlen, LP_MEASUREMENT)) {
                snprintf(errstr, errstr_size,
                         "measurement: cannot be written (empty, newline or trailing backslash)");
                return -1;
        }
        for (size_t i = 0; i < ntags; i++) {
                if (!seg_value(c, &tags[i].val, &s, &n) || n == 0)
                        continue; /* line protocol has no empty tag values */
                if (buf_append(out, ",", 1) ||
                    lp_escape(out, tags[i].name, strlen(tags[i].name), LP_KEY) ||
                    buf_append(out, "=", 1) || lp_escape(out, s, n, LP_KEY)) {
                        snprintf(errstr, errstr_size,
                                 "tag %s: value cannot be written (newline or trailing backslash)",
                                 tags[i].name);
                        return -1;
                }
        }
        return 0;
}

static int put_field_key(buf_t *out, int *nfields, const char *k, size_t n) {
        if (buf_append(out, *nfields ? "," : " ", 1) || lp_escape(out, k, n, LP_KEY))
                return -1;
        (*nfields)++;
        return buf_append(out, "=", 1);
}

static int selected(const lp_mapper_t *m, const char *key) {
        if (m->nfields == 0)
                return 1;
        if (m->nfields == (size_t)-1)
                return 0;
        for (size_t i = 0; i < m->nfields; i++)
                if (!strcmp(m->fields[i], key))
                        return 1;
        return 0;
}

/* Fields of one FieldStats: <name>_count and <name>_<op> for set ops. */
static int put_stats(const lp_mapper_t *m, buf_t *out, avro_value_t *st, int *nf) {
        const char *name;
        size_t nn;
        char key[256];
        if (get_str(st, m->fs_name, &name, &nn) || nn + 10 > sizeof(key))
                return 0; /* unreadable or absurd names are skipped */
        memcpy(key, name, nn);
        key[nn] = '_';
        int64_t cnt;
        strcpy(key + nn + 1, "count");
        if (selected(m, key) && !get_long(st, m->fs_count, &cnt) &&
            (put_field_key(out, nf, key, strlen(key)) || put_int(out, cnt, "i")))
                return -1;
        for (size_t i = 0; i < NOPS; i++) {
                avro_value_t u, b;
                double d;
                if (m->fs_ops[i] < 0 || avro_value_get_by_index(st, (size_t)m->fs_ops[i], &u, NULL))
                        continue;
                if (avro_value_get_type(&u) == AVRO_UNION && avro_value_get_current_branch(&u, &b))
                        continue;
                if (avro_value_get_type(&u) != AVRO_UNION)
                        b = u;
                if (avro_value_get_type(&b) != AVRO_DOUBLE || avro_value_get_double(&b, &d) ||
                    !isfinite(d))
                        continue;
                strcpy(key + nn + 1, OPS[i]);
                if (!selected(m, key))
                        continue;
                if (put_field_key(out, nf, key, strlen(key)) || lp_double(out, d))
                        return -1;
        }
        return 0;
}

static int put_time(const lp_mapper_t *m, buf_t *out, int64_t ms) {
        return buf_append(out, " ", 1) || put_int(out, lp_time(ms, m->precision), "\n");
}

int lp_aggregate(const lp_mapper_t *m, avro_value_t *rec, buf_t *out, lp_info_t *info, char *errstr,
                 size_t errstr_size) {
        ctx_t c;
        memset(&c, 0, sizeof(c));
        const int *ix = m->agg_idx;
        int64_t count = 0;
        if (get_str(rec, ix[A_PIPELINE], &c.v[SRC_PIPELINE], &c.n[SRC_PIPELINE]) ||
            get_str(rec, ix[A_KEY], &c.v[SRC_KEY], &c.n[SRC_KEY]) ||
            get_str(rec, ix[A_WINDOW], &c.v[SRC_WINDOW], &c.n[SRC_WINDOW]) ||
            get_long(rec, ix[A_WEND], &info->time_ms) || get_long(rec, ix[A_COUNT], &count) ||
            avro_value_get_by_index(rec, (size_t)ix[A_ATTRS], &c.attrs, NULL)) {
                snprintf(errstr, errstr_size, "record is not a weir.EnrichedAggregate");
                return LP_ERR;
        }
        info->key = c.v[SRC_KEY];
        info->key_len = c.n[SRC_KEY];
        info->severity = NULL;
        if (!out)
                return LP_OK;
        size_t len0 = out->len;
        int nf = 0;
        if (put_series(out, &c, &m->meas, m->agg_tags, m->nagg_tags, errstr, errstr_size))
                goto fail;
        if (m->want_count && (put_field_key(out, &nf, "count", 5) || put_int(out, count, "i")))
                goto oom;
        avro_value_t arr, st;
        size_t nst = 0;
        if (!avro_value_get_by_index(rec, (size_t)ix[A_FIELDS], &arr, NULL) &&
            !avro_value_get_size(&arr, &nst))
                for (size_t i = 0; i < nst; i++)
                        if (!avro_value_get_by_index(&arr, i, &st, NULL) &&
                            put_stats(m, out, &st, &nf))
                                goto oom;
        if (nf == 0) {
                out->len = len0;
                snprintf(errstr, errstr_size, "no field to write");
                return LP_SKIP;
        }
        if (put_time(m, out, info->time_ms))
                goto oom;
        return LP_OK;
oom:
        snprintf(errstr, errstr_size, "out of memory");
fail:
        out->len = len0;
        return LP_ERR;
}

int lp_alert(const lp_mapper_t *m, avro_value_t *rec, buf_t *out, lp_info_t *info, char *errstr,
             size_t errstr_size) {
        ctx_t c;
        memset(&c, 0, sizeof(c));
        const int *ix = m->alert_idx;
        const char *state, *expr;
        size_t nstate, nexpr;
        if (get_str(rec, ix[L_PIPELINE], &c.v[SRC_PIPELINE], &c.n[SRC_PIPELINE]) ||
            get_str(rec, ix[L_RULE], &c.v[SRC_RULE], &c.n[SRC_RULE]) ||
            get_str(rec, ix[L_KEY], &c.v[SRC_KEY], &c.n[SRC_KEY]) ||
            get_str(rec, ix[L_WINDOW], &c.v[SRC_WINDOW], &c.n[SRC_WINDOW]) ||
            get_long(rec, ix[L_WEND], &info->time_ms) ||
            get_enum(rec, ix[L_STATE], &state, &nstate) ||
            get_enum(rec, ix[L_SEV], &c.v[SRC_SEVERITY], &c.n[SRC_SEVERITY]) ||
            get_str(rec, ix[L_EXPR], &expr, &nexpr) ||
            avro_value_get_by_index(rec, (size_t)ix[L_ATTRS], &c.attrs, NULL)) {
                snprintf(errstr, errstr_size, "record is not a weir.EnrichedAlert");
                return LP_ERR;
        }
        info->key = c.v[SRC_KEY];
        info->key_len = c.n[SRC_KEY];
        info->severity = c.v[SRC_SEVERITY];
        if (!out)
                return LP_OK;
        if (!m->write_alerts) {
                snprintf(errstr, errstr_size, "alerts are not written (alert_measurement null)");
                return LP_SKIP;
        }
        size_t len0 = out->len;
        int nf = 0;
        if (put_series(out, &c, &m->alert_meas, m->alert_tags, m->nalert_tags, errstr, errstr_size))
                goto fail;
        int firing = !strcmp(state, "FIRING");
        if (put_field_key(out, &nf, "state", 5) || buf_append(out, "\"", 1) ||
            lp_escape(out, state, nstate, LP_STRING) || buf_append(out, "\"", 1) ||
            put_field_key(out, &nf, "firing", 6) ||
            buf_append(out, firing ? "true" : "false", firing ? 4 : 5) ||
            put_field_key(out, &nf, "expr", 4) || buf_append(out, "\"", 1) ||
            lp_escape(out, expr, nexpr, LP_STRING) || buf_append(out, "\"", 1))
                goto oom;
        avro_value_t vals, v;
        size_t nv = 0;
        if (!avro_value_get_by_index(rec, (size_t)ix[L_VALUES], &vals, NULL) &&
            !avro_value_get_size(&vals, &nv))
                for (size_t i = 0; i < nv; i++) {
                        const char *k = NULL;
                        double d;
                        if (avro_value_get_by_index(&vals, i, &v, &k) || !k ||
                            avro_value_get_double(&v, &d) || !isfinite(d))
                                continue;
                        size_t save = out->len;
                        int save_nf = nf;
                        if (put_field_key(out, &nf, k, strlen(k)) || lp_double(out, d)) {
                                out->len = save; /* an unwritable term name is left out */
                                nf = save_nf;
                        }
                }
        if (put_time(m, out, info->time_ms))
                goto oom;
        return LP_OK;
oom:
        snprintf(errstr, errstr_size, "out of memory");
fail:
        out->len = len0;
        return LP_ERR;
}
