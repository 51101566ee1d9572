#!/bin/sh
# observe-socket: two guests joined by -netdev socket (listen= / connect=,
# no TAP) ping each other. Pings e1kvm.sock_peer from e1kvm.sock_iface
# until a round gets replies (at most ~120 s: the other guest may boot
# later). The guest answers the other's pings for as long as it runs, so
# the scenario that follows should keep it up for a while.
#   E1KVM-RESULT socket_link up|down
#   E1KVM-RESULT socket_ping N        replies in the first round that had any
# rc 0 iff replies came.
. /lib/e1kvm.sh
cmdline_arg -v ifc e1kvm.sock_iface eth0
cmdline_arg -v addr e1kvm.sock_ip 10.77.9.1/24
cmdline_arg -v peer e1kvm.sock_peer 10.77.9.2

netup "$ifc" "$addr" || log "netup $ifc $addr failed"
link=down
wait_link "$ifc" 15 && link=up
result socket_link $link
n=0
i=0
while [ $i -lt 30 ]; do
	out=$(ping -c 3 -W 2 "$peer" 2>&1)
	case $out in
	*" packets received"*)
		n=${out% packets received*}
		n=${n##* }
		;;
	esac
	[ "$n" -gt 0 ] && break
	i=$((i + 1))
done
result socket_ping "$n"
[ "$n" -gt 0 ]
