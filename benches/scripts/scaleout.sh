#!/usr/bin/env bash
# scaleout.sh — the hit ratio over time when a 4th node joins a 3-node
# cluster behind `ringcache proxy`, with and without the proxy's warm
# rebalancing (`--warmup SECS`).
#
# Each run starts 4 `ringcache node`s and one `ringcache proxy --nodes-file F`
# with 3 of them in F, all on free loopback ports. The load generator plays
# an application in front of a database through the proxy: cache-aside over
# KEYS keys drawn from Zipf(ZIPF_S) (`get`; on a miss, `set` the key with a
# VALUE_SIZE value). It warms the cache in rounds of WARM_SECS until the
# hit ratio of a round is within WARM_TOLERANCE of the round before (at most
# WARM_ROUNDS), then runs DURATION seconds with a timeline of TIMELINE_MS
# intervals; CHANGE_AT seconds in, the 4th node is added to F (atomic
# rename). The proxy re-reads F within a second; the change is timed when
# the 4th node answers its first get (and the proxy's `ring_nodes` reads 4).
#
# The working set fits: -m MB per node holds every key (the nodes' evictions
# are reported), so a miss after the change is a key that moved to the new,
# empty node, not an eviction.
#
# One run per value of WARMUPS, each on fresh processes, with the same
# seeds (the same trace). If the proxy has no --warmup flag yet, only the
# baseline runs (the proxy then behaves as --warmup 0) and the JSON says so.
#
# Usage:  benches/scripts/scaleout.sh
# Env:    KEYS=100000 MB=64 VALUE_SIZE=100 ZIPF_S=0.99 CONNS=8 DEPTH=16
#         DURATION=20 CHANGE_AT=5 TIMELINE_MS=500 WINDOW=10 (seconds after the
#         change that min/mean cover) WARM_SECS=4 WARM_ROUNDS=15
#         WARM_TOLERANCE=0.005 WARMUPS="0 30" NODE_THREADS=1 PROXY_THREADS=1
#         SEED=1, plus those of lib.sh (RINGCACHE_BIN, LOADGEN, SERVER_CPUS...).
# Output: benches/results/scaleout.json and benches/results/scaleout.svg;
#         every loadgen report and server log in
#         benches/results/scaleout-runs/<UTC time>/.
# Takes about |WARMUPS| x (WARM_SECS x rounds + DURATION + 5) s: 1-1.5 min a
# run on a 2-core box (8 warm-up rounds of 4 s at ~45k ops/s through the proxy).

source "$(dirname "$0")/lib.sh"

KEYS="${KEYS:-100000}"
MB="${MB:-64}"
VALUE_SIZE="${VALUE_SIZE:-100}"
ZIPF_S="${ZIPF_S:-0.99}"
CONNS="${CONNS:-8}"
DEPTH="${DEPTH:-16}"
DURATION="${DURATION:-20}"
CHANGE_AT="${CHANGE_AT:-5}"
TIMELINE_MS="${TIMELINE_MS:-500}"
WINDOW="${WINDOW:-10}"
WARM_SECS="${WARM_SECS:-4}"
WARM_ROUNDS="${WARM_ROUNDS:-15}"
WARM_TOLERANCE="${WARM_TOLERANCE:-0.005}"
WARMUPS="${WARMUPS:-0 30}"
NODE_THREADS="${NODE_THREADS:-1}"
PROXY_THREADS="${PROXY_THREADS:-1}"
SEED="${SEED:-1}"

ensure_loadgen
ensure_ringcache

if "$RINGCACHE_BIN" proxy --help 2>/dev/null | grep -q -- '--warmup'; then
    WARMUP_FLAG=1
else
    WARMUP_FLAG=0
    log "ringcache proxy has no --warmup flag: running the baseline only (it behaves as --warmup 0)"
    WARMUPS="none"
fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_DIR="$RESULTS_DIR/scaleout-runs/$STAMP"
mkdir -p "$RUN_DIR"
REPO_DIR="$REPO_DIR" machine_json > "$RUN_DIR/machine.json"
log "results in $RUN_DIR; proxy --warmup values: $WARMUPS"

# N free loopback ports, all distinct (held open together while chosen).
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# stat_wait PORT FIELD MIN TIMEOUT: polls `stats` on 127.0.0.1:PORT every
# 20 ms until FIELD >= MIN; prints the Unix time it was seen (empty on timeout).
stat_wait() {
    python3 - "$@" <<'EOF'
import socket, sys, time
port, field, want, timeout = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.time() + timeout
while time.time() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"stats\r\n")
            buf = b""
            while not buf.endswith(b"END\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        for line in buf.decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT" and parts[1] == field and int(parts[2]) >= want:
                print(f"{time.time():.3f}")
                sys.exit(0)
    except (OSError, ValueError):
        pass
    time.sleep(0.02)
EOF
}

# stats_json PORT: a node's `stats` as a JSON object ({} if it does not answer).
stats_json() {
    python3 - "$1" <<'EOF'
import json, socket, sys
out = {}
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
        s.sendall(b"stats\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    for line in buf.decode(errors="replace").splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
except OSError:
    pass
print(json.dumps(out))
EOF
}

# The workload, the same in the warm-up rounds and the measured run.
LOAD=(-c "$CONNS" -d "$DEPTH" --cache-aside --keys "$KEYS" --key-size 20
      --value-size "$VALUE_SIZE" --dist "zipf:$ZIPF_S")

for warmup in $WARMUPS; do
    name="warmup$warmup"
    proxy_extra=""
    if [ "$warmup" != none ]; then proxy_extra="--warmup $warmup"; else name="baseline"; fi
    read -r p1 p2 p3 p4 pp <<<"$(free_ports 5)"
    nodes_file="$RUN_DIR/$name.nodes"
    pids=()
    for p in $p1 $p2 $p3 $p4; do
        start_server "node-$name" "$p" "$(ringcache_cmd "$p" "$MB" "$NODE_THREADS")"
        pids+=("$SERVER_PID")
    done
    printf '127.0.0.1:%s\n' "$p1" "$p2" "$p3" > "$nodes_file.tmp"
    mv -f "$nodes_file.tmp" "$nodes_file"
    # shellcheck disable=SC2086
    start_server "proxy-$name" "$pp" \
        "$RINGCACHE_BIN proxy -l 127.0.0.1 -p $pp -t $PROXY_THREADS -c 4096 --nodes-file $nodes_file $proxy_extra"
    proxy_pid=$SERVER_PID
    pids+=("$proxy_pid")

    # Warm up in rounds until the hit ratio stops rising.
    prev=""
    for round in $(seq 1 "$WARM_ROUNDS"); do
        out="$RUN_DIR/$name-warm$round.json"
        loadgen -s "127.0.0.1:$pp" "${LOAD[@]}" -t "$WARM_SECS" --seed "$((SEED + round))" \
            -q --json --label "$name warm-up round $round" >"$out" 2>"$out.log" \
            || die "loadgen failed in warm-up round $round (see $out.log)"
        hr="$(json_get "$out" '["hit_ratio"]')"
        log "$name warm-up round $round: hit ratio $hr, $(json_get "$out" '["ops_per_sec"]' | cut -d. -f1) ops/s"
        if [ -n "$prev" ] && python3 -c "import sys; sys.exit(abs($hr - $prev) >= $WARM_TOLERANCE)"; then
            break
        fi
        prev="$hr"
    done

    # The measured run; the 4th node joins CHANGE_AT seconds in.
    out="$RUN_DIR/$name.json"
    # Started directly, not through the loadgen function, so that $! is the
    # load generator itself (taskset execs it) and the trap can end it.
    lg_cmd=("$LOADGEN" -s "127.0.0.1:$pp" "${LOAD[@]}" -t "$DURATION" --seed "$((SEED + 100))"
            --timeline-ms "$TIMELINE_MS" --server-pid "$proxy_pid" --json
            --label "$name: 4th node joins at ~${CHANGE_AT}s")
    if [ -n "$LOADGEN_CPUS" ] && command -v taskset >/dev/null; then
        taskset -c "$LOADGEN_CPUS" "${lg_cmd[@]}" >"$out" 2>"$out.log" &
    else
        "${lg_cmd[@]}" >"$out" 2>"$out.log" &
    fi
    lg=$!
    SERVER_PIDS+=("$lg")
    sleep "$CHANGE_AT"
    printf '127.0.0.1:%s\n' "$p1" "$p2" "$p3" "$p4" > "$nodes_file.tmp"
    mv -f "$nodes_file.tmp" "$nodes_file"
    renamed="$(date +%s.%N)"
    first_get="$(stat_wait "$p4" cmd_get 1 5)"
    ring4="$(stat_wait "$pp" ring_nodes 4 1)"
    log "$name: nodes file renamed at $renamed, 4th node's first get at ${first_get:-?}, proxy ring_nodes 4 at ${ring4:-?}"
    wait "$lg" || die "loadgen failed in the measured run (see $out.log)"
    for i in 1 2 3 4; do
        port_var="p$i"
        stats_json "${!port_var}" > "$RUN_DIR/$name-node$i-stats.json"
    done
    stats_json "$pp" > "$RUN_DIR/$name-proxy-stats.json"
    printf '{"renamed": %s, "first_get": %s, "ring_nodes_4": %s, "proxy_warmup": %s}\n' \
        "$renamed" "${first_get:-null}" "${ring4:-null}" \
        "$([ "$warmup" = none ] && echo null || echo "$warmup")" > "$RUN_DIR/$name-change.json"
    for pid in "${pids[@]}"; do stop_server "$pid"; done
done

python3 - "$RUN_DIR" "$RESULTS_DIR/scaleout.json" "$WINDOW" "$WARMUP_FLAG" "$WARMUPS" <<'EOF'
import glob, json, os, sys

run_dir, dest, window, flag, warmups = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1", sys.argv[5].split()

def load(p):
    with open(p) as fh:
        return json.load(fh)

def ratio(points):
    keys = sum(p["get_keys"] for p in points)
    return sum(p["hits"] for p in points) / keys if keys else None

runs = {}
for w in warmups:
    name = "baseline" if w == "none" else f"warmup{w}"
    r = load(os.path.join(run_dir, f"{name}.json"))
    ch = load(os.path.join(run_dir, f"{name}-change.json"))
    t0 = r["started_unix_secs"]
    seen = ch["first_get"] or ch["ring_nodes_4"] or ch["renamed"]
    change = seen - t0
    tl = r["timeline"]
    # Steady state: whole intervals after the first second and before the change.
    before = [p for p in tl if p["t_secs"] >= 1.0 and p["t_secs"] + p["secs"] <= change]
    # After: from the interval holding the change to WINDOW seconds past it.
    after = [p for p in tl if p["t_secs"] + p["secs"] > change and p["t_secs"] < change + window and p["hit_ratio"] is not None]
    steady = ratio(before)
    # Misses beyond the steady-state rate: the database reads the change cost.
    excess = sum(p["misses"] for p in after) - (1 - steady) * sum(p["get_keys"] for p in after) if steady else None
    lo = min((p["hit_ratio"] for p in after), default=None)
    mean = ratio(after)
    time_mean = sum(p["hit_ratio"] for p in after) / len(after) if after else None
    warm = sorted(glob.glob(os.path.join(run_dir, f"{name}-warm*.json")), key=lambda p: int(p.rsplit("warm", 1)[1][:-5]))
    nodes = [load(os.path.join(run_dir, f"{name}-node{i}-stats.json")) for i in (1, 2, 3, 4)]
    runs[name] = {
        "proxy_warmup_secs": ch["proxy_warmup"],
        "change_secs": change,
        "change_seen_by": "first get on the 4th node" if ch["first_get"] else ("proxy ring_nodes" if ch["ring_nodes_4"] else "nodes file rename"),
        "nodes_file_renamed_secs": ch["renamed"] - t0,
        "steady_hit_ratio": steady,
        "after_change": {
            "window_secs": window,
            "min_hit_ratio": lo,
            "mean_hit_ratio": mean,
            "time_mean_hit_ratio": time_mean,
            "min_over_steady": lo / steady if lo is not None and steady else None,
            "mean_over_steady": mean / steady if mean is not None and steady else None,
            "excess_misses": round(excess) if excess is not None else None,
        },
        "hit_ratio": r["hit_ratio"],
        "ops_per_sec": r["ops_per_sec"],
        "errors": r["errors"],
        "proxy_cpu_utilisation": (r.get("server") or {}).get("cpu_utilisation"),
        "warm_up_rounds": [{"hit_ratio": load(p)["hit_ratio"], "ops_per_sec": load(p)["ops_per_sec"], "secs": load(p)["elapsed_secs"]} for p in warm],
        "nodes": [{k: n.get(k) for k in ("curr_items", "evictions", "cmd_get", "get_hits", "get_misses")} for n in nodes],
        "timeline": [{k: p[k] for k in ("t_secs", "secs", "hit_ratio", "gets", "get_keys", "hits", "misses", "sets", "ops_per_sec", "p99_us", "errors")} for p in tl],
    }
first = load(os.path.join(run_dir, ("baseline" if warmups == ["none"] else f"warmup{warmups[0]}") + ".json"))
summary = {
    "what": "hit ratio over time through ringcache proxy when a 4th node joins 3 (nodes file), cache-aside Zipf",
    "machine": load(os.path.join(run_dir, "machine.json")),
    "run_dir": os.path.relpath(run_dir, os.path.dirname(dest)),
    "proxy_has_warmup_flag": flag,
    "workload": {k: first["args"][k] for k in ("connections", "depth", "keys", "key_size", "value_size", "dist", "duration", "timeline_ms")},
    "runs": runs,
}
with open(dest, "w") as fh:
    json.dump(summary, fh, indent=1)
    fh.write("\n")
print(f"{'run':<12} {'steady':>7} {'min':>7} {'mean':>7} {'mean/steady':>11} {'min/steady':>10} {'excess misses':>13}  (the {window:g} s after the change)")
f = lambda v: "-" if v is None else f"{v:.4f}"
for name, r in runs.items():
    a = r["after_change"]
    print(f"{name:<12} {f(r['steady_hit_ratio']):>7} {f(a['min_hit_ratio']):>7} {f(a['mean_hit_ratio']):>7} {f(a['mean_over_steady']):>11} {f(a['min_over_steady']):>10} {a['excess_misses'] if a['excess_misses'] is not None else '-':>13}  change at {r['change_secs']:.2f} s, {r['ops_per_sec']:.0f} ops/s, errors {r['errors']}")
EOF
python3 "$SCRIPTS_DIR/plot.py" "$RESULTS_DIR" "$RESULTS_DIR/scaleout.json"
