/* kc_txn — the consume-process-produce loop, the core of exactly-once, shared
 * by compute and enrichment.
 *
 * One kc_txn_t is one consumer (in a group, read_committed, no auto commit)
 * and one producer, driven by kc_txn_run() in one thread:
 *
 *   loop until stopped:
 *     poll one message (the rebalance hooks run inside the poll)
 *     begin a transaction if none is open
 *     hooks.process(message)  — produces outputs, changelog, DLQ records
 *                               through kc_txn_produce()
 *     state_ms after it opened; once it holds output, batch_ms after its
 *     first output, every batch_records messages, or once the input is
 *     drained (idle_ms), but not before linger_ms after its first output:
 *     commit
 *       hooks.pre_commit()    — last records of the transaction (state)
 *       send_offsets_to_transaction(positions, group metadata)
 *       commit_transaction()
 *       hooks.committed()
 *
 * The offsets committed are the consumer's positions (last message returned
 * + 1), so every message the loop returned is in the transaction.
 *
 * Errors (as librdkafka's examples/transactions.c):
 *   retriable         → the same call again;
 *   txn_requires_abort → abort_transaction(), rewind the consumer to the
 *                       last committed offsets, hooks.aborted() (the service
 *                       drops state it changed since the last commit), go on;
 *                       the committed offsets are the first ones consumed in
 *                       the aborted transaction, so the rewind is a local seek
 *                       (rd_kafka_committed() would wait behind a rebalance
 *                       that needs this loop to poll: see kc_seek_committed());
 *   fatal for the producer alone (fenced: its transaction outlived
 *                       transaction.timeout.ms, e.g. while the broker was
 *                       away) → the open transaction is lost: rewind as
 *                       for an abort, hooks.aborted(), a new producer
 *                       (init_transactions under the same transactional.id),
 *                       go on; after 5 such failures without a commit in
 *                       between, as below;
 *   fatal (or any other error) → kc_txn_run() returns ST_FATAL with the reason.
 *
 * Rebalance: before partitions are revoked the open transaction is
 * committed (aborted when they were lost), then hooks.revoked() runs; on
 * assignment hooks.assigned() runs before fetching starts (compute restores
 * state there).  With conf.group, several loops share one group member
 * (kc_group.h): the same hooks run in each loop's thread for its own
 * partitions, and the loop consumes its own queue.
 *
 * At-least-once (PROCESSING_GUARANTEE=at_least_once): no transactions; the
 * commit is flush the producer, check every delivery succeeded, then commit
 * the consumer's offsets: asynchronously between batches (the loop consumes
 * on meanwhile; a failed commit is logged and means duplicates after a
 * crash), synchronously when partitions are revoked and at close.  A failed
 * batch is rewound and reprocessed (duplicates, never loss).
 *
 * Acknowledged by an external system (KC_ACK_EXTERNAL, the sink): as
 * at-least-once, and before the commit hooks.acknowledge() delivers the
 * batch elsewhere (InfluxDB).  It may answer KC_TXN_RETRY ("not yet",
 * after kc_txn_retry_after()): the loop then pauses every assigned
 * partition (and those assigned meanwhile), keeps polling — group
 * membership, rebalances, hooks.tick, /healthz — and asks again when the
 * time is up; once it answers KC_TXN_OK the offsets are committed and the
 * partitions resumed.  A process hook may answer KC_TXN_RETRY too (a
 * record that cannot be processed yet, e.g. its schema cannot be fetched):
 * the record is consumed again after the wait, paused the same way.
 *
 * Rebalance while a batch waits for its acknowledgement: revoked (not
 * lost), the hook is asked once more without waiting; if it still says
 * "not yet" the batch is aborted (hooks.aborted) and the partitions that
 * stay are rewound to its first offsets, so nothing is committed that was
 * not acknowledged and the next owner of the revoked ones starts from the
 * last commit.  Lost: aborted at once.  At close: asked once more, then
 * aborted without a commit.
 *
 * One batch in flight (KC_ACK_EXTERNAL): the hook may answer KC_TXN_PENDING
 * ("handed over": the service delivers it in a thread of its own).  The
 * loop keeps that batch's first offsets (for a rewind) and its positions
 * (for the commit), opens the next batch and consumes on; every turn it
 * asks the hook about the pending batch (kc_txn_pending() is 1 then; a
 * turn lasts 10 ms at most meanwhile, 100 ms once the hook said
 * KC_TXN_RETRY) until it answers: OK → its records
 * produced meanwhile (DLQ) are delivered and its offsets committed
 * (asynchronously; in order: the next batch is handed over only after);
 * ABORT → the pending and the open batch are both dropped (hooks.aborted
 * once, kc_txn_pending() 0) and the consumer rewound to the pending batch's
 * first offsets.  The open batch, once due, grows on while one is pending;
 * once full (batch_records, kc_txn_commit_now()) consumption pauses until
 * the pending one settles.  Revoked or closing: the pending batch, then
 * the open one (handed over), are waited for up to KC_TXN_PENDING_WAIT_MS
 * (5 s) in all, less if the hook answers KC_TXN_RETRY (refused): then
 * aborted as above.  Lost: both aborted at once.
 *
 * Stop: kc_txn_stop() (async-signal-safe, for SIGTERM) or *conf.stop.  The
 * loop commits the open transaction (aborts it if that fails), closes the
 * consumer (leaving the group), flushes the producer and returns 0.
 *
 * Metrics, prefixed weir_<stage>_kafka_: consumed_records_total,
 * produced_records_total, transactions_total{result=committed|aborted}
 * (batches in at-least-once mode), commit_duration_seconds (histogram). */
#ifndef WEIR_KC_TXN_H
#define WEIR_KC_TXN_H

#include <stdatomic.h>

#include "cfg_tab.h"
#include "kc.h"
#include "st.h"

typedef enum {
        KC_EXACTLY_ONCE = 0,
        KC_AT_LEAST_ONCE = 1,
        KC_ACK_EXTERNAL = 2, /* at least once, committed after hooks.acknowledge */
} kc_guarantee_t;

/* What a hook tells the loop: the st_t kinds where they mean the same
 * (st.h), plus the loop's own "abort". */
typedef enum {
        KC_TXN_OK = ST_OK, /* go on */
        /* not yet (process, acknowledge): ask again after the delay given
         * with kc_txn_retry_after(); consumption is paused meanwhile */
        KC_TXN_RETRY = ST_RETRY,
        KC_TXN_FATAL = ST_FATAL, /* stop the loop: kc_txn_run() returns ST_FATAL */
        KC_TXN_ABORT = 16,       /* abort the open transaction: its records are consumed again */
        /* acknowledge (KC_ACK_EXTERNAL) only: handed over, the answer comes
         * later (the loop asks again every turn) */
        KC_TXN_PENDING = 17,
} kc_txn_res_t;

typedef struct kc_txn_s kc_txn_t;
typedef struct kc_group_s kc_group_t; /* kc_group.h */

/* Every hook runs in kc_txn_run()'s thread.  Only process is required. */
typedef struct kc_txn_hooks_s {
        /* One consumed message (never an error message); the transaction is
         * open.  `m` is freed when it returns. */
        kc_txn_res_t (*process)(kc_txn_t *t, const kc_msg_t *m, void *opaque);
        /* Before the offsets are sent: produce the state changes (changelog)
         * that belong to this transaction. */
        kc_txn_res_t (*pre_commit)(kc_txn_t *t, void *opaque);
        /* The transaction is committed; `records` consumed messages in it. */
        void (*committed)(kc_txn_t *t, int64_t records, void *opaque);
        /* The transaction was aborted and the consumer rewound: forget every
         * change made since the last commit. */
        void (*aborted)(kc_txn_t *t, void *opaque);
        /* Rebalance (see kc_rebalance_hooks_t); the open transaction was
         * already committed (or aborted, when lost) before revoked runs. */
        void (*assigned)(kc_txn_t *t, const rd_kafka_topic_partition_list_t *parts, void *opaque);
        void (*revoked)(kc_txn_t *t, const rd_kafka_topic_partition_list_t *parts, int lost,
                        void *opaque);
        /* Every loop turn (at least every 100 ms), transaction open or not:
         * wall-clock work; records produced here open a transaction. */
        kc_txn_res_t (*tick)(kc_txn_t *t, void *opaque);
        void *opaque;
        /* KC_ACK_EXTERNAL only (required there): deliver the batch to the
         * external system; KC_TXN_OK once it is acknowledged, KC_TXN_RETRY
         * (with kc_txn_retry_after()) while it is not, KC_TXN_ABORT to
         * consume the batch again, KC_TXN_FATAL; or KC_TXN_PENDING: handed
         * over to another thread, the next batch opens.  While a batch is
         * pending (kc_txn_pending() is 1) the loop calls it every turn
         * about that batch instead: KC_TXN_PENDING (still going),
         * KC_TXN_RETRY (being retried, the external system refuses it),
         * KC_TXN_OK (acknowledged: records produced in this call, e.g. its
         * DLQ records, belong to it and must be delivered before its
         * commit), KC_TXN_ABORT, KC_TXN_FATAL. */
        kc_txn_res_t (*acknowledge)(kc_txn_t *t, void *opaque);
} kc_txn_hooks_t;

typedef struct kc_txn_conf_s {
        const char *stage;            /* required (metrics, client.id) */
        const char *group_id;         /* required unless KAFKA_GROUP_ID is set */
        const char *const *topics;    /* required: NULL-terminated input topics */
        kc_guarantee_t guarantee;     /* default KC_EXACTLY_ONCE */
        const char *transactional_id; /* NULL: kc_txn_default_id() */
        int instance;                 /* this loop's index in the process (threads) */
        int batch_records;            /* holding output: commit after this many messages (1000) */
        int batch_ms;                 /* ... or this long after the first output (default 100) */
        /* ... or, while the transaction holds no output (only input offsets
         * and what pre_commit writes), this long (0, the default: 2000, or
         * half the producer's transaction.timeout.ms if that is less; never
         * less than batch_ms).  Such a commit keeps nobody downstream waiting, but
         * while it runs the loop waits, and output produced just after it
         * waits for the broker to finish it (AddPartitionsToTxn answers
         * CONCURRENT_TRANSACTIONS, retried after 20 ms): fewer of them is
         * less latency for the output that matters. */
        int state_ms;
        /* A transaction that has produced output also commits once no
         * message came for idle_ms (0, the default: as soon as the
         * consumer has nothing queued); -1: only batch_records/batch_ms. */
        int idle_ms;
        /* ... but never sooner than linger_ms after its first output (0,
         * the default: no wait).  One loop reading several partitions
         * otherwise commits the windows that closed on the first partition
         * alone, and those closing on the next a few ms later wait for that
         * commit, then for the broker to finish it (CONCURRENT_TRANSACTIONS,
         * retried after 20 ms), before their own. */
        int linger_ms;
        const char *const *props; /* extra properties for both clients (kc_opts_t) */
        admin_t *admin;           /* NULL or the admin server: heartbeat, readiness */
        atomic_int *stop;         /* NULL or a flag that stops the loop when non-zero */
        /* Extra properties for the producer only, then for the consumer only,
         * applied after props (NULL or NULL-terminated name, value pairs). */
        const char *const *producer_props;
        const char *const *consumer_props;
        /* NULL, or name/value pairs replacing kc_txn_conf_tab's defaults for
         * this service (kc_txn_conf_env; the docs show the same). */
        const char *const *env_defaults;
        kc_txn_hooks_t hooks;
        /* NULL: the loop has its own consumer (a group member).  Else one
         * of several loops sharing kc_group's consumer (one member per
         * process): the loop consumes the partitions the group forwards to
         * its slot `instance`, the rebalance hooks run in its thread when
         * the group hands partitions over or takes them back, and it ends
         * once the group has closed (kc_group.h). */
        kc_group_t *group;
} kc_txn_conf_t;

/* PROCESSING_GUARANTEE and the COMMIT_* cadence, as a settings table
 * (cfg_tab.h; the docs of the services using it are generated from it). */
extern const cfg_tab_t kc_txn_conf_tab;

/* Zero, plus kc_txn_conf_tab's defaults. */
void kc_txn_conf_init(kc_txn_conf_t *conf);

/* Loads kc_txn_conf_tab from the environment into `conf`, with
 * conf->env_defaults replacing the table's defaults (a variable unset takes
 * its default, not the value conf held).  COMMIT_STATE_INTERVAL unset
 * leaves state_ms 0 (automatic), COMMIT_IDLE=off sets idle_ms -1.  Returns
 * 0 or -1 with errstr naming the variable. */
int kc_txn_conf_env(kc_txn_conf_t *conf, char *errstr, size_t errstr_size);

/* A transactional.id unique per instance and stable across restarts of
 * the same pod: KAFKA_TRANSACTIONAL_ID if set, else
 * weir-<stage>-<group>-<POD_NAME or hostname>; "-<instance>" appended when
 * instance > 0.  (With Kafka >= 2.5 fencing of zombies also goes by the
 * group generation, KIP-447, so a Deployment's changing hostname is fine.) */
void kc_txn_default_id(const char *stage, const char *group_id, int instance, char *buf,
                       size_t size);

/* Creates both clients, subscribes and, for exactly-once,
 * init_transactions() (retrying while retriable, giving up on stop).
 * Returns NULL with errstr set and, when `st` is not NULL, *st the kind:
 * ST_STOPPED (the stop flag was raised while waiting for the broker: a
 * clean stop), ST_INVALID (conf lacks what it requires), ST_NOMEM or
 * ST_FATAL (the broker or the settings: errstr says which).  On
 * success *st = ST_OK.  With conf->admin, registers the heartbeat
 * "<stage> loop <instance>" that kc_txn_run() beats (kc_txn_new() beats it
 * too while it waits for the broker); it ends when kc_txn_run() returns.  The strings and lists
 * `conf` points to must stay valid until kc_txn_destroy(): a fenced producer is re-created from
 * them. */
kc_txn_t *kc_txn_new(const kc_txn_conf_t *conf, st_t *st, char *errstr, size_t errstr_size);

/* Runs the loop until stopped (returns ST_OK after a clean close) or a
 * fatal error (returns ST_FATAL, errstr says why; the clients are closed as
 * well as they can be).  Call once (a second call: ST_INVALID). */
st_t kc_txn_run(kc_txn_t *t, char *errstr, size_t errstr_size);

/* Asks the loop to stop at its next turn (async-signal-safe). */
void kc_txn_stop(kc_txn_t *t);

/* From the hooks: produces a record in the open transaction (opening one if
 * needed).  Waits while the producer's queue is full.  An error marks the
 * transaction for abort; the hook may return KC_TXN_ABORT at once or let
 * the loop find out at commit. */
rd_kafka_resp_err_t kc_txn_produce(kc_txn_t *t, const kc_record_t *rec);

/* As kc_txn_produce(), for a record nobody downstream waits for (compute's
 * changelog): the transaction does not count as holding output for it, so
 * neither COMMIT_INTERVAL's clock nor COMMIT_IDLE's group commit starts.
 * Producing one early in a transaction registers its partition with the
 * coordinator (AddPartitionsToTxn, and the CONCURRENT_TRANSACTIONS retries
 * right after a commit) while nobody waits, instead of in the commit. */
rd_kafka_resp_err_t kc_txn_produce_state(kc_txn_t *t, const kc_record_t *rec);

/* From a hook: waits until every record produced so far is delivered or
 * has failed (a failure aborts the transaction at its commit), at most
 * timeout_ms, serving delivery reports meanwhile; what is queued is sent at
 * once, without the producer's linger.  A service producing in batches
 * calls it before each batch: librdkafka 2.0.2's idempotent producer sends
 * a partition's next request only once fewer than 5 *records* (not
 * requests) of it are in flight, and while a ready batch waits for that its
 * broker thread spins (poll with a zero timeout) for the whole round trip.
 * Waiting here instead costs no CPU and no throughput: that release sends
 * one request per partition at a time anyway. */
void kc_txn_produce_wait(kc_txn_t *t, int timeout_ms);

/* From the process hook: it holds output it will produce by pre_commit
 * (a batch), so the open transaction counts as holding output and commits
 * once the input is drained (idle_ms), as if it had been produced. */
void kc_txn_output_pending(kc_txn_t *t);

/* From the process hook: the output the open transaction waits for is all
 * there (compute: every partition of the loop has closed the window), so
 * the linger (kc_txn_conf_t.linger_ms) ends now. */
void kc_txn_linger_end(kc_txn_t *t);

/* From a hook about to return KC_TXN_RETRY: when to ask again (ms), and
 * why, for the log line of the pause ("InfluxDB is not accepting writes":
 * a static string, or NULL). */
void kc_txn_retry_after(kc_txn_t *t, int64_t ms, const char *why);

/* From a hook: the open batch is full, commit it now (KC_ACK_EXTERNAL:
 * acknowledge, then commit) instead of at its deadline. */
void kc_txn_commit_now(kc_txn_t *t);

/* From a hook: the next poll does not wait for a message (it takes what
 * is queued), so that hooks.tick sees at once whether the fetch is drained
 * (kc_txn_drained()). */
void kc_txn_poll_now(kc_txn_t *t);

/* From hooks.tick: 1 when the last poll returned no message. */
int kc_txn_drained(const kc_txn_t *t);

/* 1 while consumption is paused (an acknowledgement or a record said "not
 * yet", or the next batch is full while one is pending). */
int kc_txn_paused(const kc_txn_t *t);

/* KC_ACK_EXTERNAL: 1 while a batch handed over (KC_TXN_PENDING) is not
 * settled.  In hooks.acknowledge: the call is about that batch; in
 * hooks.aborted: only the open batch was dropped (0: the pending one too). */
int kc_txn_pending(const kc_txn_t *t);

/* The loop's heartbeat (NULL without an admin server), for a hook that
 * works longer than ADMIN_STALL in the loop's thread (compute's state
 * restore) to beat meanwhile with admin_beat(). */
admin_beat_t *kc_txn_beat(const kc_txn_t *t);

/* The fetch wake-up (fw.h) of the loop's consumer: the loop shows it every
 * record consumed (fw_check) and asks it, after it resumes its partitions,
 * to wake their fetchers (librdkafka 2.0.2 would fetch them up to a second
 * later).  Not owned; NULL (the default): none.  Set before kc_txn_run(). */
struct fw_s;
void kc_txn_set_fw(kc_txn_t *t, struct fw_s *fw);

kc_t *kc_txn_consumer(kc_txn_t *t);
/* Group mode: the queue the loop consumes (the group's); NULL otherwise. */
rd_kafka_queue_t *kc_txn_queue(const kc_txn_t *t);
kc_guarantee_t kc_txn_guarantee(const kc_txn_t *t);
/* transactional.id in use ("" in at-least-once mode). */
const char *kc_txn_id(const kc_txn_t *t);

void kc_txn_destroy(kc_txn_t *t);

#endif
