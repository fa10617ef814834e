/* agg — the per-field aggregate of one window, shaped by the ops asked for:
 * always the count and the Welford mean (of x - shift, shift = the first
 * value; the EWMA baseline needs the mean whatever the ops), and only when
 * an op needs them the M2 (variance, stddev), the compensated sum, min and
 * max, first and last by event time, and a quantile sketch.  Everything is
 * mergeable (Chan et al. for mean/M2), which session merges and sliding
 * windows rely on.
 *
 * An aggregate is a block of agg_lay_t.size bytes (8-aligned, zeroed =
 * empty) laid out by agg_lay_init(); the window nodes hold one per field,
 * so a window of `count, mean, stddev, p99` takes 80 bytes a field instead
 * of every statistic's 160. */
#ifndef WEIR_AGG_H
#define WEIR_AGG_H

#include "cp.h"
#include "cp_wire.h"
#include "qs.h"

#include <stddef.h>
#include <stdint.h>

/* Groups of statistics, stored only when the field's ops need them. */
#define AGG_G_M2     1u  /* variance, stddev */
#define AGG_G_SUM    2u  /* sum (Neumaier-compensated: sum + sum_c) */
#define AGG_G_MINMAX 4u  /* min, max */
#define AGG_G_FL     8u  /* first, last (value and event time) */
#define AGG_G_QS     16u /* p50, p90, p95, p99 */
#define AGG_G_ALL    31u

typedef struct {
        unsigned groups;
        uint16_t o_m2, o_sum, o_mm, o_fl, o_qs; /* byte offsets of the groups present */
        uint16_t size;                          /* bytes of the block, a multiple of 8 */
} agg_lay_t;

/* The core of every block. */
typedef struct {
        int64_t n;
        double shift; /* the first value: mean and m2 are of x - shift, which
                         keeps them exact for data far from 0 (1e9 +- 1) */
        double mean;
} agg_core_t;

/* Room for a block with every group (stack aggregates, tests). */
typedef union {
        unsigned char
                b[sizeof(agg_core_t) + 8 * sizeof(double) + 2 * sizeof(int64_t) + sizeof(qs_t)];
        double align_;
        void *align_p_;
} agg_t;

/* The groups the ops (SPEC_OP_BIT set) need. */
unsigned agg_groups(unsigned ops);
void agg_lay_init(agg_lay_t *L, unsigned groups);

/* Count and mean of the values added (mean NaN when none). */
int64_t agg_n(const void *a);
double agg_mean(const void *a);
/* The sketch, or NULL without AGG_G_QS. */
qs_t *agg_qs(const void *a, const agg_lay_t *L);
/* Heap bytes held (the sketch's). */
size_t agg_bytes(const void *a, const agg_lay_t *L);
/* Empties a (zeroed or used) aggregate, keeping the sketch's storage. */
void agg_reset(void *a, const agg_lay_t *L);
/* Releases the sketch's storage; a is then zeroed (empty). */
void agg_free(void *a, const agg_lay_t *L);
/* Adds value x at event time ts; `skp` NULL: no sketch update.  Returns 0
 * or -1 (out of memory in the sketch; the other statistics are updated). */
int agg_add(void *a, const agg_lay_t *L, double x, int64_t ts, const qs_params_t *skp);
/* a += b (same layout; sketches too when skp is not NULL).  Ties in
 * first/last keep a's value. */
int agg_merge(void *a, const void *b, const agg_lay_t *L, const qs_params_t *skp);
/* Fills the statistics of the ops in `ops` (SPEC_OP_BIT set, within the
 * layout's groups) into *out (name and zscore are left alone). */
void agg_stats(const void *a, const agg_lay_t *L, unsigned ops, const qs_params_t *skp,
               cp_field_stats_t *out);

/* Writes the layout's groups (changelog format 2). */
int agg_write(const void *a, const agg_lay_t *L, buf_t *b);
/* Reads an aggregate written with the groups `stored` (format 2), or in
 * format 1 when `v1` (every statistic but the sketch, then the sketch when
 * stored has AGG_G_QS) into an empty block of layout L: groups L lacks are
 * read and dropped; a group L needs and the bytes lack, in a non-empty
 * aggregate, is an error (*why says so).  Returns 0 or -1 (r->err set on
 * malformed bytes). */
int agg_read(void *a, const agg_lay_t *L, const qs_params_t *skp, unsigned stored, int v1,
             cp_rd_t *r, const char **why);

#endif
