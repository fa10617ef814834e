/* agg — the per-field aggregate of one window: count, compensated sum,
 * min, max, Welford mean and M2 (population variance = M2 / n), first and
 * last by event time, and an optional quantile sketch.  Everything is
 * mergeable (Chan et al. for mean/M2), which session merges and sliding
 * windows rely on. */
#ifndef WEIR_AGG_H
#define WEIR_AGG_H

#include "cp.h"
#include "cp_wire.h"
#include "qs.h"

#include <stdint.h>

typedef struct {
        int64_t n;
        double sum, sum_c; /* Neumaier-compensated sum: sum + sum_c */
        double min, max;
        double shift;    /* the first value: mean and m2 are of x - shift, which keeps
                            them exact for data far from 0 (1e9 +- 1) */
        double mean, m2; /* Welford */
        double first, last;
        int64_t first_ts, last_ts;
        qs_t qs; /* used only when the field has a quantile op */
} agg_t;

/* The mean of the values added (NaN when none). */
double agg_mean(const agg_t *a);
/* Empties a (zeroed or used) aggregate, keeping the sketch's storage. */
void agg_reset(agg_t *a);
void agg_free(agg_t *a);
/* Adds value x at event time ts; `skp` NULL: no sketch.  Returns 0 or -1
 * (out of memory in the sketch; the other statistics are updated). */
int agg_add(agg_t *a, double x, int64_t ts, const qs_params_t *skp);
/* a += b (sketches too when skp is not NULL).  Ties in first/last keep a's value. */
int agg_merge(agg_t *a, const agg_t *b, const qs_params_t *skp);
/* Fills the statistics of the ops in `ops` (SPEC_OP_BIT set) into *out
 * (name and zscore are left alone). */
void agg_stats(const agg_t *a, unsigned ops, const qs_params_t *skp, cp_field_stats_t *out);

int agg_write(const agg_t *a, int with_sketch, buf_t *b);
int agg_read(agg_t *a, const qs_params_t *skp, cp_rd_t *r);

#endif
