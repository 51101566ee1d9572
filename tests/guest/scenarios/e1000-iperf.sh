#!/bin/sh
# e1000-iperf: iperf3 against the host's iperf3 -s (e1kvm.peer:5201), 3 s
# each.  e1kvm.iperf=MODE[,MODE...] chooses (default tcp,tcp_r,udp):
#   tcp    TCP guest -> host       tcp_r  TCP host -> guest (-R)
#   udp    UDP guest -> host at 1 Mbit/s
# Asserts function, not speed: the transfer completes and carries bytes.
# Run from another scenario (e1000-mtu), IPERF_MODES overrides the modes and
# IPERF_PREFIX the result keys' prefix (default iperf).
#   E1KVM-RESULT iperf_MODE_rc N         iperf3's exit code (124: timed out)
#   E1KVM-RESULT iperf_MODE_error 0|1    iperf3 reported an error
#   E1KVM-RESULT iperf_MODE_sent BYTES   end.sum_sent.bytes
#   E1KVM-RESULT iperf_MODE_received BYTES  end.sum_received.bytes
#   E1KVM-RESULT iperf_udp_packets N, iperf_udp_lost N   (receiver side)
. /scenarios/e1000-common.sh
cmdline_arg -v modes e1kvm.iperf tcp,tcp_r,udp
modes=${IPERF_MODES:-$modes}
P=${IPERF_PREFIX:-iperf}
e1k_up || log "no carrier on $IFC"

rc=0
IFS=,
set -- $modes
unset IFS
for m in "$@"; do
	case $m in
	tcp) opts="" ;;
	tcp_r) opts="-R" ;;
	udp) opts="-u -b 1M" ;;
	*) result ${P}_${m}_rc 127; rc=1; continue ;;
	esac
	# --connect-timeout and timeout: a dead data path must not hang us
	timeout 90 iperf3 -c "$PEER" -t 3 -J --connect-timeout 5000 $opts \
		>/tmp/iperf.json 2>/tmp/iperf.err
	r=$?
	result ${P}_${m}_rc $r
	# iperf3 -J pretty-prints one key per line: the top-level "error" has
	# one tab of indent, end.sum_sent / end.sum_received two, their keys
	# three.
	set -- $(awk '
		/^\t"error":/ { err = 1; print "E1KVM-LOG iperf3 " $0 > "/dev/stderr" }
		/^\t\t"sum_sent":/ { s = "sent" }
		/^\t\t"sum_received":/ { s = "recv" }
		/^\t\t}/ { s = "" }
		s != "" && /^\t\t\t"(bytes|packets|lost_packets)":/ {
			gsub(/[",\t]/, ""); split($0, kv, ":"); v[s "_" kv[1]] = kv[2] + 0
		}
		END { printf "%d %d %d %d %d\n", err, v["sent_bytes"], v["recv_bytes"],
			v["recv_packets"], v["recv_lost_packets"] }' /tmp/iperf.json)
	result ${P}_${m}_error "$1"
	result ${P}_${m}_sent "$2"
	result ${P}_${m}_received "$3"
	if [ "$m" = udp ]; then
		result ${P}_udp_packets "$4"
		result ${P}_udp_lost "$5"
	fi
	[ $r = 0 ] && [ "$1" = 0 ] && [ "$3" -gt 0 ] || rc=1
done
exit $rc
