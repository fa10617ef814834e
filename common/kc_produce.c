/* kc_produce — producing records, and the producer's topic handles.
 * See kc.h. */
#include <stdio.h>
#include <string.h>

#include "kc_int.h"

/* librdkafka 2.0.2 (Debian 12) creates the topic of a record named by
 * RD_KAFKA_V_TOPIC() without asking for its metadata: the first record to
 * each topic waits for the next 1 s topic scan (fixed upstream in 2.10.1,
 * "Fix up to a 1s delay in first produce to new topic", #5032).
 * rd_kafka_topic_new() asks at once, so the producer keeps one handle per
 * topic for its life and produces with RD_KAFKA_V_RKT().  Once librdkafka
 * >= 2.10.1 is the floor, this table can go.
 * Lookups read the published entries without a lock (ingress produces from
 * many threads); a miss takes topics_lock.  NULL: table full or a name
 * librdkafka refuses — the caller names the topic instead. */
static rd_kafka_topic_t *kc_topic(kc_t *kc, const char *name) {
        int n = atomic_load_explicit(&kc->ntopics, memory_order_acquire);
        for (int i = 0; i < n; i++)
                if (!strcmp(rd_kafka_topic_name(kc->topics[i]), name))
                        return kc->topics[i];
        rd_kafka_topic_t *rkt = NULL;
        pthread_mutex_lock(&kc->topics_lock);
        n = atomic_load_explicit(&kc->ntopics, memory_order_relaxed);
        for (int i = 0; i < n && !rkt; i++)
                if (!strcmp(rd_kafka_topic_name(kc->topics[i]), name))
                        rkt = kc->topics[i];
        if (!rkt && n < KC_TOPICS_MAX && (rkt = rd_kafka_topic_new(kc->rk, name, NULL))) {
                kc->topics[n] = rkt;
                atomic_store_explicit(&kc->ntopics, n + 1, memory_order_release);
        }
        pthread_mutex_unlock(&kc->topics_lock);
        return rkt;
}

int kc_topics_warm(kc_t *kc, const char *const *topics, char *errstr, size_t errstr_size) {
        int r = 0;
        for (; kc->type == RD_KAFKA_PRODUCER && topics && *topics; topics++)
                if (!kc_topic(kc, *topics) && r == 0) {
                        snprintf(errstr, errstr_size, "kafka topic %s: %s", *topics,
                                 rd_kafka_err2str(rd_kafka_last_error()));
                        r = -1;
                }
        return r;
}

void kc_topics_carry(kc_t *to, const kc_t *from) {
        if (to->type != RD_KAFKA_PRODUCER || from->type != RD_KAFKA_PRODUCER)
                return;
        int n = atomic_load_explicit(&from->ntopics, memory_order_acquire);
        for (int i = 0; i < n; i++)
                kc_topic(to, rd_kafka_topic_name(from->topics[i]));
}

/* The arguments every produce call shares. */
#define KC_PRODUCE_ARGS(rec, dr)                                                                   \
        RD_KAFKA_V_PARTITION((rec)->partition), RD_KAFKA_V_KEY((rec)->key, (rec)->key_len),        \
                RD_KAFKA_V_VALUE((void *)(rec)->value, (rec)->value_len),                          \
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),                                          \
                RD_KAFKA_V_TIMESTAMP((rec)->timestamp_ms), RD_KAFKA_V_HEADERS((rec)->headers),     \
                RD_KAFKA_V_OPAQUE(dr), RD_KAFKA_V_END

rd_kafka_resp_err_t kc_produce(kc_t *kc, const kc_record_t *rec, kc_dr_t *dr, int block_ms) {
        int64_t deadline = block_ms < 0 ? INT64_MAX : clk_mono_ms() + block_ms;
        rd_kafka_topic_t *rkt = kc_topic(kc, rec->topic);
        for (;;) {
                rd_kafka_resp_err_t err =
                        rkt ? rd_kafka_producev(kc->rk, RD_KAFKA_V_RKT(rkt),
                                                KC_PRODUCE_ARGS(rec, dr))
                            : rd_kafka_producev(kc->rk, RD_KAFKA_V_TOPIC(rec->topic),
                                                KC_PRODUCE_ARGS(rec, dr));
                /* A topic whose metadata was refused (the handle looks it
                 * up at once) fails here, not in a delivery report: said as
                 * the delivery report would say it. */
                if (err && kc_refusal_kind(err) != KC_REFUSED_NONE)
                        kc_access_refused(kc, err, "WRITE", "topic", rec->topic,
                                          rd_kafka_err2str(err));
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        return err;
                int64_t left = deadline - clk_mono_ms();
                if (left <= 0)
                        return err;
                /* Room comes back as delivery reports are served: by the
                 * poll thread if there is one, else by us. */
                if (kc->poll_started)
                        clk_sleep_ms(left < 5 ? left : 5);
                else
                        rd_kafka_poll(kc->rk, left < 50 ? (int)left : 50);
        }
}
