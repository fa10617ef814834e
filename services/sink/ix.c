/* ix — one InfluxDB write request: configuration from the environment, the
 * write URL for 1.x or 2.x, gzip, and the classification of the answer
 * (see ix.h).  The request goes out through the built-in HTTP client (hc.c)
 * for http:// and libcurl (ixc.c) for https://, so libcurl is loaded only
 * for https.  Batching, retries and splitting are in ix_flush.c. */
#include "ix.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "cfg.h"
#include "hc.h"
#include "ixc.h"
#include "log.h"
#include "lp.h"
#include "metrics.h"

#define IX_MAX_RESPONSE (64 * 1024)

struct ix_s {
        ix_conf_t conf;
        char *strs[10];     /* copies of conf's strings */
        char *url;          /* the write URL */
        const char *target; /* its path and query, in url (hc) */
        hc_t *hc;           /* http:// */
        ixc_t *ixc;         /* https:// */
        buf_t hdrs;         /* header lines, "Name: value\r\n" each (secrets among them) */
        buf_t gz;
        z_stream z;
        int z_ready;
        metrics_child_t *duration, *bytes;
};

int ix_conf_env(ix_conf_t *c, const char *default_db, spec_precision_t precision, char *errstr,
                size_t errstr_size) {
        static const char *const versions[] = {"auto", "1", "2", NULL};
        static const char *const clients[] = {"builtin", "libcurl", NULL};
        int v = 0;
        memset(c, 0, sizeof(*c));
        if (cfg_str("INFLUX_URL", NULL, &c->url, errstr, errstr_size) ||
            cfg_enum("INFLUX_VERSION", "auto", versions, &v, errstr, errstr_size) ||
            cfg_str("INFLUX_DB", default_db, &c->db, errstr, errstr_size) ||
            cfg_str("INFLUX_RP", NULL, &c->rp, errstr, errstr_size) ||
            cfg_str("INFLUX_ORG", NULL, &c->org, errstr, errstr_size) ||
            cfg_str("INFLUX_BUCKET", NULL, &c->bucket, errstr, errstr_size) ||
            cfg_secret("INFLUX_TOKEN", &c->token, errstr, errstr_size) ||
            cfg_str("INFLUX_USERNAME", NULL, &c->username, errstr, errstr_size) ||
            cfg_secret("INFLUX_PASSWORD", &c->password, errstr, errstr_size) ||
            cfg_bool("INFLUX_GZIP", 1, &c->gzip, errstr, errstr_size) ||
            cfg_enum("INFLUX_HTTP_CLIENT", "builtin", clients, &c->libcurl, errstr, errstr_size) ||
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
        hc_url_t u;
        char e[256];
        if (c->url && !strncmp(c->url, "http://", 7) && hc_url_parse(c->url, &u, e, sizeof(e))) {
                snprintf(errstr, errstr_size, "INFLUX_URL: %s", e);
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
                rc |= hc_escape(&u, vals[i]);
                rc |= buf_append(&u, "&", 1);
        }
        rc |= buf_append(&u, "precision=", 10);
        rc |= buf_append(&u, c->precision, strlen(c->precision));
        if (rc || buf_nul(&u)) {
                buf_free(&u);
                return -1;
        }
        ix->url = u.data;
        /* the path starts at the first '/' after "scheme://" */
        ix->target = strchr(strstr(ix->url, "://") + 3, '/');
        return 0;
}

#define IX_HDR(s) buf_append(&ix->hdrs, s, strlen(s))

/* The header lines of every request.  1.x basic auth: written here for
 * the built-in client, by libcurl (CURLOPT_USERNAME) when `curl`. */
static int ix_headers(ix_t *ix, int curl) {
        const ix_conf_t *c = &ix->conf;
        int rc = IX_HDR("Content-Type: text/plain; charset=utf-8\r\n");
        if (c->gzip)
                rc |= IX_HDR("Content-Encoding: gzip\r\n");
        if (c->version == 2 && c->token) {
                rc |= IX_HDR("Authorization: Token ");
                rc |= IX_HDR(c->token);
                rc |= IX_HDR("\r\n");
        } else if (c->version == 1 && c->username && !curl) {
                buf_t up = BUF_INIT;
                const char *pw = c->password ? c->password : "";
                rc |= buf_append(&up, c->username, strlen(c->username));
                rc |= buf_append(&up, ":", 1);
                rc |= buf_append(&up, pw, strlen(pw));
                rc |= IX_HDR("Authorization: Basic ");
                rc |= up.data ? hc_base64(&ix->hdrs, up.data, up.len) : -1;
                rc |= IX_HDR("\r\n");
                if (up.data)
                        memset(up.data, 0, up.size);
                buf_free(&up);
        }
        return rc || buf_nul(&ix->hdrs) ? -1 : 0;
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
        /* libcurl for https://, or for any URL when the operator asks. */
        int curl = !strncasecmp(conf->url, "https://", 8) || conf->libcurl;
        if (!c->url || !c->precision || ix_build_url(ix) || ix_headers(ix, curl)) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        char e[256];
        if (curl)
                ix->ixc = ixc_new(ix->url, ix->hdrs.data, c->version == 1 ? c->username : NULL,
                                  c->password, c->timeout_ms, c->connect_timeout_ms,
                                  IX_MAX_RESPONSE, e, sizeof(e));
        else
                ix->hc = hc_new(c->url, c->connect_timeout_ms, c->timeout_ms, IX_MAX_RESPONSE, e,
                                sizeof(e));
        if (!ix->ixc && !ix->hc) {
                snprintf(errstr, errstr_size, "INFLUX_URL: %s", e);
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
        hc_destroy(ix->hc);
        ixc_destroy(ix->ixc);
        if (ix->z_ready)
                deflateEnd(&ix->z);
        if (ix->hdrs.data)
                memset(ix->hdrs.data, 0, ix->hdrs.size);
        buf_free(&ix->hdrs);
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
static void ix_message(const hc_resp_t *resp, ix_result_t *r) {
        const char *body = resp->body;
        cJSON *j = cJSON_ParseWithLength(body, resp->body_len);
        const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
        if (!cJSON_IsString(m))
                m = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
        if (cJSON_IsString(m))
                snprintf(r->message, sizeof(r->message), "%s", m->valuestring);
        else if (resp->body_len)
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
        hc_resp_t resp;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = ix->hc ? hc_post(ix->hc, ix->target, ix->hdrs.data, data, dlen, &resp, r->message,
                                  sizeof(r->message))
                        : ixc_post(ix->ixc, data, dlen, &resp, r->message, sizeof(r->message));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        metrics_observe(ix->duration,
                        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        if (rc) {
                r->cls = IX_RETRY;
                r->cause = "network";
                return r->cls;
        }
        metrics_inc(ix->bytes, (double)dlen);
        r->status = resp.status;
        r->retry_after_ms = resp.retry_after_ms;
        long s = r->status;
        if (s >= 200 && s < 300) {
                r->cls = IX_OK;
                return r->cls;
        }
        ix_message(&resp, r);
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
