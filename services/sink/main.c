/* weir-sink — enriched aggregates and alerts to InfluxDB and to the
 * WebSocket feed (docs/sink.md).
 *
 * The common consume-process loop (kc_txn.h) in its "acknowledged by an
 * external system" mode (KC_ACK_EXTERNAL) runs these hooks:
 *   process      decode (weir.EnrichedAggregate / weir.EnrichedAlert) → a
 *                line in the batch (lp_) and the record as JSON to the
 *                WebSocket feed (ws_); undecodable or unmappable → DLQ;
 *                a schema that cannot be fetched now → "retry later"
 *   acknowledge  hand the batch to the writer thread (sk_writer: it runs
 *                ix_flush_step, retries and backoff included) and answer
 *                PENDING; asked again every loop turn while it is written:
 *                PENDING, RETRY (InfluxDB refuses), or once written its
 *                rejected lines go to the DLQ (produced here, in the loop's
 *                thread) and OK
 *   aborted      drop the open batch, and the one in flight unless it is
 *                still pending (its records are consumed again)
 *   tick         send what was published to the feed once a fetch is drained
 * So the loop keeps consuming and pushing to the WebSocket feed while a
 * batch is written.  It commits the offsets of a batch only after it was
 * acknowledged and its DLQ records delivered (at-least-once into an
 * idempotent target: a point is identified by measurement, tags and the
 * window end, so a replay overwrites); while one batch is written the next
 * fills, and once that one is full (SINK_BATCH_*) it pauses the partitions
 * and keeps polling; rebalances and shutdown are its business (kc_txn.h).
 * The WebSocket server has its own thread (ws.h); ws_publish never blocks. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_json.h"
#include "clk.h"
#include "fw.h"
#include "ix.h"
#include "kc_txn.h"
#include "log.h"
#include "lp.h"
#include "metrics.h"
#include "otel.h"
#include "sk_conf.h"
#include "sk_dlq.h"
#include "sk_otel.h"
#include "sk_writer.h"
#include "svc.h"
#include "ws.h"

#define LOG_C "sink"

static const char *const KIND[T_N] = {"aggregate", "alert"};
static const char *const SCHEMA[T_N] = {"weir.EnrichedAggregate", "weir.EnrichedAlert"};

typedef struct {
        svc_t svc;
        kc_txn_t *loop;
        fw_t *fw; /* wakes the loop consumer's fetcher (fw.h) */
        sk_dlq_t *dlq;
        lp_mapper_t *lp;
        ix_t *ix;        /* NULL: no database writes; else the writer's (its URL) */
        sk_writer_t *wr; /* NULL: no database writes; owns ix and both batches */
        ws_server_t *ws;
        const char *topics[T_N + 1]; /* NULL-terminated */
        av_decoder_t *dec[T_N];
        uint64_t ot0;     /* when the write in flight began (tracing on), for its span */
        int ws_unflushed; /* published to the feed since its last ws_server_flush() */
        buf_t json;
        sk_conf_t conf;
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

/* Line i of the batch written was rejected by InfluxDB (`why`): to the
 * DLQ, as the line.  0, or -1 (not produced: the batch is written again). */
static int sink_rejected(sink_t *s, kc_txn_t *t, const ix_batch_t *b, size_t i, const char *why) {
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
                .reason = why,
        };
        return sk_dlq_send(s->dlq, t, &d);
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
        ix_batch_t *b = s->wr ? sk_writer_fill(s->wr) : NULL; /* the loop's half */
        const void *tp = NULL;
        size_t tp_len = 0;
        if (kc_msg_header(m, "traceparent", &tp, &tp_len) || tp_len > 256)
                tp = NULL; /* none, or not a trace context */
        size_t off = b ? b->body.len : 0;
        rc = (t == T_AGG ? lp_aggregate : lp_alert)(s->lp, d.value, b ? &b->body : NULL, &info, err,
                                                    sizeof(err));
        if (rc == LP_ERR)
                return sink_dlq_record(s, loop, m, "mapping", err);
        if (rc == LP_SKIP) {
                metrics_inc(metrics_child(s->m.skipped, t == T_AGG ? "no_fields" : "alerts_off"),
                            1);
        } else if (b) {
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

/* The batch in flight is written: its rejected lines to the DLQ, then its
 * span and metrics.  OK, or ABORT (a DLQ record could not be produced: the
 * batch is written again, its rejected lines again to the DLQ). */
static kc_txn_res_t sink_written(sink_t *s, kc_txn_t *loop) {
        const ix_batch_t *b = sk_writer_batch(s->wr);
        const sk_wr_rejected_t *rej;
        size_t nrej, rejected[T_N] = {0, 0};
        int failed = sk_writer_rejected(s->wr, &rej, &nrej) == -1;
        for (size_t i = 0; i < nrej && !failed; i++) {
                failed = sink_rejected(s, loop, b, rej[i].line, rej[i].message) == -1;
                int t = b->lines[rej[i].line].topic;
                rejected[t]++;
                metrics_inc(s->m.rejected[t], 1);
        }
        sk_otel_write(b, s->ot0, 0, ix_write_url(s->ix));
        if (failed) {
                sk_writer_release(s->wr);
                return KC_TXN_ABORT;
        }
        metrics_inc(s->m.batches, 1);
        size_t per[T_N] = {0, 0};
        int64_t at = sk_writer_done_ms(s->wr);
        for (size_t i = 0; i < b->n; i++) {
                per[b->lines[i].topic]++;
                /* A traced record is its bucket's exemplar. */
                otel_observe_tp(s->m.e2e, (double)(at - b->lines[i].time_ms) / 1000.0,
                                b->lines[i].tp_len ? b->keys.data + b->lines[i].tp_off : NULL,
                                b->lines[i].tp_len);
        }
        for (int t = 0; t < T_N; t++)
                metrics_inc(s->m.written[t], (double)(per[t] - rejected[t]));
        sk_writer_release(s->wr);
        return KC_TXN_OK;
}

/* The open batch: handed to the writer thread (PENDING), which writes it
 * while the loop consumes on.  Asked again while it is pending: how the
 * write stands. */
static kc_txn_res_t sink_acknowledge(kc_txn_t *loop, void *opaque) {
        sink_t *s = opaque;
        if (kc_txn_pending(loop)) {
                switch (sk_writer_state(s->wr)) {
                case SK_WR_DONE:
                        return sink_written(s, loop);
                case SK_WR_FAILING:
                        kc_txn_retry_after(loop, 0, "InfluxDB is not accepting writes");
                        return KC_TXN_RETRY;
                case SK_WR_BUSY:
                        return KC_TXN_PENDING;
                default: /* IDLE: not the writer's any more; written again */
                        log_error(LOG_C, "the batch in flight was lost by the writer");
                        return KC_TXN_ABORT;
                }
        }
        ix_batch_t *b = s->wr ? sk_writer_fill(s->wr) : NULL;
        if (!b || !b->n)
                return KC_TXN_OK; /* nothing to write: commit */
        if (sk_writer_state(s->wr) != SK_WR_IDLE) {
                /* The write of a batch given up (rebalance) is still under way. */
                kc_txn_retry_after(loop, 20, "a cancelled InfluxDB write is still running");
                return KC_TXN_RETRY;
        }
        s->ot0 = otel_on ? otel_now_ns() : 0; /* spans: sk_otel.h */
        sk_writer_submit(s->wr);
        return KC_TXN_PENDING;
}

/* Nothing of the dropped batches is kept: the open one (still filling),
 * and unless one is still pending, the one in flight too. */
static void sink_aborted(kc_txn_t *loop, void *opaque) {
        sink_t *s = opaque;
        if (!s->wr)
                return;
        if (!kc_txn_pending(loop) && sk_writer_cancel(s->wr))
                sk_otel_write(sk_writer_batch(s->wr), s->ot0, -1, ix_write_url(s->ix));
        ix_batch_clear(sk_writer_fill(s->wr));
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
                if (!(s->wr = sk_writer_new(s->ix, errstr, errstr_size))) {
                        s->ix = NULL; /* destroyed by sk_writer_new */
                        return ST_FATAL;
                }
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
        /* Compute's small prefetch (catching up, most of the sink's RSS
         * was librdkafka's queue: bench-sink 71.0 -> 18.5 MiB), with fw
         * waking the fetcher librdkafka 2.0.2 lets sleep a second when
         * that queue ran full (fw_check) or the loop resumed its
         * partitions (kc_txn_set_fw below: what cost 16.0 s). */
        static const char *const consumer_props[] = {FW_PREFETCH_PROPS, NULL};
        conf.consumer_props = consumer_props;
        conf.admin = s->svc.admin;
        conf.stop = &s->svc.stop;
        conf.hooks = (kc_txn_hooks_t){.process = sink_process,
                                      .acknowledge = sink_acknowledge,
                                      .aborted = sink_aborted,
                                      .tick = sink_tick,
                                      .opaque = s};
        st_t st;
        s->loop = kc_txn_new(&conf, &st, errstr, errstr_size);
        if (!s->loop)
                return st;
        if (!(s->fw = fw_new(kc_rk(kc_txn_consumer(s->loop)), kc_txn_queue(s->loop), s->m.wakeups,
                             errstr, errstr_size)))
                return ST_FATAL;
        kc_txn_set_fw(s->loop, s->fw);
        return ST_OK;
}

static void sink_close(sink_t *s) {
        sk_writer_destroy(s->wr); /* and s->ix */
        fw_destroy(s->fw);        /* before the consumer it queries */
        kc_txn_destroy(s->loop);
        sk_dlq_destroy(s->dlq);
        ws_server_destroy(s->ws);
        lp_mapper_destroy(s->lp);
        for (int t = 0; t < T_N; t++)
                av_decoder_destroy(s->dec[t]);
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
