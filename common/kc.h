/* kc — Weir's Kafka clients: the layer between librdkafka and the services.
 *
 * A kc_t wraps one rd_kafka_t (producer or consumer) with what every Weir
 * service needs around it:
 *   - configuration: Weir's defaults, then the service's own properties,
 *     then every KAFKA_* environment variable (cfg_kafka_conf), so users can
 *     override anything; the effective non-default settings are logged with
 *     secrets redacted;
 *   - librdkafka's logs as log.h JSON lines, errors logged and counted, fatal
 *     errors remembered (kc_fatal());
 *   - delivery reports: per-message kc_dr_t callbacks (kc_dr.h) and
 *     delivered/failed counters;
 *   - statistics turned into Prometheus metrics (kc_stats.h);
 *   - rebalances for cooperative-sticky (incremental assign/unassign) and
 *     eager protocols, with service hooks and the "kafka assigned"
 *     readiness condition.
 * The transactional consume-process-produce loop is in kc_txn.h.
 *
 * Threads: librdkafka callbacks (delivery, stats, error, rebalance) run in
 * whichever thread polls the client (rd_kafka_poll(), rd_kafka_consumer_poll(),
 * rd_kafka_flush(), or kc_poll_start()'s thread); the log callback runs in
 * librdkafka's own threads.  Everything kc does in them is thread-safe.
 *
 * Ownership: kc_new() always takes `conf`; kc_destroy() frees everything.
 * The rd_kafka_t from kc_rk() belongs to the kc_t: use it with librdkafka's
 * API, but do not destroy it or replace its opaque. */
#ifndef WEIR_KC_H
#define WEIR_KC_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.h"

typedef struct kc_s kc_t;

/* A consumed message (librdkafka's: key, key_len, payload, len, partition,
 * offset, err are its fields).  The name lets a service that only reads
 * messages through the loop (kc_txn.h) stay out of librdkafka's API. */
typedef rd_kafka_message_t kc_msg_t;

/* The message's topic ("" when it has none). */
const char *kc_msg_topic(const kc_msg_t *m);

/* The last header `name` of `m`: 0 with *value and *size set (value NULL for a
 * null header), or -1 when it has none. */
int kc_msg_header(const kc_msg_t *m, const char *name, const void **value, size_t *size);

/* Called in the polling thread, inside rd_kafka_consumer_poll(), BEFORE the
 * consumer's assignment changes:
 *   assigned: `parts` are about to be added; fetching starts when the hook
 *             returns (compute restores partition state here);
 *   revoked:  `parts` are about to be removed; lost=1 when they were already
 *             lost (session timeout, fenced), so their offsets can no longer
 *             be committed; the hook commits (or abandons) what it holds.
 * `parts` belongs to librdkafka: read it, do not keep it. */
typedef struct kc_rebalance_hooks_s {
        void (*assigned)(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, void *opaque);
        void (*revoked)(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, int lost,
                        void *opaque);
        void *opaque;
} kc_rebalance_hooks_t;

/* What kc_conf_new() and kc_new() need besides the environment.  Zero it and
 * set what applies; strings are copied. */
typedef struct kc_opts_s {
        const char *stage;            /* required: ingress|compute|enrichment|sink; names
                                       * metrics weir_<stage>_kafka_* and client.id */
        const char *group_id;         /* consumer: group.id unless KAFKA_GROUP_ID is set */
        const char *transactional_id; /* producer: exact transactional.id (kc_txn derives
                                       * it), or NULL for a non-transactional producer */
        int auto_commit;              /* consumer: 1 = enable.auto.commit=true (default 0) */
        const char *const *props;     /* NULL or a NULL-terminated list of name, value pairs
                                       * applied after Weir's defaults, before KAFKA_* */
        admin_t *admin;               /* NULL or the admin server: readiness condition
                                       * "kafka assigned" (consumer: set from the first
                                       * assignment, even empty, until it is lost) or
                                       * "kafka connected" (producer: a broker is UP in
                                       * the statistics) */
        kc_rebalance_hooks_t hooks;   /* consumer: optional rebalance hooks */
} kc_opts_t;

/* Weir's defaults.  Producer: enable.idempotence=true, acks=all,
 * linger.ms=5, compression.type=lz4.  Consumer: enable.auto.commit=false,
 * auto.offset.reset=earliest, partition.assignment.strategy=cooperative-sticky,
 * isolation.level=read_committed.  Both: client.id=weir-<stage>,
 * statistics.interval.ms=5000. */

/* Builds a configuration: Weir's defaults for `type`, then opts->props, then
 * the KAFKA_* environment.  transactional.id is opts->transactional_id and
 * nothing else (a KAFKA_TRANSACTIONAL_ID is a base kc_txn derives ids from,
 * never applied to a plain producer).  A consumer needs a group.id.
 * Returns NULL with errstr set (naming the property or variable). */
rd_kafka_conf_t *kc_conf_new(rd_kafka_type_t type, const kc_opts_t *opts, char *errstr,
                             size_t errstr_size);

/* Creates the client from `conf` (always taken, even on failure), installs
 * kc's callbacks and logs the effective settings.  A consumer's main queue
 * is redirected to its consumer queue, so rd_kafka_consumer_poll() serves
 * everything.  Returns NULL with errstr set. */
kc_t *kc_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const kc_opts_t *opts, char *errstr,
             size_t errstr_size);

/* kc_conf_new() + kc_new(). */
kc_t *kc_producer_new(const kc_opts_t *opts, char *errstr, size_t errstr_size);
kc_t *kc_consumer_new(const kc_opts_t *opts, char *errstr, size_t errstr_size);

/* A new client like `old` (same type, `opts` as given to create it) that
 * takes over its readiness condition, its refusal (kc_refused) and its
 * poll thread, then destroys `old`.  For a producer librdkafka made fatal
 * for a refusal (an idempotent producer denied IdempotentWrite): the
 * caller makes sure nobody else uses `old` any more.  NULL with errstr set
 * (old untouched). */
kc_t *kc_renew(kc_t *old, const kc_opts_t *opts, char *errstr, size_t errstr_size);

/* Consumer: closes it (leaving the group; the revoked hook runs) unless
 * already closed.  Producer: stops kc_poll_start()'s thread, purges what was
 * not delivered (their delivery callbacks run with __PURGE_*) — call
 * rd_kafka_flush() first to deliver instead.  Then frees everything. */
void kc_destroy(kc_t *kc);

rd_kafka_t *kc_rk(const kc_t *kc);
/* Consumer: the partitions its rebalance callback assigned (owned by kc;
 * valid until the next rebalance).  Unlike rd_kafka_assignment() it never
 * waits for librdkafka's group thread, so the revoked hook may use it while
 * rd_kafka_consumer_close() runs.  Call from the thread polling the
 * consumer. */
const rd_kafka_topic_partition_list_t *kc_assigned(const kc_t *kc);
/* rd_kafka_name(): "weir-<stage>#producer-1"; the `client` metric label. */
const char *kc_name(const kc_t *kc);

/* Consumer: subscribes to the NULL-terminated `topics`. */
int kc_subscribe(kc_t *kc, const char *const *topics, char *errstr, size_t errstr_size);

/* 1 when librdkafka raised a fatal error or kc gave up on the client (a
 * failed assign); the reason goes to errstr.  The client is then unusable:
 * the service logs it and exits non-zero.  0 otherwise. */
int kc_fatal(kc_t *kc, char *errstr, size_t errstr_size);

/* While Kafka refuses this client: 1 when authentication failed (wrong
 * SASL credentials, an untrusted or expired certificate: nothing can work),
 * 2 for authorization (a missing ACL: other topics may work), with the
 * cause (never a secret) in why (may be NULL); 0 otherwise.
 * Refusals never make kc_fatal() true by themselves: they are logged once
 * with the principal, operation and resource, repeated with a growing
 * interval, hold the readiness condition "kafka access" unmet, and end by
 * themselves when the cause is fixed (SASL credentials are re-read from
 * KAFKA_SASL_PASSWORD(_FILE) meanwhile). */
int kc_refused(kc_t *kc, char *why, size_t why_size);

/* Ends a refusal the caller knows to be over (ingress: its topics are
 * visible again): readiness is restored; the next failure starts anew. */
void kc_refusal_end(kc_t *kc);

/* Consumer: call with every polled message whose err is set.  Returns 1
 * when it was a refusal (an authorization or authentication error: handled
 * as kc_refused() says, do not log it), 0 when the caller handles it. */
int kc_consumer_error(kc_t *kc, const rd_kafka_message_t *m);

/* A producer's "kafka connected" readiness follows the broker states in
 * librdkafka's statistics, which first arrive statistics.interval.ms (5 s)
 * after start.  Until then this sets it as soon as librdkafka holds cluster
 * metadata (a broker answered); it never blocks.  Call it from the loop that
 * polls the producer; once set it costs one load.  Returns 1 once there is
 * nothing left to probe (set, or no such condition), 0 while the loop
 * should call again soon. */
int kc_ready_probe(kc_t *kc);

/* Producer: serves delivery reports, statistics and errors from a
 * background thread (for ingress, whose HTTP threads never poll).  With an
 * admin server the thread beats the heartbeat "<stage> kafka poll".
 * Stopped by kc_destroy(). */
int kc_poll_start(kc_t *kc, char *errstr, size_t errstr_size);

/* --------------------------------------------------------------- produce */

/* A per-message delivery callback: pass a kc_dr_t (embedded in your own
 * struct) as kc_produce()'s `dr`; its cb runs once, in the polling thread,
 * with the delivery report (m->err, m->partition, m->offset).  kc_dr.h
 * builds "wait for all records of a request" on it. */
typedef struct kc_dr_s kc_dr_t;
struct kc_dr_s {
        void (*cb)(kc_dr_t *dr, const rd_kafka_message_t *m);
};

/* One record to produce.  key/value are copied. */
typedef struct kc_record_s {
        const char *topic;
        int32_t partition; /* RD_KAFKA_PARTITION_UA: the partitioner (by key) */
        const void *key;
        size_t key_len;
        const void *value;
        size_t value_len;
        rd_kafka_headers_t *headers; /* NULL, or taken by librdkafka on success only */
        int64_t timestamp_ms;        /* 0 = now */
} kc_record_t;

/* Produces `rec`.  When the local queue is full, waits up to block_ms for
 * room, serving delivery reports meanwhile (0: fail at once with
 * RD_KAFKA_RESP_ERR__QUEUE_FULL, ingress answers 429; -1: no limit).
 * On success `dr` (may be NULL) will be called; on failure it is not.
 * Returns the error (RD_KAFKA_RESP_ERR_NO_ERROR on success). */
rd_kafka_resp_err_t kc_produce(kc_t *kc, const kc_record_t *rec, kc_dr_t *dr, int block_ms);

/* Producer: looks up the metadata of the NULL-terminated `topics` now, so
 * the first record to each is sent at once.  kc_produce() does the same by
 * itself for a topic on its first record (one metadata round trip then);
 * this saves that round trip for the topics a service knows at start.
 * (librdkafka before 2.10.1 otherwise leaves a topic first named by a
 * produce call to its 1 s topic scan: the first record waited up to 1 s.)
 * Never blocks.  Returns 0, or -1 with errstr set (a name librdkafka
 * refuses, or more than 64 topics: those are produced without a kept
 * handle, as before). */
int kc_topics_warm(kc_t *kc, const char *const *topics, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ consumer */

/* Consumer: a copy of the current assignment with each partition's offset
 * set to the consumer's position (the next offset to consume;
 * RD_KAFKA_OFFSET_INVALID where nothing was consumed yet) — what to commit
 * after processing every message returned so far.  NULL on error; the
 * caller destroys the list. */
rd_kafka_topic_partition_list_t *kc_positions(kc_t *kc, char *errstr, size_t errstr_size);

/* Consumer: moves the positions of the partitions in `offsets` to their
 * offsets (local: no broker round trip).  Returns 0 or -1 with errstr set. */
int kc_seek(kc_t *kc, const rd_kafka_topic_partition_list_t *offsets, int timeout_ms, char *errstr,
            size_t errstr_size);

/* Consumer: moves the position of `parts` (NULL = the whole assignment)
 * back to the group's committed offsets, fetched from the coordinator.
 * Where no offset was ever committed it uses `fallback` (a list of
 * topic/partition/offset, may be NULL), else the beginning of the
 * partition.  For the sink when a batch is given up.
 * Caution: the fetch shares the coordinator connection with the group
 * protocol, and the broker answers one request at a time: during a
 * rebalance it waits behind this member's pending JoinGroup, which itself
 * needs the poll loop — so it blocks (up to timeout_ms) when called from
 * the loop mid-rebalance.  kc_txn rewinds with kc_seek() instead.
 * Returns 0 or -1 with errstr set. */
int kc_seek_committed(kc_t *kc, const rd_kafka_topic_partition_list_t *parts,
                      const rd_kafka_topic_partition_list_t *fallback, int timeout_ms, char *errstr,
                      size_t errstr_size);

#endif
