/* dict — see dict.h. */
#include "dict.h"

#include <stdlib.h>
#include <string.h>

#define DICT_MIN_SLOTS 8

/* ------------------------------------------------------------------ hash */

static inline uint64_t dict_rotl(uint64_t x, unsigned r) {
        return (x << r) | (x >> (64 - r));
}

/* Spreads every input bit over the whole word (the table indexes by the
 * low bits, which a multiply alone leaves poorly mixed). */
static inline uint64_t dict_avalanche(uint64_t x) {
        x ^= x >> 32;
        x *= 0xd6e8feb86659fd93ULL;
        x ^= x >> 32;
        x *= 0xd6e8feb86659fd93ULL;
        x ^= x >> 32;
        return x;
}

uint64_t dict_hash_bytes(const void *p, size_t n) {
        const unsigned char *b = p;
        uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
        for (; n >= 8; n -= 8, b += 8) {
                uint64_t w;
                memcpy(&w, b, 8);
                h = dict_rotl((h ^ w) * 0xff51afd7ed558ccdULL, 29);
        }
        if (n) {
                /* Byte by byte: a memcpy of a variable length is a libc
                 * call, slower than these at most seven shifts. */
                uint64_t w = 0;
                for (size_t i = 0; i < n; i++)
                        w |= (uint64_t)b[i] << (8 * i);
                h = dict_rotl((h ^ w) * 0xc4ceb9fe1a85ec53ULL, 29);
        }
        return dict_avalanche(h);
}

uint64_t dict_key_hash(const void *key) {
        const dict_key_t *k = key;
        return dict_hash_bytes(k->p, k->len);
}

int dict_key_eq(const void *a, const void *b) {
        const dict_key_t *x = a, *y = b;
        return x->len == y->len && (x->len == 0 || !memcmp(x->p, y->p, x->len));
}

uint64_t dict_str_hash(const void *key) {
        return dict_hash_bytes(key, strlen(key));
}

int dict_str_eq(const void *a, const void *b) {
        return !strcmp(a, b);
}

/* ----------------------------------------------------------------- table */

/* The hash a slot keeps: 32 bits, never 0 (0 marks a free slot).  The
 * home slot is hash & mask, so tables stop doubling at 2^32 slots. */
static inline uint32_t dict_h32(uint64_t h) {
        uint32_t x = (uint32_t)h;
        return x ? x : 1;
}

static size_t dict_slots_for(size_t n) {
        size_t s = DICT_MIN_SLOTS;
        while (s - s / 4 < n + 1 && s < ((size_t)1 << 31))
                s *= 2;
        return s;
}

/* Moves every entry into fresh arrays of `n` slots (the hashes are kept,
 * so no key is hashed again).  Entries and hashes share one allocation. */
static int dict_resize(dict_t *d, size_t n) {
        if (n > SIZE_MAX / (sizeof(dict_entry_t) + sizeof(uint32_t)))
                return -1;
        dict_entry_t *s = calloc(n, sizeof(dict_entry_t) + sizeof(uint32_t));
        if (!s)
                return -1;
        uint32_t *hs = (uint32_t *)(s + n);
        for (size_t i = 0; d->slots && i <= d->mask; i++) {
                if (!d->hashes[i])
                        continue;
                size_t j = d->hashes[i] & (n - 1);
                while (hs[j])
                        j = (j + 1) & (n - 1);
                s[j] = d->slots[i];
                hs[j] = d->hashes[i];
        }
        free(d->slots);
        d->slots = s;
        d->hashes = hs;
        d->mask = n - 1;
        return 0;
}

int dict_init(dict_t *d, const dict_type_t *type, size_t hint) {
        memset(d, 0, sizeof(*d));
        d->type = type;
        return hint ? dict_resize(d, dict_slots_for(hint)) : 0;
}

static void dict_free_pair(const dict_t *d, dict_entry_t e) {
        if (d->type->key_free)
                d->type->key_free(e.key);
        if (d->type->val_free)
                d->type->val_free(e.val);
}

void dict_fini(dict_t *d) {
        for (size_t i = 0; d->slots && i <= d->mask; i++)
                if (d->hashes[i])
                        dict_free_pair(d, d->slots[i]);
        free(d->slots);
        memset(d, 0, sizeof(*d));
}

void dict_clear(dict_t *d) {
        if (!d->count)
                return;
        if (d->type->key_free || d->type->val_free)
                for (size_t i = 0; i <= d->mask; i++)
                        if (d->hashes[i])
                                dict_free_pair(d, d->slots[i]);
        memset(d->hashes, 0, (d->mask + 1) * sizeof(*d->hashes));
        d->count = 0;
}

/* The slot holding key (hash h), or the free slot ending its probe. */
static size_t dict_probe(const dict_t *d, const void *key, uint32_t h) {
        size_t i = h & d->mask;
        for (;;) {
                uint32_t x = d->hashes[i];
                if (!x || (x == h && d->type->key_eq(key, d->slots[i].key)))
                        return i;
                i = (i + 1) & d->mask;
        }
}

dict_entry_t *dict_find(const dict_t *d, const void *key) {
        if (!d->count)
                return NULL;
        size_t i = dict_probe(d, key, dict_h32(d->type->hash(key)));
        return d->hashes[i] ? &d->slots[i] : NULL;
}

void *dict_get(const dict_t *d, const void *key) {
        dict_entry_t *e = dict_find(d, key);
        return e ? e->val : NULL;
}

/* The slot index for key: its entry when present (*found = 1), else a free
 * slot to fill, after growing when the table would pass 3/4 full; -1 when
 * it cannot grow. */
static long long dict_slot(dict_t *d, const void *key, uint32_t h, int *found) {
        if (d->slots) {
                size_t i = dict_probe(d, key, h);
                if ((*found = d->hashes[i] != 0) ||
                    d->count + 1 <= (d->mask + 1) - (d->mask + 1) / 4)
                        return (long long)i;
        }
        *found = 0;
        if (dict_resize(d, dict_slots_for(d->count + 1)) == -1)
                return -1;
        return (long long)dict_probe(d, key, h);
}

int dict_add(dict_t *d, void *key, void *val) {
        uint32_t h = dict_h32(d->type->hash(key));
        int found;
        long long i = dict_slot(d, key, h, &found);
        if (i < 0)
                return -1;
        if (found)
                return 1;
        d->slots[i] = (dict_entry_t){key, val};
        d->hashes[i] = h;
        d->count++;
        return 0;
}

int dict_set(dict_t *d, void *key, void *val) {
        uint32_t h = dict_h32(d->type->hash(key));
        int found;
        long long i = dict_slot(d, key, h, &found);
        if (i < 0)
                return -1;
        if (!found) {
                d->slots[i] = (dict_entry_t){key, val};
                d->hashes[i] = h;
                d->count++;
                return 0;
        }
        /* Free the old pair after storing the new one, and not what the
         * new pair reuses. */
        dict_entry_t old = d->slots[i];
        d->slots[i] = (dict_entry_t){key, val};
        if (d->type->key_free && old.key != key)
                d->type->key_free(old.key);
        if (d->type->val_free && old.val != val)
                d->type->val_free(old.val);
        return 0;
}

/* Empties slot i and closes the gap: each later entry of the cluster whose
 * probe path passes the gap (from its home slot the gap comes before it)
 * moves back into it.  Entries only ever move towards the gap, never past
 * a free slot, which is what lets an iterator delete as it goes. */
static void dict_remove_at(dict_t *d, size_t i) {
        size_t j = i;
        for (;;) {
                j = (j + 1) & d->mask;
                if (!d->hashes[j])
                        break;
                size_t home = d->hashes[j] & d->mask;
                if (((i - home) & d->mask) < ((j - home) & d->mask)) {
                        d->slots[i] = d->slots[j];
                        d->hashes[i] = d->hashes[j];
                        i = j;
                }
        }
        d->slots[i] = (dict_entry_t){NULL, NULL};
        d->hashes[i] = 0;
        d->count--;
}

int dict_unlink(dict_t *d, const void *key, void **key_out, void **val_out) {
        dict_entry_t *e = dict_find(d, key);
        if (!e)
                return 0;
        if (key_out)
                *key_out = e->key;
        if (val_out)
                *val_out = e->val;
        dict_remove_at(d, (size_t)(e - d->slots));
        return 1;
}

int dict_del(dict_t *d, const void *key) {
        dict_entry_t e;
        if (!dict_unlink(d, key, &e.key, &e.val))
                return 0;
        dict_free_pair(d, e);
        return 1;
}

/* ------------------------------------------------------------- iteration */

void dict_iter_init(dict_iter_t *it, dict_t *d) {
        memset(it, 0, sizeof(*it));
        it->d = d;
        /* Below 3/4 full there is always a free slot: start right after it,
         * so the clusters deletions shift within are never cut in two. */
        while (d->count && d->hashes[it->start])
                it->start++;
}

dict_entry_t *dict_next(dict_iter_t *it) {
        dict_t *d = it->d;
        if (!d->count)
                return NULL;
        if (it->removed) {
                it->removed = 0;
                if (d->hashes[it->cur])
                        return &d->slots[it->cur];
        }
        while (it->pos < d->mask + 1) {
                it->pos++;
                size_t i = (it->start + it->pos) & d->mask;
                if (d->hashes[i]) {
                        it->cur = i;
                        return &d->slots[i];
                }
        }
        return NULL;
}

void dict_iter_unlink(dict_iter_t *it) {
        dict_remove_at(it->d, it->cur);
        it->removed = 1;
}

void dict_iter_del(dict_iter_t *it) {
        dict_entry_t e = it->d->slots[it->cur];
        dict_iter_unlink(it);
        dict_free_pair(it->d, e);
}
