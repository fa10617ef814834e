/* fuzz_av_decode — arbitrary bytes into the Avro decoder, both wire
 * formats, against a fixed set of schemas covering every type (recursion
 * included), read both as the writer schema and resolved to an evolved
 * reader.  Whatever decodes must re-encode and decode to the same JSON, and
 * the compiled validator (av_prog.c) must judge every body as the walk does.
 *
 * Single-object fingerprints and Confluent ids 1..N name the schemas below,
 * so inputs reach the body decoder: seeds in
 * tests/fuzz/corpus/fuzz_av_decode/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_int.h"
#include "av_json.h"
#include "av_wire.h"

static const char *SCHEMAS[] = {
        /* id 1: every type */
        "{\"type\":\"record\",\"name\":\"All\",\"namespace\":\"f\",\"fields\":["
        "{\"name\":\"n\",\"type\":\"null\"},{\"name\":\"b\",\"type\":\"boolean\"},"
        "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
        "{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"d\",\"type\":\"double\"},"
        "{\"name\":\"by\",\"type\":\"bytes\"},{\"name\":\"s\",\"type\":\"string\"},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]"
        "}},"
        "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}},"
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":[\"null\",\"long\",\"string\"]}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":"
        "\"null\"}}},"
        "{\"name\":\"u\",\"type\":[\"null\",\"E\",\"F\",{\"type\":\"record\",\"name\":\"Z\","
        "\"fields\":[]}]}]}",
        /* id 2: recursive */
        "{\"type\":\"record\",\"name\":\"Tree\",\"namespace\":\"f\",\"fields\":["
        "{\"name\":\"v\",\"type\":\"long\"},"
        "{\"name\":\"kids\",\"type\":{\"type\":\"array\",\"items\":\"Tree\"}},"
        "{\"name\":\"next\",\"type\":[\"null\",\"Tree\"]}]}",
        /* id 3: the example input, one version back */
        "{\"type\":\"record\",\"name\":\"TrafficReading\",\"namespace\":\"weir.example\","
        "\"fields\":[{\"name\":\"sensor_id\",\"type\":\"string\"},"
        "{\"name\":\"ts\",\"type\":\"long\"},{\"name\":\"speed_kmh\",\"type\":\"float\"},"
        "{\"name\":\"vehicle_count\",\"type\":\"int\"},"
        "{\"name\":\"mode\",\"type\":{\"type\":\"enum\",\"name\":\"Mode\",\"symbols\":[\"A\","
        "\"B\",\"X\"]}},{\"name\":\"obsolete\",\"type\":{\"type\":\"map\",\"values\":\"bytes\"}},"
        "{\"name\":\"lane\",\"type\":[\"null\",\"int\",\"string\"]}]}",
        /* id 4: a bare union */
        "[\"null\",\"double\",{\"type\":\"map\",\"values\":\"string\"}]",
};
#define N_SCHEMAS (sizeof(SCHEMAS) / sizeof(SCHEMAS[0]))

/* Bodies the compiled validator takes (runs of optional doubles, as in
 * Weir's aggregates), beside those of SCHEMAS that compile. */
static const char *PROG_ONLY =
        "{\"type\":\"record\",\"name\":\"Agg\",\"namespace\":\"f\",\"fields\":["
        "{\"name\":\"k\",\"type\":\"string\"},{\"name\":\"t\",\"type\":\"long\"},"
        "{\"name\":\"fin\",\"type\":\"boolean\"},"
        "{\"name\":\"fs\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
        "\"name\":\"FS\",\"fields\":[{\"name\":\"n\",\"type\":\"string\"},"
        "{\"name\":\"a\",\"type\":[\"null\",\"double\"]},{\"name\":\"b\",\"type\":[\"null\","
        "\"double\"]},{\"name\":\"c\",\"type\":[\"double\",\"null\"]},"
        "{\"name\":\"d\",\"type\":[\"null\",\"int\"]}]}}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"string\"]}}]}";

/* Reader for id 3: promoted, reordered, added with defaults, enum with a
 * default, union branches the writer may not match. */
static const char *READER =
        "{\"type\":\"record\",\"name\":\"TrafficReading\",\"namespace\":\"weir.example\","
        "\"fields\":[{\"name\":\"ts\",\"type\":\"double\"},"
        "{\"name\":\"sensor_id\",\"type\":\"bytes\"},{\"name\":\"speed_kmh\",\"type\":\"double\"},"
        "{\"name\":\"vehicle_count\",\"type\":\"long\"},"
        "{\"name\":\"mode\",\"type\":{\"type\":\"enum\",\"name\":\"Mode\",\"symbols\":[\"B\","
        "\"A\",\"U\"],\"default\":\"U\"}},"
        "{\"name\":\"lane\",\"type\":[\"null\",\"long\"]},"
        "{\"name\":\"added\",\"type\":{\"type\":\"array\",\"items\":\"int\"},\"default\":[1,2]}]}";

/* avro-c's generic values start 4 bytes into their allocation (after a
 * refcount), so the pointers inside them are not 8-byte aligned and
 * LeakSanitizer, which by default only follows aligned pointers, reports
 * everything a live value owns as leaked.  The decoders here live across
 * inputs, so let it follow unaligned pointers too. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) {
        return "use_unaligned=1";
}

static av_registry_t *reg, *reg_all;
static av_schema_t *prog_only;
static av_decoder_t *dec_writer, *dec_reader, *dec_again;

static int lookup(void *opaque, int32_t id, const char **json, char *errstr, size_t size) {
        (void)opaque;
        if (id >= 1 && id <= (int32_t)N_SCHEMAS) {
                *json = SCHEMAS[id - 1];
                return 0;
        }
        snprintf(errstr, size, "no schema %d", (int)id);
        return id == 99 ? AV_LOOKUP_RETRY : -2;
}

static av_schema_t *must_parse(const char *json) {
        char err[512];
        av_schema_t *s = av_schema_parse(json, strlen(json), "fuzz", err, sizeof(err));
        if (!s) {
                fprintf(stderr, "%s\n", err);
                abort();
        }
        return s;
}

static void init(void) {
        char err[512];
        reg = av_registry_new();
        reg_all = av_registry_new(); /* the reader too, to decode re-encoded values */
        for (size_t i = 0; i < N_SCHEMAS; i++) {
                if (av_registry_add(reg, must_parse(SCHEMAS[i]), err, sizeof(err)) == -1 ||
                    av_registry_add(reg_all, must_parse(SCHEMAS[i]), err, sizeof(err)) == -1)
                        abort();
        }
        av_schema_t *reader = must_parse(READER);
        if (av_registry_add_writer(reg_all, must_parse(READER), err, sizeof(err)) == -1)
                abort();
        dec_writer = av_decoder_new(reg, NULL, lookup, NULL);
        dec_reader = av_decoder_new(reg, reader, lookup, NULL); /* reader lives forever */
        dec_again = av_decoder_new(reg_all, NULL, NULL, NULL);
        prog_only = must_parse(PROG_ONLY);
}

/* Same verdict from the compiled validator as from the walk. */
static void check_program(const av_schema_t *s, const uint8_t *body, size_t n) {
        if (!s->prog)
                return;
        av_err_t e;
        av_vctx_t c = {&e, 0};
        av_rd_t w = {body, body + n}, p = {body, body + n};
        int wv = av_walk(s->root, &w, &c, 0) == 0 && w.p == w.end;
        int pv = av_prog_run(s->prog, &p) == 0 && p.p == p.end;
        if (wv != pv) {
                fprintf(stderr, "%s: the walk %s, the program %s %zu bytes\n", av_schema_name(s),
                        wv ? "accepts" : "refuses", pv ? "accepts" : "refuses", n);
                abort();
        }
}

/* A decoded value re-encodes, and decodes again to the same JSON. */
static void check_round_trip(const av_decoded_t *d) {
        static buf_t json1, json2, bin;
        char err[512];
        av_decoded_t d2;
        json1.len = json2.len = bin.len = 0;
        if (av_value_to_json(d->schema, d->value, 0, &json1, err, sizeof(err)) != 0 ||
            av_encode(d->schema, d->value, AV_WIRE_SINGLE_OBJECT, -1, &bin, err, sizeof(err)) !=
                    0 ||
            av_decode(dec_again, bin.data, bin.len, &d2, err, sizeof(err)) != AV_OK ||
            av_value_to_json(d2.schema, d2.value, 0, &json2, err, sizeof(err)) != 0) {
                fprintf(stderr, "round trip failed: %s\n", err);
                abort();
        }
        if (strcmp(json1.data, json2.data) != 0) {
                fprintf(stderr, "round trip differs:\n%s\n%s\n", json1.data, json2.data);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int ready;
        char err[512];
        av_decoded_t d;
        if (!ready) {
                init();
                ready = 1;
        }
        /* The input is the framed record; a leading 'S' byte instead asks for
         * single-object framing of the id-th schema, so the fuzzer need not
         * find 8-byte fingerprints by itself. */
        uint8_t buf[4096];
        const uint8_t *body = size >= 2 && data[0] == 'S' ? data + 2 : data;
        size_t body_len = (size_t)(data + size - body);
        for (size_t i = 0; i < N_SCHEMAS; i++)
                check_program(av_registry_get(reg, i), body, body_len);
        check_program(prog_only, body, body_len);
        if (size >= 2 && data[0] == 'S' && size - 2 + 10 <= sizeof(buf)) {
                const av_schema_t *s = av_registry_get(reg, data[1] % N_SCHEMAS);
                uint64_t fp = av_schema_fingerprint(s);
                buf[0] = 0xc3;
                buf[1] = 0x01;
                for (int i = 0; i < 8; i++)
                        buf[2 + i] = (uint8_t)(fp >> (8 * i));
                memcpy(buf + 10, data + 2, size - 2);
                data = buf;
                size = size - 2 + 10;
        }
        if (av_decode(dec_writer, data, size, &d, err, sizeof(err)) == AV_OK)
                check_round_trip(&d);
        if (av_decode(dec_reader, data, size, &d, err, sizeof(err)) == AV_OK)
                check_round_trip(&d);
        return 0;
}
