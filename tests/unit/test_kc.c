/* test_kc — client configuration, delivery reports, fatal errors and
 * rebalances (kc.c, kc_conf.c, kc_dr.c), on librdkafka's mock cluster.
 * The mock is for error paths only; the real broker is the integration
 * tests' business. */
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <time.h>

#include "admin.h"
#include "kc.h"
#include "kc_dr.h"
#include "log.h"
#include "metrics.h"
#include "th.h"

static const char *conf_get(rd_kafka_conf_t *c, const char *name, char *buf, size_t size) {
        size_t sz = size;
        if (rd_kafka_conf_get(c, name, buf, &sz) != RD_KAFKA_CONF_OK)
                return "(unset)";
        return buf;
}

static void test_conf_defaults(void) {
        char err[512], b[256];
        kc_opts_t o = {.stage = "ingress"};
        rd_kafka_conf_t *c = kc_conf_new(RD_KAFKA_PRODUCER, &o, err, sizeof(err));
        TH_CHECK(c != NULL);
        if (c) {
                TH_CHECK_STR(conf_get(c, "enable.idempotence", b, sizeof(b)), "true");
                TH_CHECK_STR(conf_get(c, "acks", b, sizeof(b)), "-1"); /* all */
                TH_CHECK_STR(conf_get(c, "linger.ms", b, sizeof(b)), "5");
                TH_CHECK_STR(conf_get(c, "compression.type", b, sizeof(b)), "lz4");
                TH_CHECK_STR(conf_get(c, "statistics.interval.ms", b, sizeof(b)), "5000");
                TH_CHECK_STR(conf_get(c, "client.id", b, sizeof(b)), "weir-ingress");
                TH_CHECK_STR(conf_get(c, "transactional.id", b, sizeof(b)), "(unset)");
                rd_kafka_conf_destroy(c);
        }

        o = (kc_opts_t){.stage = "compute", .group_id = "weir-compute"};
        c = kc_conf_new(RD_KAFKA_CONSUMER, &o, err, sizeof(err));
        TH_CHECK(c != NULL);
        if (c) {
                TH_CHECK_STR(conf_get(c, "group.id", b, sizeof(b)), "weir-compute");
                TH_CHECK_STR(conf_get(c, "enable.auto.commit", b, sizeof(b)), "false");
                TH_CHECK_STR(conf_get(c, "auto.offset.reset", b, sizeof(b)), "smallest");
                TH_CHECK_STR(conf_get(c, "partition.assignment.strategy", b, sizeof(b)),
                             "cooperative-sticky");
                TH_CHECK_STR(conf_get(c, "isolation.level", b, sizeof(b)), "read_committed");
                rd_kafka_conf_destroy(c);
        }

        /* A consumer without a group is refused with the variable to set. */
        o = (kc_opts_t){.stage = "sink"};
        c = kc_conf_new(RD_KAFKA_CONSUMER, &o, err, sizeof(err));
        TH_CHECK(c == NULL);
        TH_CHECK_HAS(err, "KAFKA_GROUP_ID");
        o = (kc_opts_t){0};
        TH_CHECK(kc_conf_new(RD_KAFKA_PRODUCER, &o, err, sizeof(err)) == NULL);
}

static void test_conf_env_override(void) {
        char err[512], b[256];
        setenv("KAFKA_LINGER_MS", "50", 1);
        setenv("KAFKA_COMPRESSION_TYPE", "zstd", 1);
        setenv("KAFKA_TRANSACTIONAL_ID", "from-env", 1);
        setenv("KAFKA_GROUP_ID", "env-group", 1);
        /* Service properties sit between Weir's defaults and the environment. */
        const char *props[] = {"linger.ms", "20", "batch.num.messages", "777", NULL};
        kc_opts_t o = {.stage = "ingress", .props = props};
        rd_kafka_conf_t *c = kc_conf_new(RD_KAFKA_PRODUCER, &o, err, sizeof(err));
        TH_CHECK(c != NULL);
        if (c) {
                TH_CHECK_STR(conf_get(c, "linger.ms", b, sizeof(b)), "50");
                TH_CHECK_STR(conf_get(c, "compression.type", b, sizeof(b)), "zstd");
                TH_CHECK_STR(conf_get(c, "batch.num.messages", b, sizeof(b)), "777");
                /* Never inherited by a plain producer. */
                TH_CHECK_STR(conf_get(c, "transactional.id", b, sizeof(b)), "(unset)");
                rd_kafka_conf_destroy(c);
        }
        o = (kc_opts_t){.stage = "compute", .transactional_id = "weir-compute-g-pod-0"};
        c = kc_conf_new(RD_KAFKA_PRODUCER, &o, err, sizeof(err));
        TH_CHECK(c != NULL);
        if (c) {
                TH_CHECK_STR(conf_get(c, "transactional.id", b, sizeof(b)), "weir-compute-g-pod-0");
                rd_kafka_conf_destroy(c);
        }
        o = (kc_opts_t){.stage = "sink", .group_id = "default-group"};
        c = kc_conf_new(RD_KAFKA_CONSUMER, &o, err, sizeof(err));
        TH_CHECK(c != NULL);
        if (c) {
                TH_CHECK_STR(conf_get(c, "group.id", b, sizeof(b)), "env-group");
                rd_kafka_conf_destroy(c);
        }
        /* A bad value names the variable and is refused. */
        setenv("KAFKA_LINGER_MS", "soon", 1);
        o = (kc_opts_t){.stage = "ingress"};
        c = kc_conf_new(RD_KAFKA_PRODUCER, &o, err, sizeof(err));
        TH_CHECK(c == NULL);
        TH_CHECK_HAS(err, "KAFKA_LINGER_MS");
        unsetenv("KAFKA_LINGER_MS");
        unsetenv("KAFKA_COMPRESSION_TYPE");
        unsetenv("KAFKA_TRANSACTIONAL_ID");
        unsetenv("KAFKA_GROUP_ID");
        /* A bad service property is refused too. */
        const char *bad[] = {"no.such.property", "1", NULL};
        o = (kc_opts_t){.stage = "ingress", .props = bad};
        TH_CHECK(kc_conf_new(RD_KAFKA_PRODUCER, &o, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "no.such.property");
}

/* A producer with its own mock cluster and topic "t" (1 partition). */
static kc_t *mock_producer(const char *stage, rd_kafka_mock_cluster_t **mc) {
        char err[512];
        const char *props[] = {"test.mock.num.brokers", "1",    "linger.ms", "0",
                               "message.timeout.ms",    "3000", NULL};
        kc_opts_t o = {.stage = stage, .props = props};
        kc_t *kc = kc_producer_new(&o, err, sizeof(err));
        TH_CHECK(kc != NULL);
        if (!kc) {
                fprintf(stderr, "  %s\n", err);
                return NULL;
        }
        *mc = rd_kafka_handle_mock_cluster(kc_rk(kc));
        TH_CHECK(*mc != NULL);
        rd_kafka_mock_topic_create(*mc, "t", 1, 1);
        return kc;
}

static double counter(const char *name, const char *label, const char *value) {
        metrics_family_t *f = metrics_counter_family(name, "test", label);
        return f ? metrics_value(metrics_child(f, value)) : -1;
}

static int done_calls;
static void on_done(kc_dr_batch_t *b, void *opaque) {
        (void)b;
        (void)opaque;
        done_calls++;
}

static void test_delivery_ok(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *kc = mock_producer("dr1", &mc);
        if (!kc)
                return;
        kc_dr_batch_t *b = kc_dr_batch_new(3, on_done, NULL);
        for (size_t i = 0; i < 3; i++) {
                kc_record_t r = {.topic = "t",
                                 .partition = RD_KAFKA_PARTITION_UA,
                                 .key = "k",
                                 .key_len = 1,
                                 .value = "v",
                                 .value_len = 1};
                TH_CHECK_INT(kc_produce(kc, &r, kc_dr_batch_dr(b, i), 0), 0);
        }
        rd_kafka_flush(kc_rk(kc), 5000);
        TH_CHECK_INT(kc_dr_batch_wait(b, 1000), 0);
        TH_CHECK_INT(kc_dr_batch_failed(b), 0);
        TH_CHECK_INT(done_calls, 1);
        for (size_t i = 0; i < 3; i++) {
                kc_dr_result_t r = kc_dr_batch_result(b, i);
                TH_CHECK_INT(r.err, 0);
                TH_CHECK_INT(r.partition, 0);
                TH_CHECK_INT(r.offset, (long long)i);
        }
        kc_dr_batch_destroy(b);
        TH_CHECK(counter("weir_dr1_kafka_delivery_reports_total", "result", "delivered") == 3);
        TH_CHECK(counter("weir_dr1_kafka_delivery_reports_total", "result", "failed") == 0);
        kc_destroy(kc);
}

/* An injected, non-retriable broker error fails every record of the
 * request; the caller sees it per record, the metric counts it. */
static void test_delivery_failure(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *kc = mock_producer("dr2", &mc);
        if (!kc)
                return;
        rd_kafka_mock_push_request_errors(mc, 0 /* Produce */, 1,
                                          RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
        kc_dr_batch_t *b = kc_dr_batch_new(2, NULL, NULL);
        for (size_t i = 0; i < 2; i++) {
                kc_record_t r = {.topic = "t", .partition = 0, .value = "x", .value_len = 1};
                TH_CHECK_INT(kc_produce(kc, &r, kc_dr_batch_dr(b, i), 0), 0);
        }
        rd_kafka_flush(kc_rk(kc), 5000);
        TH_CHECK_INT(kc_dr_batch_wait(b, 1000), 0);
        TH_CHECK_INT(kc_dr_batch_failed(b), 2);
        TH_CHECK_INT(kc_dr_batch_result(b, 0).err, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
        TH_CHECK_INT(kc_dr_batch_result(b, 1).offset, RD_KAFKA_OFFSET_INVALID);
        kc_dr_batch_destroy(b);
        TH_CHECK(counter("weir_dr2_kafka_delivery_reports_total", "result", "failed") == 2);

        /* A record refused before it is queued never gets a report. */
        b = kc_dr_batch_new(1, NULL, NULL);
        kc_record_t r = {.topic = "t", .partition = 99, .value = "x", .value_len = 1};
        rd_kafka_resp_err_t e = kc_produce(kc, &r, kc_dr_batch_dr(b, 0), 0);
        if (e)
                kc_dr_batch_fail(b, 0, e);
        rd_kafka_flush(kc_rk(kc), 5000);
        TH_CHECK_INT(kc_dr_batch_wait(b, 1000), 0);
        TH_CHECK_INT(kc_dr_batch_failed(b), 1);
        kc_dr_batch_destroy(b);
        char why[256];
        TH_CHECK_INT(kc_fatal(kc, why, sizeof(why)), 0);
        kc_destroy(kc);
}

/* The caller gives up before the reports arrive (HTTP timeout): the batch
 * lives until the last report (AddressSanitizer checks the rest). */
static void test_dr_batch_outlives_caller(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *kc = mock_producer("dr3", &mc);
        if (!kc)
                return;
        rd_kafka_mock_broker_set_rtt(mc, -1, 300);
        kc_dr_batch_t *b = kc_dr_batch_new(4, on_done, NULL);
        for (size_t i = 0; i < 3; i++) {
                kc_record_t r = {.topic = "t", .partition = 0, .value = "y", .value_len = 1};
                TH_CHECK_INT(kc_produce(kc, &r, kc_dr_batch_dr(b, i), 0), 0);
        }
        kc_dr_batch_fail(b, 3, RD_KAFKA_RESP_ERR__QUEUE_FULL);
        TH_CHECK_INT(kc_dr_batch_wait(b, 0), 3);
        int before = done_calls;
        kc_dr_batch_destroy(b);
        rd_kafka_flush(kc_rk(kc), 5000);
        TH_CHECK_INT(done_calls, before); /* nobody to tell */
        kc_destroy(kc);
}

/* Ingress's way: a background thread serves the reports, the request
 * thread only waits on its batch. */
static void test_poll_thread(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *kc = mock_producer("dr4", &mc);
        if (!kc)
                return;
        char err[256];
        TH_CHECK_INT(kc_poll_start(kc, err, sizeof(err)), 0);
        TH_CHECK_INT(kc_poll_start(kc, err, sizeof(err)), -1); /* once */
        kc_dr_batch_t *b = kc_dr_batch_new(50, NULL, NULL);
        for (size_t i = 0; i < 50; i++) {
                kc_record_t r = {.topic = "t", .partition = 0, .value = "p", .value_len = 1};
                TH_CHECK_INT(kc_produce(kc, &r, kc_dr_batch_dr(b, i), 1000), 0);
        }
        TH_CHECK_INT(kc_dr_batch_wait(b, 5000), 0);
        TH_CHECK_INT(kc_dr_batch_failed(b), 0);
        TH_CHECK_INT(kc_dr_batch_result(b, 49).offset, 49);
        kc_dr_batch_destroy(b);
        kc_destroy(kc); /* stops the thread */
}

static void test_fatal_error(void) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *kc = mock_producer("fatal", &mc);
        if (!kc)
                return;
        char why[256] = "";
        TH_CHECK_INT(kc_fatal(kc, why, sizeof(why)), 0);
        rd_kafka_test_fatal_error(kc_rk(kc), RD_KAFKA_RESP_ERR_PRODUCER_FENCED, "injected");
        rd_kafka_poll(kc_rk(kc), 100);
        TH_CHECK_INT(kc_fatal(kc, why, sizeof(why)), 1);
        TH_CHECK_HAS(why, "PRODUCER_FENCED");
        TH_CHECK(counter("weir_fatal_kafka_errors_total", "error", "PRODUCER_FENCED") == 1);
        kc_destroy(kc);
}

typedef struct rb_s {
        int assigned, revoked, lost;
        int held_at_revoke; /* kc_assigned() in the revoked hook */
} rb_t;

static void on_assigned(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, void *opaque) {
        (void)kc;
        ((rb_t *)opaque)->assigned += parts->cnt;
}

static void on_revoked(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, int lost,
                       void *opaque) {
        ((rb_t *)opaque)->held_at_revoke = kc_assigned(kc)->cnt;
        ((rb_t *)opaque)->revoked += parts->cnt;
        ((rb_t *)opaque)->lost += lost;
}

static size_t discard(char *p, size_t size, size_t n, void *opaque) {
        (void)p;
        (void)opaque;
        return size * n;
}

/* HTTP status of GET /readyz on the admin server. */
static long readyz(admin_t *a) {
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", (unsigned)admin_port(a));
        CURL *c = curl_easy_init();
        long code = 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        return code;
}

/* Subscribes on the mock, waits for the assignment, reads the 5 records of
 * "rb" and leaves: the hooks see 2 partitions come and go, and /readyz
 * follows the "kafka assigned" condition. */
static void rebalance_run(const char *stage, const char *strategy, const char *protocol) {
        rd_kafka_mock_cluster_t *mc;
        kc_t *p = mock_producer(stage, &mc);
        if (!p)
                return;
        rd_kafka_mock_topic_create(mc, "rb", 2, 1);
        for (int i = 0; i < 5; i++) {
                kc_record_t r = {.topic = "rb", .partition = i % 2, .value = "z", .value_len = 1};
                TH_CHECK_INT(kc_produce(p, &r, NULL, 0), 0);
        }
        rd_kafka_flush(kc_rk(p), 5000);

        char err[512];
        rb_t rb = {0};
        const char *props[] = {"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc),
                               "partition.assignment.strategy", strategy, NULL};
        admin_t *admin = admin_start("127.0.0.1", 0, 0, err, sizeof(err));
        TH_CHECK(admin != NULL);
        kc_opts_t o = {.stage = stage,
                       .group_id = "g",
                       .props = props,
                       .admin = admin,
                       .hooks = {on_assigned, on_revoked, &rb}};
        kc_t *c = kc_consumer_new(&o, err, sizeof(err));
        TH_CHECK(c != NULL);
        if (!c) {
                admin_stop(admin);
                kc_destroy(p);
                return;
        }
        if (admin)
                TH_CHECK_INT(readyz(admin), 503); /* not in the group yet */
        const char *topics[] = {"rb", NULL};
        TH_CHECK_INT(kc_subscribe(c, topics, err, sizeof(err)), 0);
        int got = 0;
        time_t end = time(NULL) + 15;
        while (got < 5 && time(NULL) < end) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(kc_rk(c), 100);
                if (m && !m->err)
                        got++;
                if (m)
                        rd_kafka_message_destroy(m);
        }
        TH_CHECK_INT(got, 5);
        TH_CHECK_INT(rb.assigned, 2);
        if (admin)
                TH_CHECK_INT(readyz(admin), 200);
        TH_CHECK_STR(rd_kafka_rebalance_protocol(kc_rk(c)), protocol);
        char name[128];
        snprintf(name, sizeof(name), "weir_%s_kafka_assigned_partitions", stage);
        metrics_family_t *f = metrics_gauge_family(name, "test", "client");
        TH_CHECK(f && metrics_value(metrics_child(f, kc_name(c))) == 2);
        /* kc's own record of the assignment is librdkafka's. */
        rd_kafka_topic_partition_list_t *a = NULL;
        TH_CHECK_INT(rd_kafka_assignment(kc_rk(c), &a), 0);
        TH_CHECK(a && a->cnt == 2 && kc_assigned(c)->cnt == 2);
        for (int i = 0; a && i < a->cnt; i++)
                TH_CHECK(rd_kafka_topic_partition_list_find(kc_assigned(c), a->elems[i].topic,
                                                            a->elems[i].partition) != NULL);
        if (a)
                rd_kafka_topic_partition_list_destroy(a);

        rd_kafka_topic_partition_list_t *pos = kc_positions(c, err, sizeof(err));
        TH_CHECK(pos && pos->cnt == 2);
        if (pos) {
                int64_t sum = 0;
                for (int i = 0; i < pos->cnt; i++)
                        sum += pos->elems[i].offset;
                TH_CHECK_INT(sum, 5);
                rd_kafka_topic_partition_list_destroy(pos);
        }
        /* Nothing committed: rewinding goes back to the beginning. */
        TH_CHECK_INT(kc_seek_committed(c, NULL, NULL, 5000, err, sizeof(err)), 0);
        got = 0;
        end = time(NULL) + 5;
        while (got < 5 && time(NULL) < end) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(kc_rk(c), 100);
                if (m && !m->err)
                        got++;
                if (m)
                        rd_kafka_message_destroy(m);
        }
        TH_CHECK_INT(got, 5);

        kc_destroy(c); /* leaves the group: revoked hook */
        TH_CHECK_INT(rb.revoked, 2);
        TH_CHECK_INT(rb.held_at_revoke, 2); /* still ours while the hook runs */
        TH_CHECK_INT(rb.lost, 0);
        if (admin)
                TH_CHECK_INT(readyz(admin), 503);
        admin_stop(admin);
        kc_destroy(p);
}

static void test_rebalance_cooperative(void) {
        rebalance_run("rbc", "cooperative-sticky", "COOPERATIVE");
}

static void test_rebalance_eager(void) {
        rebalance_run("rbe", "range", "EAGER");
}

static void test_cleanup(void) {
        metrics_reset();
}

TH_MAIN("kc", TH_T(test_conf_defaults), TH_T(test_conf_env_override), TH_T(test_delivery_ok),
        TH_T(test_delivery_failure), TH_T(test_dr_batch_outlives_caller), TH_T(test_poll_thread),
        TH_T(test_fatal_error), TH_T(test_rebalance_cooperative), TH_T(test_rebalance_eager),
        TH_T(test_cleanup))
