/* sr_http — the Schema Registry client's HTTP layer: one libcurl request
 * with a bounded body, status classes (transport errors are the only ones
 * retried), the registry's JSON error objects turned into errstr, and the
 * retry loop with capped backoff.  See sr.c for the client and sr.h for the API. */
#include "sr_int.h"

#include "clk.h"

/* ---------------------------------------------------------------- helpers */

__attribute__((format(printf, 3, 4))) void sr_err(char *errstr, size_t errstr_size, const char *fmt,
                                                  ...) {
        if (!errstr || errstr_size == 0)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
}

/* Appends to what errstr already holds. */
__attribute__((format(printf, 3, 4))) void sr_err_append(char *errstr, size_t errstr_size,
                                                         const char *fmt, ...) {
        if (!errstr || errstr_size == 0)
                return;
        size_t len = strnlen(errstr, errstr_size);
        if (len + 1 >= errstr_size)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr + len, errstr_size - len, fmt, ap);
        va_end(ap);
}

/* ---------------------------------------------------------------- HTTP */

/* A response body, bounded by SR_MAX_RESPONSE. */
typedef struct {
        buf_t b;
        int too_big;
} sr_buf_t;

static size_t sr_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        sr_buf_t *body = userdata;
        size_t n = size * nmemb;
        if (body->b.len + n + 1 > SR_MAX_RESPONSE) {
                body->too_big = 1;
                return 0; /* makes curl fail with CURLE_WRITE_ERROR */
        }
        return buf_append(&body->b, ptr, n) == 0 ? n : 0;
}

/* errstr for a non-2xx answer: the registry's error_code and message when
 * the body is its JSON error object, else the start of the body. */
static void sr_status_error(const char *method, const char *url, long status, const sr_buf_t *body,
                            char *errstr, size_t errstr_size) {
        cJSON *j = body->b.len ? cJSON_ParseWithLength(body->b.data, body->b.len) : NULL;
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "error_code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        if (cJSON_IsNumber(code) && cJSON_IsString(msg)) {
                sr_err(errstr, errstr_size, "schema registry %s %s: HTTP %ld, error_code %d: %s",
                       method, url, status, code->valueint, msg->valuestring);
        } else if (cJSON_IsString(msg)) {
                sr_err(errstr, errstr_size, "schema registry %s %s: HTTP %ld: %s", method, url,
                       status, msg->valuestring);
        } else if (body->b.len) {
                char snip[SR_BODY_SNIPPET + 1];
                size_t n = body->b.len < SR_BODY_SNIPPET ? body->b.len : SR_BODY_SNIPPET;
                for (size_t i = 0; i < n; i++) {
                        unsigned char c = (unsigned char)body->b.data[i];
                        snip[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
                }
                snip[n] = '\0';
                sr_err(errstr, errstr_size, "schema registry %s %s: HTTP %ld: %s%s", method, url,
                       status, snip, body->b.len > n ? "..." : "");
        } else {
                sr_err(errstr, errstr_size, "schema registry %s %s: HTTP %ld (empty body)", method,
                       url, status);
        }
        cJSON_Delete(j);
}

static int sr_status_class(long status) {
        if (status == 404)
                return SR_ERR_NOT_FOUND;
        if (status == 408 || status == 429 || status >= 500)
                return SR_ERR_TRANSPORT;
        return SR_ERR_REJECTED;
}

/* One HTTP exchange.  On SR_OK *jsonp is the parsed answer (caller
 * cJSON_Delete()s it). */
static int sr_attempt(sr_t *sr, const char *method, const char *url, const char *body,
                      cJSON **jsonp, char *errstr, size_t errstr_size) {
        char cerr[CURL_ERROR_SIZE];
        sr_buf_t buf = {0};
        long status = 0;
        cerr[0] = '\0';

        pthread_mutex_lock(&sr->http_mtx);
        CURL *c = sr->curl;
        /* Reset keeps the connection cache, drops the previous request's options. */
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, sr->connect_timeout_ms);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, sr->request_timeout_ms);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, sr->headers);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "weir-sr/1");
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sr_write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
        if (sr->user) {
                curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(c, CURLOPT_USERNAME, sr->user);
                curl_easy_setopt(c, CURLOPT_PASSWORD, sr->pass);
        }
        if (body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        } else {
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        }
        CURLcode cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        /* The error buffer must not outlive this frame inside the handle. */
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
        pthread_mutex_unlock(&sr->http_mtx);

        atomic_fetch_add_explicit(&sr->http_requests, 1, memory_order_relaxed);
        int rc = SR_OK;
        if (cc != CURLE_OK) {
                if (buf.too_big) {
                        sr_err(errstr, errstr_size,
                               "schema registry %s %s: answer larger than %zu bytes", method, url,
                               SR_MAX_RESPONSE);
                        rc = SR_ERR_PROTOCOL;
                } else {
                        sr_err(errstr, errstr_size, "schema registry %s %s: %s%s%s%s", method, url,
                               curl_easy_strerror(cc), cerr[0] ? " (" : "", cerr,
                               cerr[0] ? ")" : "");
                        rc = SR_ERR_TRANSPORT;
                }
        } else if (status < 200 || status > 299) {
                sr_status_error(method, url, status, &buf, errstr, errstr_size);
                rc = sr_status_class(status);
        } else {
                cJSON *j = buf.b.len ? cJSON_ParseWithLength(buf.b.data, buf.b.len) : NULL;
                if (!j) {
                        sr_err(errstr, errstr_size,
                               "schema registry %s %s: HTTP %ld with a body that is not JSON",
                               method, url, status);
                        rc = SR_ERR_PROTOCOL;
                } else {
                        *jsonp = j;
                }
        }
        if (rc != SR_OK)
                atomic_fetch_add_explicit(&sr->http_errors, 1, memory_order_relaxed);
        buf_free(&buf.b);
        return rc;
}

/* A request with retries of transport errors.  `path` starts with '/'.
 * The full URL (never with credentials) is left in *urlp for the caller's
 * own error messages; caller frees it. */
int sr_request(sr_t *sr, const char *method, const char *path, const char *body, cJSON **jsonp,
               char **urlp, char *errstr, size_t errstr_size) {
        size_t n = strlen(sr->url) + strlen(path) + 1;
        char *url = malloc(n);
        if (!url) {
                sr_err(errstr, errstr_size, "schema registry %s: out of memory", method);
                return SR_ERR_TRANSPORT;
        }
        snprintf(url, n, "%s%s", sr->url, path);
        *jsonp = NULL;
        int rc, attempt = 0;
        long backoff = SR_BACKOFF_MIN_MS;
        for (;;) {
                rc = sr_attempt(sr, method, url, body, jsonp, errstr, errstr_size);
                if (rc != SR_ERR_TRANSPORT || attempt >= sr->retries)
                        break;
                attempt++;
                clk_sleep_ms(backoff);
                backoff = backoff * 2 > SR_BACKOFF_MAX_MS ? SR_BACKOFF_MAX_MS : backoff * 2;
        }
        if (rc == SR_ERR_TRANSPORT && attempt > 0)
                sr_err_append(errstr, errstr_size, " (%d attempts)", attempt + 1);
        if (urlp)
                *urlp = url;
        else
                free(url);
        return rc;
}

/* A 2xx answer that lacks what the API promises. */
int sr_protocol_error(const char *method, char *url, const char *what, char *errstr,
                      size_t errstr_size) {
        sr_err(errstr, errstr_size, "schema registry %s %s: answer %s", method, url, what);
        return SR_ERR_PROTOCOL;
}

/* Checks that a schema object ({"schema": ..., "schemaType"?, "references"?})
 * is an Avro schema Weir can use; returns its text or NULL with errstr. */
const char *sr_avro_schema_of(const cJSON *j, int32_t id, const char *method, const char *url,
                              int *rcp, char *errstr, size_t errstr_size) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "schemaType");
        const cJSON *refs = cJSON_GetObjectItemCaseSensitive(j, "references");
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(j, "schema");
        *rcp = SR_ERR_PROTOCOL;
        if (type && !cJSON_IsNull(type) &&
            !(cJSON_IsString(type) && !strcmp(type->valuestring, "AVRO"))) {
                sr_err(errstr, errstr_size,
                       "schema registry %s %s: schema id %d is of type %s; Weir reads Avro only",
                       method, url, (int)id,
                       cJSON_IsString(type) ? type->valuestring : "(not a string)");
                return NULL;
        }
        if (cJSON_IsArray(refs) && cJSON_GetArraySize(refs) > 0) {
                sr_err(errstr, errstr_size,
                       "schema registry %s %s: schema id %d uses schema references, which Weir "
                       "does not support",
                       method, url, (int)id);
                return NULL;
        }
        if (!cJSON_IsString(schema)) {
                sr_err(errstr, errstr_size,
                       "schema registry %s %s: answer has no \"schema\" string", method, url);
                return NULL;
        }
        *rcp = SR_OK;
        return schema->valuestring;
}
