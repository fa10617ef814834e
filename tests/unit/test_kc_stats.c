/* test_kc_stats — librdkafka statistics JSON → metrics (kc_stats.c), from
 * hand-written documents shaped like librdkafka 2.0.2's (trimmed to the
 * fields that matter plus some that must be ignored). */
#include <stdlib.h>

#include "kc_stats.h"
#include "metrics.h"
#include "th.h"

/* A read_committed consumer: two brokers (2 up with RTT samples, 1 still
 * connecting), the logical coordinator (ignored), topic "readings" with
 * partition 0 consumed (position 1200, LSO 1500, HW 1510: lag 300, not
 * librdkafka's committed-based 1460), partition 1 assigned but nothing
 * consumed yet (committed 40, LSO 100: lag 60), partition 2 not ours. */
static const char consumer_doc1[] =
        "{\"name\":\"weir-compute#consumer-2\",\"client_id\":\"weir-compute\","
        "\"type\":\"consumer\",\"ts\":6359482960,\"time\":1795419267,\"age\":3000729,"
        "\"replyq\":0,\"msg_cnt\":0,\"msg_size\":0,\"msg_max\":0,\"msg_size_max\":0,"
        "\"simple_cnt\":0,\"metadata_cache_cnt\":1,"
        "\"brokers\":{"
        " \"10.0.0.2:9092/2\":{\"name\":\"10.0.0.2:9092/2\",\"nodeid\":2,"
        "  \"nodename\":\"10.0.0.2:9092\",\"source\":\"learned\",\"state\":\"UP\","
        "  \"stateage\":2998739,\"outbuf_cnt\":0,\"waitresp_cnt\":1,\"tx\":120,"
        "  \"txbytes\":16500,\"txerrs\":0,\"rx\":119,\"rxbytes\":460000,\"connects\":1,"
        "  \"int_latency\":{\"min\":0,\"max\":0,\"avg\":0,\"p99\":0,\"cnt\":0},"
        "  \"rtt\":{\"min\":800,\"max\":12000,\"avg\":2500,\"sum\":297500,\"stddev\":900,"
        "   \"p50\":2100,\"p75\":2900,\"p90\":4000,\"p95\":6000,\"p99\":9000,"
        "   \"p99_99\":12000,\"outofrange\":0,\"hdrsize\":13424,\"cnt\":119},"
        "  \"throttle\":{\"avg\":0,\"cnt\":0},\"req\":{\"Fetch\":110,\"Metadata\":2},"
        "  \"toppars\":{\"readings-0\":{\"topic\":\"readings\",\"partition\":0}}},"
        " \"10.0.0.1:9092/1\":{\"name\":\"10.0.0.1:9092/1\",\"nodeid\":1,"
        "  \"nodename\":\"10.0.0.1:9092\",\"source\":\"configured\",\"state\":\"INIT\","
        "  \"tx\":0,\"rx\":0,\"rtt\":{\"avg\":0,\"p99\":0,\"cnt\":0},\"toppars\":{}},"
        " \"GroupCoordinator\":{\"name\":\"GroupCoordinator\",\"nodeid\":2,"
        "  \"nodename\":\"10.0.0.2:9092\",\"source\":\"logical\",\"state\":\"UP\","
        "  \"rtt\":{\"avg\":777000,\"p99\":777000,\"cnt\":3},\"toppars\":{}}},"
        "\"topics\":{\"readings\":{\"topic\":\"readings\",\"age\":4997,\"metadata_age\":4998,"
        " \"batchsize\":{\"avg\":0,\"cnt\":0},\"partitions\":{"
        "  \"0\":{\"partition\":0,\"broker\":2,\"leader\":2,\"desired\":true,"
        "   \"unknown\":false,\"fetchq_cnt\":12,\"fetch_state\":\"active\","
        "   \"query_offset\":-1001,\"next_offset\":1212,\"app_offset\":1200,"
        "   \"stored_offset\":-1001,\"committed_offset\":40,\"eof_offset\":-1001,"
        "   \"lo_offset\":0,\"hi_offset\":1510,\"ls_offset\":1500,\"consumer_lag\":1460,"
        "   \"consumer_lag_stored\":-1,\"rxmsgs\":1212,\"msgs\":1212},"
        "  \"1\":{\"partition\":1,\"broker\":2,\"leader\":2,\"desired\":true,"
        "   \"fetch_state\":\"active\",\"app_offset\":-1001,\"committed_offset\":40,"
        "   \"hi_offset\":100,\"ls_offset\":100,\"consumer_lag\":60},"
        "  \"2\":{\"partition\":2,\"broker\":1,\"leader\":1,\"desired\":false,"
        "   \"fetch_state\":\"none\",\"app_offset\":-1001,\"committed_offset\":-1001,"
        "   \"hi_offset\":-1001,\"ls_offset\":-1001,\"consumer_lag\":-1},"
        "  \"-1\":{\"partition\":-1,\"broker\":-1,\"leader\":-1,\"desired\":false,"
        "   \"fetch_state\":\"none\",\"app_offset\":-1001,\"consumer_lag\":-1}}}},"
        "\"cgrp\":{\"state\":\"up\",\"stateage\":8000,\"join_state\":\"steady\","
        " \"rebalance_age\":4997,\"rebalance_cnt\":1,"
        " \"rebalance_reason\":\"Metadata for subscribed topic(s) has changed\","
        " \"assignment_size\":2},"
        "\"tx\":120,\"tx_bytes\":16500,\"rx\":119,\"rx_bytes\":460000,"
        "\"txmsgs\":0,\"txmsg_bytes\":0,\"rxmsgs\":1212,\"rxmsg_bytes\":60600}";

/* Five seconds later: partition 1 was revoked, partition 0 caught up,
 * broker 2 had no request in the interval (RTT kept), totals grew. */
static const char consumer_doc2[] =
        "{\"name\":\"weir-compute#consumer-2\",\"type\":\"consumer\",\"msg_cnt\":0,"
        "\"brokers\":{\"10.0.0.2:9092/2\":{\"nodeid\":2,\"source\":\"learned\","
        "  \"state\":\"UP\",\"rtt\":{\"avg\":0,\"p99\":0,\"cnt\":0}},"
        " \"10.0.0.1:9092/1\":{\"nodeid\":1,\"source\":\"configured\",\"state\":\"UP\","
        "  \"rtt\":{\"avg\":1000,\"p99\":3000,\"cnt\":4}}},"
        "\"topics\":{\"readings\":{\"topic\":\"readings\",\"partitions\":{"
        "  \"0\":{\"partition\":0,\"fetch_state\":\"active\",\"app_offset\":1530,"
        "   \"committed_offset\":1500,\"hi_offset\":1530,\"ls_offset\":1530,"
        "   \"consumer_lag\":30},"
        "  \"1\":{\"partition\":1,\"fetch_state\":\"none\",\"app_offset\":-1001,"
        "   \"committed_offset\":-1001,\"ls_offset\":-1001,\"consumer_lag\":-1}}}},"
        "\"cgrp\":{\"state\":\"up\",\"join_state\":\"steady\",\"assignment_size\":1},"
        "\"tx\":150,\"tx_bytes\":20500,\"rx\":149,\"rx_bytes\":560000}";

static const char producer_doc[] =
        "{\"name\":\"weir-ingress#producer-1\",\"client_id\":\"weir-ingress\","
        "\"type\":\"producer\",\"ts\":6359472287,\"time\":1795419267,\"age\":3001493,"
        "\"replyq\":3,\"msg_cnt\":42,\"msg_size\":8400,\"msg_max\":100000,"
        "\"msg_size_max\":1073741824,\"simple_cnt\":0,\"metadata_cache_cnt\":1,"
        "\"brokers\":{\"10.0.0.1:9092/1\":{\"name\":\"10.0.0.1:9092/1\",\"nodeid\":1,"
        " \"nodename\":\"10.0.0.1:9092\",\"source\":\"configured\",\"state\":\"UP\","
        " \"tx\":5,\"rx\":5,\"rtt\":{\"min\":900,\"max\":4000,\"avg\":1500,\"p50\":1200,"
        " \"p99\":4000,\"cnt\":5}},"
        " \"10.0.0.1:9092/bootstrap\":{\"name\":\"10.0.0.1:9092/bootstrap\","
        " \"nodeid\":-1,\"source\":\"configured\",\"state\":\"UP\","
        " \"rtt\":{\"avg\":99000,\"p99\":99000,\"cnt\":1}}},"
        "\"topics\":{\"readings\":{\"topic\":\"readings\",\"partitions\":{"
        " \"0\":{\"partition\":0,\"fetch_state\":\"none\",\"msgq_cnt\":42,"
        "  \"app_offset\":-1001,\"consumer_lag\":-1}}}},"
        "\"eos\":{\"idemp_state\":\"Assigned\",\"txn_state\":\"Init\"},"
        "\"tx\":5,\"tx_bytes\":1510,\"rx\":5,\"rx_bytes\":411,\"txmsgs\":100}";

static metrics_child_t *gauge(const char *name, const char *labels, const char *a, const char *b) {
        metrics_family_t *f = metrics_gauge_family(name, "test", labels);
        if (!f)
                return NULL;
        return b ? metrics_child(f, a, b) : metrics_child(f, a);
}

static metrics_child_t *counter(const char *name, const char *client) {
        metrics_family_t *f = metrics_counter_family(name, "test", "client");
        return f ? metrics_child(f, client) : NULL;
}

static double value(metrics_child_t *c) {
        return c ? metrics_value(c) : -12345;
}

static void test_consumer_stats(void) {
        const char *cl = "weir-compute#consumer-2";
        char err[256];
        kc_stats_t *st = kc_stats_new("compute", cl, 1, 1);
        TH_CHECK(st != NULL);
        if (!st)
                return;
        TH_CHECK_INT(kc_stats_apply(st, consumer_doc1, sizeof(consumer_doc1) - 1, err, sizeof(err)),
                     1);
        const char *lag = "weir_compute_kafka_consumer_lag_messages";
        TH_CHECK(value(gauge(lag, "topic,partition", "readings", "0")) == 300);
        TH_CHECK(value(gauge(lag, "topic,partition", "readings", "1")) == 60);
        TH_CHECK(fabs(value(gauge("weir_compute_kafka_broker_rtt_avg_seconds", "client,broker", cl,
                                  "2")) -
                      0.0025) < 1e-12);
        TH_CHECK(fabs(value(gauge("weir_compute_kafka_broker_rtt_p99_seconds", "client,broker", cl,
                                  "2")) -
                      0.009) < 1e-12);
        TH_CHECK(value(gauge("weir_compute_kafka_assigned_partitions", "client", cl, NULL)) == 2);
        TH_CHECK(value(counter("weir_compute_kafka_requests_sent_total", cl)) == 120);
        TH_CHECK(value(counter("weir_compute_kafka_sent_bytes_total", cl)) == 16500);
        TH_CHECK(value(counter("weir_compute_kafka_responses_received_total", cl)) == 119);
        TH_CHECK(value(counter("weir_compute_kafka_received_bytes_total", cl)) == 460000);

        TH_CHECK_INT(kc_stats_apply(st, consumer_doc2, sizeof(consumer_doc2) - 1, err, sizeof(err)),
                     2);
        TH_CHECK(value(gauge(lag, "topic,partition", "readings", "0")) == 0);
        TH_CHECK(value(gauge(lag, "topic,partition", "readings", "1")) == 0); /* revoked */
        /* No sample for broker 2 this time: the last value stays. */
        TH_CHECK(fabs(value(gauge("weir_compute_kafka_broker_rtt_avg_seconds", "client,broker", cl,
                                  "2")) -
                      0.0025) < 1e-12);
        TH_CHECK(fabs(value(gauge("weir_compute_kafka_broker_rtt_avg_seconds", "client,broker", cl,
                                  "1")) -
                      0.001) < 1e-12);
        TH_CHECK(value(gauge("weir_compute_kafka_assigned_partitions", "client", cl, NULL)) == 1);
        /* Counters add the difference: 120 → 150. */
        TH_CHECK(value(counter("weir_compute_kafka_requests_sent_total", cl)) == 150);
        TH_CHECK(value(counter("weir_compute_kafka_received_bytes_total", cl)) == 560000);

        /* The rebalance callback's immediate update. */
        kc_stats_set_assigned(st, 7);
        TH_CHECK(value(gauge("weir_compute_kafka_assigned_partitions", "client", cl, NULL)) == 7);
        kc_stats_destroy(st);
}

/* read_uncommitted: the high watermark is the end. */
static void test_consumer_lag_uncommitted(void) {
        char err[256];
        kc_stats_t *st = kc_stats_new("enrichment", "weir-enrichment#consumer-1", 1, 0);
        TH_CHECK(st != NULL);
        if (!st)
                return;
        TH_CHECK(kc_stats_apply(st, consumer_doc1, sizeof(consumer_doc1) - 1, err, sizeof(err)) >=
                 0);
        TH_CHECK(value(gauge("weir_enrichment_kafka_consumer_lag_messages", "topic,partition",
                             "readings", "0")) == 310);
        kc_stats_destroy(st);
}

static void test_producer_stats(void) {
        const char *cl = "weir-ingress#producer-1";
        char err[256];
        kc_stats_t *st = kc_stats_new("ingress", cl, 0, 0);
        TH_CHECK(st != NULL);
        if (!st)
                return;
        /* Only broker 1 counts as up: the bootstrap entry has no node id. */
        TH_CHECK_INT(kc_stats_apply(st, producer_doc, sizeof(producer_doc) - 1, err, sizeof(err)),
                     1);
        TH_CHECK(value(gauge("weir_ingress_kafka_producer_queue_messages", "client", cl, NULL)) ==
                 42);
        TH_CHECK(value(gauge("weir_ingress_kafka_producer_queue_bytes", "client", cl, NULL)) ==
                 8400);
        TH_CHECK(fabs(value(gauge("weir_ingress_kafka_broker_rtt_p99_seconds", "client,broker", cl,
                                  "1")) -
                      0.004) < 1e-12);
        TH_CHECK(value(counter("weir_ingress_kafka_sent_bytes_total", cl)) == 1510);
        /* A producer's partitions have no lag. */
        size_t len = 0;
        char *text = metrics_render(&len);
        TH_CHECK(text && !strstr(text, "weir_ingress_kafka_consumer_lag_messages{"));
        TH_CHECK(text && !strstr(text, "broker=\"-1\""));
        /* Nor an assignment; and the consumer above no producer queue. */
        TH_CHECK(text && !strstr(text, "weir_ingress_kafka_assigned_partitions{"));
        /* Not even the families (HELP/TYPE with no sample): issue 19. */
        TH_CHECK(text && !strstr(text, "weir_ingress_kafka_consumer_lag_messages"));
        TH_CHECK(text && !strstr(text, "weir_ingress_kafka_assigned_partitions"));
        TH_CHECK(text && !strstr(text, "producer_queue_messages{client=\"weir-compute"));
        free(text);
        kc_stats_destroy(st);
}

static void test_bad_document(void) {
        char err[256] = "";
        kc_stats_t *st = kc_stats_new("sink", "weir-sink#consumer-1", 1, 1);
        TH_CHECK(st != NULL);
        if (!st)
                return;
        TH_CHECK_INT(kc_stats_apply(st, "{\"brokers\":", 11, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "statistics");
        TH_CHECK_INT(kc_stats_apply(st, "[1,2]", 5, err, sizeof(err)), -1);
        /* Missing sections are not errors. */
        TH_CHECK_INT(kc_stats_apply(st, "{\"type\":\"consumer\"}", 19, err, sizeof(err)), 0);
        kc_stats_destroy(st);
}

static void test_cleanup(void) {
        metrics_reset();
}

TH_MAIN("kc_stats", TH_T(test_consumer_stats), TH_T(test_consumer_lag_uncommitted),
        TH_T(test_producer_stats), TH_T(test_bad_document), TH_T(test_cleanup))
