/* fuzz_ingress_body — request bodies exactly as ingress parses them: the
 * first byte picks the format (REST Proxy json / avro / binary envelope, or
 * NDJSON), the rest is the body handed to ig_parse() for a topic with the
 * reference input schema.  Whatever it accepts must be a valid framed
 * record of the schema with its key inside the buffer; nothing may crash,
 * leak or read out of bounds.  With bit 2 of the first byte set, the topic
 * has a flat schema and the direct path (ig_fast) is checked against the
 * general one: whenever it takes a body, both must give the same records,
 * keys and bytes.  Seeds in tests/fuzz/corpus/fuzz_ingress_body/. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/ingress/ig_arena.h"
#include "../../services/ingress/ig_fast.h"
#include "../../services/ingress/ig_rest.h"
#include "av_schema.h"

static const char *SCHEMA =
        "{\"type\":\"record\",\"name\":\"TrafficReading\",\"namespace\":\"weir.example\","
        "\"fields\":[{\"name\":\"sensor_id\",\"type\":\"string\"},"
        "{\"name\":\"intersection_id\",\"type\":\"string\"},"
        "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
        "{\"name\":\"speed_kmh\",\"type\":\"double\"},"
        "{\"name\":\"vehicle_count\",\"type\":\"int\"},"
        "{\"name\":\"occupancy_pct\",\"type\":\"float\"},"
        "{\"name\":\"lane\",\"type\":[\"null\",\"int\"],\"default\":null},"
        "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"string\"},\"default\":{}}]}";

static const char *FLAT =
        "{\"type\":\"record\",\"name\":\"Flat\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"int\"},"
        "{\"name\":\"l\",\"type\":[\"null\",\"long\"]},{\"name\":\"f\",\"type\":\"float\"},"
        "{\"name\":\"d\",\"type\":[\"double\",\"null\"]},{\"name\":\"b\",\"type\":\"boolean\"}]}";

static av_schema_t *schema, *flat;
static ig_topic_t topic, ftopic, fslow;
static ig_batch_t batch, fbatch;

/* The direct path against the general one on the flat topic. */
static void differential(ig_fmt_t fmt, const char *body, size_t len) {
        if (fmt != IG_FMT_JSON && fmt != IG_FMT_NDJSON)
                return;
        ig_parse_opts_t o = {64, NULL, NULL};
        fbatch.n = 0;
        fbatch.data.len = 0;
        if (ig_fast_parse(ftopic.fast, &fbatch, fmt, body, len, 64) != 0)
                return;
        if (ig_parse(&batch, fmt, &fslow, body, len, &o) != 0 || batch.ninvalid ||
            batch.n != fbatch.n)
                abort();
        for (size_t i = 0; i < batch.n; i++) {
                const ig_rec_t *a = &batch.recs[i], *c = &fbatch.recs[i];
                if (a->partition != c->partition || a->has_key != c->has_key ||
                    a->val_len != c->val_len ||
                    memcmp(batch.data.data + a->val_off, fbatch.data.data + c->val_off,
                           a->val_len) != 0)
                        abort();
                if (a->has_key && (a->key_len != c->key_len ||
                                   memcmp(batch.data.data + a->key_off,
                                          fbatch.data.data + c->key_off, a->key_len) != 0))
                        abort();
        }
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void) {
        return "use_unaligned=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char err[512];
        if (!schema) {
                schema = av_schema_parse(SCHEMA, strlen(SCHEMA), "fuzz", err, sizeof(err));
                if (!schema)
                        abort();
                topic.name = "fuzz";
                topic.schema = schema;
                topic.wire = AV_WIRE_SINGLE_OBJECT;
                topic.schema_id = -1;
                topic.key_field = "intersection_id";
                ig_batch_init(&batch);
                ig_batch_init(&fbatch);
                ig_arena_install(); /* as ingress runs: cJSON from the arena */
                flat = av_schema_parse(FLAT, strlen(FLAT), "flat", err, sizeof(err));
                if (!flat)
                        abort();
                fslow.name = "flat";
                fslow.schema = flat;
                fslow.wire = AV_WIRE_SINGLE_OBJECT;
                fslow.schema_id = -1;
                fslow.key_field = "id";
                ftopic = fslow;
                ftopic.fast = ig_fast_compile(&ftopic);
                topic.fast = ig_fast_compile(&topic); /* NULL: the map field */
                if (!ftopic.fast || topic.fast)
                        abort();
        }
        if (size < 1)
                return 0;
        ig_fmt_t fmt = (ig_fmt_t)(data[0] % 4);
        if (data[0] & 4) {
                differential(fmt, (const char *)data + 1, size - 1);
                return 0;
        }
        ig_parse_opts_t o = {64, NULL, NULL};
        if (ig_parse(&batch, fmt, &topic, (const char *)data + 1, size - 1, &o) != 0) {
                if (batch.status < 400 || batch.status > 599 || !batch.message[0])
                        abort();
                return 0;
        }
        if (batch.n == 0 || batch.n > 64 || batch.ninvalid > batch.n)
                abort();
        for (size_t i = 0; i < batch.n; i++) {
                const ig_rec_t *r = &batch.recs[i];
                if (r->err_code) {
                        if (!ig_rec_error(&batch, i)[0])
                                abort();
                        continue;
                }
                if (r->val_off + r->val_len > batch.data.len || r->val_len < 10)
                        abort();
                if (r->has_key && r->key_off + r->key_len > batch.data.len)
                        abort();
                const unsigned char *v = (const unsigned char *)batch.data.data + r->val_off;
                if (v[0] != 0xC3 || v[1] != 0x01 ||
                    av_validate(schema, v + 10, r->val_len - 10, err, sizeof(err)) != 0)
                        abort();
        }
        /* the answer for it must be well-formed JSON */
        buf_t out = BUF_INIT;
        int first = 1;
        ig_resp_begin(&out, -1);
        for (size_t i = 0; i < batch.n; i++)
                ig_resp_offset(&out, &first, 0, (int64_t)i, batch.recs[i].err_code,
                               ig_rec_error(&batch, i));
        ig_resp_end(&out, 0, NULL);
        cJSON *j = cJSON_ParseWithLength(out.data, out.len);
        if (!j)
                abort();
        cJSON_Delete(j);
        buf_free(&out);
        return 0;
}
