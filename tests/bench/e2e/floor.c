/* floor.c — the same-library floor under bench-e2e's latency.
 *
 * floor.py measures two exactly-once hops with confluent-kafka, which
 * bundles its own (newer) librdkafka.  This program does the same three
 * clients in C on the librdkafka Weir links (Debian's), with nothing of
 * Weir in it, so a gap between Weir and the floor cannot be the library:
 *
 *   source  every period_ms at offset_ms past it (its "window end"),
 *           a transaction of KEYS records over the partitions of topic A,
 *           committed with send_offsets_to_transaction (as compute does);
 *   relay   consume A (read_committed), produce B, send offsets, commit as
 *           soon as a poll comes back empty (as enrichment does);
 *   reader  read_committed on B.
 *
 * Each arrival is printed as "A <window_end_ms> <arrival_ms>" (the relay:
 * first hop) or "B <window_end_ms> <arrival_ms>" (the reader: both hops),
 * one line each; the caller filters by window and takes percentiles.
 * Runs until SIGTERM/SIGINT or stdin closes.  Built by floor.py with
 * `cc -O2 floor.c -lrdkafka -lpthread`.
 *
 * MODE "alo" is the at-least-once floor: no transactions; the source
 * flushes its records, the relay flushes what it produced and then commits
 * its offsets (as Weir's at-least-once loop does).
 *
 * HOPS (default 2) > 2 chains HOPS - 1 relays, A -> <B>.h1 -> ... -> B, each
 * as above (the caller creates the topics between): as many Kafka hops as
 * Weir's whole path crosses (3: readings, aggregates, enriched).  "A" lines
 * still report the first hop.
 *
 * Client settings: what a user tuning these clients for latency sets, the
 * generic ones Weir sets too (common/kc_conf.c, common/kc_txn_setup.c), and
 * nothing of Weir's own logic.  Each producer looks its output topic up
 * before its first transaction (see out_topic()).  FLOOR_DEBUG, if set, is
 * passed to every client as librdkafka's `debug` (its log goes to stderr).
 *
 * Usage: floor BOOTSTRAP TOPIC_IN TOPIC_A TOPIC_B KEYS PARTITIONS OFFSET_MS
 *              PERIOD_MS eos|alo [HOPS]
 */
#define _GNU_SOURCE
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static const char *bootstrap, *t_in, *t_a, *t_b;
static int keys, parts;
static int64_t offset_ms, period_ms;
static int alo;
/* HOPS (default 2): the source's topic, then a relay per hop after the
 * first: chain[0] = TOPIC_A, chain[hops - 1] = TOPIC_B, between them
 * "<TOPIC_B>.h<i>" (the caller creates them). */
#define MAX_HOPS 8
static int hops = 2;
static char chain[MAX_HOPS][256];
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *why) {
        fprintf(stderr, "floor: %s: %s\n", what, why);
        exit(1);
}

static void die_err(const char *what, rd_kafka_error_t *e) {
        die(what, rd_kafka_error_string(e));
}

/* A client configuration with bootstrap.servers and the given pairs
 * (ended by END); the caller passes it to rd_kafka_new, which owns it. */
#define END ((const char *)NULL) /* a bare NULL may be an int in varargs */
static rd_kafka_conf_t *conf_new(const char *k, ...) {
        char errstr[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)))
                die("bootstrap.servers", errstr);
        const char *dbg = getenv("FLOOR_DEBUG");
        if (dbg && *dbg && rd_kafka_conf_set(c, "debug", dbg, errstr, sizeof(errstr)))
                die("debug", errstr);
        va_list ap;
        va_start(ap, k);
        for (; k; k = va_arg(ap, const char *)) {
                const char *v = va_arg(ap, const char *);
                if (rd_kafka_conf_set(c, k, v, errstr, sizeof(errstr)))
                        die(k, errstr);
        }
        va_end(ap);
        return c;
}

static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *c) {
        char errstr[512];
        rd_kafka_t *rk = rd_kafka_new(type, c, errstr, sizeof(errstr));
        if (!rk)
                die("rd_kafka_new", errstr);
        return rk;
}

static void emit(char hop, const rd_kafka_message_t *m, int64_t at) {
        char v[32];
        size_t n = m->len < sizeof(v) - 1 ? m->len : sizeof(v) - 1;
        memcpy(v, m->payload, n);
        v[n] = '\0';
        pthread_mutex_lock(&out_lock);
        printf("%c %s %lld\n", hop, v, (long long)at);
        fflush(stdout);
        pthread_mutex_unlock(&out_lock);
}

/* Weir's consumers' generic tuning (common/kc_conf.c): cooperative
 * rebalances, a 1 s heartbeat, 8 MiB of prefetch. */
static rd_kafka_t *consumer_new(const char *group, const char *topic, const char *id) {
        rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER,
                                    conf_new("client.id", id, "group.id", group,
                                             "enable.auto.commit", "false", "isolation.level",
                                             "read_committed", "auto.offset.reset", "earliest",
                                             "partition.assignment.strategy", "cooperative-sticky",
                                             "heartbeat.interval.ms", "1000", "session.timeout.ms",
                                             "10000", "queued.max.messages.kbytes", "8192", END));
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err)
                die("subscribe", rd_kafka_err2str(err));
        return rk;
}

/* Delivery reports: at least once, a failed delivery stops the floor (a
 * relay must not commit offsets past a record it lost); exactly once, the
 * transaction's commit fails anyway; records purged at the stop are
 * expected.  The callback matters for latency too:
 * librdkafka 2.0.2's rd_kafka_flush(), which commit_transaction() calls as
 * well, waits for the last acknowledgement by polling for delivery reports
 * in 10 ms slices, and a producer without this callback gets none, so
 * every flush slept to the end of a slice.  Without it (6 Dec 2026, one
 * broker, floor.c alone, 20 s): exactly once p50 / p99 28 / 67 ms against
 * 16 / 42 with it; at least once 13 / 39 against 5 / 12, and a relay's
 * first hop p90 14-16 ms against 5-6, whenever its input came in two
 * fetches.  Weir's producers all have one (common/kc_cb.c), as any
 * producer that checks its deliveries does. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        (void)rk;
        (void)opaque;
        if (m->err && alo && !stop && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
            m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
                die("delivery", rd_kafka_err2str(m->err));
}

/* The hop's producer: transactional (eos), or idempotent only (alo).
 * retry.backoff.ms 20 as Weir's transactional producers: a transaction
 * begun right after a commit gets CONCURRENT_TRANSACTIONS until the
 * broker has written the markers, and librdkafka's default 100 ms backoff
 * then stalls the next commit (a user tuning for latency sets it too);
 * transaction.timeout.ms 10000 as Weir's. */
static rd_kafka_t *txn_producer_new(const char *tid, const char *id) {
        rd_kafka_conf_t *c =
                alo ? conf_new("client.id", id, "linger.ms", "1", "enable.idempotence", "true",
                               "acks", "all", END)
                    : conf_new("client.id", id, "transactional.id", tid, "linger.ms", "1",
                               "retry.backoff.ms", "20", "transaction.timeout.ms", "10000", END);
        rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
        rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, c);
        if (alo)
                return rk;
        rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
        if (e)
                die_err("init_transactions", e);
        return rk;
}

/* A handle on producer p's output topic, its partitions looked up now.
 * librdkafka 2.0.2 looks a topic up on its own only when the application
 * creates its handle (rd_kafka_topic_new); rd_kafka_producev() with
 * RD_KAFKA_V_TOPIC(name) creates it internally without a lookup, so the
 * first record to a topic waited for the main thread's 1 s topic scan
 * ("Topic ... metadata information unknown", then the MetadataRequest,
 * 0.8-1 s after "New local topic" in a FLOOR_DEBUG=topic,metadata log):
 * the first transaction of each hop took ~1 s.  The caller destroys the
 * handle before the producer. */
static rd_kafka_topic_t *out_topic(rd_kafka_t *p, const char *topic) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p, topic, NULL);
        if (!rkt)
                die("topic", rd_kafka_err2str(rd_kafka_last_error()));
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(p, 0, rkt, &md, 30000);
        if (err)
                die("metadata", rd_kafka_err2str(err));
        int n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : 0;
        rd_kafka_metadata_destroy(md);
        if (n < parts)
                die(topic, "fewer partitions than PARTITIONS");
        return rkt;
}

static void begin(rd_kafka_t *p) {
        rd_kafka_error_t *e = alo ? NULL : rd_kafka_begin_transaction(p);
        if (e)
                die_err("begin_transaction", e);
}

/* eos: the offsets go into the transaction, which commits.  alo: what was
 * produced is flushed (acknowledged), then the consumer commits its offsets
 * (the source, which reads nothing, has none: consumer NULL). */
static void commit(rd_kafka_t *p, rd_kafka_t *group_of,
                   const rd_kafka_topic_partition_list_t *offsets, rd_kafka_t *consumer) {
        if (alo) {
                rd_kafka_resp_err_t err = rd_kafka_flush(p, 30000);
                if (err)
                        die("flush", rd_kafka_err2str(err));
                if (consumer && (err = rd_kafka_commit(consumer, offsets, 0)) &&
                    err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                        die("commit", rd_kafka_err2str(err));
                return;
        }
        rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(group_of);
        rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(p, offsets, md, -1);
        rd_kafka_consumer_group_metadata_destroy(md);
        if (e)
                die_err("send_offsets_to_transaction", e);
        if ((e = rd_kafka_commit_transaction(p, -1)))
                die_err("commit_transaction", e);
}

static void *source(void *arg) {
        (void)arg;
        char tid[256], group[256], key[32], val[32];
        snprintf(tid, sizeof(tid), "%s.src-c", t_a);
        snprintf(group, sizeof(group), "%s.src-c", t_in);
        rd_kafka_t *p = txn_producer_new(tid, "floor-source");
        rd_kafka_topic_t *out = out_topic(p, t_a);
        /* Only the group's metadata is used: the source reads nothing. */
        rd_kafka_t *c =
                client_new(RD_KAFKA_CONSUMER, conf_new("client.id", "floor-source", "group.id",
                                                       group, "enable.auto.commit", "false", END));
        rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(parts);
        for (int i = 0; i < parts; i++)
                rd_kafka_topic_partition_list_add(offs, t_in, i);
        for (int64_t n = 1; !stop; n++) {
                int64_t end = ((now_ms() - offset_ms) / period_ms + 1) * period_ms + offset_ms;
                for (int64_t left; !stop && (left = end - now_ms()) > 0;)
                        usleep((useconds_t)(left > 50 ? 50000 : left * 1000));
                if (stop)
                        break;
                begin(p);
                snprintf(val, sizeof(val), "%lld", (long long)end);
                for (int k = 0; k < keys; k++) {
                        snprintf(key, sizeof(key), "x-%d", k);
                        rd_kafka_resp_err_t err = rd_kafka_producev(
                                p, RD_KAFKA_V_RKT(out), RD_KAFKA_V_PARTITION(k % parts),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE(val, strlen(val)),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                        if (err)
                                die("produce", rd_kafka_err2str(err));
                }
                for (int i = 0; i < parts; i++)
                        offs->elems[i].offset = n;
                commit(p, c, offs, NULL);
        }
        rd_kafka_topic_partition_list_destroy(offs);
        rd_kafka_destroy(c);
        rd_kafka_topic_destroy(out);
        rd_kafka_destroy(p);
        return NULL;
}

/* Relay number (intptr_t)arg: chain[i] to chain[i + 1]; the first one
 * reports the first hop's arrivals. */
static void *relay(void *arg) {
        int i = (int)(intptr_t)arg;
        const char *in = chain[i], *to = chain[i + 1];
        char tid[300], group[300];
        snprintf(tid, sizeof(tid), "%s.relay-c", to);
        snprintf(group, sizeof(group), "%s.relay-c", in);
        rd_kafka_t *c = consumer_new(group, in, "floor-relay");
        rd_kafka_t *p = txn_producer_new(tid, "floor-relay");
        rd_kafka_topic_t *out = out_topic(p, to);
        int open = 0;
        while (!stop) {
                /* Drain what is fetched, then commit on the first empty poll. */
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, open ? 0 : 1);
                if (!m) {
                        if (!open)
                                continue;
                        rd_kafka_topic_partition_list_t *pos;
                        if (rd_kafka_assignment(c, &pos) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                                rd_kafka_position(c, pos);
                                commit(p, c, pos, c);
                                rd_kafka_topic_partition_list_destroy(pos);
                        }
                        open = 0;
                        continue;
                }
                if (!m->err) {
                        if (i == 0)
                                emit('A', m, now_ms());
                        if (!open) {
                                begin(p);
                                open = 1;
                        }
                        rd_kafka_resp_err_t err = rd_kafka_producev(
                                p, RD_KAFKA_V_RKT(out), RD_KAFKA_V_PARTITION(m->partition),
                                RD_KAFKA_V_KEY(m->key, m->key_len),
                                RD_KAFKA_V_VALUE(m->payload, m->len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                        if (err)
                                die("produce", rd_kafka_err2str(err));
                }
                rd_kafka_message_destroy(m);
        }
        /* Stopped with a batch open: dropped, as the stop drops the
         * reader's measurements anyway (else librdkafka warns, on stderr,
         * of a message still in transit, which the caller counts as an
         * error of the floor). */
        if (open && !alo) {
                rd_kafka_error_t *e = rd_kafka_abort_transaction(p, 5000);
                if (e)
                        rd_kafka_error_destroy(e);
        } else if (open) {
                rd_kafka_purge(p, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        }
        rd_kafka_flush(p, 5000);
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        rd_kafka_topic_destroy(out);
        rd_kafka_destroy(p);
        return NULL;
}

static void *reader(void *arg) {
        (void)arg;
        char group[256];
        snprintf(group, sizeof(group), "%s.reader-c", t_b);
        rd_kafka_t *c = consumer_new(group, t_b, "floor-reader");
        while (!stop) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1);
                if (!m)
                        continue;
                if (!m->err)
                        emit('B', m, now_ms());
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        return NULL;
}

/* stdin closing (the caller died or is done) stops the floor too. */
static void *watch_stdin(void *arg) {
        (void)arg;
        char b[64];
        while (read(0, b, sizeof(b)) > 0)
                ;
        stop = 1;
        return NULL;
}

static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

int main(int argc, char **argv) {
        if (argc != 10 && argc != 11) {
                fprintf(stderr, "usage: floor BOOTSTRAP TOPIC_IN TOPIC_A TOPIC_B KEYS PARTITIONS "
                                "OFFSET_MS PERIOD_MS eos|alo [HOPS]\n");
                return 2;
        }
        bootstrap = argv[1], t_in = argv[2], t_a = argv[3], t_b = argv[4];
        keys = atoi(argv[5]), parts = atoi(argv[6]);
        offset_ms = atoll(argv[7]), period_ms = atoll(argv[8]);
        alo = !strcmp(argv[9], "alo");
        if (keys <= 0 || parts <= 0 || period_ms <= 0 || offset_ms < 0 || offset_ms >= period_ms ||
            (!alo && strcmp(argv[9], "eos")))
                die("arguments", "KEYS, PARTITIONS and PERIOD_MS > 0, 0 <= OFFSET_MS < PERIOD_MS, "
                                 "MODE eos or alo");
        if (argc == 11 && ((hops = atoi(argv[10])) < 2 || hops > MAX_HOPS))
                die("arguments", "HOPS 2 to 8");
        for (int i = 0; i < hops; i++) {
                if (i == 0)
                        snprintf(chain[i], sizeof(chain[i]), "%s", t_a);
                else if (i == hops - 1)
                        snprintf(chain[i], sizeof(chain[i]), "%s", t_b);
                else
                        snprintf(chain[i], sizeof(chain[i]), "%s.h%d", t_b, i);
        }
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        pthread_t th[3 + MAX_HOPS], w;
        int n = 0;
        pthread_create(&th[n++], NULL, reader, NULL);
        for (int i = 0; i + 1 < hops; i++)
                pthread_create(&th[n++], NULL, relay, (void *)(intptr_t)i);
        pthread_create(&th[n++], NULL, source, NULL);
        pthread_create(&w, NULL, watch_stdin, NULL);
        for (int i = 0; i < n; i++)
                pthread_join(th[i], NULL);
        return 0;
}
