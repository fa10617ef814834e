/* Unit tests for the sink's line protocol (services/sink/lp.c): escaping per
 * InfluxDB's rules, timestamps per precision, and whole points made from
 * enriched aggregates and alerts (values built from JSON against the real
 * schemas in schemas/; run from the repository root). */
#include "th.h"

#include <math.h>
#include <stdlib.h>

#include "../../services/sink/lp.h"
#include "av_json.h"
#include "av_schema.h"
#include "buf.h"
#include "spec.h"

static const char *esc(const char *s, lp_part_t what) {
        static buf_t b = BUF_INIT;
        b.len = 0;
        if (lp_escape(&b, s, strlen(s), what))
                return "(error)";
        buf_nul(&b);
        return b.data;
}

static void test_escaping(void) {
        TH_CHECK_STR(esc("cpu load,x=1", LP_MEASUREMENT), "cpu\\ load\\,x=1");
        TH_CHECK_STR(esc("a b,c=d", LP_KEY), "a\\ b\\,c\\=d");
        TH_CHECK_STR(esc("say \"hi\" \\o/", LP_STRING), "say \\\"hi\\\" \\\\o/");
        TH_CHECK_STR(esc("Zürich", LP_KEY), "Zürich"); /* UTF-8 passes through */
        TH_CHECK_STR(esc("in\\side", LP_KEY), "in\\side");
        /* What line protocol cannot carry is refused, not mangled. */
        TH_CHECK_STR(esc("two\nlines", LP_KEY), "(error)");
        TH_CHECK_STR(esc("ends\\", LP_KEY), "(error)");
        TH_CHECK_STR(esc("ends\\", LP_MEASUREMENT), "(error)");
        TH_CHECK_STR(esc("", LP_KEY), "(error)");
        TH_CHECK_STR(esc("", LP_STRING), "");
        TH_CHECK_STR(esc("multi\nline", LP_STRING), "multi\nline");
        /* A failed escape leaves the buffer as it was. */
        buf_t b = BUF_INIT;
        buf_append(&b, "x", 1);
        TH_CHECK(lp_escape(&b, "a b\n", 4, LP_KEY) == -1);
        TH_CHECK_INT(b.len, 1);
        buf_free(&b);
}

static void test_time_and_precision(void) {
        TH_CHECK_INT(lp_time(1700000000123, SPEC_PRECISION_MS), 1700000000123);
        TH_CHECK_INT(lp_time(1700000000123, SPEC_PRECISION_S), 1700000000);
        TH_CHECK_INT(lp_time(1700000000123, SPEC_PRECISION_US), 1700000000123000);
        TH_CHECK_INT(lp_time(1700000000123, SPEC_PRECISION_NS), 1700000000123000000);
        TH_CHECK_INT(lp_time(-1, SPEC_PRECISION_S), -1); /* floor, not towards zero */
        TH_CHECK_STR(lp_precision_param(SPEC_PRECISION_NS, 1), "n");
        TH_CHECK_STR(lp_precision_param(SPEC_PRECISION_NS, 2), "ns");
        TH_CHECK_STR(lp_precision_param(SPEC_PRECISION_US, 1), "u");
        TH_CHECK_STR(lp_precision_param(SPEC_PRECISION_US, 2), "us");
        TH_CHECK_STR(lp_precision_param(SPEC_PRECISION_MS, 1), "ms");
        TH_CHECK_STR(lp_precision_param(SPEC_PRECISION_S, 2), "s");
}

static void test_doubles_round_trip(void) {
        const double v[] = {0.1, 1.0 / 3, 3, -0.0, 1e21, 5e-324, 1.7976931348623157e308, 56.63};
        const char *want[] = {"0.1", "0.3333333333333333", "3", "-0", "1e+21", NULL, NULL, "56.63"};
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                buf_t b = BUF_INIT;
                TH_CHECK(lp_double(&b, v[i]) == 0);
                buf_nul(&b);
                TH_CHECK(strtod(b.data, NULL) == v[i]);
                if (want[i])
                        TH_CHECK_STR(b.data, want[i]);
                buf_free(&b);
        }
}

/* ---------------------------------------------------------------- mapping */

static av_registry_t *reg;
static const av_schema_t *agg_s, *alert_s;

static void load_schemas(void) {
        if (reg)
                return;
        char e[512];
        reg = av_registry_new();
        TH_CHECK(av_registry_load_dir(reg, "schemas", e, sizeof(e)) > 0);
        agg_s = av_registry_by_name(reg, "weir.EnrichedAggregate");
        alert_s = av_registry_by_name(reg, "weir.EnrichedAlert");
        TH_CHECK(agg_s && alert_s);
}

static spec_t *spec_of(const char *sink_json) {
        char doc[4096], e[1024];
        snprintf(doc, sizeof(doc),
                 "{\"name\":\"traffic\",\"input\":{\"topic\":\"in\",\"schema\":\"a.B\","
                 "\"key\":\"intersection_id\"},\"sink\":%s}",
                 sink_json);
        spec_t *s = spec_parse(doc, strlen(doc), "t.json", SPEC_PART_SINK, e, sizeof(e));
        if (!s)
                printf("  spec: %s\n", e);
        TH_CHECK(s != NULL);
        return s;
}

#define AGG_JSON(attrs, fields)                                                                    \
        "{\"pipeline\":\"traffic\",\"key\":\"i-7\",\"window\":\"1m\",\"window_start\":"            \
        "1700000000000,\"window_end\":1700000060000,\"count\":12,\"final\":true,"                  \
        "\"emitted_at\":1700000061000,\"fields\":[" fields "],\"enriched\":true,"                  \
        "\"attributes\":{" attrs "}}"
#define SPEED                                                                                      \
        "{\"name\":\"speed_kmh\",\"count\":12,\"sum\":240.5,\"min\":null,\"max\":null,"            \
        "\"mean\":20.04,\"variance\":null,\"stddev\":null,\"first\":null,\"last\":null,"           \
        "\"p50\":null,\"p90\":null,\"p95\":31.5,\"p99\":null,\"zscore\":null}"

/* Maps one record with the given sink section; returns the line (static)
 * or "SKIP: why" / "ERR: why". */
static const char *map(const char *sink_json, int is_alert, const char *rec_json) {
        static char out[2048];
        char e[512];
        load_schemas();
        const av_schema_t *sch = is_alert ? alert_s : agg_s;
        spec_t *spec = spec_of(sink_json);
        lp_mapper_t *m = spec ? lp_mapper_new(spec, agg_s, alert_s, e, sizeof(e)) : NULL;
        TH_CHECK(m != NULL);
        avro_value_t v;
        av_value_new(sch, &v);
        if (av_json_text_to_value(sch, rec_json, strlen(rec_json), &v, e, sizeof(e))) {
                printf("  json: %s\n", e);
                snprintf(out, sizeof(out), "(bad test json)");
        } else if (m) {
                buf_t b = BUF_INIT;
                buf_append(&b, "prev\n", 5);
                lp_info_t info = {0};
                int rc = (sch == agg_s ? lp_aggregate : lp_alert)(m, &v, &b, &info, e, sizeof(e));
                buf_nul(&b);
                if (rc == LP_OK)
                        snprintf(out, sizeof(out), "%s", b.data + 5);
                else
                        snprintf(out, sizeof(out), "%s: %s", rc == LP_SKIP ? "SKIP" : "ERR", e);
                if (rc != LP_OK)
                        TH_CHECK_INT(b.len, 5); /* untouched */
                TH_CHECK_INT(info.time_ms, 1700000060000);
                TH_CHECK(info.key_len == 3 && !memcmp(info.key, "i-7", 3));
                buf_free(&b);
        }
        avro_value_decref(&v);
        lp_mapper_destroy(m);
        spec_free(spec);
        return out;
}

static void test_aggregate_defaults(void) {
        /* Measurement = pipeline name; tags key + window, sorted; every value. */
        TH_CHECK_STR(map("{}", 0, AGG_JSON("\"district\":\"north\"", SPEED)),
                     "traffic,intersection_id=i-7,window=1m count=12i,speed_kmh_count=12i,"
                     "speed_kmh_sum=240.5,speed_kmh_mean=20.04,speed_kmh_p95=31.5 "
                     "1700000060000\n");
}

static void test_aggregate_tags_sorted_and_escaped(void) {
        const char *sk = "{\"influx\":{\"measurement\":\"t {window}\",\"tags\":[\"zone\","
                         "\"district\",\"pipeline\",\"intersection_id\",\"window\"],"
                         "\"precision\":\"s\"}}";
        TH_CHECK_STR(
                map(sk, 0, AGG_JSON("\"district\":\"Old Town, east\",\"zone\":\"a=b\"", SPEED)),
                "t\\ 1m,district=Old\\ Town\\,\\ east,intersection_id=i-7,pipeline=traffic,"
                "window=1m,zone=a\\=b count=12i,speed_kmh_count=12i,speed_kmh_sum=240.5,"
                "speed_kmh_mean=20.04,speed_kmh_p95=31.5 1700000060\n");
        /* A missing or empty attribute leaves its tag out. */
        TH_CHECK_STR(map(sk, 0, AGG_JSON("\"zone\":\"\"", "")),
                     "t\\ 1m,intersection_id=i-7,pipeline=traffic,window=1m count=12i "
                     "1700000060\n");
}

static void test_aggregate_selected_fields(void) {
        TH_CHECK_STR(map("{\"influx\":{\"fields\":[\"speed_kmh_p95\",\"count\"]}}", 0,
                         AGG_JSON("", SPEED)),
                     "traffic,intersection_id=i-7,window=1m count=12i,speed_kmh_p95=31.5 "
                     "1700000060000\n");
        /* A selected value that was not computed is absent; nothing left: skipped. */
        TH_CHECK_STR(map("{\"influx\":{\"fields\":[\"speed_kmh_p99\"]}}", 0, AGG_JSON("", SPEED)),
                     "SKIP: no field to write");
}

/* NaN and infinities have no line-protocol form: left out.  (JSON cannot
 * carry them, so the value is set through avro-c.) */
static void test_aggregate_non_finite(void) {
        char e[256];
        load_schemas();
        spec_t *spec = spec_of("{}");
        lp_mapper_t *m = lp_mapper_new(spec, agg_s, alert_s, e, sizeof(e));
        avro_value_t v, arr, st, u, br;
        av_value_new(agg_s, &v);
        const char *j = AGG_JSON("", SPEED);
        TH_CHECK(av_json_text_to_value(agg_s, j, strlen(j), &v, e, sizeof(e)) == 0);
        TH_CHECK(avro_value_get_by_name(&v, "fields", &arr, NULL) == 0);
        TH_CHECK(avro_value_get_by_index(&arr, 0, &st, NULL) == 0);
        TH_CHECK(avro_value_get_by_name(&st, "sum", &u, NULL) == 0);
        TH_CHECK(avro_value_set_branch(&u, 1, &br) == 0 && avro_value_set_double(&br, NAN) == 0);
        TH_CHECK(avro_value_get_by_name(&st, "p95", &u, NULL) == 0);
        TH_CHECK(avro_value_set_branch(&u, 1, &br) == 0 &&
                 avro_value_set_double(&br, -INFINITY) == 0);
        buf_t b = BUF_INIT;
        lp_info_t info = {0};
        TH_CHECK(lp_aggregate(m, &v, &b, &info, e, sizeof(e)) == LP_OK);
        buf_nul(&b);
        TH_CHECK_STR(b.data, "traffic,intersection_id=i-7,window=1m count=12i,speed_kmh_count=12i,"
                             "speed_kmh_mean=20.04 1700000060000\n");
        buf_free(&b);
        avro_value_decref(&v);
        lp_mapper_destroy(m);
        spec_free(spec);
}

static void test_aggregate_measurement_template(void) {
        const char *sk = "{\"influx\":{\"measurement\":\"{pipeline}_{district}_{key}\"}}";
        TH_CHECK_STR(map(sk, 0, AGG_JSON("\"district\":\"n\"", "")),
                     "traffic_n_i-7,intersection_id=i-7,window=1m count=12i 1700000060000\n");
        TH_CHECK_STR(map(sk, 0, AGG_JSON("", "")),
                     "ERR: measurement: attribute \"district\" missing from the record");
        /* A newline in a tag value cannot be written: a mapping error. */
        TH_CHECK_STR(map("{\"influx\":{\"tags\":[\"district\"]}}", 0,
                         AGG_JSON("\"district\":\"a\\nb\"", "")),
                     "ERR: tag district: value cannot be written (newline or trailing "
                     "backslash)");
}

#define ALERT_JSON(state)                                                                          \
        "{\"pipeline\":\"traffic\",\"rule\":\"congestion\",\"key\":\"i-7\",\"window\":\"1m\","     \
        "\"window_start\":1700000000000,\"window_end\":1700000060000,\"state\":\"" state "\","     \
        "\"severity\":\"CRITICAL\",\"expr\":\"mean(speed) < 20 and \\\"x\\\"\",\"values\":"        \
        "{\"mean(speed)\":14.5},\"labels\":{},\"emitted_at\":1,\"enriched\":true,"                 \
        "\"attributes\":{\"district\":\"north\"}}"

static void test_alerts(void) {
        TH_CHECK_STR(map("{\"influx\":{\"alert_measurement\":\"alerts_{window}\",\"tags\":["
                         "\"district\"]}}",
                         1, ALERT_JSON("FIRING")),
                     "alerts_1m,district=north,intersection_id=i-7,rule=congestion,"
                     "severity=CRITICAL,window=1m state=\"FIRING\",firing=true,expr=\"mean(speed) "
                     "< 20 and \\\"x\\\"\",mean(speed)=14.5 1700000060000\n");
        TH_CHECK_STR(map("{}", 1, ALERT_JSON("RESOLVED")),
                     "alerts,intersection_id=i-7,rule=congestion,severity=CRITICAL,window=1m "
                     "state=\"RESOLVED\",firing=false,expr=\"mean(speed) < 20 and \\\"x\\\"\","
                     "mean(speed)=14.5 1700000060000\n");
        TH_CHECK_STR(map("{\"influx\":{\"alert_measurement\":null}}", 1, ALERT_JSON("FIRING")),
                     "SKIP: alerts are not written (alert_measurement null)");
}

static void test_info_only(void) {
        char e[256];
        load_schemas();
        spec_t *spec = spec_of("{}");
        lp_mapper_t *m = lp_mapper_new(spec, agg_s, alert_s, e, sizeof(e));
        avro_value_t v;
        av_value_new(alert_s, &v);
        const char *j = ALERT_JSON("FIRING");
        TH_CHECK(av_json_text_to_value(alert_s, j, strlen(j), &v, e, sizeof(e)) == 0);
        lp_info_t info = {0};
        TH_CHECK(lp_alert(m, &v, NULL, &info, e, sizeof(e)) == LP_OK);
        TH_CHECK_STR(info.severity, "CRITICAL");
        TH_CHECK_INT(info.time_ms, 1700000060000);
        avro_value_decref(&v);
        lp_mapper_destroy(m);
        spec_free(spec);
}

static void test_teardown(void) {
        av_registry_destroy(reg);
        reg = NULL;
}

TH_MAIN("sink_lp", TH_T(test_escaping), TH_T(test_time_and_precision),
        TH_T(test_doubles_round_trip), TH_T(test_aggregate_defaults),
        TH_T(test_aggregate_tags_sorted_and_escaped), TH_T(test_aggregate_selected_fields),
        TH_T(test_aggregate_non_finite), TH_T(test_aggregate_measurement_template),
        TH_T(test_alerts), TH_T(test_info_only), TH_T(test_teardown))
