/* wk — one worker thread: a kc_txn loop whose hooks drive the engine (see
 * wk.h).  Restores live in wk_state.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl.h"
#include "clk.h"
#include "fw.h"
#include "log.h"
#include "wk_int.h"

void wk_fail(wk_t *w, const char *fmt, ...) {
        if (w->fatal)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->errstr, sizeof(w->errstr), fmt, ap);
        va_end(ap);
        w->fatal = 1;
        log_error(WK_LOG, "worker %d: %s", w->index, w->errstr);
}

/* ------------------------------------------------------------ emitting */

static void wk_produce_out(wk_t *w, const char *topic, const void *key, size_t key_len,
                           const void *value, size_t len) {
        kc_record_t rec = {0};
        rec.topic = topic;
        rec.partition = RD_KAFKA_PARTITION_UA;
        rec.key = key;
        rec.key_len = key_len;
        rec.value = value;
        rec.value_len = len;
        rec.headers = out_trace_headers(w->trace, w->trace_len);
        if (kc_txn_produce(w->txn, &rec) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (rec.headers)
                        rd_kafka_headers_destroy(rec.headers);
                w->emit_failed = 1;
        }
}

static void wk_emit_aggregate(void *opaque, const cp_aggregate_t *a) {
        wk_t *w = opaque;
        const void *v;
        size_t len;
        char err[512];
        if (out_aggregate(w->out, a, &v, &len, err, sizeof(err)) == -1) {
                wk_fail(w, "encoding an aggregate: %s", err);
                return;
        }
        wk_otel_aggregate(&w->ot, a, w->sh->svc->spec->compute->output.aggregates, w->sh->group_id,
                          &w->trace, &w->trace_len);
        wk_produce_out(w, w->sh->svc->spec->compute->output.aggregates, a->key, a->key_len, v, len);
        w->emitted = 1;
        metrics_inc(w->sh->m_aggregates, 1);
}

static void wk_emit_alert(void *opaque, const cp_alert_t *al) {
        wk_t *w = opaque;
        const void *v;
        size_t len;
        char err[512];
        if (out_alert(w->out, al, &v, &len, err, sizeof(err)) == -1) {
                wk_fail(w, "encoding an alert: %s", err);
                return;
        }
        wk_otel_alert(&w->ot, al, w->sh->svc->spec->compute->output.alerts, w->sh->group_id,
                      &w->trace, &w->trace_len);
        wk_produce_out(w, w->sh->svc->spec->compute->output.alerts, al->key, al->key_len, v, len);
        w->emitted = 1;
        metrics_inc(w->sh->m_alerts, 1);
}

/* The input record, unchanged, to the DLQ with the reason in headers. */
static kc_txn_res_t wk_dlq(wk_t *w, const rd_kafka_message_t *m, const char *cls,
                           const char *reason) {
        kc_record_t rec = {0};
        rec.topic = w->sh->svc->spec->compute->output.dlq;
        rec.partition = RD_KAFKA_PARTITION_UA;
        rec.key = m->key;
        rec.key_len = m->key_len;
        rec.value = m->payload;
        rec.value_len = m->len;
        rec.headers = out_dlq_headers(m, cls, reason);
        if (!rec.headers) {
                wk_fail(w, "out of memory");
                return KC_TXN_FATAL;
        }
        if (kc_txn_produce(w->txn, &rec) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                rd_kafka_headers_destroy(rec.headers);
                return KC_TXN_ABORT;
        }
        metrics_child_t *c = metrics_child(w->sh->f_dlq, cls);
        metrics_inc(c, 1);
        log_debug(WK_LOG, "%s[%d]@%lld to the DLQ: %s: %s", rec.topic, (int)m->partition,
                  (long long)m->offset, cls, reason);
        return KC_TXN_OK;
}

/* ------------------------------------------------------------ hooks */

static void wk_idle_touch(wk_t *w, wk_part_t *p, int64_t now_ms);

/* The transaction lingers after its first output (main.c: linger_ms) for
 * the same windows to close on this worker's other partitions.  Once every
 * partition that has data reached the stream time at which the last
 * windows closed, they all did: the linger ends at once. */
static void wk_linger_check(wk_t *w) {
        for (size_t i = 0; i < w->nparts; i++) {
                const wk_part_t *p = &w->parts[i];
                if (!p->owned || !p->cp)
                        continue;
                cp_part_stats_t s;
                cp_part_stats(p->cp, &s);
                if (s.stream_time_ms != INT64_MIN && s.stream_time_ms < w->close_st)
                        return;
        }
        kc_txn_linger_end(w->txn);
        w->close_st = INT64_MIN;
}

static void wk_dirty(void *opaque, const void *key, size_t key_len, const void *val,
                     size_t val_len);

/* The partition's state changed for the first time in the open
 * transaction: its changelog record goes out now rather than in
 * pre_commit.  That registers the changelog partition with the coordinator
 * (AddPartitionsToTxn: a 1 ms timer and a round trip, 20 ms more per
 * CONCURRENT_TRANSACTIONS answer while the previous commit's markers are
 * written) while nobody waits, instead of between a window's close and its
 * commit; pre_commit then only adds records to a registered partition.
 * The changelog is compacted and the transaction atomic: an entry written
 * twice in it costs a record, and restores read the last.
 * Not in the first WK_CL_EARLY_MS after a commit: the broker is still
 * writing its markers then, the registration would get
 * CONCURRENT_TRANSACTIONS, and partitions of a window closing meanwhile
 * would wait for its retry timer (retry.backoff.ms, kc_txn's 20 ms). */
#define WK_CL_EARLY_MS 20

static void wk_changelog_early(wk_t *w, wk_part_t *p) {
        w->flushing = (int32_t)(p - w->parts);
        w->dirty_sent = 0;
        cp_part_flush_dirty(p->cp, wk_dirty, w);
        p->cl_sent = w->dirty_sent; /* nothing changed (a late record): the next */
}

static kc_txn_res_t wk_process(kc_txn_t *t, const rd_kafka_message_t *m, void *opaque) {
        (void)t;
        wk_t *w = opaque;
        if (w->fatal || wk_restore_stale(w) == -1)
                return KC_TXN_FATAL;
        int64_t t0 = clk_mono_ns();
        metrics_inc(w->sh->m_in, 1);
        wk_part_t *p = wk_part(w, m->partition);
        if (!p || !p->cp) {
                /* A record of a partition the rebalance never announced. */
                wk_fail(w, "record of unassigned partition %d", (int)m->partition);
                return KC_TXN_FATAL;
        }
        wk_idle_touch(w, p, t0 / 1000000);
        char err[512];
        if (!m->payload)
                return wk_dlq(w, m, "malformed", "the record has no value (null)");
        av_decoded_t d;
        int st = av_decode(w->dec, m->payload, m->len, &d, err, sizeof(err));
        if (st == AV_ERR_RETRY) {
                log_warn(WK_LOG, "decoding %s[%d]@%lld: %s (retrying the batch)",
                         rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset, err);
                return KC_TXN_ABORT;
        }
        if (st != AV_OK)
                return wk_dlq(w, m, av_status_name(st), err);
        cp_record_t r;
        const char *cls = wk_rec_extract(&w->sh->plan, d.value, m, &w->rb, &r, err, sizeof(err));
        if (cls)
                return wk_dlq(w, m, cls, err);
        w->trace = NULL;
        w->trace_len = 0;
        out_traceparent(m, &w->trace, &w->trace_len);
        wk_otel_input(&w->ot, w->trace, w->trace_len, m->partition, m->offset);
        w->emitted = 0;
        cp_res_t res = cp_part_process(p->cp, &r, clk_wall_ms(), &w->emit);
        w->trace = NULL;
        if (!p->cl_sent && t0 / 1000000 - w->ended_ms >= WK_CL_EARLY_MS)
                wk_changelog_early(w, p);
        cp_part_stats_t s;
        cp_part_stats(p->cp, &s);
        p->base_st = s.stream_time_ms;
        if (w->emitted) {
                if (s.stream_time_ms > w->close_st)
                        w->close_st = s.stream_time_ms;
        }
        if (w->close_st != INT64_MIN)
                wk_linger_check(w);
        kc_txn_res_t ret = KC_TXN_OK;
        if (res == CP_LATE) {
                snprintf(err, sizeof(err),
                         "late: event time %lld ms is too late for every window it belongs to "
                         "(partition stream time %lld ms, minus each window's grace)",
                         (long long)r.ts_ms, (long long)s.stream_time_ms);
                metrics_inc(w->sh->m_late, 1);
                ret = wk_dlq(w, m, "late", err);
        } else if (res == CP_INVALID) {
                snprintf(err, sizeof(err),
                         "event time %lld ms is outside the range compute accepts (±2^61 ms)",
                         (long long)r.ts_ms);
                ret = wk_dlq(w, m, "event_time", err);
        }
        metrics_observe(w->sh->m_process_s, (double)(clk_mono_ns() - t0) / 1e9);
        if (w->fatal)
                return KC_TXN_FATAL;
        return w->emit_failed ? KC_TXN_ABORT : ret;
}

static void wk_dirty(void *opaque, const void *key, size_t key_len, const void *val,
                     size_t val_len) {
        wk_t *w = opaque;
        kc_record_t rec = {0};
        rec.topic = w->sh->svc->spec->compute->output.changelog;
        rec.partition = w->flushing;
        rec.key = key;
        rec.key_len = key_len;
        rec.value = val;
        rec.value_len = val ? val_len : 0;
        if (kc_txn_produce_state(w->txn, &rec) != RD_KAFKA_RESP_ERR_NO_ERROR)
                w->emit_failed = 1;
        else
                metrics_inc(w->sh->m_changelog, 1);
        w->dirty_sent = 1;
}

static kc_txn_res_t wk_pre_commit(kc_txn_t *t, void *opaque) {
        (void)t;
        wk_t *w = opaque;
        if (w->fatal)
                return KC_TXN_FATAL;
        for (size_t i = 0; i < w->nparts; i++) {
                wk_part_t *p = &w->parts[i];
                if (!p->owned || p->stale || !p->cp)
                        continue;
                w->flushing = (int32_t)i;
                cp_part_flush_dirty(p->cp, wk_dirty, w);
        }
        if (w->emit_failed)
                return KC_TXN_ABORT;
        wk_otel_commit_begin(&w->ot); /* the offsets and the commit are sent next */
        return KC_TXN_OK;
}

/* The transaction ended: the next registers its changelog partitions anew. */
static void wk_changelog_reset(wk_t *w) {
        w->ended_ms = clk_mono_ms();
        for (size_t i = 0; i < w->nparts; i++)
                w->parts[i].cl_sent = 0;
}

static void wk_committed(kc_txn_t *t, int64_t records, void *opaque) {
        (void)t;
        (void)records;
        wk_t *w = opaque;
        wk_otel_txn(&w->ot, 1);
        w->emit_failed = 0;
        w->close_st = INT64_MIN;
        wk_changelog_reset(w);
}

static void wk_aborted(kc_txn_t *t, void *opaque) {
        (void)t;
        wk_t *w = opaque;
        wk_otel_txn(&w->ot, 0);
        w->emit_failed = 0;
        w->close_st = INT64_MIN;
        wk_changelog_reset(w);
        /* The state holds changes of the aborted transaction, and the
         * consumer was rewound to the last commit: start again from the
         * committed state.  Partitions being revoked are dropped by the
         * revoked hook before they would be restored. */
        int n = 0;
        for (size_t i = 0; i < w->nparts; i++) {
                wk_part_t *p = &w->parts[i];
                if (!p->owned)
                        continue;
                cp_part_destroy(p->cp);
                p->cp = NULL;
                p->stale = 1;
                n++;
        }
        log_info(WK_LOG,
                 "worker %d: transaction aborted; state of %d partition(s) will be "
                 "restored from the changelog",
                 w->index, n);
}

static void wk_assigned(kc_txn_t *t, const rd_kafka_topic_partition_list_t *parts, void *opaque) {
        (void)t;
        wk_t *w = opaque;
        for (int i = 0; i < parts->cnt; i++) {
                if (parts->elems[i].partition >= w->sh->changelog_partitions) {
                        /* The input topic grew after start-up. */
                        wk_fail(w,
                                "input partition %d has no changelog partition: %s has %d; add "
                                "partitions to it to match the input topic and restart",
                                (int)parts->elems[i].partition,
                                w->sh->svc->spec->compute->output.changelog,
                                w->sh->changelog_partitions);
                        return;
                }
                wk_part_t *p = wk_part_grow(w, parts->elems[i].partition);
                if (!p) {
                        wk_fail(w, "out of memory");
                        return;
                }
                cp_part_destroy(p->cp);
                p->cp = NULL;
                p->owned = 1;
                p->stale = 1;
                p->cl_sent = 0;
        }
        /* Before the hook returns: fetching starts after it. */
        wk_restore_stale(w);
}

static void wk_revoked(kc_txn_t *t, const rd_kafka_topic_partition_list_t *parts, int lost,
                       void *opaque) {
        (void)t;
        (void)lost;
        wk_t *w = opaque;
        for (int i = 0; i < parts->cnt; i++) {
                wk_part_t *p = wk_part(w, parts->elems[i].partition);
                if (!p)
                        continue;
                cp_part_destroy(p->cp);
                p->cp = NULL;
                p->owned = 0;
                p->stale = 0;
                p->idle = p->idle_closed = 0;
                p->last_in_ms = 0;
        }
        wk_stats(w, 1);
}

/* ------------------------------------------------------------ idle input */

/* A record of partition p came (any record, even one for the DLQ). */
static void wk_idle_touch(wk_t *w, wk_part_t *p, int64_t now_ms) {
        if (p->idle) {
                log_info(WK_LOG, "worker %d: partition %d resumes after %lld ms without records",
                         w->index, (int)(p - w->parts), (long long)(now_ms - p->last_in_ms));
                p->idle = 0;
                wk_stats(w, 1);
        }
        p->idle_closed = 0;
        p->last_in_ms = now_ms;
        cp_part_stats_t s;
        cp_part_stats(p->cp, &s);
        p->base_st = s.stream_time_ms;
}

/* Whether the consumer knows of records of the partition it has not
 * returned yet (its position short of the high watermark of the last fetch,
 * as kc_txn's caught-up test, with its one offset of slack for a commit
 * marker): then the partition is not idle, only waiting its turn. */
static int wk_part_behind(wk_t *w, int32_t partition) {
        rd_kafka_t *rk = kc_rk(kc_txn_consumer(w->txn));
        const char *topic = w->sh->svc->spec->input.topic;
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(rk, topic, partition, &lo, &hi) !=
                    RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
                return 0;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, partition);
        int behind = rd_kafka_position(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                     l->elems[0].offset >= 0 && l->elems[0].offset < hi - 1;
        rd_kafka_topic_partition_list_destroy(l);
        return behind;
}

/* input.idle, from the tick: a partition without records for idle.after
 * of wall clock has its stream time moved on by the wall-clock time since
 * its last record (advance), or every open window closed once (close).  The
 * results are produced in the open transaction like any other, and the
 * state they leave (stream time, closed windows) goes to the changelog at
 * its commit, so a crash before the commit repeats the close from the
 * restored state and a crash after it finds nothing left to close. */
static void wk_idle(wk_t *w, int64_t wall) {
        const spec_input_t *in = &w->sh->svc->spec->input;
        if (in->idle.action == SPEC_IDLE_NONE)
                return;
        int64_t now = clk_mono_ns() / 1000000;
        for (size_t i = 0; i < w->nparts; i++) {
                wk_part_t *p = &w->parts[i];
                if (!p->owned || !p->cp)
                        continue;
                if (!p->last_in_ms) {
                        cp_part_stats_t s;
                        cp_part_stats(p->cp, &s);
                        p->last_in_ms = now;
                        p->base_st = s.stream_time_ms;
                        p->idle = p->idle_closed = 0;
                        continue;
                }
                int64_t quiet = now - p->last_in_ms;
                if (quiet < in->idle.after_ms || (!p->idle && wk_part_behind(w, (int32_t)i)))
                        continue;
                int was_idle = p->idle;
                p->idle = 1;
                if (in->idle.action == SPEC_IDLE_ADVANCE) {
                        if (p->base_st != INT64_MIN)
                                cp_part_advance_to(p->cp, p->base_st + quiet, wall, &w->emit);
                        if (!was_idle)
                                log_info(WK_LOG,
                                         "worker %d: partition %d idle: no record for %lld ms; "
                                         "its stream time moves on with the wall clock",
                                         w->index, (int)i, (long long)quiet);
                } else if (!p->idle_closed) {
                        int64_t n = cp_part_close_all(p->cp, wall, &w->emit);
                        p->idle_closed = 1;
                        metrics_inc(w->sh->m_idle_closed, (double)n);
                        cp_part_stats_t s;
                        cp_part_stats(p->cp, &s);
                        if (s.stream_time_ms == INT64_MIN)
                                log_info(WK_LOG,
                                         "worker %d: partition %d idle: no record for %lld ms "
                                         "(none yet: nothing to close)",
                                         w->index, (int)i, (long long)quiet);
                        else
                                log_info(WK_LOG,
                                         "worker %d: partition %d idle: no record for %lld ms; "
                                         "closed its %lld open window(s) (stream time now %lld "
                                         "ms)",
                                         w->index, (int)i, (long long)quiet, (long long)n,
                                         (long long)s.stream_time_ms);
                }
                if (!was_idle)
                        wk_stats(w, 1);
        }
}

static kc_txn_res_t wk_tick(kc_txn_t *t, void *opaque) {
        (void)t;
        wk_t *w = opaque;
        if (w->fatal || wk_restore_stale(w) == -1)
                return KC_TXN_FATAL;
        int64_t now = clk_mono_ns();
        if (now - w->last_tick_ns < 100 * 1000000LL)
                return KC_TXN_OK;
        w->last_tick_ns = now;
        int64_t wall = clk_wall_ms();
        wk_idle(w, wall);
        for (size_t i = 0; i < w->nparts; i++)
                if (w->parts[i].owned && w->parts[i].cp)
                        cp_part_tick(w->parts[i].cp, wall, &w->emit);
        wk_stats(w, 0);
        if (w->fatal)
                return KC_TXN_FATAL;
        return w->emit_failed ? KC_TXN_ABORT : KC_TXN_OK;
}

/* ------------------------------------------------------------ the thread */

static void *wk_main(void *arg) {
        wk_t *w = arg;
        wk_shared_t *sh = w->sh;
        char err[512];
        st_t st;
        kc_txn_conf_t conf = sh->txn;
        /* Outputs are partitioned by key like the Java client's default, so
         * any consumer can co-partition with them.
         *
         * The consumer's prefetch queue is compute's largest memory user:
         * ~300 bytes of librdkafka structures per queued record besides the
         * record.  fw (fw.h) wakes the fetcher as soon as the queue falls
         * below queued.min.messages, so the queue need only cover that
         * wake-up and one fetch: 1000 records (~10 ms of work), fetches of
         * one record batch (the broker always returns at least one whole
         * batch; fetch.max.bytes may not be below message.max.bytes, which
         * on a consumer only caps the first guess of an LZ4 decompression
         * buffer, grown as needed: librdkafka 2.0.2).  fw goes by the record
         * count, so the byte limit must not bind first: 4 MiB does not for
         * records under 4 KB (larger ones fall back to librdkafka's 1 s
         * pauses, as before).  Catching up with 2M records the process
         * peaked at ~23-25 MiB instead of 72-77, and finished sooner (docs/
         * bench/compute.md).  KAFKA_* overrides all of these. */
        static const char *const producer_props[] = {"partitioner", "murmur2_random", NULL};
        const char *topics[] = {sh->svc->spec->input.topic, NULL};
        conf.topics = topics;
        conf.instance = w->index;
        conf.producer_props = producer_props;
        conf.consumer_props = wk_consumer_props;
        conf.group = sh->group;      /* NULL: this loop is a group member itself */
        conf.admin = sh->svc->admin; /* heartbeat "compute loop <index>", kafka assigned */
        conf.stop = &sh->svc->stop;
        conf.hooks = (kc_txn_hooks_t){.process = wk_process,
                                      .pre_commit = wk_pre_commit,
                                      .committed = wk_committed,
                                      .aborted = wk_aborted,
                                      .assigned = wk_assigned,
                                      .revoked = wk_revoked,
                                      .tick = wk_tick,
                                      .opaque = w};
        w->cl = cl_reader_new("compute", sh->group_id, sh->svc->spec->compute->output.changelog,
                              sh->restore_stable_ms, err, sizeof(err));
        if (!w->cl) {
                wk_fail(w, "changelog reader: %s", err);
        } else if (!(w->txn = kc_txn_new(&conf, &st, err, sizeof(err)))) {
                if (st == ST_STOPPED) /* SIGTERM while waiting for the broker */
                        log_info(WK_LOG, "worker %d: %s", w->index, err);
                else
                        wk_fail(w, "%s", err);
        } else if (!(w->fw = fw_new(kc_rk(kc_txn_consumer(w->txn)), kc_txn_queue(w->txn),
                                    sh->m_wakeups, err, sizeof(err)))) {
                wk_fail(w, "%s", err);
        } else {
                kc_txn_set_fw(w->txn, w->fw);
                pthread_mutex_lock(&sh->lock);
                if (++sh->loops == sh->nworkers)
                        svc_started(sh->svc); /* every readiness condition exists now */
                pthread_mutex_unlock(&sh->lock);
                log_info(WK_LOG, "worker %d running (transactional.id %s)", w->index,
                         kc_txn_id(w->txn));
                if (kc_txn_run(w->txn, err, sizeof(err)) != ST_OK)
                        wk_fail(w, "%s", err);
                log_info(WK_LOG, "worker %d: %ld fetch wake-up(s)", w->index, fw_wakeups(w->fw));
        }
        if (w->fatal)
                atomic_store(&sh->svc->stop, 1); /* the others stop too */
        return NULL;
}

wk_t *wk_start(wk_shared_t *sh, int index, char *errstr, size_t errstr_size) {
        wk_t *w = calloc(1, sizeof(*w));
        if (!w) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        w->sh = sh;
        w->index = index;
        w->close_st = INT64_MIN;
        w->emit = (cp_emit_t){.aggregate = wk_emit_aggregate, .alert = wk_emit_alert, .opaque = w};
        char idx[16];
        snprintf(idx, sizeof(idx), "%d", index);
        w->g_open = metrics_child(sh->f_open, idx);
        w->g_bytes = metrics_child(sh->f_bytes, idx);
        w->g_keys = metrics_child(sh->f_keys, idx);
        w->g_idle = metrics_child(sh->f_idle, idx);
        if (wk_rec_buf_init(&w->rb, sh->plan.nfields) == -1 ||
            !(w->dec = svc_decoder_new(sh->svc, sh->svc->input_schema)) ||
            !(w->out = out_new(&sh->out))) {
                snprintf(errstr, errstr_size, "out of memory");
                wk_free(w);
                return NULL;
        }
        int e = pthread_create(&w->thread, NULL, wk_main, w);
        if (e) {
                snprintf(errstr, errstr_size, "worker thread: %s", strerror(e));
                wk_free(w);
                return NULL;
        }
        return w;
}

int wk_join(wk_t *w, char *errstr, size_t errstr_size) {
        pthread_join(w->thread, NULL);
        int rc = w->fatal ? -1 : 0;
        if (rc)
                snprintf(errstr, errstr_size, "worker %d: %s", w->index, w->errstr);
        wk_free(w);
        return rc;
}
