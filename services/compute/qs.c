/* qs — DDSketch-style quantile sketch; the accuracy bound and the storage
 * are described in qs.h. */
#include "qs.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Bucket indexes stay within +-2^30 so that index arithmetic cannot
 * overflow; for alpha >= 1e-6 that covers every normal double. */
#define QS_IDX_LIM (1 << 30)

struct qs_ext_s {
        uint64_t zero;
        qs_store_t neg;
};

void qs_params_init(qs_params_t *p, double alpha) {
        p->alpha = alpha;
        p->gamma = (1 + alpha) / (1 - alpha);
        p->inv_ln_gamma = 1.0 / log(p->gamma);
        double bins = ceil(log(1e12) * p->inv_ln_gamma);
        p->max_bins = bins < QS_MIN_BINS   ? QS_MIN_BINS
                      : bins > QS_MAX_BINS ? QS_MAX_BINS
                                           : (uint32_t)bins;
}

/* A sparse store's entries, by bucket index. */
typedef struct {
        int32_t i;
        uint32_t c;
} qs_pair_t;

static void store_free(qs_store_t *st);

/* Empty, keeping dense storage for reuse (a sparse array is freed: the
 * next values may well be dense). */
static void store_empty(qs_store_t *st) {
        if (st->sp)
                store_free(st);
        st->len = 0;
        st->w = 0;
}

static void store_free(qs_store_t *st) {
        if (st->heap)
                free(st->c.p);
        memset(st, 0, sizeof(*st));
}

void qs_reset(qs_t *s) {
        store_empty(&s->pos);
        if (s->ext) {
                s->ext->zero = 0;
                store_empty(&s->ext->neg);
        }
        s->n = 0;
}

void qs_free(qs_t *s) {
        store_free(&s->pos);
        if (s->ext) {
                store_free(&s->ext->neg);
                free(s->ext);
        }
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

/* ---------------------------------------------------------------- counters */

static uint32_t st_w(const qs_store_t *st) {
        return st->w ? st->w : 1;
}

static unsigned char *st_c(qs_store_t *st) {
        return st->heap ? st->c.p : st->c.in;
}

static const unsigned char *st_cc(const qs_store_t *st) {
        return st->heap ? st->c.p : st->c.in;
}

static size_t st_capb(const qs_store_t *st) {
        return st->heap ? st->capb : QS_INL;
}

static uint32_t get_at(const unsigned char *c, uint32_t w, uint32_t k) {
        if (w == 1)
                return c[k];
        if (w == 2) {
                uint16_t v;
                memcpy(&v, c + (size_t)k * 2, sizeof(v));
                return v;
        }
        uint32_t v;
        memcpy(&v, c + (size_t)k * 4, sizeof(v));
        return v;
}

static void put_at(unsigned char *c, uint32_t w, uint32_t k, uint32_t v) {
        if (w == 1) {
                c[k] = (unsigned char)v;
        } else if (w == 2) {
                uint16_t x = (uint16_t)v;
                memcpy(c + (size_t)k * 2, &x, sizeof(x));
        } else {
                memcpy(c + (size_t)k * 4, &v, sizeof(v));
        }
}

static uint32_t get(const qs_store_t *st, uint32_t k) {
        return get_at(st_cc(st), st_w(st), k);
}

static uint32_t width_for(uint64_t v) {
        return v <= UINT8_MAX ? 1 : v <= UINT16_MAX ? 2 : 4;
}

static uint32_t sat(uint64_t v) {
        return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Makes st cover [lo, hi] (hi >= its current top, hi - lo < maxb, lo <=
 * its current bottom unless the buckets below lo collapse into lo) with
 * counters of at least w bytes.  Same width and room enough: in place;
 * otherwise into new storage (inline when it fits), so a record costs an
 * allocation only when its window's span or counts outgrow the storage,
 * which grows by half each time.  Returns 0 or -1 (out of memory, st
 * unchanged). */
static int store_reshape(qs_store_t *st, int32_t lo, int32_t hi, uint32_t w) {
        uint32_t need = (uint32_t)(hi - lo + 1);
        uint32_t ow = st_w(st);
        if (st->len == 0) {
                st->off = lo;
                st->w = 0;
                ow = 1;
        }
        /* what lands in bucket lo when lower ones collapse */
        uint64_t low = 0;
        uint32_t drop = 0;
        if (st->len && lo > st->off) {
                drop = (uint32_t)(lo - st->off);
                for (uint32_t k = 0; k <= drop && k < st->len; k++)
                        low += get(st, k);
                if (width_for(sat(low)) > w)
                        w = width_for(sat(low));
        }
        if (w < ow)
                w = ow;
        size_t nb = (size_t)need * w;
        if (w == ow && nb <= st_capb(st)) {
                unsigned char *c = st_c(st);
                if (drop) {
                        if (drop < st->len) {
                                memmove(c, c + (size_t)drop * w, (size_t)(st->len - drop) * w);
                                st->len -= drop;
                        } else {
                                st->len = 1;
                        }
                        put_at(c, w, 0, sat(low));
                        st->off = lo;
                } else if (st->len && lo < st->off) {
                        uint32_t shift = (uint32_t)(st->off - lo);
                        memmove(c + (size_t)shift * w, c, (size_t)st->len * w);
                        memset(c, 0, (size_t)shift * w);
                        st->len += shift;
                        st->off = lo;
                }
                if (need > st->len)
                        memset(c + (size_t)st->len * w, 0, (size_t)(need - st->len) * w);
                st->len = need;
                st->w = (uint8_t)w;
                return 0;
        }
        /* new storage: inline when it fits, else a heap array with room
         * to grow by half */
        unsigned char tmp[QS_INL];
        unsigned char *dst = tmp;
        size_t capb = 0;
        if (nb > QS_INL) {
                capb = nb + nb / 2;
                dst = malloc(capb);
                if (!dst)
                        return -1;
        }
        memset(dst, 0, nb);
        const unsigned char *src = st_cc(st);
        for (uint32_t k = 0; k < st->len; k++) {
                int64_t i = (int64_t)st->off + k;
                uint32_t j = i < lo ? 0 : (uint32_t)(i - lo);
                put_at(dst, w, j, sat((uint64_t)get_at(dst, w, j) + get_at(src, ow, k)));
        }
        if (st->heap)
                free(st->c.p);
        if (dst == tmp) {
                st->heap = 0;
                st->capb = 0;
                memcpy(st->c.in, tmp, QS_INL);
        } else {
                st->heap = 1;
                st->capb = (uint32_t)capb;
                st->c.p = dst;
        }
        st->off = lo;
        st->len = need;
        st->w = (uint8_t)w;
        return 0;
}

/* Makes st (dense) cover [lo, hi], collapsing the lowest buckets beyond maxb. */
static int store_cover(qs_store_t *st, int32_t lo, int32_t hi, uint32_t maxb) {
        if (st->len) {
                int32_t top = st->off + (int32_t)st->len - 1;
                if (hi < top)
                        hi = top;
                if (lo > st->off)
                        lo = st->off;
                if (lo == st->off && hi == top)
                        return 0;
        }
        if ((int64_t)hi - lo + 1 > (int64_t)maxb)
                lo = hi - (int32_t)maxb + 1;
        return store_reshape(st, lo, hi, st_w(st));
}

static int dense_add(qs_store_t *st, int32_t i, uint64_t c, uint32_t maxb) {
        if (st->len == 0 || i < st->off || i >= st->off + (int32_t)st->len)
                if (store_cover(st, i, i, maxb) < 0)
                        return -1;
        if (i < st->off) /* collapsed */
                i = st->off;
        uint32_t k = (uint32_t)(i - st->off), w = st_w(st);
        uint32_t v = sat((uint64_t)get(st, k) + c);
        if (width_for(v) > w) {
                if (store_reshape(st, st->off, st->off + (int32_t)st->len - 1, width_for(v)) < 0)
                        return -1;
                w = st_w(st);
        }
        put_at(st_c(st), w, k, v);
        return 0;
}

/* ---------------------------------------------------------------- sparse
 * A few values spread over many buckets (latencies over three decades: 10
 * values, ~350 buckets at alpha = 0.01) cost more as a dense span, even at
 * a byte a bucket, than as (index, count) pairs at 8 bytes each.  A store
 * whose dense span outgrows the inline bytes becomes sparse when the pairs
 * take at most half the span's bytes, and dense again once they would take
 * more than the span (or the span needs collapsing).  Same buckets and
 * counts either way: only the bytes differ. */

static const qs_pair_t *sp_e(const qs_store_t *st) {
        return (const qs_pair_t *)(const void *)st->c.p;
}

/* Entry k's bucket index and count, dense or sparse. */
static int32_t st_idx(const qs_store_t *st, uint32_t k) {
        return st->sp ? sp_e(st)[k].i : st->off + (int32_t)k;
}

static uint32_t st_cnt(const qs_store_t *st, uint32_t k) {
        return st->sp ? sp_e(st)[k].c : get(st, k);
}

static uint32_t dense_nonzero(const qs_store_t *st) {
        uint32_t n = 0;
        for (uint32_t k = 0; k < st->len; k++)
                n += get(st, k) != 0;
        return n;
}

/* Dense -> sparse; 0 or -1 (out of memory, st unchanged). */
static int to_sparse(qs_store_t *st, uint32_t room) {
        uint32_t n = dense_nonzero(st);
        size_t capb = (size_t)(n + room + (n + room == 0)) * sizeof(qs_pair_t);
        qs_pair_t *e = malloc(capb);
        if (!e)
                return -1;
        uint32_t j = 0;
        for (uint32_t k = 0; k < st->len; k++) {
                uint32_t c = get(st, k);
                if (c)
                        e[j++] = (qs_pair_t){st->off + (int32_t)k, c};
        }
        if (st->heap)
                free(st->c.p);
        st->c.p = (unsigned char *)e;
        st->capb = (uint32_t)capb;
        st->heap = 1;
        st->sp = 1;
        st->w = 0;
        st->len = n;
        st->off = n ? e[0].i : 0;
        return 0;
}

/* Sparse -> dense (collapsing beyond maxb as the dense store does); 0 or -1. */
static int to_dense(qs_store_t *st, uint32_t maxb) {
        qs_store_t d;
        memset(&d, 0, sizeof(d));
        const qs_pair_t *e = sp_e(st);
        if (st->len && store_cover(&d, e[0].i, e[st->len - 1].i, maxb) < 0)
                return -1;
        for (uint32_t k = 0; k < st->len; k++)
                if (dense_add(&d, e[k].i, e[k].c, maxb) < 0) {
                        store_free(&d);
                        return -1;
                }
        free(st->c.p);
        *st = d;
        return 0;
}

/* Would bucket i make the dense store outgrow its storage, with pairs at
 * most half the new span's bytes?  Asked only when the storage must grow
 * anyway (so the count of non-empty buckets is paid for by the copy). */
static int better_sparse(const qs_store_t *st, int32_t i) {
        if (st->sp || st->len == 0)
                return 0;
        int32_t top = st->off + (int32_t)st->len - 1;
        int64_t lo = i < st->off ? i : st->off, hi = i > top ? i : top;
        uint64_t n = (uint64_t)(hi - lo + 1), span = n * st_w(st);
        if (span <= st_capb(st))
                return 0;
        /* and not dense again at once (sparse_add's rule) */
        uint64_t pairs = (uint64_t)(dense_nonzero(st) + 1) * sizeof(qs_pair_t);
        return pairs * 2 <= span && pairs <= n;
}

static int sparse_add(qs_store_t *st, int32_t i, uint64_t c, uint32_t maxb) {
        qs_pair_t *e = (qs_pair_t *)(void *)st->c.p;
        uint32_t lo = 0, hi = st->len;
        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (e[mid].i < i)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < st->len && e[lo].i == i) {
                e[lo].c = sat((uint64_t)e[lo].c + c);
                return 0;
        }
        if (st->len) {
                int64_t b = i < e[0].i ? i : e[0].i,
                        t = i > e[st->len - 1].i ? i : e[st->len - 1].i;
                uint64_t span = (uint64_t)(t - b + 1);
                /* dense again once the pairs would outweigh the span at one
                 * byte a bucket, or the span needs collapsing */
                if (span > maxb || (uint64_t)(st->len + 1) * sizeof(qs_pair_t) > span) {
                        if (to_dense(st, maxb) < 0)
                                return -1;
                        return dense_add(st, i, c, maxb);
                }
        }
        if ((size_t)(st->len + 1) * sizeof(qs_pair_t) > st->capb) {
                size_t n = st->capb / sizeof(qs_pair_t);
                n += n / 2;
                if (n < (size_t)st->len + 1)
                        n = (size_t)st->len + 1;
                size_t capb = n * sizeof(qs_pair_t);
                qs_pair_t *ne = realloc(e, capb);
                if (!ne)
                        return -1;
                e = ne;
                st->c.p = (unsigned char *)ne;
                st->capb = (uint32_t)capb;
        }
        memmove(e + lo + 1, e + lo, (size_t)(st->len - lo) * sizeof(*e));
        e[lo] = (qs_pair_t){i, sat(c)};
        st->len++;
        st->off = e[0].i;
        return 0;
}

static int store_add(qs_store_t *st, int32_t i, uint64_t c, uint32_t maxb) {
        if (st->sp)
                return sparse_add(st, i, c, maxb);
        if ((i < st->off || i >= st->off + (int32_t)st->len) && better_sparse(st, i)) {
                if (to_sparse(st, 2) < 0)
                        return -1;
                return sparse_add(st, i, c, maxb);
        }
        return dense_add(st, i, c, maxb);
}

static qs_ext_t *ext_get(qs_t *s) {
        if (!s->ext)
                s->ext = calloc(1, sizeof(*s->ext));
        return s->ext;
}

int qs_add(qs_t *s, const qs_params_t *p, double x) {
        double mag = fabs(x);
        if (x > 0 && mag >= DBL_MIN) {
                if (store_add(&s->pos, qs_index(p, mag), 1, p->max_bins) < 0)
                        return -1;
        } else {
                qs_ext_t *ext = ext_get(s);
                if (!ext)
                        return -1;
                if (!(mag >= DBL_MIN)) /* zero, subnormal, NaN */
                        ext->zero++;
                else if (store_add(&ext->neg, qs_index(p, mag), 1, p->max_bins) < 0)
                        return -1;
        }
        s->n++;
        return 0;
}

static int store_merge(qs_store_t *d, const qs_store_t *src, uint32_t maxb) {
        if (src->len == 0)
                return 0;
        if (!d->sp && !src->sp && (d->heap || d->len == 0)) { /* dense into dense: one reshape */
                int32_t top = src->off + (int32_t)src->len - 1;
                if (store_cover(d, src->off, top, maxb) < 0)
                        return -1;
        }
        for (uint32_t k = 0; k < src->len; k++) {
                uint32_t c = st_cnt(src, k);
                if (c && store_add(d, st_idx(src, k), c, maxb) < 0)
                        return -1;
        }
        return 0;
}

int qs_merge(qs_t *dst, const qs_t *src, const qs_params_t *p) {
        if (store_merge(&dst->pos, &src->pos, p->max_bins) < 0)
                return -1;
        if (src->ext && (src->ext->zero || src->ext->neg.len)) {
                qs_ext_t *ext = ext_get(dst);
                if (!ext || store_merge(&ext->neg, &src->ext->neg, p->max_bins) < 0)
                        return -1;
                ext->zero += src->ext->zero;
        }
        dst->n += src->n;
        return 0;
}

static double qs_value(const qs_params_t *p, int32_t i) {
        return 2.0 * pow(p->gamma, (double)i) / (p->gamma + 1.0);
}

static const qs_store_t no_store;

double qs_quantile(const qs_t *s, const qs_params_t *p, double q) {
        if (s->n == 0)
                return NAN;
        if (q < 0)
                q = 0;
        if (q > 1)
                q = 1;
        const qs_store_t *neg = s->ext ? &s->ext->neg : &no_store, *pos = &s->pos;
        uint64_t zero = s->ext ? s->ext->zero : 0;
        double rank = floor(q * (double)(s->n - 1));
        double cum = 0;
        for (uint32_t k = neg->len; k-- > 0;) {
                cum += st_cnt(neg, k);
                if (cum > rank)
                        return -qs_value(p, st_idx(neg, k));
        }
        cum += (double)zero;
        if (cum > rank)
                return 0;
        for (uint32_t k = 0; k < pos->len; k++) {
                cum += st_cnt(pos, k);
                if (cum > rank)
                        return qs_value(p, st_idx(pos, k));
        }
        /* only after saturation: the largest bucket */
        if (pos->len)
                return qs_value(p, st_idx(pos, pos->len - 1));
        if (zero)
                return 0;
        return neg->len ? -qs_value(p, st_idx(neg, 0)) : NAN;
}

size_t qs_bytes(const qs_t *s) {
        size_t b = s->pos.heap ? s->pos.capb : 0;
        if (s->ext)
                b += sizeof(*s->ext) + (s->ext->neg.heap ? s->ext->neg.capb : 0);
        return b;
}

/* ---------------------------------------------------------------- bytes */

static int store_write(const qs_store_t *st, buf_t *b) {
        /* the dense span, trimmed of empty buckets at both ends so the bytes
         * are canonical whichever form the store is in */
        uint32_t lo = 0, hi = st->len;
        while (lo < hi && st_cnt(st, lo) == 0)
                lo++;
        while (hi > lo && st_cnt(st, hi - 1) == 0)
                hi--;
        if (hi == lo)
                return cp_w_uvar(b, 0);
        int32_t first = st_idx(st, lo), last = st_idx(st, hi - 1);
        if (cp_w_uvar(b, (uint64_t)((int64_t)last - first + 1)) < 0 || cp_w_svar(b, first) < 0)
                return -1;
        int32_t i = first;
        for (uint32_t k = lo; k < hi; k++) {
                for (; i < st_idx(st, k); i++) /* a sparse store's gaps */
                        if (cp_w_uvar(b, 0) < 0)
                                return -1;
                if (cp_w_uvar(b, st_cnt(st, k)) < 0)
                        return -1;
                i++;
        }
        return 0;
}

int qs_write(const qs_t *s, buf_t *b) {
        if (cp_w_uvar(b, s->ext ? s->ext->zero : 0) < 0 ||
            store_write(s->ext ? &s->ext->neg : &no_store, b) < 0 || store_write(&s->pos, b) < 0)
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
                if (c && store_add(st, (int32_t)(off + (int64_t)k), c, maxb) < 0) {
                        r->err = 1;
                        return -1;
                }
                *n += c;
        }
        /* read as a dense span: sparse when that is smaller, as when added */
        if (st->heap && !st->sp &&
            (uint64_t)dense_nonzero(st) * sizeof(qs_pair_t) * 2 <= (uint64_t)st->len * st_w(st) &&
            to_sparse(st, 0) < 0) {
                r->err = 1;
                return -1;
        }
        return 0;
}

int qs_read(qs_t *s, cp_rd_t *r, const qs_params_t *p) {
        qs_reset(s);
        uint64_t zero = cp_r_uvar(r);
        if (r->err || zero > (UINT64_MAX >> 2))
                goto bad;
        uint64_t n = zero;
        /* the negative part only when there is one: peek at its length */
        cp_rd_t peek = *r;
        size_t nneg = cp_r_count(&peek, p->max_bins, 1);
        qs_ext_t *ext = NULL;
        if (zero || nneg) {
                ext = ext_get(s);
                if (!ext)
                        goto bad;
                ext->zero = zero;
                if (store_read(&ext->neg, r, &n, p->max_bins) < 0)
                        goto bad;
        } else if (store_read(&(qs_store_t){0}, r, &n, p->max_bins) < 0) {
                goto bad;
        }
        if (store_read(&s->pos, r, &n, p->max_bins) < 0)
                goto bad;
        s->n = n;
        return 0;
bad:
        r->err = 1;
        qs_reset(s);
        return -1;
}
