/* kc_cb — librdkafka's callbacks for a kc_t: log, error, statistics,
 * delivery reports and rebalances.
 *
 * The kc_t is the opaque of its rd_kafka_t, so every callback finds its
 * client.  Callbacks only count, log and forward: the decisions (commit,
 * abort, restore) belong to the hooks of the service or of kc_txn. */
#include <string.h>

#include "kc_int.h"
#include "log.h"

/* An empty cooperative assignment counts as "kafka assigned" only once no
 * partition came for this long: the follow-up rebalance that hands a new
 * member its share comes within ~1 s (librdkafka 2.0.2, Kafka 3.9). */
#define KC_EMPTY_ASSIGNMENT_READY_MS 5000

/* ---------------------------------------------------------- callbacks */

/* librdkafka's syslog levels → ours.  Runs in librdkafka's threads. */
static void kc_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        log_level_t l = level <= 3   ? LOG_ERROR
                        : level == 4 ? LOG_WARN
                        : level <= 6 ? LOG_INFO
                                     : LOG_DEBUG;
        /* A connection refused for its credentials or certificate is
         * logged by every retry, with timings that defeat librdkafka's own
         * suppression: kc_access reports it (error_cb) once, with backoff. */
        if (l > LOG_DEBUG &&
            (!strcmp(fac, "FAIL") || !strcmp(fac, "ERROR") || !strcmp(fac, "FATAL") ||
             !strcmp(fac, "TXNERR")) &&
            (strstr(buf, "uthentication") || strstr(buf, "uthorization") ||
             strstr(buf, "SSL handshake") || strstr(buf, "certificate")))
                l = LOG_DEBUG;
        const char *fields[] = {"client", rd_kafka_name(rk), "fac", fac, NULL};
        log_write(l, KC_LOG, fields, "%s", buf);
}

void kc_fatal_taken(kc_t *kc, rd_kafka_resp_err_t err, const char *why) {
        if (atomic_exchange(&kc->fatal_librdkafka, 1))
                return;
        metrics_inc(metrics_child(kc->f_errors, rd_kafka_err2name(err)), 1);
        /* e.g. TRANSACTIONAL_ID_AUTHORIZATION_FAILED: fatal for this
         * producer (kc_txn re-creates it), but a refusal all the same. */
        kc_access_refused(kc, err, NULL, NULL,
                          err == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED ? kc->tid
                                                                                         : NULL,
                          why);
        kc_set_fatal(kc, "%s: %s", rd_kafka_err2name(err), why);
}

static void kc_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        kc_t *kc = opaque;
        rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;
        if (e == RD_KAFKA_RESP_ERR__FATAL) {
                char why[512];
                rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
                kc_fatal_taken(kc, orig, why);
                return;
        }
        metrics_inc(metrics_child(kc->f_errors, rd_kafka_err2name(e)), 1);
        /* The broker refusing our certificate (unknown CA, expired,
         * revoked) ends the handshake with a TLS alert, which librdkafka
         * reports as a transport error: "SSL alert number 46". */
        if (e == RD_KAFKA_RESP_ERR__TRANSPORT && reason && strstr(reason, "SSL alert"))
                e = RD_KAFKA_RESP_ERR__SSL;
        if (kc_refusal_kind(e) != KC_REFUSED_NONE) {
                kc_access_refused(kc, e, NULL, NULL, NULL, reason);
                if (kc->type == RD_KAFKA_PRODUCER && kc->ready_cond >= 0 &&
                    kc_refusal_kind(e) == KC_REFUSED_AUTH)
                        admin_ready_set(kc->admin, kc->ready_cond, 0);
                return;
        }
        /* Everything else is transient: librdkafka retries by itself. */
        const char *fields[] = {"client", rd_kafka_name(rk), "error", rd_kafka_err2name(e), NULL};
        /* All brokers down because none lets us in: the refusal said it. */
        int quiet = e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN &&
                    atomic_load(&kc->refused) == KC_REFUSED_AUTH;
        log_write(quiet ? LOG_DEBUG : LOG_WARN, KC_LOG, fields, "%s", reason);
        if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && kc->type == RD_KAFKA_PRODUCER &&
            kc->ready_cond >= 0)
                admin_ready_set(kc->admin, kc->ready_cond, 0);
}

static int kc_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
        kc_t *kc = opaque;
        char err[256];
        int up = kc_stats_apply(kc->stats, json, len, err, sizeof(err));
        if (up < 0)
                log_warn(KC_LOG, "%s: statistics: %s", rd_kafka_name(rk), err);
        else if (kc->type == RD_KAFKA_PRODUCER && kc->ready_cond >= 0)
                admin_ready_set(kc->admin, kc->ready_cond, up > 0);
        /* A broker UP has authenticated this client; an idempotent
         * producer with a producer id was let in by the cluster. */
        if (up > 0)
                kc_access_ok(kc, KC_REFUSED_AUTH);
        if (up >= 0 && kc_stats_has_pid(kc->stats))
                kc_access_ok_err(kc, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
        kc_access_tick(kc);
        return 0; /* librdkafka frees json */
}

static void kc_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        kc_t *kc = opaque;
        if (!m->err) {
                atomic_fetch_add(&kc->dr_ok, 1);
                metrics_inc(kc->m_delivered, 1);
                kc_access_ok(kc, KC_REFUSED_NONE);
        } else if (kc_refusal_kind(m->err) != KC_REFUSED_NONE) {
                atomic_fetch_add(&kc->dr_failed, 1);
                metrics_inc(kc->m_failed, 1);
                kc_access_refused(kc, m->err, "WRITE", "topic", rd_kafka_topic_name(m->rkt),
                                  rd_kafka_err2str(m->err));
        } else if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                   m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
                /* An aborted transaction or kc_destroy(): expected, not a
                 * broker failure. */
                atomic_fetch_add(&kc->dr_failed, 1);
                metrics_inc(kc->m_purged, 1);
        } else {
                atomic_fetch_add(&kc->dr_failed, 1);
                metrics_inc(kc->m_failed, 1);
                /* One line a second at most: a broker outage fails every
                 * queued message at once. */
                int64_t now = clk_mono_ms();
                if (now >= atomic_load(&kc->dr_log_next_ms)) {
                        atomic_store(&kc->dr_log_next_ms, now + 1000);
                        long long more = atomic_exchange(&kc->dr_log_suppressed, 0);
                        const char *fields[] = {"client", rd_kafka_name(rk),
                                                "topic",  rd_kafka_topic_name(m->rkt),
                                                "error",  rd_kafka_err2name(m->err),
                                                NULL};
                        log_write(LOG_WARN, KC_LOG, fields,
                                  "delivery failed: %s (%lld similar lines suppressed)",
                                  rd_kafka_err2str(m->err), more);
                } else {
                        atomic_fetch_add(&kc->dr_log_suppressed, 1);
                }
        }
        kc_dr_t *dr = m->_private;
        if (dr)
                dr->cb(dr, m);
}

/* kc->assigned loses `parts`, or everything (NULL). */
static void kc_assigned_del(kc_t *kc, const rd_kafka_topic_partition_list_t *parts) {
        if (!parts) {
                while (kc->assigned->cnt > 0)
                        rd_kafka_topic_partition_list_del_by_idx(kc->assigned, 0);
                return;
        }
        for (int i = 0; i < parts->cnt; i++)
                rd_kafka_topic_partition_list_del(kc->assigned, parts->elems[i].topic,
                                                  parts->elems[i].partition);
}

/* kc->assigned gains `parts` (cooperative), or becomes them (eager). */
static void kc_assigned_add(kc_t *kc, const rd_kafka_topic_partition_list_t *parts,
                            int cooperative) {
        if (!cooperative)
                kc_assigned_del(kc, NULL);
        for (int i = 0; i < parts->cnt; i++)
                if (!rd_kafka_topic_partition_list_find(kc->assigned, parts->elems[i].topic,
                                                        parts->elems[i].partition))
                        rd_kafka_topic_partition_list_add(kc->assigned, parts->elems[i].topic,
                                                          parts->elems[i].partition);
}

/* Incremental (cooperative) or whole (eager) assignment changes; the hooks
 * run before the change so revoked partitions can still be committed. */
static void kc_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque) {
        kc_t *kc = opaque;
        int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        rd_kafka_error_t *error = NULL;
        rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
        char list[512];
        kc_parts_str(parts, list, sizeof(list));

        switch (err) {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
                kc->synced = 1;
                log_info(KC_LOG, "%s: %d partition(s) assigned (%s): %s", rd_kafka_name(rk),
                         parts->cnt, cooperative ? "incremental" : "eager", list);
                /* Any assignment, even an empty one (more members than
                 * partitions), means the group let us in. */
                if (parts->cnt > 0)
                        kc_access_ok(kc, KC_REFUSED_NONE);
                else
                        kc_access_ok_err(kc, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
                if (kc->hooks.assigned)
                        kc->hooks.assigned(kc, parts, kc->hooks.opaque);
                if (cooperative)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        rerr = rd_kafka_assign(rk, parts);
                kc_assigned_add(kc, parts, cooperative);
                if (kc->ready_cond >= 0) {
                        /* Cooperative: a member that joins while others
                         * still own the partitions gets nothing first and
                         * its share one rebalance later (~1 s); ready only
                         * then, or once nothing came for a while (more
                         * members than partitions). */
                        if (cooperative && kc->assigned->cnt == 0)
                                admin_ready_set_after(kc->admin, kc->ready_cond,
                                                      KC_EMPTY_ASSIGNMENT_READY_MS);
                        else
                                admin_ready_set(kc->admin, kc->ready_cond, 1);
                }
                break;

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: {
                int lost = rd_kafka_assignment_lost(rk);
                log_info(KC_LOG, "%s: %d partition(s) %s (%s): %s", rd_kafka_name(rk), parts->cnt,
                         lost ? "lost" : "revoked", cooperative ? "incremental" : "eager", list);
                if (kc->hooks.revoked)
                        kc->hooks.revoked(kc, parts, lost, kc->hooks.opaque);
                if (cooperative)
                        error = rd_kafka_incremental_unassign(rk, parts);
                else
                        rerr = rd_kafka_assign(rk, NULL);
                kc_assigned_del(kc, cooperative ? parts : NULL);
                /* Lost: no longer a member until the next assignment. */
                if (lost && kc->ready_cond >= 0)
                        admin_ready_set(kc->admin, kc->ready_cond, 0);
                break;
        }

        default:
                log_error(KC_LOG, "%s: rebalance failed: %s", rd_kafka_name(rk),
                          rd_kafka_err2str(err));
                rerr = rd_kafka_assign(rk, NULL);
                kc_assigned_del(kc, NULL);
                break;
        }

        if (error) {
                kc_set_fatal(kc, "%s failed: %s",
                             err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "incremental assign"
                                                                         : "incremental unassign",
                             rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else if (rerr) {
                kc_set_fatal(kc, "assign failed: %s", rd_kafka_err2str(rerr));
        }
        kc_stats_set_assigned(kc->stats, kc->assigned->cnt);
}

void kc_cb_set(rd_kafka_conf_t *conf, kc_t *kc) {
        rd_kafka_conf_set_opaque(conf, kc);
        rd_kafka_conf_set_log_cb(conf, kc_log_cb);
        rd_kafka_conf_set_error_cb(conf, kc_error_cb);
        rd_kafka_conf_set_stats_cb(conf, kc_stats_cb);
        if (kc->type == RD_KAFKA_PRODUCER)
                rd_kafka_conf_set_dr_msg_cb(conf, kc_dr_msg_cb);
        else
                rd_kafka_conf_set_rebalance_cb(conf, kc_rebalance_cb);
}
