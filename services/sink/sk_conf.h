/* sk_conf — the sink loop's own settings and metrics (the InfluxDB
 * connection is ix_conf_env(), the WebSocket feed ws_conf_env()). */
#ifndef WEIR_SINK_SK_CONF_H
#define WEIR_SINK_SK_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "cfg_tab.h"
#include "metrics.h"

enum { T_AGG, T_ALERT, T_N }; /* the two inputs: aggregates, alerts */

typedef struct sk_conf_s {
        int64_t batch_points; /* SINK_BATCH_POINTS (5000) */
        int64_t batch_bytes;  /* SINK_BATCH_BYTES (1MiB) */
        int64_t flush_ms;     /* SINK_FLUSH_INTERVAL (1s) */
} sk_conf_t;

/* The variables above as a table (docs/sink.md is generated from it). */
extern const cfg_tab_t sk_conf_tab;

/* Reads the variables above.  0, or -1 with errstr naming the variable. */
int sk_conf_env(sk_conf_t *c, char *errstr, size_t errstr_size);

/* The sink's metrics (docs/sink.md, "Writer metrics"); children by T_*.
 * The registry owns them.  weir_sink_consumption_paused and the commits
 * (weir_sink_kafka_transactions_total) are the loop's (kc_txn). */
typedef struct sk_metrics_s {
        metrics_child_t *records[T_N], *written[T_N], *rejected[T_N];
        metrics_child_t *batches, *e2e;
        metrics_child_t *wakeups;  /* fetch wake-ups (fw.h) */
        metrics_family_t *skipped; /* by reason: tombstone, no_fields, alerts_off */
} sk_metrics_t;

void sk_metrics_init(sk_metrics_t *m);

#endif
