/* ig_http — the HTTP side of ingress: libmicrohttpd callbacks, the request
 * state machine, back-pressure and the suspend/resume hand-off with the
 * producer's delivery reports.  See ig_http.h. */
#include "ig_http_int.h"

#include "clk.h"

static const char *const ig_route_names[] = {"topics", "events", "other"};

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
        const union MHD_ConnectionInfo *hi =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
        if (hi && hi->header_size > s->conf.max_header) {
                log_warn(IG_LOG,
                         "request headers of %zu bytes answered 431: over "
                         "INGRESS_MAX_HEADER_BYTES=%zu",
                         hi->header_size, s->conf.max_header);
                snprintf(msg, sizeof(msg),
                         "HTTP 431 Request Header Fields Too Large: %zu bytes of request line and "
                         "headers, at most %zu",
                         hi->header_size, s->conf.max_header);
                return ig_error(q, 431, IG_E_HEADERS_TOO_LARGE, msg);
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
                snprintf(msg, sizeof(msg), "HTTP 415 Unsupported Media Type: %.100s; accepted: %s",
                         ct ? ct : "(no Content-Type)",
                         ig_fmt_accepted(q->route == IG_ROUTE_EVENTS));
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
        if (!q) /* ig_uri always made one; only out of memory leaves none */
                return MHD_NO;
        if (!q->begun) {
                q->begun = 1;
                q->conn = conn;
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
                q->cc = ci ? ci->socket_context : NULL;
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

/* The request line is in, its headers not yet: the request's state begins
 * here (libmicrohttpd hands it to ig_handle and ig_completed as *con_cls)
 * so that a request libmicrohttpd answers itself, without ig_handle (headers
 * over its memory limit: 431; a malformed request: 400), is still counted
 * and logged in ig_completed. */
static void *ig_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
        ig_server_t *s = cls;
        ig_req_t *q = calloc(1, sizeof(*q));
        if (!q)
                return NULL;
        q->s = s;
        q->conn = conn;
        q->t0_ns = clk_mono_ns();
        q->route = strncmp(uri, "/topics/", 8) == 0       ? IG_ROUTE_TOPICS
                   : strncmp(uri, "/v1/events/", 11) == 0 ? IG_ROUTE_EVENTS
                                                          : IG_ROUTE_OTHER;
        atomic_fetch_add(&s->active, 1);
        return q;
}

static void ig_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        (void)toe;
        ig_server_t *s = cls;
        ig_req_t *q = *con_cls;
        if (!q)
                return;
        *con_cls = NULL;
        if (!q->begun) {
                const union MHD_ConnectionInfo *si =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
                q->status = si ? si->http_status : 0;
                if (q->status)
                        log_warn(IG_LOG,
                                 "request on route %s answered %u by libmicrohttpd itself%s",
                                 ig_route_names[q->route], q->status,
                                 q->status == 431 ? " (request headers over its 128 KiB "
                                                    "connection memory)"
                                                  : "");
        }
        char st[16];
        snprintf(st, sizeof(st), "%u", q->status);
        metrics_inc(metrics_child(s->m_requests, ig_route_names[q->route], q->status ? st : "none"),
                    1);
        /* A traced request is its bucket's exemplar (the span ends below). */
        otel_observe(s->m_duration[q->route], (double)(clk_mono_ns() - q->t0_ns) / 1e9, q->ot.srv);
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
        /* Its own error answers (a 431 with the HTML page it sends in the
         * message): ig_completed logs those as one plain line. */
        static const char own[] = "Error processing request (HTTP response code is ";
        if (strncmp(msg, own, sizeof(own) - 1) == 0)
                return;
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
        s->quiesced_fd = -1;
        atomic_store(&s->kc, o->kc);
        s->conf = *o->conf;
        s->nparts = calloc(o->ntopics ? o->ntopics : 1, sizeof(*s->nparts));
        if (!s->nparts) {
                snprintf(errstr, errstr_size, "out of memory");
                free(s);
                return NULL;
        }
        ig_arena_install();
        ig_metrics(s);
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(s->conf.port);
        if (inet_pton(AF_INET, s->conf.bind, &sa.sin_addr) != 1) {
                snprintf(errstr, errstr_size, "HTTP_BIND=\"%s\": expected an IPv4 address",
                         s->conf.bind);
                free(s->nparts);
                free(s);
                return NULL;
        }
        /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: libmicrohttpd's default
         * SO_REUSEADDR lets a restart bind at once, while SO_REUSEPORT would
         * let a second process bind the same port and silently take part
         * of its connections (tests on a shared machine saw refused
         * connects from exactly that); now the second one fails to start. */
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        s->d = MHD_start_daemon(
                flags, s->conf.port, NULL, NULL, ig_handle, s, MHD_OPTION_EXTERNAL_LOGGER,
                ig_mhd_log, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                MHD_OPTION_THREAD_POOL_SIZE, s->conf.threads, MHD_OPTION_CONNECTION_LIMIT,
                s->conf.max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->conf.max_conns_per_ip,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((s->conf.idle_timeout_ms + 999) / 1000),
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
                MHD_OPTION_URI_LOG_CALLBACK, ig_uri, s, MHD_OPTION_NOTIFY_COMPLETED, ig_completed,
                s, MHD_OPTION_NOTIFY_CONNECTION, ig_conn_notify, s, MHD_OPTION_END);
        if (!s->d) {
                snprintf(errstr, errstr_size,
                         "HTTP server: cannot listen on %s:%u (HTTP_BIND, "
                         "HTTP_PORT)",
                         s->conf.bind, (unsigned)s->conf.port);
                free(s->nparts);
                free(s);
                return NULL;
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        s->port = di ? di->port : s->conf.port;
        log_info(IG_LOG, "listening on %s:%u with %u threads", s->conf.bind, (unsigned)s->port,
                 s->conf.threads);
        return s;
}

void ig_server_quiesce(ig_server_t *s) {
        atomic_store(&s->draining, 1);
        MHD_socket fd = MHD_quiesce_daemon(s->d);
        if (fd != MHD_INVALID_SOCKET)
                s->quiesced_fd = fd;
        log_info(IG_LOG, "stopped accepting connections");
}

void ig_server_set_partitions(ig_server_t *s, size_t topic, int32_t n) {
        if (topic < s->o.ntopics)
                atomic_store(&s->nparts[topic], n);
}

int ig_server_want_metadata(ig_server_t *s) {
        return atomic_exchange(&s->want_metadata, 0);
}

size_t ig_server_active(const ig_server_t *s) {
        return atomic_load(&s->active);
}

size_t ig_server_inflight_records(const ig_server_t *s) {
        return atomic_load(&s->inflight_records);
}

void ig_server_gauges(ig_server_t *s) {
        /* The producer's queue is weir_ingress_kafka_producer_queue_messages
         * (kc_stats), not exported twice. */
        metrics_set(s->m_inflight_b, (double)atomic_load(&s->inflight_bytes));
        metrics_set(s->m_inflight_r, (double)atomic_load(&s->inflight_records));
        metrics_set(s->m_active, (double)atomic_load(&s->active));
}

kc_t *ig_server_swap_kc(ig_server_t *s, kc_t *(*renew)(kc_t *old, void *opaque), void *opaque) {
        atomic_store(&s->paused, 1);
        kc_t *old = atomic_load(&s->kc);
        /* Requests already handed to the old producer are answered by
         * their delivery reports; a fatal producer may keep them until it
         * is purged. */
        int64_t purge_at = clk_mono_ms() + 2000;
        while (atomic_load(&s->inflight_records) > 0) {
                if (clk_mono_ms() >= purge_at) {
                        rd_kafka_purge(kc_rk(old),
                                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                        purge_at = clk_mono_ms() + 2000;
                }
                clk_sleep_ms(10);
        }
        kc_t *kc = renew(old, opaque);
        if (kc)
                atomic_store(&s->kc, kc);
        atomic_store(&s->paused, 0);
        return atomic_load(&s->kc);
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
        if (s->quiesced_fd >= 0)
                close(s->quiesced_fd);
        free(s->nparts);
        free(s);
}
