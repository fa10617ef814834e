/* otel — span pool, sampler, and the exporter thread.  See otel.h; the
 * settings are read by otel_conf.c, the spans encoded by otel_pb.c. */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "log.h"
#include "metrics.h"
#include "otel_int.h"

#define OTEL_LOG          "otel"
#define OTEL_WARN_EVERY_S 10
/* After a failed export the next waits 200 ms, doubling per failure in a row
 * up to 5 s, each wait drawn from [b/2, b] (jitter: instances that lost the
 * collector together do not retry together); a success resets it. */
#define OTEL_BACKOFF_MIN_MS 200
#define OTEL_BACKOFF_MAX_MS 5000

int otel_on;

typedef struct otel_s {
        otel_conf_t c; /* immutable after init: owned */

        /* pool: slots[] with a free list and a FIFO queue of ended spans */
        pthread_mutex_t mu;
        pthread_cond_t cv;
        otel_span_t *slots; /* owned: queue_max slots */
        int32_t free_head, q_head, q_tail;
        size_t fresh; /* slots[fresh..] never used: their pages are not touched yet */
        size_t queued;
        int stopping;
        pthread_t thr;
        int thr_started;

        /* exporter thread only */
        otel_span_t **batch; /* owned */
        buf_t body;          /* owned, reused */
        CURL *curl;
        struct curl_slist *slist; /* owned: made from c.headers at the first export */

        metrics_child_t *m_dropped, *m_exported;
        _Atomic uint64_t dropped, dropped_full; /* all; of which: no free slot */
        uint64_t logged, logged_full;           /* exporter thread: at the last warning */
} otel_t;

static otel_t O;

static void otel_observe_ctx(metrics_child_t *c, double v, const tp_ctx_t *ctx) {
        char trace[33], span[17];
        tp_hex(ctx->trace_id, 16, trace);
        tp_hex(ctx->span_id, 8, span);
        trace[32] = span[16] = '\0';
        metrics_observe_exemplar(c, v, trace, span);
}

void otel_observe(metrics_child_t *c, double v, const otel_span_t *s) {
        if (s)
                otel_observe_ctx(c, v, &s->ctx);
        else
                metrics_observe(c, v);
}

void otel_observe_tp(metrics_child_t *c, double v, const void *tp, size_t len) {
        tp_ctx_t ctx;
        if (otel_on && tp && tp_parse((const char *)tp, len, &ctx) == 0 && (ctx.flags & TP_SAMPLED))
                otel_observe_ctx(c, v, &ctx);
        else
                metrics_observe(c, v);
}

uint64_t otel_now_ns(void) {
        return (uint64_t)clk_wall_ns();
}

uint64_t otel_stat_dropped(void) {
        return O.dropped;
}

size_t otel_stat_queued(void) {
        if (!O.thr_started)
                return 0;
        pthread_mutex_lock(&O.mu);
        size_t n = O.queued;
        pthread_mutex_unlock(&O.mu);
        return n;
}

static void otel_drop(size_t n, int full) {
        O.dropped += n;
        if (full)
                O.dropped_full += n;
        metrics_inc(O.m_dropped, (double)n);
}

/* ---------------------------------------------------------------- spans */

static int otel_decide(const tp_ctx_t *parent, const uint8_t trace_id[16]) {
        if (O.c.parent_based && parent)
                return parent->flags & TP_SAMPLED;
        if (O.c.root == OTEL_S_ON)
                return 1;
        if (O.c.root == OTEL_S_OFF)
                return 0;
        uint64_t x = 0;
        for (int i = 8; i < 16; i++)
                x = x << 8 | trace_id[i];
        return O.c.ratio_bound == UINT64_MAX || x < O.c.ratio_bound;
}

otel_span_t *otel_start(const char *name, otel_kind_t kind, const tp_ctx_t *parent, tp_ctx_t *ctx,
                        uint64_t start_ns) {
        tp_ctx_t c;
        static const uint8_t zero[16];
        if (parent && memcmp(parent->trace_id, zero, 16) == 0)
                parent = NULL;
        if (parent)
                memcpy(c.trace_id, parent->trace_id, 16);
        else
                tp_random(c.trace_id, 16), c.trace_id[0] |= 1;
        tp_new_span_id(c.span_id);
        int sampled = otel_on ? otel_decide(parent, c.trace_id)
                              : (parent ? parent->flags & TP_SAMPLED : 1);
        c.flags =
                (uint8_t)((parent ? parent->flags & ~TP_SAMPLED : 0) | (sampled ? TP_SAMPLED : 0));
        if (ctx)
                *ctx = c;
        if (!otel_on || !sampled)
                return NULL;
        pthread_mutex_lock(&O.mu);
        int32_t i = O.free_head;
        if (i >= 0)
                O.free_head = O.slots[i].next;
        else if (O.fresh < O.c.queue_max)
                i = (int32_t)O.fresh++;
        pthread_mutex_unlock(&O.mu);
        if (i < 0) {
                otel_drop(1, 1);
                return NULL;
        }
        otel_span_t *s = &O.slots[i];
        s->ctx = c;
        s->has_parent = parent != NULL;
        if (parent)
                memcpy(s->parent_id, parent->span_id, 8);
        s->kind = (uint8_t)kind;
        s->status = 0;
        s->nattrs = s->nlinks = s->nevents = 0;
        s->dropped_links = 0;
        s->vlen = 0;
        s->name = name;
        s->status_msg = NULL;
        s->start_ns = start_ns ? start_ns : otel_now_ns();
        return s;
}

static otel_attr_t *otel_attr(otel_span_t *s, const char *key, otel_atype_t t) {
        if (!s || s->nattrs >= OTEL_MAX_ATTRS)
                return NULL;
        otel_attr_t *a = &s->attrs[s->nattrs++];
        a->key = key;
        a->type = (uint8_t)t;
        a->off = a->len = 0;
        a->i = 0;
        return a;
}

void otel_attr_str(otel_span_t *s, const char *key, const char *val, size_t len) {
        otel_attr_t *a = otel_attr(s, key, OTEL_A_STR);
        if (!a)
                return;
        size_t room = OTEL_VAL_SPACE - s->vlen;
        if (len > room)
                len = room;
        memcpy(s->val + s->vlen, val, len);
        a->off = s->vlen;
        a->len = (uint16_t)len;
        s->vlen = (uint16_t)(s->vlen + len);
}

void otel_attr_cstr(otel_span_t *s, const char *key, const char *val) {
        if (s && val)
                otel_attr_str(s, key, val, strlen(val));
}

void otel_attr_int(otel_span_t *s, const char *key, int64_t v) {
        otel_attr_t *a = otel_attr(s, key, OTEL_A_INT);
        if (a)
                a->i = v;
}

void otel_attr_bool(otel_span_t *s, const char *key, int v) {
        otel_attr_t *a = otel_attr(s, key, OTEL_A_BOOL);
        if (a)
                a->i = v != 0;
}

void otel_link(otel_span_t *s, const tp_ctx_t *linked) {
        if (!s || !linked)
                return;
        if (s->nlinks >= OTEL_MAX_LINKS) {
                s->dropped_links++;
                return;
        }
        s->links[s->nlinks++] = *linked;
}

void otel_event(otel_span_t *s, const char *name, uint64_t t_ns) {
        if (!s || s->nevents >= OTEL_MAX_EVENTS)
                return;
        s->events[s->nevents].name = name;
        s->events[s->nevents++].t_ns = t_ns ? t_ns : otel_now_ns();
}

void otel_error(otel_span_t *s, const char *msg) {
        if (!s)
                return;
        s->status = 2;
        s->status_msg = msg;
}

void otel_end(otel_span_t *s, uint64_t end_ns) {
        if (!s)
                return;
        s->end_ns = end_ns ? end_ns : otel_now_ns();
        int32_t i = (int32_t)(s - O.slots);
        s->next = -1;
        pthread_mutex_lock(&O.mu);
        if (O.q_tail >= 0)
                O.slots[O.q_tail].next = i;
        else
                O.q_head = i;
        O.q_tail = i;
        size_t q = ++O.queued;
        pthread_mutex_unlock(&O.mu);
        if (q == O.c.batch_max) /* a full batch: no need to wait for the delay */
                pthread_cond_signal(&O.cv);
}

/* ---------------------------------------------------------------- transactions */

otel_span_t *otel_txn_add(otel_txn_t *t, otel_span_t *s) {
        if (!s)
                return NULL;
        if (t->n < OTEL_TXN_OPEN) {
                t->open[t->n++] = s;
                return s;
        }
        otel_event(s, "not awaiting the commit (too many spans in the transaction)", 0);
        otel_end(s, 0);
        return NULL;
}

void otel_txn_commit_begin(otel_txn_t *t) {
        if (t->n)
                t->begin_ns = otel_now_ns();
}

void otel_txn_end(otel_txn_t *t, int ok, const char *abort_msg) {
        if (!t->n)
                return;
        uint64_t now = otel_now_ns();
        for (size_t i = 0; i < t->n; i++) {
                otel_span_t *s = t->open[i];
                if (t->begin_ns)
                        otel_event(s, "kafka.txn.commit.begin", t->begin_ns);
                otel_event(s, ok ? "kafka.txn.commit" : "kafka.txn.abort", now);
                if (!ok)
                        otel_error(s, abort_msg);
                otel_end(s, now);
        }
        t->n = 0;
        t->begin_ns = 0;
}

/* ---------------------------------------------------------------- export */

static size_t otel_discard(char *p, size_t sz, size_t n, void *ud) {
        (void)p;
        (void)ud;
        return sz * n;
}

/* The request headers as a curl_slist, made at the first export. */
static int otel_slist(void) {
        if (O.slist)
                return 0;
        struct curl_slist *l = NULL;
        for (size_t off = 0; off < O.c.headers.len;) {
                const char *line = O.c.headers.data + off;
                struct curl_slist *n = curl_slist_append(l, line);
                if (!n) {
                        curl_slist_free_all(l);
                        return -1;
                }
                l = n;
                off += strlen(line) + 1;
        }
        O.slist = l;
        return 0;
}

/* Posts O.body; returns 0 on a 2xx answer, else -1 with why[] set. */
static int otel_post(char *why, size_t why_size) {
        if (!O.curl && !(O.curl = curl_easy_init())) {
                snprintf(why, why_size, "curl_easy_init failed");
                return -1;
        }
        if (otel_slist() != 0) {
                snprintf(why, why_size, "out of memory");
                return -1;
        }
        CURL *c = O.curl;
        curl_easy_setopt(c, CURLOPT_URL, O.c.url);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, O.body.data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)O.body.len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, O.slist);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, O.c.timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, O.c.timeout_ms);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, otel_discard);
        CURLcode rc = curl_easy_perform(c);
        if (rc != CURLE_OK) {
                snprintf(why, why_size, "%s", curl_easy_strerror(rc));
                return -1;
        }
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code < 200 || code > 299) {
                snprintf(why, why_size, "HTTP %ld", code);
                return -1;
        }
        return 0;
}

/* Takes up to batch_max queued spans, exports them, frees their slots. */
static size_t otel_export_once(char *why, size_t why_size, int *failed) {
        size_t n = 0;
        pthread_mutex_lock(&O.mu);
        while (n < O.c.batch_max && O.q_head >= 0) {
                int32_t i = O.q_head;
                O.q_head = O.slots[i].next;
                O.batch[n++] = &O.slots[i];
        }
        if (O.q_head < 0)
                O.q_tail = -1;
        O.queued -= n;
        pthread_mutex_unlock(&O.mu);
        if (!n)
                return 0;
        O.body.len = 0;
        if (otel_pb_request(&O.body, &O.c.resource, O.batch, n) != 0) {
                snprintf(why, why_size, "out of memory encoding spans");
                *failed = 1;
        } else if (otel_post(why, why_size) != 0) {
                *failed = 1;
        } else {
                metrics_inc(O.m_exported, (double)n);
        }
        if (*failed)
                otel_drop(n, 0);
        pthread_mutex_lock(&O.mu);
        for (size_t k = 0; k < n; k++) {
                O.batch[k]->next = O.free_head;
                O.free_head = (int32_t)(O.batch[k] - O.slots);
        }
        pthread_mutex_unlock(&O.mu);
        return n;
}

/* The backoff's next wait: a random point in [b/2, b]. */
static int64_t otel_jitter(int64_t b) {
        uint32_t r;
        tp_random(&r, sizeof(r));
        return b / 2 + (int64_t)(r % (uint32_t)(b / 2 + 1));
}

/* Waits (O.mu held) for the schedule delay or a full batch, then for the
 * rest of the backoff (not_before, monotonic ms) whatever is queued: spans
 * ended meanwhile queue up to OTEL_BSP_MAX_QUEUE_SIZE and the rest are
 * dropped and counted by otel_start, which never waits.  otel_fini's signal
 * ends either wait at once. */
static void otel_wait(int64_t not_before) {
        if (!O.stopping && O.queued < O.c.batch_max) {
                struct timespec ts = clk_deadline(CLOCK_MONOTONIC, O.c.delay_ms);
                pthread_cond_timedwait(&O.cv, &O.mu, &ts);
        }
        int64_t left;
        while (!O.stopping && (left = not_before - clk_mono_ms()) > 0) {
                struct timespec ts = clk_deadline(CLOCK_MONOTONIC, left);
                pthread_cond_timedwait(&O.cv, &O.mu, &ts); /* woken by a full batch: wait on */
        }
}

static void *otel_thread(void *arg) {
        (void)arg;
        char why[256] = "";
        int64_t last_warn = 0, backoff = 0, not_before = 0;
        for (;;) {
                pthread_mutex_lock(&O.mu);
                otel_wait(not_before);
                int stop = O.stopping;
                pthread_mutex_unlock(&O.mu);
                int failed = 0;
                size_t n, taken = 0;
                while ((n = otel_export_once(why, sizeof(why), &failed)) != 0) {
                        taken += n;
                        if (n < O.c.batch_max || failed)
                                break;
                }
                if (failed) {
                        backoff = backoff ? backoff * 2 : OTEL_BACKOFF_MIN_MS;
                        if (backoff > OTEL_BACKOFF_MAX_MS)
                                backoff = OTEL_BACKOFF_MAX_MS;
                        not_before = clk_mono_ms() + otel_jitter(backoff);
                } else if (taken) { /* every batch taken was exported */
                        backoff = 0;
                }
                if (stop && failed) { /* what is still queued will not be sent */
                        pthread_mutex_lock(&O.mu);
                        size_t left = O.queued;
                        pthread_mutex_unlock(&O.mu);
                        otel_drop(left, 0);
                }
                int64_t now_s = clk_mono_ms() / 1000;
                uint64_t d = O.dropped, f = O.dropped_full;
                if (d != O.logged && (now_s - last_warn >= OTEL_WARN_EVERY_S || stop)) {
                        uint64_t nf = f - O.logged_full, ne = d - O.logged - nf;
                        char next[64] = "";
                        if (backoff && !stop)
                                snprintf(next, sizeof(next), "; next export in %" PRId64 " ms",
                                         not_before - clk_mono_ms());
                        log_warn(OTEL_LOG,
                                 "%" PRIu64 " spans dropped since the last warning: %" PRIu64
                                 " with the export queue full (OTEL_BSP_MAX_QUEUE_SIZE), %" PRIu64
                                 " in failed exports%s%s%s; the pipeline is not slowed "
                                 "(weir_*_spans_dropped_total)",
                                 d - O.logged, nf, ne, why[0] ? ": " : "", why, next);
                        O.logged = d;
                        O.logged_full = f;
                        last_warn = now_s;
                        why[0] = '\0';
                }
                if (stop)
                        break;
        }
        return NULL;
}

/* ---------------------------------------------------------------- init */

int otel_init(const char *stage, char *errstr, size_t errstr_size) {
        char name[96];
        snprintf(name, sizeof(name), "weir_%s_spans_dropped_total", stage);
        O.m_dropped = metrics_counter(name, "Spans not exported: export queue full or the "
                                            "collector failed or was too slow.");
        snprintf(name, sizeof(name), "weir_%s_spans_exported_total", stage);
        O.m_exported = metrics_counter(name, "Spans the OTLP collector accepted.");
        if (otel_conf_load(&O.c, stage, errstr, errstr_size))
                return -1;
        if (!O.c.url) /* no endpoint (or OTEL_SDK_DISABLED): off */
                return 0;
        O.slots = calloc(O.c.queue_max, sizeof(*O.slots));
        O.batch = calloc(O.c.batch_max, sizeof(*O.batch));
        if (!O.slots || !O.batch) {
                snprintf(errstr, errstr_size, "otel: out of memory");
                goto fail;
        }
        /* calloc'ed and taken in order (fresh): a pool sized for bursts costs
         * resident memory only as far as bursts have used it. */
        O.free_head = -1;
        O.q_head = O.q_tail = -1;
        pthread_mutex_init(&O.mu, NULL);
        pthread_condattr_t ca; /* waits on the monotonic clock: a backoff survives clock steps */
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&O.cv, &ca);
        pthread_condattr_destroy(&ca);
        if (pthread_create(&O.thr, NULL, otel_thread, NULL) != 0) {
                snprintf(errstr, errstr_size, "otel: cannot start the exporter thread");
                pthread_mutex_destroy(&O.mu);
                pthread_cond_destroy(&O.cv);
                goto fail;
        }
        /* Named, so `top -H` and /proc/<pid>/task/<tid>/comm show it. */
        pthread_setname_np(O.thr, "otel-export");
        O.thr_started = 1;
        otel_on = 1;
        log_info(OTEL_LOG, "exporting spans to %s (OTLP/HTTP protobuf)", O.c.url);
        return 0;
fail:
        otel_fini();
        return -1;
}

void otel_fini(void) {
        otel_on = 0;
        if (O.thr_started) {
                pthread_mutex_lock(&O.mu);
                O.stopping = 1;
                pthread_cond_signal(&O.cv);
                pthread_mutex_unlock(&O.mu);
                pthread_join(O.thr, NULL);
                pthread_mutex_destroy(&O.mu);
                pthread_cond_destroy(&O.cv);
        }
        if (O.curl)
                curl_easy_cleanup(O.curl);
        if (O.slist) /* not when never made: each curl_ call loads libcurl */
                curl_slist_free_all(O.slist);
        otel_conf_free(&O.c);
        free(O.slots);
        free(O.batch);
        buf_free(&O.body);
        memset(&O, 0, sizeof(O));
}
