/* Unit tests for the pipeline spec loader's errors: each kind (wrong type,
 * unknown, repeated or missing key, bad duration, bad enum value, broken
 * cross-references) gives its exact path message; malformed and absurdly
 * deep JSON is an error, not a crash.  Valid specs are in test_spec.c.
 *
 * JSON in this file is written with ' for " (see q()) to stay readable. */
#include "spec.h"
#include "th.h"
#include "th_spec.h"

#include <stdlib.h>

/* ------------------------------------------------------------ errors */

static void test_type_errors(void) {
        TH_CHECK_STR(error_of("[1]", 0), "pipeline.json: $: expected an object, got an array");
        TH_CHECK_STR(error_of("{'name':5,'input':{}}", 0),
                     "pipeline.json: $.name: expected a string, got 5");
        TH_CHECK_STR(error_of(CMP("'windows':{}"), SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows: expected an array, got an object");
        TH_CHECK_STR(error_of("{" HEAD ",'compute':[]}", SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute: expected an object, got an array");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'rules':[{'name':'r','expr':'x','for':'3'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.rules[0].for: expected an integer in 1..1000, "
                     "got \"3\"");
        TH_CHECK_STR(
                error_of(CMP(WIN1 ",'rules':[{'name':'r','expr':'x','for':0}]"), SPEC_PART_COMPUTE),
                "pipeline.json: $.compute.rules[0].for: expected an integer in 1..1000, "
                "got 0");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'anomaly':{'alpha':1.5}"), SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.anomaly.alpha: expected a number greater than 0 "
                     "and at most 1, got 1.5");
        TH_CHECK_STR(error_of(SNK("'websocket':{'enabled':'yes'}"), SPEC_PART_SINK),
                     "pipeline.json: $.sink.websocket.enabled: expected true or false, got "
                     "\"yes\"");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'rules':[{'name':'r','expr':'x','labels':{'a':1}}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.rules[0].labels.a: expected a string, got 1");
        TH_CHECK_STR(error_of("{'version':2," HEAD "}", 0),
                     "pipeline.json: $.version: expected an integer in 1..1, got 2");
        TH_CHECK_STR(error_of("{'name':'p','input':{'topic':'a b','schema':'a.B','key':'k'}}", 0),
                     "pipeline.json: $.input.topic: invalid value \"a b\" (expected a Kafka "
                     "topic name of 1 to 249 characters from A-Z, a-z, 0-9, '.', '_' and '-')");
        TH_CHECK_STR(error_of("{'name':'p','input':{'topic':'t','schema':'a..B','key':'k'}}", 0),
                     "pipeline.json: $.input.schema: invalid value \"a..B\" (expected an Avro "
                     "full name like \"weir.example.TrafficReading\")");
        TH_CHECK_STR(error_of("{'name':'p','input':{'topic':'t','schema':'B','key':'1k'}}", 0),
                     "pipeline.json: $.input.key: invalid value \"1k\" (expected an Avro field "
                     "name: a letter or '_', then letters, digits or '_')");
        TH_CHECK_STR(error_of("{'name':'','input':{}}", 0),
                     "pipeline.json: $.name: must not be empty");
}

static void test_key_errors(void) {
        TH_CHECK_STR(error_of("{'name':'p','input':{'topc':'t','schema':'a.B','key':'k'}}", 0),
                     "pipeline.json: $.input.topc: unknown key (did you mean \"topic\"?)");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'foo':1"), SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.foo: unknown key (expected one of windows, "
                     "aggregates, emit, rules, anomaly, quantile_accuracy, output, key_ttl)");
        TH_CHECK_STR(error_of("{" HEAD ",'a \\'b':1}", 0),
                     "pipeline.json: $[\"a \\\"b\"]: unknown key (expected one of version, name, "
                     "description, input, compute, enrichment, sink)");
        TH_CHECK_STR(error_of("{'name':'p','input':{'topic':'t','key':'k'}}", 0),
                     "pipeline.json: $.input: missing required key \"schema\"");
        TH_CHECK_STR(error_of("{'input':{'topic':'t','schema':'a.B','key':'k'}}", 0),
                     "pipeline.json: $: missing required key \"name\"");
        TH_CHECK_STR(error_of("{" HEAD ",'name':'q'}", 0), "pipeline.json: $.name: duplicate key");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'w','type':'hopping','size':'1m'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[0]: missing required key \"advance\"");
        TH_CHECK_STR(error_of(CMP("'windows':[]"), SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows: expected at least one window");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'rules':[{'name':'r'}]"), SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.rules[0]: missing required key \"expr\"");
        TH_CHECK_STR(error_of(ENR("'sources':[{'tpye':'file'}]"), SPEC_PART_ENRICHMENT),
                     "pipeline.json: $.enrichment.sources[0].tpye: unknown key (did you mean "
                     "\"type\"?)");
        TH_CHECK_STR(error_of(ENR("'sources':[{'type':'redis','url':'redis://h','path':'x'}]"),
                              SPEC_PART_ENRICHMENT),
                     "pipeline.json: $.enrichment.sources[0].path: unknown key (expected one of "
                     "name, type, on_missing, attributes, url, password_env, key_pattern, ttl, "
                     "negative_ttl, timeout, cache_size, warm_up)");
}

static void test_duration_errors(void) {
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'a','type':'tumbling','size':'1m'},"
                                  "{'name':'b','type':'tumbling','size':12}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[1].size: expected a duration like "
                     "\"60s\", got 12");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'a','type':'tumbling','size':'60'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[0].size: expected a duration like "
                     "\"60s\", got \"60\"");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'a','type':'tumbling','size':'1 min'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[0].size: expected a duration like "
                     "\"60s\", got \"1 min\"");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'a','type':'tumbling','size':'0s'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[0].size: must be at least 1ms, got \"0s\"");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'a','type':'tumbling','size':'1s'}],"
                                  "'key_ttl':'0s'"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.key_ttl: must be at least 1ms, got \"0s\"");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'a','type':'tumbling','size':'1s'}],"
                                  "'key_ttl':3600"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.key_ttl: expected a duration like \"60s\", got "
                     "3600");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'a','type':'tumbling','size':'400d'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[0].size: must be at most 366d, got "
                     "\"400d\"");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'a','type':'hopping','size':'1m','advance':"
                                  "'2m'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[0].advance: must not be longer than the "
                     "window's size");
}

static void test_enum_errors(void) {
        TH_CHECK_STR(error_of(CMP(WIN1 ",'aggregates':[{'field':'x','ops':['count','sum',"
                                       "'median']}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.aggregates[0].ops[2]: unknown aggregate "
                     "\"median\" (expected one of count, sum, min, max, mean, variance, "
                     "stddev, first, last, p50, p90, p95, p99)");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'w','type':'rolling','size':'1m'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[0].type: unknown window type "
                     "\"rolling\" (expected one of tumbling, hopping, sliding, session)");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'rules':[{'name':'r','expr':'x','severity':5}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.rules[0].severity: expected one of info, "
                     "warning, critical, got 5");
        TH_CHECK_STR(error_of(ENR("'sources':[{'type':'file','path':'x.json','key_field':'k',"
                                  "'on_missing':'skip'}]"),
                              SPEC_PART_ENRICHMENT),
                     "pipeline.json: $.enrichment.sources[0].on_missing: unknown missing-key "
                     "policy \"skip\" (expected one of pass, drop, dlq)");
        TH_CHECK_STR(error_of(SNK("'influx':{'precision':'m'}"), SPEC_PART_SINK),
                     "pipeline.json: $.sink.influx.precision: unknown precision \"m\" (expected "
                     "one of ns, us, ms, s)");
}

static void test_semantic_errors(void) {
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'w','type':'tumbling','size':'1m','advance':"
                                  "'1m'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[0].advance: only for hopping windows");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'w','type':'session','size':'1m'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[0].size: not used by session windows "
                     "(they close after \"gap\" without records)");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'w','type':'tumbling','size':'1m'},"
                                  "{'name':'w','type':'sliding','size':'1m'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.windows[1].name: duplicate window name \"w\" "
                     "(also at $.compute.windows[0])");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'emit':{'mode':'final','min_interval':'1s'}"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.emit.min_interval: only for mode \"changes\" "
                     "(\"final\" emits once, at close)");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'aggregates':[{'field':'x','ops':['sum','sum']}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.aggregates[0].ops[1]: duplicate aggregate "
                     "\"sum\"");
        TH_CHECK_STR(error_of(CMP("'windows':[{'name':'a','type':'tumbling','size':'1m'},"
                                  "{'name':'b','type':'tumbling','size':'5m'}],"
                                  "'rules':[{'name':'r','expr':'x'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.rules[0]: missing required key \"window\" (the "
                     "pipeline has 2 windows: a, b)");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'rules':[{'name':'r','expr':'x','window':'2m'}]"),
                              SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.rules[0].window: unknown window \"2m\" (expected "
                     "one of w)");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'output':{'alerts':'in'}"), SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.output.alerts: topic \"in\" is already used by "
                     "the input ($.input.topic)");
        TH_CHECK_STR(error_of(CMP(WIN1 ",'output':{'dlq':'aggregates'}"), SPEC_PART_COMPUTE),
                     "pipeline.json: $.compute.output.dlq: topic \"aggregates\" is already used "
                     "by $.compute.output.aggregates");
        TH_CHECK_STR(error_of(ENR("'sources':[{'type':'redis','url':'redis://:pw@h:6379'}]"),
                              SPEC_PART_ENRICHMENT),
                     "pipeline.json: $.enrichment.sources[0].url: must not contain a password: "
                     "put it in an environment variable and name that variable in "
                     "\"password_env\"");
        TH_CHECK_STR(error_of(ENR("'sources':[{'type':'redis','url':'redis://h',"
                                  "'key_pattern':'site:'}]"),
                              SPEC_PART_ENRICHMENT),
                     "pipeline.json: $.enrichment.sources[0].key_pattern: must contain "
                     "\"{key}\" exactly once, got \"site:\"");
        TH_CHECK_STR(error_of(ENR("'sources':[{'type':'file','path':'r.txt','key_field':'k'}]"),
                              SPEC_PART_ENRICHMENT),
                     "pipeline.json: $.enrichment.sources[0]: missing required key \"format\" "
                     "(cannot tell json or csv from the file name)");
        TH_CHECK_STR(error_of(ENR(FILESRC ",'output':{'dlq':'aggregates'}"), SPEC_PART_ENRICHMENT),
                     "pipeline.json: $.enrichment.output.dlq: topic \"aggregates\" is already "
                     "used by $.enrichment.input.aggregates");
        TH_CHECK_STR(error_of(ENR("'sources':[{'type':'file','path':'a.csv','key_field':'k'},"
                                  "{'type':'file','path':'b.csv','key_field':'k'}]"),
                              SPEC_PART_ENRICHMENT),
                     "pipeline.json: $.enrichment.sources[1]: duplicate source name \"file\" "
                     "(also at $.enrichment.sources[0]): give each source its own \"name\"");
        TH_CHECK_STR(error_of(ENR("'sources':[{'type':'kafka','topic':'enrichment.dlq'}]"),
                              SPEC_PART_ENRICHMENT),
                     "pipeline.json: $.enrichment.sources[0].topic: topic \"enrichment.dlq\" is "
                     "already used by $.enrichment.output.dlq");
        TH_CHECK_STR(error_of(SNK("'influx':{'enabled':false},'websocket':{'enabled':false}"),
                              SPEC_PART_SINK),
                     "pipeline.json: $.sink: nothing to write to: influx and websocket are both "
                     "disabled");
        TH_CHECK_STR(error_of(SNK("'influx':{'tags':['a','a']}"), SPEC_PART_SINK),
                     "pipeline.json: $.sink.influx.tags[1]: duplicate tag \"a\"");
        TH_CHECK_STR(error_of(SNK("'influx':{'tags':['time']}"), SPEC_PART_SINK),
                     "pipeline.json: $.sink.influx.tags[0]: \"time\" is reserved by InfluxDB");
        TH_CHECK_STR(error_of(SNK("'influx':{'measurement':'m_{window'}"), SPEC_PART_SINK),
                     "pipeline.json: $.sink.influx.measurement: bad placeholder at offset 2 of "
                     "\"m_{window\" (expected \"{name}\", name a record field or attribute)");
        TH_CHECK_STR(error_of(SNK("'influx':{'fields':['speed_median']}"), SPEC_PART_SINK),
                     "pipeline.json: $.sink.influx.fields[0]: invalid field \"speed_median\" "
                     "(expected \"count\" or \"<field>_<op>\", op one of count, sum, min, max, "
                     "mean, variance, stddev, first, last, p50, p90, p95, p99, zscore)");
        TH_CHECK_STR(error_of(SNK("'websocket':{'path':'/'}"), SPEC_PART_SINK),
                     "pipeline.json: $.sink.websocket.path: expected a URL path like \"/ws\" (not "
                     "\"/\": the dashboard is there), got \"/\"");
        /* With compute loaded too, fields are checked against what it computes. */
        const char *doc = "{" HEAD ",'compute':{" WIN1 ",'aggregates':[{'field':'speed','ops':"
                          "['mean']}]},'sink':{'influx':{'fields':['speed_mean','speed_p90']}}}";
        TH_CHECK_STR(error_of(doc, SPEC_PART_SINK), "OK");
        TH_CHECK_STR(error_of(doc, SPEC_PART_COMPUTE | SPEC_PART_SINK),
                     "pipeline.json: $.sink.influx.fields[1]: \"p90\" is not computed for "
                     "\"speed\" (see $.compute.aggregates[0])");
}

static void test_malformed_json(void) {
        TH_CHECK_STR(error_of("{\n  'name': 'x',\n  'input': {\n    'topic': oops\n", 0),
                     "pipeline.json: line 4, column 14: malformed JSON near \"oops\"");
        TH_CHECK_STR(error_of("{'name': 'x'", 0),
                     "pipeline.json: line 1, column 13: malformed JSON: unexpected end of "
                     "document");
        TH_CHECK_STR(error_of("{} x", 0),
                     "pipeline.json: line 1, column 4: malformed JSON near \"x\"");
        /* cJSON's position is approximate: here it gives up at the end. */
        TH_CHECK_STR(error_of("{'a':1,}", 0),
                     "pipeline.json: line 1, column 9: malformed JSON: error near the end of "
                     "the document");
        TH_CHECK_STR(error_of("{'a':'x}", 0),
                     "pipeline.json: line 1, column 7: malformed JSON: bad or unterminated "
                     "string near \"x}\"");
        TH_CHECK_STR(error_of("{'a':'x\\q'}", 0),
                     "pipeline.json: line 1, column 8: malformed JSON: bad or unterminated "
                     "string near \"\\\\q\\\"}\"");
        TH_CHECK_STR(error_of("{'a' 1}", 0),
                     "pipeline.json: line 1, column 6: malformed JSON near \"1}\"");
        TH_CHECK_STR(error_of(" \n ", 0), "pipeline.json: malformed JSON: the document is empty");
        TH_CHECK(spec_parse("{}\0{}", 5, "p.json", 0, err, sizeof(err)) == NULL);
        TH_CHECK_STR(err, "p.json: line 1, column 3: a NUL byte");
        TH_CHECK(spec_parse(NULL, 0, NULL, 0, err, sizeof(err)) == NULL);
        TH_CHECK_STR(err, "pipeline spec: no document");
}

static void test_deep_nesting(void) {
        const size_t depth = 100000;
        char *doc = malloc(2 * depth + 16);
        size_t n = 0;
        for (size_t i = 0; i < depth; i++)
                doc[n++] = '[';
        for (size_t i = 0; i < depth; i++)
                doc[n++] = ']';
        TH_CHECK(spec_parse(doc, n, "deep.json", SPEC_PART_ALL, err, sizeof(err)) == NULL);
        TH_CHECK_STR(err, "deep.json: line 1, column 1001: malformed JSON: nested more than "
                          "1000 levels deep");
        /* Objects, inside a string-bearing document. */
        n = 0;
        memcpy(doc, "{\"name\":\"[{\",", 13);
        n = 13;
        for (size_t i = 0; i < depth / 8; i++) {
                memcpy(doc + n, "\"a\":{", 5);
                n += 5;
        }
        TH_CHECK(spec_parse(doc, n, "deep.json", SPEC_PART_ALL, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "malformed JSON: nested more than 1000 levels deep");
        free(doc);
}

TH_MAIN("spec_errors", TH_T(test_type_errors), TH_T(test_key_errors), TH_T(test_duration_errors),
        TH_T(test_enum_errors), TH_T(test_semantic_errors), TH_T(test_malformed_json),
        TH_T(test_deep_nesting))
