/* en_redis — the Redis source: hashes (HGETALL of key_pattern with {key}
 * replaced) behind an in-process LRU cache with a TTL, negative caching of
 * missing keys, one pipelined round trip per batch of records, and an
 * optional warm-up (SCAN + pipelined HGETALL) at start.
 *
 * While Redis is unreachable (connection refused, timeout, error reply):
 *   - a cached entry, even past its TTL, is served ("stale": counted as
 *     weir_enrichment_lookups_total{result="stale"}; the staleness gauge
 *     says for how long Redis has not answered);
 *   - a key with nothing cached is an error: the service aborts the
 *     transaction, which rewinds the consumer, and kc_txn retries with
 *     backoff — records wait, none is lost or sent on unenriched;
 *   - reconnecting is tried at most every 50 ms doubling to 2 s.
 * Hash fields become attributes (all, or those the spec names).
 *
 * Threads: used only by the processing thread; no locks. */
#ifndef WEIR_EN_REDIS_H
#define WEIR_EN_REDIS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "en_table.h"
#include "spec.h"
#include "st.h"

typedef struct en_redis_s en_redis_t;

/* Per-key result of a look-up. */
typedef enum {
        EN_REDIS_HIT = 0,   /* fresh from the cache or from Redis */
        EN_REDIS_MISS = 1,  /* Redis has no such hash (or a cached miss) */
        EN_REDIS_STALE = 2, /* Redis unreachable: served past its TTL */
        EN_REDIS_ERROR = 3  /* Redis unreachable and nothing cached */
} en_redis_res_t;

/* Parses the URL and reads password_env; does not connect yet.  NULL with
 * errstr (unsupported scheme, missing password variable...). */
en_redis_t *en_redis_new(const spec_source_t *src, char *errstr, size_t errstr_size);

/* Connects and, with warm_up, loads every matching hash (up to cache_size)
 * — retrying (beating `beat`, which may be NULL) until it succeeds or
 * *stop is set, since a warm-up that silently did nothing would be no
 * warm-up.  Without warm_up, an unreachable Redis is only logged (look-ups
 * retry).  ST_OK, or ST_STOPPED with errstr. */
st_t en_redis_start(en_redis_t *r, atomic_int *stop, admin_beat_t *beat, char *errstr,
                    size_t errstr_size);

/* Looks up n keys: out[i] is the entry (valid until the next call) for HIT
 * and STALE, NULL otherwise; res[i] the result.  *redis_s gets the time
 * spent waiting for Redis (0 when everything came from the cache). */
void en_redis_lookup(en_redis_t *r, const char *const *keys, const size_t *lens, size_t n,
                     const en_entry_t **out, uint8_t *res, double *redis_s);

/* Cache statistics for the metrics. */
size_t en_redis_cache_entries(const en_redis_t *r);
void en_redis_cache_counts(const en_redis_t *r, uint64_t *hits, uint64_t *misses);
/* 0 while Redis answers; else seconds since it last did. */
double en_redis_staleness_s(const en_redis_t *r);

void en_redis_destroy(en_redis_t *r);

#endif
