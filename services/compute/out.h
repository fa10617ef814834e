/* out — what compute writes: aggregates (schemas/aggregate.avsc,
 * weir.Aggregate) and alerts (schemas/alert.avsc, weir.Alert) encoded in the
 * configured wire format, and the headers of DLQ records.
 *
 * One out_t per worker thread: it owns a reusable avro value per schema and
 * the output buffer, so encoding allocates nothing once warm except what
 * avro-c's generic arrays and maps allocate per element (a few small blocks
 * per aggregate or alert, never per input record).  Not thread-safe. */
#ifndef WEIR_OUT_H
#define WEIR_OUT_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "av_wire.h"
#include "buf.h"
#include "cp.h"

typedef struct out_s out_t;

typedef struct out_conf_s {
        const char *pipeline;                /* spec name, written into every record */
        const av_schema_t *aggregate_schema; /* weir.Aggregate */
        const av_schema_t *alert_schema;     /* weir.Alert */
        av_wire_t wire;
        int32_t aggregate_schema_id; /* Confluent framing: the registry's ids */
        int32_t alert_schema_id;
} out_conf_t;

/* `conf` is copied; its schemas must outlive the out_t.  NULL on out of
 * memory. */
out_t *out_new(const out_conf_t *conf);
void out_destroy(out_t *o);

/* Encodes `a` (or `al`) into the out_t's buffer; *value and *len point at the
 * framed record, valid until the next call.  0, or -1 with errstr. */
int out_aggregate(out_t *o, const cp_aggregate_t *a, const void **value, size_t *len, char *errstr,
                  size_t errstr_size);
int out_alert(out_t *o, const cp_alert_t *al, const void **value, size_t *len, char *errstr,
              size_t errstr_size);

/* Headers for a DLQ copy of input message `m`: its own headers plus
 * weir.stage=compute, weir.error.class, weir.error.reason and
 * weir.source.{topic,partition,offset,timestamp}.  The caller owns the
 * result (gives it to kc_record_t.headers, destroying it if the produce
 * fails); NULL on out of memory. */
rd_kafka_headers_t *out_dlq_headers(const rd_kafka_message_t *m, const char *error_class,
                                    const char *reason);

/* The W3C `traceparent` header of `m`: 1 with *val and *len (owned by m), or 0. */
int out_traceparent(const rd_kafka_message_t *m, const void **val, size_t *len);

/* Headers holding just `traceparent` (copied), or NULL when traceparent is
 * NULL.  Owned by the caller as above. */
rd_kafka_headers_t *out_trace_headers(const void *traceparent, size_t len);

#endif
