#!/bin/sh
# e1000-twonics: two 82540EMs on two TAPs.  eth0 = e1kvm.ip (10.77.0.2/24,
# peer 10.77.0.1 on tap0), eth1 = e1kvm.ip1 (10.77.1.2/24, peer 10.77.1.1 on
# tap1).  20 pings to each peer, one NIC after the other; then both NICs at
# once: host_step eth1_pings makes the host start 100 pings to our eth1
# while we ping through eth0 (traffic and interrupts on both NICs at the
# same time; two pings inside the guest would trip the exec quirk noted in
# e1000-common.sh).  host_step two_nics: the host checks its pings and which
# TAP learnt which of our MACs.
#   E1KVM-RESULT twonics_mac0 MAC, twonics_mac1 MAC
#   E1KVM-RESULT twonics_link0 up|down, twonics_link1 up|down
#   E1KVM-RESULT twonics_received0 N, twonics_received1 N   (of 20 each)
#   E1KVM-RESULT twonics_concurrent0 N   (of 50, through eth0, while the
#                                         host pings eth1)
. /scenarios/e1000-common.sh
cmdline_arg -v addr1 e1kvm.ip1 10.77.1.2/24
cmdline_arg -v peer1 e1kvm.peer1 10.77.1.1
read -r mac0 </sys/class/net/eth0/address
read -r mac1 </sys/class/net/eth1/address
result twonics_mac0 "$mac0"
result twonics_mac1 "$mac1"
l0=down l1=down
e1k_up eth0 "$ADDR" && l0=up
e1k_up eth1 "$addr1" && l1=up
result twonics_link0 $l0
result twonics_link1 $l1
ping_n n0 -c 20 -i 0.05 -W 10 -w 60 "$PEER"
ping_n n1 -c 20 -i 0.05 -W 10 -w 60 "$peer1"
result twonics_received0 "$n0"
result twonics_received1 "$n1"
host_step eth1_pings
ping_n c0 -c 50 -i 0.05 -W 10 -w 60 "$PEER"
result twonics_concurrent0 "$c0"
host_step two_nics
[ $l0 = up ] && [ $l1 = up ] && [ "$n0" = 20 ] && [ "$n1" = 20 ] &&
	[ "$c0" = 50 ] && [ "$HOST_ANSWER" = ok ]
