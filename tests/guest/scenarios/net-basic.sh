#!/bin/sh
# net-basic: eth0 up with e1kvm.ip, wait for link, ping e1kvm.peer 5 times.
#   E1KVM-RESULT link up|down
#   E1KVM-RESULT ping_received N
# rc 0 iff the link came up and at least one reply arrived.
. /lib/e1kvm.sh
cmdline_arg -v ifc e1kvm.iface eth0
cmdline_arg -v addr e1kvm.ip 10.77.0.2/24
cmdline_arg -v peer e1kvm.peer 10.77.0.1

netup "$ifc" "$addr" || log "netup $ifc $addr failed"
link=down
wait_link "$ifc" 15 && link=up
result link $link

# -W 3: wait up to 3 s for each reply (the first includes ARP).
out=$(ping -c 5 -W 3 "$peer" 2>&1)
n=0
case $out in
*" packets received"*)
	n=${out% packets received*}
	n=${n##* }
	;;
esac
result ping_received "$n"
[ $link = up ] && [ "$n" -gt 0 ]
