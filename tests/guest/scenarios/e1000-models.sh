#!/bin/sh
# e1000-models: the other 8254x models QEMU offers, as the Linux e1000
# driver sees them: eth0 is an 82544GC (-device e1000-82544gc, 8086:100C),
# eth1 an 82545EM (-device e1000-82545em, 8086:100F).  The driver must bind
# both: it tells them apart by device ID, insists on each model's PHY
# (e1000_detect_gig_phy) and reads the EEPROM with the model's arbitration
# (the 82544 has no EECD.REQ/GNT); a wrong answer fails the probe and there
# is no ethN.  The probe's bus line must say plain PCI, no PCI-X.
#   E1KVM-RESULT models_dev0 0x100c, models_dev1 0x100f
#   E1KVM-RESULT models_driver0 e1000, models_driver1 e1000
#   E1KVM-RESULT models_pci_lines N   probe lines "(PCI:33MHz:32-bit)" (want 2)
#   E1KVM-RESULT models_phy_errors N  "PHY" probe errors in dmesg (want 0)
. /scenarios/e1000-common.sh
ok=1
for i in 0 1; do
	d=/sys/class/net/eth$i/device
	dev=none drv=none
	[ -r $d/device ] && read -r dev <$d/device
	[ -e $d/driver ] && drv=$(basename "$(readlink $d/driver)")
	result models_dev$i "$dev"
	result models_driver$i "$drv"
	[ "$drv" = e1000 ] || ok=0
done
n=$(dmesg | grep -c '(PCI:33MHz:32-bit)')
result models_pci_lines "$n"
e=$(dmesg | grep -ci 'e1000.*phy.*fail\|Error Detecting\|Invalid MAC\|EEPROM Checksum Is Not Valid')
result models_phy_errors "$e"
[ $ok = 1 ] && [ "$n" = 2 ] && [ "$e" = 0 ]
