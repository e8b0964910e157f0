#!/usr/bin/env bash
# hit_ratio.sh — hit ratio of a ringcache node (each eviction policy) against
# Debian's memcached (LRU) at the same `-m`, on the same cache-aside traces.
#
# The load generator replays a seeded cache-aside trace: `get`, and on a miss
# `set` the key with a VALUE_SIZE value (the load from the database). It runs
# one connection in lock-step batches of DEPTH gets, so every server sees the
# same sequence of requests. Two traces:
#   zipf  Zipf(ZIPF_S) over KEYS keys;
#   scan  the same, plus every SCAN_EVERY requests a scan of SCAN_LEN keys in
#         sequence (a batch job sweeping the key space); both the overall hit
#         ratio and the one outside scans are reported.
# The key space is far larger than `-m` holds (1M keys x ~200 B against 16 MB),
# so the policy decides what stays. Every server starts empty; the first
# WARMUP requests of the trace fill it and are not counted.
#
# Usage:  benches/scripts/hit_ratio.sh
# Env:    MB="4 8 16 32 64" (the -m values of the zipf trace: the hit ratio
#         vs cache size curve) SCAN_MB=16 (those of the scan trace)
#         KEYS=1000000 REQUESTS=2000000 WARMUP=1000000 DEPTH=64
#         VALUE_SIZE=100 ZIPF_S=0.99 SCAN_EVERY=100000 SCAN_LEN=30000 SEED=1
#         HIT_REPS=1 (repetitions; the trace is the same each time, and so,
#         in every run so far, is the hit ratio; REPS is not read, so that
#         headline.sh's REPS does not triple this script)
#         TRACES="zipf scan" POLICIES="tinylfu lru" THREADS=1
#         SANITY=1 (a second memcached instead of ringcache: ratio ~1.0)
#         plus those of lib.sh (RINGCACHE_BIN, LOADGEN, SERVER_CPUS, ...).
#         If the node has no --eviction flag, its default policy is measured.
# Output: benches/results/hit_ratio-<UTC time>.json
# Takes about (1 + |POLICIES|) x (|MB| + |SCAN_MB|) x HIT_REPS x 10 s on a
# 2-core box (2.5 minutes with the defaults on 2026-11-25).

source "$(dirname "$0")/lib.sh"

MB="${MB:-4 8 16 32 64}"
SCAN_MB="${SCAN_MB:-16}"
KEYS="${KEYS:-1000000}"
REQUESTS="${REQUESTS:-2000000}"
WARMUP="${WARMUP:-1000000}"
DEPTH="${DEPTH:-64}"
VALUE_SIZE="${VALUE_SIZE:-100}"
ZIPF_S="${ZIPF_S:-0.99}"
SCAN_EVERY="${SCAN_EVERY:-100000}"
SCAN_LEN="${SCAN_LEN:-30000}"
SEED="${SEED:-1}"
REPS="${HIT_REPS:-1}"
TRACES="${TRACES:-zipf scan}"
POLICIES="${POLICIES:-tinylfu lru}"
THREADS="${THREADS:-1}"
SANITY="${SANITY:-0}"

ensure_memcached
ensure_loadgen
SERVERS="memcached"
if [ "$SANITY" = 1 ]; then
    SERVERS="memcached memcached-b"
else
    ensure_ringcache
    if "$RINGCACHE_BIN" node --help 2>/dev/null | grep -q -- '--eviction'; then
        for p in $POLICIES; do SERVERS="$SERVERS ringcache-$p"; done
    else
        log "ringcache node has no --eviction flag: measuring its default policy only"
        SERVERS="$SERVERS ringcache-default"
    fi
fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
NAME="hit_ratio"; [ "$SANITY" = 1 ] && NAME="hit_ratio_sanity"
RUN_DIR="$RESULTS_DIR/runs/$NAME-$STAMP"
mkdir -p "$RUN_DIR"
REPO_DIR="$REPO_DIR" machine_json > "$RUN_DIR/machine.json"
log "results in $RUN_DIR; servers: $SERVERS"

port=$BASE_PORT
for rep in $(seq 1 "$REPS"); do
  for trace in $TRACES; do
    sizes="$MB"; [ "$trace" = scan ] && sizes="$SCAN_MB"
    for mb in $sizes; do
        trace_args=(--dist "zipf:$ZIPF_S")
        if [ "$trace" = scan ]; then trace_args+=(--scan-every "$SCAN_EVERY" --scan-len "$SCAN_LEN"); fi
        # Alternate the order of the servers between repetitions.
        order="$SERVERS"
        if [ $((rep % 2)) = 0 ]; then order="$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')"; fi
        for srv in $order; do
            port=$((port + 1))
            case "$srv" in
                memcached|memcached-b) cmd="$(memcached_cmd "$port" "$mb" "$THREADS")" ;;
                ringcache-default) cmd="$(ringcache_cmd "$port" "$mb" "$THREADS")" ;;
                ringcache-*) cmd="$(ringcache_cmd "$port" "$mb" "$THREADS" --eviction "${srv#ringcache-}")" ;;
            esac
            start_server "$srv" "$port" "$cmd"
            pid=$SERVER_PID
            scenario="${trace}_m$(printf %03d "$mb")"
            out="$RUN_DIR/${scenario}__${srv}__r${rep}.json"
            loadgen -s "127.0.0.1:$port" -c 1 -d "$DEPTH" --cache-aside \
                --keys "$KEYS" --key-size 20 --value-size "$VALUE_SIZE" "${trace_args[@]}" \
                --requests "$REQUESTS" --warmup-requests "$WARMUP" --seed "$SEED" \
                --server-pid "$pid" -q --json --label "$scenario $srv rep $rep" \
                >"$out" 2>"$out.log" || log "loadgen failed for $scenario $srv (see $out.log)"
            log "$scenario $srv: hit ratio $(json_get "$out" '["hit_ratio"]' 2>/dev/null), outside scans $(json_get "$out" '["non_scan_hit_ratio"]' 2>/dev/null), errors $(json_get "$out" '["errors"]' 2>/dev/null)"
            stop_server "$pid"
        done
    done
  done
done

SUMMARY_KEYS="hit_ratio,non_scan_hit_ratio,curr_items,ops_per_sec,server_cpu_us_per_op,errors" \
    python3 "$SCRIPTS_DIR/summarize.py" "$RUN_DIR" memcached "$RESULTS_DIR/$NAME-$STAMP.json"
