#!/bin/sh
# observe-tap: the guest side of tests/integration/test_observe.sh: a real
# ping for the trace and the pcap, then the link driven from the host by
# QMP set_link (the guest only watches its carrier). In the long wait for
# the link to go down the host also tries stop/cont and malformed QMP input.
#   E1KVM-RESULT link up|down          carrier after the interface came up
#   E1KVM-RESULT ping1 N               replies to 3 pings of e1kvm.peer
#   E1KVM-RESULT ping_burst N          replies to 300 pings 10 ms apart
#   E1KVM-RESULT phase wait-link-down  promiscuous mode is on (RCTL.UPE,
#                                      for query-rx-filter); waiting for
#                                      set_link off (at most 400 s)
#   E1KVM-RESULT carrier_down yes|no
#   E1KVM-RESULT ping_down N           replies while the link is down (0)
#   E1KVM-RESULT phase wait-link-up    waiting for set_link on (400 s)
#   E1KVM-RESULT carrier_up yes|no
#   E1KVM-RESULT ping2 N               replies once the link is back
# rc 0 iff every step went as expected.
. /lib/e1kvm.sh
cmdline_arg -v ifc e1kvm.iface eth0
cmdline_arg -v addr e1kvm.ip 10.77.0.2/24
cmdline_arg -v peer e1kvm.peer 10.77.0.1

# pings VAR ARGS...: replies received (0 if ping printed no summary)
pings() {
	local _v=$1 _out _n=0
	shift
	_out=$(ping "$@" 2>&1)
	case $_out in
	*" packets received"*)
		_n=${_out% packets received*}
		_n=${_n##* }
		;;
	esac
	eval "$_v=\$_n"
}

# carrier IFACE WANT SECONDS: wait until /sys/.../carrier reads WANT
carrier() {
	local _i=0 _c
	while [ $_i -lt $(($3 * 2)) ]; do
		_c=x
		read -r _c <"/sys/class/net/$1/carrier" 2>/dev/null
		[ "$_c" = "$2" ] && return 0
		sleep 0.5
		_i=$((_i + 1))
	done
	return 1
}

rc=0
netup "$ifc" "$addr" || log "netup $ifc $addr failed"
link=down
wait_link "$ifc" 15 && link=up
result link $link
pings n -c 3 -W 3 "$peer"
result ping1 "$n"
[ "$n" -gt 0 ] || rc=1
# more than one lap of the 256-descriptor rings, so that tail values come
# round again: the second write of a value rings its doorbell (no exit)
pings n -c 300 -i 0.01 -q -W 5 "$peer"
result ping_burst "$n"

ip link set dev "$ifc" promisc on
result phase wait-link-down
if carrier "$ifc" 0 400; then
	result carrier_down yes
else
	result carrier_down no
	rc=1
fi
pings n -c 2 -W 1 "$peer"
result ping_down "$n"
[ "$n" = 0 ] || rc=1

result phase wait-link-up
if carrier "$ifc" 1 400; then
	result carrier_up yes
else
	result carrier_up no
	rc=1
fi
pings n -c 3 -W 3 "$peer"
result ping2 "$n"
[ "$n" -gt 0 ] || rc=1
exit $rc
