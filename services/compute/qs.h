/* qs — a DDSketch-style quantile sketch (Masson, Rim, Lee, VLDB 2019):
 * logarithmic buckets with a relative-accuracy guarantee, mergeable, with a
 * bounded number of buckets.
 *
 * With accuracy alpha, gamma = (1 + alpha) / (1 - alpha); a value x > 0 goes
 * to bucket i = ceil(log_gamma(x)), covering (gamma^(i-1), gamma^i], whose
 * representative 2 gamma^i / (gamma + 1) is within alpha * x of every x in
 * it.  Negative values use a mirrored store; |x| below DBL_MIN counts as 0.
 *
 * Bound: for n values sorted x_0 <= ... <= x_{n-1}, qs_quantile(q) returns v
 * with |v - x_k| <= alpha * |x_k|, k = floor(q * (n - 1)) — as long as x_k is
 * in one of the max_bins highest buckets of its sign's store.  Beyond that
 * many buckets the lowest ones are collapsed into one (memory stays
 * bounded: at most 4 bytes a bucket), which only affects values whose magnitude is
 * below gamma^-max_bins times the largest of that sign.  max_bins is
 * ceil(ln(10^12) / ln(gamma)) clamped to [2048, 65536]: alpha = 0.01 keeps
 * 2048 buckets, covering 17 orders of magnitude; alpha = 0.001 keeps 13816,
 * covering 12; below alpha = 2.1e-4 the 65536 cap covers fewer.
 * Merging two sketches with the same alpha gives exactly the sketch of the
 * union, so the bound holds for merged sketches too.
 *
 * Bucket counts saturate at 2^32 - 1 (4e9 records in one bucket of one
 * window).
 *
 * Storage is compact: a store's counters cover the contiguous span of
 * buckets between its lowest and highest, 1 byte each while every count is
 * below 256, widened to 2 and then 4 bytes only when a count needs it; the
 * first QS_INL bytes of counters live inside the qs_t itself, so a sketch of
 * a few dozen values close together (a window of one key: ~10-20 buckets at
 * alpha = 0.01) allocates nothing.  A few values spread over many buckets
 * are kept as (index, count) pairs instead, when those take at most half
 * the dense span's bytes (10 values over three decades: 80 bytes instead of
 * ~350).  Negative values and zeros, rare for most
 * fields, live in a separately allocated part created by the first one.
 * The counts, buckets and collapsing are those of the plain dense sketch, so
 * the bound above is unchanged; only the bytes differ. */
#ifndef WEIR_QS_H
#define WEIR_QS_H

#include "buf.h"
#include "cp_wire.h"

#include <stddef.h>
#include <stdint.h>

#define QS_MIN_BINS 2048u
#define QS_MAX_BINS 65536u
#define QS_INL      16u /* counter bytes held inline */

typedef struct {
        double gamma, inv_ln_gamma, alpha;
        uint32_t max_bins; /* buckets per store before the lowest collapse */
} qs_params_t;

typedef struct {
        int32_t off;   /* bucket index of counter 0 */
        uint32_t len;  /* counters in use */
        uint32_t capb; /* heap bytes allocated at c.p (0: inline) */
        uint8_t w;     /* bytes a counter: 1, 2 or 4 (0: empty, as 1) */
        uint8_t heap;  /* counters at c.p, else in c.in */
        uint8_t sp;    /* sparse: c.p holds len (index, count) pairs by index (qs.c) */
        union {
                unsigned char in[QS_INL];
                unsigned char *p;
        } c;
} qs_store_t;

typedef struct qs_ext_s qs_ext_t; /* zeros and the negative store */

typedef struct {
        uint64_t n;
        qs_ext_t *ext; /* NULL until a zero or negative value is added */
        qs_store_t pos;
} qs_t;

void qs_params_init(qs_params_t *p, double alpha);

/* A zeroed qs_t is an empty sketch.  qs_reset() empties it and keeps its
 * storage for reuse; qs_free() releases the storage. */
void qs_reset(qs_t *s);
void qs_free(qs_t *s);

/* Adds x (finite).  Returns 0 or -1 (out of memory: x not counted). */
int qs_add(qs_t *s, const qs_params_t *p, double x);
/* dst += src.  Returns 0 or -1 (out of memory; dst then holds part of src). */
int qs_merge(qs_t *dst, const qs_t *src, const qs_params_t *p);
/* The q-quantile (0 <= q <= 1) within the bound above; NaN when empty. */
double qs_quantile(const qs_t *s, const qs_params_t *p, double q);
/* Heap bytes held (the qs_t itself not included). */
size_t qs_bytes(const qs_t *s);

int qs_write(const qs_t *s, buf_t *b);
/* Reads what qs_write wrote into an empty (reset) sketch; -1 on corrupt
 * bytes (r->err set). */
int qs_read(qs_t *s, cp_rd_t *r, const qs_params_t *p);

#endif
