#!/bin/sh
# e1000-twonics: two 82540EMs on two TAPs.  eth0 = e1kvm.ip (10.77.0.2/24,
# peer 10.77.0.1), eth1 = e1kvm.ip1 (10.77.1.2/24, peer 10.77.1.1); 50 pings
# to each peer, both at the same time.  Then host_step two_nics: the host
# checks which TAP learnt which of our MACs.
#   E1KVM-RESULT twonics_mac0 MAC, twonics_mac1 MAC
#   E1KVM-RESULT twonics_link0 up|down, twonics_link1 up|down
#   E1KVM-RESULT twonics_received0 N, twonics_received1 N   (of 50 each)
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
# both at once: two NICs interrupting concurrently (in the background,
# ping's output goes to a file: a variable would not leave the subshell)
ping -c 50 -i 0.05 -W 5 -w 40 "$PEER" >/tmp/ping0 2>&1 &
p0=$!
ping_n n1 -c 50 -i 0.05 -W 5 -w 40 "$peer1"
wait $p0
out0=""
while read -r line; do out0="$out0 $line"; done </tmp/ping0
ping_parse n0 "$out0" "$PEER (eth0)"
result twonics_received0 "$n0"
result twonics_received1 "$n1"
host_step two_nics
[ $l0 = up ] && [ $l1 = up ] && [ "$n0" = 50 ] && [ "$n1" = 50 ]
