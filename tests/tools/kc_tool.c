/* kc_tool — a small kcat-like CLI on common/kc*, driven by the integration
 * tests against a real broker.
 *
 *   kc_tool produce  -b BROKERS -t TOPIC [-K SEP] [-k KEY] [-p PART]
 *                    [--transactional ID [--abort]] [-X prop=val]...
 *       One record per stdin line (the value; with -K, "key<SEP>value").
 *       Prints one line per record, in input order:
 *         ok <partition> <offset>   |   error <ERR_NAME> <message>
 *       With --transactional, the records are one transaction, committed
 *       (or aborted with --abort) after all are delivered.
 *       Exit 0 when every record was delivered (and committed).
 *
 *   kc_tool consume  -b BROKERS -t TOPIC [-g GROUP] [--read-committed]
 *                    [-n N] [--timeout MS] [-v] [-X prop=val]...
 *       Prints each value on a line (-v: topic, partition, offset, key,
 *       value, tab-separated).  Without -g, reads every partition from the
 *       beginning without a group (fast: no join); with -g, joins GROUP and
 *       commits what it printed.  Stops after N records or MS (default
 *       10000) without one.  Exit 0, or 2 if fewer than N were read.
 *
 *   kc_tool txn-copy -b BROKERS --from T1 --to T2 -g GROUP [-n N]
 *                    [--abort-every K] [--at-least-once] [--batch N]
 *                    [--interval MS] [--transactional-id ID] [--timeout MS]
 *                    [-X prop=val]...
 *       Runs kc_txn's loop copying each record (key, value, headers) from
 *       T1 to T2.  --abort-every K aborts every Kth transaction (K >= 2)
 *       from its pre-commit hook, so its records are consumed and copied
 *       again.  Stops after N records committed, MS idle, or SIGTERM/SIGINT.
 *       Prints "committed <txns> aborted <txns> records <n>" at the end.
 *
 * txn-copy --admin PORT serves /metrics, /healthz and /readyz on
 * 127.0.0.1:PORT (0: any free port) while it runs and prints
 * "admin 127.0.0.1:<port>" first.
 *
 * Every command takes --metrics FILE: the Prometheus text of the metrics
 * registry is written there at exit (statistics arrive every
 * statistics.interval.ms: lower it with -X to see them in a short run).
 *
 * Logs (JSON) go to stderr, results to stdout. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "kc.h"
#include "kc_dr.h"
#include "kc_txn.h"
#include "log.h"
#include "metrics.h"

#define MAX_PROPS 64

typedef struct opts_s {
        const char *brokers, *topic, *from, *to, *group, *tid, *key, *key_sep, *metrics;
        long admin_port; /* -1: no admin server */
        int32_t partition;
        int abort, read_committed, verbose, at_least_once;
        long n, abort_every, batch, interval_ms, timeout_ms;
        const char *props[2 * MAX_PROPS + 3];
        int prop_cnt;
        char *prop_buf[MAX_PROPS];
} opts_t;

static atomic_int stop_flag;

static void on_signal(int sig) {
        (void)sig;
        atomic_store(&stop_flag, 1);
}

static int usage(void) {
        fprintf(stderr,
                "usage: kc_tool produce  -b BROKERS -t TOPIC [-K SEP] [-k KEY] [-p PART]\n"
                "                        [--transactional ID [--abort]] [-X prop=val]\n"
                "       kc_tool consume  -b BROKERS -t TOPIC [-g GROUP] [--read-committed]\n"
                "                        [-n N] [--timeout MS] [-v] [-X prop=val]\n"
                "       kc_tool txn-copy -b BROKERS --from T1 --to T2 -g GROUP [-n N]\n"
                "                        [--abort-every K] [--at-least-once] [--batch N]\n"
                "                        [--interval MS] [--transactional-id ID]\n"
                "                        [--timeout MS] [--admin PORT] [-X prop=val]\n"
                "       every command: [--metrics FILE]\n");
        return 64;
}

static int parse(int argc, char **argv, opts_t *o) {
        memset(o, 0, sizeof(*o));
        o->partition = RD_KAFKA_PARTITION_UA;
        o->timeout_ms = -1;
        o->admin_port = -1;
        for (int i = 2; i < argc; i++) {
                const char *a = argv[i];
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && ++i)
                if (ARG("-b"))
                        o->brokers = v;
                else if (ARG("-t"))
                        o->topic = v;
                else if (ARG("--from"))
                        o->from = v;
                else if (ARG("--to"))
                        o->to = v;
                else if (ARG("-g"))
                        o->group = v;
                else if (ARG("--metrics"))
                        o->metrics = v;
                else if (ARG("--admin"))
                        o->admin_port = atol(v);
                else if (ARG("-k"))
                        o->key = v;
                else if (ARG("-K"))
                        o->key_sep = v;
                else if (ARG("-p"))
                        o->partition = (int32_t)atoi(v);
                else if (ARG("--transactional") || ARG("--transactional-id"))
                        o->tid = v;
                else if (ARG("-n"))
                        o->n = atol(v);
                else if (ARG("--abort-every"))
                        o->abort_every = atol(v);
                else if (ARG("--batch"))
                        o->batch = atol(v);
                else if (ARG("--interval"))
                        o->interval_ms = atol(v);
                else if (ARG("--timeout") || ARG("-timeout"))
                        o->timeout_ms = atol(v);
                else if (ARG("-X")) {
                        const char *eq = strchr(v, '=');
                        if (!eq || o->prop_cnt >= MAX_PROPS)
                                return -1;
                        char *name = strndup(v, (size_t)(eq - v));
                        o->prop_buf[o->prop_cnt] = name;
                        o->props[2 * o->prop_cnt] = name;
                        o->props[2 * o->prop_cnt + 1] = eq + 1;
                        o->prop_cnt++;
                } else if (!strcmp(a, "--abort"))
                        o->abort = 1;
                else if (!strcmp(a, "--read-committed"))
                        o->read_committed = 1;
                else if (!strcmp(a, "--at-least-once"))
                        o->at_least_once = 1;
                else if (!strcmp(a, "-v"))
                        o->verbose = 1;
                else {
                        fprintf(stderr, "kc_tool: unknown or incomplete argument: %s\n", a);
                        return -1;
                }
#undef ARG
        }
        if (!o->brokers) {
                fprintf(stderr, "kc_tool: -b BROKERS is required\n");
                return -1;
        }
        /* -b goes in first, so -X bootstrap.servers still wins. */
        memmove(o->props + 2, o->props, 2 * (size_t)o->prop_cnt * sizeof(o->props[0]));
        o->props[0] = "bootstrap.servers";
        o->props[1] = o->brokers;
        o->props[2 * o->prop_cnt + 2] = NULL;
        return 0;
}

/* ------------------------------------------------------------ produce */

static char **read_lines(size_t *cnt) {
        size_t n = 0, size = 1024;
        char **lines = malloc(size * sizeof(*lines));
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        *cnt = 0;
        if (!lines)
                return NULL;
        while ((len = getline(&line, &cap, stdin)) >= 0) {
                while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                        line[--len] = '\0';
                if (n == size) {
                        size *= 2;
                        char **l = realloc(lines, size * sizeof(*lines));
                        if (!l)
                                break;
                        lines = l;
                }
                if (!(lines[n] = strdup(line)))
                        break;
                n++;
        }
        free(line);
        *cnt = n;
        return lines;
}

static int txn_call(const char *what, rd_kafka_error_t *error) {
        if (!error)
                return 0;
        fprintf(stderr, "kc_tool: %s: %s\n", what, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return -1;
}

static int cmd_produce(opts_t *o) {
        char err[512];
        if (!o->topic)
                return usage();
        kc_opts_t ko = {.stage = "tool", .transactional_id = o->tid, .props = o->props};
        kc_t *kc = kc_producer_new(&ko, err, sizeof(err));
        if (!kc) {
                fprintf(stderr, "kc_tool: %s\n", err);
                return 1;
        }
        rd_kafka_t *rk = kc_rk(kc);
        int rc = 0;
        if (o->tid && (txn_call("init_transactions", rd_kafka_init_transactions(rk, 30000)) ||
                       txn_call("begin_transaction", rd_kafka_begin_transaction(rk)))) {
                kc_destroy(kc);
                return 1;
        }
        size_t n;
        char **lines = read_lines(&n);
        kc_dr_batch_t *b = kc_dr_batch_new(n, NULL, NULL);
        for (size_t i = 0; i < n; i++) {
                kc_record_t r = {.topic = o->topic, .partition = o->partition};
                char *val = lines[i], *sep = o->key_sep ? strstr(val, o->key_sep) : NULL;
                if (sep) {
                        r.key = val;
                        r.key_len = (size_t)(sep - val);
                        val = sep + strlen(o->key_sep);
                } else if (o->key) {
                        r.key = o->key;
                        r.key_len = strlen(o->key);
                }
                r.value = val;
                r.value_len = strlen(val);
                rd_kafka_resp_err_t e = kc_produce(kc, &r, kc_dr_batch_dr(b, i), -1);
                if (e)
                        kc_dr_batch_fail(b, i, e);
        }
        rd_kafka_flush(rk, 60000);
        kc_dr_batch_wait(b, 1000);
        for (size_t i = 0; i < n; i++) {
                kc_dr_result_t r = kc_dr_batch_result(b, i);
                if (r.err)
                        printf("error %s %s\n", rd_kafka_err2name(r.err), rd_kafka_err2str(r.err));
                else
                        printf("ok %d %lld\n", (int)r.partition, (long long)r.offset);
        }
        if (kc_dr_batch_failed(b) > 0)
                rc = 1;
        if (o->tid) {
                if (o->abort || rc)
                        rc |= txn_call("abort_transaction", rd_kafka_abort_transaction(rk, -1)) ? 1
                                                                                                : 0;
                else
                        rc = txn_call("commit_transaction", rd_kafka_commit_transaction(rk, -1))
                                     ? 1
                                     : 0;
        }
        fflush(stdout);
        kc_dr_batch_destroy(b);
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
        kc_destroy(kc);
        return rc;
}

/* ------------------------------------------------------------ consume */

static void print_msg(const opts_t *o, const rd_kafka_message_t *m) {
        if (o->verbose)
                printf("%s\t%d\t%lld\t%.*s\t", rd_kafka_topic_name(m->rkt), (int)m->partition,
                       (long long)m->offset, (int)(m->key ? m->key_len : 0),
                       m->key ? (const char *)m->key : "");
        fwrite(m->payload ? m->payload : "", 1, m->payload ? m->len : 0, stdout);
        putchar('\n');
}

/* Without a group: every partition of the topic, from the beginning. */
static int assign_all(kc_t *kc, const char *topic, char *err, size_t errsize) {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(kc_rk(kc), topic, NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(kc_rk(kc), 0, rkt, &md, 10000);
        rd_kafka_topic_destroy(rkt);
        if (!e && (md->topic_cnt != 1 || md->topics[0].err))
                e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        if (e) {
                snprintf(err, errsize, "metadata for %s: %s", topic, rd_kafka_err2str(e));
                if (md)
                        rd_kafka_metadata_destroy(md);
                return -1;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
        for (int i = 0; i < md->topics[0].partition_cnt; i++)
                rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id)
                        ->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_metadata_destroy(md);
        e = rd_kafka_assign(kc_rk(kc), l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
                snprintf(err, errsize, "assign: %s", rd_kafka_err2str(e));
                return -1;
        }
        return 0;
}

static int cmd_consume(opts_t *o) {
        char err[512];
        if (!o->topic)
                return usage();
        /* kcat's default is read_uncommitted; Weir's consumers' is not. */
        const char *iso[] = {"isolation.level",
                             o->read_committed ? "read_committed" : "read_uncommitted", NULL};
        const char *props[2 * MAX_PROPS + 5];
        size_t np = 0;
        props[np++] = iso[0];
        props[np++] = iso[1];
        for (const char *const *p = o->props; *p; p++)
                props[np++] = *p;
        props[np] = NULL;
        kc_opts_t ko = {
                .stage = "tool", .group_id = o->group ? o->group : "kc_tool", .props = props};
        kc_t *kc = kc_consumer_new(&ko, err, sizeof(err));
        if (!kc) {
                fprintf(stderr, "kc_tool: %s\n", err);
                return 1;
        }
        const char *topics[] = {o->topic, NULL};
        if ((o->group ? kc_subscribe(kc, topics, err, sizeof(err))
                      : assign_all(kc, o->topic, err, sizeof(err))) == -1) {
                fprintf(stderr, "kc_tool: %s\n", err);
                kc_destroy(kc);
                return 1;
        }
        long timeout = o->timeout_ms >= 0 ? o->timeout_ms : 10000, got = 0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long last = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
        while (!atomic_load(&stop_flag) && (o->n <= 0 || got < o->n)) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(kc_rk(kc), 100);
                clock_gettime(CLOCK_MONOTONIC, &ts);
                long long now = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
                if (!m) {
                        if (now - last >= timeout)
                                break;
                        continue;
                }
                if (m->err) {
                        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                fprintf(stderr, "kc_tool: consume: %s\n",
                                        rd_kafka_message_errstr(m));
                } else {
                        print_msg(o, m);
                        got++;
                        last = now;
                }
                rd_kafka_message_destroy(m);
        }
        fflush(stdout);
        if (o->group)
                rd_kafka_commit(kc_rk(kc), NULL, 0);
        kc_destroy(kc);
        fprintf(stderr, "kc_tool: consumed %ld record(s)\n", got);
        return o->n > 0 && got < o->n ? 2 : 0;
}

/* ----------------------------------------------------------- txn-copy */

typedef struct copy_s {
        const opts_t *o;
        long attempts, committed_txns, aborted_txns, committed_records;
        long long last_activity_ms;
} copy_t;

static long long mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static kc_txn_res_t copy_process(kc_txn_t *t, const rd_kafka_message_t *m, void *opaque) {
        copy_t *c = opaque;
        c->last_activity_ms = mono_ms();
        rd_kafka_headers_t *hdrs = NULL, *copy = NULL;
        if (!rd_kafka_message_headers(m, &hdrs))
                copy = rd_kafka_headers_copy(hdrs);
        kc_record_t r = {.topic = c->o->to,
                         .partition = RD_KAFKA_PARTITION_UA,
                         .key = m->key,
                         .key_len = m->key_len,
                         .value = m->payload,
                         .value_len = m->len,
                         .headers = copy};
        if (kc_txn_produce(t, &r)) {
                rd_kafka_headers_destroy(copy);
                return KC_TXN_ABORT;
        }
        return KC_TXN_OK;
}

static kc_txn_res_t copy_pre_commit(kc_txn_t *t, void *opaque) {
        (void)t;
        copy_t *c = opaque;
        c->attempts++;
        return c->o->abort_every >= 2 && c->attempts % c->o->abort_every == 0 ? KC_TXN_ABORT
                                                                              : KC_TXN_OK;
}

static void copy_committed(kc_txn_t *t, int64_t records, void *opaque) {
        (void)t;
        copy_t *c = opaque;
        c->committed_txns++;
        c->committed_records += (long)records;
        if (c->o->n > 0 && c->committed_records >= c->o->n)
                atomic_store(&stop_flag, 1);
}

static void copy_aborted(kc_txn_t *t, void *opaque) {
        (void)t;
        copy_t *c = opaque;
        c->aborted_txns++;
}

static kc_txn_res_t copy_tick(kc_txn_t *t, void *opaque) {
        (void)t;
        copy_t *c = opaque;
        if (c->o->timeout_ms > 0 && mono_ms() - c->last_activity_ms > c->o->timeout_ms)
                atomic_store(&stop_flag, 1);
        return KC_TXN_OK;
}

static int cmd_txn_copy(opts_t *o) {
        char err[512];
        if (!o->from || !o->to || !o->group)
                return usage();
        copy_t c = {.o = o, .last_activity_ms = mono_ms()};
        const char *topics[] = {o->from, NULL};
        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        if (kc_txn_conf_env(&conf, err, sizeof(err)) == -1) {
                fprintf(stderr, "kc_tool: %s\n", err);
                return 1;
        }
        conf.stage = "tool";
        conf.group_id = o->group;
        conf.topics = topics;
        if (o->at_least_once)
                conf.guarantee = KC_AT_LEAST_ONCE;
        conf.transactional_id = o->tid;
        if (o->batch > 0)
                conf.batch_records = (int)o->batch;
        if (o->interval_ms > 0)
                conf.batch_ms = (int)o->interval_ms;
        conf.props = o->props;
        conf.stop = &stop_flag;
        conf.hooks = (kc_txn_hooks_t){.process = copy_process,
                                      .pre_commit = copy_pre_commit,
                                      .committed = copy_committed,
                                      .aborted = copy_aborted,
                                      .tick = copy_tick,
                                      .opaque = &c};
        admin_t *admin = NULL;
        if (o->admin_port >= 0) {
                /* A live /metrics, /healthz and /readyz, as a service has. */
                admin = admin_start("127.0.0.1", (uint16_t)o->admin_port, 5000, err, sizeof(err));
                if (!admin) {
                        fprintf(stderr, "kc_tool: %s\n", err);
                        return 1;
                }
                printf("admin 127.0.0.1:%u\n", admin_port(admin));
                fflush(stdout);
                conf.admin = admin;
        }
        kc_txn_t *t = kc_txn_new(&conf, NULL, err, sizeof(err));
        if (!t) {
                fprintf(stderr, "kc_tool: %s\n", err);
                admin_stop(admin);
                return 1;
        }
        int rc = kc_txn_run(t, err, sizeof(err));
        if (rc)
                fprintf(stderr, "kc_tool: %s\n", err);
        kc_txn_destroy(t);
        if (admin)
                admin_stop(admin);
        printf("committed %ld aborted %ld records %ld\n", c.committed_txns, c.aborted_txns,
               c.committed_records);
        return rc ? 1 : 0;
}

int main(int argc, char **argv) {
        char err[256];
        if (argc < 2)
                return usage();
        if (log_init("kc_tool", err, sizeof(err)) == -1) {
                fprintf(stderr, "kc_tool: %s\n", err);
                return 64;
        }
        opts_t o;
        if (parse(argc, argv, &o) == -1)
                return usage();
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        int rc;
        if (!strcmp(argv[1], "produce"))
                rc = cmd_produce(&o);
        else if (!strcmp(argv[1], "consume"))
                rc = cmd_consume(&o);
        else if (!strcmp(argv[1], "txn-copy"))
                rc = cmd_txn_copy(&o);
        else
                rc = usage();
        if (o.metrics) {
                size_t len = 0;
                char *text = metrics_render(&len);
                FILE *f = fopen(o.metrics, "w");
                if (!f || !text || fwrite(text, 1, len, f) != len) {
                        fprintf(stderr, "kc_tool: cannot write %s\n", o.metrics);
                        rc = rc ? rc : 1;
                }
                if (f)
                        fclose(f);
                free(text);
        }
        for (int i = 0; i < o.prop_cnt; i++)
                free(o.prop_buf[i]);
        metrics_reset();
        return rc;
}
