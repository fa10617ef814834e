/* metrics_int — what metrics.c (the registry and updates) and
 * metrics_render.c (the text formats) share: the families, children and
 * exemplars, the registry's lock and list.  See metrics.h. */
#ifndef WEIR_METRICS_INT_H
#define WEIR_METRICS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "metrics.h"

typedef enum { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM } metrics_type_t;

struct metrics_child_s {
        metrics_family_t *fam;
        char **values;             /* fam->nlabels label values */
        _Atomic uint64_t ival;     /* counter: integral increments */
        _Atomic uint64_t bits;     /* counter/gauge value (rest), histogram sum */
        _Atomic uint64_t *buckets; /* histogram: nbuckets + 1 counts, last = +Inf */
        struct metrics_ex_s *ex;   /* histogram: nbuckets + 1 exemplars or NULL; owned */
        _Atomic int ex_busy;       /* ex is being written or read */
};

typedef struct metrics_ex_s {
        char trace_id[33], span_id[17]; /* hex; trace_id[0] == 0: none yet */
        double value, ts;               /* ts: seconds since the epoch */
} metrics_ex_t;

struct metrics_family_s {
        char *name;
        char *help;
        metrics_type_t type;
        char **labels;
        size_t nlabels;
        double *bounds; /* histogram upper bounds, ascending, without +Inf */
        size_t nbounds;
        metrics_child_t **children;
        size_t nchildren, cap;
        metrics_family_t *next; /* declaration order */
};

/* Guards the family list and each family's child array (metrics.c). */
extern pthread_mutex_t metrics_lock;
extern metrics_family_t *metrics_head; /* declaration order */

/* A double kept as its uint64 bit pattern in an atomic. */
static inline double metrics_d(uint64_t bits) {
        double d;
        memcpy(&d, &bits, sizeof(d));
        return d;
}

#endif
