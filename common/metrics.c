/* metrics — the Prometheus registry: families, children, lock-free updates;
 * the text formats are metrics_render.c.  See metrics.h.
 *
 * Concurrency: one mutex guards the family list and each family's child
 * array (declaration, child look-up, rendering, reset).  Values are C11
 * atomics touched without the lock: doubles are kept as their uint64 bit
 * patterns and added with a CAS loop; counters also keep an integer part
 * so the common "+1" is a single fetch_add with no retry under contention.
 *
 * Histograms keep per-bucket (non-cumulative) counts; rendering sums them,
 * so the +Inf bucket and _count always agree even while observations race
 * with a scrape.
 *
 * Exemplars (OpenMetrics only): the last traced observation per bucket,
 * allocated at a histogram's first one and guarded by a per-child flag that
 * an observer only tries (busy: the exemplar is skipped, never waited for);
 * only a scrape spins on it, for the few stores an observer makes. */
#include "metrics_int.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clk.h"
#include "log.h"
#include "vec.h"

#define METRICS_LOG        "metrics"
#define METRICS_MAX_LABELS 16

pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
metrics_family_t *metrics_head;
static metrics_family_t **metrics_tail = &metrics_head;

static const double metrics_default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* ------------------------------------------------------------ atomics */

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
        free(c->ex);
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

/* Returns the bucket counted, or SIZE_MAX when v was not observed. */
static size_t metrics_observe_at(metrics_child_t *c, double v) {
        if (!c || c->fam->type != METRICS_HISTOGRAM || isnan(v))
                return SIZE_MAX;
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
        return lo;
}

void metrics_observe(metrics_child_t *c, double v) {
        metrics_observe_at(c, v);
}

void metrics_observe_exemplar(metrics_child_t *c, double v, const char *trace_id,
                              const char *span_id) {
        size_t i = metrics_observe_at(c, v);
        if (i == SIZE_MAX || !trace_id || strlen(trace_id) != 32 ||
            (span_id && strlen(span_id) != 16))
                return;
        if (atomic_exchange_explicit(&c->ex_busy, 1, memory_order_acquire))
                return; /* a scrape or another observer: this one goes without */
        if (!c->ex)     /* once per histogram child, by its first traced observation */
                c->ex = calloc(c->fam->nbounds + 1, sizeof(*c->ex));
        if (c->ex) {
                metrics_ex_t *e = &c->ex[i];
                memcpy(e->trace_id, trace_id, 33);
                if (span_id)
                        memcpy(e->span_id, span_id, 17);
                else
                        e->span_id[0] = '\0';
                e->value = v;
                e->ts = (double)clk_wall_ms() / 1000.0;
        }
        atomic_store_explicit(&c->ex_busy, 0, memory_order_release);
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
