# Shared helpers for the integration tests: real KVM, the real test guest,
# real TAP devices inside private network namespaces.
# shellcheck shell=bash
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E1KVM=${E1KVM:-$ROOT/build/e1kvm}
GUEST_DIR=${E1KVM_GUEST_DIR:-${E1KVM_CACHE:-/var/cache/e1kvm}/out}
LOGDIR=${E1KVM_LOGDIR:-$ROOT/build/test-logs}
mkdir -p "$LOGDIR"
TEST_NAME=$(basename "$0" .sh)
# results go to a file so that checks made in background subshells count
RESULTS=$(mktemp)

say() { printf '%s\n' "$*"; }

ok() {
    echo ok >>"$RESULTS"
    say "ok   - $TEST_NAME: $*"
}

not_ok() {
    echo fail >>"$RESULTS"
    say "FAIL - $TEST_NAME: $*"
}

# check DESCRIPTION COMMAND...: pass if the command succeeds
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1 ($3)"; else not_ok "$1: expected '$2', got '$3'"; fi
}

# check_ge DESCRIPTION MIN ACTUAL (integers)
check_ge() {
    if [[ "$3" =~ ^[0-9]+$ ]] && [ "$3" -ge "$2" ]; then ok "$1 ($3 >= $2)"; else
        not_ok "$1: expected >= $2, got '$3'"
    fi
}

finish() {
    local PASS FAIL
    PASS=$(grep -c '^ok' "$RESULTS")
    FAIL=$(grep -c '^fail' "$RESULTS")
    rm -f "$RESULTS"
    say "# $TEST_NAME: $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]
    exit $?
}

guest_prepare() {
    if [ ! -f "$GUEST_DIR/vmlinux" ] || [ ! -f "$GUEST_DIR/initrd.img" ] || [ -z "${E1KVM_GUEST_READY:-}" ]; then
        "$ROOT/tests/guest/mkguest.sh" "$GUEST_DIR" >"$LOGDIR/mkguest.log" 2>&1 || {
            say "mkguest.sh failed; see $LOGDIR/mkguest.log"
            tail -20 "$LOGDIR/mkguest.log"
            exit 1
        }
        export E1KVM_GUEST_READY=1
    fi
    KERNEL=$GUEST_DIR/vmlinux
    # three initrds: each MB costs the emulated guest kernel ~1 s to unpack
    INITRD_FULL=$GUEST_DIR/initrd.img     # + iperf3, ethtool, tcpdump
    INITRD_NET=$GUEST_DIR/initrd-net.img  # + iperf3, ethtool
    INITRD_BASE=$GUEST_DIR/initrd-base.img # busybox, scenarios, e1000.ko
    INITRD=$INITRD_NET
    GUEST_CMDLINE=$(cat "$GUEST_DIR/cmdline")
}

# run_vm LOG TIMEOUT_S SCENARIO [extra e1kvm args...]
# Boots the test guest with scenario SCENARIO; console and stderr to LOG.
# Returns e1kvm's exit code (124 if it had to be killed by the timeout).
run_vm() {
    local log=$1 t=$2 scenario=$3
    shift 3
    local extra_append=${APPEND_EXTRA:-}
    timeout --kill-after=10 "$t" "${NETNS_EXEC[@]}" "$E1KVM" -kernel "${VM_KERNEL:-$KERNEL}" -initrd "$INITRD" \
        -append "$GUEST_CMDLINE e1kvm.scenario=$scenario panic=-1 $extra_append" \
        -nographic "$@" </dev/null >"$log" 2>&1
}
NETNS_EXEC=()

# result LOG KEY: value of the last "E1KVM-RESULT KEY value" line
result() {
    tr -d '\r' <"$1" | awk -v k="$2" '$1 == "E1KVM-RESULT" && $2 == k { $1 = ""; $2 = ""; v = substr($0, 3) } END { print v }'
}

# count LOG PATTERN: lines containing PATTERN
count() { tr -d '\r' <"$1" | grep -c -- "$2" || true; }

# --- network namespaces: all test traffic stays inside them ---

# netns_new NAME: a fresh namespace with loopback up
netns_new() {
    ip netns del "$1" 2>/dev/null || true
    ip netns add "$1"
    ip -n "$1" link set lo up
    CLEANUP_NS+=("$1")
}
CLEANUP_NS=()

# tap_new NS TAP ADDR/PREFIX [MTU]: a TAP inside NS with the host-side address
tap_new() {
    ip -n "$1" tuntap add dev "$2" mode tap
    ip -n "$1" addr add "$3" dev "$2"
    [ -n "${4:-}" ] && ip -n "$1" link set "$2" mtu "$4"
    ip -n "$1" link set "$2" up
}

cleanup_netns() {
    local ns
    for ns in "${CLEANUP_NS[@]}"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
}
trap cleanup_netns EXIT
