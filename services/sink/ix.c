/* ix — one InfluxDB write request: configuration from the environment, the
 * write URL for 1.x or 2.x, gzip, and the classification of the answer
 * (see ix.h).  Batching, retries and splitting are in ix_flush.c. */
#include "ix.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "cfg.h"
#include "log.h"
#include "lp.h"
#include "metrics.h"

#define IX_LOG          "influx"
#define IX_MAX_RESPONSE (64 * 1024)

struct ix_s {
        ix_conf_t conf;
        char *strs[10]; /* copies of conf's strings */
        char *url;      /* the write URL */
        CURL *curl;
        struct curl_slist *headers;
        char curl_err[CURL_ERROR_SIZE];
        buf_t gz, resp;
        z_stream z;
        int z_ready;
        int64_t retry_after_ms;
        metrics_child_t *duration, *bytes;
};

int ix_conf_env(ix_conf_t *c, const char *default_db, spec_precision_t precision, char *errstr,
                size_t errstr_size) {
        static const char *const versions[] = {"auto", "1", "2", NULL};
        int v = 0;
        memset(c, 0, sizeof(*c));
        if (cfg_str("INFLUX_URL", NULL, &c->url, errstr, errstr_size) ||
            cfg_enum("INFLUX_VERSION", "auto", versions, &v, errstr, errstr_size) ||
            cfg_str("INFLUX_DB", default_db, &c->db, errstr, errstr_size) ||
            cfg_str("INFLUX_RP", NULL, &c->rp, errstr, errstr_size) ||
            cfg_str("INFLUX_ORG", NULL, &c->org, errstr, errstr_size) ||
            cfg_str("INFLUX_BUCKET", NULL, &c->bucket, errstr, errstr_size) ||
            cfg_str("INFLUX_TOKEN", NULL, &c->token, errstr, errstr_size) ||
            cfg_str("INFLUX_USERNAME", NULL, &c->username, errstr, errstr_size) ||
            cfg_str("INFLUX_PASSWORD", NULL, &c->password, errstr, errstr_size) ||
            cfg_bool("INFLUX_GZIP", 1, &c->gzip, errstr, errstr_size) ||
            cfg_duration_ms("INFLUX_TIMEOUT", 10000, 100, 600000, &c->timeout_ms, errstr,
                            errstr_size) ||
            cfg_duration_ms("INFLUX_CONNECT_TIMEOUT", 5000, 100, 600000, &c->connect_timeout_ms,
                            errstr, errstr_size) ||
            cfg_duration_ms("SINK_RETRY_INITIAL", 200, 1, 3600000, &c->retry_initial_ms, errstr,
                            errstr_size) ||
            cfg_duration_ms("SINK_RETRY_MAX", 30000, 1, 3600000, &c->retry_max_ms, errstr,
                            errstr_size) ||
            cfg_duration_ms("SINK_RETRY_AFTER_MAX", 300000, 0, 86400000, &c->retry_after_max_ms,
                            errstr, errstr_size))
                return -1;
        if (c->retry_max_ms < c->retry_initial_ms) {
                snprintf(errstr, errstr_size,
                         "SINK_RETRY_MAX (%lld ms) is shorter than SINK_RETRY_INITIAL (%lld ms)",
                         (long long)c->retry_max_ms, (long long)c->retry_initial_ms);
                return -1;
        }
        c->version = v == 0 ? (c->org || c->bucket ? 2 : 1) : v;
        if (c->url && strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8)) {
                snprintf(errstr, errstr_size,
                         "INFLUX_URL=\"%s\": expected http://host:port or https://host:port",
                         c->url);
                return -1;
        }
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

static pthread_once_t ix_curl_once = PTHREAD_ONCE_INIT;
static CURLcode ix_curl_rc;

static void ix_curl_init(void) {
        ix_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t ix_on_body(char *p, size_t size, size_t n, void *opaque) {
        ix_t *ix = opaque;
        size_t len = size * n;
        if (ix->resp.len + len <= IX_MAX_RESPONSE)
                buf_append(&ix->resp, p, len);
        return len; /* the rest of a huge answer is read and dropped */
}

static int64_t ix_parse_retry_after(const char *v) {
        while (*v == ' ')
                v++;
        if (isdigit((unsigned char)*v)) {
                long long s = strtoll(v, NULL, 10);
                return s < 0 ? -1 : (s > 86400 ? 86400 : s) * 1000;
        }
        time_t t = curl_getdate(v, NULL); /* an HTTP-date */
        if (t < 0)
                return -1;
        time_t now = time(NULL);
        return t > now ? (int64_t)(t - now) * 1000 : 0;
}

static size_t ix_on_header(char *p, size_t size, size_t n, void *opaque) {
        ix_t *ix = opaque;
        size_t len = size * n;
        static const char name[] = "retry-after:";
        if (len > sizeof(name) && len < 256 && !strncasecmp(p, name, sizeof(name) - 1)) {
                char v[256];
                memcpy(v, p + sizeof(name) - 1, len - (sizeof(name) - 1));
                v[len - (sizeof(name) - 1)] = 0;
                v[strcspn(v, "\r\n")] = 0;
                ix->retry_after_ms = ix_parse_retry_after(v);
        }
        return len;
}

static char *ix_strdup(ix_t *ix, int slot, const char *s) {
        if (!s)
                return NULL;
        ix->strs[slot] = strdup(s);
        return ix->strs[slot];
}

static int ix_build_url(ix_t *ix) {
        const ix_conf_t *c = &ix->conf;
        buf_t u = BUF_INIT;
        const char *base = c->url;
        size_t blen = strlen(base);
        while (blen && base[blen - 1] == '/')
                blen--;
        buf_append(&u, base, blen);
        const char *names[3], *vals[3];
        int n = 0;
        if (c->version == 2) {
                buf_append(&u, "/api/v2/write?", 14);
                names[n] = "org", vals[n++] = c->org;
                names[n] = "bucket", vals[n++] = c->bucket;
        } else {
                buf_append(&u, "/write?", 7);
                names[n] = "db", vals[n++] = c->db;
                if (c->rp)
                        names[n] = "rp", vals[n++] = c->rp;
        }
        for (int i = 0; i < n; i++) {
                char *e = curl_easy_escape(ix->curl, vals[i], 0);
                if (!e)
                        break;
                buf_append(&u, names[i], strlen(names[i]));
                buf_append(&u, "=", 1);
                buf_append(&u, e, strlen(e));
                buf_append(&u, "&", 1);
                curl_free(e);
        }
        buf_append(&u, "precision=", 10);
        buf_append(&u, c->precision, strlen(c->precision));
        if (buf_nul(&u)) {
                buf_free(&u);
                return -1;
        }
        ix->url = u.data;
        return 0;
}

ix_t *ix_new(const ix_conf_t *conf, char *errstr, size_t errstr_size) {
        pthread_once(&ix_curl_once, ix_curl_init);
        if (ix_curl_rc != CURLE_OK) {
                snprintf(errstr, errstr_size, "curl_global_init: %s",
                         curl_easy_strerror(ix_curl_rc));
                return NULL;
        }
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
        if (!(ix->curl = curl_easy_init()) || ix_build_url(ix)) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        struct curl_slist *h = NULL;
        h = curl_slist_append(h, "Content-Type: text/plain; charset=utf-8");
        h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
        if (c->gzip)
                h = curl_slist_append(h, "Content-Encoding: gzip");
        if (c->version == 2 && c->token) {
                size_t n = strlen(c->token) + 32;
                char *a = malloc(n);
                if (a) {
                        snprintf(a, n, "Authorization: Token %s", c->token);
                        h = curl_slist_append(h, a);
                        memset(a, 0, n);
                        free(a);
                }
        }
        ix->headers = h;
        CURL *cu = ix->curl;
        curl_easy_setopt(cu, CURLOPT_URL, ix->url);
        curl_easy_setopt(cu, CURLOPT_POST, 1L);
        curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
        curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
        curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, ix->curl_err);
        curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, ix_on_body);
        curl_easy_setopt(cu, CURLOPT_WRITEDATA, ix);
        curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, ix_on_header);
        curl_easy_setopt(cu, CURLOPT_HEADERDATA, ix);
        if (c->version == 1 && c->username) {
                curl_easy_setopt(cu, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(cu, CURLOPT_USERNAME, c->username);
                curl_easy_setopt(cu, CURLOPT_PASSWORD, c->password ? c->password : "");
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
        curl_slist_free_all(ix->headers);
        if (ix->z_ready)
                deflateEnd(&ix->z);
        buf_free(&ix->gz);
        buf_free(&ix->resp);
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
        buf_nul(&ix->resp);
        const char *body = ix->resp.data ? ix->resp.data : "";
        cJSON *j = cJSON_ParseWithLength(body, ix->resp.len);
        const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
        if (!cJSON_IsString(m))
                m = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
        if (cJSON_IsString(m))
                snprintf(r->message, sizeof(r->message), "%s", m->valuestring);
        else if (ix->resp.len)
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
        ix->retry_after_ms = -1;
        ix->curl_err[0] = 0;
        curl_easy_setopt(ix->curl, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(ix->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)dlen);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CURLcode rc = curl_easy_perform(ix->curl);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        metrics_observe(ix->duration,
                        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        if (rc != CURLE_OK) {
                r->cls = IX_RETRY;
                r->cause = "network";
                snprintf(r->message, sizeof(r->message), "%s",
                         ix->curl_err[0] ? ix->curl_err : curl_easy_strerror(rc));
                return r->cls;
        }
        metrics_inc(ix->bytes, (double)dlen);
        curl_easy_getinfo(ix->curl, CURLINFO_RESPONSE_CODE, &r->status);
        r->retry_after_ms = ix->retry_after_ms;
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
