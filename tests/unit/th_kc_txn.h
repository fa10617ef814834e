/* th_kc_txn.h — the mock cluster the kc_txn unit tests share (include
 * after th.h). */
#ifndef TH_KC_TXN_H
#define TH_KC_TXN_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kc.h"

#define N_RECORDS 300

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

#endif
