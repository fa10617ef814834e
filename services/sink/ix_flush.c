/* ix_flush — delivering a batch of lines to InfluxDB whatever it answers
 * (see ix.h): retries with capped exponential backoff and jitter, Retry-After,
 * halving on 413, and finding the rejected lines of a 400 by bisection.
 *
 * Why bisection rather than reading InfluxDB's message: 1.x names only the
 * first unparsable line, 2.x words its errors differently, and a field type
 * conflict names no line at all.  Splitting until single lines are rejected
 * needs no parsing, works for both versions, and costs O(k·log n) requests
 * for k bad lines; the halves that were already written are written again,
 * which only overwrites the same points (same measurement, tags, time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "ix.h"
#include "log.h"
#include "metrics.h"
#include "vec.h"

#define IX_LOG "influx"

int64_t ix_backoff_ms(const ix_conf_t *c, unsigned attempt, uint32_t rnd) {
        int64_t d = c->retry_initial_ms > 0 ? c->retry_initial_ms : 1;
        for (unsigned i = 0; i < attempt && d < c->retry_max_ms; i++)
                d *= 2;
        if (d > c->retry_max_ms)
                d = c->retry_max_ms;
        int64_t half = d / 2;
        return half + (int64_t)(rnd % (uint32_t)(d - half + 1));
}

int ix_batch_push(ix_batch_t *b, const ix_line_t *line, const char *key, size_t key_len,
                  const void *tp, size_t tp_len) {
        if (VEC_RESERVE(b->lines, b->cap, b->n + 1) == -1) {
                b->body.len = line->off;
                return -1;
        }
        ix_line_t *l = &b->lines[b->n];
        *l = *line;
        l->key_off = b->keys.len;
        l->key_len = key_len;
        l->tp_off = l->key_off + key_len;
        l->tp_len = tp ? tp_len : 0;
        if ((key_len && buf_append(&b->keys, key, key_len)) ||
            (l->tp_len && buf_append(&b->keys, tp, tp_len))) {
                b->body.len = line->off;
                b->keys.len = l->key_off;
                return -1;
        }
        if (b->n == 0)
                b->first_ms = clk_mono_ms();
        b->n++;
        return 0;
}

void ix_batch_clear(ix_batch_t *b) {
        b->body.len = 0;
        b->keys.len = 0;
        b->n = 0;
}

void ix_batch_free(ix_batch_t *b) {
        buf_free(&b->body);
        buf_free(&b->keys);
        free(b->lines);
        memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------- flush */

/* Looked up at each step (once per request at most), not kept: a test
 * may reset the registry between batches. */
static void ix_flush_metrics(metrics_family_t **retries, metrics_family_t **splits) {
        *retries = metrics_counter_family("weir_sink_influx_retries_total",
                                          "InfluxDB write attempts that will be retried, by "
                                          "cause (network, 429, 503, 5xx, auth, not_found, 4xx).",
                                          "cause");
        *splits = metrics_counter_family(
                "weir_sink_influx_splits_total",
                "Batches split in halves: too_large (HTTP 413) or rejected (HTTP 400/422, "
                "to find the rejected lines).",
                "cause");
}

void ix_flush_reset(ix_flush_t *f) {
        f->depth = 0;
        f->active = 0;
        f->attempt = 0;
}

static uint32_t next_rnd(ix_flush_t *f) {
        /* xorshift32: jitter only needs to differ between processes and retries */
        uint32_t x = f->rnd;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        return f->rnd = x;
}

static void ix_flush_push(ix_flush_t *f, size_t lo, size_t hi) {
        f->lo[f->depth] = lo;
        f->hi[f->depth] = hi;
        f->depth++;
}

st_t ix_flush_step(ix_t *ix, ix_flush_t *f, const ix_batch_t *b, ix_rejected_cb rejected,
                   void *opaque, int64_t *retry_ms) {
        metrics_family_t *ix_retries, *ix_splits;
        ix_flush_metrics(&ix_retries, &ix_splits);
        if (!f->active) {
                f->active = 1;
                f->depth = 0;
                f->attempt = 0;
                if (!f->rnd) {
                        int64_t ns = clk_wall_ns();
                        f->rnd = (uint32_t)ns ^ (uint32_t)(ns >> 25) ^ 0x9e3779b9u;
                        if (!f->rnd)
                                f->rnd = 1;
                }
                if (b->n)
                        ix_flush_push(f, 0, b->n);
        }
        ix_result_t *r = &f->last;
        while (f->depth > 0) {
                size_t lo = f->lo[f->depth - 1], hi = f->hi[f->depth - 1];
                const ix_line_t *first = &b->lines[lo], *last = &b->lines[hi - 1];
                size_t len = last->off + last->len - first->off;
                switch (ix_send(ix, b->body.data + first->off, len, r)) {
                case IX_OK:
                        if (f->attempt)
                                log_info(IX_LOG,
                                         "InfluxDB write succeeded after %u failed attempts",
                                         f->attempt);
                        f->attempt = 0;
                        f->depth--;
                        break;
                case IX_RETRY: {
                        metrics_inc(metrics_child(ix_retries, r->cause), 1);
                        const ix_conf_t *c = ix_conf(ix);
                        int64_t d = ix_backoff_ms(c, f->attempt, next_rnd(f));
                        int64_t ra = r->retry_after_ms;
                        if (ra > c->retry_after_max_ms)
                                ra = c->retry_after_max_ms;
                        if (ra > d)
                                d = ra;
                        /* Every failure of an outage is the same story: say it at the
                         * start and then now and again. */
                        log_write(f->attempt == 0 || f->attempt % 20 == 0 ? LOG_WARN : LOG_DEBUG,
                                  IX_LOG, NULL,
                                  "InfluxDB write failed (%s, HTTP %ld: %s); retry %u in %lld ms",
                                  r->cause, r->status, r->message, f->attempt + 1, (long long)d);
                        f->attempt++;
                        *retry_ms = d;
                        return ST_RETRY;
                }
                case IX_TOO_LARGE:
                case IX_REJECTED:
                        f->attempt = 0;
                        f->depth--;
                        if (hi - lo == 1) {
                                rejected(opaque, b, lo, r);
                                break;
                        }
                        metrics_inc(metrics_child(ix_splits, r->cls == IX_TOO_LARGE ? "too_large"
                                                                                    : "rejected"),
                                    1);
                        log_debug(IX_LOG, "InfluxDB answered %ld (%s) for %zu lines: splitting",
                                  r->status, r->message, hi - lo);
                        /* the first half on top: lines go out in their order */
                        size_t mid = lo + (hi - lo) / 2;
                        ix_flush_push(f, mid, hi);
                        ix_flush_push(f, lo, mid);
                        break;
                }
        }
        ix_flush_reset(f);
        return ST_OK;
}

int ix_flush(ix_t *ix, const ix_batch_t *b, const ix_flush_cbs_t *cbs) {
        ix_flush_t *f = calloc(1, sizeof(*f)); /* ~1.5 KB: off the caller's stack */
        if (!f)
                return -1;
        int64_t ms;
        int rc = 0;
        while (ix_flush_step(ix, f, b, cbs->rejected, cbs->opaque, &ms) == ST_RETRY) {
                if (cbs->wait(cbs->opaque, ms, &f->last)) {
                        rc = -1;
                        break;
                }
        }
        free(f);
        return rc;
}
