/* kc_txn_due — when the open transaction (or batch) commits: the
 * deadlines, group commit once the input is drained, the linger (see
 * kc_txn.h, kc_txn_conf_t).  Split from kc_txn.c, the loop, which asks
 * kc_txn_due_ms() how long it may poll and kc_txn_due() after each poll. */
#include "kc_txn_int.h"

/* The end of the linger after the first output (kc_txn_linger_end() ends
 * it early). */
static int64_t txn_linger_end_ms(const kc_txn_t *t) {
        return t->first_out_ms + (t->linger_done ? 0 : t->linger_ms);
}

/* When the open transaction must commit: state_ms after it opened, or
 * batch_ms after its first output if that is sooner (kc_txn_conf_t), but
 * never within the linger.  From the first output, not from the opening: a
 * transaction that held only input for a while (compute between two
 * windows) would otherwise be overdue the moment it produced, and commit in
 * the middle of a fetched batch — the windows closing on its other
 * partitions a few records later then waited for that commit and made a
 * second one. */
static int64_t txn_deadline_ms(const kc_txn_t *t) {
        int64_t due = t->opened_ms + t->state_ms;
        if (t->produced > 0) {
                if (t->first_out_ms + t->batch_ms < due)
                        due = t->first_out_ms + t->batch_ms;
                if (due < txn_linger_end_ms(t))
                        due = txn_linger_end_ms(t);
        }
        return due;
}

/* When the open transaction is due: txn_deadline_ms(), or — once
 * it holds output someone downstream waits for — when the input has been
 * drained for idle_ms, whichever is first.  Under load the input never
 * drains and transactions stay batch-sized; a sparse or bursty input
 * (enrichment's aggregates, a window closing in compute) commits as soon
 * as the burst is through instead of waiting out the interval: group
 * commit, the batch adapting to the commit's own latency. */
int64_t kc_txn_due_ms(const kc_txn_t *t) {
        int64_t due = txn_deadline_ms(t);
        if (t->produced > 0 && t->idle_ms >= 0 && !t->behind) {
                int64_t idle = t->last_msg_ms + t->idle_ms;
                if (idle < txn_linger_end_ms(t))
                        idle = txn_linger_end_ms(t);
                if (idle < due)
                        due = idle;
        }
        return due;
}

/* Whether every partition consumed in the open transaction is read to its
 * end as of the last fetch (librdkafka's cached high watermark, the last
 * stable offset for read_committed).  An empty local queue alone is no
 * sign of idle input: catching up, it runs dry between fetches.  One
 * offset of slack: after a transactional producer's records the consumer's
 * position stops at the commit marker, one short of the end. */
static int txn_caught_up(kc_txn_t *t) {
        rd_kafka_t *rk = kc_rk(t->consumer);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(t->first);
        int ok = rd_kafka_position(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int i = 0; ok && i < l->cnt; i++) {
                int64_t lo, hi;
                const rd_kafka_topic_partition_t *p = &l->elems[i];
                if (rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) ==
                            RD_KAFKA_RESP_ERR_NO_ERROR &&
                    hi >= 0 && p->offset >= 0 && p->offset < hi - 1)
                        ok = 0;
        }
        rd_kafka_topic_partition_list_destroy(l);
        return ok;
}

/* Whether the open transaction must commit now; `drained`: the last poll
 * returned nothing. */
int kc_txn_due(kc_txn_t *t, int drained) {
        if (t->abort_requested || t->commit_now)
                return 1;
        int64_t now = clk_mono_ms();
        if (now >= txn_deadline_ms(t))
                return 1;
        /* The record cap too waits out the linger.  It bounds transactions
         * holding output only: one holding none is bounded by state_ms, and
         * a cap on it commits at a point that, at a steady rate, falls at
         * the same moment in every window (at 20k/s and 1 s windows, 20000
         * records after one window's commit is the next window's close),
         * splitting it in two commits again and again. */
        if (t->produced > 0 && t->records >= t->batch_records && now >= txn_linger_end_ms(t))
                return 1;
        if (!drained || t->produced == 0 || t->idle_ms < 0 || now < t->last_msg_ms + t->idle_ms ||
            now < txn_linger_end_ms(t))
                return 0;
        if (txn_caught_up(t))
                return 1;
        /* More to fetch: wait for it (kc_txn_due_ms) instead of asking again at
         * once; the next message clears this. */
        t->behind = 1;
        return 0;
}
