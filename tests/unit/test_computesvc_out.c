/* Unit tests for compute's service side without Kafka: out_ (aggregates
 * and alerts encoded to schemas/aggregate.avsc and alert.avsc, read back
 * with the Avro decoder as written) and wk_rec (input record → cp_record_t:
 * key, event time, numeric fields, nulls, errors). */
#include <stdlib.h>

#include "../../services/compute/out.h"
#include "../../services/compute/wk_rec.h"
#include "th.h"

static av_registry_t *reg;

static const av_schema_t *schema(const char *name) {
        if (!reg) {
                char err[512];
                reg = av_registry_new();
                if (av_registry_load_dir(reg, "schemas", err, sizeof(err)) < 0)
                        printf("  schemas: %s\n", err);
        }
        return av_registry_by_name(reg, name);
}

static out_t *new_out(void) {
        out_conf_t c = {.pipeline = "pipe",
                        .aggregate_schema = schema("weir.Aggregate"),
                        .alert_schema = schema("weir.Alert"),
                        .wire = AV_WIRE_SINGLE_OBJECT};
        return out_new(&c);
}

/* Decodes a framed record as written; the value belongs to dec. */
static avro_value_t *decode(av_decoder_t *dec, const void *v, size_t len) {
        av_decoded_t d;
        char err[512];
        int st = av_decode(dec, v, len, &d, err, sizeof(err));
        if (st != AV_OK) {
                printf("  decode: %s\n", err);
                return NULL;
        }
        return d.value;
}

static const char *get_str(avro_value_t *rec, const char *name) {
        avro_value_t f;
        const char *s = NULL;
        size_t n;
        if (avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_string(&f, &s, &n))
                return NULL;
        return s;
}

static int64_t get_long(avro_value_t *rec, const char *name) {
        avro_value_t f;
        int64_t x = -12345;
        if (avro_value_get_by_name(rec, name, &f, NULL) == 0)
                avro_value_get_long(&f, &x);
        return x;
}

/* A ["null","double"] field: NAN for null. */
static double get_opt(avro_value_t *rec, const char *name) {
        avro_value_t f, b;
        double x = NAN;
        if (avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_current_branch(&f, &b))
                return -99999;
        if (avro_value_get_type(&b) == AVRO_DOUBLE)
                avro_value_get_double(&b, &x);
        return x;
}

static void test_aggregate_round_trip(void) {
        out_t *o = new_out();
        TH_CHECK(o != NULL);
        if (!o)
                return;
        cp_field_stats_t fs[2] = {0};
        fs[0].name = "speed_kmh";
        fs[0].count = 3;
        fs[0].has_mean = fs[0].has_p99 = fs[0].has_min = 1;
        fs[0].mean = 12.5;
        fs[0].p99 = 30.25;
        fs[0].min = -1;
        fs[1].name = "vehicle_count";
        fs[1].count = 2;
        fs[1].has_sum = fs[1].has_zscore = 1;
        fs[1].sum = 7;
        fs[1].zscore = -3.5;
        /* The key is not NUL-terminated: only key_len bytes count. */
        cp_aggregate_t a = {.key = "k-17XXXX",
                            .key_len = 4,
                            .window = "1m",
                            .start_ms = 60000,
                            .end_ms = 120000,
                            .count = 3,
                            .final = 1,
                            .emitted_at_ms = 999,
                            .nfields = 2,
                            .fields = fs};
        const void *v;
        size_t len;
        char err[512];
        av_decoder_t *dec = av_decoder_new(reg, NULL, NULL, NULL);
        /* Twice: the reused value must not keep the first record's array. */
        for (int round = 0; round < 2; round++) {
                TH_CHECK(out_aggregate(o, &a, &v, &len, err, sizeof(err)) == 0);
                avro_value_t *r = decode(dec, v, len);
                TH_CHECK(r != NULL);
                if (!r)
                        break;
                TH_CHECK_STR(get_str(r, "pipeline"), "pipe");
                TH_CHECK_STR(get_str(r, "key"), "k-17");
                TH_CHECK_STR(get_str(r, "window"), "1m");
                TH_CHECK_INT(get_long(r, "window_start"), 60000);
                TH_CHECK_INT(get_long(r, "window_end"), 120000);
                TH_CHECK_INT(get_long(r, "count"), 3);
                TH_CHECK_INT(get_long(r, "emitted_at"), 999);
                avro_value_t f, arr, e;
                int b = 0;
                avro_value_get_by_name(r, "final", &f, NULL);
                avro_value_get_boolean(&f, &b);
                TH_CHECK(b == 1);
                size_t n = 0;
                avro_value_get_by_name(r, "fields", &arr, NULL);
                avro_value_get_size(&arr, &n);
                TH_CHECK_INT(n, 2);
                avro_value_get_by_index(&arr, 0, &e, NULL);
                TH_CHECK_STR(get_str(&e, "name"), "speed_kmh");
                TH_CHECK_INT(get_long(&e, "count"), 3);
                TH_CHECK(get_opt(&e, "mean") == 12.5);
                TH_CHECK(get_opt(&e, "p99") == 30.25);
                TH_CHECK(get_opt(&e, "min") == -1);
                TH_CHECK(isnan(get_opt(&e, "max")));
                TH_CHECK(isnan(get_opt(&e, "zscore")));
                avro_value_get_by_index(&arr, 1, &e, NULL);
                TH_CHECK_STR(get_str(&e, "name"), "vehicle_count");
                TH_CHECK(get_opt(&e, "sum") == 7);
                TH_CHECK(get_opt(&e, "zscore") == -3.5);
                TH_CHECK(isnan(get_opt(&e, "mean")));
        }
        /* An early update in emit mode changes. */
        a.final = 0;
        a.nfields = 0;
        TH_CHECK(out_aggregate(o, &a, &v, &len, err, sizeof(err)) == 0);
        avro_value_t *r = decode(dec, v, len);
        if (r) {
                avro_value_t f, arr;
                int b = 1;
                size_t n = 9;
                avro_value_get_by_name(r, "final", &f, NULL);
                avro_value_get_boolean(&f, &b);
                TH_CHECK(b == 0);
                avro_value_get_by_name(r, "fields", &arr, NULL);
                avro_value_get_size(&arr, &n);
                TH_CHECK_INT(n, 0);
        }
        av_decoder_destroy(dec);
        out_destroy(o);
}

static void test_alert_round_trip(void) {
        out_t *o = new_out();
        TH_CHECK(o != NULL);
        if (!o)
                return;
        cp_term_t terms[2] = {{"mean(speed_kmh)", 14.2}, {"count()", 12}};
        spec_kv_t labels[1] = {{"team", "ops"}};
        cp_alert_t al = {.rule = "congestion",
                         .key = "i-9",
                         .key_len = 3,
                         .window = "1m",
                         .start_ms = 0,
                         .end_ms = 60000,
                         .state = CP_ALERT_RESOLVED,
                         .severity = SPEC_SEVERITY_CRITICAL,
                         .expr = "mean(speed_kmh) < 20",
                         .nvalues = 2,
                         .values = terms,
                         .nlabels = 1,
                         .labels = labels,
                         .emitted_at_ms = 5};
        const void *v;
        size_t len;
        char err[512];
        TH_CHECK(out_alert(o, &al, &v, &len, err, sizeof(err)) == 0);
        av_decoder_t *dec = av_decoder_new(reg, NULL, NULL, NULL);
        avro_value_t *r = decode(dec, v, len);
        TH_CHECK(r != NULL);
        if (r) {
                TH_CHECK_STR(get_str(r, "rule"), "congestion");
                TH_CHECK_STR(get_str(r, "key"), "i-9");
                TH_CHECK_STR(get_str(r, "expr"), "mean(speed_kmh) < 20");
                avro_value_t f, e;
                int sym = -1;
                avro_value_get_by_name(r, "state", &f, NULL);
                avro_value_get_enum(&f, &sym);
                TH_CHECK_INT(sym, 1); /* RESOLVED */
                avro_value_get_by_name(r, "severity", &f, NULL);
                avro_value_get_enum(&f, &sym);
                TH_CHECK_INT(sym, 2); /* CRITICAL */
                double d = 0;
                avro_value_get_by_name(r, "values", &f, NULL);
                TH_CHECK(avro_value_get_by_name(&f, "mean(speed_kmh)", &e, NULL) == 0 &&
                         avro_value_get_double(&e, &d) == 0 && d == 14.2);
                TH_CHECK(avro_value_get_by_name(&f, "count()", &e, NULL) == 0 &&
                         avro_value_get_double(&e, &d) == 0 && d == 12);
                avro_value_get_by_name(r, "labels", &f, NULL);
                TH_CHECK(avro_value_get_by_name(&f, "team", &e, NULL) == 0);
                TH_CHECK_INT(get_long(r, "emitted_at"), 5);
        }
        av_decoder_destroy(dec);
        out_destroy(o);
}

static void test_trace_headers(void) {
        TH_CHECK(out_trace_headers(NULL, 0) == NULL);
        rd_kafka_headers_t *h = out_trace_headers("00-aa-bb-01", 11);
        const void *v = NULL;
        size_t n = 0;
        TH_CHECK(h && rd_kafka_header_get_last(h, "traceparent", &v, &n) == 0 && n == 11 &&
                 memcmp(v, "00-aa-bb-01", 11) == 0);
        if (h)
                rd_kafka_headers_destroy(h);
}

/* ------------------------------------------------------------ wk_rec */

static spec_t *load_spec(const char *extra_input, char *err, size_t errsize) {
        char json[2048];
        snprintf(
                json, sizeof(json),
                "{\"name\":\"p\",\"input\":{\"topic\":\"in\",\"schema\":"
                "\"weir.example.TrafficReading\"%s},"
                "\"compute\":{\"windows\":[{\"name\":\"w\",\"type\":\"tumbling\",\"size\":\"1m\"}],"
                "\"aggregates\":[{\"field\":\"speed_kmh\",\"ops\":[\"mean\"]},"
                "{\"field\":\"lane\",\"ops\":[\"max\"]},"
                "{\"field\":\"vehicle_count\",\"ops\":[\"sum\"]}]}}",
                extra_input);
        return spec_parse(json, strlen(json), "test", SPEC_PART_COMPUTE, err, errsize);
}

static void set_field(avro_value_t *rec, const char *name, int type, double x, const char *s) {
        avro_value_t f, b;
        avro_value_get_by_name(rec, name, &f, NULL);
        if (avro_value_get_type(&f) == AVRO_UNION) {
                avro_value_set_branch(&f, type == AVRO_NULL ? 0 : 1, &b);
                f = b;
        }
        switch (type) {
        case AVRO_STRING:
                avro_value_set_string(&f, s);
                break;
        case AVRO_INT64:
                avro_value_set_long(&f, (int64_t)x);
                break;
        case AVRO_INT32:
                avro_value_set_int(&f, (int32_t)x);
                break;
        case AVRO_FLOAT:
                avro_value_set_float(&f, (float)x);
                break;
        case AVRO_DOUBLE:
                avro_value_set_double(&f, x);
                break;
        default:
                avro_value_set_null(&f);
        }
}

static void test_extract_fields(void) {
        char err[512];
        const av_schema_t *in = schema("weir.example.TrafficReading");
        spec_t *spec =
                load_spec(",\"key\":\"intersection_id\",\"event_time\":\"ts\"", err, sizeof(err));
        TH_CHECK(spec != NULL);
        cp_engine_t *e = spec ? cp_engine_new(spec, in, err, sizeof(err)) : NULL;
        TH_CHECK(e != NULL);
        if (!e) {
                printf("  %s\n", err);
                spec_free(spec);
                return;
        }
        wk_rec_plan_t pl;
        wk_rec_buf_t b;
        TH_CHECK(wk_rec_plan_init(&pl, spec, e, in, err, sizeof(err)) == 0);
        TH_CHECK(wk_rec_buf_init(&b, pl.nfields) == 0);
        avro_value_t v;
        av_value_new(in, &v);
        set_field(&v, "sensor_id", AVRO_STRING, 0, "s1");
        set_field(&v, "intersection_id", AVRO_STRING, 0, "i-42");
        set_field(&v, "ts", AVRO_INT64, 1700000000123.0, NULL);
        set_field(&v, "speed_kmh", AVRO_DOUBLE, 33.5, NULL);
        set_field(&v, "vehicle_count", AVRO_INT32, 7, NULL);
        set_field(&v, "occupancy_pct", AVRO_FLOAT, 1.5, NULL);
        set_field(&v, "lane", AVRO_NULL, 0, NULL);
        cp_record_t r;
        TH_CHECK(wk_rec_extract(&pl, &v, NULL, &b, &r, err, sizeof(err)) == NULL);
        TH_CHECK(r.key_len == 4 && memcmp(r.key, "i-42", 4) == 0);
        TH_CHECK_INT(r.ts_ms, 1700000000123LL);
        /* spec order: speed_kmh, lane (null), vehicle_count */
        TH_CHECK(r.present[0] && r.values[0] == 33.5);
        TH_CHECK(!r.present[1]);
        TH_CHECK(r.present[2] && r.values[2] == 7);
        set_field(&v, "lane", AVRO_INT32, 3, NULL);
        TH_CHECK(wk_rec_extract(&pl, &v, NULL, &b, &r, err, sizeof(err)) == NULL);
        TH_CHECK(r.present[1] && r.values[1] == 3);
        avro_value_decref(&v);
        wk_rec_buf_fini(&b);
        wk_rec_plan_fini(&pl);
        cp_engine_destroy(e);
        spec_free(spec);
}

static void test_plan_errors(void) {
        char err[512] = "";
        const av_schema_t *in = schema("weir.example.TrafficReading");
        /* The key must be a string, int, long or enum: a double is not. */
        spec_t *spec = load_spec(",\"key\":\"speed_kmh\"", err, sizeof(err));
        cp_engine_t *e = spec ? cp_engine_new(spec, in, err, sizeof(err)) : NULL;
        TH_CHECK(e != NULL);
        if (e) {
                wk_rec_plan_t pl;
                TH_CHECK(wk_rec_plan_init(&pl, spec, e, in, err, sizeof(err)) == -1);
                TH_CHECK_HAS(err, "$.input.key");
                TH_CHECK_HAS(err, "speed_kmh");
                cp_engine_destroy(e);
        }
        spec_free(spec);
        /* The event time must be a long or int. */
        spec = load_spec(",\"key\":\"sensor_id\",\"event_time\":\"sensor_id\"", err, sizeof(err));
        e = spec ? cp_engine_new(spec, in, err, sizeof(err)) : NULL;
        if (e) {
                wk_rec_plan_t pl;
                TH_CHECK(wk_rec_plan_init(&pl, spec, e, in, err, sizeof(err)) == -1);
                TH_CHECK_HAS(err, "$.input.event_time");
                cp_engine_destroy(e);
        }
        spec_free(spec);
}

static void test_null_key_is_an_error(void) {
        char err[512];
        /* The reading's lane is a [null, int]: as key, null goes to the DLQ
         * with class "key" and a numeric key becomes its decimal text. */
        const av_schema_t *in = schema("weir.example.TrafficReading");
        spec_t *spec = load_spec(",\"key\":\"lane\",\"event_time\":\"ts\"", err, sizeof(err));
        cp_engine_t *e = spec ? cp_engine_new(spec, in, err, sizeof(err)) : NULL;
        TH_CHECK(e != NULL);
        if (!e) {
                spec_free(spec);
                return;
        }
        wk_rec_plan_t pl;
        wk_rec_buf_t b;
        TH_CHECK(wk_rec_plan_init(&pl, spec, e, in, err, sizeof(err)) == 0);
        wk_rec_buf_init(&b, pl.nfields);
        avro_value_t v;
        av_value_new(in, &v);
        set_field(&v, "ts", AVRO_INT64, 5, NULL);
        set_field(&v, "lane", AVRO_NULL, 0, NULL);
        cp_record_t r;
        TH_CHECK_STR(wk_rec_extract(&pl, &v, NULL, &b, &r, err, sizeof(err)), "key");
        TH_CHECK_HAS(err, "null");
        set_field(&v, "lane", AVRO_INT32, -12, NULL);
        TH_CHECK(wk_rec_extract(&pl, &v, NULL, &b, &r, err, sizeof(err)) == NULL);
        TH_CHECK(r.key_len == 3 && memcmp(r.key, "-12", 3) == 0);
        avro_value_decref(&v);
        wk_rec_buf_fini(&b);
        wk_rec_plan_fini(&pl);
        cp_engine_destroy(e);
        spec_free(spec);
}

static void test_cleanup(void) {
        av_registry_destroy(reg);
        reg = NULL;
}

TH_MAIN("computesvc_out", TH_T(test_aggregate_round_trip), TH_T(test_alert_round_trip),
        TH_T(test_trace_headers), TH_T(test_extract_fields), TH_T(test_plan_errors),
        TH_T(test_null_key_is_an_error), TH_T(test_cleanup))
