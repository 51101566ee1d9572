#!/usr/bin/env bash
# A guest that misbehaves: triple fault, an instruction KVM cannot run,
# an endless loop stopped by signals; host memory too small for -m.
. "$(dirname "$0")/lib.sh"
# fast tests: run them on the ASan+UBSan build when there is one
E1KVM=${E1KVM_ASAN:-$E1KVM}
T=$(mktemp -d)
BAD=$T/bad-guest
cc -nostdlib -static -no-pie -Wl,-Ttext=0x1000000 -Wl,--build-id=none -o "$BAD" \
    "$ROOT/tests/integration/guests/bad-guest.S" || { not_ok "cannot build bad-guest"; finish; }

start=$(date +%s)
timeout 30 "$E1KVM" -kernel "$BAD" -append triple -no-reboot </dev/null >"$T/out" 2>"$T/err"
rc=$?
check_eq "triple fault with -no-reboot: exit code" 0 $rc
check "triple fault: reported with RIP and the ud2 bytes (0f 0b)" \
    grep -q 'triple fault (KVM_EXIT_SHUTDOWN), RIP 0x[0-9a-f]*, instruction bytes: 0f 0b' "$T/err"
check "triple fault: handled within 10 s" test $(($(date +%s) - start)) -le 10

if [ "$(cat /sys/module/kvm_pvm/parameters/pvm_native 2>/dev/null)" = Y ]; then
    # this host runs guest kernel code in KVM's instruction emulator
    timeout 30 "$E1KVM" -kernel "$BAD" -append emulate -no-reboot </dev/null >"$T/out" 2>"$T/err"
    check_eq "unsupported instruction: exit code" 1 $?
    check "unsupported instruction: reason, suberror, RIP and bytes (f0 48 0f c7 = lock cmpxchg16b)" \
        grep -q 'KVM internal error, suberror 1 (instruction emulation failed).*RIP 0x[0-9a-f]*, instruction bytes: f0 48 0f c7' "$T/err"
else
    say "# (not an emulating KVM host: lock cmpxchg16b runs natively, no emulation failure to provoke)"
fi

for sig in TERM INT; do
    "$E1KVM" -kernel "$BAD" -append spin </dev/null >"$T/out" 2>"$T/err" &
    pid=$!
    sleep 2
    kill -$sig $pid
    for _ in $(seq 1 20); do kill -0 $pid 2>/dev/null || break; sleep 0.25; done
    if kill -0 $pid 2>/dev/null; then
        not_ok "SIG$sig: e1kvm still running after 5 s with a spinning guest"
        kill -KILL $pid
    else
        wait $pid
        check_eq "SIG$sig stops a spinning guest: exit code" 0 $?
    fi
done

# guest RAM larger than the host: a clear error, not an OOM kill later
host_mib=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
err=$("$E1KVM" -kernel "$BAD" -m $((host_mib * 4))M 2>&1 >/dev/null)
check_eq "-m beyond host memory: exit code" 1 $?
check "-m beyond host memory: one clear line ($err)" bash -c '[[ "$1" == *"the host has only"* ]] && [ $(printf "%s\n" "$1" | wc -l) -eq 1 ]' _ "$err"
rm -rf "$T"
finish
