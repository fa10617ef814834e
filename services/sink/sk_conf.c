/* sk_conf — the sink loop's settings and metrics (see sk_conf.h). */
#include "sk_conf.h"

#include "cfg_tab.h"

#define F(m) CFG_FIELD(sk_conf_t, m)
static const cfg_def_t sk_conf_rows[] = {
        {.name = "SINK_BATCH_POINTS",
         .type = CFG_INT,
         F(batch_points),
         .def = "5000",
         .min = 1,
         .max = 1000000,
         .doc = "a batch is written when it holds this many points…"},
        {.name = "SINK_BATCH_BYTES",
         .type = CFG_SIZE,
         F(batch_bytes),
         .def = "1MiB",
         .min = 1024,
         .max = 256 << 20,
         .doc = "…or this much line protocol (before gzip)…"},
        {.name = "SINK_FLUSH_INTERVAL",
         .type = CFG_DURATION,
         F(flush_ms),
         .def = "1s",
         .min = 1,
         .max = 600000,
         .doc = "…or when its first record is this old (offsets are committed at the same "
                "moments, also when nothing was written)"},
};
#undef F

const cfg_tab_t sk_conf_tab = CFG_TAB("sink", sk_conf_rows);

int sk_conf_env(sk_conf_t *c, char *errstr, size_t errstr_size) {
        return cfg_tab_load(&sk_conf_tab, NULL, c, errstr, errstr_size);
}

void sk_metrics_init(sk_metrics_t *m) {
        static const char *const kind[T_N] = {"aggregate", "alert"};
        metrics_family_t *rec = metrics_counter_family(
                "weir_sink_records_total", "Records consumed from the sink's inputs.", "kind");
        metrics_family_t *wr = metrics_counter_family("weir_sink_points_written_total",
                                                      "Points InfluxDB acknowledged.", "kind");
        metrics_family_t *rj = metrics_counter_family(
                "weir_sink_points_rejected_total",
                "Points InfluxDB rejected (400/422, or 413 for a single line); sent to the DLQ.",
                "kind");
        for (int t = 0; t < T_N; t++) {
                m->records[t] = metrics_child(rec, kind[t]);
                m->written[t] = metrics_child(wr, kind[t]);
                m->rejected[t] = metrics_child(rj, kind[t]);
        }
        m->wakeups = metrics_counter("weir_sink_fetch_wakeups_total",
                                     "Times the loop woke its consumer's fetcher because the "
                                     "prefetch queue ran low.");
        m->batches = metrics_counter("weir_sink_influx_batches_total",
                                     "Batches InfluxDB acknowledged (after retries and splits).");
        static const double e2e[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,
                                     10,   30,   60,  120,  300, 600, 1800, 3600};
        m->e2e = metrics_histogram(
                "weir_sink_end_to_end_latency_seconds",
                "From a point's event time (its window end) to InfluxDB acknowledging it.", e2e,
                sizeof(e2e) / sizeof(e2e[0]));
        m->skipped = metrics_counter_family(
                "weir_sink_records_skipped_total",
                "Records written to no database: tombstone, no_fields, alerts_off.", "reason");
}
