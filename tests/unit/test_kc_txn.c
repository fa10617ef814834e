/* test_kc_txn — the consume-process-produce loop (kc_txn*.c) on librdkafka's
 * mock cluster, which implements the transactional protocol (InitProducerId,
 * AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn) but not the
 * broker side of isolation (no control records, no LSO): so these tests
 * check the loop's contract as the application sees it — every input
 * record is in exactly one committed transaction, the group's offsets end
 * at the end of the input — and its error paths.  Exactly-once as a
 * read_committed reader sees it is proven on a real broker (kc_tool
 * txn-copy in the integration tests). */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "kc.h"
#include "kc_group.h"
#include "kc_txn.h"
#include "log.h"
#include "metrics.h"
#include "th.h"
#include "th_kc_txn.h"

/* What the hooks saw, per input record (value "r<i>"). */
typedef struct run_s {
        const char *out;
        int abort_every;
        int attempts;
        int pending[N_RECORDS]; /* processed in the open transaction */
        int done[N_RECORDS];    /* committed */
        int committed_records;
        int committed, aborted, assigned, revoked;
        time_t deadline;
        atomic_int stop;
        /* Group mode: records committed by every loop, and the group's
         * stop flag raised once they are all in. */
        atomic_int *total, *stop_all;
} run_t;

static kc_txn_res_t on_process(kc_txn_t *t, const rd_kafka_message_t *m, void *opaque) {
        run_t *r = opaque;
        int i = atoi((const char *)m->payload + 1);
        if (i >= 0 && i < N_RECORDS)
                r->pending[i]++;
        kc_record_t rec = {.topic = r->out,
                           .partition = RD_KAFKA_PARTITION_UA,
                           .key = m->key,
                           .key_len = m->key_len,
                           .value = m->payload,
                           .value_len = m->len};
        return kc_txn_produce(t, &rec) ? KC_TXN_ABORT : KC_TXN_OK;
}

static kc_txn_res_t on_pre_commit(kc_txn_t *t, void *opaque) {
        (void)t;
        run_t *r = opaque;
        r->attempts++;
        return r->abort_every && r->attempts % r->abort_every == 0 ? KC_TXN_ABORT : KC_TXN_OK;
}

static void on_committed(kc_txn_t *t, int64_t records, void *opaque) {
        (void)t;
        run_t *r = opaque;
        r->committed++;
        r->committed_records += (int)records;
        for (int i = 0; i < N_RECORDS; i++) {
                r->done[i] += r->pending[i];
                r->pending[i] = 0;
        }
        if (r->total) {
                if (atomic_fetch_add(r->total, (int)records) + (int)records >= N_RECORDS)
                        atomic_store(r->stop_all, 1);
        } else if (r->committed_records >= N_RECORDS) {
                atomic_store(&r->stop, 1);
        }
}

static void on_aborted(kc_txn_t *t, void *opaque) {
        (void)t;
        run_t *r = opaque;
        r->aborted++;
        memset(r->pending, 0, sizeof(r->pending));
}

static void on_assigned(kc_txn_t *t, const rd_kafka_topic_partition_list_t *parts, void *opaque) {
        (void)t;
        ((run_t *)opaque)->assigned += parts->cnt;
}

static void on_revoked(kc_txn_t *t, const rd_kafka_topic_partition_list_t *parts, int lost,
                       void *opaque) {
        (void)t;
        (void)lost;
        ((run_t *)opaque)->revoked += parts->cnt;
}

static kc_txn_res_t on_tick(kc_txn_t *t, void *opaque) {
        (void)t;
        run_t *r = opaque;
        if (time(NULL) > r->deadline) /* watchdog: the checks will fail */
                atomic_store(r->stop_all ? r->stop_all : &r->stop, 1);
        return KC_TXN_OK;
}

static int run_loop_with(rd_kafka_mock_cluster_t *mc, run_t *r, const char *group, kc_guarantee_t g,
                         const char *stage,
                         kc_txn_res_t (*process)(kc_txn_t *, const rd_kafka_message_t *, void *),
                         char *err, size_t errsize) {
        const char *topics[] = {"in", NULL};
        const char *props[] = {"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), NULL};
        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        conf.stage = stage;
        conf.group_id = group;
        conf.topics = topics;
        conf.guarantee = g;
        conf.batch_records = 40;
        conf.batch_ms = 50;
        conf.props = props;
        conf.stop = &r->stop;
        conf.hooks = (kc_txn_hooks_t){.process = process,
                                      .pre_commit = on_pre_commit,
                                      .committed = on_committed,
                                      .aborted = on_aborted,
                                      .assigned = on_assigned,
                                      .revoked = on_revoked,
                                      .tick = on_tick,
                                      .opaque = r};
        r->out = "out";
        r->deadline = time(NULL) + 20;
        kc_txn_t *t = kc_txn_new(&conf, NULL, err, errsize);
        TH_CHECK(t != NULL);
        if (!t)
                return -2;
        if (g == KC_EXACTLY_ONCE)
                TH_CHECK(strlen(kc_txn_id(t)) > 0);
        int rc = kc_txn_run(t, err, errsize);
        kc_txn_destroy(t);
        return rc;
}

static int run_loop(rd_kafka_mock_cluster_t *mc, run_t *r, const char *group, kc_guarantee_t g,
                    char *err, size_t errsize) {
        return run_loop_with(mc, r, group, g, "txntest", on_process, err, errsize);
}

static void check_exactly_once(const run_t *r) {
        int missing = 0, dup = 0;
        for (int i = 0; i < N_RECORDS; i++) {
                missing += r->done[i] == 0;
                dup += r->done[i] > 1;
        }
        TH_CHECK_INT(missing, 0);
        TH_CHECK_INT(dup, 0);
        TH_CHECK_INT(r->committed_records, N_RECORDS);
}

static void test_setup(void) {
        log_set_level(LOG_WARN);
}

/* Every 3rd transaction aborted by the application, and the broker
 * refusing one AddPartitionsToTxn (an abortable error): each record still
 * ends up in exactly one committed transaction. */
static void test_eos_aborts(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *p = mock_setup(&mc);
        if (!p)
                return;
        static run_t r;
        memset(&r, 0, sizeof(r));
        r.abort_every = 3;
        rd_kafka_mock_push_request_errors(mc, 24 /* AddPartitionsToTxn */, 1,
                                          RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
        char err[512] = "";
        int rc = run_loop(mc, &r, "g-eos", KC_EXACTLY_ONCE, err, sizeof(err));
        TH_CHECK_INT(rc, 0);
        if (rc)
                fprintf(stderr, "  %s\n", err);
        check_exactly_once(&r);
        TH_CHECK(r.aborted >= 2);
        TH_CHECK(r.committed >= 2);
        TH_CHECK_INT(r.assigned, 3);
        TH_CHECK_INT(r.revoked, 3); /* at close */
        /* The 2.0.2 mock acknowledges TxnOffsetCommit without storing the
         * offsets (the rewinds above fell back to the first offsets of the
         * aborted transactions): the group's offsets are checked on the real
         * broker instead. */
        metrics_family_t *f =
                metrics_counter_family("weir_txntest_kafka_transactions_total", "test", "result");
        TH_CHECK(f && metrics_value(metrics_child(f, "aborted")) == r.aborted);
        TH_CHECK(f && metrics_value(metrics_child(f, "committed")) == r.committed);
        kc_destroy(p);
}

/* The coordinator fences the producer at commit (a fatal error for the
 * producer): the loop re-creates it, the lost transaction's records are
 * consumed again (hooks.aborted dropped them) and every record still ends
 * up in exactly one committed transaction. */
static void test_eos_fenced_recovers(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *p = mock_setup(&mc);
        if (!p)
                return;
        static run_t r;
        memset(&r, 0, sizeof(r));
        metrics_child_t *re = metrics_counter("weir_txntest_kafka_producer_recreated_total", "t");
        double before = metrics_value(re);
        rd_kafka_mock_push_request_errors(mc, 26 /* EndTxn */, 1,
                                          RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
        char err[512] = "";
        int rc = run_loop(mc, &r, "g-fenced", KC_EXACTLY_ONCE, err, sizeof(err));
        TH_CHECK_INT(rc, 0);
        if (rc)
                fprintf(stderr, "  %s\n", err);
        check_exactly_once(&r);
        TH_CHECK(r.aborted >= 1);
        TH_CHECK(metrics_value(re) - before == 1);
        kc_destroy(p);
}

/* Fenced again and again without a commit in between: the loop gives up
 * with -1 and the reason, after closing the consumer. */
static void test_eos_fenced_gives_up(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *p = mock_setup(&mc);
        if (!p)
                return;
        static run_t r;
        memset(&r, 0, sizeof(r));
        rd_kafka_mock_push_request_errors(
                mc, 26 /* EndTxn */, 8, RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
                RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
                RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
                RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
                RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
        char err[512] = "";
        int rc = run_loop(mc, &r, "g-fatal", KC_EXACTLY_ONCE, err, sizeof(err));
        TH_CHECK_INT(rc, ST_FATAL);
        TH_CHECK(strstr(err, "failed 5 times in a row") != NULL);
        fprintf(stderr, "  (expected) %s\n", err);
        TH_CHECK_INT(r.committed, 0);
        kc_destroy(p);
}

/* At-least-once: no transactions, flush then commit; nothing is lost and,
 * with no failures, nothing is duplicated either. */
/* kc_txn_produce_wait: once it returns, every record produced so far has
 * its delivery report (the broker has it), although the producer lingers
 * 5 ms before sending. */
static metrics_child_t *wait_delivered;
static int wait_produced, wait_behind;

static kc_txn_res_t wait_process(kc_txn_t *t, const rd_kafka_message_t *m, void *opaque) {
        kc_txn_res_t r = on_process(t, m, opaque);
        if (r != KC_TXN_OK)
                return r;
        wait_produced++;
        kc_txn_produce_wait(t, 5000);
        if (metrics_value(wait_delivered) < wait_produced)
                wait_behind++;
        return KC_TXN_OK;
}

static void test_eos_produce_wait(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *p = mock_setup(&mc);
        if (!p)
                return;
        wait_delivered = metrics_child(
                metrics_counter_family("weir_txnwait_kafka_delivery_reports_total",
                                       "Delivery reports of produced messages, by result "
                                       "(delivered, failed, or purged by an abort or shutdown).",
                                       "result"),
                "delivered");
        TH_CHECK(wait_delivered != NULL);
        if (!wait_delivered) {
                kc_destroy(p);
                return;
        }
        run_t r = {0};
        char err[512];
        TH_CHECK_INT(run_loop_with(mc, &r, "g-wait", KC_EXACTLY_ONCE, "txnwait", wait_process, err,
                                   sizeof(err)),
                     0);
        check_exactly_once(&r);
        TH_CHECK(wait_produced >= N_RECORDS);
        TH_CHECK_INT(wait_behind, 0);
        kc_destroy(p);
}

static void test_alo(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *p = mock_setup(&mc);
        if (!p)
                return;
        static run_t r;
        memset(&r, 0, sizeof(r));
        char err[512] = "";
        int rc = run_loop(mc, &r, "g-alo", KC_AT_LEAST_ONCE, err, sizeof(err));
        TH_CHECK_INT(rc, 0);
        if (rc)
                fprintf(stderr, "  %s\n", err);
        check_exactly_once(&r);
        TH_CHECK_INT(committed_sum(mc, "g-alo"), N_RECORDS);
        kc_destroy(p);
}

/* ------------------------------------------- acknowledged externally */

/* One KC_ACK_EXTERNAL loop (the sink's mode) and what its hooks saw. */
typedef struct ack_s {
        run_t r;
        atomic_int *down;   /* the external system refuses while set */
        atomic_int *total;  /* distinct records committed by every loop of the test */
        int retry_first;    /* acknowledge says "not yet" this many times first */
        int record_retries; /* process says "not yet" to r7 this many times */
        int linger_stop;    /* run on 3 s after every record was committed */
        int acks, not_yet, paused_ticks, processed_while_paused, revoked_while_paused;
        kc_txn_t *t;
        const char *group;
        rd_kafka_mock_cluster_t *mc;
        int rc;
        char err[512];
} ack_t;

static kc_txn_res_t ack_process(kc_txn_t *t, const kc_msg_t *m, void *opaque) {
        ack_t *a = opaque;
        int i = atoi((const char *)m->payload + 1);
        if (kc_txn_paused(t))
                a->processed_while_paused++;
        if (i == 7 && a->record_retries > 0) {
                a->record_retries--;
                kc_txn_retry_after(t, 30, NULL);
                return KC_TXN_RETRY;
        }
        if (i >= 0 && i < N_RECORDS)
                a->r.pending[i]++;
        return KC_TXN_OK;
}

static kc_txn_res_t ack_acknowledge(kc_txn_t *t, void *opaque) {
        ack_t *a = opaque;
        a->acks++;
        if (atomic_load(a->down) || a->retry_first > 0) {
                if (a->retry_first > 0)
                        a->retry_first--;
                a->not_yet++;
                kc_txn_retry_after(t, 30, NULL);
                return KC_TXN_RETRY;
        }
        return KC_TXN_OK;
}

/* Which records some loop committed (at least once: with a rebalance, a
 * commit refused for a stale generation means its records come again). */
static atomic_int ack_seen[N_RECORDS];

static void ack_committed(kc_txn_t *t, int64_t records, void *opaque) {
        ack_t *a = opaque;
        for (int i = 0; i < N_RECORDS; i++)
                if (a->r.pending[i] && atomic_fetch_add(&ack_seen[i], 1) == 0)
                        atomic_fetch_add(a->total, 1);
        (void)t;
        a->r.committed++;
        a->r.committed_records += (int)records;
        for (int i = 0; i < N_RECORDS; i++) {
                a->r.done[i] += a->r.pending[i];
                a->r.pending[i] = 0;
        }
}

static void ack_aborted(kc_txn_t *t, void *opaque) {
        on_aborted(t, &((ack_t *)opaque)->r);
}

static void ack_revoked(kc_txn_t *t, const rd_kafka_topic_partition_list_t *parts, int lost,
                        void *opaque) {
        ack_t *a = opaque;
        /* the batch that waited was aborted by the loop just before */
        if (a->not_yet > 0 && a->r.aborted > 0)
                a->revoked_while_paused++;
        on_revoked(t, parts, lost, &a->r);
}

/* Every record was committed once by some loop; stop 3 s later (records
 * of a commit the broker refused come again meanwhile). */
static atomic_long ack_all_at;
static atomic_long ack_asked_at; /* linger_stop: when the group's offsets were last asked */

static kc_txn_res_t ack_tick(kc_txn_t *t, void *opaque) {
        ack_t *a = opaque;
        a->paused_ticks += kc_txn_paused(t);
        long now = (long)clk_mono_ms(), zero = 0;
        if (atomic_load(a->total) >= N_RECORDS)
                atomic_compare_exchange_strong(&ack_all_at, &zero, now);
        long at = atomic_load(&ack_all_at);
        /* With linger_stop, also until the group's offsets reached the end
         * (asked at most twice a second): under load a commit refused for
         * a stale generation can take longer than 3 s to be made again,
         * and a loop stopped before that leaves it to the next owner. */
        int done = at && now - at >= (a->linger_stop ? 3000 : 0);
        if (done && a->linger_stop) {
                long asked = atomic_load(&ack_asked_at);
                done = now - asked >= 500 &&
                       atomic_compare_exchange_strong(&ack_asked_at, &asked, now) &&
                       committed_sum(a->mc, a->group) >= N_RECORDS;
                if (done) /* the other loop stops too */
                        atomic_store(&ack_asked_at, LONG_MAX);
        }
        if (done || atomic_load(&ack_asked_at) == LONG_MAX || time(NULL) > a->r.deadline)
                atomic_store(&a->r.stop, 1);
        return KC_TXN_OK;
}

static kc_txn_t *ack_new(ack_t *a) {
        static const char *topics[] = {"in", NULL};
        const char *props[] = {"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(a->mc), NULL};
        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        conf.stage = "acktest";
        conf.group_id = a->group;
        conf.topics = topics;
        conf.guarantee = KC_ACK_EXTERNAL;
        conf.batch_ms = conf.state_ms = 50;
        conf.idle_ms = -1;
        conf.props = props;
        conf.stop = &a->r.stop;
        conf.hooks = (kc_txn_hooks_t){.process = ack_process,
                                      .committed = ack_committed,
                                      .aborted = ack_aborted,
                                      .revoked = ack_revoked,
                                      .tick = ack_tick,
                                      .opaque = a,
                                      .acknowledge = ack_acknowledge};
        a->r.deadline = time(NULL) + 60;
        return kc_txn_new(&conf, NULL, a->err, sizeof(a->err));
}

static void *ack_thread(void *opaque) {
        ack_t *a = opaque;
        a->rc = a->t ? (int)kc_txn_run(a->t, a->err, sizeof(a->err)) : -2;
        return NULL;
}

/* Every record committed (once, when `once`) over the loops' committed
 * hooks. */
static void check_committed(const ack_t *a, const ack_t *b, int once) {
        int missing = 0, dup = 0;
        for (int i = 0; i < N_RECORDS; i++) {
                int n = a->r.done[i] + (b ? b->r.done[i] : 0);
                missing += n == 0;
                dup += n > 1;
        }
        TH_CHECK_INT(missing, 0);
        if (once)
                TH_CHECK_INT(dup, 0);
}

static void ack_reset(void) {
        atomic_store(&ack_all_at, 0);
        atomic_store(&ack_asked_at, 0);
        for (int i = 0; i < N_RECORDS; i++)
                atomic_store(&ack_seen[i], 0);
}

/* The external system says "not yet" three times, and one record cannot be
 * taken twice: consumption is paused meanwhile (no record processed while
 * paused), nothing is committed before the acknowledgement, and in the
 * end every record is committed once and the group's offsets are at the
 * end of the input. */
static void test_ack_external_not_yet(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *p = mock_setup(&mc);
        if (!p)
                return;
        static ack_t a;
        static atomic_int down, total;
        ack_reset();
        memset(&a, 0, sizeof(a));
        atomic_store(&down, 0);
        atomic_store(&total, 0);
        a.down = &down;
        a.total = &total;
        a.retry_first = 3;
        a.record_retries = 2;
        a.group = "g-ack";
        a.mc = mc;
        kc_txn_t *t = ack_new(&a);
        TH_CHECK(t != NULL);
        if (!t) {
                kc_destroy(p);
                return;
        }
        int rc = kc_txn_run(t, a.err, sizeof(a.err));
        TH_CHECK_INT(rc, 0);
        if (rc)
                fprintf(stderr, "  %s\n", a.err);
        kc_txn_destroy(t);
        check_committed(&a, NULL, 1);
        TH_CHECK(a.not_yet >= 3);
        TH_CHECK(a.paused_ticks > 0);
        TH_CHECK_INT(a.processed_while_paused, 0);
        TH_CHECK_INT(a.record_retries, 0);
        TH_CHECK_INT(a.r.aborted, 0);
        TH_CHECK_INT(committed_sum(mc, "g-ack"), N_RECORDS);
        metrics_child_t *paused = metrics_gauge("weir_acktest_consumption_paused", "t");
        TH_CHECK(metrics_value(paused) == 0); /* resumed */
        kc_destroy(p);
}

/* The external system is down and a second member joins: partitions are
 * revoked from the first while its batch waits.  Asked once more, it still
 * says "not yet": the batch is aborted, nothing of it committed, the
 * partitions it keeps are consumed again.  Once the system is back every
 * record is committed by one of the two (at least once: the mock refuses an
 * offset commit made while the group rebalances, whose records then come
 * again), and the group's offsets reach the end of the input (a refused
 * commit of an acknowledged batch is tried again). */
static void test_ack_external_revoke_while_waiting(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *p = mock_setup(&mc);
        if (!p)
                return;
        static ack_t a, b;
        static atomic_int down, total;
        ack_reset();
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        atomic_store(&down, 1);
        atomic_store(&total, 0);
        a.down = b.down = &down;
        a.total = b.total = &total;
        a.group = b.group = "g-ack-rebalance";
        a.linger_stop = b.linger_stop = 1;
        a.mc = b.mc = mc;
        a.t = ack_new(&a);
        TH_CHECK(a.t != NULL);
        pthread_t ta, tb;
        pthread_create(&ta, NULL, ack_thread, &a);
        /* a takes every partition, consumes, waits for the acknowledgement */
        for (int i = 0; i < 200 && (a.not_yet < 2 || !kc_txn_paused(a.t)); i++)
                usleep(50 * 1000);
        TH_CHECK(a.not_yet >= 2);
        TH_CHECK_INT(committed_sum(mc, "g-ack-rebalance"), 0);
        b.t = ack_new(&b);
        TH_CHECK(b.t != NULL);
        pthread_create(&tb, NULL, ack_thread, &b);
        for (int i = 0; i < 600 && a.revoked_while_paused == 0; i++)
                usleep(50 * 1000);
        TH_CHECK(a.revoked_while_paused > 0);
        TH_CHECK(a.r.aborted >= 1);
        TH_CHECK_INT(committed_sum(mc, "g-ack-rebalance"), 0); /* nothing unacknowledged */
        atomic_store(&down, 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        TH_CHECK_INT(a.rc, 0);
        TH_CHECK_INT(b.rc, 0);
        if (a.rc || b.rc)
                fprintf(stderr, "  %s / %s\n", a.err, b.err);
        TH_CHECK_INT(a.processed_while_paused, 0);
        check_committed(&a, &b, 0);
        TH_CHECK_INT(committed_sum(mc, "g-ack-rebalance"), N_RECORDS);
        kc_txn_destroy(a.t);
        kc_txn_destroy(b.t);
        kc_destroy(p);
}

/* Stopped while the external system is down: asked once more, then the
 * loop closes without committing anything and returns 0. */
static void test_ack_external_stop_while_waiting(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *p = mock_setup(&mc);
        if (!p)
                return;
        static ack_t a;
        static atomic_int down, total;
        ack_reset();
        memset(&a, 0, sizeof(a));
        atomic_store(&down, 1);
        atomic_store(&total, 0);
        a.down = &down;
        a.total = &total;
        a.group = "g-ack-stop";
        a.mc = mc;
        a.t = ack_new(&a);
        TH_CHECK(a.t != NULL);
        pthread_t ta;
        pthread_create(&ta, NULL, ack_thread, &a);
        for (int i = 0; i < 200 && a.not_yet < 2; i++)
                usleep(50 * 1000);
        int before = a.acks;
        kc_txn_stop(a.t);
        pthread_join(ta, NULL);
        TH_CHECK_INT(a.rc, 0);
        TH_CHECK(a.acks == before + 1 || a.acks == before + 2); /* once more at close */
        TH_CHECK(a.r.aborted >= 1);
        TH_CHECK_INT(a.r.committed, 0);
        TH_CHECK_INT(committed_sum(mc, "g-ack-stop"), 0);
        kc_txn_destroy(a.t);
        kc_destroy(p);
}

/* Issue 17: kc_txn_new() says what kind of failure it was. */
static void test_new_kinds(void) {
        char err[256] = "";
        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        conf.stage = "t";
        st_t st = ST_OK;
        TH_CHECK(kc_txn_new(&conf, &st, err, sizeof(err)) == NULL); /* no topics, no hook */
        TH_CHECK_INT(st, ST_INVALID);
        TH_CHECK_HAS(err, "topics and a process hook are required");
        TH_CHECK(kc_txn_new(&conf, NULL, err, sizeof(err)) == NULL); /* st may be NULL */
}

static void test_conf_env(void) {
        char err[256];
        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        TH_CHECK_INT(conf.guarantee, KC_EXACTLY_ONCE);
        setenv("PROCESSING_GUARANTEE", "at_least_once", 1);
        setenv("COMMIT_INTERVAL", "2s", 1);
        setenv("COMMIT_MAX_RECORDS", "5000", 1);
        TH_CHECK_INT(kc_txn_conf_env(&conf, err, sizeof(err)), 0);
        TH_CHECK_INT(conf.guarantee, KC_AT_LEAST_ONCE);
        TH_CHECK_INT(conf.batch_ms, 2000);
        TH_CHECK_INT(conf.batch_records, 5000);
        TH_CHECK_INT(conf.state_ms, 0); /* unset: automatic */
        setenv("COMMIT_STATE_INTERVAL", "5s", 1);
        TH_CHECK_INT(kc_txn_conf_env(&conf, err, sizeof(err)), 0);
        TH_CHECK_INT(conf.state_ms, 5000);
        setenv("COMMIT_STATE_INTERVAL", "soon", 1);
        TH_CHECK_INT(kc_txn_conf_env(&conf, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "COMMIT_STATE_INTERVAL");
        unsetenv("COMMIT_STATE_INTERVAL");
        TH_CHECK_INT(conf.linger_ms, 0); /* no wait unless asked */
        /* a service's own default (compute's) */
        static const char *const linger5[] = {"COMMIT_LINGER", "5ms", NULL};
        conf.env_defaults = linger5;
        TH_CHECK_INT(kc_txn_conf_env(&conf, err, sizeof(err)), 0);
        TH_CHECK_INT(conf.linger_ms, 5);
        setenv("COMMIT_LINGER", "0", 1);
        TH_CHECK_INT(kc_txn_conf_env(&conf, err, sizeof(err)), 0);
        TH_CHECK_INT(conf.linger_ms, 0);
        setenv("COMMIT_LINGER", "12ms", 1);
        TH_CHECK_INT(kc_txn_conf_env(&conf, err, sizeof(err)), 0);
        TH_CHECK_INT(conf.linger_ms, 12);
        setenv("COMMIT_LINGER", "-1ms", 1);
        TH_CHECK_INT(kc_txn_conf_env(&conf, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "COMMIT_LINGER");
        unsetenv("COMMIT_LINGER");
        setenv("PROCESSING_GUARANTEE", "twice", 1);
        TH_CHECK_INT(kc_txn_conf_env(&conf, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "PROCESSING_GUARANTEE");
        unsetenv("PROCESSING_GUARANTEE");
        unsetenv("COMMIT_INTERVAL");
        unsetenv("COMMIT_MAX_RECORDS");

        char id[256];
        setenv("POD_NAME", "compute-7", 1);
        kc_txn_default_id("compute", "weir-compute", 0, id, sizeof(id));
        TH_CHECK_STR(id, "weir-compute-weir-compute-compute-7");
        kc_txn_default_id("compute", "weir-compute", 2, id, sizeof(id));
        TH_CHECK_STR(id, "weir-compute-weir-compute-compute-7-2");
        setenv("KAFKA_TRANSACTIONAL_ID", "mine", 1);
        kc_txn_default_id("compute", "weir-compute", 1, id, sizeof(id));
        TH_CHECK_STR(id, "mine-1");
        unsetenv("KAFKA_TRANSACTIONAL_ID");
        unsetenv("POD_NAME");
}

/* Group mode (kc_group.h): two loops share one consumer, each with its
 * own transactional producer; the first aborts every 3rd transaction
 * (rewinding only its own partitions).  Every record is committed by
 * exactly one loop exactly once, the 3 partitions are split between them
 * and all revoked at close. */
typedef struct group_loop_s {
        run_t r;
        kc_txn_t *t;
        pthread_t th;
        int rc;
        char err[512];
} group_loop_t;

static void *group_loop_main(void *arg) {
        group_loop_t *l = arg;
        l->rc = (int)kc_txn_run(l->t, l->err, sizeof(l->err));
        return NULL;
}

static void test_group_two_loops(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *p = mock_setup(&mc);
        if (!p)
                return;
        static group_loop_t loops[2];
        static atomic_int total, stop;
        memset(loops, 0, sizeof(loops));
        atomic_store(&total, 0);
        atomic_store(&stop, 0);
        const char *topics[] = {"in", NULL};
        const char *props[] = {"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), NULL};
        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        conf.stage = "grouptest";
        conf.group_id = "g-group";
        conf.topics = topics;
        conf.batch_records = 40;
        conf.batch_ms = 50;
        conf.props = props;
        conf.stop = &stop;
        char err[512] = "";
        kc_group_t *g = kc_group_new(&conf, 2, err, sizeof(err));
        TH_CHECK(g != NULL);
        if (!g) {
                fprintf(stderr, "  %s\n", err);
                kc_destroy(p);
                return;
        }
        conf.group = g;
        for (int i = 0; i < 2; i++) {
                group_loop_t *l = &loops[i];
                l->r.out = "out";
                l->r.deadline = time(NULL) + 30;
                l->r.total = &total;
                l->r.stop_all = &stop;
                l->r.abort_every = i == 0 ? 3 : 0;
                conf.instance = i;
                conf.hooks = (kc_txn_hooks_t){.process = on_process,
                                              .pre_commit = on_pre_commit,
                                              .committed = on_committed,
                                              .aborted = on_aborted,
                                              .assigned = on_assigned,
                                              .revoked = on_revoked,
                                              .tick = on_tick,
                                              .opaque = &l->r};
                l->t = kc_txn_new(&conf, NULL, l->err, sizeof(l->err));
                TH_CHECK(l->t != NULL);
        }
        for (int i = 0; i < 2; i++)
                if (loops[i].t)
                        pthread_create(&loops[i].th, NULL, group_loop_main, &loops[i]);
        for (int i = 0; i < 2; i++)
                if (loops[i].t)
                        pthread_join(loops[i].th, NULL);
        TH_CHECK(loops[0].t && loops[1].t && strcmp(kc_txn_id(loops[0].t), kc_txn_id(loops[1].t)));
        for (int i = 0; i < 2; i++) {
                TH_CHECK_INT(loops[i].rc, 0);
                if (loops[i].rc)
                        fprintf(stderr, "  loop %d: %s\n", i, loops[i].err);
                /* 3 partitions over 2 loops: 2 and 1. */
                TH_CHECK(loops[i].r.assigned >= 1);
                TH_CHECK_INT(loops[i].r.revoked, loops[i].r.assigned);
                kc_txn_destroy(loops[i].t);
        }
        TH_CHECK_INT(loops[0].r.assigned + loops[1].r.assigned, 3);
        TH_CHECK(loops[0].r.aborted >= 1);
        int missing = 0, dup = 0;
        for (int i = 0; i < N_RECORDS; i++) {
                int n = loops[0].r.done[i] + loops[1].r.done[i];
                missing += n == 0;
                dup += n > 1;
        }
        TH_CHECK_INT(missing, 0);
        TH_CHECK_INT(dup, 0);
        kc_group_destroy(g);
        kc_destroy(p);
}

static void test_cleanup(void) {
        metrics_reset();
}

TH_MAIN("kc_txn", TH_T(test_setup), TH_T(test_new_kinds), TH_T(test_conf_env),
        TH_T(test_eos_aborts), TH_T(test_eos_fenced_recovers), TH_T(test_eos_fenced_gives_up),
        TH_T(test_eos_produce_wait), TH_T(test_alo), TH_T(test_ack_external_not_yet),
        TH_T(test_ack_external_revoke_while_waiting), TH_T(test_ack_external_stop_while_waiting),
        TH_T(test_group_two_loops), TH_T(test_cleanup))
