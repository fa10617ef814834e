/* th_compute.h — helpers shared by the compute engine's unit tests (include
 * after th.h): an engine from a spec written with ' for ", records fed in,
 * and every emission recorded as one text line so tests compare sequences. */
#ifndef TH_COMPUTE_H
#define TH_COMPUTE_H

#include "../../services/compute/cp.h"
#include "spec.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
        spec_t *spec;
        cp_engine_t *e;
        cp_part_t *p;
        char *log; /* every emission, one line each */
        size_t len, cap;
        int naggs, nalerts;
        int quiet; /* count emissions without recording them */
        char err[1024];
} tc_t;

static void tc_printf(tc_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static __attribute__((unused)) void tc_printf(tc_t *t, const char *fmt, ...) {
        char line[4096];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        size_t ln = strlen(line);
        if (t->len + ln + 1 > t->cap) {
                t->cap = (t->len + ln + 1) * 2;
                t->log = realloc(t->log, t->cap);
        }
        memcpy(t->log + t->len, line, ln + 1);
        t->len += ln;
}

static __attribute__((unused)) void tc_on_agg(void *opaque, const cp_aggregate_t *a) {
        tc_t *t = opaque;
        t->naggs++;
        if (t->quiet)
                return;
        tc_printf(t, "A %.*s %s [%lld,%lld) n=%lld%s", (int)a->key_len, a->key, a->window,
                  (long long)a->start_ms, (long long)a->end_ms, (long long)a->count,
                  a->final ? " final" : " update");
        for (size_t i = 0; i < a->nfields; i++) {
                const cp_field_stats_t *f = &a->fields[i];
                tc_printf(t, " %s:n=%lld", f->name, (long long)f->count);
#define TCF(x)                                                                                     \
        do {                                                                                       \
                if (f->has_##x)                                                                    \
                        tc_printf(t, " " #x "=%.17g", f->x);                                       \
        } while (0)
                TCF(sum);
                TCF(min);
                TCF(max);
                TCF(mean);
                TCF(variance);
                TCF(stddev);
                TCF(first);
                TCF(last);
                TCF(p50);
                TCF(p90);
                TCF(p95);
                TCF(p99);
                TCF(zscore);
#undef TCF
        }
        tc_printf(t, "\n");
}

static __attribute__((unused)) void tc_on_alert(void *opaque, const cp_alert_t *a) {
        tc_t *t = opaque;
        t->nalerts++;
        if (t->quiet)
                return;
        tc_printf(t, "R %s %.*s %s [%lld,%lld) %s sev=%d", a->rule, (int)a->key_len, a->key,
                  a->window, (long long)a->start_ms, (long long)a->end_ms,
                  a->state == CP_ALERT_FIRING ? "FIRING" : "RESOLVED", (int)a->severity);
        for (size_t i = 0; i < a->nvalues; i++)
                tc_printf(t, " %s=%.17g", a->values[i].name, a->values[i].value);
        for (size_t i = 0; i < a->nlabels; i++)
                tc_printf(t, " %s:%s", a->labels[i].key, a->labels[i].value);
        tc_printf(t, "\n");
}

static __attribute__((unused)) const cp_emit_t *tc_emit(tc_t *t) {
        static cp_emit_t em;
        em.aggregate = tc_on_agg;
        em.alert = tc_on_alert;
        em.opaque = t;
        return &em;
}

/* Spec text with ' for ". */
static __attribute__((unused)) char *tc_q(const char *s) {
        char *b = strdup(s);
        for (char *c = b; *c; c++)
                if (*c == '\'')
                        *c = '"';
        return b;
}

/* An engine for a compute section (the text inside "compute": {...}); no
 * input schema check.  Returns 0, or -1 with t->err set. */
static __attribute__((unused)) int tc_open(tc_t *t, const char *compute) {
        memset(t, 0, sizeof(*t));
        char doc[16384];
        snprintf(doc, sizeof(doc),
                 "{'name':'p','input':{'topic':'in','schema':'a.B','key':'k'},'compute':{%s}}",
                 compute);
        char *j = tc_q(doc);
        t->spec = spec_parse(j, strlen(j), "pipeline.json", SPEC_PART_COMPUTE, t->err,
                             sizeof(t->err));
        free(j);
        if (!t->spec)
                return -1;
        t->e = cp_engine_new(t->spec, NULL, t->err, sizeof(t->err));
        if (!t->e)
                return -1;
        t->p = cp_part_new(t->e, 0);
        return t->p ? 0 : -1;
}

static __attribute__((unused)) void tc_close(tc_t *t) {
        cp_part_destroy(t->p);
        cp_engine_destroy(t->e);
        spec_free(t->spec);
        free(t->log);
        memset(t, 0, sizeof(*t));
}

/* Feeds key/ts with up to 4 field values (NAN = null). */
static __attribute__((unused)) cp_res_t tc_rec(tc_t *t, const char *key, int64_t ts, double v0,
                                               double v1, int64_t now) {
        double v[2] = {v0, v1};
        unsigned char pr[2] = {(unsigned char)(v0 == v0), (unsigned char)(v1 == v1)};
        cp_record_t r = {key, strlen(key), ts, v, pr};
        return cp_part_process(t->p, &r, now, tc_emit(t));
}

static __attribute__((unused)) const char *tc_log(tc_t *t) {
        return t->log ? t->log : "";
}

static __attribute__((unused)) void tc_clear(tc_t *t) {
        t->len = 0;
        if (t->log)
                t->log[0] = '\0';
        t->naggs = t->nalerts = 0;
}

#endif
