/* test_av_prog — the compiled validator (common/av_prog.c) against the walk
 * it stands in for (av_walk): on valid values and on thousands of damaged
 * copies of them both must give the same verdict, or a record the walk
 * refuses would pass validation (or the reverse).  Schemas the program does
 * not take must get none, and still validate. */
#include <stdio.h>
#include <stdlib.h>

#include "av_int.h"
#include "av_json.h"
#include "av_wire.h"
#include "th.h"
#include "th_av.h"

/* Every type, no recursion, and each shape of union the program merges. */
static const char *FLAT =
        "{\"type\":\"record\",\"name\":\"Flat\",\"namespace\":\"t\",\"fields\":["
        "{\"name\":\"n\",\"type\":\"null\"},{\"name\":\"b\",\"type\":\"boolean\"},"
        "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
        "{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"d\",\"type\":\"double\"},"
        "{\"name\":\"by\",\"type\":\"bytes\"},{\"name\":\"s\",\"type\":\"string\"},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\","
        "\"C\"]}},"
        "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"Four\",\"size\":4}},"
        "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"Inner\",\"fields\":["
        "{\"name\":\"x\",\"type\":\"int\"},{\"name\":\"y\",\"type\":[\"null\",\"double\"]}]}},"
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":[\"null\",\"string\",\"Inner\"]}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"Inner\"}},"
        "{\"name\":\"mn\",\"type\":{\"type\":\"map\",\"values\":\"null\"}},"
        "{\"name\":\"o1\",\"type\":[\"null\",\"long\"]},{\"name\":\"o2\",\"type\":[\"string\","
        "\"null\"]},"
        "{\"name\":\"o3\",\"type\":[\"null\",\"boolean\"]},{\"name\":\"o4\",\"type\":[\"null\","
        "\"int\"]},"
        "{\"name\":\"o5\",\"type\":[\"float\",\"null\"]},{\"name\":\"o6\",\"type\":[\"null\","
        "\"Four\"]},"
        "{\"name\":\"o7\",\"type\":[\"null\",\"bytes\"]},{\"name\":\"d1\",\"type\":[\"null\","
        "\"double\"]},"
        "{\"name\":\"d2\",\"type\":[\"null\",\"double\"]},{\"name\":\"d3\",\"type\":[\"double\","
        "\"null\"]},"
        "{\"name\":\"u2\",\"type\":[\"int\",\"string\"]},{\"name\":\"u3\",\"type\":[\"null\","
        "\"E\",\"Inner\"]},"
        "{\"name\":\"ma\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":"
        "\"long\"}}},"
        "{\"name\":\"aa\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":"
        "\"double\"}}}]}";

static const char *FLAT_FULL =
        "{\"n\":null,\"b\":true,\"i\":-70000,\"l\":1796598322137,\"f\":1.5,\"d\":-2.25,"
        "\"by\":\"\\u0001\\u00ff\",\"s\":\"h\xc3\xa9llo\",\"e\":\"C\",\"fx\":\"abcd\","
        "\"r\":{\"x\":7,\"y\":{\"double\":0.5}},"
        "\"a\":[null,{\"string\":\"x\"},{\"t.Inner\":{\"x\":-1,\"y\":null}}],"
        "\"m\":{\"k1\":{\"x\":1,\"y\":{\"double\":2}},\"k2\":{\"x\":300,\"y\":null}},"
        "\"mn\":{\"z\":null},"
        "\"o1\":{\"long\":-9000000000},\"o2\":{\"string\":\"s\"},\"o3\":{\"boolean\":false},"
        "\"o4\":{\"int\":64},\"o5\":{\"float\":3.25},\"o6\":{\"t.Four\":\"wxyz\"},"
        "\"o7\":{\"bytes\":\"b\"},\"d1\":{\"double\":1},\"d2\":null,\"d3\":{\"double\":-1},"
        "\"u2\":{\"string\":\"two\"},\"u3\":{\"t.E\":\"B\"},"
        "\"ma\":{\"q\":[1,-2,3000000]},\"aa\":[[1.0,2.0],[],[3.0]]}";

static const char *FLAT_EMPTY =
        "{\"n\":null,\"b\":false,\"i\":0,\"l\":0,\"f\":0,\"d\":0,\"by\":\"\",\"s\":\"\","
        "\"e\":\"A\",\"fx\":\"zzzz\",\"r\":{\"x\":0,\"y\":null},"
        "\"a\":[],\"m\":{},\"mn\":{},\"o1\":null,\"o2\":null,\"o3\":null,\"o4\":null,"
        "\"o5\":null,\"o6\":null,\"o7\":null,\"d1\":null,\"d2\":{\"double\":5},\"d3\":null,"
        "\"u2\":{\"int\":-1},\"u3\":{\"t.Inner\":{\"x\":2,\"y\":null}},\"ma\":{},\"aa\":[]}";

static int walk_ok(const av_schema_t *s, const uint8_t *b, size_t n) {
        av_err_t e;
        av_vctx_t c = {&e, 0};
        av_rd_t r = {b, b + n};
        return av_walk(s->root, &r, &c, 0) == 0 && r.p == r.end;
}

static int prog_ok(const av_schema_t *s, const uint8_t *b, size_t n) {
        av_rd_t r = {b, b + n};
        return av_prog_run(s->prog, &r) == 0 && r.p == r.end;
}

typedef struct {
        size_t cases, valid, disagree;
} tally_t;

static void compare(const av_schema_t *s, const uint8_t *b, size_t n, tally_t *t) {
        int w = walk_ok(s, b, n), p = prog_ok(s, b, n);
        t->cases++;
        t->valid += (size_t)w;
        if (w != p && t->disagree++ < 5) {
                printf("  walk %s, program %s on %zu bytes:", w ? "accepts" : "refuses",
                       p ? "accepts" : "refuses", n);
                for (size_t i = 0; i < n && i < 48; i++)
                        printf(" %02x", b[i]);
                printf("\n");
        }
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void) { /* xorshift64: the same cases every run */
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/* v, then each prefix, each byte replaced, removed or preceded by another,
 * and random damage of one to four bytes. */
static void compare_damaged(const av_schema_t *s, const uint8_t *v, size_t n, tally_t *t) {
        static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                                       0x7f, 0x80, 0x81, 0xfe, 0xff, 0x0a, 0x10};
        uint8_t *b = malloc(n + 8);
        compare(s, v, n, t);
        for (size_t k = 0; k < n; k++)
                compare(s, v, k, t);
        for (size_t i = 0; i < n; i++) {
                for (size_t k = 0; k < sizeof(vals) + 3; k++) {
                        memcpy(b, v, n);
                        b[i] = k < sizeof(vals)        ? vals[k]
                               : k == sizeof(vals)     ? (uint8_t)(v[i] ^ 0x80)
                               : k == sizeof(vals) + 1 ? (uint8_t)(v[i] + 2)
                                                       : (uint8_t)(v[i] - 2);
                        compare(s, b, n, t);
                }
                memcpy(b, v, i);
                memcpy(b + i, v + i + 1, n - i - 1);
                compare(s, b, n - 1, t);
                for (size_t k = 0; k < 4; k++) {
                        memcpy(b, v, i);
                        b[i] = vals[k * 3];
                        memcpy(b + i + 1, v + i, n - i);
                        compare(s, b, n + 1, t);
                }
        }
        for (int r = 0; r < 20000 && n; r++) {
                memcpy(b, v, n);
                int hits = 1 + (int)(next_rand() % 4);
                for (int h = 0; h < hits; h++)
                        b[next_rand() % n] = (uint8_t)next_rand();
                compare(s, b, n, t);
        }
        free(b);
}

/* The Avro binary of a JSON value of s, without framing, into out. */
static void encode(const av_schema_t *s, const char *json, buf_t *out) {
        avro_value_t v;
        buf_t bin = BUF_INIT;
        char err[512] = "";
        TH_CHECK(av_value_new(s, &v) == 0);
        int rc = av_json_text_to_value(s, json, strlen(json), &v, err, sizeof(err));
        if (rc != 0)
                printf("  json: %s\n", err);
        TH_CHECK(rc == 0);
        TH_CHECK(av_encode(s, &v, AV_WIRE_SINGLE_OBJECT, -1, &bin, err, sizeof(err)) == 0);
        out->len = 0;
        TH_CHECK(bin.len > 10 && buf_append(out, bin.data + 10, bin.len - 10) == 0);
        avro_value_decref(&v);
        buf_free(&bin);
}

static void test_agrees_with_walk(void) {
        av_schema_t *s = schema(FLAT);
        TH_CHECK(s->prog != NULL);
        buf_t v = BUF_INIT;
        tally_t t = {0};
        const char *values[] = {FLAT_FULL, FLAT_EMPTY};
        for (int k = 0; k < 2; k++) {
                encode(s, values[k], &v);
                TH_CHECK(prog_ok(s, (const uint8_t *)v.data, v.len));
                compare_damaged(s, (const uint8_t *)v.data, v.len, &t);
        }
        TH_CHECK_INT(t.disagree, 0);
        /* Not vacuous: damage that stays valid, and damage that does not. */
        TH_CHECK(t.valid > 100 && t.valid < t.cases / 2);
        printf("  %zu cases, %zu valid, %zu disagreements\n", t.cases, t.valid, t.disagree);
        buf_free(&v);
        av_schema_destroy(s);
}

/* The aggregates enrichment validates per record. */
static void test_aggregate_schema(void) {
        char *text = th_repo_file("schemas/aggregate.avsc");
        if (!text)
                return;
        av_schema_t *s = schema(text);
        free(text);
        TH_CHECK(s->prog != NULL);
        buf_t v = BUF_INIT;
        encode(s,
               "{\"pipeline\":\"p\",\"key\":\"sensor-7\",\"window\":\"1m\","
               "\"window_start\":1796598322000,\"window_end\":1796598382000,\"count\":1200,"
               "\"final\":true,\"emitted_at\":1796598382010,\"fields\":["
               "{\"name\":\"speed\",\"count\":1200,\"sum\":{\"double\":1.5},\"min\":null,"
               "\"max\":{\"double\":9},\"mean\":null,\"variance\":null,\"stddev\":null,"
               "\"first\":null,\"last\":null,\"p50\":{\"double\":4},\"p90\":null,\"p95\":null,"
               "\"p99\":null,\"zscore\":{\"double\":-0.5}}]}",
               &v);
        tally_t t = {0};
        compare_damaged(s, (const uint8_t *)v.data, v.len, &t);
        TH_CHECK_INT(t.disagree, 0);
        TH_CHECK(t.valid > 10);
        buf_free(&v);
        av_schema_destroy(s);
}

/* Blocks with a negative count carry their size in bytes, which av_encode
 * never writes. */
static void test_sized_blocks(void) {
        av_schema_t *a = schema("{\"type\":\"array\",\"items\":\"long\"}");
        av_schema_t *m = schema("{\"type\":\"map\",\"values\":[\"null\",\"double\"]}");
        TH_CHECK(a->prog && m->prog);
        static const uint8_t good_a[] = {0x03, 0x04, 0x02, 0x04, 0x00};      /* -2 items, 2 bytes */
        static const uint8_t bad_a[] = {0x03, 0x06, 0x02, 0x04, 0x00};       /* says 3 bytes */
        static const uint8_t good_m[] = {0x01, 0x06, 0x02, 'k', 0x00, 0x00}; /* -1 entry, 3 bytes */
        static const uint8_t big_m[] = {0x01, 0x7e, 0x02, 'k', 0x00, 0x00};  /* says 63 bytes */
        static const uint8_t huge_a[] = {0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00}; /* 2^31 items */
        TH_CHECK(prog_ok(a, good_a, sizeof(good_a)) && walk_ok(a, good_a, sizeof(good_a)));
        TH_CHECK(!prog_ok(a, bad_a, sizeof(bad_a)) && !walk_ok(a, bad_a, sizeof(bad_a)));
        TH_CHECK(prog_ok(m, good_m, sizeof(good_m)) && walk_ok(m, good_m, sizeof(good_m)));
        TH_CHECK(!prog_ok(m, big_m, sizeof(big_m)) && !walk_ok(m, big_m, sizeof(big_m)));
        TH_CHECK(!prog_ok(a, huge_a, sizeof(huge_a)) && !walk_ok(a, huge_a, sizeof(huge_a)));
        tally_t t = {0};
        compare_damaged(a, good_a, sizeof(good_a), &t);
        compare_damaged(m, good_m, sizeof(good_m), &t);
        TH_CHECK_INT(t.disagree, 0);
        av_schema_destroy(a);
        av_schema_destroy(m);
}

/* Left to the walk: recursion, arrays of items that take no bytes (capped
 * across the value), nesting at the walk's bound.  av_validate still
 * judges them, with the walk's message. */
static void test_schemas_left_to_the_walk(void) {
        char err[256];
        av_schema_t *rec = schema("{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":"
                                  "\"next\",\"type\":[\"null\",\"N\"]}]}");
        TH_CHECK(rec->prog == NULL);
        static const uint8_t two[] = {0x02, 0x02, 0x00};
        TH_CHECK(av_validate(rec, two, sizeof(two), err, sizeof(err)) == 0);
        TH_CHECK(av_validate(rec, two, 2, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "truncated");
        av_schema_t *zn = schema("{\"type\":\"array\",\"items\":\"null\"}");
        TH_CHECK(zn->prog == NULL);
        /* Arrays nested as deep as the parser allows, each holding one: the
         * program, where there is one, judges as the walk does. */
        int parsed = 0;
        for (int depth = 56; depth <= 70; depth++) {
                char text[4096] = "", e[256];
                for (int i = 0; i < depth; i++)
                        strcat(text, "{\"type\":\"array\",\"items\":");
                strcat(text, "\"long\"");
                for (int i = 0; i < depth; i++)
                        strcat(text, "}");
                av_schema_t *d = av_schema_parse(text, strlen(text), "test", e, sizeof(e));
                if (!d)
                        continue;
                parsed++;
                uint8_t b[160];
                size_t n = 0;
                for (int i = 0; i < depth; i++)
                        b[n++] = 0x02;
                b[n++] = 0x0a;
                for (int i = 0; i < depth; i++)
                        b[n++] = 0x00;
                int w = walk_ok(d, b, n);
                if (d->prog)
                        TH_CHECK_INT(prog_ok(d, b, n), w);
                TH_CHECK_INT(av_validate(d, b, n, err, sizeof(err)) == 0, w);
                av_schema_destroy(d);
        }
        TH_CHECK(parsed > 4);
        av_schema_destroy(rec);
        av_schema_destroy(zn);
}

/* Invalid input still gets the walk's message, path included. */
static void test_messages_unchanged(void) {
        char err[256];
        av_schema_t *s = schema(FLAT);
        buf_t v = BUF_INIT;
        encode(s, FLAT_FULL, &v);
        TH_CHECK(av_validate(s, v.data, v.len - 1, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "$.aa");
        TH_CHECK(av_validate(s, v.data, v.len, err, sizeof(err)) == 0);
        buf_append(&v, "x", 1);
        TH_CHECK(av_validate(s, v.data, v.len, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "1 trailing bytes after the value");
        buf_free(&v);
        av_schema_destroy(s);
}

TH_MAIN("av_prog", TH_T(test_agrees_with_walk), TH_T(test_aggregate_schema),
        TH_T(test_sized_blocks), TH_T(test_schemas_left_to_the_walk), TH_T(test_messages_unchanged))
