#!/bin/sh
# e1000-stats: the NIC's statistics registers (ethtool -S) against known
# traffic, the driver's software counters, and the host TAP's counters.
# Between the two snapshots: the host's release of host_step stats_before (a
# short TCP exchange, seen by both ends) and 20 pings.  The host test reads
# its TAP counters at host_step stats_before/stats_after, i.e. right after
# our snapshots, so both sides count the same frames.
#   E1KVM-RESULT stats_ping_received N
#   E1KVM-RESULT stats_hw_{rx,tx}_{packets,bytes} DELTA   (device registers)
#   E1KVM-RESULT stats_sw_{rx,tx}_{packets,bytes} DELTA   (driver counters)
. /scenarios/e1000-common.sh
e1k_up || log "no carrier on $IFC"
# resolve ARP on both ends first, so the window holds pings and the release
ping_n n -c 2 -i 0.2 -W 10 -w 60 "$PEER"
nic_stats a
host_step stats_before
ping_n n -c 20 -i 0.05 -W 10 -w 60 "$PEER"
nic_stats b
host_step stats_after
result stats_ping_received "$n"
for k in hw_rx_packets hw_tx_packets hw_rx_bytes hw_tx_bytes \
	sw_rx_packets sw_tx_packets sw_rx_bytes sw_tx_bytes; do
	eval "result stats_$k \$((b_$k - a_$k))"
done
[ "$n" = 20 ]
