/* hc — a minimal HTTP/1.1 client for the sink's InfluxDB writes to a plain
 * http:// INFLUX_URL (ix.c), so that the sink does not load libcurl —
 * ~20 shared objects and OpenSSL's initialisation, ~5 MB of RSS — unless
 * INFLUX_URL is https:// (TLS stays with libcurl: ixc.c).
 *
 * What it does: one persistent (keep-alive) connection to one host:port,
 * resolved with getaddrinfo (IPv4 and IPv6, each address tried in turn);
 * POST with Content-Length and the caller's header lines; reads the status
 * line, the headers it needs (Content-Length, Transfer-Encoding: chunked,
 * Connection: close / keep-alive, Retry-After as seconds or HTTP-date) and
 * the body, keeping its first `max_body` bytes (the rest is read and
 * dropped, so the connection stays usable).  The connect is non-blocking and
 * bounded by the connect timeout; the whole request, connection included,
 * by the request timeout.  A kept-alive connection that turns out to be
 * closed by the server before any byte of the answer is opened again and
 * the request sent once more (what libcurl does too; an InfluxDB write
 * sent twice only writes the same points again).  Never raises SIGPIPE.
 *
 * What it does not do: TLS, proxies, redirects, authentication schemes (the
 * caller writes its Authorization header), response compression,
 * 100-continue (never asked for; a 1xx answer is skipped), pipelining.
 *
 * Name resolution is getaddrinfo's and blocks: a resolver that does not
 * answer is bounded by its own timeouts (resolv.conf), not INFLUX_TIMEOUT
 * (libcurl resolves on a thread; an InfluxDB address rarely needs DNS that
 * hangs, and a numeric address or /etc/hosts entry never does).
 *
 * Threads: an hc_t belongs to one thread.  Steady state allocates nothing
 * per request: the request head and the body buffers are reused (making a
 * new connection calls getaddrinfo, which allocates). */
#ifndef WEIR_SINK_HC_H
#define WEIR_SINK_HC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* An http:// URL taken apart.  No user:password@ (refused: credentials go
 * in headers, never in a URL that ends up in logs), no query, no fragment. */
typedef struct hc_url_s {
        char host[256]; /* as written; an IPv6 literal without its brackets */
        char port[6];   /* "80" unless given */
        char path[512]; /* the path prefix without trailing '/', "" for none */
} hc_url_t;

/* Parses `url`.  Returns 0, or -1 with errstr saying what is wrong (it
 * quotes the URL only when the URL holds no credentials). */
int hc_url_parse(const char *url, hc_url_t *u, char *errstr, size_t errstr_size);

typedef struct hc_s hc_t;

/* A client for the server of `url` (hc_url_parse).  Connects at the first
 * request.  max_body: bytes of a response body kept.  NULL with errstr on
 * a bad URL or no memory.  Free with hc_destroy(). */
hc_t *hc_new(const char *url, int64_t connect_timeout_ms, int64_t timeout_ms, size_t max_body,
             char *errstr, size_t errstr_size);
void hc_destroy(hc_t *hc);

/* "host:port" ("[::1]:8086" for IPv6), as in error messages. */
const char *hc_hostport(const hc_t *hc);

typedef struct hc_resp_s {
        int status;             /* the HTTP status */
        int64_t retry_after_ms; /* from Retry-After; -1 when absent or unreadable */
        const char *body;       /* the first max_body bytes, NUL-terminated; owned by
                                 * the client, valid until its next request */
        size_t body_len;
        uint64_t body_total; /* bytes of body received (> body_len: cut) */
} hc_resp_t;

/* POST `target` (path and query, e.g. "/write?db=x") with the header lines
 * `headers` (each ending "\r\n"; Host and Content-Length are added) and
 * body[0..len).  Returns 0 with *resp filled whatever the status, or -1 with
 * errstr on a network or protocol error ("connect to 127.0.0.1:8086:
 * Connection refused", "127.0.0.1:8086: timed out after 10000 ms waiting
 * for the answer"...); the connection is then closed and the next request
 * opens a new one. */
int hc_post(hc_t *hc, const char *target, const char *headers, const void *body, size_t len,
            hc_resp_t *resp, char *errstr, size_t errstr_size);

/* A Retry-After value: delay-seconds (capped at a day) or an HTTP-date
 * (IMF-fixdate, RFC 850 or asctime form), relative to `now`; a date in the
 * past is 0.  -1 when unreadable. */
int64_t hc_retry_after_ms(const char *value, time_t now);

/* Appends s percent-encoded: everything but A-Z a-z 0-9 - . _ ~ (what
 * curl_easy_escape does).  0, or -1 when out of memory. */
int hc_escape(buf_t *out, const char *s);

/* Appends the base64 (RFC 4648, padded) of in[0..n).  0, or -1. */
int hc_base64(buf_t *out, const void *in, size_t n);

#endif
