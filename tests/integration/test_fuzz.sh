#!/usr/bin/env bash
# Fuzz the device models for a bounded time each (default 40 s a target)
# with libFuzzer, ASan and UBSan (tests/fuzz/build.sh builds them with
# clang): fuzz_e1000 (the e1000), fuzz_virtqueue (the split virtqueue) and
# fuzz_virtio_net (the whole virtio-net-pci device). No VM is booted. Fails
# on any crash, sanitizer report, leak, timeout (an input running > 10 s)
# or out-of-memory; the failing input is kept in the log directory, ready
# to be replayed:  build-fuzz/fuzz_e1000 LOGDIR/fuzz_e1000-crash-...
# New coverage goes to a scratch corpus, not into the repository's seeds.
#
#   E1KVM_FUZZ_SECONDS=600 bash tests/integration/test_fuzz.sh   (longer, per target)
. "$(dirname "$0")/lib.sh"
SECONDS_TO_RUN=${E1KVM_FUZZ_SECONDS:-40}
OUT=$ROOT/build-fuzz

if ! bash "$ROOT/tests/fuzz/build.sh" "$OUT" >"$LOGDIR/fuzz-build.log" 2>&1; then
    tail -20 "$LOGDIR/fuzz-build.log"
    not_ok "clang build of the fuzz harnesses (tests/fuzz/build.sh; needs clang and libclang-rt-14-dev)"
    finish
fi
ok "clang build of the fuzz harnesses with -fsanitize=fuzzer,address,undefined"

# fuzz_target NAME SEED_DIR MAX_LEN
fuzz_target() {
    local name=$1 seeds=$2 max_len=$3
    local log=$LOGDIR/$name.log work rc runs cov artifacts
    work=$(mktemp -d)
    rm -f "$LOGDIR/$name"-crash-* "$LOGDIR/$name"-leak-* "$LOGDIR/$name"-timeout-* "$LOGDIR/$name"-oom-*
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        timeout -s KILL $((SECONDS_TO_RUN + 120)) "$OUT/$name" \
        -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
        -print_final_stats=1 -artifact_prefix="$LOGDIR/$name-" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    runs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    artifacts=$(ls "$LOGDIR/$name"-crash-* "$LOGDIR/$name"-leak-* "$LOGDIR/$name"-timeout-* \
        "$LOGDIR/$name"-oom-* 2>/dev/null)
    if [ $rc -eq 0 ] && [ -z "$artifacts" ]; then
        ok "$name ${SECONDS_TO_RUN} s: ${runs:-?} inputs, ${cov:-cov ?}, no crash, leak, hang or sanitizer report"
    else
        grep -E 'ERROR|SUMMARY|==[0-9]+==|fuzz_[a-z0-9_]+:|Test unit written' "$log" | head -20
        not_ok "$name failed (exit $rc); input kept: ${artifacts:-none}; log: $log"
    fi
    check "$name: every seed input was replayed" grep -q 'INITED' "$log"
    rm -rf "$work"
}

fuzz_target fuzz_e1000 "$ROOT/tests/fuzz/corpus/e1000" 4096
fuzz_target fuzz_virtqueue "$ROOT/tests/fuzz/corpus/virtqueue" 32768
fuzz_target fuzz_virtio_net "$ROOT/tests/fuzz/corpus/virtio_net" 8192
finish
