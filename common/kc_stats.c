/* kc_stats — librdkafka statistics JSON → metrics.  See kc_stats.h.
 *
 * The metric children are looked up once and kept: by client when the
 * client is created, by broker and by partition the first time each shows
 * up in a document.  A kc_stats_t is used by one polling thread at a time
 * (librdkafka serves stats_cb from the client's poll), so it needs no lock;
 * the registry's updates are atomic. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kc_stats.h"
#include "metrics.h"
#include "vec.h"

typedef struct kc_stats_part_s {
        char *topic;
        int32_t partition;
        int seen; /* in the current document */
        metrics_child_t *lag;
} kc_stats_part_t;

typedef struct kc_stats_broker_s {
        int32_t id;
        metrics_child_t *avg, *p99;
} kc_stats_broker_t;

/* librdkafka's cumulative totals and the counters they feed. */
typedef struct kc_stats_total_s {
        const char *field;
        int64_t prev;
        metrics_child_t *ctr;
} kc_stats_total_t;

enum { KC_TOTAL_TX, KC_TOTAL_TX_BYTES, KC_TOTAL_RX, KC_TOTAL_RX_BYTES, KC_TOTAL_CNT };

struct kc_stats_s {
        char client[128];
        int read_committed;
        metrics_family_t *f_lag, *f_rtt_avg, *f_rtt_p99, *f_queue_msgs, *f_queue_bytes, *f_assigned;
        /* Looked up on first use: producers have no assignment, consumers
         * no producer queue. */
        metrics_child_t *queue_msgs, *queue_bytes, *assigned;
        kc_stats_total_t totals[KC_TOTAL_CNT];
        kc_stats_part_t *parts;
        size_t part_cnt, part_size;
        kc_stats_broker_t *brokers;
        size_t broker_cnt, broker_size;
        int has_pid; /* the last document's eos state: a producer id, not fatal */
};

static metrics_family_t *kc_stats_family(int counter, const char *stage, const char *what,
                                         const char *help, const char *labels) {
        char name[160];
        snprintf(name, sizeof(name), "weir_%s_kafka_%s", stage, what);
        return counter ? metrics_counter_family(name, help, labels)
                       : metrics_gauge_family(name, help, labels);
}

kc_stats_t *kc_stats_new(const char *stage, const char *client, int consumer, int read_committed) {
        kc_stats_t *st = calloc(1, sizeof(*st));
        if (!st)
                return NULL;
        snprintf(st->client, sizeof(st->client), "%s", client);
        st->read_committed = read_committed;
        if (consumer) {
                st->f_lag = kc_stats_family(0, stage, "consumer_lag_messages",
                                            "Messages between the consumer's position and the end "
                                            "of the partition.",
                                            "topic,partition");
                st->f_assigned = kc_stats_family(0, stage, "assigned_partitions",
                                                 "Partitions assigned to the consumer.", "client");
                if (!st->f_lag || !st->f_assigned)
                        goto fail;
        } else {
                st->f_queue_msgs = kc_stats_family(
                        0, stage, "producer_queue_messages",
                        "Messages waiting in the producer's queues (not yet acknowledged).",
                        "client");
                st->f_queue_bytes = kc_stats_family(
                        0, stage, "producer_queue_bytes",
                        "Bytes of the messages in the producer's queues.", "client");
                if (!st->f_queue_msgs || !st->f_queue_bytes)
                        goto fail;
        }
        st->f_rtt_avg = kc_stats_family(0, stage, "broker_rtt_avg_seconds",
                                        "Average request round-trip time to the broker over "
                                        "the last statistics interval (a consumer's includes "
                                        "fetch long-polls, up to fetch.wait.max.ms).",
                                        "client,broker");
        st->f_rtt_p99 = kc_stats_family(0, stage, "broker_rtt_p99_seconds",
                                        "99th percentile request round-trip time to the broker "
                                        "over the last statistics interval (a consumer's "
                                        "includes fetch long-polls).",
                                        "client,broker");
        static const struct {
                const char *field, *what, *help;
        } totals[KC_TOTAL_CNT] = {
                {"tx", "requests_sent_total", "Requests sent to brokers."},
                {"tx_bytes", "sent_bytes_total", "Bytes sent to brokers."},
                {"rx", "responses_received_total", "Responses received from brokers."},
                {"rx_bytes", "received_bytes_total", "Bytes received from brokers."},
        };
        if (!st->f_rtt_avg || !st->f_rtt_p99)
                goto fail;
        for (int i = 0; i < KC_TOTAL_CNT; i++) {
                metrics_family_t *f =
                        kc_stats_family(1, stage, totals[i].what, totals[i].help, "client");
                if (!f)
                        goto fail;
                st->totals[i].field = totals[i].field;
                st->totals[i].ctr = metrics_child(f, client);
        }
        return st;
fail:
        free(st);
        return NULL;
}

void kc_stats_destroy(kc_stats_t *st) {
        if (!st)
                return;
        for (size_t i = 0; i < st->part_cnt; i++)
                free(st->parts[i].topic);
        free(st->parts);
        free(st->brokers);
        free(st);
}

int kc_stats_has_pid(const kc_stats_t *st) {
        return st && st->has_pid;
}

void kc_stats_set_assigned(kc_stats_t *st, int cnt) {
        if (!st)
                return;
        if (!st->assigned)
                st->assigned = metrics_child(st->f_assigned, st->client);
        metrics_set(st->assigned, cnt);
}

/* The number at `name`, or `def` when missing or not a number. */
static double kc_num(const cJSON *obj, const char *name, double def) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
        return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static const char *kc_str(const cJSON *obj, const char *name) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
        return cJSON_IsString(v) ? v->valuestring : "";
}

static kc_stats_broker_t *kc_stats_broker(kc_stats_t *st, int32_t id) {
        for (size_t i = 0; i < st->broker_cnt; i++)
                if (st->brokers[i].id == id)
                        return &st->brokers[i];
        if (VEC_RESERVE(st->brokers, st->broker_size, st->broker_cnt + 1) == -1)
                return NULL;
        char bid[16];
        snprintf(bid, sizeof(bid), "%" PRId32, id);
        kc_stats_broker_t *b = &st->brokers[st->broker_cnt++];
        b->id = id;
        b->avg = metrics_child(st->f_rtt_avg, st->client, bid);
        b->p99 = metrics_child(st->f_rtt_p99, st->client, bid);
        return b;
}

static kc_stats_part_t *kc_stats_part(kc_stats_t *st, const char *topic, int32_t partition) {
        for (size_t i = 0; i < st->part_cnt; i++)
                if (st->parts[i].partition == partition && !strcmp(st->parts[i].topic, topic))
                        return &st->parts[i];
        if (VEC_RESERVE(st->parts, st->part_size, st->part_cnt + 1) == -1)
                return NULL;
        char *t = strdup(topic);
        if (!t)
                return NULL;
        char pid[16];
        snprintf(pid, sizeof(pid), "%" PRId32, partition);
        kc_stats_part_t *p = &st->parts[st->part_cnt++];
        p->topic = t;
        p->partition = partition;
        p->seen = 0;
        p->lag = metrics_child(st->f_lag, topic, pid);
        return p;
}

/* Brokers: RTT of those with a node id (not the bootstrap or logical
 * ones); returns how many are UP. */
static int kc_stats_brokers(kc_stats_t *st, const cJSON *brokers) {
        int up = 0;
        const cJSON *b;
        cJSON_ArrayForEach(b, brokers) {
                double id = kc_num(b, "nodeid", -1);
                if (id < 0 || !strcmp(kc_str(b, "source"), "logical"))
                        continue;
                if (!strcmp(kc_str(b, "state"), "UP"))
                        up++;
                const cJSON *rtt = cJSON_GetObjectItemCaseSensitive(b, "rtt");
                /* No request in the interval: no sample, keep the last. */
                if (kc_num(rtt, "cnt", 0) <= 0)
                        continue;
                kc_stats_broker_t *sb = kc_stats_broker(st, (int32_t)id);
                if (!sb)
                        continue;
                /* librdkafka reports microseconds. */
                metrics_set(sb->avg, kc_num(rtt, "avg", 0) / 1e6);
                metrics_set(sb->p99, kc_num(rtt, "p99", 0) / 1e6);
        }
        return up;
}

/* Consumer lag of the partitions this consumer fetches (see kc_stats.h). */
static void kc_stats_lag(kc_stats_t *st, const cJSON *topics) {
        for (size_t i = 0; i < st->part_cnt; i++)
                st->parts[i].seen = 0;
        const cJSON *t, *p;
        cJSON_ArrayForEach(t, topics) {
                const cJSON *parts = cJSON_GetObjectItemCaseSensitive(t, "partitions");
                cJSON_ArrayForEach(p, parts) {
                        double part = kc_num(p, "partition", -1);
                        /* -1 is librdkafka's internal unassigned-messages queue;
                         * fetch_state "none" a partition this client does not consume. */
                        const char *fs = kc_str(p, "fetch_state");
                        if (part < 0 || !*fs || !strcmp(fs, "none"))
                                continue;
                        double end = kc_num(p, st->read_committed ? "ls_offset" : "hi_offset", -1);
                        double pos = kc_num(p, "app_offset", -1);
                        if (pos < 0)
                                pos = kc_num(p, "committed_offset", -1);
                        if (end < 0 || pos < 0)
                                continue;
                        kc_stats_part_t *sp = kc_stats_part(st, t->string, (int32_t)part);
                        if (!sp)
                                continue;
                        sp->seen = 1;
                        metrics_set(sp->lag, end > pos ? end - pos : 0);
                }
        }
        /* Gone from this consumer: its new owner reports it now. */
        for (size_t i = 0; i < st->part_cnt; i++)
                if (!st->parts[i].seen)
                        metrics_set(st->parts[i].lag, 0);
}

int kc_stats_apply(kc_stats_t *st, const char *json, size_t len, char *errstr, size_t errstr_size) {
        cJSON *root = cJSON_ParseWithLength(json, len);
        if (!root || !cJSON_IsObject(root) || !cJSON_GetObjectItemCaseSensitive(root, "type")) {
                snprintf(errstr, errstr_size, "not a librdkafka statistics document");
                cJSON_Delete(root);
                return -1;
        }
        int producer = !strcmp(kc_str(root, "type"), "producer");

        for (int i = 0; i < KC_TOTAL_CNT; i++) {
                kc_stats_total_t *tot = &st->totals[i];
                double v = kc_num(root, tot->field, -1);
                if (v < 0)
                        continue;
                int64_t cur = (int64_t)v;
                /* A smaller total means a new instance: count it from 0. */
                int64_t delta = cur >= tot->prev ? cur - tot->prev : cur;
                tot->prev = cur;
                if (delta > 0)
                        metrics_inc(tot->ctr, (double)delta);
        }
        if (producer) {
                if (!st->queue_msgs) {
                        st->queue_msgs = metrics_child(st->f_queue_msgs, st->client);
                        st->queue_bytes = metrics_child(st->f_queue_bytes, st->client);
                }
                metrics_set(st->queue_msgs, kc_num(root, "msg_cnt", 0));
                metrics_set(st->queue_bytes, kc_num(root, "msg_size", 0));
                /* Read from the parsed document, not matched as text:
                 * librdkafka writes `"idemp_state": "Assigned"` with a space. */
                const cJSON *eos = cJSON_GetObjectItemCaseSensitive(root, "eos");
                st->has_pid = !strcmp(kc_str(eos, "idemp_state"), "Assigned") &&
                              strcmp(kc_str(eos, "txn_state"), "Fatal") != 0;
        }
        int up = kc_stats_brokers(st, cJSON_GetObjectItemCaseSensitive(root, "brokers"));
        if (!producer) {
                kc_stats_lag(st, cJSON_GetObjectItemCaseSensitive(root, "topics"));
                const cJSON *cgrp = cJSON_GetObjectItemCaseSensitive(root, "cgrp");
                double n = kc_num(cgrp, "assignment_size", -1);
                if (n >= 0)
                        kc_stats_set_assigned(st, (int)n);
        }
        cJSON_Delete(root);
        return up;
}
