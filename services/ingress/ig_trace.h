/* ig_trace — W3C Trace Context `traceparent` for ingress.
 *
 * A valid header is carried as it came (normalised to version 00 when a
 * later version sent extra fields); a missing or invalid one is replaced by
 * a new one with a random trace-id and parent-id, flags 01 (sampled).
 * Ingress writes it as the Kafka header `traceparent` on every record of
 * the request, and echoes it in the response. */
#ifndef WEIR_IG_TRACE_H
#define WEIR_IG_TRACE_H

#define IG_TRACEPARENT_LEN 55 /* "00-" 32 hex "-" 16 hex "-" 2 hex */

/* 1 when `tp` is a valid traceparent per W3C Trace Context level 1:
 * lower-case hex, version not ff, trace-id and parent-id not all zero,
 * version 00 exactly 55 characters, later versions at least 55 with '-'
 * after the flags. */
int ig_trace_valid(const char *tp);

/* Writes a new random traceparent (NUL-terminated) to out. */
void ig_trace_generate(char out[IG_TRACEPARENT_LEN + 1]);

/* out = the version-00 form of `header` when valid (returns 1), else a
 * generated one (returns 0).  header may be NULL. */
int ig_trace_take(const char *header, char out[IG_TRACEPARENT_LEN + 1]);

#endif
