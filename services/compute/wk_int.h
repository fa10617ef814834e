/* wk_int — the inside of a worker, shared by wk.c (the hooks and the
 * thread) and wk_state.c (partition table, restore, statistics, shared
 * set-up) only. */
#ifndef WEIR_WK_INT_H
#define WEIR_WK_INT_H

#include <stdarg.h>

#include "cl.h"
#include "fw.h"
#include "wk.h"
#include "wk_otel.h"

#define WK_LOG "compute"

/* One input partition as this worker sees it. */
typedef struct wk_part_s {
        cp_part_t *cp; /* NULL while stale or not owned */
        int owned;     /* assigned to this worker */
        int stale;     /* owned, state to be restored from the changelog */
        /* Idle input (spec input.idle, wk_idle): monotonic ms of the last
         * record, or of the restore (0: start counting at the next tick);
         * the stream time then; idle now; its windows closed (idle.close)
         * since the last record. */
        int64_t last_in_ms, base_st;
        int idle, idle_closed;
        int64_t evicted_seen; /* cp_part_stats_t.evicted_keys already counted */
        int cl_sent;          /* its changelog partition is in the open transaction */
} wk_part_t;

struct wk_s {
        wk_shared_t *sh;
        int index;
        pthread_t thread;
        kc_txn_t *txn;
        av_decoder_t *dec;
        out_t *out;
        cl_reader_t *cl;
        fw_t *fw; /* wakes the consumer's fetcher (fw.h) */
        wk_rec_buf_t rb;
        cp_emit_t emit;
        wk_part_t *parts; /* indexed by partition number */
        size_t nparts, parts_cap;

        /* While a record is processed: its trace context for the outputs. */
        const void *trace;
        size_t trace_len;
        wk_otel_t ot;     /* spans (wk_otel.h) */
        int32_t flushing; /* partition whose dirty state pre_commit writes */
        int dirty_sent;   /* wk_dirty produced a record (wk_changelog_early) */
        int64_t ended_ms; /* monotonic ms the last transaction ended (wk_changelog_reset) */
        int emit_failed;  /* a produce failed: the transaction must abort */
        int emitted;      /* the record being processed produced output */
        /* Stream time of the partition that last closed windows in the open
         * transaction (INT64_MIN: none since the last commit): once every
         * partition reached it, the linger ends (wk_linger_check). */
        int64_t close_st;
        int64_t last_tick_ns, last_stats_ns;
        int64_t trim_hi;       /* state bytes since the last malloc_trim (wk_stats) */
        int64_t trim_again_ns; /* monotonic time of the follow-up malloc_trim; 0: none */

        metrics_child_t *g_open, *g_bytes, *g_keys, *g_idle;
        int fatal;
        char errstr[512];
};

/* The consumer properties of compute's input consumers (fw.h, wk.c says
 * why). */
extern const char *const wk_consumer_props[];

void wk_fail(wk_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The partition's entry, or NULL when out of range. */
wk_part_t *wk_part(wk_t *w, int32_t partition);
/* The same, growing the table; NULL on out of memory. */
wk_part_t *wk_part_grow(wk_t *w, int32_t partition);

/* Restores every stale owned partition from the changelog.  0, or -1 after
 * wk_fail(). */
int wk_restore_stale(wk_t *w);

/* Sets the worker's state gauges (at most once a second unless force). */
void wk_stats(wk_t *w, int force);

/* Frees a worker whose thread is not running. */
void wk_free(wk_t *w);

#endif
