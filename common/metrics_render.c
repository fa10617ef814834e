/* metrics_render — the registry as text: the Prometheus exposition format
 * 0.0.4 and OpenMetrics 1.0.0 (with exemplars).  See metrics.h; the
 * registry itself is metrics.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metrics_int.h"

static const char *const metrics_type_names[] = {"counter", "gauge", "histogram"};

/* Rendering appends into a buf_t; the first allocation failure is
 * remembered so the rest of the render is skipped and reported once. */
typedef struct {
        buf_t b;
        int oom;
} metrics_sb_t;

static void metrics_putn(metrics_sb_t *sb, const char *s, size_t n) {
        if (!sb->oom && buf_append(&sb->b, s, n) == -1)
                sb->oom = 1;
}

static void metrics_puts(metrics_sb_t *sb, const char *s) {
        metrics_putn(sb, s, strlen(s));
}

/* Label values escape \\, \" and newline; HELP text only \\ and newline. */
static void metrics_put_escaped(metrics_sb_t *sb, const char *s, int label) {
        for (const char *p = s; *p; p++) {
                if (*p == '\\')
                        metrics_puts(sb, "\\\\");
                else if (*p == '\n')
                        metrics_puts(sb, "\\n");
                else if (*p == '"' && label)
                        metrics_puts(sb, "\\\"");
                else
                        metrics_putn(sb, p, 1);
        }
}

/* Shortest spelling that reads back as the same double; Prometheus'
 * spellings of the special values. */
static void metrics_fmt_double(char *buf, size_t size, double v) {
        if (isnan(v)) {
                snprintf(buf, size, "NaN");
        } else if (isinf(v)) {
                snprintf(buf, size, "%s", v > 0 ? "+Inf" : "-Inf");
        } else {
                snprintf(buf, size, "%.15g", v);
                if (strtod(buf, NULL) != v)
                        snprintf(buf, size, "%.17g", v);
        }
}

static void metrics_put_double(metrics_sb_t *sb, double v) {
        char num[40];
        metrics_fmt_double(num, sizeof(num), v);
        metrics_puts(sb, num);
}

static void metrics_put_u64(metrics_sb_t *sb, uint64_t v) {
        char num[24];
        snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
        metrics_puts(sb, num);
}

/* name{labels[,le="x"]} — the braces only when there is a label. */
static void metrics_put_series(metrics_sb_t *sb, const metrics_child_t *c, const char *suffix,
                               const char *le) {
        const metrics_family_t *f = c->fam;
        metrics_puts(sb, f->name);
        metrics_puts(sb, suffix);
        if (!f->nlabels && !le)
                return;
        metrics_puts(sb, "{");
        for (size_t i = 0; i < f->nlabels; i++) {
                if (i)
                        metrics_puts(sb, ",");
                metrics_puts(sb, f->labels[i]);
                metrics_puts(sb, "=\"");
                metrics_put_escaped(sb, c->values[i], 1);
                metrics_puts(sb, "\"");
        }
        if (le) {
                metrics_puts(sb, f->nlabels ? ",le=\"" : "le=\"");
                metrics_puts(sb, le);
                metrics_puts(sb, "\"");
        }
        metrics_puts(sb, "}");
}

/* OpenMetrics: ` # {trace_id="..",span_id=".."} value timestamp` after a
 * bucket, when that bucket has an exemplar.  Called with ex_busy held. */
static void metrics_put_exemplar(metrics_sb_t *sb, const metrics_ex_t *e) {
        char num[48];
        metrics_puts(sb, " # {trace_id=\"");
        metrics_puts(sb, e->trace_id);
        if (e->span_id[0]) {
                metrics_puts(sb, "\",span_id=\"");
                metrics_puts(sb, e->span_id);
        }
        metrics_puts(sb, "\"} ");
        metrics_put_double(sb, e->value);
        snprintf(num, sizeof(num), " %.3f", e->ts);
        metrics_puts(sb, num);
}

static void metrics_render_child(metrics_sb_t *sb, metrics_child_t *c, int om) {
        const metrics_family_t *f = c->fam;
        if (f->type != METRICS_HISTOGRAM) {
                metrics_put_series(sb, c, "", NULL);
                metrics_puts(sb, " ");
                metrics_put_double(sb, metrics_value(c));
                metrics_puts(sb, "\n");
                return;
        }
        uint64_t cum = 0;
        if (om) /* the writer holds it for a few stores at most */
                while (atomic_exchange_explicit(&c->ex_busy, 1, memory_order_acquire))
                        ;
        for (size_t i = 0; i <= f->nbounds; i++) {
                char le[40];
                cum += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
                if (i < f->nbounds)
                        metrics_fmt_double(le, sizeof(le), f->bounds[i]);
                else
                        snprintf(le, sizeof(le), "+Inf");
                /* OpenMetrics wants canonical numbers: 1.0, not 1. */
                if (om && i < f->nbounds && !strpbrk(le, ".e"))
                        strcat(le, ".0");
                metrics_put_series(sb, c, "_bucket", le);
                metrics_puts(sb, " ");
                metrics_put_u64(sb, cum);
                if (om && c->ex && c->ex[i].trace_id[0])
                        metrics_put_exemplar(sb, &c->ex[i]);
                metrics_puts(sb, "\n");
        }
        if (om)
                atomic_store_explicit(&c->ex_busy, 0, memory_order_release);
        metrics_put_series(sb, c, "_sum", NULL);
        metrics_puts(sb, " ");
        metrics_put_double(sb, metrics_d(atomic_load_explicit(&c->bits, memory_order_relaxed)));
        metrics_puts(sb, "\n");
        metrics_put_series(sb, c, "_count", NULL);
        metrics_puts(sb, " ");
        metrics_put_u64(sb, cum);
        metrics_puts(sb, "\n");
}

static int metrics_cmp_family(const void *a, const void *b) {
        return strcmp((*(metrics_family_t *const *)a)->name, (*(metrics_family_t *const *)b)->name);
}

static int metrics_cmp_child(const void *a, const void *b) {
        const metrics_child_t *x = *(metrics_child_t *const *)a, *y = *(metrics_child_t *const *)b;
        for (size_t i = 0; i < x->fam->nlabels; i++) {
                int d = strcmp(x->values[i], y->values[i]);
                if (d)
                        return d;
        }
        return 0;
}

/* Families sorted by name, children by label values: the same registry
 * always renders the same text, which keeps diffs and tests simple.
 * OpenMetrics (om): a counter family is named without _total (its sample
 * keeps it), HELP escapes quotes too, bucket bounds are canonical, buckets
 * carry their exemplars, and the text ends with # EOF. */
static char *metrics_render_as(size_t *len, int om) {
        metrics_sb_t sb = {0};
        metrics_family_t **fams = NULL;
        size_t n = 0;

        pthread_mutex_lock(&metrics_lock);
        for (metrics_family_t *f = metrics_head; f; f = f->next)
                n++;
        fams = n ? malloc(n * sizeof(*fams)) : NULL;
        if (n && !fams)
                sb.oom = 1;
        n = 0;
        for (metrics_family_t *f = metrics_head; fams && f; f = f->next)
                fams[n++] = f;
        if (n)
                qsort(fams, n, sizeof(*fams), metrics_cmp_family);
        for (size_t i = 0; i < n; i++) {
                metrics_family_t *f = fams[i];
                size_t nlen = strlen(f->name) - (om && f->type == METRICS_COUNTER ? 6 : 0);
                metrics_puts(&sb, "# HELP ");
                metrics_putn(&sb, f->name, nlen);
                metrics_puts(&sb, " ");
                metrics_put_escaped(&sb, f->help, om);
                metrics_puts(&sb, "\n# TYPE ");
                metrics_putn(&sb, f->name, nlen);
                metrics_puts(&sb, " ");
                metrics_puts(&sb, metrics_type_names[f->type]);
                metrics_puts(&sb, "\n");
                if (f->nchildren > 1)
                        qsort(f->children, f->nchildren, sizeof(*f->children), metrics_cmp_child);
                for (size_t j = 0; j < f->nchildren; j++)
                        metrics_render_child(&sb, f->children[j], om);
        }
        if (om)
                metrics_puts(&sb, "# EOF\n");
        pthread_mutex_unlock(&metrics_lock);
        free(fams);
        if (sb.oom || buf_nul(&sb.b) == -1) {
                buf_free(&sb.b);
                if (len)
                        *len = 0;
                return NULL;
        }
        if (len)
                *len = sb.b.len;
        return sb.b.data;
}

char *metrics_render(size_t *len) {
        return metrics_render_as(len, 0);
}

char *metrics_render_openmetrics(size_t *len) {
        return metrics_render_as(len, 1);
}
