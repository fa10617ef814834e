/* simkafka — weir-sim's Kafka output: one idempotent kc_ producer, record
 * key = intersection id, Kafka timestamp = the reading's event time, value =
 * the Avro record from simenc.  Delivery reports are counted in the thread
 * that calls simkafka_poll()/simkafka_flush() (weir-sim's only thread). */
#ifndef WEIR_SIM_SIMKAFKA_H
#define WEIR_SIM_SIMKAFKA_H

#include <stddef.h>

#include "simenc.h"
#include "simout.h"
#include "tgen.h"

typedef struct simkafka_s simkafka_t;

/* Takes nothing; `enc` must outlive it.  NULL with errstr. */
simkafka_t *simkafka_new(const char *topic, simenc_t *enc, char *errstr, size_t errstr_size);
/* Purges what was not delivered and frees. */
void simkafka_destroy(simkafka_t *k);

/* Produces one reading (to `partition`, or by key when < 0), waiting for
 * room in the local queue.  0, or -1 with errstr (counted as failed). */
int simkafka_send(simkafka_t *k, const tgen_reading_t *r, int partition, char *errstr,
                  size_t errstr_size);
/* Serves delivery reports without blocking. */
void simkafka_poll(simkafka_t *k);
/* Partitions of the topic, or -1 with errstr. */
int simkafka_partitions(simkafka_t *k, char *errstr, size_t errstr_size);
/* Waits up to timeout_ms for every report. */
void simkafka_flush(simkafka_t *k, int timeout_ms);
/* Counts so far; records still without a delivery report count as failed. */
void simkafka_stats(const simkafka_t *k, simstats_t *out);

#endif
