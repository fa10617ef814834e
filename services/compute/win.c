/* win — puts a record into its windows, per window type (semantics in cp.h
 * and docs/compute.md):
 *  - tumbling/hopping: the epoch-aligned windows [s, s + size) with s a
 *    multiple of advance and s <= t < s + size;
 *  - session: the open sessions within gap of t merge with the record;
 *  - sliding (Kafka Streams SlidingWindows): a window per distinct set of
 *    records within `size`: the left window [t - size, t] of each record and
 *    the right window [x + 1, x + 1 + size] of each record x that has a later
 *    record within size.  New windows are filled from the key's buffer of
 *    recent records, which win_prune() trims to what a future window can
 *    still need.
 * A window is skipped (late) when stream time has reached its close. */
#include "cp_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void win_add(cp_part_t *p, cp_win_t *w, int64_t ts, const double *v, const unsigned char *present) {
        const cp_engine_t *e = p->e;
        w->count++;
        for (size_t f = 0; f < e->nf; f++) {
                if (!present[f] || !isfinite(v[f]))
                        continue;
                void *a = cp_wagg(e, w, f);
                if (!e->has_sk[f]) {
                        agg_add(a, &e->lay[f], v[f], ts, NULL);
                        continue;
                }
                size_t before = agg_bytes(a, &e->lay[f]);
                agg_add(a, &e->lay[f], v[f], ts, &e->skp);
                p->bytes += (int64_t)agg_bytes(a, &e->lay[f]) - (int64_t)before;
        }
}

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The window of (k, d) starting at s, inserted in start order if new;
 * NULL on out of memory. */
static cp_win_t *find_or_add(cp_part_t *p, cp_key_t *k, size_t d, int64_t s, int64_t end) {
        cp_win_t **pp = &cp_kd(p, k)[d].head;
        while (*pp && (*pp)->start < s)
                pp = &(*pp)->next;
        cp_win_t *cur = *pp;
        if (cur && cur->start == s)
                return cur;
        cp_win_t *w = cp_win_alloc(p, k, d, s, end);
        if (!w)
                return NULL;
        w->next = *pp;
        *pp = w;
        return w;
}

static int assign_time(cp_part_t *p, cp_key_t *k, size_t d, const cp_record_t *r, int64_t now_ms,
                       const cp_emit_t *emit) {
        const cp_def_t *df = &p->e->defs[d];
        int64_t size = df->w->size_ms;
        int64_t adv = df->w->advance_ms > 0 ? df->w->advance_ms : size;
        int64_t t = r->ts_ms;
        int64_t last = floor_div(t, adv) * adv;
        int64_t first = last - ((last - (t - size) - 1) / adv) * adv; /* lowest s > t - size */
        int counted = 0;
        for (int64_t s = first; s <= last; s += adv) {
                if (s + size + df->close_extra <= p->stream_time) {
                        p->late_windows++;
                        continue;
                }
                cp_win_t *w = find_or_add(p, k, d, s, s + size);
                if (!w)
                        continue;
                win_add(p, w, t, r->values, r->present);
                cp_win_touched(p, w, now_ms, emit);
                counted = 1;
        }
        return counted;
}

static int assign_session(cp_part_t *p, cp_key_t *k, size_t d, const cp_record_t *r, int64_t now_ms,
                          const cp_emit_t *emit) {
        const cp_def_t *df = &p->e->defs[d];
        int64_t gap = df->w->gap_ms, t = r->ts_ms;
        cp_win_t **pp = &cp_kd(p, k)[d].head;
        while (*pp && (*pp)->end - 1 + gap < t)
                pp = &(*pp)->next;
        /* *pp..: sessions ending within gap before t or later; matched while start - gap <= t */
        cp_win_t *m = *pp;
        size_t nm = 0;
        for (cp_win_t *w = m; w && w->start - gap <= t; w = w->next) {
                if (cp_win_close(p->e, w) <=
                    p->stream_time) { /* closed, not yet emitted: cannot grow */
                        p->late_windows++;
                        return 0;
                }
                nm++;
        }
        if (nm == 0) {
                if (t + 1 + df->close_extra <= p->stream_time) {
                        p->late_windows++;
                        return 0;
                }
                cp_win_t *w = cp_win_alloc(p, k, d, t, t + 1);
                if (!w)
                        return 0;
                w->next = *pp;
                *pp = w;
                m = w;
        } else {
                for (size_t i = 1; i < nm; i++) {
                        cp_win_t *o = m->next;
                        for (size_t f = 0; f < p->e->nf; f++) {
                                const agg_lay_t *L = &p->e->lay[f];
                                void *a = cp_wagg(p->e, m, f);
                                size_t before = agg_bytes(a, L);
                                agg_merge(a, cp_wagg(p->e, o, f), L,
                                          p->e->has_sk[f] ? &p->e->skp : NULL);
                                p->bytes += (int64_t)agg_bytes(a, L) - (int64_t)before;
                        }
                        m->count += o->count;
                        if (o->end > m->end)
                                m->end = o->end;
                        if (o->last_emit > m->last_emit)
                                m->last_emit = o->last_emit;
                        m->next = o->next;
                        cp_win_free(p, o);
                }
                if (t < m->start)
                        m->start = t;
                if (t + 1 > m->end)
                        m->end = t + 1;
        }
        win_add(p, m, t, r->values, r->present);
        cp_win_touched(p, m, now_ms, emit);
        return 1;
}

/* ---------------------------------------------------------------- sliding */

static unsigned char *sent(const cp_part_t *p, const cp_dstate_t *ds, size_t i) {
        return ds->sb + i * p->e->sent_size;
}

static int64_t sent_ts(const cp_part_t *p, const cp_dstate_t *ds, size_t i) {
        int64_t ts;
        memcpy(&ts, sent(p, ds, i), sizeof(ts));
        return ts;
}

/* First buffered index with ts > t (after equal times). */
static size_t sb_upper(const cp_part_t *p, const cp_dstate_t *ds, int64_t t) {
        size_t lo = 0, hi = ds->sbn;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (sent_ts(p, ds, mid) <= t)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static size_t sb_lower(const cp_part_t *p, const cp_dstate_t *ds, int64_t t) {
        size_t lo = 0, hi = ds->sbn;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (sent_ts(p, ds, mid) < t)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static void sent_add_to(cp_part_t *p, cp_win_t *w, const unsigned char *en) {
        const cp_engine_t *e = p->e;
        int64_t ts;
        memcpy(&ts, en, sizeof(ts));
        const double *v = (const double *)(const void *)(en + sizeof(int64_t));
        win_add(p, w, ts, v, en + sizeof(int64_t) + e->nf * sizeof(double));
}

/* Creates window [s, s + size] filled from the buffer, if it is open. */
static cp_win_t *slide_create(cp_part_t *p, cp_key_t *k, size_t d, int64_t s) {
        const cp_def_t *df = &p->e->defs[d];
        int64_t end = s + df->w->size_ms + 1;
        if (end + df->close_extra <= p->stream_time)
                return NULL;
        cp_win_t *w = find_or_add(p, k, d, s, end);
        if (!w)
                return NULL;
        cp_dstate_t *ds = &cp_kd(p, k)[d];
        for (size_t i = sb_lower(p, ds, s); i < ds->sbn && sent_ts(p, ds, i) < end; i++)
                sent_add_to(p, w, sent(p, ds, i));
        return w;
}

static int has_start(const cp_part_t *p, const cp_key_t *k, size_t d, int64_t s) {
        for (const cp_win_t *w = cp_kd(p, k)[d].head; w && w->start <= s; w = w->next)
                if (w->start == s)
                        return 1;
        return 0;
}

int64_t win_prune_time(const cp_part_t *p, const cp_key_t *k, size_t d) {
        const cp_def_t *df = &p->e->defs[d];
        const cp_dstate_t *ds = &cp_kd(p, k)[d];
        if (df->w->type != SPEC_WINDOW_SLIDING || ds->sbn == 0)
                return INT64_MAX;
        return sent_ts(p, ds, 0) + df->w->grace_ms + df->w->size_ms + 2;
}

int win_prune(cp_part_t *p, cp_key_t *k, size_t d) {
        const cp_def_t *df = &p->e->defs[d];
        cp_dstate_t *ds = &cp_kd(p, k)[d];
        if (df->w->type != SPEC_WINDOW_SLIDING || ds->sbn == 0 || p->stream_time == INT64_MIN)
                return 0;
        /* keep ts >= S - grace - size - 1: the oldest a future window can hold */
        size_t n = sb_lower(p, ds, p->stream_time - df->w->grace_ms - df->w->size_ms - 1);
        if (n == 0)
                return 0;
        memmove(ds->sb, sent(p, ds, n), (ds->sbn - n) * p->e->sent_size);
        ds->sbn -= (uint32_t)n;
        cp_key_dirty(p, k);
        return 1;
}

static int assign_sliding(cp_part_t *p, cp_key_t *k, size_t d, const cp_record_t *r, int64_t now_ms,
                          const cp_emit_t *emit) {
        const cp_engine_t *e = p->e;
        const cp_def_t *df = &e->defs[d];
        cp_dstate_t *ds = &cp_kd(p, k)[d];
        int64_t size = df->w->size_ms, t = r->ts_ms, S = p->stream_time;
        if (t + size + 1 + df->close_extra <= S) { /* every window holding t has closed */
                p->late_windows++;
                return 0;
        }
        win_prune(p, k, d);
        /* buffer it, after records with the same time */
        if (ds->sbn == ds->sbcap) {
                size_t cap = ds->sbcap ? (size_t)ds->sbcap * 2 : 4;
                if (cap > UINT32_MAX)
                        return 0;
                unsigned char *nb = realloc(ds->sb, cap * e->sent_size);
                if (!nb)
                        return 0;
                ds->sb = nb;
                p->bytes += (int64_t)((cap - ds->sbcap) * e->sent_size);
                ds->sbcap = (uint32_t)cap;
        }
        size_t at = sb_upper(p, ds, t);
        memmove(sent(p, ds, at + 1), sent(p, ds, at), (ds->sbn - at) * e->sent_size);
        unsigned char *en = sent(p, ds, at);
        memcpy(en, &t, sizeof(t));
        for (size_t f = 0; f < e->nf; f++) {
                double v = r->present[f] ? r->values[f] : 0;
                memcpy(en + sizeof(int64_t) + f * sizeof(double), &v, sizeof(v));
                en[sizeof(int64_t) + e->nf * sizeof(double) + f] = r->present[f] ? 1 : 0;
        }
        ds->sbn++;
        int counted = 0;
        /* existing open windows holding t */
        for (cp_win_t *w = ds->head; w && w->start <= t; w = w->next) {
                if (t < w->end && cp_win_close(e, w) > S) {
                        win_add(p, w, t, r->values, r->present);
                        cp_win_touched(p, w, now_ms, emit);
                        counted = 1;
                }
        }
        cp_win_t *w;
        /* the record's left window [t - size, t] */
        if (!has_start(p, k, d, t - size) && (w = slide_create(p, k, d, t - size)) != NULL) {
                cp_win_touched(p, w, now_ms, emit);
                counted = 1;
        }
        /* its right window [t + 1, t + 1 + size], when a later record falls in it */
        if (at + 1 < ds->sbn && sent_ts(p, ds, at + 1) <= t + 1 + size &&
            !has_start(p, k, d, t + 1) && (w = slide_create(p, k, d, t + 1)) != NULL)
                cp_win_touched(p, w, now_ms, emit);
        /* the right window of the previous distinct time x, which t now falls in */
        size_t lo = sb_lower(p, ds, t);
        if (lo > 0) {
                int64_t x = sent_ts(p, ds, lo - 1);
                if (t <= x + 1 + size && !has_start(p, k, d, x + 1) &&
                    (w = slide_create(p, k, d, x + 1)) != NULL) {
                        cp_win_touched(p, w, now_ms, emit);
                        counted = 1;
                }
        }
        if (!counted) { /* nothing holds it: it must not appear in later windows either */
                memmove(sent(p, ds, at), sent(p, ds, at + 1), (ds->sbn - at - 1) * e->sent_size);
                ds->sbn--;
                p->late_windows++;
        }
        return counted;
}

int win_assign(cp_part_t *p, cp_key_t *k, size_t d, const cp_record_t *r, int64_t now_ms,
               const cp_emit_t *emit) {
        switch (p->e->defs[d].w->type) {
        case SPEC_WINDOW_SESSION:
                return assign_session(p, k, d, r, now_ms, emit);
        case SPEC_WINDOW_SLIDING:
                return assign_sliding(p, k, d, r, now_ms, emit);
        default:
                return assign_time(p, k, d, r, now_ms, emit);
        }
}
