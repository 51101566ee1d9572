#!/usr/bin/env bash
# The emulated 82540EM with the real guest and its Linux e1000 driver, on
# TAPs inside private network namespaces (10.77.x.y only; nothing leaves
# them).  Function, not speed.  A boot costs ~40-80 s here (docs/HOST.md; 2-5
# times that when other VMs load the host), so each boot chains many
# scenarios (tests/guest/scenarios/e1000-*.sh):
#   boot 1  full initrd (tcpdump): guest->host ping x200, host->guest ping
#           x200, ethtool -S counters vs TAP counters, iperf3 TCP both ways
#           and UDP, promiscuous vs not, VLAN 100, MTU 9000, link down/up,
#           rmmod/insmod
#   boot 2  base initrd: two NICs on two TAPs, each pinged alone, then the
#           host pings eth1 while the guest pings through eth0
#   boot 3  net initrd, ASan+UBSan build ($E1KVM_ASAN): ping + TCP iperf3;
#           no sanitizer report, exit code 0
#   boot 4  base initrd: the other models, -device e1000-82544gc on tap0 and
#           e1000-82545em on tap1: the Linux driver binds both (device IDs,
#           PHYs, EEPROM arbitration), then boot 2's two-NIC scenario on them
# Boots 2, 3 and 4 run one after the other, next to boot 1 (two VMs at a
# time on this 2-core host).
#
# Some steps need the host's side in the middle of a scenario (the host pings
# the guest, changes its TAP's MTU, reads its TAP counters).  The guest
# prints "E1KVM-WAIT STEP seq=N port=7777" and blocks on nc -l -p 7777;
# boot() below watches the console log, runs on_STEP once per seq, then
# releases the guest by connecting to its port 7777 and sending one line
# (see host_step in tests/guest/scenarios/e1000-common.sh).
#
# VLAN: the host kernel here has no 802.1Q support (ip link add ... type vlan:
# "Unknown device type"; no bridge VLAN filtering either), so the host end
# of VLAN 100 is vlan_peer below: a small AF_PACKET responder on the TAP that
# answers ARP and ping for 10.77.100.1 with 802.1Q-tagged frames.
#
# E1000_BOOTS="1 2 3 4" (default) picks boots, for working on one of them.
. "$(dirname "$0")/lib.sh"
guest_prepare
E1KVM_ASAN=${E1KVM_ASAN:-$ROOT/build-asan/e1kvm}
BOOTS=${E1000_BOOTS:-1 2 3 4}
L=$LOGDIR/e1000
GUEST_IP=10.77.0.2
HOST_IP=10.77.0.1
OTHER_IP=10.77.0.99 # on the host: pinned to a MAC nobody has
OTHER_MAC=02:00:00:00:00:99
MAC0=52:54:00:e1:00:01
MAC1=52:54:00:e1:00:02
NS1=e1k-main-$$
NS2=e1k-two-$$
NS3=e1k-asan-$$
NS4=e1k-models-$$
START=$SECONDS

. "$(dirname "$0")/guest-steps.sh"

check_boot1() {
    local log=$1 s
    want "$log" ping200_received 200 "guest -> host: 200 pings at a 50 ms interval, replies"
    want "$log" hostping_answer ok "host -> guest: the guest was held while the host pinged"

    # ethtool -S counters (the NIC's GPRC/GPTC/GORC/GOTC registers) vs 20
    # pings, the driver's own counters and the host TAP's counters
    want "$log" stats_ping_received 20 "stats: 20 pings between the snapshots, replies"
    local hw_tx hw_rx sw_tx sw_rx hw_txb hw_rxb b a
    hw_tx=$(result "$log" stats_hw_tx_packets)
    hw_rx=$(result "$log" stats_hw_rx_packets)
    hw_txb=$(result "$log" stats_hw_tx_bytes)
    hw_rxb=$(result "$log" stats_hw_rx_bytes)
    sw_tx=$(result "$log" stats_sw_tx_packets)
    sw_rx=$(result "$log" stats_sw_rx_packets)
    # 20 echo requests/replies plus the release of host_step stats_before
    # (a TCP connection: ~5 frames each way) and possibly an ARP probe
    check_range "stats: ethtool -S tx_packets delta for 20 pings + release" 20 32 "$hw_tx"
    check_range "stats: ethtool -S rx_packets delta for 20 pings + release" 20 32 "$hw_rx"
    check_same "stats: NIC tx_packets delta = driver's tx_packets delta" "$hw_tx" "$sw_tx"
    check_same "stats: NIC rx_packets delta = driver's rx_packets delta" "$hw_rx" "$sw_rx"
    if [ -s "$L-1-tap-before" ] && [ -s "$L-1-tap-after" ]; then
        read -r -a b <"$L-1-tap-before"
        read -r -a a <"$L-1-tap-after"
        local tap_rx=$((a[0] - b[0])) tap_tx=$((a[1] - b[1])) tap_rxb=$((a[2] - b[2])) tap_txb=$((a[3] - b[3]))
        check_same "stats: guest NIC tx_packets delta = host TAP rx_packets delta" "$tap_rx" "$hw_tx"
        check_same "stats: guest NIC rx_packets delta = host TAP tx_packets delta" "$tap_tx" "$hw_rx"
        # GOTC counts each frame as on the wire: padded to 60 bytes (the TAP
        # gets the padded frame too) plus the 4-byte FCS
        check_same "stats: NIC tx_bytes delta = TAP rx_bytes + 4 (FCS) per frame" \
            $((tap_rxb + 4 * tap_rx)) "$hw_txb"
        # GORC: frames from the TAP may be shorter than 60 bytes (TCP ACKs
        # are 54-66); the NIC counts them padded, plus FCS
        check_range "stats: NIC rx_bytes delta = TAP tx_bytes + FCS (+ padding) per frame" \
            $((tap_txb + 4 * tap_tx)) $((tap_txb + 22 * tap_tx)) "$hw_rxb"
    else
        not_ok "stats: the host never read its TAP counters (host steps stats_before/after)"
    fi

    # iperf3: completed, no error, bytes moved
    for s in tcp tcp_r udp; do
        want "$log" iperf_${s}_rc 0 "iperf3 $s: exit code"
        want "$log" iperf_${s}_error 0 "iperf3 $s: no error in its JSON"
        want_ge "$log" iperf_${s}_received 1 "iperf3 $s: bytes received"
    done
    local pk lost
    pk=$(result "$log" iperf_udp_packets)
    lost=$(result "$log" iperf_udp_lost)
    check_ge "iperf3 udp: datagrams at the receiver" 1 "$pk"
    # 1 Mbit/s is far below what even this emulated guest sends: allow 10 %
    check_range "iperf3 udp: datagrams lost (at most 10 % of $pk)" 0 $(((${pk:-0} + 9) / 10)) "$lost"

    # promiscuous mode
    want "$log" promisc_other_mac 10 "promisc: tcpdump sees the 10 frames for $OTHER_MAC"
    want "$log" nopromisc_other_mac 0 "tcpdump -p: the NIC drops the 10 frames for $OTHER_MAC"
    want "$log" promisc_to_us 5 "promisc: tcpdump sees the host's 5 pings to the guest"
    want "$log" nopromisc_to_us 5 "tcpdump -p: tcpdump sees the host's 5 pings to the guest"

    # VLAN
    want "$log" vlan_received 20 "VLAN 100: 20 pings from eth0.100 to the host's VLAN 100 end, replies"
    want "$log" vlan_untagged_received 5 "VLAN 100: untagged pings next to it, replies"
    check_ge "VLAN 100: the host end answered pings tagged with VLAN 100 from $MAC0" 20 \
        "$(grep -c "^echo-reply $MAC0 tci 100 " "$L-1-vlan-peer.log")"

    # MTU 9000; the control shows the fragmentation counters work
    want "$log" mtu_ctl_received 3 "MTU 1500: 8000-byte pings (fragmented), replies"
    want_ge "$log" mtu_ctl_frag_created 3 "MTU 1500: the guest fragmented its 8000-byte pings"
    want_ge "$log" mtu_ctl_reasm 3 "MTU 1500: the guest reassembled the host's replies"
    want "$log" mtu_set 9000 "MTU 9000 set on eth0"
    want "$log" mtu_jumbo8000_received 5 "MTU 9000: 8000-byte pings, replies"
    want "$log" mtu_jumbo8972_received 5 "MTU 9000: 8972-byte pings (9014-byte frames), replies"
    want "$log" mtu_jumbo_frag_created 0 "MTU 9000: no fragments sent (jumbo frames went out whole)"
    want "$log" mtu_jumbo_reasm 0 "MTU 9000: no fragments received (the replies came in whole)"
    check_pings "MTU 9000: host -> guest ping -M do -s 8972 (9014-byte frames, DF)" 5 "$L-1-mtu-host-ping.txt"
    want_ge "$log" mtu_iperf_tcp_received 1 "MTU 9000: iperf3 TCP guest -> host, bytes"
    want_ge "$log" mtu_iperf_tcp_r_received 1 "MTU 9000: iperf3 TCP host -> guest, bytes"
    want "$log" mtu_back_received 5 "MTU back to 1500: pings, replies"

    # link down/up, module reload
    want "$log" ifdown_carrier_down 1 "ip link set down: no carrier"
    want "$log" ifdown_link up "ip link set up: carrier back"
    want "$log" ifdown_received 20 "after down/up: 20 pings, replies"
    want "$log" reload_rmmod 0 "rmmod e1000"
    want "$log" reload_gone 1 "rmmod e1000: eth0 gone"
    want "$log" reload_insmod 0 "insmod e1000.ko again"
    want "$log" reload_link up "after the reload: carrier"
    want "$log" reload_received 20 "after the reload: 20 pings, replies"
}

# --- boots ---

# All namespaces first, in this shell: its EXIT trap removes them (a
# background subshell does not run the trap).
for b in $BOOTS; do
    case $b in
    1)
        ns_setup "$NS1"
        tap_new "$NS1" tap0 $HOST_IP/24
        ;;
    2)
        ns_setup "$NS2"
        ip netns exec "$NS2" sysctl -qw net.ipv4.conf.all.arp_ignore=1
        tap_new "$NS2" tap0 $HOST_IP/24
        tap_new "$NS2" tap1 10.77.1.1/24
        ;;
    3)
        ns_setup "$NS3"
        tap_new "$NS3" tap0 $HOST_IP/24
        ;;
    4)
        ns_setup "$NS4"
        ip netns exec "$NS4" sysctl -qw net.ipv4.conf.all.arp_ignore=1
        tap_new "$NS4" tap0 $HOST_IP/24
        tap_new "$NS4" tap1 10.77.1.1/24
        ;;
    esac
done

SCEN1=e1000-ping,e1000-hostping,e1000-stats,e1000-iperf,e1000-promisc,e1000-vlan,e1000-mtu,e1000-ifdown,e1000-reload
SCEN3=e1000-ping,e1000-iperf

boot1() {
    local srv vp rc
    rm -f "$L-1-tap-before" "$L-1-tap-after"
    srv=$(iperf_server "$NS1" "$L-1-iperf3-server.log")
    vp=$(vlan_peer "$NS1" tap0 100 10.77.100.1 02:00:00:00:01:64 "$L-1-vlan-peer.log")
    boot "$L-1.log" 1500 "$NS1" "$INITRD_FULL" "$SCEN1" "" -m 256M \
        -netdev tap,id=n0,ifname=tap0 -device e1000,netdev=n0,mac=$MAC0
    rc=$?
    kill "$srv" "$vp" 2>/dev/null
    say "# boot 1 (full initrd, ${SCEN1//,/ }) done after $((SECONDS - START)) s"
    IFS=, read -r -a s <<<"$SCEN1"
    check_boot "boot 1" "$L-1.log" $rc "${s[@]}"
    check_boot1 "$L-1.log"
}

boot2() {
    local rc
    boot "$L-2.log" 900 "$NS2" "$INITRD_BASE" e1000-twonics \
        "e1kvm.ip1=10.77.1.2/24 e1kvm.peer1=10.77.1.1" -m 256M \
        -netdev tap,id=n0,ifname=tap0 -device e1000,netdev=n0,mac=$MAC0 \
        -netdev tap,id=n1,ifname=tap1 -device e1000,netdev=n1,mac=$MAC1
    rc=$?
    say "# boot 2 (two NICs) done after $((SECONDS - START)) s"
    check_boot "boot 2" "$L-2.log" $rc e1000-twonics
    check_twonics "$L-2.log" "two NICs"
}

boot4() {
    local rc log=$L-4.log
    boot "$log" 900 "$NS4" "$INITRD_BASE" e1000-models,e1000-twonics \
        "e1kvm.ip1=10.77.1.2/24 e1kvm.peer1=10.77.1.1" -m 256M \
        -netdev tap,id=n0,ifname=tap0 -device e1000-82544gc,netdev=n0,mac=$MAC0 \
        -netdev tap,id=n1,ifname=tap1 -device e1000-82545em,netdev=n1,mac=$MAC1
    rc=$?
    say "# boot 4 (82544GC and 82545EM) done after $((SECONDS - START)) s"
    check_boot "boot 4 (models)" "$log" $rc e1000-models e1000-twonics
    want "$log" models_dev0 0x100c "82544GC: the guest sees device 8086:100C"
    want "$log" models_dev1 0x100f "82545EM: the guest sees device 8086:100F"
    want "$log" models_driver0 e1000 "82544GC: the Linux e1000 driver bound it"
    want "$log" models_driver1 e1000 "82545EM: the Linux e1000 driver bound it"
    want "$log" models_pci_lines 2 "both probes report a plain PCI bus (PCI:33MHz:32-bit), no PCI-X"
    want "$log" models_phy_errors 0 "no PHY, MAC or EEPROM errors at probe"
    check_twonics "$log" "82544GC + 82545EM"
}

boot3() {
    local srv rc log=$L-3.log
    if [ ! -x "$E1KVM_ASAN" ]; then
        not_ok "no ASan+UBSan build at $E1KVM_ASAN (meson setup build-asan -Db_sanitize=address,undefined)"
        return
    fi
    # a check that can fail: the binary really is instrumented
    check "ASan build $E1KVM_ASAN is instrumented" grep -q __asan_init "$E1KVM_ASAN"
    srv=$(iperf_server "$NS3" "$L-3-iperf3-server.log")
    VMM=$E1KVM_ASAN ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        boot "$log" 900 "$NS3" "$INITRD_NET" "$SCEN3" "e1kvm.iperf=tcp,tcp_r" -m 256M \
        -netdev tap,id=n0,ifname=tap0 -device e1000,netdev=n0,mac=$MAC0
    rc=$?
    kill "$srv" 2>/dev/null
    say "# boot 3 (ASan+UBSan build) done after $((SECONDS - START)) s"
    check_boot "boot 3 (ASan+UBSan)" "$log" $rc e1000-ping e1000-iperf
    check "boot 3 (ASan+UBSan): no sanitizer report on stderr ($log.err)" \
        bash -c '! grep -Eq "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Undefined|Leak)" "$1"' _ "$log.err"
    want "$log" ping200_received 200 "boot 3 (ASan+UBSan): 200 pings, replies"
    want_ge "$log" iperf_tcp_received 1 "boot 3 (ASan+UBSan): iperf3 TCP guest -> host, bytes"
    want_ge "$log" iperf_tcp_r_received 1 "boot 3 (ASan+UBSan): iperf3 TCP host -> guest, bytes"
}

# boot 1 here; boots 2 and 3 one after the other in the background
pids=()
if [[ " $BOOTS " == *" 2 "* || " $BOOTS " == *" 3 "* || " $BOOTS " == *" 4 "* ]]; then
    (
        [[ " $BOOTS " == *" 2 "* ]] && boot2
        [[ " $BOOTS " == *" 3 "* ]] && boot3
        [[ " $BOOTS " == *" 4 "* ]] && boot4
    ) &
    pids+=($!)
fi
[[ " $BOOTS " == *" 1 "* ]] && boot1
for p in "${pids[@]}"; do wait "$p"; done
say "# $TEST_NAME: wall time $((SECONDS - START)) s"
finish
