/* kc_int — the inside of kc_t, shared by kc.c, kc_conf.c, kc_dr.c and
 * kc_txn.c only.  Services use kc.h. */
#ifndef WEIR_KC_INT_H
#define WEIR_KC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "clk.h"
#include "kc.h"
#include "kc_stats.h"
#include "metrics.h"

#define KC_LOG "kafka" /* log component */

struct kc_s {
        rd_kafka_t *rk;
        rd_kafka_type_t type;
        char stage[32];
        admin_t *admin;
        int ready_cond; /* admin condition handle, -1 when none */
        int probed;     /* kc_ready_probe() saw the cluster (poll thread only) */
        int subscribed; /* kc_subscribe() succeeded: a group member */
        int synced;     /* the group gave this member an assignment (maybe empty) */
        kc_rebalance_hooks_t hooks;
        kc_stats_t *stats; /* fed by the stats callback; owned */

        /* A fatal error: librdkafka's (error_cb) or ours (failed assign). */
        atomic_int fatal;
        pthread_mutex_t lock; /* protects fatal_reason */
        char fatal_reason[512];

        /* Delivery reports of this instance, for kc_txn's at-least-once
         * check, and the rate limit of failure logs. */
        atomic_llong dr_ok;
        atomic_llong dr_failed;
        atomic_llong dr_log_next_ms;
        atomic_llong dr_log_suppressed;

        metrics_child_t *m_delivered;
        metrics_child_t *m_failed;
        metrics_child_t *m_purged;
        metrics_family_t *f_errors;

        pthread_t poll_thread;
        atomic_int poll_run;
        int poll_started;
};

/* Marks the client failed (first reason wins) and logs it. */
void kc_set_fatal(kc_t *kc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "topic[0,1],other[2]" (truncated with "...", "(none)" when
 * empty) into buf. */
void kc_parts_str(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t size);

/* Logs the main properties of `conf` and those that differ from
 * librdkafka's defaults, one field each, secrets redacted (kc_conf.c). */
void kc_conf_log(rd_kafka_type_t type, const rd_kafka_conf_t *conf);

static inline void kc_sleep_ms(int64_t ms) {
        struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                              .tv_nsec = (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
}

#endif
