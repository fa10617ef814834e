/* av_schema — Avro schemas as Weir uses them: parsed, canonicalised,
 * fingerprinted, and kept in a registry loaded from the .avsc files in schemas/.
 *
 * A schema is parsed by our own code over cJSON (names, namespaces,
 * defaults, aliases), which also produces its Parsing Canonical Form (Avro
 * specification, "Parsing Canonical Form for Schemas") and the CRC-64-AVRO
 * fingerprint of that form, the key of the single-object wire format.  The
 * equivalent avro-c schema is built from the same parse, so the two never
 * disagree, and is what values (avro_value_t) are created from.
 *
 * Threads: an av_schema_t and a loaded av_registry_t are read-only, so any
 * number of threads may use them at once (avro-c's reference counts are
 * atomic).  Loading and adding are not thread-safe: finish them first. */
#ifndef WEIR_AV_SCHEMA_H
#define WEIR_AV_SCHEMA_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

typedef struct av_schema_s av_schema_t;
typedef struct av_registry_s av_registry_t;

/* Nesting bound for schemas, records being validated, JSON being converted:
 * recursive schemas make data-driven depth possible, and each level costs
 * stack. */
#define AV_MAX_DEPTH 64

/* Parses a schema from JSON text (len bytes; need not be NUL-terminated).
 * `origin` (a file name, "schema id 42", or NULL) prefixes error messages.
 * Returns the schema, which the caller frees with av_schema_destroy(), or
 * NULL with errstr set. */
av_schema_t *av_schema_parse(const char *json, size_t len, const char *origin, char *errstr,
                             size_t errstr_size);
void av_schema_destroy(av_schema_t *schema);

/* Full name of the top-level type ("weir.example.TrafficReading"), or NULL
 * when the top-level type is not named (e.g. a bare "string").  Owned by the
 * schema. */
const char *av_schema_name(const av_schema_t *schema);
/* The schema JSON exactly as given to av_schema_parse, NUL-terminated, owned
 * by the schema: what to register with a Schema Registry, since the
 * canonical form drops defaults, docs and logical types. */
const char *av_schema_text(const av_schema_t *schema);
/* The Parsing Canonical Form, NUL-terminated, owned by the schema. */
const char *av_schema_canonical(const av_schema_t *schema);
/* CRC-64-AVRO of the canonical form. */
uint64_t av_schema_fingerprint(const av_schema_t *schema);
/* The avro-c schema, owned by the schema (avro_schema_incref to keep it). */
avro_schema_t av_schema_avro(const av_schema_t *schema);
/* Where the schema came from, as given to av_schema_parse(), or "". */
const char *av_schema_origin(const av_schema_t *schema);

/* Creates a generic avro-c value of the schema's type into *out.  The caller
 * frees it with avro_value_decref(out).  Returns 0, or -1 (out of memory). */
int av_value_new(const av_schema_t *schema, avro_value_t *out);

/* CRC-64-AVRO (Rabin) fingerprint of n bytes, as in the Avro specification
 * (EMPTY = 0xc15d213aa4d7a795).  On the wire it is written little-endian. */
uint64_t av_crc64(const void *data, size_t n);

/* ---------------------------------------------------------------- registry */

av_registry_t *av_registry_new(void);
/* Frees the registry and every schema in it. */
void av_registry_destroy(av_registry_t *reg);

/* Parses every regular file named *.avsc in `dir` (not recursive), in name
 * order, and adds each (av_registry_add); then those in `dir`/history/, if
 * it exists, as writer-only schemas (av_registry_add_writer).  Stops at the
 * first error, which names the file.  Returns the number of schemas added
 * (>= 0), or -1 with errstr set. */
int av_registry_load_dir(av_registry_t *reg, const char *dir, char *errstr, size_t errstr_size);

/* Adds a current schema, found by name and by fingerprint.  The registry
 * takes ownership in every case (on error it is destroyed).  Two current
 * schemas with the same full name and different fingerprints are an error
 * naming both origins; a schema identical to one already there is dropped
 * (made current if it was writer-only).  Returns 0 or -1 with errstr. */
int av_registry_add(av_registry_t *reg, av_schema_t *schema, char *errstr, size_t errstr_size);

/* Adds a writer-only schema: an earlier version kept so that records
 * written with it still decode (single-object framing has no Schema
 * Registry to fetch it from).  Found by fingerprint, never by name, so it
 * may share its name with the current version.  Ownership and return as for
 * av_registry_add. */
int av_registry_add_writer(av_registry_t *reg, av_schema_t *schema, char *errstr,
                           size_t errstr_size);

/* Look-ups return a schema owned by the registry, or NULL. */
const av_schema_t *av_registry_by_name(const av_registry_t *reg, const char *fullname);
const av_schema_t *av_registry_by_fingerprint(const av_registry_t *reg, uint64_t fingerprint);
size_t av_registry_count(const av_registry_t *reg);
/* i-th schema in the order added (0 <= i < count), writer-only ones
 * included, e.g. to register the current ones with a Schema Registry. */
const av_schema_t *av_registry_get(const av_registry_t *reg, size_t i);
/* 1 when the i-th schema was added as writer-only. */
int av_registry_is_writer_only(const av_registry_t *reg, size_t i);

#endif
