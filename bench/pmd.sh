#!/usr/bin/env bash
# Poll-mode-driver benchmark: e1kvm's e1000 vs QEMU's e1000 driven by the
# project's user-space driver (tests/guest/progs/e1000-pmd.c) instead of the
# Linux driver. On this host the guest kernel is emulated but guest user
# space runs natively (docs/HOST.md), so a PMD that touches a
# register once per 32 packets leaves the NIC model as the bottleneck.
#
# One boot per VMM runs six measurements in sequence, SECONDS each
# (scenarios pmd-tx, pmd-rx; frame bytes without FCS):
#   TX 64, TX 1500, RX 64, RX 1500       the PMD as DPDK works: one tail
#                                        write per 32 packets, nothing else
#   RX-FLUSH 64, RX-FLUSH 1500           the same plus a STATUS read after
#                                        each RDT write (e1000-pmd -F).
# QEMU's e1000 maps RDT as coalesced MMIO: without some other exit its RDT
# writes never reach the model, and RX stops after one ring of frames (see
# tests/guest/progs/e1000-pmd.c). The RX-FLUSH rows compare the RX paths.
# For each, inside the guest's window, the host:
#   - waits OFFSET s after the guest's "E1KVM-MARK pmd-begin", then for a
#     window W = SECONDS - 1.5 (TX) / SECONDS - 2.5 (RX) counts
#   - packets through the TAP (ip -s link): for TX what the VMM wrote (the
#     truth for TX); for RX what the TAP handed to the VMM, and its drops
#   - exits of the VMM: perf stat -e kvm:kvm_userspace_exit,kvm:kvm_mmio -p PID
#   - CPU time of the VMM process (all threads) and of its non-vCPU threads;
#     the vCPU thread's time includes the guest's busy polling, so per packet
#     it is the model's cost only when the guest never waits (TX with
#     synchronous exits: pmd_tx_dd_waits 0)
# For RX it runs bench/tapgen (AF_PACKET into the TAP, sendmmsg bursts) in
# the netns from the guest's "pmd-prepare" line to "pmd-end".
# (The RX window starts later: the PMD's own window opens at the first frame,
# and QEMU's e1000 holds reception for 1 s after every RCTL write.)
#
# With VMMS including qemu-virtio, QEMU's virtio-net-pci (vhost off) runs the
# same six measurements with tests/guest/progs/virtio-pmd.c, the paravirtual
# reference; with e1kvm-virtio, e1kvm's own virtio-net-pci does
# (VIRTIO_OPTS appended to its -device options).
#
#   bash bench/pmd.sh [SECONDS [BOOTS]]   (default 6 s, 1 boot per VMM; with
#                                         BOOTS > 1 the table shows medians)
# Env: E1KVM (binary), QEMU, E1KVM_GUEST_DIR (guest build dir, made with
# tests/guest/mkguest.sh if needed), LOG (log dir), VMMS ("e1kvm e1kvm-virtio qemu qemu-virtio"),
# RING (descriptors per ring, default 512), TX_DMAC (see below), E1000_OPTS (appended to e1kvm's
# -device e1000 options, e.g. ",doorbells=off"), TAP_OPTS (appended to e1kvm's -netdev tap
# options, e.g. ",vnet_hdr=off").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-6}
REPEAT=${2:-1}
if ! [[ "$SECS" =~ ^[0-9]+$ && "$REPEAT" =~ ^[0-9]+$ ]] || [ "$SECS" -lt 4 ] || [ "$REPEAT" -lt 1 ]; then
    echo "usage: $0 [SECONDS >= 4 [BOOTS]]" >&2
    exit 2
fi
LOG=${LOG:-/tmp/e1kvm-bench-pmd}
mkdir -p "$LOG"
# Our own guest dir by default: the shared one may predate tests/guest/progs.
GUEST_DIR=${E1KVM_GUEST_DIR:-/tmp/e1kvm-pmd-guest}
"$ROOT/tests/guest/mkguest.sh" "$GUEST_DIR" >"$LOG/mkguest.log" 2>&1 ||
    { tail -20 "$LOG/mkguest.log"; exit 1; }
KERNEL=$GUEST_DIR/vmlinux
INITRD=$GUEST_DIR/initrd-base.img # the PMD is static: the smallest initrd will do
E1KVM=${E1KVM:-$ROOT/build/e1kvm}
QEMU=${QEMU:-qemu-system-x86_64}
VMMS=${VMMS:-e1kvm e1kvm-virtio qemu qemu-virtio}
TAPGEN=$LOG/tapgen
cc -O2 -Wall -Werror -o "$TAPGEN" "$ROOT/bench/tapgen.c"

NS=e1kvm-pmd
GUEST_MAC=52:54:00:12:34:56
TAP_MAC=02:77:00:00:00:01 # fixed, so that the guest can be told before boot
RUNS=(tx:64 tx:1500 rx:64 rx:1500 rx-flush:64 rx-flush:1500)
APPEND="$(cat "$GUEST_DIR/cmdline") e1kvm.scenario=pmd-tx,pmd-rx e1kvm.pmd_size=64,1500 e1kvm.pmd_rx_flush=0,1"
# TX frames go to TX_DMAC: by default 02:00:00:00:00:00, the peer address
# DPDK's testpmd txonly uses unless told otherwise, which the host's stack
# drops at once (0.7 us per frame written to the TAP, measured here); with
# TX_DMAC=host they go to tap0's own MAC and address, and the host's stack
# takes each one up to UDP (2.2 us per frame in the writer's system call,
# the same for every VMM: then the TAP bounds TX, not the NIC model).
TX_DMAC=${TX_DMAC:-02:00:00:00:00:00}
[ "$TX_DMAC" = host ] && TX_DMAC=$TAP_MAC
APPEND+=" e1kvm.pmd_ring=${RING:-512} e1kvm.pmd_secs=$SECS e1kvm.pmd_dmac=$TX_DMAC e1kvm.peer=10.77.0.1 e1kvm.ip=10.77.0.2/24"

VMPID="" GENPID=""
cleanup() {
    [ -n "$GENPID" ] && kill "$GENPID" 2>/dev/null
    [ -n "$VMPID" ] && kill "$VMPID" 2>/dev/null
    ip netns pids $NS 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del $NS 2>/dev/null || true
}
trap cleanup EXIT

netns_up() {
    cleanup
    ip netns add $NS
    ip -n $NS link set lo up
    # no IPv6: its router/neighbour solicitations would reach the guest
    ip netns exec $NS sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n $NS tuntap add dev tap0 mode tap
    ip -n $NS link set tap0 address $TAP_MAC
    ip -n $NS addr add 10.77.0.1/24 dev tap0
    ip -n $NS link set tap0 up
}

# "rx_packets tx_packets tx_dropped" of tap0 (RX = frames the VMM wrote)
tap_counts() {
    local d=/sys/class/net/tap0/statistics
    ip netns exec $NS cat $d/rx_packets $d/tx_packets $d/tx_dropped | tr '\n' ' '
}

# CPU time in ns "all non_vcpu" of process $1 (vCPU threads: e1kvm "vcpuN",
# QEMU "CPU N/KVM"), from schedstat (the scheduler's exact run time): the
# tick-sampled utime+stime of /proc/PID/stat misses most of a QEMU vCPU
# thread's time on this host (measured: 0.52 s of ticks for 2.48 s run).
cpu_ns() {
    local t all=0 io=0 comm v
    for t in /proc/"$1"/task/*; do
        comm=$(cat "$t/comm" 2>/dev/null) || continue
        v=$(cut -d' ' -f1 "$t/schedstat" 2>/dev/null) || continue
        all=$((all + v))
        case $comm in vcpu* | CPU*KVM*) ;; *) io=$((io + v)) ;; esac
    done
    echo "$all $io"
}

# wait_for FILE PATTERN TIMEOUT_S: until a console line contains PATTERN;
# fails if the VMM exits or time runs out
wait_for() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -aqF -- "$2" "$1" && return 0
        kill -0 "$VMPID" 2>/dev/null || { echo "  VMM exited while waiting for '$2'" >&2; return 1; }
        sleep 0.1
    done
    echo "  timeout waiting for '$2'" >&2
    return 1
}

# the value of RESULT KEY in the segment of run MODE SIZE (after "pmd_run MODE SIZE")
guest_result() { # CONSOLE MODE SIZE KEY
    tr -d '\r' <"$1" | awk -v m="$2" -v s="$3" -v k="$4" '
        $1 == "E1KVM-RESULT" && $2 == "pmd_run" { cur = ($3 == m && $4 == s) }
        cur && $1 == "E1KVM-RESULT" && $2 == k { v = $3 }
        END { print (v == "" ? "NA" : v) }'
}

declare -A R
one_boot() { # NAME VMM-COMMAND...
    local name=$1
    shift
    local console=$LOG/$name.console
    echo "$name: $*" >&2
    netns_up
    local t0=$EPOCHREALTIME
    ip netns exec $NS "$@" </dev/null >"$console" 2>&1 &
    VMPID=$! # ip netns exec execs the VMM in place: this is the VMM
    local run mode dir size first=1
    for run in "${RUNS[@]}"; do
        mode=${run%:*} size=${run#*:} dir=${run%%[:-]*} # dir: tx or rx
        if [ "$dir" = rx ]; then
            wait_for "$console" "E1KVM-MARK pmd-prepare $mode $size" $((first ? 600 : SECS + 120)) || return 1
            ip netns exec $NS "$TAPGEN" tap0 $GUEST_MAC "$size" >"$LOG/$name.tapgen-$size" 2>&1 &
            GENPID=$!
        fi
        wait_for "$console" "E1KVM-MARK pmd-begin $mode $size" $((first ? 600 : SECS + 120)) || return 1
        if [ $first = 1 ]; then
            R[$name,ready]=$(echo "$EPOCHREALTIME - $t0" | bc)
            first=0
        fi
        local off w
        if [ "$dir" = tx ]; then off=0.5 w=$(echo "$SECS - 1.5" | bc); else off=1.5 w=$(echo "$SECS - 2.5" | bc); fi
        sleep "$off"
        local c0 k0 c1 k1 ta tb perfout=$LOG/$name.perf-$mode-$size
        c0=$(tap_counts) k0=$(cpu_ns $VMPID) ta=$EPOCHREALTIME
        perf stat -x, -e kvm:kvm_userspace_exit,kvm:kvm_mmio -p $VMPID -o "$perfout" -- sleep "$w" || true
        c1=$(tap_counts) k1=$(cpu_ns $VMPID) tb=$EPOCHREALTIME
        wait_for "$console" "E1KVM-MARK pmd-end $mode $size" $((SECS + 60)) || return 1
        if [ -n "$GENPID" ]; then
            kill -INT "$GENPID" || true
            wait "$GENPID" || true
            GENPID=""
        fi
        local -a a b ka kb
        read -ra a <<<"$c0"
        read -ra b <<<"$c1"
        read -ra ka <<<"$k0"
        read -ra kb <<<"$k1"
        local dt pk ue mm
        dt=$(echo "$tb - $ta" | bc)
        if [ "$dir" = tx ]; then pk=$((b[0] - a[0])); else pk=$((b[1] - a[1])); fi
        R[$name,$run,tapdrop]=$((b[2] - a[2]))
        ue=$(awk -F, '/kvm_userspace_exit/ {print $1}' "$perfout")
        mm=$(awk -F, '/kvm_mmio/ {print $1}' "$perfout")
        R[$name,$run,host]=$(echo "$pk / $dt" | bc)
        R[$name,$run,epp]=$(per "$ue" "$pk")
        R[$name,$run,mpp]=$(per "$mm" "$pk")
        R[$name,$run,cpu]=$(echo "$((kb[0] - ka[0])) / (10000000 * $dt)" | bc)
        R[$name,$run,iocpu]=$(echo "$((kb[1] - ka[1])) / (10000000 * $dt)" | bc)
        R[$name,$run,cpp]=$(per "$(((kb[0] - ka[0]) / 1000))" "$pk")
        echo "  $name $run: host ${R[$name,$run,host]} pps ($pk in ${dt}s), exits $ue, mmio $mm," \
            "VMM CPU ${R[$name,$run,cpu]}%, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    done
    timeout 120 tail --pid=$VMPID -f /dev/null || kill $VMPID
    wait $VMPID 2>/dev/null || true
    # the guest's own numbers, once the console is complete (they follow
    # the pmd-end mark, possibly after the host has moved on)
    for run in "${RUNS[@]}"; do
        mode=${run%:*} size=${run#*:} dir=${run%%[:-]*}
        R[$name,$run,guest]=$(guest_result "$console" "$mode" "$size" "pmd_${dir}_pps")
        R[$name,$run,ppm]=$(guest_result "$console" "$mode" "$size" "pmd_${dir}_pkts_per_mmio")
        if [ "$dir" = rx ]; then
            R[$name,$run,bad]=$(guest_result "$console" "$mode" "$size" pmd_rx_bad)
            R[$name,$run,first]=$(guest_result "$console" "$mode" "$size" pmd_rx_first_frame_s)
        fi
        echo "  $name $run: guest PMD ${R[$name,$run,guest]} pps" >&2
    done
    R[$name,total]=$(echo "$EPOCHREALTIME - $t0" | bc)
    R[$name,rc]=$(tr -d '\r' <"$console" | awk '/^E1KVM-DONE/ {print $2}')
    VMPID=""
}

per() { [[ "$1" =~ ^[0-9]+$ && "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] && echo "scale=3; $1 / $2" | bc || echo NA; }
ratio() { [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && [ "$(echo "$2 > 0" | bc)" = 1 ] && echo "scale=2; $1 / $2" | bc || echo NA; }

# both QEMU machines: the same but for the NIC (and the guest's driver)
# debug-threads: names the vCPU thread "CPU 0/KVM" (else every thread is
# "qemu-system-x86" and cpu_ns cannot tell them apart)
QEMU_COMMON=("$QEMU" -M microvm,pcie=on -enable-kvm -cpu host,-arch-capabilities -m 256M -smp 1
    -nographic -no-reboot -name pmd,debug-threads=on -kernel "$KERNEL" -initrd "$INITRD"
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off)

# Boots alternate between the VMMs, so that a change in the host's load
# (other VMs) hits both alike; the table shows medians over the boots.
for i in $(seq 1 "$REPEAT"); do
    for vmm in $VMMS; do
        case $vmm in
        e1kvm)
            one_boot "e1kvm.$i" "$E1KVM" -m 256M -smp 1 -nographic -kernel "$KERNEL" -initrd "$INITRD" \
                -append "$APPEND" -netdev "tap,id=n0,ifname=tap0,script=no,downscript=no${TAP_OPTS:-}" \
                -device e1000,netdev=n0,mac=$GUEST_MAC${E1000_OPTS:-} || echo "e1kvm: boot failed, see $LOG/e1kvm.$i.console" >&2
            ;;
        e1kvm-virtio)
            # e1kvm's own virtio-net-pci with the same virtio-pmd workload
            one_boot "e1kvm-virtio.$i" "$E1KVM" -m 256M -smp 1 -nographic -kernel "$KERNEL" -initrd "$INITRD" \
                -append "$APPEND e1kvm.pmd_prog=virtio-pmd" \
                -netdev "tap,id=n0,ifname=tap0,script=no,downscript=no${TAP_OPTS:-}" \
                -device virtio-net-pci,netdev=n0,mac=$GUEST_MAC${VIRTIO_OPTS:-} ||
                echo "e1kvm-virtio: boot failed, see $LOG/e1kvm-virtio.$i.console" >&2
            ;;
        qemu)
            one_boot "qemu.$i" "${QEMU_COMMON[@]}" -append "$APPEND" -device e1000,netdev=n0,mac=$GUEST_MAC ||
                echo "qemu: boot failed, see $LOG/qemu.$i.console" >&2
            ;;
        qemu-virtio)
            # the paravirtual reference: the same workload through
            # tests/guest/progs/virtio-pmd.c (vhost off, as in bench/net.sh)
            one_boot "qemu-virtio.$i" "${QEMU_COMMON[@]}" -append "$APPEND e1kvm.pmd_prog=virtio-pmd" \
                -device virtio-net-pci,netdev=n0,mac=$GUEST_MAC ||
                echo "qemu-virtio: boot failed, see $LOG/qemu-virtio.$i.console" >&2
            ;;
        *) echo "unknown VMM $vmm" >&2 ;;
        esac
    done
done

# R[VMM,key] = median over the boots of R[VMM.i,key] (numbers only; the rc
# column lists every boot's)
median() {
    sort -g | awk '{a[NR] = $1}
        END { if (!NR) print "NA"; else if (NR % 2) print a[(NR + 1) / 2];
              else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }' | sed -E '/\./ s/\.?0+$//'
}
for vmm in $VMMS; do
    for key in "${!R[@]}"; do
        [[ $key == "$vmm.1,"* ]] || continue
        k=${key#"$vmm.1,"} vals=() all=""
        for i in $(seq 1 "$REPEAT"); do
            x=${R[$vmm.$i,$k]:-NA}
            all+="${all:+ }$x"
            [[ $x =~ ^-?[0-9]*\.?[0-9]+$ ]] && vals+=("$x")
        done
        if [ ${#vals[@]} -gt 0 ]; then
            R[$vmm,$k]=$(printf '%s\n' "${vals[@]}" | median)
        elif [[ $all =~ ^(NA ?)+$ ]]; then
            R[$vmm,$k]=NA
        else
            R[$vmm,$k]=$all
        fi
    done
done

v() { echo "${R[$1]:-NA}"; }
printf '\nhost load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'median of %s boot(s) per VMM, ring %s descriptors, %s s per measurement, host window %s s (TX) / %s s (RX); frame sizes without FCS\n' \
    "$REPEAT" "${RING:-512}" "$SECS" "$(echo "$SECS - 1.5" | bc)" "$(echo "$SECS - 2.5" | bc)"
printf 'TX frames to %s%s; e1kvm device options: e1000%s\n' "$TX_DMAC" \
    "$([ "$TX_DMAC" = "$TAP_MAC" ] && echo " (tap0 itself: the host stack takes each frame)")" "${E1000_OPTS:-}"
printf '\n| measurement | e1kvm e1000 | QEMU e1000 | e1kvm / QEMU | QEMU virtio-net | e1kvm / virtio-net | e1kvm virtio-net | e1kvm virtio / QEMU virtio | e1kvm e1000 / e1kvm virtio |\n|---|---|---|---|---|---|---|---|---|\n'
row() {
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(v "e1kvm,$2")" "$(v "qemu,$2")" \
        "$(ratio "$(v "e1kvm,$2")" "$(v "qemu,$2")")" "$(v "qemu-virtio,$2")" \
        "$(ratio "$(v "e1kvm,$2")" "$(v "qemu-virtio,$2")")" "$(v "e1kvm-virtio,$2")" \
        "$(ratio "$(v "e1kvm-virtio,$2")" "$(v "qemu-virtio,$2")")" \
        "$(ratio "$(v "e1kvm,$2")" "$(v "e1kvm-virtio,$2")")"
}
for run in "${RUNS[@]}"; do
    mode=${run%:*} size=${run#*:} dir=${run%%[:-]*}
    M=${mode^^}
    if [ "$dir" = tx ]; then
        row "$M $size B: pps at the host (TAP rx)" "$run,host"
        row "$M $size B: pps by the guest PMD" "$run,guest"
    else
        row "$M $size B: pps delivered by the guest PMD" "$run,guest"
        row "$M $size B: pps the TAP handed to the VMM" "$run,host"
        row "$M $size B: TAP drops in the window (> 0: VMM was the bottleneck)" "$run,tapdrop"
        row "$M $size B: frames of another size or bad (guest, whole run)" "$run,bad"
        row "$M $size B: RCTL.EN to the first frame (s)" "$run,first"
    fi
    row "$M $size B: user-space exits per packet" "$run,epp"
    row "$M $size B: kvm_mmio per packet" "$run,mpp"
    row "$M $size B: packets per PMD MMIO write" "$run,ppm"
    row "$M $size B: VMM CPU, all threads (%)" "$run,cpu"
    row "$M $size B: VMM CPU, non-vCPU threads (%)" "$run,iocpu"
    row "$M $size B: VMM CPU per packet, all threads (us)" "$run,cpp"
done
row "VMM start to first window (s)" ready
row "whole boot, ${#RUNS[@]} measurements (s)" total
printf '| guest E1KVM-DONE | %s | %s | | %s | | %s | | |\n' "$(v e1kvm,rc)" "$(v qemu,rc)" "$(v qemu-virtio,rc)" \
    "$(v e1kvm-virtio,rc)"
echo "QEMU's and e1kvm's virtio-net run tests/guest/progs/virtio-pmd.c (one notify per burst, queue"
echo "size 256 at most; its RX-FLUSH rows read the device status after each notify)."
echo "Logs: $LOG"
