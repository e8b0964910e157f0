#!/usr/bin/env bash
# ring_balance.sh — how evenly ringcache's ring spreads keys: keys per node
# relative to the mean, for 10 and 100 weight-1 nodes, xxh3 (4,096 points
# per node) against ketama (libmemcached's 160 points per node, or 156).
#
# Runs `ringcache-ring-balance` (benches/src/bin/ring_balance.rs), which
# counts KEYS keys in the load generator's format per owner and computes
# each node's exact share of the hash circle; nothing is timed, no server is
# started, and the figures are the same on every machine. Then draws the
# histograms with plot.py.
#
# Usage:  benches/scripts/ring_balance.sh
# Env:    NODES=10,100 KEYS=10000000 KEY_SIZE=20
#         RING_BALANCE (path of the binary; default: build it)
#         RESULTS_DIR, CARGO_TARGET_DIR as in lib.sh.
# Output: benches/results/ring_balance-<UTC time>.json and
#         benches/results/plots/ring_balance-<UTC time>-n<nodes>.svg
# Takes a few seconds (plus the build).

source "$(dirname "$0")/lib.sh"

NODES="${NODES:-10,100}"
KEYS="${KEYS:-10000000}"
KEY_SIZE="${KEY_SIZE:-20}"

if [ -z "${RING_BALANCE:-}" ]; then
    log "building ringcache-ring-balance (release) into $CARGO_TARGET_DIR"
    (cd "$REPO_DIR" && cargo build --release --quiet -p ringcache-benches --bin ringcache-ring-balance) \
        || die "cannot build ringcache-ring-balance"
    RING_BALANCE="$CARGO_TARGET_DIR/release/ringcache-ring-balance"
fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
out="$RESULTS_DIR/ring_balance-$STAMP.json"
"$RING_BALANCE" --nodes "$NODES" --keys "$KEYS" --key-size "$KEY_SIZE" >"$out.tmp" || die "ringcache-ring-balance failed"
# Add the machine block the other summaries carry (commit, date).
REPO_DIR="$REPO_DIR" machine_json | python3 -c '
import json, sys
machine = json.load(sys.stdin)
d = json.load(open(sys.argv[1]))
d["machine"] = machine
json.dump(d, open(sys.argv[2], "w"), indent=1)
' "$out.tmp" "$out"
rm -f "$out.tmp"
log "wrote $out"
python3 "$SCRIPTS_DIR/plot.py" "$RESULTS_DIR/plots" "$out"
