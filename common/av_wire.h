/* av_wire — Avro records on Kafka: the two wire formats (SPEC §2), a
 * hostile-input-safe decoder with writer→reader schema resolution, and the
 * encoder.
 *
 *   single-object (the default):  C3 01 | CRC-64-AVRO fingerprint, 8 bytes LE | Avro binary
 *   Confluent:                    00 | schema id, 4 bytes BE | Avro binary
 *
 * The decoder tells the two apart by the first byte.  A fingerprint is
 * looked up in the av_registry_t (the .avsc files in schemas/); a Confluent
 * schema id is resolved through an av_schema_lookup_cb that the Schema
 * Registry client (sr.h) provides.  Every record's bytes are validated against the writer
 * schema (av_validate) before anything is stored, then read straight into
 * the reader schema's value, resolving per the Avro specification.
 *
 * Threads: one av_decoder_t per thread.  It caches a compiled plan per
 * writer schema and reuses its value and buffers, so in the steady state a
 * record of scalars, strings, bytes, enums, fixed and unions decodes with no
 * allocation (measured); avro-c's generic values still allocate per element
 * for maps, and for arrays whose items hold strings or bytes.
 * av_encode() and av_validate() are reentrant. */
#ifndef WEIR_AV_WIRE_H
#define WEIR_AV_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "av_schema.h"
#include "buf.h"

typedef enum {
        AV_WIRE_SINGLE_OBJECT = 0, /* default */
        AV_WIRE_CONFLUENT = 1,
} av_wire_t;

/* "single-object" or "confluent" (as configuration spells them).  0 or -1. */
int av_wire_parse(const char *s, av_wire_t *out);
const char *av_wire_name(av_wire_t wire);

/* Results of av_decode() and of the look-up callback; every error is
 * negative.  The class decides what a consumer does with the record. */
typedef enum {
        AV_OK = 0,
        AV_ERR_MALFORMED = -1, /* the bytes are not a record: bad framing,
                                * or not valid under the writer schema → DLQ */
        AV_ERR_SCHEMA = -2,    /* writer schema unknown, invalid, or not
                                * readable as the reader schema → DLQ */
        AV_ERR_RETRY = -3,     /* the writer schema could not be fetched now
                                * (registry unreachable): retry, do not DLQ */
} av_status_t;

/* "ok", "malformed", "schema", "retry": for DLQ error-class headers. */
const char *av_status_name(int status);

/* Resolves a Confluent schema id to schema JSON.  Returns 0 with
 * *schema_json set (NUL-terminated; it need only stay valid until the
 * callback's caller returns: the decoder parses it at once and caches the
 * result for the decoder's lifetime, so it asks at most once per id on
 * success); AV_LOOKUP_RETRY when the registry could not be asked (network,
 * timeout, 5xx: the record is worth retrying); any other negative value when
 * the id will never resolve (unknown id, not an Avro schema).  errstr says
 * why.  Called from av_decode(), in the decoding thread.  sr.h's
 * sr_lookup_cb() has this shape (its SR_ERR_TRANSPORT is -1). */
#define AV_LOOKUP_RETRY (-1)
typedef int (*av_schema_lookup_cb)(void *opaque, int32_t id, const char **schema_json, char *errstr,
                                   size_t errstr_size);

/* The framing in front of the Avro binary. */
typedef struct av_header_s {
        av_wire_t wire;
        uint64_t fingerprint; /* single-object */
        int32_t schema_id;    /* Confluent */
        size_t len;           /* bytes of framing: 10 or 5 */
} av_header_t;

/* Parses the framing at the start of buf.  AV_OK or AV_ERR_MALFORMED with
 * errstr (wrong magic, truncated header). */
int av_header_parse(const void *buf, size_t len, av_header_t *h, char *errstr, size_t errstr_size);

/* Checks that data[0..len) is exactly one valid value of `writer` (raw Avro
 * binary, no framing): see av_validate.c for what is checked.  0, or -1 with
 * errstr naming the path ("$.readings[3].speed: string length ...").  Never
 * allocates. */
int av_validate(const av_schema_t *writer, const void *data, size_t len, char *errstr,
                size_t errstr_size);

/* ---------------------------------------------------------------- decoding */

typedef struct av_decoder_s av_decoder_t;

/* `reg`: schemas for single-object fingerprints (may be NULL: then only
 * Confluent records decode).  `reader`: the schema values are read as, or
 * NULL to read each record as its writer schema.  `lookup`/`opaque`: for
 * Confluent ids, or NULL.  reg and reader must outlive the decoder.
 * Returns NULL only when out of memory. */
av_decoder_t *av_decoder_new(const av_registry_t *reg, const av_schema_t *reader,
                             av_schema_lookup_cb lookup, void *opaque);
void av_decoder_destroy(av_decoder_t *dec);

typedef struct av_decoded_s {
        avro_value_t *value;       /* the record; owned by the decoder, valid
                                    * until its next av_decode() or destroy */
        const av_schema_t *schema; /* the value's schema: reader, or writer */
        const av_schema_t *writer; /* the schema the bytes were written with */
        av_header_t header;
} av_decoded_t;

/* Decodes one framed record.  Returns AV_OK with *out filled, or an
 * av_status_t error with errstr set. */
int av_decode(av_decoder_t *dec, const void *buf, size_t len, av_decoded_t *out, char *errstr,
              size_t errstr_size);

/* ---------------------------------------------------------------- encoding */

/* Appends `value` (a value of `schema`) framed in `wire` to out: the
 * schema's fingerprint for single-object, `schema_id` (>= 0, the id the
 * Schema Registry gave the schema) for Confluent.  Returns 0, or -1 with
 * errstr (e.g. a union with no branch selected) and out as it was. */
int av_encode(const av_schema_t *schema, avro_value_t *value, av_wire_t wire, int32_t schema_id,
              buf_t *out, char *errstr, size_t errstr_size);

#endif
