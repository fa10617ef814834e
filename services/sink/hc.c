/* hc — the connection and the HTTP/1.1 exchange of the minimal client
 * (hc.h says what it does and does not).  Everything runs on one
 * non-blocking socket with poll() against the request's deadline, so no
 * step — connect, send, any read — can outlast INFLUX_TIMEOUT.  URL,
 * Retry-After, escaping and base64 are in hc_util.c. */
#include "hc.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define HC_RBUF      16384 /* receive buffer: also the longest header line */
#define HC_HEAD_MAX  65536 /* bytes of status line and headers of one answer */
#define HC_LINE_SHOW 80    /* bytes of a malformed line quoted in an error */

struct hc_s {
        hc_url_t url;
        char hostport[272]; /* host:port, for messages */
        char hosthdr[272];  /* the Host header's value */
        int64_t connect_timeout_ms, timeout_ms;
        size_t max_body;
        int fd;     /* -1: not connected */
        int reused; /* fd has answered a request: it may have gone stale */
        buf_t head; /* the request head, rebuilt per request */
        buf_t body; /* the response body, first max_body bytes */
        /* one request's state */
        int64_t deadline; /* monotonic ms */
        int got_any;      /* a byte of the answer arrived */
        int eof, timed_out, send_err;
        const char *doing;
        size_t rpos, rlen;
        char rbuf[HC_RBUF];
};

/* The ways an exchange fails; the message is in errstr. */
enum { HC_OK = 0, HC_FAIL = -1, HC_STALE = -2, HC_EARLY = -3 };

static int64_t hc_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

hc_t *hc_new(const char *url, int64_t connect_timeout_ms, int64_t timeout_ms, size_t max_body,
             char *errstr, size_t errstr_size) {
        hc_t *hc = calloc(1, sizeof(*hc));
        if (!hc) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (hc_url_parse(url, &hc->url, errstr, errstr_size)) {
                free(hc);
                return NULL;
        }
        const hc_url_t *u = &hc->url;
        int v6 = strchr(u->host, ':') != NULL;
        snprintf(hc->hostport, sizeof(hc->hostport), "%s%s%s:%s", v6 ? "[" : "", u->host,
                 v6 ? "]" : "", u->port);
        if (!strcmp(u->port, "80"))
                snprintf(hc->hosthdr, sizeof(hc->hosthdr), "%s%s%s", v6 ? "[" : "", u->host,
                         v6 ? "]" : "");
        else
                snprintf(hc->hosthdr, sizeof(hc->hosthdr), "%s", hc->hostport);
        hc->connect_timeout_ms = connect_timeout_ms;
        hc->timeout_ms = timeout_ms;
        hc->max_body = max_body;
        hc->fd = -1;
        return hc;
}

static void hc_close(hc_t *hc) {
        if (hc->fd >= 0)
                close(hc->fd);
        hc->fd = -1;
        hc->reused = 0;
}

void hc_destroy(hc_t *hc) {
        if (!hc)
                return;
        hc_close(hc);
        if (hc->head.data) /* it held the caller's Authorization header */
                memset(hc->head.data, 0, hc->head.size);
        buf_free(&hc->head);
        buf_free(&hc->body);
        free(hc);
}

const char *hc_hostport(const hc_t *hc) {
        return hc->hostport;
}

/* Waits for `events` on the socket until the deadline.  The revents (> 0),
 * 0: timed out, -1: poll failed (errno). */
static int hc_wait(hc_t *hc, short events, int64_t deadline) {
        for (;;) {
                int64_t left = deadline - hc_now_ms();
                if (left <= 0)
                        return 0;
                struct pollfd p = {.fd = hc->fd, .events = events};
                int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
                if (n > 0)
                        return p.revents;
                if (n < 0 && errno != EINTR)
                        return -1;
        }
}

/* ---------------------------------------------------------------- connect */

/* One address: non-blocking connect until `deadline`.  The fd, or -1 with
 * errstr ("connect to 127.0.0.1:8086: Connection refused"). */
static int hc_connect_one(hc_t *hc, const struct addrinfo *ai, int64_t deadline, int64_t budget_ms,
                          char *errstr, size_t errstr_size) {
        char addr[64] = "?", where[96];
        getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST);
        snprintf(where, sizeof(where), ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", addr,
                 hc->url.port);
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
                snprintf(errstr, errstr_size, "connect to %s: socket: %s", where, strerror(errno));
                return -1;
        }
        int err = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                err = errno;
                if (err == EINPROGRESS) {
                        hc->fd = fd;
                        int w = hc_wait(hc, POLLOUT, deadline);
                        hc->fd = -1;
                        socklen_t len = sizeof(err);
                        if (w == 0) {
                                snprintf(errstr, errstr_size,
                                         "connect to %s: timed out after %lld ms", where,
                                         (long long)budget_ms);
                                close(fd);
                                return -1;
                        }
                        if (w < 0)
                                err = errno;
                        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                                err = errno;
                }
        }
        if (err) {
                snprintf(errstr, errstr_size, "connect to %s: %s", where, strerror(err));
                close(fd);
                return -1;
        }
        int one = 1; /* the head and the body go out in one sendmsg: no Nagle wait */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return fd;
}

static int hc_connect(hc_t *hc, char *errstr, size_t errstr_size) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
        int rc = getaddrinfo(hc->url.host, hc->url.port, &hints, &res);
        if (rc) {
                snprintf(errstr, errstr_size, "resolve \"%s\": %s", hc->url.host,
                         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
                return -1;
        }
        int64_t start = hc_now_ms(), deadline = start + hc->connect_timeout_ms;
        if (deadline > hc->deadline)
                deadline = hc->deadline; /* INFLUX_TIMEOUT includes the connect */
        for (const struct addrinfo *ai = res; ai && hc->fd < 0; ai = ai->ai_next) {
                if (hc_now_ms() >= deadline && ai != res)
                        break; /* the message of the last address tried stands */
                hc->fd = hc_connect_one(hc, ai, deadline, deadline - start, errstr, errstr_size);
        }
        freeaddrinfo(res);
        hc->reused = 0;
        return hc->fd >= 0 ? 0 : -1;
}

/* A kept-alive connection with something to read before we asked anything
 * has been closed by the server (or carries an answer to nothing, such as
 * a 408): not usable. */
static int hc_idle_ok(hc_t *hc) {
        struct pollfd p = {.fd = hc->fd, .events = POLLIN};
        return poll(&p, 1, 0) == 0;
}

/* ---------------------------------------------------------------- I/O */

static int hc_timed_out(hc_t *hc, char *errstr, size_t errstr_size) {
        hc->timed_out = 1;
        snprintf(errstr, errstr_size, "%s: timed out after %lld ms %s", hc->hostport,
                 (long long)hc->timeout_ms, hc->doing);
        return HC_FAIL;
}

/* A failure of the connection itself: on a reused connection before any
 * byte of the answer, the server closed it while it was idle. */
static int hc_conn_error(hc_t *hc, int err, char *errstr, size_t errstr_size) {
        if (err == 0)
                snprintf(errstr, errstr_size, "%s closed the connection %s", hc->hostport,
                         hc->got_any ? "in the middle of the answer" : "without answering");
        else
                snprintf(errstr, errstr_size, "%s: %s %s", hc->hostport, strerror(err), hc->doing);
        return hc->reused && !hc->got_any ? HC_STALE : HC_FAIL;
}

static int hc_send(hc_t *hc, const void *body, size_t len, char *errstr, size_t errstr_size) {
        struct iovec iov[2] = {{hc->head.data, hc->head.len}, {(void *)(uintptr_t)body, len}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
        hc->doing = "sending the request";
        while (m.msg_iovlen) {
                ssize_t n = sendmsg(hc->fd, &m, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK) {
                                hc->send_err = errno;
                                return hc_conn_error(hc, errno, errstr, errstr_size);
                        }
                        /* POLLIN too: a server that answers before it has
                         * read the body (a 413, a 401) stops reading it. */
                        int w = hc_wait(hc, POLLOUT | POLLIN, hc->deadline);
                        if (w == 0)
                                return hc_timed_out(hc, errstr, errstr_size);
                        if (w < 0)
                                return hc_conn_error(hc, errno, errstr, errstr_size);
                        if ((w & POLLIN) && !(w & POLLOUT))
                                return HC_EARLY;
                        continue;
                }
                size_t left = (size_t)n;
                while (m.msg_iovlen && left >= m.msg_iov->iov_len) {
                        left -= m.msg_iov->iov_len;
                        m.msg_iov++;
                        m.msg_iovlen--;
                }
                if (m.msg_iovlen) {
                        m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + left;
                        m.msg_iov->iov_len -= left;
                }
        }
        return HC_OK;
}

/* Reads more into rbuf (compacting it first).  HC_OK, or a failure with
 * its message (the peer closing is one). */
static int hc_fill(hc_t *hc, char *errstr, size_t errstr_size) {
        if (hc->rpos) {
                memmove(hc->rbuf, hc->rbuf + hc->rpos, hc->rlen - hc->rpos);
                hc->rlen -= hc->rpos;
                hc->rpos = 0;
        }
        for (;;) {
                ssize_t n = recv(hc->fd, hc->rbuf + hc->rlen, sizeof(hc->rbuf) - hc->rlen, 0);
                if (n > 0) {
                        hc->rlen += (size_t)n;
                        hc->got_any = 1;
                        return HC_OK;
                }
                if (n == 0) {
                        hc->eof = 1;
                        return hc_conn_error(hc, 0, errstr, errstr_size);
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                        return hc_conn_error(hc, errno, errstr, errstr_size);
                int w = hc_wait(hc, POLLIN, hc->deadline);
                if (w == 0)
                        return hc_timed_out(hc, errstr, errstr_size);
                if (w < 0)
                        return hc_conn_error(hc, errno, errstr, errstr_size);
        }
}

/* The next line of the answer, without its CR LF (or bare LF), NUL-
 * terminated in rbuf: valid until the next read. */
static int hc_line(hc_t *hc, char **line, size_t *len, char *errstr, size_t errstr_size) {
        for (;;) {
                char *s = hc->rbuf + hc->rpos;
                char *nl = memchr(s, '\n', hc->rlen - hc->rpos);
                if (nl) {
                        size_t n = (size_t)(nl - s);
                        hc->rpos += n + 1;
                        if (n && s[n - 1] == '\r')
                                n--;
                        s[n] = 0;
                        *line = s;
                        *len = n;
                        return HC_OK;
                }
                if (hc->rpos == 0 && hc->rlen == sizeof(hc->rbuf)) {
                        snprintf(errstr, errstr_size,
                                 "%s: a line of the answer is longer than %d bytes", hc->hostport,
                                 HC_RBUF);
                        return HC_FAIL;
                }
                int rc = hc_fill(hc, errstr, errstr_size);
                if (rc)
                        return rc;
        }
}

/* Reads n bytes of body, keeping what fits under max_body. */
static int hc_body_bytes(hc_t *hc, uint64_t n, hc_resp_t *resp, char *errstr, size_t errstr_size) {
        while (n) {
                if (hc->rpos == hc->rlen) {
                        int rc = hc_fill(hc, errstr, errstr_size);
                        if (rc)
                                return rc;
                }
                size_t take = hc->rlen - hc->rpos;
                if (take > n)
                        take = (size_t)n;
                size_t room = hc->max_body - hc->body.len;
                if (room && buf_append(&hc->body, hc->rbuf + hc->rpos, take < room ? take : room)) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return HC_FAIL;
                }
                hc->rpos += take;
                resp->body_total += take;
                n -= take;
        }
        return HC_OK;
}

/* A line quoted in an error: printable ASCII only, cut. */
static void hc_bad_line(hc_t *hc, const char *what, const char *line, size_t len, char *errstr,
                        size_t errstr_size) {
        char show[HC_LINE_SHOW + 1];
        size_t n = len < HC_LINE_SHOW ? len : HC_LINE_SHOW;
        for (size_t i = 0; i < n; i++)
                show[i] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
        show[n] = 0;
        snprintf(errstr, errstr_size, "%s: %s \"%s\"%s", hc->hostport, what, show,
                 len > n ? "..." : "");
}

/* The body in chunked transfer coding, then its trailer. */
static int hc_chunked(hc_t *hc, hc_resp_t *resp, char *errstr, size_t errstr_size) {
        char *line;
        size_t len;
        for (;;) {
                int rc = hc_line(hc, &line, &len, errstr, errstr_size);
                if (rc)
                        return rc;
                uint64_t n = 0;
                size_t i = 0;
                for (; i < len && i < 16; i++) {
                        int c = line[i], d = c >= '0' && c <= '9'   ? c - '0'
                                             : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                             : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                    : -1;
                        if (d < 0)
                                break;
                        n = n * 16 + (uint64_t)d;
                }
                if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) {
                        hc_bad_line(hc, "malformed chunk size", line, len, errstr, errstr_size);
                        return HC_FAIL;
                }
                if (n == 0)
                        break;
                if ((rc = hc_body_bytes(hc, n, resp, errstr, errstr_size)) ||
                    (rc = hc_line(hc, &line, &len, errstr, errstr_size)))
                        return rc;
                if (len) {
                        hc_bad_line(hc, "no line end after a chunk", line, len, errstr,
                                    errstr_size);
                        return HC_FAIL;
                }
        }
        do { /* trailer fields, up to the empty line */
                int rc = hc_line(hc, &line, &len, errstr, errstr_size);
                if (rc)
                        return rc;
        } while (len);
        return HC_OK;
}

/* Does the comma-separated header value v list `token`? */
static int hc_has_token(const char *v, const char *token) {
        size_t tl = strlen(token);
        while (*v) {
                v += strspn(v, " \t,");
                size_t n = strcspn(v, ",");
                size_t m = n;
                while (m && (v[m - 1] == ' ' || v[m - 1] == '\t'))
                        m--;
                if (m == tl && !strncasecmp(v, token, tl))
                        return 1;
                v += n;
        }
        return 0;
}

/* Reads one answer.  *keep: the connection may serve the next request. */
static int hc_response(hc_t *hc, hc_resp_t *resp, int *keep, char *errstr, size_t errstr_size) {
        char *line;
        size_t len;
        int rc;
        hc->doing = "waiting for the answer";
again:; /* after a 1xx answer */
        size_t head = 0;
        if ((rc = hc_line(hc, &line, &len, errstr, errstr_size)))
                return rc;
        hc->doing = "reading the answer";
        /* HTTP/1.x SP 3DIGIT [SP reason] */
        if (len < 12 || strncmp(line, "HTTP/1.", 7) || (line[7] != '0' && line[7] != '1') ||
            line[8] != ' ' || line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
            line[11] < '0' || line[11] > '9' || (len > 12 && line[12] != ' ')) {
                hc_bad_line(hc, "malformed status line", line, len, errstr, errstr_size);
                return HC_FAIL;
        }
        int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        int http10 = line[7] == '0', chunked = 0, close_ = 0, keep_alive = 0;
        int64_t clen = -1;
        resp->retry_after_ms = -1;
        for (;;) {
                if ((rc = hc_line(hc, &line, &len, errstr, errstr_size)))
                        return rc;
                if ((head += len + 2) > HC_HEAD_MAX) {
                        snprintf(errstr, errstr_size, "%s: the answer's headers exceed %d bytes",
                                 hc->hostport, HC_HEAD_MAX);
                        return HC_FAIL;
                }
                if (!len)
                        break;
                char *colon = memchr(line, ':', len);
                if (!colon || colon == line) {
                        hc_bad_line(hc, "malformed header line", line, len, errstr, errstr_size);
                        return HC_FAIL;
                }
                *colon = 0;
                char *v = colon + 1, *vend = line + len;
                v += strspn(v, " \t");
                while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
                        *--vend = 0;
                if (!strcasecmp(line, "content-length")) {
                        char *end;
                        errno = 0;
                        long long n = strtoll(v, &end, 10);
                        if (errno || n < 0 || end == v || *end || (clen >= 0 && clen != n)) {
                                hc_bad_line(hc, "bad Content-Length", v, strlen(v), errstr,
                                            errstr_size);
                                return HC_FAIL;
                        }
                        clen = n;
                } else if (!strcasecmp(line, "transfer-encoding")) {
                        chunked = hc_has_token(v, "chunked");
                        if (!chunked) {
                                hc_bad_line(hc, "unsupported Transfer-Encoding", v, strlen(v),
                                            errstr, errstr_size);
                                return HC_FAIL;
                        }
                } else if (!strcasecmp(line, "connection")) {
                        close_ |= hc_has_token(v, "close");
                        keep_alive |= hc_has_token(v, "keep-alive");
                } else if (!strcasecmp(line, "retry-after")) {
                        resp->retry_after_ms = hc_retry_after_ms(v, time(NULL));
                }
        }
        if (status < 200) {
                if (status == 101) {
                        snprintf(errstr, errstr_size, "%s: unexpected 101 Switching Protocols",
                                 hc->hostport);
                        return HC_FAIL;
                }
                goto again; /* 100 Continue, 103 Early Hints: the answer follows */
        }
        resp->status = status;
        *keep = !close_ && (!http10 || keep_alive);
        if (status == 204 || status == 304)
                rc = HC_OK;
        else if (chunked)
                rc = hc_chunked(hc, resp, errstr, errstr_size);
        else if (clen >= 0)
                rc = hc_body_bytes(hc, (uint64_t)clen, resp, errstr, errstr_size);
        else { /* the body ends where the connection does */
                *keep = 0;
                rc = hc_body_bytes(hc, UINT64_MAX, resp, errstr, errstr_size);
                if (rc && hc->eof)
                        rc = HC_OK; /* that close was the end of the body */
        }
        if (hc->rpos != hc->rlen)
                *keep = 0; /* bytes after the answer: nothing to pair them with */
        return rc;
}

/* ---------------------------------------------------------------- request */

static int hc_exchange(hc_t *hc, const void *body, size_t len, hc_resp_t *resp, char *errstr,
                       size_t errstr_size) {
        hc->got_any = hc->eof = hc->timed_out = hc->send_err = 0;
        hc->rpos = hc->rlen = 0;
        hc->body.len = 0;
        resp->body_total = 0;
        int keep = 0;
        int rc = hc_send(hc, body, len, errstr, errstr_size);
        if (rc == HC_EARLY) { /* answered before the whole body was sent */
                rc = hc_response(hc, resp, &keep, errstr, errstr_size);
                keep = 0;
        } else if (hc->send_err == EPIPE || hc->send_err == ECONNRESET) {
                /* The server may have answered and closed before taking the
                 * whole body (a 413 does that): read what it said, if the
                 * reset left it to read. */
                char e2[8];
                if (hc_response(hc, resp, &keep, e2, sizeof(e2)) == HC_OK)
                        rc = HC_OK, keep = 0;
        } else if (rc == HC_OK) {
                rc = hc_response(hc, resp, &keep, errstr, errstr_size);
        }
        if (rc == HC_OK) {
                if (buf_nul(&hc->body)) {
                        snprintf(errstr, errstr_size, "out of memory");
                        rc = HC_FAIL;
                }
                resp->body = hc->body.data ? hc->body.data : "";
                resp->body_len = hc->body.len;
        }
        if (rc != HC_OK || !keep)
                hc_close(hc);
        else
                hc->reused = 1;
        return rc;
}

int hc_post(hc_t *hc, const char *target, const char *headers, const void *body, size_t len,
            hc_resp_t *resp, char *errstr, size_t errstr_size) {
        memset(resp, 0, sizeof(*resp));
        resp->retry_after_ms = -1;
        resp->body = "";
        hc->deadline = hc_now_ms() + hc->timeout_ms;
        hc->head.len = 0;
        char clen[32];
        int n = snprintf(clen, sizeof(clen), "%zu", len);
        if (buf_append(&hc->head, "POST ", 5) || buf_append(&hc->head, target, strlen(target)) ||
            buf_append(&hc->head, " HTTP/1.1\r\nHost: ", 17) ||
            buf_append(&hc->head, hc->hosthdr, strlen(hc->hosthdr)) ||
            buf_append(&hc->head, "\r\nContent-Length: ", 18) ||
            buf_append(&hc->head, clen, (size_t)n) || buf_append(&hc->head, "\r\n", 2) ||
            buf_append(&hc->head, headers, strlen(headers)) || buf_append(&hc->head, "\r\n", 2)) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        if (hc->fd >= 0 && !hc_idle_ok(hc))
                hc_close(hc);
        for (int attempt = 0;; attempt++) {
                if (hc->fd < 0 && hc_connect(hc, errstr, errstr_size))
                        return -1;
                int rc = hc_exchange(hc, body, len, resp, errstr, errstr_size);
                if (rc == HC_OK)
                        return 0;
                /* A stale keep-alive connection: once more on a new one. */
                if (rc != HC_STALE || attempt > 0)
                        return -1;
        }
}
