#!/usr/bin/env python3
"""Print the headline table (markdown) from the newest summaries in a results
directory: node vs memcached throughput and p99 per scenario, throughput vs
connections, memory per item, hit ratio per eviction policy and cache size,
proxy vs nutcracker, the load generator vs memaslap, and the ring's balance.
Every measured figure is a median with its min-max and a ratio against the
anchor (memcached; nutcracker for the proxy; memaslap for the load
generator) measured in the same run.

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

    p = newest(results, "throughput_vs_conns")
    if p:
        d = json.load(open(p))
        print("### Throughput vs connections, ringcache node vs memcached (depth 1)\n")
        print("| connections | memcached ops/s | ringcache ops/s | ops/s ratio | memcached CPU µs/op | ringcache CPU µs/op | server CPU µs/op ratio |")
        print("|---|---|---|---|---|---|---|")
        for sc, e in sorted(d["scenarios"].items(), key=lambda kv: int(kv[0].lstrip("c"))):
            a, b = e.get("memcached", {}), e.get("ringcache", {})
            r = b.get("ratio_vs_memcached")
            print(f"| {int(sc.lstrip('c'))} | {spread(a.get('ops_per_sec'))} | {spread(b.get('ops_per_sec'))} | {ratio(r, 'ops_per_sec')} "
                  f"| {spread(a.get('server_cpu_us_per_op'), '{:.2f}')} | {spread(b.get('server_cpu_us_per_op'), '{:.2f}')} "
                  f"| {ratio(r, 'server_cpu_us_per_op')} |")
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


    p = newest(results, "crosscheck_memaslap")
    if p:
        d = json.load(open(p))
        print("### Load generator vs memaslap, same memcached (measured from the server's counters)\n")
        print("| scenario | memaslap ops/s | loadgen ops/s | ops/s ratio | memaslap server CPU µs/op | loadgen server CPU µs/op | CPU/op ratio | client CPU util memaslap / loadgen |")
        print("|---|---|---|---|---|---|---|---|")
        for sc, e in d["scenarios"].items():
            a, b = e.get("memaslap", {}), e.get("loadgen", {})
            r = b.get("ratio_vs_memaslap")
            ca, cb = a.get("client_cpu_utilisation"), b.get("client_cpu_utilisation")
            util = f"{ca['median']:.2f} / {cb['median']:.2f}" if ca and cb else "-"
            print(f"| {sc} | {spread(a.get('ops_per_sec'))} | {spread(b.get('ops_per_sec'))} | {ratio(r, 'ops_per_sec')} "
                  f"| {spread(a.get('server_cpu_us_per_op'), '{:.2f}')} | {spread(b.get('server_cpu_us_per_op'), '{:.2f}')} "
                  f"| {ratio(r, 'server_cpu_us_per_op')} | {util} |")
        print("\n" + machine_line(d, p) + "\n")

    p = newest(results, "ring_balance")
    if p:
        d = json.load(open(p))
        print(f"### Ring balance, keys per node relative to the mean ({d['args']['keys']:,} keys)\n")
        print("| scheme | nodes | points per node | keys/mean min–max | std dev | exact arc share/mean min–max | sampling noise |")
        print("|---|---|---|---|---|---|---|")
        for r in d["rings"]:
            k, a = r["relative_spread"], r["arc_spread"]
            print(f"| {r['scheme']} | {r['nodes']} | {r['points'] // max(r['nodes'], 1)} | {k['min']:.3f}–{k['max']:.3f} "
                  f"| {k['stddev']:.4f} | {a['min']:.3f}–{a['max']:.3f} | {r['sampling_noise']:.4f} |")
        m = d.get("machine", {})
        print(f"\n_{os.path.basename(p)}: {m.get('date', '?')}, commit {m.get('git_commit', '?')} (deterministic)_\n")


if __name__ == "__main__":
    main()
