/* agg — one field's mergeable window aggregate, shaped by its ops (see
 * agg.h). */
#include "agg.h"

#include <math.h>
#include <string.h>

typedef struct {
        double sum, sum_c;
} agg_sum_t;

typedef struct {
        double min, max;
} agg_mm_t;

typedef struct {
        double first, last;
        int64_t first_ts, last_ts;
} agg_fl_t;

unsigned agg_groups(unsigned ops) {
        unsigned g = 0;
        if (ops & (SPEC_OP_BIT(SPEC_OP_VARIANCE) | SPEC_OP_BIT(SPEC_OP_STDDEV)))
                g |= AGG_G_M2;
        if (ops & SPEC_OP_BIT(SPEC_OP_SUM))
                g |= AGG_G_SUM;
        if (ops & (SPEC_OP_BIT(SPEC_OP_MIN) | SPEC_OP_BIT(SPEC_OP_MAX)))
                g |= AGG_G_MINMAX;
        if (ops & (SPEC_OP_BIT(SPEC_OP_FIRST) | SPEC_OP_BIT(SPEC_OP_LAST)))
                g |= AGG_G_FL;
        if (ops & (SPEC_OP_BIT(SPEC_OP_P50) | SPEC_OP_BIT(SPEC_OP_P90) | SPEC_OP_BIT(SPEC_OP_P95) |
                   SPEC_OP_BIT(SPEC_OP_P99)))
                g |= AGG_G_QS;
        return g;
}

void agg_lay_init(agg_lay_t *L, unsigned groups) {
        memset(L, 0, sizeof(*L));
        L->groups = groups & AGG_G_ALL;
        size_t o = sizeof(agg_core_t);
        if (groups & AGG_G_M2) {
                L->o_m2 = (uint16_t)o;
                o += sizeof(double);
        }
        if (groups & AGG_G_SUM) {
                L->o_sum = (uint16_t)o;
                o += sizeof(agg_sum_t);
        }
        if (groups & AGG_G_MINMAX) {
                L->o_mm = (uint16_t)o;
                o += sizeof(agg_mm_t);
        }
        if (groups & AGG_G_FL) {
                L->o_fl = (uint16_t)o;
                o += sizeof(agg_fl_t);
        }
        if (groups & AGG_G_QS) {
                L->o_qs = (uint16_t)o;
                o += sizeof(qs_t);
        }
        L->size = (uint16_t)((o + 7) & ~(size_t)7);
}

#define G(a, L, g, T)  ((T *)(void *)((char *)(a) + (L)->o_##g))
#define CG(a, L, g, T) ((const T *)(const void *)((const char *)(a) + (L)->o_##g))

int64_t agg_n(const void *a) {
        return ((const agg_core_t *)a)->n;
}

double agg_mean(const void *a) {
        const agg_core_t *c = a;
        return c->n ? c->shift + c->mean : NAN;
}

qs_t *agg_qs(const void *a, const agg_lay_t *L) {
        return (L->groups & AGG_G_QS) ? (qs_t *)(void *)((char *)(uintptr_t)a + L->o_qs) : NULL;
}

size_t agg_bytes(const void *a, const agg_lay_t *L) {
        const qs_t *s = agg_qs(a, L);
        return s ? qs_bytes(s) : 0;
}

void agg_reset(void *a, const agg_lay_t *L) {
        qs_t *s = agg_qs(a, L);
        qs_t keep = {0};
        if (s) {
                keep = *s;
                qs_reset(&keep);
        }
        memset(a, 0, L->size);
        if (s)
                *s = keep;
}

void agg_free(void *a, const agg_lay_t *L) {
        qs_t *s = agg_qs(a, L);
        if (s)
                qs_free(s);
        memset(a, 0, L->size);
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

int agg_add(void *a, const agg_lay_t *L, double x, int64_t ts, const qs_params_t *skp) {
        agg_core_t *c = a;
        unsigned g = L->groups;
        if (c->n == 0) {
                c->shift = x;
                if (g & AGG_G_MINMAX)
                        G(a, L, mm, agg_mm_t)->min = G(a, L, mm, agg_mm_t)->max = x;
                if (g & AGG_G_FL) {
                        agg_fl_t *fl = G(a, L, fl, agg_fl_t);
                        fl->first = fl->last = x;
                        fl->first_ts = fl->last_ts = ts;
                }
        } else {
                if (g & AGG_G_MINMAX) {
                        agg_mm_t *mm = G(a, L, mm, agg_mm_t);
                        if (x < mm->min)
                                mm->min = x;
                        if (x > mm->max)
                                mm->max = x;
                }
                if (g & AGG_G_FL) {
                        agg_fl_t *fl = G(a, L, fl, agg_fl_t);
                        if (ts < fl->first_ts) {
                                fl->first = x;
                                fl->first_ts = ts;
                        }
                        if (ts >= fl->last_ts) {
                                fl->last = x;
                                fl->last_ts = ts;
                        }
                }
        }
        c->n++;
        if (g & AGG_G_SUM) {
                agg_sum_t *s = G(a, L, sum, agg_sum_t);
                nsum(&s->sum, &s->sum_c, x);
        }
        double y = x - c->shift;
        double d = y - c->mean;
        c->mean += d / (double)c->n;
        if (g & AGG_G_M2)
                *G(a, L, m2, double) += d * (y - c->mean);
        return skp && (g & AGG_G_QS) ? qs_add(G(a, L, qs, qs_t), skp, x) : 0;
}

int agg_merge(void *a, const void *b, const agg_lay_t *L, const qs_params_t *skp) {
        agg_core_t *ca = a;
        const agg_core_t *cb = b;
        unsigned g = L->groups;
        if (cb->n == 0)
                return 0;
        if (ca->n == 0) {
                qs_t keep = {0};
                if (g & AGG_G_QS)
                        keep = *G(a, L, qs, qs_t);
                memcpy(a, b, L->size);
                if (g & AGG_G_QS)
                        *G(a, L, qs, qs_t) = keep;
        } else {
                if (g & AGG_G_MINMAX) {
                        agg_mm_t *x = G(a, L, mm, agg_mm_t);
                        const agg_mm_t *y = CG(b, L, mm, agg_mm_t);
                        if (y->min < x->min)
                                x->min = y->min;
                        if (y->max > x->max)
                                x->max = y->max;
                }
                if (g & AGG_G_FL) {
                        agg_fl_t *x = G(a, L, fl, agg_fl_t);
                        const agg_fl_t *y = CG(b, L, fl, agg_fl_t);
                        if (y->first_ts < x->first_ts) {
                                x->first = y->first;
                                x->first_ts = y->first_ts;
                        }
                        if (y->last_ts > x->last_ts) {
                                x->last = y->last;
                                x->last_ts = y->last_ts;
                        }
                }
                double na = (double)ca->n, nb = (double)cb->n, n = na + nb;
                /* b's mean in a's frame: shifts of similar values subtract exactly */
                double d = ((cb->shift - ca->shift) + cb->mean) - ca->mean;
                ca->mean += d * nb / n;
                if (g & AGG_G_M2)
                        *G(a, L, m2, double) += *CG(b, L, m2, double) + d * d * na * nb / n;
                if (g & AGG_G_SUM) {
                        agg_sum_t *x = G(a, L, sum, agg_sum_t);
                        const agg_sum_t *y = CG(b, L, sum, agg_sum_t);
                        nsum(&x->sum, &x->sum_c, y->sum);
                        nsum(&x->sum, &x->sum_c, y->sum_c);
                }
                ca->n += cb->n;
        }
        return skp && (g & AGG_G_QS) ? qs_merge(G(a, L, qs, qs_t), CG(b, L, qs, qs_t), skp) : 0;
}

void agg_stats(const void *a, const agg_lay_t *L, unsigned ops, const qs_params_t *skp,
               cp_field_stats_t *o) {
        const agg_core_t *c = a;
        unsigned g = L->groups;
        const char *name = o->name;
        double z = o->zscore;
        unsigned char hz = o->has_zscore;
        memset(o, 0, sizeof(*o));
        o->name = name;
        o->zscore = z;
        o->has_zscore = hz;
        o->count = c->n;
        if ((ops & SPEC_OP_BIT(SPEC_OP_SUM)) && (g & AGG_G_SUM)) {
                o->has_sum = 1;
                o->sum = CG(a, L, sum, agg_sum_t)->sum + CG(a, L, sum, agg_sum_t)->sum_c;
        }
        if (c->n == 0)
                return;
#define SET(op, grp, f, v)                                                                         \
        if ((ops & SPEC_OP_BIT(op)) && (g & (grp)) == (grp)) {                                     \
                o->has_##f = 1;                                                                    \
                o->f = (v);                                                                        \
        }
        double m2 = (g & AGG_G_M2) ? *CG(a, L, m2, double) : 0;
        double var = m2 > 0 ? m2 / (double)c->n : 0;
        const agg_mm_t *mm = CG(a, L, mm, agg_mm_t);
        const agg_fl_t *fl = CG(a, L, fl, agg_fl_t);
        SET(SPEC_OP_MIN, AGG_G_MINMAX, min, mm->min)
        SET(SPEC_OP_MAX, AGG_G_MINMAX, max, mm->max)
        SET(SPEC_OP_MEAN, 0u, mean, c->shift + c->mean)
        SET(SPEC_OP_VARIANCE, AGG_G_M2, variance, var)
        SET(SPEC_OP_STDDEV, AGG_G_M2, stddev, sqrt(var))
        SET(SPEC_OP_FIRST, AGG_G_FL, first, fl->first)
        SET(SPEC_OP_LAST, AGG_G_FL, last, fl->last)
        if (skp && (g & AGG_G_QS)) {
                const qs_t *s = CG(a, L, qs, qs_t);
                SET(SPEC_OP_P50, AGG_G_QS, p50, qs_quantile(s, skp, 0.50))
                SET(SPEC_OP_P90, AGG_G_QS, p90, qs_quantile(s, skp, 0.90))
                SET(SPEC_OP_P95, AGG_G_QS, p95, qs_quantile(s, skp, 0.95))
                SET(SPEC_OP_P99, AGG_G_QS, p99, qs_quantile(s, skp, 0.99))
        }
#undef SET
}

#define W(x)                                                                                       \
        do {                                                                                       \
                if ((x) < 0)                                                                       \
                        return -1;                                                                 \
        } while (0)

int agg_write(const void *a, const agg_lay_t *L, buf_t *b) {
        const agg_core_t *c = a;
        unsigned g = L->groups;
        W(cp_w_uvar(b, (uint64_t)c->n));
        if (c->n == 0)
                return 0;
        W(cp_w_f64(b, c->shift));
        W(cp_w_f64(b, c->mean));
        if (g & AGG_G_M2)
                W(cp_w_f64(b, *CG(a, L, m2, double)));
        if (g & AGG_G_SUM) {
                W(cp_w_f64(b, CG(a, L, sum, agg_sum_t)->sum));
                W(cp_w_f64(b, CG(a, L, sum, agg_sum_t)->sum_c));
        }
        if (g & AGG_G_MINMAX) {
                W(cp_w_f64(b, CG(a, L, mm, agg_mm_t)->min));
                W(cp_w_f64(b, CG(a, L, mm, agg_mm_t)->max));
        }
        if (g & AGG_G_FL) {
                const agg_fl_t *fl = CG(a, L, fl, agg_fl_t);
                W(cp_w_f64(b, fl->first));
                W(cp_w_f64(b, fl->last));
                W(cp_w_svar(b, fl->first_ts));
                W(cp_w_svar(b, fl->last_ts));
        }
        if (g & AGG_G_QS)
                W(qs_write(CG(a, L, qs, qs_t), b));
        return 0;
}

int agg_read(void *a, const agg_lay_t *L, const qs_params_t *skp, unsigned stored, int v1,
             cp_rd_t *r, const char **why) {
        agg_reset(a, L);
        agg_core_t *c = a;
        unsigned g = L->groups;
        uint64_t n = cp_r_uvar(r);
        if (r->err || n > (uint64_t)INT64_MAX / 2) {
                r->err = 1;
                return -1;
        }
        c->n = (int64_t)n;
        if (n == 0)
                return 0;
        if ((g & ~stored) & AGG_G_ALL) {
                *why = "aggregate written without statistics the spec's ops now need";
                r->err = 1;
                return -1;
        }
        double m2 = 0, sum = 0, sum_c = 0, mn = 0, mx = 0, first = 0, last = 0;
        int64_t fts = 0, lts = 0;
        if (v1) { /* sum, sum_c, min, max, shift, mean, m2, first, last, first_ts, last_ts */
                sum = cp_r_f64(r);
                sum_c = cp_r_f64(r);
                mn = cp_r_f64(r);
                mx = cp_r_f64(r);
                c->shift = cp_r_f64(r);
                c->mean = cp_r_f64(r);
                m2 = cp_r_f64(r);
                first = cp_r_f64(r);
                last = cp_r_f64(r);
                fts = cp_r_svar(r);
                lts = cp_r_svar(r);
        } else {
                c->shift = cp_r_f64(r);
                c->mean = cp_r_f64(r);
                if (stored & AGG_G_M2)
                        m2 = cp_r_f64(r);
                if (stored & AGG_G_SUM) {
                        sum = cp_r_f64(r);
                        sum_c = cp_r_f64(r);
                }
                if (stored & AGG_G_MINMAX) {
                        mn = cp_r_f64(r);
                        mx = cp_r_f64(r);
                }
                if (stored & AGG_G_FL) {
                        first = cp_r_f64(r);
                        last = cp_r_f64(r);
                        fts = cp_r_svar(r);
                        lts = cp_r_svar(r);
                }
        }
        if (g & AGG_G_M2)
                *G(a, L, m2, double) = m2;
        if (g & AGG_G_SUM) {
                G(a, L, sum, agg_sum_t)->sum = sum;
                G(a, L, sum, agg_sum_t)->sum_c = sum_c;
        }
        if (g & AGG_G_MINMAX) {
                G(a, L, mm, agg_mm_t)->min = mn;
                G(a, L, mm, agg_mm_t)->max = mx;
        }
        if (g & AGG_G_FL) {
                agg_fl_t *fl = G(a, L, fl, agg_fl_t);
                fl->first = first;
                fl->last = last;
                fl->first_ts = fts;
                fl->last_ts = lts;
        }
        if (stored & AGG_G_QS) {
                if (g & AGG_G_QS) {
                        qs_read(G(a, L, qs, qs_t), r, skp);
                } else { /* no longer asked for: read and dropped */
                        qs_t tmp = {0};
                        qs_read(&tmp, r, skp);
                        qs_free(&tmp);
                }
        }
        return r->err ? -1 : 0;
}
