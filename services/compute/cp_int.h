/* cp_int — the compute engine's internal structures, shared by cp_engine.c
 * (start-up), cp_part.c (keys, timers, closing loop), cp_emit.c (aggregates,
 * rules, alerts, baselines), win.c (window assignment per window type) and
 * cp_state.c (changelog bytes).  Not part
 * of the API: main.c uses cp.h only. */
#ifndef WEIR_CP_INT_H
#define WEIR_CP_INT_H

#include "agg.h"
#include "buf.h"
#include "cp.h"
#include "ewma.h"
#include "ks.h"
#include "qs.h"
#include "rule.h"

#include <stddef.h>
#include <stdint.h>

#define CP_TS_LIMIT CP_TS_LIMIT_MS
/* Hopping windows per record at most (size / advance). */
#define CP_MAX_HOPS 10000
/* Closed window nodes a partition keeps for reuse.  Enough to absorb the
 * churn of windows closing and opening around the same stream time; above
 * it a closed window goes back to malloc, so a drained backlog gives its
 * memory back (the pool used to keep every window ever open at once). */
#define CP_WIN_POOL 256

typedef struct {
        const spec_window_t *w;
        int64_t close_extra; /* close = end + close_extra: grace (+ gap for sessions) */
        size_t *rules;       /* indexes of the rules evaluated on this window */
        size_t nrules;
} cp_def_t;

typedef struct {
        const spec_rule_t *r;
        rule_prog_t *prog; /* NULL for an absence rule */
        size_t def;
        int64_t absent_ms; /* "absent for D": D; 0 for a rule on windows */
} cp_rule_t;

struct cp_engine_s {
        const spec_t *spec;
        const spec_compute_t *c;
        size_t ndefs, nf, nrules;
        cp_def_t *defs;
        cp_rule_t *rules;
        size_t *absent; /* indexes of the absence rules */
        size_t nabsent;
        const char **fields;
        unsigned *ops;
        unsigned char *has_sk; /* field has a quantile op */
        agg_lay_t *lay;        /* [nf] each field's aggregate layout (agg.h) */
        size_t *foff;          /* [nf] offset of each field's aggregate in a window node */
        qs_params_t skp;
        size_t max_terms;
        size_t win_size;  /* the window node: cp_win_t + every field's aggregate */
        size_t sent_size; /* one sliding-buffer entry: ts, nf doubles, nf presence bytes */
        /* key block layout after the key bytes (cp_key_s): defs, ewma, rule
         * states; tail_size bytes in all */
        size_t off_ew, off_rs, tail_size;
};

typedef struct cp_key_s cp_key_t;

/* A window node: this header, then each field's aggregate at
 * cp_engine_t.foff[f] (cp_wagg()), laid out for the field's ops only. */
typedef struct cp_win_s {
        struct cp_win_s *next; /* in its key's list for its definition, by start */
        cp_key_t *k;
        int64_t start, end; /* closes at end + its definition's close_extra (cp_win_close) */
        int64_t count;
        int64_t last_emit; /* wall clock of the last 'changes' update; INT64_MIN: none */
        int32_t pend_idx;  /* index in cp_part_t.pend, -1 when not pending */
        uint16_t def;
        uint8_t changed; /* updated since the last 'changes' update */
} cp_win_t;

typedef struct {
        cp_win_t *head; /* open windows, by start */
        /* sliding windows: the key's recent records, sorted by time */
        unsigned char *sb;
        uint32_t sbn, sbcap;
} cp_dstate_t;

typedef struct {
        int32_t consec; /* consecutive windows the expression held */
        uint8_t firing;
} cp_rstate_t;

/* A key block: this header, the key bytes (NUL-terminated), then from the
 * next multiple of 8 (cp_ktail) cp_dstate_t [ndefs], ewma_t [ndefs * nf]
 * and cp_rstate_t [nrules] at the engine's offsets (accessors below).  No
 * pointers to its own parts, which saves 32 bytes a key. */
struct cp_key_s {
        cp_key_t *hnext;
        int64_t next_close; /* INT64_MAX: nothing scheduled */
        int64_t last_ts;    /* largest event time of the key's records (absence rules,
                               key_ttl) */
        uint32_t hash;      /* of the key bytes; the hash table's bucket is hash & (htcap - 1) */
        int32_t heap_idx;   /* -1: not in the heap */
        uint32_t key_len;
        uint8_t dirty;
};

struct cp_part_s {
        const cp_engine_t *e;
        int32_t partition;
        cp_key_t **ht;
        size_t htcap, nkeys;
        ks_t ks; /* the key blocks (ks.h: why apart from the windows) */
        cp_key_t **heap;
        size_t nheap, capheap;
        cp_key_t **dirty;
        size_t ndirty, capdirty;
        int meta_dirty;
        cp_win_t *free_wins; /* at most CP_WIN_POOL nodes, sketch storage released */
        size_t nfree;
        cp_win_t **pend;
        size_t npend, cappend;
        int64_t stream_time; /* INT64_MIN before the first record */
        int64_t late, late_windows, open_windows;
        int64_t evicted;    /* keys forgotten by compute.key_ttl, since creation */
        int64_t bytes;      /* live: keys, open window nodes, sketch buckets, sliding buffers */
        int64_t pool_bytes; /* window nodes kept in free_wins for reuse */
        /* scratch, reused for every emission */
        cp_field_stats_t *fs;
        unsigned char *rgrp; /* [nf] a restored key's stored groups (cp_state.c) */
        double *tv;
        cp_term_t *terms;
        cp_win_t **due;
        size_t capdue;
        buf_t ser, ckey;
};

static inline char *cp_kkey(const cp_key_t *k) {
        return (char *)(uintptr_t)(k + 1);
}
/* Offset of the parts after the key bytes; the block's size is that plus
 * the engine's tail_size. */
static inline size_t cp_ktail(size_t key_len) {
        return (sizeof(cp_key_t) + key_len + 1 + 7) & ~(size_t)7;
}
static inline cp_dstate_t *cp_kd(const cp_part_t *p, const cp_key_t *k) {
        (void)p;
        return (cp_dstate_t *)(void *)((char *)(uintptr_t)k + cp_ktail(k->key_len));
}
static inline ewma_t *cp_kew(const cp_part_t *p, const cp_key_t *k) {
        return (ewma_t *)(void *)((char *)(uintptr_t)k + cp_ktail(k->key_len) + p->e->off_ew);
}
static inline cp_rstate_t *cp_krs(const cp_part_t *p, const cp_key_t *k) {
        return (cp_rstate_t *)(void *)((char *)(uintptr_t)k + cp_ktail(k->key_len) + p->e->off_rs);
}
/* Field f's aggregate in window w. */
static inline void *cp_wagg(const cp_engine_t *e, const cp_win_t *w, size_t f) {
        return (char *)(uintptr_t)w + e->foff[f];
}
static inline int64_t cp_win_close(const cp_engine_t *e, const cp_win_t *w) {
        return w->end + e->defs[w->def].close_extra;
}

/* cp_part.c */
cp_key_t *cp_key_get(cp_part_t *p, const char *key, size_t len, int create);
cp_win_t *cp_win_alloc(cp_part_t *p, cp_key_t *k, size_t def, int64_t start, int64_t end);
void cp_win_free(cp_part_t *p, cp_win_t *w);
void cp_key_schedule(cp_part_t *p, cp_key_t *k);
void cp_key_dirty(cp_part_t *p, cp_key_t *k);
void cp_key_remove(cp_part_t *p, cp_key_t *k);
/* cp_part_stats_t.state_bytes counted by walking everything, where stats
 * use what `bytes` tracks incrementally (unit tests compare the two). */
int64_t cp_part_bytes_walk(const cp_part_t *p);

/* cp_emit.c */
/* Fills p->fs with window w's statistics and z-scores. */
void cp_fill_stats(cp_part_t *p, const cp_win_t *w);
void cp_emit_aggregate(cp_part_t *p, const cp_win_t *w, int final, int64_t now_ms,
                       const cp_emit_t *emit);
/* Closes the head window of (k, d): final aggregate, rules, baseline; frees it. */
void cp_close_head(cp_part_t *p, cp_key_t *k, size_t d, int64_t now_ms, const cp_emit_t *emit);
void cp_pend_del(cp_part_t *p, cp_win_t *w);
/* After a window got a record: 'changes' updates. */
void cp_win_touched(cp_part_t *p, cp_win_t *w, int64_t now_ms, const cp_emit_t *emit);
void cp_pend_add(cp_part_t *p, cp_win_t *w);
/* Absence rules: the earliest time one of k's may fire, or INT64_MAX. */
int64_t cp_absent_due(const cp_part_t *p, const cp_key_t *k);
/* Fires the absence rules of k that are due at stream time t. */
void cp_absent_fire(cp_part_t *p, cp_key_t *k, int64_t t, int64_t now_ms, const cp_emit_t *emit);
/* k had a record at ts (after last_ts was `prev`): resolves its firing
 * absence rules. */
void cp_absent_seen(cp_part_t *p, cp_key_t *k, int64_t prev, int64_t ts, int64_t now_ms,
                    const cp_emit_t *emit);

/* compute.key_ttl: when k is to be forgotten (INT64_MAX: not while it has
 * an open window, buffered records or a firing alert); forgetting it
 * empties it, and the next flush tombstones and frees it. */
int64_t cp_key_ttl_due(const cp_part_t *p, const cp_key_t *k);
void cp_key_evict(cp_part_t *p, cp_key_t *k);

/* win.c: puts the record into its windows of definition d; returns 1 when
 * at least one window counted it. */
int win_assign(cp_part_t *p, cp_key_t *k, size_t d, const cp_record_t *r, int64_t now_ms,
               const cp_emit_t *emit);
/* Adds a record to a window. */
void win_add(cp_part_t *p, cp_win_t *w, int64_t ts, const double *v, const unsigned char *present);
/* Drops sliding-buffer records no future window can need; returns 1 if any. */
int win_prune(cp_part_t *p, cp_key_t *k, size_t d);
/* Earliest time win_prune() has something to do for (k, d), or INT64_MAX. */
int64_t win_prune_time(const cp_part_t *p, const cp_key_t *k, size_t d);

/* cp_state.c */
int cp_state_write_key(const cp_part_t *p, const cp_key_t *k, buf_t *b);
int cp_state_write_meta(const cp_part_t *p, buf_t *b);
int cp_state_read_key(cp_part_t *p, const char *key, size_t key_len, const void *val, size_t len,
                      char *errstr, size_t errstr_size);
int cp_state_read_meta(cp_part_t *p, const void *val, size_t len, char *errstr, size_t errstr_size);

/* Changelog format: 2 stores only the statistics the ops need (cp_state.c);
 * 1 is still read. */
#define CP_STATE_VERSION 2
/* The partition metadata's format ('M'), unchanged since 1. */
#define CP_META_VERSION 1

#endif
