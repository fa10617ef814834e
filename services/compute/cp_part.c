/* cp_part — one input partition's state: the keys (a chained hash table of
 * single-allocation key blocks), a min-heap of keys by their next window
 * close (ties broken by key bytes, so the emission order does not depend on
 * history), the closing loop, 'changes' ticks, and the changelog entry
 * points.  Window assignment is in win.c, what a closing window emits in
 * cp_emit.c, the bytes in cp_state.c. */
#include "cp_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n) {
        uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a final mix */
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 0x100000001b3ull;
        }
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
        return h;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
        if (need <= *cap)
                return 0;
        size_t nc = *cap ? *cap * 2 : 16;
        while (nc < need)
                nc *= 2;
        void *n = realloc(*arr, nc * elem);
        if (!n)
                return -1;
        *arr = n;
        *cap = nc;
        return 0;
}

/* The other way: an array whose use fell to a quarter of its capacity
 * gives half back, an empty one all, so the tables of a partition follow
 * its live state rather than its history (a restore from an uncompacted
 * changelog had every key in the heap at some point).  Halving at a
 * quarter keeps the regrowth amortised. */
static void shrink(void **arr, size_t *cap, size_t n, size_t elem) {
        if (n == 0 && *cap) {
                free(*arr);
                *arr = NULL;
                *cap = 0;
        } else if (*cap > 64 && n < *cap / 4) {
                void *a = realloc(*arr, *cap / 2 * elem);
                if (a) {
                        *arr = a;
                        *cap /= 2;
                }
        }
}

cp_part_t *cp_part_new(const cp_engine_t *e, int32_t partition) {
        cp_part_t *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->e = e;
        p->partition = partition;
        p->stream_time = INT64_MIN;
        p->htcap = 1024;
        p->ht = calloc(p->htcap, sizeof(*p->ht));
        p->fs = calloc(e->nf ? e->nf : 1, sizeof(*p->fs));
        p->tv = calloc(e->max_terms ? e->max_terms : 1, sizeof(*p->tv));
        p->rgrp = calloc(e->nf ? e->nf : 1, 1);
        p->terms = calloc(e->max_terms ? e->max_terms : 1, sizeof(*p->terms));
        if (!p->ht || !p->fs || !p->tv || !p->terms || !p->rgrp) {
                cp_part_destroy(p);
                return NULL;
        }
        for (size_t i = 0; i < e->nf; i++)
                p->fs[i].name = e->fields[i];
        return p;
}

static void key_free(cp_part_t *p, cp_key_t *k) {
        for (size_t d = 0; d < p->e->ndefs; d++) {
                cp_win_t *w = cp_kd(p, k)[d].head;
                while (w) {
                        cp_win_t *n = w->next;
                        cp_win_free(p, w);
                        w = n;
                }
                free(cp_kd(p, k)[d].sb);
                p->bytes -= (int64_t)(cp_kd(p, k)[d].sbcap * p->e->sent_size);
        }
        size_t n = cp_ktail(k->key_len) + p->e->tail_size;
        p->bytes -= (int64_t)ks_size(n);
        ks_free(&p->ks, k, n);
}

void cp_part_destroy(cp_part_t *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->htcap && p->ht; i++) {
                cp_key_t *k = p->ht[i];
                while (k) {
                        cp_key_t *n = k->hnext;
                        key_free(p, k);
                        k = n;
                }
        }
        cp_win_t *w = p->free_wins;
        while (w) { /* pooled nodes hold no sketch storage (cp_win_free) */
                cp_win_t *n = w->next;
                free(w);
                w = n;
        }
        ks_fini(&p->ks);
        free(p->ht);
        free(p->heap);
        free(p->dirty);
        free(p->pend);
        free(p->fs);
        free(p->tv);
        free(p->rgrp);
        free(p->terms);
        free(p->due);
        buf_free(&p->ser);
        buf_free(&p->ckey);
        free(p);
}

/* ---------------------------------------------------------------- keys */

static int ht_grow(cp_part_t *p) {
        size_t nc = p->htcap * 2;
        cp_key_t **nt = calloc(nc, sizeof(*nt));
        if (!nt)
                return -1;
        for (size_t i = 0; i < p->htcap; i++) {
                cp_key_t *k = p->ht[i];
                while (k) {
                        cp_key_t *n = k->hnext;
                        size_t b = (size_t)k->hash & (nc - 1);
                        k->hnext = nt[b];
                        nt[b] = k;
                        k = n;
                }
        }
        free(p->ht);
        p->ht = nt;
        p->htcap = nc;
        return 0;
}

cp_key_t *cp_key_get(cp_part_t *p, const char *key, size_t len, int create) {
        if (len > UINT32_MAX - 64)
                return NULL;
        uint32_t h = (uint32_t)hash_bytes(key, len);
        for (cp_key_t *k = p->ht[h & (p->htcap - 1)]; k; k = k->hnext)
                if (k->hash == h && k->key_len == len && memcmp(cp_kkey(k), key, len) == 0)
                        return k;
        if (!create)
                return NULL;
        if (p->nkeys >= p->htcap && ht_grow(p) < 0)
                return NULL;
        const cp_engine_t *e = p->e;
        size_t n = cp_ktail(len) + e->tail_size;
        cp_key_t *k = ks_alloc(&p->ks, n);
        if (!k)
                return NULL;
        p->bytes += (int64_t)ks_size(n);
        memcpy(cp_kkey(k), key, len);
        k->key_len = (uint32_t)len;
        k->hash = h;
        k->heap_idx = -1;
        k->next_close = INT64_MAX;
        k->last_ts = INT64_MIN;
        size_t b = h & (p->htcap - 1);
        k->hnext = p->ht[b];
        p->ht[b] = k;
        p->nkeys++;
        return k;
}

/* ---------------------------------------------------------------- heap */

static int key_before(const cp_key_t *a, const cp_key_t *b) {
        if (a->next_close != b->next_close)
                return a->next_close < b->next_close;
        size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
        int c = memcmp(cp_kkey(a), cp_kkey(b), n);
        return c ? c < 0 : a->key_len < b->key_len;
}

static void heap_set(cp_part_t *p, size_t i, cp_key_t *k) {
        p->heap[i] = k;
        k->heap_idx = (int32_t)i;
}

static void heap_up(cp_part_t *p, size_t i) {
        cp_key_t *k = p->heap[i];
        while (i > 0) {
                size_t up = (i - 1) / 2;
                if (!key_before(k, p->heap[up]))
                        break;
                heap_set(p, i, p->heap[up]);
                i = up;
        }
        heap_set(p, i, k);
}

static void heap_down(cp_part_t *p, size_t i) {
        cp_key_t *k = p->heap[i];
        for (;;) {
                size_t l = 2 * i + 1, m = i;
                const cp_key_t *best = k;
                if (l < p->nheap && key_before(p->heap[l], best)) {
                        m = l;
                        best = p->heap[l];
                }
                if (l + 1 < p->nheap && key_before(p->heap[l + 1], best))
                        m = l + 1;
                if (m == i)
                        break;
                heap_set(p, i, p->heap[m]);
                i = m;
        }
        heap_set(p, i, k);
}

static void heap_del(cp_part_t *p, cp_key_t *k) {
        if (k->heap_idx < 0)
                return;
        size_t i = (size_t)k->heap_idx;
        k->heap_idx = -1;
        p->nheap--;
        if (i != p->nheap) {
                cp_key_t *m = p->heap[p->nheap];
                heap_set(p, i, m);
                heap_up(p, i);
                heap_down(p, (size_t)m->heap_idx);
        }
        shrink((void **)&p->heap, &p->capheap, p->nheap, sizeof(*p->heap));
}

/* Recomputes k's next close (and sliding-buffer prune time) and its place in
 * the heap. */
void cp_key_schedule(cp_part_t *p, cp_key_t *k) {
        int64_t t = cp_key_ttl_due(p, k);
        for (size_t d = 0; d < p->e->ndefs; d++) {
                if (cp_kd(p, k)[d].head && cp_win_close(p->e, cp_kd(p, k)[d].head) < t)
                        t = cp_win_close(p->e, cp_kd(p, k)[d].head);
                int64_t pt = win_prune_time(p, k, d);
                if (pt < t)
                        t = pt;
        }
        if (p->e->nabsent) {
                int64_t at = cp_absent_due(p, k);
                if (at < t)
                        t = at;
        }
        if (t == k->next_close && k->heap_idx >= 0)
                return; /* the common case: a record into an already open window */
        k->next_close = t;
        if (t == INT64_MAX) {
                heap_del(p, k);
                return;
        }
        if (k->heap_idx < 0) {
                if (grow((void **)&p->heap, &p->capheap, p->nheap + 1, sizeof(*p->heap)) < 0)
                        return; /* out of memory: it closes when next touched */
                heap_set(p, p->nheap++, k);
                heap_up(p, p->nheap - 1);
        } else {
                size_t i = (size_t)k->heap_idx;
                heap_up(p, i);
                heap_down(p, (size_t)k->heap_idx);
        }
}

void cp_key_dirty(cp_part_t *p, cp_key_t *k) {
        if (k->dirty)
                return;
        if (grow((void **)&p->dirty, &p->capdirty, p->ndirty + 1, sizeof(*p->dirty)) < 0)
                return;
        k->dirty = 1;
        p->dirty[p->ndirty++] = k;
}

/* Unlinks k from the hash table and heap and frees it (not from dirty: the
 * caller handles that). */
void cp_key_remove(cp_part_t *p, cp_key_t *k) {
        cp_key_t **pp = &p->ht[(size_t)k->hash & (p->htcap - 1)];
        while (*pp && *pp != k)
                pp = &(*pp)->hnext;
        if (*pp)
                *pp = k->hnext;
        heap_del(p, k);
        p->nkeys--;
        key_free(p, k);
}

/* ---------------------------------------------------------------- windows */

cp_win_t *cp_win_alloc(cp_part_t *p, cp_key_t *k, size_t def, int64_t start, int64_t end) {
        cp_win_t *w = p->free_wins;
        if (w) {
                p->free_wins = w->next;
                p->nfree--;
                p->pool_bytes -= (int64_t)p->e->win_size;
        } else {
                w = calloc(1, p->e->win_size);
                if (!w)
                        return NULL;
        }
        p->bytes += (int64_t)p->e->win_size;
        w->next = NULL;
        w->k = k;
        w->start = start;
        w->end = end;
        w->count = 0;
        w->last_emit = INT64_MIN;
        w->pend_idx = -1;
        w->def = (uint16_t)def;
        w->changed = 0;
        p->open_windows++;
        return w;
}

void cp_pend_del(cp_part_t *p, cp_win_t *w) {
        if (w->pend_idx < 0)
                return;
        size_t i = (size_t)w->pend_idx;
        p->pend[i] = p->pend[--p->npend];
        p->pend[i]->pend_idx = (int32_t)i;
        w->pend_idx = -1;
        shrink((void **)&p->pend, &p->cappend, p->npend, sizeof(*p->pend));
}

void cp_pend_add(cp_part_t *p, cp_win_t *w) {
        if (w->pend_idx >= 0)
                return;
        if (grow((void **)&p->pend, &p->cappend, p->npend + 1, sizeof(*p->pend)) < 0)
                return;
        w->pend_idx = (int32_t)p->npend;
        p->pend[p->npend++] = w;
}

/* The sketch storage goes back to malloc whether the node is pooled or
 * not: a sketch's size depends on its window's values, and a pool of
 * sketches sized for the widest window ever seen is what kept a drained
 * backlog's memory (one allocation per new window is not per record). */
void cp_win_free(cp_part_t *p, cp_win_t *w) {
        cp_pend_del(p, w);
        for (size_t f = 0; f < p->e->nf; f++) {
                void *a = cp_wagg(p->e, w, f);
                p->bytes -= (int64_t)agg_bytes(a, &p->e->lay[f]);
                agg_free(a, &p->e->lay[f]);
        }
        p->bytes -= (int64_t)p->e->win_size;
        p->open_windows--;
        if (p->nfree >= CP_WIN_POOL) {
                free(w);
                return;
        }
        w->next = p->free_wins;
        p->free_wins = w;
        p->nfree++;
        p->pool_bytes += (int64_t)p->e->win_size;
}

/* Closes every window whose close time stream time has reached, in the
 * order (close time, key bytes, definition, start). */
static void advance(cp_part_t *p, int64_t now_ms, const cp_emit_t *emit) {
        while (p->nheap && p->heap[0]->next_close <= p->stream_time) {
                cp_key_t *k = p->heap[0];
                int64_t t = k->next_close;
                for (size_t d = 0; d < p->e->ndefs; d++) {
                        while (cp_kd(p, k)[d].head && cp_win_close(p->e, cp_kd(p, k)[d].head) <= t)
                                cp_close_head(p, k, d, now_ms, emit);
                        win_prune(p, k, d);
                }
                if (p->e->nabsent)
                        cp_absent_fire(p, k, t, now_ms, emit);
                if (cp_key_ttl_due(p, k) <= p->stream_time)
                        cp_key_evict(p, k);
                cp_key_dirty(p, k);
                cp_key_schedule(p, k);
        }
}

/* ---------------------------------------------------------------- API */

cp_res_t cp_part_process(cp_part_t *p, const cp_record_t *r, int64_t now_ms,
                         const cp_emit_t *emit) {
        if (r->ts_ms < -CP_TS_LIMIT || r->ts_ms > CP_TS_LIMIT)
                return CP_INVALID;
        size_t nkeys = p->nkeys;
        cp_key_t *k = cp_key_get(p, r->key, r->key_len, 1);
        if (!k)
                return CP_INVALID; /* out of memory */
        if (r->ts_ms > p->stream_time) {
                p->stream_time = r->ts_ms;
                p->meta_dirty = 1;
        }
        int64_t prev = k->last_ts;
        if (r->ts_ms > k->last_ts)
                k->last_ts = r->ts_ms;
        if (p->e->nabsent)
                cp_absent_seen(p, k, prev, r->ts_ms, now_ms, emit);
        if (prev != k->last_ts && (p->e->nabsent || p->e->c->key_ttl_ms > 0))
                cp_key_dirty(p, k);
        int counted = 0;
        for (size_t d = 0; d < p->e->ndefs; d++)
                counted |= win_assign(p, k, d, r, now_ms, emit);
        /* a late record changes nothing of an existing key (a new, empty key
         * is flushed as a tombstone, which also frees it) */
        if (counted || p->nkeys != nkeys)
                cp_key_dirty(p, k);
        cp_key_schedule(p, k);
        if (!counted) {
                p->late++;
                p->meta_dirty = 1;
        }
        advance(p, now_ms, emit);
        return counted ? CP_OK : CP_LATE;
}

void cp_part_advance_to(cp_part_t *p, int64_t stream_time, int64_t now_ms, const cp_emit_t *emit) {
        if (stream_time <= p->stream_time)
                return;
        p->stream_time = stream_time > CP_TS_LIMIT ? CP_TS_LIMIT : stream_time;
        p->meta_dirty = 1;
        advance(p, now_ms, emit);
}

int64_t cp_part_close_all(cp_part_t *p, int64_t now_ms, const cp_emit_t *emit) {
        /* The smallest stream time at which every open window has closed:
         * moving there closes them exactly as later records would have,
         * and makes a later record for any of them late. */
        int64_t to = INT64_MIN, before = p->open_windows;
        for (size_t i = 0; i < p->htcap; i++)
                for (const cp_key_t *k = p->ht[i]; k; k = k->hnext)
                        for (size_t d = 0; d < p->e->ndefs; d++)
                                for (const cp_win_t *w = cp_kd(p, k)[d].head; w; w = w->next)
                                        if (cp_win_close(p->e, w) > to)
                                                to = cp_win_close(p->e, w);
        if (to != INT64_MIN)
                cp_part_advance_to(p, to, now_ms, emit);
        return before - p->open_windows;
}

static int due_cmp(const void *a, const void *b) {
        const cp_win_t *x = *(cp_win_t *const *)a, *y = *(cp_win_t *const *)b;
        size_t n = x->k->key_len < y->k->key_len ? x->k->key_len : y->k->key_len;
        int c = memcmp(cp_kkey(x->k), cp_kkey(y->k), n);
        if (c)
                return c;
        if (x->k->key_len != y->k->key_len)
                return x->k->key_len < y->k->key_len ? -1 : 1;
        if (x->def != y->def)
                return x->def < y->def ? -1 : 1;
        return x->start < y->start ? -1 : x->start > y->start;
}

void cp_part_tick(cp_part_t *p, int64_t now_ms, const cp_emit_t *emit) {
        if (!p->npend)
                return;
        size_t n = 0;
        if (grow((void **)&p->due, &p->capdue, p->npend, sizeof(*p->due)) < 0)
                return;
        for (size_t i = 0; i < p->npend; i++) {
                cp_win_t *w = p->pend[i];
                if (w->last_emit == INT64_MIN ||
                    now_ms - w->last_emit >= p->e->defs[w->def].w->emit_interval_ms)
                        p->due[n++] = w;
        }
        qsort(p->due, n, sizeof(*p->due), due_cmp);
        for (size_t i = 0; i < n; i++) {
                cp_win_t *w = p->due[i];
                cp_fill_stats(p, w);
                cp_emit_aggregate(p, w, 0, now_ms, emit);
                w->last_emit = now_ms;
                w->changed = 0;
                cp_pend_del(p, w);
                cp_key_dirty(p, w->k);
        }
        shrink((void **)&p->due, &p->capdue, n, sizeof(*p->due));
}

/* A key whose state is all defaults: no windows, no buffer, no history. */
static int key_empty(const cp_part_t *p, const cp_key_t *k) {
        const cp_engine_t *e = p->e;
        for (size_t d = 0; d < e->ndefs; d++)
                if (cp_kd(p, k)[d].head || cp_kd(p, k)[d].sbn)
                        return 0;
        for (size_t i = 0; i < e->ndefs * e->nf; i++)
                if (cp_kew(p, k)[i].n)
                        return 0;
        for (size_t i = 0; i < e->nrules; i++)
                if (cp_krs(p, k)[i].consec || cp_krs(p, k)[i].firing)
                        return 0;
        return !(e->nabsent && k->last_ts != INT64_MIN); /* a known key, for absence rules */
}

void cp_part_flush_dirty(cp_part_t *p, cp_dirty_cb cb, void *opaque) {
        for (size_t i = 0; i < p->ndirty; i++) {
                cp_key_t *k = p->dirty[i];
                k->dirty = 0;
                p->ckey.len = 0;
                p->ser.len = 0;
                if (buf_append(&p->ckey, "K", 1) < 0 ||
                    buf_append(&p->ckey, cp_kkey(k), k->key_len) < 0)
                        continue;
                if (key_empty(p, k)) {
                        cb(opaque, p->ckey.data, p->ckey.len, NULL, 0);
                        cp_key_remove(p, k);
                        continue;
                }
                if (cp_state_write_key(p, k, &p->ser) == 0)
                        cb(opaque, p->ckey.data, p->ckey.len, p->ser.data, p->ser.len);
        }
        /* keep room for what this flush needed; give back a backlog's */
        shrink((void **)&p->dirty, &p->capdirty, p->ndirty ? p->ndirty : 1, sizeof(*p->dirty));
        p->ndirty = 0;
        if (p->meta_dirty) {
                p->ser.len = 0;
                if (cp_state_write_meta(p, &p->ser) == 0)
                        cb(opaque, "M", 1, p->ser.data, p->ser.len);
                p->meta_dirty = 0;
        }
}

int cp_part_restore(cp_part_t *p, const void *key, size_t key_len, const void *val, size_t val_len,
                    char *errstr, size_t errstr_size) {
        const char *kb = key;
        if (key_len == 1 && kb[0] == 'M') {
                if (!val) {
                        p->stream_time = INT64_MIN;
                        p->late = p->late_windows = 0;
                        return 0;
                }
                return cp_state_read_meta(p, val, val_len, errstr, errstr_size);
        }
        if (key_len < 1 || kb[0] != 'K') {
                snprintf(errstr, errstr_size, "changelog key is not a compute state key");
                return -1;
        }
        if (!val) {
                cp_key_t *k = cp_key_get(p, kb + 1, key_len - 1, 0);
                if (k && !k->dirty) /* a dirty key is in p->dirty: left for the flush */
                        cp_key_remove(p, k);
                return 0;
        }
        return cp_state_read_key(p, kb + 1, key_len - 1, val, val_len, errstr, errstr_size);
}

static int64_t table_bytes(const cp_part_t *p) {
        return (int64_t)(sizeof(*p) + p->htcap * sizeof(*p->ht) + p->capheap * sizeof(*p->heap) +
                         p->capdirty * sizeof(*p->dirty) + p->cappend * sizeof(*p->pend) +
                         p->capdue * sizeof(*p->due));
}

/* O(1): the bytes are tracked as they change, so this may be called per
 * record (e.g. for a DLQ message) as well as for metrics. */
void cp_part_stats(const cp_part_t *p, cp_part_stats_t *out) {
        memset(out, 0, sizeof(*out));
        out->keys = (int64_t)p->nkeys;
        out->open_windows = p->open_windows;
        out->late = p->late;
        out->late_windows = p->late_windows;
        out->stream_time_ms = p->stream_time;
        out->state_bytes = p->bytes + table_bytes(p);
        out->pool_bytes = p->pool_bytes;
        out->evicted_keys = p->evicted;
}

int64_t cp_part_bytes_walk(const cp_part_t *p) {
        const cp_engine_t *e = p->e;
        int64_t bytes = table_bytes(p);
        for (size_t i = 0; i < p->htcap; i++)
                for (const cp_key_t *k = p->ht[i]; k; k = k->hnext) {
                        bytes += (int64_t)ks_size(cp_ktail(k->key_len) + e->tail_size);
                        for (size_t d = 0; d < e->ndefs; d++) {
                                bytes += (int64_t)(cp_kd(p, k)[d].sbcap * e->sent_size);
                                for (const cp_win_t *w = cp_kd(p, k)[d].head; w; w = w->next) {
                                        bytes += (int64_t)e->win_size;
                                        for (size_t f = 0; f < e->nf; f++)
                                                bytes += (int64_t)agg_bytes(cp_wagg(e, w, f),
                                                                            &e->lay[f]);
                                }
                        }
                }
        return bytes; /* live only: the window pool is cp_part_stats_t.pool_bytes */
}
