/* fuzz_av_json — arbitrary bytes as a JSON document, converted to Avro
 * against a schema covering every type; whatever converts must survive
 * encode → decode unchanged, and its Avro JSON text must convert back to
 * the same value.  Seeds in tests/fuzz/corpus/fuzz_av_json/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "av_json.h"
#include "av_wire.h"

static const char *SCHEMA =
        "{\"type\":\"record\",\"name\":\"Doc\",\"namespace\":\"f\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"string\"},"
        "{\"name\":\"n\",\"type\":\"null\",\"default\":null},"
        "{\"name\":\"b\",\"type\":\"boolean\",\"default\":false},"
        "{\"name\":\"i\",\"type\":\"int\",\"default\":0},"
        "{\"name\":\"l\",\"type\":\"long\",\"default\":0},"
        "{\"name\":\"f\",\"type\":\"float\",\"default\":0},"
        "{\"name\":\"d\",\"type\":\"double\",\"default\":0},"
        "{\"name\":\"by\",\"type\":\"bytes\",\"default\":\"\"},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]},"
        "\"default\":\"A\"},"
        "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2},\"default\":"
        "\"ab\"},"
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":[\"null\",\"int\",\"double\","
        "\"string\"]},\"default\":[]},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":[\"long\",\"boolean\",\"F\"]},"
        "\"default\":{}},"
        "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"bytes\",\"E\",{\"type\":\"record\","
        "\"name\":\"P\",\"fields\":[{\"name\":\"x\",\"type\":\"double\"},{\"name\":\"y\","
        "\"type\":\"double\",\"default\":0}]},{\"type\":\"map\",\"values\":\"int\"},"
        "{\"type\":\"array\",\"items\":\"long\"}],\"default\":null},"
        "{\"name\":\"kids\",\"type\":{\"type\":\"array\",\"items\":\"Doc\"},\"default\":[]}]}";

static av_schema_t *schema;
static av_registry_t *reg;
static av_decoder_t *dec;
static avro_value_t value, again;

/* As in fuzz_av_decode: avro-c's generic values hold their pointers 4 bytes
 * off alignment; these live across inputs. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) {
        return "use_unaligned=1";
}

static void init(void) {
        char err[512];
        schema = av_schema_parse(SCHEMA, strlen(SCHEMA), "fuzz", err, sizeof(err));
        av_schema_t *copy = av_schema_parse(SCHEMA, strlen(SCHEMA), "fuzz", err, sizeof(err));
        if (!schema || !copy) {
                fprintf(stderr, "%s\n", err);
                abort();
        }
        reg = av_registry_new();
        if (av_registry_add(reg, copy, err, sizeof(err)) == -1)
                abort();
        dec = av_decoder_new(reg, schema, NULL, NULL);
        if (av_value_new(schema, &value) == -1 || av_value_new(schema, &again) == -1)
                abort();
}

static void fail(const char *what, const char *err, const char *a, const char *b) {
        fprintf(stderr, "%s: %s\n%s\n%s\n", what, err, a ? a : "", b ? b : "");
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int ready;
        static buf_t bin, json1, json2;
        char err[512];
        if (!ready) {
                init();
                ready = 1;
        }
        /* Both entry points: the text one (with its \u0000 and nesting
         * checks) and the cJSON one. */
        if (av_json_text_to_value(schema, (const char *)data, size, &value, err, sizeof(err)) != 0)
                return 0;
        cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
        if (!doc || av_json_to_value(schema, doc, &value, err, sizeof(err)) != 0)
                fail("text converted but tree did not", err, NULL, NULL);
        cJSON_Delete(doc);

        bin.len = json1.len = json2.len = 0;
        av_decoded_t d;
        if (av_encode(schema, &value, AV_WIRE_SINGLE_OBJECT, -1, &bin, err, sizeof(err)) != 0)
                fail("encode", err, NULL, NULL);
        if (av_decode(dec, bin.data, bin.len, &d, err, sizeof(err)) != AV_OK)
                fail("decode", err, NULL, NULL);
        if (!avro_value_equal(&value, d.value))
                fail("decoded value differs", "", NULL, NULL);
        if (av_value_to_json(schema, &value, 0, &json1, err, sizeof(err)) != 0 ||
            av_value_to_json(schema, d.value, 0, &json2, err, sizeof(err)) != 0)
                fail("to_json", err, NULL, NULL);
        if (strcmp(json1.data, json2.data) != 0)
                fail("JSON of decoded value differs", "", json1.data, json2.data);
        /* The Avro JSON encoding we write reads back as the same value. */
        if (av_json_text_to_value(schema, json1.data, json1.len, &again, err, sizeof(err)) != 0)
                fail("our own JSON does not convert", err, json1.data, NULL);
        if (!avro_value_equal(&value, &again))
                fail("JSON round trip differs", "", json1.data, NULL);
        /* Plain-union output is valid JSON too. */
        json2.len = 0;
        if (av_value_to_json(schema, &value, AV_JSON_PLAIN_UNIONS, &json2, err, sizeof(err)) != 0)
                fail("to_json plain", err, NULL, NULL);
        doc = cJSON_ParseWithLength(json2.data, json2.len);
        if (!doc)
                fail("plain JSON output does not parse", "", json2.data, NULL);
        cJSON_Delete(doc);
        return 0;
}
