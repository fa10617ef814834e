/* en_source — one reference-data source of the spec (file, kafka or redis)
 * behind one interface: open (load / warm up), look up a batch of keys,
 * tick (follow the topic, refresh gauges), close.  Also owns the per-source
 * metrics:
 *   weir_enrichment_lookups_total{source,result=hit|miss|stale|error}
 *   weir_enrichment_lookup_duration_seconds{source}   histogram; per key
 *       for in-memory tables, per pipelined round trip for Redis
 *   weir_enrichment_table_entries{source}              keys held in memory
 *   weir_enrichment_cache_hit_ratio{source}            Redis cache, since start
 *   weir_enrichment_staleness_seconds{source}          see en_kafka.h / en_redis.h;
 *       a file: seconds since it was loaded */
#ifndef WEIR_EN_SOURCE_H
#define WEIR_EN_SOURCE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "en_kafka.h"
#include "en_redis.h"
#include "en_table.h"
#include "metrics.h"
#include "st.h"
#include "svc.h"

typedef enum {
        EN_HIT = 0,
        EN_MISS = 1,
        EN_STALE = 2, /* served, from a cache past its TTL */
        EN_ERROR = 3  /* could not be answered now: retry later */
} en_result_t;

typedef struct en_source_s {
        const spec_source_t *spec;
        en_table_t file;   /* SPEC_SOURCE_FILE */
        en_kafka_t *kafka; /* SPEC_SOURCE_KAFKA */
        en_redis_t *redis; /* SPEC_SOURCE_REDIS */
        int64_t loaded_ms;
        int64_t last_tick_ms;
        metrics_child_t *m_res[4], *m_lat, *m_entries, *m_ratio, *m_stale;
} en_source_t;

/* Loads the source (file read, topic read to its end, Redis warm-up),
 * waiting as long as it takes unless *stop is set, under the heartbeat
 * "enrichment source <name>".  ST_OK; ST_STOPPED once *stop is set (a
 * clean stop); ST_INVALID, ST_NOMEM or ST_FATAL with errstr. */
st_t en_source_open(en_source_t *s, svc_t *svc, const spec_source_t *spec, atomic_int *stop,
                    char *errstr, size_t errstr_size);

/* Looks up n keys: out[i] the entry (valid until the next look-up or tick
 * of this source) for EN_HIT and EN_STALE, else NULL; res[i] the result.
 * Counts the metrics. */
void en_source_lookup(en_source_t *s, const char *const *keys, const size_t *lens, size_t n,
                      const en_entry_t **out, uint8_t *res);

/* Follows the Kafka table and refreshes the gauges (cheap: does real work
 * at most every 20 ms). */
void en_source_tick(en_source_t *s);

void en_source_close(en_source_t *s);

#endif
