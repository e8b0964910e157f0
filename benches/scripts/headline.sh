#!/usr/bin/env bash
# headline.sh — the one command that reproduces the headline table: runs
# ring_balance.sh, crosscheck_memaslap.sh (CROSSCHECK=0 skips it),
# node_vs_memcached.sh, throughput_vs_conns.sh, memory.sh, hit_ratio.sh and
# proxy_vs_nutcracker.sh (PROXY=0 skips it), draws the SVG charts into
# benches/results/plots/ and prints the tables as markdown (also written to
# benches/results/headline-<UTC time>.md).
#
# Usage:  benches/scripts/headline.sh
# Env:    CROSSCHECK=1|0, PROXY=1|0, and everything the individual scripts take
#         (DURATION, REPS, RINGCACHE_BIN, LOADGEN, SERVER_CPUS, ...). REPS
#         applies to every measured script except hit_ratio.sh (HIT_REPS:
#         its trace is deterministic).
# Took 13 minutes with DURATION=3 REPS=3 on a 2-core machine (the documented
# command in benches/RESULTS.md); the scripts' own defaults (5 s, 3-5 reps)
# take about 20.

source "$(dirname "$0")/lib.sh"
ensure_loadgen
ensure_ringcache
export LOADGEN RINGCACHE_BIN CARGO_TARGET_DIR RESULTS_DIR
started=$(date +%s)

"$SCRIPTS_DIR/ring_balance.sh" >/dev/null
if [ "${CROSSCHECK:-1}" = 1 ]; then "$SCRIPTS_DIR/crosscheck_memaslap.sh"; fi
"$SCRIPTS_DIR/node_vs_memcached.sh"
"$SCRIPTS_DIR/throughput_vs_conns.sh"
"$SCRIPTS_DIR/memory.sh"
"$SCRIPTS_DIR/hit_ratio.sh"
if [ "${PROXY:-1}" = 1 ]; then "$SCRIPTS_DIR/proxy_vs_nutcracker.sh"; fi

latest() { find "$RESULTS_DIR" -maxdepth 1 -name "$1-*.json" | sort | tail -1; }
charts=()
for kind in node_vs_memcached throughput_vs_conns memory hit_ratio crosscheck_memaslap ring_balance; do
    f="$(latest "$kind")"; [ -n "$f" ] && charts+=("$f")
done
python3 "$SCRIPTS_DIR/plot.py" "$RESULTS_DIR/plots" "${charts[@]}" >/dev/null
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
python3 "$SCRIPTS_DIR/headline.py" "$RESULTS_DIR" | tee "$RESULTS_DIR/headline-$STAMP.md"
log "headline.sh took $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s"
