/* Unit tests: the compute engine's aggregates (agg_) and quantile sketch
 * (qs_) against a plain two-pass reference on random data. */
#include "th.h"

#include "../../services/compute/agg.h"
#include "../../services/compute/qs.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* xorshift64*, uniform in [0, 1) */
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        return (double)((rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}
static double nrand(void) {
        double u = urand(), v = urand();
        return sqrt(-2 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static int close_rel(double a, double b, double rel) {
        if (a == b)
                return 1;
        double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
        return fabs(a - b) <= rel * m;
}

typedef double (*gen_t)(size_t i);
static double g_uniform(size_t i) {
        (void)i;
        return urand() * 100;
}
static double g_offset(size_t i) {
        (void)i;
        return 1e9 + nrand();
} /* catastrophic for naive var */
static double g_mixed(size_t i) {
        (void)i;
        return nrand() * 1e3 - 200;
}
static double g_lognormal(size_t i) {
        (void)i;
        return exp(nrand() * 2);
}
static double g_int(size_t i) {
        return (double)(i % 7);
}

/* Two-pass reference. */
typedef struct {
        double sum, mean, var, min, max, first, last;
} ref_t;

static ref_t reference(const double *x, const int64_t *ts, size_t n) {
        ref_t r = {0, 0, 0, x[0], x[0], x[0], x[0]};
        long double s = 0;
        int64_t fts = ts[0], lts = ts[0];
        for (size_t i = 0; i < n; i++) {
                s += x[i];
                if (x[i] < r.min)
                        r.min = x[i];
                if (x[i] > r.max)
                        r.max = x[i];
                if (ts[i] < fts) {
                        fts = ts[i];
                        r.first = x[i];
                }
                if (ts[i] >= lts) {
                        lts = ts[i];
                        r.last = x[i];
                }
        }
        r.sum = (double)s;
        r.mean = (double)(s / (long double)n);
        long double v = 0;
        for (size_t i = 0; i < n; i++) {
                long double d = (long double)x[i] - s / (long double)n;
                v += d * d;
        }
        r.var = (double)(v / (long double)n);
        return r;
}

static const unsigned ALL = (1u << SPEC_OP__COUNT) - 1;

/* The layout with every statistic. */
static const agg_lay_t *full(void) {
        static agg_lay_t L;
        agg_lay_init(&L, AGG_G_ALL);
        return &L;
}

static void check_stats(const agg_t *a, const ref_t *r, size_t n, const char *what) {
        cp_field_stats_t s;
        memset(&s, 0, sizeof(s));
        agg_stats(a, full(), ALL, NULL, &s);
        int ok = s.count == (int64_t)n && close_rel(s.sum, r->sum, 1e-12) &&
                 close_rel(s.mean, r->mean, 1e-12) && s.min == r->min && s.max == r->max &&
                 s.first == r->first && s.last == r->last &&
                 (close_rel(s.variance, r->var, 1e-9) || (r->var < 1e-300 && s.variance < 1e-12)) &&
                 (close_rel(s.stddev, sqrt(r->var), 1e-9) || r->var < 1e-300);
        if (!ok)
                printf("  %s n=%zu: sum %.17g/%.17g mean %.17g/%.17g var %.17g/%.17g\n", what, n,
                       s.sum, r->sum, s.mean, r->mean, s.variance, r->var);
        TH_CHECK(ok);
}

static void test_agg_vs_two_pass(void) {
        static const gen_t gens[] = {g_uniform, g_offset, g_mixed, g_lognormal, g_int};
        static const size_t sizes[] = {1, 2, 3, 10, 1000, 100000};
        double *x = malloc(100000 * sizeof(double));
        int64_t *ts = malloc(100000 * sizeof(int64_t));
        for (size_t g = 0; g < sizeof(gens) / sizeof(gens[0]); g++)
                for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
                        size_t n = sizes[z];
                        agg_t a;
                        memset(&a, 0, sizeof(a));
                        for (size_t i = 0; i < n; i++) {
                                x[i] = gens[g](i);
                                ts[i] = (int64_t)(urand() * 1000); /* out of order, with ties */
                                agg_add(&a, full(), x[i], ts[i], NULL);
                        }
                        ref_t r = reference(x, ts, n);
                        check_stats(&a, &r, n, "add");
                        agg_free(&a, full());
                }
        free(x);
        free(ts);
}

static void test_agg_merge(void) {
        size_t n = 50000;
        double *x = malloc(n * sizeof(double));
        int64_t *ts = malloc(n * sizeof(int64_t));
        for (int round = 0; round < 5; round++) {
                agg_t parts[7], all;
                memset(parts, 0, sizeof(parts));
                memset(&all, 0, sizeof(all));
                for (size_t i = 0; i < n; i++) {
                        x[i] = round % 2 ? g_offset(i) : g_mixed(i);
                        ts[i] = (int64_t)i; /* distinct: first/last unambiguous */
                        agg_add(&parts[(size_t)(urand() * 7)], full(), x[i], ts[i], NULL);
                }
                for (int k = 0; k < 7; k++)
                        agg_merge(&all, &parts[k], full(), NULL);
                ref_t r = reference(x, ts, n);
                check_stats(&all, &r, n, "merge");
                agg_t empty;
                memset(&empty, 0, sizeof(empty));
                agg_merge(&all, &empty, full(), NULL); /* merging nothing changes nothing */
                check_stats(&all, &r, n, "merge-empty");
        }
        free(x);
        free(ts);
}

static void test_agg_empty_and_single(void) {
        agg_t a;
        memset(&a, 0, sizeof(a));
        cp_field_stats_t s;
        memset(&s, 0, sizeof(s));
        agg_stats(&a, full(), ALL, NULL, &s);
        TH_CHECK_INT(s.count, 0);
        TH_CHECK(s.has_sum && s.sum == 0); /* sum of nothing is 0 */
        TH_CHECK(!s.has_mean && !s.has_min && !s.has_variance && !s.has_first);
        agg_add(&a, full(), 42.5, 7, NULL);
        agg_stats(&a, full(), SPEC_OP_BIT(SPEC_OP_MEAN) | SPEC_OP_BIT(SPEC_OP_VARIANCE), NULL, &s);
        TH_CHECK(s.has_mean && s.mean == 42.5);
        TH_CHECK(s.has_variance && s.variance == 0);
        TH_CHECK(!s.has_sum && !s.has_max); /* only the ops asked for */
}

/* ---------------------------------------------------------------- sketch */

static int cmp_d(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static const double QS[] = {0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1};

/* Every quantile within the bound of qs.h against the sorted data. */
static int check_sketch(const qs_t *s, const qs_params_t *p, double *x, size_t n,
                        const char *what) {
        qsort(x, n, sizeof(*x), cmp_d);
        int ok = 1;
        for (size_t i = 0; i < sizeof(QS) / sizeof(QS[0]); i++) {
                double exact = x[(size_t)floor(QS[i] * (double)(n - 1))];
                double got = qs_quantile(s, p, QS[i]);
                double bound =
                        p->alpha * fabs(exact) * (1 + 1e-9) + (fabs(exact) < DBL_MIN ? 0 : 1e-300);
                if (!(fabs(got - exact) <= bound)) {
                        printf("  %s alpha=%g q=%g: got %.17g, exact %.17g (err %.3g)\n", what,
                               p->alpha, QS[i], got, exact, fabs(got - exact) / fabs(exact));
                        ok = 0;
                }
        }
        return ok;
}

static void test_sketch_bound(void) {
        static const gen_t gens[] = {g_uniform, g_offset, g_mixed, g_lognormal, g_int};
        static const double alphas[] = {0.1, 0.05, 0.01, 0.001};
        size_t n = 20000;
        double *x = malloc(n * sizeof(double));
        for (size_t a = 0; a < sizeof(alphas) / sizeof(alphas[0]); a++) {
                qs_params_t p;
                qs_params_init(&p, alphas[a]);
                for (size_t g = 0; g < sizeof(gens) / sizeof(gens[0]); g++) {
                        qs_t s;
                        memset(&s, 0, sizeof(s));
                        for (size_t i = 0; i < n; i++) {
                                x[i] = gens[g](i);
                                TH_CHECK(qs_add(&s, &p, x[i]) == 0);
                        }
                        TH_CHECK(check_sketch(&s, &p, x, n, "add"));
                        TH_CHECK(s.pos.len <= p.max_bins);
                        qs_free(&s);
                }
        }
        qs_t s;
        memset(&s, 0, sizeof(s));
        qs_params_t p;
        qs_params_init(&p, 0.01);
        TH_CHECK(isnan(qs_quantile(&s, &p, 0.5)));
        qs_add(&s, &p, 0);
        qs_add(&s, &p, -0.0);
        TH_CHECK(qs_quantile(&s, &p, 0.5) == 0);
        qs_free(&s);
        free(x);
}

static void test_sketch_merge(void) {
        size_t n = 30000;
        double *x = malloc(n * sizeof(double));
        qs_params_t p;
        qs_params_init(&p, 0.01);
        qs_t parts[5], all;
        memset(parts, 0, sizeof(parts));
        memset(&all, 0, sizeof(all));
        for (size_t i = 0; i < n; i++) {
                /* each part a different range, so merging must extend both ends */
                size_t k = (size_t)(urand() * 5);
                x[i] = (k % 2 ? -1 : 1) * exp(nrand() + (double)k * 3);
                qs_add(&parts[k], &p, x[i]);
        }
        for (int k = 0; k < 5; k++)
                TH_CHECK(qs_merge(&all, &parts[k], &p) == 0);
        TH_CHECK(all.n == n);
        TH_CHECK(check_sketch(&all, &p, x, n, "merge"));
        /* merged == the sketch of the union, bucket for bucket */
        qs_t direct;
        memset(&direct, 0, sizeof(direct));
        for (size_t i = 0; i < n; i++)
                qs_add(&direct, &p, x[i]);
        for (size_t i = 0; i < sizeof(QS) / sizeof(QS[0]); i++)
                TH_CHECK(qs_quantile(&direct, &p, QS[i]) == qs_quantile(&all, &p, QS[i]));
        for (int k = 0; k < 5; k++)
                qs_free(&parts[k]);
        qs_free(&all);
        qs_free(&direct);
        free(x);
}

static void test_sketch_collapse(void) {
        /* 10^-200 .. 10^200 needs far more than QS_MAX_BINS buckets at 1 %:
         * the lowest collapse, memory stays bounded, the top stays exact */
        qs_params_t p;
        qs_params_init(&p, 0.01);
        qs_t s;
        memset(&s, 0, sizeof(s));
        size_t n = 4001;
        double *x = malloc(n * sizeof(double));
        for (size_t i = 0; i < n; i++) {
                x[i] = pow(10, -200.0 + (double)i * 0.1);
                qs_add(&s, &p, x[i]);
        }
        TH_CHECK(s.pos.len <= p.max_bins);
        TH_CHECK(qs_bytes(&s) <= p.max_bins * sizeof(uint32_t) * 2);
        double exact = x[(size_t)floor(0.99 * (double)(n - 1))];
        TH_CHECK(fabs(qs_quantile(&s, &p, 0.99) - exact) <= 0.01 * exact * (1 + 1e-9));
        TH_CHECK(fabs(qs_quantile(&s, &p, 1) - x[n - 1]) <= 0.01 * x[n - 1] * (1 + 1e-9));
        qs_free(&s);
        free(x);
}

static void test_sketch_bytes(void) {
        qs_params_t p;
        qs_params_init(&p, 0.02);
        qs_t s, t;
        memset(&s, 0, sizeof(s));
        memset(&t, 0, sizeof(t));
        for (int i = 0; i < 5000; i++)
                qs_add(&s, &p, nrand() * 50);
        qs_add(&s, &p, 0);
        buf_t b = BUF_INIT;
        TH_CHECK(qs_write(&s, &b) == 0);
        cp_rd_t r;
        cp_rd_init(&r, b.data, b.len);
        TH_CHECK(qs_read(&t, &r, &p) == 0 && r.p == r.end);
        TH_CHECK(t.n == s.n);
        for (size_t i = 0; i < sizeof(QS) / sizeof(QS[0]); i++)
                TH_CHECK(qs_quantile(&t, &p, QS[i]) == qs_quantile(&s, &p, QS[i]));
        /* every truncation is an error, never a crash */
        for (size_t cut = 0; cut < b.len; cut++) {
                cp_rd_init(&r, b.data, cut);
                TH_CHECK(qs_read(&t, &r, &p) < 0);
        }
        /* a huge bucket count in few bytes is refused before allocating */
        unsigned char evil[] = {0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x02};
        cp_rd_init(&r, evil, sizeof(evil));
        TH_CHECK(qs_read(&t, &r, &p) < 0);
        qs_free(&s);
        qs_free(&t);
        buf_free(&b);
}

static void test_agg_bytes(void) {
        qs_params_t p;
        qs_params_init(&p, 0.01);
        agg_t a, b2;
        memset(&a, 0, sizeof(a));
        memset(&b2, 0, sizeof(b2));
        for (int i = 0; i < 1000; i++)
                agg_add(&a, full(), g_mixed(0), i % 17, &p);
        buf_t b = BUF_INIT;
        TH_CHECK(agg_write(&a, full(), &b) == 0);
        cp_rd_t r;
        cp_rd_init(&r, b.data, b.len);
        const char *why = NULL;
        TH_CHECK(agg_read(&b2, full(), &p, AGG_G_ALL, 0, &r, &why) == 0 && r.p == r.end);
        cp_field_stats_t x, y;
        memset(&x, 0, sizeof(x));
        memset(&y, 0, sizeof(y));
        agg_stats(&a, full(), ALL, &p, &x);
        agg_stats(&b2, full(), ALL, &p, &y);
        TH_CHECK(memcmp(&x, &y, sizeof(x)) == 0);
        agg_free(&a, full());
        agg_free(&b2, full());
        buf_free(&b);
}

/* ---------------------------------------------------------------- compact storage */

/* The plain dense sketch's answer, from first principles: each value's
 * bucket (sign, ceil(log_gamma |x|)), the buckets in value order, the one
 * holding rank floor(q (n - 1)), its representative.  The compact sketch
 * must give exactly this (no collapse below max_bins buckets). */
typedef struct {
        int sign;
        int32_t idx;
} bk_t;

static int cmp_bk(const void *a, const void *b) {
        const bk_t *x = a, *y = b;
        if (x->sign != y->sign)
                return x->sign < y->sign ? -1 : 1;
        int32_t u = x->sign < 0 ? -x->idx : x->idx, v = y->sign < 0 ? -y->idx : y->idx;
        return u < v ? -1 : u > v;
}

static double dense_quantile(const double *x, size_t n, const qs_params_t *p, double q) {
        bk_t *b = malloc(n * sizeof(*b));
        for (size_t i = 0; i < n; i++) {
                double m = fabs(x[i]);
                b[i].sign = m < DBL_MIN ? 0 : x[i] > 0 ? 1 : -1;
                b[i].idx = b[i].sign ? (int32_t)ceil(log(m) * p->inv_ln_gamma) : 0;
        }
        qsort(b, n, sizeof(*b), cmp_bk);
        bk_t k = b[(size_t)floor(q * (double)(n - 1))];
        free(b);
        return k.sign == 0 ? 0 : k.sign * 2.0 * pow(p->gamma, (double)k.idx) / (p->gamma + 1.0);
}

static int same_as_dense(const qs_t *s, const double *x, size_t n, const qs_params_t *p,
                         const char *what) {
        for (size_t i = 0; i < sizeof(QS) / sizeof(QS[0]); i++) {
                double got = qs_quantile(s, p, QS[i]), want = dense_quantile(x, n, p, QS[i]);
                if (got != want) {
                        printf("  %s q=%g: %.17g, dense %.17g\n", what, QS[i], got, want);
                        return 0;
                }
        }
        return 1;
}

/* Counts past 255 and 65535 widen the counters; spans past 16 bytes move
 * them to the heap; zeros and negatives go to their own part; merges and
 * the bytes round trip — every answer that of the dense sketch. */
static void test_sketch_compact_vs_dense(void) {
        qs_params_t p;
        qs_params_init(&p, 0.01);
        size_t cap = 200000;
        double *x = malloc(cap * sizeof(double));
        TH_CHECK(sizeof(qs_t) <= 48);
        /* a window of one key: 10 speeds around 70 km/h, inline */
        qs_t s;
        memset(&s, 0, sizeof(s));
        for (size_t i = 0; i < 10; i++) {
                x[i] = 70 + 5 * nrand();
                TH_CHECK(qs_add(&s, &p, x[i]) == 0);
        }
        TH_CHECK(same_as_dense(&s, x, 10, &p, "10 values"));
        TH_CHECK_INT((long long)qs_bytes(&s), 0);
        /* 1000 then 70000 of two values: 2-, then 4-byte counters, still inline */
        size_t n = 10;
        for (size_t i = 0; i < 1000; i++)
                x[n++] = 71;
        for (size_t i = 0; i < 1000; i++)
                TH_CHECK(qs_add(&s, &p, 71) == 0);
        TH_CHECK(same_as_dense(&s, x, n, &p, "2-byte counters"));
        TH_CHECK(s.pos.w == 2);
        for (size_t i = 0; i < 70000; i++) {
                x[n++] = 69.5;
                TH_CHECK(qs_add(&s, &p, 69.5) == 0);
        }
        TH_CHECK(same_as_dense(&s, x, n, &p, "4-byte counters"));
        TH_CHECK(s.pos.w == 4);
        /* a wide span: heap, at most 1.5 x 4 bytes a bucket */
        for (size_t i = 0; i < 5000; i++) {
                x[n] = exp(3 * nrand());
                TH_CHECK(qs_add(&s, &p, x[n++]) == 0);
        }
        TH_CHECK(same_as_dense(&s, x, n, &p, "heap"));
        TH_CHECK(s.pos.heap && qs_bytes(&s) <= (size_t)s.pos.len * 4 * 3 / 2 + 8);
        /* zeros and negatives */
        for (size_t i = 0; i < 3000; i++) {
                x[n] = i % 3 == 0 ? 0 : -exp(2 * nrand());
                TH_CHECK(qs_add(&s, &p, x[n++]) == 0);
        }
        TH_CHECK(same_as_dense(&s, x, n, &p, "signs"));
        /* the bytes round trip */
        buf_t b = BUF_INIT;
        TH_CHECK(qs_write(&s, &b) == 0);
        qs_t t;
        memset(&t, 0, sizeof(t));
        cp_rd_t r;
        cp_rd_init(&r, b.data, b.len);
        TH_CHECK(qs_read(&t, &r, &p) == 0 && r.p == r.end && t.n == n);
        TH_CHECK(same_as_dense(&t, x, n, &p, "read back"));
        /* merges: small inline sketches far apart, into an empty one and into t */
        qs_t m;
        memset(&m, 0, sizeof(m));
        size_t n0 = n;
        for (int k = 0; k < 6; k++) {
                qs_t part;
                memset(&part, 0, sizeof(part));
                for (int i = 0; i < 40; i++) {
                        x[n] = (k % 2 ? -1 : 1) * (1 + (double)i / 100) * pow(10, k - 3);
                        TH_CHECK(qs_add(&part, &p, x[n++]) == 0);
                }
                TH_CHECK(qs_merge(&m, &part, &p) == 0);
                TH_CHECK(qs_merge(&t, &part, &p) == 0);
                qs_free(&part);
        }
        TH_CHECK(same_as_dense(&m, x + n0, n - n0, &p, "merged parts"));
        TH_CHECK(same_as_dense(&t, x, n, &p, "merged into a big one"));
        /* reset keeps working storage; re-filled it answers afresh */
        qs_reset(&t);
        TH_CHECK(isnan(qs_quantile(&t, &p, 0.5)));
        for (size_t i = 0; i < 10; i++)
                TH_CHECK(qs_add(&t, &p, x[i]) == 0);
        TH_CHECK(same_as_dense(&t, x, 10, &p, "after reset"));
        qs_free(&s);
        qs_free(&t);
        qs_free(&m);
        buf_free(&b);
        free(x);
}

/* A few values over three decades: (index, count) pairs, not a dense span;
 * dense again as the span fills; merges and bytes either way — every
 * answer that of the dense sketch. */
static void test_sketch_sparse(void) {
        qs_params_t p;
        qs_params_init(&p, 0.01);
        double x[20000];
        qs_t s, t, u;
        memset(&s, 0, sizeof(s));
        memset(&t, 0, sizeof(t));
        memset(&u, 0, sizeof(u));
        for (size_t i = 0; i < 10; i++) {
                x[i] = pow(10, 3 * urand());
                TH_CHECK(qs_add(&s, &p, x[i]) == 0);
        }
        TH_CHECK(same_as_dense(&s, x, 10, &p, "sparse"));
        TH_CHECK(s.pos.sp);
        TH_CHECK(qs_bytes(&s) <= 10 * 8 * 3 / 2 + 16);
        /* the bytes: a dense span on the wire, sparse again when read */
        buf_t b = BUF_INIT;
        TH_CHECK(qs_write(&s, &b) == 0);
        cp_rd_t r;
        cp_rd_init(&r, b.data, b.len);
        TH_CHECK(qs_read(&t, &r, &p) == 0 && r.p == r.end && t.pos.sp);
        TH_CHECK(same_as_dense(&t, x, 10, &p, "sparse read back"));
        /* a sparse sketch merged into an empty, a dense and a sparse one */
        TH_CHECK(qs_merge(&u, &s, &p) == 0 && u.pos.sp);
        TH_CHECK(same_as_dense(&u, x, 10, &p, "sparse into empty"));
        for (size_t i = 10; i < 20; i++) {
                x[i] = 50 + urand();
                TH_CHECK(qs_add(&t, &p, x[i]) == 0);
        }
        TH_CHECK(qs_merge(&t, &s, &p) == 0);
        double y[30];
        memcpy(y, x, 20 * sizeof(double));
        memcpy(y + 20, x, 10 * sizeof(double));
        TH_CHECK(same_as_dense(&t, y, 30, &p, "sparse into sparse"));
        qs_t d;
        memset(&d, 0, sizeof(d));
        for (size_t i = 0; i < 2000; i++) {
                x[i + 10] = pow(10, 3 * urand());
                TH_CHECK(qs_add(&d, &p, x[i + 10]) == 0);
        }
        TH_CHECK(!d.pos.sp && d.pos.heap);
        TH_CHECK(qs_merge(&d, &s, &p) == 0);
        TH_CHECK(same_as_dense(&d, x, 2010, &p, "sparse into dense"));
        /* filling the span makes s dense again; the answers stay the dense ones */
        for (size_t i = 10; i < 20000; i++) {
                x[i] = pow(10, 3 * urand());
                TH_CHECK(qs_add(&s, &p, x[i]) == 0);
                if (i == 40 || i == 400)
                        TH_CHECK(same_as_dense(&s, x, i + 1, &p, "filling"));
        }
        TH_CHECK(!s.pos.sp);
        TH_CHECK(same_as_dense(&s, x, 20000, &p, "dense again"));
        /* a span of empty buckets (not what qs_write writes, but readable) */
        unsigned char empty[44] = {0, 0, 40, 0}; /* zeros, no negatives, 40 buckets from 0 */
        qs_t e;
        memset(&e, 0, sizeof(e));
        cp_rd_init(&r, empty, sizeof(empty));
        TH_CHECK(qs_read(&e, &r, &p) == 0 && r.p == r.end && e.n == 0);
        TH_CHECK(isnan(qs_quantile(&e, &p, 0.5)));
        double three = 3;
        TH_CHECK(qs_add(&e, &p, 3) == 0 &&
                 qs_quantile(&e, &p, 0.5) == dense_quantile(&three, 1, &p, 0.5));
        qs_free(&e);
        /* reset drops the sparse array */
        qs_reset(&u);
        TH_CHECK(!u.pos.sp && qs_bytes(&u) == 0 && isnan(qs_quantile(&u, &p, 0.5)));
        qs_free(&s);
        qs_free(&t);
        qs_free(&u);
        qs_free(&d);
        buf_free(&b);
}

/* A layout shaped by the ops answers those ops exactly as the full one,
 * takes only what they need, and reads full-layout and format-1 bytes. */
static void test_agg_layouts(void) {
        static const unsigned sets[] = {
                SPEC_OP_BIT(SPEC_OP_COUNT),
                SPEC_OP_BIT(SPEC_OP_MEAN),
                SPEC_OP_BIT(SPEC_OP_SUM),
                SPEC_OP_BIT(SPEC_OP_MIN),
                SPEC_OP_BIT(SPEC_OP_MAX) | SPEC_OP_BIT(SPEC_OP_LAST),
                SPEC_OP_BIT(SPEC_OP_FIRST),
                SPEC_OP_BIT(SPEC_OP_VARIANCE),
                SPEC_OP_BIT(SPEC_OP_P50) | SPEC_OP_BIT(SPEC_OP_SUM),
                SPEC_OP_BIT(SPEC_OP_COUNT) | SPEC_OP_BIT(SPEC_OP_MEAN) |
                        SPEC_OP_BIT(SPEC_OP_STDDEV) | SPEC_OP_BIT(SPEC_OP_P99),
                (1u << SPEC_OP__COUNT) - 1,
        };
        qs_params_t p;
        qs_params_init(&p, 0.01);
        for (size_t si = 0; si < sizeof(sets) / sizeof(sets[0]); si++) {
                unsigned ops = sets[si];
                agg_lay_t L;
                agg_lay_init(&L, agg_groups(ops));
                TH_CHECK(L.size <= full()->size && L.size % 8 == 0);
                agg_t a, f, back, v1b;
                memset(&a, 0, sizeof(a));
                memset(&f, 0, sizeof(f));
                memset(&back, 0, sizeof(back));
                memset(&v1b, 0, sizeof(v1b));
                for (int i = 0; i < 500; i++) {
                        double x = g_mixed((size_t)i);
                        int64_t ts = (int64_t)(urand() * 100);
                        agg_add(&a, &L, x, ts, &p);
                        agg_add(&f, full(), x, ts, &p);
                }
                cp_field_stats_t x, y;
                memset(&x, 0, sizeof(x));
                memset(&y, 0, sizeof(y));
                agg_stats(&a, &L, ops, &p, &x);
                agg_stats(&f, full(), ops, &p, &y);
                TH_CHECK(memcmp(&x, &y, sizeof(x)) == 0);
                /* its own bytes; the full layout's bytes (groups dropped) */
                buf_t b = BUF_INIT, bf = BUF_INIT, b1 = BUF_INIT;
                TH_CHECK(agg_write(&a, &L, &b) == 0 && agg_write(&f, full(), &bf) == 0);
                TH_CHECK(b.len <= bf.len);
                const char *why = NULL;
                cp_rd_t r;
                cp_rd_init(&r, b.data, b.len);
                TH_CHECK(agg_read(&back, &L, &p, L.groups, 0, &r, &why) == 0 && r.p == r.end);
                agg_stats(&back, &L, ops, &p, &y);
                TH_CHECK(memcmp(&x, &y, sizeof(x)) == 0);
                agg_free(&back, &L);
                cp_rd_init(&r, bf.data, bf.len);
                TH_CHECK(agg_read(&back, &L, &p, AGG_G_ALL, 0, &r, &why) == 0 && r.p == r.end);
                agg_stats(&back, &L, ops, &p, &y);
                TH_CHECK(memcmp(&x, &y, sizeof(x)) == 0);
                /* format 1: n, sum, sum_c, min, max, shift, mean, m2, first, last,
                 * first_ts, last_ts, sketch — from the full layout's format 2
                 * (n, shift, mean, m2, sum, sum_c, min, max, first, last, ...) */
                cp_rd_init(&r, bf.data, bf.len);
                uint64_t n = cp_r_uvar(&r);
                double d[9];
                for (int i = 0; i < 9; i++)
                        d[i] = cp_r_f64(&r);
                cp_w_uvar(&b1, n);
                const int order[] = {3, 4, 5, 6, 0, 1, 2, 7, 8};
                for (int i = 0; i < 9; i++)
                        cp_w_f64(&b1, d[order[i]]);
                buf_append(&b1, r.p, (size_t)(r.end - r.p));
                cp_rd_init(&r, b1.data, b1.len);
                TH_CHECK(agg_read(&v1b, &L, &p, AGG_G_ALL, 1, &r, &why) == 0 && r.p == r.end);
                agg_stats(&v1b, &L, ops, &p, &y);
                TH_CHECK(memcmp(&x, &y, sizeof(x)) == 0);
                /* bytes without a group the layout needs: refused */
                if (L.groups) {
                        agg_lay_t none;
                        agg_lay_init(&none, 0);
                        buf_t bn = BUF_INIT;
                        TH_CHECK(agg_write(&a, &none, &bn) == 0);
                        cp_rd_init(&r, bn.data, bn.len);
                        why = NULL;
                        TH_CHECK(agg_read(&back, &L, &p, 0, 0, &r, &why) < 0 && why);
                        buf_free(&bn);
                }
                agg_free(&a, &L);
                agg_free(&f, full());
                agg_free(&back, &L);
                agg_free(&v1b, &L);
                buf_free(&b);
                buf_free(&bf);
                buf_free(&b1);
        }
        /* the bench-compute set: count + mean + M2 + the sketch header */
        agg_lay_t L;
        agg_lay_init(&L, agg_groups(SPEC_OP_BIT(SPEC_OP_COUNT) | SPEC_OP_BIT(SPEC_OP_MEAN) |
                                    SPEC_OP_BIT(SPEC_OP_STDDEV) | SPEC_OP_BIT(SPEC_OP_P99)));
        TH_CHECK_INT(L.size, 80);
}

TH_MAIN("compute_agg", TH_T(test_agg_vs_two_pass), TH_T(test_agg_merge),
        TH_T(test_agg_empty_and_single), TH_T(test_sketch_bound), TH_T(test_sketch_merge),
        TH_T(test_sketch_collapse), TH_T(test_sketch_bytes), TH_T(test_agg_bytes),
        TH_T(test_sketch_compact_vs_dense), TH_T(test_sketch_sparse), TH_T(test_agg_layouts))
