/* ixc — one libcurl easy handle per writer, for https:// (see ixc.h).  The
 * options are those the writer always used: no 100-continue round trip, no
 * signals, both timeouts, the body kept up to max_body and the rest read
 * and dropped. */
#include "ixc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

struct ixc_s {
        CURL *curl;
        struct curl_slist *headers;
        char err[CURL_ERROR_SIZE];
        size_t max_body;
        buf_t resp;
        uint64_t resp_total;
        int64_t retry_after_ms;
};

static pthread_once_t ixc_once = PTHREAD_ONCE_INIT;
static CURLcode ixc_rc;

static void ixc_global_init(void) {
        ixc_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t ixc_on_body(char *p, size_t size, size_t n, void *opaque) {
        ixc_t *x = opaque;
        size_t len = size * n;
        x->resp_total += len;
        if (x->resp.len + len <= x->max_body)
                buf_append(&x->resp, p, len);
        return len; /* the rest of a huge answer is read and dropped */
}

static size_t ixc_on_header(char *p, size_t size, size_t n, void *opaque) {
        ixc_t *x = opaque;
        size_t len = size * n;
        static const char name[] = "retry-after:";
        if (len > sizeof(name) && len < 256 && !strncasecmp(p, name, sizeof(name) - 1)) {
                char v[256];
                memcpy(v, p + sizeof(name) - 1, len - (sizeof(name) - 1));
                v[len - (sizeof(name) - 1)] = 0;
                v[strcspn(v, "\r\n")] = 0;
                x->retry_after_ms = hc_retry_after_ms(v, time(NULL));
        }
        return len;
}

ixc_t *ixc_new(const char *url, const char *headers, const char *username, const char *password,
               int64_t timeout_ms, int64_t connect_timeout_ms, size_t max_body, char *errstr,
               size_t errstr_size) {
        pthread_once(&ixc_once, ixc_global_init);
        if (ixc_rc != CURLE_OK) {
                snprintf(errstr, errstr_size, "curl_global_init: %s", curl_easy_strerror(ixc_rc));
                return NULL;
        }
        ixc_t *x = calloc(1, sizeof(*x));
        if (!x || !(x->curl = curl_easy_init())) {
                snprintf(errstr, errstr_size, "out of memory");
                free(x);
                return NULL;
        }
        x->max_body = max_body;
        struct curl_slist *h = curl_slist_append(NULL, "Expect:"); /* no 100-continue */
        size_t clen = strlen(headers);
        char *copy = strdup(headers);
        for (char *line = copy, *end; h && line && *line; line = end + 2) {
                if (!(end = strstr(line, "\r\n")))
                        break;
                *end = 0;
                struct curl_slist *h2 = curl_slist_append(h, line);
                if (!h2)
                        curl_slist_free_all(h);
                h = h2;
        }
        if (copy) {
                memset(copy, 0, clen); /* a token among them */
                free(copy);
        }
        if (!h || !copy) {
                curl_slist_free_all(h);
                x->headers = NULL;
                snprintf(errstr, errstr_size, "out of memory");
                ixc_destroy(x);
                return NULL;
        }
        x->headers = h;
        CURL *cu = x->curl;
        curl_easy_setopt(cu, CURLOPT_URL, url);
        curl_easy_setopt(cu, CURLOPT_POST, 1L);
        curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout_ms);
        curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, x->err);
        curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, ixc_on_body);
        curl_easy_setopt(cu, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, ixc_on_header);
        curl_easy_setopt(cu, CURLOPT_HEADERDATA, x);
        if (username) {
                curl_easy_setopt(cu, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(cu, CURLOPT_USERNAME, username);
                curl_easy_setopt(cu, CURLOPT_PASSWORD, password ? password : "");
        }
        return x;
}

void ixc_destroy(ixc_t *x) {
        if (!x)
                return;
        if (x->curl)
                curl_easy_cleanup(x->curl);
        if (x->headers) {
                for (struct curl_slist *h = x->headers; h; h = h->next)
                        memset(h->data, 0, strlen(h->data)); /* a token among them */
                curl_slist_free_all(x->headers);
        }
        buf_free(&x->resp);
        free(x);
}

int ixc_post(ixc_t *x, const void *body, size_t len, hc_resp_t *resp, char *errstr,
             size_t errstr_size) {
        memset(resp, 0, sizeof(*resp));
        x->resp.len = 0;
        x->resp_total = 0;
        x->retry_after_ms = -1;
        x->err[0] = 0;
        curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        CURLcode rc = curl_easy_perform(x->curl);
        if (rc != CURLE_OK) {
                snprintf(errstr, errstr_size, "%s", x->err[0] ? x->err : curl_easy_strerror(rc));
                return -1;
        }
        long status = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
        if (buf_nul(&x->resp)) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        resp->status = (int)status;
        resp->retry_after_ms = x->retry_after_ms;
        resp->body = x->resp.data ? x->resp.data : "";
        resp->body_len = x->resp.len;
        resp->body_total = x->resp_total;
        return 0;
}
