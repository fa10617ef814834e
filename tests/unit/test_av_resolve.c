/* test_av_resolve — writer→reader schema resolution (Avro specification,
 * "Schema Resolution"): defaults, skipped fields, promotions, enums, unions,
 * names and aliases, and the errors when schemas do not match. */
#include <stdio.h>
#include <stdlib.h>

#include "av_json.h"
#include "av_wire.h"
#include "th.h"
#include "th_av.h"

/* Writes `wjson` with the writer schema, reads it as the reader schema and
 * returns av_decode's result, the reader value as JSON in out, or the error
 * in out. */
static int resolve(const char *wschema, const char *wjson, const char *rschema, char *out,
                   size_t out_size) {
        char err[512] = "";
        av_registry_t *reg = av_registry_new();
        av_schema_t *w = schema(wschema), *r = schema(rschema);
        if (!w || !r) {
                av_schema_destroy(w);
                av_schema_destroy(r);
                av_registry_destroy(reg);
                return -100;
        }
        TH_CHECK(av_registry_add(reg, w, err, sizeof(err)) == 0);
        avro_value_t v;
        buf_t bin = BUF_INIT, json = BUF_INIT;
        av_value_new(w, &v);
        int rc = av_json_text_to_value(w, wjson, strlen(wjson), &v, err, sizeof(err));
        TH_CHECK(rc == 0);
        if (rc == 0)
                TH_CHECK(av_encode(w, &v, AV_WIRE_SINGLE_OBJECT, -1, &bin, err, sizeof(err)) == 0);
        av_decoder_t *dec = av_decoder_new(reg, r, NULL, NULL);
        av_decoded_t d;
        snprintf(out, out_size, "%s", err);
        if (rc == 0) {
                rc = av_decode(dec, bin.data, bin.len, &d, err, sizeof(err));
                if (rc == AV_OK) {
                        TH_CHECK(d.schema == r && d.writer == w);
                        TH_CHECK(av_value_to_json(r, d.value, 0, &json, err, sizeof(err)) == 0);
                        snprintf(out, out_size, "%s", json.data ? json.data : "");
                } else {
                        snprintf(out, out_size, "%s", err);
                }
        }
        av_decoder_destroy(dec);
        avro_value_decref(&v);
        buf_free(&bin);
        buf_free(&json);
        av_schema_destroy(r);
        av_registry_destroy(reg);
        return rc;
}

#define REC(fields)                                                                                \
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\",\"fields\":[" fields "]}"
#define F(name, type)       "{\"name\":\"" name "\",\"type\":" type "}"
#define FD(name, type, def) "{\"name\":\"" name "\",\"type\":" type ",\"default\":" def "}"

static void check(const char *w, const char *wjson, const char *r, const char *want) {
        char out[1024];
        int rc = resolve(w, wjson, r, out, sizeof(out));
        TH_CHECK_INT(rc, AV_OK);
        TH_CHECK_STR(out, want);
}

static void check_fail(const char *w, const char *wjson, const char *r, int want_rc,
                       const char *want) {
        char out[1024];
        int rc = resolve(w, wjson, r, out, sizeof(out));
        TH_CHECK_INT(rc, want_rc);
        TH_CHECK_HAS(out, want);
}

static void test_added_fields_take_defaults(void) {
        check(REC(F("a", "\"int\"")), "{\"a\":1}",
              REC(F("a", "\"int\"") "," FD("b", "\"int\"", "7") "," FD("c", "\"string\"", "\"x\"") "," FD(
                      "d", "[\"null\",\"long\"]",
                      "null") "," FD("e", "{\"type\":\"array\",\"items\":\"int\"}",
                                     "[1,2]") "," FD("f",
                                                     "{\"type\":\"record\",\"name\":\"P\","
                                                     "\"fields\":[" FD("x", "\"double\"",
                                                                       "0.5") "]}",
                                                     "{}") "," FD("g",
                                                                  "{\"type\":\"enum\",\"name\":"
                                                                  "\"E\",\"symbols\":[\"A\",\"B\"]"
                                                                  "}",
                                                                  "\"B\"") "," FD("h", "\"bytes\"",
                                                                                  "\"\\u00ff\"")),
              "{\"a\":1,\"b\":7,\"c\":\"x\",\"d\":null,\"e\":[1,2],\"f\":{\"x\":0.5},\"g\":\"B\","
              "\"h\":\"\\u00ff\"}");
        /* A missing field without a default cannot be resolved. */
        check_fail(REC(F("a", "\"int\"")), "{\"a\":1}",
                   REC(F("a", "\"int\"") "," F("b", "\"int\"")), AV_ERR_SCHEMA,
                   "writer schema t.R (test) cannot be read as t.R: $.b: reader field has no "
                   "default and the writer (t.R) lacks it");
}

static void test_removed_fields_are_skipped(void) {
        check(REC(F("a", "\"string\"") "," F(
                      "gone",
                      "{\"type\":\"map\",\"values\":{\"type\":"
                      "\"array\",\"items\":\"string\"}}") "," F("b",
                                                                "\"int\"") "," F("gone2",
                                                                                 "[\"null\",{"
                                                                                 "\"type\":"
                                                                                 "\"record\","
                                                                                 "\"name\":\"Q\","
                                                                                 "\"fields\":[" F(
                                                                                         "q",
                                                                                         "\"bytes"
                                                                                         "\"") "]}"
                                                                                               "]")),
              "{\"a\":\"x\",\"gone\":{\"k\":[\"1\",\"2\"]},\"b\":5,\"gone2\":{\"t.Q\":{\"q\":"
              "\"zz\"}}}",
              REC(F("b", "\"int\"") "," F("a", "\"string\"")), "{\"b\":5,\"a\":\"x\"}");
}

static void test_promotions(void) {
        check(REC(F("i2l", "\"int\"") "," F("i2f", "\"int\"") "," F("i2d", "\"int\"") "," F(
                      "l2f",
                      "\"long\"") "," F("l2d",
                                        "\"long\"") "," F("f2d",
                                                          "\"float\"") "," F("s2b",
                                                                             "\"string\"") "," F("b"
                                                                                                 "2"
                                                                                                 "s",
                                                                                                 "\"bytes\"")),
              "{\"i2l\":-5,\"i2f\":16777216,\"i2d\":2147483647,\"l2f\":1099511627776,"
              "\"l2d\":-9007199254740992,\"f2d\":0.25,\"s2b\":\"hi\",\"b2s\":\"yo\"}",
              REC(F("i2l", "\"long\"") "," F("i2f", "\"float\"") "," F("i2d", "\"double\"") "," F(
                      "l2f",
                      "\"float\"") "," F("l2d",
                                         "\"double\"") "," F("f2d",
                                                             "\"double\"") "," F("s2b",
                                                                                 "\"bytes\"") "," F("b2s",
                                                                                                    "\"string\"")),
              "{\"i2l\":-5,\"i2f\":16777216,\"i2d\":2147483647,\"l2f\":1.0995116e+12,"
              "\"l2d\":-9007199254740992,\"f2d\":0.25,\"s2b\":\"hi\",\"b2s\":\"yo\"}");
        /* Demotions are not allowed. */
        check_fail(REC(F("a", "\"long\"")), "{\"a\":1}", REC(F("a", "\"int\"")), AV_ERR_SCHEMA,
                   "$.a: writer type long cannot be read as reader type int");
        check_fail(REC(F("a", "\"double\"")), "{\"a\":1}", REC(F("a", "\"string\"")), AV_ERR_SCHEMA,
                   "writer type double cannot be read as reader type string");
}

#define ENUM_W "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}"

static void test_enums(void) {
        const char *r = REC(F("e", "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"C\",\"A\"]}"));
        check(REC(F("e", ENUM_W)), "{\"e\":\"A\"}", r, "{\"e\":\"A\"}");
        check(REC(F("e", ENUM_W)), "{\"e\":\"C\"}", r, "{\"e\":\"C\"}");
        /* A symbol the reader lacks fails only the records that use it... */
        check_fail(REC(F("e", ENUM_W)), "{\"e\":\"B\"}", r, AV_ERR_SCHEMA,
                   "$.e: symbol B of writer enum t.E is not in reader enum t.E, which has no "
                   "default");
        /* ...or takes the reader enum's default. */
        check(REC(F("e", ENUM_W)), "{\"e\":\"B\"}",
              REC(F("e", "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"C\",\"A\",\"U\"],"
                         "\"default\":\"U\"}")),
              "{\"e\":\"U\"}");
}

static void test_unions(void) {
        /* Writer plain, reader union: the first branch of the same type, else
         * the first it promotes to. */
        check(REC(F("a", "\"int\"")), "{\"a\":3}", REC(F("a", "[\"null\",\"long\",\"int\"]")),
              "{\"a\":{\"int\":3}}");
        check(REC(F("a", "\"int\"")), "{\"a\":3}", REC(F("a", "[\"null\",\"string\",\"double\"]")),
              "{\"a\":{\"double\":3}}");
        check_fail(REC(F("a", "\"int\"")), "{\"a\":3}", REC(F("a", "[\"null\",\"string\"]")),
                   AV_ERR_SCHEMA, "$.a: writer type int matches no branch of the reader union");
        /* Writer union, reader plain: works for the branches it can read. */
        const char *w = REC(F("a", "[\"null\",\"string\"]"));
        check(w, "{\"a\":{\"string\":\"s\"}}", REC(F("a", "\"string\"")), "{\"a\":\"s\"}");
        check_fail(w, "{\"a\":null}", REC(F("a", "\"string\"")), AV_ERR_SCHEMA,
                   "$.a: writer union branch null: writer type null cannot be read as reader "
                   "type string");
        /* Where inside a branch it fails is kept. */
        check_fail(REC(F("a", "[\"null\",{\"type\":\"record\",\"name\":\"Q\",\"fields\":[" F(
                                      "x", "\"long\"") "]}]")),
                   "{\"a\":{\"t.Q\":{\"x\":1}}}",
                   REC(F("a", "[\"null\",{\"type\":\"record\",\"name\":\"Q\",\"fields\":[" F(
                                      "x", "\"int\"") "]}]")),
                   AV_ERR_SCHEMA,
                   "$.a: writer union branch t.Q, at .x: writer type long cannot be read as "
                   "reader type int");
        /* Both unions: per branch. */
        check(REC(F("a", "[\"int\",\"string\"]")), "{\"a\":{\"int\":4}}",
              REC(F("a", "[\"string\",\"long\"]")), "{\"a\":{\"long\":4}}");
        check(REC(F("a", "[\"int\",\"string\"]")), "{\"a\":{\"string\":\"q\"}}",
              REC(F("a", "[\"string\",\"long\"]")), "{\"a\":{\"string\":\"q\"}}");
}

static void test_names_and_aliases(void) {
        /* Named types match by unqualified name... */
        check("{\"type\":\"record\",\"name\":\"a.R\",\"fields\":[" F("x", "\"int\"") "]}",
              "{\"x\":1}",
              "{\"type\":\"record\",\"name\":\"b.R\",\"fields\":[" F("x", "\"int\"") "]}",
              "{\"x\":1}");
        /* ...or a reader alias; fields by name or reader alias. */
        check("{\"type\":\"record\",\"name\":\"a.Old\",\"fields\":[" F("speed", "\"int\"") "]}",
              "{\"speed\":9}",
              "{\"type\":\"record\",\"name\":\"New\",\"aliases\":[\"a.Old\"],\"fields\":["
              "{\"name\":\"velocity\",\"type\":\"long\",\"aliases\":[\"speed\"]}]}",
              "{\"velocity\":9}");
        check_fail("{\"type\":\"record\",\"name\":\"A\",\"fields\":[]}", "{}",
                   "{\"type\":\"record\",\"name\":\"B\",\"fields\":[]}", AV_ERR_SCHEMA,
                   "writer type A cannot be read as reader type B");
        check_fail(REC(F("f", "{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}")), "{\"f\":\"ab\"}",
                   REC(F("f", "{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}")), AV_ERR_SCHEMA,
                   "$.f: writer type t.F cannot be read as reader type t.F");
}

static void test_recursive_and_nested(void) {
        const char *w = "{\"type\":\"record\",\"name\":\"N\",\"fields\":[" F("v", "\"int\"") "," F(
                "kids", "{\"type\":\"array\",\"items\":\"N\"}") "]}";
        const char *r = "{\"type\":\"record\",\"name\":\"N\",\"fields\":[" F(
                "kids",
                "{\"type\":\"array\",\"items\":\"N\"}") "," F("v",
                                                              "\"double\"") "," FD("tag",
                                                                                   "[\"null\","
                                                                                   "\"string\"]",
                                                                                   "null") "]}";
        check(w,
              "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},{\"v\":3,\"kids\":[{\"v\":4,\"kids\":[]}]}]"
              "}",
              r,
              "{\"kids\":[{\"kids\":[],\"v\":2,\"tag\":null},{\"kids\":[{\"kids\":[],\"v\":4,"
              "\"tag\":null}],\"v\":3,\"tag\":null}],\"v\":1,\"tag\":null}");
}

/* One decoder serves several writer versions, each compiled once. */
static void test_decoder_alternates_writers(void) {
        char err[512];
        av_registry_t *reg = av_registry_new();
        av_schema_t *w1 = schema(REC(F("a", "\"int\"")));
        av_schema_t *w2 = schema(REC(F("a", "\"int\"") "," F("b", "\"string\"")));
        av_schema_t *r = schema(REC(F("a", "\"long\"") "," FD("b", "\"string\"", "\"none\"")));
        TH_CHECK(av_registry_add_writer(reg, w1, err, sizeof(err)) == 0);
        TH_CHECK(av_registry_add(reg, w2, err, sizeof(err)) == 0);
        buf_t b1 = BUF_INIT, b2 = BUF_INIT, json = BUF_INIT;
        avro_value_t v1, v2;
        av_value_new(w1, &v1);
        av_value_new(w2, &v2);
        av_json_text_to_value(w1, "{\"a\":1}", 7, &v1, err, sizeof(err));
        av_json_text_to_value(w2, "{\"a\":2,\"b\":\"two\"}", 17, &v2, err, sizeof(err));
        av_encode(w1, &v1, AV_WIRE_SINGLE_OBJECT, -1, &b1, err, sizeof(err));
        av_encode(w2, &v2, AV_WIRE_SINGLE_OBJECT, -1, &b2, err, sizeof(err));
        av_decoder_t *dec = av_decoder_new(reg, r, NULL, NULL);
        static const char *want[] = {"{\"a\":1,\"b\":\"none\"}", "{\"a\":2,\"b\":\"two\"}"};
        for (int i = 0; i < 6; i++) {
                av_decoded_t d;
                buf_t *b = i % 2 ? &b2 : &b1;
                TH_CHECK_INT(av_decode(dec, b->data, b->len, &d, err, sizeof(err)), AV_OK);
                TH_CHECK(d.writer == (i % 2 ? w2 : w1));
                json.len = 0;
                av_value_to_json(r, d.value, 0, &json, err, sizeof(err));
                TH_CHECK_STR(json.data, want[i % 2]);
        }
        av_decoder_destroy(dec);
        avro_value_decref(&v1);
        avro_value_decref(&v2);
        buf_free(&b1);
        buf_free(&b2);
        buf_free(&json);
        av_schema_destroy(r);
        av_registry_destroy(reg);
}

/* Why av_resolve exists: avro-c 1.11's own resolver cannot fill a reader
 * field from its default.  If an upgrade makes this fail, reconsider. */
static void test_avro_c_resolver_lacks_defaults(void) {
        av_schema_t *w = schema(REC(F("a", "\"int\"")));
        av_schema_t *r = schema(REC(F("a", "\"long\"") "," FD("b", "\"int\"", "7")));
        avro_value_iface_t *it = avro_resolved_writer_new(av_schema_avro(w), av_schema_avro(r));
        TH_CHECK(it == NULL);
        TH_CHECK_HAS(avro_strerror(), "Reader field b doesn't appear in writer");
        if (it)
                avro_value_iface_decref(it);
        av_schema_destroy(w);
        av_schema_destroy(r);
}

TH_MAIN("av_resolve", TH_T(test_avro_c_resolver_lacks_defaults),
        TH_T(test_added_fields_take_defaults), TH_T(test_removed_fields_are_skipped),
        TH_T(test_promotions), TH_T(test_enums), TH_T(test_unions), TH_T(test_names_and_aliases),
        TH_T(test_recursive_and_nested), TH_T(test_decoder_alternates_writers))
