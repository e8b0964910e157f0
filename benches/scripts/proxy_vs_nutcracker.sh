#!/usr/bin/env bash
# proxy_vs_nutcracker.sh — the ringcache proxy against nutcracker (twemproxy,
# Debian), both over the same 2 backends with ketama (md5) distribution, and
# both against going direct to one backend.
#
# Three targets, measured interleaved (the order reverses every repetition):
#   nutcracker       nutcracker over backends 1 and 2
#   ringcache-proxy  `ringcache proxy --ring ketama` over backends 1 and 2
#   direct           backend 1 itself (what the proxy hop costs)
# With BACKENDS=memcached (default) both proxies route to the same two
# memcached, so the comparison is of the proxies alone. With
# BACKENDS=own the ringcache proxy routes to 2 ringcache nodes and nutcracker
# to 2 memcached (each stack as deployed; direct is then ringcache node 1).
# Keys are prefilled through each target. Server CPU per op is the proxy's
# own process (the backends are not counted); for direct, the backend's.
# Servers are pinned to SERVER_CPUS (proxies and backends share it), the
# load generator to LOADGEN_CPUS. nutcracker is the baseline of every ratio.
#
# Usage:  benches/scripts/proxy_vs_nutcracker.sh
# Env:    DURATION=5 (seconds per measurement) REPS=3 CONNS=50 KEYS=100000
#         DEPTHS="1 16" MIXES="90:10" RATES="20000" (fixed-rate runs, "" for none)
#         RATE_SPIN=1 (fixed-rate runs busy-wait the last 2 ms before each
#                    send, --spin: without it the generator's timer is
#                    about 1 ms late at p50 and its lag, not the server,
#                    dominates the latency measured from the intended send)
#         MB=256 (per backend) PROXY_THREADS=1 BACKENDS=memcached|own
#         NUTCRACKER_BIN=nutcracker
#         plus those of lib.sh (RINGCACHE_BIN, LOADGEN, SERVER_CPUS, ...).
# Output: benches/results/proxy_vs_nutcracker-<UTC time>.json, per-run JSON
#         in benches/results/runs/proxy_vs_nutcracker-<UTC time>/.
# Takes about (DEPTHS + RATES) × MIXES × 3 × REPS × (DURATION + 1) seconds:
# about 2.5 minutes with the defaults.

source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-5}"
REPS="${REPS:-3}"
CONNS="${CONNS:-50}"
KEYS="${KEYS:-100000}"
DEPTHS="${DEPTHS:-1 16}"
MIXES="${MIXES:-90:10}"
RATES="${RATES-20000}"
RATE_SPIN="${RATE_SPIN:-1}"
spin_arg=""
if [ "$RATE_SPIN" = 1 ]; then spin_arg="--spin"; fi
MB="${MB:-256}"
PROXY_THREADS="${PROXY_THREADS:-1}"
BACKENDS="${BACKENDS:-memcached}"
NUTCRACKER_BIN="${NUTCRACKER_BIN:-nutcracker}"

ensure_memcached
ensure_loadgen
ensure_ringcache
command -v "$NUTCRACKER_BIN" >/dev/null || die "nutcracker not found (apt-get install nutcracker)"
case "$BACKENDS" in memcached|own) ;; *) die "BACKENDS must be memcached or own" ;; esac

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
NAME="proxy_vs_nutcracker"
RUN_DIR="$RESULTS_DIR/runs/$NAME-$STAMP"
mkdir -p "$RUN_DIR"
REPO_DIR="$REPO_DIR" machine_json > "$RUN_DIR/machine.json"
log "results in $RUN_DIR (backends: $BACKENDS)"

port_rp=$BASE_PORT
port_m1=$((BASE_PORT + 1)); port_m2=$((BASE_PORT + 2))
port_tw=$((BASE_PORT + 3)); port_tw_stats=$((BASE_PORT + 4))
port_n1=$((BASE_PORT + 5)); port_n2=$((BASE_PORT + 6))

start_server memcached1 "$port_m1" "$(memcached_cmd "$port_m1" "$MB" 1)"; pid_m1=$SERVER_PID
start_server memcached2 "$port_m2" "$(memcached_cmd "$port_m2" "$MB" 1)"
if [ "$BACKENDS" = own ]; then
    start_server rc-node1 "$port_n1" "$(ringcache_cmd "$port_n1" "$MB" 1)"; pid_direct=$SERVER_PID
    start_server rc-node2 "$port_n2" "$(ringcache_cmd "$port_n2" "$MB" 1)"
    rp_backends="127.0.0.1:$port_n1,127.0.0.1:$port_n2"; port_direct=$port_n1
else
    pid_direct=$pid_m1
    rp_backends="127.0.0.1:$port_m1,127.0.0.1:$port_m2"; port_direct=$port_m1
fi
start_server rc-proxy "$port_rp" \
    "$RINGCACHE_BIN proxy -l 127.0.0.1 -p $port_rp -t $PROXY_THREADS -c 4096 --ring ketama --nodes $rp_backends"
pid_rp=$SERVER_PID
cat > "$RUN_DIR/nutcracker.yml" <<YML
pool:
  listen: 127.0.0.1:$port_tw
  hash: md5
  distribution: ketama
  timeout: 1000
  auto_eject_hosts: false
  servers:
    - 127.0.0.1:$port_m1:1
    - 127.0.0.1:$port_m2:1
YML
start_server nutcracker "$port_tw" \
    "$NUTCRACKER_BIN -c $RUN_DIR/nutcracker.yml -s $port_tw_stats -a 127.0.0.1 -o $RUN_DIR/nutcracker.log"
pid_tw=$SERVER_PID

common=(--keys "$KEYS" --key-size 20 --value-size 100 -q --json)
for port in $port_rp $port_tw $port_direct; do
    loadgen -s "127.0.0.1:$port" -c 8 --prefill --requests 0 "${common[@]}" \
        >"$RUN_DIR/prefill-$port.log" 2>&1 || die "prefill through port $port failed"
done

for rep in $(seq 1 "$REPS"); do
    for load in $DEPTHS $(for r in $RATES; do echo "rate$r"; done); do
        for mix in $MIXES; do
            case "$load" in
                rate*) scenario="${load}_mix${mix//:/-}"; load_args=(-d 1 --rate "${load#rate}" $spin_arg) ;;
                *) scenario="d$(printf %02d "$load")_mix${mix//:/-}"; load_args=(-d "$load") ;;
            esac
            if [ $((rep % 2)) = 1 ]; then order="nutcracker ringcache-proxy direct"
            else order="direct ringcache-proxy nutcracker"; fi
            for srv in $order; do
                case $srv in
                    nutcracker) port=$port_tw; pid=$pid_tw ;;
                    ringcache-proxy) port=$port_rp; pid=$pid_rp ;;
                    direct) port=$port_direct; pid=$pid_direct ;;
                esac
                out="$RUN_DIR/${scenario}__${srv}__r${rep}.json"
                loadgen -s "127.0.0.1:$port" -c "$CONNS" "${load_args[@]}" --mix "$mix" \
                    -t "$DURATION" --seed "$rep" --server-pid "$pid" \
                    --label "$scenario $srv rep $rep" "${common[@]}" >"$out" 2>"$out.log" \
                    || log "loadgen failed for $scenario $srv (see $out.log)"
                log "$scenario $srv rep $rep: $(json_get "$out" '["ops_per_sec"]' 2>/dev/null | cut -d. -f1) ops/s, p99 $(json_get "$out" '["latency_us"]["p99"]' 2>/dev/null) us, errors $(json_get "$out" '["errors"]' 2>/dev/null)"
            done
        done
    done
done

SUMMARY_KEYS="${SUMMARY_KEYS:-ops_per_sec,p99_us,server_cpu_us_per_op,errors}" \
    python3 "$SCRIPTS_DIR/summarize.py" "$RUN_DIR" nutcracker "$RESULTS_DIR/$NAME-$STAMP.json"
