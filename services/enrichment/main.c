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
#include "en_source.h"
#include "kc_txn.h"
#include "log.h"
#include "svc.h"

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
        if (!sources) {
                snprintf(err, sizeof(err), "out of memory");
                goto out;
        }
        /* No broker needed for this: said at once, before any connection. */
        if (en_join_check_schemas(&svc, err, sizeof(err)) == -1)
                goto out;
        for (; opened < spec->nsources; opened++)
                if ((st = en_source_open(&sources[opened], &svc, &spec->sources[opened], &svc.stop,
                                         err, sizeof(err))) != ST_OK)
                        goto out;
        if (!(j = en_join_new(&svc, sources, spec->nsources, err, sizeof(err))))
                goto out;

        kc_txn_conf_t conf;
        kc_txn_conf_init(&conf);
        if (kc_txn_conf_env(&conf, err, sizeof(err)) == -1)
                goto out;
        char group[300];
        snprintf(group, sizeof(group), "weir-enrichment-%s", svc.spec->name);
        conf.stage = "enrichment";
        conf.group_id = group;
        conf.topics = en_join_topics(j);
        conf.admin = svc.admin;
        conf.stop = &svc.stop;
        conf.hooks = (kc_txn_hooks_t){.process = en_join_process,
                                      .pre_commit = en_join_pre_commit,
                                      .aborted = en_join_aborted,
                                      .tick = en_join_tick,
                                      .opaque = j};
        if (!(t = kc_txn_new(&conf, &st, err, sizeof(err))))
                goto out;
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
