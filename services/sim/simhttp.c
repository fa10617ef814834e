/* simhttp — REST Proxy v2 produce requests to ingress over libcurl (see
 * simhttp.h). */
#include "simhttp.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "simenc.h"

#define MAX_ATTEMPTS 10

struct simhttp_s {
        CURL *curl;
        struct curl_slist *headers;
        char *url;
        size_t batch, pending;
        buf_t body, resp;
        const volatile int *stop;
        simstats_t st;
        uint64_t errors_logged;
};

static size_t on_body(char *p, size_t size, size_t n, void *opaque) {
        buf_t *b = opaque;
        return buf_append(b, p, size * n) ? 0 : size * n;
}

simhttp_t *simhttp_new(const char *base_url, const char *topic, int batch, const volatile int *stop,
                       char *errstr, size_t errstr_size) {
        if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0) {
                snprintf(errstr, errstr_size,
                         "--ingress=\"%s\": expected an http:// or https:// URL", base_url);
                return NULL;
        }
        simhttp_t *h = calloc(1, sizeof(*h));
        size_t ulen = strlen(base_url) + strlen(topic) + 16;
        if (!h || !(h->url = malloc(ulen))) {
                free(h);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        size_t blen = strlen(base_url);
        while (blen > 0 && base_url[blen - 1] == '/')
                blen--;
        /* Topic names are [a-zA-Z0-9._-]: nothing to escape in the path. */
        snprintf(h->url, ulen, "%.*s/topics/%s", (int)blen, base_url, topic);
        h->batch = (size_t)(batch > 0 ? batch : 1);
        h->stop = stop;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        h->curl = curl_easy_init();
        h->headers = curl_slist_append(NULL, "Content-Type: application/vnd.kafka.json.v2+json");
        h->headers = curl_slist_append(h->headers,
                                       "Accept: application/vnd.kafka.v2+json, application/json");
        h->headers = curl_slist_append(h->headers, "Expect:"); /* no 100-continue round trip */
        if (!h->curl || !h->headers) {
                simhttp_destroy(h);
                snprintf(errstr, errstr_size, "libcurl initialisation failed");
                return NULL;
        }
        curl_easy_setopt(h->curl, CURLOPT_URL, h->url);
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
        curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &h->resp);
        curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, 60000L);
        curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "weir-sim");
        return h;
}

void simhttp_destroy(simhttp_t *h) {
        if (!h)
                return;
        if (h->curl)
                curl_easy_cleanup(h->curl);
        curl_slist_free_all(h->headers);
        buf_free(&h->body);
        buf_free(&h->resp);
        free(h->url);
        free(h);
}

int simhttp_account(long status, const char *body, size_t body_len, size_t n, simstats_t *out,
                    char *errstr, size_t errstr_size) {
        errstr[0] = '\0';
        if (status == 429 || status == 503 || status == 408)
                return 1;
        if (status >= 500 || status == 0) {
                snprintf(errstr, errstr_size, "HTTP %ld: %.*s", status,
                         (int)(body_len > 200 ? 200 : body_len), body ? body : "");
                return 1;
        }
        if (status < 200 || status >= 300) {
                out->rejected += n;
                snprintf(errstr, errstr_size, "HTTP %ld: %.*s", status,
                         (int)(body_len > 300 ? 300 : body_len), body ? body : "");
                return 0;
        }
        cJSON *doc = body ? cJSON_ParseWithLength(body, body_len) : NULL;
        const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(doc, "offsets");
        size_t i = 0;
        if (cJSON_IsArray(offsets)) {
                const cJSON *o;
                cJSON_ArrayForEach(o, offsets) {
                        if (i >= n)
                                break;
                        const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "error_code");
                        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "error");
                        if (!code || cJSON_IsNull(code)) {
                                out->acked++;
                        } else {
                                /* REST Proxy: 2 = retriable Kafka error (not written),
                                 * 1 and the rest: the record was refused. */
                                if (cJSON_IsNumber(code) && code->valuedouble == 2)
                                        out->failed++;
                                else
                                        out->rejected++;
                                if (!errstr[0])
                                        snprintf(errstr, errstr_size, "record %zu: %s", i,
                                                 cJSON_IsString(msg) ? msg->valuestring
                                                                     : "(no message)");
                        }
                        i++;
                }
        } else {
                snprintf(errstr, errstr_size, "HTTP %ld without an offsets array", status);
        }
        if (i < n) { /* answers missing: not acknowledged */
                out->failed += n - i;
                if (!errstr[0])
                        snprintf(errstr, errstr_size, "%zu offsets for %zu records", i, n);
        }
        cJSON_Delete(doc);
        return 0;
}

static void sleep_ms(simhttp_t *h, long ms) {
        while (ms > 0 && !(h->stop && *h->stop)) {
                long step = ms > 100 ? 100 : ms;
                struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                ms -= step;
        }
}

void simhttp_flush(simhttp_t *h) {
        if (!h->pending)
                return;
        if (buf_append(&h->body, "]}", 2)) {
                h->st.failed += h->pending;
                h->pending = 0;
                h->body.len = 0;
                return;
        }
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, h->body.data);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->body.len);
        long backoff = 100;
        char err[512] = "";
        int done = 0;
        for (int attempt = 0; attempt < MAX_ATTEMPTS && !done; attempt++) {
                h->resp.len = 0;
                CURLcode cc = curl_easy_perform(h->curl);
                long status = 0;
                curl_off_t retry_after = 0;
                if (cc == CURLE_OK) {
                        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
                        curl_easy_getinfo(h->curl, CURLINFO_RETRY_AFTER, &retry_after);
                } else {
                        snprintf(err, sizeof(err), "%s: %s", h->url, curl_easy_strerror(cc));
                }
                if (cc == CURLE_OK && !simhttp_account(status, h->resp.data, h->resp.len,
                                                       h->pending, &h->st, err, sizeof(err))) {
                        done = 1;
                        break;
                }
                if (h->stop && *h->stop && attempt > 0)
                        break;
                long wait = retry_after > 0 ? (long)retry_after * 1000 : backoff;
                log_debug("http", "retrying after %ld ms: %s", wait, err[0] ? err : "busy");
                sleep_ms(h, wait);
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        if (!done) {
                h->st.failed += h->pending;
                log_error("http", "gave up on %zu records after %d attempts: %s", h->pending,
                          MAX_ATTEMPTS, err[0] ? err : "server busy");
        } else if (err[0] && h->errors_logged++ < 5) {
                log_warn("http", "%s", err);
        }
        h->pending = 0;
        h->body.len = 0;
}

int simhttp_add(simhttp_t *h, const tgen_reading_t *r) {
        size_t mark = h->body.len;
        if (h->pending == 0 ? buf_append(&h->body, "{\"records\":[", 12)
                            : buf_append(&h->body, ",", 1)) {
                return -1;
        }
        if (simenc_json(r, &h->body)) {
                h->body.len = mark;
                return -1;
        }
        h->st.sent++;
        if (++h->pending >= h->batch)
                simhttp_flush(h);
        return 0;
}

void simhttp_stats(const simhttp_t *h, simstats_t *out) {
        *out = h->st;
}
