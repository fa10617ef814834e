/* kc_dr — delivery batches: one result slot per record, a condition
 * variable to wait on, and a reference count so the waiter may leave early.
 * See kc_dr.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clk.h"
#include "kc_dr.h"

enum { KC_DR_IDLE = 0, KC_DR_INFLIGHT, KC_DR_SETTLED };

typedef struct kc_dr_slot_s {
        kc_dr_t dr; /* first member: the kc_dr_t * handed out is the slot */
        kc_dr_batch_t *b;
        kc_dr_result_t res;
        int state;
} kc_dr_slot_t;

struct kc_dr_batch_s {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        size_t cnt, settled, failed;
        int refcnt; /* the caller's + one per slot in flight */
        void (*done)(kc_dr_batch_t *b, void *opaque);
        void *opaque;
        kc_dr_slot_t slots[]; /* cnt of them */
};

static void kc_dr_batch_unref(kc_dr_batch_t *b) {
        pthread_mutex_lock(&b->lock);
        int last = --b->refcnt == 0;
        pthread_mutex_unlock(&b->lock);
        if (!last)
                return;
        pthread_cond_destroy(&b->cond);
        pthread_mutex_destroy(&b->lock);
        free(b);
}

/* Settles a slot once.  `done` runs before the slot's reference goes, so
 * the batch outlives it even if the caller destroys it meanwhile. */
static void kc_dr_settle(kc_dr_slot_t *s, rd_kafka_resp_err_t err, int32_t partition,
                         int64_t offset) {
        kc_dr_batch_t *b = s->b;
        pthread_mutex_lock(&b->lock);
        if (s->state == KC_DR_SETTLED) {
                pthread_mutex_unlock(&b->lock);
                return;
        }
        int held = s->state == KC_DR_INFLIGHT;
        s->state = KC_DR_SETTLED;
        s->res.err = err;
        s->res.partition = partition;
        s->res.offset = offset;
        b->settled++;
        if (err)
                b->failed++;
        int all = b->settled == b->cnt;
        /* Nobody waits once the caller is gone: skip `done` then. */
        int caller = b->refcnt > (held ? 1 : 0);
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        if (all && caller && b->done)
                b->done(b, b->opaque);
        if (held)
                kc_dr_batch_unref(b);
}

static void kc_dr_slot_cb(kc_dr_t *dr, const rd_kafka_message_t *m) {
        kc_dr_slot_t *s = (kc_dr_slot_t *)dr;
        /* A failed record has no offset (librdkafka may leave the batch's). */
        kc_dr_settle(s, m->err, m->partition, m->err ? RD_KAFKA_OFFSET_INVALID : m->offset);
}

kc_dr_batch_t *kc_dr_batch_new(size_t cnt, void (*done)(kc_dr_batch_t *b, void *opaque),
                               void *opaque) {
        kc_dr_batch_t *b = calloc(1, sizeof(*b) + cnt * sizeof(b->slots[0]));
        if (!b)
                return NULL;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&b->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&b->lock, NULL);
        b->cnt = cnt;
        b->refcnt = 1;
        b->done = done;
        b->opaque = opaque;
        for (size_t i = 0; i < cnt; i++) {
                b->slots[i].dr.cb = kc_dr_slot_cb;
                b->slots[i].b = b;
                b->slots[i].res.err = RD_KAFKA_RESP_ERR__IN_PROGRESS;
                b->slots[i].res.partition = RD_KAFKA_PARTITION_UA;
                b->slots[i].res.offset = RD_KAFKA_OFFSET_INVALID;
        }
        return b;
}

kc_dr_t *kc_dr_batch_dr(kc_dr_batch_t *b, size_t i) {
        kc_dr_slot_t *s = &b->slots[i];
        pthread_mutex_lock(&b->lock);
        if (s->state == KC_DR_IDLE) {
                s->state = KC_DR_INFLIGHT;
                b->refcnt++;
        }
        pthread_mutex_unlock(&b->lock);
        return &s->dr;
}

void kc_dr_batch_fail(kc_dr_batch_t *b, size_t i, rd_kafka_resp_err_t err) {
        kc_dr_settle(&b->slots[i], err ? err : RD_KAFKA_RESP_ERR__FAIL, RD_KAFKA_PARTITION_UA,
                     RD_KAFKA_OFFSET_INVALID);
}

size_t kc_dr_batch_wait(kc_dr_batch_t *b, int timeout_ms) {
        struct timespec until = clk_deadline(CLOCK_MONOTONIC, timeout_ms);
        pthread_mutex_lock(&b->lock);
        while (b->settled < b->cnt) {
                if (timeout_ms < 0)
                        pthread_cond_wait(&b->cond, &b->lock);
                else if (timeout_ms == 0 ||
                         pthread_cond_timedwait(&b->cond, &b->lock, &until) == ETIMEDOUT)
                        break;
        }
        size_t left = b->cnt - b->settled;
        pthread_mutex_unlock(&b->lock);
        return left;
}

kc_dr_result_t kc_dr_batch_result(kc_dr_batch_t *b, size_t i) {
        pthread_mutex_lock(&b->lock);
        kc_dr_result_t r = b->slots[i].res;
        pthread_mutex_unlock(&b->lock);
        return r;
}

size_t kc_dr_batch_failed(kc_dr_batch_t *b) {
        pthread_mutex_lock(&b->lock);
        size_t n = b->failed;
        pthread_mutex_unlock(&b->lock);
        return n;
}

void kc_dr_batch_destroy(kc_dr_batch_t *b) {
        if (b)
                kc_dr_batch_unref(b);
}
