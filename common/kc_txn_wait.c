/* kc_txn_wait — the loop's pause while something said "not yet" (see
 * kc_txn.h, KC_TXN_RETRY): every assigned partition is paused, the loop
 * keeps polling (group membership, rebalances, ticks) and resumes them
 * when the batch is acknowledged or aborted, or the record's delay is up.
 *
 * librdkafka drops what it had fetched for a paused partition and fetches
 * again from the position when it is resumed, so nothing is lost by
 * pausing.  A partition assigned during the pause is paused once it is
 * assigned (kc_txn_wait_repause, after the poll that assigned it); a record
 * that still arrives from it is put back (kc_txn_put_back).
 *
 * Also a consumed message into the batch (kc_txn_message: the process
 * hook, whose "not yet" starts such a pause), and the calls hooks make that
 * are no part of the state machine: producing (kc_txn_produce*), accessors. */
#include <stdio.h>

#include "fw.h"
#include "kc_txn_int.h"
#include "log.h"

static void txn_pause_assignment(kc_txn_t *t, int pause) {
        rd_kafka_t *rk = kc_rk(t->consumer);
        /* Group mode: this loop's partitions only (kc_group.h).  A copy:
         * pause and resume write each partition's result into it. */
        rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_copy(t->group ? t->owned : kc_assigned(t->consumer));
        if (parts->cnt > 0) {
                rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(rk, parts)
                                                : rd_kafka_resume_partitions(rk, parts);
                if (err)
                        log_warn(KC_TXN_LOG, "%s: %s partitions: %s", t->stage,
                                 pause ? "pause" : "resume", rd_kafka_err2str(err));
                /* librdkafka 2.0.2 fetches a resumed partition only when its
                 * broker thread next wakes up, up to a second later: a sink
                 * catching up wrote two batches a second and idled the rest
                 * (bench-sink).  A request through each leader wakes it. */
                for (int i = 0; !pause && !err && i < parts->cnt; i++)
                        fw_wake(t->fw, parts->elems[i].topic, parts->elems[i].partition);
        }
        rd_kafka_topic_partition_list_destroy(parts);
}

void kc_txn_wait_begin(kc_txn_t *t, int kind) {
        if (kind == KC_TXN_WAIT_PENDING) {
                /* No deadline: the batch in flight settles it (kc_txn_ack.c). */
                if (!t->waiting) {
                        txn_pause_assignment(t, 1);
                        metrics_set(t->m_paused, 1);
                        t->pend.said = t->pend.why != NULL;
                        log_write(t->pend.said ? LOG_WARN : LOG_INFO, KC_TXN_LOG, NULL,
                                  "%s: %s: consumption paused until the batch in flight is "
                                  "acknowledged",
                                  t->stage, t->pend.why ? t->pend.why : "the next batch is full");
                }
                t->waiting = kind;
                t->repause = 0;
                return;
        }
        int64_t ms = t->retry_ms >= 0 ? t->retry_ms : 1000;
        t->retry_at_ms = clk_mono_ms() + ms;
        if (!t->waiting) {
                txn_pause_assignment(t, 1);
                metrics_set(t->m_paused, 1);
                log_warn(KC_TXN_LOG, "%s: %s: consumption paused (again in %lld ms)", t->stage,
                         t->retry_why              ? t->retry_why
                         : kind == KC_TXN_WAIT_ACK ? "the batch is not acknowledged yet"
                                                   : "a record cannot be taken yet",
                         (long long)ms);
        }
        t->waiting = kind;
        t->repause = 0;
}

void kc_txn_wait_end(kc_txn_t *t) {
        if (!t->waiting)
                return;
        t->waiting = 0;
        t->repause = 0;
        txn_pause_assignment(t, 0);
        metrics_set(t->m_paused, 0);
        log_info(KC_TXN_LOG, "%s: consumption resumed", t->stage);
}

void kc_txn_wait_repause(kc_txn_t *t) {
        if (t->waiting && t->repause) {
                t->repause = 0;
                txn_pause_assignment(t, 1);
        }
}

int kc_txn_put_back(kc_txn_t *t, const kc_msg_t *m, char *errstr, size_t errstr_size) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, kc_msg_topic(m), m->partition)->offset = m->offset;
        rd_kafka_pause_partitions(kc_rk(t->consumer), l);
        int r = kc_seek(t->consumer, l, 10000, errstr, errstr_size);
        rd_kafka_topic_partition_list_destroy(l);
        return r;
}

/* A consumed message (or a consumer error) into the open batch: the
 * process hook; a record it cannot take yet is put back and consumption
 * paused (KC_TXN_WAIT_RECORD).  Called by the loop in kc_txn.c. */
void kc_txn_message(kc_txn_t *t, const rd_kafka_message_t *m) {
        if (m->err) {
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || kc_consumer_error(t->consumer, m))
                        return;
                char why[512];
                char msg[600];
                if (m->err == RD_KAFKA_RESP_ERR__FATAL && kc_fatal(t->consumer, why, sizeof(why))) {
                        snprintf(msg, sizeof(msg), "consumer: %s", why);
                        kc_txn_fail(t, msg);
                } else
                        log_warn(KC_TXN_LOG, "consumer: %s%s%s",
                                 m->rkt ? rd_kafka_topic_name(m->rkt) : "", m->rkt ? ": " : "",
                                 rd_kafka_message_errstr(m));
                return;
        }
        fw_check(t->fw, m); /* every record consumed counts, taken or not */
        const char *topic = rd_kafka_topic_name(m->rkt);
        /* Group mode: fetched before its partition was revoked from this
         * loop (the queue is un-forwarded first, but what it held stays):
         * its next owner consumes it from the committed offset. */
        if (t->group && !rd_kafka_topic_partition_list_find(t->owned, topic, m->partition))
                return;
        if (kc_txn_begin(t) == -1) {
                /* Consumed but not processed: txn_recover() rewinds to it. */
                if (t->producer_failed &&
                    !rd_kafka_topic_partition_list_find(t->first, topic, m->partition))
                        rd_kafka_topic_partition_list_add(t->first, topic, m->partition)->offset =
                                m->offset;
                return;
        }
        if (!rd_kafka_topic_partition_list_find(t->first, topic, m->partition))
                rd_kafka_topic_partition_list_add(t->first, topic, m->partition)->offset =
                        m->offset;
        t->records++;
        t->last_msg_ms = clk_mono_ms();
        t->behind = 0;
        metrics_inc(t->m_in, 1);
        t->retry_ms = -1;
        t->retry_why = NULL;
        kc_txn_res_t r = t->hooks.process(t, m, t->hooks.opaque);
        char err[512], msg[800];
        if (r == KC_TXN_RETRY) {
                /* Not taken: consumed again after the wait.  Its offset may
                 * not be committed meanwhile: the position moves back to it. */
                t->records--;
                kc_txn_wait_begin(t, KC_TXN_WAIT_RECORD);
                if (kc_txn_put_back(t, m, err, sizeof(err)) == -1) {
                        snprintf(msg, sizeof(msg), "put back %s[%d]@%lld: %s", topic,
                                 (int)m->partition, (long long)m->offset, err);
                        kc_txn_fail(t, msg);
                }
        } else if (r == KC_TXN_ABORT) {
                t->abort_requested = 1;
        } else if (r == KC_TXN_FATAL) {
                snprintf(msg, sizeof(msg), "process hook failed at %s[%d]@%lld", topic,
                         (int)m->partition, (long long)m->offset);
                kc_txn_fail(t, msg);
        }
}

/* A record that arrived while consumption is paused (from a partition
 * assigned during the pause, before it was paused): consumed again later. */
void kc_txn_put_back_late(kc_txn_t *t, const kc_msg_t *m) {
        char err[512], why[700];
        if (kc_txn_put_back(t, m, err, sizeof(err)) == -1) {
                snprintf(why, sizeof(why), "put back %s[%d]@%lld: %s", kc_msg_topic(m),
                         (int)m->partition, (long long)m->offset, err);
                kc_txn_fail(t, why);
        }
}

void kc_txn_retry_after(kc_txn_t *t, int64_t ms, const char *why) {
        t->retry_ms = ms < 0 ? 0 : ms;
        t->retry_why = why;
}

void kc_txn_commit_now(kc_txn_t *t) {
        if (t->open)
                t->commit_now = 1;
}

void kc_txn_poll_now(kc_txn_t *t) {
        t->poll_now = 1;
}

int kc_txn_drained(const kc_txn_t *t) {
        return t->drained;
}

int kc_txn_paused(const kc_txn_t *t) {
        return t->waiting != 0;
}

void kc_txn_linger_end(kc_txn_t *t) {
        t->linger_done = 1;
}

admin_beat_t *kc_txn_beat(const kc_txn_t *t) {
        return t ? t->beat : NULL;
}

void kc_txn_set_fw(kc_txn_t *t, fw_t *fw) {
        t->fw = fw;
}

kc_t *kc_txn_consumer(kc_txn_t *t) {
        return t->consumer;
}

kc_guarantee_t kc_txn_guarantee(const kc_txn_t *t) {
        return t->guarantee;
}

const char *kc_txn_id(const kc_txn_t *t) {
        return t->tid;
}

rd_kafka_queue_t *kc_txn_queue(const kc_txn_t *t) {
        return t->queue;
}

/* ------------------------------------------------ producing, small calls */

static rd_kafka_resp_err_t txn_produce(kc_txn_t *t, const kc_record_t *rec) {
        /* From hooks.acknowledge about the batch in flight (its DLQ
         * records): that batch's, whose commit waits for their delivery. */
        if (!t->pend.polling && kc_txn_begin(t) == -1)
                return RD_KAFKA_RESP_ERR__STATE;
        rd_kafka_resp_err_t err = kc_produce(t->producer, rec, NULL, -1);
        if (err) {
                /* The batch in flight's: its hook answers KC_TXN_ABORT. */
                if (t->pend.polling)
                        return err;
                if (!t->abort_requested)
                        log_warn(KC_TXN_LOG, "produce to %s: %s (the transaction will abort)",
                                 rec->topic, rd_kafka_err2str(err));
                t->abort_requested = 1;
                return err;
        }
        metrics_inc(t->m_out, 1);
        return err;
}

rd_kafka_resp_err_t kc_txn_produce(kc_txn_t *t, const kc_record_t *rec) {
        rd_kafka_resp_err_t err = txn_produce(t, rec);
        if (!err && !t->pend.polling && t->produced++ == 0)
                t->first_out_ms = clk_mono_ms();
        return err;
}

rd_kafka_resp_err_t kc_txn_produce_state(kc_txn_t *t, const kc_record_t *rec) {
        return txn_produce(t, rec);
}

void kc_txn_produce_wait(kc_txn_t *t, int timeout_ms) {
        rd_kafka_t *p = kc_rk(t->producer);
        if (rd_kafka_outq_len(p) > 0)
                rd_kafka_flush(p, timeout_ms);
}

void kc_txn_output_pending(kc_txn_t *t) {
        if (t->open && t->produced++ == 0)
                t->first_out_ms = clk_mono_ms();
}
