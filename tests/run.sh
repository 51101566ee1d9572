#!/usr/bin/env bash
# Run every test of e1kvm: unit tests (normal and ASan+UBSan builds), then the
# integration tests with real KVM, the real test guest and real TAP devices in
# private network namespaces. Needs root (KVM, TAP, netns) on Debian 12.
#
#   bash tests/run.sh            everything
#   bash tests/run.sh unit       unit tests only
#   bash tests/run.sh boot e1000 chosen integration tests (tests/integration/test_NAME.sh)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
T0=$(date +%s)
say() { echo "=== [$(($(date +%s) - T0))s] $*"; }
failed=()

bash tools/install-deps.sh || exit 1

say "build (debug-optimized) and ASan+UBSan build"
[ -d build ] || meson setup build >/dev/null || exit 1
ninja -C build || exit 1
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
ninja -C build-asan || exit 1

want=("$@")
wants() { [ ${#want[@]} -eq 0 ] && return 0; local w; for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }

if wants unit; then
    say "include directions (tools/check-includes.sh)"
    bash tools/check-includes.sh || failed+=(includes)
    say "formatting (clang-format --dry-run -Werror, the repo's .clang-format)"
    find src tests bench -name '*.[ch]' -print0 | sort -z |
        xargs -0 clang-format --dry-run -Werror || failed+=(format)
    say "unit tests"
    meson test -C build --suite unit --print-errorlogs || failed+=(unit)
    say "unit tests under ASan+UBSan"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --suite unit --print-errorlogs || failed+=(unit-asan)
    say "device microbenchmark, quick run: it runs and its self-checks pass (bench/devbench.c)"
    build/devbench --quick || failed+=(devbench)
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        build-asan/devbench --quick >/dev/null || failed+=(devbench-asan)
    say "device microbenchmark with a vnet_hdr backend (TSO as GSO frames), quick run"
    build/devbench --quick --vnet || failed+=(devbench-vnet)
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        build-asan/devbench --quick --vnet >/dev/null || failed+=(devbench-vnet-asan)
fi

export E1KVM_LOGDIR=$ROOT/build/test-logs
mkdir -p "$E1KVM_LOGDIR"
if [ ${#want[@]} -eq 0 ] || [ "${want[*]}" != unit ]; then
    say "test guest (tests/guest/mkguest.sh, cached)"
    export E1KVM_GUEST_DIR=${E1KVM_GUEST_DIR:-${E1KVM_CACHE:-/var/cache/e1kvm}/out}
    tests/guest/mkguest.sh "$E1KVM_GUEST_DIR" >"$E1KVM_LOGDIR/mkguest.log" 2>&1 || {
        tail -30 "$E1KVM_LOGDIR/mkguest.log"
        echo "mkguest.sh failed"
        exit 1
    }
    export E1KVM_GUEST_READY=1
fi

for t in tests/integration/test_*.sh; do
    name=$(basename "$t" .sh)
    name=${name#test_}
    wants "$name" || continue
    say "integration: $name"
    # the sanitizer build serves the fast tests; real-guest boots use the
    # normal build and, for one e1000 scenario, the ASan build (test_e1000.sh)
    E1KVM_ASAN=$ROOT/build-asan/e1kvm bash "$t" || failed+=("$name")
done

say "done"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "ALL TESTS PASSED"
