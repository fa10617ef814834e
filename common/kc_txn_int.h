/* kc_txn_int — the inside of kc_txn_t, shared by the kc_txn*.c files only:
 * kc_txn.c (the loop), kc_txn_setup.c (configuration, creation,
 * destruction), kc_txn_wait.c (pausing), kc_txn_due.c (when a batch is due),
 * kc_txn_ack.c (the at-least-once and acknowledged-externally commits). */
#ifndef WEIR_KC_TXN_INT_H
#define WEIR_KC_TXN_INT_H

#include "kc_int.h"
#include "kc_txn.h"

#define KC_TXN_LOG "kafka-txn" /* log component */

struct kc_txn_s {
        char stage[32];
        char tid[256]; /* transactional.id, "" in at-least-once mode */
        kc_guarantee_t guarantee;
        int batch_records, batch_ms, state_ms, idle_ms, linger_ms;
        admin_t *admin;
        admin_beat_t *beat; /* "<stage> loop <instance>"; NULL without admin */
        atomic_int *stop_flag;
        kc_txn_hooks_t hooks;
        kc_txn_conf_t conf;          /* as given: the producer is re-created from it */
        const char **producer_props; /* malloc'd list (strings are conf's) */
        kc_t *consumer, *producer;   /* consumer: the group's in group mode (not owned) */
        struct fw_s *fw;             /* kc_txn_set_fw(): not owned, may be NULL */
        atomic_int stopping;
        /* Group mode (kc_group.h): the group, the queue its partitions come
         * through, and the partitions it handed this loop. */
        kc_group_t *group;
        rd_kafka_queue_t *queue;
        rd_kafka_topic_partition_list_t *owned;

        /* The open transaction (or batch). */
        int open;
        int abort_requested;
        int64_t opened_ms;
        int64_t records;             /* consumed in it */
        int64_t produced;            /* produced in it (or pending: kc_txn_output_pending) */
        int64_t last_msg_ms;         /* when the last message came */
        int64_t first_out_ms;        /* when it first produced (or pended) output */
        int linger_done;             /* kc_txn_linger_end() */
        int behind;                  /* drained, but the input has more to fetch (txn_caught_up) */
        long long dr_failed_at_open; /* at-least-once: producer's failures before it */
        rd_kafka_topic_partition_list_t *first; /* first offset consumed, per partition */
        /* Set while the revoke hook ends the transaction: not rewound. */
        const rd_kafka_topic_partition_list_t *revoking;

        /* Consumption paused until retry_at_ms: an acknowledgement
         * (KC_TXN_WAIT_ACK) or a record (KC_TXN_WAIT_RECORD) said "not yet".
         * kc_txn_wait.c. */
        int waiting;
        int64_t retry_at_ms;
        int64_t retry_ms; /* the hook's kc_txn_retry_after(); -1: none given */
        const char *retry_why;
        int repause;    /* partitions were assigned while waiting */
        int closing;    /* txn_close(): an acknowledgement cannot wait */
        int commit_now; /* kc_txn_commit_now() */
        int poll_now;   /* kc_txn_poll_now() */
        int drained;    /* the last poll returned nothing */
        metrics_child_t *m_paused;
        /* KC_ACK_EXTERNAL: offsets of acknowledged batches whose commit the
         * broker refused (e.g. during a rebalance), committed again every
         * batch_ms and with the next batch.  kc_txn_wait.c. */
        rd_kafka_topic_partition_list_t *uncommitted;
        int64_t uncommitted_at;
        /* KC_ACK_EXTERNAL: the batch handed over (hooks.acknowledge answered
         * KC_TXN_PENDING) and not acknowledged yet; at most one.  Its lists
         * are owned here (kc_txn_ack.c). */
        struct {
                int on;
                int polling; /* hooks.acknowledge runs for it: produce belongs to it */
                int refused; /* its last poll answered KC_TXN_RETRY */
                int said;    /* the pause's reason was logged */
                const char *why;
                rd_kafka_topic_partition_list_t *first;   /* rewind: first offsets */
                rd_kafka_topic_partition_list_t *offsets; /* commit: positions at close */
                int64_t records, handed_ms;
                long long dr_failed_at_open;
        } pend;
        /* KC_AT_LEAST_ONCE, KC_ACK_EXTERNAL: where the results of the asynchronous offset
         * commits land (kc_txn.c, txn_commit_alo); NULL until the first. */
        rd_kafka_queue_t *commit_q;

        int consecutive_aborts;
        /* The producer hit a fatal error (fenced, e.g. its transaction timed
         * out while the broker was away): the loop re-creates it. */
        int producer_failed;
        int recoveries;         /* in a row, without a commit in between */
        int refused_recoveries; /* in a row, because Kafka refused the producer */
        int ran;
        int failed;
        char errstr[512];

        metrics_child_t *m_in, *m_out, *m_committed, *m_aborted, *m_commit_s, *m_recreated;
};

/* Creates t->producer from t->conf and t->producer_props and, exactly-once,
 * initialises transactions (retrying while retriable and not stopped).
 * Returns 0, or -1 with errstr (t->producer may then be set: the caller
 * destroys it). */
int kc_txn_producer_start(kc_txn_t *t, char *errstr, size_t errstr_size);
/* Replaces t->producer (failed) with a new one; a refusal of the old one
 * carries over (kc_access_carry). */
int kc_txn_producer_restart(kc_txn_t *t, char *errstr, size_t errstr_size);
/* Waits before the attempt-th retry of a producer Kafka refused (1 s
 * doubling to 30 s), beating the heartbeat, until stopped. */
void kc_txn_refused_wait(kc_txn_t *t, int attempt);

/* Waiting for: the acknowledgement's retry, a record's retry, the batch in
 * flight (KC_ACK_EXTERNAL: the open one is full; no deadline). */
enum { KC_TXN_WAIT_ACK = 1, KC_TXN_WAIT_RECORD = 2, KC_TXN_WAIT_PENDING = 3 };

/* Pauses the whole assignment (kind: KC_TXN_WAIT_*) until the hook's
 * kc_txn_retry_after() delay (1 s if none was given) has passed. */
void kc_txn_wait_begin(kc_txn_t *t, int kind);
/* Resumes the assignment (nothing when not waiting). */
void kc_txn_wait_end(kc_txn_t *t);
/* While waiting: pauses again what was assigned meanwhile. */
void kc_txn_wait_repause(kc_txn_t *t);
/* Moves m's partition back to m (consumed again later) and pauses it: a
 * record a process hook could not take yet, or one that arrived while
 * waiting.  Returns 0, or -1 (fatal: recorded by the caller). */
int kc_txn_put_back(kc_txn_t *t, const kc_msg_t *m, char *errstr, size_t errstr_size);

/* KC_ACK_EXTERNAL's refused commits (see `uncommitted`): keep `offsets`;
 * `offsets` plus what is kept for other partitions (a new list); forget
 * `parts` (NULL: all); commit what is kept when due (force: now). */
void kc_txn_uncommitted_keep(kc_txn_t *t, const rd_kafka_topic_partition_list_t *offsets);
rd_kafka_topic_partition_list_t *
kc_txn_uncommitted_merge(kc_txn_t *t, const rd_kafka_topic_partition_list_t *offsets);
void kc_txn_uncommitted_drop(kc_txn_t *t, const rd_kafka_topic_partition_list_t *parts);
void kc_txn_uncommitted_retry(kc_txn_t *t, int force);

/* Opens a transaction (batch) unless one is open: 0, or -1 (fatal, or the
 * producer failed). */
int kc_txn_begin(kc_txn_t *t);
/* kc_txn.c's abort (returns 1, or -1) and fatal error (returns -1), for
 * kc_txn_wait.c. */
int kc_txn_abort(kc_txn_t *t, int rewind);
int kc_txn_fail(kc_txn_t *t, const char *why);

/* The partitions consumed in the open batch at their positions: the
 * offsets it commits (a new list), or NULL (fatal, recorded). */
rd_kafka_topic_partition_list_t *kc_txn_offsets(kc_txn_t *t);

/* kc_txn_ack.c.  hooks.acknowledge (KC_ACK_EXTERNAL) for the open batch:
 * 0 go on with the commit (or the abort it asked for), 2 waiting (paused),
 * 1 aborted (revoke, close: it cannot wait), 3 handed over (now pending;
 * the open batch is closed), -1 fatal. */
int kc_txn_acknowledge(kc_txn_t *t);
/* At-least-once and KC_ACK_EXTERNAL commit of the open batch's `offsets`:
 * every produced record delivered, then the offsets (asynchronously
 * between batches, synchronously when revoking or closing).  0, 1
 * (aborted: a record was not delivered), -1. */
int kc_txn_commit_alo(kc_txn_t *t, const rd_kafka_topic_partition_list_t *offsets);
/* Asks hooks.acknowledge about the pending batch and settles it when it
 * answers: 0 committed, 1 aborted (with the open batch), 2 still pending,
 * -1 fatal. */
int kc_txn_pending_poll(kc_txn_t *t);
/* Revoking or closing: polls the pending batch until it settles, it is
 * refused (KC_TXN_RETRY) or `until` (monotonic ms) passes; then it is
 * aborted (with the open batch).  Nothing when none is pending. */
void kc_txn_pending_wait(kc_txn_t *t, int64_t until);
/* Drops the pending batch and the open one as one (counted once), the
 * consumer rewound (rewind=1) to the pending batch's first offsets (the open
 * batch's for partitions only it consumed); hooks.aborted.  1, or -1. */
int kc_txn_pending_abort(kc_txn_t *t, int rewind);
/* Folds the pending batch into the open one's rewind list (t->first) and
 * forgets it: it is lost with the open one (txn_recover). */
void kc_txn_pending_fold(kc_txn_t *t);
/* How long the revoke hook and the close wait for a pending batch. */
#define KC_TXN_PENDING_WAIT_MS 5000
/* A consumed message, or consumer error: the process hook (kc_txn_wait.c). */
void kc_txn_message(kc_txn_t *t, const rd_kafka_message_t *m);
/* A record that arrived while paused: put back (fatal if that fails). */
void kc_txn_put_back_late(kc_txn_t *t, const kc_msg_t *m);

/* kc_txn_due.c: when the open transaction is due (monotonic ms), and
 * whether it must commit now (`drained`: the last poll returned nothing). */
int64_t kc_txn_due_ms(const kc_txn_t *t);
int kc_txn_due(kc_txn_t *t, int drained);

/* The loop's consumer (group.id, read_committed for exactly-once, no auto
 * commit, static membership "<base>-<instance>"), with `hooks`; for
 * kc_txn_new() and kc_group_new(). */
kc_t *kc_txn_consumer_new(const kc_txn_conf_t *conf, const kc_rebalance_hooks_t *hooks,
                          char *errstr, size_t errstr_size);

/* The consumer's rebalance hooks (kc_rebalance_hooks_t), opaque = the
 * kc_txn_t. */
void kc_txn_on_assigned(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, void *opaque);
void kc_txn_on_revoked(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, int lost,
                       void *opaque);

#endif
