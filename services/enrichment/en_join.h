/* en_join — the record path: each consumed aggregate or alert is checked,
 * its join value read, and it is queued; a batch (full queue, or the
 * transaction about to commit) is looked up in every source at once (one
 * Redis round trip per batch) and written out as weir.EnrichedAggregate /
 * weir.EnrichedAlert, or dropped, or sent to the DLQ.
 *
 * No decode/re-encode on the common path: the Avro binary of an enriched
 * record is the input record's binary followed by `enriched` (one byte)
 * and `attributes` (a map block), so when the input was written with the
 * current Aggregate/Alert schema (single-object framing, fingerprint
 * equal) its bytes are validated (av_validate, no allocation) and copied,
 * and the attributes come pre-encoded from the sources.  Other writer
 * schemas and Confluent framing are decoded into the current schema
 * (av_decode, resolution) and re-encoded first.  The queue keeps records in
 * one reused arena: no allocation per record in the steady state (besides
 * librdkafka's own per message).
 *
 * Joining (docs/pipeline-spec.md): sources are asked in spec order;
 * attributes merge with the earlier source winning; `enriched` is true
 * when every source had the key.  The first source that misses with
 * on_missing drop or dlq decides the record's fate.
 *
 * Output: key = the input's Kafka key, headers = the input's (traceparent),
 * timestamp = the input's.  DLQ records carry the input value unchanged and
 * the headers weir.stage=enrichment, weir.error.class
 * (missing_key|malformed|schema), weir.error.reason, plus
 * weir.source.topic/partition/offset.
 *
 * Metrics: weir_enrichment_records_total{input,result=enriched|unenriched|
 * dropped|dlq}, weir_enrichment_dropped_total{source},
 * weir_enrichment_dlq_records_total{class}. */
#ifndef WEIR_EN_JOIN_H
#define WEIR_EN_JOIN_H

#include <stddef.h>

#include "en_source.h"
#include "kc_txn.h"
#include "svc.h"

typedef struct en_join_s en_join_t;

/* `sources` (nsources, spec order) stay the caller's and must outlive the
 * join.  Registers output schemas when the wire format is Confluent.
 * NULL with errstr. */
/* 0 when SCHEMA_DIR holds the four schemas the join reads and writes, else
 * -1 naming the one missing and the files to copy: checked before any
 * source or Kafka connection. */
int en_join_check_schemas(svc_t *svc, char *errstr, size_t errstr_size);

en_join_t *en_join_new(svc_t *svc, en_source_t *sources, size_t nsources, char *errstr,
                       size_t errstr_size);

/* kc_txn hooks: opaque is the en_join_t. */
kc_txn_res_t en_join_process(kc_txn_t *t, const rd_kafka_message_t *m, void *opaque);
kc_txn_res_t en_join_pre_commit(kc_txn_t *t, void *opaque);
void en_join_aborted(kc_txn_t *t, void *opaque);
kc_txn_res_t en_join_tick(kc_txn_t *t, void *opaque);

/* Producer properties the batching needs (NULL-terminated name, value
 * pairs): a batch of records goes out as one request per partition. */
extern const char *const en_join_producer_props[];
/* kc_txn_conf_tab defaults enrichment changes (kc_txn_conf_t.env_defaults):
 * transactions bounded by COMMIT_INTERVAL, not by 1000 records (main.c). */
extern const char *const en_join_commit_defaults[];

/* The topics to subscribe to: NULL-terminated, owned by the join. */
const char *const *en_join_topics(const en_join_t *j);

void en_join_destroy(en_join_t *j);

#endif
