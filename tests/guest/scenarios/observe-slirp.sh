#!/bin/sh
# observe-slirp: -netdev user (libslirp) on e1kvm.slirp_iface (default
# eth0): an address by DHCP (busybox udhcpc), then an iperf3 server that the
# host reaches through hostfwd on its loopback (one test, at most 150 s).
#   E1KVM-RESULT dhcp_ip A.B.C.D       the leased address (none: no lease)
#   E1KVM-RESULT dhcp_router A.B.C.D
#   E1KVM-RESULT phase iperf-ready     iperf3 -s -1 listens on port 5201
#   E1KVM-RESULT iperf_served yes|no   it served one test and exited
# rc 0 iff both worked.
. /lib/e1kvm.sh
cmdline_arg -v ifc e1kvm.slirp_iface eth0

ip link set dev "$ifc" up
wait_link "$ifc" 15 || log "no carrier on $ifc"
# udhcpc runs this on every state change; "bound" brings the lease
cat >/tmp/udhcpc.sh <<'EOS'
#!/bin/sh
case $1 in
bound | renew)
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
	echo "$ip ${router%% *}" >/tmp/dhcp.lease
	;;
esac
exit 0
EOS
chmod 755 /tmp/udhcpc.sh
udhcpc -i "$ifc" -f -q -n -t 10 -T 2 -s /tmp/udhcpc.sh >/tmp/udhcpc.log 2>&1
lease=""
read -r lease </tmp/dhcp.lease 2>/dev/null
set -- $lease
result dhcp_ip "${1:-none}"
result dhcp_router "${2:-none}"
[ -n "$lease" ] || exit 1

iperf3 -s -1 >/tmp/iperf3.log 2>&1 &
pid=$!
# ready when port 5201 (0x1451) listens (state 0A in /proc/net/tcp[6]):
# a host client that comes earlier gets a reset from the guest
i=0
listening=no
while [ $i -lt 120 ] && [ $listening = no ]; do
	for f in /proc/net/tcp /proc/net/tcp6; do
		while read -r _ local _ st _; do
			case "$local $st" in *:1451\ 0A) listening=yes ;; esac
		done <"$f" 2>/dev/null
	done
	[ $listening = no ] && sleep 0.5
	i=$((i + 1))
done
log "iperf3 listening: $listening"
result phase iperf-ready
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do
	sleep 1
	i=$((i + 1))
done
if kill -0 "$pid" 2>/dev/null; then
	result iperf_served no
	kill "$pid"
	exit 1
fi
result iperf_served yes
