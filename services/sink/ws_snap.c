/* ws_snap — the snapshot store (API and bound in ws_snap.h).
 *
 * Slots live in one array that grows by doubling up to max_entries; a slot
 * is found by a chained hash of its identity (buckets of slot indices, a
 * power of two >= max_entries, allocated once; not a dict.h table, whose
 * keys would have to stay put while this array moves as it grows; the hash
 * function is dict's) and ordered by last update
 * in a doubly linked list (head = least recent = next evicted).  Freed
 * slots go on a free list with their buffers kept: the store owns every
 * buffer and frees them in ws_snap_destroy(). */
#include "ws_snap.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dict.h"

#define NIL UINT32_MAX

enum { P_KIND, P_TOPIC, P_KEY, P_WINDOW, P_RULE, P_SEV, P_N };

typedef struct {
        uint32_t hnext;      /* next slot in the bucket's chain */
        uint32_t prev, next; /* update order; next is also the free list's link */
        uint64_t hash;
        int64_t time_ms;
        size_t id_len;     /* identity bytes: parts P_KIND..P_RULE */
        uint32_t off[P_N]; /* each part's text in id (NUL-terminated) */
        uint32_t len[P_N]; /* and its length */
        buf_t id;          /* identity, then the severity (not identity) */
        buf_t render;      /* the event's rendering */
} slot_t;

struct ws_snap_s {
        slot_t *slots;
        size_t nslots, cap, max; /* slots handed out, allocated, the bound */
        uint32_t *buckets;
        size_t mask;
        uint32_t head, tail, free;
        size_t count;
        uint64_t evictions;
        buf_t scratch; /* the identity being looked up */
        uint32_t off[P_N], len[P_N];
};

ws_snap_t *ws_snap_new(size_t max_entries) {
        if (max_entries < 1 || max_entries >= NIL)
                return NULL;
        ws_snap_t *s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        size_t nb = 16;
        while (nb < max_entries)
                nb <<= 1;
        s->buckets = malloc(nb * sizeof(*s->buckets));
        if (!s->buckets) {
                free(s);
                return NULL;
        }
        memset(s->buckets, 0xff, nb * sizeof(*s->buckets)); /* NIL */
        s->mask = nb - 1;
        s->max = max_entries;
        s->head = s->tail = s->free = NIL;
        return s;
}

void ws_snap_destroy(ws_snap_t *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->nslots; i++) {
                buf_free(&s->slots[i].id);
                buf_free(&s->slots[i].render);
        }
        free(s->slots);
        free(s->buckets);
        buf_free(&s->scratch);
        free(s);
}

/* ------------------------------------------------------------ the JSON scan */

static size_t skip_ws(const char *j, size_t i, size_t n) {
        while (i < n && (j[i] == ' ' || j[i] == '\t' || j[i] == '\n' || j[i] == '\r'))
                i++;
        return i;
}

/* j[i] is '"': returns the index after the closing quote, or n + 1 when
 * the string does not end. */
static size_t skip_str(const char *j, size_t i, size_t n) {
        for (i++; i < n; i++) {
                if (j[i] == '\\')
                        i++;
                else if (j[i] == '"')
                        return i + 1;
        }
        return n + 1;
}

/* Skips one value (any depth) starting at j[i]; returns the index after it. */
static size_t skip_value(const char *j, size_t i, size_t n) {
        size_t depth = 0;
        while (i < n) {
                char c = j[i];
                if (c == '"') {
                        i = skip_str(j, i, n);
                        if (!depth)
                                return i;
                        continue;
                }
                if (c == '{' || c == '[') {
                        depth++;
                } else if (c == '}' || c == ']') {
                        if (!depth)
                                return i; /* the end of the enclosing object */
                        if (--depth == 0)
                                return i + 1;
                } else if (!depth && (c == ',')) {
                        return i;
                }
                i++;
        }
        return n;
}

int ws_json_top_str(const char *j, size_t n, const char *name, const char **val, size_t *vlen) {
        size_t nl = strlen(name), i = skip_ws(j, 0, n);
        if (!j || i >= n || j[i] != '{')
                return 0;
        i++;
        for (;;) {
                i = skip_ws(j, i, n);
                if (i >= n || j[i] != '"')
                        return 0;
                size_t ks = i + 1, ke = skip_str(j, i, n);
                if (ke >= n)
                        return 0;
                int match = ke - 1 - ks == nl && memcmp(j + ks, name, nl) == 0;
                i = skip_ws(j, ke, n);
                if (i >= n || j[i] != ':')
                        return 0;
                i = skip_ws(j, i + 1, n);
                if (i >= n)
                        return 0;
                if (match) {
                        if (j[i] != '"')
                                return 0;
                        size_t e = skip_str(j, i, n);
                        if (e > n)
                                return 0;
                        *val = j + i + 1;
                        *vlen = e - i - 2;
                        return 1;
                }
                i = skip_ws(j, skip_value(j, i, n), n);
                if (i >= n || j[i] != ',')
                        return 0;
                i++;
        }
}

/* ------------------------------------------------------------ slots */

/* Appends one part as <u32 length><bytes>NUL, so that no two different
 * identities have the same bytes whatever their text holds. */
static int part(ws_snap_t *s, int k, const char *p, size_t n) {
        uint32_t l = (uint32_t)n;
        if (n > UINT32_MAX / 2 || buf_append(&s->scratch, &l, sizeof(l)))
                return -1;
        s->off[k] = (uint32_t)s->scratch.len;
        s->len[k] = l;
        if (buf_append(&s->scratch, p, n) || buf_append(&s->scratch, "", 1))
                return -1;
        return 0;
}

static void lru_unlink(ws_snap_t *s, uint32_t i) {
        slot_t *e = &s->slots[i];
        if (e->prev != NIL)
                s->slots[e->prev].next = e->next;
        else
                s->head = e->next;
        if (e->next != NIL)
                s->slots[e->next].prev = e->prev;
        else
                s->tail = e->prev;
}

static void lru_append(ws_snap_t *s, uint32_t i) {
        slot_t *e = &s->slots[i];
        e->prev = s->tail;
        e->next = NIL;
        if (s->tail != NIL)
                s->slots[s->tail].next = i;
        else
                s->head = i;
        s->tail = i;
}

static void remove_slot(ws_snap_t *s, uint32_t i) {
        slot_t *e = &s->slots[i];
        uint32_t *pp = &s->buckets[e->hash & s->mask];
        while (*pp != i)
                pp = &s->slots[*pp].hnext;
        *pp = e->hnext;
        lru_unlink(s, i);
        e->next = s->free;
        s->free = i;
        s->count--;
}

static uint32_t find(const ws_snap_t *s, uint64_t h) {
        for (uint32_t i = s->buckets[h & s->mask]; i != NIL; i = s->slots[i].hnext) {
                const slot_t *e = &s->slots[i];
                if (e->hash == h && e->id_len == s->scratch.len &&
                    memcmp(e->id.data, s->scratch.data, e->id_len) == 0)
                        return i;
        }
        return NIL;
}

/* A slot for a new identity: a free one, a new one, else the least recently
 * updated (evicted).  NIL: out of memory. */
static uint32_t take_slot(ws_snap_t *s) {
        if (s->free != NIL) {
                uint32_t i = s->free;
                s->free = s->slots[i].next;
                return i;
        }
        if (s->nslots < s->max) {
                if (s->nslots == s->cap) {
                        size_t cap = s->cap ? s->cap * 2 : 64;
                        if (cap > s->max)
                                cap = s->max;
                        slot_t *p = realloc(s->slots, cap * sizeof(*p));
                        if (!p)
                                return NIL;
                        memset(p + s->cap, 0, (cap - s->cap) * sizeof(*p));
                        s->slots = p;
                        s->cap = cap;
                }
                return (uint32_t)s->nslots++;
        }
        uint32_t i = s->head;
        remove_slot(s, i);
        s->evictions++;
        s->free = s->slots[i].next; /* remove_slot pushed it on the free list */
        return i;
}

int ws_snap_put(ws_snap_t *s, const ws_event_t *ev, const char *render, size_t render_len) {
        const char *win = "", *rule = "", *state = NULL;
        size_t win_len = 0, rule_len = 0, state_len = 0;
        int is_alert = strcmp(ev->kind, "alert") == 0;
        ws_json_top_str(ev->json, ev->json_len, "window", &win, &win_len);
        if (is_alert) {
                ws_json_top_str(ev->json, ev->json_len, "rule", &rule, &rule_len);
                ws_json_top_str(ev->json, ev->json_len, "state", &state, &state_len);
        }
        const char *sev = ev->severity ? ev->severity : "";
        s->scratch.len = 0;
        if (part(s, P_KIND, ev->kind, strlen(ev->kind)) ||
            part(s, P_TOPIC, ev->topic, strlen(ev->topic)) ||
            part(s, P_KEY, ev->key, ev->key_len) || part(s, P_WINDOW, win, win_len) ||
            part(s, P_RULE, rule, rule_len))
                return WS_SNAP_NOMEM;
        size_t id_len = s->scratch.len;
        uint64_t h = dict_hash_bytes(s->scratch.data, id_len);
        uint32_t i = find(s, h);
        if (is_alert && state && state_len == 8 && memcmp(state, "RESOLVED", 8) == 0) {
                if (i != NIL)
                        remove_slot(s, i);
                return WS_SNAP_REMOVED;
        }
        if (render_len > WS_SNAP_MAX_RENDER) {
                if (i != NIL)
                        remove_slot(s, i);
                return WS_SNAP_SKIPPED;
        }
        if (part(s, P_SEV, sev, strlen(sev)))
                return WS_SNAP_NOMEM;
        s->scratch.len = id_len; /* the severity's bytes stay after len */
        int fresh = i == NIL;
        if (fresh && (i = take_slot(s)) == NIL)
                return WS_SNAP_NOMEM;
        slot_t *e = &s->slots[i];
        size_t full = id_len + sizeof(uint32_t) + s->len[P_SEV] + 1;
        /* Room for the new content at the start of each buffer (reserve
         * counts after len, which still holds the old one, kept on failure). */
        if (buf_reserve(&e->render, render_len > e->render.len ? render_len - e->render.len : 0) ||
            buf_reserve(&e->id, full > e->id.len ? full - e->id.len : 0)) {
                if (fresh) { /* back on the free list, nothing linked */
                        e->next = s->free;
                        s->free = i;
                }
                return WS_SNAP_NOMEM;
        }
        memcpy(e->render.data, render, render_len);
        e->render.len = render_len;
        memcpy(e->id.data, s->scratch.data, full);
        e->id.len = full;
        e->id_len = id_len;
        memcpy(e->off, s->off, sizeof(e->off));
        memcpy(e->len, s->len, sizeof(e->len));
        e->time_ms = ev->event_time_ms;
        if (fresh) {
                e->hash = h;
                e->hnext = s->buckets[h & s->mask];
                s->buckets[h & s->mask] = i;
                s->count++;
        } else {
                lru_unlink(s, i);
        }
        lru_append(s, i);
        return WS_SNAP_KEPT;
}

int ws_snap_each(const ws_snap_t *s, ws_snap_fn fn, void *opaque) {
        for (uint32_t i = s->head; i != NIL; i = s->slots[i].next) {
                const slot_t *e = &s->slots[i];
                const char *id = e->id.data;
                ws_event_t ev = {
                        .kind = id + e->off[P_KIND],
                        .topic = id + e->off[P_TOPIC],
                        .key = id + e->off[P_KEY],
                        .key_len = e->len[P_KEY],
                        .severity = e->len[P_SEV] ? id + e->off[P_SEV] : NULL,
                        .event_time_ms = e->time_ms,
                };
                int rc = fn(opaque, &ev, e->render.data, e->render.len);
                if (rc)
                        return rc;
        }
        return 0;
}

typedef struct {
        const ws_filter_t *f;
        size_t frame_max, n;
        buf_t *b;
        ws_snap_emit_fn emit;
        void *opaque;
} frames_t;

static int frame_end(frames_t *fr) {
        if (buf_append(fr->b, "]}", 2))
                return -1;
        int rc = fr->emit(fr->opaque, fr->b->data, fr->b->len, fr->n);
        fr->b->len = 0;
        fr->n = 0;
        return rc;
}

static int frame_add(void *opaque, const ws_event_t *ev, const char *render, size_t len) {
        frames_t *fr = opaque;
        if (!ws_filter_match(fr->f, ev->kind, ev->topic, ev->key, ev->key_len, ev->severity))
                return 0;
        int rc;
        if (fr->n && fr->b->len + len > fr->frame_max && (rc = frame_end(fr)) != 0)
                return rc;
        static const char head[] = "\"snapshot\":true,\"events\":[";
        if ((fr->n == 0 && buf_append(fr->b, head, sizeof(head) - 1)) ||
            (fr->n && buf_append(fr->b, ",", 1)) || buf_append(fr->b, render, len))
                return -1;
        fr->n++;
        return 0;
}

int ws_snap_frames(const ws_snap_t *s, const ws_filter_t *f, size_t frame_max, buf_t *scratch,
                   ws_snap_emit_fn emit, void *opaque) {
        frames_t fr = {f, frame_max, 0, scratch, emit, opaque};
        scratch->len = 0;
        int rc = ws_snap_each(s, frame_add, &fr);
        if (rc == 0 && fr.n)
                rc = frame_end(&fr);
        scratch->len = 0;
        return rc;
}

size_t ws_snap_count(const ws_snap_t *s) {
        return s->count;
}

uint64_t ws_snap_evictions(const ws_snap_t *s) {
        return s->evictions;
}
