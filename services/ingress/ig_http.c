/* ig_http — the HTTP side of ingress: libmicrohttpd callbacks, the request
 * state machine, back-pressure and the suspend/resume hand-off with the
 * producer's delivery reports.  See ig_http.h. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "ig_arena.h"
#include "ig_http.h"
#include "ig_otel.h"
#include "ig_trace.h"
#include "kc_dr.h"
#include "log.h"
#include "metrics.h"

#define IG_LOG      "http"
#define IG_CTYPE    "application/vnd.kafka.v2+json"
#define IG_KEEP_BUF (1u << 20)

enum { IG_ROUTE_TOPICS = 0, IG_ROUTE_EVENTS, IG_ROUTE_OTHER, IG_ROUTE__N };
static const char *const ig_route_names[] = {"topics", "events", "other"};

enum { IG_RS_BODY = 0, IG_RS_WAIT, IG_RS_DONE };

struct ig_server_s {
        ig_server_opts_t o;
        ig_conf_t conf;
        struct MHD_Daemon *d;
        uint16_t port;
        atomic_size_t active;
        /* Set by ig_server_quiesce(): keep-alive connections may still send
         * requests, which must be answered without suspending (libmicrohttpd
         * aborts if it is stopped with a suspended connection).  Ordering:
         * a request counts itself in `active` before it reads `draining`,
         * and quiesce sets `draining` before main reads `active`. */
        atomic_int draining;
        atomic_int_fast64_t inflight_bytes;
        atomic_size_t inflight_records;
        metrics_family_t *m_requests;
        metrics_child_t *m_duration[IG_ROUTE__N];
        metrics_child_t *m_produce, *m_accepted, *m_invalid, *m_not_produced, *m_failed;
        metrics_child_t *m_queue, *m_inflight_b, *m_inflight_r, *m_active;
};

/* Per connection: the body buffer, reused by its keep-alive requests. */
typedef struct ig_conn_s {
        buf_t body;
        buf_t out; /* the answer being sent: MHD reads it in place (one at a time) */
} ig_conn_t;

typedef struct ig_req_s {
        ig_server_t *s;
        struct MHD_Connection *conn;
        ig_conn_t *cc;
        int route, state, too_large;
        unsigned status; /* answered with, for metrics */
        const ig_topic_t *topic;
        ig_fmt_t fmt;
        int64_t t0_ns, tprod_ns;
        kc_dr_batch_t *drb;
        size_t n, produced;
        int64_t res_bytes;
        size_t res_records;
        atomic_int gate; /* suspend vs last delivery report: the second resumes */
        char tp[IG_TRACEPARENT_LEN + 1];
        ig_otel_t ot; /* spans (ig_otel.h) */
} ig_req_t;

/* Per worker thread: the parse batch and the answer buffer. */
typedef struct ig_tls_s {
        ig_batch_t batch;
        buf_t out;
} ig_tls_t;

static pthread_key_t ig_tls_key;
static pthread_once_t ig_tls_once = PTHREAD_ONCE_INIT;

static void ig_tls_free(void *p) {
        ig_tls_t *t = p;
        ig_batch_free(&t->batch);
        buf_free(&t->out);
        free(t);
}

static void ig_tls_init(void) {
        pthread_key_create(&ig_tls_key, ig_tls_free);
}

static ig_tls_t *ig_tls(void) {
        pthread_once(&ig_tls_once, ig_tls_init);
        ig_tls_t *t = pthread_getspecific(ig_tls_key);
        if (!t) {
                t = calloc(1, sizeof(*t));
                if (!t)
                        return NULL;
                ig_batch_init(&t->batch);
                pthread_setspecific(ig_tls_key, t);
        }
        return t;
}

/* ---------------------------------------------------------------- answers */

static enum MHD_Result ig_send(ig_req_t *q, unsigned status, const buf_t *body) {
        /* A connection has one answer in flight at a time and its buffer
         * lives as long as the connection: no allocation per answer. */
        buf_t *out = &q->cc->out;
        out->len = 0;
        if (buf_append(out, body->len ? body->data : "", body->len) != 0)
                return MHD_NO;
        struct MHD_Response *r = MHD_create_response_from_buffer(
                out->len, out->len ? out->data : (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, IG_CTYPE);
        if (q->tp[0])
                MHD_add_response_header(r, "traceparent", q->tp);
        if (status == 429 || status == 503) {
                char ra[24];
                snprintf(ra, sizeof(ra), "%lld", (long long)q->s->conf.retry_after_s);
                MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
        }
        if (status == 401)
                MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                        "Bearer realm=\"weir-ingress\"");
        if (status == 405)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
        if (atomic_load(&q->s->draining))
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        enum MHD_Result ret = MHD_queue_response(q->conn, status, r);
        MHD_destroy_response(r);
        q->status = status;
        q->state = IG_RS_DONE;
        return ret;
}

static enum MHD_Result ig_error(ig_req_t *q, unsigned status, int code, const char *msg) {
        ig_tls_t *t = ig_tls();
        if (!t)
                return MHD_NO;
        ig_resp_error(&t->out, code, msg);
        return ig_send(q, status, &t->out);
}

/* 422: the batch holds invalid records, none was produced.  Each record
 * gets its entry: the invalid ones their error, the valid ones
 * IG_E_BATCH_REJECTED. */
static enum MHD_Result ig_reject_batch(ig_req_t *q, const ig_batch_t *b) {
        ig_tls_t *t = ig_tls();
        char msg[160];
        int first = 1;
        ig_resp_begin(&t->out, q->topic->schema_id);
        for (size_t i = 0; i < b->n; i++) {
                if (b->recs[i].err_code)
                        ig_resp_offset(&t->out, &first, -1, -1, b->recs[i].err_code,
                                       ig_rec_error(b, i));
                else
                        ig_resp_offset(&t->out, &first, -1, -1, IG_E_BATCH_REJECTED,
                                       "not produced: other records in the request are invalid");
        }
        snprintf(msg, sizeof(msg), "%zu of %zu records invalid; nothing was produced", b->ninvalid,
                 b->n);
        ig_resp_end(&t->out, IG_E_CONVERSION, msg);
        metrics_inc(q->s->m_invalid, (double)b->ninvalid);
        metrics_inc(q->s->m_not_produced, (double)(b->n - b->ninvalid));
        return ig_send(q, 422, &t->out);
}

/* Errors worth retrying: the broker may take the records later. */
static int ig_retriable(rd_kafka_resp_err_t e) {
        switch (e) {
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
        case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
        case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
        case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
                return 1;
        default:
                return 0;
        }
}

static void ig_release(ig_req_t *q) {
        if (q->res_records) {
                atomic_fetch_sub(&q->s->inflight_bytes, q->res_bytes);
                atomic_fetch_sub(&q->s->inflight_records, q->res_records);
                q->res_records = 0;
                q->res_bytes = 0;
        }
}

/* Every record settled: the answer. */
static enum MHD_Result ig_answer(ig_req_t *q) {
        ig_server_t *s = q->s;
        ig_tls_t *t = ig_tls();
        if (!t)
                return MHD_NO;
        ig_release(q);
        size_t ok = 0, qfull = 0, retriable = 0, failed = 0;
        int first = 1;
        ig_resp_begin(&t->out, q->topic->schema_id);
        for (size_t i = 0; i < q->n; i++) {
                kc_dr_result_t r = kc_dr_batch_result(q->drb, i);
                if (!r.err) {
                        ok++;
                        ig_resp_offset(&t->out, &first, r.partition, r.offset, 0, NULL);
                        continue;
                }
                failed++;
                int code = IG_E_KAFKA;
                if (r.err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        qfull++;
                        code = IG_E_TOO_MANY_REQUESTS;
                } else if (ig_retriable(r.err)) {
                        retriable++;
                        code = IG_E_KAFKA_RETRIABLE;
                }
                ig_resp_offset(&t->out, &first, -1, -1, code, rd_kafka_err2str(r.err));
        }
        metrics_inc(s->m_accepted, (double)ok);
        metrics_inc(s->m_failed, (double)failed);
        if (q->tprod_ns)
                metrics_observe(s->m_produce, (double)(clk_mono_ns() - q->tprod_ns) / 1e9);
        if (failed == 0) {
                ig_resp_end(&t->out, 0, NULL);
                return ig_send(q, 200, &t->out);
        }
        char msg[160];
        snprintf(msg, sizeof(msg), "%zu of %zu records not acknowledged by Kafka", failed, q->n);
        unsigned status = qfull ? 429 : retriable == failed ? 503 : 500;
        ig_resp_end(&t->out,
                    qfull                 ? IG_E_TOO_MANY_REQUESTS
                    : retriable == failed ? IG_E_KAFKA_RETRIABLE
                                          : IG_E_KAFKA,
                    msg);
        return ig_send(q, status, &t->out);
}

/* The last record settled (polling thread, or ours when all failed at once). */
static void ig_done(kc_dr_batch_t *b, void *opaque) {
        ig_req_t *q = opaque;
        ig_otel_produced(&q->ot, b);
        if (atomic_fetch_add(&q->gate, 1) == 1)
                MHD_resume_connection(q->conn);
}

/* Reserves room for the batch in the in-flight budget; 0 when full.  A
 * request alone may exceed the byte budget (else it could never pass). */
static int ig_reserve(ig_server_t *s, int64_t bytes, size_t recs) {
        size_t r = atomic_load(&s->inflight_records);
        do {
                if (r + recs > s->o.queue_max_records)
                        return 0;
        } while (!atomic_compare_exchange_weak(&s->inflight_records, &r, r + recs));
        int64_t b = atomic_fetch_add(&s->inflight_bytes, bytes);
        if (b > 0 && b + bytes > s->conf.inflight_bytes) {
                atomic_fetch_sub(&s->inflight_bytes, bytes);
                atomic_fetch_sub(&s->inflight_records, recs);
                return 0;
        }
        return 1;
}

/* The body is complete: parse, check, produce, suspend. */
static enum MHD_Result ig_process(ig_req_t *q) {
        ig_server_t *s = q->s;
        ig_tls_t *t = ig_tls();
        if (!t)
                return MHD_NO;
        if (q->too_large) {
                char msg[160];
                snprintf(msg, sizeof(msg), "body larger than %zu bytes (INGRESS_MAX_BODY_BYTES)",
                         s->conf.max_body);
                return ig_error(q, 413, IG_E_TOO_LARGE, msg);
        }
        ig_batch_t *b = &t->batch;
        ig_parse_opts_t po = {s->conf.max_records, s->o.lookup, s->o.lookup_opaque};
        const buf_t *body = &q->cc->body;
        if (ig_parse(b, q->fmt, q->topic, body->data ? body->data : "", body->len, &po) != 0)
                return ig_error(q, b->status, b->error_code, b->message);
        if (b->ninvalid)
                return ig_reject_batch(q, b);
        if (atomic_load(&s->draining)) {
                metrics_inc(s->m_not_produced, (double)b->n);
                return ig_error(q, 503, IG_E_KAFKA_RETRIABLE,
                                "ingress is shutting down; retry on another instance");
        }
        if (!ig_reserve(s, (int64_t)b->data.len, b->n)) {
                metrics_inc(s->m_not_produced, (double)b->n);
                return ig_error(q, 429, IG_E_TOO_MANY_REQUESTS,
                                "in-flight limit reached (INGRESS_INFLIGHT_BYTES or "
                                "queue.buffering.max.messages); retry later");
        }
        q->res_bytes = (int64_t)b->data.len;
        q->res_records = b->n;
        q->n = b->n;
        q->drb = kc_dr_batch_new(b->n, ig_done, q);
        if (!q->drb) {
                ig_release(q);
                return ig_error(q, 500, IG_E_KAFKA, "out of memory");
        }
        ig_otel_produce(&q->ot, q->tp, q->topic->name, b->n);
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
        rd_kafka_header_add(hdrs, "traceparent", -1, q->tp, IG_TRACEPARENT_LEN);
        q->tprod_ns = clk_mono_ns();
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        size_t i;
        for (i = 0; i < b->n; i++) {
                const ig_rec_t *r = &b->recs[i];
                kc_record_t rec = {
                        .topic = q->topic->name,
                        .partition = r->partition,
                        .key = r->has_key ? b->data.data + r->key_off : NULL,
                        .key_len = r->has_key ? r->key_len : 0,
                        .value = b->data.data + r->val_off,
                        .value_len = r->val_len,
                        .headers = rd_kafka_headers_copy(hdrs),
                };
                err = kc_produce(s->o.kc, &rec, kc_dr_batch_dr(q->drb, i), 0);
                if (err) {
                        rd_kafka_headers_destroy(rec.headers);
                        break;
                }
        }
        rd_kafka_headers_destroy(hdrs);
        q->produced = i;
        /* What could not be handed to librdkafka is settled now, with the
         * reason; the `done` this may trigger finds gate 0 and resumes nothing. */
        for (size_t j = i; j < b->n; j++)
                kc_dr_batch_fail(q->drb, j, err);
        if (i < b->n)
                log_warn(IG_LOG, "topic %s: %zu of %zu records not queued: %s", q->topic->name,
                         b->n - i, b->n, rd_kafka_err2str(err));
        if (i == 0) /* nothing in flight: answer now */
                return ig_answer(q);
        q->state = IG_RS_WAIT;
        MHD_suspend_connection(q->conn);
        if (atomic_fetch_add(&q->gate, 1) == 1)
                MHD_resume_connection(q->conn);
        return MHD_YES;
}

/* ------------------------------------------------------------- callbacks */

static const ig_topic_t *ig_topic(const ig_server_t *s, const char *name) {
        for (size_t i = 0; i < s->o.ntopics; i++)
                if (strcmp(s->o.topics[i].name, name) == 0)
                        return &s->o.topics[i];
        return NULL;
}

/* First call for a request: everything decidable from the headers. */
static enum MHD_Result ig_begin(ig_req_t *q, const char *url, const char *method) {
        ig_server_t *s = q->s;
        struct MHD_Connection *c = q->conn;
        const char *name = NULL;
        char msg[400];
        if (strncmp(url, "/topics/", 8) == 0) {
                q->route = IG_ROUTE_TOPICS;
                name = url + 8;
        } else if (strncmp(url, "/v1/events/", 11) == 0) {
                q->route = IG_ROUTE_EVENTS;
                name = url + 11;
        } else {
                q->route = IG_ROUTE_OTHER;
        }
        if (!name || !*name || strchr(name, '/'))
                return ig_error(q, 404, IG_E_NOT_FOUND, "HTTP 404 Not Found");
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
                return ig_error(q, 405, IG_E_METHOD, "HTTP 405 Method Not Allowed");
        if (s->o.auth &&
            !ig_auth_check(s->o.auth, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                                  MHD_HTTP_HEADER_AUTHORIZATION)))
                return ig_error(q, 401, IG_E_UNAUTHORIZED, "missing or invalid bearer token");
        q->topic = ig_topic(s, name);
        if (!q->topic) {
                snprintf(msg, sizeof(msg), "Topic %.200s not found.", name);
                return ig_error(q, 404, IG_E_TOPIC_NOT_FOUND, msg);
        }
        const char *ct =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (ig_fmt_parse(ct, q->route == IG_ROUTE_EVENTS, &q->fmt) != 0) {
                snprintf(msg, sizeof(msg), "HTTP 415 Unsupported Media Type: %.200s",
                         ct ? ct : "(no Content-Type)");
                return ig_error(q, 415, IG_E_MEDIA_TYPE, msg);
        }
        const char *cl =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->conf.max_body) {
                q->too_large = 1;
                return ig_process(q); /* 413 now: the body is never read */
        }
        q->cc->body.len = 0;
        return MHD_YES;
}

static enum MHD_Result ig_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls) {
        (void)version;
        ig_server_t *s = cls;
        ig_req_t *q = *con_cls;
        if (!q) {
                q = calloc(1, sizeof(*q));
                if (!q)
                        return MHD_NO;
                q->s = s;
                q->conn = conn;
                q->t0_ns = clk_mono_ns();
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
                q->cc = ci ? ci->socket_context : NULL;
                *con_cls = q;
                atomic_fetch_add(&s->active, 1);
                int from_caller = ig_trace_take(
                        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent"), q->tp);
                ig_otel_begin(&q->ot, q->tp, from_caller, method, url);
                if (!q->cc)
                        return MHD_NO;
                return ig_begin(q, url, method);
        }
        if (q->state == IG_RS_WAIT)
                return ig_answer(q);
        if (q->state != IG_RS_BODY) { /* answered early; drop any body */
                *upload_size = 0;
                return MHD_YES;
        }
        if (*upload_size) {
                if (clk_mono_ns() - q->t0_ns > s->conf.request_timeout_ms * 1000000) {
                        log_warn(IG_LOG, "request body not received within "
                                         "INGRESS_REQUEST_TIMEOUT: closing the connection");
                        q->status = 408;
                        return MHD_NO;
                }
                if (!q->too_large && q->cc->body.len + *upload_size > s->conf.max_body) {
                        q->too_large = 1; /* chunked: keep discarding, answer 413 at the end */
                        q->cc->body.len = 0;
                }
                if (!q->too_large && buf_append(&q->cc->body, upload, *upload_size) != 0)
                        return MHD_NO;
                *upload_size = 0;
                return MHD_YES;
        }
        return ig_process(q);
}

static void ig_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        (void)conn;
        (void)toe;
        ig_server_t *s = cls;
        ig_req_t *q = *con_cls;
        if (!q)
                return;
        *con_cls = NULL;
        char st[16];
        snprintf(st, sizeof(st), "%u", q->status);
        metrics_inc(metrics_child(s->m_requests, ig_route_names[q->route], q->status ? st : "none"),
                    1);
        metrics_observe(s->m_duration[q->route], (double)(clk_mono_ns() - q->t0_ns) / 1e9);
        ig_otel_end(&q->ot, q->status, ig_route_names[q->route]);
        ig_release(q);
        kc_dr_batch_destroy(q->drb);
        /* An idle keep-alive connection keeps at most 1 MiB of buffers: a
         * big body is not held on to by every connection that sent one. */
        if (q->cc && q->cc->body.size > IG_KEEP_BUF)
                buf_free(&q->cc->body);
        if (q->cc && q->cc->out.size > IG_KEEP_BUF)
                buf_free(&q->cc->out);
        free(q);
        atomic_fetch_sub(&s->active, 1);
}

static void ig_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode toe) {
        (void)cls;
        (void)conn;
        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                *socket_context = calloc(1, sizeof(ig_conn_t));
        } else if (*socket_context) {
                ig_conn_t *cc = *socket_context;
                buf_free(&cc->body);
                buf_free(&cc->out);
                free(cc);
                *socket_context = NULL;
        }
}

static void ig_mhd_log(void *cls, const char *fmt, va_list ap) {
        (void)cls;
        char msg[512];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        size_t n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n')
                msg[--n] = '\0';
        log_warn(IG_LOG, "libmicrohttpd: %s", msg);
}

/* ---------------------------------------------------------------- server */

static void ig_metrics(ig_server_t *s) {
        s->m_requests = metrics_counter_family("weir_ingress_http_requests_total",
                                               "HTTP requests answered, by route and status "
                                               "(none: connection closed before an answer).",
                                               "route,status");
        metrics_family_t *dur = metrics_histogram_family(
                "weir_ingress_request_duration_seconds",
                "From the request's headers to its answer (delivery reports included).", "route",
                NULL, 0);
        for (int r = 0; r < IG_ROUTE__N; r++)
                s->m_duration[r] = metrics_child(dur, ig_route_names[r]);
        s->m_produce = metrics_histogram("weir_ingress_produce_duration_seconds",
                                         "From a request's first produce to its last delivery "
                                         "report.",
                                         NULL, 0);
        metrics_family_t *rec = metrics_counter_family(
                "weir_ingress_records_total",
                "Records by outcome: accepted (acknowledged by Kafka), invalid (did not fit the "
                "schema), not_produced (valid, but its request was rejected), failed (Kafka "
                "did not acknowledge).",
                "result");
        s->m_accepted = metrics_child(rec, "accepted");
        s->m_invalid = metrics_child(rec, "invalid");
        s->m_not_produced = metrics_child(rec, "not_produced");
        s->m_failed = metrics_child(rec, "failed");
        s->m_queue = metrics_gauge("weir_ingress_producer_queue_records",
                                   "Records in the producer's queue (rd_kafka_outq_len).");
        s->m_inflight_b = metrics_gauge("weir_ingress_inflight_bytes",
                                        "Encoded bytes of records awaiting delivery reports.");
        s->m_inflight_r = metrics_gauge("weir_ingress_inflight_records",
                                        "Records awaiting delivery reports.");
        s->m_active = metrics_gauge("weir_ingress_active_requests",
                                    "HTTP requests begun and not yet answered.");
}

ig_server_t *ig_server_start(const ig_server_opts_t *o, char *errstr, size_t errstr_size) {
        ig_server_t *s = calloc(1, sizeof(*s));
        if (!s) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        s->o = *o;
        s->conf = *o->conf;
        ig_arena_install();
        ig_metrics(s);
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(s->conf.port);
        if (inet_pton(AF_INET, s->conf.bind, &sa.sin_addr) != 1) {
                snprintf(errstr, errstr_size, "HTTP_BIND=\"%s\": expected an IPv4 address",
                         s->conf.bind);
                free(s);
                return NULL;
        }
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        s->d = MHD_start_daemon(
                flags, s->conf.port, NULL, NULL, ig_handle, s, MHD_OPTION_EXTERNAL_LOGGER,
                ig_mhd_log, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                MHD_OPTION_THREAD_POOL_SIZE, s->conf.threads, MHD_OPTION_CONNECTION_LIMIT,
                s->conf.max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->conf.max_conns_per_ip,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((s->conf.idle_timeout_ms + 999) / 1000),
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
                MHD_OPTION_NOTIFY_COMPLETED, ig_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
                ig_conn_notify, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
        if (!s->d) {
                snprintf(errstr, errstr_size,
                         "HTTP server: cannot listen on %s:%u (HTTP_BIND, "
                         "HTTP_PORT)",
                         s->conf.bind, (unsigned)s->conf.port);
                free(s);
                return NULL;
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        s->port = di ? di->port : s->conf.port;
        log_info(IG_LOG, "listening on %s:%u with %u threads", s->conf.bind, (unsigned)s->port,
                 s->conf.threads);
        return s;
}

uint16_t ig_server_port(const ig_server_t *s) {
        return s->port;
}

void ig_server_quiesce(ig_server_t *s) {
        atomic_store(&s->draining, 1);
        MHD_socket fd = MHD_quiesce_daemon(s->d);
        if (fd != MHD_INVALID_SOCKET)
                close(fd);
        log_info(IG_LOG, "stopped accepting connections");
}

size_t ig_server_active(const ig_server_t *s) {
        return atomic_load(&s->active);
}

void ig_server_gauges(ig_server_t *s) {
        metrics_set(s->m_queue, (double)rd_kafka_outq_len(kc_rk(s->o.kc)));
        metrics_set(s->m_inflight_b, (double)atomic_load(&s->inflight_bytes));
        metrics_set(s->m_inflight_r, (double)atomic_load(&s->inflight_records));
        metrics_set(s->m_active, (double)atomic_load(&s->active));
}

void ig_server_stop(ig_server_t *s) {
        if (!s)
                return;
        /* A request still suspended (its delivery reports never came, even
         * after the purge) would make MHD_stop_daemon() abort the process:
         * leave the daemon to the process exit instead. */
        if (atomic_load(&s->active) > 0) {
                log_warn(IG_LOG, "%zu requests unanswered at exit",
                         (size_t)atomic_load(&s->active));
                return;
        }
        MHD_stop_daemon(s->d);
        free(s);
}
