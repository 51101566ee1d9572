#!/bin/sh
# e1000-ifdown: ip link set eth0 down / up (the driver frees and rebuilds its
# rings and resets the NIC); carrier must return and traffic resume.
#   E1KVM-RESULT ifdown_carrier_down 1   no carrier while down
#   E1KVM-RESULT ifdown_link up|down     carrier back after up
#   E1KVM-RESULT ifdown_received N       of 20 pings afterwards
. /scenarios/e1000-common.sh
e1k_up || log "no carrier on $IFC"
ip link set dev "$IFC" down
c=1
read -r c 2>/dev/null <"/sys/class/net/$IFC/carrier" # EINVAL while down
result ifdown_carrier_down $((c != 1))
ip link set dev "$IFC" up
link=down
wait_link "$IFC" 15 && link=up
result ifdown_link $link
ping_n n -c 20 -i 0.05 -W 10 -w 60 "$PEER"
result ifdown_received "$n"
[ $link = up ] && [ "$n" = 20 ]
