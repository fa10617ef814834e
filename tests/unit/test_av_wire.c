/* test_av_wire — both wire formats byte for byte, round trips of every Avro
 * type, and hostile inputs: each must fail with a message, without a crash
 * or a large allocation (this suite also runs under ASan). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "av_json.h"
#include "av_wire.h"
#include "th.h"
#include "th_av.h"

static const char *ALL =
        "{\"type\":\"record\",\"name\":\"All\",\"namespace\":\"t\",\"fields\":["
        "{\"name\":\"n\",\"type\":\"null\"},"
        "{\"name\":\"b\",\"type\":\"boolean\"},"
        "{\"name\":\"i\",\"type\":\"int\"},"
        "{\"name\":\"l\",\"type\":\"long\"},"
        "{\"name\":\"f\",\"type\":\"float\"},"
        "{\"name\":\"d\",\"type\":\"double\"},"
        "{\"name\":\"by\",\"type\":\"bytes\"},"
        "{\"name\":\"s\",\"type\":\"string\"},"
        "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"Inner\",\"fields\":["
        "{\"name\":\"x\",\"type\":\"int\"}]}},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Color\",\"symbols\":[\"RED\","
        "\"GREEN\",\"BLUE\"]}},"
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
        "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"Inner\"]},"
        "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"Four\",\"size\":4}},"
        "{\"name\":\"list\",\"type\":{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
        "{\"name\":\"v\",\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}}]}";

/* The Avro JSON encoding of one All value, exactly as av_value_to_json
 * writes it. */
static const char *ALL_JSON =
        "{\"n\":null,\"b\":true,\"i\":-123,\"l\":1234567890123,\"f\":1.5,\"d\":-2.25,"
        "\"by\":\"\\u0001\\u00ffA\",\"s\":\"h\xc3\xa9llo \\\"q\\\"\",\"r\":{\"x\":7},"
        "\"e\":\"GREEN\",\"a\":[\"x\",\"\",\"yz\"],\"m\":{\"k1\":1,\"k2\":-2},"
        "\"u\":{\"t.Inner\":{\"x\":9}},\"fx\":\"abcd\","
        "\"list\":{\"v\":1,\"next\":{\"t.Node\":{\"v\":2,\"next\":null}}}}";

/* Registry with one schema (the registry owns it); *out is that schema. */
static av_registry_t *registry_of(const char *json, const av_schema_t **out) {
        char err[512];
        av_registry_t *reg = av_registry_new();
        av_schema_t *s = schema(json);
        TH_CHECK(av_registry_add(reg, s, err, sizeof(err)) == 0);
        *out = s;
        return reg;
}

static void test_framing_bytes(void) {
        const av_schema_t *s;
        av_registry_t *reg = registry_of("\"int\"", &s);
        avro_value_t v;
        buf_t out = BUF_INIT;
        char err[256];
        TH_CHECK(av_value_new(s, &v) == 0);
        avro_value_set_int(&v, -2);
        TH_CHECK(av_encode(s, &v, AV_WIRE_SINGLE_OBJECT, -1, &out, err, sizeof(err)) == 0);
        /* Fingerprint of "int" 0x7275d51a3f395c8f, little-endian; -2 → 0x03. */
        static const uint8_t so[] = {0xc3, 0x01, 0x8f, 0x5c, 0x39, 0x3f,
                                     0x1a, 0xd5, 0x75, 0x72, 0x03};
        TH_CHECK_INT(out.len, sizeof(so));
        TH_CHECK(out.len == sizeof(so) && memcmp(out.data, so, sizeof(so)) == 0);
        /* Appends after what is there. */
        TH_CHECK(av_encode(s, &v, AV_WIRE_CONFLUENT, 0x01020304, &out, err, sizeof(err)) == 0);
        static const uint8_t cf[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x03};
        TH_CHECK_INT(out.len, sizeof(so) + sizeof(cf));
        TH_CHECK(memcmp(out.data + sizeof(so), cf, sizeof(cf)) == 0);
        /* A Confluent frame needs an id. */
        size_t before = out.len;
        TH_CHECK(av_encode(s, &v, AV_WIRE_CONFLUENT, -1, &out, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "needs the schema's registry id");
        TH_CHECK_INT(out.len, before);

        av_header_t h;
        TH_CHECK(av_header_parse(out.data, sizeof(so), &h, err, sizeof(err)) == AV_OK);
        TH_CHECK(h.wire == AV_WIRE_SINGLE_OBJECT && h.fingerprint == 0x7275d51a3f395c8fULL &&
                 h.len == 10);
        TH_CHECK(av_header_parse(out.data + sizeof(so), sizeof(cf), &h, err, sizeof(err)) == AV_OK);
        TH_CHECK(h.wire == AV_WIRE_CONFLUENT && h.schema_id == 0x01020304 && h.len == 5);

        av_wire_t w;
        TH_CHECK(av_wire_parse("confluent", &w) == 0 && w == AV_WIRE_CONFLUENT);
        TH_CHECK(av_wire_parse("single-object", &w) == 0 && w == AV_WIRE_SINGLE_OBJECT);
        TH_CHECK(av_wire_parse("avro", &w) == -1);
        TH_CHECK_STR(av_wire_name(AV_WIRE_CONFLUENT), "confluent");
        TH_CHECK_STR(av_status_name(AV_ERR_RETRY), "retry");
        avro_value_decref(&v);
        buf_free(&out);
        av_registry_destroy(reg);
}

static int lookup_calls;
static int lookup(void *opaque, int32_t id, const char **json, char *errstr, size_t size) {
        lookup_calls++;
        if (id == 7) {
                *json = opaque;
                return 0;
        }
        if (id == 8) {
                snprintf(errstr, size, "registry unreachable");
                return AV_LOOKUP_RETRY;
        }
        snprintf(errstr, size, "HTTP 404: Schema %d not found", (int)id);
        return -2;
}

/* JSON → value → both wire formats → decode → JSON again, unchanged. */
static void test_round_trip_all_types(void) {
        const av_schema_t *s;
        av_registry_t *reg = registry_of(ALL, &s);
        avro_value_t v;
        buf_t bin = BUF_INIT, json = BUF_INIT;
        char err[512];
        TH_CHECK(av_value_new(s, &v) == 0);
        int rc = av_json_text_to_value(s, ALL_JSON, strlen(ALL_JSON), &v, err, sizeof(err));
        TH_CHECK(rc == 0);
        if (rc)
                fprintf(stderr, "  %s\n", err);
        av_decoder_t *dec = av_decoder_new(reg, s, lookup, (void *)ALL);
        for (int wire = 0; wire < 2; wire++) {
                bin.len = json.len = 0;
                TH_CHECK(av_encode(s, &v, (av_wire_t)wire, 7, &bin, err, sizeof(err)) == 0);
                av_decoded_t d;
                rc = av_decode(dec, bin.data, bin.len, &d, err, sizeof(err));
                TH_CHECK_INT(rc, AV_OK);
                if (rc) {
                        fprintf(stderr, "  %s\n", err);
                        continue;
                }
                TH_CHECK(d.schema == s);
                TH_CHECK(d.header.wire == (av_wire_t)wire);
                TH_CHECK(avro_value_equal(&v, d.value));
                TH_CHECK(av_value_to_json(s, d.value, 0, &json, err, sizeof(err)) == 0);
                TH_CHECK_STR(json.data, ALL_JSON);
        }
        /* The Confluent schema was fetched once and cached. */
        bin.len = 0;
        TH_CHECK(av_encode(s, &v, AV_WIRE_CONFLUENT, 7, &bin, err, sizeof(err)) == 0);
        av_decoded_t d;
        TH_CHECK(av_decode(dec, bin.data, bin.len, &d, err, sizeof(err)) == AV_OK);
        TH_CHECK_INT(lookup_calls, 1);
        /* The Confluent writer is a schema of its own, equal in form. */
        TH_CHECK(d.writer != s && av_schema_fingerprint(d.writer) == av_schema_fingerprint(s));
        av_decoder_destroy(dec);
        avro_value_decref(&v);
        buf_free(&bin);
        buf_free(&json);
        av_registry_destroy(reg);
}

/* Round trip of one scalar set through the avro-c API (values JSON cannot
 * carry: extremes, NaN, NUL inside strings). */
static void round_trip_scalar(const char *type, void (*set)(avro_value_t *),
                              int (*same)(avro_value_t *, avro_value_t *)) {
        const av_schema_t *s;
        av_registry_t *reg = registry_of(type, &s);
        av_decoder_t *dec = av_decoder_new(reg, NULL, NULL, NULL);
        avro_value_t v;
        buf_t bin = BUF_INIT;
        char err[256];
        av_decoded_t d;
        TH_CHECK(av_value_new(s, &v) == 0);
        set(&v);
        TH_CHECK(av_encode(s, &v, AV_WIRE_SINGLE_OBJECT, -1, &bin, err, sizeof(err)) == 0);
        int rc = av_decode(dec, bin.data, bin.len, &d, err, sizeof(err));
        TH_CHECK_INT(rc, AV_OK);
        if (rc == AV_OK) {
                TH_CHECK(d.schema == s); /* no reader: the writer's schema */
                TH_CHECK(same ? same(&v, d.value) : avro_value_equal(&v, d.value));
        } else {
                fprintf(stderr, "  %s: %s\n", type, err);
        }
        avro_value_decref(&v);
        buf_free(&bin);
        av_decoder_destroy(dec);
        av_registry_destroy(reg);
}

static void set_long_min(avro_value_t *v) {
        avro_value_set_long(v, INT64_MIN);
}
static void set_long_max(avro_value_t *v) {
        avro_value_set_long(v, INT64_MAX);
}
static void set_int_min(avro_value_t *v) {
        avro_value_set_int(v, INT32_MIN);
}
static void set_nan(avro_value_t *v) {
        avro_value_set_double(v, NAN);
}
static int both_nan(avro_value_t *a, avro_value_t *b) {
        double x = 0, y = 0;
        avro_value_get_double(a, &x);
        avro_value_get_double(b, &y);
        return isnan(x) && isnan(y);
}
static void set_neg_zero_float(avro_value_t *v) {
        avro_value_set_float(v, -0.0f);
}
static int neg_zero(avro_value_t *a, avro_value_t *b) {
        float y = 1;
        (void)a;
        avro_value_get_float(b, &y);
        return y == 0 && signbit(y);
}
static void set_nul_string(avro_value_t *v) {
        avro_value_set_string_len(v, "a\0b", 4);
}
static void set_empty_bytes(avro_value_t *v) {
        avro_value_set_bytes(v, "", 0);
}
static void set_null(avro_value_t *v) {
        avro_value_set_null(v);
}
static void set_false(avro_value_t *v) {
        avro_value_set_boolean(v, 0);
}
static void set_empty_map(avro_value_t *v) {
        avro_value_reset(v);
}
static void set_zero_fixed(avro_value_t *v) {
        avro_value_set_fixed(v, "", 0);
}

static void test_round_trip_scalars(void) {
        round_trip_scalar("\"long\"", set_long_min, NULL);
        round_trip_scalar("\"long\"", set_long_max, NULL);
        round_trip_scalar("\"int\"", set_int_min, NULL);
        round_trip_scalar("\"double\"", set_nan, both_nan);
        round_trip_scalar("\"float\"", set_neg_zero_float, neg_zero);
        round_trip_scalar("\"string\"", set_nul_string, NULL);
        round_trip_scalar("\"bytes\"", set_empty_bytes, NULL);
        round_trip_scalar("\"null\"", set_null, NULL);
        round_trip_scalar("\"boolean\"", set_false, NULL);
        round_trip_scalar("{\"type\":\"map\",\"values\":\"string\"}", set_empty_map, NULL);
        round_trip_scalar("{\"type\":\"fixed\",\"name\":\"Z\",\"size\":0}", set_zero_fixed, NULL);
}

/* ---------------------------------------------------------------- hostile */

static size_t put_varint(uint8_t *p, int64_t v) {
        uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
        size_t n = 0;
        while (z >= 0x80) {
                p[n++] = (uint8_t)(z | 0x80);
                z >>= 7;
        }
        p[n++] = (uint8_t)z;
        return n;
}

/* Validates raw bytes against a schema; expects failure with `want`. */
static void check_bad(const char *type, const uint8_t *body, size_t len, const char *want) {
        char err[512] = "";
        av_schema_t *s = schema(type);
        if (!s)
                return;
        TH_CHECK(av_validate(s, body, len, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, want);
        /* The decoder says the same, classed as malformed. */
        av_registry_t *reg = av_registry_new();
        uint64_t fp = av_schema_fingerprint(s);
        TH_CHECK(av_registry_add(reg, s, err, sizeof(err)) == 0);
        av_decoder_t *dec = av_decoder_new(reg, NULL, NULL, NULL);
        uint8_t *framed = malloc(len + 10);
        framed[0] = 0xc3;
        framed[1] = 0x01;
        for (int i = 0; i < 8; i++)
                framed[2 + i] = (uint8_t)(fp >> (8 * i));
        memcpy(framed + 10, body, len);
        av_decoded_t d;
        err[0] = '\0';
        TH_CHECK_INT(av_decode(dec, framed, len + 10, &d, err, sizeof(err)), AV_ERR_MALFORMED);
        TH_CHECK_HAS(err, want);
        free(framed);
        av_decoder_destroy(dec);
        av_registry_destroy(reg);
}

static void test_hostile_lengths(void) {
        uint8_t b[64];
        size_t n;
        n = put_varint(b, -1);
        check_bad("\"string\"", b, n, "$: string length -1 is negative");
        n = put_varint(b, (int64_t)1 << 40);
        check_bad("\"bytes\"", b, n, "$: bytes length 1099511627776 exceeds 0 remaining bytes");
        /* Array counts of 2^40: ints need a byte each; nulls need none and
         * hit the item cap. */
        n = put_varint(b, (int64_t)1 << 40);
        check_bad("{\"type\":\"array\",\"items\":\"int\"}", b, n,
                  "$: array count 1099511627776 exceeds what 0 remaining bytes can hold");
        check_bad("{\"type\":\"array\",\"items\":\"null\"}", b, n,
                  "array count 1099511627776 of zero-byte items exceeds the limit of 65536");
        check_bad("{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"E\","
                  "\"fields\":[]}}",
                  b, n, "of zero-byte items exceeds the limit");
        check_bad("{\"type\":\"map\",\"values\":\"null\"}", b, n,
                  "map count 1099511627776 exceeds what 0 remaining bytes can hold");
        /* Negative counts carry a byte size that must match the items. */
        n = put_varint(b, -2);
        n += put_varint(b + n, 3);
        n += put_varint(b + n, 1);
        n += put_varint(b + n, 2);
        n += put_varint(b + n, 0);
        check_bad("{\"type\":\"array\",\"items\":\"int\"}", b, n,
                  "array block byte size 3 does not match its items (2 bytes)");
        n = put_varint(b, -1);
        n += put_varint(b + n, 50);
        check_bad("{\"type\":\"array\",\"items\":\"int\"}", b, n,
                  "array block byte size 50 exceeds");
        n = put_varint(b, INT64_MIN);
        check_bad("{\"type\":\"array\",\"items\":\"int\"}", b, n, "is invalid");

        /* The same through a nested path. */
        const char *readings = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":"
                               "\"readings\",\"type\":{\"type\":\"array\",\"items\":{\"type\":"
                               "\"record\",\"name\":\"Rd\",\"fields\":[{\"name\":\"speed\","
                               "\"type\":\"string\"}]}}}]}";
        n = put_varint(b, 4);
        for (int i = 0; i < 3; i++)
                n += put_varint(b + n, 0);
        n += put_varint(b + n, (int64_t)1 << 40);
        memset(b + n, 'x', 12);
        n += 12;
        check_bad(readings, b, n,
                  "$.readings[3].speed: string length 1099511627776 exceeds 12 remaining bytes");
        /* Map keys name the path. */
        n = put_varint(b, 1);
        n += put_varint(b + n, 3);
        memcpy(b + n, "k y", 3);
        n += 3;
        n += put_varint(b + n, -5);
        check_bad("{\"type\":\"map\",\"values\":\"string\"}", b, n,
                  "$[\"k y\"]: string length -5 is negative");
}

static void test_hostile_zero_item_cap(void) {
        char err[256];
        av_schema_t *s = schema("{\"type\":\"array\",\"items\":\"null\"}");
        uint8_t b[32];
        size_t n = put_varint(b, (int64_t)1 << 16);
        n += put_varint(b + n, 0);
        TH_CHECK(av_validate(s, b, n, err, sizeof(err)) == 0);
        /* The cap counts across blocks. */
        n = put_varint(b, (int64_t)1 << 15);
        n += put_varint(b + n, ((int64_t)1 << 15) + 1);
        n += put_varint(b + n, 0);
        TH_CHECK(av_validate(s, b, n, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "exceeds the limit of 65536");
        av_schema_destroy(s);
}

static void test_hostile_varints_and_indexes(void) {
        uint8_t b[32];
        memset(b, 0xff, 11);
        check_bad("\"long\"", b, 11, "$: malformed long varint");
        memset(b, 0xff, 5);
        b[5] = 0x01;
        check_bad("\"int\"", b, 6, "$: malformed int varint");
        b[0] = 0x80;
        b[1] = 0x80;
        b[2] = 0x80;
        b[3] = 0x80;
        b[4] = 0x10; /* a 33rd bit */
        check_bad("\"int\"", b, 5, "malformed int varint");
        b[0] = 0x80;
        check_bad("\"long\"", b, 1, "$: truncated long");
        b[0] = 0x02;
        check_bad("\"boolean\"", b, 1, "$: boolean byte 0x02 is not 0 or 1");
        size_t n = put_varint(b, 2);
        check_bad("[\"null\",\"int\"]", b, n, "$: union index 2 out of range (2 branches)");
        n = put_varint(b, -1);
        check_bad("[\"null\",\"int\"]", b, n, "$: union index -1 out of range");
        n = put_varint(b, 3);
        check_bad("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}", b, n,
                  "$: enum index 3 out of range for E (2 symbols)");
        check_bad("{\"type\":\"fixed\",\"name\":\"F\",\"size\":16}", b, 3,
                  "$: truncated F: needs 16 bytes, 3 remaining");
        check_bad("\"double\"", b, 7, "truncated double: needs 8 bytes, 7 remaining");
        b[0] = 0x02;
        b[1] = 0x00;
        check_bad("\"int\"", b, 2, "$: 1 trailing bytes after the value");
        check_bad("\"null\"", b, 1, "1 trailing bytes");
}

static void test_hostile_deep_nesting(void) {
        const char *node = "{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":\"next\","
                           "\"type\":[\"null\",\"N\"]}]}";
        uint8_t b[200];
        size_t n = 0;
        /* Within the bound: 30 links (record + union = 2 levels each). */
        for (int i = 0; i < 30; i++)
                b[n++] = 0x02;
        b[n++] = 0x00;
        char err[256];
        av_schema_t *s = schema(node);
        TH_CHECK(av_validate(s, b, n, err, sizeof(err)) == 0);
        av_schema_destroy(s);
        n = 0;
        for (int i = 0; i < 100; i++)
                b[n++] = 0x02;
        b[n++] = 0x00;
        check_bad(node, b, n, "value nests deeper than 64 levels");
        check_bad(node, b, n, "$.next.next.next");
}

/* Every prefix of a valid record is an error, never a crash. */
static void test_truncation_everywhere(void) {
        const av_schema_t *s;
        av_registry_t *reg = registry_of(ALL, &s);
        avro_value_t v;
        buf_t bin = BUF_INIT;
        char err[512];
        TH_CHECK(av_value_new(s, &v) == 0);
        TH_CHECK(av_json_text_to_value(s, ALL_JSON, strlen(ALL_JSON), &v, err, sizeof(err)) == 0);
        av_decoder_t *dec = av_decoder_new(reg, s, NULL, NULL);
        for (int wire = 0; wire < 2; wire++) {
                bin.len = 0;
                TH_CHECK(av_encode(s, &v, (av_wire_t)wire, 7, &bin, err, sizeof(err)) == 0);
                if (wire == 1)
                        break; /* Confluent needs a look-up: covered below */
                for (size_t k = 0; k < bin.len; k++) {
                        av_decoded_t d;
                        err[0] = '\0';
                        int rc = av_decode(dec, bin.data, k, &d, err, sizeof(err));
                        TH_CHECK_INT(rc, AV_ERR_MALFORMED);
                        TH_CHECK(err[0] != '\0');
                }
        }
        avro_value_decref(&v);
        buf_free(&bin);
        av_decoder_destroy(dec);
        av_registry_destroy(reg);
}

static void test_bad_frames(void) {
        const av_schema_t *s;
        av_registry_t *reg = registry_of("\"int\"", &s);
        av_decoder_t *dec = av_decoder_new(reg, s, lookup, (void *)"\"int\"");
        av_decoder_t *plain = av_decoder_new(reg, s, NULL, NULL);
        av_decoded_t d;
        char err[512];
        static const uint8_t magic[] = {0x42, 0x00};
        TH_CHECK_INT(av_decode(dec, magic, 2, &d, err, sizeof(err)), AV_ERR_MALFORMED);
        TH_CHECK_HAS(err, "unknown magic byte 0x42");
        TH_CHECK_INT(av_decode(dec, magic, 0, &d, err, sizeof(err)), AV_ERR_MALFORMED);
        TH_CHECK_HAS(err, "empty");
        static const uint8_t marker[] = {0xc3, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        TH_CHECK_INT(av_decode(dec, marker, sizeof(marker), &d, err, sizeof(err)),
                     AV_ERR_MALFORMED);
        TH_CHECK_HAS(err, "bad single-object marker 0xc3 0x02");
        static const uint8_t unknown[] = {0xc3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0};
        TH_CHECK_INT(av_decode(dec, unknown, sizeof(unknown), &d, err, sizeof(err)), AV_ERR_SCHEMA);
        TH_CHECK_HAS(err, "unknown schema fingerprint 0807060504030201");
        TH_CHECK_INT(av_decode(dec, unknown, 5, &d, err, sizeof(err)), AV_ERR_MALFORMED);
        TH_CHECK_HAS(err, "truncated single-object header (5 of 10 bytes)");
        static const uint8_t cf_short[] = {0x00, 0x00, 0x07};
        TH_CHECK_INT(av_decode(dec, cf_short, 3, &d, err, sizeof(err)), AV_ERR_MALFORMED);
        TH_CHECK_HAS(err, "truncated Confluent header (3 of 5 bytes)");
        static const uint8_t cf9[] = {0x00, 0x00, 0x00, 0x00, 0x09, 0x02};
        TH_CHECK_INT(av_decode(dec, cf9, 6, &d, err, sizeof(err)), AV_ERR_SCHEMA);
        TH_CHECK_HAS(err, "schema id 9: HTTP 404: Schema 9 not found");
        static const uint8_t cf8[] = {0x00, 0x00, 0x00, 0x00, 0x08, 0x02};
        TH_CHECK_INT(av_decode(dec, cf8, 6, &d, err, sizeof(err)), AV_ERR_RETRY);
        TH_CHECK_HAS(err, "schema id 8: registry unreachable");
        TH_CHECK_INT(av_decode(plain, cf8, 6, &d, err, sizeof(err)), AV_ERR_SCHEMA);
        TH_CHECK_HAS(err, "no Schema Registry is configured");
        static const uint8_t cf7[] = {0x00, 0x00, 0x00, 0x00, 0x07, 0x54};
        TH_CHECK_INT(av_decode(dec, cf7, 6, &d, err, sizeof(err)), AV_OK);
        int32_t i = 0;
        avro_value_get_int(d.value, &i);
        TH_CHECK_INT(i, 42);
        TH_CHECK_INT(d.header.schema_id, 7);
        /* Truncated body after a Confluent header. */
        TH_CHECK_INT(av_decode(dec, cf7, 5, &d, err, sizeof(err)), AV_ERR_MALFORMED);
        TH_CHECK_HAS(err, "$: truncated int");
        av_decoder_destroy(dec);
        av_decoder_destroy(plain);
        av_registry_destroy(reg);
}

/* A writer schema from the registry that is not valid Avro is a schema
 * error naming the id. */
static int bad_lookup(void *opaque, int32_t id, const char **json, char *errstr, size_t size) {
        (void)opaque;
        (void)id;
        (void)errstr;
        (void)size;
        *json = "{\"type\":\"record\"}";
        return 0;
}

static void test_bad_registry_schema(void) {
        av_decoder_t *dec = av_decoder_new(NULL, NULL, bad_lookup, NULL);
        static const uint8_t cf[] = {0x00, 0x00, 0x00, 0x00, 0x05, 0x02};
        av_decoded_t d;
        char err[512];
        TH_CHECK_INT(av_decode(dec, cf, 6, &d, err, sizeof(err)), AV_ERR_SCHEMA);
        TH_CHECK_HAS(err, "schema id 5: record without a \"name\"");
        av_decoder_destroy(dec);
}

TH_MAIN("av_wire", TH_T(test_framing_bytes), TH_T(test_round_trip_all_types),
        TH_T(test_round_trip_scalars), TH_T(test_hostile_lengths), TH_T(test_hostile_zero_item_cap),
        TH_T(test_hostile_varints_and_indexes), TH_T(test_hostile_deep_nesting),
        TH_T(test_truncation_everywhere), TH_T(test_bad_frames), TH_T(test_bad_registry_schema))
