#!/usr/bin/env python3
"""The Grafana dashboards of charts/weir/dashboards/, generated from this one
description so that panels, metric names and layout stay consistent.

    python3 tests/deploy/dashboards.py            check (make deploy-check)
    python3 tests/deploy/dashboards.py --write    regenerate the JSON files
    python3 tests/deploy/dashboards.py --queries  print "<uid>\t<panel>\t<expr>"
                                                  for every Prometheus target

The check: the committed JSON is what this file generates; every panel has a
datasource and at least one query; panel ids are unique per dashboard; every
metric a Prometheus query names is one the services' sources register
(services/*/*.c, common/*.c), so a renamed metric breaks the check, not the
dashboard; every alert of charts/weir/rules/weir-alerts.yaml has a test group
in tests/deploy/alerts_test.yaml.

Metric names are the services' (weir_<stage>_<what>_<unit>); the Kafka ones
come from common/ (kc.c, kc_stats.c, kc_txn_setup.c) with <stage> in the name.
Template variables: $datasource, $namespace (=~, "All" = .*), $pod (=~).
Queries that count failures end in `or vector(0)` where no failure means no
series, so the panel shows 0 rather than "No data".

Traces: every latency panel (a histogram_quantile over weir_<stage>_*_seconds)
has data links to the trace UI ($traces, a textbox variable; Jaeger's search
URL: /search?service=weir-<stage>&start=..&end=.. in microseconds): the
stage's traces in the dashboard's time range, and those at least as slow as
the point clicked (minDuration); its queries ask for exemplars (the trace ids
ingress and the sink attach to their latency buckets: Grafana links each to
the trace through the Prometheus data source's exemplar settings).  The chart
sets the variable's default from
grafana.dashboards.tracesUrl (templates/dashboards.yaml replaces
TRACES_DEFAULT); the check below fails a latency panel without them.
"""
import glob
import json
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "charts", "weir", "dashboards")
PROM = {"type": "prometheus", "uid": "${datasource}"}
INFLUX = {"type": "influxdb", "uid": "${influx}"}
SEL = 'namespace=~"$namespace"'
PSEL = 'namespace=~"$namespace", pod=~"$pod"'
RI = "$__rate_interval"
# The trace UI's default address (Jaeger's query port, e.g. through
# `kubectl port-forward`); the chart replaces it with
# grafana.dashboards.tracesUrl when that is set.
TRACES_DEFAULT = "http://localhost:16686"
LATENCY = re.compile(r"histogram_quantile\([^,]+, sum by \([^)]*\) \(rate\(weir_([a-z]+)_[a-z0-9_]+_seconds_bucket")


def trace_links(exprs):
    """Data links from a latency panel to the trace UI, per stage whose
    histogram it shows (none for other panels)."""
    links = []
    for stage in sorted({m for e in exprs for m in LATENCY.findall(e)}):
        svc = f"weir-{stage}"
        q = f"${{traces}}/search?service={svc}&lookback=custom&limit=20"
        links.append({"title": f"Traces of {svc} in this time range",
                      "url": q + "&start=${__from}000&end=${__to}000", "targetBlank": True})
        links.append({"title": f"Traces of {svc} at least as slow as this point",
                      "url": q + "&minDuration=${__value.raw}s&start=${__from}000&end=${__to}000",
                      "targetBlank": True})
    return links


def rate(metric, sel=SEL, by=None, extra=""):
    inner = f"rate({metric}{{{sel}{extra}}}[{RI}])"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def quantile(q, metric, sel=SEL, by=None):
    by_ = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({by_}) (rate({metric}_bucket{{{sel}}}[{RI}])))"


class Board:
    def __init__(self, uid, title, description, variables):
        self.uid, self.title, self.description = uid, title, description
        self.variables = variables
        self.panels = []
        self.x = self.y = 0
        self.row_h = 0
        self.next_id = 1

    def row(self, title):
        if self.x:
            self.y += self.row_h
        self.x, self.row_h = 0, 0
        self.panels.append({"id": self._id(), "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def _id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def panel(self, title, targets, unit="short", kind="timeseries", w=8, h=8, ds=PROM,
              description="", stack=False):
        if self.x + w > 24:
            self.y += self.row_h
            self.x, self.row_h = 0, 0
        tg = []
        for i, t in enumerate(targets):
            expr, legend = t if isinstance(t, tuple) else (t, "")
            ref = chr(ord("A") + i)
            if ds is PROM:
                tg.append({"refId": ref, "datasource": ds, "expr": expr, "legendFormat": legend or "__auto",
                           "range": kind != "stat", "instant": kind == "stat"})
            else:
                tg.append({"refId": ref, "datasource": ds, "query": expr, "rawQuery": True,
                           "resultFormat": "table" if kind == "table" else "time_series",
                           "alias": legend})
        p = {"id": self._id(), "type": kind, "title": title, "description": description,
             "datasource": ds, "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
             "targets": tg,
             "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}}
        links = trace_links([t.get("expr", "") for t in tg]) if ds is PROM else []
        if links:
            p["fieldConfig"]["defaults"]["links"] = links
            # The histograms' exemplars (trace ids) as points on the panel.
            for t in tg:
                if LATENCY.search(t["expr"]):
                    t["exemplar"] = True
        if kind == "timeseries":
            p["fieldConfig"]["defaults"]["custom"] = {
                "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
            p["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                            "tooltip": {"mode": "multi", "sort": "desc"}}
        elif kind == "stat":
            p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "value", "graphMode": "area", "textMode": "auto"}
        self.panels.append(p)
        self.x += w
        self.row_h = max(self.row_h, h)

    def json(self):
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["weir"], "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1,
            "refresh": "30s", "time": {"from": "now-1h", "to": "now"}, "timezone": "browser",
            "annotations": {"list": []}, "links": [
                {"title": "Weir", "type": "dashboards", "tags": ["weir"], "asDropdown": True}],
            "templating": {"list": self.variables + ([V_TRACES] if any(
                "links" in p.get("fieldConfig", {}).get("defaults", {}) for p in self.panels)
                else [])}, "panels": self.panels,
        }


def v_datasource(name="datasource", kind="prometheus", label="Prometheus"):
    return {"name": name, "label": label, "type": "datasource", "query": kind, "current": {},
            "hide": 0, "refresh": 1, "regex": "", "options": []}


def v_query(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": PROM,
            "query": {"query": query, "refId": name}, "definition": query,
            "includeAll": True, "multi": multi, "allValue": ".*", "refresh": 2, "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [], "hide": 0}


V_TRACES = {"name": "traces", "label": "Trace UI", "type": "textbox", "query": TRACES_DEFAULT,
            "current": {"selected": False, "text": TRACES_DEFAULT, "value": TRACES_DEFAULT},
            "options": [{"selected": True, "text": TRACES_DEFAULT, "value": TRACES_DEFAULT}],
            "hide": 0, "description": "Base URL of Jaeger's UI (or of a Jaeger-compatible "
                                      "search page) the latency panels link to"}

NS_VAR = v_query("namespace", "Namespace",
                 'label_values({__name__=~"weir_(ingress|compute|enrichment|sink)_kafka_.+"}, namespace)')


def pod_var(stage):
    return v_query("pod", "Pod", f'label_values({{__name__=~"weir_{stage}_.+", {SEL}}}, pod)')


def kafka_section(b, stage, consumer=True, txn=True):
    """The Kafka metrics common/ registers for every stage."""
    k = f"weir_{stage}_kafka"
    b.row("Kafka client")
    if consumer:
        b.panel("Consumer lag by topic", [(f"sum by (topic) ({k}_consumer_lag_messages{{{PSEL}}})", "{{topic}}")],
                description="Messages between the group's position and the end of each partition.")
        b.panel("Assigned partitions", [(f"sum by (pod) ({k}_assigned_partitions{{{PSEL}}})", "{{pod}}")])
    b.panel("Delivery reports by result", [(rate(f"{k}_delivery_reports_total", PSEL, "result"), "{{result}}")],
            unit="ops", description="Produced messages acknowledged (delivered), failed, or purged by an abort.")
    b.panel("Producer queue", [(f"sum by (pod) ({k}_producer_queue_messages{{{PSEL}}})", "{{pod}}")],
            description="Messages waiting for the broker's acknowledgement.")
    b.panel("Broker round-trip time (p99)", [(f"max by (broker) ({k}_broker_rtt_p99_seconds{{{PSEL}}})", "{{broker}}")],
            unit="s", description="A consumer's includes fetch long-polls (up to fetch.wait.max.ms).")
    b.panel("Bytes to and from brokers", [(rate(f"{k}_sent_bytes_total", PSEL), "sent"),
                                          (rate(f"{k}_received_bytes_total", PSEL), "received")], unit="Bps")
    b.panel("Client errors", [(rate(f"{k}_errors_total", PSEL, "error") + " or vector(0)", "{{error}}")],
            unit="ops", description="Errors librdkafka reported (mostly transient: reconnects, timeouts).")
    if txn:
        b.panel("Transactions by result", [(rate(f"{k}_transactions_total", PSEL, "result"), "{{result}}")],
                unit="ops", description="Kafka transactions (batches in at-least-once mode) ended.")
        b.panel("Commit duration (p99)", [(quantile(0.99, f"{k}_commit_duration_seconds", PSEL), "p99"),
                                          (quantile(0.5, f"{k}_commit_duration_seconds", PSEL), "p50")], unit="s")


def process_section(b, stage):
    """process_* and weir_build_info (common/procm.c), which every service
    exports: the process_* series carry no stage, so they are joined with
    the stage's weir_build_info on (namespace, pod)."""
    bi = f'weir_build_info{{service="{stage}", {PSEL}}}'
    b.row("Process")
    b.panel("Running version", [(f"count by (version, revision) ({bi})", "{{version}} ({{revision}})")],
            kind="stat", w=6, description="Pods per build (weir_build_info: git describe and commit).")
    b.panel("CPU", [(f"sum by (pod) (rate(process_cpu_seconds_total{{{PSEL}}}[{RI}]) "
                     f"* on (namespace, pod) group_left() {bi})", "{{pod}}")], unit="percentunit", w=6)
    b.panel("Resident memory", [(f"sum by (pod) (process_resident_memory_bytes{{{PSEL}}} "
                                 f"* on (namespace, pod) group_left() {bi})", "{{pod}}")], unit="bytes", w=6)
    b.panel("Open file descriptors (of the limit)", [(
        f"max by (pod) (process_open_fds{{{PSEL}}} / process_max_fds{{{PSEL}}} "
        f"* on (namespace, pod) group_left() {bi})", "{{pod}}")], unit="percentunit", w=6)


def overview():
    b = Board("weir-overview", "Weir / Pipeline overview",
              "Throughput per stage, end-to-end latency, consumer lag, DLQ and late records, errors.",
              [v_datasource(), NS_VAR])
    b.row("Versions")
    b.panel("Running versions", [(f"count by (service, version, revision) (weir_build_info{{{SEL}}})",
                                  "{{service}} {{version}} ({{revision}})")], kind="stat", w=24, h=4,
            description="Pods per service and build (weir_build_info): more than one build of a "
                        "service for long is a rollout that stopped (alert WeirVersionsMixed).")
    b.row("Throughput")
    b.panel("Records per second by stage", [
        (rate("weir_ingress_records_total", extra=', result="accepted"'), "ingress (accepted)"),
        (rate("weir_compute_records_in_total"), "compute (in)"),
        (rate("weir_enrichment_records_total"), "enrichment (in)"),
        (rate("weir_sink_records_total"), "sink (in)"),
    ], unit="ops", w=12)
    b.panel("Outputs per second", [
        (rate("weir_compute_aggregates_out_total"), "aggregates"),
        (rate("weir_compute_alerts_out_total"), "alerts"),
        (rate("weir_sink_points_written_total", by="kind"), "points written ({{kind}})"),
        (rate("weir_sink_ws_events_pushed_total"), "WebSocket events pushed"),
    ], unit="ops", w=12)
    b.row("Latency")
    b.panel("End-to-end latency (event time to database acknowledgement)", [
        (quantile(0.5, "weir_sink_end_to_end_latency_seconds"), "p50"),
        (quantile(0.95, "weir_sink_end_to_end_latency_seconds"), "p95"),
        (quantile(0.99, "weir_sink_end_to_end_latency_seconds"), "p99"),
    ], unit="s", w=12)
    b.panel("Ingress request latency (p99, to Kafka acknowledgement)", [
        (quantile(0.99, "weir_ingress_request_duration_seconds", by="route"), "{{route}}"),
    ], unit="s", w=12)
    b.row("Lag")
    b.panel("Consumer lag by stage", [
        (f"sum(weir_{s}_kafka_consumer_lag_messages{{{SEL}}})", s) for s in ("compute", "enrichment", "sink")
    ], w=12, description="Messages each stage's consumer group is behind, all partitions.")
    b.panel("Producer queue by stage", [
        (f"sum(weir_{s}_kafka_producer_queue_messages{{{SEL}}})", s) for s in ("ingress", "compute", "enrichment", "sink")
    ], w=12)
    b.row("Bad records")
    b.panel("DLQ records per second by stage", [
        (rate(f"weir_{s}_dlq_records_total") + " or vector(0)", s) for s in ("compute", "enrichment", "sink")
    ], unit="ops", description="Records sent to <stage>.dlq; their headers carry the stage, class and reason.")
    b.panel("Late records per second", [(rate("weir_compute_late_records_total") + " or vector(0)", "late")],
            unit="ops", description="Records later than their window's end plus grace (counted, sent to the DLQ).")
    b.panel("Invalid records at ingress per second", [
        (rate("weir_ingress_records_total", extra=', result="invalid"') + " or vector(0)", "invalid")], unit="ops")
    b.row("Errors")
    b.panel("Ingress answers by status", [(rate("weir_ingress_http_requests_total", by="status"), "{{status}}")],
            unit="reqps", w=12)
    b.panel("Failed deliveries and aborted transactions", [
        (f'sum(rate({{__name__=~"weir_(ingress|compute|enrichment|sink)_kafka_delivery_reports_total", {SEL}, result="failed"}}[{RI}])) or vector(0)', "failed deliveries"),
        (f'sum(rate({{__name__=~"weir_(compute|enrichment)_kafka_transactions_total", {SEL}, result="aborted"}}[{RI}])) or vector(0)', "aborted transactions"),
        (rate("weir_sink_influx_retries_total") + " or vector(0)", "InfluxDB retries"),
    ], unit="ops", w=12)
    return b


def svc_ingress():
    b = Board("weir-ingress", "Weir / Ingress", "HTTP produce API (REST Proxy v2, NDJSON) to Kafka.",
              [v_datasource(), NS_VAR, pod_var("ingress")])
    b.row("HTTP")
    b.panel("Requests by route and status", [(rate("weir_ingress_http_requests_total", PSEL, "route, status"), "{{route}} {{status}}")], unit="reqps")
    b.panel("Request latency by route (p99)", [(quantile(0.99, "weir_ingress_request_duration_seconds", PSEL, "route"), "{{route}}")], unit="s")
    b.panel("Produce latency (first produce to last delivery report)", [
        (quantile(0.5, "weir_ingress_produce_duration_seconds", PSEL), "p50"),
        (quantile(0.99, "weir_ingress_produce_duration_seconds", PSEL), "p99")], unit="s")
    b.panel("Records by outcome", [(rate("weir_ingress_records_total", PSEL, "result"), "{{result}}")], unit="ops")
    b.panel("Active requests", [(f"sum by (pod) (weir_ingress_active_requests{{{PSEL}}})", "{{pod}}")])
    b.panel("In flight (bytes)", [(f"sum by (pod) (weir_ingress_inflight_bytes{{{PSEL}}})", "{{pod}}")], unit="bytes")
    kafka_section(b, "ingress", consumer=False, txn=False)
    process_section(b, "ingress")
    return b


def svc_compute():
    b = Board("weir-compute", "Weir / Compute", "Windows, aggregates, rules, anomaly scores; exactly-once state.",
              [v_datasource(), NS_VAR, pod_var("compute")])
    b.row("Processing")
    b.panel("Records in, aggregates and alerts out", [
        (rate("weir_compute_records_in_total", PSEL), "records in"),
        (rate("weir_compute_aggregates_out_total", PSEL), "aggregates"),
        (rate("weir_compute_alerts_out_total", PSEL), "alerts")], unit="ops")
    b.panel("Processing time per batch", [
        (quantile(0.5, "weir_compute_process_duration_seconds", PSEL), "p50"),
        (quantile(0.99, "weir_compute_process_duration_seconds", PSEL), "p99")], unit="s")
    b.panel("Late and DLQ records", [
        (rate("weir_compute_late_records_total", PSEL) + " or vector(0)", "late"),
        (rate("weir_compute_dlq_records_total", PSEL, "class") + " or vector(0)", "DLQ {{class}}")], unit="ops")
    b.row("State")
    b.panel("Open windows", [(f"sum by (pod) (weir_compute_open_windows{{{PSEL}}})", "{{pod}}")])
    b.panel("Keys with state", [(f"sum by (pod) (weir_compute_state_keys{{{PSEL}}})", "{{pod}}")])
    b.panel("State size", [(f"sum by (pod) (weir_compute_state_bytes{{{PSEL}}})", "{{pod}}")], unit="bytes")
    b.panel("Changelog records written", [(rate("weir_compute_changelog_records_total", PSEL), "written")], unit="ops")
    b.panel("Restore", [
        (f"sum(weir_compute_restoring_workers{{{PSEL}}})", "workers restoring"),
        (rate("weir_compute_restored_records_total", PSEL), "records restored/s")])
    # Restores happen at start-up and on rebalances, not steadily: the mean
    # per pod since it started (a rate would be empty between restores).
    b.panel("Mean restore duration per pod (since start)", [(
        f"max by (pod) (weir_compute_restore_duration_seconds_sum{{{PSEL}}} "
        f"/ weir_compute_restore_duration_seconds_count{{{PSEL}}})", "{{pod}}")], unit="s")
    kafka_section(b, "compute")
    process_section(b, "compute")
    return b


def svc_enrichment():
    b = Board("weir-enrichment", "Weir / Enrichment", "Joins with reference data: compacted topics, Redis, files.",
              [v_datasource(), NS_VAR, pod_var("enrichment")])
    b.row("Join")
    b.panel("Records by input and outcome", [(rate("weir_enrichment_records_total", PSEL, "input, result"), "{{input}} {{result}}")], unit="ops")
    b.panel("Look-ups by source and result", [(rate("weir_enrichment_lookups_total", PSEL, "source, result"), "{{source}} {{result}}")], unit="ops")
    b.panel("Look-up latency by source (p99)", [(quantile(0.99, "weir_enrichment_lookup_duration_seconds", PSEL, "source"), "{{source}}")], unit="s")
    b.panel("Reference entries by source", [(f"max by (source) (weir_enrichment_table_entries{{{PSEL}}})", "{{source}}")])
    b.panel("Reference data age by source", [(f"max by (source) (weir_enrichment_staleness_seconds{{{PSEL}}})", "{{source}}")], unit="s")
    b.panel("Dropped and DLQ records", [
        (rate("weir_enrichment_dropped_total", PSEL, "source") + " or vector(0)", "dropped {{source}}"),
        (rate("weir_enrichment_dlq_records_total", PSEL, "class") + " or vector(0)", "DLQ {{class}}")], unit="ops")
    kafka_section(b, "enrichment")
    process_section(b, "enrichment")
    return b


def svc_sink():
    b = Board("weir-sink", "Weir / Sink", "InfluxDB writes and the WebSocket feed.",
              [v_datasource(), NS_VAR, pod_var("sink")])
    b.row("InfluxDB")
    b.panel("Records in and points written", [
        (rate("weir_sink_records_total", PSEL, "kind"), "in {{kind}}"),
        (rate("weir_sink_points_written_total", PSEL, "kind"), "written {{kind}}")], unit="ops")
    b.panel("Write latency", [
        (quantile(0.5, "weir_sink_influx_write_duration_seconds", PSEL), "p50"),
        (quantile(0.99, "weir_sink_influx_write_duration_seconds", PSEL), "p99")], unit="s")
    b.panel("End-to-end latency", [
        (quantile(0.5, "weir_sink_end_to_end_latency_seconds", PSEL), "p50"),
        (quantile(0.99, "weir_sink_end_to_end_latency_seconds", PSEL), "p99")], unit="s")
    b.panel("Batches and request bytes", [
        (rate("weir_sink_influx_batches_total", PSEL), "batches/s"),
        (rate("weir_sink_influx_request_bytes_total", PSEL), "bytes/s")])
    b.panel("Retries, rejected points, DLQ", [
        (rate("weir_sink_influx_retries_total", PSEL, "cause") + " or vector(0)", "retry {{cause}}"),
        (rate("weir_sink_points_rejected_total", PSEL, "kind") + " or vector(0)", "rejected {{kind}}"),
        (rate("weir_sink_dlq_records_total", PSEL, "class") + " or vector(0)", "DLQ {{class}}")], unit="ops")
    b.panel("Consumption paused (retrying the database)", [(f"max by (pod) (weir_sink_consumption_paused{{{PSEL}}})", "{{pod}}")])
    b.row("WebSocket")
    b.panel("Clients", [(f"sum(weir_sink_ws_clients{{{PSEL}}})", "clients")])
    b.panel("Events published and pushed", [
        (rate("weir_sink_ws_events_published_total", PSEL), "published"),
        (rate("weir_sink_ws_events_pushed_total", PSEL), "pushed"),
        (rate("weir_sink_ws_events_dropped_total", PSEL, "reason") + " or vector(0)", "dropped {{reason}}")], unit="ops")
    b.panel("Push latency (p99)", [(quantile(0.99, "weir_sink_ws_push_latency_seconds", PSEL), "p99")], unit="s")
    kafka_section(b, "sink", txn=False)
    process_section(b, "sink")
    return b


def business():
    """Analysts' view of the reference traffic pipeline, from InfluxDB
    (InfluxQL): measurement names follow the spec's sink.influx section."""
    m = '"$measurement"'
    b = Board("weir-business", "Weir / Traffic (business view)",
              "Congestion per district and intersection, from the sink's InfluxDB points.",
              [v_datasource("influx", "influxdb", "InfluxDB"),
               {"name": "measurement", "label": "Measurement", "type": "textbox", "query": "traffic",
                "current": {"text": "traffic", "value": "traffic"}, "hide": 0},
               {"name": "alerts", "label": "Alert measurement", "type": "textbox", "query": "traffic_alerts",
                "current": {"text": "traffic_alerts", "value": "traffic_alerts"}, "hide": 0},
               {"name": "window", "label": "Window", "type": "custom", "query": "1m,5m",
                "current": {"text": "1m", "value": "1m"}, "options": [], "hide": 0}])
    b.row("Traffic")
    b.panel("Mean speed by district", [(f"SELECT mean(\"speed_kmh_mean\") FROM {m} WHERE \"window\" = '$window' AND $timeFilter GROUP BY time($__interval), \"district\" fill(none)", "$tag_district")],
            unit="velocitykmh", ds=INFLUX, w=12)
    b.panel("Vehicles per window by district", [(f"SELECT sum(\"vehicle_count_sum\") FROM {m} WHERE \"window\" = '$window' AND $timeFilter GROUP BY time($__interval), \"district\" fill(none)", "$tag_district")],
            ds=INFLUX, w=12, stack=True)
    b.panel("Occupancy (max) by district", [(f"SELECT max(\"occupancy_pct_max\") FROM {m} WHERE \"window\" = '$window' AND $timeFilter GROUP BY time($__interval), \"district\" fill(none)", "$tag_district")],
            unit="percent", ds=INFLUX, w=12)
    b.panel("95th percentile speed, city-wide", [(f"SELECT mean(\"speed_kmh_p95\") FROM {m} WHERE \"window\" = '$window' AND $timeFilter GROUP BY time($__interval) fill(none)", "p95")],
            unit="velocitykmh", ds=INFLUX, w=12)
    b.row("Congestion")
    b.panel("Slowest intersections (last hour)", [(f"SELECT bottom(\"speed_kmh_mean\", \"intersection_id\", 10) AS \"mean speed\" FROM {m} WHERE \"window\" = '$window' AND $timeFilter", "")],
            kind="table", ds=INFLUX, w=12, unit="velocitykmh")
    b.panel("Alerts firing by rule", [(f"SELECT count(\"firing\") FROM \"$alerts\" WHERE \"firing\" = true AND $timeFilter GROUP BY time($__interval), \"rule\" fill(0)", "$tag_rule")],
            ds=INFLUX, w=12, kind="timeseries", stack=True)
    return b


BOARDS = [overview, svc_ingress, svc_compute, svc_enrichment, svc_sink, business]


def render():
    return {f"{f().uid}.json": json.dumps(f().json(), indent=2, sort_keys=False) + "\n" for f in BOARDS}


def registered_metrics():
    """Metric names the C sources register: literal names, and the common/
    Kafka families with %s for the stage."""
    names, patterns = set(), []
    for path in glob.glob(os.path.join(ROOT, "services", "*", "*.c")) + glob.glob(os.path.join(ROOT, "common", "*.c")):
        src = open(path, encoding="utf-8", errors="replace").read()
        names.update(re.findall(r'"(weir_[a-z0-9_]+)"', src))
        for fmt in re.findall(r'"(weir_%s_[a-z0-9_%]+)"', src):
            patterns.append(re.compile("^" + fmt.replace("%s", "[a-z]+") + "$"))
        # kc_stats: snprintf("weir_%s_kafka_%s", stage, what) with the what's literal
        if "weir_%s_kafka_%s" in src:
            for what in re.findall(r'"([a-z0-9_]+_(?:messages|seconds|bytes|partitions|total))"', src):
                patterns.append(re.compile("^weir_[a-z]+_kafka_" + what + "$"))
    return names, patterns


def prom_metrics(expr):
    out = set(re.findall(r"\b(weir_[a-z0-9_]+)", expr))
    # A histogram's series: <name>_bucket, _sum, _count.
    return {re.sub(r"_(bucket|sum|count)$", "", n) if re.search(r"_seconds_(bucket|sum|count)$", n) else n
            for n in out}


def check():
    errs = []
    want = render()
    have = {os.path.basename(p) for p in glob.glob(os.path.join(OUT, "*.json"))}
    if have != set(want):
        errs.append(f"dashboards/ holds {sorted(have)}, generated {sorted(want)}")
    for name, text in want.items():
        p = os.path.join(OUT, name)
        if os.path.exists(p) and open(p).read() != text:
            errs.append(f"{name} is not what tests/deploy/dashboards.py generates (run it with --write)")
    names, patterns = registered_metrics()
    for f in BOARDS:
        b = f().json()
        ids = [p["id"] for p in b["panels"]]
        if len(ids) != len(set(ids)):
            errs.append(f"{b['uid']}: duplicate panel ids")
        for p in b["panels"]:
            if p["type"] == "row":
                continue
            if not p.get("datasource") or not p.get("targets"):
                errs.append(f"{b['uid']}: panel {p['title']!r} has no datasource or query")
            lat = [t.get("expr", "") for t in p["targets"] if LATENCY.search(t.get("expr", ""))]
            urls = [lk["url"] for lk in p.get("fieldConfig", {}).get("defaults", {}).get("links", [])]
            for stage in {m for e in lat for m in LATENCY.findall(e)}:
                if not any(f"service=weir-{stage}&" in u for u in urls):
                    errs.append(f"{b['uid']}: latency panel {p['title']!r} has no link to weir-{stage}'s traces")
            if any(LATENCY.search(t.get("expr", "")) and not t.get("exemplar") for t in p["targets"]):
                errs.append(f"{b['uid']}: latency panel {p['title']!r} does not ask for exemplars")
            for t in p["targets"]:
                for m in prom_metrics(t.get("expr", "")):
                    if m not in names and not any(r.match(m) for r in patterns):
                        errs.append(f"{b['uid']}: panel {p['title']!r}: no service registers {m}")
    rules = open(os.path.join(ROOT, "charts", "weir", "rules", "weir-alerts.yaml")).read()
    tests = open(os.path.join(ROOT, "tests", "deploy", "alerts_test.yaml")).read()
    for alert in re.findall(r"^\s*- alert: (\w+)", rules, re.M):
        if not re.search(rf"^\s*- name: {alert}\s*$", tests, re.M):
            errs.append(f"alert {alert} has no test group in tests/deploy/alerts_test.yaml")
    for e in errs:
        print("dashboards:", e)
    return not errs


def main():
    if "--write" in sys.argv:
        os.makedirs(OUT, exist_ok=True)
        for name, text in render().items():
            open(os.path.join(OUT, name), "w").write(text)
        return 0
    if "--queries" in sys.argv:
        for f in BOARDS:
            b = f().json()
            for p in b["panels"]:
                for t in p.get("targets", []):
                    if "expr" in t:
                        print(f"{b['uid']}\t{p['title']}\t{t['expr']}")
        return 0
    return 0 if check() else 1


if __name__ == "__main__":
    sys.exit(main())
