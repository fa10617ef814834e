/* Unit tests for the HTTP side of the sink's InfluxDB writer (ix_send in
 * services/sink/ix.c: libcurl, one reused easy handle) against a scripted
 * server in this file: a thread with real sockets on loopback that reads
 * each request whole and then does what the test's next step says — answer
 * with the given bytes and keep the connection, answer and close, close
 * without answering, or say nothing.  What is checked is what the writer
 * promises (docs/sink.md): one kept-alive connection, the request as
 * InfluxDB expects it, InfluxDB's message from any body framing,
 * Retry-After in both forms, bounded waits, errors that say what failed.
 * test_sink_ix.c covers the 1.x/2.x requests, classification and batches. */
#include "th.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../services/sink/ix.h"
#include "buf.h"

/* ---------------------------------------------------------------- server */

typedef enum {
        S_REPLY,       /* write `raw`, keep the connection */
        S_REPLY_CLOSE, /* write `raw`, then close (whatever the headers said) */
        S_DROP,        /* close without answering */
        S_SILENT,      /* never answer, keep the connection open */
        S_EARLY,       /* write `raw` once the head is in, then read no more */
        S_ANY,         /* write `raw` at the first bytes of anything, close */
} step_act_t;

typedef struct {
        step_act_t act;
        const char *raw;
        size_t len; /* 0: strlen(raw) */
} step_t;

#define MAXC 8

static struct {
        pthread_mutex_t mtx;
        int lfd, port, family;
        pthread_t th;
        volatile int stop;
        step_t steps[16];
        int nsteps, next;
        int conns, reqs;         /* accepted connections, complete requests */
        char head[2048];         /* the last request's head */
        size_t body_len;         /* and its body's length */
        unsigned char body_last; /* and last byte */
        int cfd[MAXC], mute[MAXC];
        buf_t cin[MAXC];
} S = {.mtx = PTHREAD_MUTEX_INITIALIZER};

static void conn_close(int i) {
        close(S.cfd[i]);
        S.cfd[i] = -1;
        S.mute[i] = 0;
        S.cin[i].len = 0;
}

static void write_all(int fd, const char *p, size_t n) {
        while (n) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w <= 0) {
                        if (w < 0 && errno == EINTR)
                                continue;
                        return;
                }
                p += w;
                n -= (size_t)w;
        }
}

/* A whole request in S.cin[i]: head and Content-Length body.  Handles it
 * and removes it; 0 when incomplete. */
static int serve_one(int i) {
        buf_t *b = &S.cin[i];
        pthread_mutex_lock(&S.mtx);
        if (S.next < S.nsteps && S.steps[S.next].act == S_ANY) {
                step_t st = S.steps[S.next++];
                pthread_mutex_unlock(&S.mtx);
                write_all(S.cfd[i], st.raw, strlen(st.raw));
                conn_close(i);
                return 0;
        }
        pthread_mutex_unlock(&S.mtx);
        char *end = b->len ? memmem(b->data, b->len, "\r\n\r\n", 4) : NULL;
        if (!end)
                return 0;
        size_t hlen = (size_t)(end - b->data) + 4;
        pthread_mutex_lock(&S.mtx);
        if (S.next < S.nsteps && S.steps[S.next].act == S_EARLY) {
                step_t st = S.steps[S.next++];
                S.reqs++;
                pthread_mutex_unlock(&S.mtx);
                write_all(S.cfd[i], st.raw, strlen(st.raw));
                S.mute[i] = 1; /* the body stays unread, the connection open */
                return 0;
        }
        pthread_mutex_unlock(&S.mtx);
        size_t clen = 0;
        const char *cl = memmem(b->data, hlen, "Content-Length: ", 16);
        if (cl)
                clen = strtoul(cl + 16, NULL, 10);
        if (b->len < hlen + clen)
                return 0;
        pthread_mutex_lock(&S.mtx);
        S.reqs++;
        size_t n = hlen < sizeof(S.head) ? hlen : sizeof(S.head) - 1;
        memcpy(S.head, b->data, n);
        S.head[n] = 0;
        S.body_len = clen;
        S.body_last = clen ? (unsigned char)b->data[hlen + clen - 1] : 0;
        step_t st = {S_REPLY, "HTTP/1.1 204 No Content\r\n\r\n", 0};
        if (S.next < S.nsteps)
                st = S.steps[S.next++];
        pthread_mutex_unlock(&S.mtx);
        memmove(b->data, b->data + hlen + clen, b->len - hlen - clen);
        b->len -= hlen + clen;
        if (st.act == S_REPLY || st.act == S_REPLY_CLOSE)
                write_all(S.cfd[i], st.raw, st.len ? st.len : strlen(st.raw));
        if (st.act == S_REPLY_CLOSE || st.act == S_DROP) {
                conn_close(i);
                return 0;
        }
        return st.act == S_REPLY;
}

static void *server_main(void *arg) {
        (void)arg;
        while (!S.stop) {
                struct pollfd p[MAXC + 1];
                p[0] = (struct pollfd){.fd = S.lfd, .events = POLLIN};
                for (int i = 0; i < MAXC; i++)
                        p[i + 1] =
                                (struct pollfd){.fd = S.mute[i] ? -1 : S.cfd[i], .events = POLLIN};
                if (poll(p, MAXC + 1, 50) <= 0)
                        continue;
                if (p[0].revents & POLLIN) {
                        int fd = accept(S.lfd, NULL, NULL);
                        for (int i = 0; fd >= 0 && i < MAXC; i++)
                                if (S.cfd[i] < 0) {
                                        S.cfd[i] = fd;
                                        fd = -1;
                                        pthread_mutex_lock(&S.mtx);
                                        S.conns++;
                                        pthread_mutex_unlock(&S.mtx);
                                }
                        if (fd >= 0)
                                close(fd);
                }
                for (int i = 0; i < MAXC; i++) {
                        if (S.cfd[i] < 0 || S.mute[i] ||
                            !(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        buf_reserve(&S.cin[i], 65536);
                        ssize_t n = recv(S.cfd[i], S.cin[i].data + S.cin[i].len, 65536, 0);
                        if (n <= 0) {
                                conn_close(i);
                                continue;
                        }
                        S.cin[i].len += (size_t)n;
                        while (S.cfd[i] >= 0 && serve_one(i))
                                ;
                }
        }
        return NULL;
}

/* Starts the server on a fresh port with these steps (then: 204s).
 * Returns 0, or -1 when the address family is not available. */
static int server_start(int family, const step_t *steps, int n) {
        memset(S.steps, 0, sizeof(S.steps));
        memcpy(S.steps, steps, (size_t)n * sizeof(*steps));
        S.nsteps = n;
        S.next = S.conns = S.reqs = 0;
        S.stop = 0;
        S.family = family;
        for (int i = 0; i < MAXC; i++)
                S.cfd[i] = -1, S.mute[i] = 0;
        S.lfd = socket(family, SOCK_STREAM, 0);
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        socklen_t len;
        if (family == AF_INET6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                a->sin6_family = AF_INET6;
                a->sin6_addr = in6addr_loopback;
                len = sizeof(*a);
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                a->sin_family = AF_INET;
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof(*a);
        }
        if (S.lfd < 0 || bind(S.lfd, (struct sockaddr *)&ss, len) || listen(S.lfd, 16)) {
                if (S.lfd >= 0)
                        close(S.lfd);
                return -1;
        }
        getsockname(S.lfd, (struct sockaddr *)&ss, &len);
        S.port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
        pthread_create(&S.th, NULL, server_main, NULL);
        return 0;
}

static void server_stop(void) {
        S.stop = 1;
        pthread_join(S.th, NULL);
        close(S.lfd);
        for (int i = 0; i < MAXC; i++) {
                if (S.cfd[i] >= 0)
                        conn_close(i);
                buf_free(&S.cin[i]);
        }
}

static int srv_int(const int *p) {
        pthread_mutex_lock(&S.mtx);
        int v = *p;
        pthread_mutex_unlock(&S.mtx);
        return v;
}

static ix_t *client(int64_t timeout_ms) {
        char url[128], e[256];
        snprintf(url, sizeof(url),
                 S.family == AF_INET6 ? "http://[::1]:%d/prefix/" : "http://127.0.0.1:%d/prefix/",
                 S.port);
        ix_conf_t c = {.url = url,
                       .version = 1,
                       .db = "weir",
                       .precision = "ms",
                       .timeout_ms = timeout_ms,
                       .connect_timeout_ms = 2000};
        ix_t *ix = ix_new(&c, e, sizeof(e));
        TH_CHECK(ix != NULL);
        return ix;
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- tests */

static void test_request_and_keep_alive(void) {
        step_t st[] = {
                {S_REPLY, "HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6\r\n\r\n", 0},
                {S_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0},
                {S_REPLY,
                 "HTTP/1.1 400 Bad Request\r\ncontent-length:  20 \r\n\r\n{\"error\":\"bad line\"}",
                 0},
        };
        TH_CHECK(server_start(AF_INET, st, 3) == 0);
        ix_t *ix = client(5000);
        ix_result_t r;
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_OK);
        TH_CHECK_INT(r.status, 204);
        TH_CHECK_INT(r.retry_after_ms, -1);
        char want[256];
        snprintf(want, sizeof(want),
                 "POST /prefix/write?db=weir&precision=ms HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n",
                 S.port);
        TH_CHECK(strncmp(S.head, want, strlen(want)) == 0);
        TH_CHECK_HAS(S.head, "Content-Length: 8\r\n");
        TH_CHECK_HAS(S.head, "Content-Type: text/plain; charset=utf-8\r\n");
        TH_CHECK(strstr(S.head, "Expect:") == NULL); /* no 100-continue round trip */
        TH_CHECK_INT(S.body_len, 8);
        TH_CHECK(ix_send(ix, "xy", 2, &r) == IX_OK);
        TH_CHECK_INT(r.status, 200);
        TH_CHECK(ix_send(ix, "xy", 2, &r) == IX_REJECTED);
        TH_CHECK_INT(r.status, 400);
        TH_CHECK_STR(r.message, "bad line");
        /* A big body goes out whole. */
        size_t big = 4u << 20;
        char *p = malloc(big);
        memset(p, 'a', big);
        p[big - 1] = 'z';
        TH_CHECK(ix_send(ix, p, big, &r) == IX_OK);
        TH_CHECK_INT(S.body_len, big);
        TH_CHECK_INT(S.body_last, 'z');
        free(p);
        TH_CHECK_INT(srv_int(&S.conns), 1); /* all four on one connection */
        TH_CHECK_INT(srv_int(&S.reqs), 4);
        ix_destroy(ix);
        server_stop();
}

static void test_chunked_body(void) {
        step_t st[] = {
                {S_REPLY,
                 "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n"
                 "a;ext=1\r\n{\"code\":\"i\r\n"
                 "1B\r\nnvalid\",\"message\":\"no good\"\r\n"
                 "1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n",
                 0},
                {S_REPLY, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0},
        };
        TH_CHECK(server_start(AF_INET, st, 2) == 0);
        ix_t *ix = client(5000);
        ix_result_t r;
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_REJECTED);
        TH_CHECK_STR(r.message, "no good"); /* 2.x's "message", from a chunked body */
        TH_CHECK_INT(srv_int(&S.conns), 1);
        /* A malformed chunk: a network error (retried), then a new connection. */
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "network");
        TH_CHECK(r.message[0] != 0);
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_OK);
        TH_CHECK_INT(srv_int(&S.conns), 2);
        ix_destroy(ix);
        server_stop();
}

static void test_response_larger_than_cap(void) {
        size_t n = 300000;
        buf_t raw = BUF_INIT;
        char h[128];
        int hl = snprintf(h, sizeof(h),
                          "HTTP/1.1 413 Request Entity Too Large\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          n);
        buf_append(&raw, h, (size_t)hl);
        buf_reserve(&raw, n);
        memset(raw.data + raw.len, 'x', n);
        raw.len += n;
        step_t st[] = {{S_REPLY, raw.data, raw.len}};
        TH_CHECK(server_start(AF_INET, st, 1) == 0);
        ix_t *ix = client(5000);
        ix_result_t r;
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_TOO_LARGE);
        TH_CHECK_INT(strlen(r.message), sizeof(r.message) - 1); /* the start of it */
        /* The rest was read: the connection serves the next request. */
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_OK);
        TH_CHECK_INT(srv_int(&S.conns), 1);
        ix_destroy(ix);
        server_stop();
        buf_free(&raw);
}

static void test_early_answer(void) {
        /* Like a server with a body limit: it answers 413 after the head and
         * reads no more.  The body is far larger than the socket buffers. */
        step_t st[] = {
                {S_EARLY,
                 "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 9\r\n\r\ntoo large", 0}};
        TH_CHECK(server_start(AF_INET, st, 1) == 0);
        ix_t *ix = client(20000);
        size_t big = 32u << 20;
        char *p = calloc(1, big);
        ix_result_t r;
        int64_t t0 = now_ms();
        TH_CHECK(ix_send(ix, p, big, &r) == IX_TOO_LARGE);
        TH_CHECK(now_ms() - t0 < 15000); /* not the request timeout */
        TH_CHECK_STR(r.message, "too large");
        /* The half-sent request's connection is not reused. */
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_OK);
        TH_CHECK_INT(srv_int(&S.conns), 2);
        free(p);
        ix_destroy(ix);
        server_stop();
}

static void test_connection_close(void) {
        step_t st[] = {
                {S_REPLY,
                 "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                 "Content-Length: 4\r\n\r\nbusy",
                 0},
                /* HTTP/1.0 without keep-alive: closed after it too */
                {S_REPLY, "HTTP/1.0 204 No Content\r\n\r\n", 0},
                /* no length: the body ends with the connection */
                {S_REPLY_CLOSE, "HTTP/1.1 500 Oops\r\n\r\nuntil the end", 0},
        };
        TH_CHECK(server_start(AF_INET, st, 3) == 0);
        ix_t *ix = client(5000);
        ix_result_t r;
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "503");
        TH_CHECK_STR(r.message, "busy");
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_OK);
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "5xx");
        TH_CHECK_STR(r.message, "until the end");
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_OK);
        TH_CHECK_INT(srv_int(&S.conns), 4); /* one per request */
        TH_CHECK_INT(srv_int(&S.reqs), 4);
        ix_destroy(ix);
        server_stop();
}

static void test_stale_keep_alive_reconnects(void) {
        step_t st[] = {
                /* keep-alive by the headers, but the server closes it */
                {S_REPLY_CLOSE, "HTTP/1.1 204 No Content\r\n\r\n", 0},
                {S_REPLY, "HTTP/1.1 204 No Content\r\n\r\n", 0},
                /* the race: the request reached a server that was closing */
                {S_DROP, NULL, 0},
                {S_REPLY, "HTTP/1.1 204 No Content\r\n\r\n", 0},
        };
        TH_CHECK(server_start(AF_INET, st, 4) == 0);
        ix_t *ix = client(5000);
        ix_result_t r;
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_OK);
        usleep(100 * 1000); /* let the close arrive (either way it must work) */
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_OK);
        TH_CHECK_INT(srv_int(&S.conns), 2);
        /* Request 3 is dropped on the kept-alive connection: sent again on a
         * new one, answered there. */
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_OK);
        TH_CHECK_INT(srv_int(&S.conns), 3);
        TH_CHECK_INT(srv_int(&S.reqs), 4);
        ix_destroy(ix);
        server_stop();
}

static void test_retry_after(void) {
        char date[64], raw[256];
        time_t t = time(NULL) + 30;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        snprintf(raw, sizeof(raw),
                 "HTTP/1.1 503 Service Unavailable\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n",
                 date);
        step_t st[] = {
                {S_REPLY_CLOSE, "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\n\r\n", 0},
                {S_REPLY, raw, 0},
                {S_REPLY, "HTTP/1.1 503 x\r\nRetry-After: soon\r\nContent-Length: 0\r\n\r\n", 0},
        };
        TH_CHECK(server_start(AF_INET, st, 3) == 0);
        ix_t *ix = client(5000);
        ix_result_t r;
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "429");
        TH_CHECK_INT(r.retry_after_ms, 7000);
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "503");
        TH_CHECK(r.retry_after_ms >= 25000 && r.retry_after_ms <= 31000);
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY);
        TH_CHECK_INT(r.retry_after_ms, -1);
        ix_destroy(ix);
        server_stop();
}

static void test_errors(void) {
        char e[256];
        ix_result_t r;
        /* Connection refused: a port that was just free. */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        bind(fd, (struct sockaddr *)&a, len);
        getsockname(fd, (struct sockaddr *)&a, &len);
        close(fd);
        char url[64], want[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
        ix_conf_t c = {.url = url,
                       .version = 1,
                       .db = "weir",
                       .precision = "ms",
                       .timeout_ms = 5000,
                       .connect_timeout_ms = 2000};
        ix_t *ix = ix_new(&c, e, sizeof(e));
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "network");
        TH_CHECK_INT(r.status, 0);
        snprintf(want, sizeof(want), "port %d", ntohs(a.sin_port));
        TH_CHECK_HAS(r.message, "127.0.0.1");
        TH_CHECK_HAS(r.message, want);
        ix_destroy(ix);
        /* An unknown host: the resolver's words, naming it. */
        c.url = "http://no-such-host.invalid:8086";
        ix = ix_new(&c, e, sizeof(e));
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY);
        TH_CHECK_HAS(r.message, "no-such-host.invalid");
        ix_destroy(ix);

        step_t st[] = {
                {S_REPLY_CLOSE, "HTTX/1.1 200 OK\r\n\r\n", 0},
                {S_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0},
                {S_SILENT, NULL, 0},
        };
        TH_CHECK(server_start(AF_INET, st, 3) == 0);
        ix = client(700);
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY); /* not HTTP */
        TH_CHECK_STR(r.cause, "network");
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY); /* cut short */
        TH_CHECK_STR(r.cause, "network");
        /* A server that never answers: the whole request is bounded. */
        int64_t t0 = now_ms();
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_RETRY);
        int64_t took = now_ms() - t0;
        TH_CHECK_HAS(r.message, "timed out");
        TH_CHECK(took >= 690 && took < 10000);
        ix_destroy(ix);
        server_stop();
}

static void test_ipv6(void) {
        step_t st[] = {{S_REPLY, "HTTP/1.1 204 No Content\r\n\r\n", 0}};
        if (server_start(AF_INET6, st, 1)) {
                printf("  (no IPv6 loopback here: skipped)\n");
                return;
        }
        ix_t *ix = client(5000);
        ix_result_t r;
        char want[64];
        TH_CHECK(ix_send(ix, "x", 1, &r) == IX_OK);
        snprintf(want, sizeof(want), "Host: [::1]:%d\r\n", S.port);
        TH_CHECK_HAS(S.head, want);
        ix_destroy(ix);
        server_stop();
}

/* https://: against this plain-HTTP server the TLS handshake fails, a
 * network error with libcurl's words. */
static void test_https(void) {
        step_t st[] = {{S_ANY, "HTTP/1.1 400 Bad Request\r\n\r\n", 0}};
        TH_CHECK(server_start(AF_INET, st, 1) == 0);
        char url[64], e[256];
        snprintf(url, sizeof(url), "https://127.0.0.1:%d", S.port);
        ix_conf_t c = {.url = url,
                       .version = 1,
                       .db = "weir",
                       .precision = "ms",
                       .timeout_ms = 5000,
                       .connect_timeout_ms = 2000};
        ix_t *ix = ix_new(&c, e, sizeof(e));
        TH_CHECK(ix != NULL);
        if (!ix) {
                server_stop();
                return;
        }
        ix_result_t r;
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "network");
        TH_CHECK(strstr(r.message, "SSL") || strstr(r.message, "TLS"));
        TH_CHECK_STR(ix_write_url(ix) + strlen(url), "/write?db=weir&precision=ms");
        ix_destroy(ix);
        server_stop();
}

/* INFLUX_URL as libcurl parses it; the password of a URL never shown. */
static void test_urls(void) {
        ix_conf_t c;
        char e[512];
        const char *ok[] = {"http://influx:8086", "HTTP://db.example/influx/v1//",
                            "http://[fe80::1]:9/", "https://influx:8086/"};
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                setenv("INFLUX_URL", ok[i], 1);
                TH_CHECK(ix_conf_env(&c, "p", SPEC_PRECISION_MS, e, sizeof(e)) == 0);
        }
        setenv("INFLUX_URL", "http://weir:pa55word@influx:8086", 1);
        TH_CHECK(ix_conf_env(&c, "p", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "INFLUX_URL: credentials in the URL");
        TH_CHECK(strstr(e, "pa55word") == NULL);
        setenv("INFLUX_URL", "http://influx:99999", 1);
        TH_CHECK(ix_conf_env(&c, "p", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "INFLUX_URL=\"http://influx:99999\": ");
        setenv("INFLUX_URL", "http://h/p?db=x", 1);
        TH_CHECK(ix_conf_env(&c, "p", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "query");
        const char *bad[] = {"ftp://h", "http://[::1", "http://h/a b", "db:8086"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                setenv("INFLUX_URL", bad[i], 1);
                TH_CHECK(ix_conf_env(&c, "p", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
                TH_CHECK_HAS(e, "INFLUX_URL");
        }
        unsetenv("INFLUX_URL");
        /* The query values are percent-encoded. */
        c = (ix_conf_t){.url = "http://h:1",
                        .version = 2,
                        .org = "my org/b 1&x=~._-Zz9\xc3\xa9",
                        .bucket = "b",
                        .token = "t",
                        .precision = "ms"};
        ix_t *ix = ix_new(&c, e, sizeof(e));
        TH_CHECK(ix != NULL);
        if (ix)
                TH_CHECK_STR(ix_write_url(ix),
                             "http://h:1/api/v2/write?org=my%20org%2Fb%201%26x%3D~._-"
                             "Zz9%C3%A9&bucket=b&precision=ms");
        ix_destroy(ix);
}

TH_MAIN("sink_ix_http", TH_T(test_request_and_keep_alive), TH_T(test_chunked_body),
        TH_T(test_response_larger_than_cap), TH_T(test_early_answer), TH_T(test_connection_close),
        TH_T(test_stale_keep_alive_reconnects), TH_T(test_retry_after), TH_T(test_errors),
        TH_T(test_ipv6), TH_T(test_https), TH_T(test_urls))
