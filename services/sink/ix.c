/* ix — one InfluxDB write request: configuration from the environment, the
 * write URL for 1.x or 2.x, gzip, the request through one reused libcurl
 * easy handle, and the classification of the answer (see ix.h).  Batching,
 * retries and splitting are in ix_flush.c. */
#include "ix.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "cfg_tab.h"
#include "clk.h"
#include "log.h"
#include "lp.h"
#include "metrics.h"

#define IX_MAX_RESPONSE (64 * 1024)

struct ix_s {
        ix_conf_t conf;
        char *strs[10];          /* copies of conf's strings */
        char *url;               /* the write URL */
        CURL *curl;              /* one handle for every request: its connection stays open */
        struct curl_slist *hdrs; /* header lines (a token among them) */
        char err[CURL_ERROR_SIZE];
        buf_t resp; /* the answer's body, its first IX_MAX_RESPONSE bytes */
        buf_t gz;   /* the compressed request body */
        z_stream z;
        int z_ready;
        metrics_child_t *duration, *bytes;
};

static pthread_once_t ix_curl_once = PTHREAD_ONCE_INIT;
static CURLcode ix_curl_rc;

static void ix_curl_init(void) {
        ix_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Checks INFLUX_URL with libcurl's own parser, so that what is accepted
 * here is what the requests will use.  No user:password@ (credentials go in
 * INFLUX_USERNAME/INFLUX_PASSWORD or INFLUX_TOKEN, never in a URL that ends
 * up in logs: the URL is then not quoted), no query, no fragment. */
static int ix_url_check(const char *url, char *errstr, size_t errstr_size) {
        CURLU *u = curl_url();
        if (!u) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        int rc = -1;
        char *scheme = NULL, *user = NULL, *pw = NULL, *query = NULL, *frag = NULL;
        CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
        if (uc == CURLUE_OK) {
                curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
                curl_url_get(u, CURLUPART_USER, &user, 0);
                curl_url_get(u, CURLUPART_PASSWORD, &pw, 0);
                curl_url_get(u, CURLUPART_QUERY, &query, 0);
                curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
        }
        if (user || pw)
                snprintf(errstr, errstr_size,
                         "INFLUX_URL: credentials in the URL (use INFLUX_USERNAME and "
                         "INFLUX_PASSWORD, or INFLUX_TOKEN)");
        else if (uc != CURLUE_OK)
                snprintf(errstr, errstr_size, "INFLUX_URL=\"%s\": %s", url, curl_url_strerror(uc));
        else if (!scheme || (strcasecmp(scheme, "http") && strcasecmp(scheme, "https")))
                snprintf(errstr, errstr_size,
                         "INFLUX_URL=\"%s\": expected http://host:port or https://host:port", url);
        else if (query || frag)
                snprintf(errstr, errstr_size,
                         "INFLUX_URL=\"%s\": a query or fragment is not allowed (the sink "
                         "writes the write API's query itself)",
                         url);
        else
                rc = 0;
        curl_free(scheme);
        if (pw)
                memset(pw, 0, strlen(pw));
        curl_free(user);
        curl_free(pw);
        curl_free(query);
        curl_free(frag);
        curl_url_cleanup(u);
        return rc;
}

#define F(m) CFG_FIELD(ix_conf_t, m)
static const char *const ix_versions[] = {"auto", "1", "2", NULL};

static const cfg_def_t ix_conf_rows[] = {
        {.name = "INFLUX_URL",
         .type = CFG_STR,
         F(url),
         .form = "`http://host:8086` or `https://…`",
         .doc = "base URL, optionally with a path prefix (`http://proxy/influx`). A URL with "
                "`user:password@`, a query or a fragment is refused at start-up (use the "
                "variables below; the password is not shown). **Unset: no database writes** (the "
                "feed still runs and offsets are still committed; the demo runs like that)"},
        {.name = "INFLUX_VERSION",
         .type = CFG_ENUM,
         F(version),
         .def = "auto",
         .choices = ix_versions,
         .doc = "`1` (`/write`), `2` (`/api/v2/write`) or `auto`: 2 when `INFLUX_ORG` or "
                "`INFLUX_BUCKET` is set, else 1"},
        {.name = "INFLUX_DB",
         .type = CFG_STR,
         F(db),
         .def_doc = "the pipeline `name`",
         .doc = "1.x database (it must exist: the sink does not create it, and retries with "
                "`not_found` until it does)"},
        {.name = "INFLUX_RP",
         .type = CFG_STR,
         F(rp),
         .def_doc = "the database's default",
         .doc = "1.x retention policy"},
        {.name = "INFLUX_USERNAME",
         .type = CFG_STR,
         F(username),
         .doc = "1.x user, sent with `INFLUX_PASSWORD` as HTTP basic auth"},
        {.name = "INFLUX_PASSWORD",
         .type = CFG_SECRET,
         F(password),
         .doc = "1.x password (never in the URL, never logged); needs `INFLUX_USERNAME`"},
        {.name = "INFLUX_ORG",
         .type = CFG_STR,
         F(org),
         .doc = "2.x organisation (required for 2.x)"},
        {.name = "INFLUX_BUCKET",
         .type = CFG_STR,
         F(bucket),
         .def_doc = "the pipeline `name`",
         .doc = "2.x bucket"},
        {.name = "INFLUX_TOKEN",
         .type = CFG_SECRET,
         F(token),
         .doc = "2.x API token, sent as `Authorization: Token …` (required for 2.x; never "
                "logged)"},
        {.name = "INFLUX_GZIP",
         .type = CFG_BOOL,
         F(gzip),
         .def = "true",
         .doc = "gzip request bodies (`Content-Encoding: gzip`)"},
        {.name = "INFLUX_TIMEOUT",
         .type = CFG_DURATION,
         F(timeout_ms),
         .def = "10s",
         .min = 100,
         .max = 600000,
         .doc = "one write request, connection included"},
        {.name = "INFLUX_CONNECT_TIMEOUT",
         .type = CFG_DURATION,
         F(connect_timeout_ms),
         .def = "5s",
         .min = 100,
         .max = 600000,
         .doc = "TCP (and TLS) connect"},
        {.name = "SINK_RETRY_INITIAL",
         .type = CFG_DURATION,
         F(retry_initial_ms),
         .def = "200ms",
         .min = 1,
         .max = 3600000,
         .doc = "first retry delay"},
        {.name = "SINK_RETRY_MAX",
         .type = CFG_DURATION,
         F(retry_max_ms),
         .def = "30s",
         .min = 1,
         .max = 3600000,
         .doc = "cap of the doubling retry delay (not below `SINK_RETRY_INITIAL`)"},
        {.name = "SINK_RETRY_AFTER_MAX",
         .type = CFG_DURATION,
         F(retry_after_max_ms),
         .def = "5m",
         .min = 0,
         .max = 86400000,
         .doc = "a `Retry-After` longer than this is cut to it"},
};
#undef F

const cfg_tab_t ix_conf_tab = CFG_TAB("influx", ix_conf_rows);

int ix_conf_env(ix_conf_t *c, const char *default_db, spec_precision_t precision, char *errstr,
                size_t errstr_size) {
        memset(c, 0, sizeof(*c));
        if (cfg_tab_load(&ix_conf_tab, NULL, c, errstr, errstr_size) == -1)
                return -1;
        if (!c->db)
                c->db = default_db;
        if (c->retry_max_ms < c->retry_initial_ms) {
                snprintf(errstr, errstr_size,
                         "SINK_RETRY_MAX (%lld ms) is shorter than SINK_RETRY_INITIAL (%lld ms)",
                         (long long)c->retry_max_ms, (long long)c->retry_initial_ms);
                return -1;
        }
        if (c->version == 0) /* auto */
                c->version = c->org || c->bucket ? 2 : 1;
        if (c->url && ix_url_check(c->url, errstr, errstr_size))
                return -1;
        if (c->version == 2) {
                if (!c->bucket)
                        c->bucket = default_db;
                if (c->url && (!c->org || !c->token)) {
                        snprintf(errstr, errstr_size,
                                 "%s: required for InfluxDB 2.x (INFLUX_VERSION=2 or "
                                 "INFLUX_ORG/INFLUX_BUCKET set)",
                                 !c->org ? "INFLUX_ORG" : "INFLUX_TOKEN");
                        return -1;
                }
        }
        if (c->password && !c->username) {
                snprintf(errstr, errstr_size, "INFLUX_PASSWORD is set but INFLUX_USERNAME is not");
                return -1;
        }
        c->precision = lp_precision_param(precision, c->version);
        return 0;
}

/* ---------------------------------------------------------------- setup */

static char *ix_strdup(ix_t *ix, int slot, const char *s) {
        if (!s)
                return NULL;
        ix->strs[slot] = strdup(s);
        return ix->strs[slot];
}

/* Appends `s` percent-encoded (curl_easy_escape).  0 or -1. */
static int ix_escape(ix_t *ix, buf_t *u, const char *s) {
        char *e = curl_easy_escape(ix->curl, s, 0);
        int rc = e ? buf_append(u, e, strlen(e)) : -1;
        curl_free(e);
        return rc;
}

static int ix_build_url(ix_t *ix) {
        const ix_conf_t *c = &ix->conf;
        buf_t u = BUF_INIT;
        const char *base = c->url;
        size_t blen = strlen(base);
        while (blen && base[blen - 1] == '/')
                blen--;
        int rc = buf_append(&u, base, blen);
        const char *names[3], *vals[3];
        int n = 0;
        if (c->version == 2) {
                rc |= buf_append(&u, "/api/v2/write?", 14);
                names[n] = "org", vals[n++] = c->org;
                names[n] = "bucket", vals[n++] = c->bucket;
        } else {
                rc |= buf_append(&u, "/write?", 7);
                names[n] = "db", vals[n++] = c->db;
                if (c->rp)
                        names[n] = "rp", vals[n++] = c->rp;
        }
        for (int i = 0; i < n; i++) {
                rc |= buf_append(&u, names[i], strlen(names[i]));
                rc |= buf_append(&u, "=", 1);
                rc |= ix_escape(ix, &u, vals[i]);
                rc |= buf_append(&u, "&", 1);
        }
        rc |= buf_append(&u, "precision=", 10);
        rc |= buf_append(&u, c->precision, strlen(c->precision));
        if (rc || buf_nul(&u)) {
                buf_free(&u);
                return -1;
        }
        ix->url = u.data;
        return 0;
}

static int ix_header(ix_t *ix, const char *line) {
        struct curl_slist *h = curl_slist_append(ix->hdrs, line);
        if (!h)
                return -1;
        ix->hdrs = h;
        return 0;
}

/* The header lines of every request.  1.x basic auth is libcurl's
 * (CURLOPT_USERNAME). */
static int ix_headers(ix_t *ix) {
        const ix_conf_t *c = &ix->conf;
        /* "Expect:" off: no 100-continue round trip before a large body. */
        int rc = ix_header(ix, "Expect:") ||
                 ix_header(ix, "Content-Type: text/plain; charset=utf-8") ||
                 (c->gzip && ix_header(ix, "Content-Encoding: gzip"));
        if (!rc && c->version == 2 && c->token) {
                buf_t a = BUF_INIT;
                rc = buf_append(&a, "Authorization: Token ", 21) ||
                     buf_append(&a, c->token, strlen(c->token)) || buf_nul(&a) ||
                     ix_header(ix, a.data);
                if (a.data)
                        memset(a.data, 0, a.size);
                buf_free(&a);
        }
        return rc ? -1 : 0;
}

static size_t ix_on_body(char *p, size_t size, size_t n, void *opaque) {
        ix_t *ix = opaque;
        size_t len = size * n;
        size_t room = IX_MAX_RESPONSE - ix->resp.len;
        /* The rest of a huge answer is read and dropped: the connection
         * stays usable.  Out of memory only shortens the message. */
        if (room)
                (void)buf_append(&ix->resp, p, len < room ? len : room);
        return len;
}

/* The options of every request.  Keep-alive is the handle's: libcurl keeps
 * the connection open between requests and opens a new one when the
 * server closed it (a request that finds it closed before any answer is
 * sent again, which for a write only rewrites the same points). */
static int ix_curl_setup(ix_t *ix, char *errstr, size_t errstr_size) {
        pthread_once(&ix_curl_once, ix_curl_init);
        if (ix_curl_rc != CURLE_OK) {
                snprintf(errstr, errstr_size, "curl_global_init: %s",
                         curl_easy_strerror(ix_curl_rc));
                return -1;
        }
        if (!(ix->curl = curl_easy_init())) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        return 0;
}

static int ix_curl_options(ix_t *ix) {
        const ix_conf_t *c = &ix->conf;
        CURL *cu = ix->curl;
        CURLcode rc = CURLE_OK;
#define IX_OPT(o, v)                                                                               \
        do {                                                                                       \
                if (rc == CURLE_OK)                                                                \
                        rc = curl_easy_setopt(cu, o, v);                                           \
        } while (0)
        IX_OPT(CURLOPT_URL, ix->url);
        IX_OPT(CURLOPT_POST, 1L);
        IX_OPT(CURLOPT_HTTPHEADER, ix->hdrs);
        IX_OPT(CURLOPT_NOSIGNAL, 1L);
        IX_OPT(CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
        IX_OPT(CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
        IX_OPT(CURLOPT_ERRORBUFFER, ix->err);
        IX_OPT(CURLOPT_WRITEFUNCTION, ix_on_body);
        IX_OPT(CURLOPT_WRITEDATA, ix);
        /* Idle connections are probed, so one a middlebox dropped is seen. */
        IX_OPT(CURLOPT_TCP_KEEPALIVE, 1L);
        if (c->version == 1 && c->username) {
                IX_OPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                IX_OPT(CURLOPT_USERNAME, c->username);
                IX_OPT(CURLOPT_PASSWORD, c->password ? c->password : "");
        }
#undef IX_OPT
        return rc == CURLE_OK ? 0 : -1;
}

ix_t *ix_new(const ix_conf_t *conf, char *errstr, size_t errstr_size) {
        ix_t *ix = calloc(1, sizeof(*ix));
        if (!ix || !conf->url) {
                snprintf(errstr, errstr_size, ix ? "INFLUX_URL is not set" : "out of memory");
                free(ix);
                return NULL;
        }
        ix->conf = *conf;
        ix_conf_t *c = &ix->conf;
        c->url = ix_strdup(ix, 0, conf->url);
        c->db = ix_strdup(ix, 1, conf->db);
        c->rp = ix_strdup(ix, 2, conf->rp);
        c->org = ix_strdup(ix, 3, conf->org);
        c->bucket = ix_strdup(ix, 4, conf->bucket);
        c->token = ix_strdup(ix, 5, conf->token);
        c->username = ix_strdup(ix, 6, conf->username);
        c->password = ix_strdup(ix, 7, conf->password);
        c->precision = ix_strdup(ix, 8, conf->precision ? conf->precision : "ms");
        if (ix_url_check(conf->url, errstr, errstr_size) || ix_curl_setup(ix, errstr, errstr_size))
                goto fail;
        if (!c->url || !c->precision || ix_build_url(ix) || ix_headers(ix) || ix_curl_options(ix)) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        if (c->gzip) {
                if (deflateInit2(&ix->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                        snprintf(errstr, errstr_size, "zlib: deflateInit2 failed");
                        goto fail;
                }
                ix->z_ready = 1;
        }
        ix->duration =
                metrics_histogram("weir_sink_influx_write_duration_seconds",
                                  "Time of one InfluxDB write request, answered or not.", NULL, 0);
        ix->bytes = metrics_counter("weir_sink_influx_request_bytes_total",
                                    "Bytes of write request bodies sent (after gzip).");
        return ix;
fail:
        ix_destroy(ix);
        return NULL;
}

void ix_destroy(ix_t *ix) {
        if (!ix)
                return;
        if (ix->curl)
                curl_easy_cleanup(ix->curl);
        for (struct curl_slist *h = ix->hdrs; h; h = h->next)
                memset(h->data, 0, strlen(h->data)); /* a token among them */
        curl_slist_free_all(ix->hdrs);
        if (ix->z_ready)
                deflateEnd(&ix->z);
        buf_free(&ix->resp);
        buf_free(&ix->gz);
        free(ix->url);
        for (size_t i = 0; i < sizeof(ix->strs) / sizeof(ix->strs[0]); i++) {
                if (ix->strs[i])
                        memset(ix->strs[i], 0, strlen(ix->strs[i])); /* secrets among them */
                free(ix->strs[i]);
        }
        free(ix);
}

const ix_conf_t *ix_conf(const ix_t *ix) {
        return &ix->conf;
}

const char *ix_write_url(const ix_t *ix) {
        return ix->url;
}

/* ---------------------------------------------------------------- request */

static int ix_gzip(ix_t *ix, const char *body, size_t len) {
        ix->gz.len = 0;
        if (deflateReset(&ix->z) != Z_OK || buf_reserve(&ix->gz, deflateBound(&ix->z, len) + 32))
                return -1;
        ix->z.next_in = (Bytef *)(uintptr_t)body;
        ix->z.avail_in = (uInt)len;
        ix->z.next_out = (Bytef *)ix->gz.data;
        ix->z.avail_out = (uInt)ix->gz.size;
        if (deflate(&ix->z, Z_FINISH) != Z_STREAM_END)
                return -1;
        ix->gz.len = ix->gz.size - ix->z.avail_out;
        return 0;
}

/* InfluxDB's error text: 1.x {"error": ...}, 2.x {"code": ..., "message": ...}. */
static void ix_message(ix_t *ix, ix_result_t *r) {
        const char *body = ix->resp.data ? ix->resp.data : "";
        size_t body_len = ix->resp.len;
        cJSON *j = cJSON_ParseWithLength(body, body_len);
        const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
        if (!cJSON_IsString(m))
                m = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
        if (cJSON_IsString(m))
                snprintf(r->message, sizeof(r->message), "%s", m->valuestring);
        else if (body_len)
                snprintf(r->message, sizeof(r->message), "%.*s", (int)strcspn(body, "\r\n"), body);
        else
                snprintf(r->message, sizeof(r->message), "HTTP %ld", r->status);
        cJSON_Delete(j);
}

ix_class_t ix_send(ix_t *ix, const char *body, size_t len, ix_result_t *r) {
        memset(r, 0, sizeof(*r));
        r->retry_after_ms = -1;
        const char *data = body;
        size_t dlen = len;
        if (ix->z_ready) {
                if (ix_gzip(ix, body, len)) {
                        /* Only out of memory gets here: try again later. */
                        r->cls = IX_RETRY;
                        r->cause = "network";
                        snprintf(r->message, sizeof(r->message), "gzip failed (out of memory)");
                        return r->cls;
                }
                data = ix->gz.data;
                dlen = ix->gz.len;
        }
        ix->resp.len = 0;
        ix->err[0] = 0;
        CURLcode rc = curl_easy_setopt(ix->curl, CURLOPT_POSTFIELDS, data);
        if (rc == CURLE_OK)
                rc = curl_easy_setopt(ix->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)dlen);
        double t0 = clk_mono_s();
        if (rc == CURLE_OK)
                rc = curl_easy_perform(ix->curl);
        metrics_observe(ix->duration, clk_mono_s() - t0);
        if (rc != CURLE_OK || buf_nul(&ix->resp)) {
                r->cls = IX_RETRY;
                r->cause = "network";
                snprintf(r->message, sizeof(r->message), "%s",
                         rc == CURLE_OK ? "out of memory"
                         : ix->err[0]   ? ix->err
                                        : curl_easy_strerror(rc));
                return r->cls;
        }
        metrics_inc(ix->bytes, (double)dlen);
        long status = 0;
        curl_off_t ra = 0;
        curl_easy_getinfo(ix->curl, CURLINFO_RESPONSE_CODE, &status);
        /* Retry-After as seconds or an HTTP-date, made seconds by libcurl;
         * 0 when absent (the same as no wait: ix_flush waits the backoff). */
        if (curl_easy_getinfo(ix->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
                r->retry_after_ms = ra > 86400 ? 86400000 : (int64_t)ra * 1000;
        r->status = status;
        long s = r->status;
        if (s >= 200 && s < 300) {
                r->cls = IX_OK;
                return r->cls;
        }
        ix_message(ix, r);
        if (s == 413) {
                r->cls = IX_TOO_LARGE;
        } else if (s == 400 || s == 422) {
                r->cls = IX_REJECTED;
        } else {
                r->cls = IX_RETRY;
                r->cause = s == 429               ? "429"
                           : s == 503             ? "503"
                           : s >= 500             ? "5xx"
                           : s == 401 || s == 403 ? "auth"
                           : s == 404             ? "not_found"
                                                  : "4xx";
        }
        return r->cls;
}
