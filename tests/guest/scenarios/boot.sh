#!/bin/sh
# boot: basic facts about the booted guest.
#   E1KVM-RESULT cpus N          online CPUs (processor entries in cpuinfo)
#   E1KVM-RESULT memtotal_kb N   MemTotal from /proc/meminfo
#   E1KVM-RESULT uptime S        seconds since boot at this point
#   E1KVM-RESULT netifs LIST     interfaces besides lo, comma-separated, or none
#                                (e1000_loaded 1 alone does not mean a NIC
#                                was found: the driver loads without one)
. /lib/e1kvm.sh
# Builtin loops rather than nproc/awk: no fork+exec (see /lib/e1kvm.sh).
n=0
while read -r k _; do
	[ "$k" = processor ] && n=$((n + 1))
done < /proc/cpuinfo
result cpus "$n"
while read -r k v _; do
	[ "$k" = MemTotal: ] && { result memtotal_kb "$v"; break; }
done < /proc/meminfo
uptime_s -v up
result uptime "$up"
ifs=""
for d in /sys/class/net/*; do
	[ "${d##*/}" = lo ] || ifs="$ifs${ifs:+,}${d##*/}"
done
result netifs "${ifs:-none}"
