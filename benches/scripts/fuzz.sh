#!/usr/bin/env bash
# Bounded coverage-guided fuzzing of ringcache-protocol's parsers (fuzz/).
# Not part of CI: run by hand, e.g. before a release. See docs/hardening.md.
#
#   benches/scripts/fuzz.sh                       # every target, 60 s each
#   FUZZ_SECONDS=300 benches/scripts/fuzz.sh request_decoder
#
# Environment (all optional):
#   FUZZ_SECONDS    wall-clock seconds per target (default 60)
#   FUZZ_SANITIZER  cargo-fuzz --sanitizer: none (default; the protocol crate
#                   forbids unsafe code, so ASan finds nothing extra and
#                   halves the speed) or address
#   FUZZ_MAX_LEN    libFuzzer -max_len (default 8192: room for lines past
#                   memcached's 2048-byte limit; 20000 for dump_decoder,
#                   whose line bound, DumpDecoder::MAX_LINE, is 8192)
#   FUZZ_JOBS       parallel libFuzzer workers per target (default 1)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The machine has a stable
# toolchain only; cargo-fuzz passes nightly -Z flags to rustc, which stable
# accepts under RUSTC_BOOTSTRAP=1 (set here). Crashing inputs land in
# fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/<target>/
# (both gitignored). Prints per target: executions, exec/s, coverage,
# corpus size and findings. Exits 1 if any target found something.
set -uo pipefail

SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FUZZ_DIR="$(cd "$SCRIPTS_DIR/../../fuzz" && pwd)"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
SANITIZER="${FUZZ_SANITIZER:-none}"
JOBS="${FUZZ_JOBS:-1}"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 2
fi

cd "$FUZZ_DIR"
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# A few well-formed inputs to start from (first bytes: see fuzz/src/lib.rs).
seed() {
    local dir="corpus/$1"
    mkdir -p "$dir"
    [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return
    case "$1" in
        request_decoder)
            printf '\x00\x02\x05\x09set k 0 0 2\r\nhi\r\nget k\r\n' >"$dir/set-get"
            printf '\x01\x00mg k v t f\r\nms k 2 T0 F5\r\nhi\r\nmn\r\n' >"$dir/meta"
            printf '\x00\x01\x03set big 0 0 5000\r\nxx\r\nget a b c\r\n' >"$dir/too-large"
            printf '\x02\x00incr n 1 noreply\r\ndecr n 18446744073709551615\r\ntouch k 10\r\n' >"$dir/arith"
            printf '\x00\x00gat 10 a b\r\ncas k 0 0 1 99\r\nx\r\nquit\r\n' >"$dir/gat-cas"
            ;;
        response_parser)
            printf '\x80VALUE k 0 2 7\r\nhi\r\nEND\r\nSTORED\r\n' >"$dir/value"
            printf '\x40VA 2 t5 f0\r\nhi\r\nHD c9\r\nEN\r\nMN\r\n' >"$dir/meta"
            printf '\x10STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n' >"$dir/stats"
            printf '\xff42\r\nCLIENT_ERROR bad\r\nSERVER_ERROR x\r\nERROR\r\n' >"$dir/number"
            printf '\x20ME k exp=-1 la=1 cas=2 fetch=no cls=1 size=63\r\n' >"$dir/debug"
            ;;
        dump_decoder)
            # memcached 1.6.18's reply to `lru_crawler metadump all`, a
            # refusal, and an empty dump (byte 0: no split, no prefix).
            printf '\x00\x02\x17\x40key=a exp=1795598696 la=1795598596 cas=1 fetch=yes cls=1 size=63\nkey=b%%2520c exp=-1 la=1795598596 cas=2 fetch=no cls=1 size=67\nkey=d%%01e exp=-1 la=1795598596 cas=3 fetch=no cls=1 size=67\nEND\r\n' >"$dir/real"
            printf '\x00\x00BUSY currently processing crawler request\r\n' >"$dir/busy"
            printf '\x01\x01\x03END\r\nVERSION 1.6.18\r\n' >"$dir/end-then-next"
            ;;
    esac
}

found=0
summary=()
for target in "${targets[@]}"; do
    seed "$target"
    case "$target" in
        dump_decoder) MAX_LEN="${FUZZ_MAX_LEN:-20000}" ;;
        *) MAX_LEN="${FUZZ_MAX_LEN:-8192}" ;;
    esac
    log="$(mktemp -t "fuzz-$target-XXXX.log")"
    echo "== $target: ${SECONDS_PER_TARGET}s, sanitizer $SANITIZER, jobs $JOBS, max_len $MAX_LEN"
    before=$(ls "artifacts/$target" 2>/dev/null | wc -l)
    extra=()
    if [ "$JOBS" -gt 1 ]; then extra=(-jobs="$JOBS" -workers="$JOBS"); fi
    cargo fuzz run --sanitizer "$SANITIZER" "$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -max_len="$MAX_LEN" \
        -dict=dict/memcached.dict -print_final_stats=1 "${extra[@]}" \
        >"$log" 2>&1
    status=$?
    after=$(ls "artifacts/$target" 2>/dev/null | wc -l)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    new=$((after - before))
    if [ "$status" -ne 0 ] || [ "$new" -gt 0 ]; then
        found=1
        echo "   FINDING (exit $status, $new new artifact(s)); log: $log"
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -5 | sed 's/^/   /'
    fi
    line="$target: execs=$execs exec/s=$rate cov=$cov ft=$ft corpus=$corp findings=$new exit=$status"
    echo "   $line"
    summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$found"
