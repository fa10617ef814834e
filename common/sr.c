/* sr — Confluent Schema Registry client over libcurl.  See sr.h.
 *
 * Layout: one CURL easy handle per client, guarded by http_mtx, so
 * keep-alive connections are reused and no handle is shared between threads
 * at the same time; the id→schema cache is a dict (dict.h) under a
 * read/write lock, so decoder threads hitting the cache never wait
 * for each other or for the network; fetch_mtx makes concurrent misses
 * single-flight (the second thread finds the schema the first one fetched). */
#include "sr_int.h"

static pthread_once_t sr_curl_once = PTHREAD_ONCE_INIT;
static CURLcode sr_curl_rc;

static void sr_curl_init(void) {
        sr_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Percent-encodes everything but RFC 3986 unreserved characters, so any
 * subject name is one path segment.  Caller frees. */
static char *sr_escape(const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);
        char *out = malloc(n * 3 + 1), *p = out;
        if (!out)
                return NULL;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~') {
                        *p++ = (char)c;
                } else {
                        *p++ = '%';
                        *p++ = hex[c >> 4];
                        *p++ = hex[c & 15];
                }
        }
        *p = '\0';
        return out;
}

/* Reads an integer member that fits int32_t.  Returns 0 or -1. */
static int sr_json_int32(const cJSON *obj, const char *name, int32_t *out) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
        if (!cJSON_IsNumber(v))
                return -1;
        double d = v->valuedouble;
        if (!(d >= (double)INT32_MIN && d <= (double)INT32_MAX))
                return -1;
        int32_t i = (int32_t)d;
        if ((double)i != d)
                return -1;
        *out = i;
        return 0;
}

/* ---------------------------------------------------------------- cache */

/* One allocation per cached schema: the dict's key points at `id` (the
 * start, so the key destructor frees the whole), its value at `schema`,
 * which never moves while the client lives (pointers handed out stay
 * valid). */
typedef struct sr_cached_s {
        int32_t id;
        char schema[];
} sr_cached_t;

static uint64_t sr_id_hash(const void *key) {
        return dict_hash_bytes(key, sizeof(int32_t));
}

static int sr_id_eq(const void *a, const void *b) {
        return *(const int32_t *)a == *(const int32_t *)b;
}

static const dict_type_t sr_cache_type = {sr_id_hash, sr_id_eq, free, NULL};

static const char *sr_cache_get(sr_t *sr, int32_t id) {
        pthread_rwlock_rdlock(&sr->cache_lock);
        const char *s = dict_get(&sr->cache, &id);
        pthread_rwlock_unlock(&sr->cache_lock);
        return s;
}

/* Caches a copy of `schema` under `id` unless the id is cached already.
 * Returns the cached string (the earlier one if there was one: pointers
 * handed out never change), or NULL if out of memory. */
static const char *sr_cache_put(sr_t *sr, int32_t id, const char *schema) {
        size_t len = strlen(schema);
        sr_cached_t *c = malloc(sizeof(*c) + len + 1);
        if (!c)
                return NULL;
        c->id = id;
        memcpy(c->schema, schema, len + 1);
        pthread_rwlock_wrlock(&sr->cache_lock);
        const char *have = dict_get(&sr->cache, &id);
        if (!have && dict_add(&sr->cache, &c->id, c->schema) == 0)
                have = c->schema, c = NULL;
        pthread_rwlock_unlock(&sr->cache_lock);
        free(c); /* not cached: an earlier copy was, or out of memory */
        return have;
}

/* ---------------------------------------------------------------- set-up */

/* Splits the URL into the base URL kept for requests and messages (no
 * userinfo, no trailing '/') and the credentials it may carry.  Messages
 * never quote the URL given: it may hold a password. */
static int sr_parse_url(sr_t *sr, const char *url, char *errstr, size_t errstr_size) {
        CURLU *u = curl_url();
        char *scheme = NULL, *query = NULL, *clean = NULL;
        int rc = -1;
        if (!u) {
                sr_err(errstr, errstr_size, "schema registry URL: out of memory");
                return -1;
        }
        CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
        if (uc != CURLUE_OK) {
                sr_err(errstr, errstr_size, "schema registry URL is not a valid URL: %s",
                       curl_url_strerror(uc));
                goto done;
        }
        if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))) {
                sr_err(errstr, errstr_size,
                       "schema registry URL: scheme must be http or https, not \"%s\"",
                       scheme ? scheme : "");
                goto done;
        }
        if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
                sr_err(errstr, errstr_size, "schema registry URL must not have a query (\"?...\")");
                goto done;
        }
        if (!sr->user) {
                char *user = NULL, *pass = NULL;
                if (curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE) == CURLUE_OK) {
                        curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE);
                        sr->user = strdup(user);
                        sr->pass = strdup(pass ? pass : "");
                        if (pass) {
                                log_secret_add(pass);
                                explicit_bzero(pass, strlen(pass));
                        }
                        curl_free(user);
                        curl_free(pass);
                        if (!sr->user || !sr->pass) {
                                sr_err(errstr, errstr_size, "schema registry: out of memory");
                                goto done;
                        }
                }
        }
        curl_url_set(u, CURLUPART_USER, NULL, 0);
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
        curl_url_set(u, CURLUPART_OPTIONS, NULL, 0);
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
        if (curl_url_get(u, CURLUPART_URL, &clean, 0) != CURLUE_OK) {
                sr_err(errstr, errstr_size, "schema registry URL is not a valid URL");
                goto done;
        }
        size_t n = strlen(clean);
        while (n > 0 && clean[n - 1] == '/')
                clean[--n] = '\0';
        sr->url = strdup(clean);
        if (!sr->url) {
                sr_err(errstr, errstr_size, "schema registry: out of memory");
                goto done;
        }
        rc = 0;
done:
        curl_free(scheme);
        curl_free(query);
        curl_free(clean);
        curl_url_cleanup(u);
        return rc;
}

sr_t *sr_new(const char *url, const char *basic_auth, char *errstr, size_t errstr_size) {
        if (!url || !*url) {
                sr_err(errstr, errstr_size, "schema registry URL is empty");
                return NULL;
        }
        pthread_once(&sr_curl_once, sr_curl_init);
        if (sr_curl_rc != CURLE_OK) {
                sr_err(errstr, errstr_size, "schema registry: curl_global_init: %s",
                       curl_easy_strerror(sr_curl_rc));
                return NULL;
        }
        sr_t *sr = calloc(1, sizeof(*sr));
        if (!sr) {
                sr_err(errstr, errstr_size, "schema registry: out of memory");
                return NULL;
        }
        sr->connect_timeout_ms = SR_DEFAULT_CONNECT;
        sr->request_timeout_ms = SR_DEFAULT_REQUEST;
        sr->retries = SR_DEFAULT_RETRIES;
        pthread_mutex_init(&sr->http_mtx, NULL);
        pthread_mutex_init(&sr->fetch_mtx, NULL);
        pthread_rwlock_init(&sr->cache_lock, NULL);
        dict_init(&sr->cache, &sr_cache_type, 0);

        if (basic_auth && *basic_auth) {
                const char *colon = strchr(basic_auth, ':');
                if (!colon) {
                        /* Do not quote it: it is a secret, even when malformed. */
                        sr_err(errstr, errstr_size,
                               "schema registry basic auth must be \"user:password\"");
                        goto fail;
                }
                sr->user = strndup(basic_auth, (size_t)(colon - basic_auth));
                sr->pass = strdup(colon + 1);
                if (!sr->user || !sr->pass) {
                        sr_err(errstr, errstr_size, "schema registry: out of memory");
                        goto fail;
                }
        }
        if (sr_parse_url(sr, url, errstr, errstr_size) == -1)
                goto fail;

        sr->curl = curl_easy_init();
        const char *hdrs[] = {
                "Content-Type: application/vnd.schemaregistry.v1+json",
                ("Accept: application/vnd.schemaregistry.v1+json, "
                 "application/vnd.schemaregistry+json, application/json"),
                "Expect:", /* no 100-continue round trip on POST */
        };
        for (size_t i = 0; sr->curl && i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
                struct curl_slist *l = curl_slist_append(sr->headers, hdrs[i]);
                if (!l)
                        break;
                sr->headers = l;
        }
        if (!sr->curl || !sr->headers) {
                sr_err(errstr, errstr_size, "schema registry: curl_easy_init failed");
                goto fail;
        }
        return sr;
fail:
        sr_destroy(sr);
        return NULL;
}

void sr_destroy(sr_t *sr) {
        if (!sr)
                return;
        if (sr->curl)
                curl_easy_cleanup(sr->curl);
        curl_slist_free_all(sr->headers);
        dict_fini(&sr->cache);
        if (sr->pass) {
                explicit_bzero(sr->pass, strlen(sr->pass));
                free(sr->pass);
        }
        free(sr->user);
        free(sr->url);
        pthread_mutex_destroy(&sr->http_mtx);
        pthread_mutex_destroy(&sr->fetch_mtx);
        pthread_rwlock_destroy(&sr->cache_lock);
        free(sr);
}

void sr_set_timeouts(sr_t *sr, long connect_timeout_ms, long request_timeout_ms) {
        if (connect_timeout_ms > 0)
                sr->connect_timeout_ms = connect_timeout_ms;
        if (request_timeout_ms > 0)
                sr->request_timeout_ms = request_timeout_ms;
}

void sr_set_retries(sr_t *sr, int retries) {
        sr->retries = retries < 0 ? 0 : retries;
}

const char *sr_url(const sr_t *sr) {
        return sr->url;
}

int sr_subject_for_topic(const char *topic, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s-value", topic);
        return n < 0 || (size_t)n >= size ? -1 : 0;
}

st_t sr_err_kind(int err) {
        switch (err) {
        case SR_OK:
                return ST_OK;
        case SR_ERR_TRANSPORT:
                return ST_RETRY;
        case SR_ERR_NOT_FOUND:
        case SR_ERR_REJECTED:
                return ST_INVALID;
        default:
                return ST_FATAL;
        }
}

int sr_err_retriable(int err) {
        return sr_err_kind(err) == ST_RETRY;
}

/* ---------------------------------------------------------------- API */

/* "/subjects/<escaped subject><suffix>"; caller frees. */
static char *sr_subject_path(const char *subject, const char *suffix) {
        char *esc = sr_escape(subject);
        if (!esc)
                return NULL;
        size_t n = strlen("/subjects/") + strlen(esc) + strlen(suffix) + 1;
        char *p = malloc(n);
        if (p)
                snprintf(p, n, "/subjects/%s%s", esc, suffix);
        free(esc);
        return p;
}

/* {"schema": "<schema_json>"}, printed; caller frees.  schemaType is left
 * out: AVRO is the registry's default and older registries reject it. */
static char *sr_schema_body(const char *schema_json) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "schema", schema_json)) {
                cJSON_Delete(o);
                return NULL;
        }
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return s;
}

static int sr_check_args(const sr_t *sr, const char *subject, const char *what, const void *out,
                         char *errstr, size_t errstr_size) {
        if (!sr || !subject || !*subject || !what || !out) {
                sr_err(errstr, errstr_size, "schema registry: invalid argument (%s)",
                       !subject || !*subject ? "empty subject" : "NULL pointer");
                return SR_ERR_REJECTED;
        }
        return SR_OK;
}

/* POST a schema to `suffix` under the subject; on SR_OK *jp is the answer. */
static int sr_post_schema(sr_t *sr, const char *subject, const char *suffix,
                          const char *schema_json, cJSON **jp, char **urlp, char *errstr,
                          size_t errstr_size) {
        char *path = sr_subject_path(subject, suffix);
        char *body = sr_schema_body(schema_json);
        int rc;
        if (!path || !body) {
                sr_err(errstr, errstr_size, "schema registry POST: out of memory");
                rc = SR_ERR_TRANSPORT;
        } else {
                rc = sr_request(sr, "POST", path, body, jp, urlp, errstr, errstr_size);
        }
        free(path);
        cJSON_free(body);
        return rc;
}

int sr_register(sr_t *sr, const char *subject, const char *schema_json, int32_t *idp, char *errstr,
                size_t errstr_size) {
        int rc = sr_check_args(sr, subject, schema_json, idp, errstr, errstr_size);
        if (rc != SR_OK)
                return rc;
        cJSON *j = NULL;
        char *url = NULL;
        rc = sr_post_schema(sr, subject, "/versions", schema_json, &j, &url, errstr, errstr_size);
        if (rc == SR_OK) {
                int32_t id;
                if (sr_json_int32(j, "id", &id) == -1) {
                        rc = sr_protocol_error("POST", url, "has no integer \"id\"", errstr,
                                               errstr_size);
                } else {
                        *idp = id;
                        /* Out of memory only costs a later fetch. */
                        sr_cache_put(sr, id, schema_json);
                        log_info("sr", "schema id %d registered under subject %s at %s", (int)id,
                                 subject, sr->url);
                }
        }
        cJSON_Delete(j);
        free(url);
        return rc;
}

int sr_lookup_id(sr_t *sr, const char *subject, const char *schema_json, int32_t *idp,
                 int32_t *versionp, char *errstr, size_t errstr_size) {
        int rc = sr_check_args(sr, subject, schema_json, idp, errstr, errstr_size);
        if (rc != SR_OK)
                return rc;
        cJSON *j = NULL;
        char *url = NULL;
        rc = sr_post_schema(sr, subject, "", schema_json, &j, &url, errstr, errstr_size);
        if (rc == SR_OK) {
                int32_t id, version = 0;
                if (sr_json_int32(j, "id", &id) == -1) {
                        rc = sr_protocol_error("POST", url, "has no integer \"id\"", errstr,
                                               errstr_size);
                } else {
                        sr_json_int32(j, "version", &version);
                        *idp = id;
                        if (versionp)
                                *versionp = version;
                        sr_cache_put(sr, id, schema_json);
                }
        }
        cJSON_Delete(j);
        free(url);
        return rc;
}

int sr_get_schema(sr_t *sr, int32_t id, const char **schema_json, char *errstr,
                  size_t errstr_size) {
        if (!sr || !schema_json) {
                sr_err(errstr, errstr_size, "schema registry: invalid argument (NULL pointer)");
                return SR_ERR_REJECTED;
        }
        const char *s = sr_cache_get(sr, id);
        if (s) {
                atomic_fetch_add_explicit(&sr->cache_hits, 1, memory_order_relaxed);
                *schema_json = s;
                return SR_OK;
        }
        if (id < 0) {
                /* Registries hand out ids from 0 or 1 up: a negative id is a
                 * corrupt record, not a registry problem. */
                sr_err(errstr, errstr_size, "schema registry %s: schema id %d is not a valid id",
                       sr->url, (int)id);
                return SR_ERR_NOT_FOUND;
        }

        pthread_mutex_lock(&sr->fetch_mtx);
        /* Another thread may have fetched it while this one waited. */
        s = sr_cache_get(sr, id);
        if (s) {
                pthread_mutex_unlock(&sr->fetch_mtx);
                atomic_fetch_add_explicit(&sr->cache_hits, 1, memory_order_relaxed);
                *schema_json = s;
                return SR_OK;
        }
        atomic_fetch_add_explicit(&sr->cache_misses, 1, memory_order_relaxed);
        char path[32];
        snprintf(path, sizeof(path), "/schemas/ids/%d", (int)id);
        cJSON *j = NULL;
        char *url = NULL;
        int rc = sr_request(sr, "GET", path, NULL, &j, &url, errstr, errstr_size);
        if (rc == SR_OK) {
                const char *text = sr_avro_schema_of(j, id, "GET", url, &rc, errstr, errstr_size);
                if (text) {
                        s = sr_cache_put(sr, id, text);
                        if (s) {
                                *schema_json = s;
                                log_debug("sr", "schema id %d fetched from %s", (int)id, url);
                        } else {
                                sr_err(errstr, errstr_size,
                                       "schema registry GET %s: out of memory caching schema", url);
                                rc = SR_ERR_TRANSPORT;
                        }
                }
        }
        pthread_mutex_unlock(&sr->fetch_mtx);
        cJSON_Delete(j);
        free(url);
        return rc;
}

int sr_get_latest(sr_t *sr, const char *subject, int32_t *idp, const char **schema_json,
                  int32_t *versionp, char *errstr, size_t errstr_size) {
        int rc = sr_check_args(sr, subject, "", idp, errstr, errstr_size);
        if (rc != SR_OK)
                return rc;
        char *path = sr_subject_path(subject, "/versions/latest");
        if (!path) {
                sr_err(errstr, errstr_size, "schema registry GET: out of memory");
                return SR_ERR_TRANSPORT;
        }
        cJSON *j = NULL;
        char *url = NULL;
        rc = sr_request(sr, "GET", path, NULL, &j, &url, errstr, errstr_size);
        free(path);
        if (rc == SR_OK) {
                int32_t id, version = 0;
                if (sr_json_int32(j, "id", &id) == -1) {
                        rc = sr_protocol_error("GET", url, "has no integer \"id\"", errstr,
                                               errstr_size);
                } else {
                        const char *text =
                                sr_avro_schema_of(j, id, "GET", url, &rc, errstr, errstr_size);
                        const char *cached = text ? sr_cache_put(sr, id, text) : NULL;
                        if (text && !cached) {
                                sr_err(errstr, errstr_size,
                                       "schema registry GET %s: out of memory caching schema", url);
                                rc = SR_ERR_TRANSPORT;
                        } else if (cached) {
                                sr_json_int32(j, "version", &version);
                                *idp = id;
                                if (schema_json)
                                        *schema_json = cached;
                                if (versionp)
                                        *versionp = version;
                        }
                }
        }
        cJSON_Delete(j);
        free(url);
        return rc;
}

int sr_lookup_cb(void *opaque, int32_t id, const char **schema_json, char *errstr,
                 size_t errstr_size) {
        return sr_get_schema(opaque, id, schema_json, errstr, errstr_size);
}

void sr_stats(sr_t *sr, sr_stats_t *out) {
        out->http_requests = atomic_load_explicit(&sr->http_requests, memory_order_relaxed);
        out->http_errors = atomic_load_explicit(&sr->http_errors, memory_order_relaxed);
        out->cache_hits = atomic_load_explicit(&sr->cache_hits, memory_order_relaxed);
        out->cache_misses = atomic_load_explicit(&sr->cache_misses, memory_order_relaxed);
        pthread_rwlock_rdlock(&sr->cache_lock);
        out->cached = sr->cache.count;
        pthread_rwlock_unlock(&sr->cache_lock);
}
