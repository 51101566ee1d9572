#!/bin/sh
# hostile-poke: a hostile guest, then recovery, then the host's TAP going
# away under traffic (tests/integration/test_hostile.sh drives the host side).
#
#  1. /bin/e1000-poke (tests/guest/poke/, added to the initrd by the test)
#     unbinds e1000, maps BAR0 and attacks the device: rings in its own
#     registers, buffers outside RAM, heads/tails beyond the ring, the
#     largest ring of 1-byte TSO segments, ... (its E1KVM-RESULT poke_* lines)
#        E1KVM-RESULT poke_rc RC
#  2. the kernel driver binds again, eth0 comes up, the host answers pings:
#        E1KVM-RESULT link_after_poke up|down
#        E1KVM-RESULT ping_after_poke N
#  3. "E1KVM-RESULT tapdel_ready 1": the host deletes its TAP now; the guest
#     keeps pinging (one ping at a time) until eth0 loses carrier:
#        E1KVM-RESULT carrier_after_delete 0|1
# rc 0 iff the program's checks held, the NIC worked again and the carrier
# went away with the TAP.
. /lib/e1kvm.sh
cmdline_arg -v ifc e1kvm.iface eth0
cmdline_arg -v addr e1kvm.ip 10.77.0.2/24
cmdline_arg -v peer e1kvm.peer 10.77.0.1

if [ -x /bin/e1000-poke ]; then
	/bin/e1000-poke "$peer"
	prc=$?
else
	log "no /bin/e1000-poke in this initrd"
	prc=127
fi
result poke_rc $prc

echo 0000:00:01.0 > /sys/bus/pci/drivers/e1000/bind
link=down
netup "$ifc" "$addr" && wait_link "$ifc" 20 && link=up
result link_after_poke $link
out=$(ping -c 3 -W 3 "$peer" 2>&1)
n=0
case $out in
*" packets received"*)
	n=${out% packets received*}
	n=${n##* }
	;;
esac
result ping_after_poke "$n"

result tapdel_ready 1
c=1
i=0
while [ $i -lt 60 ]; do
	read -r c < "/sys/class/net/$ifc/carrier" 2>/dev/null || c=0
	[ "$c" = 0 ] && break
	ping -c 1 -W 1 "$peer" >/dev/null 2>&1
	i=$((i + 1))
done
result carrier_after_delete "$c"
[ $prc = 0 ] && [ $link = up ] && [ "$n" -gt 0 ] && [ "$c" = 0 ]
