/* av_json — JSON to Avro values and back, for the HTTP ingress (Confluent
 * REST Proxy's vnd.kafka.avro.v2+json and vnd.kafka.json.v2+json bodies) and
 * the sink's WebSocket push.
 *
 * JSON → Avro accepts, against a schema:
 *   - the Avro JSON encoding: a union value as {"<branch name>": value}
 *     (primitive name, or full or short name of a named type) or null;
 *     bytes and fixed as strings of code points U+0000..U+00FF (ISO-8859-1);
 *   - plain JSON: a union value given bare takes the first branch whose type
 *     fits the JSON value (number → the first of int/long/float/double that
 *     holds it exactly, string → string, bytes, enum with that symbol,
 *     fixed of that length; object → the first record whose fields fit, else
 *     map).  Only the first fitting branch is tried, so conversion stays
 *     linear in the input whatever the schema.
 * Record fields missing from the JSON take their default, or fail.  Unknown
 * fields, duplicate fields, numbers that are out of range, non-integral for
 * int/long or non-finite, longs beyond ±2^53 (cJSON holds numbers as
 * doubles, so larger ones would already be rounded), invalid UTF-8 and
 * nesting deeper than AV_MAX_DEPTH are errors that name the path:
 *   "$.readings[2].speed: expected double, got string".
 * cJSON cuts strings at an escaped U+0000, which would silently shorten
 * bytes, fixed and string values: text containing "\u0000" is refused (see
 * av_json_find_nul for callers that parse bodies themselves).
 *
 * Avro → JSON writes the Avro JSON encoding by default, or with
 * AV_JSON_PLAIN_UNIONS the branch value alone (what a dashboard wants).
 * Bytes and fixed are written as ISO-8859-1 strings, non-ASCII as \u00XX;
 * NaN and infinities, which JSON cannot hold, as the strings "NaN",
 * "Infinity" and "-Infinity" (what Java's Avro JsonEncoder emits); floats and
 * doubles with the fewest digits that read back to the same value.  Output
 * is always valid UTF-8: invalid sequences in Avro strings become U+FFFD. */
#ifndef WEIR_AV_JSON_H
#define WEIR_AV_JSON_H

#include <cjson/cJSON.h>

#include "av_schema.h"
#include "buf.h"

/* Fills `value`, a value of `schema` (av_value_new), from a parsed JSON
 * document.  Returns 0, or -1 with errstr set; on error the value's content
 * is unspecified (it stays a valid value to reuse or free). */
int av_json_to_value(const av_schema_t *schema, const cJSON *json, avro_value_t *value,
                     char *errstr, size_t errstr_size);

/* The same from JSON text (len bytes, need not be NUL-terminated): invalid
 * JSON, text after the document and nesting beyond cJSON's limit (1000) are
 * errors with the offset. */
int av_json_text_to_value(const av_schema_t *schema, const char *text, size_t len,
                          avro_value_t *value, char *errstr, size_t errstr_size);

/* Offset of the first "\u0000" escape in JSON text, or -1.  cJSON would cut
 * the string holding it short without a word; callers that hand
 * av_json_to_value a tree they parsed should refuse such bodies first. */
long av_json_find_nul(const char *text, size_t len);

/* The deepest bracket nesting reached in JSON text before offset `off`:
 * tells cJSON's nesting limit (CJSON_NESTING_LIMIT, 1000) from other syntax
 * errors at the offset where cJSON stopped, which it does not distinguish. */
int av_json_depth_before(const char *text, size_t off);

/* Offset of the first byte of s (len bytes) that does not start a valid
 * UTF-8 sequence (overlong forms and surrogates are invalid), or -1. */
long av_utf8_invalid(const char *s, size_t len);

#define AV_JSON_PLAIN_UNIONS 0x1 /* write union values bare */

/* Appends the JSON text of `value` (of `schema`) to out, NUL-terminated (the
 * NUL is not counted in out->len).  Returns 0, or -1 with errstr set and out
 * as it was. */
int av_value_to_json(const av_schema_t *schema, avro_value_t *value, int flags, buf_t *out,
                     char *errstr, size_t errstr_size);

#endif
