/* sr_int — what the Schema Registry client's two files share: the client
 * struct, limits and the HTTP layer (sr_http.c) that sr.c's API calls.  Not
 * for use outside sr*.c. */
#ifndef WEIR_SR_INT_H
#define WEIR_SR_INT_H

#include "sr.h"

#include "buf.h"
#include "dict.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A registry answer larger than this is not a schema we want to hold. */
#define SR_MAX_RESPONSE    ((size_t)8 << 20)
#define SR_BACKOFF_MIN_MS  100L
#define SR_BACKOFF_MAX_MS  2000L
#define SR_DEFAULT_CONNECT 5000L
#define SR_DEFAULT_REQUEST 10000L
#define SR_DEFAULT_RETRIES 2
/* How much of a non-JSON error body goes into errstr. */
#define SR_BODY_SNIPPET 200

struct sr_s {
        char *url;  /* base URL, no credentials, no trailing '/' */
        char *user; /* NULL: no authentication */
        char *pass;
        long connect_timeout_ms;
        long request_timeout_ms;
        int retries;

        pthread_mutex_t http_mtx; /* guards curl (and its connection cache) */
        CURL *curl;
        struct curl_slist *headers;

        pthread_mutex_t fetch_mtx; /* one sr_get_schema() miss at a time */

        pthread_rwlock_t cache_lock;
        dict_t cache; /* int32_t id -> schema text: keys and values inside one
                       * sr_cached_t allocation each (sr.c), owned */

        _Atomic uint64_t http_requests;
        _Atomic uint64_t http_errors;
        _Atomic uint64_t cache_hits;
        _Atomic uint64_t cache_misses;
};

/* errstr helpers: set, or append to what errstr holds. */
__attribute__((format(printf, 3, 4))) void sr_err(char *errstr, size_t errstr_size, const char *fmt,
                                                  ...);
__attribute__((format(printf, 3, 4))) void sr_err_append(char *errstr, size_t errstr_size,
                                                         const char *fmt, ...);
/* A request with retries of transport errors.  `path` starts with '/'.
 * The full URL (never with credentials) is left in *urlp for the caller's
 * own error messages; caller frees it.  *jsonp: the parsed 2xx answer, freed
 * by the caller (cJSON_Delete). */
int sr_request(sr_t *sr, const char *method, const char *path, const char *body, cJSON **jsonp,
               char **urlp, char *errstr, size_t errstr_size);
/* A 2xx answer that lacks what the API promises: SR_ERR_PROTOCOL. */
int sr_protocol_error(const char *method, char *url, const char *what, char *errstr,
                      size_t errstr_size);
/* The text of an Avro schema object, or NULL with *rcp and errstr. */
const char *sr_avro_schema_of(const cJSON *j, int32_t id, const char *method, const char *url,
                              int *rcp, char *errstr, size_t errstr_size);

#endif
