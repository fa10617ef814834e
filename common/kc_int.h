/* kc_int — the inside of kc_t, shared by kc.c, kc_conf.c, kc_dr.c, kc_produce.c and
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
        char tid[256]; /* transactional.id, "" if none: names the resource of a refusal */
        admin_t *admin;
        int ready_cond; /* admin condition handle, -1 when none */
        int probed;     /* kc_ready_probe() saw the cluster (poll thread only) */
        int subscribed; /* kc_subscribe() succeeded: a group member */
        int synced;     /* the group gave this member an assignment (maybe empty) */
        /* The partitions assigned, kept by the rebalance callback itself
         * (kc_assigned()): rd_kafka_assignment() asks the group thread and
         * can wait for it forever when called inside the rebalance
         * callback that rd_kafka_consumer_close() runs (the hazard of
         * librdkafka #4041; a test_kc hang, 6 Dec 2026).  Touched only in
         * the thread that polls the consumer. */
        rd_kafka_topic_partition_list_t *assigned;
        kc_rebalance_hooks_t hooks;
        kc_stats_t *stats; /* fed by the stats callback; owned */

        /* A fatal error: librdkafka's (error_cb) or ours (failed assign). */
        atomic_int fatal;
        atomic_int fatal_librdkafka; /* librdkafka's fatal error taken in (kc_fatal_taken) */
        pthread_mutex_t lock;        /* protects fatal_reason */
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

        /* Kafka refusing this client (kc_access.c): a kc_refusal_t, the
         * line naming the cause and its repetition schedule (under lock). */
        atomic_int refused;
        char refused_why[768];
        char refused_key[320]; /* error|op|resource: "the same cause" */
        char refused_err[64];
        long long refused_count;
        int64_t refused_since_ms, refused_next_ms, refused_repeat_ms;
        char principal[320]; /* "User:name (SASL SCRAM-SHA-512)", for messages */
        int sasl;            /* PLAIN or SCRAM: credentials can be re-read */
        char *sasl_user;     /* owned; the credentials in use */
        char *sasl_pass;     /* owned; wiped when freed */
        int64_t cred_next_ms;
        int access_bound; /* counted by kc_access_bind() */

        /* Producer: the topic handles kc_produce() produces with (kc_produce.c,
         * kc_topic()).  Entries [0, ntopics) never change once published:
         * read without a lock; added under topics_lock on a miss.  Owned:
         * destroyed by kc_destroy() before the rd_kafka_t. */
#define KC_TOPICS_MAX 64
        rd_kafka_topic_t *topics[KC_TOPICS_MAX];
        atomic_int ntopics;
        pthread_mutex_t topics_lock;

        pthread_t poll_thread;
        atomic_int poll_run;
        int poll_started;
        admin_beat_t *poll_beat; /* "<stage> kafka poll", with an admin server */
};

/* Marks the client failed (first reason wins) and logs it. */
void kc_set_fatal(kc_t *kc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* librdkafka's fatal error, once, from whichever sees it first: error_cb or
 * kc_fatal()'s own check.  A refusal (e.g. CLUSTER_AUTHORIZATION_FAILED for
 * an idempotent producer's id) is recorded before the fatal state, so a
 * caller that finds the client fatal also finds it refused. */
void kc_fatal_taken(kc_t *kc, rd_kafka_resp_err_t err, const char *why);

/* Writes "topic[0,1],other[2]" (truncated with "...", "(none)" when
 * empty) into buf. */
void kc_parts_str(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t size);

/* ---- kc_cb.c: librdkafka's callbacks */
/* Makes kc the opaque of `conf` and sets its callbacks (log, error,
 * statistics, and delivery reports or rebalances by kc->type). */
void kc_cb_set(rd_kafka_conf_t *conf, kc_t *kc);

/* ---- kc_access.c: Kafka refusing a client (see kc_access.c) */
typedef enum { KC_REFUSED_NONE = 0, KC_REFUSED_AUTH, KC_REFUSED_ACL } kc_refusal_t;
/* Authentication (SASL, TLS) or authorization (ACL) error, or NONE. */
kc_refusal_t kc_refusal_kind(rd_kafka_resp_err_t err);
/* Binds kc to the process-wide readiness condition "kafka access" of
 * `admin` (registered by the first client bound; NULL admin: nothing). */
void kc_access_bind(kc_t *kc, admin_t *admin);
/* Reads the principal and SASL credentials from `conf` (before rd_kafka_new). */
void kc_access_init(kc_t *kc, const rd_kafka_conf_t *conf);
/* Ends a refusal and frees the credentials (kc_destroy). */
void kc_access_fini(kc_t *kc);
/* Kafka refused `kc` with `err` (ignored unless kc_refusal_kind() says
 * so): op/rtype/resource name what was denied (NULL: guessed from err, or
 * "(unknown)"); detail is librdkafka's text.  Logs the cause when it is new,
 * marks readiness unmet, re-reads SASL credentials. */
void kc_access_refused(kc_t *kc, rd_kafka_resp_err_t err, const char *op, const char *rtype,
                       const char *resource, const char *detail);
/* Repeats the line when due; re-reads credentials.  Cheap when not refused. */
void kc_access_tick(kc_t *kc);
/* A sign of access: ends a refusal of `kind` (NONE: of any kind). */
void kc_access_ok(kc_t *kc, kc_refusal_t kind);
/* Ends a refusal for that error alone: CLUSTER_AUTHORIZATION_FAILED when
 * the producer got its producer id after all, GROUP_AUTHORIZATION_FAILED
 * when the consumer joined its group (even with nothing assigned). */
void kc_access_ok_err(kc_t *kc, rd_kafka_resp_err_t err);
/* The refusal of `from` carried over to `to` (a re-created producer), so
 * readiness and the log schedule do not start afresh. */
void kc_access_carry(kc_t *to, const kc_t *from);

/* Producer: warms `to` with the topics `from` produced to (a re-created
 * producer: kc_renew(), kc_txn), so its first records do not wait. */
void kc_topics_carry(kc_t *to, const kc_t *from);

/* Logs the main properties of `conf` and those that differ from
 * librdkafka's defaults, one field each, secrets redacted (kc_conf.c). */
void kc_conf_log(rd_kafka_type_t type, const rd_kafka_conf_t *conf);

#endif
