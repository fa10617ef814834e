/* cl — the changelog topic: creation at start-up and restore (see cl.h).
 * Producing dirty state is the worker's (wk.c: early in a transaction and
 * in pre_commit), through kc_txn_produce_state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl.h"
#include "clk.h"
#include "fw.h"
#include "log.h"

#define CL_LOG "changelog"

/* Partition count of `topic`: > 0, 0 when it does not exist, -1 on error. */
static int cl_partitions(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        if (!rkt) {
                snprintf(errstr, errstr_size, "topic %s: %s", topic,
                         rd_kafka_err2str(rd_kafka_last_error()));
                return -1;
        }
        int n = -1;
        /* A fresh broker may answer LEADER_NOT_AVAILABLE for a moment. */
        for (int attempt = 0; attempt < 20 && n < 0; attempt++) {
                const struct rd_kafka_metadata *md = NULL;
                rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
                if (err) {
                        snprintf(errstr, errstr_size, "metadata of %s: %s", topic,
                                 rd_kafka_err2str(err));
                } else if (md->topic_cnt != 1) {
                        snprintf(errstr, errstr_size, "metadata of %s: no answer", topic);
                } else if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                        n = 0;
                } else if (md->topics[0].err) {
                        snprintf(errstr, errstr_size, "metadata of %s: %s", topic,
                                 rd_kafka_err2str(md->topics[0].err));
                } else {
                        n = md->topics[0].partition_cnt;
                }
                if (md)
                        rd_kafka_metadata_destroy(md);
                if (n < 0)
                        clk_sleep_ms(250);
        }
        rd_kafka_topic_destroy(rkt);
        return n;
}

/* The changelog's configs when compute creates it.  Every key's record
 * holds its open windows AND its EWMA baselines and rule state, which
 * must outlive any time limit: so `compact` alone, not Kafka Streams'
 * windowed-store `compact,delete` (retention.ms would drop the baseline of
 * a key whose last record is older).  What the defaults change is how
 * much a restore reads: the broker only compacts closed segments, and
 * with its 7-day segment.ms every state version of a week stays in the
 * active segment (bench-e2e: 464k records restored, 0.66-0.79 s, after
 * some minutes of 100 ms windows).
 * - segment.ms 10 s: the active segment holds at most 10 s of state
 *   writes.  Small segments cost nothing lasting: the cleaner merges
 *   cleaned segments up to segment.bytes (files stay bounded, counted in
 *   test_compute's changelog test).  The broker accepts any value >= 1.
 * - min.cleanable.dirty.ratio 0.1 (broker 0.5): a clean runs when a tenth
 *   of the log is uncompacted, so a restore reads at most ~1.1x the live
 *   keys plus the active segment; each clean rewrites the log, which for
 *   a changelog of a few MB (200 B a key) is nothing.  A changelog of
 *   gigabytes may want 0.5 (CHANGELOG_TOPIC_CONFIG).
 * - delete.retention.ms 1 h (broker 24 h): how long a tombstone (a key
 *   forgotten by compute.key_ttl) and transaction markers outlive the
 *   compaction of the value they delete.  It must exceed the slowest
 *   restore: a restore that read the value before a clean dropped the
 *   value-tombstone pair, and reaches that offset after, never sees the
 *   tombstone and resurrects the key.  Restores take seconds (at most
 *   CHANGELOG_STABLE_TIMEOUT's 30 s more): 1 h is a wide margin; never
 *   seconds.
 * - min.compaction.lag.ms 0 (the broker's default, stated so a broker
 *   whose log.cleaner.min.compaction.lag.ms is higher does not keep the
 *   versions anyway).
 * segment.bytes stays the broker's: segment.ms rolls first at any rate a
 * changelog sees. */
static const char *const cl_topic_defaults[] = {"cleanup.policy",
                                                "compact",
                                                "segment.ms",
                                                "10000",
                                                "min.cleanable.dirty.ratio",
                                                "0.1",
                                                "delete.retention.ms",
                                                "3600000",
                                                "min.compaction.lag.ms",
                                                "0",
                                                NULL};

static char *cl_trim(char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        char *e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                *--e = '\0';
        return s;
}

/* Sets name=value in tc, replacing an earlier value of name. */
static int cl_topic_conf_set(cl_topic_conf_t *tc, const char *name, const char *value, char *errstr,
                             size_t errstr_size) {
        for (int i = 0; i < tc->n; i++)
                if (!strcmp(tc->kv[2 * i], name)) {
                        tc->kv[2 * i + 1] = value;
                        return 0;
                }
        if (tc->n == CL_TOPIC_CONFIG_MAX) {
                snprintf(errstr, errstr_size, "CHANGELOG_TOPIC_CONFIG: more than %d configs",
                         CL_TOPIC_CONFIG_MAX);
                return -1;
        }
        tc->kv[2 * tc->n] = name;
        tc->kv[2 * tc->n + 1] = value;
        tc->n++;
        tc->kv[2 * tc->n] = NULL;
        return 0;
}

int cl_topic_conf_init(cl_topic_conf_t *tc, const char *overrides, char *errstr,
                       size_t errstr_size) {
        memset(tc, 0, sizeof(*tc));
        for (int i = 0; cl_topic_defaults[i]; i += 2)
                if (cl_topic_conf_set(tc, cl_topic_defaults[i], cl_topic_defaults[i + 1], errstr,
                                      errstr_size) == -1)
                        return -1;
        if (!overrides)
                return 0;
        if (strlen(overrides) >= sizeof(tc->buf)) {
                snprintf(errstr, errstr_size, "CHANGELOG_TOPIC_CONFIG: longer than %zu bytes",
                         sizeof(tc->buf) - 1);
                return -1;
        }
        snprintf(tc->buf, sizeof(tc->buf), "%s", overrides);
        char *save = NULL;
        for (char *item = strtok_r(tc->buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(item, '=');
                char *name = eq ? (*eq = '\0', cl_trim(item)) : NULL;
                char *value = eq ? cl_trim(eq + 1) : NULL;
                if (!eq && !*cl_trim(item))
                        continue; /* "a=1,,b=2" or a trailing comma */
                if (!eq || !*name || !*value) {
                        snprintf(errstr, errstr_size,
                                 "CHANGELOG_TOPIC_CONFIG: \"%s\" is not name=value (e.g. "
                                 "\"segment.ms=60000,min.cleanable.dirty.ratio=0.5\")",
                                 eq ? (*eq = '=', item) : item);
                        return -1;
                }
                if (cl_topic_conf_set(tc, name, value, errstr, errstr_size) == -1)
                        return -1;
        }
        return 0;
}

static int cl_create(rd_kafka_t *rk, const char *topic, const cl_topic_conf_t *tc, int partitions,
                     char *errstr, size_t errstr_size) {
        char e[256];
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, e, sizeof(e));
        if (!nt) {
                snprintf(errstr, errstr_size, "changelog %s: %s", topic, e);
                return -1;
        }
        char configs[1024] = "";
        size_t used = 0;
        for (int i = 0; i < tc->n; i++) {
                rd_kafka_resp_err_t err =
                        rd_kafka_NewTopic_set_config(nt, tc->kv[2 * i], tc->kv[2 * i + 1]);
                if (err) {
                        snprintf(errstr, errstr_size, "changelog %s: config %s=%s: %s", topic,
                                 tc->kv[2 * i], tc->kv[2 * i + 1], rd_kafka_err2str(err));
                        rd_kafka_NewTopic_destroy(nt);
                        return -1;
                }
                int w = snprintf(configs + used, sizeof(configs) - used, "%s%s=%s", i ? ", " : "",
                                 tc->kv[2 * i], tc->kv[2 * i + 1]);
                if (w > 0 && (size_t)w < sizeof(configs) - used)
                        used += (size_t)w;
        }
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opt =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, e, sizeof(e));
        rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
        int rc = -1;
        if (!ev) {
                snprintf(errstr, errstr_size, "creating changelog %s: no answer in 60 s", topic);
        } else if (rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "creating changelog %s: %s", topic,
                         rd_kafka_event_error_string(ev));
        } else {
                size_t cnt = 0;
                const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
                        rd_kafka_event_CreateTopics_result(ev), &cnt);
                rd_kafka_resp_err_t err =
                        cnt == 1 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
                if (!err || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        /* Another instance may have won the race: fine. */
                        rc = 0;
                        if (err)
                                log_info(CL_LOG,
                                         "changelog topic %s created by another instance "
                                         "(%d partitions)",
                                         topic, partitions);
                        else
                                log_info(CL_LOG, "changelog topic %s created (%d partitions, %s)",
                                         topic, partitions, configs);
                } else {
                        const char *msg =
                                cnt == 1 ? rd_kafka_topic_result_error_string(res[0]) : NULL;
                        snprintf(errstr, errstr_size, "creating changelog %s: %s", topic,
                                 msg ? msg : rd_kafka_err2str(err));
                }
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opt);
        rd_kafka_queue_destroy(q);
        rd_kafka_NewTopic_destroy(nt);
        return rc;
}

int cl_ensure_topic(kc_t *kc, const char *input_topic, const char *topic, const cl_topic_conf_t *tc,
                    int *input_partitions, int *changelog_partitions, char *errstr,
                    size_t errstr_size) {
        rd_kafka_t *rk = kc_rk(kc);
        int in = cl_partitions(rk, input_topic, errstr, errstr_size);
        if (in < 0)
                return -1;
        if (in == 0) {
                snprintf(errstr, errstr_size, "input topic %s does not exist (create it first)",
                         input_topic);
                return -1;
        }
        *input_partitions = in;
        int n = cl_partitions(rk, topic, errstr, errstr_size);
        if (n < 0)
                return -1;
        *changelog_partitions = n ? n : in;
        if (n == 0)
                return cl_create(rk, topic, tc, in, errstr, errstr_size);
        if (n < in) {
                snprintf(errstr, errstr_size,
                         "changelog topic %s has %d partitions, fewer than the %d of input topic "
                         "%s: partition p of the changelog holds input partition p's state "
                         "(add partitions to it, or name a new changelog in the spec)",
                         topic, n, in, input_topic);
                return -1;
        }
        /* Its configs are the operator's now (docs/compute.md: kafka-configs.sh). */
        log_info(CL_LOG, "changelog topic %s exists (%d partitions, configs left as they are)",
                 topic, n);
        return 0;
}

/* ------------------------------------------------------------------ restore */

/* The consumer exists only while a restore runs: kept between restores
 * (rebalances, aborts: rare) its threads, buffers and connections cost
 * every worker memory for nothing.  Except the first one, which
 * cl_reader_new() creates at once: it connects and looks the changelog up
 * while the worker's group join runs, and the restore at start-up — the
 * one /readyz waits for — begins with a client that is ready.  (A worker
 * that is never assigned a partition keeps that client until it stops.) */
struct cl_reader_s {
        char *stage, *group, *topic;
        int64_t stable_timeout_ms;
        kc_t *warm;               /* for the first restore; NULL after it */
        rd_kafka_topic_t *wtopic; /* warm's handle of the topic: its leader query */
};

/* EOF events say where the fetcher reached the end; no statistics: this
 * consumer's lag is not the service's.  The queue is as short as the
 * workers' (wk.c), with fw waking the fetcher, so a restore of a large
 * changelog does not hold megabytes of records it has not read yet; but
 * fetches of 256 KiB instead of their 64 KiB (up to four times the
 * records queued at once, at ~390 B of librdkafka structure each): a
 * restore is a sequence of fetch round trips, and 8,800 state records took
 * 30-36 ms instead of 35-51.  The EOF comes from the first fetch that finds
 * nothing more, which the broker holds for fetch.wait.max.ms (500 ms by
 * default) first: 2 ms, as this consumer lives only while it restores. */
static const char *const cl_props[] = {
        "enable.partition.eof",
        "true",
        "statistics.interval.ms",
        "0",
        "fetch.wait.max.ms",
        "2",
        FW_PREFETCH_PROPS,
        /* After FW_PREFETCH_PROPS: these override its 64 KiB. */
        "max.partition.fetch.bytes",
        "262144",
        "fetch.max.bytes",
        "262144",
        NULL,
};

static void cl_opts(const cl_reader_t *r, kc_opts_t *o) {
        memset(o, 0, sizeof(*o));
        o->stage = r->stage;
        o->group_id = r->group;
        o->props = cl_props;
}

cl_reader_t *cl_reader_new(const char *stage, const char *group_id, const char *topic,
                           int64_t stable_timeout_ms, char *errstr, size_t errstr_size) {
        char group[512];
        snprintf(group, sizeof(group), "%s.restore", group_id);
        cl_reader_t *r = calloc(1, sizeof(*r));
        if (!r || !(r->topic = strdup(topic)) || !(r->stage = strdup(stage)) ||
            !(r->group = strdup(group))) {
                snprintf(errstr, errstr_size, "out of memory");
                cl_reader_destroy(r);
                return NULL;
        }
        r->stable_timeout_ms = stable_timeout_ms;
        /* A bad KAFKA_* setting stops start-up here rather than at the
         * first restore. */
        kc_opts_t o;
        cl_opts(r, &o);
        if (!(r->warm = kc_consumer_new(&o, errstr, errstr_size))) {
                cl_reader_destroy(r);
                return NULL;
        }
        r->wtopic = rd_kafka_topic_new(kc_rk(r->warm), r->topic, NULL); /* NULL: no matter */
        return r;
}

static void cl_reader_cool(cl_reader_t *r) {
        if (r->wtopic)
                rd_kafka_topic_destroy(r->wtopic);
        r->wtopic = NULL;
        kc_destroy(r->warm);
        r->warm = NULL;
}

void cl_reader_destroy(cl_reader_t *r) {
        if (!r)
                return;
        cl_reader_cool(r);
        free(r->topic);
        free(r->stage);
        free(r->group);
        free(r);
}

typedef struct {
        int32_t partition;
        int64_t eof_at; /* offset of the last EOF event since the last record, or -1 */
        int64_t pos;    /* position at the last empty poll */
        int done;
} cl_part_state_t;

static cl_part_state_t *cl_find(cl_part_state_t *st, size_t n, int32_t p) {
        for (size_t i = 0; i < n; i++)
                if (st[i].partition == p)
                        return &st[i];
        return NULL;
}

/* Where a restore's time goes, in ms from its start (-1: not reached).  A
 * restore is a handful of round trips; what makes one take seconds is a
 * librdkafka 2.0.2 timer between them, and which gap holds the time says
 * which: before `leaders` the client's connection or metadata, between
 * `leaders` and `first` the offset lookup (its 500 ms retry while the
 * partition has no broker thread yet), between `first` and `end` the
 * fetcher (its 1 s sleep at queued.min.messages, the fetch backoff after
 * an error: 500 ms), after `end` closing the consumer. */
typedef struct {
        int64_t leaders, first, end, closed;
        int64_t gap, gap_at; /* longest wait for a message after the first, and when it ended */
        long wakeups;        /* fw's fetch wake-ups */
} cl_phases_t;

static st_t cl_restore_with(cl_reader_t *r, rd_kafka_t *rk, fw_t *fw, const int32_t *parts,
                            size_t n, cl_record_cb cb, void *opaque, int64_t *records,
                            atomic_int *stop, admin_beat_t *beat, int64_t t0, cl_phases_t *ph,
                            char *errstr, size_t errstr_size);

/* How long a restore's poll waits for a message: what bounds the time
 * the loop takes to see that markers went by (cl_wake_after_markers). */
#define CL_POLL_MS 10

/* A restore longer than this is logged as a warning with its phases. */
#define CL_SLOW_MS 500

const char *cl_parts_str(char *buf, size_t size, const int32_t *parts, size_t n) {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < n && len + 16 < size; i++)
                len += (size_t)snprintf(buf + len, size - len, "%s%d", i ? "," : "", (int)parts[i]);
        return buf;
}

static void cl_log_phases(const cl_reader_t *r, const int32_t *parts, size_t n, int64_t records,
                          const cl_phases_t *ph) {
        char list[128];
        cl_parts_str(list, sizeof(list), parts, n);
        int slow = ph->closed >= CL_SLOW_MS;
        log_write(slow ? LOG_WARN : LOG_DEBUG, CL_LOG, NULL,
                  "changelog %s[%s] restore: %lld record(s) in %lld ms (leaders known at %lld "
                  "ms, first record or end at %lld, every partition at its end at %lld, "
                  "consumer closed at %lld; longest wait between two messages %lld ms, ending "
                  "at %lld; %ld fetch wake-up(s))%s",
                  r->topic, list, (long long)records, (long long)ph->closed, (long long)ph->leaders,
                  (long long)ph->first, (long long)ph->end, (long long)ph->closed,
                  (long long)ph->gap, (long long)ph->gap_at, ph->wakeups,
                  slow ? ": the time between two of these steps is a librdkafka timer "
                         "(docs/compute.md, restores)"
                       : "");
}

st_t cl_restore(cl_reader_t *r, const int32_t *parts, size_t n, cl_record_cb cb, void *opaque,
                int64_t *records, atomic_int *stop, admin_beat_t *beat, char *errstr,
                size_t errstr_size) {
        *records = 0;
        if (n == 0)
                return ST_OK;
        int64_t t0 = clk_mono_ms(); /* as wk_state's restore time: a new client included */
        kc_t *kc = r->warm;
        if (!kc) {
                kc_opts_t o;
                cl_opts(r, &o);
                if (!(kc = kc_consumer_new(&o, errstr, errstr_size)))
                        return ST_FATAL;
        }
        cl_phases_t ph = {-1, -1, -1, -1, 0, -1, 0};
        fw_t *fw = fw_new(kc_rk(kc), NULL, NULL, errstr, errstr_size);
        st_t rc = fw ? cl_restore_with(r, kc_rk(kc), fw, parts, n, cb, opaque, records, stop, beat,
                                       t0, &ph, errstr, errstr_size)
                     : ST_FATAL;
        if (fw)
                ph.wakeups = fw_wakeups(fw);
        fw_destroy(fw);
        if (kc == r->warm)
                cl_reader_cool(r);
        else
                kc_destroy(kc);
        ph.closed = clk_mono_ms() - t0;
        if (rc == ST_OK)
                cl_log_phases(r, parts, n, *records, &ph);
        return rc;
}

/* After a poll that returned nothing: a partition whose position moved
 * since the last such poll had transaction markers consumed, and the
 * fetcher may be asleep behind them.  A compacted changelog is mostly
 * markers (a commit leaves one per partition, kept delete.retention.ms
 * after the records it closed are compacted away: 2,407 markers and 51
 * records at the head of each partition after 4 minutes of commits).
 * librdkafka 2.0.2 queues each marker it fetches, counts it against
 * queued.min.messages and drops it inside rd_kafka_consumer_poll(): a
 * fetch of 1000 or more stopped the fetcher for its hard-coded second,
 * the poll drained them without returning, and fw_check() never saw a
 * record while the queue was high (restores of 204 records took
 * 1,014-2,018 ms, bench-e2e's 9,879 1.04-2.04 s).  So the position, which
 * markers move, says they went by, and fw wakes the fetcher; a restore
 * waiting for a transaction to close (position still) asks nothing. */
static void cl_wake_after_markers(const cl_reader_t *r, rd_kafka_t *rk, fw_t *fw,
                                  cl_part_state_t *st, size_t n,
                                  rd_kafka_topic_partition_list_t *pl) {
        if (rd_kafka_position(rk, pl) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return;
        for (int i = 0; i < pl->cnt; i++) {
                cl_part_state_t *ps = cl_find(st, n, pl->elems[i].partition);
                int64_t pos = pl->elems[i].offset;
                if (!ps || ps->done || pos < 0 || pos == ps->pos)
                        continue;
                ps->pos = pos;
                fw_wake(fw, r->topic, ps->partition);
        }
}

static st_t cl_restore_with(cl_reader_t *r, rd_kafka_t *rk, fw_t *fw, const int32_t *parts,
                            size_t n, cl_record_cb cb, void *opaque, int64_t *records,
                            atomic_int *stop, admin_beat_t *beat, int64_t t0, cl_phases_t *ph,
                            char *errstr, size_t errstr_size) {
        cl_part_state_t *st = calloc(n, sizeof(*st));
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
        if (!st || !l) {
                free(st);
                if (l)
                        rd_kafka_topic_partition_list_destroy(l);
                snprintf(errstr, errstr_size, "out of memory");
                return ST_NOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                st[i].partition = parts[i];
                st[i].eof_at = -1;
                st[i].pos = -1;
                rd_kafka_topic_partition_list_add(l, r->topic, parts[i])->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        }
        /* The leaders first: a partition assigned before the new client
         * knows its leader waits out librdkafka's 500 ms offset-query retry
         * timer.  A failure here only costs that wait. */
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, r->topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        if (rkt && rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
                rd_kafka_metadata_destroy(md);
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        ph->leaders = clk_mono_ms() - t0;
        rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_t *pl = l; /* cl_wake_after_markers' positions */
        if (err) {
                rd_kafka_topic_partition_list_destroy(pl);
                free(st);
                snprintf(errstr, errstr_size, "changelog %s: assign: %s", r->topic,
                         rd_kafka_err2str(err));
                return ST_FATAL;
        }
        int64_t start = clk_mono_ms();
        /* Past this, a partition whose LSO still trails its high watermark is
         * restored to the LSO (see cl.h); past the hard limit we give up. */
        int64_t stable_deadline = start + r->stable_timeout_ms;
        int64_t hard_deadline = stable_deadline + 120000;
        size_t left = n;
        int64_t last_at = 0; /* when the last message came (ms from t0) */
        st_t rc = ST_OK;
        while (left > 0) {
                admin_beat(beat);
                if (stop && atomic_load(stop)) {
                        snprintf(errstr, errstr_size, "changelog %s: restore interrupted",
                                 r->topic);
                        rc = ST_STOPPED;
                        break;
                }
                int64_t now = clk_mono_ms();
                if (now > hard_deadline) {
                        snprintf(errstr, errstr_size,
                                 "changelog %s: restore did not reach the end in %lld s", r->topic,
                                 (long long)((now - start) / 1000));
                        rc = ST_FATAL;
                        break;
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, CL_POLL_MS);
                if (!m)
                        cl_wake_after_markers(r, rk, fw, st, n, pl);
                if (m) {
                        int64_t at = clk_mono_ms() - t0;
                        if (ph->first < 0)
                                ph->first = at;
                        else if (at - last_at > ph->gap) {
                                ph->gap = at - last_at;
                                ph->gap_at = at;
                        }
                        last_at = at;
                        cl_part_state_t *ps = cl_find(st, n, m->partition);
                        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                if (ps)
                                        ps->eof_at = m->offset;
                        } else if (m->err) {
                                log_warn(CL_LOG, "changelog %s restore: %s", r->topic,
                                         rd_kafka_message_errstr(m));
                                if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                                        snprintf(errstr, errstr_size, "changelog %s: %s", r->topic,
                                                 rd_kafka_message_errstr(m));
                                        rc = ST_FATAL;
                                }
                        } else if (ps && !ps->done) {
                                fw_check(fw, m);
                                ps->eof_at = -1;
                                (*records)++;
                                if (cb(opaque, m->partition, m->key, m->key_len, m->payload,
                                       m->payload ? m->len : 0) == -1) {
                                        snprintf(errstr, errstr_size,
                                                 "changelog %s[%d]@%lld: state record rejected",
                                                 r->topic, (int)m->partition, (long long)m->offset);
                                        rc = ST_FATAL;
                                }
                        }
                        rd_kafka_message_destroy(m);
                        if (rc)
                                break;
                }
                now = clk_mono_ms();
                for (size_t i = 0; i < n; i++) {
                        cl_part_state_t *ps = &st[i];
                        if (ps->done || ps->eof_at < 0)
                                continue;
                        int64_t lo = -1, hi = -1;
                        rd_kafka_get_watermark_offsets(rk, r->topic, ps->partition, &lo, &hi);
                        if (hi >= 0 && ps->eof_at >= hi) {
                                ps->done = 1;
                                left--;
                        } else if (now > stable_deadline) {
                                log_warn(CL_LOG,
                                         "changelog %s[%d]: a transaction is still open at "
                                         "offset %lld (high watermark %lld) after %lld ms: "
                                         "restored up to it",
                                         r->topic, (int)ps->partition, (long long)ps->eof_at,
                                         (long long)hi, (long long)(now - start));
                                ps->done = 1;
                                left--;
                        }
                }
        }
        if (left == 0)
                ph->end = clk_mono_ms() - t0;
        rd_kafka_assign(rk, NULL);
        rd_kafka_topic_partition_list_destroy(pl);
        free(st);
        return rc;
}
