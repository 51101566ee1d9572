#!/usr/bin/env bash
# Fuzz the e1000 model for a bounded time (default 60 s) with libFuzzer,
# ASan and UBSan (tests/fuzz/build.sh builds it with clang). Fails on any
# crash, sanitizer report, leak, timeout (an input running > 10 s) or
# out-of-memory; the failing input is kept in the log directory, ready to be
# replayed:  build-fuzz/fuzz_e1000 LOGDIR/fuzz-crash-...
# New coverage goes to a scratch corpus, not into the repository's seeds.
#
#   E1KVM_FUZZ_SECONDS=600 bash tests/integration/test_fuzz.sh   (longer)
. "$(dirname "$0")/lib.sh"
SECONDS_TO_RUN=${E1KVM_FUZZ_SECONDS:-60}
OUT=$ROOT/build-fuzz
SEEDS=$ROOT/tests/fuzz/corpus/e1000
log=$LOGDIR/fuzz_e1000.log

if ! bash "$ROOT/tests/fuzz/build.sh" "$OUT" >"$LOGDIR/fuzz-build.log" 2>&1; then
    tail -20 "$LOGDIR/fuzz-build.log"
    not_ok "clang build of the fuzz harness (tests/fuzz/build.sh; needs clang and libclang-rt-14-dev)"
    finish
fi
ok "clang build of the fuzz harness with -fsanitize=fuzzer,address,undefined"

WORK=$(mktemp -d)
rm -f "$LOGDIR"/fuzz-crash-* "$LOGDIR"/fuzz-leak-* "$LOGDIR"/fuzz-timeout-* "$LOGDIR"/fuzz-oom-*
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    timeout -s KILL $((SECONDS_TO_RUN + 120)) "$OUT/fuzz_e1000" \
    -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$LOGDIR/fuzz-" "$WORK" "$SEEDS" >"$log" 2>&1
rc=$?
runs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log")
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
artifacts=$(ls "$LOGDIR"/fuzz-crash-* "$LOGDIR"/fuzz-leak-* "$LOGDIR"/fuzz-timeout-* "$LOGDIR"/fuzz-oom-* 2>/dev/null)
if [ $rc -eq 0 ] && [ -z "$artifacts" ]; then
    ok "fuzz_e1000 ${SECONDS_TO_RUN} s: ${runs:-?} inputs, ${cov:-cov ?}, no crash, leak, hang or sanitizer report"
else
    grep -E 'ERROR|SUMMARY|==[0-9]+==|fuzz_e1000:|Test unit written' "$log" | head -20
    not_ok "fuzz_e1000 failed (exit $rc); input kept: ${artifacts:-none}; log: $log"
fi
check "every seed input was replayed" grep -q 'INITED' "$log"
rm -rf "$WORK"
finish
