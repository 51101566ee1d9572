#!/bin/sh
# pmd-rx: receive with the user-space poll-mode driver /bin/e1000-pmd
# (tests/guest/progs/e1000-pmd.c): it unbinds the kernel's e1000 driver,
# maps BAR0, polls the RX ring in hugepage memory and gives descriptors
# back with one RDT write per 32; the window (e1kvm.pmd_secs) starts at the
# first frame. The host must send into the TAP (bench/pmd.sh does, with
# bench/tapgen.c). Not a functional test of the kernel driver: after it,
# eth0 is gone.
#
#   e1kvm.pmd_size=64[,1500...]  frame sizes the host sends, one run each
#                                (frames of another length count as bad)
#   e1kvm.pmd_secs=5             seconds per run
#   e1kvm.pmd_ring=512           descriptors per ring
#   e1kvm.pmd_prog=e1000-pmd     the driver: e1000-pmd, or virtio-pmd for a
#                                virtio-net device (progs/virtio-pmd.c)
#   e1kvm.pmd_rx_flush=0[,1]     1: e1000-pmd -F, a STATUS read after each
#                                RDT write (needed by QEMU's e1000, whose
#                                RDT is coalesced MMIO); a list runs both
# Prints per run (RUN = rx or rx-flush): "E1KVM-MARK pmd-prepare RUN SIZE"
# (the host starts its sender), then from e1000-pmd: pmd_run RUN SIZE,
# "E1KVM-MARK pmd-begin RUN SIZE" (ring armed), pmd_rx_pps,
# pmd_rx_packets, pmd_rx_bytes, pmd_rx_mmio_writes, pmd_rx_bad, ...,
# "E1KVM-MARK pmd-end RUN SIZE". rc 0 when every run received frames.
. /lib/e1kvm.sh
cmdline_arg -v sizes e1kvm.pmd_size 64
cmdline_arg -v secs e1kvm.pmd_secs 5
cmdline_arg -v ring e1kvm.pmd_ring 512
pmd_prog
cmdline_arg -v flushes e1kvm.pmd_rx_flush 0

rc=0
IFS=,
# shellcheck disable=SC2086 # split on commas on purpose
set -- $flushes
unset IFS
# (the list is expanded once: the inner "set --" does not disturb it)
for flush in "$@"; do
	case $flush in
	1) run=rx-flush opt=-F ;;
	*) run=rx opt= ;;
	esac
	IFS=,
	# shellcheck disable=SC2086 # split on commas on purpose
	set -- $sizes
	unset IFS
	for size in "$@"; do
		echo "E1KVM-MARK pmd-prepare $run $size"
		# shellcheck disable=SC2086 # $opt is empty or one word
		/bin/"$pmd" -n "$ring" $opt rx "$secs" "$size" || rc=1
	done
done
exit $rc
