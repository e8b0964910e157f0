#!/usr/bin/env bash
# crosscheck_memaslap.sh — checks ringcache-loadgen against an established
# load generator, memaslap (`memcaslap` from Debian's libmemcached-tools), on
# the same memcached with the same workload; the two should agree within 10%.
#
# Both tools are measured the same way, from the server's side:
# server_window.py starts the tool and polls memcached's `stats` every
# 100 ms; over a window of DURATION seconds it takes ops/s from the
# server's cmd_get + cmd_set and the server's CPU per op from its
# rusage_user + rusage_system. The window opens 1 s after the first get
# (memaslap's warm-up sets are left out) and, where memaslap first fills its
# key windows, not before that is done. The tools' own figures are kept too
# (`tool_ops_per_sec`), but memaslap's TPS counts its untimed warm-up sets
# (ms_main.c divides cmd_get + cmd_set by the timed run only), so for
# get-only runs the script takes memaslap's cmd_get / run time instead.
#
# What memaslap does (contrib/bin/memaslap/ms_task.c in libmemcached): each
# of its C connections keeps a window of W keys (-w, default 10k = 10,240).
# A get picks a random key among those this connection has already set in
# this run; a set writes a *new* key (it replaces the window slot's key), so
# nothing is ever overwritten and no get misses. With sets in the mix it
# warms nothing up: at the start no key is set and the working set of its
# gets grows from zero (at 160k ops/s, 90:10, 50 connections: ~320 new keys
# per connection per second). With 100% gets it first sets all C x W keys
# (untimed) and then reads them uniformly. The scenarios:
#
#   get_512k     like for like. 100% get, all hits, uniform over 512,000
#                keys: memaslap -w 10k (50 x 10,240 keys, preset by its
#                warm-up); the load generator over 512,000 prefilled keys.
#   mix_51k      like for like, 90:10: memaslap -w 1k (50 x 1,024 keys),
#                window opened once memcached holds 51,200 more items than
#                at the first get (every connection's key window is full);
#                the load generator 90:10 over 51,200 prefilled keys. Left
#                unmatched: memaslap's sets add new keys, ours overwrite.
#   mix_legacy   the comparison this script made before (ratio x0.85): memaslap
#                -w 10k 90:10 against the load generator 90:10 over 500,000
#                keys. Not like for like: memaslap's gets only reach the keys
#                it set in the run (tens of thousands), ours all 500,000.
#
# All: 50 connections, one request in flight each, 20-byte keys, 100-byte
# values, one client thread (memaslap -T 1, loadgen --threads 1), memcached
# -t 1 -m 1024 -o hashpower=22 (no hash-table growth during a run; memaslap
# adds new keys every run) on core 0, the tools on core 1. REPS runs of each
# tool per scenario, interleaved (memaslap first in odd repetitions).
#
# SPIN=1 (the default) keeps the tools' core from going idle with a
# SCHED_IDLE busy loop (`chrt --idle 0`), which yields to the tool whenever
# it is runnable. Whenever a tool waits for a reply its core would otherwise
# halt, and on a VM waking a halted vCPU is slow and erratic; the spinner
# takes that out of both tools' figures and narrows the spread.
#
# Usage:  benches/scripts/crosscheck_memaslap.sh
# Env:    DURATION=3 REPS=5 CONNS=50 SCENARIOS="get_512k mix_51k mix_legacy" SPIN=1
#         plus those of lib.sh (LOADGEN, SERVER_CPUS, LOADGEN_CPUS, ...).
# Output: benches/results/crosscheck_memaslap-<UTC time>.json (summary; ratio
#         is loadgen / memaslap) and benches/results/runs/crosscheck_memaslap-<time>/.
# Takes about REPS x 2 x (DURATION + 3) s per scenario (~3 min by default).

source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-3}"
REPS="${REPS:-5}"
CONNS="${CONNS:-50}"
SCENARIOS="${SCENARIOS:-get_512k mix_51k mix_legacy}"
SPIN="${SPIN:-1}"
MEMASLAP="${MEMASLAP:-$(command -v memcaslap || command -v memaslap || true)}"
[ -n "$MEMASLAP" ] || die "memaslap not found (apt-get install libmemcached-tools)"

ensure_memcached
ensure_loadgen

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_DIR="$RESULTS_DIR/runs/crosscheck_memaslap-$STAMP"
mkdir -p "$RUN_DIR"
REPO_DIR="$REPO_DIR" machine_json | python3 -c '
import json, sys
m = json.load(sys.stdin)
m["spin"] = sys.argv[1] == "1"
print(json.dumps(m))' "$SPIN" > "$RUN_DIR/machine.json"
log "results in $RUN_DIR"

# memaslap's configuration: key and value sizes, then cmd 0 (set) and 1 (get).
memaslap_cfg() {
    printf 'key\n20 20 1\nvalue\n100 100 1\ncmd\n0 %s\n1 %s\n' "$1" "$2" >"$RUN_DIR/memaslap-$3.cfg"
    echo "$RUN_DIR/memaslap-$3.cfg"
}
cfg_get="$(memaslap_cfg 0 1 get)"
cfg_mix="$(memaslap_cfg 0.1 0.9 mix)"

# One memcached for the whole run: prefilled once with the 512,000 keys the
# load generator reads (the 51,200 and 500,000 of the other scenarios are
# the first ids of the same keys).
port=$BASE_PORT
start_server memcached "$port" "$(memcached_cmd "$port" 1024 1 -o hashpower=22)"
pid=$SERVER_PID
loadgen -s "127.0.0.1:$port" -c 8 --prefill --requests 0 --keys 512000 --key-size 20 --value-size 100 \
    -q --json >"$RUN_DIR/prefill.log" 2>&1 || die "prefill failed"

# window TOOL SCENARIO REP SKIP_ITEMS COMMAND...: one measured run.
window() {
    local tool="$1" scenario="$2" rep="$3" skip_items="$4"; shift 4
    local out="$RUN_DIR/${scenario}__${tool}__r$rep.json"
    python3 "$SCRIPTS_DIR/server_window.py" --port "$port" --server-pid "$pid" --skip 1 \
        --skip-items "$skip_items" --measure "$DURATION" --out "$out" \
        --tool-out "$RUN_DIR/${scenario}__${tool}__r$rep.out" --tool "$tool" \
        --label "$scenario $tool rep $rep" -- "$@" || log "no measurement window for $scenario $tool rep $rep"
    # The tool's own figure, beside the server's.
    python3 - "$out" "$RUN_DIR/${scenario}__${tool}__r$rep.out" "$tool" <<'PY'
import json, re, sys
out, raw, tool = sys.argv[1:]
r = json.load(open(out))
text = open(raw).read()
own = None
if tool == "memaslap":
    m = re.search(r"Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)", text)
    g = re.search(r"cmd_get: (\d+)", text)
    s = re.search(r"cmd_set: (\d+)", text)
    if m:
        r["memaslap"] = {"run_secs": float(m.group(1)), "ops": int(m.group(2)), "tps": int(m.group(3)),
                         "cmd_get": int(g.group(1)) if g else None, "cmd_set": int(s.group(1)) if s else None}
        # Get-only: the TPS includes the untimed warm-up sets.
        own = int(g.group(1)) / float(m.group(1)) if g and "set_prop=0.00" in text else int(m.group(3))
else:
    try:
        own = json.loads(text)["ops_per_sec"]
    except (ValueError, KeyError):
        pass
r["tool_ops_per_sec"] = own
json.dump(r, open(out, "w"), indent=1)
PY
    log "$scenario $tool rep $rep: $(json_get "$out" '["ops_per_sec"]' 2>/dev/null | cut -d. -f1) ops/s (server), server $(json_get "$out" '["server"]["cpu_us_per_op"]' 2>/dev/null | cut -c1-5) us/op, client util $(json_get "$out" '["client_cpu_utilisation"]' 2>/dev/null | cut -c1-4), own $(json_get "$out" '["tool_ops_per_sec"]' 2>/dev/null | cut -d. -f1) ops/s"
}

# The tools run pinned; server_window.py starts them, so taskset is spelled out.
PIN=()
if [ -n "$LOADGEN_CPUS" ] && command -v taskset >/dev/null; then PIN=(taskset -c "$LOADGEN_CPUS"); fi

run_memaslap() { # SCENARIO REP
    local secs=$((DURATION + 3)) skip_items=0 cfg=$cfg_mix win=10k
    case "$1" in
        get_512k) cfg=$cfg_get ;;
        mix_51k) win=1k; skip_items=$((CONNS * 1024)); secs=$((DURATION + 12)) ;;
    esac
    window memaslap "$1" "$2" "$skip_items" "${PIN[@]}" "$MEMASLAP" -s "127.0.0.1:$port" \
        -F "$cfg" -T 1 -c "$CONNS" -w "$win" -t "${secs}s"
}

run_loadgen() { # SCENARIO REP
    local keys=500000 mix=90:10
    case "$1" in
        get_512k) keys=512000; mix=100:0 ;;
        mix_51k) keys=51200 ;;
    esac
    window loadgen "$1" "$2" 0 "${PIN[@]}" "$LOADGEN" -s "127.0.0.1:$port" -c "$CONNS" -d 1 \
        --mix "$mix" --keys "$keys" --key-size 20 --value-size 100 -t $((DURATION + 2)) --seed "$2" -q --json
}

if [ "$SPIN" = 1 ]; then
    command -v chrt >/dev/null || die "SPIN=1 needs chrt (util-linux)"
    # Killed on exit with the servers (lib.sh's trap).
    chrt --idle 0 "${PIN[@]}" sh -c 'while :; do :; done' &
    SERVER_PIDS+=("$!")
    log "spinner (SCHED_IDLE) on the tools' core: pid $!"
fi

for scenario in $SCENARIOS; do
    for rep in $(seq 1 "$REPS"); do
        if [ $((rep % 2)) = 1 ]; then order="memaslap loadgen"; else order="loadgen memaslap"; fi
        for tool in $order; do "run_$tool" "$scenario" "$rep"; done
    done
done
stop_server "$pid"

SUMMARY_KEYS="ops_per_sec,server_cpu_us_per_op,server_sys_us_per_op,server_sleeps_per_op,server_cpu_utilisation,client_cpu_utilisation,client_sleeps_per_op,tcp_segments_per_op,server_reads_per_op,client_reads_per_op,tool_ops_per_sec" \
    python3 "$SCRIPTS_DIR/summarize.py" "$RUN_DIR" memaslap "$RESULTS_DIR/crosscheck_memaslap-$STAMP.json"
