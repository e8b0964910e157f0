#!/usr/bin/env python3
"""Draw SVG charts from the side-by-side scripts' JSON, with no plotting library.

Usage: plot.py OUT_DIR RESULT_JSON...

Each RESULT_JSON is a summary written by one of the scripts; the kind of chart
follows from its name:
  node_vs_memcached-*.json  ops/s per scenario, grouped bars with min-max
                            whiskers; and a latency CDF per scenario from the
                            median run of each server (read from the runs/
                            directory next to it)
  hit_ratio-*.json          hit ratio per cache size (-m) and server, one
                            chart per trace
  memory-*.json             RSS bytes per item per workload and server
  scaleout*.json            hit ratio over time per run (with and without the
                            proxy's --warmup), the moment the 4th node joined
                            and each run's steady-state level; one chart,
                            written as <summary name>.svg
  throughput_vs_conns-*.json  ops/s, server CPU per op and the ratio against
                            the number of connections, medians with min-max
                            whiskers (-ops, -cpu, -ratio)
  ring_balance-*.json       histogram of keys per node relative to the mean,
                            xxh3 beside ketama, one chart per node count (-n<N>)
  crosscheck_memaslap-*.json  ops/s and server CPU per op, memaslap beside
                            ringcache-loadgen, per scenario (-ops, -cpu)
Charts are written to OUT_DIR as <summary name>-<chart>.svg.
"""
import json
import math
import os
import statistics
import sys
from html import escape

COLOURS = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#76b7b2", "#b07aa1"]
W, H = 800, 380
ML, MR, MT, MB = 70, 185, 40, 90


def svg(title, body, ylabel, xlabel=""):
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'font-family="sans-serif" font-size="12">\n'
        f'<rect width="{W}" height="{H}" fill="white"/>\n'
        f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>\n'
        f'<text transform="translate(16,{(MT + H - MB) / 2}) rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>\n'
        f'<text x="{(ML + W - MR) / 2}" y="{H - 8}" text-anchor="middle">{escape(xlabel)}</text>\n'
        + body
        + "</svg>\n"
    )


def nice_max(v):
    if v <= 0:
        return 1
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * e:
            return m * e
    return 10 * e


def y_axis(ymax, fmt="{:g}", ymin=0.0):
    out = []
    for i in range(6):
        v = ymin + (ymax - ymin) * i / 5
        y = H - MB - (H - MT - MB) * i / 5
        out.append(f'<line x1="{ML}" x2="{W - MR}" y1="{y}" y2="{y}" stroke="#ddd"/>')
        out.append(f'<text x="{ML - 6}" y="{y + 4}" text-anchor="end">{fmt.format(v)}</text>')
    return "\n".join(out) + "\n"


def legend(names):
    out = []
    for i, n in enumerate(names):
        y = MT + 18 * i
        out.append(f'<rect x="{W - MR + 12}" y="{y}" width="12" height="12" fill="{COLOURS[i % len(COLOURS)]}"/>')
        out.append(f'<text x="{W - MR + 30}" y="{y + 10}">{escape(n)}</text>')
    return "\n".join(out) + "\n"


def bars(title, ylabel, groups, servers, value, fmt="{:g}", xlabel=""):
    """groups: list of names; value(group, server) -> (median, min, max) or None."""
    vals = [value(g, s) for g in groups for s in servers]
    top = nice_max(max([v[2] for v in vals if v] or [1]))
    body = y_axis(top, fmt)
    gw = (W - ML - MR) / max(len(groups), 1)
    bw = gw * 0.8 / max(len(servers), 1)
    scale = (H - MT - MB) / top
    for gi, g in enumerate(groups):
        x0 = ML + gi * gw + gw * 0.1
        for si, s in enumerate(servers):
            v = value(g, s)
            if not v:
                continue
            med, lo, hi = v
            x = x0 + si * bw
            y = H - MB - med * scale
            body += f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" height="{med * scale:.1f}" fill="{COLOURS[si % len(COLOURS)]}"><title>{escape(s)} {fmt.format(med)} [{fmt.format(lo)}-{fmt.format(hi)}]</title></rect>\n'
            cx = x + (bw - 2) / 2
            body += f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{H - MB - lo * scale:.1f}" y2="{H - MB - hi * scale:.1f}" stroke="black"/>\n'
        # Label at most ~16 groups, so that the labels do not run into each other.
        if gi % max(1, math.ceil(len(groups) / 16)) == 0:
            lx = x0 + gw * 0.4
            body += f'<text transform="translate({lx:.1f},{H - MB + 14}) rotate(30)" font-size="11">{escape(g)}</text>\n'
    return svg(title, body + legend(servers), ylabel, xlabel)


def lines(title, ylabel, xlabel, series, xs_log=False, y_fmt="{:g}", x_ticks=None, ymin=None, ymax=None, ys_log=False,
          whiskers=None, ref=None):
    """series: {name: [(x, y), ...]}; ys_log puts y on a log scale.
    whiskers: {name: [(x, lo, hi), ...]} drawn as min-max bars; ref: a dashed
    horizontal line at that y (e.g. 1.0 on a ratio chart)."""
    pts = [p for s in series.values() for p in s]
    if not pts:
        return None
    whiskers = whiskers or {}
    # The y range covers the whiskers and the reference line as well.
    ypts = [p[1] for p in pts] + [v for w in whiskers.values() for (_, lo, hi) in w for v in (lo, hi)]
    if ref is not None:
        ypts.append(ref)
    tx = (lambda x: math.log10(x)) if xs_log else (lambda x: x)
    xmin, xmax = min(tx(p[0]) for p in pts), max(tx(p[0]) for p in pts)
    if xmax == xmin:
        xmax = xmin + 1
    sx = lambda x: ML + (tx(x) - xmin) / (xmax - xmin) * (W - ML - MR)
    if ys_log:
        lo = math.floor(math.log10(max(min(ypts), 1e-3)))
        hi = math.ceil(math.log10(max(max(ypts), 1e-3)))
        hi = max(hi, lo + 1)
        sy = lambda y: H - MB - (math.log10(max(y, 1e-3)) - lo) / (hi - lo) * (H - MT - MB)
        body = ""
        for d in range(lo, hi + 1):
            y = sy(10 ** d)
            body += f'<line x1="{ML}" x2="{W - MR}" y1="{y}" y2="{y}" stroke="#ddd"/>\n'
            body += f'<text x="{ML - 6}" y="{y + 4}" text-anchor="end">{10 ** d:g}</text>\n'
    else:
        lo = ymin if ymin is not None else 0.0
        hi = ymax if ymax is not None else nice_max(max(ypts))
        body = y_axis(hi, y_fmt, lo)
        sy = lambda y: H - MB - (y - lo) / (hi - lo) * (H - MT - MB)
    for label, x in (x_ticks or [(f"{p:g}", p) for p in sorted({p[0] for p in pts})]):
        body += f'<text x="{sx(x):.1f}" y="{H - MB + 16}" text-anchor="middle">{escape(label)}</text>\n'
    if ref is not None:
        body += f'<line x1="{ML}" x2="{W - MR}" y1="{sy(ref):.1f}" y2="{sy(ref):.1f}" stroke="#555" stroke-dasharray="4,3"/>\n'
    for i, (name, s) in enumerate(series.items()):
        s = sorted(s)
        d = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(s))
        c = COLOURS[i % len(COLOURS)]
        # Whiskers, nudged sideways per series so that they do not overlap.
        dx = (i - (len(series) - 1) / 2) * 4
        for x, wlo, whi in whiskers.get(name, []):
            body += (f'<line x1="{sx(x) + dx:.1f}" x2="{sx(x) + dx:.1f}" y1="{sy(wlo):.1f}" y2="{sy(whi):.1f}" '
                     f'stroke="{c}" stroke-width="1.5"><title>{escape(name)} {x:g}: {wlo:g}-{whi:g}</title></line>\n')
        body += f'<path d="{d}" fill="none" stroke="{c}" stroke-width="2"/>\n'
        for x, y in s:
            body += f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{c}"><title>{escape(name)} {x:g}: {y:g}</title></circle>\n'
    return svg(title, body + legend(list(series)), ylabel, xlabel)


def med3(entry, key):
    m = entry.get(key)
    return (m["median"], m["min"], m["max"]) if m else None


def servers_of(scenarios, baseline):
    names = []
    for e in scenarios.values():
        for s in e:
            if s not in names:
                names.append(s)
    return sorted(names, key=lambda s: (s != baseline, s))


def plot_node(path, data, out):
    sc = data["scenarios"]
    servers = servers_of(sc, data.get("baseline", "memcached"))
    groups = list(sc)
    written = []
    f = os.path.join(out, base(path) + "-throughput.svg")
    with open(f, "w") as fh:
        fh.write(bars("Throughput (median, min-max)", "ops/s", groups, servers,
                      lambda g, s: med3(sc[g].get(s, {}), "ops_per_sec"), "{:.0f}"))
    written.append(f)
    f = os.path.join(out, base(path) + "-p99.svg")
    with open(f, "w") as fh:
        fh.write(bars("p99 latency (median, min-max)", "microseconds", groups, servers,
                      lambda g, s: med3(sc[g].get(s, {}), "p99_us"), "{:.0f}"))
    written.append(f)
    # Latency CDFs from the median-throughput run of each server.
    run_dir = os.path.join(os.path.dirname(path), "runs", base(path))
    if os.path.isdir(run_dir):
        for g in groups:
            series = {}
            for s in servers:
                runs = []
                for name in os.listdir(run_dir):
                    if name.startswith(f"{g}__{s}__") and name.endswith(".json"):
                        with open(os.path.join(run_dir, name)) as fh:
                            runs.append(json.load(fh))
                if not runs:
                    continue
                runs.sort(key=lambda r: r.get("ops_per_sec") or 0)
                r = runs[len(runs) // 2]
                pts = [(1 / (1 - q), us) for q, us in r.get("latency_cdf_us", []) if 0 < q < 1]
                if pts:
                    series[s] = pts
            ticks = [(l, 1 / (1 - q)) for l, q in [("50%", .5), ("90%", .9), ("99%", .99), ("99.9%", .999), ("99.99%", .9999), ("99.999%", .99999)]]
            doc = lines(f"Latency by percentile, {g}", "microseconds (log)", "percentile", series, xs_log=True, x_ticks=ticks, ys_log=True)
            if doc:
                f = os.path.join(out, f"{base(path)}-cdf-{g}.svg")
                with open(f, "w") as fh:
                    fh.write(doc)
                written.append(f)
    return written


def plot_hit_ratio(path, data, out):
    sc = data["scenarios"]
    by_trace = {}
    for name, servers in sc.items():
        trace, _, mb = name.rpartition("_m")
        for s, e in servers.items():
            if e.get("hit_ratio"):
                by_trace.setdefault(trace, {}).setdefault(s, []).append((float(mb), e["hit_ratio"]["median"]))
    written = []
    for trace, series in by_trace.items():
        sizes = sorted({x for pts in series.values() for x, _ in pts})
        doc = lines(f"Hit ratio vs cache size, {trace} trace", "hit ratio", "-m (MB, log scale)", series,
                    xs_log=True, x_ticks=[(f"{m:g}", m) for m in sizes], ymin=0.0, ymax=1.0)
        if doc:
            f = os.path.join(out, f"{base(path)}-{trace}.svg")
            with open(f, "w") as fh:
                fh.write(doc)
            written.append(f)
    return written


def plot_memory(path, data, out):
    wl = data["workloads"]
    servers = []
    for e in wl.values():
        for s in e:
            if not s.startswith("ratio") and s not in servers:
                servers.append(s)
    f = os.path.join(out, base(path) + "-bytes-per-item.svg")
    with open(f, "w") as fh:
        fh.write(bars("RSS per item", "bytes", list(wl), servers,
                      lambda g, s: (lambda v: (v, v, v) if v else None)(wl[g].get(s, {}).get("rss_bytes_per_item")),
                      "{:.0f}"))
    return [f]


def plot_scaleout(path, data, out):
    runs = data["runs"]
    series = {}
    for name, r in runs.items():
        w = r.get("proxy_warmup_secs")
        label = "no --warmup flag" if w is None else f"--warmup {w}"
        # A last interval the run covered less than half of is left out:
        # a few replies after the end, not a point of the curve.
        full = max((p["secs"] for p in r["timeline"]), default=0)
        pts = [(p["t_secs"] + p["secs"] / 2, p["hit_ratio"]) for p in r["timeline"]
               if p["hit_ratio"] is not None and p["secs"] >= full / 2]
        if pts:
            series[label] = (r, pts)
    if not series:
        return []
    xmax = max(p[0] for _, pts in series.values() for p in pts)
    xmax = math.ceil(xmax)
    lowest = min(min(p[1] for _, pts in series.values() for p in pts),
                 min(r["steady_hit_ratio"] * 0.95 for r, _ in series.values() if r.get("steady_hit_ratio")))
    ymin = max(0.0, math.floor((lowest - 0.02) * 20) / 20)
    ymax = 1.0
    sx = lambda x: ML + x / xmax * (W - ML - MR)
    sy = lambda y: H - MB - (y - ymin) / (ymax - ymin) * (H - MT - MB)
    body = y_axis(ymax, "{:.2f}", ymin)
    step = 1 if xmax <= 12 else 2 if xmax <= 30 else 5
    for x in range(0, xmax + 1, step):
        body += f'<text x="{sx(x):.1f}" y="{H - MB + 16}" text-anchor="middle">{x}</text>\n'
    for i, (label, (r, pts)) in enumerate(series.items()):
        c = COLOURS[i % len(COLOURS)]
        steady = r.get("steady_hit_ratio")
        if steady:
            body += f'<line x1="{ML}" x2="{W - MR}" y1="{sy(steady):.1f}" y2="{sy(steady):.1f}" stroke="{c}" stroke-dasharray="2,3"><title>{escape(label)} steady state {steady:.4f}</title></line>\n'
            body += f'<line x1="{ML}" x2="{W - MR}" y1="{sy(steady * 0.95):.1f}" y2="{sy(steady * 0.95):.1f}" stroke="{c}" stroke-opacity="0.35" stroke-dasharray="1,4"><title>{escape(label)} 95% of steady state</title></line>\n'
        ch = r.get("change_secs")
        if ch is not None:
            body += f'<line x1="{sx(ch):.1f}" x2="{sx(ch):.1f}" y1="{MT}" y2="{H - MB}" stroke="{c}" stroke-dasharray="6,3"><title>{escape(label)}: 4th node joins at {ch:.2f} s</title></line>\n'
        d = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(pts))
        body += f'<path d="{d}" fill="none" stroke="{c}" stroke-width="2"/>\n'
        for x, y in pts:
            body += f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{c}"><title>{escape(label)} {x:.2f} s: {y:.4f}</title></circle>\n'
    # Legend: the runs, then what the thin lines are.
    names = list(series)
    body += legend(names)
    y = MT + 18 * len(names) + 10
    for text, dash in (("4th node joins", "6,3"), ("steady state", "2,3"), ("95% of steady", "1,4")):
        body += f'<line x1="{W - MR + 10}" x2="{W - MR + 26}" y1="{y + 6}" y2="{y + 6}" stroke="#555" stroke-dasharray="{dash}"/>\n'
        body += f'<text x="{W - MR + 30}" y="{y + 10}">{escape(text)}</text>\n'
        y += 18
    iv = data.get("workload", {}).get("timeline_ms")
    title = "Hit ratio while a 4th node joins 3 (cache-aside, " + str(data.get("workload", {}).get("dist", "")) + ")"
    doc = svg(title, body, f"hit ratio per {iv} ms" if iv else "hit ratio", "seconds since the start of the measured run")
    f = os.path.join(out, base(path) + ".svg")
    with open(f, "w") as fh:
        fh.write(doc)
    return [f]


def plot_conns(path, data, out):
    """throughput_vs_conns: ops/s, server CPU per op and the ratios against
    the number of connections (log scale), medians with min-max whiskers."""
    sc = data["scenarios"]
    baseline = data.get("baseline", "memcached")
    servers = servers_of(sc, baseline)
    conns = {name: int(name.lstrip("c")) for name in sc}
    ticks = [(str(c), c) for c in sorted(conns.values())]
    written = []

    def curve(key):
        series, whisk = {}, {}
        for s in servers:
            for name, c in conns.items():
                m = sc[name].get(s, {}).get(key)
                if m:
                    series.setdefault(s, []).append((c, m["median"]))
                    whisk.setdefault(s, []).append((c, m["min"], m["max"]))
        return series, whisk

    for key, title, ylabel, suffix in (
        ("ops_per_sec", "Throughput vs connections (depth 1, median, min-max)", "ops/s", "ops"),
        ("server_cpu_us_per_op", "Server CPU per op vs connections (median, min-max)", "server CPU µs/op", "cpu"),
    ):
        series, whisk = curve(key)
        doc = lines(title, ylabel, "connections", series, xs_log=True, x_ticks=ticks, whiskers=whisk)
        if doc:
            f = os.path.join(out, f"{base(path)}-{suffix}.svg")
            with open(f, "w") as fh:
                fh.write(doc)
            written.append(f)
    series, whisk = {}, {}
    for s in servers:
        if s == baseline:
            continue
        for key, label in (("ops_per_sec", "ops/s"), ("server_cpu_us_per_op", "server CPU/op")):
            name = label if len(servers) == 2 else f"{s}: {label}"
            for conn_name, c in conns.items():
                r = sc[conn_name].get(s, {}).get("ratio_vs_" + baseline, {}).get(key)
                if r:
                    series.setdefault(name, []).append((c, r["of_medians"]))
                    if r.get("paired_min") is not None:
                        whisk.setdefault(name, []).append((c, r["paired_min"], r["paired_max"]))
    others = [s for s in servers if s != baseline]
    doc = lines(f"{', '.join(others)} / {baseline} per connection count (ratio of medians, paired min-max)",
                "ratio", "connections", series,
                xs_log=True, x_ticks=ticks, whiskers=whisk, ref=1.0, y_fmt="{:.2f}")
    if doc:
        f = os.path.join(out, f"{base(path)}-ratio.svg")
        with open(f, "w") as fh:
            fh.write(doc)
        written.append(f)
    return written


def plot_ring_balance(path, data, out, width=0.02):
    """ring_balance: per node count, a histogram of keys per node relative to
    the mean (bins of `width`, centred on 1.0), one bar per scheme in a bin."""
    by_nodes = {}
    for r in data["rings"]:
        by_nodes.setdefault(r["nodes"], []).append(r)
    written = []
    for n, rings in sorted(by_nodes.items()):
        vals = [v for r in rings for v in r["relative"]]
        lo = math.floor((min(vals) - 1 + width / 2) / width)
        hi = math.floor((max(vals) - 1 + width / 2) / width)
        bins = list(range(lo, hi + 1))
        names = [f"{r['scheme']}, {r['points'] // max(r['nodes'], 1)} pts/node" for r in rings]
        counts = {}
        for name, r in zip(names, rings):
            c = {b: 0 for b in bins}
            for v in r["relative"]:
                c[math.floor((v - 1 + width / 2) / width)] += 1
            counts[name] = c
        groups = [f"{1 + b * width:.2f}" for b in bins]
        label = dict(zip(groups, bins))
        doc = bars(f"Keys per node relative to the mean, {n} nodes ({rings[0]['keys']:,} keys)", "nodes",
                   groups, names, lambda g, s: (lambda v: (v, v, v) if v else None)(counts[s][label[g]]), "{:.0f}",
                   xlabel="keys on the node / mean keys per node (bin centre)")
        f = os.path.join(out, f"{base(path)}-n{n}.svg")
        with open(f, "w") as fh:
            fh.write(doc)
        written.append(f)
    return written


def plot_crosscheck(path, data, out):
    """crosscheck_memaslap: ops/s (as the server counted them) and server CPU
    per op per scenario, memaslap beside ringcache-loadgen."""
    sc = data["scenarios"]
    servers = servers_of(sc, data.get("baseline", "memaslap"))
    written = []
    for key, title, ylabel, suffix, fmt in (
        ("ops_per_sec", "Same memcached: memaslap vs ringcache-loadgen (median, min-max)", "ops/s (server's count)", "ops", "{:.0f}"),
        ("server_cpu_us_per_op", "Same memcached: server CPU per op by tool", "server CPU µs/op", "cpu", "{:.2f}"),
    ):
        f = os.path.join(out, f"{base(path)}-{suffix}.svg")
        with open(f, "w") as fh:
            fh.write(bars(title, ylabel, list(sc), servers, lambda g, s: med3(sc[g].get(s, {}), key), fmt))
        written.append(f)
    return written


def base(path):
    return os.path.basename(path)[:-5]


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for path in sys.argv[2:]:
        with open(path) as fh:
            data = json.load(fh)
        name = os.path.basename(path)
        if name.startswith(("node_vs_memcached", "memcached_vs_memcached")):
            written = plot_node(path, data, out)
        elif name.startswith("hit_ratio"):
            written = plot_hit_ratio(path, data, out)
        elif name.startswith("memory"):
            written = plot_memory(path, data, out)
        elif name.startswith("scaleout"):
            written = plot_scaleout(path, data, out)
        elif name.startswith("throughput_vs_conns"):
            written = plot_conns(path, data, out)
        elif name.startswith("ring_balance"):
            written = plot_ring_balance(path, data, out)
        elif name.startswith("crosscheck_memaslap"):
            written = plot_crosscheck(path, data, out)
        else:
            print(f"skipping {path}: unknown kind", file=sys.stderr)
            continue
        for w in written:
            print(w)


if __name__ == "__main__":
    main()
