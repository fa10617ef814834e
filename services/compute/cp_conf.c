/* cp_conf — compute's settings table.  See cp_conf.h. */
#include "cp_conf.h"

#include <string.h>

#define F(m) CFG_FIELD(cp_conf_t, m)
/* One worker unless asked, as Kafka Streams' num.stream.threads.  With
 * more, the process is still one group member (kc_group.h): members
 * joining at once used to miss each other's round (the broker completes
 * it with the first, the other's join makes its SyncGroup fail, and
 * librdkafka 2.0.2 to 2.6 waits out its 1 s join backoff). */
static const cfg_def_t cp_conf_rows[] = {
        {.name = "COMPUTE_THREADS",
         .type = CFG_INT,
         F(threads),
         .def = "1",
         .min = 1,
         .max = CP_CONF_MAX_THREADS,
         .doc = "worker threads (Kafka Streams' `num.stream.threads` defaults to 1 too). The "
                "process is one member of the group whatever the count: its consumer's partitions "
                "are shared out among the workers (**Scaling** below). One worker processed "
                "410k–610k records per CPU-second in bench-compute (docs/bench/compute.md, `make "
                "bench`); scale out with more instances, or more threads"},
        {.name = "CHANGELOG_STABLE_TIMEOUT",
         .type = CFG_DURATION,
         F(stable_ms),
         .def = "30s",
         .min = 0,
         .max = 3600000,
         .doc = "how long a restore waits for a transaction left open on a changelog partition "
                "(below)"},
        {.name = "CHANGELOG_TOPIC_CONFIG",
         .type = CFG_STR,
         F(topic_config),
         .def_doc = "unset: the defaults below",
         .form = "`key=value,...`",
         .doc = "topic configs for the changelog compute creates, over its defaults "
                "(`cleanup.policy=compact`, `segment.ms=10000`, `min.cleanable.dirty.ratio=0.1`, "
                "`delete.retention.ms=3600000`, `min.compaction.lag.ms=0`: **Changelog topic "
                "settings** below), as Kafka Streams' `topic.` prefix; an existing changelog "
                "keeps its own"},
};
#undef F

const cfg_tab_t cp_conf_tab = CFG_TAB("compute", cp_conf_rows);

/* Kafka Streams under exactly-once commits every 100 ms; a larger record
 * cap than kc_txn's keeps busy partitions from committing more often than
 * that.  A worker reading several partitions sees a window close on each
 * within a few ms (their first records past its end come in different
 * fetches): 5 ms lets them share one commit (kc_txn.h). */
const char *const cp_conf_commit_defaults[] = {"COMMIT_MAX_RECORDS", "20000", "COMMIT_LINGER",
                                               "5ms", NULL};

int cp_conf_load(cp_conf_t *c, char *errstr, size_t errstr_size) {
        memset(c, 0, sizeof(*c));
        return cfg_tab_load(&cp_conf_tab, NULL, c, errstr, errstr_size);
}
