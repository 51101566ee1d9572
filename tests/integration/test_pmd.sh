#!/usr/bin/env bash
# The e1000 driven by a poll-mode driver in guest user space: the path
# bench/pmd.sh measures, checked for correctness.
#
# One boot of the real guest with scenarios pmd-tx and pmd-rx
# (tests/guest/progs/e1000-pmd.c: BAR0 through sysfs, hugepage rings of 512,
# one tail write per burst of 32, no interrupts; e1kvm's defaults: the tail
# writes become doorbells that never exit, the main loop transmits, polls,
# and hands the device lock to the vCPU):
#   TX 64 and 1500 B, 3 s each: every frame the guest handed over reaches
#     tap0 (host counters against the guest's count and the NIC's GPTC), the
#     ring drains, and frames captured on tap0 are the guest's UDP frame,
#     field by field;
#   RX 64 and 1500 B, 3 s each: bench/tapgen floods tap0 with UDP frames;
#     the guest receives frames of the right length and content (no bad
#     data, errors or split frames; frames of another length may be left
#     over from the previous size) and the NIC's GPRC agrees;
#   -stats: the tail writes exited only the first time each value came.
# Then the same with e1kvm's virtio-net-pci and the project's virtio PMD
# (tests/guest/progs/virtio-pmd.c): every frame sent reaches tap0, frames
# received are right, the transmit notifies never exit.
. "$(dirname "$0")/lib.sh"
guest_prepare
INITRD=$INITRD_BASE # the PMD is static

T=$(mktemp -d)
NS=e1kvm-pmd-test
TAP=tap0
GUEST_MAC=52:54:00:12:34:56
# TX frames go to another MAC, as in bench/pmd.sh: the host stack drops them
# at once (to tap0's own address it would answer each with ICMP, and its
# ARP requests would reach the RX runs)
TX_DMAC=02:00:00:00:00:00
HOST_IP=10.77.6.1
GUEST_IP=10.77.6.2
SECS=3
L=$LOGDIR/pmd

if ! cc -O2 -Wall -Werror -o "$T/tapgen" "$ROOT/bench/tapgen.c"; then
    not_ok "cannot build bench/tapgen.c"
    finish
fi

netns_new $NS
ip netns exec $NS sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
tap_new $NS $TAP $HOST_IP/24

tap_rx() { ip netns exec $NS cat /sys/class/net/$TAP/statistics/rx_packets; }
# guest_result RUN SIZE KEY: the value in the segment of run RUN SIZE
guest_result() {
    tr -d '\r' <"$log" | awk -v m="$1" -v s="$2" -v k="$3" '
        $1 == "E1KVM-RESULT" && $2 == "pmd_run" { cur = ($3 == m && $4 == s) }
        cur && $1 == "E1KVM-RESULT" && $2 == k { $1 = ""; $2 = ""; v = substr($0, 3) }
        END { print v }'
}
wait_console() { # PATTERN TIMEOUT_S
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        tr -d '\r' <"$log" | grep -qF -- "$1" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# pmd_boot DEVICE PROG: one boot with -device DEVICE and the guest's PMD
# PROG (e1000-pmd, virtio-pmd), and its checks (W names them)
pmd_boot() {
DEV=$1 PROG=$2 W="PMD guest ($1)"
log=$L-$DEV.log
rx0=$(tap_rx)
ip netns exec $NS "$E1KVM" -kernel "$KERNEL" -initrd "$INITRD" \
    -append "$GUEST_CMDLINE e1kvm.scenario=pmd-tx,pmd-rx panic=-1 e1kvm.pmd_prog=$PROG e1kvm.pmd_size=64,1500 e1kvm.pmd_rx_flush=0 e1kvm.pmd_secs=$SECS e1kvm.pmd_dmac=$TX_DMAC e1kvm.peer=$HOST_IP e1kvm.ip=$GUEST_IP/24" \
    -nographic -netdev tap,id=n0,ifname=$TAP,script=no,downscript=no \
    -device $DEV,netdev=n0,mac=$GUEST_MAC -stats </dev/null >"$log" 2>&1 &
pid=$!
start=$(date +%s)

# TX: capture a few frames of each size while the guest sends them
for size in 64 1500; do
    if ! wait_console "E1KVM-MARK pmd-begin tx $size" 600; then
        not_ok "TX $size: the guest's window did not start (see $log)"
        continue
    fi
    timeout 10 ip netns exec $NS tcpdump -i $TAP -p -c 5 -w "$T/tx-$size.pcap" \
        "ether src $GUEST_MAC and udp" >/dev/null 2>&1 || true
done
wait_console "E1KVM-MARK pmd-end tx 1500" 60 || true
rx1=$(tap_rx)

# RX: tapgen from the guest's "prepare" line to the end of its window
for size in 64 1500; do
    if ! wait_console "E1KVM-MARK pmd-prepare rx $size" 120; then
        not_ok "RX $size: the guest did not get ready (see $log)"
        continue
    fi
    ip netns exec $NS "$T/tapgen" $TAP $GUEST_MAC $size >"$T/tapgen-$size.log" 2>&1 &
    gen=$!
    wait_console "E1KVM-MARK pmd-end rx $size" $((SECS + 60)) || true
    kill -INT $gen 2>/dev/null
    wait $gen 2>/dev/null
done

for _ in $(seq 1 120); do
    kill -0 $pid 2>/dev/null || break
    sleep 1
done
if kill -0 $pid 2>/dev/null; then
    not_ok "e1kvm still running 120 s after the last run"
    kill -KILL $pid
fi
wait $pid
rc=$?
check_eq "$W: poweroff -> exit code" 0 $rc
check_eq "$W: both scenarios finished" "rc=0" "$(tr -d '\r' <"$log" | awk '/^E1KVM-DONE/ {print $2}')"

# --- TX ------------------------------------------------------------------------
total=0
for size in 64 1500; do
    sent=$(guest_result tx $size pmd_tx_packets)
    check_ge "TX $size: the guest sent frames (pmd_tx_packets)" 10000 "${sent:-0}"
    total=$((total + ${sent:-0}))
    check_eq "TX $size: the ring drained (every descriptor came back DD)" 1 \
        "$(guest_result tx $size pmd_tx_drained | cut -d' ' -f1)"
    [ $DEV = e1000 ] && check_eq "TX $size: the NIC's GPTC counts every frame sent" "${sent:-x}" \
        "$(guest_result tx $size pmd_tx_hw_gptc)"
    # the e1000 PMD writes TDT once per burst of 32; virtio-pmd notifies
    # only when the device asks (it keeps notifications off while it works)
    if [ $DEV = e1000 ]; then
        check_eq "TX $size: one tail write per 32 frames" 32.00 "$(guest_result tx $size pmd_tx_pkts_per_mmio)"
    else
        check_ge "TX $size: at least 32 frames per notify" 32 \
            "$(guest_result tx $size pmd_tx_pkts_per_mmio | cut -d. -f1)"
    fi
    # the frame the guest built (bench/udpframe.h): ours, field by field
    fields=$(tshark -r "$T/tx-$size.pcap" -c 1 -o ip.check_checksum:TRUE -T fields -E separator=' ' \
        -e frame.len -e eth.dst -e eth.src -e ip.src -e ip.dst -e udp.srcport -e udp.dstport \
        -e ip.checksum.status 2>/dev/null)
    check_eq "TX $size: a frame on tap0 is the guest's UDP frame (IPv4 checksum good: 1)" \
        "$size $TX_DMAC $GUEST_MAC $GUEST_IP $HOST_IP 1024 9 1" "$fields"
done
got=$((rx1 - rx0))
check "TX: tap0 received every frame the guest sent ($got at the TAP, $total sent)" \
    test "$got" -ge "$total" -a "$got" -le $((total + 100))
# -stats at exit: a tail value exits the first time the guest writes it
# (it learns its doorbell then), 16 values on a ring of 512 in bursts of 32;
# virtio-net's transmit notify has its doorbell from the start
if [ $DEV = e1000 ]; then
    read -r tdt_exits tdt_doorbells < <(awk '$1 == "e1000-mmio" && $3 == "TDT" {print $5, $6}' "$log")
    check "TX: TDT exited only for first meetings (${tdt_exits:-?} exits, ${tdt_doorbells:-?} doorbells)" \
        test "${tdt_exits:-999}" -le 32 -a "${tdt_doorbells:-0}" -ge 1000
else
    read -r n_exits n_doorbells < <(awk '$1 == "virtio-pci" && $3 == "notify[1]" {print $5, $6}' "$log")
    check "TX: the transmit notifies never exited (${n_exits:-?} exits, ${n_doorbells:-?} doorbells)" \
        test "${n_exits:-999}" = 0 -a "${n_doorbells:-0}" -ge 1
fi

# --- RX ------------------------------------------------------------------------
for size in 64 1500; do
    pkts=$(guest_result rx $size pmd_rx_packets)
    check_ge "RX $size: the guest received frames (pmd_rx_packets)" 10000 "${pkts:-0}"
    bad=$(guest_result rx $size pmd_rx_bad)
    if [ $DEV = e1000 ]; then
        check "RX $size: no bad data, errors or split frames ($bad)" \
            bash -c '[[ "$1" == *" not_eop=0 errors=0 data=0" ]]' _ "$bad"
    else
        check "RX $size: no bad data or buffer ids ($bad)" \
            bash -c '[[ "$1" == *" id=0 data=0" ]]' _ "$bad"
    fi
    # GPRC is cleared when the window opens, after reception was enabled,
    # and read after it closes: it differs from the guest's count by the
    # frames in the 512-descriptor ring at either end, never more
    if [ $DEV = e1000 ]; then
        gprc=$(guest_result rx $size pmd_rx_hw_gprc)
        check "RX $size: the NIC's GPRC ($gprc) agrees with the guest's count within a ring" \
            test "$(( ${gprc:-0} > ${pkts:-0} ? ${gprc:-0} - ${pkts:-0} : ${pkts:-0} - ${gprc:-0} ))" -le 512
    fi
    say "# RX $size: $(guest_result rx $size pmd_rx_pps) pps, TX $size: $(guest_result tx $size pmd_tx_pps) pps (one boot, no tuning)"
done
# -stats: the main loop did the work and polled for it; the vCPU got the
# device lock when it wanted it
loopline=$(grep -a "^e1kvm: main loop: " "$log")
lockline=$(grep -a "^e1kvm: device lock: " "$log")
say "# $loopline"
say "# $lockline"
[ $DEV = e1000 ] && check "-stats: the main loop's polling saved wake-ups" \
    bash -c '[[ "$1" =~ ,\ ([0-9]+)\ wake-ups\ saved ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]' _ "$loopline"
check "no KVM error" bash -c '! grep -q "KVM internal error" "$1"' _ "$log"
say "# boot + 4 runs: $(($(date +%s) - start)) s"

}

pmd_boot e1000 e1000-pmd
# e1kvm's virtio-net-pci with the project's virtio poll-mode driver
# (tests/guest/progs/virtio-pmd.c): the same runs and host-side checks
pmd_boot virtio-net-pci virtio-pmd

rm -rf "$T"
finish
