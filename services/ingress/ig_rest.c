/* ig_rest — REST Proxy v2 and NDJSON request bodies → encoded Kafka records,
 * and REST Proxy answers.  See ig_rest.h.  Runs in the HTTP threads, one
 * ig_batch_t each; per record it converts into one reused Avro value and
 * appends to one reused buffer, so a batch allocates only while its buffers
 * grow past the largest batch seen so far. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "av_json.h"
#include "ig_arena.h"
#include "ig_fast.h"
#include "ig_rest.h"
#include "vec.h"

#define IG_STR_(x) #x
#define IG_STR(x)  IG_STR_(x)

int ig_fmt_parse(const char *ctype, int ndjson_route, ig_fmt_t *out) {
        if (!ctype)
                return -1;
        while (*ctype == ' ')
                ctype++;
        size_t n = strcspn(ctype, "; \t");
        static const struct {
                const char *name;
                ig_fmt_t fmt;
                int ndjson;
        } types[] = {
                {"application/vnd.kafka.json.v2+json", IG_FMT_JSON, 0},
                {"application/json", IG_FMT_JSON, 0},
                {"application/vnd.kafka.avro.v2+json", IG_FMT_AVRO, 0},
                {"application/vnd.kafka.binary.v2+json", IG_FMT_BINARY, 0},
                {"application/x-ndjson", IG_FMT_NDJSON, 1},
                {"application/ndjson", IG_FMT_NDJSON, 1},
                {"application/jsonl", IG_FMT_NDJSON, 1},
                {"application/json", IG_FMT_NDJSON, 1},
        };
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if (types[i].ndjson == ndjson_route && strlen(types[i].name) == n &&
                    strncasecmp(ctype, types[i].name, n) == 0) {
                        *out = types[i].fmt;
                        return 0;
                }
        return -1;
}

const char *ig_fmt_accepted(int ndjson_route) {
        return ndjson_route ? "application/x-ndjson, application/ndjson, application/jsonl, "
                              "application/json"
                            : "application/vnd.kafka.json.v2+json, application/json, "
                              "application/vnd.kafka.avro.v2+json, "
                              "application/vnd.kafka.binary.v2+json";
}

void ig_batch_init(ig_batch_t *b) {
        memset(b, 0, sizeof(*b));
}

void ig_batch_free(ig_batch_t *b) {
        free(b->recs);
        ig_arena_destroy(b->arena);
        buf_free(&b->data);
        buf_free(&b->errs);
        if (b->vschema)
                avro_value_decref(&b->value);
        memset(b, 0, sizeof(*b));
}

static int ig_fail(ig_batch_t *b, unsigned status, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int ig_fail(ig_batch_t *b, unsigned status, int code, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->message, sizeof(b->message), fmt, ap);
        va_end(ap);
        b->status = status;
        b->error_code = code;
        return -1;
}

ig_rec_t *ig_rec_add(ig_batch_t *b) {
        if (VEC_RESERVE(b->recs, b->cap, b->n + 1) == -1)
                return NULL;
        ig_rec_t *r = &b->recs[b->n++];
        memset(r, 0, sizeof(*r));
        r->partition = -1;
        return r;
}

static void ig_rec_fail(ig_batch_t *b, ig_rec_t *r, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void ig_rec_fail(ig_batch_t *b, ig_rec_t *r, int code, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (!r->err_code)
                b->ninvalid++;
        r->err_code = code;
        r->err_off = b->errs.len;
        if (buf_append(&b->errs, msg, strlen(msg) + 1) != 0)
                r->err_off = SIZE_MAX;
}

const char *ig_rec_error(const ig_batch_t *b, size_t i) {
        const ig_rec_t *r = &b->recs[i];
        if (!r->err_code)
                return "";
        if (r->err_off == SIZE_MAX)
                return "out of memory";
        return b->errs.data + r->err_off;
}

/* --------------------------------------------------------------- keys */

static int ig_key_json(ig_batch_t *b, ig_rec_t *r, const cJSON *key) {
        char num[32];
        const char *s = NULL;
        size_t n = 0;
        if (cJSON_IsNull(key))
                return 0;
        if (cJSON_IsString(key)) {
                s = key->valuestring;
                n = strlen(s);
        } else if (cJSON_IsNumber(key) && key->valuedouble == floor(key->valuedouble) &&
                   fabs(key->valuedouble) <= 9007199254740992.0) {
                n = (size_t)snprintf(num, sizeof(num), "%.0f", key->valuedouble);
                s = num;
        } else {
                ig_rec_fail(b, r, IG_E_CONVERSION, "key: expected a string or an integer");
                return -1;
        }
        r->key_off = b->data.len;
        r->key_len = n;
        r->has_key = 1;
        if (buf_append(&b->data, s, n) != 0) {
                ig_rec_fail(b, r, IG_E_CONVERSION, "out of memory");
                return -1;
        }
        return 0;
}

/* The key field's value as text: strings as they are, integers in decimal,
 * through a union's branch; other types (and null) give no key. */
static void ig_key_field(ig_batch_t *b, ig_rec_t *r, const char *field) {
        avro_value_t f, br;
        if (avro_value_get_by_name(&b->value, field, &f, NULL) != 0)
                return;
        if (avro_value_get_type(&f) == AVRO_UNION) {
                if (avro_value_get_current_branch(&f, &br) != 0)
                        return;
                f = br;
        }
        char num[32];
        const char *s = NULL;
        size_t n = 0;
        int32_t i32;
        int64_t i64;
        const void *bytes;
        switch (avro_value_get_type(&f)) {
        case AVRO_STRING:
                if (avro_value_get_string(&f, &s, &n) != 0 || n == 0)
                        return;
                n--; /* avro-c counts the NUL */
                break;
        case AVRO_BYTES:
                if (avro_value_get_bytes(&f, &bytes, &n) != 0)
                        return;
                s = bytes;
                break;
        case AVRO_INT32:
                if (avro_value_get_int(&f, &i32) != 0)
                        return;
                n = (size_t)snprintf(num, sizeof(num), "%" PRId32, i32);
                s = num;
                break;
        case AVRO_INT64:
                if (avro_value_get_long(&f, &i64) != 0)
                        return;
                n = (size_t)snprintf(num, sizeof(num), "%" PRId64, i64);
                s = num;
                break;
        default:
                return;
        }
        r->key_off = b->data.len;
        r->key_len = n;
        if (buf_append(&b->data, s, n) == 0)
                r->has_key = 1;
}

/* ------------------------------------------------------------- values */

/* Converts one JSON value into the topic's Avro record and appends its
 * framed encoding, then the key from the key field if none was given. */
static void ig_value_json(ig_batch_t *b, ig_rec_t *r, const ig_topic_t *t, const cJSON *v) {
        char err[400];
        if (b->vschema != t->schema) {
                if (b->vschema)
                        avro_value_decref(&b->value);
                b->vschema = NULL;
                if (av_value_new(t->schema, &b->value) != 0) {
                        ig_rec_fail(b, r, IG_E_CONVERSION, "out of memory");
                        return;
                }
                b->vschema = t->schema;
        }
        if (av_json_to_value(t->schema, v, &b->value, err, sizeof(err)) != 0) {
                ig_rec_fail(b, r, IG_E_CONVERSION, "%s", err);
                return;
        }
        r->val_off = b->data.len;
        if (av_encode(t->schema, &b->value, t->wire, t->schema_id, &b->data, err, sizeof(err)) !=
            0) {
                ig_rec_fail(b, r, IG_E_CONVERSION, "%s", err);
                return;
        }
        r->val_len = b->data.len - r->val_off;
        if (!r->has_key && t->key_field)
                ig_key_field(b, r, t->key_field);
}

static int ig_b64val(unsigned char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+' || c == '-')
                return 62;
        if (c == '/' || c == '_')
                return 63;
        return -1;
}

/* Appends the bytes of base64 text s (standard or URL alphabet, padding
 * optional).  0, or -1 on a bad character or length. */
static int ig_b64_decode(buf_t *out, const char *s) {
        size_t len = strlen(s);
        while (len > 0 && s[len - 1] == '=')
                len--;
        if (len % 4 == 1 || buf_reserve(out, len / 4 * 3 + 3) != 0)
                return -1;
        unsigned char *o = (unsigned char *)out->data + out->len;
        uint32_t acc = 0;
        int bits = 0;
        size_t w = 0;
        for (size_t i = 0; i < len; i++) {
                int v = ig_b64val((unsigned char)s[i]);
                if (v < 0)
                        return -1;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        o[w++] = (unsigned char)(acc >> bits);
                }
        }
        out->len += w;
        return 0;
}

/* Binary format: a framed Avro record of the topic's schema, checked. */
static void ig_value_binary(ig_batch_t *b, ig_rec_t *r, const ig_topic_t *t, const cJSON *v) {
        char err[400];
        if (!cJSON_IsString(v)) {
                ig_rec_fail(b, r, IG_E_CONVERSION, "value: expected a base64 string");
                return;
        }
        r->val_off = b->data.len;
        if (ig_b64_decode(&b->data, v->valuestring) != 0) {
                ig_rec_fail(b, r, IG_E_CONVERSION, "value: invalid base64");
                return;
        }
        r->val_len = b->data.len - r->val_off;
        const char *p = b->data.data + r->val_off;
        av_header_t h;
        if (av_header_parse(p, r->val_len, &h, err, sizeof(err)) != AV_OK) {
                ig_rec_fail(b, r, IG_E_CONVERSION, "value: %s", err);
                return;
        }
        if (h.wire == AV_WIRE_SINGLE_OBJECT && h.fingerprint != av_schema_fingerprint(t->schema)) {
                ig_rec_fail(b, r, IG_E_CONVERSION,
                            "value: schema fingerprint %016" PRIx64 " is not %s's", h.fingerprint,
                            av_schema_name(t->schema) ? av_schema_name(t->schema) : "the topic");
                return;
        }
        if (h.wire == AV_WIRE_CONFLUENT && (t->schema_id < 0 || h.schema_id != t->schema_id)) {
                ig_rec_fail(b, r, IG_E_CONVERSION,
                            "value: schema id %" PRId32 " is not the topic's", h.schema_id);
                return;
        }
        if (av_validate(t->schema, p + h.len, r->val_len - h.len, err, sizeof(err)) != 0)
                ig_rec_fail(b, r, IG_E_CONVERSION, "value: %s", err);
}

/* ---------------------------------------------------- REST Proxy bodies */

/* For the avro format: the value schema the request names must be the
 * topic's (ingress writes one schema per topic; see docs/ingress.md). */
static int ig_check_value_schema(ig_batch_t *b, const ig_topic_t *t, const cJSON *doc,
                                 const ig_parse_opts_t *o) {
        char err[400];
        const cJSON *vs = cJSON_GetObjectItemCaseSensitive(doc, "value_schema");
        const cJSON *vid = cJSON_GetObjectItemCaseSensitive(doc, "value_schema_id");
        const char *text = NULL;
        if (vs && !cJSON_IsNull(vs)) {
                if (!cJSON_IsString(vs))
                        return ig_fail(b, 422, IG_E_INVALID_SCHEMA,
                                       "value_schema: expected a string holding the schema JSON");
                text = vs->valuestring;
        } else if (vid && !cJSON_IsNull(vid)) {
                if (!cJSON_IsNumber(vid) || vid->valuedouble != floor(vid->valuedouble) ||
                    vid->valuedouble < 0 || vid->valuedouble > 2147483647.0)
                        return ig_fail(b, 422, IG_E_INVALID_SCHEMA,
                                       "value_schema_id: expected a schema id");
                int32_t id = (int32_t)vid->valuedouble;
                if (t->schema_id >= 0 && id == t->schema_id)
                        return 0;
                if (!o->lookup)
                        return ig_fail(b, 422, IG_E_INVALID_SCHEMA,
                                       "value_schema_id %" PRId32 ": not the schema of topic %s "
                                       "(no SCHEMA_REGISTRY_URL to look it up)",
                                       id, t->name);
                /* The registry client caches what it parses: not in the arena. */
                ig_arena_begin(NULL);
                int rc = o->lookup(o->lookup_opaque, id, &text, err, sizeof(err));
                ig_arena_begin(b->arena);
                if (rc == AV_LOOKUP_RETRY)
                        return ig_fail(b, 503, IG_E_KAFKA_RETRIABLE,
                                       "value_schema_id %" PRId32 ": %s", id, err);
                if (rc != 0)
                        return ig_fail(b, 422, IG_E_INVALID_SCHEMA,
                                       "value_schema_id %" PRId32 ": %s", id, err);
        } else {
                return ig_fail(b, 422, IG_E_VAL_SCHEMA_MISSING,
                               "Request includes values and uses a format that requires schemas, "
                               "but does not include the value_schema or value_schema_id fields");
        }
        av_schema_t *s = av_schema_parse(text, strlen(text), "value_schema", err, sizeof(err));
        if (!s)
                return ig_fail(b, 422, IG_E_INVALID_SCHEMA, "%s", err);
        uint64_t fp = av_schema_fingerprint(s);
        av_schema_destroy(s);
        if (fp != av_schema_fingerprint(t->schema))
                return ig_fail(b, 422, IG_E_INVALID_SCHEMA,
                               "value schema is not the schema of topic %s (%s); ingress writes "
                               "only that one",
                               t->name, av_schema_name(t->schema) ? av_schema_name(t->schema) : "");
        return 0;
}

/* avro format: keys need a key schema, and the only one ingress writes is
 * "string" (keys are UTF-8 bytes on every Weir topic). */
static int ig_check_key_schema(ig_batch_t *b, const cJSON *doc, const cJSON *records) {
        const cJSON *ks = cJSON_GetObjectItemCaseSensitive(doc, "key_schema");
        const cJSON *kid = cJSON_GetObjectItemCaseSensitive(doc, "key_schema_id");
        if (ks && cJSON_IsString(ks)) {
                cJSON *k = cJSON_Parse(ks->valuestring);
                int ok = k && ((cJSON_IsString(k) && strcmp(k->valuestring, "string") == 0) ||
                               (cJSON_IsObject(k) &&
                                cJSON_IsString(cJSON_GetObjectItemCaseSensitive(k, "type")) &&
                                strcmp(cJSON_GetObjectItemCaseSensitive(k, "type")->valuestring,
                                       "string") == 0));
                cJSON_Delete(k);
                if (!ok)
                        return ig_fail(
                                b, 422, IG_E_INVALID_SCHEMA,
                                "key_schema: only \"string\" keys are written (UTF-8 bytes)");
                return 0;
        }
        if (kid && !cJSON_IsNull(kid))
                return ig_fail(b, 422, IG_E_INVALID_SCHEMA,
                               "key_schema_id: keys are UTF-8 bytes; give key_schema \"string\"");
        const cJSON *r;
        cJSON_ArrayForEach(r, records) {
                const cJSON *k = cJSON_GetObjectItemCaseSensitive(r, "key");
                if (k && !cJSON_IsNull(k))
                        return ig_fail(b, 422, IG_E_KEY_SCHEMA_MISSING,
                                       "Request includes keys and uses a format that requires "
                                       "schemas, but does not include the key_schema or "
                                       "key_schema_id fields");
        }
        return 0;
}

static void ig_record(ig_batch_t *b, ig_fmt_t fmt, const ig_topic_t *t, const cJSON *item,
                      size_t i) {
        ig_rec_t *r = ig_rec_add(b);
        if (!r)
                return;
        if (!cJSON_IsObject(item)) {
                ig_rec_fail(b, r, IG_E_UNPROCESSABLE, "records[%zu]: expected an object", i);
                return;
        }
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, "value");
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(item, "key");
        const cJSON *part = cJSON_GetObjectItemCaseSensitive(item, "partition");
        if (part && !cJSON_IsNull(part)) {
                if (!cJSON_IsNumber(part) || part->valuedouble != floor(part->valuedouble) ||
                    part->valuedouble < 0 || part->valuedouble > 2147483647.0) {
                        ig_rec_fail(b, r, IG_E_UNPROCESSABLE,
                                    "partition: expected a non-negative integer");
                        return;
                }
                r->partition = (int32_t)part->valuedouble;
        }
        if (!value) {
                ig_rec_fail(b, r, IG_E_CONVERSION, "value: missing");
                return;
        }
        if (key && !cJSON_IsNull(key)) {
                if (fmt == IG_FMT_BINARY) {
                        r->key_off = b->data.len;
                        if (!cJSON_IsString(key) || ig_b64_decode(&b->data, key->valuestring)) {
                                ig_rec_fail(b, r, IG_E_CONVERSION, "key: invalid base64");
                                return;
                        }
                        r->key_len = b->data.len - r->key_off;
                        r->has_key = 1;
                } else if (ig_key_json(b, r, key) != 0) {
                        return;
                }
        }
        if (fmt == IG_FMT_BINARY)
                ig_value_binary(b, r, t, value);
        else
                ig_value_json(b, r, t, value);
}

/* Where cJSON stopped in text: malformed, or nested past its limit. */
static const char *ig_json_what(const char *text, size_t at) {
        return av_json_depth_before(text, at) >= CJSON_NESTING_LIMIT
                       ? "JSON nests deeper than " IG_STR(CJSON_NESTING_LIMIT) " levels (the limit)"
                       : "malformed JSON";
}

static int ig_blank(const char *p, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
                        return 0;
        return 1;
}

static int ig_parse_envelope(ig_batch_t *b, ig_fmt_t fmt, const ig_topic_t *t, const char *body,
                             size_t len, const ig_parse_opts_t *o) {
        const char *end = NULL;
        cJSON *doc = cJSON_ParseWithLengthOpts(body, len, &end, 0);
        if (!doc) {
                size_t at = end && end >= body ? (size_t)(end - body) : 0;
                return ig_fail(b, 400, IG_E_BAD_REQUEST, "%s at offset %zu", ig_json_what(body, at),
                               at);
        }
        while (end && end < body + len &&
               (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
                end++;
        int rc = 0;
        const cJSON *records = cJSON_GetObjectItemCaseSensitive(doc, "records");
        if (end != body + len)
                rc = ig_fail(b, 400, IG_E_BAD_REQUEST, "malformed JSON: text after the document");
        else if (!cJSON_IsObject(doc))
                rc = ig_fail(b, 422, IG_E_UNPROCESSABLE, "expected a JSON object with records");
        else if (!cJSON_IsArray(records) || !records->child)
                rc = ig_fail(b, 422, IG_E_UNPROCESSABLE, "records: expected a non-empty array");
        if (rc == 0) {
                size_t n = (size_t)cJSON_GetArraySize(records);
                if (n > o->max_records)
                        rc = ig_fail(b, 413, IG_E_TOO_LARGE,
                                     "%zu records; at most %zu per request (INGRESS_MAX_RECORDS)",
                                     n, o->max_records);
        }
        if (rc == 0 && fmt == IG_FMT_AVRO)
                rc = ig_check_value_schema(b, t, doc, o);
        if (rc == 0 && fmt == IG_FMT_AVRO)
                rc = ig_check_key_schema(b, doc, records);
        if (rc == 0) {
                const cJSON *item;
                size_t i = 0;
                cJSON_ArrayForEach(item, records) {
                        ig_record(b, fmt, t, item, i++);
                }
                if (b->n != i)
                        rc = ig_fail(b, 500, IG_E_KAFKA, "out of memory");
        }
        if (!ig_arena_active())
                cJSON_Delete(doc);
        return rc;
}

/* ---------------------------------------------------------------- NDJSON */

static int ig_parse_ndjson(ig_batch_t *b, const ig_topic_t *t, const char *body, size_t len,
                           const ig_parse_opts_t *o) {
        const char *p = body, *end = body + len;
        size_t line = 0;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *le = nl ? nl : end;
                const char *s = p;
                p = nl ? nl + 1 : end;
                line++;
                while (s < le && (*s == ' ' || *s == '\t' || *s == '\r'))
                        s++;
                if (s == le)
                        continue;
                if (b->n >= o->max_records)
                        return ig_fail(b, 413, IG_E_TOO_LARGE,
                                       "more than %zu records (INGRESS_MAX_RECORDS)",
                                       o->max_records);
                ig_rec_t *r = ig_rec_add(b);
                if (!r)
                        return ig_fail(b, 500, IG_E_KAFKA, "out of memory");
                const char *jend = NULL;
                cJSON *v = cJSON_ParseWithLengthOpts(s, (size_t)(le - s), &jend, 0);
                while (v && jend < le && (*jend == ' ' || *jend == '\t' || *jend == '\r'))
                        jend++;
                if (!v || jend != le) {
                        size_t at = jend && jend >= s ? (size_t)(jend - s) : 0;
                        ig_rec_fail(b, r, IG_E_CONVERSION, "line %zu: %s at column %zu", line,
                                    v ? "malformed JSON" : ig_json_what(s, at), at + 1);
                } else {
                        ig_value_json(b, r, t, v);
                }
                if (!ig_arena_active())
                        cJSON_Delete(v);
        }
        if (b->n == 0)
                return ig_fail(b, 422, IG_E_UNPROCESSABLE,
                               "no records: the body holds no JSON value (one a line)");
        return 0;
}

/* Checks that need the encoded record, whichever parser made it: keys are
 * UTF-8 on every Weir topic (SPEC §2), and librdkafka refuses a record over
 * message.max.bytes at produce time, after the request's earlier records
 * were queued: refused here instead, so nothing of the request is. */
static void ig_check_records(ig_batch_t *b, const ig_parse_opts_t *o) {
        for (size_t i = 0; i < b->n; i++) {
                ig_rec_t *r = &b->recs[i];
                if (r->err_code)
                        continue;
                long bad = r->has_key ? av_utf8_invalid(b->data.data + r->key_off, r->key_len) : -1;
                if (bad >= 0) {
                        ig_rec_fail(b, r, IG_E_CONVERSION,
                                    "key: not valid UTF-8 (byte 0x%02x at offset %ld); keys are "
                                    "UTF-8 text on every Weir topic",
                                    (unsigned char)b->data.data[r->key_off + (size_t)bad], bad);
                        continue;
                }
                size_t sz = r->key_len + r->val_len;
                if (o->max_record_bytes && sz > o->max_record_bytes)
                        ig_rec_fail(b, r, IG_E_TOO_LARGE,
                                    "record of %zu bytes (key and encoded value) is over the "
                                    "%zu Kafka accepts (message.max.bytes, "
                                    "KAFKA_MESSAGE_MAX_BYTES, less room for headers)",
                                    sz, o->max_record_bytes);
        }
}

size_t ig_check_partitions(ig_batch_t *b, const char *topic, int32_t nparts) {
        size_t bad = 0;
        for (size_t i = 0; i < b->n; i++) {
                ig_rec_t *r = &b->recs[i];
                if (r->err_code || r->partition < nparts)
                        continue;
                ig_rec_fail(b, r, IG_E_PARTITION_NOT_FOUND,
                            "Partition not found: topic %s has partitions 0 to %" PRId32
                            ", not %" PRId32,
                            topic, nparts - 1, r->partition);
                bad++;
        }
        return bad;
}

int ig_parse(ig_batch_t *b, ig_fmt_t fmt, const ig_topic_t *t, const char *body, size_t len,
             const ig_parse_opts_t *o) {
        b->n = 0;
        b->ninvalid = 0;
        b->data.len = 0;
        b->errs.len = 0;
        b->status = 0;
        b->error_code = 0;
        b->message[0] = '\0';
        if (ig_blank(body, len))
                return ig_fail(b, 422, IG_E_UNPROCESSABLE,
                               fmt == IG_FMT_NDJSON ? "empty body: expected one JSON value a line"
                                                    : "empty body: expected {\"records\": [...]}");
        long nul = av_json_find_nul(body, len);
        if (nul >= 0)
                return ig_fail(b, 422, IG_E_UNPROCESSABLE,
                               "\\u0000 at offset %ld: NUL characters are not accepted", nul);
        if (t->fast && (fmt == IG_FMT_JSON || fmt == IG_FMT_NDJSON)) {
                if (ig_fast_parse(t->fast, b, fmt, body, len, o->max_records) == 0) {
                        ig_check_records(b, o);
                        return 0;
                }
                b->n = 0; /* not for the fast path: start again */
                b->ninvalid = 0;
                b->data.len = 0;
                b->errs.len = 0;
        }
        if (!b->arena)
                b->arena = ig_arena_new(); /* NULL: plain malloc, slower */
        if (b->arena)
                ig_arena_begin(b->arena);
        int rc = fmt == IG_FMT_NDJSON ? ig_parse_ndjson(b, t, body, len, o)
                                      : ig_parse_envelope(b, fmt, t, body, len, o);
        if (b->arena)
                ig_arena_end(b->arena);
        if (rc == 0)
                ig_check_records(b, o);
        return rc;
}
