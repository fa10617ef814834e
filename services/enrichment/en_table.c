/* en_table — reference entries and the hash table holding them; see
 * en_table.h.  Entries are one allocation each (struct, attribute array,
 * strings, Avro bytes) so freeing one is one free(). */
#include "en_table.h"

#include <stdlib.h>
#include <string.h>

size_t en_avro_put_long(uint8_t *p, int64_t v) {
        uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0); /* zig-zag */
        size_t n = 0;
        while (z & ~0x7fULL) {
                p[n++] = (uint8_t)((z & 0x7f) | 0x80);
                z >>= 7;
        }
        p[n++] = (uint8_t)z;
        return n;
}

int en_avro_get_long(const uint8_t **p, const uint8_t *end, int64_t *v) {
        uint64_t z = 0;
        unsigned shift = 0;
        const uint8_t *q = *p;
        for (;;) {
                if (q >= end || shift > 63)
                        return -1;
                uint8_t b = *q++;
                z |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80))
                        break;
                shift += 7;
        }
        *v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
        *p = q;
        return 0;
}

int en_avro_get_string(const uint8_t **p, const uint8_t *end, const char **s, size_t *len) {
        int64_t n;
        const uint8_t *q = *p;
        if (en_avro_get_long(&q, end, &n) == -1 || n < 0 || n > end - q)
                return -1;
        *s = (const char *)q;
        *len = (size_t)n;
        *p = q + n;
        return 0;
}

static int en_keep(const char *name, size_t len, char *const *keep, size_t nkeep) {
        if (nkeep == 0)
                return 1;
        for (size_t i = 0; i < nkeep; i++)
                if (strlen(keep[i]) == len && !memcmp(keep[i], name, len))
                        return 1;
        return 0;
}

static int en_dup(const char *const *names, const size_t *lens, size_t i) {
        for (size_t j = 0; j < i; j++)
                if (lens[j] == lens[i] && !memcmp(names[j], names[i], lens[i]))
                        return 1;
        return 0;
}

en_entry_t *en_entry_new(const char *key, size_t key_len, const char *const *names,
                         const size_t *name_lens, const char *const *values,
                         const size_t *value_lens, size_t n, char *const *keep, size_t nkeep) {
        size_t kept = 0, strbytes = key_len + 1, encbytes = 0;
        for (size_t i = 0; i < n; i++) {
                if (!en_keep(names[i], name_lens[i], keep, nkeep) || en_dup(names, name_lens, i))
                        continue;
                kept++;
                strbytes += name_lens[i] + value_lens[i] + 2;
                encbytes += name_lens[i] + value_lens[i] + 20;
        }
        /* The key's bytes come right after the struct, whose last member
         * is `key`: a lookup that compares keys reads one cache line of the
         * entry, not two (the attributes follow, aligned). */
        size_t keybytes = (key_len + 1 + _Alignof(en_attr_t) - 1) & ~(_Alignof(en_attr_t) - 1);
        strbytes -= key_len + 1;
        size_t size =
                sizeof(en_entry_t) + keybytes + kept * sizeof(en_attr_t) + strbytes + encbytes;
        en_entry_t *e = calloc(1, size);
        if (!e)
                return NULL;
        char *s = (char *)(e + 1);
        memcpy(s, key, key_len);
        s[key_len] = '\0';
        e->key = (dict_key_t){s, key_len};
        e->bytes = size;
        e->attrs = (en_attr_t *)(s + keybytes);
        s = (char *)(e->attrs + kept);
        uint8_t *enc = (uint8_t *)s + strbytes;
        for (size_t i = 0; i < n; i++) {
                if (!en_keep(names[i], name_lens[i], keep, nkeep) || en_dup(names, name_lens, i))
                        continue;
                en_attr_t *a = &e->attrs[e->nattrs++];
                memcpy(s, names[i], name_lens[i]);
                s[name_lens[i]] = '\0';
                a->name = s;
                a->name_len = name_lens[i];
                s += name_lens[i] + 1;
                memcpy(s, values[i], value_lens[i]);
                s[value_lens[i]] = '\0';
                a->value = s;
                a->value_len = value_lens[i];
                s += value_lens[i] + 1;
                a->enc = enc;
                enc += en_avro_put_long(enc, (int64_t)name_lens[i]);
                memcpy(enc, names[i], name_lens[i]);
                enc += name_lens[i];
                enc += en_avro_put_long(enc, (int64_t)value_lens[i]);
                memcpy(enc, values[i], value_lens[i]);
                enc += value_lens[i];
                a->enc_len = (size_t)(enc - a->enc);
        }
        return e;
}

en_entry_t *en_entry_new_negative(const char *key, size_t key_len) {
        en_entry_t *e = en_entry_new(key, key_len, NULL, NULL, NULL, NULL, 0, NULL, 0);
        if (e)
                e->negative = 1;
        return e;
}

/* The table owns its entries; each entry's key lives inside it. */
static const dict_type_t en_table_type = {dict_key_hash, dict_key_eq, NULL, free};

int en_table_init(en_table_t *t) {
        t->bytes = 0;
        return dict_init(&t->map, &en_table_type, 1024);
}

void en_table_fini(en_table_t *t) {
        dict_fini(&t->map);
        t->bytes = 0;
}

en_entry_t *en_table_get(const en_table_t *t, const char *key, size_t key_len) {
        const dict_key_t k = {key, key_len};
        return dict_get(&t->map, &k);
}

en_entry_t *en_table_remove(en_table_t *t, const char *key, size_t key_len) {
        const dict_key_t k = {key, key_len};
        void *e = NULL;
        if (dict_unlink(&t->map, &k, NULL, &e))
                t->bytes -= ((en_entry_t *)e)->bytes;
        return e;
}

en_entry_t *en_table_put(en_table_t *t, en_entry_t *e) {
        dict_entry_t *d = dict_find(&t->map, &e->key);
        if (d) {
                /* Same key: the slot takes the new entry's key and entry. */
                en_entry_t *old = d->val;
                d->key = &e->key;
                d->val = e;
                t->bytes += e->bytes - old->bytes;
                return old;
        }
        if (dict_add(&t->map, &e->key, e) != 0)
                return e;
        t->bytes += e->bytes;
        return NULL;
}
