#!/bin/sh
# e1000-reload: rmmod e1000; insmod /lib/modules/e1000.ko (the driver
# releases the device, then probes it again: reset, EEPROM, PHY); eth0 comes
# back and traffic resumes.
#   E1KVM-RESULT reload_rmmod 0, reload_gone 1, reload_insmod 0
#   E1KVM-RESULT reload_link up|down, reload_received N (of 20)
. /scenarios/e1000-common.sh
e1k_up || log "no carrier on $IFC"
rmmod e1000
result reload_rmmod $?
gone=1
[ -e "/sys/class/net/$IFC" ] && gone=0
result reload_gone $gone
insmod /lib/modules/e1000.ko
result reload_insmod $?
link=down
e1k_up && link=up
result reload_link $link
ping_n n -c 20 -i 0.05 -W 10 -w 60 "$PEER"
result reload_received "$n"
[ $gone = 1 ] && [ $link = up ] && [ "$n" = 20 ]
