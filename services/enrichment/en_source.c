/* en_source — the three source types behind one interface; see en_source.h. */
#include "en_source.h"
#include "clk.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "en_file.h"
#include "log.h"

static const char *const en_type_names[] = {"kafka", "redis", "file"};

static st_t en_source_load(en_source_t *s, svc_t *svc, const spec_source_t *spec, atomic_int *stop,
                           admin_beat_t *beat, char *errstr, size_t errstr_size) {
        st_t st;
        memset(s, 0, sizeof(*s));
        s->spec = spec;
        static const char *const results[] = {"hit", "miss", "stale", "error"};
        metrics_family_t *f = metrics_counter_family("weir_enrichment_lookups_total",
                                                     "Reference look-ups by source and result.",
                                                     "source,type,result");
        for (int i = 0; i < 4; i++)
                s->m_res[i] = metrics_child(f, spec->name, en_type_names[spec->type], results[i]);
        static const double lat[] = {1e-6, 5e-6, 2e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.02, 0.1, 0.5, 2};
        s->m_lat = metrics_child(
                metrics_histogram_family("weir_enrichment_lookup_duration_seconds",
                                         "Time to answer a look-up (Redis: a pipelined round "
                                         "trip for a batch).",
                                         "source", lat, sizeof(lat) / sizeof(lat[0])),
                spec->name);
        s->m_entries = metrics_child(
                metrics_gauge_family("weir_enrichment_table_entries",
                                     "Reference keys held in memory (Redis: in the cache).",
                                     "source"),
                spec->name);
        s->m_stale = metrics_child(
                metrics_gauge_family(
                        "weir_enrichment_staleness_seconds",
                        "How old the reference data may be: Kafka, seconds since the "
                        "table was last at the topic's end; Redis, seconds since Redis "
                        "last answered while it is unreachable; file, since loaded.",
                        "source"),
                spec->name);
        switch (spec->type) {
        case SPEC_SOURCE_FILE: {
                if (en_table_init(&s->file) == -1) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return ST_NOMEM;
                }
                long rows = en_file_load(spec, &s->file, errstr, errstr_size);
                if (rows < 0)
                        return ST_FATAL;
                log_info("enrichment", "source \"%s\": %ld rows, %zu keys from %s", spec->name,
                         rows, s->file.map.count, spec->file.path);
                break;
        }
        case SPEC_SOURCE_KAFKA:
                if (!(s->kafka = en_kafka_new(svc, spec, errstr, errstr_size)))
                        return ST_FATAL;
                if ((st = en_kafka_load(s->kafka, stop, beat, errstr, errstr_size)) != ST_OK)
                        return st;
                break;
        case SPEC_SOURCE_REDIS:
                s->m_ratio = metrics_child(
                        metrics_gauge_family("weir_enrichment_cache_hit_ratio",
                                             "Share of Redis look-ups answered fresh from the "
                                             "in-process cache, since start.",
                                             "source"),
                        spec->name);
                if (!(s->redis = en_redis_new(spec, errstr, errstr_size)))
                        return ST_INVALID;
                if ((st = en_redis_start(s->redis, stop, beat, errstr, errstr_size)) != ST_OK)
                        return st;
                break;
        }
        s->loaded_ms = clk_mono_ms();
        en_source_tick(s);
        return ST_OK;
}

st_t en_source_open(en_source_t *s, svc_t *svc, const spec_source_t *spec, atomic_int *stop,
                    char *errstr, size_t errstr_size) {
        /* Loading may wait for a broker or Redis: the thread doing it beats
         * under the source's name, and is not expected to beat afterwards. */
        char name[160];
        snprintf(name, sizeof(name), "enrichment source %s", spec->name);
        admin_beat_t *beat = admin_beat_new(svc->admin, name);
        st_t st = en_source_load(s, svc, spec, stop, beat, errstr, errstr_size);
        admin_beat_end(beat);
        return st;
}

static const en_table_t *en_source_table(en_source_t *s) {
        return s->spec->type == SPEC_SOURCE_FILE ? &s->file : en_kafka_table(s->kafka);
}

void en_source_lookup(en_source_t *s, const char *const *keys, const size_t *lens, size_t n,
                      const en_entry_t **out, uint8_t *res) {
        if (s->spec->type == SPEC_SOURCE_REDIS) {
                double rs;
                en_redis_lookup(s->redis, keys, lens, n, out, res, &rs);
                /* en_redis_res_t and en_result_t share their values. */
                for (size_t i = 0; i < n; i++)
                        metrics_inc(s->m_res[res[i]], 1);
                if (rs > 0)
                        metrics_observe(s->m_lat, rs);
                return;
        }
        const en_table_t *t = en_source_table(s);
        uint64_t hits = 0;
        double t0 = clk_mono_s();
        for (size_t i = 0; i < n; i++) {
                out[i] = en_table_get(t, keys[i], lens[i]);
                res[i] = out[i] ? EN_HIT : EN_MISS;
                hits += out[i] != NULL;
        }
        /* One clock read per batch: the per-key figure is the batch's mean. */
        double per = n ? (clk_mono_s() - t0) / (double)n : 0;
        for (size_t i = 0; i < n; i++)
                metrics_observe(s->m_lat, per);
        metrics_inc(s->m_res[EN_HIT], (double)hits);
        metrics_inc(s->m_res[EN_MISS], (double)(n - hits));
}

void en_source_tick(en_source_t *s) {
        /* Called every loop turn, i.e. per record: the coarse clock (a few
         * ms resolution) costs far less than the precise one here. */
        int64_t now = clk_mono_coarse_ms();
        if (now - s->last_tick_ms < 20)
                return;
        s->last_tick_ms = now;
        switch (s->spec->type) {
        case SPEC_SOURCE_FILE:
                metrics_set(s->m_entries, (double)s->file.map.count);
                metrics_set(s->m_stale,
                            now > s->loaded_ms ? (double)(now - s->loaded_ms) / 1000.0 : 0.0);
                break;
        case SPEC_SOURCE_KAFKA:
                en_kafka_follow(s->kafka, 10000);
                metrics_set(s->m_entries, (double)en_kafka_table(s->kafka)->map.count);
                metrics_set(s->m_stale, en_kafka_staleness_s(s->kafka));
                break;
        case SPEC_SOURCE_REDIS: {
                uint64_t h, m;
                en_redis_cache_counts(s->redis, &h, &m);
                metrics_set(s->m_entries, (double)en_redis_cache_entries(s->redis));
                metrics_set(s->m_stale, en_redis_staleness_s(s->redis));
                if (h + m)
                        metrics_set(s->m_ratio, (double)h / (double)(h + m));
                break;
        }
        }
}

void en_source_close(en_source_t *s) {
        if (s->spec && s->spec->type == SPEC_SOURCE_FILE)
                en_table_fini(&s->file);
        en_kafka_destroy(s->kafka);
        en_redis_destroy(s->redis);
        memset(s, 0, sizeof(*s));
}
