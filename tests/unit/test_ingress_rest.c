/* Unit tests for ig_rest: REST Proxy v2 and NDJSON bodies → encoded records
 * (values decodable, keys from the key field or the request), per-record
 * errors naming the schema path, request-level errors with REST Proxy's
 * codes, limits, and the answer JSON. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "../../services/ingress/ig_arena.h"
#include "../../services/ingress/ig_fast.h"
#include "../../services/ingress/ig_rest.h"
#include "av_json.h"
#include "th.h"
#include "th_av.h"

static const char *READING =
        "{\"type\":\"record\",\"name\":\"TrafficReading\",\"namespace\":\"weir.example\","
        "\"fields\":[{\"name\":\"sensor_id\",\"type\":\"string\"},"
        "{\"name\":\"intersection_id\",\"type\":\"string\"},"
        "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
        "{\"name\":\"speed_kmh\",\"type\":\"double\"},"
        "{\"name\":\"vehicle_count\",\"type\":\"int\"},"
        "{\"name\":\"occupancy_pct\",\"type\":\"float\"},"
        "{\"name\":\"lane\",\"type\":[\"null\",\"int\"],\"default\":null}]}";

#define V(id, speed)                                                                               \
        "{\"sensor_id\":\"s1\",\"intersection_id\":\"" id "\",\"ts\":1700000000000,"               \
        "\"speed_kmh\":" speed ",\"vehicle_count\":3,\"occupancy_pct\":12.5}"

static av_schema_t *sch;
static ig_topic_t topic;
static ig_batch_t b;
static const ig_parse_opts_t opts = {100, NULL, NULL, 0};

static void setup(void) {
        if (!sch) {
                sch = schema(READING);
                topic.name = "traffic.readings";
                topic.schema = sch;
                topic.wire = AV_WIRE_SINGLE_OBJECT;
                topic.schema_id = -1;
                topic.key_field = "intersection_id";
                ig_batch_init(&b);
                ig_arena_install();
        }
}

static int parse(ig_fmt_t fmt, const char *body) {
        setup();
        return ig_parse(&b, fmt, &topic, body, strlen(body), &opts);
}

static int key_is(size_t i, const char *k) {
        return b.recs[i].has_key && b.recs[i].key_len == strlen(k) &&
               memcmp(b.data.data + b.recs[i].key_off, k, b.recs[i].key_len) == 0;
}

static void test_content_types(void) {
        ig_fmt_t f;
        TH_CHECK(ig_fmt_parse("application/vnd.kafka.json.v2+json", 0, &f) == 0 &&
                 f == IG_FMT_JSON);
        TH_CHECK(ig_fmt_parse("application/vnd.kafka.avro.v2+json; charset=utf-8", 0, &f) == 0 &&
                 f == IG_FMT_AVRO);
        TH_CHECK(ig_fmt_parse("application/vnd.kafka.binary.v2+json", 0, &f) == 0 &&
                 f == IG_FMT_BINARY);
        TH_CHECK(ig_fmt_parse("application/x-ndjson", 1, &f) == 0 && f == IG_FMT_NDJSON);
        TH_CHECK(ig_fmt_parse("application/x-ndjson", 0, &f) != 0);
        TH_CHECK(ig_fmt_parse("text/plain", 0, &f) != 0);
        TH_CHECK(ig_fmt_parse(NULL, 0, &f) != 0);
}

static void test_json_records_encode_with_keys(void) {
        TH_CHECK_INT(parse(IG_FMT_JSON,
                           "{\"records\":[{\"value\":" V(
                                   "i-7",
                                   "42.5") "},"
                                           "{\"key\":\"given\",\"value\":" V(
                                                   "i-8",
                                                   "1") "},"
                                                        "{\"key\":17,\"partition\":2,\"value\":" V(
                                                                "i-9", "1") "}]}"),
                     0);
        TH_CHECK_INT(b.n, 3);
        TH_CHECK_INT(b.ninvalid, 0);
        TH_CHECK(key_is(0, "i-7"));
        TH_CHECK(key_is(1, "given"));
        TH_CHECK(key_is(2, "17"));
        TH_CHECK_INT(b.recs[2].partition, 2);
        TH_CHECK_INT(b.recs[0].partition, -1);
        /* single-object framing with the schema's fingerprint */
        const unsigned char *v = (const unsigned char *)b.data.data + b.recs[0].val_off;
        TH_CHECK(v[0] == 0xC3 && v[1] == 0x01);
        uint64_t fp = 0;
        for (int i = 7; i >= 0; i--)
                fp = fp << 8 | v[2 + i];
        TH_CHECK(fp == av_schema_fingerprint(sch));
        char err[256];
        TH_CHECK_INT(av_validate(sch, v + 10, b.recs[0].val_len - 10, err, sizeof(err)), 0);
}

static void test_mixed_batch_names_paths(void) {
        TH_CHECK_INT(parse(IG_FMT_JSON,
                           "{\"records\":[{\"value\":" V(
                                   "a", "1") "},"
                                             "{\"value\":" V(
                                                     "b", "\"fast\"") "},"
                                                                      "{\"value\":{\"sensor_id\":"
                                                                      "\"s\"}},{\"value\":3}]}"),
                     0);
        TH_CHECK_INT(b.n, 4);
        TH_CHECK_INT(b.ninvalid, 3);
        TH_CHECK_INT(b.recs[0].err_code, 0);
        TH_CHECK_INT(b.recs[1].err_code, IG_E_CONVERSION);
        TH_CHECK_HAS(ig_rec_error(&b, 1), "$.speed_kmh");
        TH_CHECK_HAS(ig_rec_error(&b, 2), "intersection_id");
        TH_CHECK_INT(b.recs[3].err_code, IG_E_CONVERSION);
}

static void test_request_errors(void) {
        TH_CHECK_INT(parse(IG_FMT_JSON, "{\"records\":[{\"value\":"), -1);
        TH_CHECK_INT(b.status, 400);
        TH_CHECK_HAS(b.message, "malformed JSON");
        TH_CHECK_INT(parse(IG_FMT_JSON, "{\"records\":[]}"), -1);
        TH_CHECK_INT(b.status, 422);
        TH_CHECK_INT(parse(IG_FMT_JSON, "[1,2]"), -1);
        TH_CHECK_INT(b.error_code, IG_E_UNPROCESSABLE);
        TH_CHECK_INT(parse(IG_FMT_JSON, "{\"records\":[{\"value\":{\"sensor_id\":\"a\\u0000\"}}]}"),
                     -1);
        TH_CHECK_HAS(b.message, "\\u0000");
        /* avro format needs value_schema or value_schema_id (REST Proxy 42202) */
        TH_CHECK_INT(parse(IG_FMT_AVRO, "{\"records\":[{\"value\":" V("a", "1") "}]}"), -1);
        TH_CHECK_INT(b.error_code, IG_E_VAL_SCHEMA_MISSING);
}

/* Issue 19: keys that are not UTF-8 are invalid records (both parsers);
 * a partition past the topic's count is marked 40402; a record over
 * message.max.bytes is invalid; the messages name what is wrong. */
static void test_keys_partitions_sizes(void) {
        /* "k\xff": the fast path takes the raw bytes, the general path
         * (a field it does not know) goes through cJSON: both refuse. */
        TH_CHECK_INT(parse(IG_FMT_JSON,
                           "{\"records\":[{\"key\":\"ok\",\"value\":" V(
                                   "a", "1") "},{\"key\":\"k\xff\",\"value\":" V("b", "2") "}]}"),
                     0);
        TH_CHECK_INT(b.ninvalid, 1);
        TH_CHECK_INT(b.recs[0].err_code, 0);
        TH_CHECK_INT(b.recs[1].err_code, IG_E_CONVERSION);
        TH_CHECK_HAS(ig_rec_error(&b, 1), "not valid UTF-8");
        TH_CHECK_INT(parse(IG_FMT_JSON, "{\"records\":[{\"key\":\"\xc0\xaf\",\"value\":" V(
                                                "a", "1") ",\"partition\":null}]}"),
                     0);
        TH_CHECK_INT(b.ninvalid, 1); /* overlong form */
        TH_CHECK_INT(parse(IG_FMT_NDJSON, V("\xe2\x82", "1") "\n"), 0);
        TH_CHECK_INT(b.ninvalid, 1); /* key from the key field */
        TH_CHECK_INT(parse(IG_FMT_JSON,
                           "{\"records\":[{\"key\":\"caf\xc3\xa9\",\"value\":" V("a", "1") "}]}"),
                     0);
        TH_CHECK_INT(b.ninvalid, 0);

        TH_CHECK_INT(
                parse(IG_FMT_JSON,
                      "{\"records\":[{\"value\":" V(
                              "a", "1") ",\"partition\":2},"
                                        "{\"value\":" V("b", "1") ",\"partition\":3},"
                                                                  "{\"value\":" V(
                                                                          "c",
                                                                          "1") ",\"partition\":99},"
                                                                               "{\"value\":" V(
                                                                                       "d",
                                                                                       "1") "}]}"),
                0);
        TH_CHECK_INT(b.ninvalid, 0);
        TH_CHECK_INT((int)ig_check_partitions(&b, "traffic.readings", 3), 2);
        TH_CHECK_INT(b.ninvalid, 2);
        TH_CHECK_INT(b.recs[0].err_code, 0);
        TH_CHECK_INT(b.recs[1].err_code, IG_E_PARTITION_NOT_FOUND);
        TH_CHECK_HAS(ig_rec_error(&b, 1), "Partition not found");
        TH_CHECK_HAS(ig_rec_error(&b, 2), "partitions 0 to 2, not 99");
        TH_CHECK_INT(b.recs[3].err_code, 0);

        ig_parse_opts_t small = opts;
        small.max_record_bytes = 60;
        setup();
        const char *two = "{\"records\":[{\"value\":" V(
                "a", "1") "},{\"key\":\""
                          "0123456789012345678901234567890123456789\",\"value\":" V("b", "1") "}]}";
        TH_CHECK_INT(ig_parse(&b, IG_FMT_JSON, &topic, two, strlen(two), &small), 0);
        TH_CHECK_INT(b.ninvalid, 1);
        TH_CHECK_INT(b.recs[1].err_code, IG_E_TOO_LARGE);
        TH_CHECK_HAS(ig_rec_error(&b, 1), "message.max.bytes");
}

/* Issue 19: errors say what is wrong. */
static void test_error_messages(void) {
        char *deep = malloc(3000);
        size_t o = (size_t)sprintf(deep, "{\"records\":[{\"value\":");
        for (int i = 0; i < 1100; i++)
                deep[o++] = '[';
        deep[o] = '\0';
        TH_CHECK_INT(parse(IG_FMT_JSON, deep), -1);
        TH_CHECK_INT(b.status, 400);
        TH_CHECK_HAS(b.message, "nests deeper than 1000 levels");
        TH_CHECK_INT(parse(IG_FMT_NDJSON, deep + o - 1050), 0);
        TH_CHECK_HAS(ig_rec_error(&b, 0), "nests deeper than 1000 levels");
        free(deep);
        /* An empty body: 422 on both routes. */
        TH_CHECK_INT(parse(IG_FMT_JSON, ""), -1);
        TH_CHECK_INT(b.status, 422);
        TH_CHECK_HAS(b.message, "empty body");
        TH_CHECK_INT(parse(IG_FMT_NDJSON, ""), -1);
        TH_CHECK_INT(b.status, 422);
        TH_CHECK_HAS(b.message, "empty body");
        TH_CHECK_INT(parse(IG_FMT_JSON, " \r\n"), -1);
        TH_CHECK_INT(b.status, 422);
        TH_CHECK_HAS(ig_fmt_accepted(0), "application/vnd.kafka.binary.v2+json");
        TH_CHECK_HAS(ig_fmt_accepted(1), "application/x-ndjson");
}

static void test_avro_format_schema_checks(void) {
        setup();
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "value_schema", READING);
        cJSON *recs = cJSON_AddArrayToObject(body, "records");
        cJSON_AddItemToArray(recs, cJSON_Parse("{\"value\":" V("a", "1") "}"));
        char *text = cJSON_PrintUnformatted(body);
        TH_CHECK_INT(parse(IG_FMT_AVRO, text), 0);
        TH_CHECK_INT(b.n, 1);
        free(text);
        /* a key without key_schema: 42201 */
        cJSON_AddItemToArray(recs, cJSON_Parse("{\"key\":\"k\",\"value\":" V("a", "1") "}"));
        text = cJSON_PrintUnformatted(body);
        TH_CHECK_INT(parse(IG_FMT_AVRO, text), -1);
        TH_CHECK_INT(b.error_code, IG_E_KEY_SCHEMA_MISSING);
        free(text);
        cJSON_AddStringToObject(body, "key_schema", "\"string\"");
        text = cJSON_PrintUnformatted(body);
        TH_CHECK_INT(parse(IG_FMT_AVRO, text), 0);
        TH_CHECK(key_is(1, "k"));
        free(text);
        /* another schema than the topic's */
        cJSON_ReplaceItemInObject(body, "value_schema",
                                  cJSON_CreateString("{\"type\":\"record\",\"name\":\"X\","
                                                     "\"fields\":[]}"));
        text = cJSON_PrintUnformatted(body);
        TH_CHECK_INT(parse(IG_FMT_AVRO, text), -1);
        TH_CHECK_INT(b.error_code, IG_E_INVALID_SCHEMA);
        free(text);
        cJSON_Delete(body);
}

static void test_binary_format(void) {
        /* encode one record, base64 it, send it back as binary */
        TH_CHECK_INT(parse(IG_FMT_JSON, "{\"records\":[{\"value\":" V("a", "1") "}]}"), 0);
        static const char tbl[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *v = (const unsigned char *)b.data.data + b.recs[0].val_off;
        size_t n = b.recs[0].val_len;
        char body[1024], b64[512];
        size_t o = 0;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t x = (uint32_t)v[i] << 16 | (i + 1 < n ? (uint32_t)v[i + 1] << 8 : 0) |
                             (i + 2 < n ? v[i + 2] : 0);
                b64[o++] = tbl[x >> 18];
                b64[o++] = tbl[(x >> 12) & 63];
                b64[o++] = i + 1 < n ? tbl[(x >> 6) & 63] : '=';
                b64[o++] = i + 2 < n ? tbl[x & 63] : '=';
        }
        b64[o] = 0;
        snprintf(body, sizeof(body),
                 "{\"records\":[{\"key\":\"a2V5\",\"value\":\"%s\"},{\"value\":\"AAAA\"},"
                 "{\"value\":\"!!\"}]}",
                 b64);
        TH_CHECK_INT(parse(IG_FMT_BINARY, body), 0);
        TH_CHECK_INT(b.n, 3);
        TH_CHECK_INT(b.recs[0].err_code, 0);
        TH_CHECK(key_is(0, "key"));
        TH_CHECK_INT(b.recs[1].err_code, IG_E_CONVERSION); /* not a framed record */
        TH_CHECK_INT(b.recs[2].err_code, IG_E_CONVERSION); /* not base64 */
}

static void test_ndjson_and_limits(void) {
        TH_CHECK_INT(parse(IG_FMT_NDJSON, V("a", "1") "\n\n" V("b", "2") "\r\n{oops\n"), 0);
        TH_CHECK_INT(b.n, 3);
        TH_CHECK_INT(b.ninvalid, 1);
        TH_CHECK(key_is(1, "b"));
        TH_CHECK_HAS(ig_rec_error(&b, 2), "line 4");
        TH_CHECK_INT(parse(IG_FMT_NDJSON, "\n  \n"), -1);
        TH_CHECK_INT(b.status, 422);
        /* more than max_records: 413 */
        char *big = malloc(200 * 150);
        size_t o = 0;
        o += (size_t)sprintf(big + o, "{\"records\":[");
        for (int i = 0; i < 101; i++)
                o += (size_t)sprintf(big + o, "%s{\"value\":" V("a", "1") "}", i ? "," : "");
        sprintf(big + o, "]}");
        TH_CHECK_INT(parse(IG_FMT_JSON, big), -1);
        TH_CHECK_INT(b.status, 413);
        TH_CHECK_HAS(b.message, "INGRESS_MAX_RECORDS");
        free(big);
}

static void test_answers_are_json(void) {
        buf_t out = BUF_INIT;
        int first = 1;
        ig_resp_begin(&out, -1);
        ig_resp_offset(&out, &first, 1, 42, 0, NULL);
        ig_resp_offset(&out, &first, -1, -1, IG_E_CONVERSION, "$.x: bad \"q\" \x01 \xff");
        ig_resp_end(&out, IG_E_CONVERSION, "1 of 2");
        buf_nul(&out);
        cJSON *j = cJSON_Parse(out.data);
        TH_CHECK(j != NULL);
        TH_CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "value_schema_id")));
        cJSON *offs = cJSON_GetObjectItem(j, "offsets");
        TH_CHECK_INT(cJSON_GetArraySize(offs), 2);
        TH_CHECK_INT(cJSON_GetObjectItem(cJSON_GetArrayItem(offs, 0), "offset")->valuedouble, 42);
        TH_CHECK_INT(cJSON_GetObjectItem(j, "error_code")->valuedouble, IG_E_CONVERSION);
        cJSON_Delete(j);
        ig_resp_error(&out, 40401, "Topic x not found.");
        buf_nul(&out);
        TH_CHECK_STR(out.data, "{\"error_code\":40401,\"message\":\"Topic x not found.\"}");
        buf_free(&out);
}

/* The direct path takes plain bodies and gives the general path's bytes;
 * anything it cannot do exactly it leaves (and ig_parse then still works). */
static void test_fast_path_matches_general(void) {
        setup();
        ig_fast_t *f = ig_fast_compile(&topic);
        TH_CHECK(f != NULL);
        if (!f)
                return;
        const char *bodies[] = {
                "{\"records\":[{\"value\":" V(
                        "i-7",
                        "42.5") "},{\"key\":\"k\",\"partition\":1,"
                                "\"value\":{\"lane\":3,\"occupancy_pct\":1e2,\"vehicle_count\":-4,"
                                "\"speed_kmh\":0,\"ts\":-1,\"intersection_id\":\"\",\"sensor_id\":"
                                "\"x\"}}]}",
                V("a", "1") "\n" V("b", "-0.000123") "\n",
        };
        ig_fmt_t fmts[] = {IG_FMT_JSON, IG_FMT_NDJSON};
        ig_batch_t fb;
        ig_batch_init(&fb);
        for (int k = 0; k < 2; k++) {
                fb.n = 0;
                fb.data.len = 0;
                TH_CHECK_INT(ig_fast_parse(f, &fb, fmts[k], bodies[k], strlen(bodies[k]), 100), 0);
                TH_CHECK_INT(parse(fmts[k], bodies[k]), 0); /* topic.fast is NULL here */
                TH_CHECK_INT(fb.n, b.n);
                for (size_t i = 0; i < b.n && i < fb.n; i++) {
                        TH_CHECK_INT(fb.recs[i].val_len, b.recs[i].val_len);
                        TH_CHECK(memcmp(fb.data.data + fb.recs[i].val_off,
                                        b.data.data + b.recs[i].val_off, b.recs[i].val_len) == 0);
                        TH_CHECK_INT(fb.recs[i].key_len, b.recs[i].key_len);
                        TH_CHECK(memcmp(fb.data.data + fb.recs[i].key_off,
                                        b.data.data + b.recs[i].key_off, b.recs[i].key_len) == 0);
                        TH_CHECK_INT(fb.recs[i].partition, b.recs[i].partition);
                }
        }
        /* given up: an invalid record, a missing field (default), an escape,
         * Avro-JSON union form, a fraction for an int */
        const char *hard[] = {
                "{\"records\":[{\"value\":" V("a", "\"x\"") "}]}",
                "{\"records\":[{\"value\":{\"sensor_id\":\"s\"}}]}",
                "{\"records\":[{\"value\":" V("a\\n", "1") "}]}",
                "{\"records\":[{\"value\":{\"sensor_id\":\"s1\",\"intersection_id\":\"i\",\"ts\":1,"
                "\"speed_kmh\":1,\"vehicle_count\":3,\"occupancy_pct\":1,\"lane\":{\"int\":2}}}]}",
                "{\"records\":[{\"value\":{\"sensor_id\":\"s1\",\"intersection_id\":\"i\",\"ts\":1."
                "5,"
                "\"speed_kmh\":1,\"vehicle_count\":3,\"occupancy_pct\":1}}]}",
        };
        for (size_t k = 0; k < sizeof(hard) / sizeof(hard[0]); k++) {
                fb.n = 0;
                fb.data.len = 0;
                TH_CHECK_INT(ig_fast_parse(f, &fb, IG_FMT_JSON, hard[k], strlen(hard[k]), 100), -1);
        }
        /* through ig_parse with the plan: same answers as without */
        topic.fast = f;
        TH_CHECK_INT(parse(IG_FMT_JSON, bodies[0]), 0);
        TH_CHECK_INT(b.n, 2);
        TH_CHECK(key_is(0, "i-7"));
        TH_CHECK(key_is(1, "k"));
        TH_CHECK_INT(parse(IG_FMT_JSON, hard[0]), 0);
        TH_CHECK_INT(b.ninvalid, 1);
        TH_CHECK_HAS(ig_rec_error(&b, 0), "$.speed_kmh");
        topic.fast = NULL;
        ig_batch_free(&fb);
        ig_fast_destroy(f);
}

static void test_cleanup(void) {
        ig_batch_free(&b);
        av_schema_destroy(sch);
        sch = NULL;
}

TH_MAIN("test_ingress_rest", TH_T(test_content_types), TH_T(test_keys_partitions_sizes),
        TH_T(test_error_messages), TH_T(test_json_records_encode_with_keys),
        TH_T(test_mixed_batch_names_paths), TH_T(test_request_errors),
        TH_T(test_avro_format_schema_checks), TH_T(test_binary_format),
        TH_T(test_ndjson_and_limits), TH_T(test_answers_are_json),
        TH_T(test_fast_path_matches_general), TH_T(test_cleanup))
