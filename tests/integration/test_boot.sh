#!/usr/bin/env bash
# Boot the real test guest: poweroff, -smp, -m, reboot with and without
# -no-reboot, SIGTERM, the bzImage loader. Boots run two at a time (a boot
# costs ~35 s here).
. "$(dirname "$0")/lib.sh"
guest_prepare
INITRD=$INITRD_BASE
L=$LOGDIR/boot

# three boots in a row, guest "poweroff -f" -> exit 0; the first with -smp 2,
# the second with -m 192M
for i in 1 2 3; do
    args=(-m 256M)
    [ "$i" = 1 ] && args=(-m 256M -smp 2 -no-reboot) # a guest panic (panic=-1) ends the run
    [ "$i" = 2 ] && args=(-m 192M)
    run_vm "$L-poweroff$i.log" 400 boot "${args[@]}"
    rc=$?
    # Known quirk of the nested PVM host (docs/HOST.md: newly exec'd guest
    # programs may crash with a stale FS base): with 2 vCPUs, /init
    # sometimes dies at its first TLS access (segfault at 0, then the guest
    # kernel panics). That is the host's KVM, not the VMM: retry that boot
    # once, and say so.
    if [ "$i" = 1 ] && grep -q 'Attempted to kill init' "$L-poweroff$i.log" &&
        [ "$(cat /sys/module/kvm_pvm/parameters/pvm_native 2>/dev/null)" = Y ]; then
        say "# boot 1: guest /init crashed (PVM stale-FS-base quirk); booting again"
        mv "$L-poweroff$i.log" "$L-poweroff$i-pvm-quirk.log"
        run_vm "$L-poweroff$i.log" 400 boot "${args[@]}"
        rc=$?
    fi
    check_eq "boot $i (${args[*]}): guest poweroff -> exit code" 0 $rc
    check_eq "boot $i: /init reached" 1 "$(count "$L-poweroff$i.log" E1KVM-INIT)"
    check_eq "boot $i: scenario finished" "rc=0" "$(tr -d '\r' <"$L-poweroff$i.log" | awk '/^E1KVM-DONE/ {print $2}')"
    if [ "$i" = 1 ]; then
        check_eq "-smp 2: guest sees 2 CPUs" 2 "$(result "$L-poweroff1.log" cpus)"
    elif [ "$i" = 2 ]; then
        # MemTotal is RAM minus what the kernel keeps for itself
        mt=$(result "$L-poweroff2.log" memtotal_kb)
        check "-m 192M: MemTotal ${mt:-?} kB within 192 MiB and above 150 MiB" \
            test "${mt:-0}" -le $((192 * 1024)) -a "${mt:-0}" -ge $((150 * 1024))
    fi
done &
P1=$!

(
    # reboot -f with -no-reboot -> exit 0 after one boot; this boot also
    # covers the bzImage path (its decompressor runs in the emulator here:
    # ~2 minutes, hence the generous timeout)
    VM_KERNEL=$GUEST_DIR/bzImage run_vm "$L-noreboot-bzimage.log" 600 reboot -no-reboot
    check_eq "bzImage + reboot with -no-reboot: exit code" 0 $?
    check_eq "bzImage + reboot with -no-reboot: booted once to /init" 1 "$(count "$L-noreboot-bzimage.log" E1KVM-INIT)"

    # without -no-reboot the guest boots again; SIGTERM then stops it cleanly
    log=$L-reboot.log
    "${NETNS_EXEC[@]}" "$E1KVM" -kernel "$KERNEL" -initrd "$INITRD" -append "$GUEST_CMDLINE e1kvm.scenario=reboot" \
        </dev/null >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 400); do
        [ "$(count "$log" E1KVM-INIT)" -ge 2 ] && break
        sleep 1
    done
    check_ge "reboot without -no-reboot: the guest booted again" 2 "$(count "$log" E1KVM-INIT)"
    kill -TERM $pid
    for _ in $(seq 1 20); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
    if kill -0 $pid 2>/dev/null; then
        not_ok "SIGTERM: e1kvm still running after 10 s"
        kill -KILL $pid
    else
        wait $pid
        check_eq "SIGTERM: clean exit code" 0 $?
    fi
) &
P2=$!
wait $P1
wait $P2
finish
