/* wk — compute's worker threads.  Each worker is one kc_txn loop with its
 * own transactional producer; one worker is also its own consumer in the
 * service's group, several share the process's one group member
 * (kc_group.h), which forwards each assigned partition to one of them.
 * Each partition's engine state (cp_part_t) is owned by exactly one
 * thread: no lock on the per-record path.
 *
 * Per record (process hook): decode (one av_decoder_t per worker) → extract
 * key, event time, fields (wk_rec) → cp_part_process, whose callbacks encode
 * aggregates and alerts (out) and produce them in the open transaction;
 * undecodable, keyless and late records go to the DLQ.  pre_commit writes
 * every partition's dirty state to the changelog (cl) in the same
 * transaction.  On assignment the partitions' state is restored from the
 * changelog before they are fetched; after an abort the worker's state is
 * dropped and restored again (lazily, before the next record or tick), since
 * it holds changes the aborted transaction never committed. */
#ifndef WEIR_WK_H
#define WEIR_WK_H

#include <pthread.h>

#include "cp.h"
#include "kc_txn.h"
#include "metrics.h"
#include "out.h"
#include "svc.h"
#include "wk_rec.h"

/* What every worker shares, read-only once the threads start (except the
 * readiness bookkeeping under `lock`). */
typedef struct wk_shared_s {
        svc_t *svc;
        const cp_engine_t *engine;
        wk_rec_plan_t plan;
        out_conf_t out;
        kc_txn_conf_t txn;         /* base loop configuration (env applied) */
        const char *group_id;      /* consumer group of every worker */
        int64_t restore_stable_ms; /* cl_reader_new() */
        int changelog_partitions;  /* input partitions beyond it have nowhere to keep state */
        /* COMPUTE_THREADS > 1: the process's one group member, whose
         * partitions the workers share (kc_group.h; wk_group_start); NULL
         * with one worker, whose loop is a member itself. */
        kc_group_t *group;
        const char *topics[2];       /* the input topic: the group's subscription */
        const char *group_props[16]; /* the group's consumer properties */
        char group_fetch_max[24];

        pthread_mutex_t lock;
        int restoring;       /* restores in progress, all workers */
        int ready_cond;      /* "state restored" */
        int nworkers, loops; /* workers started, and with their clients made: svc_started() */

        metrics_child_t *m_in, *m_aggregates, *m_alerts, *m_late, *m_changelog, *m_restored,
                *m_corrupt, *m_process_s, *m_restore_s, *m_restoring, *m_wakeups, *m_idle_closed,
                *m_evicted;
        metrics_family_t *f_dlq, *f_open, *f_bytes, *f_keys, *f_idle;
} wk_shared_t;

/* Declares the metrics and resolves the input fields.  0, or -1 with
 * errstr. */
int wk_shared_init(wk_shared_t *sh, svc_t *svc, const cp_engine_t *engine, char *errstr,
                   size_t errstr_size);
/* Destroys the group (after every worker ended) and what init made. */
void wk_shared_fini(wk_shared_t *sh);

/* With more than one worker (sh->nworkers, sh->txn set): the group member
 * they share.  0, or -1 with errstr. */
int wk_group_start(wk_shared_t *sh, char *errstr, size_t errstr_size);

typedef struct wk_s wk_t;

/* Starts worker `index` in a new thread (its clients are created there).
 * NULL with errstr when the thread or its buffers could not be made. */
wk_t *wk_start(wk_shared_t *sh, int index, char *errstr, size_t errstr_size);

/* Waits for the worker to end (svc->stop, or a fatal error, which also
 * sets svc->stop so the others end too).  Returns its result: 0, or -1 with
 * errstr.  Frees the worker. */
int wk_join(wk_t *w, char *errstr, size_t errstr_size);

#endif
