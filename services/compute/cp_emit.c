/* cp_emit — what leaves the engine: a window's statistics (with its
 * z-score against the key's baseline before this window), aggregates
 * (final at close, updates in emit mode changes), rule evaluation with
 * hysteresis and alerts, and the baseline update after a window closes. */
#include "cp_int.h"

#include <math.h>
#include <string.h>

/* Fills p->fs for window w (zscore against the baseline before this window). */
void cp_fill_stats(cp_part_t *p, const cp_win_t *w) {
        const cp_engine_t *e = p->e;
        for (size_t f = 0; f < e->nf; f++) {
                cp_field_stats_t *o = &p->fs[f];
                const void *a = cp_wagg(e, w, f);
                o->has_zscore = 0;
                o->zscore = 0;
                if (agg_n(a) > 0)
                        o->has_zscore = (unsigned char)ewma_zscore(
                                &cp_kew(p, w->k)[w->def * e->nf + f], agg_mean(a),
                                e->c->anomaly.min_windows, &o->zscore);
                agg_stats(a, &e->lay[f], e->ops[f], e->has_sk[f] ? &e->skp : NULL, o);
        }
}

void cp_emit_aggregate(cp_part_t *p, const cp_win_t *w, int final, int64_t now_ms,
                       const cp_emit_t *emit) {
        if (!emit || !emit->aggregate)
                return;
        const spec_window_t *sw = p->e->defs[w->def].w;
        cp_aggregate_t a = {cp_kkey(w->k), w->k->key_len, sw->name, w->def,   w->start, w->end,
                            w->count,      final,         now_ms,   p->e->nf, p->fs};
        emit->aggregate(emit->opaque, &a);
}

static double term_value(const cp_part_t *p, const cp_win_t *w, const rule_term_t *t) {
        const cp_field_stats_t *s = &p->fs[t->field];
        if (t->kind == RULE_TERM_COUNT)
                return (double)w->count;
        if (t->kind == RULE_TERM_ZSCORE)
                return s->has_zscore ? s->zscore : NAN;
        switch (t->op) {
        case SPEC_OP_COUNT:
                return (double)s->count;
        case SPEC_OP_SUM:
                return s->has_sum ? s->sum : NAN;
        case SPEC_OP_MIN:
                return s->has_min ? s->min : NAN;
        case SPEC_OP_MAX:
                return s->has_max ? s->max : NAN;
        case SPEC_OP_MEAN:
                return s->has_mean ? s->mean : NAN;
        case SPEC_OP_VARIANCE:
                return s->has_variance ? s->variance : NAN;
        case SPEC_OP_STDDEV:
                return s->has_stddev ? s->stddev : NAN;
        case SPEC_OP_FIRST:
                return s->has_first ? s->first : NAN;
        case SPEC_OP_LAST:
                return s->has_last ? s->last : NAN;
        case SPEC_OP_P50:
                return s->has_p50 ? s->p50 : NAN;
        case SPEC_OP_P90:
                return s->has_p90 ? s->p90 : NAN;
        case SPEC_OP_P95:
                return s->has_p95 ? s->p95 : NAN;
        case SPEC_OP_P99:
                return s->has_p99 ? s->p99 : NAN;
        default:
                return NAN;
        }
}

static void eval_rules(cp_part_t *p, const cp_win_t *w, int64_t now_ms, const cp_emit_t *emit) {
        const cp_engine_t *e = p->e;
        const cp_def_t *df = &e->defs[w->def];
        for (size_t i = 0; i < df->nrules; i++) {
                const cp_rule_t *cr = &e->rules[df->rules[i]];
                cp_rstate_t *rs = &cp_krs(p, w->k)[df->rules[i]];
                size_t nt = rule_nterms(cr->prog);
                for (size_t t = 0; t < nt; t++)
                        p->tv[t] = term_value(p, w, rule_term(cr->prog, t));
                int holds = rule_eval(cr->prog, p->tv);
                int state = -1;
                if (holds) {
                        if (rs->consec < INT32_MAX)
                                rs->consec++;
                        if (!rs->firing && rs->consec >= cr->r->for_windows) {
                                rs->firing = 1;
                                state = CP_ALERT_FIRING;
                        }
                } else {
                        rs->consec = 0;
                        if (rs->firing) {
                                rs->firing = 0;
                                state = CP_ALERT_RESOLVED;
                        }
                }
                if (state < 0 || !emit || !emit->alert)
                        continue;
                size_t nv = 0;
                for (size_t t = 0; t < nt; t++)
                        if (!isnan(p->tv[t])) {
                                p->terms[nv].name = rule_term(cr->prog, t)->name;
                                p->terms[nv].value = p->tv[t];
                                nv++;
                        }
                cp_alert_t a = {cr->r->name,
                                cp_kkey(w->k),
                                w->k->key_len,
                                df->w->name,
                                w->start,
                                w->end,
                                (cp_alert_state_t)state,
                                cr->r->severity,
                                cr->r->expr,
                                nv,
                                p->terms,
                                cr->r->nlabels,
                                cr->r->labels,
                                now_ms};
                emit->alert(emit->opaque, &a);
        }
}

/* Closes the head window of (k, d): final aggregate, rules, baseline. */
void cp_close_head(cp_part_t *p, cp_key_t *k, size_t d, int64_t now_ms, const cp_emit_t *emit) {
        const cp_engine_t *e = p->e;
        cp_win_t *w = cp_kd(p, k)[d].head;
        cp_fill_stats(p, w);
        cp_emit_aggregate(p, w, 1, now_ms, emit);
        eval_rules(p, w, now_ms, emit);
        for (size_t f = 0; f < e->nf; f++)
                if (agg_n(cp_wagg(e, w, f)) > 0)
                        ewma_update(&cp_kew(p, k)[d * e->nf + f], agg_mean(cp_wagg(e, w, f)),
                                    e->c->anomaly.alpha);
        cp_kd(p, k)[d].head = w->next;
        cp_win_free(p, w);
}

void cp_win_touched(cp_part_t *p, cp_win_t *w, int64_t now_ms, const cp_emit_t *emit) {
        const spec_window_t *sw = p->e->defs[w->def].w;
        if (sw->emit != SPEC_EMIT_CHANGES)
                return;
        w->changed = 1;
        if (w->last_emit == INT64_MIN || now_ms - w->last_emit >= sw->emit_interval_ms) {
                cp_fill_stats(p, w);
                cp_emit_aggregate(p, w, 0, now_ms, emit);
                w->last_emit = now_ms;
                w->changed = 0;
                cp_pend_del(p, w);
        } else {
                cp_pend_add(p, w);
        }
}

/* ---------------------------------------------------------------- absence */

int64_t cp_absent_due(const cp_part_t *p, const cp_key_t *k) {
        const cp_engine_t *e = p->e;
        int64_t t = INT64_MAX;
        if (k->last_ts == INT64_MIN)
                return t;
        for (size_t i = 0; i < e->nabsent; i++) {
                size_t ri = e->absent[i];
                if (!cp_krs(p, k)[ri].firing && k->last_ts + e->rules[ri].absent_ms < t)
                        t = k->last_ts + e->rules[ri].absent_ms;
        }
        return t;
}

static void absent_alert(cp_part_t *p, cp_key_t *k, size_t ri, cp_alert_state_t state,
                         int64_t start, int64_t end, int64_t now_ms, const cp_emit_t *emit) {
        const cp_rule_t *cr = &p->e->rules[ri];
        if (!emit || !emit->alert)
                return;
        p->terms[0].name = "absent_ms";
        p->terms[0].value = (double)(end - start);
        cp_alert_t a = {cr->r->name,   cp_kkey(k), k->key_len, p->e->defs[cr->def].w->name,
                        start,         end,        state,      cr->r->severity,
                        cr->r->expr,   1,          p->terms,   cr->r->nlabels,
                        cr->r->labels, now_ms};
        emit->alert(emit->opaque, &a);
}

void cp_absent_fire(cp_part_t *p, cp_key_t *k, int64_t t, int64_t now_ms, const cp_emit_t *emit) {
        const cp_engine_t *e = p->e;
        if (k->last_ts == INT64_MIN)
                return;
        for (size_t i = 0; i < e->nabsent; i++) {
                size_t ri = e->absent[i];
                int64_t due = k->last_ts + e->rules[ri].absent_ms;
                if (cp_krs(p, k)[ri].firing || due > t)
                        continue;
                cp_krs(p, k)[ri].firing = 1;
                cp_key_dirty(p, k);
                /* [last record, the moment the silence reached D) */
                absent_alert(p, k, ri, CP_ALERT_FIRING, k->last_ts, due, now_ms, emit);
        }
}

void cp_absent_seen(cp_part_t *p, cp_key_t *k, int64_t prev, int64_t ts, int64_t now_ms,
                    const cp_emit_t *emit) {
        const cp_engine_t *e = p->e;
        for (size_t i = 0; i < e->nabsent; i++) {
                size_t ri = e->absent[i];
                /* a record itself older than the silence (late) does not end
                 * it: it would fire again at once */
                if (!cp_krs(p, k)[ri].firing ||
                    k->last_ts + e->rules[ri].absent_ms <= p->stream_time)
                        continue;
                cp_krs(p, k)[ri].firing = 0;
                cp_key_dirty(p, k);
                /* [last record before the silence, the record that ended it] */
                absent_alert(p, k, ri, CP_ALERT_RESOLVED, prev, ts > prev ? ts : prev, now_ms,
                             emit);
        }
}

/* compute.key_ttl: the stream time at which k is forgotten, or INT64_MAX
 * while it has an open window, buffered records or a firing alert (or its
 * last record's time is unknown: restored from state written without
 * key_ttl, until it is seen again). */
int64_t cp_key_ttl_due(const cp_part_t *p, const cp_key_t *k) {
        const cp_engine_t *e = p->e;
        int64_t ttl = e->c->key_ttl_ms;
        if (ttl <= 0 || k->last_ts == INT64_MIN)
                return INT64_MAX;
        for (size_t d = 0; d < e->ndefs; d++)
                if (cp_kd(p, k)[d].head || cp_kd(p, k)[d].sbn)
                        return INT64_MAX;
        for (size_t i = 0; i < e->nrules; i++)
                if (cp_krs(p, k)[i].firing)
                        return INT64_MAX;
        return k->last_ts > INT64_MAX - ttl ? INT64_MAX : k->last_ts + ttl;
}

/* Forgets k's history (EWMA baseline, rule streaks, last event time): it is
 * then empty, and the next flush writes its tombstone and frees it (in the
 * transaction of the record that moved stream time). */
void cp_key_evict(cp_part_t *p, cp_key_t *k) {
        const cp_engine_t *e = p->e;
        memset(cp_kew(p, k), 0, e->ndefs * e->nf * sizeof(ewma_t));
        memset(cp_krs(p, k), 0, e->nrules * sizeof(cp_rstate_t));
        k->last_ts = INT64_MIN;
        p->evicted++;
        cp_key_dirty(p, k);
}
