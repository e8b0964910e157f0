#!/usr/bin/env bash
# node_vs_memcached.sh — throughput and latency of a ringcache node against
# Debian's memcached, same flags, same load generator, same pinning, A/B
# interleaved.
#
# Scenarios: get-heavy (90:10) and set-heavy (50:50) mixes, 100-byte values,
# 20-byte keys, 50 connections, pipelining depth 1 and 16, server threads 1
# and 2 (`-t`, same `-m` for both). For each thread count both servers are
# started (server on core 0, load generator on core 1), prefilled with every
# key, then each scenario is run REPS times, memcached and ringcache back to
# back, alternating which goes first. Prints per scenario the medians with
# min-max, the ratio ringcache/memcached of the medians and the min-max of
# the per-repetition ratios; writes every report and a summary as JSON.
#
# Closed-loop p99 at saturation mostly restates throughput (Little's law), so
# each mix is also run at a fixed rate (RATES, depth 1) that both servers
# sustain: there p99 is measured from the intended send time and compares
# the servers' latency at equal load.
#
# Usage:  benches/scripts/node_vs_memcached.sh
# Env:    DURATION=5 REPS=3 CONNS=50 KEYS=100000 VALUE_SIZE=100 MB=256
#         THREADS_LIST="1 2" DEPTHS="1 16" MIXES="90:10 50:50"
#         RATES="20000" (fixed-rate scenarios, total ops/s; empty for none)
#         RATE_SPIN=1 (fixed-rate runs busy-wait the last 2 ms before each
#                    send, --spin: without it the generator's timer is
#                    about 1 ms late at p50 and its lag, not the server,
#                    dominates the latency measured from the intended send)
#         SANITY=1   compare memcached with a second memcached instead of
#                    ringcache (the ratio should be ~1.0: a fairness check)
#         plus those of lib.sh (RINGCACHE_BIN, LOADGEN, SERVER_CPUS, ...).
# Output: benches/results/node_vs_memcached-<UTC time>.json (summary) and
#         benches/results/runs/node_vs_memcached-<UTC time>/*.json (each run).
# Takes about 2 x |THREADS_LIST| x |DEPTHS| x |MIXES| x REPS x DURATION
# seconds (8 scenarios x 3 reps x 2 x 5 s = 4 minutes) plus prefills.

source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-5}"
REPS="${REPS:-3}"
CONNS="${CONNS:-50}"
KEYS="${KEYS:-100000}"
VALUE_SIZE="${VALUE_SIZE:-100}"
MB="${MB:-256}"
THREADS_LIST="${THREADS_LIST:-1 2}"
DEPTHS="${DEPTHS:-1 16}"
MIXES="${MIXES:-90:10 50:50}"
RATES="${RATES-20000}"
RATE_SPIN="${RATE_SPIN:-1}"
spin_arg=""
if [ "$RATE_SPIN" = 1 ]; then spin_arg="--spin"; fi
SANITY="${SANITY:-0}"

ensure_memcached
ensure_loadgen
if [ "$SANITY" = 1 ]; then B_NAME=memcached-b; else B_NAME=ringcache; ensure_ringcache; fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
NAME="node_vs_memcached"; [ "$SANITY" = 1 ] && NAME="memcached_vs_memcached"
RUN_DIR="$RESULTS_DIR/runs/$NAME-$STAMP"
mkdir -p "$RUN_DIR"
REPO_DIR="$REPO_DIR" machine_json > "$RUN_DIR/machine.json"
log "results in $RUN_DIR"

common=(--keys "$KEYS" --key-size 20 --value-size "$VALUE_SIZE" -q --json)

for threads in $THREADS_LIST; do
    port_a=$BASE_PORT; port_b=$((BASE_PORT + 1))
    start_server memcached "$port_a" "$(memcached_cmd "$port_a" "$MB" "$threads")"
    pid_a=$SERVER_PID
    if [ "$SANITY" = 1 ]; then
        start_server "$B_NAME" "$port_b" "$(memcached_cmd "$port_b" "$MB" "$threads")"
    else
        start_server "$B_NAME" "$port_b" "$(ringcache_cmd "$port_b" "$MB" "$threads")"
    fi
    pid_b=$SERVER_PID
    for target in "$port_a" "$port_b"; do
        loadgen -s "127.0.0.1:$target" -c 8 --prefill --requests 0 "${common[@]}" \
            >"$RUN_DIR/prefill-t$threads-$target.log" 2>&1 || die "prefill of port $target failed"
    done
    for rep in $(seq 1 "$REPS"); do
        for load in $DEPTHS $(for r in $RATES; do echo "rate$r"; done); do
            for mix in $MIXES; do
                case "$load" in
                    rate*) scenario="t${threads}_${load}_mix${mix/:/-}"; load_args=(-d 1 --rate "${load#rate}" $spin_arg) ;;
                    *) scenario="t${threads}_d$(printf %02d "$load")_mix${mix/:/-}"; load_args=(-d "$load") ;;
                esac
                if [ $((rep % 2)) = 1 ]; then order="a b"; else order="b a"; fi
                for which in $order; do
                    if [ "$which" = a ]; then srv=memcached; port=$port_a; pid=$pid_a
                    else srv=$B_NAME; port=$port_b; pid=$pid_b; fi
                    out="$RUN_DIR/${scenario}__${srv}__r${rep}.json"
                    loadgen -s "127.0.0.1:$port" -c "$CONNS" "${load_args[@]}" --mix "$mix" \
                        -t "$DURATION" --seed "$rep" --server-pid "$pid" \
                        --label "$scenario $srv rep $rep" "${common[@]}" >"$out" 2>"$out.log" \
                        || log "loadgen failed for $scenario $srv (see $out.log)"
                    log "$scenario $srv rep $rep: $(json_get "$out" '["ops_per_sec"]' 2>/dev/null | cut -d. -f1) ops/s, p99 $(json_get "$out" '["latency_us"]["p99"]' 2>/dev/null) us"
                done
            done
        done
    done
    stop_server "$pid_a"; stop_server "$pid_b"
done

SUMMARY_KEYS="${SUMMARY_KEYS:-ops_per_sec,p99_us,server_cpu_us_per_op,server_cpu_utilisation,loadgen_cpu_utilisation,errors}" \
    python3 "$SCRIPTS_DIR/summarize.py" "$RUN_DIR" memcached "$RESULTS_DIR/$NAME-$STAMP.json"
