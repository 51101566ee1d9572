#!/bin/sh
# pmd-tx: transmit with the user-space poll-mode driver /bin/e1000-pmd
# (tests/guest/progs/e1000-pmd.c): it unbinds the kernel's e1000 driver,
# maps BAR0 and sends prebuilt UDP/IPv4 frames from hugepage buffers, one
# TDT write per burst of 32, for e1kvm.pmd_secs seconds per frame size.
# Not a functional test of the kernel driver: after it, eth0 is gone.
#
#   e1kvm.pmd_size=64[,1500...]  frame sizes, bytes without FCS (default 64)
#   e1kvm.pmd_secs=5             seconds per size
#   e1kvm.pmd_dmac=MAC           destination MAC (default broadcast)
#   e1kvm.peer=10.77.0.1         destination IPv4
#   e1kvm.ip=10.77.0.2/24        source IPv4
#   e1kvm.pmd_ring=512           descriptors per ring
#   e1kvm.pmd_prog=e1000-pmd     the driver: e1000-pmd, or virtio-pmd for a
#                                virtio-net device (progs/virtio-pmd.c)
# Prints per size (from e1000-pmd): pmd_run tx SIZE, pmd_tx_pps,
# pmd_tx_packets, pmd_tx_bytes, pmd_tx_mmio_writes, ... and the marks
# "E1KVM-MARK pmd-begin tx SIZE" / "pmd-end tx SIZE" around the window.
# rc 0 when every run worked.
. /lib/e1kvm.sh
cmdline_arg -v sizes e1kvm.pmd_size 64
cmdline_arg -v secs e1kvm.pmd_secs 5
cmdline_arg -v dmac e1kvm.pmd_dmac ff:ff:ff:ff:ff:ff
cmdline_arg -v peer e1kvm.peer 10.77.0.1
cmdline_arg -v addr e1kvm.ip 10.77.0.2/24
cmdline_arg -v ring e1kvm.pmd_ring 512
pmd_prog

rc=0
IFS=,
# shellcheck disable=SC2086 # split on commas on purpose
set -- $sizes
unset IFS
for size in "$@"; do
	/bin/"$pmd" -n "$ring" -D "$dmac" -d "$peer" -s "${addr%/*}" tx "$size" "$secs" || rc=1
done
exit $rc
