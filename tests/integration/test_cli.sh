#!/usr/bin/env bash
# Command line: help output from the object model, and bad input -> one
# clear line on stderr and exit code 1 (never a crash).
. "$(dirname "$0")/lib.sh"
# fast tests: run them on the ASan+UBSan build when there is one
E1KVM=${E1KVM_ASAN:-$E1KVM}
T=$(mktemp -d)
K=$T/kernel
printf 'not a kernel' >"$K"
: >"$T/empty"

out=$("$E1KVM" -version)
check_eq "-version exit code" 0 $?
check "-version prints the version" grep -q '^e1kvm version [0-9]' <<<"$out"
out=$("$E1KVM" -help)
check "-help lists -kernel and -netdev" bash -c 'grep -q -- "-kernel FILE" <<<"$1" && grep -q -- "-netdev tap" <<<"$1"' _ "$out"
out=$("$E1KVM" -device help)
check "-device help lists e1000 on PCI" grep -q 'name "e1000", bus PCI' <<<"$out"
out=$("$E1KVM" -device e1000,help)
check "-device e1000,help lists netdev and mac" bash -c 'grep -q "netdev" <<<"$1" && grep -q "mac" <<<"$1"' _ "$out"
out=$("$E1KVM" -netdev help)
check "-netdev help lists tap" grep -q 'name "tap"' <<<"$out"
out=$("$E1KVM" -netdev tap,help)
check "-netdev tap,help lists ifname, fd, vnet_hdr" bash -c 'grep -q ifname <<<"$1" && grep -q "fd " <<<"$1" && grep -q vnet_hdr <<<"$1"' _ "$out"

# expected-message|arguments (arguments split on spaces; @K is a file that exists)
while IFS='|' read -r want args; do
    [ -z "$want" ] && continue
    # shellcheck disable=SC2086
    args2=${args//@K/$K}
    set -- ${args2//@E/$T/empty}
    err=$("$E1KVM" "$@" 2>&1 >/dev/null)
    rc=$?
    lines=$(printf '%s\n' "$err" | wc -l)
    if [ $rc -eq 1 ] && [ "$lines" -eq 1 ] && [[ "$err" == "e1kvm: "* ]] && [[ "$err" == *"$want"* ]]; then
        ok "'$args' -> $err"
    else
        not_ok "'$args': rc=$rc lines=$lines stderr='$err' (wanted '$want')"
    fi
done <<EOF2
unknown option '-bogus'|-bogus
unknown option '-fda'|-kernel @K -fda x
needs an argument|-kernel
needs an argument|-kernel @K -m
no kernel given|-m 256M
cannot open '/nonexistent/vmlinux'|-kernel /nonexistent/vmlinux
is not a regular file|-kernel /tmp
cannot open '/nonexistent/initrd'|-kernel @K -initrd /nonexistent/initrd
-m: invalid size 'abc'|-kernel @K -m abc
-m: invalid size '12Q'|-kernel @K -m 12Q
-m: invalid size '0'|-kernel @K -m 0
-m: invalid size '-5'|-kernel @K -m -5
-m: 10M is too small|-kernel @K -m 10M
-m: 2T is too large|-kernel @K -m 2T
-smp: invalid CPU count '0'|-kernel @K -smp 0
-smp: invalid CPU count '9'|-kernel @K -smp 9
-smp: invalid CPU count 'two'|-kernel @K -smp two
-serial: only 'stdio' is supported|-kernel @K -serial pty
-cpu: unknown CPU model 'pentium'|-kernel @K -cpu pentium
unexpected argument 'stray'|-kernel @K stray
unknown device type 'rtl8139'|-kernel @K -device rtl8139
unknown device type 'nosuch'|-device nosuch,help
unknown netdev type 'bridge'|-kernel @K -netdev bridge,id=n0
unknown property 'speed'|-kernel @K -netdev tap,id=n0,ifname=t0 -device e1000,netdev=n0,speed=10
expects a unicast MAC|-kernel @K -netdev tap,id=n0,ifname=t0 -device e1000,netdev=n0,mac=52:54:00:12:34
expects a unicast MAC|-kernel @K -netdev tap,id=n0,ifname=t0 -device e1000,netdev=n0,mac=01:00:5e:00:00:01
expects on or off|-kernel @K -netdev tap,id=n0,ifname=t0,vnet_hdr=maybe
expected key=value|-kernel @K -device e1000,netdev
the type must come first|-kernel @K -device netdev=n0
id= is required|-kernel @K -netdev tap,ifname=t0
no such interface 'e1kvm-nope0'|-kernel @K -netdev tap,id=n0,ifname=e1kvm-nope0
is not a TAP device|-kernel @K -netdev tap,id=n0,ifname=lo
script= is not supported|-kernel @K -netdev tap,id=n0,ifname=t0,script=/etc/qemu-ifup
fd=99 is not open|-kernel @K -netdev tap,id=n0,fd=99
ifname= or fd= is required|-kernel @K -netdev tap,id=n0
netdev|-kernel @K -device e1000,netdev=missing0
neither an ELF vmlinux nor a bzImage|-kernel @K
neither an ELF vmlinux nor a bzImage|-kernel @E
-sandbox: expects on or off, not 'maybe'|-kernel @K -sandbox maybe
-sandbox: expects on or off, not 'ON'|-kernel @K -sandbox ON
option '-sandbox' needs an argument|-kernel @K -sandbox
-runas: no such user 'e1kvm-no-such-user'|-kernel @K -runas e1kvm-no-such-user
-runas: invalid user '1:x'|-kernel @K -runas 1:x
option '-runas' needs an argument|-kernel @K -runas
-smp: invalid CPU count '1.5'|-kernel @K -smp 1.5
-smp: invalid CPU count '99999999999'|-kernel @K -smp 99999999999
-m: invalid size '256MM'|-kernel @K -m 256MM
-m: invalid size '0x100M'|-kernel @K -m 0x100M
option '-m' needs an argument|-kernel @K -m 256M -m
option '--kernel' needs an argument|--kernel
cannot open '-m'|-kernel -m
is not a regular file|-kernel @K -initrd /tmp
fd=abc is not a file descriptor number|-kernel @K -netdev tap,id=n0,fd=abc
fd=-1 is not a file descriptor number|-kernel @K -netdev tap,id=n0,fd=-1
ifname= and fd= cannot be used together|-kernel @K -netdev tap,id=n0,ifname=t0,fd=3
is too long (at most 15 characters)|-kernel @K -netdev tap,id=n0,ifname=aaaaaaaaaaaaaaaaaaaaaaaaa
downscript= is not supported|-kernel @K -netdev tap,id=n0,ifname=t0,downscript=/bin/sh
netdev= is required|-kernel @K -device e1000
expects a unicast MAC|-kernel @K -device e1000,netdev=n0,mac=zz:zz:zz:zz:zz:zz
unknown property ''|-kernel @K -device e1000,=x
the type must come first|-kernel @K -netdev ,id=n0
EOF2
rm -rf "$T"
finish
