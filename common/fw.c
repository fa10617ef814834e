/* fw — wakes librdkafka's fetcher when the consumer queue runs low (see
 * fw.h). */
#include "fw.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define FW_LOG "kafka"
/* Records between two looks at the queue length (a mutex in librdkafka). */
#define FW_EVERY 16
/* Partitions a wake-up asks about at most: one per broker is enough (the
 * request passes through the leader's broker thread), and fw does not know
 * the leaders, so a resume asks about up to this many partitions. */
#define FW_WAKE_MAX 16

struct fw_s {
        rd_kafka_t *rk;
        rd_kafka_queue_t *q; /* the queue the partitions feed */
        int own_q;           /* q is the consumer queue's reference (destroyed here) */
        size_t low;          /* queued.min.messages */
        size_t arm;          /* low - FW_EVERY (at least 1): see fw_check() */
        int armed;           /* the queue reached `arm` since the last wake-up */
        unsigned calls;

        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int pending, stop; /* under lock: partitions in `wake` */
        struct {
                char topic[256];
                int32_t partition;
        } wake[FW_WAKE_MAX]; /* under lock: the partitions to ask about */
        long wakeups;        /* under lock */
        metrics_child_t *m_wakeups;
};

static void *fw_main(void *arg) {
        fw_t *f = arg;
        char topic[sizeof(f->wake[0].topic)];
        pthread_mutex_lock(&f->lock);
        for (;;) {
                while (!f->pending && !f->stop)
                        pthread_cond_wait(&f->cond, &f->lock);
                if (f->stop)
                        break;
                int i = --f->pending; /* the last asked for first: order does not matter */
                memcpy(topic, f->wake[i].topic, sizeof(topic));
                int32_t partition = f->wake[i].partition;
                pthread_mutex_unlock(&f->lock);
                /* The answer does not matter, only that the request passes
                 * through the partition leader's broker thread. */
                int64_t lo, hi;
                rd_kafka_resp_err_t err =
                        rd_kafka_query_watermark_offsets(f->rk, topic, partition, &lo, &hi, 5000);
                if (err)
                        log_debug(FW_LOG, "fetch wake-up of %s[%d]: %s", topic, (int)partition,
                                  rd_kafka_err2str(err));
                pthread_mutex_lock(&f->lock);
        }
        pthread_mutex_unlock(&f->lock);
        return NULL;
}

fw_t *fw_new(rd_kafka_t *rk, rd_kafka_queue_t *q, metrics_child_t *wakeups, char *errstr,
             size_t errstr_size) {
        char val[32];
        size_t sz = sizeof(val);
        if (rd_kafka_conf_get(rd_kafka_conf(rk), "queued.min.messages", val, &sz) !=
            RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "fetch wake-up: no queued.min.messages");
                return NULL;
        }
        fw_t *f = calloc(1, sizeof(*f));
        if (!f) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        f->rk = rk;
        f->m_wakeups = wakeups;
        f->low = (size_t)strtoul(val, NULL, 10);
        f->arm = f->low > FW_EVERY ? f->low - FW_EVERY : 1;
        f->q = q;
        f->own_q = !q;
        if (f->own_q && !(f->q = rd_kafka_queue_get_consumer(rk))) {
                snprintf(errstr, errstr_size, "fetch wake-up: not a group consumer");
                free(f);
                return NULL;
        }
        pthread_mutex_init(&f->lock, NULL);
        pthread_cond_init(&f->cond, NULL);
        int e = pthread_create(&f->thread, NULL, fw_main, f);
        if (e) {
                snprintf(errstr, errstr_size, "fetch wake-up thread: %s", strerror(e));
                pthread_cond_destroy(&f->cond);
                pthread_mutex_destroy(&f->lock);
                if (f->own_q)
                        rd_kafka_queue_destroy(f->q);
                free(f);
                return NULL;
        }
        return f;
}

/* Looks at the queue length: arms at `arm`, and below it, armed, asks
 * fw's thread to wake the broker thread leading topic[partition]. */
static void fw_look_at(fw_t *f, const char *topic, int32_t partition) {
        size_t len = rd_kafka_queue_length(f->q);
        if (len >= f->arm) {
                f->armed = 1;
                return;
        }
        if (!f->armed || !topic)
                return;
        f->armed = 0;
        pthread_mutex_lock(&f->lock);
        int dup = 0;
        for (int i = 0; i < f->pending && !dup; i++)
                dup = f->wake[i].partition == partition && !strcmp(f->wake[i].topic, topic);
        if (!dup && f->pending < FW_WAKE_MAX) {
                snprintf(f->wake[f->pending].topic, sizeof(f->wake[0].topic), "%s", topic);
                f->wake[f->pending].partition = partition;
                f->pending++;
                f->wakeups++;
                metrics_inc(f->m_wakeups, 1);
                pthread_cond_signal(&f->cond);
        }
        pthread_mutex_unlock(&f->lock);
}

void fw_check(fw_t *f, const rd_kafka_message_t *m) {
        if (!f || ++f->calls % FW_EVERY)
                return;
        /* The fetcher stops when it finds `low` records queued, even for a
         * moment: a fetch ending at 1000-1006 records (most of them under
         * load) was gone below `low` by the next look, 16 records later,
         * and the fetcher slept its full second (docs/BENCHMARKS.md, the
         * stage breakdown).  Between two looks the loop takes at most
         * FW_EVERY records, so a queue that reached `low` is seen at
         * `low - FW_EVERY` or more; arming there (`arm`) catches every
         * stop, at the cost of a wake-up now and then that was not needed
         * (one ListOffsets request). */
        fw_look_at(f, m->rkt ? rd_kafka_topic_name(m->rkt) : NULL, m->partition);
}

void fw_wake(fw_t *f, const char *topic, int32_t partition) {
        if (!f)
                return;
        f->armed = 1;
        fw_look_at(f, topic, partition);
}

long fw_wakeups(fw_t *f) {
        pthread_mutex_lock(&f->lock);
        long n = f->wakeups;
        pthread_mutex_unlock(&f->lock);
        return n;
}

void fw_destroy(fw_t *f) {
        if (!f)
                return;
        pthread_mutex_lock(&f->lock);
        f->stop = 1;
        pthread_cond_signal(&f->cond);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->thread, NULL);
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->lock);
        if (f->own_q)
                rd_kafka_queue_destroy(f->q);
        free(f);
}
