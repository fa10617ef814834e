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
#include "clk.h"
#include "log.h"
#include "simenc.h"

#define MAX_ATTEMPTS 10

struct simhttp_s {
        CURL *curl;
        struct curl_slist *headers;
        char *url;
        size_t batch, pending;
        buf_t recs;          /* the pending records' JSON, back to back */
        size_t *rec_off;     /* batch + 1 offsets into recs */
        size_t *todo;        /* records still to send, by index */
        unsigned char *outc; /* simhttp_outcome_t per record of a request */
        buf_t body, resp;
        atomic_int *stop;
        simstats_t st;
        uint64_t errors_logged;
};

static size_t on_body(char *p, size_t size, size_t n, void *opaque) {
        buf_t *b = opaque;
        return buf_append(b, p, size * n) ? 0 : size * n;
}

simhttp_t *simhttp_new(const char *base_url, const char *topic, int batch, atomic_int *stop,
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
        h->rec_off = calloc(h->batch + 1, sizeof(size_t));
        h->todo = calloc(h->batch, sizeof(size_t));
        h->outc = calloc(h->batch, 1);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        h->curl = curl_easy_init();
        h->headers = curl_slist_append(NULL, "Content-Type: application/vnd.kafka.json.v2+json");
        h->headers = curl_slist_append(h->headers,
                                       "Accept: application/vnd.kafka.v2+json, application/json");
        h->headers = curl_slist_append(h->headers, "Expect:"); /* no 100-continue round trip */
        if (!h->curl || !h->headers || !h->rec_off || !h->todo || !h->outc) {
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
        buf_free(&h->recs);
        free(h->rec_off);
        free(h->todo);
        free(h->outc);
        free(h->url);
        free(h);
}

/* Retriable error codes: REST Proxy's per-record 2 and 50003 (retriable
 * Kafka error), and the 429xx/503xx/408xx families (Weir's 42901). */
static int code_retriable(long code) {
        long family = code >= 10000 ? code / 100 : code;
        return code == 2 || code == 50003 || family == 429 || family == 503 || family == 408;
}

static int status_retriable(long status) {
        return status == 0 || status == 408 || status == 429 || status >= 500;
}

void simhttp_classify(long status, const char *body, size_t body_len, size_t n, unsigned char *out,
                      char *errstr, size_t errstr_size) {
        errstr[0] = '\0';
        cJSON *doc = body && body_len ? cJSON_ParseWithLength(body, body_len) : NULL;
        const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(doc, "offsets");
        const cJSON *o = cJSON_IsArray(offsets) ? offsets->child : NULL;
        int ok = status >= 200 && status < 300, rec_err = 0;
        if (!ok) {
                const cJSON *msg = cJSON_GetObjectItemCaseSensitive(doc, "message");
                snprintf(errstr, errstr_size, "HTTP %ld: %.200s", status,
                         cJSON_IsString(msg) ? msg->valuestring
                         : body && !doc      ? body
                                             : "");
        }
        for (size_t i = 0; i < n; i++, o = o ? o->next : NULL) {
                if (!cJSON_IsArray(offsets) || !o) {
                        /* No answer for this record. */
                        out[i] = status_retriable(status) ? SIMHTTP_RETRY
                                 : ok                     ? SIMHTTP_FAILED
                                                          : SIMHTTP_REJECTED;
                        continue;
                }
                const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "error_code");
                const cJSON *off = cJSON_GetObjectItemCaseSensitive(o, "offset");
                if (!code || cJSON_IsNull(code)) {
                        out[i] = ok || cJSON_IsNumber(off)  ? SIMHTTP_ACKED
                                 : status_retriable(status) ? SIMHTTP_RETRY
                                                            : SIMHTTP_FAILED;
                        continue;
                }
                long c = cJSON_IsNumber(code) ? (long)code->valuedouble : -1;
                if (c == 42210)
                        out[i] = SIMHTTP_RETRY_NOW;
                else if (code_retriable(c))
                        out[i] = SIMHTTP_RETRY;
                else if ((c >= 400 && c < 500) || (c >= 40000 && c < 50000))
                        out[i] = SIMHTTP_REJECTED;
                else
                        out[i] = SIMHTTP_FAILED;
                if (out[i] != SIMHTTP_RETRY_NOW && !rec_err) {
                        rec_err = 1;
                        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "error");
                        snprintf(errstr, errstr_size, "record: error_code %ld: %.200s", c,
                                 cJSON_IsString(msg) ? msg->valuestring : "(no message)");
                }
        }
        cJSON_Delete(doc);
}

static void sleep_ms(simhttp_t *h, long ms) {
        while (ms > 0 && !(h->stop && *h->stop)) {
                long step = ms > 100 ? 100 : ms;
                clk_sleep_ms(step);
                ms -= step;
        }
}

/* One request of the records in h->todo[0..ntodo); outcomes in h->outc. */
static void send_round(simhttp_t *h, size_t ntodo, long *status, long *retry_after_ms, char *err,
                       size_t err_size) {
        h->body.len = 0;
        int oom = buf_append(&h->body, "{\"records\":[", 12) != 0;
        for (size_t j = 0; j < ntodo && !oom; j++) {
                size_t r = h->todo[j];
                oom |= (j && buf_append(&h->body, ",", 1)) ||
                       buf_append(&h->body, h->recs.data + h->rec_off[r],
                                  h->rec_off[r + 1] - h->rec_off[r]);
        }
        oom |= buf_append(&h->body, "]}", 2) != 0;
        *status = 0;
        *retry_after_ms = 0;
        if (oom) {
                snprintf(err, err_size, "out of memory");
                memset(h->outc, SIMHTTP_FAILED, ntodo);
                return;
        }
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, h->body.data);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->body.len);
        h->resp.len = 0;
        CURLcode cc = curl_easy_perform(h->curl);
        if (cc == CURLE_OK) {
                curl_off_t ra = 0;
                curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
                curl_easy_getinfo(h->curl, CURLINFO_RETRY_AFTER, &ra);
                *retry_after_ms = (long)ra * 1000;
        }
        simhttp_classify(*status, h->resp.data, h->resp.len, ntodo, h->outc, err, err_size);
        if (cc != CURLE_OK)
                snprintf(err, err_size, "%s: %s", h->url, curl_easy_strerror(cc));
}

void simhttp_flush(simhttp_t *h) {
        size_t ntodo = h->pending;
        for (size_t i = 0; i < ntodo; i++)
                h->todo[i] = i;
        long backoff = 100;
        char err[512] = "";
        for (int round = 0; ntodo > 0 && round < MAX_ATTEMPTS; round++) {
                long status, retry_after_ms;
                send_round(h, ntodo, &status, &retry_after_ms, err, sizeof(err));
                size_t keep = 0;
                int wait = 0;
                for (size_t j = 0; j < ntodo; j++) {
                        switch (h->outc[j]) {
                        case SIMHTTP_ACKED:
                                h->st.acked++;
                                break;
                        case SIMHTTP_REJECTED:
                                h->st.rejected++;
                                break;
                        case SIMHTTP_FAILED:
                                h->st.failed++;
                                break;
                        case SIMHTTP_RETRY:
                                wait = 1;
                                h->todo[keep++] = h->todo[j];
                                break;
                        default: /* SIMHTTP_RETRY_NOW */
                                h->todo[keep++] = h->todo[j];
                                break;
                        }
                }
                if (err[0] && h->errors_logged++ < 5)
                        log_warn("http", "%s%s", err,
                                 h->errors_logged == 5 ? " (further errors not logged)" : "");
                ntodo = keep;
                if (ntodo && wait) {
                        if (h->stop && *h->stop && round > 0)
                                break;
                        long ms = retry_after_ms > 0 ? retry_after_ms : backoff;
                        log_debug("http", "%zu records to send again in %ld ms", ntodo, ms);
                        sleep_ms(h, ms);
                        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
                }
        }
        if (ntodo) {
                h->st.failed += ntodo;
                log_error("http", "gave up on %zu records after %d requests: %s", ntodo,
                          MAX_ATTEMPTS, err[0] ? err : "server busy");
        }
        h->pending = 0;
        h->recs.len = 0;
}

int simhttp_add(simhttp_t *h, const tgen_reading_t *r) {
        size_t mark = h->recs.len;
        if (simenc_json(r, &h->recs)) {
                h->recs.len = mark;
                return -1;
        }
        h->rec_off[h->pending] = mark;
        h->rec_off[++h->pending] = h->recs.len;
        h->st.sent++;
        if (h->pending >= h->batch)
                simhttp_flush(h);
        return 0;
}

size_t simhttp_pending(const simhttp_t *h) {
        return h->pending;
}

void simhttp_stats(const simhttp_t *h, simstats_t *out) {
        *out = h->st;
}
