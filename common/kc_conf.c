/* kc_conf — building a client's rd_kafka_conf_t from Weir's defaults, the
 * service's properties and the KAFKA_* environment, and logging the result.
 *
 * Precedence, lowest first: Weir's defaults, kc_opts_t.props, KAFKA_*.
 * The environment comes last so an operator can override anything without
 * a rebuild (SPEC §5) — including our defaults, at their own risk.
 * transactional.id is the exception: it must be unique per producer, so it
 * is always kc_opts_t.transactional_id (kc_txn derives it, using a
 * KAFKA_TRANSACTIONAL_ID as its base). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "kc_int.h"
#include "log.h"

static const char *const kc_producer_defaults[] = {
        /* No duplicates or reordering on retries: ingress's "2xx means
         * acknowledged, exactly once" and the transactional producer need it. */
        "enable.idempotence", "true", "acks", "all",
        /* A few ms of batching buys most of the throughput at little latency. */
        "linger.ms", "5",
        /* Avro records compress well; lz4 is the cheapest on CPU. */
        "compression.type", "lz4",
        /* At most 1000 records per batch (librdkafka's default is 10000): a
         * librdkafka consumer downstream materialises a fetched batch whole,
         * ~390 B per record, and the broker never splits one, so a
         * 10,000-record batch cost compute ~3.5 MiB of its peak RSS.  Past
         * ~1000 records a batch buys no measurable CPU (make bench-compute). */
        "batch.num.messages", "1000", NULL};

static const char *const kc_consumer_defaults[] = {
        /* Offsets are committed by the application (transactions, or after the
         * sink's database acknowledged), never on a timer. */
        "enable.auto.commit", "false", "auto.offset.reset", "earliest",
        /* Rebalances move only the partitions that change owner. */
        "partition.assignment.strategy", "cooperative-sticky",
        /* A member learns of a rebalance from its next heartbeat, and a
         * cooperative rebalance takes two rounds: at librdkafka's 3 s a
         * second instance or worker joining held the group for seconds
         * (compute restarts measured ~3 s to ready, ~1 s with this).
         * A member that stops during a rebalance cannot leave the group (its
         * LeaveGroup waits behind its own JoinGroup, librdkafka 2.0.2), and
         * the rebalance then waits for it until its session times out: 10 s
         * (Kafka Streams' old default) instead of librdkafka's 45 s, which
         * stalled a restarted compute for 39-40 s in 3 of 12 restarts. */
        "heartbeat.interval.ms", "1000", "session.timeout.ms", "10000",
        /* Never see records of aborted transactions. */
        "isolation.level", "read_committed",
        /* Prefetch at most 8 MiB (librdkafka's default is 64 MiB, which was
         * most of a service's RSS under load); a service drains far more
         * than that per second, so fetches still overlap processing. */
        "queued.max.messages.kbytes", "8192", NULL};

static int kc_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                       const char *origin, char *errstr, size_t errstr_size) {
        char err[256];
        if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "%s: %s=\"%s\": %s", origin, name,
                         cfg_is_secret(name) ? "[redacted]" : (value ? value : ""), err);
                return -1;
        }
        return 0;
}

static int kc_conf_set_list(rd_kafka_conf_t *conf, const char *const *list, const char *origin,
                            char *errstr, size_t errstr_size) {
        for (; list && list[0] && list[1]; list += 2)
                if (kc_conf_set(conf, list[0], list[1], origin, errstr, errstr_size) == -1)
                        return -1;
        return 0;
}

rd_kafka_conf_t *kc_conf_new(rd_kafka_type_t type, const kc_opts_t *opts, char *errstr,
                             size_t errstr_size) {
        if (!opts || !opts->stage || !*opts->stage) {
                snprintf(errstr, errstr_size, "kafka client: no stage name");
                return NULL;
        }
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char client_id[64];
        snprintf(client_id, sizeof(client_id), "weir-%s", opts->stage);

        if (kc_conf_set(conf, "client.id", client_id, "default", errstr, errstr_size) == -1 ||
            kc_conf_set(conf, "statistics.interval.ms", "5000", "default", errstr, errstr_size) ==
                    -1 ||
            kc_conf_set_list(
                    conf, type == RD_KAFKA_PRODUCER ? kc_producer_defaults : kc_consumer_defaults,
                    "default", errstr, errstr_size) == -1)
                goto fail;
        if (type == RD_KAFKA_CONSUMER) {
                if (opts->auto_commit && kc_conf_set(conf, "enable.auto.commit", "true", "kc_opts",
                                                     errstr, errstr_size) == -1)
                        goto fail;
                if (opts->group_id && *opts->group_id &&
                    kc_conf_set(conf, "group.id", opts->group_id, "kc_opts", errstr, errstr_size) ==
                            -1)
                        goto fail;
        }
        if (kc_conf_set_list(conf, opts->props, "kc_opts", errstr, errstr_size) == -1)
                goto fail;

        char err[512];
        if (cfg_kafka_conf(conf, err, sizeof(err)) == -1) {
                snprintf(errstr, errstr_size, "%s", err);
                goto fail;
        }

        /* Set or reset (NULL): never inherited from the environment.  (Not
         * on consumers: touching a producer property there makes
         * librdkafka warn, and they ignore it anyway.) */
        if (type == RD_KAFKA_PRODUCER &&
            kc_conf_set(conf, "transactional.id", opts->transactional_id, "kc_opts", errstr,
                        errstr_size) == -1)
                goto fail;

        if (type == RD_KAFKA_CONSUMER) {
                char gid[256];
                size_t sz = sizeof(gid);
                if (rd_kafka_conf_get(conf, "group.id", gid, &sz) != RD_KAFKA_CONF_OK || !*gid) {
                        snprintf(errstr, errstr_size,
                                 "kafka consumer: no group.id (set KAFKA_GROUP_ID)");
                        goto fail;
                }
        }
        return conf;
fail:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

/* Properties whose values are pointers or callbacks, not settings. */
static int kc_conf_is_internal(const char *name) {
        return strstr(name, "_cb") || strstr(name, "opaque") || !strcmp(name, "default_topic_conf");
}

/* Also redact what cfg_is_secret() might not know as a name: inline keys
 * and the OAUTHBEARER config string carry credentials. */
static int kc_conf_is_secret(const char *name) {
        return cfg_is_secret(name) || strstr(name, "password") || strstr(name, "secret") ||
               !strcmp(name, "ssl.key.pem") || !strcmp(name, "sasl.oauthbearer.config");
}

/* Settings an operator looks for first, logged even at their defaults
 * (librdkafka's canonical names, as rd_kafka_conf_dump() gives them). */
static const char *const kc_conf_key_producer[] = {"security.protocol", "enable.idempotence",
                                                   "queue.buffering.max.ms", "compression.codec",
                                                   NULL};
static const char *const kc_conf_key_producer_topic[] = {"request.required.acks", NULL};
static const char *const kc_conf_key_consumer[] = {"security.protocol", "isolation.level",
                                                   "enable.auto.commit",
                                                   "partition.assignment.strategy", NULL};
static const char *const kc_conf_key_consumer_topic[] = {"auto.offset.reset", NULL};

static int kc_conf_in(const char *const *list, const char *name) {
        for (; *list; list++)
                if (!strcmp(*list, name))
                        return 1;
        return 0;
}

/* Appends the name/value pairs of `dump` that differ from `defaults`, or
 * are in `key`, to fields. */
static size_t kc_conf_diff(const char **dump, size_t dcnt, const char **defaults, size_t defcnt,
                           const char *const *key, const char **fields, size_t n, size_t max) {
        for (size_t i = 0; i + 1 < dcnt && n + 2 < max; i += 2) {
                const char *name = dump[i], *val = dump[i + 1];
                if (kc_conf_is_internal(name))
                        continue;
                if (kc_conf_in(key, name)) {
                        fields[n++] = name;
                        fields[n++] = val;
                        continue;
                }
                const char *def = NULL;
                for (size_t j = 0; j + 1 < defcnt; j += 2)
                        if (!strcmp(defaults[j], name)) {
                                def = defaults[j + 1];
                                break;
                        }
                if (def && !strcmp(def, val))
                        continue;
                fields[n++] = name;
                fields[n++] = kc_conf_is_secret(name) ? "[redacted]" : val;
        }
        return n;
}

void kc_conf_log(rd_kafka_type_t type, const rd_kafka_conf_t *conf) {
        int p = type == RD_KAFKA_PRODUCER;
        const char *const *key = p ? kc_conf_key_producer : kc_conf_key_consumer;
        const char *const *tkey = p ? kc_conf_key_producer_topic : kc_conf_key_consumer_topic;
        /* rd_kafka_conf_dump() wants a non-const conf but does not change it. */
        rd_kafka_conf_t *c = (rd_kafka_conf_t *)conf;
        rd_kafka_conf_t *defc = rd_kafka_conf_new();
        rd_kafka_topic_conf_t *deft = rd_kafka_topic_conf_new();
        size_t gcnt, dgcnt, tcnt = 0, dtcnt;
        const char **g = rd_kafka_conf_dump(c, &gcnt);
        const char **dg = rd_kafka_conf_dump(defc, &dgcnt);
        const char **dt = rd_kafka_topic_conf_dump(deft, &dtcnt);
        /* Topic-level properties set on the global conf (acks, ...) live in
         * its default topic conf. */
        rd_kafka_topic_conf_t *tc = rd_kafka_conf_get_default_topic_conf(c);
        const char **t = tc ? rd_kafka_topic_conf_dump(tc, &tcnt) : NULL;

        size_t max = gcnt + tcnt + 1;
        const char **fields = calloc(max, sizeof(*fields));
        if (fields) {
                size_t n = kc_conf_diff(g, gcnt, dg, dgcnt, key, fields, 0, max);
                /* The default topic conf exists once a topic-level property
                 * was set; else its values are librdkafka's defaults. */
                n = kc_conf_diff(t ? t : dt, t ? tcnt : dtcnt, dt, dtcnt, tkey, fields, n, max);
                fields[n] = NULL;
                log_write(LOG_INFO, KC_LOG, fields,
                          "%s configuration (main and non-default settings)",
                          p ? "producer" : "consumer");
                free(fields);
        }
        if (t)
                rd_kafka_conf_dump_free(t, tcnt);
        rd_kafka_conf_dump_free(dt, dtcnt);
        rd_kafka_conf_dump_free(dg, dgcnt);
        rd_kafka_conf_dump_free(g, gcnt);
        rd_kafka_topic_conf_destroy(deft);
        rd_kafka_conf_destroy(defc);
}
