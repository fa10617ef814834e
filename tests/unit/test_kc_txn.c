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
#include <stdlib.h>
#include <time.h>

#include "kc.h"
#include "kc_txn.h"
#include "log.h"
#include "metrics.h"
#include "th.h"

#define N_RECORDS 300

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
        if (r->committed_records >= N_RECORDS)
                atomic_store(&r->stop, 1);
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
        if (time(NULL) > r->deadline)
                atomic_store(&r->stop, 1); /* watchdog: the checks will fail */
        return KC_TXN_OK;
}

/* A mock cluster (3 brokers) with "in" (3 partitions) holding N_RECORDS
 * records and an empty "out".  The returned producer owns the cluster. */
static kc_t *mock_setup(rd_kafka_mock_cluster_t **mc) {
        char err[512];
        const char *props[] = {"test.mock.num.brokers", "3", NULL};
        kc_opts_t o = {.stage = "mock", .props = props};
        kc_t *p = kc_producer_new(&o, err, sizeof(err));
        TH_CHECK(p != NULL);
        if (!p)
                return NULL;
        *mc = rd_kafka_handle_mock_cluster(kc_rk(p));
        rd_kafka_mock_topic_create(*mc, "in", 3, 1);
        rd_kafka_mock_topic_create(*mc, "out", 3, 1);
        for (int i = 0; i < N_RECORDS; i++) {
                char v[16], k[8];
                snprintf(v, sizeof(v), "r%d", i);
                snprintf(k, sizeof(k), "k%d", i % 17);
                kc_record_t r = {.topic = "in",
                                 .partition = RD_KAFKA_PARTITION_UA,
                                 .key = k,
                                 .key_len = strlen(k),
                                 .value = v,
                                 .value_len = strlen(v)};
                TH_CHECK_INT(kc_produce(p, &r, NULL, -1), 0);
        }
        TH_CHECK_INT(rd_kafka_flush(kc_rk(p), 10000), 0);
        return p;
}

/* Sum of the group's committed offsets on "in" (= records committed). */
static int64_t committed_sum(rd_kafka_mock_cluster_t *mc, const char *group) {
        char err[512];
        const char *props[] = {"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), NULL};
        kc_opts_t o = {.stage = "mockcheck", .group_id = group, .props = props};
        kc_t *c = kc_consumer_new(&o, err, sizeof(err));
        if (!c)
                return -1;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(3);
        for (int i = 0; i < 3; i++)
                rd_kafka_topic_partition_list_add(l, "in", i);
        int64_t sum = -1;
        if (!rd_kafka_committed(kc_rk(c), l, 5000)) {
                sum = 0;
                for (int i = 0; i < l->cnt; i++)
                        sum += l->elems[i].offset > 0 ? l->elems[i].offset : 0;
        }
        rd_kafka_topic_partition_list_destroy(l);
        kc_destroy(c);
        return sum;
}

static int run_loop(rd_kafka_mock_cluster_t *mc, run_t *r, const char *group, kc_guarantee_t g,
                    char *err, size_t errsize) {
        const char *topics[] = {"in", NULL};
        const char *props[] = {"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), NULL};
        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        conf.stage = "txntest";
        conf.group_id = group;
        conf.topics = topics;
        conf.guarantee = g;
        conf.batch_records = 40;
        conf.batch_ms = 50;
        conf.props = props;
        conf.stop = &r->stop;
        conf.hooks = (kc_txn_hooks_t){on_process,  on_pre_commit, on_committed, on_aborted,
                                      on_assigned, on_revoked,    on_tick,      r};
        r->out = "out";
        r->deadline = time(NULL) + 20;
        kc_txn_t *t = kc_txn_new(&conf, err, errsize);
        TH_CHECK(t != NULL);
        if (!t)
                return -2;
        if (g == KC_EXACTLY_ONCE)
                TH_CHECK(strlen(kc_txn_id(t)) > 0);
        int rc = kc_txn_run(t, err, errsize);
        kc_txn_destroy(t);
        return rc;
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
        TH_CHECK_INT(rc, -1);
        TH_CHECK(strstr(err, "failed 5 times in a row") != NULL);
        fprintf(stderr, "  (expected) %s\n", err);
        TH_CHECK_INT(r.committed, 0);
        kc_destroy(p);
}

/* At-least-once: no transactions, flush then commit; nothing is lost and,
 * with no failures, nothing is duplicated either. */
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
        conf.linger_ms = 5;              /* a service's own default (compute) */
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

static void test_cleanup(void) {
        metrics_reset();
}

TH_MAIN("kc_txn", TH_T(test_setup), TH_T(test_conf_env), TH_T(test_eos_aborts),
        TH_T(test_eos_fenced_recovers), TH_T(test_eos_fenced_gives_up), TH_T(test_alo),
        TH_T(test_cleanup))
