#!/usr/bin/env python3
"""Generates dashboards/ringcache-fleet.json, the Grafana dashboard of a ringcache
fleet. Edit this file, not the JSON, then run it:

    python3 deploy/grafana/dashboard.py           # rewrite the JSON
    python3 deploy/grafana/dashboard.py --check   # CI: is the JSON up to date?

Every panel query uses names from docs/metrics.md; .ci/check-deploy parses
each one with promtool.
"""

import json
import pathlib
import sys

# Every query goes through the `datasource` variable, so the dashboard works
# with any Prometheus data source, provisioned or not.
DS = {"type": "prometheus", "uid": "${datasource}"}
# Node queries follow the Node variable (all nodes by default).
N = 'job="ringcache-node",instance=~"$instance"'
RI = "$__rate_interval"
panels = []
pid = [0]
def nid():
    pid[0] += 1
    return pid[0]
y = [0]
def row(title):
    panels.append({"type": "row", "id": nid(), "title": title, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y[0]}, "panels": []})
    y[0] += 1
def stat(title, expr, unit, x, w=6, desc="", thresholds=None):
    p = {"type": "stat", "id": nid(), "title": title, "description": desc, "datasource": DS,
         "gridPos": {"h": 4, "w": w, "x": x, "y": y[0]},
         "targets": [{"refId": "A", "datasource": DS, "expr": expr, "instant": False, "range": True}],
         "fieldConfig": {"defaults": {"unit": unit, "decimals": 2 if unit == "percentunit" else None,
                                      "thresholds": thresholds or {"mode": "absolute", "steps": [{"color": "green", "value": None}]}},
                         "overrides": []},
         "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "colorMode": "value", "graphMode": "area", "textMode": "auto"}}
    if p["fieldConfig"]["defaults"]["decimals"] is None:
        del p["fieldConfig"]["defaults"]["decimals"]
    panels.append(p)
def ts(title, targets, unit, x, w=12, h=8, desc="", extra=None):
    p = {"type": "timeseries", "id": nid(), "title": title, "description": desc, "datasource": DS,
         "gridPos": {"h": h, "w": w, "x": x, "y": y[0]},
         "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": l, "range": True}
                     for i, (e, l) in enumerate(targets)],
         "fieldConfig": {"defaults": {"unit": unit, "custom": {"lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}},
                         "overrides": []},
         "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                     "tooltip": {"mode": "multi", "sort": "desc"}}}
    if extra:
        p["fieldConfig"]["defaults"].update(extra)
    panels.append(p)
def nl(h=8):
    y[0] += h

hit = f'sum(rate(ringcache_commands_total{{{N},status="hit"}}[{RI}]))'
look = f'sum(rate(ringcache_commands_total{{{N},status=~"hit|miss"}}[{RI}]))'

row("Is the cache doing its job")
stat("Hit ratio", f"{hit} / {look}", "percentunit", 0,
     desc="Share of lookups (get, gets, gat, gats) that returned a value, over the selected nodes.",
     thresholds={"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "orange", "value": 0.8}, {"color": "green", "value": 0.9}]})
stat("Nodes up", 'sum(up{job="ringcache-node"})', "none", 6, desc="Node targets Prometheus scrapes successfully.")
stat("Requests / s", f'sum(rate(ringcache_commands_total{{{N}}}[{RI}]))', "reqps", 12)
stat("Memory used of -m", f'sum(ringcache_current_bytes{{{N}}}) / sum(ringcache_limit_bytes{{{N}}})', "percentunit", 18,
     thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 0.95}]})
nl(4)
ts("Hit ratio by node", [(f'sum by (instance) (rate(ringcache_commands_total{{{N},status="hit"}}[{RI}])) / sum by (instance) (rate(ringcache_commands_total{{{N},status=~"hit|miss"}}[{RI}]))', "{{instance}}")],
   "percentunit", 0, extra={"min": 0, "max": 1})
ts("Requests by command", [(f'sum by (command) (rate(ringcache_commands_total{{{N}}}[{RI}]))', "{{command}}")], "reqps", 12)
nl()
ts("Outcomes by status", [(f'sum by (status) (rate(ringcache_commands_total{{{N}}}[{RI}]))', "{{status}}")], "reqps", 0,
   desc="hit/miss for lookups, stored/not_stored/exists/not_found for writes, error for refused requests (docs/metrics.md).")
ts("Errors", [(f'sum by (command) (rate(ringcache_commands_total{{{N},status="error"}}[{RI}]))', "{{command}} error"),
              (f'sum by (kind) (rate(ringcache_protocol_errors_total{{{N}}}[{RI}]))', "protocol {{kind}}")], "reqps", 12)
nl()
row("Memory and evictions")
ts("Memory vs limit", [(f'sum by (instance) (ringcache_current_bytes{{{N}}})', "{{instance}} used"),
                       (f'sum by (instance) (ringcache_limit_bytes{{{N}}})', "{{instance}} limit (-m)")], "bytes", 0)
ts("Evictions and expirations / s", [(f'sum by (instance) (rate(ringcache_items_evicted_total{{{N}}}[{RI}]))', "{{instance}} evicted"),
                                      (f'sum by (instance) (rate(ringcache_items_expired_total{{{N}}}[{RI}]))', "{{instance}} expired")], "ops", 12,
   desc="Evictions push out live items to make room: sustained evictions with a falling hit ratio mean -m is too small.")
nl()
ts("Items", [(f'sum by (instance) (ringcache_current_items{{{N}}})', "{{instance}}")], "short", 0)
ts("Items stored / s", [(f'sum by (instance) (rate(ringcache_items_total{{{N}}}[{RI}]))', "{{instance}}")], "ops", 12)
nl()
row("Connections and latency")
ts("Connections", [(f'sum by (instance) (ringcache_current_connections{{{N}}})', "{{instance}} open"),
                   (f'sum by (instance) (rate(ringcache_connections_rejected_total{{{N}}}[{RI}]))', "{{instance}} rejected/s")], "short", 0)
ts("Network", [(f'sum by (instance) (rate(ringcache_read_bytes_total{{{N}}}[{RI}]))', "{{instance}} read"),
               (f'sum by (instance) (rate(ringcache_written_bytes_total{{{N}}}[{RI}]))', "{{instance}} written")], "Bps", 12)
nl()
ts("Node latency p50 / p99", [(f'histogram_quantile(0.50, sum by (le) (rate(ringcache_request_duration_seconds_bucket{{{N}}}[{RI}])))', "p50"),
                              (f'histogram_quantile(0.99, sum by (le) (rate(ringcache_request_duration_seconds_bucket{{{N}}}[{RI}])))', "p99")], "s", 0,
   desc="Time inside the nodes from parsed request to encoded reply, network excluded.")
ts("Node latency p99 by command", [(f'histogram_quantile(0.99, sum by (command, le) (rate(ringcache_request_duration_seconds_bucket{{{N}}}[{RI}])))', "{{command}}")], "s", 12)
nl()
row("Clients and proxies: routing")
ts("Client p99 by node", [(f'histogram_quantile(0.99, sum by (node, le) (rate(ringcache_client_request_duration_seconds_bucket[{RI}])))', "{{node}}")], "s", 0,
   desc="Round trip seen by proxies and clients, network included.")
ts("Client failures by node", [(f'sum by (node, status) (rate(ringcache_client_requests_total{{status!~"ok|down"}}[{RI}]))', "{{node}} {{status}}"),
                               (f'sum by (node, kind) (rate(ringcache_client_errors_total[{RI}]))', "{{node}} connection {{kind}}")], "ops", 12,
   desc="Requests that failed, by outcome, and connection-level failures. Requests answered locally for an ejected node (status down) are in the ejection panels.")
nl()
ts("Ejected nodes", [('max by (node) (ringcache_client_ejected)', "{{node}}")], "short", 0, w=8,
   desc="1 while at least one client or proxy has the node out of its ring.", extra={"min": 0, "max": 1})
ts("Ejections and returns", [(f'sum by (node) (increase(ringcache_client_ejections_total[{RI}]))', "{{node}} ejected"),
                             (f'sum by (node) (increase(ringcache_client_returns_total[{RI}]))', "{{node}} returned")], "short", 8, w=8)
ts("In flight by node", [('sum by (node) (ringcache_client_in_flight)', "{{node}}")], "short", 16, w=8)
nl()
ts("Ring size and changes", [('max by (job, instance) (ringcache_client_ring_nodes)', "{{instance}} nodes"),
                             (f'sum(increase(ringcache_client_ring_changes_total[{RI}]))', "changes")], "short", 0, w=8)
ts("Keys moved by the last ring change", [('max by (job, instance) (ringcache_client_keys_moved_ratio)', "{{instance}}")], "percentunit", 8, w=8,
   desc="About 1/N when one of N nodes joins or leaves.")
ts("Warm-up copies and coalesced loads / s", [(f'sum(rate(ringcache_client_warmup_copies_total[{RI}]))', "warm-up copies"),
                                              (f'sum(rate(ringcache_client_singleflight_coalesced_total[{RI}]))', "coalesced loads")], "ops", 16, w=8)
nl()

dash = {
    "uid": "ringcache-fleet",
    "title": "ringcache fleet",
    "description": "Hit ratio, traffic, memory, evictions, connections, latency and routing of a ringcache fleet. Metric names: docs/metrics.md.",
    "tags": ["ringcache", "memcached", "cache"],
    "timezone": "browser",
    "editable": True,
    "graphTooltip": 1,
    "refresh": "30s",
    "schemaVersion": 39,
    "version": 1,
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1, "regex": "", "includeAll": False, "multi": False},
        {"name": "instance", "label": "Node", "type": "query", "datasource": DS,
         "definition": 'label_values(up{job="ringcache-node"}, instance)',
         "query": {"query": 'label_values(up{job="ringcache-node"}, instance)', "refId": "PrometheusVariableQueryEditor-VariableQuery"},
         "refresh": 2, "includeAll": True, "allValue": ".*", "multi": True, "current": {}, "hide": 0, "sort": 1, "regex": ""},
    ]},
    "annotations": {"list": []},
    "links": [],
    "panels": panels,
}
OUT = pathlib.Path(__file__).resolve().parent / "dashboards" / "ringcache-fleet.json"
text = json.dumps(dash, indent=2) + "\n"
if sys.argv[1:] == ["--check"]:
    if OUT.read_text() != text:
        sys.exit(f"{OUT} is not what {pathlib.Path(__file__).name} generates: run python3 deploy/grafana/dashboard.py")
    print(f"dashboard: {OUT.name} matches its generator ({len(panels)} panels)")
else:
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(panels)} panels)")
