/* dict — a hash table of void * keys and values whose behaviour comes from
 * a dict_type_t of callbacks (hash, key equality, key and value
 * destructors), in the manner of Redis's dictType: one table for every
 * module, each bringing only what its keys mean.
 *
 * Open addressing with linear probing: the entries live in one array (no
 * allocation per insert) beside an array of their 32-bit hashes, which is
 * what a probe walks (16 slots per cache line): a lookup touches an entry
 * and compares keys only on a hash match, and growing never calls the hash
 * function again.  Deletion shifts the rest of
 * the cluster back (no tombstones), so lookups never slow down after many
 * deletions.  The table doubles past 3/4 full and never shrinks by itself.
 *
 * Ownership: with key_free / val_free set the table owns what it holds and
 * frees it on dict_del, on replacement by dict_set and in dict_fini;
 * dict_unlink hands both back without freeing.  With them NULL the table
 * owns only its array.
 *
 * Threads: none; a dict belongs to one thread (or to the caller's lock). */
#ifndef WEIR_DICT_H
#define WEIR_DICT_H

#include <stddef.h>
#include <stdint.h>

typedef struct dict_type_s {
        uint64_t (*hash)(const void *key);
        int (*key_eq)(const void *a, const void *b); /* non-zero: the same key */
        void (*key_free)(void *key);                 /* NULL: keys not owned */
        void (*val_free)(void *val);                 /* NULL: values not owned */
} dict_type_t;

typedef struct dict_entry_s {
        void *key; /* never NULL */
        void *val;
} dict_entry_t;

typedef struct dict_s {
        const dict_type_t *type;
        dict_entry_t *slots; /* mask + 1 of them, a power of two */
        uint32_t *hashes;    /* per slot: 0 free, else the key's hash (never 0);
                              * inside the slots' allocation */
        size_t mask;
        size_t count;
} dict_t;

/* Sizes the table for `hint` entries without growing (0: a small table).
 * Returns 0, or -1 when out of memory. */
int dict_init(dict_t *d, const dict_type_t *type, size_t hint);

/* Frees every key and value it owns, then its array; *d is zeroed. */
void dict_fini(dict_t *d);

/* Empties the table without freeing its array (for reuse, e.g. once per
 * batch: no allocation once it has grown); keys and values are freed
 * through the destructors. */
void dict_clear(dict_t *d);

/* The entry for `key`, or NULL.  The caller may change its val, or its key
 * to an equal one; the pointer is valid until the next insert or delete. */
dict_entry_t *dict_find(const dict_t *d, const void *key);

/* The value for `key`, or NULL when absent. */
void *dict_get(const dict_t *d, const void *key);

/* Adds key -> val.  Returns 0 when added, 1 when the key is already there
 * (nothing changes; the caller still owns key and val), -1 when out of
 * memory (likewise). */
int dict_add(dict_t *d, void *key, void *val);

/* Adds or replaces: an existing entry's old key and value are freed
 * through the destructors.  Returns 0, or -1 when out of memory (the
 * caller still owns key and val). */
int dict_set(dict_t *d, void *key, void *val);

/* Removes the entry for `key` without freeing anything: returns 1 with
 * its key and value in *key_out / *val_out (either may be NULL), or 0. */
int dict_unlink(dict_t *d, const void *key, void **key_out, void **val_out);

/* Removes and frees (destructors) the entry for `key`; 1 if there was one. */
int dict_del(dict_t *d, const void *key);

/* Iteration, in no particular order:
 *
 *     dict_iter_t it;
 *     dict_entry_t *e;
 *     dict_iter_init(&it, d);
 *     while ((e = dict_next(&it)))
 *             if (stale(e->val))
 *                     dict_iter_del(&it);
 *
 * Deleting the current entry (dict_iter_del / dict_iter_unlink) while
 * iterating is allowed and every other entry is still visited exactly
 * once; inserting, or deleting through any other call, is not. */
typedef struct dict_iter_s {
        dict_t *d;
        size_t start; /* a free slot: deletions never move an entry across it */
        size_t pos;   /* slots visited after `start` */
        size_t cur;   /* slot of the entry dict_next returned */
        int removed;  /* that entry was deleted: look at `cur` again */
} dict_iter_t;

void dict_iter_init(dict_iter_t *it, dict_t *d);
dict_entry_t *dict_next(dict_iter_t *it);
/* Removes the entry dict_next returned, freeing it through the destructors
 * (dict_iter_del) or not (dict_iter_unlink). */
void dict_iter_del(dict_iter_t *it);
void dict_iter_unlink(dict_iter_t *it);

/* ------------------------------------------------------------ ready keys */

/* A byte-string key (need not be NUL-terminated): keys of a dict whose
 * type uses dict_key_hash and dict_key_eq point at one of these, often a
 * member of the value itself. */
typedef struct dict_key_s {
        const char *p;
        size_t len;
} dict_key_t;

uint64_t dict_key_hash(const void *key); /* key: a const dict_key_t * */
int dict_key_eq(const void *a, const void *b);

/* For NUL-terminated strings (key: a const char *). */
uint64_t dict_str_hash(const void *key);
int dict_str_eq(const void *a, const void *b);

/* The hash of n bytes at p that the callbacks above use: fast on short keys
 * (eight bytes per step) and well mixed in the low bits the table indexes
 * by.  Not for anything an attacker's keys could exploit beyond longer
 * probes: it has no secret seed. */
uint64_t dict_hash_bytes(const void *p, size_t n);

#endif
