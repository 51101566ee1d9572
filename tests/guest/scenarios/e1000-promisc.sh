#!/bin/sh
# e1000-promisc: the receive address filter, seen through tcpdump.  At
# host_step promisc_traffic the host sends 10 pings to 10.77.0.99, whose
# neighbour entry it pinned to 02:00:00:00:00:99 (a MAC nobody has), and 5
# pings to us; meanwhile tcpdump captures ICMP on eth0:
#   1. promiscuous (tcpdump's default: the driver sets RCTL.UPE) -> all 10
#      frames for 02:00:00:00:00:99 must be captured;
#   2. tcpdump -p (not promiscuous) -> none of them: the NIC drops them.
# In both runs the host's 5 pings to us must be captured (tcpdump works).
#   E1KVM-RESULT promisc_other_mac N      frames to 02:00:00:00:00:99
#   E1KVM-RESULT promisc_to_us N          echo requests to us
#   E1KVM-RESULT nopromisc_other_mac N, nopromisc_to_us N
. /scenarios/e1000-common.sh
e1k_up || log "no carrier on $IFC"
ip4=${ADDR%/*}

# capture NAME [TCPDUMP-FLAGS]: tcpdump during host_step promisc_traffic
capture() {
	local name=$1 pid i=0 line other=0 us=0 started
	shift
	rm -f /tmp/td.out /tmp/td.err
	# -Z root: keep root (no privilege drop); -l: line-buffered; -e: MACs
	tcpdump -Z root -i "$IFC" -l -n -e "$@" icmp >/tmp/td.out 2>/tmp/td.err &
	pid=$!
	# wait (at most ~30 s) until the capture really runs: tcpdump prints
	# "listening on eth0, ..." on stderr (its second line)
	started=0
	while [ $started = 0 ] && [ $i -lt 150 ]; do
		if [ -f /tmp/td.err ]; then
			while read -r line; do
				case $line in *"listening on"*) started=1 ;; esac
			done </tmp/td.err
		fi
		[ $started = 1 ] || sleep 0.2
		i=$((i + 1))
	done
	[ $started = 1 ] || log "tcpdump did not start"
	host_step promisc_traffic
	kill -INT $pid
	wait $pid
	while read -r line; do
		case $line in
		*"> 02:00:00:00:00:99,"*) other=$((other + 1)) ;;
		*"> $ip4: ICMP echo request"*) us=$((us + 1)) ;;
		esac
	done </tmp/td.out
	result ${name}_other_mac $other
	result ${name}_to_us $us
	eval "${name}_other=\$other ${name}_us=\$us"
}

capture promisc
capture nopromisc -p
[ "$promisc_other" = 10 ] && [ "$nopromisc_other" = 0 ] &&
	[ "$promisc_us" = 5 ] && [ "$nopromisc_us" = 5 ]
