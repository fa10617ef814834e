/* Unit tests for the pipeline spec loader, valid specs: the documented
 * example, the examples in docs/pipeline-spec.md and a spec using every key
 * load with every field as written; defaults; loading only some sections;
 * file errors.  Error messages are in test_spec_errors.c.
 *
 * JSON in this file is written with ' for " (see q()) to stay readable. */
#include "spec.h"
#include "th.h"
#include "th_spec.h"

#include <stdlib.h>
#include <unistd.h>

/* ------------------------------------------------------------ valid specs */

/* path under the repository root (found from this file's path). */
static const char *repo_path(char *buf, size_t size, const char *path) {
        const char *me = __FILE__, *tail = strstr(me, "tests/unit/test_spec.c");
        snprintf(buf, size, "%.*s%s", (int)(tail ? tail - me : 0), me, path);
        return buf;
}

static void test_example_file(void) {
        char path[1024];
        repo_path(path, sizeof(path), "docs/examples/traffic-pipeline.json");
        spec_t *s = spec_load(path, SPEC_PART_ALL, err, sizeof(err));
        TH_CHECK(s != NULL);
        if (!s) {
                fprintf(stderr, "  %s\n", err);
                return;
        }
        TH_CHECK_STR(s->name, "traffic");
        TH_CHECK_STR(s->input.topic, "traffic.readings");
        TH_CHECK_STR(s->input.schema, "weir.example.TrafficReading");
        TH_CHECK_STR(s->input.key, "intersection_id");
        TH_CHECK_STR(s->input.event_time, "ts");

        const spec_compute_t *c = s->compute;
        TH_CHECK_INT(c->nwindows, 2);
        TH_CHECK_STR(c->windows[0].name, "1m");
        TH_CHECK_INT(c->windows[0].type, SPEC_WINDOW_TUMBLING);
        TH_CHECK_INT(c->windows[0].size_ms, 60000);
        TH_CHECK_INT(c->windows[0].advance_ms, 60000);
        TH_CHECK_INT(c->windows[0].grace_ms, 10000);
        TH_CHECK_INT(c->windows[0].emit, SPEC_EMIT_FINAL);
        TH_CHECK_STR(c->windows[1].name, "5m");
        TH_CHECK_INT(c->windows[1].type, SPEC_WINDOW_HOPPING);
        TH_CHECK_INT(c->windows[1].size_ms, 300000);
        TH_CHECK_INT(c->windows[1].advance_ms, 60000);
        TH_CHECK_INT(c->windows[1].grace_ms, 10000);
        TH_CHECK(spec_window_find(c, "5m") == &c->windows[1]);
        TH_CHECK(spec_window_find(c, "2m") == NULL);

        TH_CHECK_INT(c->naggregates, 3);
        TH_CHECK_STR(c->aggregates[0].field, "speed_kmh");
        TH_CHECK_INT(c->aggregates[0].ops,
                     SPEC_OP_BIT(SPEC_OP_COUNT) | SPEC_OP_BIT(SPEC_OP_MEAN) |
                             SPEC_OP_BIT(SPEC_OP_STDDEV) | SPEC_OP_BIT(SPEC_OP_P50) |
                             SPEC_OP_BIT(SPEC_OP_P95) | SPEC_OP_BIT(SPEC_OP_P99));
        TH_CHECK_STR(c->aggregates[1].field, "vehicle_count");
        TH_CHECK_INT(c->aggregates[1].ops, SPEC_OP_BIT(SPEC_OP_SUM) | SPEC_OP_BIT(SPEC_OP_MEAN));
        TH_CHECK_STR(c->aggregates[2].field, "occupancy_pct");
        TH_CHECK_INT(c->aggregates[2].ops, SPEC_OP_BIT(SPEC_OP_MAX) | SPEC_OP_BIT(SPEC_OP_MEAN));

        TH_CHECK_INT(c->nrules, 3);
        TH_CHECK_STR(c->rules[0].name, "congestion");
        TH_CHECK_STR(c->rules[0].expr, "mean(speed_kmh) < 20 and count() >= 10");
        TH_CHECK_INT(c->rules[0].for_windows, 3);
        TH_CHECK_INT(c->rules[0].severity, SPEC_SEVERITY_WARNING);
        TH_CHECK_STR(c->rules[0].window, "1m");
        TH_CHECK_INT(c->rules[0].window_idx, 0);
        TH_CHECK_INT(c->rules[0].nlabels, 2);
        TH_CHECK_STR(c->rules[0].labels[0].key, "team");
        TH_CHECK_STR(c->rules[0].labels[0].value, "traffic-ops");
        TH_CHECK_STR(c->rules[0].labels[1].key, "kind");
        TH_CHECK_STR(c->rules[0].labels[1].value, "congestion");
        TH_CHECK_STR(c->rules[1].name, "speed_drop");
        TH_CHECK_STR(c->rules[1].expr, "zscore(mean(speed_kmh)) < -3");
        TH_CHECK_INT(c->rules[1].for_windows, 1);
        TH_CHECK_INT(c->rules[1].severity, SPEC_SEVERITY_CRITICAL);
        TH_CHECK_INT(c->rules[1].window_idx, 1);
        TH_CHECK(c->anomaly.alpha == 0.1);
        TH_CHECK_INT(c->anomaly.min_windows, 10);
        TH_CHECK(c->quantile_accuracy == 0.01);
        TH_CHECK_STR(c->output.aggregates, "aggregates");
        TH_CHECK_STR(c->output.alerts, "alerts");
        TH_CHECK_STR(c->output.dlq, "compute.dlq");
        TH_CHECK_STR(c->output.changelog, "traffic.compute.changelog");

        const spec_enrichment_t *e = s->enrichment;
        TH_CHECK_INT(e->join, SPEC_JOIN_KEY);
        TH_CHECK_INT(e->nsources, 1);
        const spec_source_t *src = &e->sources[0];
        TH_CHECK_STR(src->name, "intersections");
        TH_CHECK_INT(src->type, SPEC_SOURCE_FILE);
        char want[1024];
        TH_CHECK_STR(src->file.path,
                     repo_path(want, sizeof(want), "docs/examples/intersections.json"));
        TH_CHECK_INT(src->file.format, SPEC_FILE_JSON);
        TH_CHECK_STR(src->file.key, "intersection_id");
        TH_CHECK_INT(src->on_missing, SPEC_MISSING_PASS);
        TH_CHECK_INT(src->nattributes, 4);
        TH_CHECK_STR(src->attributes[0], "name");
        TH_CHECK_STR(src->attributes[1], "district");
        TH_CHECK_STR(src->attributes[2], "lat");
        TH_CHECK_STR(src->attributes[3], "lon");
        TH_CHECK_STR(e->input.aggregates, "aggregates");
        TH_CHECK_STR(e->input.alerts, "alerts");
        TH_CHECK_STR(e->output.aggregates, "aggregates.enriched");
        TH_CHECK_STR(e->output.alerts, "alerts.enriched");
        TH_CHECK_STR(e->output.dlq, "enrichment.dlq");

        const spec_sink_t *k = s->sink;
        TH_CHECK_STR(k->input.aggregates, "aggregates.enriched");
        TH_CHECK_STR(k->input.alerts, "alerts.enriched");
        TH_CHECK_STR(k->dlq, "sink.dlq");
        TH_CHECK_INT(k->influx.enabled, 1);
        TH_CHECK_STR(k->influx.measurement, "traffic");
        TH_CHECK_STR(k->influx.alert_measurement, "traffic_alerts");
        TH_CHECK_INT(k->influx.ntags, 2);
        TH_CHECK_STR(k->influx.tags[0], "intersection_id");
        TH_CHECK_STR(k->influx.tags[1], "district");
        TH_CHECK_INT(k->influx.nfields, 0);
        TH_CHECK_INT(k->influx.precision, SPEC_PRECISION_MS);
        TH_CHECK_INT(k->websocket.enabled, 1);
        TH_CHECK_STR(k->websocket.path, "/ws");
        spec_free(s);

        /* Through $PIPELINE_SPEC, one part only. */
        setenv("PIPELINE_SPEC", path, 1);
        s = spec_load(NULL, SPEC_PART_SINK, err, sizeof(err));
        TH_CHECK(s && !s->compute && !s->enrichment && s->sink);
        spec_free(s);
        unsetenv("PIPELINE_SPEC");
        TH_CHECK(spec_load(NULL, SPEC_PART_ALL, err, sizeof(err)) == NULL);
        TH_CHECK_STR(err, "PIPELINE_SPEC is not set: a value is required");
}

/* Every ```json block of docs/pipeline-spec.md loads, with the sections it
 * has: the documentation's examples stay true to the code. */
static void test_doc_examples(void) {
        char *doc = th_repo_file("docs/pipeline-spec.md");
        if (!doc)
                return;
        int blocks = 0;
        for (char *p = doc; (p = strstr(p, "```json\n")) != NULL;) {
                char *start = p + 8, *end = strstr(start, "```");
                if (!end)
                        break;
                unsigned parts = 0;
                *end = '\0';
                if (strstr(start, "\"compute\""))
                        parts |= SPEC_PART_COMPUTE;
                if (strstr(start, "\"enrichment\""))
                        parts |= SPEC_PART_ENRICHMENT;
                if (strstr(start, "\"sink\""))
                        parts |= SPEC_PART_SINK;
                spec_t *s = spec_parse(start, strlen(start), "docs/pipeline-spec.md", parts, err,
                                       sizeof(err));
                if (!s)
                        fprintf(stderr, "  block %d: %s\n", blocks, err);
                TH_CHECK(s != NULL);
                spec_free(s);
                blocks++;
                p = end + 1;
        }
        free(doc);
        TH_CHECK_INT(blocks, 3);
}

/* Every key the format has, with values other than the defaults. */
static const char *const every_key =
        "{'version':1,'name':'all.keys-1','description':'every key',"
        "'input':{'topic':'src','schema':'_a.b_2.C','key':'k','event_time':null},"
        "'compute':{"
        " 'emit':{'mode':'changes','min_interval':'2s'},"
        " 'windows':["
        "  {'name':'t','type':'tumbling','size':'1h30m','grace':'1.5s','emit':{'mode':'final'}},"
        "  {'name':'h','type':'hopping','size':'10m','advance':'2m'},"
        "  {'name':'sl','type':'sliding','size':'30s','emit':{'mode':'changes','min_interval':"
        "'250ms'}},"
        "  {'name':'se','type':'session','gap':'5m','grace':'1m'}],"
        " 'aggregates':[{'field':'v','ops':['count','sum','min','max','mean','variance',"
        "'stddev','first','last','p50','p90','p95','p99']}],"
        " 'rules':[{'name':'r','expr':'max(v) > 1','for':2,'severity':'info','window':'sl',"
        "'labels':{'a':'','b \\'x\\'':'y'}}],"
        " 'anomaly':{'alpha':1,'min_windows':3},"
        " 'quantile_accuracy':0.005,"
        " 'output':{'aggregates':'o.agg','alerts':'o.al','dlq':'o.dlq','changelog':'o.cl'}},"
        "'enrichment':{'join_key':'window',"
        " 'sources':["
        "  {'name':'ref','type':'kafka','topic':'ref.t','key_field':'id','schema':'x.Ref',"
        "'on_missing':'drop','attributes':['a']},"
        "  {'type':'redis','url':'rediss://user@redis:6380/2','password_env':'REDIS_PASSWORD',"
        "'key_pattern':'site:{key}:attrs','ttl':'1m','negative_ttl':'0s','timeout':'50ms',"
        "'cache_size':500,'warm_up':true,'on_missing':'dlq'},"
        "  {'type':'file','path':'/abs/ref.data','format':'csv','key_field':'site id'}],"
        " 'output':{'aggregates':'e.agg','alerts':'e.al','dlq':'e.dlq'}},"
        "'sink':{'dlq':'s.dlq',"
        " 'influx':{'enabled':true,'measurement':'m_{window}','alert_measurement':null,"
        "'tags':['pipeline','a'],'fields':['count','v_p99','v_zscore'],'precision':'s'},"
        " 'websocket':{'enabled':false,'path':'/live/ws'}}}";

static void test_every_key(void) {
        spec_t *s = parse(every_key, SPEC_PART_ALL);
        TH_CHECK(s != NULL);
        if (!s) {
                fprintf(stderr, "  %s\n", err);
                return;
        }
        TH_CHECK_STR(s->path, "pipeline.json");
        TH_CHECK_STR(s->name, "all.keys-1");
        TH_CHECK_STR(s->input.schema, "_a.b_2.C");
        TH_CHECK(s->input.event_time == NULL);
        const spec_compute_t *c = s->compute;
        TH_CHECK_INT(c->nwindows, 4);
        TH_CHECK_INT(c->windows[0].size_ms, 5400000);
        TH_CHECK_INT(c->windows[0].grace_ms, 1500);
        TH_CHECK_INT(c->windows[0].emit, SPEC_EMIT_FINAL);
        TH_CHECK_INT(c->windows[1].type, SPEC_WINDOW_HOPPING);
        TH_CHECK_INT(c->windows[1].advance_ms, 120000);
        TH_CHECK_INT(c->windows[1].grace_ms, 0);
        TH_CHECK_INT(c->windows[1].emit, SPEC_EMIT_CHANGES); /* section default */
        TH_CHECK_INT(c->windows[1].emit_interval_ms, 2000);
        TH_CHECK_INT(c->windows[2].type, SPEC_WINDOW_SLIDING);
        TH_CHECK_INT(c->windows[2].size_ms, 30000);
        TH_CHECK_INT(c->windows[2].advance_ms, 0);
        TH_CHECK_INT(c->windows[2].emit_interval_ms, 250);
        TH_CHECK_INT(c->windows[3].type, SPEC_WINDOW_SESSION);
        TH_CHECK_INT(c->windows[3].gap_ms, 300000);
        TH_CHECK_INT(c->windows[3].size_ms, 0);
        TH_CHECK_INT(c->windows[3].grace_ms, 60000);
        TH_CHECK_INT(c->aggregates[0].ops, (1u << SPEC_OP__COUNT) - 1);
        TH_CHECK_INT(c->rules[0].for_windows, 2);
        TH_CHECK_INT(c->rules[0].severity, SPEC_SEVERITY_INFO);
        TH_CHECK_INT(c->rules[0].window_idx, 2);
        TH_CHECK_STR(c->rules[0].labels[0].value, "");
        TH_CHECK_STR(c->rules[0].labels[1].key, "b \"x\"");
        TH_CHECK(c->anomaly.alpha == 1);
        TH_CHECK_INT(c->anomaly.min_windows, 3);
        TH_CHECK(c->quantile_accuracy == 0.005);
        TH_CHECK_STR(c->output.changelog, "o.cl");

        const spec_enrichment_t *e = s->enrichment;
        TH_CHECK_INT(e->join, SPEC_JOIN_WINDOW);
        TH_CHECK_INT(e->nsources, 3);
        TH_CHECK_STR(e->sources[0].kafka.topic, "ref.t");
        TH_CHECK_STR(e->sources[0].kafka.key_field, "id");
        TH_CHECK_STR(e->sources[0].kafka.schema, "x.Ref");
        TH_CHECK_INT(e->sources[0].on_missing, SPEC_MISSING_DROP);
        const spec_source_t *r = &e->sources[1];
        TH_CHECK_STR(r->name, "redis");
        TH_CHECK_INT(r->type, SPEC_SOURCE_REDIS);
        TH_CHECK_STR(r->redis.url, "rediss://user@redis:6380/2");
        TH_CHECK_STR(r->redis.password_env, "REDIS_PASSWORD");
        TH_CHECK_STR(r->redis.key_pattern, "site:{key}:attrs");
        TH_CHECK_INT(r->redis.ttl_ms, 60000);
        TH_CHECK_INT(r->redis.negative_ttl_ms, 0);
        TH_CHECK_INT(r->redis.timeout_ms, 50);
        TH_CHECK_INT(r->redis.cache_size, 500);
        TH_CHECK_INT(r->redis.warm_up, 1);
        TH_CHECK_INT(r->on_missing, SPEC_MISSING_DLQ);
        TH_CHECK_INT(r->nattributes, 0);
        TH_CHECK_STR(e->sources[2].file.path, "/abs/ref.data");
        TH_CHECK_INT(e->sources[2].file.format, SPEC_FILE_CSV);
        TH_CHECK_STR(e->sources[2].file.key, "site id");
        /* Inputs follow compute's outputs. */
        TH_CHECK_STR(e->input.aggregates, "o.agg");
        TH_CHECK_STR(e->input.alerts, "o.al");

        const spec_sink_t *k = s->sink;
        TH_CHECK_STR(k->input.aggregates, "e.agg");
        TH_CHECK_STR(k->input.alerts, "e.al");
        TH_CHECK_STR(k->dlq, "s.dlq");
        TH_CHECK_STR(k->influx.measurement, "m_{window}");
        TH_CHECK(k->influx.alert_measurement == NULL);
        TH_CHECK_INT(k->influx.nfields, 3);
        TH_CHECK_STR(k->influx.fields[2], "v_zscore");
        TH_CHECK_INT(k->influx.precision, SPEC_PRECISION_S);
        TH_CHECK_INT(k->websocket.enabled, 0);
        TH_CHECK_STR(k->websocket.path, "/live/ws");

        TH_CHECK_STR(spec_op_name(SPEC_OP_P95), "p95");
        TH_CHECK_STR(spec_window_type_name(SPEC_WINDOW_SESSION), "session");
        TH_CHECK_STR(spec_severity_name(SPEC_SEVERITY_CRITICAL), "critical");
        spec_free(s);
}

static void test_defaults(void) {
        spec_t *s = parse("{" HEAD ",'compute':{" WIN1 "},'enrichment':{" FILESRC "},'sink':{}}",
                          SPEC_PART_ALL);
        TH_CHECK(s != NULL);
        if (!s) {
                fprintf(stderr, "  %s\n", err);
                return;
        }
        const spec_compute_t *c = s->compute;
        TH_CHECK_INT(c->windows[0].grace_ms, 0);
        TH_CHECK_INT(c->windows[0].emit, SPEC_EMIT_FINAL);
        TH_CHECK_INT(c->windows[0].emit_interval_ms, 1000);
        TH_CHECK_INT(c->naggregates, 0);
        TH_CHECK_INT(c->nrules, 0);
        TH_CHECK(c->anomaly.alpha == 0.1);
        TH_CHECK_INT(c->anomaly.min_windows, 10);
        TH_CHECK(c->quantile_accuracy == 0.01);
        TH_CHECK_STR(c->output.aggregates, "aggregates");
        TH_CHECK_STR(c->output.alerts, "alerts");
        TH_CHECK_STR(c->output.dlq, "compute.dlq");
        TH_CHECK_STR(c->output.changelog, "p.compute.changelog");
        const spec_enrichment_t *e = s->enrichment;
        TH_CHECK_INT(e->join, SPEC_JOIN_KEY);
        TH_CHECK_STR(e->sources[0].name, "file");
        TH_CHECK_INT(e->sources[0].on_missing, SPEC_MISSING_PASS);
        TH_CHECK_INT(e->sources[0].file.format, SPEC_FILE_JSON); /* from ".json" */
        TH_CHECK_STR(e->sources[0].file.path, "r.json");
        TH_CHECK_STR(e->input.aggregates, "aggregates");
        TH_CHECK_STR(e->input.alerts, "alerts");
        TH_CHECK_STR(e->output.aggregates, "aggregates.enriched");
        TH_CHECK_STR(e->output.alerts, "alerts.enriched");
        TH_CHECK_STR(e->output.dlq, "enrichment.dlq");
        const spec_sink_t *k = s->sink;
        TH_CHECK_STR(k->input.aggregates, "aggregates.enriched");
        TH_CHECK_STR(k->input.alerts, "alerts.enriched");
        TH_CHECK_STR(k->dlq, "sink.dlq");
        TH_CHECK_INT(k->influx.enabled, 1);
        TH_CHECK_STR(k->influx.measurement, "p");
        TH_CHECK_STR(k->influx.alert_measurement, "alerts");
        TH_CHECK_INT(k->influx.ntags, 0);
        TH_CHECK_INT(k->influx.nfields, 0);
        TH_CHECK_INT(k->influx.precision, SPEC_PRECISION_MS);
        TH_CHECK_INT(k->websocket.enabled, 1);
        TH_CHECK_STR(k->websocket.path, "/ws");
        spec_free(s);

        /* Redis defaults; a file path relative to the spec's directory. */
        const char *doc = q(ENR("'sources':[{'type':'redis','url':'redis://r:6379'},"
                                "{'type':'file','path':'ref/x.csv','key_field':'id'}]"));
        s = spec_parse(doc, strlen(doc), "/etc/weir/pipeline.json", SPEC_PART_ENRICHMENT, err,
                       sizeof(err));
        TH_CHECK(s != NULL);
        if (!s)
                return;
        const spec_source_t *r = &s->enrichment->sources[0];
        TH_CHECK_STR(r->redis.key_pattern, "{key}");
        TH_CHECK(r->redis.password_env == NULL);
        TH_CHECK_INT(r->redis.ttl_ms, 300000);
        TH_CHECK_INT(r->redis.negative_ttl_ms, 30000);
        TH_CHECK_INT(r->redis.timeout_ms, 500);
        TH_CHECK_INT(r->redis.cache_size, 100000);
        TH_CHECK_INT(r->redis.warm_up, 0);
        TH_CHECK_STR(s->enrichment->sources[1].file.path, "/etc/weir/ref/x.csv");
        TH_CHECK_INT(s->enrichment->sources[1].file.format, SPEC_FILE_CSV);
        spec_free(s);
}

static void test_parts(void) {
        /* Only what is asked for is read: a broken sink does not stop compute. */
        const char *doc = "{" HEAD ",'compute':{" WIN1 "},'sink':{'bogus':1}}";
        spec_t *s = parse(doc, SPEC_PART_COMPUTE);
        TH_CHECK(s && s->compute && !s->enrichment && !s->sink);
        spec_free(s);
        s = parse(doc, SPEC_PART_INPUT);
        TH_CHECK(s && !s->compute);
        spec_free(s);
        TH_CHECK_STR(error_of(doc, SPEC_PART_SINK),
                     "pipeline.json: $.sink.bogus: unknown key (expected one of input, dlq, "
                     "influx, websocket)");
        TH_CHECK_STR(error_of(doc, SPEC_PART_ENRICHMENT),
                     "pipeline.json: $: missing required key \"enrichment\"");
        /* Unknown top-level keys are errors whatever the parts. */
        TH_CHECK_STR(error_of("{" HEAD ",'sinks':{}}", SPEC_PART_INPUT),
                     "pipeline.json: $.sinks: unknown key (did you mean \"sink\"?)");
}

static void test_load_errors(void) {
        TH_CHECK(spec_load("/nonexistent/p.json", 0, err, sizeof(err)) == NULL);
        TH_CHECK_STR(err, "/nonexistent/p.json: cannot open: No such file or directory");
        TH_CHECK(spec_load("/", 0, err, sizeof(err)) == NULL);
        TH_CHECK_STR(err, "/: not a regular file");
        char tmpl[] = "/tmp/weir-spec-XXXXXX";
        int fd = mkstemp(tmpl);
        TH_CHECK(fd >= 0);
        const char *doc = q("{" HEAD "}");
        TH_CHECK(write(fd, doc, strlen(doc)) == (ssize_t)strlen(doc));
        close(fd);
        spec_t *s = spec_load(tmpl, SPEC_PART_INPUT, err, sizeof(err));
        TH_CHECK(s != NULL);
        if (s)
                TH_CHECK_STR(s->path, tmpl);
        spec_free(s);
        unlink(tmpl);
        spec_free(NULL);
}

TH_MAIN("spec", TH_T(test_example_file), TH_T(test_doc_examples), TH_T(test_every_key),
        TH_T(test_defaults), TH_T(test_parts), TH_T(test_load_errors))
