/* kc_stats — librdkafka statistics (the JSON of stats_cb, every
 * statistics.interval.ms) turned into Prometheus metrics.
 *
 * Not a hot path (one document every few seconds), so it is parsed whole
 * with cJSON.  Metrics, all prefixed weir_<stage>_kafka_:
 *   consumer_lag_messages{topic,partition}       gauge
 *   assigned_partitions{client}                  gauge
 *   producer_queue_messages{client}              gauge (msg_cnt)
 *   producer_queue_bytes{client}                 gauge (msg_size)
 *   broker_rtt_avg_seconds{client,broker}        gauge
 *   broker_rtt_p99_seconds{client,broker}        gauge
 *   requests_sent_total{client}                  counter (tx)
 *   sent_bytes_total{client}                     counter (tx_bytes)
 *   responses_received_total{client}             counter (rx)
 *   received_bytes_total{client}                 counter (rx_bytes)
 * `client` is the rd_kafka_name() of the instance, `broker` its node id.
 *
 * Consumer lag is the partition's end offset (last stable offset for
 * read_committed, else high watermark) minus the consumer's position, not
 * librdkafka's consumer_lag: that one is counted from the offset the
 * consumer itself committed, which never moves when offsets are committed
 * through the transactional producer (send_offsets_to_transaction), so it
 * would grow for ever under exactly-once.  The position is at most one
 * commit interval ahead of the committed offset.  Before the first message
 * the committed offset stands in for the position.
 *
 * librdkafka's tx/rx totals are per instance since its start; the counters
 * take the difference from the previous document, so several instances of
 * one stage add up.  A partition that leaves the assignment has its lag
 * gauge set to 0 (the registry cannot remove a child), so the sum of lag
 * over a group stays right. */
#ifndef WEIR_KC_STATS_H
#define WEIR_KC_STATS_H

#include <stddef.h>

typedef struct kc_stats_s kc_stats_t;

/* `stage` and `client` are copied; read_committed picks the end offset of
 * the lag.  Declares the metric families that apply to the client: a
 * consumer's lag and assignment, a producer's queue (a service exports
 * only families it fills); NULL if they clash with existing ones of
 * another type or labels. */
kc_stats_t *kc_stats_new(const char *stage, const char *client, int consumer, int read_committed);
void kc_stats_destroy(kc_stats_t *st);

/* Applies one statistics document.  Returns the number of brokers in state
 * UP (the "connected" signal), or -1 with errstr set when the document is
 * not librdkafka statistics. */
int kc_stats_apply(kc_stats_t *st, const char *json, size_t len, char *errstr, size_t errstr_size);

/* 1 when the last document applied is an idempotent producer's holding a
 * producer id (eos.idemp_state "Assigned", txn_state not "Fatal"): the
 * cluster let it write.  0 otherwise, and for NULL (no statistics). */
int kc_stats_has_pid(const kc_stats_t *st);

/* Sets assigned_partitions{client} now (from the rebalance callback; the
 * statistics would only catch up at their next interval). */
void kc_stats_set_assigned(kc_stats_t *st, int cnt);

#endif
