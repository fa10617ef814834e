/* qs — DDSketch-style quantile sketch; the accuracy bound is stated in qs.h. */
#include "qs.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Bucket indexes stay within +-2^30 so that index arithmetic cannot
 * overflow; for alpha >= 1e-6 that covers every normal double. */
#define QS_IDX_LIM (1 << 30)

void qs_params_init(qs_params_t *p, double alpha) {
        p->alpha = alpha;
        p->gamma = (1 + alpha) / (1 - alpha);
        p->inv_ln_gamma = 1.0 / log(p->gamma);
        double bins = ceil(log(1e12) * p->inv_ln_gamma);
        p->max_bins = bins < QS_MIN_BINS   ? QS_MIN_BINS
                      : bins > QS_MAX_BINS ? QS_MAX_BINS
                                           : (uint32_t)bins;
}

void qs_reset(qs_t *s) {
        s->pos.len = s->neg.len = 0;
        s->zero = s->n = 0;
}

void qs_free(qs_t *s) {
        free(s->pos.bins);
        free(s->neg.bins);
        memset(s, 0, sizeof(*s));
}

static int32_t qs_index(const qs_params_t *p, double mag) {
        double i = ceil(log(mag) * p->inv_ln_gamma);
        if (!(i > -QS_IDX_LIM)) /* also NaN */
                return -QS_IDX_LIM;
        if (i > QS_IDX_LIM)
                return QS_IDX_LIM;
        return (int32_t)i;
}

static uint32_t sat_add(uint32_t a, uint64_t b) {
        uint64_t s = (uint64_t)a + b;
        return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* Makes the store cover [lo, hi] (hi >= its current top), collapsing the
 * lowest buckets when that would exceed maxb.  Returns 0 or -1. */
static int store_cover(qs_store_t *st, int32_t lo, int32_t hi, uint32_t maxb) {
        if (st->len == 0) {
                if ((int64_t)hi - lo + 1 > (int64_t)maxb)
                        lo = hi - (int32_t)maxb + 1;
                uint32_t need = (uint32_t)(hi - lo + 1);
                if (st->cap < need) {
                        uint32_t cap = need < 8 ? 8 : need;
                        uint32_t *nb = realloc(st->bins, cap * sizeof(*nb));
                        if (!nb)
                                return -1;
                        st->bins = nb;
                        st->cap = cap;
                }
                memset(st->bins, 0, need * sizeof(*st->bins));
                st->off = lo;
                st->len = need;
                return 0;
        }
        int32_t top = st->off + (int32_t)st->len - 1;
        if (hi < top)
                hi = top;
        if (lo > st->off)
                lo = st->off;
        if ((int64_t)hi - lo + 1 > (int64_t)maxb)
                lo = hi - (int32_t)maxb + 1;
        /* collapse buckets below lo into lo */
        if (lo > st->off) {
                uint32_t drop = (uint32_t)(lo - st->off);
                uint64_t sum = 0;
                for (uint32_t i = 0; i < drop && i < st->len; i++)
                        sum += st->bins[i];
                if (drop < st->len) {
                        memmove(st->bins, st->bins + drop, (st->len - drop) * sizeof(*st->bins));
                        st->len -= drop;
                } else {
                        st->len = 1;
                        st->bins[0] = 0;
                }
                st->off = lo;
                st->bins[0] = sat_add(st->bins[0], sum);
        }
        uint32_t need = (uint32_t)(hi - lo + 1);
        if (st->cap < need) {
                uint32_t cap = st->cap + st->cap / 2;
                if (cap < need)
                        cap = need;
                if (cap > maxb)
                        cap = maxb;
                uint32_t *nb = realloc(st->bins, cap * sizeof(*nb));
                if (!nb)
                        return -1;
                st->bins = nb;
                st->cap = cap;
        }
        uint32_t shift = (uint32_t)(st->off - lo);
        if (shift) {
                memmove(st->bins + shift, st->bins, st->len * sizeof(*st->bins));
                memset(st->bins, 0, shift * sizeof(*st->bins));
        }
        uint32_t newlen = need;
        if (newlen > st->len + shift)
                memset(st->bins + st->len + shift, 0,
                       (newlen - st->len - shift) * sizeof(*st->bins));
        st->off = lo;
        st->len = newlen;
        return 0;
}

static int store_add(qs_store_t *st, int32_t i, uint64_t c, uint32_t maxb) {
        if (st->len == 0 || i < st->off || i >= st->off + (int32_t)st->len)
                if (store_cover(st, i, i, maxb) < 0)
                        return -1;
        if (i < st->off) /* collapsed */
                i = st->off;
        st->bins[i - st->off] = sat_add(st->bins[i - st->off], c);
        return 0;
}

int qs_add(qs_t *s, const qs_params_t *p, double x) {
        double mag = fabs(x);
        if (!(mag >= DBL_MIN)) { /* zero, subnormal, NaN */
                s->zero++;
        } else if (store_add(x > 0 ? &s->pos : &s->neg, qs_index(p, mag), 1, p->max_bins) < 0) {
                return -1;
        }
        s->n++;
        return 0;
}

static int store_merge(qs_store_t *d, const qs_store_t *src, uint32_t maxb) {
        if (src->len == 0)
                return 0;
        int32_t top = src->off + (int32_t)src->len - 1;
        if (store_cover(d, src->off, top, maxb) < 0)
                return -1;
        for (uint32_t k = 0; k < src->len; k++) {
                int32_t i = src->off + (int32_t)k;
                if (i < d->off)
                        i = d->off;
                d->bins[i - d->off] = sat_add(d->bins[i - d->off], src->bins[k]);
        }
        return 0;
}

int qs_merge(qs_t *dst, const qs_t *src, const qs_params_t *p) {
        if (store_merge(&dst->pos, &src->pos, p->max_bins) < 0 ||
            store_merge(&dst->neg, &src->neg, p->max_bins) < 0)
                return -1;
        dst->zero += src->zero;
        dst->n += src->n;
        return 0;
}

static double qs_value(const qs_params_t *p, int32_t i) {
        return 2.0 * pow(p->gamma, (double)i) / (p->gamma + 1.0);
}

double qs_quantile(const qs_t *s, const qs_params_t *p, double q) {
        if (s->n == 0)
                return NAN;
        if (q < 0)
                q = 0;
        if (q > 1)
                q = 1;
        double rank = floor(q * (double)(s->n - 1));
        double cum = 0;
        for (uint32_t k = s->neg.len; k-- > 0;) {
                cum += s->neg.bins[k];
                if (cum > rank)
                        return -qs_value(p, s->neg.off + (int32_t)k);
        }
        cum += (double)s->zero;
        if (cum > rank)
                return 0;
        for (uint32_t k = 0; k < s->pos.len; k++) {
                cum += s->pos.bins[k];
                if (cum > rank)
                        return qs_value(p, s->pos.off + (int32_t)k);
        }
        /* only after saturation: the largest bucket */
        if (s->pos.len)
                return qs_value(p, s->pos.off + (int32_t)s->pos.len - 1);
        if (s->zero)
                return 0;
        return s->neg.len ? -qs_value(p, s->neg.off) : NAN;
}

size_t qs_bytes(const qs_t *s) {
        return ((size_t)s->pos.cap + s->neg.cap) * sizeof(uint32_t);
}

static int store_write(const qs_store_t *st, buf_t *b) {
        /* trim empty buckets at both ends so the bytes are canonical */
        uint32_t lo = 0, hi = st->len;
        while (lo < hi && st->bins[lo] == 0)
                lo++;
        while (hi > lo && st->bins[hi - 1] == 0)
                hi--;
        if (cp_w_uvar(b, hi - lo) < 0)
                return -1;
        if (hi == lo)
                return 0;
        if (cp_w_svar(b, st->off + (int32_t)lo) < 0)
                return -1;
        for (uint32_t k = lo; k < hi; k++)
                if (cp_w_uvar(b, st->bins[k]) < 0)
                        return -1;
        return 0;
}

int qs_write(const qs_t *s, buf_t *b) {
        if (cp_w_uvar(b, s->zero) < 0 || store_write(&s->neg, b) < 0 || store_write(&s->pos, b) < 0)
                return -1;
        return 0;
}

static int store_read(qs_store_t *st, cp_rd_t *r, uint64_t *n, uint32_t maxb) {
        size_t len = cp_r_count(r, maxb, 1);
        if (r->err || len == 0)
                return r->err ? -1 : 0;
        int64_t off = cp_r_svar(r);
        if (r->err || off < -QS_IDX_LIM || off + (int64_t)len - 1 > QS_IDX_LIM) {
                r->err = 1;
                return -1;
        }
        if (store_cover(st, (int32_t)off, (int32_t)(off + (int64_t)len - 1), maxb) < 0) {
                r->err = 1;
                return -1;
        }
        for (size_t k = 0; k < len; k++) {
                uint64_t c = cp_r_uvar(r);
                if (r->err || c > UINT32_MAX) {
                        r->err = 1;
                        return -1;
                }
                st->bins[k] = (uint32_t)c;
                *n += c;
        }
        return 0;
}

int qs_read(qs_t *s, cp_rd_t *r, const qs_params_t *p) {
        qs_reset(s);
        s->zero = cp_r_uvar(r);
        if (r->err || s->zero > (UINT64_MAX >> 2))
                goto bad;
        uint64_t n = s->zero;
        if (store_read(&s->neg, r, &n, p->max_bins) < 0 ||
            store_read(&s->pos, r, &n, p->max_bins) < 0)
                goto bad;
        s->n = n;
        return 0;
bad:
        r->err = 1;
        qs_reset(s);
        return -1;
}
