#!/usr/bin/env bash
# memory.sh — resident memory per item of a ringcache node against Debian's
# memcached, same flags.
#
# Two stores: 1,000,000 items of 20-byte keys and 100-byte values, and 100,000
# items of 4 KB values, each into a fresh server started with a `-m` large
# enough that nothing is evicted (default 1024). For each: the RSS (VmRSS) of
# the empty process, the RSS after the load generator has set every key
# (checked against `stats` curr_items and evictions), RSS per item both
# absolute and above the empty process, and the ratio ringcache/memcached.
# memcached is the baseline of every ratio.
#
# Usage:  benches/scripts/memory.sh
# Env:    MB=1024 THREADS=1 REPS=1 SETTLE=1 (seconds to wait before reading RSS)
#         SANITY=1 (a second memcached instead of ringcache: ratio ~1.0)
#         plus those of lib.sh (RINGCACHE_BIN, LOADGEN, SERVER_CPUS, ...).
# Output: benches/results/memory-<UTC time>.json
# Takes well under a minute.

source "$(dirname "$0")/lib.sh"

MB="${MB:-1024}"
THREADS="${THREADS:-1}"
REPS="${REPS:-1}"
SETTLE="${SETTLE:-1}"
SANITY="${SANITY:-0}"

ensure_memcached
ensure_loadgen
if [ "$SANITY" = 1 ]; then B_NAME=memcached-b; else B_NAME=ringcache; ensure_ringcache; fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
NAME="memory"; [ "$SANITY" = 1 ] && NAME="memory_sanity"
RUN_DIR="$RESULTS_DIR/runs/$NAME-$STAMP"
mkdir -p "$RUN_DIR"
REPO_DIR="$REPO_DIR" machine_json > "$RUN_DIR/machine.json"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# name items value_size
WORKLOADS=("1m_100b 1000000 100" "100k_4k 100000 4096")

port=$BASE_PORT
for rep in $(seq 1 "$REPS"); do
    for w in "${WORKLOADS[@]}"; do
        read -r wname items vsize <<<"$w"
        if [ $((rep % 2)) = 1 ]; then order="memcached $B_NAME"; else order="$B_NAME memcached"; fi
        for srv in $order; do
            port=$((port + 1))
            if [ "$srv" = ringcache ]; then cmd="$(ringcache_cmd "$port" "$MB" "$THREADS")"
            else cmd="$(memcached_cmd "$port" "$MB" "$THREADS")"; fi
            start_server "$srv" "$port" "$cmd"
            pid=$SERVER_PID
            sleep "$SETTLE"
            empty=$(rss_kib "$pid")
            out="$RUN_DIR/${wname}__${srv}__r${rep}.json"
            loadgen -s "127.0.0.1:$port" -c 8 --prefill --prefill-depth 64 --requests 0 \
                --keys "$items" --key-size 20 --value-size "$vsize" \
                --server-pid "$pid" -q --json --label "$wname $srv" >"$out.tmp" 2>"$out.log" \
                || die "load of $srv failed (see $out.log)"
            sleep "$SETTLE"
            full=$(rss_kib "$pid")
            python3 - "$out.tmp" "$out" "$empty" "$full" "$items" <<'PY'
import json, sys
src, dst, empty, full, items = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r = json.load(open(src))
st = r.get("server_stats", {})
r["memory"] = {
    "items_wanted": items,
    "curr_items": int(st.get("curr_items", -1)),
    "evictions": int(st.get("evictions", -1)),
    "rss_empty_kib": empty,
    "rss_kib": full,
    "rss_bytes_per_item": full * 1024 / items,
    "rss_bytes_per_item_above_empty": (full - empty) * 1024 / items,
}
json.dump(r, open(dst, "w"), indent=1)
PY
            rm -f "$out.tmp"
            log "$wname $srv: empty $empty KiB, full $full KiB, curr_items $(json_get "$out" '["memory"]["curr_items"]'), evictions $(json_get "$out" '["memory"]["evictions"]')"
            stop_server "$pid"
        done
    done
done

python3 - "$RUN_DIR" "$RESULTS_DIR/$NAME-$STAMP.json" "$B_NAME" <<'PY'
import json, os, statistics, sys
run_dir, out_path, b_name = sys.argv[1], sys.argv[2], sys.argv[3]
rows = {}
for name in sorted(os.listdir(run_dir)):
    if name.endswith(".json") and name.count("__") == 2:
        w, srv, rep = name[:-5].split("__")
        rows.setdefault(w, {}).setdefault(srv, []).append(json.load(open(os.path.join(run_dir, name)))["memory"])
summary = {}
ok = True
for w, servers in rows.items():
    summary[w] = {}
    print(f"\n== {w}")
    for srv in ["memcached", b_name]:
        ms = servers.get(srv, [])
        if not ms:
            continue
        med = lambda k: statistics.median(m[k] for m in ms)
        e = {k: med(k) for k in ["rss_empty_kib", "rss_kib", "rss_bytes_per_item", "rss_bytes_per_item_above_empty", "curr_items", "evictions"]}
        e["runs"] = len(ms)
        summary[w][srv] = e
        bad = any(m["curr_items"] != m["items_wanted"] or m["evictions"] != 0 for m in ms)
        ok &= not bad
        print(f"  {srv:<12} empty {e['rss_empty_kib']/1024:7.1f} MiB  full {e['rss_kib']/1024:8.1f} MiB  "
              f"{e['rss_bytes_per_item']:7.1f} B/item ({e['rss_bytes_per_item_above_empty']:7.1f} above empty)  "
              f"curr_items {e['curr_items']:.0f} evictions {e['evictions']:.0f}{'  <-- NOT ALL STORED' if bad else ''}")
    a, b = summary[w].get("memcached"), summary[w].get(b_name)
    if a and b:
        ratio = {"rss": b["rss_kib"] / a["rss_kib"],
                 "rss_above_empty": b["rss_bytes_per_item_above_empty"] / a["rss_bytes_per_item_above_empty"]}
        summary[w][f"ratio_{b_name}_vs_memcached"] = ratio
        print(f"  ratio {b_name}/memcached: RSS x{ratio['rss']:.3f}, above empty x{ratio['rss_above_empty']:.3f}")
meta = json.load(open(os.path.join(run_dir, "machine.json")))
json.dump({"machine": meta, "workloads": summary}, open(out_path, "w"), indent=1)
print(f"\nsummary written to {out_path}")
if not ok:
    print("warning: some store did not keep every item; its RSS is not comparable", file=sys.stderr)
PY
