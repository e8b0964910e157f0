#!/usr/bin/env python3
"""Summarise a directory of ringcache-loadgen JSON reports as medians, spreads
and ratios against a baseline server measured in the same run.

Usage: summarize.py RUN_DIR BASELINE [OUT_JSON]

Files in RUN_DIR are named SCENARIO__SERVER__rREP.json (the side-by-side
scripts write them so). For every scenario and server it prints the median of
ops/s, p99 latency, server CPU per op and hit ratio, with min-max, and for each
non-baseline server the ratio of its median to the baseline's median, plus the
min-max of the per-repetition paired ratios (run r of B over run r of A, which
were taken next to each other). OUT_JSON gets the same as JSON.
"""
import json
import os
import statistics
import sys
from collections import defaultdict

METRICS = [
    # key in summary, path in the report, label, format
    ("ops_per_sec", ("ops_per_sec",), "ops/s", "{:.0f}"),
    ("p50_us", ("latency_us", "p50"), "p50 us", "{:.1f}"),
    ("p99_us", ("latency_us", "p99"), "p99 us", "{:.1f}"),
    ("p999_us", ("latency_us", "p999"), "p99.9 us", "{:.1f}"),
    ("server_cpu_us_per_op", ("server", "cpu_us_per_op"), "srv cpu us/op", "{:.2f}"),
    ("server_rss_kib", ("server", "rss_kib"), "srv rss KiB", "{:.0f}"),
    ("hit_ratio", ("hit_ratio",), "hit ratio", "{:.4f}"),
    ("non_scan_hit_ratio", ("non_scan_hit_ratio",), "non-scan hit", "{:.4f}"),
    ("errors", ("errors",), "errors", "{:.0f}"),
    ("loadgen_cpu_utilisation", ("loadgen_cpu_utilisation",), "lg util", "{:.2f}"),
    ("server_cpu_utilisation", ("server", "cpu_utilisation"), "srv util", "{:.2f}"),
    # crosscheck_memaslap.sh: the tool's CPU per wall second, and its own ops/s.
    ("client_cpu_utilisation", ("client_cpu_utilisation",), "client util", "{:.2f}"),
    ("tool_ops_per_sec", ("tool_ops_per_sec",), "own ops/s", "{:.0f}"),
    ("server_sys_us_per_op", ("server", "sys_us_per_op"), "srv sys us/op", "{:.2f}"),
    ("server_sleeps_per_op", ("server", "sleeps_per_op"), "srv sleeps/op", "{:.3f}"),
    ("client_sleeps_per_op", ("client_sleeps_per_op",), "client sleeps/op", "{:.3f}"),
    ("tcp_segments_per_op", ("tcp_segments_per_op",), "tcp segs/op", "{:.3f}"),
    ("server_reads_per_op", ("server", "reads_per_op"), "srv reads/op", "{:.3f}"),
    ("client_reads_per_op", ("client_reads_per_op",), "client reads/op", "{:.3f}"),
    ("curr_items", ("server_stats", "curr_items"), "items", "{:.0f}"),
    ("evictions", ("server_stats", "evictions"), "evictions", "{:.0f}"),
]


def dig(d, path):
    for p in path:
        if not isinstance(d, dict) or d.get(p) is None:
            return None
        d = d[p]
    if isinstance(d, str):  # server stats are strings
        try:
            return float(d)
        except ValueError:
            return None
    return d


def load(run_dir):
    runs = defaultdict(lambda: defaultdict(dict))  # scenario -> server -> rep -> report
    order = []
    for name in sorted(os.listdir(run_dir)):
        if not name.endswith(".json") or name.count("__") != 2:
            continue
        scenario, server, rep = name[:-5].split("__")
        with open(os.path.join(run_dir, name)) as f:
            try:
                runs[scenario][server][rep] = json.load(f)
            except json.JSONDecodeError:
                continue
        if scenario not in order:
            order.append(scenario)
    return runs, order


def summarise(runs, order, baseline):
    out = {}
    for scenario in order:
        servers = runs[scenario]
        out[scenario] = {}
        for server, reps in sorted(servers.items(), key=lambda kv: kv[0] != baseline):
            entry = {"runs": len(reps)}
            for key, path, _, _ in METRICS:
                vals = [dig(r, path) for r in reps.values()]
                vals = [v for v in vals if v is not None]
                if vals:
                    entry[key] = {
                        "median": statistics.median(vals),
                        "min": min(vals),
                        "max": max(vals),
                        "values": vals,
                    }
            out[scenario][server] = entry
        base = servers.get(baseline)
        if base is None:
            continue
        for server, reps in servers.items():
            if server == baseline:
                continue
            ratios = {}
            for key, path, _, _ in METRICS:
                b = out[scenario][baseline].get(key)
                s = out[scenario][server].get(key)
                if not b or not s or not b["median"]:
                    continue
                paired = []
                for rep, r in reps.items():
                    a = base.get(rep)
                    if a is None:
                        continue
                    va, vb = dig(a, path), dig(r, path)
                    if va and vb is not None:
                        paired.append(vb / va)
                ratios[key] = {
                    "of_medians": s["median"] / b["median"],
                    "paired_min": min(paired) if paired else None,
                    "paired_max": max(paired) if paired else None,
                }
            out[scenario][server]["ratio_vs_" + baseline] = ratios
    return out


def fmt(m, f):
    if not m:
        return "-"
    if m["min"] == m["max"]:
        return f.format(m["median"])
    return (f + " [" + f + "-" + f + "]").format(m["median"], m["min"], m["max"])


def show(summary, baseline, keys):
    labels = {k: (label, f) for k, _, label, f in METRICS}
    for scenario, servers in summary.items():
        print(f"\n== {scenario}")
        for server, e in servers.items():
            cols = [f"{labels[k][0]} {fmt(e.get(k), labels[k][1])}" for k in keys if e.get(k)]
            print(f"  {server:<18} n={e['runs']}  " + "  ".join(cols))
        for server, e in servers.items():
            r = e.get("ratio_vs_" + baseline)
            if not r:
                continue
            parts = []
            for k in keys:
                if k in r:
                    x = r[k]
                    spread = ""
                    if x["paired_min"] is not None:
                        spread = f" [{x['paired_min']:.2f}-{x['paired_max']:.2f}]"
                    parts.append(f"{labels[k][0]} x{x['of_medians']:.3f}{spread}")
            print(f"  {server + '/' + baseline:<18} " + "  ".join(parts))


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    run_dir, baseline = sys.argv[1], sys.argv[2]
    keys = os.environ.get("SUMMARY_KEYS", "ops_per_sec,p99_us,server_cpu_us_per_op,errors").split(",")
    runs, order = load(run_dir)
    summary = summarise(runs, order, baseline)
    show(summary, baseline, keys)
    if len(sys.argv) > 3:
        meta = {}
        meta_path = os.path.join(run_dir, "machine.json")
        if os.path.exists(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
        with open(sys.argv[3], "w") as f:
            json.dump({"machine": meta, "baseline": baseline, "scenarios": summary}, f, indent=1)
        print(f"\nsummary written to {sys.argv[3]}")


if __name__ == "__main__":
    main()
