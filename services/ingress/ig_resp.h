/* ig_resp — the JSON ingress answers with: Confluent REST Proxy v2's
 * error and produce-answer shapes, written into a reused buf_t.  ig_rest.h
 * includes it (its codes are ig_rest.h's IG_E_*). */
#ifndef WEIR_IG_RESP_H
#define WEIR_IG_RESP_H

#include <stdint.h>

#include "buf.h"

/* {"error_code":c,"message":"..."} into out (emptied first). */
void ig_resp_error(buf_t *out, int error_code, const char *message);

/* A produce answer written piece by piece:
 *   ig_resp_begin(out, value_schema_id);      // -1 → null
 *   ig_resp_offset(out, &first, partition, offset, 0, NULL);   per record
 *   ig_resp_end(out, error_code, message);    // 0 → no request-level error
 * giving {"key_schema_id":null,"value_schema_id":..,"offsets":[..]} plus
 * "error_code"/"message" when the request as a whole failed. */
void ig_resp_begin(buf_t *out, int32_t value_schema_id);
void ig_resp_offset(buf_t *out, int *first, int32_t partition, int64_t offset, int error_code,
                    const char *error);
void ig_resp_end(buf_t *out, int error_code, const char *message);

/* Appends s as a JSON string (quoted; control characters escaped, bytes
 * outside printable ASCII written as \u00XX so the answer is always valid
 * JSON whatever the input echoed in a message). */
void ig_json_str(buf_t *out, const char *s);

#endif
