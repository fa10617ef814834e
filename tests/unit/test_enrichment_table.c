/* Unit tests for en_table: Avro varints and strings, entries (attribute
 * filter, duplicate names, pre-encoded map items) and the hash table. */
#include <stdlib.h>

#include "../../services/enrichment/en_table.h"
#include "th.h"

static void test_avro_long_roundtrip(void) {
        static const int64_t vals[] = {0, 1, -1, 63, -64, 64, 300, -301, INT64_MAX, INT64_MIN};
        for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
                uint8_t b[10];
                size_t n = en_avro_put_long(b, vals[i]);
                const uint8_t *p = b;
                int64_t v = 7;
                TH_CHECK(en_avro_get_long(&p, b + n, &v) == 0);
                TH_CHECK(v == vals[i]);
                TH_CHECK(p == b + n);
                p = b; /* one byte short */
                TH_CHECK(n == 1 || en_avro_get_long(&p, b + n - 1, &v) == -1);
        }
        uint8_t one[1];
        TH_CHECK_INT(en_avro_put_long(one, -1), 1);
        TH_CHECK_INT(one[0], 1); /* zig-zag */
        /* Eleven continuation bytes: not a long. */
        uint8_t bad[11];
        memset(bad, 0xff, sizeof(bad));
        const uint8_t *p = bad;
        int64_t v;
        TH_CHECK(en_avro_get_long(&p, bad + sizeof(bad), &v) == -1);
}

static void test_avro_string_bounds(void) {
        const uint8_t ok[] = {0x06, 'a', 'b', 'c', 0x02, 'z'};
        const uint8_t *p = ok;
        const char *s;
        size_t n;
        TH_CHECK(en_avro_get_string(&p, ok + sizeof(ok), &s, &n) == 0);
        TH_CHECK(n == 3 && !memcmp(s, "abc", 3));
        TH_CHECK(en_avro_get_string(&p, ok + sizeof(ok), &s, &n) == 0);
        TH_CHECK(n == 1 && s[0] == 'z');
        const uint8_t longer[] = {0x08, 'a', 'b'};
        p = longer;
        TH_CHECK(en_avro_get_string(&p, longer + sizeof(longer), &s, &n) == -1);
        const uint8_t negative[] = {0x01, 'a'};
        p = negative;
        TH_CHECK(en_avro_get_string(&p, negative + sizeof(negative), &s, &n) == -1);
}

static en_entry_t *mk(const char *key, char *const *keep, size_t nkeep) {
        const char *names[] = {"name", "district", "lat", "name"};
        const char *vals[] = {"Main St", "Downtown", "52.5", "shadowed"};
        size_t nl[] = {4, 8, 3, 4}, vl[] = {7, 8, 4, 8};
        return en_entry_new(key, strlen(key), names, nl, vals, vl, 4, keep, nkeep);
}

static void test_entry_filter_and_encoding(void) {
        en_entry_t *e = mk("x-1", NULL, 0);
        if (!e) {
                TH_CHECK(!"out of memory");
                return;
        }
        TH_CHECK_STR(e->key.p, "x-1");
        TH_CHECK_INT(e->nattrs, 3); /* the repeated "name" is dropped: first wins */
        TH_CHECK_STR(e->attrs[0].value, "Main St");
        TH_CHECK_STR(e->attrs[2].name, "lat");
        /* Avro map item: len 4 (zig-zag 8) "name", len 7 (14) "Main St". */
        const uint8_t want[] = {8, 'n', 'a', 'm', 'e', 14, 'M', 'a', 'i', 'n', ' ', 'S', 't'};
        TH_CHECK_INT(e->attrs[0].enc_len, sizeof(want));
        TH_CHECK(!memcmp(e->attrs[0].enc, want, sizeof(want)));
        free(e);

        char *keep[] = {"lat", "absent"};
        e = mk("x-2", keep, 2);
        TH_CHECK_INT(e->nattrs, 1);
        TH_CHECK_STR(e->attrs[0].name, "lat");
        TH_CHECK(!e->negative);
        free(e);

        e = en_entry_new_negative("gone", 4);
        TH_CHECK(e && e->negative && e->nattrs == 0);
        free(e);
}

static void test_table_put_get_remove_grow(void) {
        en_table_t t;
        TH_CHECK(en_table_init(&t) == 0);
        char key[32];
        for (int i = 0; i < 5000; i++) {
                snprintf(key, sizeof(key), "k-%d", i);
                TH_CHECK(en_table_put(&t, mk(key, NULL, 0)) == NULL);
        }
        TH_CHECK_INT(t.map.count, 5000);
        TH_CHECK(t.map.mask + 1 >= 4096); /* grew */
        int found = 0;
        for (int i = 0; i < 5000; i++) {
                snprintf(key, sizeof(key), "k-%d", i);
                const en_entry_t *e = en_table_get(&t, key, strlen(key));
                found += e && !strcmp(e->key.p, key);
        }
        TH_CHECK_INT(found, 5000);
        TH_CHECK(en_table_get(&t, "k-5000", 6) == NULL);
        TH_CHECK(en_table_get(&t, "k-1", 2) == NULL); /* a prefix is another key */

        size_t bytes = t.bytes;
        char *keep[] = {"lat"};
        en_entry_t *old = en_table_put(&t, mk("k-7", keep, 1));
        TH_CHECK(old && old->nattrs == 3);
        TH_CHECK_INT(t.map.count, 5000);
        TH_CHECK(t.bytes < bytes);
        free(old);
        TH_CHECK_INT(en_table_get(&t, "k-7", 3)->nattrs, 1);

        en_entry_t *gone = en_table_remove(&t, "k-7", 3);
        TH_CHECK(gone != NULL);
        free(gone);
        TH_CHECK(en_table_get(&t, "k-7", 3) == NULL);
        TH_CHECK(en_table_remove(&t, "k-7", 3) == NULL);
        TH_CHECK_INT(t.map.count, 4999);
        en_table_fini(&t);
        TH_CHECK(t.map.slots == NULL && t.map.count == 0);
}

TH_MAIN("enrichment_table", TH_T(test_avro_long_roundtrip), TH_T(test_avro_string_bounds),
        TH_T(test_entry_filter_and_encoding), TH_T(test_table_put_get_remove_grow))
