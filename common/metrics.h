/* metrics — a process-wide registry of Prometheus metrics.
 *
 * Families (counter, gauge, histogram) are declared once at start-up with
 * their label names; a child (one label-value set) is looked up once and
 * its pointer kept, so the hot path is a single atomic add with no lock and
 * no allocation.  metrics_render() writes the Prometheus text exposition
 * format 0.0.4 (what `promtool check metrics` accepts);
 * metrics_render_openmetrics() the same registry as OpenMetrics 1.0.0 text,
 * with exemplars (the admin server's /metrics answers it to a scraper that
 * asks for application/openmetrics-text, as Prometheus does).
 *
 * Names follow weir_<stage>_<what>_<unit>; counters end in _total. */
#ifndef WEIR_METRICS_H
#define WEIR_METRICS_H

#include <stddef.h>

typedef struct metrics_family_s metrics_family_t;
typedef struct metrics_child_s metrics_child_t;

/* `labels` is a comma-separated list of label names ("route,status") or
 * NULL.  Declaring the same name twice returns the same family (or NULL if
 * the type or labels differ).  Families live until metrics_reset().
 * Also NULL (and logged): an invalid metric or label name, more than 16
 * labels, a counter whose name does not end in _total, histogram bounds not
 * ascending.  Every call below accepts NULL and then does nothing, so a bad
 * declaration costs its metric, not the service. */
metrics_family_t *metrics_counter_family(const char *name, const char *help, const char *labels);
metrics_family_t *metrics_gauge_family(const char *name, const char *help, const char *labels);
/* `buckets`: ascending upper bounds, without +Inf; NULL = default latency
 * buckets in seconds (0.0005 .. 10). */
metrics_family_t *metrics_histogram_family(const char *name, const char *help, const char *labels,
                                           const double *buckets, size_t nbuckets);

/* The child for the given label values (exactly as many as the family has
 * labels; none for an unlabelled family).  Takes a lock: call at set-up or
 * on first use and keep the pointer.  Never returns NULL for a valid
 * family; the registry owns it. */
metrics_child_t *metrics_child(metrics_family_t *fam, ...);

/* Shortcuts for unlabelled metrics: the family's only child. */
metrics_child_t *metrics_counter(const char *name, const char *help);
metrics_child_t *metrics_gauge(const char *name, const char *help);
metrics_child_t *metrics_histogram(const char *name, const char *help, const double *buckets,
                                   size_t nbuckets);

/* Lock-free updates. */
void metrics_inc(metrics_child_t *c, double v);     /* counter/gauge += v (v >= 0 for counters) */
void metrics_set(metrics_child_t *c, double v);     /* gauge = v (ignored for other types) */
void metrics_observe(metrics_child_t *c, double v); /* histogram sample (NaN ignored) */
/* metrics_observe(), and the sample becomes its bucket's exemplar: the
 * trace (32 hex digits) and span (16, or NULL) it was measured in, and the
 * time now.  Rendered in OpenMetrics only.  The first one allocates the
 * child's exemplars; when a scrape or another observer holds them, the
 * sample is counted but not kept as an exemplar (never waits). */
void metrics_observe_exemplar(metrics_child_t *c, double v, const char *trace_id,
                              const char *span_id);
double metrics_value(const metrics_child_t *c); /* counter/gauge value, histogram sample
                                                 * count (for tests, /readyz) */

/* Renders every family, sorted by name, children by label values.
 * Returns a malloc'd NUL-terminated string the caller frees (NULL when out
 * of memory); *len gets its length (len may be NULL). */
char *metrics_render(size_t *len);
/* The same as OpenMetrics 1.0.0 text (ends with "# EOF"), exemplars on the
 * histogram buckets that have one. */
char *metrics_render_openmetrics(size_t *len);

/* Frees every family (tests, and clean exit under LeakSanitizer). */
void metrics_reset(void);

#endif
