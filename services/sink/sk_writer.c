/* sk_writer — the sink's InfluxDB writer thread.  See sk_writer.h.
 *
 * `state` is the only thing the loop reads while the writer runs (an
 * atomic, once per loop turn); the mutex guards the hand-offs (submit,
 * cancel, stop: once per batch) and the condition the writer sleeps on.
 * What the writer fills for the loop (rejected lines, done_ms) is
 * published by the release store of DONE. */
#include "sk_writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "vec.h"

struct sk_writer_s {
        ix_t *ix;            /* owned; used by the writer thread only */
        ix_batch_t batch[2]; /* the loop fills batch[fill], the writer writes the other */
        int fill;
        atomic_int state; /* sk_wr_state_t */
        pthread_t th;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        int go, cancel, stop;  /* under mu */
        ix_flush_t flush;      /* the writer's */
        sk_wr_rejected_t *rej; /* the writer's until DONE; messages owned here */
        size_t nrej, caprej;
        int64_t done_ms;
        int oom; /* a rejected line could not be listed: the batch is aborted */
};

static void wr_rejected_clear(sk_writer_t *w) {
        for (size_t i = 0; i < w->nrej; i++)
                free(w->rej[i].message);
        w->nrej = 0;
        w->oom = 0;
}

/* ix_flush_step's, in the writer thread. */
static void wr_rejected(void *opaque, const ix_batch_t *b, size_t i, const ix_result_t *r) {
        (void)b;
        sk_writer_t *w = opaque;
        char *m = strdup(r->message);
        if (!m || VEC_RESERVE(w->rej, w->caprej, w->nrej + 1) == -1) {
                free(m);
                w->oom = 1;
                return;
        }
        w->rej[w->nrej++] = (sk_wr_rejected_t){.line = i, .message = m};
}

/* Sleeps up to ms unless cancelled or stopped; 1 when it was. */
static int wr_sleep(sk_writer_t *w, int64_t ms) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_mutex_lock(&w->mu);
        while (!w->cancel && !w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
                ;
        int c = w->cancel || w->stop;
        pthread_mutex_unlock(&w->mu);
        return c;
}

/* Moves to `to` unless cancelled meanwhile (then IDLE); the new state. */
static sk_wr_state_t wr_set(sk_writer_t *w, sk_wr_state_t to) {
        pthread_mutex_lock(&w->mu);
        if (w->cancel || w->stop) {
                to = SK_WR_IDLE;
                w->cancel = 0;
        }
        atomic_store_explicit(&w->state, (int)to, memory_order_release);
        pthread_mutex_unlock(&w->mu);
        return to;
}

static void wr_write(sk_writer_t *w, const ix_batch_t *b) {
        wr_rejected_clear(w);
        ix_flush_reset(&w->flush);
        for (;;) {
                int64_t ms = 0;
                if (ix_flush_step(w->ix, &w->flush, b, wr_rejected, w, &ms) == ST_OK) {
                        w->done_ms = clk_wall_ms();
                        wr_set(w, SK_WR_DONE);
                        return;
                }
                if (atomic_load(&w->state) != SK_WR_FAILING &&
                    wr_set(w, SK_WR_FAILING) != SK_WR_FAILING)
                        return; /* cancelled */
                if (wr_sleep(w, ms)) {
                        wr_set(w, SK_WR_IDLE);
                        ix_flush_reset(&w->flush);
                        return;
                }
        }
}

static void *wr_main(void *arg) {
        sk_writer_t *w = arg;
        pthread_mutex_lock(&w->mu);
        for (;;) {
                while (!w->go && !w->stop)
                        pthread_cond_wait(&w->cv, &w->mu);
                if (w->stop)
                        break;
                w->go = 0;
                const ix_batch_t *b = &w->batch[!w->fill];
                pthread_mutex_unlock(&w->mu);
                wr_write(w, b);
                pthread_mutex_lock(&w->mu);
        }
        pthread_mutex_unlock(&w->mu);
        return NULL;
}

sk_writer_t *sk_writer_new(ix_t *ix, char *errstr, size_t errstr_size) {
        sk_writer_t *w = calloc(1, sizeof(*w));
        if (!w) {
                ix_destroy(ix);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        w->ix = ix;
        atomic_init(&w->state, SK_WR_IDLE);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, &ca);
        pthread_condattr_destroy(&ca);
        int rc = pthread_create(&w->th, NULL, wr_main, w);
        if (rc) {
                snprintf(errstr, errstr_size, "InfluxDB writer thread: %s", strerror(rc));
                pthread_cond_destroy(&w->cv);
                pthread_mutex_destroy(&w->mu);
                ix_destroy(ix);
                free(w);
                return NULL;
        }
        return w;
}

void sk_writer_destroy(sk_writer_t *w) {
        if (!w)
                return;
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->th, NULL);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        wr_rejected_clear(w);
        free(w->rej);
        ix_batch_free(&w->batch[0]);
        ix_batch_free(&w->batch[1]);
        ix_destroy(w->ix);
        free(w);
}

ix_batch_t *sk_writer_fill(sk_writer_t *w) {
        return &w->batch[w->fill];
}

sk_wr_state_t sk_writer_state(const sk_writer_t *w) {
        return (sk_wr_state_t)atomic_load_explicit(&((sk_writer_t *)w)->state,
                                                   memory_order_acquire);
}

void sk_writer_submit(sk_writer_t *w) {
        pthread_mutex_lock(&w->mu);
        w->fill = !w->fill;
        ix_batch_clear(&w->batch[w->fill]);
        atomic_store_explicit(&w->state, SK_WR_BUSY, memory_order_release);
        w->go = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
}

const ix_batch_t *sk_writer_batch(const sk_writer_t *w) {
        return &w->batch[!w->fill];
}

int sk_writer_rejected(const sk_writer_t *w, const sk_wr_rejected_t **rej, size_t *n) {
        *rej = w->rej;
        *n = w->nrej;
        return w->oom ? -1 : 0;
}

int64_t sk_writer_done_ms(const sk_writer_t *w) {
        return w->done_ms;
}

void sk_writer_release(sk_writer_t *w) {
        pthread_mutex_lock(&w->mu);
        if (atomic_load(&w->state) == SK_WR_DONE)
                atomic_store(&w->state, SK_WR_IDLE);
        pthread_mutex_unlock(&w->mu);
}

int sk_writer_cancel(sk_writer_t *w) {
        pthread_mutex_lock(&w->mu);
        sk_wr_state_t s = (sk_wr_state_t)atomic_load(&w->state);
        if (s == SK_WR_DONE) {
                atomic_store(&w->state, SK_WR_IDLE);
        } else if (s != SK_WR_IDLE) {
                w->cancel = 1;
                pthread_cond_signal(&w->cv);
        }
        pthread_mutex_unlock(&w->mu);
        return s != SK_WR_IDLE;
}
