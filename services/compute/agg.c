/* agg — one field's mergeable window aggregate (see agg.h). */
#include "agg.h"

#include <math.h>
#include <string.h>

void agg_reset(agg_t *a) {
        qs_t sk = a->qs;
        memset(a, 0, sizeof(*a));
        qs_reset(&sk);
        a->qs = sk;
}

void agg_free(agg_t *a) {
        qs_free(&a->qs);
}

/* Neumaier's variant of Kahan summation: the rounding error of each add is
 * kept in c, so the sum of many values of mixed size stays exact to ~1 ulp. */
static void nsum(double *s, double *c, double x) {
        double t = *s + x;
        if (fabs(*s) >= fabs(x))
                *c += (*s - t) + x;
        else
                *c += (x - t) + *s;
        *s = t;
}

double agg_mean(const agg_t *a) {
        return a->n ? a->shift + a->mean : NAN;
}

int agg_add(agg_t *a, double x, int64_t ts, const qs_params_t *skp) {
        if (a->n == 0) {
                a->shift = x;
                a->min = a->max = a->first = a->last = x;
                a->first_ts = a->last_ts = ts;
        } else {
                if (x < a->min)
                        a->min = x;
                if (x > a->max)
                        a->max = x;
                if (ts < a->first_ts) {
                        a->first = x;
                        a->first_ts = ts;
                }
                if (ts >= a->last_ts) {
                        a->last = x;
                        a->last_ts = ts;
                }
        }
        a->n++;
        nsum(&a->sum, &a->sum_c, x);
        double y = x - a->shift;
        double d = y - a->mean;
        a->mean += d / (double)a->n;
        a->m2 += d * (y - a->mean);
        return skp ? qs_add(&a->qs, skp, x) : 0;
}

int agg_merge(agg_t *a, const agg_t *b, const qs_params_t *skp) {
        if (b->n == 0)
                return 0;
        if (a->n == 0) {
                qs_t sk = a->qs;
                memcpy(a, b, sizeof(*a));
                a->qs = sk;
        } else {
                if (b->min < a->min)
                        a->min = b->min;
                if (b->max > a->max)
                        a->max = b->max;
                if (b->first_ts < a->first_ts) {
                        a->first = b->first;
                        a->first_ts = b->first_ts;
                }
                if (b->last_ts > a->last_ts) {
                        a->last = b->last;
                        a->last_ts = b->last_ts;
                }
                double na = (double)a->n, nb = (double)b->n, n = na + nb;
                /* b's mean in a's frame: shifts of similar values subtract exactly */
                double d = ((b->shift - a->shift) + b->mean) - a->mean;
                a->mean += d * nb / n;
                a->m2 += b->m2 + d * d * na * nb / n;
                nsum(&a->sum, &a->sum_c, b->sum);
                nsum(&a->sum, &a->sum_c, b->sum_c);
                a->n += b->n;
        }
        return skp ? qs_merge(&a->qs, &b->qs, skp) : 0;
}

void agg_stats(const agg_t *a, unsigned ops, const qs_params_t *skp, cp_field_stats_t *o) {
        const char *name = o->name;
        double z = o->zscore;
        unsigned char hz = o->has_zscore;
        memset(o, 0, sizeof(*o));
        o->name = name;
        o->zscore = z;
        o->has_zscore = hz;
        o->count = a->n;
        if (ops & SPEC_OP_BIT(SPEC_OP_SUM)) {
                o->has_sum = 1;
                o->sum = a->sum + a->sum_c;
        }
        if (a->n == 0)
                return;
        double var = a->m2 > 0 ? a->m2 / (double)a->n : 0;
#define SET(op, f, v)                                                                              \
        if (ops & SPEC_OP_BIT(op)) {                                                               \
                o->has_##f = 1;                                                                    \
                o->f = (v);                                                                        \
        }
        SET(SPEC_OP_MIN, min, a->min)
        SET(SPEC_OP_MAX, max, a->max)
        SET(SPEC_OP_MEAN, mean, a->shift + a->mean)
        SET(SPEC_OP_VARIANCE, variance, var)
        SET(SPEC_OP_STDDEV, stddev, sqrt(var))
        SET(SPEC_OP_FIRST, first, a->first)
        SET(SPEC_OP_LAST, last, a->last)
        if (skp) {
                SET(SPEC_OP_P50, p50, qs_quantile(&a->qs, skp, 0.50))
                SET(SPEC_OP_P90, p90, qs_quantile(&a->qs, skp, 0.90))
                SET(SPEC_OP_P95, p95, qs_quantile(&a->qs, skp, 0.95))
                SET(SPEC_OP_P99, p99, qs_quantile(&a->qs, skp, 0.99))
        }
#undef SET
}

int agg_write(const agg_t *a, int with_sketch, buf_t *b) {
        if (cp_w_uvar(b, (uint64_t)a->n) < 0)
                return -1;
        if (a->n == 0)
                return 0;
        const double d[] = {a->sum,  a->sum_c, a->min,   a->max, a->shift,
                            a->mean, a->m2,    a->first, a->last};
        for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
                if (cp_w_f64(b, d[i]) < 0)
                        return -1;
        if (cp_w_svar(b, a->first_ts) < 0 || cp_w_svar(b, a->last_ts) < 0)
                return -1;
        return with_sketch ? qs_write(&a->qs, b) : 0;
}

int agg_read(agg_t *a, const qs_params_t *skp, cp_rd_t *r) {
        agg_reset(a);
        uint64_t n = cp_r_uvar(r);
        if (r->err || n > (uint64_t)INT64_MAX / 2) {
                r->err = 1;
                return -1;
        }
        a->n = (int64_t)n;
        if (n == 0)
                return 0;
        double *d[] = {&a->sum,  &a->sum_c, &a->min,   &a->max, &a->shift,
                       &a->mean, &a->m2,    &a->first, &a->last};
        for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
                *d[i] = cp_r_f64(r);
        a->first_ts = cp_r_svar(r);
        a->last_ts = cp_r_svar(r);
        if (skp)
                qs_read(&a->qs, r, skp);
        return r->err ? -1 : 0;
}
