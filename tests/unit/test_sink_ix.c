/* Unit tests for the sink's InfluxDB writer (services/sink/ix.c,
 * ix_flush.c) against a tiny HTTP server in this file (libmicrohttpd on a
 * loopback port) that records each request and answers as a test scripts it.
 * No InfluxDB 2.x can be installed here (Debian ships only 1.6), so the 2.x
 * request — path, query, Token header, gzip body — is checked here; 1.x is
 * also checked against the real influxd in tests/integration.
 * The retry waits are recorded, not slept. */
#include "th.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <zlib.h>

#include "../../services/sink/ix.h"
#include "../../services/sink/sk_conf.h"
#include "buf.h"
#include "metrics.h"

/* ---------------------------------------------------------------- server */

typedef struct {
        int status;
        int retry_after; /* seconds; -1: no header */
        const char *body;
} reply_t;

static struct {
        pthread_mutex_t mtx;
        /* scripted replies, then the behaviour below */
        reply_t script[8];
        int nscript, next;
        int max_lines;      /* > 0: more lines in one request → 413 */
        const char *reject; /* lines containing it → 400 partial write */
        const char *huge;   /* lines containing it → 413 even alone */
        /* what was seen */
        int requests;
        char path[256], args[512], auth[256], encoding[64], ctype[128];
        buf_t last_body; /* inflated */
        buf_t written;   /* lines of every 2xx request, in order */
} srv = {.mtx = PTHREAD_MUTEX_INITIALIZER};

typedef struct {
        buf_t body;
} upload_t;

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v) {
        (void)cls;
        (void)kind;
        size_t n = strlen(srv.args);
        snprintf(srv.args + n, sizeof(srv.args) - n, "%s%s=%s", n ? "&" : "", k, v ? v : "");
        return MHD_YES;
}

static int inflate_all(const buf_t *in, buf_t *out) {
        z_stream z;
        memset(&z, 0, sizeof(z));
        if (inflateInit2(&z, 15 + 32) != Z_OK)
                return -1;
        z.next_in = (Bytef *)in->data;
        z.avail_in = (uInt)in->len;
        int rc;
        do {
                buf_reserve(out, 4096);
                z.next_out = (Bytef *)out->data + out->len;
                z.avail_out = (uInt)(out->size - out->len);
                rc = inflate(&z, Z_NO_FLUSH);
                out->len = out->size - z.avail_out;
        } while (rc == Z_OK);
        inflateEnd(&z);
        return rc == Z_STREAM_END ? 0 : -1;
}

static int count_lines(const buf_t *b, const char *needle) {
        int n = 0;
        const char *p = b->data, *end = b->data + b->len;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
                if (!needle || memmem(p, len, needle, strlen(needle)))
                        n++;
                p += len + 1;
        }
        return n;
}

/* Appends the lines of b not containing `skip` (NULL: all) to written. */
static void accept_lines(const buf_t *b, const char *skip) {
        const char *p = b->data, *end = b->data + b->len;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
                if (!skip || !memmem(p, len, skip, strlen(skip)))
                        buf_append(&srv.written, p, len);
                p += len;
        }
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls) {
        (void)cls;
        (void)method;
        (void)version;
        upload_t *u = *con_cls;
        if (!u) {
                *con_cls = calloc(1, sizeof(upload_t));
                return MHD_YES;
        }
        if (*size) {
                buf_append(&u->body, data, *size);
                *size = 0;
                return MHD_YES;
        }
        pthread_mutex_lock(&srv.mtx);
        srv.requests++;
        snprintf(srv.path, sizeof(srv.path), "%s", url);
        srv.args[0] = 0;
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_arg, NULL);
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        snprintf(srv.auth, sizeof(srv.auth), "%s", h ? h : "");
        h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
        snprintf(srv.encoding, sizeof(srv.encoding), "%s", h ? h : "");
        h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        snprintf(srv.ctype, sizeof(srv.ctype), "%s", h ? h : "");
        srv.last_body.len = 0;
        if (!strcmp(srv.encoding, "gzip"))
                inflate_all(&u->body, &srv.last_body);
        else
                buf_append(&srv.last_body, u->body.data, u->body.len);
        reply_t r = {204, -1, ""};
        char msg[256];
        if (srv.next < srv.nscript) {
                r = srv.script[srv.next++];
        } else if (srv.huge && count_lines(&srv.last_body, srv.huge)) {
                r = (reply_t){413, -1, "{\"error\":\"Request Entity Too Large\"}"};
        } else if (srv.max_lines && count_lines(&srv.last_body, NULL) > srv.max_lines) {
                r = (reply_t){413, -1, "{\"error\":\"Request Entity Too Large\"}"};
        } else if (srv.reject && count_lines(&srv.last_body, srv.reject)) {
                /* like 1.x: the good points are written, the answer is 400 */
                accept_lines(&srv.last_body, srv.reject);
                snprintf(msg, sizeof(msg),
                         "{\"error\":\"partial write: field type conflict: input field \\\"v\\\" "
                         "on measurement \\\"m\\\" is type float, already exists as type "
                         "string dropped=%d\"}",
                         count_lines(&srv.last_body, srv.reject));
                r = (reply_t){400, -1, msg};
        } else {
                accept_lines(&srv.last_body, NULL);
        }
        pthread_mutex_unlock(&srv.mtx);
        struct MHD_Response *resp = MHD_create_response_from_buffer(
                strlen(r.body), (void *)(uintptr_t)r.body, MHD_RESPMEM_MUST_COPY);
        if (r.retry_after >= 0) {
                char ra[16];
                snprintf(ra, sizeof(ra), "%d", r.retry_after);
                MHD_add_response_header(resp, "Retry-After", ra);
        }
        enum MHD_Result ret = MHD_queue_response(c, (unsigned)r.status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
        (void)cls;
        (void)c;
        (void)toe;
        upload_t *u = *con_cls;
        if (u) {
                buf_free(&u->body);
                free(u);
        }
        *con_cls = NULL;
}

static struct MHD_Daemon *daemon_;
static char base_url[64];

static void server_reset(void) {
        pthread_mutex_lock(&srv.mtx);
        srv.nscript = srv.next = srv.requests = 0;
        srv.max_lines = 0;
        srv.reject = srv.huge = NULL;
        srv.written.len = 0;
        srv.last_body.len = 0;
        pthread_mutex_unlock(&srv.mtx);
        if (daemon_)
                return;
        daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
        TH_CHECK(daemon_ != NULL);
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u/", di ? di->port : 0);
}

/* ---------------------------------------------------------------- helpers */

static ix_conf_t conf1(void) {
        ix_conf_t c = {.url = base_url,
                       .version = 1,
                       .db = "weir",
                       .precision = "ms",
                       .gzip = 1,
                       .timeout_ms = 5000,
                       .connect_timeout_ms = 2000,
                       .retry_initial_ms = 100,
                       .retry_max_ms = 1000,
                       .retry_after_max_ms = 60000};
        return c;
}

typedef struct {
        int64_t waits[32];
        int nwaits, give_up_after;
        const char *causes[32];
        size_t rejected[32];
        long rej_status[32];
        char rej_msg[1024];
        int nrejected;
} rec_t;

static int t_wait(void *opaque, int64_t ms, const ix_result_t *why) {
        rec_t *r = opaque;
        if (r->nwaits < 32) {
                r->causes[r->nwaits] = why->cause;
                r->waits[r->nwaits] = ms;
        }
        r->nwaits++;
        return r->give_up_after && r->nwaits >= r->give_up_after;
}

static void t_rejected(void *opaque, const ix_batch_t *b, size_t i, const ix_result_t *res) {
        (void)b;
        rec_t *r = opaque;
        if (r->nrejected < 32) {
                r->rejected[r->nrejected] = i;
                r->rej_status[r->nrejected] = res->status;
        }
        snprintf(r->rej_msg, sizeof(r->rej_msg), "%s", res->message);
        r->nrejected++;
}

/* A batch of n lines "m,k=<i> v=<i> <i>\n"; lines listed in `marks` get
 * the tag value `mark` instead. */
static void make_batch(ix_batch_t *b, int n, const int *marks, int nmarks, const char *mark) {
        for (int i = 0; i < n; i++) {
                char line[128];
                const char *tag = NULL;
                for (int j = 0; j < nmarks; j++)
                        if (marks[j] == i)
                                tag = mark;
                int len = tag ? snprintf(line, sizeof(line), "m,k=%s%d v=%d %d\n", tag, i, i, i)
                              : snprintf(line, sizeof(line), "m,k=%d v=%d %d\n", i, i, i);
                ix_line_t l = {.off = b->body.len, .len = (size_t)len, .offset = i};
                buf_append(&b->body, line, (size_t)len);
                ix_batch_push(b, &l, "key", 3, NULL, 0);
        }
}

static int flush(ix_t *ix, ix_batch_t *b, rec_t *r) {
        ix_flush_cbs_t cbs = {.wait = t_wait, .rejected = t_rejected, .opaque = r};
        return ix_flush(ix, b, &cbs);
}

static int written_has(const char *line) {
        pthread_mutex_lock(&srv.mtx);
        buf_nul(&srv.written);
        int n = 0;
        for (const char *p = srv.written.data; p && (p = strstr(p, line)); p += strlen(line))
                if (p == srv.written.data || p[-1] == '\n')
                        n++;
        pthread_mutex_unlock(&srv.mtx);
        return n;
}

/* ---------------------------------------------------------------- tests */

static void test_v2_request(void) {
        server_reset();
        ix_conf_t c = conf1();
        c.version = 2;
        c.org = "my org";
        c.bucket = "b/1";
        c.token = "s3cr3t";
        c.precision = "ns";
        char e[256];
        ix_t *ix = ix_new(&c, e, sizeof(e));
        TH_CHECK(ix != NULL);
        if (!ix)
                return;
        ix_result_t r;
        const char *body = "m,k=a v=1 1\nm,k=b v=2 2\n";
        TH_CHECK(ix_send(ix, body, strlen(body), &r) == IX_OK);
        TH_CHECK_INT(r.status, 204);
        TH_CHECK_STR(srv.path, "/api/v2/write");
        TH_CHECK_STR(srv.args, "org=my org&bucket=b/1&precision=ns"); /* decoded by the server */
        TH_CHECK_STR(srv.auth, "Token s3cr3t");
        TH_CHECK_STR(srv.encoding, "gzip");
        TH_CHECK_STR(srv.ctype, "text/plain; charset=utf-8");
        buf_nul(&srv.last_body);
        TH_CHECK_STR(srv.last_body.data, body); /* the gzip body inflates to the lines */
        TH_CHECK(strstr(ix_write_url(ix), "s3cr3t") == NULL);
        ix_destroy(ix);
}

static void test_v1_request(void) {
        server_reset();
        ix_conf_t c = conf1();
        c.rp = "short term";
        c.username = "ann";
        c.password = "pw";
        c.gzip = 0;
        char e[256];
        ix_t *ix = ix_new(&c, e, sizeof(e));
        ix_result_t r;
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_OK);
        TH_CHECK_STR(srv.path, "/write");
        TH_CHECK_STR(srv.args, "db=weir&rp=short term&precision=ms");
        TH_CHECK_STR(srv.auth, "Basic YW5uOnB3"); /* ann:pw */
        TH_CHECK_STR(srv.encoding, "");
        buf_nul(&srv.last_body);
        TH_CHECK_STR(srv.last_body.data, "m v=1 1\n");
        ix_destroy(ix);
}

static void test_classification(void) {
        server_reset();
        srv.script[0] = (reply_t){503, 7, "{\"error\":\"timeout\"}"};
        srv.script[1] = (reply_t){429, -1, "slow down\nplease"};
        srv.script[2] = (reply_t){500, -1, ""};
        srv.script[3] = (reply_t){404, -1, "{\"error\":\"database not found: \\\"weir\\\"\"}"};
        srv.script[4] = (reply_t){401, -1, "{\"code\":\"unauthorized\",\"message\":\"bad token\"}"};
        srv.script[5] =
                (reply_t){400, -1, "{\"code\":\"invalid\",\"message\":\"unable to parse\"}"};
        srv.script[6] = (reply_t){413, -1, ""};
        srv.nscript = 7;
        ix_conf_t c = conf1();
        char e[256];
        ix_t *ix = ix_new(&c, e, sizeof(e));
        ix_result_t r;
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "503");
        TH_CHECK_INT(r.retry_after_ms, 7000);
        TH_CHECK_STR(r.message, "timeout");
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "429");
        TH_CHECK_INT(r.retry_after_ms, -1);
        TH_CHECK_STR(r.message, "slow down");
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "5xx");
        TH_CHECK_STR(r.message, "HTTP 500");
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "not_found");
        TH_CHECK_STR(r.message, "database not found: \"weir\"");
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "auth");
        TH_CHECK_STR(r.message, "bad token"); /* 2.x's "message" */
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_REJECTED);
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_TOO_LARGE);
        ix_destroy(ix);
        /* Nothing listening: a network error, retried. */
        c.url = "http://127.0.0.1:1";
        ix = ix_new(&c, e, sizeof(e));
        TH_CHECK(ix_send(ix, "m v=1 1\n", 8, &r) == IX_RETRY);
        TH_CHECK_STR(r.cause, "network");
        TH_CHECK_INT(r.status, 0);
        TH_CHECK(r.message[0] != 0);
        ix_destroy(ix);
}

static void test_retries_honour_retry_after(void) {
        server_reset();
        srv.script[0] = (reply_t){503, 2, "{\"error\":\"busy\"}"};
        srv.script[1] = (reply_t){429, -1, ""};
        srv.script[2] = (reply_t){502, 600, ""}; /* beyond retry_after_max: cut */
        srv.nscript = 3;
        ix_conf_t c = conf1();
        c.retry_after_max_ms = 5000;
        char e[256];
        ix_t *ix = ix_new(&c, e, sizeof(e));
        ix_batch_t b;
        memset(&b, 0, sizeof(b));
        make_batch(&b, 5, NULL, 0, NULL);
        rec_t r;
        memset(&r, 0, sizeof(r));
        double before = metrics_value(metrics_child(
                metrics_counter_family("weir_sink_influx_retries_total", "", "cause"), "503"));
        TH_CHECK(flush(ix, &b, &r) == 0);
        TH_CHECK_INT(r.nwaits, 3);
        TH_CHECK(r.waits[0] >= 2000);                     /* Retry-After: 2 */
        TH_CHECK(r.waits[1] >= 100 && r.waits[1] <= 200); /* backoff attempt 1: [100, 200] */
        TH_CHECK_INT(r.waits[2], 5000);                   /* 600 s cut to the maximum */
        TH_CHECK_STR(r.causes[0], "503");
        TH_CHECK_STR(r.causes[1], "429");
        TH_CHECK_STR(r.causes[2], "5xx");
        TH_CHECK_INT(srv.requests, 4);
        TH_CHECK_INT(r.nrejected, 0);
        for (int i = 0; i < 5; i++) {
                char l[64];
                snprintf(l, sizeof(l), "m,k=%d v=%d %d\n", i, i, i);
                TH_CHECK_INT(written_has(l), 1);
        }
        double after = metrics_value(metrics_child(
                metrics_counter_family("weir_sink_influx_retries_total", "", "cause"), "503"));
        TH_CHECK(after - before == 1);
        ix_batch_free(&b);
        ix_destroy(ix);
}

static void test_give_up_on_shutdown(void) {
        ix_conf_t c = conf1();
        c.url = "http://127.0.0.1:1";
        char e[256];
        ix_t *ix = ix_new(&c, e, sizeof(e));
        ix_batch_t b;
        memset(&b, 0, sizeof(b));
        make_batch(&b, 3, NULL, 0, NULL);
        rec_t r;
        memset(&r, 0, sizeof(r));
        r.give_up_after = 4;
        TH_CHECK(flush(ix, &b, &r) == -1);
        TH_CHECK_INT(r.nwaits, 4);
        TH_CHECK_STR(r.causes[3], "network");
        /* Backoff grows: attempt 3 waits in [400, 800]. */
        TH_CHECK(r.waits[3] >= 400 && r.waits[3] <= 800);
        TH_CHECK_INT(r.nrejected, 0);
        ix_batch_free(&b);
        ix_destroy(ix);
}

static void test_413_splits(void) {
        server_reset();
        srv.max_lines = 3;
        srv.huge = "HUGE";
        ix_conf_t c = conf1();
        char e[256];
        ix_t *ix = ix_new(&c, e, sizeof(e));
        ix_batch_t b;
        memset(&b, 0, sizeof(b));
        int marks[] = {6};
        make_batch(&b, 10, marks, 1, "HUGE");
        rec_t r;
        memset(&r, 0, sizeof(r));
        TH_CHECK(flush(ix, &b, &r) == 0);
        TH_CHECK_INT(r.nwaits, 0);
        /* Every other line written exactly once; the one that is too large
         * even alone is handed back with the 413. */
        for (int i = 0; i < 10; i++) {
                char l[64];
                snprintf(l, sizeof(l), "m,k=%d v=%d %d\n", i, i, i);
                TH_CHECK_INT(written_has(l), i == 6 ? 0 : 1);
        }
        TH_CHECK_INT(r.nrejected, 1);
        TH_CHECK_INT(r.rejected[0], 6);
        TH_CHECK_INT(r.rej_status[0], 413);
        ix_batch_free(&b);
        ix_destroy(ix);
}

static void test_400_finds_rejected_lines(void) {
        server_reset();
        srv.reject = "BAD";
        ix_conf_t c = conf1();
        char e[256];
        ix_t *ix = ix_new(&c, e, sizeof(e));
        ix_batch_t b;
        memset(&b, 0, sizeof(b));
        int marks[] = {3, 40, 41};
        make_batch(&b, 64, marks, 3, "BAD");
        rec_t r;
        memset(&r, 0, sizeof(r));
        TH_CHECK(flush(ix, &b, &r) == 0);
        TH_CHECK_INT(r.nrejected, 3);
        TH_CHECK_INT(r.rejected[0], 3);
        TH_CHECK_INT(r.rejected[1], 40);
        TH_CHECK_INT(r.rejected[2], 41);
        TH_CHECK_INT(r.rej_status[0], 400);
        TH_CHECK_HAS(r.rej_msg, "partial write: field type conflict");
        /* Good lines are all written (some twice: a rewrite of the same point). */
        for (int i = 0; i < 64; i++) {
                char l[64];
                snprintf(l, sizeof(l), "m,k=%d v=%d %d\n", i, i, i);
                if (i != 3 && i != 40 && i != 41)
                        TH_CHECK(written_has(l) >= 1);
        }
        /* Bisection: at most 1 + 2·k·log2(n) requests (37 here), not one per line. */
        TH_CHECK(srv.requests <= 37);
        ix_batch_free(&b);
        ix_destroy(ix);
}

static void test_backoff_bounds(void) {
        ix_conf_t c = conf1(); /* 100 ms .. 1 s */
        TH_CHECK_INT(ix_backoff_ms(&c, 0, 0), 50);
        TH_CHECK_INT(ix_backoff_ms(&c, 0, 50), 100);
        TH_CHECK_INT(ix_backoff_ms(&c, 3, 0), 400);
        TH_CHECK_INT(ix_backoff_ms(&c, 3, 400), 800);
        TH_CHECK_INT(ix_backoff_ms(&c, 30, 0), 500);
        TH_CHECK_INT(ix_backoff_ms(&c, 4000000000u, 500), 1000);
        for (uint32_t x = 0; x < 100000; x += 7) {
                int64_t d = ix_backoff_ms(&c, x % 12, x * 2654435761u);
                TH_CHECK(d >= 50 && d <= 1000);
        }
}

static void clear_env(void) {
        const char *v[] = {"INFLUX_URL",     "INFLUX_VERSION",       "INFLUX_DB",
                           "INFLUX_RP",      "INFLUX_ORG",           "INFLUX_BUCKET",
                           "INFLUX_TOKEN",   "INFLUX_USERNAME",      "INFLUX_PASSWORD",
                           "INFLUX_GZIP",    "INFLUX_TIMEOUT",       "SINK_RETRY_INITIAL",
                           "SINK_RETRY_MAX", "SINK_RETRY_AFTER_MAX", "INFLUX_CONNECT_TIMEOUT"};
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
                unsetenv(v[i]);
}

static void test_conf_env(void) {
        ix_conf_t c;
        char e[512];
        clear_env();
        TH_CHECK(ix_conf_env(&c, "pipe", SPEC_PRECISION_NS, e, sizeof(e)) == 0);
        TH_CHECK(c.url == NULL);
        TH_CHECK_INT(c.version, 1);
        TH_CHECK_STR(c.db, "pipe");
        TH_CHECK_STR(c.precision, "n");
        TH_CHECK_INT(c.gzip, 1);
        setenv("INFLUX_URL", "http://db:8086", 1);
        setenv("INFLUX_ORG", "acme", 1);
        TH_CHECK(ix_conf_env(&c, "pipe", SPEC_PRECISION_NS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "INFLUX_TOKEN");
        setenv("INFLUX_TOKEN", "t0k", 1);
        TH_CHECK(ix_conf_env(&c, "pipe", SPEC_PRECISION_NS, e, sizeof(e)) == 0);
        TH_CHECK_INT(c.version, 2); /* auto: an organisation means 2.x */
        TH_CHECK_STR(c.bucket, "pipe");
        TH_CHECK_STR(c.precision, "ns");
        setenv("INFLUX_VERSION", "3", 1);
        TH_CHECK(ix_conf_env(&c, "pipe", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "INFLUX_VERSION");
        TH_CHECK(strstr(e, "t0k") == NULL);
        unsetenv("INFLUX_VERSION");
        setenv("SINK_RETRY_MAX", "10ms", 1);
        TH_CHECK(ix_conf_env(&c, "pipe", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "SINK_RETRY_MAX");
        unsetenv("SINK_RETRY_MAX");
        setenv("INFLUX_URL", "db:8086", 1);
        TH_CHECK(ix_conf_env(&c, "pipe", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "INFLUX_URL");
        setenv("INFLUX_URL", "https://db", 1);
        setenv("INFLUX_GZIP", "maybe", 1);
        TH_CHECK(ix_conf_env(&c, "pipe", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "INFLUX_GZIP");
        clear_env();
        setenv("INFLUX_PASSWORD", "pw", 1);
        TH_CHECK(ix_conf_env(&c, "pipe", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "INFLUX_USERNAME");
        clear_env();
}

static void test_sink_conf_env(void) {
        sk_conf_t c;
        char e[512];
        unsetenv("SINK_BATCH_POINTS");
        unsetenv("SINK_BATCH_BYTES");
        unsetenv("SINK_FLUSH_INTERVAL");
        TH_CHECK(sk_conf_env(&c, e, sizeof(e)) == 0);
        TH_CHECK_INT(c.batch_points, 5000);
        TH_CHECK_INT(c.batch_bytes, 1 << 20);
        TH_CHECK_INT(c.flush_ms, 1000);
        setenv("SINK_BATCH_BYTES", "64KiB", 1);
        setenv("SINK_FLUSH_INTERVAL", "250ms", 1);
        TH_CHECK(sk_conf_env(&c, e, sizeof(e)) == 0);
        TH_CHECK_INT(c.batch_bytes, 65536);
        TH_CHECK_INT(c.flush_ms, 250);
        setenv("SINK_BATCH_POINTS", "0", 1);
        TH_CHECK(sk_conf_env(&c, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "SINK_BATCH_POINTS");
        unsetenv("SINK_BATCH_POINTS");
        setenv("SINK_FLUSH_INTERVAL", "soon", 1);
        TH_CHECK(sk_conf_env(&c, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "SINK_FLUSH_INTERVAL");
        unsetenv("SINK_BATCH_BYTES");
        unsetenv("SINK_FLUSH_INTERVAL");
}

static void test_teardown(void) {
        if (daemon_)
                MHD_stop_daemon(daemon_);
        daemon_ = NULL;
        buf_free(&srv.written);
        buf_free(&srv.last_body);
        metrics_reset();
}

TH_MAIN("sink_ix", TH_T(test_v2_request), TH_T(test_v1_request), TH_T(test_classification),
        TH_T(test_retries_honour_retry_after), TH_T(test_give_up_on_shutdown),
        TH_T(test_413_splits), TH_T(test_400_finds_rejected_lines), TH_T(test_backoff_bounds),
        TH_T(test_conf_env), TH_T(test_sink_conf_env), TH_T(test_teardown))
