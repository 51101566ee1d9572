#!/bin/sh
# demo: what README's first command shows. eth0 (the emulated 82540EM) up,
# ping the host on the TAP, then iperf3 to the host's iperf3 server, then the
# driver's own view (ethtool -S). Prints each command and its output.
. /lib/e1kvm.sh
cmdline_arg -v ifc e1kvm.iface eth0
cmdline_arg -v addr e1kvm.ip 10.77.0.2/24
cmdline_arg -v peer e1kvm.peer 10.77.0.1

echo "guest: $(ethtool -i "$ifc" | head -1), PCI $(cat /sys/class/net/$ifc/device/vendor):$(cat /sys/class/net/$ifc/device/device)"
netup "$ifc" "$addr"
wait_link "$ifc" 15 && result link up || result link down
ip addr show "$ifc" | grep "inet "
echo "guest\$ ping -c 5 $peer"
ping -c 5 -W 3 "$peer"
echo "guest\$ iperf3 -c $peer -t 5 (the guest kernel runs in an instruction emulator here: expect a few Mbit/s)"
iperf3 -c "$peer" -t 5 -f m 2>&1 | tail -5
echo "guest\$ ethtool -S $ifc | grep -E 'rx_packets|tx_packets|rx_bytes|tx_bytes'"
ethtool -S "$ifc" | grep -E ' (rx|tx)_(packets|bytes):'
