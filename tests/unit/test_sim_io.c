/* Unit tests for weir-sim's encoding and options: Avro records decode (with
 * common/'s decoder) to the reading's values in both wire formats and every
 * malformed kind is refused; the REST Proxy JSON converts against the schema
 * unless malformed; REST Proxy answers are counted right; options and their
 * environment fallbacks parse, and bad ones name themselves. */
#include <stdlib.h>

#include "../../services/sim/simenc.h"
#include "../../services/sim/simhttp.h"
#include "../../services/sim/simopt.h"
#include "../../services/sim/tgen.h"
#include "av_json.h"
#include "th.h"

static av_registry_t *reg;
static const av_schema_t *schema;

static int load(void) {
        char err[512];
        if (schema)
                return 0;
        reg = av_registry_new();
        if (av_registry_load_dir(reg, "schemas", err, sizeof(err)) < 0) {
                printf("  schemas: %s\n", err);
                return -1;
        }
        schema = av_registry_by_name(reg, "weir.example.TrafficReading");
        return schema ? 0 : -1;
}

static tgen_t *gen(double malformed) {
        char err[256];
        tgen_conf_t c;
        tgen_conf_defaults(&c);
        c.start_ms = 1795419000000LL;
        c.malformed = malformed;
        c.seed = 21;
        return tgen_new(&c, err, sizeof(err));
}

static double get_double(avro_value_t *rec, const char *name) {
        avro_value_t f;
        double d = -1;
        float fl;
        if (avro_value_get_by_name(rec, name, &f, NULL))
                return -1;
        if (avro_value_get_type(&f) == AVRO_FLOAT)
                return avro_value_get_float(&f, &fl) ? -1 : fl;
        return avro_value_get_double(&f, &d) ? -1 : d;
}

static void check_wire(av_wire_t wire) {
        char err[512];
        TH_CHECK(load() == 0);
        if (!schema)
                return;
        simenc_t *e = simenc_new(schema, wire, 7, err, sizeof(err));
        /* The decoder finds schema id 7 through this look-up. */
        av_decoder_t *d = av_decoder_new(reg, NULL, NULL, NULL);
        tgen_t *g = gen(0.2);
        TH_CHECK(e && d && g);
        buf_t b = BUF_INIT;
        int good = 0, bad_refused = 0, bad = 0;
        for (int i = 0; e && d && g && i < 2000; i++) {
                tgen_reading_t r;
                tgen_next(g, &r);
                TH_CHECK(simenc_avro(e, &r, &b, err, sizeof(err)) == 0);
                if (wire == AV_WIRE_CONFLUENT) {
                        /* Framing: 00, id 7 big-endian (unless broken on purpose). */
                        if (r.malformed != 2 && r.malformed != 3)
                                TH_CHECK(b.data[0] == 0 && b.data[4] == 7);
                        continue;
                }
                av_decoded_t out;
                int rc = av_decode(d, b.data, b.len, &out, err, sizeof(err));
                if (r.malformed) {
                        bad++;
                        bad_refused += rc == AV_ERR_MALFORMED || rc == AV_ERR_SCHEMA;
                        continue;
                }
                TH_CHECK_INT(rc, AV_OK);
                if (rc)
                        continue;
                good++;
                avro_value_t f;
                const char *s = NULL;
                int64_t ts = 0;
                TH_CHECK(avro_value_get_by_name(out.value, "intersection_id", &f, NULL) == 0 &&
                         avro_value_get_string(&f, &s, NULL) == 0 && !strcmp(s, r.intersection_id));
                TH_CHECK(avro_value_get_by_name(out.value, "ts", &f, NULL) == 0 &&
                         avro_value_get_long(&f, &ts) == 0 && ts == r.ts);
                TH_CHECK(get_double(out.value, "speed_kmh") == r.speed_kmh);
                TH_CHECK(get_double(out.value, "occupancy_pct") == (float)r.occupancy_pct);
                int disc = -1;
                TH_CHECK(avro_value_get_by_name(out.value, "lane", &f, NULL) == 0 &&
                         avro_value_get_discriminant(&f, &disc) == 0 &&
                         disc == (r.lane < 0 ? 0 : 1));
        }
        if (wire == AV_WIRE_SINGLE_OBJECT) {
                TH_CHECK(good > 1400);
                TH_CHECK(bad > 300);
                TH_CHECK_INT(bad_refused, bad);
        }
        buf_free(&b);
        av_decoder_destroy(d);
        simenc_destroy(e);
        tgen_destroy(g);
}

static void test_avro_single_object(void) {
        check_wire(AV_WIRE_SINGLE_OBJECT);
}

static void test_avro_confluent_framing(void) {
        check_wire(AV_WIRE_CONFLUENT);
}

/* Each record object's value converts to the schema with common/'s JSON
 * reader unless it was marked malformed. */
static void test_rest_proxy_json(void) {
        char err[512];
        TH_CHECK(load() == 0);
        tgen_t *g = gen(0.25);
        avro_value_t v;
        if (!schema || !g || av_value_new(schema, &v)) {
                TH_CHECK(0);
                tgen_destroy(g);
                return;
        }
        buf_t b = BUF_INIT;
        int ok = 1;
        for (int i = 0; i < 1000; i++) {
                tgen_reading_t r;
                tgen_next(g, &r);
                b.len = 0;
                TH_CHECK(simenc_json(&r, &b) == 0);
                cJSON *doc = cJSON_ParseWithLength(b.data, b.len);
                const cJSON *key = cJSON_GetObjectItemCaseSensitive(doc, "key");
                const cJSON *val = cJSON_GetObjectItemCaseSensitive(doc, "value");
                TH_CHECK(cJSON_IsString(key) && !strcmp(key->valuestring, r.intersection_id));
                int rc = val ? av_json_to_value(schema, val, &v, err, sizeof(err)) : -2;
                if ((rc == 0) != (r.malformed == 0)) {
                        ok = 0;
                        printf("  kind %d: rc %d %s\n", r.malformed, rc, err);
                }
                if (rc == 0)
                        TH_CHECK(get_double(&v, "speed_kmh") == r.speed_kmh &&
                                 get_double(&v, "occupancy_pct") == (float)r.occupancy_pct);
                cJSON_Delete(doc);
        }
        TH_CHECK(ok);
        buf_free(&b);
        avro_value_decref(&v);
        tgen_destroy(g);
}

static void test_rest_proxy_answers(void) {
        char err[256];
        unsigned char o[8];
        /* REST Proxy style: per-record errors in a 200. */
        const char *mixed =
                "{\"key_schema_id\":null,\"value_schema_id\":null,\"offsets\":["
                "{\"partition\":0,\"offset\":1,\"error_code\":null,\"error\":null},"
                "{\"partition\":null,\"offset\":null,\"error_code\":42202,"
                "\"error\":\"$.speed_kmh: expected double\"},"
                "{\"partition\":null,\"offset\":null,\"error_code\":2,\"error\":\"x\"},"
                "{\"partition\":1,\"offset\":9},"
                "{\"partition\":null,\"offset\":null,\"error_code\":1,\"error\":\"y\"}]}";
        simhttp_classify(200, mixed, strlen(mixed), 6, o, err, sizeof(err));
        TH_CHECK_INT(o[0], SIMHTTP_ACKED);
        TH_CHECK_INT(o[1], SIMHTTP_REJECTED);
        TH_CHECK_INT(o[2], SIMHTTP_RETRY);
        TH_CHECK_INT(o[3], SIMHTTP_ACKED);
        TH_CHECK_INT(o[4], SIMHTTP_FAILED);
        TH_CHECK_INT(o[5], SIMHTTP_FAILED); /* no entry for it */
        TH_CHECK_HAS(err, "speed_kmh");
        /* Weir ingress: all or nothing, 422 with 42203 for the invalid and
         * 42210 for the valid records, which go again at once. */
        const char *aon =
                "{\"error_code\":42203,\"message\":\"1 invalid\",\"offsets\":["
                "{\"partition\":null,\"offset\":null,\"error_code\":42210,\"error\":\"n\"},"
                "{\"partition\":null,\"offset\":null,\"error_code\":42203,"
                "\"error\":\"$.vehicle_count: missing\"}]}";
        simhttp_classify(422, aon, strlen(aon), 2, o, err, sizeof(err));
        TH_CHECK_INT(o[0], SIMHTTP_RETRY_NOW);
        TH_CHECK_INT(o[1], SIMHTTP_REJECTED);
        TH_CHECK_HAS(err, "vehicle_count");
        /* 503 with partial offsets: only the unacknowledged go again. */
        const char *part =
                "{\"error_code\":50003,\"message\":\"timeout\",\"offsets\":["
                "{\"partition\":2,\"offset\":7,\"error_code\":null,\"error\":null},"
                "{\"partition\":null,\"offset\":null,\"error_code\":50003,\"error\":\"t\"},"
                "{\"partition\":null,\"offset\":null,\"error_code\":50002,\"error\":\"f\"}]}";
        simhttp_classify(503, part, strlen(part), 3, o, err, sizeof(err));
        TH_CHECK_INT(o[0], SIMHTTP_ACKED);
        TH_CHECK_INT(o[1], SIMHTTP_RETRY);
        TH_CHECK_INT(o[2], SIMHTTP_FAILED);
        /* No offsets: busy and server errors retry all; other 4xx reject all;
         * a 200 without offsets acknowledges nothing. */
        simhttp_classify(429, "", 0, 2, o, err, sizeof(err));
        TH_CHECK(o[0] == SIMHTTP_RETRY && o[1] == SIMHTTP_RETRY);
        simhttp_classify(0, NULL, 0, 1, o, err, sizeof(err));
        TH_CHECK_INT(o[0], SIMHTTP_RETRY);
        const char *e415 = "{\"error_code\":415,\"message\":\"Content-Type\"}";
        simhttp_classify(415, e415, strlen(e415), 2, o, err, sizeof(err));
        TH_CHECK(o[0] == SIMHTTP_REJECTED && o[1] == SIMHTTP_REJECTED);
        TH_CHECK_HAS(err, "HTTP 415: Content-Type");
        simhttp_classify(200, "{}", 2, 1, o, err, sizeof(err));
        TH_CHECK_INT(o[0], SIMHTTP_FAILED);
}

static void test_options(void) {
        char err[256];
        simopt_t o;
        char *argv[] = {"weir-sim",
                        "--rate",
                        "250",
                        "--keys=40",
                        "--unpaced",
                        "--start-time",
                        "2026-11-23T08:00:00.5Z",
                        "--advance",
                        "70s",
                        "--out-of-order",
                        "0.25",
                        NULL};
        setenv("SIM_SEED", "77", 1);
        setenv("SIM_RATE", "10", 1);
        TH_CHECK_INT(simopt_parse(&o, 11, argv, err, sizeof(err)), 0);
        TH_CHECK(o.gen.rate == 250); /* argv wins over the environment */
        TH_CHECK_INT(o.gen.seed, 77);
        TH_CHECK_INT(o.gen.keys, 40);
        TH_CHECK_INT(o.unpaced, 1);
        TH_CHECK_INT(o.gen.start_ms, 1795420800500LL);
        TH_CHECK_INT(o.advance_ms, 70000);
        TH_CHECK(o.gen.out_of_order == 0.25);
        TH_CHECK_INT(o.count, -1);
        TH_CHECK_STR(o.topic, "traffic.readings");
        unsetenv("SIM_SEED");
        unsetenv("SIM_RATE");

        char *bad1[] = {"weir-sim", "--late", "1.5", NULL};
        TH_CHECK_INT(simopt_parse(&o, 3, bad1, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "--late=\"1.5\"");
        char *bad2[] = {"weir-sim", "--count", NULL};
        TH_CHECK_INT(simopt_parse(&o, 2, bad2, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "--count needs a value");
        char *bad3[] = {"weir-sim", "--start-time", "yesterday", NULL};
        TH_CHECK_INT(simopt_parse(&o, 3, bad3, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "--start-time");
        setenv("SIM_DURATION", "soon", 1);
        char *none[] = {"weir-sim", NULL};
        TH_CHECK_INT(simopt_parse(&o, 1, none, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "SIM_DURATION=\"soon\"");
        unsetenv("SIM_DURATION");

        int64_t ms = 0;
        TH_CHECK(simopt_parse_time("1795420800000", &ms) == 0 && ms == 1795420800000LL);
        TH_CHECK(simopt_parse_time("2026-11-23T08:00:00Z", &ms) == 0 && ms == 1795420800000LL);
        TH_CHECK(simopt_parse_time("2026-13-01T00:00:00Z", &ms) == -1);
        TH_CHECK(simopt_parse_time("2026-11-23T08:00:00+02:00", &ms) == -1);
}

static void test_zz_cleanup(void) {
        av_registry_destroy(reg);
        reg = NULL;
        schema = NULL;
}

TH_MAIN("sim_io", TH_T(test_avro_single_object), TH_T(test_avro_confluent_framing),
        TH_T(test_rest_proxy_json), TH_T(test_rest_proxy_answers), TH_T(test_options),
        TH_T(test_zz_cleanup))
