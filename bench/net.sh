#!/usr/bin/env bash
# Network benchmark with the Linux e1000 driver: e1kvm's e1000 vs QEMU's e1000
# (and QEMU's virtio-net-pci, vhost off, as the paravirtual reference, next
# to e1kvm's own virtio-net-pci with the Linux virtio_net driver), same
# kernel, initrd and TAP setup, one run. For each VMM, a private netns with
# tap0 = 10.77.0.1/24 and an iperf3 server; the guest runs the bench-net
# scenario (tests/guest/scenarios/bench-net.sh): 20 pings, iperf3 TCP
# guest->host and host->guest 5 s each, iperf3 UDP 64 B guest->host 5 s. At
# each of the guest's E1KVM-MARK lines (network up, one per workload, end)
# the host snapshots, so that every figure exists per workload and in all:
#   - exits of the VMM: perf stat -e kvm:kvm_userspace_exit,kvm:kvm_mmio,kvm:kvm_pio -p PID
#     (restarted at each mark; the few packets of the ~0.1 s the host takes
#     to see a mark are counted, their exits are not)
#   - packets: the guest NIC's rx + tx as its driver counts them (printed on
#     the marks; the e1000 driver counts every TSO segment, as on the wire,
#     where the TAP counts e1kvm's GSO frame once), else the TAP's (ip -s link)
#   - interrupts of the guest's NIC (/proc/interrupts, printed on the marks)
#   - CPU time of the VMM's non-vCPU threads (schedstat run time)
# and from process start: wall time to network up (the first mark).
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

cleanup() {
    ip netns pids $NS 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del $NS 2>/dev/null || true
}
trap cleanup EXIT

tap_packets() { ip -n $NS -s link show tap0 | awk '/RX:/ {getline; rx = $2} /TX:/ {getline; tx = $2} END {print rx + tx}'; }

# CPU time in µs of the non-vCPU threads of PID (e1kvm: "vcpuN"; QEMU: "CPU
# N/KVM"), from schedstat (the scheduler's exact run time; tick-sampled
# utime+stime misses most short runs on this host)
io_us() {
    local t sum=0 comm
    for t in /proc/"$1"/task/*; do
        comm=$(cat "$t/comm" 2>/dev/null) || continue
        case $comm in vcpu* | CPU*KVM* | kvm-*) continue ;; esac # vCPUs; KVM's own kernel worker
        sum=$((sum + $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)))
    done
    echo $((sum / 1000))
}

PHASES=(ping tcp_tx tcp_rx udp_tx)
EVENTS=kvm:kvm_userspace_exit,kvm:kvm_mmio,kvm:kvm_pio
# one run: VMM command in $@; prints "netup_s exits mmio pio packets io_cpu_ms
# rtt tcp_tx tcp_rx udp_pps irqs" and then, per phase, "exits packets irqs"
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
    local netup="" pk0="" cpu0 perfpid="" i k
    local -a pk cpu
    # the marks, in order: begin (network up), then one per phase, then end;
    # at each the host snapshots the TAP's counters and the VMM's CPU and
    # restarts perf, so that exits are counted per phase
    local marks=("E1KVM-MARK begin")
    for k in "${PHASES[@]}"; do marks+=("E1KVM-MARK phase $k "); done
    marks+=("E1KVM-MARK end")
    for ((i = 0; i < ${#marks[@]}; i++)); do
        local seen=0
        for _ in $(seq 1 3000); do
            if grep -qF "${marks[$i]}" "$console"; then seen=1; break; fi
            kill -0 $pid 2>/dev/null || break
            sleep 0.1
        done
        [ $seen = 1 ] || break
        [ $i = 0 ] && netup=$(echo "$EPOCHREALTIME - $t0" | bc)
        if [ -n "$perfpid" ]; then
            kill -INT $perfpid 2>/dev/null
            wait $perfpid 2>/dev/null || true
            perfpid=""
        fi
        pk[$i]=$(tap_packets)
        cpu[$i]=$(io_us $pid)
        if [ $i -gt 0 ] && [ $i -lt $((${#marks[@]} - 1)) ]; then
            perf stat -x, -e $EVENTS -p $pid -o "$perfout.$i" &
            perfpid=$!
        fi
    done
    [ -n "$perfpid" ] && kill -INT $perfpid 2>/dev/null && wait $perfpid 2>/dev/null || true
    timeout 120 tail --pid=$pid -f /dev/null || kill $pid
    wait $pid 2>/dev/null || true
    local r
    r() { tr -d '\r' <"$console" | awk -v k="$1" '$1 == "E1KVM-RESULT" && $2 == k {v = $3} END {print v}'; }
    # interrupts at a mark (the guest prints its NIC's count)
    irq_at() { tr -d '\r' <"$console" | grep -F "$1" | sed -n 's/.*irqs=\([0-9]*\).*/\1/p' | head -1; }
    # the guest NIC's packets at a mark (rx + tx as its driver counts them:
    # the e1000 driver counts every TSO segment; the TAP would count a GSO
    # frame once); the TAP's counters when the guest did not print them
    gpk_at() { tr -d '\r' <"$console" | grep -F "$1" | sed -n 's/.*pkts=\([0-9]*\).*/\1/p' | head -1; }
    local -a gpk
    for ((i = 0; i < ${#marks[@]}; i++)); do gpk[$i]=$(gpk_at "${marks[$i]}"); done
    if [[ -n "${gpk[1]:-}" && -n "${gpk[$((${#marks[@]} - 1))]:-}" ]]; then
        for ((i = 0; i < ${#marks[@]}; i++)); do pk[$i]=${gpk[$i]}; done
    fi
    ev() { [ -s "$1" ] && awk -F, -v e="$2" '$3 == e {print $1}' "$1" || echo NA; }
    local n=${#marks[@]} tot_e=0 tot_m=0 tot_p=0 per="" ok=1
    for ((i = 1; i < n - 1; i++)); do
        local e m p a b ia ib
        e=$(ev "$perfout.$i" kvm:kvm_userspace_exit)
        m=$(ev "$perfout.$i" kvm:kvm_mmio)
        p=$(ev "$perfout.$i" kvm:kvm_pio)
        a=${pk[$i]:-} b=${pk[$((i + 1))]:-}
        ia=$(irq_at "${marks[$i]}") ib=$(irq_at "${marks[$((i + 1))]}")
        if [[ "$e" =~ ^[0-9]+$ && "$m" =~ ^[0-9]+$ && "$p" =~ ^[0-9]+$ ]]; then
            tot_e=$((tot_e + e)) tot_m=$((tot_m + m)) tot_p=$((tot_p + p))
        else
            ok=0
        fi
        local np=NA ni=NA
        [[ -n "$a" && -n "$b" ]] && np=$((b - a))
        [[ -n "$ia" && -n "$ib" ]] && ni=$((ib - ia))
        per+=" ${e:-NA} $np $ni"
    done
    [ $ok = 1 ] || tot_e=NA tot_m=NA tot_p=NA
    local packets=NA iocpu=NA
    [[ -n "${pk[1]:-}" && -n "${pk[$((n - 1))]:-}" ]] && packets=$((pk[n - 1] - pk[1]))
    [[ -n "${cpu[1]:-}" && -n "${cpu[$((n - 1))]:-}" ]] && iocpu=$(((cpu[n - 1] - cpu[1]) / 1000))
    echo "${netup:-NA} $tot_e $tot_m $tot_p $packets $iocpu $(r rtt_avg_ms) $(r tcp_tx_mbps) $(r tcp_rx_mbps) $(r udp_tx_pps) $(r irq_eth0)$per"
}

median() { sort -g | awk '$1 != "NA" {a[++n] = $1} END {print (n ? a[int((n + 1) / 2)] : "NA")}'; }
FIELDS=(netup exits mmio pio packets iocpu rtt tcp_tx tcp_rx udp_pps irqs)
for k in "${PHASES[@]}"; do FIELDS+=("${k}_exits" "${k}_packets" "${k}_irqs"); done
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
# properties, e.g. E1000_OPTS=,doorbells=off; E1KVM_OPTS adds e1kvm options
# (e.g. E1KVM_OPTS=-stats: the exit table lands in $LOG/e1kvm.console)
VMMS=${VMMS:-e1kvm e1kvm-virtio qemu-e1000 qemu-virtio}
for v in $VMMS; do
    case $v in
    e1kvm) run_vmm e1kvm "$E1KVM" -m 256M -smp 1 -nographic -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND" \
        -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device "e1000,netdev=n0${E1000_OPTS:-}" ${E1KVM_OPTS:-} ;;
    e1kvm-virtio) run_vmm e1kvm-virtio "$E1KVM" -m 256M -smp 1 -nographic -kernel "$KERNEL" -initrd "$INITRD" \
        -append "$APPEND" -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
        -device "virtio-net-pci,netdev=n0${VIRTIO_OPTS:-}" ${E1KVM_OPTS:-} ;;
    qemu-e1000) run_vmm qemu-e1000 "${COMMON_QEMU[@]}" -device e1000,netdev=n0 ;;
    qemu-virtio) run_vmm qemu-virtio "${COMMON_QEMU[@]}" -device virtio-net-pci,netdev=n0 ;;
    esac
done

ratio() { [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && [ "$(echo "$2 > 0" | bc)" = 1 ] && echo "scale=2; $1 / $2" | bc | sed 's/^\./0./' || echo NA; }
per() { [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] && echo "scale=3; $1 / $2" | bc | sed 's/^\./0./' || echo NA; }
printf '\n| metric (median of %d) | e1kvm e1000 | QEMU e1000 | QEMU virtio-net | e1kvm / QEMU e1000 | e1kvm virtio-net | e1kvm virtio / QEMU virtio |\n|---|---|---|---|---|---|---|\n' "$RUNS"
# row NAME KEY: the KEY of every VMM (R[VMM,KEY])
row() {
    local a=${R[e1kvm,$2]:-NA} b=${R[qemu-e1000,$2]:-NA} c=${R[qemu-virtio,$2]:-NA} d=${R[e1kvm-virtio,$2]:-NA}
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$a" "$b" "$c" "$(ratio "$a" "$b")" "$d" "$(ratio "$d" "$c")"
}
for v in e1kvm e1kvm-virtio qemu-e1000 qemu-virtio; do
    for f in "${FIELDS[@]}"; do R[$v,$f]=${R[$v,$f]:-NA}; done
    R[$v,epp]=$(per "${R[$v,exits]}" "${R[$v,packets]}")
    R[$v,ipp]=$(per "${R[$v,irqs]}" "${R[$v,packets]}")
    R[$v,cpp]=$(per "$(echo "${R[$v,iocpu]} * 1000" | bc 2>/dev/null || echo NA)" "${R[$v,packets]}")
done
row "start to network up (s)" "netup"
row "ping RTT avg (ms)" "rtt"
row "TCP guest->host (Mbit/s)" "tcp_tx"
row "TCP host->guest (Mbit/s)" "tcp_rx"
row "UDP 64 B guest->host (pps)" "udp_pps"
row "packets (guest NIC counters, rx + tx)" "packets"
row "user-space exits" "exits"
row "user-space exits per packet" "epp"
row "MMIO exits (kvm_mmio)" "mmio"
row "guest interrupts per packet" "ipp"
row "VMM non-vCPU CPU per packet (us)" "cpp"
for k in "${PHASES[@]}"; do
    for v in e1kvm e1kvm-virtio qemu-e1000 qemu-virtio; do
        R[$v,${k}_epp]=$(per "${R[$v,${k}_exits]}" "${R[$v,${k}_packets]}")
        R[$v,${k}_ipp]=$(per "${R[$v,${k}_irqs]}" "${R[$v,${k}_packets]}")
    done
    row "$k: packets (guest NIC counters)" "${k}_packets"
    row "$k: user-space exits per packet" "${k}_epp"
    row "$k: guest interrupts per packet" "${k}_ipp"
done
