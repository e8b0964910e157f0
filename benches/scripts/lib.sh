# Shared helpers for the side-by-side scripts in benches/scripts/. Sourced, not run.
#
# What it gives a script:
#   - LOADGEN and RINGCACHE_BIN (built with `cargo build --release` when unset),
#     MEMCACHED_BIN (Debian's memcached by default);
#   - start_server NAME PORT CMD...: starts a server on loopback, pinned with
#     taskset to $SERVER_CPUS, waits until it accepts connections, and records
#     its pid in $SERVER_PID; every server started is killed on exit (trap);
#   - stop_server PID;
#   - loadgen ARGS...: runs the load generator pinned to $LOADGEN_CPUS;
#   - memcached_cmd / ringcache_cmd PORT MB THREADS [extra]: the two servers'
#     command lines with the same flags;
#   - RESULTS_DIR: benches/results/, where each script writes its JSON.
#
# Environment (all optional):
#   CARGO_TARGET_DIR  where cargo builds (default: <repo>/target)
#   LOADGEN           path of ringcache-loadgen (default: build it)
#   RINGCACHE_BIN     path of the ringcache binary (default: build it)
#   MEMCACHED_BIN     memcached to compare with (default: memcached on PATH)
#   SERVER_CPUS       taskset CPU list for servers (default 0)
#   LOADGEN_CPUS      taskset CPU list for the load generator (default 1)
#   BASE_PORT         first loopback port to use (default 24000 + pid % 8000)
#   RESULTS_DIR       where JSON goes (default: <repo>/benches/results)
# On a single-core machine pinning is skipped.

set -euo pipefail

SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPTS_DIR/../.." && pwd)"
RESULTS_DIR="${RESULTS_DIR:-$REPO_DIR/benches/results}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_DIR/target}"
MEMCACHED_BIN="${MEMCACHED_BIN:-memcached}"
# Below the ephemeral range (32768+), so no client socket holds our port.
BASE_PORT="${BASE_PORT:-$((24000 + $$ % 8000))}"

if [ "$(nproc)" -ge 2 ]; then
    SERVER_CPUS="${SERVER_CPUS:-0}"
    LOADGEN_CPUS="${LOADGEN_CPUS:-1}"
else
    SERVER_CPUS="${SERVER_CPUS:-}"
    LOADGEN_CPUS="${LOADGEN_CPUS:-}"
fi

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

# Runs "$@" pinned to the CPU list $1 (unpinned when the list is empty).
pinned() {
    local cpus="$1"; shift
    if [ -n "$cpus" ] && command -v taskset >/dev/null; then
        taskset -c "$cpus" "$@"
    else
        "$@"
    fi
}

ensure_loadgen() {
    if [ -z "${LOADGEN:-}" ]; then
        log "building ringcache-loadgen (release) into $CARGO_TARGET_DIR"
        (cd "$REPO_DIR" && cargo build --release --quiet -p ringcache-benches --bin ringcache-loadgen) \
            || die "cannot build ringcache-loadgen"
        LOADGEN="$CARGO_TARGET_DIR/release/ringcache-loadgen"
    fi
    [ -x "$LOADGEN" ] || die "LOADGEN=$LOADGEN is not executable"
}

ensure_ringcache() {
    if [ -z "${RINGCACHE_BIN:-}" ]; then
        log "building ringcache (release) into $CARGO_TARGET_DIR"
        (cd "$REPO_DIR" && cargo build --release --quiet -p ringcache-server) \
            || die "cannot build ringcache-server"
        RINGCACHE_BIN="$CARGO_TARGET_DIR/release/ringcache"
    fi
    [ -x "$RINGCACHE_BIN" ] || die "RINGCACHE_BIN=$RINGCACHE_BIN is not executable"
}

ensure_memcached() {
    command -v "$MEMCACHED_BIN" >/dev/null || die "memcached not found (apt-get install memcached)"
}

# memcached refuses to run as root without -u.
memcached_user_flag() {
    if [ "$(id -u)" = 0 ]; then echo "-u root"; fi
}

# memcached_cmd PORT MB THREADS [extra flags...]
memcached_cmd() {
    local port="$1" mb="$2" threads="$3"; shift 3
    # shellcheck disable=SC2046
    echo "$MEMCACHED_BIN $(memcached_user_flag) -U 0 -l 127.0.0.1 -p $port -m $mb -t $threads -c 4096 $*"
}

# ringcache_cmd PORT MB THREADS [extra flags...]
ringcache_cmd() {
    local port="$1" mb="$2" threads="$3"; shift 3
    echo "$RINGCACHE_BIN node -l 127.0.0.1 -p $port -m $mb -t $threads -c 4096 $*"
}

SERVER_PIDS=()
cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to 10 s for something to accept on 127.0.0.1:$1.
wait_port() {
    local port="$1" i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# start_server NAME PORT CMD...  -> sets SERVER_PID. The command line is split
# on spaces. Its output goes to $RUN_DIR/NAME.log when RUN_DIR is set.
start_server() {
    local name="$1" port="$2"; shift 2
    local logf="${RUN_DIR:-/tmp}/$name-$port.log"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is already in use; set BASE_PORT"
    fi
    # Started directly (not through a shell function) so that $! is the
    # server's own pid: taskset execs it, and --server-pid reads its /proc.
    if [ -n "$SERVER_CPUS" ] && command -v taskset >/dev/null; then
        # shellcheck disable=SC2068
        taskset -c "$SERVER_CPUS" $@ >"$logf" 2>&1 &
    else
        # shellcheck disable=SC2068
        $@ >"$logf" 2>&1 &
    fi
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    if ! wait_port "$port"; then
        cat "$logf" >&2 || true
        die "$name did not start on port $port: $*"
    fi
    log "started $name (pid $SERVER_PID) on $port: $*"
}

stop_server() {
    local pid="$1"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# loadgen ARGS...: runs the load generator pinned to $LOADGEN_CPUS.
loadgen() {
    pinned "$LOADGEN_CPUS" "$LOADGEN" "$@"
}

# json_get FILE EXPR: prints a field of a loadgen JSON report, e.g.
# json_get r.json '["latency_us"]["p99"]'.
json_get() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"
}

# Records the machine and the moment a run was taken, for the JSON summaries.
machine_json() {
    python3 - "$@" <<'EOF'
import json, os, platform, subprocess, time
def sh(c):
    try:
        return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:
        return ""
print(json.dumps({
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "host_cpus": os.cpu_count(),
    "cpu_model": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
    "kernel": platform.release(),
    "loadavg_at_start": sh("cut -d' ' -f1-3 /proc/loadavg"),
    "memcached_version": sh("memcached -V"),
    "git_commit": sh("git -C '%s' rev-parse --short HEAD" % os.environ.get("REPO_DIR", ".")),
}))
EOF
}
