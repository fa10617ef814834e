/* kc_dr — waiting for the delivery of a group of records.
 *
 * Ingress answers an HTTP request only when Kafka has acknowledged (or
 * refused) every record in it, and reports each record's partition and
 * offset or error.  A kc_dr_batch_t holds one result slot per record; each
 * slot's kc_dr_t is the msg_opaque of one kc_produce():
 *
 *   kc_dr_batch_t *b = kc_dr_batch_new(n, NULL, NULL);
 *   for (i = 0; i < n; i++)
 *           if ((err = kc_produce(kc, &rec[i], kc_dr_batch_dr(b, i), 0)))
 *                   kc_dr_batch_fail(b, i, err);   // e.g. __QUEUE_FULL → 429
 *   kc_dr_batch_wait(b, timeout_ms);
 *   ... kc_dr_batch_result(b, i) ...
 *   kc_dr_batch_destroy(b);
 *
 * Lifetime: the batch is reference-counted — one reference for the caller,
 * one per record still in flight — so the caller may destroy it before every
 * report arrived (a timed-out request): the memory goes when the last report
 * does.  Reports arrive in the producer's polling thread (kc_poll_start()). */
#ifndef WEIR_KC_DR_H
#define WEIR_KC_DR_H

#include "kc.h"

typedef struct kc_dr_batch_s kc_dr_batch_t;

typedef struct kc_dr_result_s {
        rd_kafka_resp_err_t err; /* RD_KAFKA_RESP_ERR__IN_PROGRESS until reported */
        int32_t partition;
        int64_t offset;
} kc_dr_result_t;

/* `done` (may be NULL) runs once when the last of the `cnt` records is
 * settled — in the polling thread, or in the caller's if kc_dr_batch_fail()
 * settles the last — e.g. to resume a suspended HTTP connection.  It does
 * not run if the caller already destroyed the batch, and must not destroy
 * it itself.  NULL when out of memory. */
kc_dr_batch_t *kc_dr_batch_new(size_t cnt, void (*done)(kc_dr_batch_t *b, void *opaque),
                               void *opaque);

/* The msg_opaque for record i.  Takes a reference that its report (or
 * kc_dr_batch_fail()) releases: pass it to exactly one kc_produce(). */
kc_dr_t *kc_dr_batch_dr(kc_dr_batch_t *b, size_t i);

/* Record i will have no report (kc_produce() failed with err). */
void kc_dr_batch_fail(kc_dr_batch_t *b, size_t i, rd_kafka_resp_err_t err);

/* Waits until every record is settled or timeout_ms passed (-1: no limit).
 * Returns how many are still outstanding (0: all settled). */
size_t kc_dr_batch_wait(kc_dr_batch_t *b, int timeout_ms);

/* Result of record i (a copy, safe to read while reports still arrive). */
kc_dr_result_t kc_dr_batch_result(kc_dr_batch_t *b, size_t i);

/* How many records failed so far. */
size_t kc_dr_batch_failed(kc_dr_batch_t *b);

/* Drops the caller's reference. */
void kc_dr_batch_destroy(kc_dr_batch_t *b);

#endif
