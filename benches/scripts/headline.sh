#!/usr/bin/env bash
# headline.sh — the one command that reproduces the headline table: runs
# node_vs_memcached.sh, memory.sh, hit_ratio.sh and proxy_vs_nutcracker.sh
# (PROXY=0 skips the last; CROSSCHECK=1 runs crosscheck_memaslap.sh first),
# draws the SVG charts into
# benches/results/plots/ and prints the table as markdown
# (also written to benches/results/headline-<UTC time>.md).
#
# Usage:  benches/scripts/headline.sh
# Env:    CROSSCHECK=0|1, PROXY=1|0, and everything the individual scripts take
#         (DURATION, REPS, RINGCACHE_BIN, LOADGEN, SERVER_CPUS, ...).
# Takes about 18 minutes with the defaults on a 2-core machine.

source "$(dirname "$0")/lib.sh"
ensure_loadgen
ensure_ringcache
export LOADGEN RINGCACHE_BIN CARGO_TARGET_DIR RESULTS_DIR

if [ "${CROSSCHECK:-0}" = 1 ]; then "$SCRIPTS_DIR/crosscheck_memaslap.sh"; fi
"$SCRIPTS_DIR/node_vs_memcached.sh"
"$SCRIPTS_DIR/memory.sh"
"$SCRIPTS_DIR/hit_ratio.sh"
if [ "${PROXY:-1}" = 1 ]; then "$SCRIPTS_DIR/proxy_vs_nutcracker.sh"; fi

latest() { find "$RESULTS_DIR" -maxdepth 1 -name "$1-*.json" | sort | tail -1; }
python3 "$SCRIPTS_DIR/plot.py" "$RESULTS_DIR/plots" \
    "$(latest node_vs_memcached)" "$(latest memory)" "$(latest hit_ratio)" >/dev/null
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
python3 "$SCRIPTS_DIR/headline.py" "$RESULTS_DIR" | tee "$RESULTS_DIR/headline-$STAMP.md"
