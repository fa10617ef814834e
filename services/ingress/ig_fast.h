/* ig_fast — a direct JSON → Avro binary path for the common case, beside
 * the general one (cJSON tree + av_json + av_encode).
 *
 * For a topic whose schema is a flat record of null, boolean, int, long,
 * float, double and string fields (each possibly a 2-branch union with
 * null), ig_fast_parse() scans a json-format REST Proxy body or an NDJSON
 * body once and writes each record's framed Avro encoding and key straight
 * into the ig_batch_t — no parse tree, no allocation per record.  It handles
 * only what it can encode exactly as the general path would: plain values
 * in the schema's types, every field present, no escapes or non-ASCII in
 * strings, integers without fraction or exponent.  Anything else — an
 * invalid record included — makes it give up, and ig_parse() runs the
 * general path over the whole body, which gives the exact errors.  The fuzz
 * harness checks that both paths produce the same bytes. */
#ifndef WEIR_IG_FAST_H
#define WEIR_IG_FAST_H

#include <stddef.h>

#include "ig_rest.h"

typedef struct ig_fast_s ig_fast_t;

/* A plan for topic t (schema, framing, key field), or NULL when the schema
 * is not one this path handles (or out of memory).  Free with
 * ig_fast_destroy(). */
ig_fast_t *ig_fast_compile(const ig_topic_t *t);
void ig_fast_destroy(ig_fast_t *f);

/* Fills b (already emptied) from body as ig_parse() would.  0 when done,
 * -1 when the body needs the general path (b is then to be emptied again). */
int ig_fast_parse(const ig_fast_t *f, ig_batch_t *b, ig_fmt_t fmt, const char *body, size_t len,
                  size_t max_records);

#endif
