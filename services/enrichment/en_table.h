/* en_table — reference data in memory: entries (one key's attributes) and a
 * string-keyed hash table of them, shared by every source (the Kafka table,
 * the file, and the Redis cache).
 *
 * An entry holds its attributes already encoded as Avro map items (string
 * name, string value), so composing an enriched record copies bytes and
 * never formats anything on the hot path.  Only the attributes the source's
 * spec asks for are kept.
 *
 * Threads: none of this locks.  Each table is owned by the thread that
 * processes records (the Kafka table is followed from kc_txn's tick hook in
 * that same thread), so readers never race writers. */
#ifndef WEIR_EN_TABLE_H
#define WEIR_EN_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "dict.h"
#include "dl.h"

typedef struct en_attr_s {
        const char *name; /* NUL-terminated, inside the entry */
        size_t name_len;
        const char *value; /* NUL-terminated, inside the entry */
        size_t value_len;
        const uint8_t *enc; /* Avro: string name, string value */
        size_t enc_len;
} en_attr_t;

typedef struct en_entry_s en_entry_t;
struct en_entry_s {
        dl_node_t lru;      /* en_redis: in its LRU order, or its graveyard */
        int64_t fetched_ms; /* when it was read (monotonic ms; Redis TTL) */
        int negative;       /* Redis: the key is known to be missing */
        size_t nattrs;
        en_attr_t *attrs; /* inside the entry */
        size_t bytes;     /* allocation size, for memory accounting */
        dict_key_t key;   /* the table's key: NUL-terminated bytes right
                           * after the struct (same cache line) */
};

/* Builds an entry (one allocation) from `n` name/value pairs, keeping only
 * the names in `keep` (nkeep == 0: all) and the first of duplicate names.
 * Lengths are explicit so values need not be NUL-terminated.  Returns NULL
 * when out of memory.  Freed with free() (or by the table that holds it). */
en_entry_t *en_entry_new(const char *key, size_t key_len, const char *const *names,
                         const size_t *name_lens, const char *const *values,
                         const size_t *value_lens, size_t n, char *const *keep, size_t nkeep);

/* A negative (missing-key) entry for the Redis cache. */
en_entry_t *en_entry_new_negative(const char *key, size_t key_len);

/* The entries by key: a dict (common/dict.h) owning them, keyed by each
 * entry's own `key`, plus their total size. */
typedef struct en_table_s {
        dict_t map;
        size_t bytes; /* sum of entry sizes */
} en_table_t;

/* Returns 0 or -1 (out of memory).  en_table_fini frees every entry. */
int en_table_init(en_table_t *t);
void en_table_fini(en_table_t *t);

en_entry_t *en_table_get(const en_table_t *t, const char *key, size_t key_len);

/* Inserts `e`, taking it.  An entry with the same key is unlinked and
 * returned (the caller frees it, or keeps it alive while something still
 * points at it); NULL when there was none.  When the table cannot grow
 * (out of memory) `e` itself is returned, not inserted, for the caller to
 * free like a replaced entry: the table keeps what it had. */
en_entry_t *en_table_put(en_table_t *t, en_entry_t *e);

/* Unlinks and returns the entry for key (the caller frees it), or NULL. */
en_entry_t *en_table_remove(en_table_t *t, const char *key, size_t key_len);

/* ---------------------------------------------------------------- Avro bits */

/* Appends Avro's zig-zag varint for v to p (at most 10 bytes); returns the
 * bytes written. */
size_t en_avro_put_long(uint8_t *p, int64_t v);

/* Reads a zig-zag varint from [*p, end); 0 and *p advanced, or -1. */
int en_avro_get_long(const uint8_t **p, const uint8_t *end, int64_t *v);

/* Reads an Avro string: 0 with *s and *len pointing into the input, or -1. */
int en_avro_get_string(const uint8_t **p, const uint8_t *end, const char **s, size_t *len);

#endif
