/* weir-compute — windowed aggregates, rules and anomaly scores over the
 * pipeline's input topic, exactly-once (SPEC §4 compute; docs/compute.md).
 *
 * Start-up: the shared svc_init() (spec, schemas, wire format, admin
 * server, SIGTERM), the engine (cp_engine_new: windows, aggregates, rules;
 * a bad rule stops start-up naming its column), the changelog topic
 * (created when missing: compacted, as many partitions as the input), then
 * COMPUTE_THREADS workers (wk.h), each a transactional consume-process-
 * produce loop in its own thread; with more than one they share one group
 * member (kc_group.h, wk_group_start).  It ends on SIGTERM (each loop commits,
 * leaves the group, exits 0) or on a fatal error in any worker (exit 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl.h"
#include "cp.h"
#include "cp_conf.h"
#include "log.h"
#include "svc.h"
#include "wk.h"

#define STAGE       "compute"
#define MAX_THREADS CP_CONF_MAX_THREADS

/* The changelog exists with enough partitions; *partitions = the input's. */
static int ensure_changelog(svc_t *svc, const cl_topic_conf_t *tc, int *partitions,
                            int *cl_partitions, char *errstr, size_t errstr_size) {
        kc_opts_t o = {0};
        o.stage = STAGE;
        kc_t *kc = kc_producer_new(&o, errstr, errstr_size);
        if (!kc)
                return -1;
        int rc = cl_ensure_topic(kc, svc->spec->input.topic, svc->spec->compute->output.changelog,
                                 tc, partitions, cl_partitions, errstr, errstr_size);
        kc_destroy(kc);
        return rc;
}

static int output_conf(svc_t *svc, out_conf_t *oc, char *errstr, size_t errstr_size) {
        memset(oc, 0, sizeof(*oc));
        oc->pipeline = svc->spec->name;
        oc->wire = svc->wire;
        if (!(oc->aggregate_schema = svc_schema(svc, "weir.Aggregate", errstr, errstr_size)) ||
            !(oc->alert_schema = svc_schema(svc, "weir.Alert", errstr, errstr_size)))
                return -1;
        if (svc_schema_id(svc, svc->spec->compute->output.aggregates, oc->aggregate_schema,
                          &oc->aggregate_schema_id, errstr, errstr_size) != ST_OK ||
            svc_schema_id(svc, svc->spec->compute->output.alerts, oc->alert_schema,
                          &oc->alert_schema_id, errstr, errstr_size) != ST_OK)
                return -1;
        return 0;
}

static int run(svc_t *svc, char *errstr, size_t errstr_size) {
        cp_engine_t *engine = cp_engine_new(svc->spec, svc->input_schema, errstr, errstr_size);
        if (!engine)
                return -1;
        /* The key, event-time and field types, before any Kafka round trip:
         * a spec that cannot work stops at once, naming the path. */
        wk_rec_plan_t check;
        char why[900];
        if (wk_rec_plan_init(&check, svc->spec, engine, svc->input_schema, why, sizeof(why)) ==
            -1) {
                snprintf(errstr, errstr_size, "%s: %s",
                         svc->spec->path ? svc->spec->path : "pipeline spec", why);
                cp_engine_destroy(engine);
                return -1;
        }
        wk_rec_plan_fini(&check);
        int rc = -1, partitions = 0, cl_partitions = 0;
        wk_shared_t sh;
        memset(&sh, 0, sizeof(sh));
        int sh_ok = 0;
        wk_t *workers[MAX_THREADS] = {0};
        cp_conf_t cc;
        cl_topic_conf_t tc;
        char group[300];
        snprintf(group, sizeof(group), "weir-compute-%s", svc->spec->name);

        /* What needs no broker is checked first: a missing output schema or
         * a bad setting is reported at once, not after Kafka retries. */
        if (!svc_schema(svc, "weir.Aggregate", errstr, errstr_size) ||
            !svc_schema(svc, "weir.Alert", errstr, errstr_size)) {
                size_t n = strlen(errstr);
                snprintf(errstr + n, errstr_size - n,
                         ": compute writes it (copy schemas/aggregate.avsc and schemas/alert.avsc "
                         "from Weir into SCHEMA_DIR)");
                goto out;
        }
        kc_txn_conf_t txn;
        kc_txn_conf_init(&txn);
        txn.env_defaults = cp_conf_commit_defaults;
        if (cp_conf_load(&cc, errstr, errstr_size) == -1 ||
            kc_txn_conf_env(&txn, errstr, errstr_size) == -1 ||
            cl_topic_conf_init(&tc, cc.topic_config, errstr, errstr_size) == -1)
                goto out;
        if (ensure_changelog(svc, &tc, &partitions, &cl_partitions, errstr, errstr_size) == -1)
                goto out;
        if (wk_shared_init(&sh, svc, engine, errstr, errstr_size) == -1)
                goto out;
        sh_ok = 1;
        if (output_conf(svc, &sh.out, errstr, errstr_size) == -1)
                goto out;
        sh.txn = txn;
        sh.txn.stage = STAGE;
        sh.txn.group_id = group;
        sh.group_id = group;
        sh.changelog_partitions = cl_partitions;
        sh.restore_stable_ms = cc.stable_ms;
        sh.nworkers = (int)cc.threads;
        if (wk_group_start(&sh, errstr, errstr_size) == -1)
                goto out;
        log_info(STAGE,
                 "pipeline %s: %s → %s, %s (alerts), %s (DLQ); changelog %s; %d input "
                 "partition(s), %lld worker thread(s), %s",
                 svc->spec->name, svc->spec->input.topic, svc->spec->compute->output.aggregates,
                 svc->spec->compute->output.alerts, svc->spec->compute->output.dlq,
                 svc->spec->compute->output.changelog, partitions, (long long)cc.threads,
                 sh.txn.guarantee == KC_EXACTLY_ONCE ? "exactly-once" : "at-least-once");

        rc = 0;
        int started = 0;
        for (int i = 0; i < (int)cc.threads; i++) {
                if (!(workers[i] = wk_start(&sh, i, errstr, errstr_size))) {
                        atomic_store(&svc->stop, 1);
                        rc = -1;
                        break;
                }
                started++;
        }
        char err[600];
        for (int i = 0; i < started; i++) {
                if (wk_join(workers[i], err, sizeof(err)) == -1 && rc == 0) {
                        snprintf(errstr, errstr_size, "%s", err);
                        rc = -1;
                }
        }
out:
        if (sh_ok)
                wk_shared_fini(&sh);
        cp_engine_destroy(engine);
        return rc;
}

int main(void) {
        svc_t svc;
        char errstr[1024];
        if (svc_init(&svc, STAGE, SPEC_PART_COMPUTE, errstr, sizeof(errstr)) == -1)
                return svc_fail(STAGE, errstr);
        int rc = run(&svc, errstr, sizeof(errstr));
        svc_fini(&svc);
        if (rc == -1)
                return svc_fail(STAGE, errstr);
        log_info(STAGE, "stopped");
        return 0;
}
