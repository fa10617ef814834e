/* Unit tests for common/tp (traceparent) and common/otel (sampler, span
 * pool, transaction events, OTLP/HTTP export to a loopback listener,
 * dropping when the collector is absent, backoff when it fails).  The encoding itself is checked
 * end to end against a real Jaeger (tests/integration/test_otel_jaeger.py). */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "otel.h"
#include "otel_int.h" /* the span slot: events of ended, not yet exported spans */
#include "th.h"
#include "tp.h"

static const char *TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static void clear_env(void) {
        static const char *vars[] = {"OTEL_SDK_DISABLED",
                                     "OTEL_EXPORTER_OTLP_ENDPOINT",
                                     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                                     "OTEL_EXPORTER_OTLP_HEADERS",
                                     "OTEL_EXPORTER_OTLP_PROTOCOL",
                                     "OTEL_TRACES_SAMPLER",
                                     "OTEL_TRACES_SAMPLER_ARG",
                                     "OTEL_BSP_MAX_QUEUE_SIZE",
                                     "OTEL_BSP_SCHEDULE_DELAY",
                                     "OTEL_EXPORTER_OTLP_TIMEOUT",
                                     "OTEL_SERVICE_NAME",
                                     "OTEL_RESOURCE_ATTRIBUTES"};
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
                unsetenv(vars[i]);
}

static void test_tp_parse_format(void) {
        tp_ctx_t c;
        TH_CHECK_INT(tp_parse(TP, strlen(TP), &c), 0);
        TH_CHECK_INT(c.trace_id[0], 0x4b);
        TH_CHECK_INT(c.trace_id[15], 0x36);
        TH_CHECK_INT(c.span_id[7], 0xb7);
        TH_CHECK_INT(c.flags, 1);
        char out[TP_LEN + 1];
        tp_format(&c, out);
        TH_CHECK_STR(out, TP);
        const char *later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz";
        TH_CHECK_INT(tp_parse(later, strlen(later), &c), 0);
        tp_format(&c, out);
        TH_CHECK_STR(out, TP); /* carried on as version 00 */
        static const char *bad[] = {"",
                                    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                                    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                                    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                                    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                TH_CHECK_INT(tp_parse(bad[i], strlen(bad[i]), &c), -1);
        TH_CHECK_INT(tp_parse(NULL, 55, &c), -1);
        tp_ctx_t n;
        tp_new_trace(&n, TP_SAMPLED);
        tp_format(&n, out);
        TH_CHECK_INT(tp_parse(out, TP_LEN, &c), 0);
        TH_CHECK(memcmp(c.trace_id, n.trace_id, 16) == 0);
}

static void test_off_by_default(void) {
        clear_env();
        char err[256] = "";
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), 0);
        TH_CHECK_INT(otel_on, 0);
        tp_ctx_t p, c;
        tp_parse(TP, TP_LEN, &p);
        TH_CHECK(otel_start("x", OTEL_INTERNAL, &p, &c, 0) == NULL);
        TH_CHECK(memcmp(c.trace_id, p.trace_id, 16) == 0); /* context still propagates */
        TH_CHECK(memcmp(c.span_id, p.span_id, 8) != 0);
        otel_fini();
        setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", 1);
        setenv("OTEL_SDK_DISABLED", "true", 1);
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), 0);
        TH_CHECK_INT(otel_on, 0);
        otel_fini();
        clear_env();
}

static void test_bad_config(void) {
        char err[256] = "";
        clear_env();
        setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", 1);
        setenv("OTEL_TRACES_SAMPLER", "sometimes", 1);
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "OTEL_TRACES_SAMPLER");
        setenv("OTEL_TRACES_SAMPLER", "traceidratio", 1);
        setenv("OTEL_TRACES_SAMPLER_ARG", "2", 1);
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "OTEL_TRACES_SAMPLER_ARG");
        unsetenv("OTEL_TRACES_SAMPLER_ARG");
        setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "http/protobuf");
        unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
        setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization", 1);
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "OTEL_EXPORTER_OTLP_HEADERS");
        setenv("OTEL_EXPORTER_OTLP_HEADERS", "x=1", 1);
        setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:4318", 1);
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "OTEL_EXPORTER_OTLP_ENDPOINT");
        TH_CHECK_INT(otel_on, 0);
        clear_env();
}

static void test_sampler(void) {
        char err[256] = "";
        clear_env();
        setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", 1);
        setenv("OTEL_TRACES_SAMPLER_ARG", "0", 1); /* parentbased_traceidratio, ratio 0 */
        setenv("OTEL_BSP_SCHEDULE_DELAY", "60000", 1);
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), 0);
        TH_CHECK_INT(otel_on, 1);
        tp_ctx_t c, p;
        TH_CHECK(otel_start("root", OTEL_SERVER, NULL, &c, 0) == NULL);
        TH_CHECK_INT(c.flags & TP_SAMPLED, 0);
        tp_parse(TP, TP_LEN, &p); /* a sampled parent is followed */
        otel_span_t *s = otel_start("child", OTEL_SERVER, &p, &c, 0);
        TH_CHECK(s != NULL);
        TH_CHECK_INT(c.flags & TP_SAMPLED, 1);
        otel_end(s, 0);
        p.flags = 0;
        TH_CHECK(otel_start("child", OTEL_SERVER, &p, &c, 0) == NULL);
        TH_CHECK_INT(c.flags & TP_SAMPLED, 0);
        otel_fini();
        clear_env();
}

/* The collector is absent: spans past the queue are dropped and counted,
 * and starting a span never waits. */
static void test_absent_collector_drops(void) {
        char err[256] = "";
        clear_env();
        metrics_reset();
        setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", 1);
        setenv("OTEL_BSP_MAX_QUEUE_SIZE", "8", 1);
        setenv("OTEL_BSP_SCHEDULE_DELAY", "60000", 1);
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), 0);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 100; i++) {
                otel_span_t *s = otel_start("x", OTEL_INTERNAL, NULL, NULL, 0);
                otel_attr_int(s, "i", i);
                otel_end(s, 0);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        TH_CHECK(ms < 50);
        TH_CHECK(otel_stat_dropped() >= 92);
        otel_fini(); /* the queued 8 fail to export (connection refused): dropped too */
        clear_env();
}

/* Compute's and enrichment's transaction spans (otel_txn_t): kept until
 * the transaction ends, then commit.begin (when sent) and commit/abort
 * events at the right times; past OTEL_TXN_OPEN, ended at once. */
static void test_txn_events(void) {
        char err[256] = "";
        clear_env();
        setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", 1);
        setenv("OTEL_BSP_MAX_QUEUE_SIZE", "1000", 1);
        setenv("OTEL_BSP_SCHEDULE_DELAY", "60000", 1); /* nothing exported before fini */
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), 0);
        static otel_txn_t t;       /* zero-initialised */
        otel_txn_commit_begin(&t); /* nothing waiting: no moment kept */
        TH_CHECK(t.begin_ns == 0);
        otel_span_t *a = otel_txn_add(&t, otel_start("a", OTEL_INTERNAL, NULL, NULL, 0));
        otel_span_t *b = otel_txn_add(&t, otel_start("b", OTEL_INTERNAL, NULL, NULL, 0));
        TH_CHECK(a && b && t.n == 2);
        TH_CHECK(otel_txn_add(&t, NULL) == NULL);
        otel_txn_commit_begin(&t);
        uint64_t begin = t.begin_ns;
        TH_CHECK(begin > 0);
        otel_txn_end(&t, 1, "unused");
        TH_CHECK(t.n == 0 && t.begin_ns == 0);
        /* Ended and queued, not yet exported (60 s delay): still readable. */
        TH_CHECK_INT(a->nevents, 2);
        TH_CHECK_STR(a->events[0].name, "kafka.txn.commit.begin");
        TH_CHECK(a->events[0].t_ns == begin);
        TH_CHECK_STR(a->events[1].name, "kafka.txn.commit");
        TH_CHECK(a->events[1].t_ns == a->end_ns && a->end_ns >= begin);
        TH_CHECK_INT(b->nevents, 2);
        TH_CHECK_INT(a->status, 0);
        /* Aborted before the commit was sent: abort only, status error. */
        otel_span_t *c = otel_txn_add(&t, otel_start("c", OTEL_INTERNAL, NULL, NULL, 0));
        otel_txn_end(&t, 0, "transaction aborted");
        TH_CHECK_INT(c->nevents, 1);
        TH_CHECK_STR(c->events[0].name, "kafka.txn.abort");
        TH_CHECK_INT(c->status, 2);
        TH_CHECK_STR(c->status_msg, "transaction aborted");
        /* Full: the next span ends at once, saying so. */
        for (int i = 0; i < OTEL_TXN_OPEN; i++)
                TH_CHECK(otel_txn_add(&t, otel_start("d", OTEL_INTERNAL, NULL, NULL, 0)) != NULL);
        otel_span_t *e = otel_start("e", OTEL_INTERNAL, NULL, NULL, 0);
        TH_CHECK(otel_txn_add(&t, e) == NULL);
        TH_CHECK_INT(e->nevents, 1);
        TH_CHECK_HAS(e->events[0].name, "too many spans");
        otel_txn_end(&t, 1, NULL);
        TH_CHECK(t.n == 0);
        otel_fini();
        clear_env();
}

/* A one-shot HTTP listener standing in for a collector. */
typedef struct {
        int fd;
        char req[65536];
        size_t len;
} lsn_t;

static void *lsn_run(void *arg) {
        lsn_t *l = arg;
        int c = accept(l->fd, NULL, NULL);
        if (c < 0)
                return NULL;
        for (;;) {
                ssize_t n = recv(c, l->req + l->len, sizeof(l->req) - 1 - l->len, 0);
                if (n <= 0)
                        break;
                l->len += (size_t)n;
                l->req[l->len] = '\0';
                char *h = strstr(l->req, "\r\n\r\n");
                char *cl = strstr(l->req, "Content-Length: ");
                if (h && cl && l->len >= (size_t)(h + 4 - l->req) + strtoul(cl + 16, NULL, 10))
                        break;
        }
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)!send(c, ok, strlen(ok), 0);
        close(c);
        return NULL;
}

static void test_export(void) {
        static lsn_t l;
        l.fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
        socklen_t sl = sizeof(sa);
        TH_CHECK(bind(l.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        TH_CHECK(listen(l.fd, 4) == 0);
        getsockname(l.fd, (struct sockaddr *)&sa, &sl);
        pthread_t th;
        pthread_create(&th, NULL, lsn_run, &l);
        char url[64], err[256] = "";
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
        clear_env();
        setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url, 1);
        setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=weir%20unit", 1);
        setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test", 1);
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), 0);
        tp_ctx_t p, c;
        tp_parse(TP, TP_LEN, &p);
        otel_span_t *s = otel_start("unit span", OTEL_SERVER, &p, &c, 0);
        otel_attr_cstr(s, "weir.key", "x-42");
        otel_link(s, &p);
        otel_event(s, "kafka.txn.commit", 0);
        otel_end(s, 0);
        otel_fini(); /* exports what is queued before it returns */
        pthread_join(th, NULL);
        close(l.fd);
        const char *body = strstr(l.req, "\r\n\r\n");
        TH_CHECK_HAS(l.req, "POST /v1/traces ");
        TH_CHECK_HAS(l.req, "Content-Type: application/x-protobuf");
        TH_CHECK_HAS(l.req, "x-tenant: weir unit");
        TH_CHECK(body != NULL);
        if (body) {
                size_t n = l.len - (size_t)(body + 4 - l.req);
                body += 4;
                TH_CHECK(memmem(body, n, "weir-unit", 9) != NULL); /* service.name */
                TH_CHECK(memmem(body, n, "deployment.environment", 22) != NULL);
                TH_CHECK(memmem(body, n, "unit span", 9) != NULL);
                TH_CHECK(memmem(body, n, "x-42", 4) != NULL);
                TH_CHECK(memmem(body, n, "kafka.txn.commit", 16) != NULL);
                TH_CHECK(memmem(body, n, p.trace_id, 16) != NULL);
                TH_CHECK(memmem(body, n, c.span_id, 8) != NULL);
                TH_CHECK(body[0] == 0x0a); /* field 1 (resource_spans), length-delimited */
        }
        clear_env();
}

/* A collector that answers every export 503 (overloaded), counting the
 * connections: the exporter must back off, not try batch after batch. */
typedef struct {
        int fd;
        _Atomic int stop, conns;
} flaky_t;

static void *flaky_run(void *arg) {
        flaky_t *f = arg;
        while (!f->stop) {
                struct pollfd pf = {.fd = f->fd, .events = POLLIN};
                if (poll(&pf, 1, 20) <= 0)
                        continue;
                int c = accept(f->fd, NULL, NULL);
                if (c < 0)
                        continue;
                f->conns++;
                char req[65536];
                size_t len = 0;
                for (;;) { /* the whole request, so the answer is not a reset */
                        ssize_t n = recv(c, req + len, sizeof(req) - 1 - len, 0);
                        if (n <= 0)
                                break;
                        len += (size_t)n;
                        req[len] = '\0';
                        char *h = strstr(req, "\r\n\r\n"), *cl = strstr(req, "Content-Length: ");
                        if (h && cl && len >= (size_t)(h + 4 - req) + strtoul(cl + 16, NULL, 10))
                                break;
                }
                const char *no = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n";
                (void)!send(c, no, strlen(no), 0);
                close(c);
        }
        return NULL;
}

static double ms_since(const struct timespec *a) {
        struct timespec b;
        clock_gettime(CLOCK_MONOTONIC, &b);
        return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* CPU seconds of this process's thread named `comm` (/proc/self/task). */
static double thread_cpu_s(const char *comm) {
        double s = 0;
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        while (d && (e = readdir(d))) {
                char path[300], buf[1024];
                snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
                FILE *f = fopen(path, "r");
                if (!f)
                        continue;
                int match = fgets(buf, sizeof(buf), f) && strncmp(buf, comm, strlen(comm)) == 0;
                fclose(f);
                snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
                if (!match || !(f = fopen(path, "r")))
                        continue;
                unsigned long ut = 0, st = 0;
                char *p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
                if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                                &st) == 2)
                        s += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
                fclose(f);
        }
        if (d)
                closedir(d);
        return s;
}

/* The collector fails every export while spans keep coming (the queue is
 * always full): within 2 s the exporter tries a handful of times (backoff
 * 200 ms doubling, jittered), not once per batch; every span is exported,
 * dropped and counted, or still queued; ending a span never waits; and
 * otel_fini does not wait out the backoff. */
static void test_failing_collector_backs_off(void) {
        static flaky_t f;
        f.fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
        socklen_t sl = sizeof(sa);
        TH_CHECK(bind(f.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        TH_CHECK(listen(f.fd, 16) == 0);
        getsockname(f.fd, (struct sockaddr *)&sa, &sl);
        pthread_t th;
        pthread_create(&th, NULL, flaky_run, &f);
        char url[64], err[256] = "";
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
        clear_env();
        metrics_reset();
        setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url, 1);
        setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64", 1);
        setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8", 1);
        setenv("OTEL_BSP_SCHEDULE_DELAY", "50", 1);
        TH_CHECK_INT(otel_init("unit", err, sizeof(err)), 0);
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        double cpu0 = thread_cpu_s("otel-export"), worst = 0;
        uint64_t made = 0;
        while (ms_since(&t0) < 2000) {
                clock_gettime(CLOCK_MONOTONIC, &t);
                for (int i = 0; i < 100; i++, made++) {
                        otel_span_t *s = otel_start("x", OTEL_INTERNAL, NULL, NULL, 0);
                        otel_attr_int(s, "i", i);
                        otel_end(s, 0);
                }
                double ms = ms_since(&t);
                worst = ms > worst ? ms : worst;
                struct timespec pause = {0, 200000}; /* 500 spans/ms at most */
                nanosleep(&pause, NULL);
        }
        double cpu = thread_cpu_s("otel-export") - cpu0;
        int conns = f.conns;
        /* An export under way holds a batch that is neither: let it end. */
        uint64_t dropped = otel_stat_dropped();
        size_t queued = otel_stat_queued();
        for (int i = 0; i < 50 && dropped + queued != made; i++) {
                struct timespec ms = {0, 2000000};
                nanosleep(&ms, NULL);
                dropped = otel_stat_dropped();
                queued = otel_stat_queued();
        }
        printf("  failing collector: %d export attempts and %.3f CPU-s of the exporter thread "
               "in 2 s; %llu spans made, %llu dropped, %zu queued; slowest 100 spans %.2f ms\n",
               conns, cpu, (unsigned long long)made, (unsigned long long)dropped, queued, worst);
        TH_CHECK(conns >= 2 && conns <= 10);
        TH_CHECK(dropped + queued == made); /* none exported: all counted or queued */
        TH_CHECK(queued <= 64);
        TH_CHECK(worst < 150); /* preemption on a loaded runner, not a wait */
        /* In a backoff now (the fourth or later: 400 ms or more): ending does not wait it out. */
        clock_gettime(CLOCK_MONOTONIC, &t);
        otel_fini(); /* one last attempt (503 at once) */
        TH_CHECK(ms_since(&t) < 300);
        f.stop = 1;
        pthread_join(th, NULL);
        close(f.fd);
        clear_env();
}

TH_MAIN("otel", TH_T(test_tp_parse_format), TH_T(test_off_by_default), TH_T(test_bad_config),
        TH_T(test_sampler), TH_T(test_absent_collector_drops), TH_T(test_export),
        TH_T(test_txn_events), TH_T(test_failing_collector_backs_off))
