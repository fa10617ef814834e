/* sk_dlq — the sink's dead-letter records (see sk_dlq.h). */
#include "sk_dlq.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

struct sk_dlq_s {
        char *topic;
        metrics_family_t *records;
};

sk_dlq_t *sk_dlq_new(const char *topic) {
        sk_dlq_t *d = calloc(1, sizeof(*d));
        if (!d || !(d->topic = strdup(topic))) {
                free(d);
                return NULL;
        }
        d->records =
                metrics_counter_family("weir_sink_dlq_records_total",
                                       "Records sent to the sink's DLQ, by error class.", "class");
        return d;
}

void sk_dlq_destroy(sk_dlq_t *d) {
        if (!d)
                return;
        free(d->topic);
        free(d);
}

int sk_dlq_send(sk_dlq_t *d, kc_txn_t *t, kc_dlq_rec_t *r) {
        r->topic = d->topic;
        r->stage = "sink";
        if (kc_txn_produce_dlq(t, r))
                return -1;
        metrics_inc(metrics_child(d->records, r->error_class), 1);
        log_warn("dlq", "%s:%d@%lld to %s: %s: %s", r->src_topic ? r->src_topic : "?",
                 (int)r->src_partition, (long long)r->src_offset, d->topic, r->error_class,
                 r->reason);
        return 0;
}
