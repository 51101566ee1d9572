#!/usr/bin/env bash
# Boot benchmark: e1kvm vs QEMU (microvm, KVM) on the same kernel and initrd.
# Prints wall time from process start to the guest's /init and to process
# exit (guest poweroff), and the VMM's peak RSS; median of N runs each.
#
#   bash bench/boot.sh [RUNS]          (default 3; needs root for /dev/kvm)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
GUEST_DIR=${E1KVM_GUEST_DIR:-${E1KVM_CACHE:-/var/cache/e1kvm}/out}
INITRD=${INITRD:-$GUEST_DIR/initrd-base.img}
KERNEL=$GUEST_DIR/vmlinux
APPEND="$(cat "$GUEST_DIR/cmdline") e1kvm.scenario=boot"
E1KVM=${E1KVM:-$ROOT/build/e1kvm}
QEMU=${QEMU:-qemu-system-x86_64}

# one run: prints "init_s exit_s maxrss_kib"
measure() {
    local t0 line init=NA rss out
    out=$(mktemp)
    t0=$EPOCHREALTIME
    {
        /usr/bin/time -f 'MAXRSS %M' "$@" </dev/null 2>&1 | while IFS= read -r line; do
            case $line in
            E1KVM-INIT*) echo "INIT $(echo "$EPOCHREALTIME - $t0" | bc)" ;;
            MAXRSS*) echo "$line" ;;
            esac
        done
    } >"$out"
    local end
    end=$(echo "$EPOCHREALTIME - $t0" | bc)
    init=$(awk '/^INIT/ {print $2}' "$out")
    rss=$(awk '/^MAXRSS/ {print $2}' "$out")
    rm -f "$out"
    echo "${init:-NA} $end ${rss:-NA}"
}

median() { sort -g | awk '{a[NR] = $1} END {print (NR ? a[int((NR + 1) / 2)] : "NA")}'; }

declare -A R
run_vmm() {
    local name=$1
    shift
    local inits=() exits=() rsss=()
    for i in $(seq 1 "$RUNS"); do
        read -r a b c < <(measure "$@")
        echo "  $name run $i: /init ${a}s, exit ${b}s, peak RSS ${c} KiB" >&2
        inits+=("$a")
        exits+=("$b")
        rsss+=("$c")
    done
    R[$name,init]=$(printf '%s\n' "${inits[@]}" | median)
    R[$name,exit]=$(printf '%s\n' "${exits[@]}" | median)
    R[$name,rss]=$(printf '%s\n' "${rsss[@]}" | median)
}

echo "kernel $KERNEL, initrd $INITRD ($(($(stat -c %s "$INITRD") / 1024)) KiB), $RUNS runs each" >&2
E1KVM_CMD=("$E1KVM" -m 256M -smp 1 -nographic -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND")
# QEMU: microvm (qboot firmware; -M pc's SeaBIOS does not finish here), KVM.
# -cpu host needs arch-capabilities off on this host (QEMU asserts on MSR 0x10a).
QEMU_CMD=("$QEMU" -name bench,debug-threads=on -M microvm -enable-kvm -cpu host,-arch-capabilities -m 256M -smp 1 -nographic
    -no-reboot -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND")
echo "e1kvm: ${E1KVM_CMD[*]}" >&2
echo "qemu:  ${QEMU_CMD[*]}" >&2
run_vmm e1kvm "${E1KVM_CMD[@]}"
run_vmm qemu "${QEMU_CMD[@]}"

printf '\n| metric (median of %d) | e1kvm | QEMU microvm | e1kvm / QEMU |\n|---|---|---|---|\n' "$RUNS"
for m in init exit rss; do
    case $m in init) label="start to /init (s)" ;; exit) label="start to exit after poweroff (s)" ;; rss) label="peak RSS (KiB)" ;; esac
    a=${R[e1kvm,$m]} b=${R[qemu,$m]}
    ratio=NA
    [[ "$a" != NA && "$b" != NA ]] && ratio=$(echo "scale=2; $a / $b" | bc)
    printf '| %s | %s | %s | %s |\n' "$label" "$a" "$b" "$ratio"
done
