/* test_av_schema — schema parsing, Parsing Canonical Form, CRC-64-AVRO
 * fingerprints (against fastavro), parse errors, and the registry. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "av_schema.h"
#include "th.h"

/* Expected canonical forms and fingerprints were produced once with
 * fastavro 1.13.1, independently of this code:
 *   python3 -c 'import json; from fastavro.schema import \
 *     to_parsing_canonical_form as pcf, fingerprint; c = pcf(json.loads(S)); \
 *     print(c, hex(int.from_bytes(bytes.fromhex(fingerprint(c, "CRC-64-AVRO")), "little")))'
 * (fastavro prints the fingerprint's 8 bytes in wire order, little-endian;
 * the literals here are the 64-bit values.) */

static const char *TRAFFIC =
        "{\"type\":\"record\",\"name\":\"TrafficReading\",\"namespace\":\"weir.example\","
        "\"doc\":\"d\",\"fields\":["
        "{\"name\":\"sensor_id\",\"type\":\"string\",\"doc\":\"s\"},"
        "{\"name\":\"intersection_id\",\"type\":\"string\"},"
        "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
        "{\"name\":\"speed_kmh\",\"type\":\"double\"},"
        "{\"name\":\"vehicle_count\",\"type\":\"int\"},"
        "{\"name\":\"occupancy_pct\",\"type\":\"float\"},"
        "{\"name\":\"lane\",\"type\":[\"null\",\"int\"],\"default\":null}]}";

static const char *COMPLEX =
        "{\"type\":\"record\",\"name\":\"Outer\",\"namespace\":\"a.b\",\"aliases\":[\"Old\"],"
        "\"fields\":["
        "{\"name\":\"f1\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":4},"
        "\"order\":\"descending\"},"
        "{\"name\":\"f2\",\"type\":\"F\"},"
        "{\"name\":\"f3\",\"type\":{\"type\":\"enum\",\"name\":\"c.E\",\"symbols\":[\"A\",\"B\"],"
        "\"default\":\"A\",\"doc\":\"e\"}},"
        "{\"name\":\"f4\",\"type\":{\"type\":\"record\",\"name\":\"In\",\"fields\":[{\"name\":"
        "\"x\",\"type\":[\"null\",\"Outer\"]}]}},"
        "{\"name\":\"f5\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":"
        "\"c.E\"}}},"
        "{\"name\":\"f6\",\"type\":{\"type\":\"record\",\"name\":\"Node\",\"namespace\":\"\","
        "\"fields\":[{\"name\":\"v\",\"type\":\"bytes\"},{\"name\":\"next\",\"type\":[\"null\","
        "\"Node\"],\"default\":null}]}},"
        "{\"name\":\"f7\",\"type\":[\"null\",\"string\",{\"type\":\"array\",\"items\":\"a.b.F\"}],"
        "\"default\":null,\"aliases\":[\"g7\"]}]}";

static av_schema_t *parse(const char *json, char *err, size_t err_size) {
        return av_schema_parse(json, strlen(json), "test.avsc", err, err_size);
}

static void check_form(const char *json, const char *canonical, uint64_t fp) {
        char err[512] = "";
        av_schema_t *s = parse(json, err, sizeof(err));
        TH_CHECK(s != NULL);
        if (!s) {
                fprintf(stderr, "  parse error: %s\n", err);
                return;
        }
        TH_CHECK_STR(av_schema_canonical(s), canonical);
        TH_CHECK(av_schema_fingerprint(s) == fp);
        av_schema_destroy(s);
}

static void test_canonical_fastavro(void) {
        check_form("\"int\"", "\"int\"", 0x7275d51a3f395c8fULL);
        check_form("{\"type\": \"string\", \"doc\": \"x\"}", "\"string\"", 0x8f014872634503c7ULL);
        check_form(TRAFFIC,
                   "{\"name\":\"weir.example.TrafficReading\",\"type\":\"record\",\"fields\":["
                   "{\"name\":\"sensor_id\",\"type\":\"string\"},"
                   "{\"name\":\"intersection_id\",\"type\":\"string\"},"
                   "{\"name\":\"ts\",\"type\":\"long\"},"
                   "{\"name\":\"speed_kmh\",\"type\":\"double\"},"
                   "{\"name\":\"vehicle_count\",\"type\":\"int\"},"
                   "{\"name\":\"occupancy_pct\",\"type\":\"float\"},"
                   "{\"name\":\"lane\",\"type\":[\"null\",\"int\"]}]}",
                   0x1b565dd47e0e3cacULL);
        check_form(COMPLEX,
                   "{\"name\":\"a.b.Outer\",\"type\":\"record\",\"fields\":["
                   "{\"name\":\"f1\",\"type\":{\"name\":\"a.b.F\",\"type\":\"fixed\",\"size\":4}},"
                   "{\"name\":\"f2\",\"type\":\"a.b.F\"},"
                   "{\"name\":\"f3\",\"type\":{\"name\":\"c.E\",\"type\":\"enum\",\"symbols\":["
                   "\"A\",\"B\"]}},"
                   "{\"name\":\"f4\",\"type\":{\"name\":\"a.b.In\",\"type\":\"record\","
                   "\"fields\":[{\"name\":\"x\",\"type\":[\"null\",\"a.b.Outer\"]}]}},"
                   "{\"name\":\"f5\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\","
                   "\"items\":\"c.E\"}}},"
                   "{\"name\":\"f6\",\"type\":{\"name\":\"Node\",\"type\":\"record\",\"fields\":"
                   "[{\"name\":\"v\",\"type\":\"bytes\"},{\"name\":\"next\",\"type\":[\"null\","
                   "\"Node\"]}]}},"
                   "{\"name\":\"f7\",\"type\":[\"null\",\"string\",{\"type\":\"array\",\"items\":"
                   "\"a.b.F\"}]}]}",
                   0x6f5f572415b287dbULL);
}

static void test_crc64(void) {
        /* The specification's own example value for the schema "int". */
        TH_CHECK(av_crc64("\"int\"", 5) == 0x7275d51a3f395c8fULL);
        TH_CHECK(av_crc64("", 0) == 0xc15d213aa4d7a795ULL);
}

static void test_accessors_and_avroc(void) {
        char err[512];
        av_schema_t *s = parse(COMPLEX, err, sizeof(err));
        TH_CHECK(s != NULL);
        if (!s)
                return;
        TH_CHECK_STR(av_schema_name(s), "a.b.Outer");
        TH_CHECK_STR(av_schema_origin(s), "test.avsc");
        TH_CHECK_STR(av_schema_text(s), COMPLEX);
        avro_schema_t a = av_schema_avro(s);
        TH_CHECK(avro_typeof(a) == AVRO_RECORD);
        TH_CHECK_INT(avro_schema_record_size(a), 7);
        TH_CHECK_STR(avro_schema_name(a), "Outer");
        TH_CHECK_STR(avro_schema_namespace(a), "a.b");
        /* A value of a recursive schema can be created and freed. */
        avro_value_t v;
        TH_CHECK(av_value_new(s, &v) == 0);
        avro_value_decref(&v);
        av_schema_destroy(s);

        s = parse("[\"null\",\"string\"]", err, sizeof(err));
        TH_CHECK(s != NULL && av_schema_name(s) == NULL);
        av_schema_destroy(s);
}

static void check_error(const char *json, const char *want) {
        char err[512] = "";
        av_schema_t *s = parse(json, err, sizeof(err));
        TH_CHECK(s == NULL);
        TH_CHECK_HAS(err, "test.avsc: ");
        TH_CHECK_HAS(err, want);
        av_schema_destroy(s);
}

static void test_parse_errors(void) {
        check_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                    "\"doubel\"}]}",
                    "field R.a: unknown type \"doubel\"");
        check_error("{\"type\":\"record\",\n \"name\":}", "invalid JSON at line 2 column 9");
        check_error("\"int\" x", "text after the schema");
        check_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                    "\"int\"},{\"name\":\"a\",\"type\":\"int\"}]}",
                    "field \"a\" appears twice");
        check_error("[\"int\",[\"null\"]]", "a union cannot contain a union");
        check_error("[\"int\",\"int\"]", "union contains int twice");
        check_error("[]", "at least one branch");
        check_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                    "\"int\",\"default\":\"x\"}]}",
                    "field R.a: invalid default: expected int, got string");
        check_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                    "[\"null\",\"int\"],\"default\":1.5}]}",
                    "field R.a: invalid default");
        check_error("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"B\"}",
                    "\"default\" is not one of its symbols");
        check_error("{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}", "\"size\" must be");
        check_error("{\"type\":\"fixed\",\"name\":\"F\",\"size\":2000000}", "\"size\" must be");
        check_error("{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}", "invalid name \"1R\"");
        check_error("{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}", "primitive type");
        check_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}}]}",
                    "type \"R\" is defined twice");
        check_error("{\"type\":\"array\"}", "array without \"items\"");
        check_error("42", "expected a type");
        check_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\n"
                    "\"type\":\"bytes\",\"default\":\"\\u0000\"}]}",
                    "\\u0000 at line 2 column 27 is not supported");
        check_error("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}",
                    "symbol \"A\" appears twice");
        /* Nesting beyond AV_MAX_DEPTH. */
        char deep[2000] = "";
        for (int i = 0; i < 70; i++)
                strcat(deep, "{\"type\":\"array\",\"items\":");
        strcat(deep, "\"int\"");
        for (int i = 0; i < 70; i++)
                strcat(deep, "}");
        check_error(deep, "types nest deeper than 64 levels");
}

static void test_names(void) {
        char err[512];
        /* A reference resolves in the enclosing namespace, and falls back to
         * the null namespace (as Java's parser does). */
        av_schema_t *s =
                parse("{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"fields\":["
                      "{\"name\":\"a\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
                      "\"namespace\":\"\",\"symbols\":[\"X\"]}},"
                      "{\"name\":\"b\",\"type\":\"E\"},"
                      "{\"name\":\"c\",\"type\":{\"type\":\"fixed\",\"name\":\"q.F\","
                      "\"size\":1}},"
                      "{\"name\":\"d\",\"type\":\"q.F\"},"
                      "{\"name\":\"e\",\"type\":{\"type\":\"n.R\"}}]}",
                      err, sizeof(err));
        TH_CHECK(s != NULL);
        if (s)
                TH_CHECK_STR(av_schema_canonical(s),
                             "{\"name\":\"n.R\",\"type\":\"record\",\"fields\":["
                             "{\"name\":\"a\",\"type\":{\"name\":\"E\",\"type\":\"enum\","
                             "\"symbols\":[\"X\"]}},{\"name\":\"b\",\"type\":\"E\"},"
                             "{\"name\":\"c\",\"type\":{\"name\":\"q.F\",\"type\":\"fixed\","
                             "\"size\":1}},{\"name\":\"d\",\"type\":\"q.F\"},"
                             "{\"name\":\"e\",\"type\":\"n.R\"}]}");
        else
                fprintf(stderr, "  %s\n", err);
        av_schema_destroy(s);
}

static void write_file(const char *dir, const char *name, const char *text) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        TH_CHECK(f != NULL);
        if (f) {
                fputs(text, f);
                fclose(f);
        }
}

static void rm_dir(const char *dir) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        TH_CHECK(system(cmd) == 0);
}

static void test_registry(void) {
        char dir[] = "/tmp/test_av_schema.XXXXXX", err[512] = "";
        TH_CHECK(mkdtemp(dir) != NULL);
        write_file(dir, "b_traffic.avsc", TRAFFIC);
        write_file(dir, "a_complex.avsc", COMPLEX);
        write_file(dir, "c_same.avsc", TRAFFIC); /* identical: dropped quietly */
        write_file(dir, "notes.txt", "not a schema");
        av_registry_t *reg = av_registry_new();
        TH_CHECK_INT(av_registry_load_dir(reg, dir, err, sizeof(err)), 2);
        TH_CHECK_INT(av_registry_count(reg), 2);
        /* Loaded in name order. */
        TH_CHECK_STR(av_schema_name(av_registry_get(reg, 0)), "a.b.Outer");
        const av_schema_t *t = av_registry_by_name(reg, "weir.example.TrafficReading");
        TH_CHECK(t != NULL);
        TH_CHECK(av_registry_by_fingerprint(reg, 0x1b565dd47e0e3cacULL) == t);
        TH_CHECK(av_registry_by_fingerprint(reg, 42) == NULL);
        TH_CHECK(av_registry_by_name(reg, "TrafficReading") == NULL);
        av_registry_destroy(reg);

        /* The same name with a different schema names both files. */
        write_file(dir, "d_conflict.avsc",
                   "{\"type\":\"record\",\"name\":\"TrafficReading\",\"namespace\":"
                   "\"weir.example\",\"fields\":[]}");
        reg = av_registry_new();
        TH_CHECK_INT(av_registry_load_dir(reg, dir, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "d_conflict.avsc: type weir.example.TrafficReading is already defined "
                          "differently by ");
        TH_CHECK_HAS(err, "b_traffic.avsc");
        av_registry_destroy(reg);

        /* In history/ it is an earlier version: by fingerprint only. */
        char hist[600], moved[700], from[600];
        snprintf(hist, sizeof(hist), "%s/history", dir);
        TH_CHECK(mkdir(hist, 0700) == 0);
        snprintf(from, sizeof(from), "%s/d_conflict.avsc", dir);
        snprintf(moved, sizeof(moved), "%s/old.avsc", hist);
        TH_CHECK(rename(from, moved) == 0);
        reg = av_registry_new();
        TH_CHECK_INT(av_registry_load_dir(reg, dir, err, sizeof(err)), 3);
        TH_CHECK(av_registry_by_name(reg, "weir.example.TrafficReading") ==
                 av_registry_by_fingerprint(reg, 0x1b565dd47e0e3cacULL));
        TH_CHECK(av_registry_is_writer_only(reg, 2) && !av_registry_is_writer_only(reg, 1));
        TH_CHECK_STR(av_schema_name(av_registry_get(reg, 2)), "weir.example.TrafficReading");
        /* The old version cannot become current beside the new one... */
        av_schema_t *old = av_schema_parse(av_schema_text(av_registry_get(reg, 2)),
                                           strlen(av_schema_text(av_registry_get(reg, 2))), "again",
                                           err, sizeof(err));
        TH_CHECK(av_registry_add(reg, old, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "again: type weir.example.TrafficReading is already defined");
        /* ...and an identical schema is dropped quietly. */
        TH_CHECK(av_registry_add(reg, parse(TRAFFIC, err, sizeof(err)), err, sizeof(err)) == 0);
        TH_CHECK_INT(av_registry_count(reg), 3);
        av_registry_destroy(reg);

        /* A broken file is named. */
        write_file(hist, "d_bad.avsc", "{\"type\": \"recrod\"}");
        reg = av_registry_new();
        TH_CHECK_INT(av_registry_load_dir(reg, dir, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "history/d_bad.avsc: unknown type \"recrod\"");
        av_registry_destroy(reg);

        reg = av_registry_new();
        TH_CHECK_INT(av_registry_load_dir(reg, "/nonexistent/dir", err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "/nonexistent/dir: ");
        av_registry_destroy(reg);
        rm_dir(dir);
}

TH_MAIN("av_schema", TH_T(test_canonical_fastavro), TH_T(test_crc64),
        TH_T(test_accessors_and_avroc), TH_T(test_parse_errors), TH_T(test_names),
        TH_T(test_registry))
