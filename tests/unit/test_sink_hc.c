/* Unit tests for the sink's built-in HTTP/1.1 client (services/sink/hc.c,
 * hc_util.c) against a scripted server in this file: a thread with real
 * sockets on loopback that reads each request whole and then does what the
 * test's next step says — answer with the given bytes and keep the
 * connection, answer and close, close without answering, or say nothing.
 * The parts without I/O are in test_sink_hc_util.c. */
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

#include "../../services/sink/hc.h"
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

static hc_t *client(int64_t timeout_ms, size_t max_body) {
        char url[128], e[256];
        snprintf(url, sizeof(url),
                 S.family == AF_INET6 ? "http://[::1]:%d/prefix/" : "http://127.0.0.1:%d/prefix/",
                 S.port);
        hc_t *hc = hc_new(url, 2000, timeout_ms, max_body, e, sizeof(e));
        TH_CHECK(hc != NULL);
        return hc;
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define HDRS "Content-Type: text/plain\r\nAuthorization: Token t\r\n"

/* ---------------------------------------------------------------- tests */

static void test_request_and_keep_alive(void) {
        step_t st[] = {
                {S_REPLY, "HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6\r\n\r\n", 0},
                {S_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0},
                {S_REPLY, "HTTP/1.1 400 Bad Request\r\ncontent-length:  3 \r\n\r\nbad", 0},
        };
        TH_CHECK(server_start(AF_INET, st, 3) == 0);
        hc_t *hc = client(5000, 1024);
        hc_resp_t r;
        char e[256];
        TH_CHECK(hc_post(hc, "/prefix/write?db=x", HDRS, "m v=1 1\n", 8, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 204);
        TH_CHECK_INT(r.body_len, 0);
        TH_CHECK_STR(r.body, "");
        TH_CHECK_INT(r.retry_after_ms, -1);
        char want[256];
        snprintf(want, sizeof(want),
                 "POST /prefix/write?db=x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: "
                 "8\r\n" HDRS "\r\n",
                 S.port);
        TH_CHECK_STR(S.head, want);
        TH_CHECK_INT(S.body_len, 8);
        TH_CHECK(hc_post(hc, "/a", "", "xy", 2, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 200);
        TH_CHECK_STR(r.body, "hello");
        TH_CHECK(hc_post(hc, "/a", "", "xy", 2, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 400);
        TH_CHECK_STR(r.body, "bad");
        /* A big body goes out whole (partial writes on a non-blocking socket). */
        size_t big = 4u << 20;
        char *p = malloc(big);
        memset(p, 'a', big);
        p[big - 1] = 'z';
        TH_CHECK(hc_post(hc, "/a", "", p, big, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 204);
        TH_CHECK_INT(S.body_len, big);
        TH_CHECK_INT(S.body_last, 'z');
        free(p);
        TH_CHECK_INT(srv_int(&S.conns), 1); /* all four on one connection */
        TH_CHECK_INT(srv_int(&S.reqs), 4);
        hc_destroy(hc);
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
                /* A chunked body longer than the cap: cut, connection kept. */
                {S_REPLY,
                 "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n",
                 0},
                {S_REPLY, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                 0},
                {S_REPLY, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0},
        };
        TH_CHECK(server_start(AF_INET, st, 4) == 0);
        hc_t *hc = client(5000, 10);
        hc_resp_t r;
        char e[256];
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 400);
        TH_CHECK_INT(r.body_len, 10); /* the cap */
        TH_CHECK_INT(r.body_total, 38);
        TH_CHECK_STR(r.body, "{\"code\":\"i");
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 500);
        TH_CHECK_STR(r.body, "0123456789");
        TH_CHECK_INT(r.body_total, 16);
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 200);
        TH_CHECK_INT(srv_int(&S.conns), 1);
        /* A malformed chunk size: an error naming it, then a new connection. */
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "malformed chunk size \"zz\"");
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 204);
        TH_CHECK_INT(srv_int(&S.conns), 2);
        hc_destroy(hc);
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
        hc_t *hc = client(5000, 65536);
        hc_resp_t r;
        char e[256];
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 413);
        TH_CHECK_INT(r.body_len, 65536);
        TH_CHECK_INT(r.body_total, n);
        TH_CHECK_INT(strlen(r.body), 65536);
        /* The rest was read: the connection serves the next request. */
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 204);
        TH_CHECK_INT(srv_int(&S.conns), 1);
        hc_destroy(hc);
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
        hc_t *hc = client(20000, 1024);
        size_t big = 32u << 20;
        char *p = calloc(1, big);
        hc_resp_t r;
        char e[256];
        int64_t t0 = now_ms();
        TH_CHECK(hc_post(hc, "/w", "", p, big, &r, e, sizeof(e)) == 0);
        TH_CHECK(now_ms() - t0 < 15000); /* not the request timeout */
        TH_CHECK_INT(r.status, 413);
        TH_CHECK_STR(r.body, "too large");
        /* The half-sent request's connection is not reused. */
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 204);
        TH_CHECK_INT(srv_int(&S.conns), 2);
        free(p);
        hc_destroy(hc);
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
        hc_t *hc = client(5000, 1024);
        hc_resp_t r;
        char e[256];
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 503);
        TH_CHECK_STR(r.body, "busy");
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 204);
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 500);
        TH_CHECK_STR(r.body, "until the end");
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(srv_int(&S.conns), 4); /* one per request */
        TH_CHECK_INT(srv_int(&S.reqs), 4);
        hc_destroy(hc);
        server_stop();
}

static void test_stale_keep_alive_reconnects(void) {
        step_t st[] = {
                /* keep-alive by the headers, but the server closes it */
                {S_REPLY_CLOSE, "HTTP/1.1 204 No Content\r\n\r\n", 0},
                {S_REPLY, "HTTP/1.1 204 No Content\r\n\r\n", 0},
                /* the race: the request reached a server that was closing */
                {S_DROP, NULL, 0},
                {S_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0},
                /* a fresh connection closed without an answer: an error */
                {S_DROP, NULL, 0},
        };
        TH_CHECK(server_start(AF_INET, st, 5) == 0);
        hc_t *hc = client(5000, 1024);
        hc_resp_t r;
        char e[256];
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        usleep(100 * 1000); /* let the close arrive (either way it must work) */
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 204);
        TH_CHECK_INT(srv_int(&S.conns), 2);
        /* Request 3 is dropped on the kept-alive connection: sent again on a
         * new one, answered there. */
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 200);
        TH_CHECK_STR(r.body, "ok");
        TH_CHECK_INT(srv_int(&S.conns), 3);
        TH_CHECK_INT(srv_int(&S.reqs), 4);
        /* Dropped on a new connection: not sent a third time. */
        hc_destroy(hc);
        hc = client(5000, 1024);
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "closed the connection without answering");
        TH_CHECK_INT(srv_int(&S.reqs), 5);
        TH_CHECK_INT(srv_int(&S.conns), 4);
        hc_destroy(hc);
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
        hc_t *hc = client(5000, 1024);
        hc_resp_t r;
        char e[256];
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        /* 429 without a length: the body is empty up to the close */
        TH_CHECK_INT(r.status, 429);
        TH_CHECK_INT(r.retry_after_ms, 7000);
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 503);
        TH_CHECK(r.retry_after_ms >= 25000 && r.retry_after_ms <= 30000);
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.retry_after_ms, -1);
        hc_destroy(hc);
        server_stop();
}

static void test_errors(void) {
        char e[256];
        hc_resp_t r;
        /* Connection refused: a port that was just free. */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        bind(fd, (struct sockaddr *)&a, len);
        getsockname(fd, (struct sockaddr *)&a, &len);
        close(fd);
        char url[64], want[96];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
        hc_t *hc = hc_new(url, 2000, 5000, 1024, e, sizeof(e));
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        snprintf(want, sizeof(want), "connect to 127.0.0.1:%d: Connection refused",
                 ntohs(a.sin_port));
        TH_CHECK_STR(e, want);
        hc_destroy(hc);
        /* An unknown host: the resolver's words. */
        hc = hc_new("http://no-such-host.invalid:8086", 2000, 5000, 1024, e, sizeof(e));
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "resolve \"no-such-host.invalid\": ");
        hc_destroy(hc);

        step_t st[] = {
                {S_REPLY_CLOSE, "HTTX/1.1 200 OK\r\n\r\n", 0},
                {S_REPLY_CLOSE, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", 12},
                {S_REPLY_CLOSE, "HTTP/1.1 2000 OK\r\n\r\n", 0},
                {S_REPLY, "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", 0},
                {S_REPLY, "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", 0},
                {S_REPLY_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0},
                {S_SILENT, NULL, 0},
        };
        TH_CHECK(server_start(AF_INET, st, 7) == 0);
        hc = client(700, 1024);
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, ": malformed status line \"HTTX/1.1 200 OK\"");
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "malformed status line \"???????????\"");
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "malformed status line");
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "malformed header line \"no colon here\"");
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "bad Content-Length \"-3\"");
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "closed the connection in the middle of the answer");
        /* A server that never answers: the whole request is bounded. */
        int64_t t0 = now_ms();
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == -1);
        int64_t took = now_ms() - t0;
        char want2[96];
        snprintf(want2, sizeof(want2),
                 "127.0.0.1:%d: timed out after 700 ms waiting for the answer", S.port);
        TH_CHECK_STR(e, want2);
        TH_CHECK(took >= 690 && took < 10000);
        TH_CHECK_INT(srv_int(&S.conns), 7); /* each failure closed its connection */
        hc_destroy(hc);
        server_stop();
}

static void test_ipv6(void) {
        step_t st[] = {{S_REPLY, "HTTP/1.1 204 No Content\r\n\r\n", 0}};
        if (server_start(AF_INET6, st, 1)) {
                printf("  (no IPv6 loopback here: skipped)\n");
                return;
        }
        hc_t *hc = client(5000, 1024);
        hc_resp_t r;
        char e[256], want[64];
        TH_CHECK(hc_post(hc, "/w", "", "x", 1, &r, e, sizeof(e)) == 0);
        TH_CHECK_INT(r.status, 204);
        snprintf(want, sizeof(want), "Host: [::1]:%d\r\n", S.port);
        TH_CHECK_HAS(S.head, want);
        snprintf(want, sizeof(want), "[::1]:%d", S.port);
        TH_CHECK_STR(hc_hostport(hc), want);
        hc_destroy(hc);
        server_stop();
}

/* https:// still goes through libcurl: against this plain-HTTP server the
 * TLS handshake fails with curl's words, and a refused port reads as curl
 * says it, not as hc does. */
static void test_https_goes_through_libcurl(void) {
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
        TH_CHECK(strstr(r.message, "malformed") == NULL); /* not hc's words */
        TH_CHECK(strstr(r.message, "timeout") == NULL);
        TH_CHECK_STR(ix_write_url(ix) + strlen(url), "/write?db=weir&precision=ms");
        ix_destroy(ix);
        server_stop();
        c.url = "https://127.0.0.1:1";
        ix = ix_new(&c, e, sizeof(e));
        TH_CHECK(ix != NULL);
        if (!ix)
                return;
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_RETRY);
        TH_CHECK(strstr(r.message, "connect to 127.0.0.1:1: ") == NULL);
        TH_CHECK_HAS(r.message, "127.0.0.1");
        ix_destroy(ix);
}

TH_MAIN("sink_hc", TH_T(test_request_and_keep_alive), TH_T(test_chunked_body),
        TH_T(test_response_larger_than_cap), TH_T(test_early_answer), TH_T(test_connection_close),
        TH_T(test_stale_keep_alive_reconnects), TH_T(test_retry_after), TH_T(test_errors),
        TH_T(test_ipv6), TH_T(test_https_goes_through_libcurl))
