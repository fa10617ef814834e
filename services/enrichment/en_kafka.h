/* en_kafka — the compacted-topic source: the topic materialised in memory
 * in every instance, like Kafka Streams' GlobalKTable.
 *
 * A consumer with no group assigns every partition of the topic from the
 * beginning.  en_kafka_load() reads until every partition has reported its
 * end (end offset at load time; read_committed, so the last stable offset)
 * and only then returns, so the service turns ready and starts processing
 * with the whole table.  Afterwards en_kafka_follow() applies new records
 * without blocking; the service calls it from kc_txn's tick hook, i.e. in
 * the thread that processes records, so the table has exactly one thread
 * and needs no lock (updates land between records, never during one).
 *
 * Records: key = the Kafka record key (or the value field `key_field`);
 * value = an Avro record in either wire format, whose scalar fields become
 * the attributes (strings; numbers in round-trip form, booleans
 * "true"/"false", enums their symbol, null left out; nested records, arrays
 * and maps are skipped).  A null value (tombstone) deletes the key.  A
 * record that cannot be decoded is logged, counted
 * (weir_enrichment_table_errors_total) and skipped.  Partitions added to the
 * topic after start are not followed until a restart. */
#ifndef WEIR_EN_KAFKA_H
#define WEIR_EN_KAFKA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "en_table.h"
#include "spec.h"
#include "st.h"
#include "svc.h"

typedef struct en_kafka_s en_kafka_t;

/* Creates the consumer (KAFKA_* applies).  NULL with errstr. */
en_kafka_t *en_kafka_new(svc_t *svc, const spec_source_t *src, char *errstr, size_t errstr_size);

/* Waits for the topic to exist, then reads it to its end, beating `beat`
 * (may be NULL) while it waits.  ST_OK; ST_STOPPED as soon as *stop is set;
 * ST_NOMEM or ST_FATAL with errstr. */
st_t en_kafka_load(en_kafka_t *k, atomic_int *stop, admin_beat_t *beat, char *errstr,
                   size_t errstr_size);

/* Applies up to `max` records that have arrived; never blocks.  Returns how
 * many were applied. */
int en_kafka_follow(en_kafka_t *k, int max);

en_table_t *en_kafka_table(en_kafka_t *k);

/* Seconds since the table was last known to be at the end of every
 * partition (0 while it is). */
double en_kafka_staleness_s(const en_kafka_t *k);

void en_kafka_destroy(en_kafka_t *k);

#endif
