/* kc_group — one group member, its partitions forwarded to kc_txn loops
 * (see kc_group.h).
 *
 * State shared with the loops is under `lock`: each slot's attach state
 * and its one pending rebalance event.  `pending` is also an atomic so a
 * loop's check costs one load per turn.  `owned` (partitions forwarded to
 * the slot) is the coordinator thread's alone. */
#include "kc_group.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "kc_int.h"
#include "kc_txn_int.h"
#include "log.h"

#define KC_GROUP_LOG "kafka-group"

enum { SLOT_NEW, SLOT_ATTACHED, SLOT_GONE };

typedef struct {
        rd_kafka_queue_t *q; /* the loop's input queue (owned) */
        int state;           /* SLOT_* (under lock) */
        atomic_int pending;  /* an event waits for the loop */
        /* The event (under lock): taken by the loop (ev_parts set NULL). */
        rd_kafka_topic_partition_list_t *ev_parts;
        int ev_assign, ev_lost, ev_late, ev_done;
        rd_kafka_topic_partition_list_t *owned; /* coordinator thread only */
} kc_group_slot_t;

struct kc_group_s {
        char stage[32];
        kc_t *consumer;
        const char *const *topics; /* the conf's */
        admin_beat_t *beat;
        atomic_int *stop_flag;
        int n;
        kc_group_slot_t *slots;
        pthread_t thread;
        int thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        atomic_int quit;   /* kc_group_destroy() */
        atomic_int closed; /* the consumer left the group */
        char why[512];     /* set before closed: the fatal error, or "" */
};

static int grp_stopping(kc_group_t *g) {
        return atomic_load(&g->quit) || (g->stop_flag && atomic_load(g->stop_flag));
}

static void grp_wait(kc_group_t *g, int ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
}

/* Under lock: how many slots are in `state`. */
static int grp_count(kc_group_t *g, int state) {
        int n = 0;
        for (int i = 0; i < g->n; i++)
                n += g->slots[i].state == state;
        return n;
}

/* Forwards (dst = a loop's queue) or un-forwards (NULL) a partition. */
static void grp_forward(kc_group_t *g, const rd_kafka_topic_partition_t *p, rd_kafka_queue_t *dst) {
        rd_kafka_queue_t *pq =
                rd_kafka_queue_get_partition(kc_rk(g->consumer), p->topic, p->partition);
        if (!pq) {
                kc_set_fatal(g->consumer, "no queue for %s[%d]", p->topic, (int)p->partition);
                return;
        }
        rd_kafka_queue_forward(pq, dst);
        rd_kafka_queue_destroy(pq);
}

/* The live slot a newly assigned partition goes to: the one holding its
 * partition number on another input topic (co-partitioned joins see both
 * sides in one loop), else the one with the fewest partitions.  -1: none
 * alive. */
static int grp_pick(kc_group_t *g, const rd_kafka_topic_partition_t *p) {
        int best = -1;
        pthread_mutex_lock(&g->lock);
        for (int i = 0; i < g->n; i++) {
                kc_group_slot_t *s = &g->slots[i];
                if (s->state != SLOT_ATTACHED)
                        continue;
                for (int j = 0; j < s->owned->cnt; j++)
                        if (s->owned->elems[j].partition == p->partition) {
                                pthread_mutex_unlock(&g->lock);
                                return i;
                        }
                if (best < 0 || s->owned->cnt < g->slots[best].owned->cnt)
                        best = i;
        }
        pthread_mutex_unlock(&g->lock);
        return best;
}

/* Hands each slot its list (lists[i], taken) and waits until every live
 * slot answered, or bound_ms (< 0: no bound) passed: a late revocation is
 * then served as lost.  Beats meanwhile. */
static void grp_dispatch(kc_group_t *g, rd_kafka_topic_partition_list_t **lists, int assign,
                         int lost, int64_t bound_ms) {
        int64_t t0 = clk_mono_ms(), said = t0;
        pthread_mutex_lock(&g->lock);
        for (int i = 0; i < g->n; i++) {
                kc_group_slot_t *s = &g->slots[i];
                if (!lists[i])
                        continue;
                /* A late event the loop has not taken yet: it goes first. */
                while (atomic_load(&s->pending) && s->state == SLOT_ATTACHED)
                        grp_wait(g, 100);
                if (s->state != SLOT_ATTACHED || lists[i]->cnt == 0) {
                        rd_kafka_topic_partition_list_destroy(lists[i]);
                        lists[i] = NULL;
                        continue;
                }
                if (s->ev_parts)
                        rd_kafka_topic_partition_list_destroy(s->ev_parts);
                s->ev_parts = lists[i];
                lists[i] = NULL;
                s->ev_assign = assign;
                s->ev_lost = lost;
                s->ev_late = 0;
                s->ev_done = 0;
                atomic_store(&s->pending, 1);
                rd_kafka_queue_yield(s->q);
        }
        for (;;) {
                int waiting = 0;
                for (int i = 0; i < g->n; i++) {
                        kc_group_slot_t *s = &g->slots[i];
                        if (s->state == SLOT_ATTACHED && atomic_load(&s->pending) && !s->ev_late)
                                waiting++;
                }
                if (!waiting)
                        break;
                int64_t now = clk_mono_ms();
                if (bound_ms >= 0 && now - t0 >= bound_ms) {
                        for (int i = 0; i < g->n; i++)
                                if (atomic_load(&g->slots[i].pending))
                                        g->slots[i].ev_late = 1;
                        log_error(KC_GROUP_LOG,
                                  "%s: %d loop(s) did not end their transaction within %lld ms "
                                  "of a revocation: they abort it instead",
                                  g->stage, waiting, (long long)bound_ms);
                        break;
                }
                if (now - said >= 10000) {
                        said = now;
                        log_warn(KC_GROUP_LOG, "%s: waiting %lld ms for %d loop(s) to %s", g->stage,
                                 (long long)(now - t0), waiting,
                                 assign ? "take their partitions" : "end their transactions");
                }
                pthread_mutex_unlock(&g->lock);
                admin_beat(g->beat);
                pthread_mutex_lock(&g->lock);
                grp_wait(g, 100);
        }
        pthread_mutex_unlock(&g->lock);
}

static rd_kafka_topic_partition_list_t **grp_lists(kc_group_t *g) {
        return calloc((size_t)g->n, sizeof(rd_kafka_topic_partition_list_t *));
}

static void grp_on_assigned(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, void *opaque) {
        (void)kc;
        kc_group_t *g = opaque;
        rd_kafka_topic_partition_list_t **lists = grp_lists(g);
        if (!lists) {
                kc_set_fatal(g->consumer, "out of memory");
                return;
        }
        for (int i = 0; i < parts->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &parts->elems[i];
                int k = grp_pick(g, p);
                if (k < 0) /* every loop ended: the group is closing */
                        break;
                if (!lists[k])
                        lists[k] = rd_kafka_topic_partition_list_new(parts->cnt);
                rd_kafka_topic_partition_list_add(lists[k], p->topic, p->partition)->offset =
                        p->offset;
                rd_kafka_topic_partition_list_add(g->slots[k].owned, p->topic, p->partition);
                grp_forward(g, p, g->slots[k].q);
                log_debug(KC_GROUP_LOG, "%s: %s[%d] to loop %d", g->stage, p->topic,
                          (int)p->partition, k);
        }
        grp_dispatch(g, lists, 1, 0, -1);
        free(lists);
}

static void grp_on_revoked(kc_t *kc, const rd_kafka_topic_partition_list_t *parts, int lost,
                           void *opaque) {
        (void)kc;
        kc_group_t *g = opaque;
        rd_kafka_topic_partition_list_t **lists = grp_lists(g);
        if (!lists) {
                kc_set_fatal(g->consumer, "out of memory");
                return;
        }
        for (int i = 0; i < parts->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &parts->elems[i];
                for (int k = 0; k < g->n; k++) {
                        if (!rd_kafka_topic_partition_list_del(g->slots[k].owned, p->topic,
                                                               p->partition))
                                continue;
                        /* Nothing more reaches the loop; what it already
                         * holds it drops once its revoked hook ran. */
                        grp_forward(g, p, NULL);
                        if (!lists[k])
                                lists[k] = rd_kafka_topic_partition_list_new(parts->cnt);
                        rd_kafka_topic_partition_list_add(lists[k], p->topic, p->partition);
                        break;
                }
        }
        grp_dispatch(g, lists, 0, lost, KC_GROUP_REVOKE_MS);
        free(lists);
}

/* ------------------------------------------------------ the coordinator */

static void grp_close(kc_group_t *g, const char *why) {
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(kc_rk(g->consumer));
        if (err)
                log_warn(KC_GROUP_LOG, "%s: consumer close: %s", g->stage, rd_kafka_err2str(err));
        pthread_mutex_lock(&g->lock);
        snprintf(g->why, sizeof(g->why), "%s", why ? why : "");
        pthread_mutex_unlock(&g->lock);
        atomic_store(&g->closed, 1);
        for (int i = 0; i < g->n; i++)
                rd_kafka_queue_yield(g->slots[i].q);
}

static void grp_consumer_msg(kc_group_t *g, rd_kafka_message_t *m, char *why, size_t why_size) {
        if (!m->err) {
                /* Every assigned partition is forwarded: not expected. */
                snprintf(why, why_size, "%s[%d]@%lld reached the group's own queue",
                         kc_msg_topic(m), (int)m->partition, (long long)m->offset);
                return;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || kc_consumer_error(g->consumer, m))
                return;
        if (m->err == RD_KAFKA_RESP_ERR__FATAL && kc_fatal(g->consumer, why, why_size))
                return;
        log_warn(KC_GROUP_LOG, "consumer: %s", rd_kafka_message_errstr(m));
}

static void *grp_main(void *arg) {
        kc_group_t *g = arg;
        char why[512] = "";
        /* Every loop's producer is ready before the member joins, so no
         * partition goes to a loop that cannot yet produce. */
        pthread_mutex_lock(&g->lock);
        while (!grp_stopping(g) && grp_count(g, SLOT_ATTACHED) < g->n &&
               grp_count(g, SLOT_GONE) == 0) {
                pthread_mutex_unlock(&g->lock);
                admin_beat(g->beat);
                pthread_mutex_lock(&g->lock);
                grp_wait(g, 100);
        }
        int go = !grp_stopping(g) && grp_count(g, SLOT_GONE) == 0;
        pthread_mutex_unlock(&g->lock);
        if (go && kc_subscribe(g->consumer, g->topics, why, sizeof(why)) == -1)
                go = 0;
        if (go)
                log_info(KC_GROUP_LOG, "%s: one group member for %d loop(s)", g->stage, g->n);
        while (go && !grp_stopping(g)) {
                admin_beat(g->beat);
                rd_kafka_message_t *m = rd_kafka_consumer_poll(kc_rk(g->consumer), 100);
                if (m) {
                        grp_consumer_msg(g, m, why, sizeof(why));
                        rd_kafka_message_destroy(m);
                }
                if (why[0] || kc_fatal(g->consumer, why, sizeof(why)))
                        break;
                pthread_mutex_lock(&g->lock);
                int gone = grp_count(g, SLOT_GONE);
                pthread_mutex_unlock(&g->lock);
                if (gone)
                        break;
        }
        if (why[0])
                log_error(KC_GROUP_LOG, "%s: %s", g->stage, why);
        grp_close(g, why);
        admin_beat_end(g->beat);
        g->beat = NULL;
        return NULL;
}

/* ------------------------------------------------------------- the API */

kc_group_t *kc_group_new(const kc_txn_conf_t *conf, int loops, char *errstr, size_t errstr_size) {
        if (loops < 1 || loops > 64 || !conf->stage || !conf->topics || !conf->topics[0]) {
                snprintf(errstr, errstr_size, "kafka group: stage, topics and 1..64 loops");
                return NULL;
        }
        kc_group_t *g = calloc(1, sizeof(*g));
        if (!g || !(g->slots = calloc((size_t)loops, sizeof(*g->slots)))) {
                free(g);
                snprintf(errstr, errstr_size, "kafka group: out of memory");
                return NULL;
        }
        snprintf(g->stage, sizeof(g->stage), "%s", conf->stage);
        g->n = loops;
        g->topics = conf->topics;
        g->stop_flag = conf->stop;
        pthread_mutex_init(&g->lock, NULL);
        pthread_cond_init(&g->cond, NULL);
        kc_txn_conf_t c = *conf;
        c.instance = 0; /* static membership: "<base>-0" */
        kc_rebalance_hooks_t hooks = {
                .assigned = grp_on_assigned, .revoked = grp_on_revoked, .opaque = g};
        g->consumer = kc_txn_consumer_new(&c, &hooks, errstr, errstr_size);
        if (!g->consumer)
                goto fail;
        for (int i = 0; i < loops; i++) {
                g->slots[i].q = rd_kafka_queue_new(kc_rk(g->consumer));
                g->slots[i].owned = rd_kafka_topic_partition_list_new(8);
                if (!g->slots[i].q || !g->slots[i].owned) {
                        snprintf(errstr, errstr_size, "kafka group: out of memory");
                        goto fail;
                }
        }
        if (conf->admin) {
                char name[64];
                snprintf(name, sizeof(name), "%.32s group", conf->stage);
                g->beat = admin_beat_new(conf->admin, name);
        }
        int e = pthread_create(&g->thread, NULL, grp_main, g);
        if (e) {
                snprintf(errstr, errstr_size, "kafka group thread: %s", strerror(e));
                goto fail;
        }
        g->thread_started = 1;
        return g;
fail:
        kc_group_destroy(g);
        return NULL;
}

void kc_group_destroy(kc_group_t *g) {
        if (!g)
                return;
        atomic_store(&g->quit, 1);
        if (g->thread_started)
                pthread_join(g->thread, NULL);
        admin_beat_end(g->beat);
        /* The queues before the handle: they hold references on it. */
        for (int i = 0; i < g->n; i++) {
                kc_group_slot_t *s = &g->slots[i];
                if (s->q)
                        rd_kafka_queue_destroy(s->q);
                if (s->owned)
                        rd_kafka_topic_partition_list_destroy(s->owned);
                if (s->ev_parts)
                        rd_kafka_topic_partition_list_destroy(s->ev_parts);
        }
        kc_destroy(g->consumer);
        pthread_cond_destroy(&g->cond);
        pthread_mutex_destroy(&g->lock);
        free(g->slots);
        free(g);
}

kc_t *kc_group_consumer(kc_group_t *g) {
        return g->consumer;
}

rd_kafka_queue_t *kc_group_queue(kc_group_t *g, int loop) {
        return loop >= 0 && loop < g->n ? g->slots[loop].q : NULL;
}

static void grp_set_state(kc_group_t *g, int loop, int state) {
        if (loop < 0 || loop >= g->n)
                return;
        pthread_mutex_lock(&g->lock);
        if (g->slots[loop].state != SLOT_GONE)
                g->slots[loop].state = state;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
}

void kc_group_attach(kc_group_t *g, int loop) {
        grp_set_state(g, loop, SLOT_ATTACHED);
}

void kc_group_detach(kc_group_t *g, int loop) {
        grp_set_state(g, loop, SLOT_GONE);
}

int kc_group_serve(kc_group_t *g, int loop, const kc_rebalance_hooks_t *hooks) {
        kc_group_slot_t *s = &g->slots[loop];
        if (!atomic_load(&s->pending))
                return 0;
        pthread_mutex_lock(&g->lock);
        rd_kafka_topic_partition_list_t *parts = s->ev_parts;
        int assign = s->ev_assign, lost = s->ev_lost || s->ev_late;
        s->ev_parts = NULL;
        pthread_mutex_unlock(&g->lock);
        if (parts) {
                if (assign && hooks->assigned)
                        hooks->assigned(g->consumer, parts, hooks->opaque);
                else if (!assign && hooks->revoked)
                        hooks->revoked(g->consumer, parts, lost, hooks->opaque);
                rd_kafka_topic_partition_list_destroy(parts);
        }
        pthread_mutex_lock(&g->lock);
        s->ev_done = 1;
        atomic_store(&s->pending, 0);
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
        return 1;
}

int kc_group_closed(kc_group_t *g, const char **why) {
        if (!atomic_load(&g->closed))
                return 0;
        if (why)
                *why = g->why;
        return 1;
}
