#!/bin/sh
# e1000-vlan: an 802.1Q sub-interface eth0.100 (10.77.100.2/24) pings
# 10.77.100.1, which the host answers on VLAN 100 of its TAP.  The driver
# uses the NIC's VLAN offloads: tag insertion on transmit (descriptor VLE +
# CTRL.VME), stripping and the VLAN filter table (VFTA) on receive.  Removed
# again at the end.
#   E1KVM-RESULT vlan_received N    of 20 pings over VLAN 100
#   E1KVM-RESULT vlan_untagged_received N   of 5 plain pings meanwhile
. /scenarios/e1000-common.sh
cmdline_arg -v vaddr e1kvm.vlan_ip 10.77.100.2/24
cmdline_arg -v vpeer e1kvm.vlan_peer 10.77.100.1
e1k_up || log "no carrier on $IFC"
ip link add link "$IFC" name "$IFC.100" type vlan id 100 || log "vlan add failed"
e1k_up "$IFC.100" "$vaddr" || log "no carrier on $IFC.100"
ping_n n -c 20 -i 0.05 -W 10 -w 60 "$vpeer"
result vlan_received "$n"
# untagged traffic keeps working next to the tagged one
ping_n u -c 5 -i 0.05 -W 10 -w 60 "$PEER"
result vlan_untagged_received "$u"
ip link del "$IFC.100"
[ "$n" = 20 ] && [ "$u" = 5 ]
