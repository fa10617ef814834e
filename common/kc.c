/* kc — client life cycle.  See kc.h; librdkafka's callbacks are in
 * kc_cb.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kc_int.h"
#include "log.h"

/* ------------------------------------------------------------ helpers */

void kc_set_fatal(kc_t *kc, const char *fmt, ...) {
        char reason[sizeof(kc->fatal_reason)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        pthread_mutex_lock(&kc->lock);
        int first = !atomic_load(&kc->fatal);
        if (first)
                snprintf(kc->fatal_reason, sizeof(kc->fatal_reason), "%s", reason);
        atomic_store(&kc->fatal, 1);
        pthread_mutex_unlock(&kc->lock);
        /* A refusal (kc_access) has said it already, with backoff. */
        if (first)
                log_write(atomic_load(&kc->refused) ? LOG_DEBUG : LOG_ERROR, KC_LOG, NULL,
                          "%s: fatal: %s", rd_kafka_name(kc->rk), reason);
}

void kc_parts_str(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t size) {
        size_t pos = 0;
        const char *prev = NULL;
        buf[0] = '\0';
        for (int i = 0; parts && i < parts->cnt && pos + 8 < size; i++) {
                const rd_kafka_topic_partition_t *p = &parts->elems[i];
                int n;
                if (prev && !strcmp(prev, p->topic))
                        n = snprintf(buf + pos, size - pos, ",%" PRId32, p->partition);
                else
                        n = snprintf(buf + pos, size - pos, "%s%s[%" PRId32, prev ? "]," : "",
                                     p->topic, p->partition);
                prev = p->topic;
                if (n < 0 || (size_t)n >= size - pos) {
                        snprintf(buf + (size > 4 ? size - 4 : 0), size > 4 ? 4 : size, "...");
                        return;
                }
                pos += (size_t)n;
        }
        if (prev && pos + 2 <= size)
                snprintf(buf + pos, size - pos, "]");
        else if (!prev)
                snprintf(buf, size, "(none)");
}

/* ---------------------------------------------------------- life cycle */

kc_t *kc_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const kc_opts_t *opts, char *errstr,
             size_t errstr_size) {
        if (!opts || !opts->stage || !*opts->stage) {
                snprintf(errstr, errstr_size, "kafka client: no stage name");
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        kc_t *kc = calloc(1, sizeof(*kc));
        if (!kc) {
                snprintf(errstr, errstr_size, "kafka client: out of memory");
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        kc->type = type;
        snprintf(kc->stage, sizeof(kc->stage), "%s", opts->stage);
        kc->admin = opts->admin;
        kc->ready_cond = -1;
        kc->hooks = opts->hooks;
        pthread_mutex_init(&kc->lock, NULL);
        pthread_mutex_init(&kc->topics_lock, NULL);

        char name[160];
        snprintf(name, sizeof(name), "weir_%s_kafka_delivery_reports_total", kc->stage);
        metrics_family_t *dr = metrics_counter_family(
                name,
                "Delivery reports of produced messages, by result (delivered, failed, or "
                "purged by an abort or shutdown).",
                "result");
        snprintf(name, sizeof(name), "weir_%s_kafka_errors_total", kc->stage);
        kc->f_errors = metrics_counter_family(
                name, "Errors reported by librdkafka (mostly transient), by error name.", "error");
        if (!dr || !kc->f_errors) {
                snprintf(errstr, errstr_size, "kafka client: metric families clash (stage %s)",
                         kc->stage);
                goto fail;
        }
        kc->m_delivered = metrics_child(dr, "delivered");
        kc->m_failed = metrics_child(dr, "failed");
        kc->m_purged = metrics_child(dr, "purged");

        kc_cb_set(conf, kc);

        char stats_ms[32];
        size_t sz = sizeof(stats_ms);
        if (rd_kafka_conf_get(conf, "statistics.interval.ms", stats_ms, &sz) != RD_KAFKA_CONF_OK)
                snprintf(stats_ms, sizeof(stats_ms), "0");
        char isolation[32];
        sz = sizeof(isolation);
        if (rd_kafka_conf_get(conf, "isolation.level", isolation, &sz) != RD_KAFKA_CONF_OK)
                isolation[0] = '\0';

        const char *what = type == RD_KAFKA_PRODUCER ? "producer" : "consumer";
        kc_conf_log(type, conf);
        kc_access_init(kc, conf);
        kc_access_bind(kc, kc->admin);
        if (opts->transactional_id)
                snprintf(kc->tid, sizeof(kc->tid), "%s", opts->transactional_id);

        /* rd_kafka_new() takes conf only on success. */
        char err[512];
        kc->rk = rd_kafka_new(type, conf, err, sizeof(err));
        if (!kc->rk) {
                snprintf(errstr, errstr_size, "kafka %s: %s", what, err);
                rd_kafka_conf_destroy(conf);
                conf = NULL;
                goto fail;
        }
        conf = NULL;
        kc->stats = kc_stats_new(kc->stage, rd_kafka_name(kc->rk), type == RD_KAFKA_CONSUMER,
                                 !strcmp(isolation, "read_committed"));
        if (!kc->stats) {
                snprintf(errstr, errstr_size, "kafka %s: statistics: metric families clash", what);
                goto fail;
        }
        kc->assigned = rd_kafka_topic_partition_list_new(0);
        if (type == RD_KAFKA_CONSUMER)
                rd_kafka_poll_set_consumer(kc->rk);

        if (kc->admin) {
                kc->ready_cond = admin_ready_condition(kc->admin, type == RD_KAFKA_CONSUMER
                                                                          ? "kafka assigned"
                                                                          : "kafka connected");
                /* Without statistics, "connected" has no signal: do not hold
                 * readiness on it. */
                if (type == RD_KAFKA_PRODUCER && kc->ready_cond >= 0 && atoi(stats_ms) <= 0)
                        admin_ready_set(kc->admin, kc->ready_cond, 1);
        }
        log_info(KC_LOG, "%s created (librdkafka %s)", rd_kafka_name(kc->rk),
                 rd_kafka_version_str());
        return kc;

fail:
        if (conf)
                rd_kafka_conf_destroy(conf);
        if (kc->rk)
                rd_kafka_destroy(kc->rk);
        kc_stats_destroy(kc->stats);
        kc_access_fini(kc);
        pthread_mutex_destroy(&kc->topics_lock);
        pthread_mutex_destroy(&kc->lock);
        free(kc);
        return NULL;
}

static kc_t *kc_new_type(rd_kafka_type_t type, const kc_opts_t *opts, char *errstr,
                         size_t errstr_size) {
        rd_kafka_conf_t *conf = kc_conf_new(type, opts, errstr, errstr_size);
        return conf ? kc_new(type, conf, opts, errstr, errstr_size) : NULL;
}

kc_t *kc_producer_new(const kc_opts_t *opts, char *errstr, size_t errstr_size) {
        return kc_new_type(RD_KAFKA_PRODUCER, opts, errstr, errstr_size);
}

kc_t *kc_consumer_new(const kc_opts_t *opts, char *errstr, size_t errstr_size) {
        return kc_new_type(RD_KAFKA_CONSUMER, opts, errstr, errstr_size);
}

kc_t *kc_renew(kc_t *old, const kc_opts_t *opts, char *errstr, size_t errstr_size) {
        /* The old client's readiness condition is handed over, not
         * registered again (a second member that could never be met). */
        kc_opts_t o = *opts;
        o.admin = NULL;
        kc_t *kc = kc_new_type(old->type, &o, errstr, errstr_size);
        if (!kc)
                return NULL;
        kc->admin = old->admin;
        kc->ready_cond = old->ready_cond;
        old->ready_cond = -1;
        if (kc->ready_cond >= 0)
                admin_ready_set(kc->admin, kc->ready_cond, 0);
        kc_access_bind(kc, kc->admin);
        kc_access_carry(kc, old);
        kc_topics_carry(kc, old);
        if (old->poll_started && kc_poll_start(kc, errstr, errstr_size) == -1) {
                old->ready_cond = kc->ready_cond;
                kc->ready_cond = -1;
                kc_destroy(kc);
                return NULL;
        }
        log_info(KC_LOG, "%s replaces %s", rd_kafka_name(kc->rk), rd_kafka_name(old->rk));
        kc_destroy(old);
        return kc;
}

/* Consumers kc_destroy() may not destroy (librdkafka#4312, below). */
#define KC_PARKED_MAX 64
static kc_t *kc_parked[KC_PARKED_MAX];
static atomic_int kc_parked_cnt;

void kc_destroy(kc_t *kc) {
        if (!kc)
                return;
        if (kc->type == RD_KAFKA_CONSUMER) {
                if (!rd_kafka_consumer_closed(kc->rk)) {
                        rd_kafka_resp_err_t err = rd_kafka_consumer_close(kc->rk);
                        if (err)
                                log_warn(KC_LOG, "%s: close: %s", rd_kafka_name(kc->rk),
                                         rd_kafka_err2str(err));
                }
        } else {
                if (kc->poll_started) {
                        atomic_store(&kc->poll_run, 0);
                        pthread_join(kc->poll_thread, NULL);
                        admin_beat_end(kc->poll_beat);
                        kc->poll_started = 0;
                }
                /* Fail what is left so every kc_dr_t is called back (and
                 * kc_dr_batch references released) before the handle goes. */
                rd_kafka_purge(kc->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(kc->rk, 5000);
                /* Our references go before the handle (nothing produces now). */
                int n = atomic_exchange(&kc->ntopics, 0);
                for (int i = 0; i < n; i++)
                        rd_kafka_topic_destroy(kc->topics[i]);
        }
        if (kc->ready_cond >= 0)
                admin_ready_set(kc->admin, kc->ready_cond, 0);
        /* librdkafka before 2.3.0 asserts in rd_kafka_destroy() when a
         * cooperative-sticky member joined its group but never received an
         * assignment (confluentinc/librdkafka#4312; Debian 12 ships 2.0.2).
         * The consumer is closed (it left the group) by now, so its handle
         * is left to the process exit instead: one per such consumer. */
        if (kc->type == RD_KAFKA_CONSUMER && kc->subscribed && !kc->synced &&
            rd_kafka_version() < 0x020300ff) {
                log_info(KC_LOG, "%s closed (never assigned: handle left to exit, librdkafka#4312)",
                         rd_kafka_name(kc->rk));
                kc_access_fini(kc);
                /* Kept reachable, so leak checkers do not report it. */
                int i = atomic_fetch_add(&kc_parked_cnt, 1);
                if (i < KC_PARKED_MAX)
                        kc_parked[i] = kc;
                return;
        }
        log_info(KC_LOG, "%s destroyed", rd_kafka_name(kc->rk));
        rd_kafka_destroy(kc->rk);
        kc_access_fini(kc);
        kc_stats_destroy(kc->stats);
        rd_kafka_topic_partition_list_destroy(kc->assigned);
        pthread_mutex_destroy(&kc->topics_lock);
        pthread_mutex_destroy(&kc->lock);
        free(kc);
}

const rd_kafka_topic_partition_list_t *kc_assigned(const kc_t *kc) {
        return kc->assigned;
}

rd_kafka_t *kc_rk(const kc_t *kc) {
        return kc->rk;
}

const char *kc_name(const kc_t *kc) {
        return rd_kafka_name(kc->rk);
}

int kc_subscribe(kc_t *kc, const char *const *topics, char *errstr, size_t errstr_size) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
        for (; topics && *topics; topics++)
                rd_kafka_topic_partition_list_add(l, *topics, RD_KAFKA_PARTITION_UA);
        if (l->cnt == 0) {
                rd_kafka_topic_partition_list_destroy(l);
                snprintf(errstr, errstr_size, "kafka subscribe: no topics");
                return -1;
        }
        rd_kafka_resp_err_t err = rd_kafka_subscribe(kc->rk, l);
        kc->subscribed = err == RD_KAFKA_RESP_ERR_NO_ERROR;
        char list[512];
        kc_parts_str(l, list, sizeof(list));
        rd_kafka_topic_partition_list_destroy(l);
        if (err) {
                snprintf(errstr, errstr_size, "kafka subscribe: %s", rd_kafka_err2str(err));
                return -1;
        }
        log_info(KC_LOG, "%s: subscribed to %s", rd_kafka_name(kc->rk), list);
        return 0;
}

int kc_fatal(kc_t *kc, char *errstr, size_t errstr_size) {
        char why[512];
        /* Every service loop calls this often: the refusal's schedule. */
        kc_access_tick(kc);
        /* librdkafka may have raised it before error_cb was served. */
        rd_kafka_resp_err_t err = rd_kafka_fatal_error(kc->rk, why, sizeof(why));
        if (err)
                kc_fatal_taken(kc, err, why);
        if (!atomic_load(&kc->fatal))
                return 0;
        pthread_mutex_lock(&kc->lock);
        snprintf(errstr, errstr_size, "%s", kc->fatal_reason);
        pthread_mutex_unlock(&kc->lock);
        return 1;
}

int kc_ready_probe(kc_t *kc) {
        if (kc->probed || kc->type != RD_KAFKA_PRODUCER || kc->ready_cond < 0)
                return 1;
        /* A cached controller id means a broker answered a metadata request;
         * timeout 0: never waits for one. */
        if (rd_kafka_controllerid(kc->rk, 0) >= 0) {
                kc->probed = 1;
                admin_ready_set(kc->admin, kc->ready_cond, 1);
        }
        return kc->probed;
}

static void *kc_poll_main(void *arg) {
        kc_t *kc = arg;
        while (atomic_load(&kc->poll_run)) {
                admin_beat(kc->poll_beat);
                /* Short polls until the cluster is seen: readiness within ~10 ms. */
                rd_kafka_poll(kc->rk, kc->probed || kc->ready_cond < 0 ? 100 : 10);
                kc_ready_probe(kc);
                kc_access_tick(kc);
        }
        return NULL;
}

int kc_poll_start(kc_t *kc, char *errstr, size_t errstr_size) {
        if (kc->type != RD_KAFKA_PRODUCER || kc->poll_started) {
                snprintf(errstr, errstr_size, "kafka poll thread: %s",
                         kc->poll_started ? "already started" : "producers only");
                return -1;
        }
        atomic_store(&kc->poll_run, 1);
        if (kc->admin && !kc->poll_beat) {
                /* One name per stage: a renewed client's thread takes the
                 * ended handle of the one before the last. */
                char name[64];
                snprintf(name, sizeof(name), "%.32s kafka poll", kc->stage);
                kc->poll_beat = admin_beat_new(kc->admin, name);
        }
        int e = pthread_create(&kc->poll_thread, NULL, kc_poll_main, kc);
        if (e) {
                snprintf(errstr, errstr_size, "kafka poll thread: %s", strerror(e));
                return -1;
        }
        kc->poll_started = 1;
        return 0;
}

/* ----------------------------------------------------------- consumer */

rd_kafka_topic_partition_list_t *kc_positions(kc_t *kc, char *errstr, size_t errstr_size) {
        rd_kafka_topic_partition_list_t *l = NULL;
        rd_kafka_resp_err_t err = rd_kafka_assignment(kc->rk, &l);
        if (!err)
                err = rd_kafka_position(kc->rk, l);
        if (err) {
                snprintf(errstr, errstr_size, "kafka positions: %s", rd_kafka_err2str(err));
                if (l)
                        rd_kafka_topic_partition_list_destroy(l);
                return NULL;
        }
        return l;
}

/* Checks the list's per-partition errors after a seek. */
static int kc_seek_check(const rd_kafka_topic_partition_list_t *l, char *errstr,
                         size_t errstr_size) {
        for (int i = 0; i < l->cnt; i++)
                if (l->elems[i].err) {
                        snprintf(errstr, errstr_size, "kafka seek %s[%" PRId32 "]: %s",
                                 l->elems[i].topic, l->elems[i].partition,
                                 rd_kafka_err2str(l->elems[i].err));
                        return -1;
                }
        return 0;
}

int kc_seek(kc_t *kc, const rd_kafka_topic_partition_list_t *offsets, int timeout_ms, char *errstr,
            size_t errstr_size) {
        if (offsets->cnt == 0)
                return 0;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(offsets);
        rd_kafka_error_t *error = rd_kafka_seek_partitions(kc->rk, l, timeout_ms);
        int r = 0;
        if (error) {
                snprintf(errstr, errstr_size, "kafka seek: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                r = -1;
        } else {
                r = kc_seek_check(l, errstr, errstr_size);
        }
        if (r == 0) {
                char list[256];
                kc_parts_str(l, list, sizeof(list));
                log_info(KC_LOG, "%s: rewound %d partition(s): %s", rd_kafka_name(kc->rk), l->cnt,
                         list);
        }
        rd_kafka_topic_partition_list_destroy(l);
        return r;
}

int kc_seek_committed(kc_t *kc, const rd_kafka_topic_partition_list_t *parts,
                      const rd_kafka_topic_partition_list_t *fallback, int timeout_ms, char *errstr,
                      size_t errstr_size) {
        rd_kafka_topic_partition_list_t *l = NULL;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (parts)
                l = rd_kafka_topic_partition_list_copy(parts);
        else
                err = rd_kafka_assignment(kc->rk, &l);
        if (!err && l->cnt > 0)
                err = rd_kafka_committed(kc->rk, l, timeout_ms);
        if (err) {
                snprintf(errstr, errstr_size, "kafka rewind: committed offsets: %s",
                         rd_kafka_err2str(err));
                goto fail;
        }
        if (l->cnt == 0) {
                rd_kafka_topic_partition_list_destroy(l);
                return 0;
        }
        for (int i = 0; i < l->cnt; i++) {
                rd_kafka_topic_partition_t *p = &l->elems[i];
                if (p->err) {
                        snprintf(errstr, errstr_size, "kafka rewind: %s[%" PRId32 "]: %s", p->topic,
                                 p->partition, rd_kafka_err2str(p->err));
                        goto fail;
                }
                if (p->offset >= 0)
                        continue;
                const rd_kafka_topic_partition_t *f =
                        fallback ? rd_kafka_topic_partition_list_find(fallback, p->topic,
                                                                      p->partition)
                                 : NULL;
                p->offset = f && f->offset >= 0 ? f->offset : RD_KAFKA_OFFSET_BEGINNING;
        }
        int r = kc_seek(kc, l, timeout_ms, errstr, errstr_size);
        rd_kafka_topic_partition_list_destroy(l);
        return r;
fail:
        if (l)
                rd_kafka_topic_partition_list_destroy(l);
        return -1;
}

const char *kc_msg_topic(const kc_msg_t *m) {
        return m->rkt ? rd_kafka_topic_name(m->rkt) : "";
}

int kc_msg_header(const kc_msg_t *m, const char *name, const void **value, size_t *size) {
        rd_kafka_headers_t *hdrs = NULL;
        /* rd_kafka_message_headers() takes a non-const message; it only
         * parses the headers the message already holds. */
        if (rd_kafka_message_headers((rd_kafka_message_t *)(uintptr_t)m, &hdrs) !=
                    RD_KAFKA_RESP_ERR_NO_ERROR ||
            !hdrs ||
            rd_kafka_header_get_last(hdrs, name, value, size) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return -1;
        return 0;
}
