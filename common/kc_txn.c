/* kc_txn — the consume-process-produce loop.  See kc_txn.h for the
 * contract; this file is its state machine.
 *
 * State: at most one open transaction (exactly-once) or batch (at-least-
 * once), `open`.  It opens with the first message consumed or record
 * produced, and ends in txn_commit() or txn_abort(), called from the loop
 * (batch full or old enough), from the revoke hook (before partitions go)
 * or at close.  `first` holds, per partition consumed in it, the offset of
 * its first message: the partitions whose offsets the commit sends, and
 * where an abort rewinds them to.  KC_ACK_EXTERNAL also has at most one batch
 * handed over and not yet acknowledged (t->pend, kc_txn_ack.c): the loop
 * asks about it every turn, holds the open batch while it is pending, and
 * waits for it in the revoke hook and at close.
 *
 * A fatal error anywhere (including in the rebalance hooks, which run
 * inside rd_kafka_consumer_poll()) sets `failed`; the loop sees it after the
 * poll and ends. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kc_group.h"
#include "kc_txn_int.h"
#include "log.h"

/* Records the first fatal error; returns -1 for `return txn_fatal(...)`. */
static int txn_fatal(kc_txn_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int txn_fatal(kc_txn_t *t, const char *fmt, ...) {
        if (t->failed)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->errstr, sizeof(t->errstr), fmt, ap);
        va_end(ap);
        t->failed = 1;
        log_error(KC_TXN_LOG, "%s: %s", t->tid[0] ? t->tid : t->stage, t->errstr);
        return -1;
}

/* Group mode: the shared stop flag closes the group, whose revocation
 * commits this loop's transaction; the loop ends once it has closed. */
static int txn_stop_requested(kc_txn_t *t) {
        return atomic_load(&t->stopping) ||
               (!t->group && t->stop_flag && atomic_load(t->stop_flag));
}

enum { TXN_RETRY, TXN_NEEDS_ABORT, TXN_FAILED };

/* A fatal error of the producer alone (fenced: e.g. its transaction timed
 * out while the broker was away, and the coordinator bumped the epoch).
 * Exactly-once, the loop re-creates the producer (txn_recover) instead of
 * ending; otherwise it is fatal for the loop. */
static void txn_producer_failed(kc_txn_t *t, const char *what, const char *why) {
        /* Refused by Kafka (an ACL): re-created whatever the guarantee,
         * since an operator fixes it without a restart. */
        int refused = kc_refused(t->producer, NULL, 0);
        if ((t->guarantee != KC_EXACTLY_ONCE && !refused) || t->failed) {
                txn_fatal(t, "%s: fatal: %s", what, why);
                return;
        }
        if (!t->producer_failed)
                log_write(refused ? LOG_DEBUG : LOG_ERROR, KC_TXN_LOG, NULL,
                          "%s: %s: fatal: %s (re-creating the producer)",
                          t->tid[0] ? t->tid : t->stage, what, why);
        t->producer_failed = 1;
}

/* Sorts an error of a transactional call into what to do about it, as
 * librdkafka's examples/transactions.c does; takes `error`. */
static int txn_classify(kc_txn_t *t, const char *call, rd_kafka_error_t *error) {
        int r;
        rd_kafka_resp_err_t code = rd_kafka_error_code(error);
        if (kc_refusal_kind(code) != KC_REFUSED_NONE)
                kc_access_refused(
                        t->producer, code, NULL, NULL,
                        code == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ? t->conf.group_id
                        : code == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED ? t->tid
                                                                                          : NULL,
                        rd_kafka_error_string(error));
        /* While Kafka refuses the producer, its line (kc_access) says why,
         * with backoff: each retry and abort is detail. */
        log_level_t lv = kc_refused(t->producer, NULL, 0) ? LOG_DEBUG : LOG_WARN;
        if (rd_kafka_error_is_fatal(error)) {
                txn_producer_failed(t, call, rd_kafka_error_string(error));
                r = TXN_FAILED;
        } else if (rd_kafka_error_is_retriable(error)) {
                log_write(lv, KC_TXN_LOG, NULL, "%s: %s (retrying)", call,
                          rd_kafka_error_string(error));
                r = TXN_RETRY;
        } else if (rd_kafka_error_txn_requires_abort(error)) {
                log_write(lv, KC_TXN_LOG, NULL, "%s: %s (aborting the transaction)", call,
                          rd_kafka_error_string(error));
                r = TXN_NEEDS_ABORT;
        } else {
                /* Not documented as recoverable: the state is unknown. */
                txn_fatal(t, "%s: %s", call, rd_kafka_error_string(error));
                r = TXN_FAILED;
        }
        rd_kafka_error_destroy(error);
        if (r == TXN_RETRY)
                clk_sleep_ms(100);
        return r;
}

int kc_txn_begin(kc_txn_t *t) {
        if (t->open)
                return 0;
        if (t->failed || t->producer_failed)
                return -1;
        rd_kafka_topic_partition_list_destroy(t->first);
        t->first = rd_kafka_topic_partition_list_new(8);
        if (t->guarantee == KC_EXACTLY_ONCE) {
                rd_kafka_error_t *error = rd_kafka_begin_transaction(kc_rk(t->producer));
                if (error) {
                        if (rd_kafka_error_is_fatal(error))
                                txn_producer_failed(t, "begin_transaction",
                                                    rd_kafka_error_string(error));
                        else
                                txn_fatal(t, "begin_transaction: %s", rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                        return -1;
                }
        }
        t->open = 1;
        t->abort_requested = 0;
        t->opened_ms = clk_mono_ms();
        t->records = 0;
        t->produced = 0;
        t->first_out_ms = 0;
        t->linger_done = 0;
        t->behind = 0;
        t->last_msg_ms = t->opened_ms;
        t->dr_failed_at_open = atomic_load(&t->producer->dr_failed);
        return 0;
}

/* Seeks the consumer back to t->first: the first offset consumed in the
 * failed transaction, per partition.  Returns 0, or -1 (fatal). */
static int txn_rewind(kc_txn_t *t) {
        /* Partitions being revoked, or already gone (lost while the producer
         * was being re-created), are left alone: their next owner starts
         * from the committed offsets anyway. */
        const rd_kafka_topic_partition_list_t *assigned =
                t->group ? t->owned : kc_assigned(t->consumer);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(t->first->cnt);
        for (int i = 0; i < t->first->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &t->first->elems[i];
                if ((!t->revoking ||
                     !rd_kafka_topic_partition_list_find(t->revoking, p->topic, p->partition)) &&
                    (!assigned ||
                     rd_kafka_topic_partition_list_find(assigned, p->topic, p->partition)))
                        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
                                p->offset;
        }
        char err[512];
        int r = l->cnt ? kc_seek(t->consumer, l, 10000, err, sizeof(err)) : 0;
        rd_kafka_topic_partition_list_destroy(l);
        if (r == -1)
                return txn_fatal(t, "rewind after abort: %s", err);
        return 0;
}

/* Aborts the open transaction; rewind=1 moves the consumer back to the
 * committed offsets of the partitions consumed in it.  Returns 1, or -1
 * when even that failed. */
static int txn_abort(kc_txn_t *t, int rewind) {
        if (!t->open)
                return 1;
        if (t->guarantee == KC_EXACTLY_ONCE) {
                /* librdkafka 2.0.2 mishandles an abort that races an
                 * AddPartitionsToTxn in flight: it ignores the broker's answer,
                 * then skips EndTxn (leaving the transaction open on the
                 * broker) or gets INVALID_TXN_STATE, a fatal error.  Seen on
                 * Kafka 3.9.  Delivering what is queued first settles every
                 * registration; those records are aborted with the rest. */
                rd_kafka_flush(kc_rk(t->producer), 10000);
                for (;;) {
                        rd_kafka_error_t *error =
                                rd_kafka_abort_transaction(kc_rk(t->producer), -1);
                        if (!error)
                                break;
                        if (txn_classify(t, "abort_transaction", error) != TXN_RETRY)
                                return t->producer_failed
                                               ? -1
                                               : txn_fatal(t, "cannot abort the transaction");
                }
        }
        /* At-least-once: what was produced stays; reprocessing duplicates it. */
        t->open = 0;
        t->consecutive_aborts++;
        metrics_inc(t->m_aborted, 1);
        log_info(KC_TXN_LOG, "%s: aborted after %lld record(s)%s", t->tid[0] ? t->tid : t->stage,
                 (long long)t->records, rewind ? ", rewinding" : "");
        /* Back to the first offset consumed in the transaction, per
         * partition: that is the last committed offset (every transaction
         * commits the positions it reached, and a failed one is rewound
         * here), known without asking the coordinator — which, during a
         * rebalance, would answer only after this member rejoined, i.e.
         * after this loop polls again.  Skipping records would break the
         * guarantee: a failed seek is fatal (the restarted process resumes
         * from the commit). */
        if (rewind && txn_rewind(t) == -1)
                return -1;
        t->commit_now = 0;
        kc_txn_wait_end(t);
        if (t->hooks.aborted)
                t->hooks.aborted(t, t->hooks.opaque);
        return 1;
}

/* The partitions consumed in the transaction at their positions (last
 * message returned + 1): the offsets it commits. */
rd_kafka_topic_partition_list_t *kc_txn_offsets(kc_txn_t *t) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(t->first);
        rd_kafka_resp_err_t err = rd_kafka_position(kc_rk(t->consumer), l);
        if (err) {
                rd_kafka_topic_partition_list_destroy(l);
                txn_fatal(t, "consumer positions: %s", rd_kafka_err2str(err));
                return NULL;
        }
        return l;
}

static int txn_commit_eos(kc_txn_t *t, const rd_kafka_topic_partition_list_t *offsets) {
        rd_kafka_t *p = kc_rk(t->producer);
        if (offsets->cnt > 0) {
                rd_kafka_consumer_group_metadata_t *cgmd =
                        rd_kafka_consumer_group_metadata(kc_rk(t->consumer));
                int r = TXN_RETRY;
                while (r == TXN_RETRY) {
                        rd_kafka_error_t *error =
                                rd_kafka_send_offsets_to_transaction(p, offsets, cgmd, -1);
                        if (!error)
                                break;
                        r = txn_classify(t, "send_offsets_to_transaction", error);
                }
                rd_kafka_consumer_group_metadata_destroy(cgmd);
                if (r == TXN_NEEDS_ABORT)
                        return txn_abort(t, 1);
                if (r == TXN_FAILED)
                        return -1;
        }
        for (;;) {
                rd_kafka_error_t *error = rd_kafka_commit_transaction(p, -1);
                if (!error)
                        return 0;
                int r = txn_classify(t, "commit_transaction", error);
                if (r == TXN_NEEDS_ABORT)
                        return txn_abort(t, 1);
                if (r == TXN_FAILED)
                        return -1;
        }
}

/* For kc_txn_wait.c and kc_txn_ack.c (kc_txn_int.h). */
int kc_txn_abort(kc_txn_t *t, int rewind) {
        return txn_abort(t, rewind);
}

int kc_txn_fail(kc_txn_t *t, const char *why) {
        return txn_fatal(t, "%s", why);
}

/* Ends the open transaction with a commit.  Returns 0 committed (or none
 * open), 1 aborted instead, 2 waiting for its acknowledgement, -1 fatal. */
static int txn_commit(kc_txn_t *t) {
        if (!t->open)
                return 0;
        if (!t->abort_requested && !t->failed && t->hooks.pre_commit) {
                kc_txn_res_t r = t->hooks.pre_commit(t, t->hooks.opaque);
                if (r == KC_TXN_FATAL)
                        return txn_fatal(t, "pre-commit hook failed");
                if (r == KC_TXN_ABORT)
                        t->abort_requested = 1;
        }
        if (t->failed)
                return -1;
        if (!t->abort_requested && t->guarantee == KC_ACK_EXTERNAL) {
                int r = kc_txn_acknowledge(t);
                if (r == 3)
                        return 0; /* handed over: pending (kc_txn_ack.c) */
                if (r != 0)
                        return r;
        }
        if (t->abort_requested)
                return txn_abort(t, 1);

        int64_t t0 = clk_mono_ms();
        rd_kafka_topic_partition_list_t *offsets = kc_txn_offsets(t);
        if (!offsets)
                return -1;
        int r = t->guarantee == KC_EXACTLY_ONCE ? txn_commit_eos(t, offsets)
                                                : kc_txn_commit_alo(t, offsets);
        rd_kafka_topic_partition_list_destroy(offsets);
        if (r != 0)
                return r;
        kc_access_ok(t->producer, KC_REFUSED_NONE);
        t->open = 0;
        t->commit_now = 0;
        t->consecutive_aborts = 0;
        t->recoveries = 0;
        kc_txn_wait_end(t);
        metrics_inc(t->m_committed, 1);
        int64_t took = clk_mono_ms() - t0;
        metrics_observe(t->m_commit_s, (double)took / 1000.0);
        log_debug(KC_TXN_LOG, "%s: committed %lld record(s) in %lld ms (open %lld ms, %lld out)",
                  t->tid[0] ? t->tid : t->stage, (long long)t->records, (long long)took,
                  (long long)(t0 - t->opened_ms), (long long)t->produced);
        if (t->hooks.committed)
                t->hooks.committed(t, t->records, t->hooks.opaque);
        return 0;
}

/* ------------------------------------------------------ rebalance hooks */

void kc_txn_on_assigned(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, void *opaque) {
        (void)kc;
        kc_txn_t *t = opaque;
        for (int i = 0; t->group && i < parts->cnt; i++)
                rd_kafka_topic_partition_list_add(t->owned, parts->elems[i].topic,
                                                  parts->elems[i].partition);
        if (t->waiting)
                t->repause = 1; /* paused too once assigned (after this poll) */
        if (t->hooks.assigned)
                t->hooks.assigned(t, parts, t->hooks.opaque);
}

/* Runs before the partitions go: what was consumed from them must be
 * committed by us now, or be consumed again by their next owner. */
void kc_txn_on_revoked(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, int lost,
                       void *opaque) {
        (void)kc;
        kc_txn_t *t = opaque;
        if ((t->open || t->pend.on) && !t->failed && !t->producer_failed) {
                t->revoking = parts;
                /* Lost: fenced, the offsets cannot be committed.  In
                 * group mode also a revocation the group stopped waiting
                 * for; other partitions of this loop are rewound.  Else
                 * the batch in flight (KC_ACK_EXTERNAL), then the open
                 * one, acknowledged within KC_TXN_PENDING_WAIT_MS. */
                if (lost) {
                        if (t->pend.on)
                                kc_txn_pending_abort(t, t->group != NULL);
                        else
                                txn_abort(t, t->group != NULL);
                } else {
                        int64_t until = clk_mono_ms() + KC_TXN_PENDING_WAIT_MS;
                        kc_txn_pending_wait(t, until);
                        txn_commit(t);
                        kc_txn_pending_wait(t, until);
                }
                t->revoking = NULL;
        }
        if (!lost)
                kc_txn_uncommitted_retry(t, 1); /* the last chance: ours until now */
        kc_txn_uncommitted_drop(t, parts);      /* their next owner redoes the rest */
        if (t->hooks.revoked)
                t->hooks.revoked(t, parts, lost, t->hooks.opaque);
        for (int i = 0; t->group && i < parts->cnt; i++)
                rd_kafka_topic_partition_list_del(t->owned, parts->elems[i].topic,
                                                  parts->elems[i].partition);
}

/* ----------------------------------------------------------- the loop */

/* Consecutive aborts mean something keeps failing: back off (100 ms
 * doubling to 5 s) rather than spin, while still honouring stop. */
static void txn_backoff(kc_txn_t *t) {
        if (t->consecutive_aborts < 2)
                return;
        int shift = t->consecutive_aborts - 2 < 6 ? t->consecutive_aborts - 2 : 6;
        int64_t ms = 100LL << shift;
        if (ms > 5000)
                ms = 5000;
        for (int64_t slept = 0; slept < ms && !txn_stop_requested(t); slept += 100)
                clk_sleep_ms(100);
}

/* Commit what is open, leave the group, deliver what is queued. */
static int txn_close(kc_txn_t *t, char *errstr, size_t errstr_size) {
        char why[512];
        t->closing = 1;
        if ((t->open || t->pend.on) && !t->producer_failed) {
                if (!t->failed) {
                        int64_t until = clk_mono_ms() + KC_TXN_PENDING_WAIT_MS;
                        kc_txn_pending_wait(t, until);
                        txn_commit(t);
                        kc_txn_pending_wait(t, until);
                } else if (t->guarantee == KC_EXACTLY_ONCE &&
                           !kc_fatal(t->producer, why, sizeof(why))) {
                        txn_abort(t, 0);
                }
        }
        if (t->pend.on) /* failed: nothing more is committed */
                kc_txn_pending_abort(t, 0);
        kc_txn_uncommitted_retry(t, 1);
        rd_kafka_resp_err_t err =
                t->group ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_consumer_close(kc_rk(t->consumer));
        if (err)
                log_warn(KC_TXN_LOG, "consumer close: %s", rd_kafka_err2str(err));
        rd_kafka_flush(kc_rk(t->producer), 10000);
        if (t->failed) {
                snprintf(errstr, errstr_size, "%s", t->errstr);
                return -1;
        }
        log_info(KC_TXN_LOG, "%s: closed", t->tid[0] ? t->tid : t->stage);
        return 0;
}

/* After the producer failed (txn_producer_failed): what the open
 * transaction did is lost — the broker aborts it when the new producer
 * initialises transactions under the same transactional.id — so the
 * consumer goes back to where it began and the service drops its state
 * (hooks.aborted), as after an abort; then a new producer.  Kafka Streams
 * does the same on a fenced producer (TaskMigratedException).  Gives up
 * (fatal) after 5 failures without a commit in between.  Returns 0 or -1. */
static int txn_recover(kc_txn_t *t) {
        /* Refused by Kafka (a missing ACL on the transactional id, ...):
         * not this process's fault, and fixed by an operator without a
         * restart, so it never counts towards giving up.  The backoff
         * grows to 30 s; the refusal's line and readiness carry over. */
        int refused = kc_refused(t->producer, NULL, 0);
        if (refused)
                t->refused_recoveries++;
        else
                t->refused_recoveries = 0;
        if (!refused && ++t->recoveries > 5)
                return txn_fatal(t, "%s: the producer failed %d times in a row", t->tid,
                                 t->recoveries - 1);
        log_write(refused ? LOG_DEBUG : LOG_WARN, KC_TXN_LOG, NULL,
                  "%s: re-creating the producer; the open transaction (%lld record(s)) "
                  "is lost and its input consumed again",
                  t->tid,
                  (long long)((t->open ? t->records : 0) + (t->pend.on ? t->pend.records : 0)));
        kc_txn_pending_fold(t); /* lost with the open one */
        if (t->first->cnt > 0 && txn_rewind(t) == -1)
                return -1;
        if (t->open) {
                t->open = 0;
                metrics_inc(t->m_aborted, 1);
        }
        rd_kafka_topic_partition_list_destroy(t->first);
        t->first = rd_kafka_topic_partition_list_new(8);
        if (t->hooks.aborted)
                t->hooks.aborted(t, t->hooks.opaque);
        metrics_inc(t->m_recreated, 1);
        if (refused)
                kc_txn_refused_wait(t, t->refused_recoveries);
        char err[512];
        if (kc_txn_producer_restart(t, err, sizeof(err)) == -1)
                return txn_fatal(t, "re-creating the producer: %s", err);
        t->producer_failed = 0;
        t->consecutive_aborts++;
        txn_backoff(t);
        return 0;
}

/* Group mode, every turn: serves a rebalance the group posted; 1 once the
 * group has closed (the loop ends; fatal if it closed on an error). */
static int txn_group_turn(kc_txn_t *t, const kc_rebalance_hooks_t *gh) {
        kc_group_serve(t->group, t->conf.instance, gh);
        const char *why;
        if (!kc_group_closed(t->group, &why))
                return 0;
        kc_group_serve(t->group, t->conf.instance, gh); /* the close's revocation */
        if (why[0])
                txn_fatal(t, "consumer group: %s", why);
        return 1;
}

st_t kc_txn_run(kc_txn_t *t, char *errstr, size_t errstr_size) {
        if (t->ran) {
                snprintf(errstr, errstr_size, "kc_txn_run: already ran");
                return ST_INVALID;
        }
        t->ran = 1;
        rd_kafka_t *c = kc_rk(t->consumer);
        char why[512];
        kc_rebalance_hooks_t gh = {
                .assigned = kc_txn_on_assigned, .revoked = kc_txn_on_revoked, .opaque = t};
        while (!t->failed && !txn_stop_requested(t)) {
                admin_beat(t->beat);
                if (t->group && txn_group_turn(t, &gh))
                        break;
                if (t->producer_failed) {
                        if (txn_recover(t) == -1)
                                break;
                        continue;
                }
                rd_kafka_poll(kc_rk(t->producer), 0); /* delivery reports, statistics, errors */
                if (t->commit_q)
                        rd_kafka_queue_poll_callback(t->commit_q, 0); /* txn_commit_done */
                if (kc_fatal(t->consumer, why, sizeof(why))) {
                        txn_fatal(t, "%s", why);
                        break;
                }
                if (kc_fatal(t->producer, why, sizeof(why))) {
                        txn_producer_failed(t, "producer", why);
                        continue;
                }
                /* A batch in flight: asked about every 10 ms (100 ms while
                 * refused); the open batch's deadline only matters after.
                 * (Not rd_kafka_queue_yield() from the service's thread: a
                 * yield left pending breaks rd_kafka_consumer_close().) */
                int timeout = 100;
                if (t->pend.on) {
                        timeout = t->pend.refused ? 100 : 10;
                } else if (t->waiting) {
                        int64_t left = t->retry_at_ms - clk_mono_ms();
                        timeout = left <= 0 ? 0 : left < 100 ? (int)left : 100;
                } else if (t->open && !t->pend.on) {
                        int64_t left = kc_txn_due_ms(t) - clk_mono_ms();
                        timeout = left <= 0 ? 0 : left < 100 ? (int)left : 100;
                }
                if (t->poll_now) {
                        timeout = 0;
                        t->poll_now = 0;
                }
                rd_kafka_message_t *m = t->queue ? rd_kafka_consume_queue(t->queue, timeout)
                                                 : rd_kafka_consumer_poll(c, timeout);
                int drained = !m;
                t->drained = drained;
                /* A rebalance of this loop's partitions posted meanwhile
                 * comes before the message (it may revoke its partition). */
                if (t->group)
                        kc_group_serve(t->group, t->conf.instance, &gh);
                if (m) {
                        if (t->failed)
                                ;
                        else if (t->waiting && !m->err)
                                kc_txn_put_back_late(t, m);
                        else
                                kc_txn_message(t, m);
                        rd_kafka_message_destroy(m);
                }
                kc_txn_wait_repause(t);
                if (!t->failed && t->hooks.tick) {
                        kc_txn_res_t r = t->hooks.tick(t, t->hooks.opaque);
                        if (r == KC_TXN_ABORT && t->open)
                                t->abort_requested = 1;
                        else if (r == KC_TXN_FATAL)
                                txn_fatal(t, "tick hook failed");
                }
                if (t->pend.on && !t->failed && kc_txn_pending_poll(t) == 1)
                        txn_backoff(t); /* the batch in flight failed */
                if (t->failed)
                        break;
                if (t->waiting == KC_TXN_WAIT_PENDING) {
                        continue; /* until the batch in flight settles */
                } else if (t->waiting) {
                        if (clk_mono_ms() < t->retry_at_ms)
                                continue;
                        if (t->waiting == KC_TXN_WAIT_RECORD)
                                kc_txn_wait_end(t);
                        else if (txn_commit(t) == 1) /* asks for the acknowledgement again */
                                txn_backoff(t);
                } else if (t->open && kc_txn_due(t, drained)) {
                        /* One batch in flight at a time: a due one grows
                         * on, a full one pauses consumption. */
                        if (t->pend.on && !t->abort_requested) {
                                if (t->commit_now || t->records >= t->batch_records)
                                        kc_txn_wait_begin(t, KC_TXN_WAIT_PENDING);
                        } else if (txn_commit(t) == 1) {
                                txn_backoff(t);
                        }
                } else if (t->uncommitted && !t->open && !t->pend.on) {
                        kc_txn_uncommitted_retry(t, 0);
                }
        }
        /* Closing may wait for the broker: still this loop's thread, still
         * beating through kc_txn_refused_wait(); done only once it returns. */
        int rc = txn_close(t, errstr, errstr_size);
        if (t->commit_q) { /* before the group's consumer can go */
                rd_kafka_queue_poll_callback(t->commit_q, 0);
                rd_kafka_queue_destroy(t->commit_q);
                t->commit_q = NULL;
        }
        if (t->group)
                kc_group_detach(t->group, t->conf.instance);
        admin_beat_end(t->beat);
        return rc == 0 ? ST_OK : ST_FATAL;
}

void kc_txn_stop(kc_txn_t *t) {
        atomic_store(&t->stopping, 1);
}

/* kc_txn_conf_init, kc_txn_conf_env, kc_txn_default_id, kc_txn_new and
 * kc_txn_destroy are in kc_txn_setup.c; a message into the batch, producing
 * and the hooks' small calls in kc_txn_wait.c; the at-least-once and
 * acknowledged-externally commits, with the batch in flight, in
 * kc_txn_ack.c. */
