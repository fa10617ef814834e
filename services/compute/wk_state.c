/* wk_state — a worker's partition table, restoring state from the
 * changelog, the state gauges, and the set-up every worker shares. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "kc_group.h"
#include "log.h"
#include "vec.h"
#include "wk_int.h"

wk_part_t *wk_part(wk_t *w, int32_t partition) {
        if (partition < 0 || (size_t)partition >= w->nparts)
                return NULL;
        return &w->parts[partition];
}

wk_part_t *wk_part_grow(wk_t *w, int32_t partition) {
        if (partition < 0)
                return NULL;
        if ((size_t)partition >= w->nparts) {
                /* Slots past nparts are zero: VEC_RESERVE zeroes what it adds. */
                if (VEC_RESERVE(w->parts, w->parts_cap, (size_t)partition + 1) == -1)
                        return NULL;
                w->nparts = (size_t)partition + 1;
        }
        return &w->parts[partition];
}

/* ------------------------------------------------------------ restore */

static void wk_restoring(wk_shared_t *sh, int delta) {
        pthread_mutex_lock(&sh->lock);
        sh->restoring += delta;
        admin_ready_set(sh->svc->admin, sh->ready_cond, sh->restoring == 0);
        metrics_set(sh->m_restoring, sh->restoring);
        pthread_mutex_unlock(&sh->lock);
}

static int wk_restore_record(void *opaque, int32_t partition, const void *key, size_t key_len,
                             const void *val, size_t val_len) {
        wk_t *w = opaque;
        wk_part_t *p = wk_part(w, partition);
        if (!p || !p->cp)
                return 0;
        char err[512];
        if (cp_part_restore(p->cp, key, key_len, val, val_len, err, sizeof(err)) != 0) {
                /* One unreadable state record costs that key's state, not the
                 * service: log it, count it, go on. */
                metrics_inc(w->sh->m_corrupt, 1);
                log_error(WK_LOG, "changelog partition %d: state record skipped: %s",
                          (int)partition, err);
        }
        return 0;
}

int wk_restore_stale(wk_t *w) {
        if (w->fatal)
                return -1;
        size_t n = 0;
        for (size_t i = 0; i < w->nparts; i++)
                if (w->parts[i].owned && w->parts[i].stale)
                        n++;
        if (n == 0)
                return 0;
        int32_t *ids = calloc(n, sizeof(*ids));
        if (!ids) {
                wk_fail(w, "out of memory");
                return -1;
        }
        n = 0;
        for (size_t i = 0; i < w->nparts; i++) {
                wk_part_t *p = &w->parts[i];
                if (!p->owned || !p->stale)
                        continue;
                cp_part_destroy(p->cp);
                p->evicted_seen = 0;
                if (!(p->cp = cp_part_new(w->sh->engine, (int32_t)i))) {
                        free(ids);
                        wk_fail(w, "out of memory");
                        return -1;
                }
                ids[n++] = (int32_t)i;
        }
        wk_restoring(w->sh, 1);
        int64_t t0 = clk_mono_ns(), records = 0;
        char err[512];
        st_t rc = cl_restore(w->cl, ids, n, wk_restore_record, w, &records, &w->sh->svc->stop,
                             kc_txn_beat(w->txn), err, sizeof(err));
        double took = (double)(clk_mono_ns() - t0) / 1e9;
        if (rc != ST_OK) {
                wk_restoring(w->sh, -1);
                free(ids);
                if (rc == ST_STOPPED)
                        return 0; /* stopping: the partitions stay stale */
                wk_fail(w, "restoring state: %s", err);
                return -1;
        }
        for (size_t i = 0; i < n; i++) {
                w->parts[ids[i]].stale = 0;
                w->parts[ids[i]].last_in_ms = 0; /* idle counts from now */
        }
        metrics_observe(w->sh->m_restore_s, took);
        metrics_inc(w->sh->m_restored, (double)records);
        /* Ready only now: whoever sees /readyz 200 sees the restore counted. */
        wk_restoring(w->sh, -1);
        char list[256];
        log_info(WK_LOG, "worker %d: restored partition(s) %s: %lld state record(s) in %.3f s",
                 w->index, cl_parts_str(list, sizeof(list), ids, n), (long long)records, took);
        free(ids);
        wk_stats(w, 1);
        return 0;
}

/* ------------------------------------------------------------ statistics */

#define WK_TRIM_BYTES ((int64_t)1 << 20)

void wk_stats(wk_t *w, int force) {
        int64_t now = clk_mono_ns();
        if (!force && now - w->last_stats_ns < 1000000000LL)
                return;
        w->last_stats_ns = now;
        int64_t open = 0, bytes = 0, keys = 0, idle = 0;
        for (size_t i = 0; i < w->nparts; i++) {
                if (!w->parts[i].owned || !w->parts[i].cp)
                        continue;
                idle += w->parts[i].idle;
                cp_part_stats_t s;
                cp_part_stats(w->parts[i].cp, &s);
                open += s.open_windows;
                bytes += s.state_bytes;
                if (s.evicted_keys > w->parts[i].evicted_seen) {
                        metrics_inc(w->sh->m_evicted,
                                    (double)(s.evicted_keys - w->parts[i].evicted_seen));
                        w->parts[i].evicted_seen = s.evicted_keys;
                }
                keys += s.keys;
        }
        /* Freed state stays resident in glibc's heaps (free chunks amid
         * live ones, per-thread arenas) until trimmed: once this worker's
         * state fell by a quarter of its high point (and at least
         * WK_TRIM_BYTES), give the free pages back.  malloc_trim(0) walks every arena and madvises
         * whole free pages (measured in tests/unit/test_compute_scale.c: 300k keys' windows closed,
         * 160 -> 63 MiB resident for 61 MiB of live state); it takes the arena locks for a few ms,
         * at most once per quarter of the state freed. */
        if (bytes > w->trim_hi) {
                w->trim_hi = bytes;
        } else if (w->trim_hi - bytes >= WK_TRIM_BYTES && w->trim_hi - bytes >= w->trim_hi / 4) {
                malloc_trim(0);
                w->trim_hi = bytes;
                /* and once more when the closing's output and changelog
                 * records have been delivered and librdkafka freed them */
                w->trim_again_ns = now + 5000000000LL;
        } else if (w->trim_again_ns && now >= w->trim_again_ns) {
                malloc_trim(0);
                w->trim_again_ns = 0;
        }
        metrics_set(w->g_open, (double)open);
        metrics_set(w->g_bytes, (double)bytes);
        metrics_set(w->g_keys, (double)keys);
        metrics_set(w->g_idle, (double)idle);
}

void wk_free(wk_t *w) {
        if (!w)
                return;
        for (size_t i = 0; i < w->nparts; i++)
                cp_part_destroy(w->parts[i].cp);
        free(w->parts);
        fw_destroy(w->fw); /* before the consumer it queries */
        kc_txn_destroy(w->txn);
        cl_reader_destroy(w->cl);
        if (w->dec)
                av_decoder_destroy(w->dec);
        out_destroy(w->out);
        wk_rec_buf_fini(&w->rb);
        free(w);
}

/* ------------------------------------------------------------ shared */

int wk_shared_init(wk_shared_t *sh, svc_t *svc, const cp_engine_t *engine, char *errstr,
                   size_t errstr_size) {
        sh->svc = svc;
        sh->engine = engine;
        if (wk_rec_plan_init(&sh->plan, svc->spec, engine, svc->input_schema, errstr,
                             errstr_size) == -1)
                return -1;
        const spec_input_t *in = &svc->spec->input;
        log_info(WK_LOG, "event time: %s%s%s%s%s", in->event_time ? in->event_time : "",
                 in->event_time ? ", " : "", sh->plan.ts.type,
                 sh->plan.ts.unit == ET_STRING ? ", format " : "",
                 sh->plan.ts.unit == ET_STRING ? in->event_time_format : "");
        pthread_mutex_init(&sh->lock, NULL);
        sh->ready_cond = admin_ready_condition(svc->admin, "state restored");
        admin_ready_set(svc->admin, sh->ready_cond, 1);

        /* Per-record processing takes microseconds: buckets from 1 µs. */
        static const double proc_buckets[] = {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5,
                                              1e-4, 2.5e-4, 1e-3, 1e-2, 0.1};
        static const double restore_buckets[] = {0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
        sh->m_in = metrics_counter("weir_compute_records_in_total",
                                   "Input records consumed (every outcome).");
        sh->m_aggregates =
                metrics_counter("weir_compute_aggregates_out_total", "Aggregate records produced.");
        sh->m_alerts = metrics_counter("weir_compute_alerts_out_total", "Alert records produced.");
        sh->m_late = metrics_counter("weir_compute_late_records_total",
                                     "Records too late for every window they belong to (sent to "
                                     "the DLQ).");
        sh->m_changelog = metrics_counter("weir_compute_changelog_records_total",
                                          "State records written to the changelog.");
        sh->m_restored = metrics_counter("weir_compute_restored_records_total",
                                         "State records read back from the changelog.");
        sh->m_corrupt = metrics_counter("weir_compute_changelog_rejected_records_total",
                                        "Changelog records the engine could not restore.");
        sh->m_process_s =
                metrics_histogram("weir_compute_process_duration_seconds",
                                  "Time to decode and process one input record.", proc_buckets,
                                  sizeof(proc_buckets) / sizeof(proc_buckets[0]));
        sh->m_restore_s = metrics_histogram("weir_compute_restore_duration_seconds",
                                            "Time to restore a worker's partitions from the "
                                            "changelog.",
                                            restore_buckets,
                                            sizeof(restore_buckets) / sizeof(restore_buckets[0]));
        sh->m_wakeups = metrics_counter("weir_compute_fetch_wakeups_total",
                                        "Times a worker woke its consumer's fetcher because "
                                        "the prefetch queue ran low (fw.h).");
        sh->m_restoring = metrics_gauge("weir_compute_restoring_workers",
                                        "Workers restoring state now (readiness is false while "
                                        "any is).");
        sh->f_dlq =
                metrics_counter_family("weir_compute_dlq_records_total",
                                       "Input records sent to the DLQ, by error class.", "class");
        sh->f_open = metrics_gauge_family("weir_compute_open_windows",
                                          "Windows not yet closed, per worker thread.", "worker");
        sh->f_bytes =
                metrics_gauge_family("weir_compute_state_bytes",
                                     "Memory held by live state (keys, open windows, sketches, "
                                     "tables), per worker thread.",
                                     "worker");
        sh->f_idle = metrics_gauge_family("weir_compute_idle_partitions",
                                          "Input partitions idle now (input.idle), per worker "
                                          "thread.",
                                          "worker");
        sh->m_idle_closed = metrics_counter("weir_compute_idle_closed_windows_total",
                                            "Windows closed because their partition was idle "
                                            "(input.idle action close).");
        sh->m_evicted = metrics_counter("weir_compute_evicted_keys_total",
                                        "Grouping keys forgotten by compute.key_ttl (state "
                                        "freed, changelog tombstone).");
        sh->f_keys = metrics_gauge_family("weir_compute_state_keys",
                                          "Grouping keys with state, per worker thread.", "worker");
        /* Children exist from the start, so dashboards see zeros. */
        static const char *const classes[] = {"late", "malformed", "schema", "key", "event_time"};
        for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
                metrics_child(sh->f_dlq, classes[i]);
        return 0;
}

/* Every input consumer of compute (a worker's, the group's): fw.h's small
 * prefetch (wk.c says why). */
const char *const wk_consumer_props[] = {FW_PREFETCH_PROPS, NULL};

int wk_group_start(wk_shared_t *sh, char *errstr, size_t errstr_size) {
        if (sh->nworkers <= 1)
                return 0; /* one loop: a group member itself, as fast as before */
        kc_txn_conf_t conf = sh->txn;
        sh->topics[0] = sh->svc->spec->input.topic;
        sh->topics[1] = NULL;
        conf.topics = sh->topics;
        /* One consumer fetches for every worker, one request in flight
         * per broker: fetch.max.bytes per worker, as each worker's own
         * consumer had; and a request holding only caught-up partitions
         * (a worker done with its backlog) is not held fetch.wait.max.ms
         * (500 ms) by the broker while another worker, whose partitions
         * were left out of it because its queue was full, runs dry.
         * bench-compute, 2M records, 2 threads: 24-30 s with neither,
         * 9.4 s with both (8.3 s with a member per worker); an idle
         * process then sends 100 fetches a second instead of 2. */
        size_t n = 0;
        for (; wk_consumer_props[n] && n + 6 < sizeof(sh->group_props) / sizeof(sh->group_props[0]);
             n++)
                sh->group_props[n] = wk_consumer_props[n];
        snprintf(sh->group_fetch_max, sizeof(sh->group_fetch_max), "%d", 65536 * sh->nworkers);
        sh->group_props[n++] = "fetch.max.bytes";
        sh->group_props[n++] = sh->group_fetch_max;
        sh->group_props[n++] = "fetch.wait.max.ms";
        sh->group_props[n++] = "10";
        sh->group_props[n] = NULL;
        conf.consumer_props = sh->group_props;
        conf.admin = sh->svc->admin; /* "kafka assigned": the one member */
        conf.stop = &sh->svc->stop;
        sh->group = kc_group_new(&conf, sh->nworkers, errstr, errstr_size);
        return sh->group ? 0 : -1;
}

void wk_shared_fini(wk_shared_t *sh) {
        kc_group_destroy(sh->group);
        sh->group = NULL;
        wk_rec_plan_fini(&sh->plan);
        pthread_mutex_destroy(&sh->lock);
}
