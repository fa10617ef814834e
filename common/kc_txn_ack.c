/* kc_txn_ack — the commits that need no transaction: at-least-once, and
 * acknowledged by an external system (KC_ACK_EXTERNAL, the sink), with its
 * one batch in flight (see kc_txn.h).  Split from kc_txn.c, the loop, which
 * calls kc_txn_commit_alo() and kc_txn_acknowledge() from txn_commit(),
 * kc_txn_pending_poll() every turn while a batch is pending, and
 * kc_txn_pending_wait() from the revoke hook and the close.
 *
 * The pending batch (t->pend) owns the two lists it needs once the open
 * batch has moved on: its first offsets (where an abort rewinds to) and its
 * positions when it was handed over (what its commit sends).  Commits go
 * out in the order the batches were handed over: a batch is handed over
 * only once the one before has settled. */
#include <stdio.h>

#include "kc_txn_int.h"
#include "log.h"

/* ------------------------------------------------ refused offset commits */

void kc_txn_uncommitted_keep(kc_txn_t *t, const rd_kafka_topic_partition_list_t *offsets) {
        if (!t->uncommitted && !(t->uncommitted = rd_kafka_topic_partition_list_new(offsets->cnt)))
                return; /* out of memory: duplicates later, as without the retry */
        for (int i = 0; i < offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &offsets->elems[i];
                rd_kafka_topic_partition_t *q =
                        rd_kafka_topic_partition_list_find(t->uncommitted, p->topic, p->partition);
                if (!q)
                        q = rd_kafka_topic_partition_list_add(t->uncommitted, p->topic,
                                                              p->partition);
                q->offset = p->offset;
        }
        t->uncommitted_at = clk_mono_ms();
}

rd_kafka_topic_partition_list_t *
kc_txn_uncommitted_merge(kc_txn_t *t, const rd_kafka_topic_partition_list_t *offsets) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(offsets);
        for (int i = 0; t->uncommitted && i < t->uncommitted->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &t->uncommitted->elems[i];
                if (!rd_kafka_topic_partition_list_find(l, p->topic, p->partition))
                        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
                                p->offset;
        }
        return l;
}

void kc_txn_uncommitted_drop(kc_txn_t *t, const rd_kafka_topic_partition_list_t *parts) {
        if (!t->uncommitted)
                return;
        for (int i = 0; parts && i < parts->cnt; i++)
                rd_kafka_topic_partition_list_del(t->uncommitted, parts->elems[i].topic,
                                                  parts->elems[i].partition);
        if (!parts || t->uncommitted->cnt == 0) {
                rd_kafka_topic_partition_list_destroy(t->uncommitted);
                t->uncommitted = NULL;
        }
}

void kc_txn_uncommitted_retry(kc_txn_t *t, int force) {
        if (!t->uncommitted || (!force && clk_mono_ms() < t->uncommitted_at + t->batch_ms))
                return;
        rd_kafka_resp_err_t err = rd_kafka_commit(kc_rk(t->consumer), t->uncommitted, 0 /* sync */);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                log_debug(KC_TXN_LOG, "%s: offset commit again: %s", t->stage,
                          rd_kafka_err2str(err));
                t->uncommitted_at = clk_mono_ms();
                return;
        }
        log_info(KC_TXN_LOG, "%s: offsets of %d partition(s) committed on a later try", t->stage,
                 t->uncommitted->cnt);
        kc_txn_uncommitted_drop(t, NULL);
}

/* An asynchronous commit of `offsets` failed: keep those of partitions
 * still assigned (a revoked one's next owner starts from the last commit;
 * committing it later could move that owner's offset back). */
static void txn_uncommitted_keep_assigned(kc_txn_t *t,
                                          const rd_kafka_topic_partition_list_t *offsets) {
        const rd_kafka_topic_partition_list_t *assigned =
                t->group ? t->owned : kc_assigned(t->consumer);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(offsets->cnt);
        for (int i = 0; i < offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &offsets->elems[i];
                if (p->offset >= 0 &&
                    rd_kafka_topic_partition_list_find(assigned, p->topic, p->partition))
                        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
                                p->offset;
        }
        if (l->cnt)
                kc_txn_uncommitted_keep(t, l);
        rd_kafka_topic_partition_list_destroy(l);
}

/* An asynchronous commit of `offsets` succeeded: what was kept for those
 * partitions up to there is done. */
static void txn_uncommitted_settle(kc_txn_t *t, const rd_kafka_topic_partition_list_t *offsets) {
        for (int i = 0; t->uncommitted && i < offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &offsets->elems[i];
                rd_kafka_topic_partition_t *q =
                        rd_kafka_topic_partition_list_find(t->uncommitted, p->topic, p->partition);
                if (q && q->offset <= p->offset)
                        rd_kafka_topic_partition_list_del(t->uncommitted, p->topic, p->partition);
        }
        if (t->uncommitted && t->uncommitted->cnt == 0)
                kc_txn_uncommitted_drop(t, NULL);
}

/* ------------------------------------------------------------- commits */

/* The result of an asynchronous offset commit, served from t->commit_q by
 * the loop.  At least once a failure only means duplicates after a crash;
 * acknowledged externally the offsets are kept and committed again (the
 * commits' results come back in the order they were made). */
static void txn_commit_done(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *offsets, void *opaque) {
        (void)rk;
        kc_txn_t *t = opaque;
        int failed = err && err != RD_KAFKA_RESP_ERR__NO_OFFSET;
        if (failed)
                log_warn(KC_TXN_LOG, "%s: offset commit: %s (%s)", t->stage, rd_kafka_err2str(err),
                         t->guarantee == KC_ACK_EXTERNAL ? "tried again"
                                                         : "records will be redelivered");
        if (t->guarantee != KC_ACK_EXTERNAL || !offsets)
                return;
        if (failed)
                txn_uncommitted_keep_assigned(t, offsets);
        else
                txn_uncommitted_settle(t, offsets);
}

/* Commits `offsets`: asynchronously between batches (the outputs are
 * already acknowledged, which is all the guarantee needs), so the loop
 * consumes on instead of waiting a coordinator round trip with the next
 * records queued behind it.  Revoking or closing, the commit must land
 * before the partitions go: synchronous.  Acknowledged externally, also
 * the offsets an earlier commit could not store, kept until one does. */
static void txn_commit_offsets(kc_txn_t *t, const rd_kafka_topic_partition_list_t *offsets) {
        rd_kafka_t *c = kc_rk(t->consumer);
        rd_kafka_topic_partition_list_t *l =
                t->uncommitted ? kc_txn_uncommitted_merge(t, offsets) : NULL;
        const rd_kafka_topic_partition_list_t *send = l ? l : offsets;
        if (send->cnt == 0) {
                if (l)
                        rd_kafka_topic_partition_list_destroy(l);
                return;
        }
        if (!t->revoking && !t->closing) {
                if (!t->commit_q)
                        t->commit_q = rd_kafka_queue_new(c);
                rd_kafka_resp_err_t err =
                        rd_kafka_commit_queue(c, send, t->commit_q, txn_commit_done, t);
                if (err) {
                        rd_kafka_topic_partition_list_t *copy =
                                rd_kafka_topic_partition_list_copy(send);
                        txn_commit_done(c, err, copy, t);
                        rd_kafka_topic_partition_list_destroy(copy);
                }
        } else {
                rd_kafka_resp_err_t err = rd_kafka_commit(c, send, 0);
                if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                        log_warn(KC_TXN_LOG, "%s: offset commit: %s (%s)", t->stage,
                                 rd_kafka_err2str(err),
                                 t->guarantee == KC_ACK_EXTERNAL ? "tried again"
                                                                 : "records will be redelivered");
                        if (t->guarantee == KC_ACK_EXTERNAL)
                                kc_txn_uncommitted_keep(t, send);
                } else {
                        kc_txn_uncommitted_drop(t, NULL);
                }
        }
        if (l)
                rd_kafka_topic_partition_list_destroy(l);
}

/* Every record produced since `dr_failed_at_open` delivered?  Waits for
 * what is queued. */
static int txn_delivered(kc_txn_t *t, long long dr_failed_at_open) {
        kc_txn_produce_wait(t, 30000);
        int left = rd_kafka_outq_len(kc_rk(t->producer));
        long long failed = atomic_load(&t->producer->dr_failed) - dr_failed_at_open;
        if (left > 0 || failed > 0) {
                log_warn(KC_TXN_LOG, "%s: %d record(s) undelivered, %lld failed: reprocessing",
                         t->stage, left, failed);
                return 0;
        }
        return 1;
}

int kc_txn_commit_alo(kc_txn_t *t, const rd_kafka_topic_partition_list_t *offsets) {
        if (!txn_delivered(t, t->dr_failed_at_open))
                return kc_txn_abort(t, 1);
        txn_commit_offsets(t, offsets);
        return 0;
}

/* ----------------------------------------------------- the batch in flight */

static void txn_pending_clear(kc_txn_t *t) {
        if (t->pend.first)
                rd_kafka_topic_partition_list_destroy(t->pend.first);
        if (t->pend.offsets)
                rd_kafka_topic_partition_list_destroy(t->pend.offsets);
        t->pend.first = t->pend.offsets = NULL;
        t->pend.on = 0;
        t->pend.refused = 0;
        t->pend.said = 0;
        t->pend.why = NULL;
}

/* The open batch was handed over: it becomes the pending one, and the next
 * batch opens with the next record.  0, or -1 (fatal). */
static int txn_pending_begin(kc_txn_t *t) {
        rd_kafka_topic_partition_list_t *offsets = kc_txn_offsets(t);
        if (!offsets)
                return -1;
        t->pend.offsets = offsets;
        t->pend.first = t->first;
        t->first = rd_kafka_topic_partition_list_new(8);
        t->pend.records = t->records;
        t->pend.dr_failed_at_open = t->dr_failed_at_open;
        t->pend.handed_ms = clk_mono_ms();
        t->pend.on = 1;
        t->open = 0;
        t->commit_now = 0;
        if (t->waiting == KC_TXN_WAIT_ACK)
                kc_txn_wait_end(t);
        return 0;
}

void kc_txn_pending_fold(kc_txn_t *t) {
        if (!t->pend.on)
                return;
        rd_kafka_topic_partition_list_t *l = t->pend.first;
        for (int i = 0; t->open && i < t->first->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &t->first->elems[i];
                if (!rd_kafka_topic_partition_list_find(l, p->topic, p->partition))
                        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
                                p->offset;
        }
        rd_kafka_topic_partition_list_destroy(t->first);
        t->first = l;
        t->pend.first = NULL;
        t->records = (t->open ? t->records : 0) + t->pend.records;
        t->open = 1; /* one batch now: the abort (or the recovery) ends it */
        txn_pending_clear(t);
}

int kc_txn_pending_abort(kc_txn_t *t, int rewind) {
        if (!t->pend.on)
                return 1;
        /* Cleared first: the aborted hook sees no batch pending, and drops
         * the one in flight too. */
        kc_txn_pending_fold(t);
        return kc_txn_abort(t, rewind);
}

/* The pending batch is acknowledged: its DLQ records (produced by the hook)
 * delivered, then its offsets committed. */
static int txn_pending_commit(kc_txn_t *t) {
        int64_t t0 = clk_mono_ms();
        if (!txn_delivered(t, t->pend.dr_failed_at_open))
                return kc_txn_pending_abort(t, 1);
        txn_commit_offsets(t, t->pend.offsets);
        int64_t records = t->pend.records, handed = t->pend.handed_ms;
        txn_pending_clear(t);
        kc_access_ok(t->producer, KC_REFUSED_NONE);
        t->consecutive_aborts = 0;
        t->recoveries = 0;
        if (t->waiting == KC_TXN_WAIT_PENDING)
                kc_txn_wait_end(t);
        metrics_inc(t->m_committed, 1);
        int64_t now = clk_mono_ms();
        metrics_observe(t->m_commit_s, (double)(now - t0) / 1000.0);
        log_debug(KC_TXN_LOG, "%s: committed %lld record(s) %lld ms after the hand-over", t->stage,
                  (long long)records, (long long)(now - handed));
        if (t->hooks.committed)
                t->hooks.committed(t, records, t->hooks.opaque);
        return 0;
}

int kc_txn_pending_poll(kc_txn_t *t) {
        if (!t->pend.on)
                return 0;
        t->retry_ms = -1;
        t->retry_why = NULL;
        t->pend.polling = 1;
        kc_txn_res_t r = t->hooks.acknowledge(t, t->hooks.opaque);
        t->pend.polling = 0;
        switch (r) {
        case KC_TXN_OK:
                return txn_pending_commit(t);
        case KC_TXN_ABORT:
                return kc_txn_pending_abort(t, !t->closing);
        case KC_TXN_FATAL:
                return kc_txn_fail(t, "acknowledge hook failed");
        case KC_TXN_RETRY:
                t->pend.refused = 1;
                if (t->retry_why)
                        t->pend.why = t->retry_why;
                /* Paused before the reason was known: say it now. */
                if (t->waiting == KC_TXN_WAIT_PENDING && !t->pend.said && t->pend.why) {
                        t->pend.said = 1;
                        log_warn(KC_TXN_LOG,
                                 "%s: %s: consumption paused until the batch in "
                                 "flight is acknowledged",
                                 t->stage, t->pend.why);
                }
                return 2;
        default: /* KC_TXN_PENDING */
                t->pend.refused = 0;
                return 2;
        }
}

void kc_txn_pending_wait(kc_txn_t *t, int64_t until) {
        while (t->pend.on && !t->failed) {
                if (kc_txn_pending_poll(t) != 2)
                        return;
                if (t->pend.refused || clk_mono_ms() >= until)
                        break;
                admin_beat(t->beat);
                clk_sleep_ms(5);
        }
        if (!t->pend.on || t->failed)
                return;
        /* Nothing of it may be committed: the partitions that stay are
         * consumed again, the revoked ones by their next owner. */
        log_warn(KC_TXN_LOG,
                 "%s: %s with an unacknowledged batch of %lld record(s)%s: "
                 "its offsets are not committed",
                 t->stage, t->closing ? "stopping" : "partitions revoked",
                 (long long)t->pend.records, t->pend.refused ? "" : " (still in flight)");
        kc_txn_pending_abort(t, !t->closing);
}

/* ---------------------------------------------------- the open batch's ack */

/* KC_ACK_EXTERNAL: hooks.acknowledge.  Returns 0 to go on with the commit
 * (or the abort it asked for), 2 when the loop waits for it (consumption
 * paused), 1 when it was aborted instead because it cannot wait (revoke,
 * close), 3 handed over (pending), -1 fatal. */
int kc_txn_acknowledge(kc_txn_t *t) {
        if (t->pend.on)
                return 2; /* the loop hands over one batch at a time */
        t->retry_ms = -1;
        t->retry_why = NULL;
        kc_txn_res_t r = t->hooks.acknowledge(t, t->hooks.opaque);
        if (r == KC_TXN_FATAL)
                return kc_txn_fail(t, "acknowledge hook failed");
        if (r == KC_TXN_PENDING)
                return txn_pending_begin(t) == -1 ? -1 : 3;
        if (r == KC_TXN_ABORT)
                t->abort_requested = 1;
        if (r != KC_TXN_RETRY)
                return 0;
        if (t->revoking || t->closing) {
                /* Nothing of it may be committed: the partitions that stay
                 * are consumed again, the revoked ones by their next owner. */
                log_warn(KC_TXN_LOG,
                         "%s: %s with an unacknowledged batch of %lld record(s): "
                         "its offsets are not committed",
                         t->stage, t->closing ? "stopping" : "partitions revoked",
                         (long long)t->records);
                return kc_txn_abort(t, !t->closing);
        }
        kc_txn_wait_begin(t, KC_TXN_WAIT_ACK);
        return 2;
}

int kc_txn_pending(const kc_txn_t *t) {
        return t->pend.on;
}
