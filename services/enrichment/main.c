/* weir-enrichment — joins compute's aggregates and alerts with reference
 * data (SPEC §4 "enrichment"; docs/enrichment.md).
 *
 * Start-up order matters for readiness: every source is loaded first (file
 * read, compacted topic read to its end, Redis warmed up) while /readyz
 * answers "unmet: reference data loaded"; only then is the kc_txn loop
 * created, so no record is processed against a partial table.  Then the
 * common consume-process-produce loop runs the en_join hooks, exactly-once
 * by default (PROCESSING_GUARANTEE=at_least_once as for compute).
 *
 * Environment besides svc.h's and kc_txn's: KAFKA_GROUP_ID (default
 * weir-enrichment-<pipeline name>). */
#include <stdio.h>
#include <stdlib.h>

#include "en_join.h"
#include "en_otel.h"
#include "en_source.h"
#include "fw.h"
#include "kc_txn.h"
#include "log.h"
#include "svc.h"

/* en_join's hooks, plus the end of the enrichment spans at the end of the
 * transaction (en_otel.h); tracing off: one branch each. */
static kc_txn_res_t pre_commit(kc_txn_t *t, void *opaque) {
        kc_txn_res_t r = en_join_pre_commit(t, opaque);
        if (r == KC_TXN_OK)
                en_otel_commit_begin();
        return r;
}

static void committed(kc_txn_t *t, int64_t records, void *opaque) {
        (void)t, (void)records, (void)opaque;
        en_otel_txn(1);
}

static void aborted(kc_txn_t *t, void *opaque) {
        en_join_aborted(t, opaque);
        en_otel_txn(0);
}

int main(void) {
        char err[1024];
        svc_t svc;
        if (svc_init(&svc, "enrichment", SPEC_PART_ENRICHMENT, err, sizeof(err)) == -1)
                return svc_fail("enrichment", err);
        const spec_enrichment_t *spec = svc.spec->enrichment;
        int rc = 1;
        st_t st = ST_FATAL;
        int ready = admin_ready_condition(svc.admin, "reference data loaded");
        en_source_t *sources = calloc(spec->nsources, sizeof(*sources));
        size_t opened = 0;
        en_join_t *j = NULL;
        kc_txn_t *t = NULL;
        fw_t *fw = NULL;
        if (!sources) {
                snprintf(err, sizeof(err), "out of memory");
                goto out;
        }
        /* No broker needed for these: said at once, before any connection. */
        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        /* Transactions bounded by time (COMMIT_INTERVAL, 100 ms after the
         * first output), not by kc_txn's 1000 records: each commit costs
         * librdkafka 2.0.2's main thread ~2-3 ms of CPU spinning on its
         * 1 ms and 20 ms AddPartitionsToTxn timers (it sleeps in whole ms
         * and spins the remainder), which at 1000 records was 40 % of the
         * process's CPU on a backlog (docs/bench/enrichment.md).  The input
         * is normally sparse (aggregates), so this only matters under a
         * backlog. */
        conf.env_defaults = en_join_commit_defaults;
        /* batch.num.messages = en_join's batch (512): en_join waits for
         * each batch's delivery before producing the next
         * (kc_txn_produce_wait), so a batch for one partition is sent as
         * soon as it is complete instead of after linger.ms.
         * KAFKA_BATCH_NUM_MESSAGES overrides it. */
        conf.producer_props = en_join_producer_props;
        /* Compute's and the sink's small prefetch, with fw waking the
         * fetcher: librdkafka 2.0.2 stops fetching for a second once the
         * queue is full (8 MB by default, ~27,000 aggregates), so on a
         * backlog enrichment worked a third of each second and idled the
         * rest (bench-enrichment: 6.3 s for 200,000 records). */
        static const char *const consumer_props[] = {FW_PREFETCH_PROPS, NULL};
        conf.consumer_props = consumer_props;
        if (kc_txn_conf_env(&conf, err, sizeof(err)) == -1 ||
            en_join_check_schemas(&svc, err, sizeof(err)) == -1)
                goto out;
        for (; opened < spec->nsources; opened++)
                if ((st = en_source_open(&sources[opened], &svc, &spec->sources[opened], &svc.stop,
                                         err, sizeof(err))) != ST_OK)
                        goto out;
        if (!(j = en_join_new(&svc, sources, spec->nsources, err, sizeof(err))))
                goto out;

        char group[300];
        snprintf(group, sizeof(group), "weir-enrichment-%s", svc.spec->name);
        conf.stage = "enrichment";
        conf.group_id = group;
        conf.topics = en_join_topics(j);
        conf.admin = svc.admin;
        conf.stop = &svc.stop;
        conf.hooks = (kc_txn_hooks_t){.process = en_join_process,
                                      .pre_commit = pre_commit,
                                      .committed = committed,
                                      .aborted = aborted,
                                      .tick = en_join_tick,
                                      .opaque = j};
        if (!(t = kc_txn_new(&conf, &st, err, sizeof(err))))
                goto out;
        metrics_child_t *wakeups = metrics_counter(
                "weir_enrichment_fetch_wakeups_total",
                "Times the loop woke its consumer's fetcher because the prefetch queue ran low.");
        if (!(fw = fw_new(kc_rk(kc_txn_consumer(t)), kc_txn_queue(t), wakeups, err, sizeof(err)))) {
                st = ST_FATAL;
                goto out;
        }
        kc_txn_set_fw(t, fw);
        /* Only now: before kc_txn_new registered "kafka assigned", this
         * would have been the only condition and /readyz would have said
         * ready with no consumer yet. */
        admin_ready_set(svc.admin, ready, 1);
        log_info("enrichment", "joining %s and %s with %zu source(s) into %s and %s (%s)",
                 spec->input.aggregates, spec->input.alerts, spec->nsources,
                 spec->output.aggregates, spec->output.alerts,
                 kc_txn_guarantee(t) == KC_EXACTLY_ONCE ? "exactly-once" : "at-least-once");
        svc_started(&svc);
        st = kc_txn_run(t, err, sizeof(err));
        rc = st != ST_OK;
out:
        fw_destroy(fw); /* before the consumer it queries */
        if (t)
                kc_txn_destroy(t);
        en_join_destroy(j);
        for (size_t i = 0; sources && i <= opened && i < spec->nsources; i++)
                en_source_close(&sources[i]);
        free(sources);
        if (rc != 0 && st == ST_STOPPED)
                rc = 0; /* SIGTERM while loading or waiting for the broker: a clean stop */
        else if (rc != 0)
                svc_fail("enrichment", err);
        if (rc == 0)
                log_info("enrichment", "stopped");
        svc_fini(&svc);
        return rc;
}
