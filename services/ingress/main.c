/* weir-ingress — HTTP (Confluent REST Proxy v2 produce, NDJSON bulk) to
 * Kafka, answering 2xx only for records Kafka acknowledged.
 *
 * main() wires the pieces: svc_init() (spec, schemas, wire format, Schema
 * Registry, admin server, SIGTERM), ig_conf (HTTP_*, INGRESS_*), the topics
 * accepted (the spec's input topic, plus INGRESS_TOPICS), the idempotent
 * producer with its polling thread, the HTTP server (ig_http), and the
 * shutdown: stop accepting, let in-flight requests finish, flush, exit 0.
 * docs/ingress.md is the user's documentation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "ig_auth.h"
#include "ig_conf.h"
#include "ig_fast.h"
#include "ig_http.h"
#include "kc.h"
#include "log.h"
#include "svc.h"

#define MAIN_LOG   "main"
#define MAX_TOPICS 32

/* The topics ingress writes: the spec's input topic with its schema and key
 * field, then INGRESS_TOPICS="topic=Full.Name[:key_field],...". */
static int load_topics(svc_t *svc, const ig_conf_t *c, ig_topic_t *t, size_t *n, char **names,
                       char *errstr, size_t errstr_size) {
        char err[512];
        *n = 0;
        t[0].name = svc->spec->input.topic;
        t[0].schema = svc->input_schema;
        t[0].key_field = svc->spec->input.key;
        *n = 1;
        if (c->topics) {
                *names = strdup(c->topics);
                if (!*names) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                char *save = NULL;
                for (char *tok = strtok_r(*names, ",", &save); tok;
                     tok = strtok_r(NULL, ",", &save)) {
                        while (*tok == ' ')
                                tok++;
                        char *eq = strchr(tok, '=');
                        if (!eq || eq == tok || !eq[1] || *n == MAX_TOPICS) {
                                snprintf(errstr, errstr_size,
                                         "INGRESS_TOPICS=\"%s\": expected "
                                         "topic=Schema.FullName[:key_field],... (at most %d)",
                                         c->topics, MAX_TOPICS);
                                return -1;
                        }
                        *eq = '\0';
                        char *kf = strchr(eq + 1, ':');
                        if (kf)
                                *kf++ = '\0';
                        const av_schema_t *s = svc_schema(svc, eq + 1, err, sizeof(err));
                        if (!s) {
                                snprintf(errstr, errstr_size, "INGRESS_TOPICS: %s", err);
                                return -1;
                        }
                        t[*n].name = tok;
                        t[*n].schema = s;
                        t[*n].key_field = kf && *kf ? kf : NULL;
                        (*n)++;
                }
        }
        for (size_t i = 0; i < *n; i++) {
                t[i].wire = svc->wire;
                if (svc_schema_id(svc, t[i].name, t[i].schema, &t[i].schema_id, err, sizeof(err)) !=
                    ST_OK) {
                        snprintf(errstr, errstr_size, "topic %s: %s", t[i].name, err);
                        return -1;
                }
                /* NULL (schema not flat): every body takes the general path */
                t[i].fast = ig_fast_compile(&t[i]);
        }
        return 0;
}

typedef struct {
        const kc_opts_t *opts;
        char *err;
        size_t err_size;
} renew_ctx_t;

/* ig_server_swap_kc()'s callback: nobody uses `old` any more. */
static kc_t *renew_producer(kc_t *old, void *opaque) {
        renew_ctx_t *c = opaque;
        kc_t *kc = kc_renew(old, c->opts, c->err, c->err_size);
        if (!kc)
                log_error(MAIN_LOG, "re-creating the producer: %s", c->err);
        return kc;
}

/* One metadata round trip: returns 1 when the broker answered.  Hands each
 * accepted topic's partition count to the server (records naming a
 * partition are checked against it) and warns, once per change, about a
 * topic whose partitions are unknown (absent, or not described to us: a
 * Describe ACL not granted yet); *unknown (unless NULL) counts those
 * topics.  quiet: only asks whether the cluster answers (while Kafka
 * refuses a topic), changing and logging nothing. */
static int check_metadata(kc_t *kc, ig_server_t *srv, const ig_topic_t *t, size_t n,
                          int32_t *nparts, int quiet, size_t *unknown) {
        const struct rd_kafka_metadata *md = NULL;
        size_t missing = 0;
        if (rd_kafka_metadata(kc_rk(kc), 1, NULL, &md, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return 0;
        int ok = md->broker_cnt > 0;
        for (size_t i = 0; ok && !quiet && i < n; i++) {
                int32_t cnt = 0;
                rd_kafka_resp_err_t terr = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
                for (int j = 0; j < md->topic_cnt; j++) {
                        if (strcmp(md->topics[j].topic, t[i].name) != 0)
                                continue;
                        terr = md->topics[j].err;
                        if (!terr)
                                cnt = md->topics[j].partition_cnt;
                }
                missing += cnt == 0;
                if (cnt != nparts[i]) {
                        if (cnt == 0 && terr == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
                                log_warn(MAIN_LOG,
                                         "topic %s: not authorized to describe it (yet): its "
                                         "records will fail until Kafka grants it",
                                         t[i].name);
                        else if (cnt == 0 && terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                                log_warn(MAIN_LOG,
                                         "topic %s does not exist (yet): its records will fail "
                                         "until it is created",
                                         t[i].name);
                        else if (cnt == 0)
                                log_warn(MAIN_LOG, "topic %s: %s: its records will fail", t[i].name,
                                         rd_kafka_err2str(terr));
                        else
                                log_info(MAIN_LOG, "topic %s has %d partitions", t[i].name,
                                         (int)cnt);
                        nparts[i] = cnt;
                }
                ig_server_set_partitions(srv, i, cnt);
        }
        rd_kafka_metadata_destroy(md);
        if (unknown)
                *unknown = missing;
        return ok;
}

int main(void) {
        char err[1024];
        svc_t svc;
        if (svc_init(&svc, "ingress", SPEC_PART_INPUT, err, sizeof(err)) != 0)
                return svc_fail("ingress", err);
        int rc = 1;
        ig_conf_t conf;
        ig_auth_t *auth = NULL;
        kc_t *kc = NULL;
        ig_server_t *srv = NULL;
        char *topic_names = NULL;
        ig_topic_t topics[MAX_TOPICS] = {{0}};
        int32_t nparts[MAX_TOPICS];
        memset(nparts, 0xff, sizeof(nparts)); /* -1: nothing logged yet */
        size_t ntopics = 0;
        if (ig_conf_load(&conf, err, sizeof(err)) != 0)
                goto out;
        if (conf.tokens_file) {
                auth = ig_auth_load(conf.tokens_file, err, sizeof(err));
                if (!auth)
                        goto out;
                log_info(MAIN_LOG, "bearer-token authentication on (%zu tokens)",
                         ig_auth_count(auth));
        }
        if (load_topics(&svc, &conf, topics, &ntopics, &topic_names, err, sizeof(err)) != 0)
                goto out;

        char timeout[32];
        snprintf(timeout, sizeof(timeout), "%lld", (long long)conf.produce_timeout_ms);
        /* A request's records are enqueued together and its answer waits
         * for their acknowledgement: 1 ms of linger (Weir's default is 5)
         * still gathers concurrent requests into a batch, and takes 4 ms
         * off every request's latency and off the end-to-end latency. */
        const char *props[] = {"message.timeout.ms", timeout, "linger.ms", "1", NULL};
        kc_opts_t ko = {.stage = "ingress", .props = props, .admin = svc.admin};
        kc = kc_producer_new(&ko, err, sizeof(err));
        if (!kc)
                goto out;
        /* Their metadata now, not on the first request (kc_topics_warm). */
        for (size_t i = 0; i < ntopics; i++) {
                const char *one[] = {topics[i].name, NULL};
                if (kc_topics_warm(kc, one, err, sizeof(err)) != 0)
                        goto out;
        }
        char qmax[32];
        size_t qsz = sizeof(qmax);
        if (rd_kafka_conf_get(rd_kafka_conf(kc_rk(kc)), "queue.buffering.max.messages", qmax,
                              &qsz) != RD_KAFKA_CONF_OK)
                snprintf(qmax, sizeof(qmax), "100000");
        size_t queue_max = (size_t)strtoull(qmax, NULL, 10);
        if (conf.max_records > queue_max) {
                snprintf(err, sizeof(err),
                         "INGRESS_MAX_RECORDS=%zu exceeds the producer queue "
                         "(queue.buffering.max.messages=%zu, KAFKA_QUEUE_BUFFERING_MAX_MESSAGES): "
                         "such a request could never be accepted",
                         conf.max_records, queue_max);
                goto out;
        }
        /* librdkafka refuses a record over message.max.bytes (key, value and
         * headers) when it is produced, after its request's earlier records
         * were queued: ingress refuses such a record with its request
         * instead.  The margin covers the traceparent header. */
        char mmax[32];
        size_t msz = sizeof(mmax);
        if (rd_kafka_conf_get(rd_kafka_conf(kc_rk(kc)), "message.max.bytes", mmax, &msz) !=
            RD_KAFKA_CONF_OK)
                snprintf(mmax, sizeof(mmax), "1000000");
        size_t max_record = (size_t)strtoull(mmax, NULL, 10);
        max_record = max_record > 1024 ? max_record - 512 : max_record / 2;
        /* And a queue full of bytes part-way through a request would write
         * its first records only: the byte budget (plus one request alone,
         * which may pass it) must fit librdkafka's queue. */
        char kbmax[32];
        size_t kbsz = sizeof(kbmax);
        if (rd_kafka_conf_get(rd_kafka_conf(kc_rk(kc)), "queue.buffering.max.kbytes", kbmax,
                              &kbsz) != RD_KAFKA_CONF_OK)
                snprintf(kbmax, sizeof(kbmax), "1048576");
        uint64_t queue_bytes = (uint64_t)strtoull(kbmax, NULL, 10) * 1024;
        if ((uint64_t)conf.inflight_bytes + conf.max_body > queue_bytes) {
                snprintf(err, sizeof(err),
                         "INGRESS_INFLIGHT_BYTES (%lld) + INGRESS_MAX_BODY_BYTES (%zu) exceed the "
                         "producer queue (queue.buffering.max.kbytes=%s, "
                         "KAFKA_QUEUE_BUFFERING_MAX_KBYTES): a request could be written in part",
                         (long long)conf.inflight_bytes, conf.max_body, kbmax);
                goto out;
        }
        if (kc_poll_start(kc, err, sizeof(err)) != 0)
                goto out;
        int ready_md = admin_ready_condition(svc.admin, "broker metadata");

        ig_server_opts_t so = {
                .conf = &conf,
                .kc = kc,
                .topics = topics,
                .ntopics = ntopics,
                .auth = auth,
                .lookup = svc.sr ? sr_lookup_cb : NULL,
                .lookup_opaque = svc.sr,
                .queue_max_records = queue_max,
                .max_record_bytes = max_record,
        };
        srv = ig_server_start(&so, err, sizeof(err));
        if (!srv)
                goto out;
        for (size_t i = 0; i < ntopics; i++)
                log_info(MAIN_LOG, "accepting topic %s as %s (%s%s%s%s)", topics[i].name,
                         av_schema_name(topics[i].schema), av_wire_name(topics[i].wire),
                         topics[i].fast ? ", direct JSON path" : "",
                         topics[i].key_field ? ", key field " : "",
                         topics[i].key_field ? topics[i].key_field : "");

        int have_md = 0;
        int64_t next_md = 0, last_md = 0, next_renew = 0, md_retry = 1000;
        int renewals = 0;
        renew_ctx_t rn = {&ko, err, sizeof(err)};
        admin_beat_t *beat = admin_beat_new(svc.admin, "ingress main");
        svc_started(&svc);
        while (!atomic_load(&svc.stop)) {
                admin_beat(beat);
                ig_server_gauges(srv);
                if (kc_fatal(kc, err, sizeof(err))) {
                        /* Refused (a missing ACL): an operator fixes that
                         * without restarting us; anything else is the end. */
                        if (!kc_refused(kc, NULL, 0))
                                goto out;
                        if (clk_mono_ms() >= next_renew) {
                                kc = ig_server_swap_kc(srv, renew_producer, &rn);
                                int64_t wait = 1000LL << (renewals < 5 ? renewals : 5);
                                next_renew = clk_mono_ms() + (wait > 30000 ? 30000 : wait);
                                renewals++;
                        }
                } else if (kc_refused(kc, NULL, 0) == 2) {
                        /* Denied a topic: a pod out of the load balancer's
                         * rotation gets no request to find out it may write
                         * again, so ask the cluster (the ACL that grants
                         * Write grants Describe). */
                        if (clk_mono_ms() >= next_renew) {
                                if (check_metadata(kc, srv, topics, ntopics, nparts, 1, NULL)) {
                                        kc_refusal_end(kc);
                                        next_md = 0; /* partitions, now described */
                                }
                                next_renew = clk_mono_ms() + 5000;
                        }
                } else {
                        renewals = 0;
                }
                /* Every second until the broker answers; then, while a
                 * topic's partitions are unknown (created late, or its
                 * Describe ACL applied late), after 1, 2, 4 ... 30 s; then
                 * every 30 s (partitions added to a topic); or at once when
                 * a request named a partition past the count known. */
                int64_t now_ms = clk_mono_ms();
                if (now_ms >= next_md ||
                    (now_ms - last_md >= 1000 && ig_server_want_metadata(srv))) {
                        last_md = now_ms;
                        size_t unknown = 0;
                        int got = check_metadata(kc, srv, topics, ntopics, nparts, 0, &unknown);
                        if (got && !have_md)
                                log_info(MAIN_LOG, "broker metadata received: ready");
                        if (got || !have_md)
                                admin_ready_set(svc.admin, ready_md, got || have_md);
                        have_md = have_md || got;
                        int64_t wait = 30000;
                        if (!have_md) {
                                wait = 1000;
                        } else if (!got || unknown) {
                                wait = md_retry;
                                md_retry = md_retry * 2 > 30000 ? 30000 : md_retry * 2;
                        } else {
                                md_retry = 1000;
                        }
                        next_md = clk_mono_ms() + wait;
                }
                clk_sleep_ms(200);
        }

        /* SIGTERM: no new connections; open requests finish (their records
         * are delivered or fail by message.timeout.ms), then flush. */
        log_info(MAIN_LOG, "stopping: %zu requests in flight", ig_server_active(srv));
        admin_ready_set(svc.admin, ready_md, 0);
        ig_server_quiesce(srv);
        int64_t deadline = clk_mono_ms() + conf.shutdown_grace_ms;
        int64_t next_note = clk_mono_ms() + 5000;
        while (ig_server_active(srv) > 0 && clk_mono_ms() < deadline) {
                admin_beat(beat);
                clk_sleep_ms(50);
                if (clk_mono_ms() >= next_note) {
                        /* What holds the drain: records at Kafka, or
                         * requests whose clients are still sending. */
                        log_info(MAIN_LOG, "stopping: %zu requests in flight, %zu records at Kafka",
                                 ig_server_active(srv), ig_server_inflight_records(srv));
                        next_note += 5000;
                }
        }
        admin_beat_end(beat); /* the flush below may take the rest of the grace */
        int64_t left = deadline - clk_mono_ms();
        rd_kafka_flush(kc_rk(kc), left > 0 ? (int)left : 0);
        if (ig_server_active(srv) > 0) {
                /* Out of time: fail what is left so every request waiting
                 * on Kafka is answered (5xx, never a 2xx for an
                 * unacknowledged record); one still arriving is cut. */
                log_warn(MAIN_LOG,
                         "grace period over: %zu requests unanswered; purging %d undelivered "
                         "records",
                         ig_server_active(srv), rd_kafka_outq_len(kc_rk(kc)));
                rd_kafka_purge(kc_rk(kc), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                int64_t until = clk_mono_ms() + 5000;
                while (ig_server_inflight_records(srv) > 0 && clk_mono_ms() < until)
                        clk_sleep_ms(20);
                /* Their 503s are queued: let them go out while the count
                 * still falls (what stays was never going to finish). */
                size_t was = SIZE_MAX, active;
                while ((active = ig_server_active(srv)) > 0 && active < was &&
                       clk_mono_ms() < until + 1000) {
                        was = active;
                        clk_sleep_ms(50);
                }
        }
        rc = 0;
out:
        if (rc != 0)
                log_error(MAIN_LOG, "%s", err);
        ig_server_stop(srv);
        kc_destroy(kc);
        ig_auth_destroy(auth);
        for (size_t i = 0; i < ntopics; i++)
                ig_fast_destroy((ig_fast_t *)topics[i].fast);
        free(topic_names);
        if (rc != 0) {
                svc_fail("ingress", err);
                svc_fini(&svc);
                return 1;
        }
        log_info(MAIN_LOG, "stopped");
        svc_fini(&svc);
        return 0;
}
