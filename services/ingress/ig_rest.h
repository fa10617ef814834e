/* ig_rest — the request bodies ingress accepts, turned into Kafka records,
 * and the JSON it answers with (Confluent REST Proxy v2 shapes).
 *
 * Bodies (see docs/ingress.md):
 *   IG_FMT_JSON    application/vnd.kafka.json.v2+json (and application/json):
 *                  {"records":[{"key":..,"value":{..},"partition":n}]}; each
 *                  value is JSON converted to Avro against the topic's schema
 *                  (plain JSON or the Avro JSON encoding, av_json.h)
 *   IG_FMT_AVRO    application/vnd.kafka.avro.v2+json: the same, plus
 *                  value_schema or value_schema_id (required, as in REST
 *                  Proxy), which must be the topic's schema
 *   IG_FMT_BINARY  application/vnd.kafka.binary.v2+json: value (and key)
 *                  base64; the value must be one framed Avro record of the
 *                  topic's schema (single-object or Confluent), validated
 *   IG_FMT_NDJSON  POST /v1/events/{topic}: one JSON value a line
 * Keys: the record's "key" when given (a string's UTF-8 bytes, an integer's
 * decimal digits, binary: the decoded bytes), else the value of the
 * topic's key field as UTF-8 text (SPEC §2), else none.
 *
 * ig_parse() fills an ig_batch_t, reused across requests by one thread: the
 * encoded keys and values sit in one buffer, each record has its offsets
 * there or its error (REST Proxy code and a message naming the schema
 * path).  It never produces anything: the caller decides what a batch with
 * invalid records means (ig_http: nothing of it is produced).  Keys that
 * are not valid UTF-8 and records over opts.max_record_bytes are invalid
 * records, whichever parser read them. */
#ifndef WEIR_IG_REST_H
#define WEIR_IG_REST_H

#include <stddef.h>
#include <stdint.h>

#include "av_wire.h"
#include "buf.h"
#include "ig_resp.h"

typedef enum { IG_FMT_JSON = 0, IG_FMT_AVRO, IG_FMT_BINARY, IG_FMT_NDJSON } ig_fmt_t;

/* REST Proxy's error codes (and Weir's few additions, documented). */
#define IG_E_BAD_REQUEST         400   /* malformed JSON */
#define IG_E_UNAUTHORIZED        40101 /* missing or wrong bearer token */
#define IG_E_NOT_FOUND           404
#define IG_E_TOPIC_NOT_FOUND     40401
#define IG_E_PARTITION_NOT_FOUND 40402
#define IG_E_METHOD              405
#define IG_E_REQUEST_TIMEOUT     408
#define IG_E_TOO_LARGE           413
#define IG_E_HEADERS_TOO_LARGE   431
#define IG_E_MEDIA_TYPE          415
#define IG_E_UNPROCESSABLE       422
#define IG_E_KEY_SCHEMA_MISSING  42201
#define IG_E_VAL_SCHEMA_MISSING  42202
#define IG_E_CONVERSION          42203 /* a record does not fit the schema */
#define IG_E_INVALID_SCHEMA      42205 /* a schema given that ingress cannot write */
#define IG_E_BATCH_REJECTED      42210 /* valid record not produced: others were invalid */
#define IG_E_TOO_MANY_REQUESTS   42901
#define IG_E_KAFKA               50002
#define IG_E_KAFKA_RETRIABLE     50003

/* Content-Type → format for a route (ndjson_route: /v1/events).  Media
 * type parameters (charset) are ignored.  0, or -1 if not accepted. */
int ig_fmt_parse(const char *ctype, int ndjson_route, ig_fmt_t *out);

/* The Content-Types ig_fmt_parse accepts on a route, comma-separated (for
 * the 415 answer). */
const char *ig_fmt_accepted(int ndjson_route);

/* What ingress writes to one topic.  Read-only once set up. */
typedef struct ig_topic_s {
        const char *name;
        const av_schema_t *schema;
        av_wire_t wire;
        int32_t schema_id;            /* Confluent: the id under <topic>-value; -1 otherwise */
        const char *key_field;        /* field whose value is the key, or NULL */
        const struct ig_fast_s *fast; /* ig_fast.h plan, or NULL */
} ig_topic_t;

typedef struct ig_rec_s {
        size_t key_off, key_len; /* in ig_batch_t.data, when has_key */
        size_t val_off, val_len;
        int has_key;
        int32_t partition; /* -1: by key */
        int err_code;      /* 0, or an IG_E_* code */
        size_t err_off;    /* in ig_batch_t.errs: NUL-terminated message */
} ig_rec_t;

typedef struct ig_batch_s {
        ig_rec_t *recs;
        size_t n, cap;
        size_t ninvalid;
        buf_t data; /* keys and values, encoded */
        buf_t errs; /* record error messages */
        /* Request-level error, when ig_parse() returns -1. */
        unsigned status;
        int error_code;
        char message[512];
        struct ig_arena_s *arena; /* cJSON allocations while parsing (ig_arena.h) */
        /* Reused Avro value for the schema last converted to. */
        const av_schema_t *vschema;
        avro_value_t value;
} ig_batch_t;

typedef struct ig_parse_opts_s {
        size_t max_records;
        /* value_schema_id look-up (sr_lookup_cb and the sr_t), or NULL: then a
         * value_schema_id other than the topic's own is refused. */
        av_schema_lookup_cb lookup;
        void *lookup_opaque;
        /* Largest key + encoded value Kafka takes (message.max.bytes less
         * room for headers): a larger record is invalid (413).  0: no limit. */
        size_t max_record_bytes;
} ig_parse_opts_t;

void ig_batch_init(ig_batch_t *b);
void ig_batch_free(ig_batch_t *b);

/* A new, zeroed record slot at the end of b (partition -1), owned by b;
 * NULL when out of memory.  For the parsers (ig_rest, ig_fast). */
ig_rec_t *ig_rec_add(ig_batch_t *b);

/* Parses `body` as `fmt` for topic t into b (emptied first).  Returns 0 when
 * the body was understood (b->n records, b->ninvalid of them with errors),
 * or -1 with b->status, b->error_code and b->message set. */
int ig_parse(ig_batch_t *b, ig_fmt_t fmt, const ig_topic_t *t, const char *body, size_t len,
             const ig_parse_opts_t *o);

/* Marks each valid record of b that names a partition at or past nparts
 * (the topic's partition count) with IG_E_PARTITION_NOT_FOUND.  Returns how
 * many it marked. */
size_t ig_check_partitions(ig_batch_t *b, const char *topic, int32_t nparts);

/* Record i's error message ("" when none). */
const char *ig_rec_error(const ig_batch_t *b, size_t i);

#endif
