#!/bin/sh
# virtio-net: e1kvm's -device virtio-net-pci as the Linux virtio drivers see
# it (eth0): the PCI function (1AF4:1041, a modern-only virtio 1.x device)
# is bound by virtio-pci and the network device by virtio_net, the features
# both sides agreed on, the interrupts (one MSI-X vector per queue and one
# for configuration changes: "virtio0-input.0" ... in /proc/interrupts),
# the offloads ethtool shows, then the link set down and up by the host
# through QMP (host step link_flap: the config change interrupts move the
# carrier, counted by carrier_changes).
#   E1KVM-RESULT vnet_pci_id 0x1af4:0x1041
#   E1KVM-RESULT vnet_pci_driver virtio-pci, vnet_driver virtio_net
#   E1KVM-RESULT vnet_features BITS   (the 64 negotiated feature bits, bit 0 first)
#   E1KVM-RESULT vnet_msix N          MSI-X vectors of virtio0 in /proc/interrupts
#   E1KVM-RESULT vnet_tso on|off, vnet_txcsum on|off, vnet_rxcsum on|off
#   E1KVM-RESULT vnet_link_up 1|0, vnet_link_again 1|0
#   E1KVM-RESULT vnet_carrier_changes N   (2: down and up again)
#   E1KVM-RESULT vnet_ping_after_link N   (of 5)
. /scenarios/e1000-common.sh
d=/sys/class/net/$IFC/device
ven=none dev=none pdrv=none drv=none feat=none
[ -e $d/driver ] && drv=$(basename "$(readlink $d/driver)")
p=$(readlink -f $d/..)
[ -r "$p/vendor" ] && read -r ven <"$p/vendor"
[ -r "$p/device" ] && read -r dev <"$p/device"
[ -e "$p/driver" ] && pdrv=$(basename "$(readlink "$p/driver")")
[ -r $d/features ] && read -r feat <$d/features
result vnet_pci_id "$ven:$dev"
result vnet_pci_driver "$pdrv"
result vnet_driver "$drv"
result vnet_features "$feat"
n=0
while read -r line; do
	case $line in *virtio0-*) n=$((n + 1)) ;; esac
done </proc/interrupts
result vnet_msix $n
k=$(ethtool -k "$IFC" 2>/dev/null)
v() {
	local _l
	for _l in $(echo "$k" | grep "^$1:" | cut -d: -f2); do echo "$_l"; return; done
	echo none
}
result vnet_tso "$(v tcp-segmentation-offload)"
result vnet_txcsum "$(v tx-checksumming)"
result vnet_rxcsum "$(v rx-checksumming)"
link=down
e1k_up && link=up
c=0; read -r c <"/sys/class/net/$IFC/carrier"
result vnet_link_up "$c"
cc0=0; read -r cc0 <"/sys/class/net/$IFC/carrier_changes"
host_step link_flap
wait_link "$IFC" 15
cc1=0; read -r cc1 <"/sys/class/net/$IFC/carrier_changes"
result vnet_carrier_changes $((cc1 - cc0))
c=0; read -r c <"/sys/class/net/$IFC/carrier"
result vnet_link_again "$c"
ping_n pn -c 5 -i 0.2 -W 10 -w 60 "$PEER"
result vnet_ping_after_link "$pn"
[ "$drv" = virtio_net ] && [ "$link" = up ] && [ "$pn" = 5 ]
