#!/bin/sh
# bench-net: numbers for bench/net.sh (not a test: it asserts nothing).
#   E1KVM-RESULT netup_uptime S     guest uptime when eth0 had link and an address
#   E1KVM-RESULT rtt_avg_ms X       20 pings to the host
#   E1KVM-RESULT tcp_tx_mbps X      iperf3 guest -> host, 5 s
#   E1KVM-RESULT tcp_rx_mbps X      iperf3 host -> guest (-R), 5 s
#   E1KVM-RESULT udp_tx_pps X       iperf3 -u 64-byte datagrams guest -> host, 5 s
#   E1KVM-RESULT irq_eth0 N         interrupts of eth0 after the run
# and before each workload "E1KVM-MARK phase NAME irqs=N pkts=P" (NAME: ping,
# tcp_tx, tcp_rx, udp_tx), after the last "E1KVM-MARK end irqs=N pkts=P": the
# host counts exits and packets per workload between these lines, N is the
# NIC's interrupt count so far, P its packets (rx + tx, as the driver counts
# them: the e1000 driver counts each TSO segment, as on the wire). The results
# are printed after the last mark, so that the console output inside a
# workload's window is its one mark line (the serial port's exits count too).
. /lib/e1kvm.sh
cmdline_arg -v ifc e1kvm.iface eth0
cmdline_arg -v addr e1kvm.ip 10.77.0.2/24
cmdline_arg -v peer e1kvm.peer 10.77.0.1

# the NIC's interrupt lines: e1000 names its line after the interface,
# virtio-net after the device (virtio0-input.0, ...)
irqs() {
    awk -v i="$ifc" '$NF == i || $NF ~ /^virtio[0-9]+-(input|output)/ { for (k = 2; k < NF; k++) if ($k ~ /^[0-9]+$/) s += $k } END { print s + 0 }' /proc/interrupts
}
pkts() {
    read -r rx <"/sys/class/net/$ifc/statistics/rx_packets"
    read -r tx <"/sys/class/net/$ifc/statistics/tx_packets"
    echo $((rx + tx))
}
mark() { echo "E1KVM-MARK $1 irqs=$(irqs) pkts=$(pkts)"; }

netup "$ifc" "$addr"
wait_link "$ifc" 20
# the host answers: network is up
ping -c 1 -W 5 "$peer" >/dev/null 2>&1 || ping -c 1 -W 5 "$peer" >/dev/null 2>&1
result netup_uptime "$(uptime_s)"
echo "E1KVM-MARK begin"
mark "phase ping"
out=$(ping -c 20 -i 0.2 "$peer" 2>&1)
rtt=${out##*min/avg/max = }
rtt=${rtt#*/}
rtt=${rtt%%/*}

mbps() { awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i ~ /bits\/sec/) { v = $(i - 1); u = $i } }
    END { if (u ~ /^K/) v /= 1000; if (u ~ /^G/) v *= 1000; if (u ~ /^bits/) v /= 1000000; print v + 0 }'; }
mark "phase tcp_tx"
tcp_tx=$(iperf3 -c "$peer" -t 5 -f m 2>&1 | mbps)
mark "phase tcp_rx"
tcp_rx=$(iperf3 -c "$peer" -t 5 -R -f m 2>&1 | mbps)
mark "phase udp_tx"
pk=$(iperf3 -c "$peer" -u -b 100M -l 64 -t 5 2>&1 | awk '/sender/ { for (i = 1; i <= NF; i++) if ($i ~ /\//) { split($i, a, "/"); n = a[2] } } END { print n + 0 }')
mark end
result rtt_avg_ms "$rtt"
result tcp_tx_mbps "$tcp_tx"
result tcp_rx_mbps "$tcp_rx"
result udp_tx_pps "$((pk / 5))"
result irq_eth0 "$(irqs)"
