#!/usr/bin/env bash
# e1kvm's virtio-net-pci with the real guest and its Linux virtio_net
# driver, on TAPs inside private network namespaces (10.77.x.y only).
# Function, not speed (bench/compare.sh measures).  Two boots, one after
# the other:
#   boot 1  full initrd, -device virtio-net-pci on a vnet_hdr TAP: the
#           drivers bind (virtio-pci, virtio_net), the features they agree
#           on (VERSION_1, MRG_RXBUF, EVENT_IDX, CSUM/TSO both ways, the
#           control queue), MSI-X vectors per queue; link down and up
#           through QMP set_link (the config change interrupt moves the
#           carrier); 200 pings each way; iperf3 TCP both ways, with the
#           guest's TSO frames reaching the TAP whole (tcpdump on the TAP
#           sees frames above 1600 bytes); -stats counts the notifies that
#           did not exit (doorbells); promiscuous or not (tcpdump, -p)
#           through the control queue's receive mode
#   boot 2  base initrd: two NICs in one guest, a virtio-net-pci on tap0
#           (eth0: virtio_net is built into the kernel) and an e1000 on
#           tap1 (eth1: e1000.ko is loaded later), the two-NIC scenario
#           of the e1000 tests on them.
. "$(dirname "$0")/lib.sh"
guest_prepare
BOOTS=${VIRTIO_BOOTS:-1 2}
L=$LOGDIR/virtio
GUEST_IP=10.77.0.2
HOST_IP=10.77.0.1
OTHER_IP=10.77.0.99
OTHER_MAC=02:00:00:00:00:99
MAC0=52:54:00:e1:01:01
MAC1=52:54:00:e1:01:02
NS1=vio-main-$$
NS2=vio-two-$$
START=$SECONDS
. "$(dirname "$0")/guest-steps.sh"
QMPPY=$ROOT/tests/integration/qmp.py
Q1=$LOGDIR/virtio-1.qmp

set_link() {
    python3 "$QMPPY" "$Q1" run set_link "{\"name\": \"nic0\", \"up\": $1}" >>"$L-1-qmp.txt" 2>&1
}
# the link down for 2 s, then up; the release (TCP to the guest) follows
on_link_flap() {
    set_link false
    sleep 2
    set_link true
}

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
    esac
done

# feature LOG BIT: the negotiated feature bit (0/1) from vnet_features
feature() {
    local f
    f=$(result "$1" vnet_features)
    [ ${#f} -gt "$2" ] && echo "${f:$2:1}" || echo "?"
}

boot1() {
    local srv rc log=$L-1.log dump big
    rm -f "$Q1" "$L-1-qmp.txt"
    srv=$(iperf_server "$NS1" "$L-1-iperf3-server.log")
    # frames from the guest larger than any MTU-sized frame (1514 bytes): GSO frames
    ip netns exec "$NS1" tcpdump -i tap0 -Q in -nn -q -w /dev/null 'greater 1600' \
        </dev/null >/dev/null 2>"$L-1-tcpdump.txt" &
    dump=$!
    boot "$log" 1500 "$NS1" "$INITRD_FULL" virtio-net,e1000-ping,e1000-hostping,e1000-iperf,e1000-promisc \
        "e1kvm.iperf=tcp,tcp_r" -m 256M -stats -qmp "unix:$Q1,server=on,wait=off" \
        -netdev tap,id=n0,ifname=tap0,vnet_hdr=on \
        -device virtio-net-pci,netdev=n0,id=nic0,mac=$MAC0
    rc=$?
    kill "$srv" 2>/dev/null
    kill -INT "$dump" 2>/dev/null
    wait "$dump" 2>/dev/null
    big=$(sed -n 's/^\([0-9]\+\) packets captured/\1/p' "$L-1-tcpdump.txt")
    say "# boot 1 (virtio-net-pci) done after $((SECONDS - START)) s"
    check_boot "boot 1" "$log" $rc virtio-net e1000-ping e1000-hostping e1000-iperf e1000-promisc
    want "$log" vnet_pci_id 0x1af4:0x1041 "the guest sees a modern virtio-net function (1AF4:1041)"
    want "$log" vnet_pci_driver virtio-pci "virtio-pci bound the PCI function"
    want "$log" vnet_driver virtio_net "virtio_net bound the virtio device"
    check_eq "feature VIRTIO_F_VERSION_1 (32) negotiated" 1 "$(feature "$log" 32)"
    check_eq "feature MRG_RXBUF (15) negotiated" 1 "$(feature "$log" 15)"
    check_eq "feature RING_EVENT_IDX (29) negotiated" 1 "$(feature "$log" 29)"
    check_eq "feature RING_INDIRECT_DESC (28) negotiated" 1 "$(feature "$log" 28)"
    check_eq "feature CSUM (0) negotiated (vnet_hdr TAP)" 1 "$(feature "$log" 0)"
    check_eq "feature GUEST_CSUM (1) negotiated" 1 "$(feature "$log" 1)"
    check_eq "feature HOST_TSO4 (11) negotiated" 1 "$(feature "$log" 11)"
    check_eq "feature GUEST_TSO4 (7) negotiated" 1 "$(feature "$log" 7)"
    check_eq "feature CTRL_VQ (17) and CTRL_RX (18) negotiated" 11 "$(feature "$log" 17)$(feature "$log" 18)"
    check_eq "feature STATUS (16) negotiated" 1 "$(feature "$log" 16)"
    # input.0, output.0, config: one vector each
    want_ge "$log" vnet_msix 3 "MSI-X: a vector per queue and one for config changes"
    want "$log" vnet_tso on "ethtool -k: TSO on"
    want "$log" vnet_txcsum on "ethtool -k: TX checksumming on"
    want "$log" vnet_link_up 1 "carrier up before set_link"
    want "$log" vnet_carrier_changes 2 "QMP set_link nic0 down, then up: the guest's carrier went and came back"
    want "$log" vnet_link_again 1 "carrier up after set_link up"
    want "$log" vnet_ping_after_link 5 "5 pings after the link came back"
    check "QMP set_link answered twice" bash -c "[ \$(grep -c '\"return\": {}' '$L-1-qmp.txt') = 2 ]"
    want "$log" ping200_received 200 "guest -> host: 200 pings at a 50 ms interval, replies"
    want "$log" hostping_answer ok "host -> guest: 200 pings at a 50 ms interval"
    want_ge "$log" iperf_tcp_received 1 "iperf3 TCP guest -> host, bytes"
    want_ge "$log" iperf_tcp_r_received 1 "iperf3 TCP host -> guest, bytes"
    # the receive filter through the control queue: tcpdump's promiscuous
    # mode (VIRTIO_NET_CTRL_RX_PROMISC) lets frames for another MAC in,
    # tcpdump -p does not
    want "$log" promisc_other_mac 10 "promisc: tcpdump sees the 10 frames for $OTHER_MAC"
    want "$log" nopromisc_other_mac 0 "tcpdump -p: the device drops the 10 frames for $OTHER_MAC"
    want "$log" promisc_to_us 5 "promisc: tcpdump sees the host's 5 pings to the guest"
    want "$log" nopromisc_to_us 5 "tcpdump -p: tcpdump sees the host's 5 pings to the guest"
    # TSO through the TAP: the guest's TCP sends reach the host as GSO
    # frames whole (tcpdump on tap0 sees frames above 1600 bytes: at this
    # host's few Mbit/s Linux sizes its TSO sends to 2-3 segments), not cut
    # into MTU-sized frames by e1kvm
    check_ge "TSO: frames over 1600 bytes (more than one MTU-sized frame) the TAP received from the guest (GSO)" 1 "${big:-0}"
    # the queue notifies went through doorbells (ioeventfds), not exits
    check_ge "-stats: transmit queue notifies that did not exit (doorbells)" 10 \
        "$(awk '$1 == "virtio-pci" && $3 == "notify[1]" { print $6 }' "$log.err")"
}

boot2() {
    local rc log=$L-2.log
    boot "$log" 900 "$NS2" "$INITRD_BASE" e1000-twonics \
        "e1kvm.ip1=10.77.1.2/24 e1kvm.peer1=10.77.1.1" -m 256M \
        -netdev tap,id=n0,ifname=tap0 -device virtio-net-pci,netdev=n0,mac=$MAC0 \
        -netdev tap,id=n1,ifname=tap1 -device e1000,netdev=n1,mac=$MAC1
    rc=$?
    say "# boot 2 (virtio-net + e1000) done after $((SECONDS - START)) s"
    check_boot "boot 2" "$log" $rc e1000-twonics
    check_twonics "$log" "virtio-net + e1000"
}

[[ " $BOOTS " == *" 1 "* ]] && boot1
[[ " $BOOTS " == *" 2 "* ]] && boot2
say "# $TEST_NAME: wall time $((SECONDS - START)) s"
finish
