/* tp — W3C Trace Context `traceparent`, the one parser every stage uses.
 *
 *   00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>
 *
 * Ingress validates the caller's header with it, and compute, enrichment and
 * the sink read the Kafka header `traceparent` with it to make their spans
 * children of the record's context (common/otel.h).  Level 1 rules: lower-case
 * hex, version ff invalid, all-zero ids invalid, version 00 exactly 55
 * characters, a later version at least 55 with '-' after the flags (its extra
 * fields are ignored and the context is carried on as version 00). */
#ifndef WEIR_TP_H
#define WEIR_TP_H

#include <stddef.h>
#include <stdint.h>

#define TP_LEN     55 /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define TP_SAMPLED 0x01

typedef struct tp_ctx_s {
        uint8_t trace_id[16];
        uint8_t span_id[8];
        uint8_t flags; /* TP_SAMPLED */
} tp_ctx_t;

/* Parses s[0..len) (not NUL-terminated; len up to 512 considered).  Returns
 * 0 with *out set, or -1 when s is NULL or not a valid traceparent. */
int tp_parse(const char *s, size_t len, tp_ctx_t *out);

/* Writes the version-00 form of c, NUL-terminated. */
void tp_format(const tp_ctx_t *c, char out[TP_LEN + 1]);

/* A new context: random trace-id and span-id (never all zero), flags as given. */
void tp_new_trace(tp_ctx_t *c, uint8_t flags);

/* A new random span-id (never all zero) in out. */
void tp_new_span_id(uint8_t out[8]);

/* n random bytes from getrandom(2); a time-seeded generator if it fails. */
void tp_random(void *p, size_t n);

/* Lower-case hex of n bytes into out (2n characters, no NUL). */
void tp_hex(const uint8_t *p, size_t n, char *out);

#endif
