/* Unit tests for dict (hash table with dictType-style callbacks): growth,
 * replacement, deletion with backward shift, deletion while iterating,
 * destructors, many keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dict.h"
#include "th.h"

/* Keys and values are malloc'd strings the table owns; the counters show
 * that every destructor ran once. */
static int freed_keys, freed_vals;
static void free_key(void *k) {
        freed_keys++;
        free(k);
}
static void free_val(void *v) {
        freed_vals++;
        free(v);
}
static const dict_type_t owned = {dict_str_hash, dict_str_eq, free_key, free_val};

static char *dup(const char *s) {
        size_t n = strlen(s) + 1;
        char *p = malloc(n);
        if (p)
                memcpy(p, s, n);
        return p;
}

static char *num(const char *prefix, int i) {
        char b[32];
        snprintf(b, sizeof(b), "%s%d", prefix, i);
        return dup(b);
}

static void test_add_get_replace_delete(void) {
        dict_t d;
        freed_keys = freed_vals = 0;
        TH_CHECK_INT(dict_init(&d, &owned, 0), 0);
        TH_CHECK(dict_get(&d, "a") == NULL); /* empty, no array yet */
        TH_CHECK_INT(dict_add(&d, dup("a"), dup("1")), 0);
        TH_CHECK_STR(dict_get(&d, "a"), "1");
        char *k = dup("a"), *v = dup("2");
        TH_CHECK_INT(dict_add(&d, k, v), 1); /* present: caller keeps k, v */
        TH_CHECK_STR(dict_get(&d, "a"), "1");
        TH_CHECK_INT(dict_set(&d, k, v), 0); /* replaces, frees the old pair */
        TH_CHECK_INT(freed_keys, 1);
        TH_CHECK_INT(freed_vals, 1);
        TH_CHECK_STR(dict_get(&d, "a"), "2");
        TH_CHECK_INT(d.count, 1);
        void *ko = NULL, *vo = NULL;
        TH_CHECK_INT(dict_unlink(&d, "a", &ko, &vo), 1);
        TH_CHECK(ko == k && vo == v); /* handed back, not freed */
        TH_CHECK_INT(freed_vals, 1);
        free(ko);
        free(vo);
        TH_CHECK_INT(dict_unlink(&d, "a", NULL, NULL), 0);
        TH_CHECK_INT(dict_add(&d, dup("b"), dup("3")), 0);
        TH_CHECK_INT(dict_del(&d, "b"), 1);
        TH_CHECK_INT(dict_del(&d, "b"), 0);
        TH_CHECK_INT(freed_vals, 2);
        TH_CHECK_INT(d.count, 0);
        dict_fini(&d);
}

/* 100000 keys through many doublings; every one found with its value,
 * missing ones not found; half deleted; fini frees the rest. */
static void test_many_keys_growth(void) {
        enum { N = 100000 };
        dict_t d;
        freed_keys = freed_vals = 0;
        TH_CHECK_INT(dict_init(&d, &owned, 0), 0);
        for (int i = 0; i < N; i++)
                if (dict_add(&d, num("key-", i), num("val-", i)) != 0)
                        TH_CHECK(!"add failed");
        TH_CHECK_INT(d.count, N);
        TH_CHECK(d.count <= (d.mask + 1) - (d.mask + 1) / 4); /* at most 3/4 full */
        int bad = 0;
        for (int i = 0; i < N; i++) {
                char k[32], v[32];
                snprintf(k, sizeof(k), "key-%d", i);
                snprintf(v, sizeof(v), "val-%d", i);
                const char *got = dict_get(&d, k);
                bad += !got || strcmp(got, v) != 0;
                snprintf(k, sizeof(k), "nokey-%d", i);
                bad += dict_get(&d, k) != NULL;
        }
        TH_CHECK_INT(bad, 0);
        for (int i = 0; i < N; i += 2) {
                char k[32];
                snprintf(k, sizeof(k), "key-%d", i);
                bad += dict_del(&d, k) != 1;
        }
        TH_CHECK_INT(bad, 0);
        TH_CHECK_INT(d.count, N / 2);
        /* Backward shift kept every remaining key reachable. */
        for (int i = 0; i < N; i++) {
                char k[32];
                snprintf(k, sizeof(k), "key-%d", i);
                bad += (dict_get(&d, k) != NULL) != (i % 2 == 1);
        }
        TH_CHECK_INT(bad, 0);
        dict_fini(&d);
        TH_CHECK_INT(freed_keys, N);
        TH_CHECK_INT(freed_vals, N);
        TH_CHECK(d.slots == NULL && d.count == 0);
}

/* Every key hashes to the same slot: one long cluster, the worst case for
 * backward-shift deletion, wrapping round the end of the array. */
static uint64_t same_hash(const void *k) {
        (void)k;
        return 6; /* near the end of the 8-slot table */
}
static const dict_type_t colliding = {same_hash, dict_str_eq, NULL, NULL};

static void test_collisions_wrap(void) {
        static const char *keys[] = {"a", "b", "c", "d", "e"};
        dict_t d;
        TH_CHECK_INT(dict_init(&d, &colliding, 5), 0);
        TH_CHECK_INT(d.mask, 7);
        for (size_t i = 0; i < 5; i++)
                TH_CHECK_INT(dict_add(&d, (void *)keys[i], (void *)keys[i]), 0);
        TH_CHECK_INT(dict_del(&d, "b"), 1); /* middle of the cluster */
        TH_CHECK_INT(dict_del(&d, "a"), 1); /* its head */
        for (size_t i = 2; i < 5; i++)
                TH_CHECK(dict_get(&d, keys[i]) == keys[i]);
        TH_CHECK(dict_get(&d, "a") == NULL && dict_get(&d, "b") == NULL);
        dict_fini(&d);
}

/* Deleting while iterating visits every entry exactly once, in a table
 * whose clusters wrap round the array's end. */
static void test_delete_while_iterating(void) {
        enum { N = 5000 };
        static const dict_type_t plain = {dict_str_hash, dict_str_eq, free, NULL};
        for (int round = 0; round < 2; round++) {
                dict_t d;
                TH_CHECK_INT(dict_init(&d, &plain, 0), 0);
                unsigned char *seen = calloc(N, 1);
                for (int i = 0; i < N; i++)
                        dict_add(&d, num("k", i), (void *)(intptr_t)(i + 1));
                dict_iter_t it;
                dict_entry_t *e;
                int visits = 0;
                dict_iter_init(&it, &d);
                while ((e = dict_next(&it))) {
                        int i = (int)(intptr_t)e->val - 1;
                        visits++;
                        if (seen && i >= 0 && i < N)
                                seen[i]++;
                        /* round 0: delete every third; round 1: all */
                        if (round || i % 3 == 0)
                                dict_iter_del(&it);
                }
                TH_CHECK_INT(visits, N);
                int twice = 0, never = 0;
                for (int i = 0; seen && i < N; i++) {
                        twice += seen[i] > 1;
                        never += seen[i] == 0;
                }
                TH_CHECK_INT(twice, 0);
                TH_CHECK_INT(never, 0);
                TH_CHECK_INT(d.count, round ? 0 : N - (N + 2) / 3);
                for (int i = 0; i < N; i++) {
                        char k[32];
                        snprintf(k, sizeof(k), "k%d", i);
                        never += (dict_get(&d, k) != NULL) != (!round && i % 3 != 0);
                }
                TH_CHECK_INT(never, 0);
                free(seen);
                dict_fini(&d);
        }
}

/* Byte-string keys pointing into the value (en_table's layout), with
 * embedded NULs and the empty key. */
typedef struct {
        dict_key_t key;
        int n;
} item_t;
static const dict_type_t items = {dict_key_hash, dict_key_eq, NULL, free};

static void test_byte_keys(void) {
        dict_t d;
        TH_CHECK_INT(dict_init(&d, &items, 4), 0);
        static const char a[] = {'x', 0, 'y'}, b[] = {'x', 0, 'z'};
        item_t *ia = calloc(1, sizeof(*ia)), *ib = calloc(1, sizeof(*ib)),
               *ie = calloc(1, sizeof(*ie));
        if (!ia || !ib || !ie) {
                TH_CHECK(!"out of memory");
                return;
        }
        *ia = (item_t){{a, 3}, 1};
        *ib = (item_t){{b, 3}, 2};
        *ie = (item_t){{"", 0}, 3};
        TH_CHECK_INT(dict_add(&d, &ia->key, ia), 0);
        TH_CHECK_INT(dict_add(&d, &ib->key, ib), 0);
        TH_CHECK_INT(dict_add(&d, &ie->key, ie), 0);
        dict_key_t q = {b, 3};
        item_t *got = dict_get(&d, &q);
        TH_CHECK(got && got->n == 2);
        q.len = 2; /* "x\0": a prefix of both, neither */
        TH_CHECK(dict_get(&d, &q) == NULL);
        q = (dict_key_t){NULL, 0};
        got = dict_get(&d, &q);
        TH_CHECK(got && got->n == 3);
        dict_fini(&d); /* val_free frees the items */
}

/* dict_clear empties the table for reuse: destructors run, the array
 * stays (no allocation when refilled to the same size). */
static void test_clear_reuses_array(void) {
        dict_t d;
        freed_keys = freed_vals = 0;
        TH_CHECK_INT(dict_init(&d, &owned, 0), 0);
        for (int i = 0; i < 100; i++)
                dict_add(&d, num("k", i), num("v", i));
        const dict_entry_t *slots = d.slots;
        size_t mask = d.mask;
        dict_clear(&d);
        TH_CHECK_INT(d.count, 0);
        TH_CHECK_INT(freed_keys, 100);
        TH_CHECK_INT(freed_vals, 100);
        TH_CHECK(dict_get(&d, "k5") == NULL);
        for (int i = 0; i < 100; i++)
                dict_add(&d, num("k", i), num("v", i));
        TH_CHECK(d.slots == slots && d.mask == mask);
        TH_CHECK_STR(dict_get(&d, "k5"), "v5");
        dict_fini(&d);
        dict_clear(&d); /* on a finished (zeroed) table: nothing */
}

static void test_hash_spreads_low_bits(void) {
        /* Keys that differ in one character land in many different low-bit
         * buckets (the table indexes by hash & mask). */
        unsigned char used[64] = {0};
        int distinct = 0;
        for (int i = 0; i < 64; i++) {
                char k[32];
                snprintf(k, sizeof(k), "sensor-%02d", i);
                unsigned b = (unsigned)(dict_hash_bytes(k, strlen(k)) & 63);
                distinct += !used[b];
                used[b] = 1;
        }
        TH_CHECK(distinct > 32);
        TH_CHECK(dict_hash_bytes("abc", 3) != dict_hash_bytes("abd", 3));
        TH_CHECK(dict_hash_bytes("", 0) != dict_hash_bytes("\0", 1));
}

TH_MAIN("dict", TH_T(test_add_get_replace_delete), TH_T(test_many_keys_growth),
        TH_T(test_collisions_wrap), TH_T(test_delete_while_iterating), TH_T(test_byte_keys),
        TH_T(test_clear_reuses_array), TH_T(test_hash_spreads_low_bits))
