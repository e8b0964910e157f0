#!/usr/bin/env bash
# throughput_vs_conns.sh — ops/s and server CPU per op of a ringcache node
# against Debian's memcached as the number of client connections grows.
#
# Both servers run side by side (same flags, `-t THREADS`, on core 0), are
# prefilled with every key, and the load generator (core 1) runs a closed
# loop at pipelining depth 1 with CONNS_LIST connections, 90:10 get:set by
# default. For every repetition and every connection count the two servers
# are measured back to back, alternating which goes first; the connection
# counts are visited in increasing order in odd repetitions and decreasing
# order in even ones, so a drift of the machine's load over the run falls on
# both servers and on both ends of the curve.
#
# Usage:  benches/scripts/throughput_vs_conns.sh
# Env:    CONNS_LIST="1 4 16 64 256" DURATION=3 REPS=3 MIX=90:10 THREADS=1
#         KEYS=100000 VALUE_SIZE=100 MB=256
#         SANITY=1 (a second memcached instead of ringcache: ratios ~1.0)
#         plus those of lib.sh (RINGCACHE_BIN, LOADGEN, SERVER_CPUS, ...).
# Output: benches/results/throughput_vs_conns-<UTC time>.json (summary; one
#         scenario per connection count, named c0001, c0004, ...) and
#         benches/results/runs/throughput_vs_conns-<UTC time>/ (each run).
#         `plot.py` draws ops/s, CPU/op and the ratio against connections.
# Takes about 2 x |CONNS_LIST| x REPS x DURATION seconds plus prefills
# (~2 minutes with the defaults).

source "$(dirname "$0")/lib.sh"

CONNS_LIST="${CONNS_LIST:-1 4 16 64 256}"
DURATION="${DURATION:-3}"
REPS="${REPS:-3}"
MIX="${MIX:-90:10}"
THREADS="${THREADS:-1}"
KEYS="${KEYS:-100000}"
VALUE_SIZE="${VALUE_SIZE:-100}"
MB="${MB:-256}"
SANITY="${SANITY:-0}"

ensure_memcached
ensure_loadgen
if [ "$SANITY" = 1 ]; then B_NAME=memcached-b; else B_NAME=ringcache; ensure_ringcache; fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
NAME="throughput_vs_conns"; [ "$SANITY" = 1 ] && NAME="throughput_vs_conns_sanity"
RUN_DIR="$RESULTS_DIR/runs/$NAME-$STAMP"
mkdir -p "$RUN_DIR"
REPO_DIR="$REPO_DIR" machine_json > "$RUN_DIR/machine.json"
log "results in $RUN_DIR"

common=(--keys "$KEYS" --key-size 20 --value-size "$VALUE_SIZE" -q --json)

port_a=$BASE_PORT; port_b=$((BASE_PORT + 1))
start_server memcached "$port_a" "$(memcached_cmd "$port_a" "$MB" "$THREADS")"
pid_a=$SERVER_PID
if [ "$SANITY" = 1 ]; then
    start_server "$B_NAME" "$port_b" "$(memcached_cmd "$port_b" "$MB" "$THREADS")"
else
    start_server "$B_NAME" "$port_b" "$(ringcache_cmd "$port_b" "$MB" "$THREADS")"
fi
pid_b=$SERVER_PID
for target in "$port_a" "$port_b"; do
    loadgen -s "127.0.0.1:$target" -c 8 --prefill --requests 0 "${common[@]}" \
        >"$RUN_DIR/prefill-$target.log" 2>&1 || die "prefill of port $target failed"
done

for rep in $(seq 1 "$REPS"); do
    conns_order="$CONNS_LIST"
    if [ $((rep % 2)) = 0 ]; then conns_order="$(echo "$CONNS_LIST" | tr ' ' '\n' | tac | tr '\n' ' ')"; fi
    for conns in $conns_order; do
        scenario="c$(printf %04d "$conns")"
        if [ $((rep % 2)) = 1 ]; then order="a b"; else order="b a"; fi
        for which in $order; do
            if [ "$which" = a ]; then srv=memcached; port=$port_a; pid=$pid_a
            else srv=$B_NAME; port=$port_b; pid=$pid_b; fi
            out="$RUN_DIR/${scenario}__${srv}__r${rep}.json"
            loadgen -s "127.0.0.1:$port" -c "$conns" -d 1 --mix "$MIX" -t "$DURATION" --seed "$rep" \
                --server-pid "$pid" --label "$scenario $srv rep $rep" "${common[@]}" >"$out" 2>"$out.log" \
                || log "loadgen failed for $scenario $srv (see $out.log)"
            log "$scenario $srv rep $rep: $(json_get "$out" '["ops_per_sec"]' 2>/dev/null | cut -d. -f1) ops/s, server $(json_get "$out" '["server"]["cpu_us_per_op"]' 2>/dev/null | cut -c1-5) us/op"
        done
    done
done
stop_server "$pid_a"; stop_server "$pid_b"

SUMMARY_KEYS="${SUMMARY_KEYS:-ops_per_sec,p99_us,server_cpu_us_per_op,server_cpu_utilisation,loadgen_cpu_utilisation,errors}" \
    python3 "$SCRIPTS_DIR/summarize.py" "$RUN_DIR" memcached "$RESULTS_DIR/$NAME-$STAMP.json"
