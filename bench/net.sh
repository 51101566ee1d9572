#!/usr/bin/env bash
# Network benchmark with the Linux e1000 driver: e1kvm's e1000 vs QEMU's e1000
# (and QEMU's virtio-net-pci, vhost off, as the paravirtual reference), same
# kernel, initrd and TAP setup, one run. For each VMM, a private netns with
# tap0 = 10.77.0.1/24 and an iperf3 server; the guest runs the bench-net
# scenario (tests/guest/scenarios/bench-net.sh). Between the guest's
# E1KVM-MARK begin/end lines the host counts:
#   - exits of the VMM: perf stat -e kvm:kvm_userspace_exit,kvm:kvm_mmio,kvm:kvm_pio -p PID
#   - packets through the TAP (rx + tx, from ip -s link)
#   - CPU time of the VMM's non-vCPU threads (utime + stime)
# and from process start: wall time to network up (the first MARK).
#
#   bash bench/net.sh [RUNS]     (default 1; median over RUNS)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-1}
GUEST_DIR=${E1KVM_GUEST_DIR:-${E1KVM_CACHE:-/var/cache/e1kvm}/out}
KERNEL=$GUEST_DIR/vmlinux
INITRD=$GUEST_DIR/initrd-net.img
APPEND="$(cat "$GUEST_DIR/cmdline") e1kvm.scenario=bench-net e1kvm.ip=10.77.0.2/24 e1kvm.peer=10.77.0.1"
E1KVM=${E1KVM:-$ROOT/build/e1kvm}
QEMU=${QEMU:-qemu-system-x86_64}
NS=e1kvm-bench
LOG=${LOG:-/tmp/e1kvm-bench}
mkdir -p "$LOG"
CLK=$(getconf CLK_TCK)

cleanup() {
    ip netns pids $NS 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del $NS 2>/dev/null || true
}
trap cleanup EXIT

tap_packets() { ip -n $NS -s link show tap0 | awk '/RX:/ {getline; rx = $2} /TX:/ {getline; tx = $2} END {print rx + tx}'; }

# CPU ticks of the non-vCPU threads of PID (e1kvm: "vcpuN"; QEMU: "CPU N/KVM")
io_ticks() {
    local t sum=0 comm
    for t in /proc/"$1"/task/*; do
        comm=$(cat "$t/comm" 2>/dev/null) || continue
        case $comm in vcpu* | CPU*KVM* | kvm-*) continue ;; esac  # vCPUs; KVM's own kernel worker
        sum=$((sum + $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)))
    done
    echo $sum
}

# one run: VMM command in $@; prints "netup_s exits mmio pio packets io_cpu_ms rtt tcp_tx tcp_rx udp_pps irqs"
one_run() {
    local name=$1
    shift
    cleanup
    ip netns add $NS
    ip -n $NS link set lo up
    ip -n $NS tuntap add dev tap0 mode tap
    ip -n $NS addr add 10.77.0.1/24 dev tap0
    ip -n $NS link set tap0 up
    ip netns exec $NS iperf3 -s -D --logfile /dev/null
    local console=$LOG/$name.console perfout=$LOG/$name.perf
    local t0=$EPOCHREALTIME
    ip netns exec $NS "$@" </dev/null >"$console" 2>&1 &
    local pid=$!
    # ip netns exec execs the VMM in place: $pid is the VMM
    local netup="" pk0 tk0 perfpid=""
    for _ in $(seq 1 3000); do
        if grep -q 'E1KVM-MARK begin' "$console"; then
            netup=$(echo "$EPOCHREALTIME - $t0" | bc)
            pk0=$(tap_packets)
            tk0=$(io_ticks $pid)
            perf stat -x, -e kvm:kvm_userspace_exit,kvm:kvm_mmio,kvm:kvm_pio -p $pid -o "$perfout" &
            perfpid=$!
            break
        fi
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    for _ in $(seq 1 3000); do
        grep -q 'E1KVM-MARK end' "$console" && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    local pk1 tk1
    pk1=$(tap_packets)
    tk1=$(io_ticks $pid)
    [ -n "$perfpid" ] && kill -INT $perfpid && wait $perfpid || true
    timeout 120 tail --pid=$pid -f /dev/null || kill $pid
    wait $pid 2>/dev/null || true
    local r
    r() { tr -d '\r' <"$console" | awk -v k="$1" '$1 == "E1KVM-RESULT" && $2 == k {v = $3} END {print v}'; }
    local ue mm pi
    ue=$(awk -F, '/kvm_userspace_exit/ {print $1}' "$perfout" 2>/dev/null)
    mm=$(awk -F, '/kvm_mmio/ {print $1}' "$perfout" 2>/dev/null)
    pi=$(awk -F, '/kvm_pio/ {print $1}' "$perfout" 2>/dev/null)
    echo "${netup:-NA} ${ue:-NA} ${mm:-NA} ${pi:-NA} $((pk1 - pk0)) $(((tk1 - tk0) * 1000 / CLK)) $(r rtt_avg_ms) $(r tcp_tx_mbps) $(r tcp_rx_mbps) $(r udp_tx_pps) $(r irq_eth0)"
}

median() { sort -g | awk '{a[NR] = $1} END {print (NR ? a[int((NR + 1) / 2)] : "NA")}'; }
FIELDS=(netup exits mmio pio packets iocpu rtt tcp_tx tcp_rx udp_pps irqs)
declare -A R
run_vmm() {
    local name=$1
    shift
    echo "$name: $*" >&2
    local i f rows=()
    for i in $(seq 1 "$RUNS"); do
        rows+=("$(one_run "$name" "$@")")
        echo "  $name run $i: ${rows[-1]}" >&2
    done
    for f in "${!FIELDS[@]}"; do
        R[$name,${FIELDS[$f]}]=$(printf '%s\n' "${rows[@]}" | awk -v c=$((f + 1)) '{print $c}' | median)
    done
}

# debug-threads=on names QEMU's vCPU threads "CPU N/KVM" so they can be told apart
COMMON_QEMU=("$QEMU" -name bench,debug-threads=on -M microvm,pcie=on -enable-kvm -cpu host,-arch-capabilities -m 256M -smp 1 -nographic
    -no-reboot -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND"
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off)
# VMMS selects what to run (default all three); E1000_OPTS adds e1kvm device
# properties, e.g. E1000_OPTS=,doorbells=off
VMMS=${VMMS:-e1kvm qemu-e1000 qemu-virtio}
for v in $VMMS; do
    case $v in
    e1kvm) run_vmm e1kvm "$E1KVM" -m 256M -smp 1 -nographic -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND" \
        -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device "e1000,netdev=n0${E1000_OPTS:-}" ;;
    qemu-e1000) run_vmm qemu-e1000 "${COMMON_QEMU[@]}" -device e1000,netdev=n0 ;;
    qemu-virtio) run_vmm qemu-virtio "${COMMON_QEMU[@]}" -device virtio-net-pci,netdev=n0 ;;
    esac
done

ratio() { [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && [ "$(echo "$2 > 0" | bc)" = 1 ] && echo "scale=2; $1 / $2" | bc | sed 's/^\./0./' || echo NA; }
per() { [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] && echo "scale=3; $1 / $2" | bc | sed 's/^\./0./' || echo NA; }
printf '\n| metric (median of %d) | e1kvm e1000 | QEMU e1000 | QEMU virtio-net | e1kvm / QEMU e1000 |\n|---|---|---|---|---|\n' "$RUNS"
row() {
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$(ratio "$2" "$3")"
}
for v in e1kvm qemu-e1000 qemu-virtio; do
    R[$v,epp]=$(per "${R[$v,exits]}" "${R[$v,packets]}")
    R[$v,ipp]=$(per "${R[$v,irqs]}" "${R[$v,packets]}")
    R[$v,cpp]=$(per "$(echo "${R[$v,iocpu]} * 1000" | bc 2>/dev/null || echo NA)" "${R[$v,packets]}")
done
row "start to network up (s)" "${R[e1kvm,netup]}" "${R[qemu-e1000,netup]}" "${R[qemu-virtio,netup]}"
row "ping RTT avg (ms)" "${R[e1kvm,rtt]}" "${R[qemu-e1000,rtt]}" "${R[qemu-virtio,rtt]}"
row "TCP guest->host (Mbit/s)" "${R[e1kvm,tcp_tx]}" "${R[qemu-e1000,tcp_tx]}" "${R[qemu-virtio,tcp_tx]}"
row "TCP host->guest (Mbit/s)" "${R[e1kvm,tcp_rx]}" "${R[qemu-e1000,tcp_rx]}" "${R[qemu-virtio,tcp_rx]}"
row "UDP 64 B guest->host (pps)" "${R[e1kvm,udp_pps]}" "${R[qemu-e1000,udp_pps]}" "${R[qemu-virtio,udp_pps]}"
row "packets through the TAP" "${R[e1kvm,packets]}" "${R[qemu-e1000,packets]}" "${R[qemu-virtio,packets]}"
row "user-space exits" "${R[e1kvm,exits]}" "${R[qemu-e1000,exits]}" "${R[qemu-virtio,exits]}"
row "user-space exits per packet" "${R[e1kvm,epp]}" "${R[qemu-e1000,epp]}" "${R[qemu-virtio,epp]}"
row "MMIO exits (kvm_mmio)" "${R[e1kvm,mmio]}" "${R[qemu-e1000,mmio]}" "${R[qemu-virtio,mmio]}"
row "guest interrupts per packet" "${R[e1kvm,ipp]}" "${R[qemu-e1000,ipp]}" "${R[qemu-virtio,ipp]}"
row "VMM non-vCPU CPU per packet (us)" "${R[e1kvm,cpp]}" "${R[qemu-e1000,cpp]}" "${R[qemu-virtio,cpp]}"
