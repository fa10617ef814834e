/* ewma — EWMA baseline and z-score (see ewma.h). */
#include "ewma.h"

#include <math.h>

void ewma_update(ewma_t *e, double x, double alpha) {
        if (e->n == 0) {
                e->mean = x;
                e->var = 0;
        } else {
                double d = x - e->mean;
                double incr = alpha * d;
                e->mean += incr;
                e->var = (1 - alpha) * (e->var + d * incr);
        }
        e->n++;
}

int ewma_zscore(const ewma_t *e, double x, int64_t min_n, double *z) {
        if (e->n < min_n || !(e->var > 0))
                return 0;
        double r = (x - e->mean) / sqrt(e->var);
        if (!isfinite(r))
                return 0;
        *z = r;
        return 1;
}
