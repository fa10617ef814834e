/* en_otel — enrichment's spans (common/otel.h): one CONSUMER span per
 * record of a batch, child of the record's `traceparent` (the aggregate's
 * or alert's span in compute), from the start of the batch's lookups to the
 * record's fate, with the sources asked and hit/miss:
 *   weir.enrichment.sources  "name:hit,name2:miss,..." (spec order)
 *   weir.enrichment.hit      true when every source had the key
 *   weir.enrichment.result   enriched | unenriched | dropped | dlq
 * The record's `traceparent` header is replaced by the span's context, so
 * the sink's spans hang under it.
 *
 * Exactly-once's cost: the span stays open until the Kafka transaction that
 * carries the record's output ends (read_committed readers see nothing
 * before), with the events
 *   weir.enrichment.output   the record's fate decided, its output produced
 *   kafka.txn.commit.begin   the transaction's last records are in, the
 *                            offsets and the commit are being sent
 *   kafka.txn.commit | kafka.txn.abort (status error: the record is
 *                            consumed and enriched again, in a new span)
 * (in at-least-once mode "commit" is the producer flush and offset commit).
 * The commit events are common/otel.h's otel_txn_t, as compute's: at most
 * OTEL_TXN_OPEN spans wait for one commit; more end at once with an event
 * saying so.  With tracing off: one branch per call. */
#ifndef WEIR_EN_OTEL_H
#define WEIR_EN_OTEL_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "en_source.h"

typedef struct en_otel_rec_s {
        const char *in_topic, *out_topic, *pipeline;
        int32_t partition;
        int64_t offset;
        const char *join, *key; /* join value (not NUL-terminated), record key */
        size_t join_len, key_len;
        const char *result;
} en_otel_rec_t;

/* `hdrs`: the record's headers (owned copy, may be NULL); `res`: the
 * record's result in source s at res[s * stride]; t0_ns: the batch's
 * start (otel_now_ns()). */
void en_otel_record(rd_kafka_headers_t *hdrs, uint64_t t0_ns, const en_otel_rec_t *r,
                    const en_source_t *sources, size_t nsources, const uint8_t *res, size_t stride);

/* kc_txn hooks' companions (services/enrichment/main.c): the commit is
 * being sent (after pre_commit); the transaction committed (ok 1) or
 * aborted (0): ends the spans awaiting it. */
void en_otel_commit_begin(void);
void en_otel_txn(int ok);

#endif
