#!/usr/bin/env bash
# crosscheck_memaslap.sh — checks ringcache-loadgen against an established
# load generator, memaslap (`memcaslap` from Debian's libmemcached-tools), on
# the same memcached with the same workload; the two should agree within 10%.
#
# Workload: 50 connections, one request in flight each, 90% get / 10% set,
# 20-byte keys, 100-byte values, all gets hitting (memaslap only reads keys it
# has written; the load generator prefills KEYS keys). memcached -t 1 on core
# 0, the load generator on core 1. REPS runs of each, interleaved, DURATION s
# each. Compares ops/s and the server's CPU time per operation (read from
# /proc around each run), which does not depend on the load generator's own
# cost.
#
# Usage:  benches/scripts/crosscheck_memaslap.sh
# Env:    DURATION=5 REPS=5 CONNS=50 KEYS=500000 MB=256
#         plus those of lib.sh (LOADGEN, SERVER_CPUS, LOADGEN_CPUS, ...).
# Output: benches/results/crosscheck_memaslap-<UTC time>.json

source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-5}"
REPS="${REPS:-5}"
CONNS="${CONNS:-50}"
KEYS="${KEYS:-500000}"
MB="${MB:-256}"
MEMASLAP="${MEMASLAP:-$(command -v memcaslap || command -v memaslap || true)}"
[ -n "$MEMASLAP" ] || die "memaslap not found (apt-get install libmemcached-tools)"

ensure_memcached
ensure_loadgen

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_DIR="$RESULTS_DIR/runs/crosscheck_memaslap-$STAMP"
mkdir -p "$RUN_DIR"
REPO_DIR="$REPO_DIR" machine_json > "$RUN_DIR/machine.json"

cfg="$RUN_DIR/memaslap.cfg"
cat >"$cfg" <<CFG
key
20 20 1
value
100 100 1
cmd
0 0.1
1 0.9
CFG

port=$BASE_PORT
start_server memcached "$port" "$(memcached_cmd "$port" "$MB" 1)"
pid=$SERVER_PID
loadgen -s "127.0.0.1:$port" -c 8 --prefill --requests 0 --keys "$KEYS" --value-size 100 -q --json \
    >"$RUN_DIR/prefill.log" 2>&1 || die "prefill failed"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

for rep in $(seq 1 "$REPS"); do
    if [ $((rep % 2)) = 1 ]; then order="memaslap loadgen"; else order="loadgen memaslap"; fi
    for tool in $order; do
        if [ "$tool" = memaslap ]; then
            t0=$(cpu_ticks "$pid")
            pinned "$LOADGEN_CPUS" "$MEMASLAP" -s "127.0.0.1:$port" -F "$cfg" -T 1 -c "$CONNS" \
                -t "${DURATION}s" >"$RUN_DIR/memaslap-r$rep.txt" 2>&1 || log "memaslap failed (rep $rep)"
            t1=$(cpu_ticks "$pid")
            python3 - "$RUN_DIR/memaslap-r$rep.txt" "$RUN_DIR/mix90-10__memaslap__r$rep.json" "$((t1 - t0))" "$hz" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
ticks, hz = int(sys.argv[3]), int(sys.argv[4])
m = re.search(r"Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)", text)
misses = re.search(r"get_misses: (\d+)", text)
r = {"tool": "memaslap", "ops_per_sec": None, "errors": None}
if m:
    secs, ops, tps = float(m.group(1)), int(m.group(2)), int(m.group(3))
    r.update(ops=ops, elapsed_secs=secs, ops_per_sec=tps, errors=0,
             get_misses=int(misses.group(1)) if misses else None,
             server={"cpu_secs": ticks / hz, "cpu_us_per_op": ticks / hz * 1e6 / ops if ops else None})
json.dump(r, open(sys.argv[2], "w"), indent=1)
PY
        else
            out="$RUN_DIR/mix90-10__loadgen__r$rep.json"
            loadgen -s "127.0.0.1:$port" -c "$CONNS" -d 1 --mix 90:10 --keys "$KEYS" --key-size 20 \
                --value-size 100 -t "$DURATION" --seed "$rep" --server-pid "$pid" -q --json \
                >"$out" 2>"$out.log" || log "loadgen failed (rep $rep)"
        fi
        log "rep $rep $tool: $(json_get "$RUN_DIR/mix90-10__${tool}__r$rep.json" '["ops_per_sec"]' 2>/dev/null) ops/s, server $(json_get "$RUN_DIR/mix90-10__${tool}__r$rep.json" '["server"]["cpu_us_per_op"]' 2>/dev/null) us/op"
    done
done
stop_server "$pid"

SUMMARY_KEYS="ops_per_sec,server_cpu_us_per_op,errors" \
    python3 "$SCRIPTS_DIR/summarize.py" "$RUN_DIR" memaslap "$RESULTS_DIR/crosscheck_memaslap-$STAMP.json"
