/* wk_rec — from a decoded input record (an avro value of the input schema)
 * to the engine's cp_record_t: the grouping key, the event time and the
 * aggregated fields.  Field positions are resolved once against the input
 * schema (the decoder's reader schema, so every record has that shape);
 * per record it is index look-ups and no allocation.
 *
 * Key field: string, int, long or enum (or a union of null and one of
 * them); numbers become their decimal text, enums their symbol.  Event time:
 * in every form et.h reads, or the Kafka timestamp when the spec names no
 * event_time field. */
#ifndef WEIR_WK_REC_H
#define WEIR_WK_REC_H

#include <librdkafka/rdkafka.h>

#include "av_schema.h"
#include "cp.h"
#include "et.h"
#include "spec.h"

typedef struct wk_rec_plan_s {
        int key_idx;
        et_plan_t ts; /* the event time (et.h) */
        size_t nfields;
        int *field_idx; /* cp_engine_field(i)'s position in the input record */
} wk_rec_plan_t;

/* Resolves the positions.  0, or -1 with errstr naming the spec path. */
int wk_rec_plan_init(wk_rec_plan_t *pl, const spec_t *spec, const cp_engine_t *e,
                     const av_schema_t *input, char *errstr, size_t errstr_size);
void wk_rec_plan_fini(wk_rec_plan_t *pl);

/* Per-thread scratch the extracted record points into. */
typedef struct wk_rec_buf_s {
        double *values;
        unsigned char *present;
        char keynum[32]; /* a numeric key's text */
} wk_rec_buf_t;

int wk_rec_buf_init(wk_rec_buf_t *b, size_t nfields);
void wk_rec_buf_fini(wk_rec_buf_t *b);

/* Fills *r from `v` (and m's timestamp when the plan says so).  Returns
 * NULL, or the DLQ error class ("key", "event_time") with errstr saying
 * why.  r points into `v` and `b`: valid until either changes. */
const char *wk_rec_extract(const wk_rec_plan_t *pl, avro_value_t *v, const rd_kafka_message_t *m,
                           wk_rec_buf_t *b, cp_record_t *r, char *errstr, size_t errstr_size);

#endif
