#!/usr/bin/env bash
# Boot benchmark: e1kvm vs QEMU (microvm, KVM) on the same kernel and initrd.
# For each machine, median of RUNS boots of the "boot" scenario (the guest
# reaches /init, prints a few facts and powers off):
#   - wall time from process start to the guest's /init (its E1KVM-INIT line)
#     and to process exit after the guest's poweroff;
#   - peak RSS of the VMM process, and the VMM's own part of it: the largest
#     RSS seen over the run minus the resident part of guest RAM (the
#     largest anonymous mapping), sampled every 0.2 s from /proc/PID/smaps;
#   - guest kernel instructions that KVM emulated (perf stat -e
#     kvm:kvm_emulate_insn): on a host whose KVM runs the guest kernel in its
#     instruction emulator (see docs/HOST.md) this is the work
#     the platform makes the guest kernel do, and boot time follows it.
# Machines, all with -m 256M -smp 1 and the same vmlinux/initrd/append:
#   e1kvm          e1kvm with an e1000 on its PCI bus (-netdev user)
#   qemu-pci       QEMU -M microvm,pcie=on with an e1000 (-netdev user): the
#                  machine the e1000 benchmarks compare against
#   qemu-microvm   QEMU -M microvm without PCI or NIC (fewest devices; it
#                  cannot hold an e1000)
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
MACHINES=${MACHINES:-e1kvm qemu-pci qemu-microvm}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

have_perf=0
perf stat -x, -e kvm:kvm_emulate_insn -o /dev/null true 2>/dev/null && have_perf=1

# largest anonymous mapping's Rss (guest RAM) and the total Rss, in KiB
rss_sample() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { anon = ($6 == "" || $6 ~ /^\[anon/) }
         /^Size:/ { cur = $2 }
         /^Rss:/ { total += $2; if (anon && cur > best) { best = cur; ram = $2 } }
         END { print total + 0, ram + 0 }' "/proc/$1/smaps" 2>/dev/null || echo "0 0"
}

# one run: prints "init_s exit_s peak_rss_kib own_rss_kib emulated_insns"
measure() {
    local t0 out=$TMP/out perfout=$TMP/perf pid vmm="" init=NA own=0 hwm=0
    rm -f "$out" "$perfout"
    t0=$EPOCHREALTIME
    if [ $have_perf = 1 ]; then
        perf stat -x, -e kvm:kvm_emulate_insn -o "$perfout" -- "$@" </dev/null >"$out" 2>&1 &
    else
        "$@" </dev/null >"$out" 2>&1 &
    fi
    pid=$!
    while kill -0 $pid 2>/dev/null; do
        if [ -z "$vmm" ]; then
            if [ $have_perf = 1 ]; then vmm=$(pgrep -P $pid | head -1 || true); else vmm=$pid; fi
        fi
        if [ "$init" = NA ] && grep -q '^E1KVM-INIT' "$out" 2>/dev/null; then
            init=$(echo "$EPOCHREALTIME - $t0" | bc | xargs printf '%.1f')
        fi
        if [ -n "$vmm" ] && [ -r /proc/$vmm/status ]; then
            read -r total ram < <(rss_sample $vmm)
            [ $((total - ram)) -gt $own ] && own=$((total - ram))
            h=$(awk '/^VmHWM/ {print $2}' /proc/$vmm/status 2>/dev/null || echo 0)
            [ "${h:-0}" -gt $hwm ] && hwm=$h
        fi
        sleep 0.2
    done
    wait $pid || echo "  (exit status $?)" >&2
    local end insns=NA
    end=$(echo "$EPOCHREALTIME - $t0" | bc | xargs printf '%.1f')
    [ -s "$perfout" ] && insns=$(awk -F, '/kvm_emulate_insn/ {print $1}' "$perfout")
    grep -q '^E1KVM-DONE rc=0' "$out" || echo "  (the guest did not finish its scenario)" >&2
    echo "$init $end $hwm $own ${insns:-NA}"
}

median() { sort -g | awk '{a[NR] = $1} END {print (NR ? a[int((NR + 1) / 2)] : "NA")}'; }

declare -A R
run_vmm() {
    local name=$1
    shift
    local -a v=() all
    for i in $(seq 1 "$RUNS"); do
        read -r -a all < <(measure "$@")
        echo "  $name run $i: /init ${all[0]}s, exit ${all[1]}s, peak RSS ${all[2]} KiB," \
            "own RSS ${all[3]} KiB, emulated guest instructions ${all[4]}" >&2
        for k in 0 1 2 3 4; do v[$k]+="${all[$k]} "; done
    done
    local k=0
    for m in init exit rss own insns; do
        R[$name,$m]=$(printf '%s\n' ${v[$k]} | median)
        k=$((k + 1))
    done
}

echo "kernel $KERNEL, initrd $INITRD ($(($(stat -c %s "$INITRD") / 1024)) KiB), $RUNS runs each" >&2
declare -A CMD
CMD[e1kvm]="$E1KVM -m 256M -smp 1 -nographic -netdev user,id=n0 -device e1000,netdev=n0"
# QEMU: microvm (qboot firmware; -M pc's SeaBIOS does not finish here), KVM.
# -cpu host needs arch-capabilities off on this host (QEMU asserts on MSR 0x10a).
QBASE="$QEMU -enable-kvm -cpu host,-arch-capabilities -m 256M -smp 1 -nographic -no-reboot"
CMD[qemu-pci]="$QBASE -M microvm,pcie=on -netdev user,id=n0 -device e1000,netdev=n0"
CMD[qemu-microvm]="$QBASE -M microvm"
for m in $MACHINES; do
    # shellcheck disable=SC2086 # word splitting of the option list is wanted
    set -- ${CMD[$m]}
    echo "$m: $* -kernel $KERNEL -initrd $INITRD -append '$APPEND'" >&2
    run_vmm "$m" "$@" -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND"
done

printf '\n| metric (median of %d, %s) |' "$RUNS" "$(date -u +%Y-%m-%dT%H:%MZ)"
for m in $MACHINES; do printf ' %s |' "$m"; done
for m in $MACHINES; do [ "$m" != e1kvm ] && printf ' e1kvm / %s |' "$m"; done
printf '\n|---|'
for m in $MACHINES; do printf -- '---|'; done
for m in $MACHINES; do [ "$m" != e1kvm ] && printf -- '---|'; done
echo
for k in init exit rss own insns; do
    case $k in
    init) label="start to /init (s)" ;;
    exit) label="start to exit after poweroff (s)" ;;
    rss) label="peak RSS, VMM + guest RAM touched (KiB)" ;;
    own) label="VMM's own RSS, guest RAM excluded (KiB)" ;;
    insns) label="guest kernel instructions emulated by KVM" ;;
    esac
    printf '| %s |' "$label"
    for m in $MACHINES; do printf ' %s |' "${R[$m,$k]}"; done
    for m in $MACHINES; do
        [ "$m" = e1kvm ] && continue
        a=${R[e1kvm,$k]:-NA} b=${R[$m,$k]}
        ratio=NA
        [[ "$a" != NA && "$b" != NA && "$b" != 0 ]] && ratio=$(echo "scale=4; $a / $b" | bc | xargs printf '%.2f')
        printf ' %s |' "$ratio"
    done
    echo
done
