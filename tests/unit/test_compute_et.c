/* Unit tests for compute's event time (services/compute/et.h): every Avro
 * logical type on the event-time field, string formats (rfc3339 and
 * patterns), zones, bad values (DLQ reason quoting the value), the spec's
 * zone and idle settings, and start-up refusals naming the JSON path and the
 * type.  Expected instants are written out by hand (and checked against
 * `date -u -d`), not computed with the code under test. */
#include <stdlib.h>

#include "../../services/compute/et.h"
#include "../../services/compute/wk_rec.h"
#include "th.h"

/* A record schema with the event-time field `ts` of type `type` (JSON). */
static av_schema_t *schema_with(const char *type) {
        char json[1024], err[512];
        snprintf(json, sizeof(json),
                 "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\",\"fields\":["
                 "{\"name\":\"k\",\"type\":\"string\"},{\"name\":\"ts\",\"type\":%s},"
                 "{\"name\":\"v\",\"type\":\"double\"}]}",
                 type);
        av_schema_t *s = av_schema_parse(json, strlen(json), "test", err, sizeof(err));
        if (!s)
                printf("  schema %s: %s\n", type, err);
        return s;
}

static spec_t *spec_with(const char *input_extra, char *err, size_t errsize) {
        char json[2048];
        snprintf(json, sizeof(json),
                 "{\"name\":\"p\",\"input\":{\"topic\":\"in\",\"schema\":\"t.R\",\"key\":\"k\","
                 "\"event_time\":\"ts\"%s},"
                 "\"compute\":{\"windows\":[{\"name\":\"w\",\"type\":\"tumbling\",\"size\":\"1m\"}]"
                 "}}",
                 input_extra);
        return spec_parse(json, strlen(json), "pipeline.json", SPEC_PART_COMPUTE, err, errsize);
}

/* Plans `type` with `extra` input settings: 0, or -1 with err. */
static int plan(const char *type, const char *extra, et_plan_t *pl, char *err, size_t errsize) {
        av_schema_t *s = schema_with(type);
        spec_t *sp = spec_with(extra, err, errsize);
        int rc = -1;
        if (s && sp)
                rc = et_plan_init(pl, &sp->input, s, err, errsize);
        /* The plan keeps the spec's format string: tests re-point it. */
        if (rc == 0 && pl->fmt)
                pl->fmt = strcmp(pl->fmt, "rfc3339") ? NULL : "rfc3339";
        spec_free(sp);
        av_schema_destroy(s);
        return rc;
}

static void test_logical_types(void) {
        char err[512];
        et_plan_t pl;
        int64_t ms;
        /* 2024-05-01T12:00:00.123456789Z = 1714564800123 ms */
        TH_CHECK(plan("\"long\"", "", &pl, err, sizeof(err)) == 0);
        TH_CHECK(et_number_ms(&pl, 1714564800123LL, &ms) == 0 && ms == 1714564800123LL);
        TH_CHECK(plan("{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}", "", &pl, err,
                      sizeof(err)) == 0);
        TH_CHECK(pl.unit == ET_MS);
        TH_CHECK(plan("{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}", "", &pl, err,
                      sizeof(err)) == 0);
        TH_CHECK(pl.unit == ET_US);
        TH_CHECK(et_number_ms(&pl, 1714564800123456LL, &ms) == 0);
        TH_CHECK_INT(ms, 1714564800123LL);
        TH_CHECK(et_number_ms(&pl, -1, &ms) == 0); /* 1969-12-31T23:59:59.999999 */
        TH_CHECK_INT(ms, -1);
        TH_CHECK(plan("[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-nanos\"}]", "", &pl,
                      err, sizeof(err)) == 0);
        TH_CHECK(pl.unit == ET_NS);
        TH_CHECK(et_number_ms(&pl, 1714564800123456789LL, &ms) == 0);
        TH_CHECK_INT(ms, 1714564800123LL);
        TH_CHECK(et_number_ms(&pl, -1000001, &ms) == 0);
        TH_CHECK_INT(ms, -2);
        TH_CHECK(plan("{\"type\":\"long\",\"logicalType\":\"local-timestamp-millis\"}", "", &pl,
                      err, sizeof(err)) == 0);
        TH_CHECK(pl.unit == ET_MS);
        TH_CHECK(plan("[{\"type\":\"long\",\"logicalType\":\"local-timestamp-micros\"},\"null\"]",
                      "", &pl, err, sizeof(err)) == 0);
        TH_CHECK(pl.unit == ET_US);
        TH_CHECK(plan("{\"type\":\"int\",\"logicalType\":\"date\"}", "", &pl, err, sizeof(err)) ==
                 0);
        TH_CHECK(pl.unit == ET_DAYS);
        TH_CHECK(et_number_ms(&pl, 19844, &ms) == 0); /* 2024-05-01 */
        TH_CHECK_INT(ms, 1714521600000LL);
        TH_CHECK(et_number_ms(&pl, -1, &ms) == 0);
        TH_CHECK_INT(ms, -86400000LL);
}

static void test_refused_types(void) {
        char err[512];
        et_plan_t pl;
        TH_CHECK(plan("\"int\"", "", &pl, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "$.input.event_time");
        TH_CHECK_HAS(err, "\"ts\" of t.R is an int without a logical type");
        TH_CHECK(plan("\"double\"", "", &pl, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "is a double without a logical type");
        TH_CHECK(plan("{\"type\":\"int\",\"logicalType\":\"time-millis\"}", "", &pl, err,
                      sizeof(err)) == -1);
        TH_CHECK_HAS(err, "an int with logical type time-millis");
        TH_CHECK_HAS(err, "time of day");
        TH_CHECK(plan("{\"type\":\"long\",\"logicalType\":\"unix-seconds\"}", "", &pl, err,
                      sizeof(err)) == -1);
        TH_CHECK_HAS(err, "a long with logical type unix-seconds");
        TH_CHECK(plan("[\"null\",\"long\",\"string\"]", "", &pl, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "the union [\"null\",\"long\",\"string\"]");
        TH_CHECK(plan("\"string\"", "", &pl, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "is a string, which compute cannot read as an event time without "
                          "$.input.event_time_format");
        TH_CHECK(plan("\"long\"", ",\"event_time_format\":\"rfc3339\"", &pl, err, sizeof(err)) ==
                 -1);
        TH_CHECK_HAS(err, "$.input.event_time_format: field \"ts\" of t.R is a long");
        TH_CHECK(plan("\"long\"", ",\"event_time_zone\":\"+01:00\"", &pl, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "$.input.event_time_zone: applies to string event times only");
        TH_CHECK(plan("\"string\"", ",\"event_time_format\":\"%Y-%q\"", &pl, err, sizeof(err)) ==
                 -1);
        TH_CHECK_HAS(err, "$.input.event_time_format: unknown directive \"%q\"");
        TH_CHECK(plan("\"string\"", ",\"event_time_format\":\"%H:%M\"", &pl, err, sizeof(err)) ==
                 -1);
        TH_CHECK_HAS(err, "has no year");
}

static void test_spec_zone_and_idle(void) {
        char err[512];
        spec_t *s = spec_with(",\"event_time_format\":\"rfc3339\",\"event_time_zone\":\"-05:30\","
                              "\"idle\":{\"after\":\"3s\",\"action\":\"close\"}",
                              err, sizeof(err));
        TH_CHECK(s != NULL);
        if (s) {
                TH_CHECK_INT(s->input.event_time_zone_s, -(5 * 3600 + 30 * 60));
                TH_CHECK_INT(s->input.idle.after_ms, 3000);
                TH_CHECK(s->input.idle.action == SPEC_IDLE_CLOSE);
        }
        spec_free(s);
        s = spec_with(",\"event_time_format\":\"rfc3339\",\"event_time_zone\":\"+0100\","
                      "\"idle\":{\"after\":\"1m\",\"action\":\"advance\"}",
                      err, sizeof(err));
        TH_CHECK(s && s->input.event_time_zone_s == 3600 &&
                 s->input.idle.action == SPEC_IDLE_ADVANCE);
        spec_free(s);
        s = spec_with("", err, sizeof(err));
        TH_CHECK(s && s->input.idle.action == SPEC_IDLE_NONE && s->input.event_time_zone_s == 0);
        spec_free(s);
        s = spec_with(",\"event_time_format\":\"rfc3339\",\"event_time_zone\":\"Europe/Paris\"",
                      err, sizeof(err));
        TH_CHECK(s == NULL);
        TH_CHECK_HAS(err, "pipeline.json: $.input.event_time_zone: zone names like "
                          "\"Europe/Paris\" are not supported");
        s = spec_with(",\"event_time_zone\":\"+25:00\"", err, sizeof(err));
        TH_CHECK(s == NULL);
        TH_CHECK_HAS(err, "$.input.event_time_zone: expected \"UTC\" or an offset");
        s = spec_with(",\"idle\":{\"after\":\"3s\",\"action\":\"flush\"}", err, sizeof(err));
        TH_CHECK(s == NULL);
        TH_CHECK_HAS(err, "$.input.idle.action: unknown idle action \"flush\"");
        s = spec_with(",\"idle\":{\"action\":\"close\"}", err, sizeof(err));
        TH_CHECK(s == NULL);
        TH_CHECK_HAS(err, "$.input.idle: missing required key \"after\"");
}

/* Parses s with pattern fmt (NULL: rfc3339) and zone offset. */
static int parse(const char *fmt, int32_t zone, const char *s, int64_t *ms, char *err,
                 size_t errsize) {
        et_plan_t pl = {.unit = ET_STRING, .idx = 1, .zone_s = zone};
        if (fmt)
                pl.fmt = fmt;
        else
                pl.rfc3339 = 1;
        return et_parse(&pl, s, strlen(s), ms, err, errsize);
}

static void test_rfc3339(void) {
        char err[512];
        int64_t ms = 0;
        TH_CHECK(parse(NULL, 0, "2024-05-01T12:00:00Z", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800000LL);
        TH_CHECK(parse(NULL, 0, "2024-05-01t12:00:00.123456789z", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800123LL);
        TH_CHECK(parse(NULL, 0, "2024-05-01 13:00:00.5+01:00", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800500LL);
        TH_CHECK(parse(NULL, 0, "2024-05-01T06:30:00-05:30", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800000LL);
        /* no offset: the spec's zone */
        TH_CHECK(parse(NULL, 7200, "2024-05-01T14:00:00", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800000LL);
        TH_CHECK(parse(NULL, 0, "1969-12-31T23:59:59.999Z", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, -1);
        TH_CHECK(parse(NULL, 0, "2024-02-29T00:00:00Z", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1709164800000LL);
        /* bad values */
        TH_CHECK(parse(NULL, 0, "2023-02-29T00:00:00Z", &ms, err, sizeof(err)) == -1);
        TH_CHECK_STR(err, "event time \"2023-02-29T00:00:00Z\" has a date out of range (format "
                          "\"rfc3339\")");
        TH_CHECK(parse(NULL, 0, "2024-05-01T24:00:00Z", &ms, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "time of day out of range");
        TH_CHECK(parse(NULL, 0, "1714564800000", &ms, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "event time \"1714564800000\" is not an RFC 3339 time");
        TH_CHECK(parse(NULL, 0, "2024-05-01T12:00:00Zjunk", &ms, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "has characters after the end of the format");
        TH_CHECK(parse(NULL, 0, "", &ms, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "event time \"\"");
        /* quoted bounded and escaped */
        char big[400];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        big[3] = '"';
        big[4] = '\n';
        TH_CHECK(parse(NULL, 0, big, &ms, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "event time \"xxx\\\"\\x0axxx");
        TH_CHECK_HAS(err, "xxx...\" is not");
        TH_CHECK(strlen(err) < 200);
}

static void test_patterns(void) {
        char err[512];
        int64_t ms = 0;
        TH_CHECK(parse("%Y/%m/%d %H:%M", 0, "2024/05/01 12:00", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800000LL);
        TH_CHECK(parse("%Y/%m/%d %H:%M", 3600, "2024/5/1 13:00", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800000LL);
        TH_CHECK(parse("%d.%m.%Y %T.%f", 0, "01.05.2024 12:00:00.25", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800250LL);
        TH_CHECK(parse("%F %T%z", 0, "2024-05-01 14:00:00+0200", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800000LL);
        TH_CHECK(parse("%d %b %Y %H:%M:%S %Z", 0, "01 May 2024 12:00:00 UTC", &ms, err,
                       sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800000LL);
        TH_CHECK(parse("%B %e, %Y", 0, "september  9, 2024", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1725840000000LL);
        TH_CHECK(parse("%Y-%j", 0, "2024-122", &ms, err, sizeof(err)) == 0); /* May 1st */
        TH_CHECK_INT(ms, 1714521600000LL);
        TH_CHECK(parse("%y%m%d", 0, "240501", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714521600000LL);
        TH_CHECK(parse("%s.%f", 0, "1714564800.123", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 1714564800123LL);
        TH_CHECK(parse("%s", 0, "-1", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, -1000);
        TH_CHECK(parse("100%% %Y", 0, "100% 1970", &ms, err, sizeof(err)) == 0);
        TH_CHECK_INT(ms, 0);
        /* bad values */
        TH_CHECK(parse("%Y/%m/%d %H:%M", 0, "2024-05-01 12:00", &ms, err, sizeof(err)) == -1);
        TH_CHECK_STR(err, "event time \"2024-05-01 12:00\" does not match the format (format "
                          "\"%Y/%m/%d %H:%M\")");
        TH_CHECK(parse("%Y/%m/%d", 0, "2024/13/01", &ms, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "date out of range");
        TH_CHECK(parse("%Y/%m/%d", 0, "2024/04/31", &ms, err, sizeof(err)) == -1);
        TH_CHECK(parse("%Y-%j", 0, "2023-366", &ms, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "day of the year");
        TH_CHECK(parse("%F %T%z", 0, "2024-05-01 14:00:00+2500", &ms, err, sizeof(err)) == -1);
        TH_CHECK(parse("%d %b %Y", 0, "01 Mai 2024", &ms, err, sizeof(err)) == -1);
        TH_CHECK(parse("%Y", 0, "2024 ", &ms, err, sizeof(err)) == -1);
        TH_CHECK(parse("%s", 0, "99999999999999999", &ms, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "out of range");
}

/* Through wk_rec_extract: a timestamp-micros field lands in the right
 * millisecond (it used to be read as milliseconds: the year 56000), and a
 * string that cannot be read is the DLQ class event_time. */
static void test_extract(void) {
        char err[512];
        const char *types[] = {"{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}",
                               "[\"null\",\"string\"]"};
        const char *extra[] = {"", ",\"event_time_format\":\"rfc3339\""};
        for (int i = 0; i < 2; i++) {
                av_schema_t *s = schema_with(types[i]);
                spec_t *sp = spec_with(extra[i], err, sizeof(err));
                cp_engine_t *e = s && sp ? cp_engine_new(sp, s, err, sizeof(err)) : NULL;
                TH_CHECK(e != NULL);
                wk_rec_plan_t pl;
                wk_rec_buf_t b;
                if (!e || wk_rec_plan_init(&pl, sp, e, s, err, sizeof(err)) != 0) {
                        printf("  %s\n", err);
                        TH_CHECK(0);
                        cp_engine_destroy(e);
                        spec_free(sp);
                        av_schema_destroy(s);
                        continue;
                }
                wk_rec_buf_init(&b, pl.nfields);
                avro_value_t v, f, br;
                av_value_new(s, &v);
                avro_value_get_by_name(&v, "k", &f, NULL);
                avro_value_set_string(&f, "key1");
                avro_value_get_by_name(&v, "ts", &f, NULL);
                if (i == 0) {
                        avro_value_set_long(&f, 1714564800123456LL);
                } else {
                        avro_value_set_branch(&f, 1, &br);
                        avro_value_set_string(&br, "2024-05-01T12:00:00.123Z");
                }
                cp_record_t r;
                TH_CHECK(wk_rec_extract(&pl, &v, NULL, &b, &r, err, sizeof(err)) == NULL);
                TH_CHECK_INT(r.ts_ms, 1714564800123LL);
                if (i == 1) {
                        avro_value_set_string(&br, "yesterday");
                        const char *cls = wk_rec_extract(&pl, &v, NULL, &b, &r, err, sizeof(err));
                        TH_CHECK(cls && !strcmp(cls, "event_time"));
                        TH_CHECK_HAS(err, "event time \"yesterday\" is not an RFC 3339 time");
                        avro_value_set_branch(&f, 0, &br);
                        cls = wk_rec_extract(&pl, &v, NULL, &b, &r, err, sizeof(err));
                        TH_CHECK(cls && !strcmp(cls, "event_time"));
                }
                avro_value_decref(&v);
                wk_rec_buf_fini(&b);
                wk_rec_plan_fini(&pl);
                cp_engine_destroy(e);
                spec_free(sp);
                av_schema_destroy(s);
        }
}

TH_MAIN("compute_et", TH_T(test_logical_types), TH_T(test_refused_types),
        TH_T(test_spec_zone_and_idle), TH_T(test_rfc3339), TH_T(test_patterns), TH_T(test_extract))
