/* en_table — reference entries and the hash table holding them; see
 * en_table.h.  Entries are one allocation each (struct, attribute array,
 * strings, Avro bytes) so freeing one is one free(). */
#include "en_table.h"

#include <stdlib.h>
#include <string.h>

uint64_t en_hash(const void *p, size_t n) {
        const uint8_t *b = p;
        uint64_t h = 1469598103934665603ULL;
        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= 1099511628211ULL;
        }
        return h;
}

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
        size_t size = sizeof(en_entry_t) + kept * sizeof(en_attr_t) + strbytes + encbytes;
        en_entry_t *e = calloc(1, size);
        if (!e)
                return NULL;
        e->attrs = (en_attr_t *)(e + 1);
        char *s = (char *)(e->attrs + kept);
        memcpy(s, key, key_len);
        s[key_len] = '\0';
        e->key = s;
        e->key_len = key_len;
        e->hash = en_hash(key, key_len);
        e->bytes = size;
        s += key_len + 1;
        uint8_t *enc = (uint8_t *)s + (strbytes - key_len - 1);
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

int en_table_init(en_table_t *t) {
        memset(t, 0, sizeof(*t));
        t->nslots = 1024;
        t->slots = calloc(t->nslots, sizeof(*t->slots));
        return t->slots ? 0 : -1;
}

void en_table_fini(en_table_t *t) {
        for (size_t i = 0; t->slots && i < t->nslots; i++) {
                en_entry_t *e = t->slots[i];
                while (e) {
                        en_entry_t *next = e->next;
                        free(e);
                        e = next;
                }
        }
        free(t->slots);
        memset(t, 0, sizeof(*t));
}

en_entry_t *en_table_get(const en_table_t *t, const char *key, size_t key_len) {
        uint64_t h = en_hash(key, key_len);
        for (en_entry_t *e = t->slots[h & (t->nslots - 1)]; e; e = e->next)
                if (e->hash == h && e->key_len == key_len && !memcmp(e->key, key, key_len))
                        return e;
        return NULL;
}

static void en_table_grow(en_table_t *t) {
        size_t n = t->nslots * 2;
        en_entry_t **slots = calloc(n, sizeof(*slots));
        if (!slots)
                return; /* longer chains, still correct */
        for (size_t i = 0; i < t->nslots; i++) {
                en_entry_t *e = t->slots[i];
                while (e) {
                        en_entry_t *next = e->next;
                        size_t j = e->hash & (n - 1);
                        e->next = slots[j];
                        slots[j] = e;
                        e = next;
                }
        }
        free(t->slots);
        t->slots = slots;
        t->nslots = n;
}

en_entry_t *en_table_remove(en_table_t *t, const char *key, size_t key_len) {
        uint64_t h = en_hash(key, key_len);
        for (en_entry_t **pp = &t->slots[h & (t->nslots - 1)]; *pp; pp = &(*pp)->next) {
                en_entry_t *e = *pp;
                if (e->hash == h && e->key_len == key_len && !memcmp(e->key, key, key_len)) {
                        *pp = e->next;
                        e->next = NULL;
                        t->count--;
                        t->bytes -= e->bytes;
                        return e;
                }
        }
        return NULL;
}

en_entry_t *en_table_put(en_table_t *t, en_entry_t *e) {
        en_entry_t *old = en_table_remove(t, e->key, e->key_len);
        if (t->count >= t->nslots)
                en_table_grow(t);
        size_t i = e->hash & (t->nslots - 1);
        e->next = t->slots[i];
        t->slots[i] = e;
        t->count++;
        t->bytes += e->bytes;
        return old;
}
