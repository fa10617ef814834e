/* cp_state — a key's state and the partition's metadata as changelog bytes.
 *
 * Key state (key "K<key bytes>"), version 2 (varints LEB128, signed ones zigzag, doubles 8 bytes
 * little-endian):
 *   u8 version, uvar ndefs, uvar nfields, uvar nrules   (must match the engine)
 *   per field: uvar groups (agg.h AGG_G_*: the statistics its aggregates hold)
 *   per window definition:
 *     uvar nwin, per window (by start):
 *       svar start, uvar end - start, uvar count, u8 flags (1 changed,
 *       2 pending 'changes' update, 4 has last_emit) [svar last_emit],
 *       per field: agg (agg_write: uvar n, and when n > 0 f64 shift, f64
 *       mean, then the groups in the order m2, sum, min/max, first/last,
 *       sketch)
 *     sliding only: uvar nrec, per record: svar ts, per field u8 present [f64]
 *   per definition and field: uvar n [f64 mean, f64 var]     (EWMA)
 *   per rule: uvar consecutive, u8 firing
 *   with absence rules or compute.key_ttl: u8 has_last [svar last event time
 *   of the key] (optional for a reader without absence rules: key_ttl may
 *   have been turned on or off since it was written)
 * Version 1 (written until Dec 2026) is the same without the groups: every
 * aggregate held every statistic (agg_read: 9 doubles and 2 times) and a
 * sketch when the field has quantile ops.  Both are read; a group the spec's
 * ops now need and the bytes lack (an op added since) refuses the key's
 * state, like any other change of the spec's shape.
 * Metadata: u8 version, u8 has_stream_time [svar stream_time], uvar late,
 * uvar late_windows.
 * The reader checks every count against the bytes left and every invariant
 * the engine relies on (window order and sizes, time limits), so corrupt
 * bytes give an error, never a crash or a broken partition. */
#include "cp_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W(x)                                                                                       \
        do {                                                                                       \
                if ((x) < 0)                                                                       \
                        return -1;                                                                 \
        } while (0)

int cp_state_write_key(const cp_part_t *p, const cp_key_t *k, buf_t *b) {
        const cp_engine_t *e = p->e;
        W(cp_w_u8(b, CP_STATE_VERSION));
        W(cp_w_uvar(b, e->ndefs));
        W(cp_w_uvar(b, e->nf));
        W(cp_w_uvar(b, e->nrules));
        for (size_t f = 0; f < e->nf; f++)
                W(cp_w_uvar(b, e->lay[f].groups));
        for (size_t d = 0; d < e->ndefs; d++) {
                const cp_dstate_t *ds = &cp_kd(p, k)[d];
                size_t nwin = 0;
                for (const cp_win_t *w = ds->head; w; w = w->next)
                        nwin++;
                W(cp_w_uvar(b, nwin));
                for (const cp_win_t *w = ds->head; w; w = w->next) {
                        W(cp_w_svar(b, w->start));
                        W(cp_w_uvar(b, (uint64_t)(w->end - w->start)));
                        W(cp_w_uvar(b, (uint64_t)w->count));
                        uint8_t fl = (uint8_t)((w->changed ? 1 : 0) | (w->pend_idx >= 0 ? 2 : 0) |
                                               (w->last_emit != INT64_MIN ? 4 : 0));
                        W(cp_w_u8(b, fl));
                        if (fl & 4)
                                W(cp_w_svar(b, w->last_emit));
                        for (size_t f = 0; f < e->nf; f++)
                                W(agg_write(cp_wagg(e, w, f), &e->lay[f], b));
                }
                if (e->defs[d].w->type == SPEC_WINDOW_SLIDING) {
                        W(cp_w_uvar(b, ds->sbn));
                        for (size_t i = 0; i < ds->sbn; i++) {
                                const unsigned char *en = ds->sb + i * e->sent_size;
                                int64_t ts;
                                memcpy(&ts, en, sizeof(ts));
                                W(cp_w_svar(b, ts));
                                for (size_t f = 0; f < e->nf; f++) {
                                        uint8_t pr =
                                                en[sizeof(int64_t) + e->nf * sizeof(double) + f];
                                        W(cp_w_u8(b, pr));
                                        if (pr) {
                                                double v;
                                                memcpy(&v,
                                                       en + sizeof(int64_t) + f * sizeof(double),
                                                       sizeof(v));
                                                W(cp_w_f64(b, v));
                                        }
                                }
                        }
                }
        }
        for (size_t i = 0; i < e->ndefs * e->nf; i++) {
                W(cp_w_uvar(b, (uint64_t)cp_kew(p, k)[i].n));
                if (cp_kew(p, k)[i].n) {
                        W(cp_w_f64(b, cp_kew(p, k)[i].mean));
                        W(cp_w_f64(b, cp_kew(p, k)[i].var));
                }
        }
        for (size_t i = 0; i < e->nrules; i++) {
                W(cp_w_uvar(b, (uint64_t)cp_krs(p, k)[i].consec));
                W(cp_w_u8(b, cp_krs(p, k)[i].firing));
        }
        if (e->nabsent || e->c->key_ttl_ms > 0) {
                W(cp_w_u8(b, k->last_ts != INT64_MIN));
                if (k->last_ts != INT64_MIN)
                        W(cp_w_svar(b, k->last_ts));
        }
        return 0;
}

int cp_state_write_meta(const cp_part_t *p, buf_t *b) {
        W(cp_w_u8(b, CP_META_VERSION));
        W(cp_w_u8(b, p->stream_time != INT64_MIN));
        if (p->stream_time != INT64_MIN)
                W(cp_w_svar(b, p->stream_time));
        W(cp_w_uvar(b, (uint64_t)p->late));
        W(cp_w_uvar(b, (uint64_t)p->late_windows));
        return 0;
}

static int ts_ok(int64_t t) {
        return t >= -CP_TS_LIMIT && t <= CP_TS_LIMIT;
}

/* Reads one window of definition d into k (appended in order); 0 or -1. */
static int read_win(cp_part_t *p, cp_key_t *k, size_t d, unsigned ver, cp_rd_t *r, cp_win_t **tail,
                    const char **why) {
        const cp_engine_t *e = p->e;
        const spec_window_t *sw = e->defs[d].w;
        int64_t start = cp_r_svar(r);
        uint64_t len = cp_r_uvar(r);
        uint64_t count = cp_r_uvar(r);
        uint8_t fl = cp_r_u8(r);
        int64_t last_emit = (fl & 4) ? cp_r_svar(r) : INT64_MIN;
        if (r->err)
                return -1;
        if (!ts_ok(start) || len == 0 || len > (uint64_t)CP_TS_LIMIT || (fl & ~7u) ||
            count > (uint64_t)INT64_MAX / 2 || ((fl & 4) && !ts_ok(last_emit)) || (fl & 6) == 2 ||
            (fl && sw->emit != SPEC_EMIT_CHANGES)) {
                *why = "window out of range";
                return -1;
        }
        int64_t end = start + (int64_t)len;
        switch (sw->type) {
        case SPEC_WINDOW_TUMBLING:
        case SPEC_WINDOW_HOPPING: {
                int64_t adv = sw->advance_ms > 0 ? sw->advance_ms : sw->size_ms;
                if ((int64_t)len != sw->size_ms || start % adv != 0) {
                        *why = "window does not match the spec's window";
                        return -1;
                }
                break;
        }
        case SPEC_WINDOW_SLIDING:
                if ((int64_t)len != sw->size_ms + 1) {
                        *why = "window does not match the spec's window";
                        return -1;
                }
                break;
        default:
                break;
        }
        if (*tail && (*tail)->start >= start) {
                *why = "windows out of order";
                return -1;
        }
        if (*tail && sw->type == SPEC_WINDOW_SESSION && (*tail)->end > start) {
                *why = "sessions overlap";
                return -1;
        }
        cp_win_t *w = cp_win_alloc(p, k, d, start, end);
        if (!w) {
                *why = "out of memory";
                return -1;
        }
        if (*tail)
                (*tail)->next = w;
        else
                cp_kd(p, k)[d].head = w;
        *tail = w;
        w->count = (int64_t)count;
        w->changed = (uint8_t)(fl & 1);
        w->last_emit = last_emit;
        if (fl & 2)
                cp_pend_add(p, w);
        for (size_t f = 0; f < e->nf; f++) {
                void *a = cp_wagg(e, w, f);
                size_t before = agg_bytes(a, &e->lay[f]);
                int rc = agg_read(a, &e->lay[f], &e->skp, p->rgrp[f], ver == 1, r, why);
                p->bytes += (int64_t)agg_bytes(a, &e->lay[f]) - (int64_t)before;
                if (rc < 0)
                        return -1;
                if ((uint64_t)agg_n(a) > count) {
                        *why = "field count above window count";
                        return -1;
                }
        }
        return 0;
}

static int read_sbuf(cp_part_t *p, cp_key_t *k, size_t d, cp_rd_t *r, const char **why) {
        const cp_engine_t *e = p->e;
        cp_dstate_t *ds = &cp_kd(p, k)[d];
        size_t lim = SIZE_MAX / e->sent_size;
        size_t n = cp_r_count(r, lim < UINT32_MAX ? lim : UINT32_MAX, 1 + e->nf);
        if (r->err)
                return -1;
        if (n) {
                ds->sb = calloc(n, e->sent_size);
                if (!ds->sb) {
                        *why = "out of memory";
                        return -1;
                }
                ds->sbcap = (uint32_t)n;
                p->bytes += (int64_t)(n * e->sent_size);
        }
        int64_t prev = INT64_MIN;
        for (size_t i = 0; i < n; i++) {
                unsigned char *en = ds->sb + i * e->sent_size;
                int64_t ts = cp_r_svar(r);
                if (r->err)
                        return -1;
                if (!ts_ok(ts) || ts < prev) {
                        *why = "buffered records out of order";
                        return -1;
                }
                prev = ts;
                memcpy(en, &ts, sizeof(ts));
                for (size_t f = 0; f < e->nf; f++) {
                        uint8_t pr = cp_r_u8(r);
                        double v = pr ? cp_r_f64(r) : 0;
                        if (pr > 1) {
                                *why = "bad presence flag";
                                return -1;
                        }
                        memcpy(en + sizeof(int64_t) + f * sizeof(double), &v, sizeof(v));
                        en[sizeof(int64_t) + e->nf * sizeof(double) + f] = pr;
                }
                ds->sbn = (uint32_t)(i + 1);
        }
        return r->err ? -1 : 0;
}

int cp_state_read_key(cp_part_t *p, const char *key, size_t key_len, const void *val, size_t len,
                      char *errstr, size_t errstr_size) {
        const cp_engine_t *e = p->e;
        const char *why = "truncated or malformed bytes";
        cp_rd_t r;
        cp_rd_init(&r, val, len);
        uint8_t ver = cp_r_u8(&r);
        if (!r.err && ver != CP_STATE_VERSION && ver != 1) {
                snprintf(errstr, errstr_size, "key state: unknown format version %u", ver);
                return -1;
        }
        uint64_t nd = cp_r_uvar(&r), nf = cp_r_uvar(&r), nr = cp_r_uvar(&r);
        if (r.err)
                goto bad;
        if (nd != e->ndefs || nf != e->nf || nr != e->nrules) {
                snprintf(errstr, errstr_size,
                         "key state: written for %llu windows, %llu fields, %llu rules; the spec "
                         "has %zu, %zu, %zu",
                         (unsigned long long)nd, (unsigned long long)nf, (unsigned long long)nr,
                         e->ndefs, e->nf, e->nrules);
                return -1;
        }
        for (size_t f = 0; f < e->nf; f++) {
                uint64_t g = ver == 1 ? (AGG_G_ALL & ~AGG_G_QS) | (e->has_sk[f] ? AGG_G_QS : 0)
                                      : cp_r_uvar(&r);
                if (r.err || g > AGG_G_ALL)
                        goto bad;
                p->rgrp[f] = (unsigned char)g;
        }
        cp_key_t *old = cp_key_get(p, key, key_len, 0);
        if (old && !old->dirty)
                cp_key_remove(p, old);
        else if (old) {
                snprintf(errstr, errstr_size, "key state: restore after processing");
                return -1;
        }
        cp_key_t *k = cp_key_get(p, key, key_len, 1);
        if (!k) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        for (size_t d = 0; d < e->ndefs; d++) {
                size_t nwin = cp_r_count(&r, SIZE_MAX, 4);
                cp_win_t *tail = NULL;
                for (size_t i = 0; i < nwin && !r.err; i++)
                        if (read_win(p, k, d, ver, &r, &tail, &why) < 0)
                                goto bad_key;
                if (r.err)
                        goto bad_key;
                if (e->defs[d].w->type == SPEC_WINDOW_SLIDING && read_sbuf(p, k, d, &r, &why) < 0)
                        goto bad_key;
        }
        for (size_t i = 0; i < e->ndefs * e->nf; i++) {
                uint64_t n = cp_r_uvar(&r);
                if (n > (uint64_t)INT64_MAX / 2) {
                        why = "EWMA count out of range";
                        goto bad_key;
                }
                cp_kew(p, k)[i].n = (int64_t)n;
                if (n) {
                        cp_kew(p, k)[i].mean = cp_r_f64(&r);
                        cp_kew(p, k)[i].var = cp_r_f64(&r);
                }
        }
        for (size_t i = 0; i < e->nrules; i++) {
                uint64_t c = cp_r_uvar(&r);
                uint8_t f = cp_r_u8(&r);
                if (c > INT32_MAX || f > 1) {
                        why = "rule state out of range";
                        goto bad_key;
                }
                cp_krs(p, k)[i].consec = (int32_t)c;
                cp_krs(p, k)[i].firing = f;
        }
        /* required with absence rules; otherwise optional (written under
         * key_ttl, which may have been turned on or off since) */
        if (e->nabsent || r.p != r.end) {
                uint8_t has = cp_r_u8(&r);
                int64_t lt = has ? cp_r_svar(&r) : INT64_MIN;
                if (has > 1 || (has && !ts_ok(lt))) {
                        why = "last event time out of range";
                        goto bad_key;
                }
                k->last_ts = lt;
        }
        if (r.err)
                goto bad_key;
        if (r.p != r.end) {
                why = "trailing bytes";
                goto bad_key;
        }
        cp_key_schedule(p, k);
        return 0;
bad_key:
        cp_key_remove(p, k);
bad:
        snprintf(errstr, errstr_size, "key state: %s", why);
        return -1;
}

int cp_state_read_meta(cp_part_t *p, const void *val, size_t len, char *errstr,
                       size_t errstr_size) {
        cp_rd_t r;
        cp_rd_init(&r, val, len);
        uint8_t ver = cp_r_u8(&r);
        if (!r.err && ver != CP_META_VERSION) {
                snprintf(errstr, errstr_size, "partition metadata: unknown format version %u", ver);
                return -1;
        }
        uint8_t has = cp_r_u8(&r);
        int64_t st = has ? cp_r_svar(&r) : INT64_MIN;
        uint64_t late = cp_r_uvar(&r), lw = cp_r_uvar(&r);
        if (r.err || r.p != r.end || has > 1 || (has && !ts_ok(st)) || late > INT64_MAX / 2 ||
            lw > INT64_MAX / 2) {
                snprintf(errstr, errstr_size, "partition metadata: truncated or malformed bytes");
                return -1;
        }
        p->stream_time = st;
        p->late = (int64_t)late;
        p->late_windows = (int64_t)lw;
        return 0;
}
