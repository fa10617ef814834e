/* weir-sink — enriched aggregates and alerts to InfluxDB and to the
 * WebSocket feed (SPEC §4 sink; docs/sink.md).
 *
 * One thread owns the consumer and the InfluxDB writer:
 *   poll → decode (weir.EnrichedAggregate / weir.EnrichedAlert) → a line in
 *   the batch (lp_) and the record as JSON to the WebSocket feed (ws_) →
 *   when the batch is full or old enough: write it (ix_flush), wait for the
 *   DLQ records, then commit the offsets of everything in it.
 * Offsets are committed only after InfluxDB acknowledged the batch holding
 * them (at-least-once into an idempotent target: a point is identified by
 * measurement, tags and the window end, so a replay overwrites).  While a
 * write is being retried every assigned partition is paused; the loop keeps
 * polling (group membership, rebalances) and holds the few records that
 * arrive anyway (partitions assigned meanwhile) until the batch is through.
 * The WebSocket server has its own thread (ws.h); ws_publish never blocks. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "av_json.h"
#include "clk.h"
#include "ix.h"
#include "kc.h"
#include "log.h"
#include "lp.h"
#include "metrics.h"
#include "otel.h"
#include "sk_conf.h"
#include "sk_dlq.h"
#include "sk_otel.h"
#include "svc.h"
#include "ws.h"

#define LOG_C "sink"

static const char *const KIND[T_N] = {"aggregate", "alert"};
static const char *const SCHEMA[T_N] = {"weir.EnrichedAggregate", "weir.EnrichedAlert"};

typedef struct {
        svc_t svc;
        kc_t *consumer, *producer;
        sk_dlq_t *dlq;
        lp_mapper_t *lp;
        ix_t *ix; /* NULL: no database writes */
        ws_server_t *ws;
        const char *topics[T_N];
        av_decoder_t *dec[T_N];
        ix_batch_t batch;
        /* Next offset per partition of every record taken since the last
         * commit: what to commit once the batch is acknowledged. */
        rd_kafka_topic_partition_list_t *pending;
        int64_t pending_since; /* monotonic ms of the first pending record; 0: none */
        rd_kafka_message_t **held;
        size_t nheld, capheld;
        int paused;
        int flushing;     /* inside sink_deliver() */
        int ws_unflushed; /* published to the feed since its last ws_server_flush() */
        int dlq_lost;     /* a DLQ record was not delivered: exit non-zero */
        unsigned revokes; /* partitions revoked so far (rebalances) */
        buf_t json;
        sk_conf_t conf;
        size_t rejected[T_N];
        sk_metrics_t m;
} sink_t;

static int topic_index(const sink_t *s, const rd_kafka_message_t *m) {
        const char *t = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
        for (int i = 0; i < T_N; i++)
                if (!strcmp(t, s->topics[i]))
                        return i;
        return -1;
}

/* ------------------------------------------------------------ offsets */

static void pending_take(sink_t *s, const rd_kafka_message_t *m) {
        const char *t = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p =
                rd_kafka_topic_partition_list_find(s->pending, t, m->partition);
        if (!p)
                p = rd_kafka_topic_partition_list_add(s->pending, t, m->partition);
        p->offset = m->offset + 1;
        if (!s->pending_since)
                s->pending_since = clk_mono_ms();
}

static void commit_pending(sink_t *s) {
        if (s->pending->cnt == 0) {
                s->pending_since = 0;
                return;
        }
        rd_kafka_resp_err_t err = rd_kafka_commit(kc_rk(s->consumer), s->pending, 0);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                /* Kept: the next commit carries these partitions again. */
                metrics_inc(s->m.commit_fail, 1);
                log_warn(LOG_C, "offset commit failed: %s (retried with the next batch)",
                         rd_kafka_err2str(err));
                s->pending_since = clk_mono_ms();
                return;
        }
        metrics_inc(s->m.commit_ok, 1);
        rd_kafka_topic_partition_list_destroy(s->pending);
        s->pending = rd_kafka_topic_partition_list_new(8);
        s->pending_since = 0;
}

static int sink_deliver(sink_t *s, int may_wait);

/* Partitions leaving this member.  When they are revoked (not lost) and no
 * write is under way, the batch is written once and committed now, so that
 * the next owner does not redo it; whatever could not be committed is no
 * longer ours to commit: the next owner starts from the group's committed
 * offset and rewrites what we may already have written (the same points). */
static void on_revoked(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, int lost,
                       void *opaque) {
        (void)kc;
        sink_t *s = opaque;
        s->revokes++;
        if (!lost && !s->flushing && (s->batch.n || s->pending->cnt) && !s->dlq_lost)
                sink_deliver(s, 0);
        for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_list_del(s->pending, parts->elems[i].topic,
                                                  parts->elems[i].partition);
                size_t k = 0;
                for (size_t j = 0; j < s->nheld; j++) {
                        rd_kafka_message_t *m = s->held[j];
                        if (m->partition == parts->elems[i].partition &&
                            !strcmp(rd_kafka_topic_name(m->rkt), parts->elems[i].topic))
                                rd_kafka_message_destroy(m);
                        else
                                s->held[k++] = m;
                }
                s->nheld = k;
        }
}

/* ------------------------------------------------------------ pausing */

static void pause_set(sink_t *s, int pause, const char *why) {
        rd_kafka_topic_partition_list_t *parts = NULL;
        if (rd_kafka_assignment(kc_rk(s->consumer), &parts) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            parts) {
                if (pause)
                        rd_kafka_pause_partitions(kc_rk(s->consumer), parts);
                else
                        rd_kafka_resume_partitions(kc_rk(s->consumer), parts);
                rd_kafka_topic_partition_list_destroy(parts);
        }
        s->paused = pause;
        metrics_set(s->m.paused, pause);
        if (pause)
                log_warn(LOG_C, "%s: consumption paused", why);
        else
                log_info(LOG_C, "%s: consumption resumed", why);
}

/* A record that arrived while paused (a partition assigned meanwhile):
 * kept for after the batch, and its partition paused too. */
static void hold(sink_t *s, rd_kafka_message_t *m) {
        if (m->err || topic_index(s, m) < 0) {
                if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        log_warn(LOG_C, "consumer: %s", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                return;
        }
        if (s->nheld == s->capheld) {
                size_t cap = s->capheld ? s->capheld * 2 : 16;
                rd_kafka_message_t **h = realloc(s->held, cap * sizeof(*h));
                if (!h) { /* cannot keep it: rewind so it is fetched again */
                        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
                        rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt),
                                                          m->partition)
                                ->offset = m->offset;
                        char err[256];
                        kc_seek(s->consumer, l, 1000, err, sizeof(err));
                        rd_kafka_topic_partition_list_destroy(l);
                        rd_kafka_message_destroy(m);
                        return;
                }
                s->held = h;
                s->capheld = cap;
        }
        s->held[s->nheld++] = m;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition);
        rd_kafka_pause_partitions(kc_rk(s->consumer), l);
        rd_kafka_topic_partition_list_destroy(l);
}

/* ix_flush's wait: serve the consumer (paused) and the DLQ producer until
 * the retry is due.  Non-zero on shutdown. */
static int sink_wait(void *opaque, int64_t ms, const ix_result_t *why) {
        sink_t *s = opaque;
        (void)why;
        if (!s->paused)
                pause_set(s, 1,
                          why ? "InfluxDB is not accepting writes" : "a schema cannot be fetched");
        int64_t deadline = clk_mono_ms() + ms;
        while (!atomic_load(&s->svc.stop)) {
                admin_heartbeat(s->svc.admin);
                rd_kafka_poll(kc_rk(s->producer), 0);
                int64_t left = deadline - clk_mono_ms();
                if (left <= 0)
                        return 0;
                rd_kafka_message_t *m =
                        rd_kafka_consumer_poll(kc_rk(s->consumer), (int)(left < 200 ? left : 200));
                if (m)
                        hold(s, m);
        }
        return 1;
}

static void sink_rejected(void *opaque, const ix_batch_t *b, size_t i, const ix_result_t *r) {
        sink_t *s = opaque;
        const ix_line_t *l = &b->lines[i];
        sk_dlq_rec_t d = {
                .key = l->key_len ? b->keys.data + l->key_off : NULL,
                .key_len = l->key_len,
                .value = b->body.data + l->off,
                .value_len = l->len - 1, /* without the '\n' */
                .traceparent = l->tp_len ? b->keys.data + l->tp_off : NULL,
                .traceparent_len = l->tp_len,
                .src_topic = s->topics[l->topic],
                .src_partition = l->partition,
                .src_offset = l->offset,
                .error_class = "rejected",
                .reason = r->message,
        };
        sk_dlq_send(s->dlq, &d);
        s->rejected[l->topic]++;
        metrics_inc(s->m.rejected[l->topic], 1);
}

static void dlq_record(sink_t *s, const rd_kafka_message_t *m, const char *cls,
                       const char *reason) {
        sk_dlq_rec_t d = {
                .key = m->key,
                .key_len = m->key_len,
                .value = m->payload,
                .value_len = m->len,
                .orig = m,
                .src_topic = rd_kafka_topic_name(m->rkt),
                .src_partition = m->partition,
                .src_offset = m->offset,
                .error_class = cls,
                .reason = reason,
        };
        sk_dlq_send(s->dlq, &d);
}

/* ------------------------------------------------------------ records */

static void sink_record(sink_t *s, rd_kafka_message_t *m);

/* ix_flush's wait for a write that must not wait (during a rebalance). */
static int sink_no_wait(void *opaque, int64_t ms, const ix_result_t *why) {
        (void)opaque;
        (void)ms;
        (void)why;
        return 1;
}

/* Writes the batch, waits for the DLQ, commits.  0 done; -1 the write was
 * given up (shutdown, or may_wait 0 and InfluxDB failing): nothing
 * committed; -2 a DLQ record was lost: nothing committed, and the process
 * must exit non-zero (a restart reprocesses it). */
static int sink_deliver(sink_t *s, int may_wait) {
        ix_batch_t *b = &s->batch;
        int rc = 0;
        s->flushing = 1;
        if (s->ix && b->n) {
                memset(s->rejected, 0, sizeof(s->rejected));
                ix_flush_cbs_t cbs = {.wait = may_wait ? sink_wait : sink_no_wait,
                                      .rejected = sink_rejected,
                                      .opaque = s};
                uint64_t ot0 = otel_on ? otel_now_ns() : 0; /* spans: sk_otel.h */
                if (ix_flush(s->ix, b, &cbs)) {
                        sk_otel_write(b, ot0, -1, ix_write_url(s->ix));
                        rc = -1;
                        goto done;
                }
                sk_otel_write(b, ot0, 0, ix_write_url(s->ix));
                metrics_inc(s->m.batches, 1);
                size_t per[T_N] = {0, 0};
                int64_t now = clk_wall_ms();
                for (size_t i = 0; i < b->n; i++) {
                        per[b->lines[i].topic]++;
                        metrics_observe(s->m.e2e, (double)(now - b->lines[i].time_ms) / 1000.0);
                }
                for (int t = 0; t < T_N; t++)
                        metrics_inc(s->m.written[t], (double)(per[t] - s->rejected[t]));
        }
        long lost = sk_dlq_flush(s->dlq, 30000);
        if (lost) {
                log_error(LOG_C, "%ld DLQ records were not delivered: not committing", lost);
                s->dlq_lost = 1;
                rc = -2;
                goto done;
        }
        commit_pending(s);
        ix_batch_clear(b);
done:
        s->flushing = 0;
        return rc;
}

/* sink_deliver(), then resume and take the records held meanwhile. */
static int sink_flush(sink_t *s) {
        int rc = sink_deliver(s, 1);
        if (rc)
                return rc;
        if (s->paused) {
                pause_set(s, 0, "the batch is through");
                /* What was held comes first, in the order it arrived. */
                size_t n = s->nheld;
                rd_kafka_message_t **h = s->held;
                s->held = NULL;
                s->nheld = s->capheld = 0;
                for (size_t i = 0; i < n; i++)
                        sink_record(s, h[i]);
                free(h);
        }
        return 0;
}

static void sink_publish(sink_t *s, int t, const av_decoded_t *d, const lp_info_t *info) {
        char err[256];
        s->json.len = 0;
        if (av_value_to_json(d->schema, d->value, AV_JSON_PLAIN_UNIONS, &s->json, err,
                             sizeof(err))) {
                log_debug(LOG_C, "no JSON for the WebSocket feed: %s", err);
                return;
        }
        ws_event_t ev = {
                .kind = KIND[t],
                .topic = s->topics[t],
                .key = info->key,
                .key_len = info->key_len,
                .severity = info->severity,
                .json = s->json.data,
                .json_len = s->json.len,
                .event_time_ms = info->time_ms,
        };
        ws_publish(s->ws, &ev);
        s->ws_unflushed = 1;
}

/* 1 while this consumer owns m's partition (asked only after a rebalance). */
static int still_assigned(sink_t *s, const rd_kafka_message_t *m) {
        rd_kafka_topic_partition_list_t *parts = NULL;
        int own = 0;
        if (rd_kafka_assignment(kc_rk(s->consumer), &parts) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            parts) {
                own = rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(m->rkt),
                                                         m->partition) != NULL;
                rd_kafka_topic_partition_list_destroy(parts);
        }
        return own;
}

/* The work on one record.  Returns 1 when it is done (in the batch, in the
 * DLQ or skipped), 0 when it is not (shutdown while waiting for a schema,
 * or its partition was revoked meanwhile): then its offset is not taken. */
static int sink_take(sink_t *s, int t, rd_kafka_message_t *m) {
        metrics_inc(s->m.records[t], 1);
        if (!m->payload) {
                metrics_inc(metrics_child(s->m.skipped, "tombstone"), 1);
                return 1;
        }
        char err[512];
        av_decoded_t d;
        int rc;
        unsigned gen = s->revokes;
        while ((rc = av_decode(s->dec[t], m->payload, m->len, &d, err, sizeof(err))) ==
               AV_ERR_RETRY) {
                /* The Schema Registry is unreachable: the record is fine, wait. */
                log_warn(LOG_C, "decoding %s:%d@%lld: %s (retrying)", s->topics[t],
                         (int)m->partition, (long long)m->offset, err);
                if (sink_wait(s, 1000, NULL))
                        return 0;
        }
        if (gen != s->revokes && !still_assigned(s, m))
                return 0; /* the next owner takes it */
        if (rc != AV_OK) {
                dlq_record(s, m, av_status_name(rc), err);
                return 1;
        }
        lp_info_t info = {0};
        ix_batch_t *b = &s->batch;
        size_t off = b->body.len;
        rc = (t == T_AGG ? lp_aggregate : lp_alert)(s->lp, d.value, s->ix ? &b->body : NULL, &info,
                                                    err, sizeof(err));
        if (rc == LP_ERR) {
                dlq_record(s, m, "mapping", err);
                return 1;
        }
        if (rc == LP_SKIP) {
                metrics_inc(metrics_child(s->m.skipped, t == T_AGG ? "no_fields" : "alerts_off"),
                            1);
        } else if (s->ix) {
                ix_line_t l = {.off = off,
                               .len = b->body.len - off,
                               .time_ms = info.time_ms,
                               .offset = m->offset,
                               .partition = m->partition,
                               .topic = t};
                const void *tp = NULL;
                size_t tp_len = 0;
                rd_kafka_headers_t *hdrs = NULL;
                if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs &&
                    (rd_kafka_header_get_last(hdrs, "traceparent", &tp, &tp_len) || tp_len > 256))
                        tp = NULL; /* none, or not a trace context */
                if (ix_batch_push(b, &l, info.key, info.key_len, tp, tp_len)) {
                        /* Nothing was committed past this record: a restart redoes it. */
                        log_error(LOG_C, "out of memory for the batch: exiting");
                        exit(1);
                }
        }
        if (s->ws && ws_server_clients(s->ws) > 0) { /* no JSON work for nobody */
                uint64_t ot0 = otel_on ? otel_now_ns() : 0;
                sink_publish(s, t, &d, &info);
                sk_otel_publish(m, ot0, s->topics[t], info.key, info.key_len,
                                ws_server_clients(s->ws));
        }
        return 1;
}

/* Takes one record (and destroys the message).  Its offset joins the
 * pending commit only once the record is done. */
static void sink_record(sink_t *s, rd_kafka_message_t *m) {
        int t = topic_index(s, m);
        if (m->err || t < 0) {
                if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        log_warn(LOG_C, "consumer: %s", rd_kafka_message_errstr(m));
        } else if (sink_take(s, t, m)) {
                pending_take(s, m);
        }
        rd_kafka_message_destroy(m);
}

/* ------------------------------------------------------------ set-up */

static int sink_open(sink_t *s, char *errstr, size_t errstr_size) {
        const spec_sink_t *sk = s->svc.spec->sink;
        ix_conf_t ixc;
        if (sk_conf_env(&s->conf, errstr, errstr_size) ||
            ix_conf_env(&ixc, s->svc.spec->name, sk->influx.precision, errstr, errstr_size))
                return -1;
        sk_metrics_init(&s->m);
        s->topics[T_AGG] = sk->input.aggregates;
        s->topics[T_ALERT] = sk->input.alerts;
        const av_schema_t *sch[T_N];
        for (int t = 0; t < T_N; t++) {
                if (!(sch[t] = svc_schema(&s->svc, SCHEMA[t], errstr, errstr_size)))
                        return -1;
                if (!(s->dec[t] = svc_decoder_new(&s->svc, sch[t]))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
        }
        if (!(s->lp = lp_mapper_new(s->svc.spec, sch[T_AGG], sch[T_ALERT], errstr, errstr_size)))
                return -1;
        if (sk->influx.enabled && ixc.url) {
                if (!(s->ix = ix_new(&ixc, errstr, errstr_size)))
                        return -1;
                log_info(LOG_C, "writing to %s (InfluxDB %d.x API, gzip %s)", ix_write_url(s->ix),
                         ixc.version, ixc.gzip ? "on" : "off");
        } else {
                log_info(LOG_C, "no database writes (%s)",
                         sk->influx.enabled ? "INFLUX_URL is not set"
                                            : "sink.influx.enabled false");
        }
        if (sk->websocket.enabled) {
                ws_conf_t wc;
                ws_conf_defaults(&wc);
                if (ws_conf_env(&wc, errstr, errstr_size))
                        return -1;
                wc.path = sk->websocket.path;
                if (!(s->ws = ws_server_new(&wc, errstr, errstr_size)))
                        return -1;
        }
        kc_opts_t po = {.stage = "sink", .admin = s->svc.admin};
        if (!(s->producer = kc_producer_new(&po, errstr, errstr_size)))
                return -1;
        if (!(s->dlq = sk_dlq_new(s->producer, sk->dlq))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        char group[256];
        snprintf(group, sizeof(group), "weir-sink-%s", s->svc.spec->name);
        kc_opts_t co = {.stage = "sink",
                        .group_id = group,
                        .admin = s->svc.admin,
                        .hooks = {.revoked = on_revoked, .opaque = s}};
        if (!(s->consumer = kc_consumer_new(&co, errstr, errstr_size)))
                return -1;
        const char *topics[] = {s->topics[T_AGG], s->topics[T_ALERT], NULL};
        if (kc_subscribe(s->consumer, topics, errstr, errstr_size))
                return -1;
        s->pending = rd_kafka_topic_partition_list_new(8);
        return s->pending ? 0 : -1;
}

static void sink_close(sink_t *s) {
        for (size_t i = 0; i < s->nheld; i++)
                rd_kafka_message_destroy(s->held[i]);
        free(s->held);
        if (s->consumer)
                kc_destroy(s->consumer); /* leaves the group */
        if (s->producer) {
                rd_kafka_flush(kc_rk(s->producer), 10000);
                kc_destroy(s->producer);
        }
        sk_dlq_destroy(s->dlq);
        ws_server_destroy(s->ws);
        ix_destroy(s->ix);
        lp_mapper_destroy(s->lp);
        for (int t = 0; t < T_N; t++)
                av_decoder_destroy(s->dec[t]);
        if (s->pending)
                rd_kafka_topic_partition_list_destroy(s->pending);
        ix_batch_free(&s->batch);
        buf_free(&s->json);
        svc_fini(&s->svc);
}

static int sink_due(const sink_t *s, int64_t now) {
        if (s->batch.n >= (size_t)s->conf.batch_points ||
            s->batch.body.len >= (size_t)s->conf.batch_bytes)
                return 1;
        return s->pending_since && now - s->pending_since >= s->conf.flush_ms;
}

int main(void) {
        static sink_t s;
        char err[1024];
        if (svc_init(&s.svc, "sink", SPEC_PART_SINK, err, sizeof(err)))
                return svc_fail("sink", err);
        if (sink_open(&s, err, sizeof(err))) {
                sink_close(&s);
                return svc_fail("sink", err);
        }
        log_info(LOG_C, "consuming %s and %s (group weir-sink-%s), DLQ %s", s.topics[T_AGG],
                 s.topics[T_ALERT], s.svc.spec->name, s.svc.spec->sink->dlq);
        int rc = 0;
        svc_started(&s.svc);
        while (!atomic_load(&s.svc.stop)) {
                admin_heartbeat(s.svc.admin);
                rd_kafka_poll(kc_rk(s.producer), 0);
                /* Short polls until the DLQ producer has seen the cluster:
                 * /readyz within a few ms of start, not the next 100 ms. */
                int probed = kc_ready_probe(s.producer);
                if (kc_fatal(s.consumer, err, sizeof(err)) ||
                    kc_fatal(s.producer, err, sizeof(err))) {
                        log_error(LOG_C, "Kafka client failed: %s", err);
                        rc = 1;
                        break;
                }
                int64_t now = clk_mono_ms();
                int timeout = probed ? 100 : 5;
                if (s.pending_since) {
                        int64_t left = s.pending_since + s.conf.flush_ms - now;
                        timeout = left <= 0 ? 0 : left < timeout ? (int)left : timeout;
                }
                /* Events waiting for the feed: only look whether more came
                 * with the same fetch, then send them (ws_server_flush). */
                if (s.ws_unflushed)
                        timeout = 0;
                rd_kafka_message_t *m = rd_kafka_consumer_poll(kc_rk(s.consumer), timeout);
                if (m) {
                        sink_record(&s, m);
                } else if (s.ws_unflushed) {
                        ws_server_flush(s.ws);
                        s.ws_unflushed = 0;
                }
                if (sink_due(&s, clk_mono_ms()) && sink_flush(&s) == -2)
                        break;
                if (s.dlq_lost)
                        break;
        }
        /* Shutdown: deliver and commit what was taken, unless InfluxDB is down
         * (then nothing more is committed and the next owner rewrites it). */
        if (s.dlq_lost)
                rc = 1; /* a DLQ record was lost: nothing after it committed */
        if (!rc && (s.batch.n || s.pending->cnt)) {
                if (sink_flush(&s))
                        log_warn(LOG_C,
                                 "stopping with an unacknowledged batch of %zu points: its "
                                 "offsets are not committed",
                                 s.batch.n);
        }
        log_info(LOG_C, "stopped");
        sink_close(&s);
        return rc;
}
