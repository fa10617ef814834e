/* kc_dlq — the headers of a dead-letter record, the same at every stage
 * (SPEC §2: "on DLQ records the stage, the error class and a human-readable
 * reason"), so one consumer of any <stage>.dlq topic reads them all alike:
 *
 *   weir.stage             the stage that refused the record ("compute", ...)
 *   weir.error.class       a short machine-readable class ("late", "malformed", ...)
 *   weir.error.reason      human-readable text
 *   weir.source.topic      where the record came from
 *   weir.source.partition  decimal
 *   weir.source.offset     decimal
 *   weir.source.timestamp  decimal epoch ms (only when known)
 *
 * after a copy of the source record's own headers (traceparent survives).
 * Not a hot path: allocates per record, as librdkafka headers do. */
#ifndef WEIR_KC_DLQ_H
#define WEIR_KC_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "kc_txn.h"

/* Where a refused record came from.  `headers` may be NULL. */
typedef struct kc_dlq_src_s {
        const rd_kafka_headers_t *headers;
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp_ms; /* < 0: unknown, no header */
} kc_dlq_src_t;

/* A new header list (the caller owns it: pass it as kc_record_t.headers,
 * which hands it to librdkafka, or rd_kafka_headers_destroy() it).  NULL
 * only when out of memory. */
rd_kafka_headers_t *kc_dlq_headers(const char *stage, const kc_dlq_src_t *src,
                                   const char *error_class, const char *reason);

/* The same for a consumed message: its topic, partition, offset, timestamp
 * and headers are the source. */
rd_kafka_headers_t *kc_dlq_headers_msg(const char *stage, const rd_kafka_message_t *m,
                                       const char *error_class, const char *reason);

/* One dead-letter record for kc_txn_produce_dlq(). */
typedef struct kc_dlq_rec_s {
        const char *topic; /* the DLQ topic */
        const char *stage;
        /* The consumed message refused (its headers are copied, its topic,
         * partition, offset and timestamp are the weir.source.* headers), or
         * NULL: then src_* and, if set, the record's traceparent. */
        const kc_msg_t *orig;
        const char *src_topic;
        int32_t src_partition;
        int64_t src_offset;
        const void *traceparent;
        size_t traceparent_len;
        const void *key, *value;
        size_t key_len, value_len;
        const char *error_class, *reason;
} kc_dlq_rec_t;

/* Produces `r` in the loop's open transaction or batch (kc_txn_produce():
 * in at-least-once modes the batch commits only once it is delivered).
 * Returns 0, or -1 (logged; the batch will not commit). */
int kc_txn_produce_dlq(kc_txn_t *t, const kc_dlq_rec_t *r);

#endif
