#!/bin/sh
# e1000-mtu: jumbo frames.  First a control at MTU 1500: an 8000-byte ping
# must be fragmented (IP FragCreates/ReasmReqds in /proc/net/snmp grow), which
# shows that these counters see fragmentation.  Then MTU 9000 on both ends
# (host_step mtu_9000 changes the TAP; the driver resets the NIC and uses
# 4 KB receive buffers, so a jumbo frame spans several descriptors): 8000- and
# 8972-byte pings (a 9014-byte frame, the largest) must get through whole,
# with no fragmentation either way.  Back to 1500 at the end.
#   E1KVM-RESULT mtu_ctl_received N, mtu_ctl_frag_created N, mtu_ctl_reasm N
#   E1KVM-RESULT mtu_set 9000
#   E1KVM-RESULT mtu_jumbo8000_received N, mtu_jumbo8972_received N  (of 5)
#   E1KVM-RESULT mtu_jumbo_frag_created N, mtu_jumbo_reasm N  (want 0)
#   then host_step mtu_host_ping: the host pings us with 8972-byte pings and
#   DF set (ping -M do: a frame that does not fit whole fails), and iperf3
#   TCP both ways at MTU 9000 (e1000-iperf.sh):
#   E1KVM-RESULT mtu_iperf_tcp_received BYTES, mtu_iperf_tcp_r_received BYTES
#   E1KVM-RESULT mtu_back_received N    of 5 plain pings at MTU 1500 again
. /scenarios/e1000-common.sh
e1k_up || log "no carrier on $IFC"

snmp_ip a
ping_n c -c 3 -s 8000 -i 0.2 -W 10 -w 60 "$PEER"
snmp_ip b
result mtu_ctl_received "$c"
result mtu_ctl_frag_created $((b_FragCreates - a_FragCreates))
result mtu_ctl_reasm $((b_ReasmReqds - a_ReasmReqds))

host_step mtu_9000
ip link set dev "$IFC" mtu 9000
wait_link "$IFC" 15 || log "no carrier after the MTU change"
read -r m <"/sys/class/net/$IFC/mtu"
result mtu_set "$m"
snmp_ip a
ping_n j1 -c 5 -s 8000 -i 0.2 -W 10 -w 60 "$PEER"
ping_n j2 -c 5 -s 8972 -i 0.2 -W 10 -w 60 "$PEER"
snmp_ip b
result mtu_jumbo8000_received "$j1"
result mtu_jumbo8972_received "$j2"
result mtu_jumbo_frag_created $((b_FragCreates - a_FragCreates))
result mtu_jumbo_reasm $((b_ReasmReqds - a_ReasmReqds))
host_step mtu_host_ping
IPERF_MODES=tcp,tcp_r IPERF_PREFIX=mtu_iperf sh /scenarios/e1000-iperf.sh
jumbo_iperf=$?

ip link set dev "$IFC" mtu 1500
host_step mtu_1500
wait_link "$IFC" 15 || log "no carrier after the MTU change back"
ping_n back -c 5 -i 0.05 -W 10 -w 60 "$PEER"
result mtu_back_received "$back"
[ "$c" = 3 ] && [ "$m" = 9000 ] && [ "$j1" = 5 ] && [ "$j2" = 5 ] &&
	[ $((b_FragCreates - a_FragCreates)) = 0 ] && [ "$back" = 5 ] && [ $jumbo_iperf = 0 ]
