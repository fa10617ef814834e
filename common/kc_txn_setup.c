/* kc_txn_setup — configuration, creation and destruction of the
 * consume-process-produce loop (the loop itself is kc_txn.c).
 *
 * Creation order follows librdkafka's examples/transactions.c: the
 * producer first, with init_transactions() (which fences an older instance
 * with the same transactional.id and aborts what it left open), then the
 * consumer and its subscription, so no partition is assigned to a loop that
 * cannot yet produce. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_tab.h"
#include "kc_group.h"
#include "kc_txn_int.h"
#include "log.h"

#define F(m) CFG_FIELD(kc_txn_conf_t, m)
/* In the order of kc_guarantee_t. */
static const char *const kc_txn_guarantees[] = {"exactly_once", "at_least_once", NULL};

static const cfg_def_t kc_txn_conf_rows[] = {
        {.name = "PROCESSING_GUARANTEE",
         .type = CFG_ENUM,
         F(guarantee),
         .def = "exactly_once",
         .choices = kc_txn_guarantees,
         .doc = "`exactly_once`: Kafka transactions; `at_least_once`: offsets committed after "
                "the output is acknowledged (lower latency, duplicates after a crash)"},
        {.name = "COMMIT_INTERVAL",
         .type = CFG_DURATION,
         F(batch_ms),
         .def = "100ms",
         .min = 1,
         .max = 60000,
         .doc = "a transaction that holds output commits this long after its first output …"},
        {.name = "COMMIT_STATE_INTERVAL",
         .type = CFG_DURATION,
         F(state_ms),
         .min = 1,
         .max = 600000,
         .def_doc = "`2s` (at most half `transaction.timeout.ms`)",
         .doc = "… one that holds none yet (only input offsets and the state it changed) this "
                "long: such a commit keeps nobody waiting, but the thread waits while it runs and "
                "output produced just after it waits for the broker to finish it "
                "(CONCURRENT_TRANSACTIONS, retried after 20 ms), so fewer of them is less latency "
                "for the windows that close; a crash re-reads at most this much input"},
        {.name = "COMMIT_MAX_RECORDS",
         .type = CFG_INT,
         F(batch_records),
         .def = "1000",
         .min = 1,
         .max = 10000000,
         .doc = "… or, once it holds output, after this many input records, whichever comes "
                "first (a transaction holding none is bounded by `COMMIT_STATE_INTERVAL` alone: "
                "at a steady rate a record cap would commit at the same point of every window and "
                "split its results over two commits)"},
        {.name = "COMMIT_IDLE",
         .type = CFG_DURATION,
         F(idle_ms),
         .def = "0ms",
         .min = 0,
         .max = 60000,
         .flags = CFG_OFF,
         .doc = "group commit: a transaction that holds output (aggregates, alerts, DLQ records) "
                "also commits once no input came for this long — `0ms`: as soon as the consumer "
                "has nothing queued. Under load the input never drains and transactions stay "
                "interval-sized; when a window closes its results are committed within one "
                "commit's latency instead of waiting out the interval. `off`: only "
                "`COMMIT_INTERVAL` / `COMMIT_MAX_RECORDS`"},
        {.name = "COMMIT_LINGER",
         .type = CFG_DURATION,
         F(linger_ms),
         .def = "0",
         .min = 0,
         .max = 60000,
         .doc = "… but not sooner than this after its first output (`0`: no wait). A loop reads "
                "several partitions, and a window closes on each when that partition's first "
                "record past its end comes, often in the next fetch a few ms later: without the "
                "wait the first partition's results commit alone, and the next partition's wait "
                "for that commit before their own. The wait ends early once every partition of "
                "the loop with data has reached the stream time at which the window closed, so a "
                "loop with one partition never waits"},
};
#undef F

const cfg_tab_t kc_txn_conf_tab = CFG_TAB("commit", kc_txn_conf_rows);

void kc_txn_conf_init(kc_txn_conf_t *conf) {
        memset(conf, 0, sizeof(*conf));
        cfg_tab_defaults(&kc_txn_conf_tab, NULL, conf);
}

int kc_txn_conf_env(kc_txn_conf_t *conf, char *errstr, size_t errstr_size) {
        return cfg_tab_load(&kc_txn_conf_tab, conf->env_defaults, conf, errstr, errstr_size);
}

void kc_txn_default_id(const char *stage, const char *group_id, int instance, char *buf,
                       size_t size) {
        const char *base = getenv("KAFKA_TRANSACTIONAL_ID");
        size_t n;
        if (base && *base) {
                n = (size_t)snprintf(buf, size, "%s", base);
        } else {
                char host[256] = "";
                const char *who = getenv("POD_NAME");
                if (!who || !*who) {
                        if (gethostname(host, sizeof(host)) != 0)
                                snprintf(host, sizeof(host), "%d", (int)getpid());
                        host[sizeof(host) - 1] = '\0';
                        who = host;
                }
                n = (size_t)snprintf(buf, size, "weir-%s-%s-%s", stage,
                                     group_id && *group_id ? group_id : "nogroup", who);
        }
        if (instance > 0 && n < size)
                snprintf(buf + n, size - n, "-%d", instance);
}

/* Weir's defaults for the loop's producer, before conf->props and KAFKA_*:
 * a transaction left open by a crash holds back every read_committed
 * reader until the broker times it out, so keep that short (as Kafka
 * Streams does under exactly-once). */
static const char *const kc_txn_defaults[] = {"transaction.timeout.ms", "10000",
                                              /* A transaction begun right after a commit gets
                                               * CONCURRENT_TRANSACTIONS until the broker has
                                               * written the previous one's markers; librdkafka
                                               * retries AddPartitionsToTxn after 20 ms but
                                               * AddOffsetsToTxn after retry.backoff.ms (100 ms
                                               * by default), which made every second commit of
                                               * a burst ~110 ms instead of ~20 ms in bench-e2e. */
                                              "retry.backoff.ms", "20",
                                              /* A commit waits for every record's
                                               * acknowledgement, and the output of a closing
                                               * window is produced just before one: Weir's 5 ms
                                               * linger would be paid by it; 1 ms still batches. */
                                              "linger.ms", "1", NULL};

/* a + b + c (each NULL or NULL-terminated), as one NULL-terminated list
 * (malloc'd; the strings are not copied). */
static const char **kc_txn_props(const char *const *a, const char *const *b, const char *const *c) {
        const char *const *src[3] = {a, b, c};
        size_t n = 0;
        for (int i = 0; i < 3; i++)
                for (size_t j = 0; src[i] && src[i][j]; j++)
                        n++;
        const char **l = calloc(n + 1, sizeof(*l));
        if (!l)
                return NULL;
        n = 0;
        for (int i = 0; i < 3; i++)
                for (size_t j = 0; src[i] && src[i][j]; j++)
                        l[n++] = src[i][j];
        return l;
}

static kc_t *kc_txn_client(kc_txn_t *t, const kc_txn_conf_t *conf, const char *const *props,
                           char *errstr, size_t errstr_size);

static int kc_txn_stopping(kc_txn_t *t) {
        return (t->stop_flag && atomic_load(t->stop_flag)) || atomic_load(&t->stopping);
}

void kc_txn_refused_wait(kc_txn_t *t, int attempt) {
        int64_t ms = 1000LL << (attempt < 5 ? attempt : 5);
        if (ms > 30000)
                ms = 30000;
        for (int64_t slept = 0; slept < ms && !kc_txn_stopping(t); slept += 100) {
                admin_beat(t->beat);
                if (t->producer)
                        kc_access_tick(t->producer);
                clk_sleep_ms(100);
        }
}

/* A new producer in t->producer; `old` (NULL, or the failed one) hands its
 * refusal over and is destroyed. */
static int kc_txn_producer_new(kc_txn_t *t, kc_t *old, char *errstr, size_t errstr_size) {
        t->producer = kc_txn_client(t, &t->conf, t->producer_props, errstr, errstr_size);
        if (t->producer)
                kc_access_bind(t->producer, t->admin);
        if (old) {
                if (t->producer) {
                        kc_access_carry(t->producer, old);
                        kc_topics_carry(t->producer, old);
                }
                kc_destroy(old);
        }
        return t->producer ? 0 : -1;
}

static int kc_txn_producer_init(kc_txn_t *t, kc_t *old, char *errstr, size_t errstr_size);

int kc_txn_producer_start(kc_txn_t *t, char *errstr, size_t errstr_size) {
        return kc_txn_producer_init(t, NULL, errstr, errstr_size);
}

int kc_txn_producer_restart(kc_txn_t *t, char *errstr, size_t errstr_size) {
        kc_t *old = t->producer;
        t->producer = NULL;
        return kc_txn_producer_init(t, old, errstr, errstr_size);
}

static int kc_txn_producer_init(kc_txn_t *t, kc_t *old, char *errstr, size_t errstr_size) {
        if (kc_txn_producer_new(t, old, errstr, errstr_size) == -1)
                return -1;
        if (t->guarantee != KC_EXACTLY_ONCE)
                return 0;
        /* A transaction kept open longer than the broker lets it live is
         * aborted and its producer fenced, every time: refuse the setting. */
        char v[32];
        size_t v_size = sizeof(v);
        int tmo = rd_kafka_conf_get(rd_kafka_conf(kc_rk(t->producer)), "transaction.timeout.ms", v,
                                    &v_size) == RD_KAFKA_CONF_OK
                          ? atoi(v)
                          : 0;
        const char *bad = tmo <= 0                                     ? NULL
                          : t->batch_ms >= tmo                         ? "COMMIT_INTERVAL"
                          : t->conf.state_ms > 0 && t->state_ms >= tmo ? "COMMIT_STATE_INTERVAL"
                                                                       : NULL;
        if (bad) {
                snprintf(errstr, errstr_size,
                         "%s (%d ms) must be shorter than the producer's "
                         "transaction.timeout.ms (%d ms, KAFKA_TRANSACTION_TIMEOUT_MS)",
                         bad, t->batch_ms >= tmo ? t->batch_ms : t->state_ms, tmo);
                return -1;
        }
        if (tmo > 0 && t->conf.state_ms <= 0 && t->state_ms > tmo / 2)
                t->state_ms = tmo / 2 > t->batch_ms ? tmo / 2 : t->batch_ms;
        /* Also fences an earlier producer of this transactional.id and
         * aborts what it left open. */
        for (int refusals = 0;;) {
                admin_beat(t->beat);
                rd_kafka_error_t *error = rd_kafka_init_transactions(kc_rk(t->producer), 30000);
                if (!error)
                        break;
                rd_kafka_resp_err_t code = rd_kafka_error_code(error);
                if (kc_refusal_kind(code) != KC_REFUSED_NONE && !kc_txn_stopping(t)) {
                        /* Fatal for this producer (a missing ACL on the
                         * transactional id or the cluster): a new one, once
                         * the operator had time to add it.  Never an exit. */
                        kc_access_refused(
                                t->producer, code, NULL, NULL,
                                code == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                                        ? t->tid
                                        : NULL,
                                rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                        kc_txn_refused_wait(t, refusals++);
                        kc_t *prev = t->producer;
                        t->producer = NULL;
                        if (kc_txn_producer_new(t, prev, errstr, errstr_size) == -1)
                                return -1;
                        continue;
                }
                int retry = rd_kafka_error_is_retriable(error) && !kc_txn_stopping(t);
                /* Refused meanwhile (wrong password): kc_access says so. */
                log_write(kc_refused(t->producer, NULL, 0) ? LOG_DEBUG : LOG_WARN, KC_TXN_LOG, NULL,
                          "%s: init_transactions: %s%s", t->tid, rd_kafka_error_string(error),
                          retry ? " (retrying)" : "");
                if (!retry) {
                        snprintf(errstr, errstr_size, "%s: init_transactions: %s", t->tid,
                                 rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                        return -1;
                }
                rd_kafka_error_destroy(error);
        }
        log_info(KC_TXN_LOG, "%s: transactions initialised", t->tid);
        kc_access_ok(t->producer, KC_REFUSED_NONE); /* the transactional id is ours again */
        return 0;
}

/* Static membership (KIP-345): GROUP_INSTANCE_ID, or a KAFKA_GROUP_INSTANCE_ID
 * already in c, is a base; each loop of the process joins as
 * "<base>-<instance>", as every consumer of a group needs its own id (two
 * with one id fence each other) and a restarted process must find its
 * loops' ids again.  Without either: dynamic membership. */
static int kc_txn_static_member(rd_kafka_conf_t *c, int instance, char *errstr,
                                size_t errstr_size) {
        char base[200] = "", id[256], err[256];
        size_t sz = sizeof(base);
        const char *env = getenv("GROUP_INSTANCE_ID");
        if (env && *env)
                snprintf(base, sizeof(base), "%s", env);
        else if (rd_kafka_conf_get(c, "group.instance.id", base, &sz) != RD_KAFKA_CONF_OK)
                base[0] = '\0';
        if (!base[0])
                return 0;
        snprintf(id, sizeof(id), "%s-%d", base, instance);
        if (rd_kafka_conf_set(c, "group.instance.id", id, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "kafka consumer: group.instance.id: %s", err);
                return -1;
        }
        return 0;
}

/* The loop's producer (kc_txn_consumer_new() makes consumers). */
static kc_t *kc_txn_client(kc_txn_t *t, const kc_txn_conf_t *conf, const char *const *props,
                           char *errstr, size_t errstr_size) {
        kc_opts_t o = {0};
        o.stage = conf->stage;
        o.group_id = conf->group_id;
        o.props = props;
        o.transactional_id = t->tid[0] ? t->tid : NULL;
        rd_kafka_conf_t *c = kc_conf_new(RD_KAFKA_PRODUCER, &o, errstr, errstr_size);
        return c ? kc_new(RD_KAFKA_PRODUCER, c, &o, errstr, errstr_size) : NULL;
}

kc_t *kc_txn_consumer_new(const kc_txn_conf_t *conf, const kc_rebalance_hooks_t *hooks,
                          char *errstr, size_t errstr_size) {
        const char **props = kc_txn_props(conf->props, conf->consumer_props, NULL);
        if (!props) {
                snprintf(errstr, errstr_size, "kafka transactional loop: out of memory");
                return NULL;
        }
        kc_opts_t o = {0};
        o.stage = conf->stage;
        o.group_id = conf->group_id;
        o.props = props;
        o.admin = conf->admin;
        o.hooks = *hooks;
        kc_t *kc = NULL;
        rd_kafka_conf_t *c = kc_conf_new(RD_KAFKA_CONSUMER, &o, errstr, errstr_size);
        if (!c)
                goto out;
        if (kc_txn_static_member(c, conf->instance, errstr, errstr_size) == -1) {
                rd_kafka_conf_destroy(c);
                goto out;
        }
        /* Not negotiable, whatever KAFKA_* says: the loop commits offsets
         * itself, and exactly-once must not read aborted input. */
        char err[256];
        if (rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err)) ||
            (conf->guarantee == KC_EXACTLY_ONCE &&
             rd_kafka_conf_set(c, "isolation.level", "read_committed", err, sizeof(err)))) {
                snprintf(errstr, errstr_size, "kafka consumer: %s", err);
                rd_kafka_conf_destroy(c);
                goto out;
        }
        kc = kc_new(RD_KAFKA_CONSUMER, c, &o, errstr, errstr_size);
out:
        free(props);
        return kc;
}

static void kc_txn_metrics(kc_txn_t *t) {
        char name[160];
        snprintf(name, sizeof(name), "weir_%s_kafka_consumed_records_total", t->stage);
        t->m_in = metrics_counter(name, "Records consumed by the processing loop.");
        snprintf(name, sizeof(name), "weir_%s_kafka_produced_records_total", t->stage);
        t->m_out = metrics_counter(name, "Records produced by the processing loop.");
        snprintf(name, sizeof(name), "weir_%s_kafka_transactions_total", t->stage);
        metrics_family_t *f = metrics_counter_family(
                name, "Transactions (batches in at-least-once mode) ended, by result.", "result");
        t->m_committed = f ? metrics_child(f, "committed") : NULL;
        t->m_aborted = f ? metrics_child(f, "aborted") : NULL;
        snprintf(name, sizeof(name), "weir_%s_kafka_commit_duration_seconds", t->stage);
        t->m_commit_s = metrics_histogram(
                name, "Time to commit a transaction (offsets and commit) or batch.", NULL, 0);
        snprintf(name, sizeof(name), "weir_%s_kafka_producer_recreated_total", t->stage);
        t->m_recreated = metrics_counter(
                name, "Transactional producers re-created after a fatal error (e.g. fenced).");
        if (t->guarantee == KC_ACK_EXTERNAL) {
                snprintf(name, sizeof(name), "weir_%s_consumption_paused", t->stage);
                t->m_paused = metrics_gauge(
                        name, "1 while consumption is paused: the batch is not acknowledged yet "
                              "(InfluxDB not accepting writes) or a record cannot be taken yet.");
        }
}

kc_txn_t *kc_txn_new(const kc_txn_conf_t *conf, st_t *st, char *errstr, size_t errstr_size) {
        st_t dummy = ST_OK; /* where *st goes when the caller passes NULL */
        st = st ? st : &dummy;
        *st = ST_INVALID;
        if (!conf->stage || !*conf->stage || !conf->topics || !conf->topics[0] ||
            !conf->hooks.process ||
            (conf->guarantee == KC_ACK_EXTERNAL) != (conf->hooks.acknowledge != NULL)) {
                snprintf(errstr, errstr_size,
                         "kafka transactional loop: stage, topics and a process hook are "
                         "required, and an acknowledge hook with KC_ACK_EXTERNAL only");
                return NULL;
        }
        kc_txn_t *t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(errstr, errstr_size, "kafka transactional loop: out of memory");
                *st = ST_NOMEM;
                return NULL;
        }
        snprintf(t->stage, sizeof(t->stage), "%s", conf->stage);
        t->guarantee = conf->guarantee;
        t->batch_records = conf->batch_records > 0 ? conf->batch_records : 1000;
        t->batch_ms = conf->batch_ms > 0 ? conf->batch_ms : 100;
        t->state_ms = conf->state_ms > 0 ? conf->state_ms : 2000;
        if (t->state_ms < t->batch_ms)
                t->state_ms = t->batch_ms;
        t->idle_ms = conf->idle_ms;
        t->linger_ms = conf->linger_ms > 0 ? conf->linger_ms : 0;
        t->admin = conf->admin;
        if (t->admin) {
                char name[64];
                snprintf(name, sizeof(name), "%.32s loop %d", conf->stage, conf->instance);
                t->beat = admin_beat_new(t->admin, name);
        }
        t->stop_flag = conf->stop;
        t->hooks = conf->hooks;
        t->first = rd_kafka_topic_partition_list_new(8);
        t->retry_ms = -1;
        kc_txn_metrics(t);
        if (!t->m_in || !t->m_out || !t->m_committed || !t->m_commit_s || !t->m_recreated ||
            (t->guarantee == KC_ACK_EXTERNAL && !t->m_paused)) {
                snprintf(errstr, errstr_size, "kafka transactional loop: metric families clash");
                goto fail;
        }
        if (t->guarantee == KC_EXACTLY_ONCE) {
                if (conf->transactional_id && *conf->transactional_id)
                        snprintf(t->tid, sizeof(t->tid), "%s", conf->transactional_id);
                else
                        kc_txn_default_id(conf->stage,
                                          conf->group_id ? conf->group_id
                                                         : getenv("KAFKA_GROUP_ID"),
                                          conf->instance, t->tid, sizeof(t->tid));
        }

        t->conf = *conf;
        t->producer_props = kc_txn_props(kc_txn_defaults, conf->props, conf->producer_props);
        if (!t->producer_props) {
                snprintf(errstr, errstr_size, "kafka transactional loop: out of memory");
                *st = ST_NOMEM;
                goto fail;
        }
        /* The producer fences before the consumer joins.  Joining first
         * overlapped the two (~6 ms off a start) but shifted when the
         * workers of one process join: one then worked alone until the
         * other's late join bumped the generation and failed its offset
         * commit (20,000 records aborted and redone in a CI run). */
        if (kc_txn_producer_start(t, errstr, errstr_size) == -1)
                goto fail;
        if (t->producer && conf->group) {
                /* The group's consumer; its coordinator subscribes once
                 * every loop attached (kc_group.h). */
                t->group = conf->group;
                t->consumer = kc_group_consumer(t->group);
                t->queue = kc_group_queue(t->group, conf->instance);
                t->owned = rd_kafka_topic_partition_list_new(8);
                if (!t->queue || !t->owned) {
                        snprintf(errstr, errstr_size, "kafka transactional loop: no group slot %d",
                                 conf->instance);
                        goto fail;
                }
        } else if (t->producer) {
                kc_rebalance_hooks_t hooks = {
                        .assigned = kc_txn_on_assigned, .revoked = kc_txn_on_revoked, .opaque = t};
                t->consumer = kc_txn_consumer_new(conf, &hooks, errstr, errstr_size);
        }
        if (!t->producer || !t->consumer)
                goto fail;
        if (t->group)
                kc_group_attach(t->group, conf->instance);
        else if (kc_subscribe(t->consumer, conf->topics, errstr, errstr_size) == -1)
                goto fail;
        char idle[96] = "";
        if (t->idle_ms >= 0)
                snprintf(idle, sizeof(idle), ", or %d ms idle with output, %d ms after the first",
                         t->idle_ms, t->linger_ms);
        log_info(KC_TXN_LOG,
                 "%s loop ready (%s, commit every %d record(s) or %d ms (%d ms without "
                 "output)%s)",
                 t->stage,
                 t->guarantee == KC_EXACTLY_ONCE   ? "exactly-once"
                 : t->guarantee == KC_ACK_EXTERNAL ? "at-least-once, acknowledged externally"
                                                   : "at-least-once",
                 t->batch_records, t->batch_ms, t->state_ms, idle);
        *st = ST_OK;
        return t;
fail:
        /* Most failures here are the broker's or the settings'; giving up
         * because the stop flag was raised is not a failure at all. */
        if (*st != ST_NOMEM)
                *st = kc_txn_stopping(t) ? ST_STOPPED : ST_FATAL;
        if (conf->group) /* never to attach: not waited for */
                kc_group_detach(conf->group, conf->instance);
        kc_txn_destroy(t);
        return NULL;
}

void kc_txn_destroy(kc_txn_t *t) {
        if (!t)
                return;
        /* Not run (or failed in creation): kc_destroy() closes the consumer
         * (leaving the group) and purges the producer. */
        if (t->group) /* the group's consumer: kc_group_destroy() */
                kc_group_detach(t->group, t->conf.instance);
        else
                kc_destroy(t->consumer);
        kc_destroy(t->producer);
        if (t->owned)
                rd_kafka_topic_partition_list_destroy(t->owned);
        admin_beat_end(t->beat);
        free(t->producer_props);
        rd_kafka_topic_partition_list_destroy(t->first);
        if (t->pend.first)
                rd_kafka_topic_partition_list_destroy(t->pend.first);
        if (t->pend.offsets)
                rd_kafka_topic_partition_list_destroy(t->pend.offsets);
        if (t->uncommitted)
                rd_kafka_topic_partition_list_destroy(t->uncommitted);
        free(t);
}
