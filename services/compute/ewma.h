/* ewma — exponentially weighted mean and variance of a series (one value per
 * closed window), and the z-score of a new value against it.
 *
 * Update with x and weight alpha (West 1979 / Finch 2009, "Incremental
 * calculation of weighted mean and variance"):
 *   d = x - mean;  mean += alpha d;  var = (1 - alpha) (var + alpha d^2)
 * starting from mean = x, var = 0 at the first value. */
#ifndef WEIR_EWMA_H
#define WEIR_EWMA_H

#include <stdint.h>

typedef struct {
        int64_t n; /* values seen */
        double mean, var;
} ewma_t;

void ewma_update(ewma_t *e, double x, double alpha);
/* (x - mean) / sqrt(var) into *z when n >= min_n and var > 0; returns 1 if
 * set, 0 when the baseline has no z-score yet. */
int ewma_zscore(const ewma_t *e, double x, int64_t min_n, double *z);

#endif
