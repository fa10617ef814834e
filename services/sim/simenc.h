/* simenc — turns a tgen reading into what weir-sim sends: Avro in either
 * wire format for Kafka, or a Confluent REST Proxy v2 JSON record for
 * ingress.  Readings tgen marked malformed come out broken in one of
 * TGEN_MALFORMED_KINDS ways a consumer must reject:
 *   Avro:  1 body cut in half, 2 wrong magic byte, 3 unknown fingerprint or
 *          schema id, 4 trailing bytes after the record;
 *   JSON:  1 speed_kmh a string, 2 vehicle_count missing, 3 an unknown
 *          field, 4 vehicle_count not an integer.
 * Threads: one simenc_t per thread; it reuses one Avro value, so encoding
 * does not allocate once the output buffer has grown. */
#ifndef WEIR_SIM_SIMENC_H
#define WEIR_SIM_SIMENC_H

#include <stddef.h>
#include <stdint.h>

#include "av_schema.h"
#include "av_wire.h"
#include "buf.h"
#include "tgen.h"

typedef struct simenc_s simenc_t;

/* `schema` must be weir.example.TrafficReading (or a schema with the same
 * field names and types) and outlive the encoder.  `schema_id` is the
 * registry id for AV_WIRE_CONFLUENT, ignored otherwise.  NULL with errstr
 * when a field is missing or of another type. */
simenc_t *simenc_new(const av_schema_t *schema, av_wire_t wire, int32_t schema_id, char *errstr,
                     size_t errstr_size);
void simenc_destroy(simenc_t *e);

/* Replaces out's content with the framed Avro record.  0, or -1 with errstr. */
int simenc_avro(simenc_t *e, const tgen_reading_t *r, buf_t *out, char *errstr, size_t errstr_size);

/* Appends the REST Proxy record object {"key":"x-3","value":{...}} to out.
 * 0, or -1 when out of memory. */
int simenc_json(const tgen_reading_t *r, buf_t *out);

#endif
