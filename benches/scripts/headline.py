#!/usr/bin/env python3
"""Print the headline table (markdown) from the newest summaries in a results
directory: node vs memcached throughput and p99 per scenario, memory per item,
hit ratio per eviction policy, proxy vs nutcracker. Every figure is a median with its min-max and
a ratio against memcached (nutcracker for the proxy) measured in the same run.

Usage: headline.py [RESULTS_DIR]   (default: benches/results next to this script)
"""
import glob
import json
import os
import sys


def newest(results, prefix):
    files = sorted(glob.glob(os.path.join(results, prefix + "-*.json")))
    return files[-1] if files else None


def spread(m, f="{:.0f}"):
    if not m:
        return "-"
    s = f.format(m["median"])
    if m["min"] != m["max"]:
        s += f" ({f.format(m['min'])}–{f.format(m['max'])})"
    return s


def ratio(r, key):
    x = (r or {}).get(key)
    if not x:
        return "-"
    s = f"×{x['of_medians']:.2f}"
    if x.get("paired_min") is not None and x["paired_min"] != x["paired_max"]:
        s += f" ({x['paired_min']:.2f}–{x['paired_max']:.2f})"
    return s


def machine_line(d, path):
    m = d.get("machine", {})
    return (f"_{os.path.basename(path)}: {m.get('date', '?')}, {m.get('host_cpus', '?')} CPUs "
            f"({m.get('cpu_model', '?')}), load average at start {m.get('loadavg_at_start', '?')}, "
            f"{m.get('memcached_version', '?')}, commit {m.get('git_commit', '?')}_")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "results")

    p = newest(results, "node_vs_memcached")
    if p:
        d = json.load(open(p))
        print("### Throughput and latency, ringcache node vs memcached\n")
        print("| scenario | memcached ops/s | ringcache ops/s | ops/s ratio | memcached p99 µs | ringcache p99 µs | p99 ratio | server CPU µs/op ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for sc, e in d["scenarios"].items():
            a, b = e.get("memcached", {}), e.get("ringcache", {})
            r = b.get("ratio_vs_memcached")
            print(f"| {sc} | {spread(a.get('ops_per_sec'))} | {spread(b.get('ops_per_sec'))} | {ratio(r, 'ops_per_sec')} "
                  f"| {spread(a.get('p99_us'))} | {spread(b.get('p99_us'))} | {ratio(r, 'p99_us')} | {ratio(r, 'server_cpu_us_per_op')} |")
        print("\n" + machine_line(d, p) + "\n")

    p = newest(results, "memory")
    if p:
        d = json.load(open(p))
        print("### Memory (VmRSS after storing every item, nothing evicted)\n")
        print("| workload | memcached RSS MiB | ringcache RSS MiB | memcached B/item | ringcache B/item | RSS ratio |")
        print("|---|---|---|---|---|---|")
        for w, e in d["workloads"].items():
            a, b = e.get("memcached", {}), e.get("ringcache", {})
            r = e.get("ratio_ringcache_vs_memcached", {})
            if a and b:
                print(f"| {w} | {a['rss_kib'] / 1024:.1f} | {b['rss_kib'] / 1024:.1f} | {a['rss_bytes_per_item']:.0f} "
                      f"| {b['rss_bytes_per_item']:.0f} | ×{r.get('rss', float('nan')):.2f} |")
        print("\n" + machine_line(d, p) + "\n")

    p = newest(results, "hit_ratio")
    if p:
        d = json.load(open(p))
        print("### Hit ratio, cache-aside, same trace, same -m\n")
        servers = []
        for e in d["scenarios"].values():
            for s in e:
                if s not in servers:
                    servers.append(s)
        servers.sort(key=lambda s: (s != "memcached", s))
        print("| trace | " + " | ".join(f"{s} hit ratio (items held)" for s in servers) + " |")
        print("|---|" + "---|" * len(servers))
        for sc, e in d["scenarios"].items():
            cells = []
            for s in servers:
                x = e.get(s, {})
                hr, items = x.get("hit_ratio"), x.get("curr_items")
                cells.append("-" if not hr else f"{hr['median']:.4f} ({items['median']:.0f})" if items else f"{hr['median']:.4f}")
            print(f"| {sc} | " + " | ".join(cells) + " |")
        print("\n" + machine_line(d, p) + "\n")

    p = newest(results, "proxy_vs_nutcracker")
    if p:
        d = json.load(open(p))
        print("### ringcache proxy vs nutcracker (twemproxy), 2 backends, ketama\n")
        print("| scenario | nutcracker ops/s | ringcache proxy ops/s | ops/s ratio | p99 ratio | proxy CPU µs/op ratio | direct ops/s |")
        print("|---|---|---|---|---|---|---|")
        for sc, e in d["scenarios"].items():
            a, b, c = e.get("nutcracker", {}), e.get("ringcache-proxy", {}), e.get("direct", {})
            r = b.get("ratio_vs_nutcracker")
            print(f"| {sc} | {spread(a.get('ops_per_sec'))} | {spread(b.get('ops_per_sec'))} | {ratio(r, 'ops_per_sec')} "
                  f"| {ratio(r, 'p99_us')} | {ratio(r, 'server_cpu_us_per_op')} | {spread(c.get('ops_per_sec'))} |")
        print("\n" + machine_line(d, p) + "\n")


if __name__ == "__main__":
    main()
