/* test_av_json — JSON → Avro (Avro JSON encoding and plain JSON, errors with
 * paths, hostile nesting) and Avro → JSON text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "av_json.h"
#include "th.h"
#include "th_av.h"

static const char *READING =
        "{\"type\":\"record\",\"name\":\"Reading\",\"namespace\":\"t\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"string\"},"
        "{\"name\":\"speed\",\"type\":\"double\"},"
        "{\"name\":\"count\",\"type\":\"int\",\"default\":0},"
        "{\"name\":\"ts\",\"type\":\"long\"},"
        "{\"name\":\"ratio\",\"type\":\"float\",\"default\":1.5},"
        "{\"name\":\"lane\",\"type\":[\"null\",\"int\"],\"default\":null},"
        "{\"name\":\"mode\",\"type\":{\"type\":\"enum\",\"name\":\"Mode\",\"symbols\":[\"AUTO\","
        "\"MANUAL\"]},\"default\":\"AUTO\"},"
        "{\"name\":\"raw\",\"type\":\"bytes\",\"default\":\"\"},"
        "{\"name\":\"mac\",\"type\":{\"type\":\"fixed\",\"name\":\"Mac\",\"size\":2},"
        "\"default\":\"ab\"},"
        "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"string\"},\"default\":{}},"
        "{\"name\":\"points\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
        "\"name\":\"P\",\"fields\":[{\"name\":\"x\",\"type\":\"double\"}]}},\"default\":[]},"
        "{\"name\":\"extra\",\"type\":[\"null\",\"string\",\"long\",\"double\",\"P\","
        "{\"type\":\"map\",\"values\":\"int\"},\"boolean\"],\"default\":null}]}";

/* JSON text → value → JSON text with `flags`; returns the conversion's rc
 * and the output (or the error) in out. */
static int convert(const char *sch, const char *json, int flags, char *out, size_t size) {
        av_schema_t *s = schema(sch);
        avro_value_t v;
        buf_t buf = BUF_INIT;
        char err[512] = "";
        if (!s)
                return -100;
        av_value_new(s, &v);
        int rc = av_json_text_to_value(s, json, strlen(json), &v, err, sizeof(err));
        if (rc == 0) {
                TH_CHECK(av_value_to_json(s, &v, flags, &buf, err, sizeof(err)) == 0);
                snprintf(out, size, "%s", buf.data ? buf.data : "");
        } else {
                snprintf(out, size, "%s", err);
        }
        buf_free(&buf);
        avro_value_decref(&v);
        av_schema_destroy(s);
        return rc;
}

static void check_ok(const char *sch, const char *json, int flags, const char *want) {
        char out[2048];
        TH_CHECK_INT(convert(sch, json, flags, out, sizeof(out)), 0);
        TH_CHECK_STR(out, want);
}

static void check_err(const char *sch, const char *json, const char *want) {
        char out[2048];
        TH_CHECK_INT(convert(sch, json, 0, out, sizeof(out)), -1);
        TH_CHECK_STR(out, want);
}

static void test_defaults_and_encodings(void) {
        /* Missing fields take their defaults. */
        check_ok(READING, "{\"id\":\"s1\",\"speed\":42.5,\"ts\":1700000000000}", 0,
                 "{\"id\":\"s1\",\"speed\":42.5,\"count\":0,\"ts\":1700000000000,\"ratio\":1.5,"
                 "\"lane\":null,\"mode\":\"AUTO\",\"raw\":\"\",\"mac\":\"ab\","
                 "\"tags\":{},\"points\":[],\"extra\":null}");
        /* Avro JSON encoding of unions, bytes and fixed. */
        const char *avro_json =
                "{\"id\":\"s1\",\"speed\":1,\"ts\":-1,\"lane\":{\"int\":3},\"mode\":\"MANUAL\","
                "\"raw\":\"\\u00ff\\u0001a\",\"mac\":\"\\u00e9z\",\"tags\":{\"k\":\"v\"},"
                "\"points\":[{\"x\":0.1},{\"x\":-2e-300}],\"extra\":{\"t.P\":{\"x\":3}}}";
        const char *want = "{\"id\":\"s1\",\"speed\":1,\"count\":0,\"ts\":-1,\"ratio\":1.5,"
                           "\"lane\":{\"int\":3},"
                           "\"mode\":\"MANUAL\",\"raw\":\"\\u00ff\\u0001a\",\"mac\":\"\\u00e9z\","
                           "\"tags\":{\"k\":\"v\"},\"points\":[{\"x\":0.1},{\"x\":-2e-300}],"
                           "\"extra\":{\"t.P\":{\"x\":3}}}";
        check_ok(READING, avro_json, 0, want);
        /* The same in plain JSON: bare union values pick their branch. */
        check_ok(READING, "{\"id\":\"s1\",\"speed\":1,\"ts\":-1,\"lane\":3,\"extra\":{\"x\":3}}",
                 AV_JSON_PLAIN_UNIONS,
                 "{\"id\":\"s1\",\"speed\":1,\"count\":0,\"ts\":-1,\"ratio\":1.5,\"lane\":3,"
                 "\"mode\":\"AUTO\",\"raw\":\"\",\"mac\":\"ab\",\"tags\":{},"
                 "\"points\":[],\"extra\":{\"x\":3}}");
}

static void test_bare_union_branches(void) {
        const char *u = "[\"null\",\"string\",\"long\",\"double\",{\"type\":\"record\","
                        "\"name\":\"P\",\"fields\":[{\"name\":\"x\",\"type\":\"double\"}]},"
                        "{\"type\":\"map\",\"values\":\"int\"},\"boolean\"]";
        check_ok(u, "null", 0, "null");
        check_ok(u, "\"s\"", 0, "{\"string\":\"s\"}");
        check_ok(u, "12", 0, "{\"long\":12}");
        check_ok(u, "12.5", 0, "{\"double\":12.5}");
        check_ok(u, "1e300", 0, "{\"double\":1e+300}");
        check_ok(u, "{\"x\":1}", 0, "{\"P\":{\"x\":1}}");
        check_ok(u, "{\"y\":1}", 0, "{\"map\":{\"y\":1}}");
        check_ok(u, "{\"long\":5}", 0, "{\"long\":5}");
        check_ok(u, "{\"map\":{\"a\":1}}", 0, "{\"map\":{\"a\":1}}");
        check_ok(u, "true", AV_JSON_PLAIN_UNIONS, "true");
        check_err(u, "[1]",
                  "$: expected one of [null, string, long, double, P, map, boolean], got array");
}

static void test_errors_name_paths(void) {
        check_err(READING, "{\"id\":\"s\",\"speed\":\"fast\",\"ts\":1}",
                  "$.speed: expected double, got string");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"count\":3000000000}",
                  "$.count: 3000000000 is out of range for int");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"count\":1.5}",
                  "$.count: expected int, got non-integral number");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1.25}",
                  "$.ts: expected long, got non-integral number");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1e19}",
                  "$.ts: 1e+19 is beyond ±2^53, which JSON numbers cannot hold exactly");
        check_err(READING, "{\"id\":\"s\",\"speed\":1e400,\"ts\":1}",
                  "$.speed: expected double, got non-finite number");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"ratio\":1e39}",
                  "$.ratio: 9.9999999999999994e+38 is out of range for float");
        check_err(READING, "{\"id\":\"s\",\"speed\":1}",
                  "$.ts: required field is missing (it has no default)");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"sped\":2}",
                  "$.sped: no such field in t.Reading");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"id\":\"t\"}",
                  "$.id: field given twice in t.Reading");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"mode\":\"TURBO\"}",
                  "$.mode: \"TURBO\" is not a symbol of enum t.Mode");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"raw\":\"\\u0100\"}",
                  "$.raw: bytes string has a character above U+00FF");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"mac\":\"abc\"}",
                  "$.mac: fixed t.Mac needs 2 bytes, got 3");
        check_err(READING,
                  "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"points\":[{\"x\":1},{\"x\":null}]}",
                  "$.points[1].x: expected double, got null");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"tags\":{\"a b\":7}}",
                  "$.tags[\"a b\"]: expected string, got number");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"lane\":\"3\"}",
                  "$.lane: expected int, got string");
        check_err(READING, "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"lane\":{\"int\":\"3\"}}",
                  "$.lane: expected int, got string");
        check_err(READING, "{\"id\":\"\xff\",\"speed\":1,\"ts\":1}",
                  "$.id: string is not valid UTF-8");
        check_err(READING,
                  "{\"id\":\"s\",\"speed\":1,\"ts\":1,\"tags\":{\"a\":\"b\",\"\xc3\":\"c\"}}",
                  "$.tags[1]: map key is not valid UTF-8");
        check_err(READING, "[1,2]", "$: expected record t.Reading (an object), got array");
        check_err(READING, "{\"id\":", "invalid JSON at offset 5");
        check_err(READING, "{} x", "text after the JSON document at offset 3");
        /* cJSON would cut the string at \u0000: refused, not truncated. */
        check_err(READING, "{\"id\":\"a\\u0000b\",\"speed\":1,\"ts\":1}",
                  "\\u0000 at offset 8 is not supported (the JSON parser would cut the string "
                  "there)");
        TH_CHECK_INT(av_json_find_nul("\"\\\\u0000\"", 10), -1);
        TH_CHECK_INT(av_json_find_nul("\"\\\\\\u0000\"", 10), 3);
}

/* A 100 000-deep document is an error from cJSON's nesting limit, not a
 * stack overflow; a deep one within that limit stops at our own bound. */
static void test_hostile_nesting(void) {
        size_t n = 100000;
        char *deep = malloc(2 * n + 1);
        memset(deep, '[', n);
        memset(deep + n, ']', n);
        deep[2 * n] = '\0';
        char out[512];
        TH_CHECK_INT(convert("{\"type\":\"array\",\"items\":\"int\"}", deep, 0, out, sizeof(out)),
                     -1);
        TH_CHECK_HAS(out, "JSON nests deeper than 1000 levels at offset 1000");
        memset(deep, '{', n);
        TH_CHECK_INT(convert("\"null\"", deep, 0, out, sizeof(out)), -1);
        TH_CHECK_HAS(out, "invalid JSON");
        /* Within cJSON's limit, against a recursive schema. */
        const char *tree = "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"k\","
                           "\"type\":{\"type\":\"array\",\"items\":\"T\"}}]}";
        char *p = deep;
        for (int i = 0; i < 200; i++)
                p += sprintf(p, "{\"k\":[");
        for (int i = 0; i < 200; i++)
                p += sprintf(p, "]}");
        TH_CHECK_INT(convert(tree, deep, 0, out, sizeof(out)), -1);
        TH_CHECK_HAS(out, "value nests deeper than 64 levels");
        TH_CHECK_HAS(out, "$.k[0].k[0].k[0]");
        free(deep);
}

static void test_cjson_item_input(void) {
        av_schema_t *s = schema("{\"type\":\"map\",\"values\":\"double\"}");
        avro_value_t v;
        av_value_new(s, &v);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "a", 1.25);
        char err[256];
        TH_CHECK(av_json_to_value(s, j, &v, err, sizeof(err)) == 0);
        /* A NaN can only arrive through a built tree; it is refused. */
        cJSON_AddNumberToObject(j, "b", NAN);
        TH_CHECK(av_json_to_value(s, j, &v, err, sizeof(err)) == -1);
        TH_CHECK_STR(err, "$.b: expected double, got non-finite number");
        cJSON_Delete(j);
        avro_value_decref(&v);
        av_schema_destroy(s);
}

static void test_output_details(void) {
        av_schema_t *s = schema("{\"type\":\"record\",\"name\":\"O\",\"fields\":["
                                "{\"name\":\"f\",\"type\":\"float\"},"
                                "{\"name\":\"d\",\"type\":\"double\"},"
                                "{\"name\":\"n\",\"type\":\"double\"},"
                                "{\"name\":\"i\",\"type\":\"double\"},"
                                "{\"name\":\"s\",\"type\":\"string\"},"
                                "{\"name\":\"b\",\"type\":\"bytes\"},"
                                "{\"name\":\"u\",\"type\":[\"null\",\"string\"]}]}");
        avro_value_t v, c;
        av_value_new(s, &v);
        avro_value_get_by_index(&v, 0, &c, NULL);
        avro_value_set_float(&c, 0.1f);
        avro_value_get_by_index(&v, 1, &c, NULL);
        avro_value_set_double(&c, 0.1 + 0.2);
        avro_value_get_by_index(&v, 2, &c, NULL);
        avro_value_set_double(&c, NAN);
        avro_value_get_by_index(&v, 3, &c, NULL);
        avro_value_set_double(&c, -INFINITY);
        avro_value_get_by_index(&v, 4, &c, NULL);
        /* Control characters escaped, an invalid byte replaced, a NUL kept. */
        avro_value_set_string_len(&c, "a\n\t\x01\"\\\xff\xc3\xa9\0z", 12);
        avro_value_get_by_index(&v, 5, &c, NULL);
        avro_value_set_bytes(&c, "\x00\x7f\x80\xff", 4);
        buf_t out = BUF_INIT;
        char err[256];
        /* No branch selected yet: an error, and the buffer is left as it was. */
        TH_CHECK(buf_append(&out, "[", 1) == 0);
        TH_CHECK(av_value_to_json(s, &v, 0, &out, err, sizeof(err)) == -1);
        TH_CHECK_STR(err, "$.u: union has no branch selected");
        TH_CHECK_INT(out.len, 1);
        avro_value_t br;
        avro_value_get_by_index(&v, 6, &c, NULL);
        avro_value_set_branch(&c, 1, &br);
        avro_value_set_string(&br, "x");
        TH_CHECK(av_value_to_json(s, &v, 0, &out, err, sizeof(err)) == 0);
        TH_CHECK_STR(out.data, "[{\"f\":0.1,\"d\":0.30000000000000004,\"n\":\"NaN\",\"i\":"
                               "\"-Infinity\",\"s\":\"a\\n\\t\\u0001\\\"\\\\\xef\xbf\xbd\xc3\xa9"
                               "\\u0000z\",\"b\":\"\\u0000\x7f\\u0080\\u00ff\",\"u\":{\"string\":"
                               "\"x\"}}");
        out.len = 0;
        TH_CHECK(av_value_to_json(s, &v, AV_JSON_PLAIN_UNIONS, &out, err, sizeof(err)) == 0);
        TH_CHECK_HAS(out.data, "\"u\":\"x\"}");
        buf_free(&out);
        avro_value_decref(&v);
        av_schema_destroy(s);
}

TH_MAIN("av_json", TH_T(test_defaults_and_encodings), TH_T(test_bare_union_branches),
        TH_T(test_errors_name_paths), TH_T(test_hostile_nesting), TH_T(test_cjson_item_input),
        TH_T(test_output_details))
