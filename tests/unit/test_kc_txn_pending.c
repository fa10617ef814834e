/* test_kc_txn_pending — KC_ACK_EXTERNAL with one batch in flight (the
 * acknowledge hook answers KC_TXN_PENDING, kc_txn_ack.c) on librdkafka's
 * mock cluster: the loop consumes on while a batch is pending, pauses once
 * the next one is full, commits a batch only after its acknowledgement (in
 * order, each record once), drops both batches and rewinds when the pending
 * one fails, and at close waits for a slow acknowledgement but not for a
 * refused one.  The "external system" is simulated in the hooks: a batch is
 * acknowledged ack_ms after it was handed over. */
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "kc.h"
#include "kc_txn.h"
#include "log.h"
#include "metrics.h"
#include "th.h"
#include "th_kc_txn.h"

#define BATCH 20

enum { R_NONE, R_OPEN, R_FLIGHT, R_DONE };

typedef struct pend_s {
        int state[N_RECORDS]; /* R_*: where record r<i> is */
        int done[N_RECORDS];  /* committed, how often */
        int open_n;           /* records in the open batch */
        int ack_ms;           /* the external system takes this long */
        int abort_nth;        /* the nth acknowledgement is a failure (0: none) */
        int refuse;           /* the external system refuses (KC_TXN_RETRY) */
        int dlq;              /* produce one record with each acknowledgement */
        int64_t handed_at;
        int handovers, polls, acked, mismatched, empty_commits, committed, committed_records;
        int aborted_all, aborted_open, processed_while_pending, processed_while_paused;
        int paused_ticks;
        int stop_after_handover; /* raise stop once a batch is handed over */
        atomic_int stop;
        time_t deadline;
        kc_txn_t *t;
        rd_kafka_mock_cluster_t *mc;
        const char *group;
        int rc;
        char err[512];
} pend_t;

static kc_txn_res_t p_process(kc_txn_t *t, const kc_msg_t *m, void *opaque) {
        pend_t *a = opaque;
        int i = atoi((const char *)m->payload + 1);
        if (kc_txn_paused(t))
                a->processed_while_paused++;
        if (kc_txn_pending(t))
                a->processed_while_pending++;
        if (i >= 0 && i < N_RECORDS && a->state[i] != R_OPEN) {
                a->state[i] = R_OPEN;
                if (++a->open_n >= BATCH)
                        kc_txn_commit_now(t); /* full, as the sink's caps */
        }
        return KC_TXN_OK;
}

static kc_txn_res_t p_acknowledge(kc_txn_t *t, void *opaque) {
        pend_t *a = opaque;
        if (kc_txn_pending(t)) { /* about the batch in flight */
                a->polls++;
                if (a->refuse) {
                        kc_txn_retry_after(t, 0, "refusing");
                        return KC_TXN_RETRY;
                }
                if (clk_mono_ms() - a->handed_at < a->ack_ms)
                        return KC_TXN_PENDING;
                if (++a->acked == a->abort_nth)
                        return KC_TXN_ABORT;
                if (a->dlq) { /* belongs to the batch in flight, opens none */
                        kc_record_t rec = {.topic = "out",
                                           .partition = RD_KAFKA_PARTITION_UA,
                                           .value = "dlq",
                                           .value_len = 3};
                        TH_CHECK_INT(kc_txn_produce(t, &rec), 0);
                }
                return KC_TXN_OK;
        }
        for (int i = 0; i < N_RECORDS; i++)
                if (a->state[i] == R_OPEN)
                        a->state[i] = R_FLIGHT;
        a->open_n = 0;
        a->handed_at = clk_mono_ms();
        a->handovers++;
        if (a->stop_after_handover)
                atomic_store(&a->stop, 1);
        return KC_TXN_PENDING;
}

static void p_committed(kc_txn_t *t, int64_t records, void *opaque) {
        (void)t;
        pend_t *a = opaque;
        int moved = 0;
        for (int i = 0; i < N_RECORDS; i++)
                if (a->state[i] == R_FLIGHT) {
                        a->state[i] = R_DONE;
                        a->done[i]++;
                        moved++;
                }
        a->mismatched += moved != records;
        a->empty_commits += records == 0;
        a->committed++;
        a->committed_records += (int)records;
}

static void p_aborted(kc_txn_t *t, void *opaque) {
        pend_t *a = opaque;
        int all = !kc_txn_pending(t); /* else only the open batch */
        if (all)
                a->aborted_all++;
        else
                a->aborted_open++;
        for (int i = 0; i < N_RECORDS; i++)
                if (a->state[i] == R_OPEN || (all && a->state[i] == R_FLIGHT))
                        a->state[i] = R_NONE;
        a->open_n = 0;
}

static kc_txn_res_t p_tick(kc_txn_t *t, void *opaque) {
        pend_t *a = opaque;
        a->paused_ticks += kc_txn_paused(t) && kc_txn_pending(t);
        int all = 1;
        for (int i = 0; i < N_RECORDS && all; i++)
                all = a->state[i] == R_DONE;
        if (all || time(NULL) > a->deadline)
                atomic_store(&a->stop, 1);
        return KC_TXN_OK;
}

static int p_setup(pend_t *a, const char *group, kc_t **p) {
        memset(a, 0, sizeof(*a));
        *p = mock_setup(&a->mc);
        if (!*p)
                return -1;
        static const char *topics[] = {"in", NULL};
        const char *props[] = {"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(a->mc), NULL};
        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        conf.stage = "pendtest";
        conf.group_id = a->group = group;
        conf.topics = topics;
        conf.guarantee = KC_ACK_EXTERNAL;
        conf.batch_ms = conf.state_ms = 30;
        conf.batch_records = INT_MAX;
        conf.idle_ms = -1;
        conf.props = props;
        conf.stop = &a->stop;
        conf.hooks = (kc_txn_hooks_t){.process = p_process,
                                      .acknowledge = p_acknowledge,
                                      .committed = p_committed,
                                      .aborted = p_aborted,
                                      .tick = p_tick,
                                      .opaque = a};
        a->deadline = time(NULL) + 60;
        a->t = kc_txn_new(&conf, NULL, a->err, sizeof(a->err));
        TH_CHECK(a->t != NULL);
        return a->t ? 0 : -1;
}

static void p_run(pend_t *a) {
        a->rc = (int)kc_txn_run(a->t, a->err, sizeof(a->err));
        TH_CHECK_INT(a->rc, 0);
        if (a->rc)
                fprintf(stderr, "  %s\n", a->err);
}

static void check_once(const pend_t *a) {
        int missing = 0, dup = 0;
        for (int i = 0; i < N_RECORDS; i++) {
                missing += a->done[i] == 0;
                dup += a->done[i] > 1;
        }
        TH_CHECK_INT(missing, 0);
        TH_CHECK_INT(dup, 0);
}

/* Each acknowledgement takes 150 ms: the next batch fills meanwhile
 * (records processed while one is pending), then consumption pauses (no
 * record processed while paused); every record is committed once, a batch
 * only after its acknowledgement, with the records it was handed over
 * with; DLQ-like records produced with an acknowledgement open no batch. */
static void test_pending_pipelines(void) {
        static pend_t a;
        kc_t *p;
        if (p_setup(&a, "g-pend", &p) == -1) {
                kc_destroy(p);
                return;
        }
        a.ack_ms = 150;
        a.dlq = 1;
        p_run(&a);
        check_once(&a);
        TH_CHECK(a.handovers >= N_RECORDS / BATCH);
        TH_CHECK_INT(a.committed, a.handovers);
        TH_CHECK_INT(a.mismatched, 0);
        TH_CHECK_INT(a.empty_commits, 0);
        TH_CHECK(a.processed_while_pending >= BATCH);
        TH_CHECK(a.paused_ticks > 0);
        TH_CHECK_INT(a.processed_while_paused, 0);
        TH_CHECK(a.polls > a.handovers); /* asked until acknowledged */
        TH_CHECK_INT(a.aborted_all + a.aborted_open, 0);
        TH_CHECK_INT(committed_sum(a.mc, "g-pend"), N_RECORDS);
        metrics_child_t *paused = metrics_gauge("weir_pendtest_consumption_paused", "t");
        TH_CHECK(metrics_value(paused) == 0); /* resumed */
        kc_txn_destroy(a.t);
        kc_destroy(p);
}

/* The second acknowledgement is a failure: the batch in flight and the
 * open one are dropped together (aborted once, with nothing pending), the
 * consumer rewound to the failed batch's first records; in the end every
 * record is committed exactly once. */
static void test_pending_abort_rewinds_both(void) {
        static pend_t a;
        kc_t *p;
        if (p_setup(&a, "g-pend-abort", &p) == -1) {
                kc_destroy(p);
                return;
        }
        a.ack_ms = 80;
        a.abort_nth = 2;
        p_run(&a);
        check_once(&a);
        TH_CHECK_INT(a.aborted_all, 1);
        TH_CHECK_INT(a.aborted_open, 0);
        TH_CHECK_INT(a.mismatched, 0);
        TH_CHECK_INT(committed_sum(a.mc, "g-pend-abort"), N_RECORDS);
        kc_txn_destroy(a.t);
        kc_destroy(p);
}

static void *p_thread(void *opaque) {
        p_run(opaque);
        return NULL;
}

/* Stopped while the external system refuses the batch in flight: the
 * close does not wait out KC_TXN_PENDING_WAIT_MS, nothing is committed. */
static void test_pending_stop_while_refused(void) {
        static pend_t a;
        kc_t *p;
        if (p_setup(&a, "g-pend-refused", &p) == -1) {
                kc_destroy(p);
                return;
        }
        a.refuse = 1;
        pthread_t th;
        pthread_create(&th, NULL, p_thread, &a);
        for (int i = 0; i < 200 && a.polls < 3; i++)
                usleep(20 * 1000);
        TH_CHECK(a.polls >= 3);
        int64_t t0 = clk_mono_ms();
        kc_txn_stop(a.t);
        pthread_join(th, NULL);
        TH_CHECK(clk_mono_ms() - t0 < 3000);
        TH_CHECK_INT(a.committed, 0);
        TH_CHECK(a.aborted_all >= 1);
        TH_CHECK_INT(committed_sum(a.mc, "g-pend-refused"), 0);
        kc_txn_destroy(a.t);
        kc_destroy(p);
}

/* Stopped right after a hand-over while the acknowledgement takes 400 ms:
 * the close waits for it, then hands the open batch over and waits for
 * that too; every record processed is committed, nothing aborted. */
static void test_pending_stop_waits_for_slow_ack(void) {
        static pend_t a;
        kc_t *p;
        if (p_setup(&a, "g-pend-slow", &p) == -1) {
                kc_destroy(p);
                return;
        }
        a.ack_ms = 400;
        a.stop_after_handover = 1;
        p_run(&a);
        TH_CHECK(a.committed_records > 0);
        TH_CHECK_INT(a.aborted_all + a.aborted_open, 0);
        int open = 0;
        for (int i = 0; i < N_RECORDS; i++)
                open += a.state[i] == R_OPEN || a.state[i] == R_FLIGHT;
        TH_CHECK_INT(open, 0);
        TH_CHECK_INT(committed_sum(a.mc, "g-pend-slow"), a.committed_records);
        kc_txn_destroy(a.t);
        kc_destroy(p);
}

static void test_cleanup(void) {
        metrics_reset();
}

TH_MAIN("kc_txn_pending", TH_T(test_pending_pipelines), TH_T(test_pending_abort_rewinds_both),
        TH_T(test_pending_stop_while_refused), TH_T(test_pending_stop_waits_for_slow_ack),
        TH_T(test_cleanup))
