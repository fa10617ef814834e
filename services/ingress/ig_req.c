/* ig_req — one request from its complete body to its answer: parse
 * (ig_rest), the checks that keep a request whole (partitions against the
 * topic's metadata, the in-flight budgets), produce without blocking,
 * suspend, and the answer when the last delivery report resumes it.  See
 * ig_http.h for the whole path and ig_http_int.h for what is shared. */
#include "ig_http_int.h"

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

ig_tls_t *ig_tls(void) {
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

enum MHD_Result ig_send(ig_req_t *q, unsigned status, const buf_t *body) {
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

enum MHD_Result ig_error(ig_req_t *q, unsigned status, int code, const char *msg) {
        ig_tls_t *t = ig_tls();
        if (!t)
                return MHD_NO;
        ig_resp_error(&t->out, code, msg);
        return ig_send(q, status, &t->out);
}

/* The batch holds invalid records, none was produced: 404 (40402) when
 * every invalid record names a partition the topic does not have, else 422
 * (42203).  Each record gets its entry: the invalid ones their error, the
 * valid ones IG_E_BATCH_REJECTED. */
static enum MHD_Result ig_reject_batch(ig_req_t *q, const ig_batch_t *b) {
        ig_tls_t *t = ig_tls();
        char msg[200];
        int first = 1, only_partitions = 1;
        ig_resp_begin(&t->out, q->topic->schema_id);
        for (size_t i = 0; i < b->n; i++) {
                if (b->recs[i].err_code) {
                        if (b->recs[i].err_code != IG_E_PARTITION_NOT_FOUND)
                                only_partitions = 0;
                        ig_resp_offset(&t->out, &first, -1, -1, b->recs[i].err_code,
                                       ig_rec_error(b, i));
                } else
                        ig_resp_offset(&t->out, &first, -1, -1, IG_E_BATCH_REJECTED,
                                       "not produced: other records in the request are invalid");
        }
        if (only_partitions)
                snprintf(msg, sizeof(msg),
                         "Partition not found: %zu of %zu records name a partition topic %s does "
                         "not have; nothing was produced",
                         b->ninvalid, b->n, q->topic->name);
        else
                snprintf(msg, sizeof(msg), "%zu of %zu records invalid; nothing was produced",
                         b->ninvalid, b->n);
        ig_resp_end(&t->out, only_partitions ? IG_E_PARTITION_NOT_FOUND : IG_E_CONVERSION, msg);
        metrics_inc(q->s->m_invalid, (double)b->ninvalid);
        metrics_inc(q->s->m_not_produced, (double)(b->n - b->ninvalid));
        return ig_send(q, only_partitions ? 404 : 422, &t->out);
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
        /* Refused: an operator fixes it (ACL, credentials) without a restart. */
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        case RD_KAFKA_RESP_ERR__SSL:
        case RD_KAFKA_RESP_ERR__FATAL: /* the producer is re-created */
                return 1;
        default:
                return 0;
        }
}

void ig_release(ig_req_t *q) {
        if (q->res_records) {
                atomic_fetch_sub(&q->s->inflight_bytes, q->res_bytes);
                atomic_fetch_sub(&q->s->inflight_records, q->res_records);
                q->res_records = 0;
                q->res_bytes = 0;
        }
}

/* Every record settled: the answer. */
enum MHD_Result ig_answer(ig_req_t *q) {
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
enum MHD_Result ig_process(ig_req_t *q) {
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
        ig_parse_opts_t po = {s->conf.max_records, s->o.lookup, s->o.lookup_opaque,
                              s->o.max_record_bytes};
        const buf_t *body = &q->cc->body;
        if (ig_parse(b, q->fmt, q->topic, body->data ? body->data : "", body->len, &po) != 0)
                return ig_error(q, b->status, b->error_code, b->message);
        /* Partitions named are checked against the topic's metadata now:
         * librdkafka would refuse one at produce time, after the request's
         * earlier records were queued. */
        int32_t nparts = atomic_load(&s->nparts[q->topic - s->o.topics]);
        size_t named = 0;
        for (size_t i = 0; i < b->n; i++)
                named += b->recs[i].partition >= 0;
        if (named && nparts <= 0 && !b->ninvalid) {
                atomic_store(&s->want_metadata, 1);
                metrics_inc(s->m_not_produced, (double)b->n);
                return ig_error(q, 503, IG_E_KAFKA_RETRIABLE,
                                "records name partitions, and the partitions of this topic are "
                                "not known yet (no broker metadata); nothing was produced");
        }
        if (named && ig_check_partitions(b, q->topic->name, nparts) > 0)
                atomic_store(&s->want_metadata, 1); /* the topic may have grown */
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
        if (atomic_load(&s->paused)) {
                ig_release(q);
                metrics_inc(s->m_not_produced, (double)b->n);
                return ig_error(q, 503, IG_E_KAFKA_RETRIABLE,
                                "Kafka refused the producer; re-creating it, retry later");
        }
        /* Read only now: the reservation keeps ig_server_swap_kc() from
         * destroying this producer until the request is done with it. */
        kc_t *kc = atomic_load(&s->kc);
        char why[768];
        if (kc_refused(kc, why, sizeof(why)) == 1) {
                /* Authentication failed: nothing would be acknowledged until
                 * an operator fixes it, so say so now rather than after
                 * INGRESS_PRODUCE_TIMEOUT.  (A missing ACL fails the
                 * deliveries at once, topic by topic: 503 below.) */
                ig_release(q);
                metrics_inc(s->m_not_produced, (double)b->n);
                return ig_error(q, 503, IG_E_KAFKA_RETRIABLE, why);
        }
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
                err = kc_produce(kc, &rec, kc_dr_batch_dr(q->drb, i), 0);
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
