/* sr — Confluent Schema Registry client (REST over libcurl, JSON with cJSON).
 *
 * What the services need from a registry for the Confluent wire format
 * (magic byte 0, 4-byte big-endian schema id, Avro binary):
 *   - at start-up, register the schema they write under the subject of
 *     TopicNameStrategy, "<topic>-value" (sr_register), or, where the
 *     registry is read-only for them, look its id up (sr_lookup_id);
 *   - while decoding, map the id in each record to the writer's schema
 *     (sr_get_schema / sr_lookup_cb).  Ids are immutable in a registry, so
 *     every schema fetched is cached for the life of the client: a cached
 *     look-up takes a read lock and a hash probe, never the network.
 *
 * Errors: every call returns SR_OK (0) or a negative sr_err_t, with errstr
 * naming the method and URL, the HTTP status and the registry's
 * error_code/message, e.g.
 *   schema registry GET http://sr:8081/schemas/ids/42: HTTP 404, error_code
 *   40403: Schema 42 not found
 * The code tells a caller what to do: SR_ERR_TRANSPORT may succeed later
 * (retry, pause consumption); the others will not (dead-letter the record,
 * fix the configuration).
 *
 * Credentials (basic auth "user:pass", given apart or in the URL as
 * http://user:pass@host) are secrets: they are sent to the registry and
 * never appear in errstr, in logs, or in sr_url().
 *
 * Threads: every function may be called from any thread on one sr_t.
 * Network requests are serialised on the client (one connection, reused);
 * a miss for an id another thread is already fetching waits for that fetch
 * instead of issuing a second one.  Only sr_new()/sr_destroy() and the
 * sr_set_*() calls must not race with other calls on the same client.
 *
 * libcurl: sr_new() calls curl_global_init() once per process; nothing here
 * calls curl_global_cleanup() (other modules may use libcurl). */
#ifndef WEIR_SR_H
#define WEIR_SR_H

#include <stddef.h>
#include <stdint.h>

#include "st.h"

typedef struct sr_s sr_t;

typedef enum {
        SR_OK = 0,
        /* No usable answer: connect/DNS/TLS error, timeout, HTTP 408/429/5xx.
         * Worth retrying later. */
        SR_ERR_TRANSPORT = -1,
        /* HTTP 404: no such subject, version or schema id. */
        SR_ERR_NOT_FOUND = -2,
        /* Any other 4xx: invalid schema (422), incompatible (409), bad
         * credentials (401/403), ...; or invalid arguments. */
        SR_ERR_REJECTED = -3,
        /* A 2xx answer that is not what the API promises (not JSON, no id,
         * a schema type other than Avro, schema references). */
        SR_ERR_PROTOCOL = -4,
} sr_err_t;

/* Creates a client for the registry at `url` (http:// or https://, an
 * optional path prefix; no query).  `basic_auth` is NULL/"" or "user:pass";
 * when NULL/"" credentials in the URL's userinfo are used, if any.
 * Defaults: connect timeout 5 s, request timeout 10 s, 2 retries of
 * transport errors.  Nothing is sent until the first call.  Returns NULL
 * with errstr set on a malformed URL or credentials (errstr never contains
 * the credentials).  Free with sr_destroy(). */
sr_t *sr_new(const char *url, const char *basic_auth, char *errstr, size_t errstr_size);

/* Frees the client, its cache (every schema pointer it returned becomes
 * invalid) and wipes the credentials from memory.  NULL is fine. */
void sr_destroy(sr_t *sr);

/* Timeouts in milliseconds for connecting and for a whole request (>0;
 * 0 keeps the current value). */
void sr_set_timeouts(sr_t *sr, long connect_timeout_ms, long request_timeout_ms);

/* How many times a request that failed with SR_ERR_TRANSPORT is retried,
 * with a backoff of 100 ms doubling up to 2 s (0 = one attempt only). */
void sr_set_retries(sr_t *sr, int retries);

/* The base URL without credentials and without a trailing '/': safe to log.
 * Owned by the client. */
const char *sr_url(const sr_t *sr);

/* TopicNameStrategy for record values: writes "<topic>-value" to buf.
 * Returns 0, or -1 if it does not fit (buf then holds a truncated string). */
int sr_subject_for_topic(const char *topic, char *buf, size_t size);

/* Registers `schema_json` (an Avro schema) under `subject` and sets *idp to
 * its id.  Registering a schema the subject already has is not an error: the
 * registry returns the existing id.  The schema is also put in the id cache. */
int sr_register(sr_t *sr, const char *subject, const char *schema_json, int32_t *idp, char *errstr,
                size_t errstr_size);

/* Looks up the id (and version, if versionp is not NULL) under which
 * `schema_json` is registered in `subject`, without registering it.
 * SR_ERR_NOT_FOUND if the subject or the schema is not there. */
int sr_lookup_id(sr_t *sr, const char *subject, const char *schema_json, int32_t *idp,
                 int32_t *versionp, char *errstr, size_t errstr_size);

/* The schema registered under id `id`, from the cache or else the registry
 * (then cached).  *schema_json points to a NUL-terminated JSON string owned
 * by the client, valid until sr_destroy(): do not free.  Only Avro schemas
 * without references are accepted (SR_ERR_PROTOCOL otherwise). */
int sr_get_schema(sr_t *sr, int32_t id, const char **schema_json, char *errstr, size_t errstr_size);

/* The latest version of `subject`: its id, and the schema (owned by the
 * client as for sr_get_schema; pass NULL if not needed), and its version
 * number if versionp is not NULL.  Always asks the registry (the latest
 * version changes); the schema it returns is cached by id. */
int sr_get_latest(sr_t *sr, const char *subject, int32_t *idp, const char **schema_json,
                  int32_t *versionp, char *errstr, size_t errstr_size);

/* sr_get_schema() in the shape of the Avro decoder's schema look-up
 * callback: `opaque` is the sr_t. */
int sr_lookup_cb(void *opaque, int32_t id, const char **schema_json, char *errstr,
                 size_t errstr_size);

/* The kind of `err` (st.h): SR_OK → ST_OK, SR_ERR_TRANSPORT → ST_RETRY,
 * SR_ERR_NOT_FOUND and SR_ERR_REJECTED → ST_INVALID (the id, subject,
 * schema or credentials are wrong: asking again cannot help),
 * SR_ERR_PROTOCOL → ST_FATAL (not a registry we can talk to). */
st_t sr_err_kind(int err);

/* 1 if `err` may go away by retrying later (sr_err_kind() is ST_RETRY). */
int sr_err_retriable(int err);

/* Counters since sr_new(), for metrics and tests. */
typedef struct {
        uint64_t http_requests; /* HTTP attempts made, retries included */
        uint64_t http_errors;   /* attempts that failed (any non-2xx or transport) */
        uint64_t cache_hits;    /* sr_get_schema() answered from the cache */
        uint64_t cache_misses;  /* sr_get_schema() that had to ask the registry */
        uint64_t cached;        /* schemas in the cache now */
} sr_stats_t;
void sr_stats(sr_t *sr, sr_stats_t *out);

#endif
