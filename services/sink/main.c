/* weir-sink — enriched aggregates and alerts to InfluxDB and to the
 * WebSocket feed (docs/sink.md).
 *
 * The common consume-process loop (kc_txn.h) in its "acknowledged by an
 * external system" mode (KC_ACK_EXTERNAL) runs these hooks:
 *   process      decode (weir.EnrichedAggregate / weir.EnrichedAlert) → a
 *                line in the batch (lp_) and the record as JSON to the
 *                WebSocket feed (ws_); undecodable or unmappable → DLQ;
 *                a schema that cannot be fetched now → "retry later"
 *   acknowledge  write the batch to InfluxDB (ix_flush_step): OK once
 *                InfluxDB took every line (rejected lines go to the DLQ),
 *                "retry later" while it fails
 *   aborted      drop the batch (its records are consumed again)
 *   tick         send what was published to the feed once a fetch is drained
 * The loop commits the offsets of a batch only after it was acknowledged and
 * its DLQ records delivered (at-least-once into an idempotent target: a
 * point is identified by measurement, tags and the window end, so a replay
 * overwrites); while InfluxDB says "not yet" it pauses the partitions and
 * keeps polling; rebalances and shutdown are its business (kc_txn.h).
 * The WebSocket server has its own thread (ws.h); ws_publish never blocks. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_json.h"
#include "clk.h"
#include "ix.h"
#include "kc_txn.h"
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
        kc_txn_t *loop;
        sk_dlq_t *dlq;
        lp_mapper_t *lp;
        ix_t *ix; /* NULL: no database writes */
        ws_server_t *ws;
        const char *topics[T_N + 1]; /* NULL-terminated */
        av_decoder_t *dec[T_N];
        ix_batch_t batch;
        ix_flush_t flush; /* the batch's delivery, between two acknowledge calls */
        uint64_t ot0;     /* when that delivery began (tracing on), for its span */
        int dlq_failed;   /* a rejected line could not be produced to the DLQ */
        int ws_unflushed; /* published to the feed since its last ws_server_flush() */
        buf_t json;
        sk_conf_t conf;
        size_t rejected[T_N];
        sk_metrics_t m;
} sink_t;

static int topic_index(const sink_t *s, const kc_msg_t *m) {
        const char *t = kc_msg_topic(m);
        for (int i = 0; i < T_N; i++)
                if (!strcmp(t, s->topics[i]))
                        return i;
        return -1;
}

/* ------------------------------------------------------------ DLQ */

typedef struct {
        sink_t *s;
        kc_txn_t *t;
} sink_ctx_t;

/* ix_flush_step's: line i was rejected by InfluxDB. */
static void sink_rejected(void *opaque, const ix_batch_t *b, size_t i, const ix_result_t *r) {
        sink_ctx_t *c = opaque;
        sink_t *s = c->s;
        const ix_line_t *l = &b->lines[i];
        kc_dlq_rec_t d = {
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
        if (sk_dlq_send(s->dlq, c->t, &d))
                s->dlq_failed = 1;
        s->rejected[l->topic]++;
        metrics_inc(s->m.rejected[l->topic], 1);
}

/* A record that cannot be written: to the DLQ with its key, value and
 * headers. */
static kc_txn_res_t sink_dlq_record(sink_t *s, kc_txn_t *t, const kc_msg_t *m, const char *cls,
                                    const char *reason) {
        kc_dlq_rec_t d = {
                .key = m->key,
                .key_len = m->key_len,
                .value = m->payload,
                .value_len = m->len,
                .orig = m,
                .src_topic = kc_msg_topic(m),
                .src_partition = m->partition,
                .src_offset = m->offset,
                .error_class = cls,
                .reason = reason,
        };
        return sk_dlq_send(s->dlq, t, &d) ? KC_TXN_ABORT : KC_TXN_OK;
}

/* ------------------------------------------------------------ hooks */

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

/* One record: into the batch, the DLQ or skipped; "retry later" while its
 * schema cannot be fetched (the record is fine: the loop pauses and
 * consumes it again). */
static kc_txn_res_t sink_process(kc_txn_t *loop, const kc_msg_t *m, void *opaque) {
        sink_t *s = opaque;
        int t = topic_index(s, m);
        if (t < 0)
                return KC_TXN_OK;
        if (!m->payload) {
                metrics_inc(s->m.records[t], 1);
                metrics_inc(metrics_child(s->m.skipped, "tombstone"), 1);
                return KC_TXN_OK;
        }
        char err[512];
        av_decoded_t d;
        int rc = av_decode(s->dec[t], m->payload, m->len, &d, err, sizeof(err));
        if (rc == AV_ERR_RETRY) {
                log_warn(LOG_C, "decoding %s:%d@%lld: %s (retrying)", s->topics[t],
                         (int)m->partition, (long long)m->offset, err);
                kc_txn_retry_after(loop, 1000, "a schema cannot be fetched");
                return KC_TXN_RETRY;
        }
        metrics_inc(s->m.records[t], 1);
        if (rc != AV_OK)
                return sink_dlq_record(s, loop, m, av_status_name(rc), err);
        lp_info_t info = {0};
        ix_batch_t *b = &s->batch;
        const void *tp = NULL;
        size_t tp_len = 0;
        if (kc_msg_header(m, "traceparent", &tp, &tp_len) || tp_len > 256)
                tp = NULL; /* none, or not a trace context */
        size_t off = b->body.len;
        rc = (t == T_AGG ? lp_aggregate : lp_alert)(s->lp, d.value, s->ix ? &b->body : NULL, &info,
                                                    err, sizeof(err));
        if (rc == LP_ERR)
                return sink_dlq_record(s, loop, m, "mapping", err);
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
                if (ix_batch_push(b, &l, info.key, info.key_len, tp, tp_len)) {
                        /* Nothing of this batch is committed: a restart redoes it. */
                        log_error(LOG_C, "out of memory for the batch of %zu points", b->n);
                        return KC_TXN_FATAL;
                }
                if (b->n >= (size_t)s->conf.batch_points ||
                    b->body.len >= (size_t)s->conf.batch_bytes)
                        kc_txn_commit_now(loop);
        }
        if (s->ws && ws_server_clients(s->ws) > 0) {        /* no JSON work for nobody */
                uint64_t ot0 = otel_on ? otel_now_ns() : 0; /* spans: sk_otel.h */
                sink_publish(s, t, &d, &info);
                sk_otel_publish(tp, tp_len, m->partition, m->offset, ot0, s->topics[t], info.key,
                                info.key_len, ws_server_clients(s->ws));
                /* look whether more came with the same fetch, then send */
                kc_txn_poll_now(loop);
        }
        return KC_TXN_OK;
}

/* The batch to InfluxDB, resumed where the last call left it. */
static kc_txn_res_t sink_acknowledge(kc_txn_t *loop, void *opaque) {
        sink_t *s = opaque;
        ix_batch_t *b = &s->batch;
        if (s->ix && b->n) {
                if (!s->flush.active) {
                        memset(s->rejected, 0, sizeof(s->rejected));
                        s->dlq_failed = 0;
                        s->ot0 = otel_on ? otel_now_ns() : 0; /* spans: sk_otel.h */
                }
                sink_ctx_t c = {s, loop};
                int64_t ms;
                if (ix_flush_step(s->ix, &s->flush, b, sink_rejected, &c, &ms) == ST_RETRY) {
                        kc_txn_retry_after(loop, ms, "InfluxDB is not accepting writes");
                        return KC_TXN_RETRY;
                }
                sk_otel_write(b, s->ot0, 0, ix_write_url(s->ix));
                if (s->dlq_failed)
                        return KC_TXN_ABORT; /* written again, rejected lines again to the DLQ */
                metrics_inc(s->m.batches, 1);
                size_t per[T_N] = {0, 0};
                int64_t now = clk_wall_ms();
                for (size_t i = 0; i < b->n; i++) {
                        per[b->lines[i].topic]++;
                        /* A traced record is its bucket's exemplar. */
                        otel_observe_tp(s->m.e2e, (double)(now - b->lines[i].time_ms) / 1000.0,
                                        b->lines[i].tp_len ? b->keys.data + b->lines[i].tp_off
                                                           : NULL,
                                        b->lines[i].tp_len);
                }
                for (int t = 0; t < T_N; t++)
                        metrics_inc(s->m.written[t], (double)(per[t] - s->rejected[t]));
        }
        ix_batch_clear(b);
        return KC_TXN_OK;
}

static void sink_aborted(kc_txn_t *loop, void *opaque) {
        (void)loop;
        sink_t *s = opaque;
        if (s->flush.active)
                sk_otel_write(&s->batch, s->ot0, -1, s->ix ? ix_write_url(s->ix) : "");
        ix_batch_clear(&s->batch);
        ix_flush_reset(&s->flush);
}

static kc_txn_res_t sink_tick(kc_txn_t *loop, void *opaque) {
        sink_t *s = opaque;
        if (s->ws_unflushed && kc_txn_drained(loop)) {
                ws_server_flush(s->ws);
                s->ws_unflushed = 0;
        }
        return KC_TXN_OK;
}

/* ------------------------------------------------------------ set-up */

static st_t sink_open(sink_t *s, char *errstr, size_t errstr_size) {
        const spec_sink_t *sk = s->svc.spec->sink;
        ix_conf_t ixc;
        if (sk_conf_env(&s->conf, errstr, errstr_size) ||
            ix_conf_env(&ixc, s->svc.spec->name, sk->influx.precision, errstr, errstr_size))
                return ST_INVALID;
        sk_metrics_init(&s->m);
        s->topics[T_AGG] = sk->input.aggregates;
        s->topics[T_ALERT] = sk->input.alerts;
        const av_schema_t *sch[T_N];
        for (int t = 0; t < T_N; t++) {
                if (!(sch[t] = svc_schema(&s->svc, SCHEMA[t], errstr, errstr_size)))
                        return ST_FATAL;
                if (!(s->dec[t] = svc_decoder_new(&s->svc, sch[t]))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return ST_NOMEM;
                }
        }
        if (!(s->lp = lp_mapper_new(s->svc.spec, sch[T_AGG], sch[T_ALERT], errstr, errstr_size)))
                return ST_FATAL;
        if (sk->influx.enabled && ixc.url) {
                if (!(s->ix = ix_new(&ixc, errstr, errstr_size)))
                        return ST_FATAL;
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
                        return ST_INVALID;
                wc.path = sk->websocket.path;
                wc.beat = admin_beat_new(s->svc.admin, "sink websocket");
                if (!(s->ws = ws_server_new(&wc, errstr, errstr_size)))
                        return ST_FATAL;
        }
        if (!(s->dlq = sk_dlq_new(sk->dlq))) {
                snprintf(errstr, errstr_size, "out of memory");
                return ST_NOMEM;
        }
        static char group[256];
        snprintf(group, sizeof(group), "weir-sink-%s", s->svc.spec->name);
        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        conf.stage = "sink";
        conf.group_id = group;
        conf.topics = s->topics;
        conf.guarantee = KC_ACK_EXTERNAL;
        /* A batch commits SINK_FLUSH_INTERVAL after its first record, or
         * when full (kc_txn_commit_now), never because the input went idle. */
        conf.batch_ms = conf.state_ms = (int)s->conf.flush_ms;
        conf.batch_records = INT_MAX;
        conf.idle_ms = -1;
        conf.admin = s->svc.admin;
        conf.stop = &s->svc.stop;
        conf.hooks = (kc_txn_hooks_t){.process = sink_process,
                                      .acknowledge = sink_acknowledge,
                                      .aborted = sink_aborted,
                                      .tick = sink_tick,
                                      .opaque = s};
        st_t st;
        s->loop = kc_txn_new(&conf, &st, errstr, errstr_size);
        return st;
}

static void sink_close(sink_t *s) {
        kc_txn_destroy(s->loop);
        sk_dlq_destroy(s->dlq);
        ws_server_destroy(s->ws);
        ix_destroy(s->ix);
        lp_mapper_destroy(s->lp);
        for (int t = 0; t < T_N; t++)
                av_decoder_destroy(s->dec[t]);
        ix_batch_free(&s->batch);
        buf_free(&s->json);
        svc_fini(&s->svc);
}

int main(void) {
        static sink_t s;
        char err[1024];
        if (svc_init(&s.svc, "sink", SPEC_PART_SINK, err, sizeof(err)))
                return svc_fail("sink", err);
        st_t st = sink_open(&s, err, sizeof(err));
        if (st == ST_STOPPED) { /* SIGTERM while waiting for the broker */
                log_info(LOG_C, "stopped");
                sink_close(&s);
                return 0;
        }
        if (st != ST_OK) {
                sink_close(&s);
                return svc_fail("sink", err);
        }
        log_info(LOG_C, "consuming %s and %s (group weir-sink-%s), DLQ %s", s.topics[T_AGG],
                 s.topics[T_ALERT], s.svc.spec->name, s.svc.spec->sink->dlq);
        svc_started(&s.svc);
        int rc = kc_txn_run(s.loop, err, sizeof(err)) != ST_OK;
        if (rc)
                log_error(LOG_C, "%s", err);
        log_info(LOG_C, "stopped");
        sink_close(&s);
        return rc;
}
