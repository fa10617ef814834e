/* metrics — the Prometheus registry: families, children, lock-free updates
 * and the text exposition format 0.0.4.  See metrics.h.
 *
 * Concurrency: one mutex guards the family list and each family's child
 * array (declaration, child look-up, rendering, reset).  Values are C11
 * atomics touched without the lock: doubles are kept as their uint64 bit
 * patterns and added with a CAS loop; counters also keep an integer part
 * so the common "+1" is a single fetch_add with no retry under contention.
 *
 * Histograms keep per-bucket (non-cumulative) counts; rendering sums them,
 * so the +Inf bucket and _count always agree even while observations race
 * with a scrape. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "vec.h"

#define METRICS_LOG        "metrics"
#define METRICS_MAX_LABELS 16

typedef enum { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM } metrics_type_t;

static const char *const metrics_type_names[] = {"counter", "gauge", "histogram"};

struct metrics_child_s {
        metrics_family_t *fam;
        char **values;             /* fam->nlabels label values */
        _Atomic uint64_t ival;     /* counter: integral increments */
        _Atomic uint64_t bits;     /* counter/gauge value (rest), histogram sum */
        _Atomic uint64_t *buckets; /* histogram: nbuckets + 1 counts, last = +Inf */
};

struct metrics_family_s {
        char *name;
        char *help;
        metrics_type_t type;
        char **labels;
        size_t nlabels;
        double *bounds; /* histogram upper bounds, ascending, without +Inf */
        size_t nbounds;
        metrics_child_t **children;
        size_t nchildren, cap;
        metrics_family_t *next; /* declaration order */
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static metrics_family_t *metrics_head, **metrics_tail = &metrics_head;

static const double metrics_default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* ------------------------------------------------------------ atomics */

static double metrics_d(uint64_t bits) {
        double d;
        memcpy(&d, &bits, sizeof(d));
        return d;
}

static uint64_t metrics_bits(double d) {
        uint64_t b;
        memcpy(&b, &d, sizeof(b));
        return b;
}

static void metrics_add_double(_Atomic uint64_t *p, double v) {
        uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(p, &old, metrics_bits(metrics_d(old) + v),
                                                      memory_order_relaxed, memory_order_relaxed))
                ;
}

/* ------------------------------------------------------------ freeing */

static void metrics_child_free(metrics_child_t *c, size_t nlabels) {
        for (size_t i = 0; c->values && i < nlabels; i++)
                free(c->values[i]);
        free(c->values);
        free(c->buckets);
        free(c);
}

static void metrics_family_free(metrics_family_t *f) {
        for (size_t i = 0; i < f->nchildren; i++)
                metrics_child_free(f->children[i], f->nlabels);
        for (size_t i = 0; f->labels && i < f->nlabels; i++)
                free(f->labels[i]);
        free(f->children);
        free(f->labels);
        free(f->bounds);
        free(f->name);
        free(f->help);
        free(f);
}

void metrics_reset(void) {
        pthread_mutex_lock(&metrics_lock);
        metrics_family_t *f = metrics_head;
        metrics_head = NULL;
        metrics_tail = &metrics_head;
        pthread_mutex_unlock(&metrics_lock);
        while (f) {
                metrics_family_t *next = f->next;
                metrics_family_free(f);
                f = next;
        }
}

/* ------------------------------------------------------------ declaring */

static int metrics_valid_name(const char *s, int label) {
        if (!s || !*s || (*s >= '0' && *s <= '9'))
                return 0;
        for (const char *p = s; *p; p++) {
                char c = *p;
                int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || (!label && c == ':');
                if (!ok)
                        return 0;
        }
        return !label || strncmp(s, "__", 2) != 0; /* "__" is reserved */
}

/* Splits "a, b" into label names; returns the count or -1 if invalid. */
static int metrics_parse_labels(const char *spec, int histogram, char ***out) {
        *out = NULL;
        if (!spec || !*spec)
                return 0;
        char *copy = strdup(spec), *save = NULL;
        char **labels = NULL;
        size_t cap = 0;
        int n = 0;
        if (!copy)
                return -1;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                while (*tok == ' ')
                        tok++;
                size_t len = strlen(tok);
                while (len && tok[len - 1] == ' ')
                        tok[--len] = '\0';
                int bad = n >= METRICS_MAX_LABELS || !metrics_valid_name(tok, 1) ||
                          (histogram && !strcmp(tok, "le"));
                for (int i = 0; i < n && !bad; i++)
                        bad = !strcmp(labels[i], tok);
                if (bad || VEC_RESERVE(labels, cap, (size_t)n + 1) == -1 ||
                    !(labels[n] = strdup(tok))) {
                        for (int i = 0; i < n; i++)
                                free(labels[i]);
                        free(labels);
                        free(copy);
                        return -1;
                }
                n++;
        }
        free(copy);
        *out = labels;
        return n;
}

static metrics_child_t *metrics_child_new(metrics_family_t *f) {
        metrics_child_t *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->fam = f;
        c->values = f->nlabels ? calloc(f->nlabels, sizeof(*c->values)) : NULL;
        if (f->type == METRICS_HISTOGRAM)
                c->buckets = calloc(f->nbounds + 1, sizeof(*c->buckets));
        if ((f->nlabels && !c->values) || (f->type == METRICS_HISTOGRAM && !c->buckets)) {
                metrics_child_free(c, 0);
                return NULL;
        }
        return c;
}

/* Appends c to f's children; lock held. */
static int metrics_attach(metrics_family_t *f, metrics_child_t *c) {
        if (VEC_RESERVE(f->children, f->cap, f->nchildren + 1) == -1)
                return -1;
        f->children[f->nchildren++] = c;
        return 0;
}

static int metrics_same_shape(const metrics_family_t *a, const metrics_family_t *b) {
        if (a->type != b->type || a->nlabels != b->nlabels || a->nbounds != b->nbounds)
                return 0;
        for (size_t i = 0; i < a->nlabels; i++)
                if (strcmp(a->labels[i], b->labels[i]) != 0)
                        return 0;
        for (size_t i = 0; i < a->nbounds; i++)
                if (a->bounds[i] != b->bounds[i])
                        return 0;
        return 1;
}

static metrics_family_t *metrics_declare(metrics_type_t type, const char *name, const char *help,
                                         const char *labels, const double *bounds, size_t nbounds) {
        metrics_family_t *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        f->type = type;
        f->name = strdup(name ? name : "");
        f->help = strdup(help ? help : "");
        int nl = metrics_parse_labels(labels, type == METRICS_HISTOGRAM, &f->labels);
        const char *why = NULL;
        if (!f->name || !f->help)
                why = "out of memory";
        else if (!metrics_valid_name(name, 0))
                why = "invalid metric name";
        else if (type == METRICS_COUNTER &&
                 (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total") != 0))
                why = "a counter's name must end in _total";
        else if (nl < 0)
                why = "invalid, duplicate or reserved label name";
        f->nlabels = nl > 0 ? (size_t)nl : 0;

        if (!why && type == METRICS_HISTOGRAM) {
                if (!bounds) {
                        bounds = metrics_default_bounds;
                        nbounds = sizeof(metrics_default_bounds) / sizeof(double);
                }
                /* A trailing +Inf is implied; tolerate callers that add it. */
                if (nbounds && isinf(bounds[nbounds - 1]) && bounds[nbounds - 1] > 0)
                        nbounds--;
                for (size_t i = 0; i < nbounds && !why; i++)
                        if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
                                why = "bucket bounds must be finite and ascending";
                f->bounds = nbounds ? malloc(nbounds * sizeof(double)) : NULL;
                if (!why && nbounds && !f->bounds)
                        why = "out of memory";
                if (!why && nbounds)
                        memcpy(f->bounds, bounds, nbounds * sizeof(double));
                f->nbounds = nbounds;
        }
        if (why) {
                log_error(METRICS_LOG, "metric %s not declared: %s", name ? name : "(null)", why);
                metrics_family_free(f);
                return NULL;
        }

        pthread_mutex_lock(&metrics_lock);
        for (metrics_family_t *e = metrics_head; e; e = e->next) {
                if (strcmp(e->name, name) != 0)
                        continue;
                int same = metrics_same_shape(e, f);
                pthread_mutex_unlock(&metrics_lock);
                if (!same)
                        log_error(METRICS_LOG,
                                  "metric %s declared twice with a different type, labels or "
                                  "buckets",
                                  name);
                metrics_family_free(f);
                return same ? e : NULL;
        }
        /* An unlabelled metric exists from the start: it renders as 0
         * rather than being absent until first touched. */
        if (f->nlabels == 0) {
                metrics_child_t *c = metrics_child_new(f);
                if (!c || metrics_attach(f, c) == -1) {
                        pthread_mutex_unlock(&metrics_lock);
                        if (c)
                                metrics_child_free(c, 0);
                        metrics_family_free(f);
                        return NULL;
                }
        }
        *metrics_tail = f;
        metrics_tail = &f->next;
        pthread_mutex_unlock(&metrics_lock);
        return f;
}

metrics_family_t *metrics_counter_family(const char *name, const char *help, const char *labels) {
        return metrics_declare(METRICS_COUNTER, name, help, labels, NULL, 0);
}

metrics_family_t *metrics_gauge_family(const char *name, const char *help, const char *labels) {
        return metrics_declare(METRICS_GAUGE, name, help, labels, NULL, 0);
}

metrics_family_t *metrics_histogram_family(const char *name, const char *help, const char *labels,
                                           const double *buckets, size_t nbuckets) {
        return metrics_declare(METRICS_HISTOGRAM, name, help, labels, buckets, nbuckets);
}

metrics_child_t *metrics_child(metrics_family_t *fam, ...) {
        if (!fam)
                return NULL;
        const char *vals[METRICS_MAX_LABELS];
        size_t n = fam->nlabels;
        va_list ap;
        va_start(ap, fam);
        for (size_t i = 0; i < n; i++) {
                vals[i] = va_arg(ap, const char *);
                if (!vals[i])
                        vals[i] = "";
        }
        va_end(ap);

        pthread_mutex_lock(&metrics_lock);
        for (size_t i = 0; i < fam->nchildren; i++) {
                metrics_child_t *c = fam->children[i];
                size_t j = 0;
                while (j < n && !strcmp(c->values[j], vals[j]))
                        j++;
                if (j == n) {
                        pthread_mutex_unlock(&metrics_lock);
                        return c;
                }
        }
        metrics_child_t *c = metrics_child_new(fam);
        int ok = c != NULL;
        for (size_t i = 0; ok && i < n; i++)
                ok = (c->values[i] = strdup(vals[i])) != NULL;
        if (ok)
                ok = metrics_attach(fam, c) == 0;
        pthread_mutex_unlock(&metrics_lock);
        if (!ok) {
                if (c)
                        metrics_child_free(c, n);
                log_error(METRICS_LOG, "metric %s: out of memory for a new child", fam->name);
                return NULL;
        }
        return c;
}

metrics_child_t *metrics_counter(const char *name, const char *help) {
        return metrics_child(metrics_counter_family(name, help, NULL));
}

metrics_child_t *metrics_gauge(const char *name, const char *help) {
        return metrics_child(metrics_gauge_family(name, help, NULL));
}

metrics_child_t *metrics_histogram(const char *name, const char *help, const double *buckets,
                                   size_t nbuckets) {
        return metrics_child(metrics_histogram_family(name, help, NULL, buckets, nbuckets));
}

/* ------------------------------------------------------------ updating */

/* Every update tolerates NULL so a metric that failed to declare (logged
 * then) costs the service its metric, not a crash. */

void metrics_inc(metrics_child_t *c, double v) {
        if (!c || c->fam->type == METRICS_HISTOGRAM)
                return;
        if (c->fam->type == METRICS_COUNTER) {
                if (!(v >= 0)) /* also NaN: counters only go up */
                        return;
                if (v < 9007199254740992.0 && v == (double)(uint64_t)v) {
                        atomic_fetch_add_explicit(&c->ival, (uint64_t)v, memory_order_relaxed);
                        return;
                }
        }
        metrics_add_double(&c->bits, v);
}

void metrics_set(metrics_child_t *c, double v) {
        /* Only gauges: a counter that could be set would not be monotonic. */
        if (c && c->fam->type == METRICS_GAUGE)
                atomic_store_explicit(&c->bits, metrics_bits(v), memory_order_relaxed);
}

void metrics_observe(metrics_child_t *c, double v) {
        if (!c || c->fam->type != METRICS_HISTOGRAM || isnan(v))
                return;
        /* First bound >= v ("le" is inclusive); nbounds when above all. */
        size_t lo = 0, hi = c->fam->nbounds;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (c->fam->bounds[mid] < v)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        atomic_fetch_add_explicit(&c->buckets[lo], 1, memory_order_relaxed);
        metrics_add_double(&c->bits, v);
}

/* Counter/gauge: the value.  Histogram: the number of observations. */
double metrics_value(const metrics_child_t *c) {
        if (!c)
                return 0;
        metrics_child_t *m = (metrics_child_t *)c; /* atomic loads need non-const */
        if (c->fam->type == METRICS_HISTOGRAM) {
                uint64_t n = 0;
                for (size_t i = 0; i <= c->fam->nbounds; i++)
                        n += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
                return (double)n;
        }
        return (double)atomic_load_explicit(&m->ival, memory_order_relaxed) +
               metrics_d(atomic_load_explicit(&m->bits, memory_order_relaxed));
}

/* ------------------------------------------------------------ rendering */

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

static void metrics_render_child(metrics_sb_t *sb, metrics_child_t *c) {
        const metrics_family_t *f = c->fam;
        if (f->type != METRICS_HISTOGRAM) {
                metrics_put_series(sb, c, "", NULL);
                metrics_puts(sb, " ");
                metrics_put_double(sb, metrics_value(c));
                metrics_puts(sb, "\n");
                return;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i <= f->nbounds; i++) {
                char le[40];
                cum += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
                if (i < f->nbounds)
                        metrics_fmt_double(le, sizeof(le), f->bounds[i]);
                else
                        snprintf(le, sizeof(le), "+Inf");
                metrics_put_series(sb, c, "_bucket", le);
                metrics_puts(sb, " ");
                metrics_put_u64(sb, cum);
                metrics_puts(sb, "\n");
        }
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
 * always renders the same text, which keeps diffs and tests simple. */
char *metrics_render(size_t *len) {
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
                metrics_puts(&sb, "# HELP ");
                metrics_puts(&sb, f->name);
                metrics_puts(&sb, " ");
                metrics_put_escaped(&sb, f->help, 0);
                metrics_puts(&sb, "\n# TYPE ");
                metrics_puts(&sb, f->name);
                metrics_puts(&sb, " ");
                metrics_puts(&sb, metrics_type_names[f->type]);
                metrics_puts(&sb, "\n");
                if (f->nchildren > 1)
                        qsort(f->children, f->nchildren, sizeof(*f->children), metrics_cmp_child);
                for (size_t j = 0; j < f->nchildren; j++)
                        metrics_render_child(&sb, f->children[j]);
        }
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
