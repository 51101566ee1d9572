#!/bin/bash
# mkguest.sh OUTDIR - build the e1kvm test guest from Debian 12 packages.
#
# Produces in OUTDIR:
#   vmlinux       uncompressed ELF kernel (PVH entry note), what e1kvm loads
#   bzImage       the same kernel, bzImage format (for QEMU and friends)
#   initrd.img    UNCOMPRESSED newc cpio: busybox, iperf3, ethtool, tcpdump,
#                 /lib/modules/e1000.ko, /init, /lib/e1kvm.sh, /scenarios/*.sh,
#                 /bin/NAME for each progs/NAME.c (static, built here)
#   initrd-net.img   the same without tcpdump (and its 9 libraries)
#   initrd-base.img  busybox, /init, scenarios, progs and e1000.ko only
#                 Each initrd MB costs the emulated guest kernel ~1.1 s at
#                 unpack time (per-page tmpfs work, not the copy): measured
#                 /init at ~36 s (base, 2.2 MB), ~44 s (net, 11 MB), ~52 s
#                 (full, 16 MB) under QEMU microvm.  Pick the smallest that
#                 has what a test needs.
#   System.map, config, e1000.ko   for debugging (symbolize a guest RIP, ...)
#   cmdline       kernel parameters this host's KVM needs (one line)
#
# Why this shape (see docs/HOST.md): the host's KVM runs the guest
# kernel inside its instruction emulator, so only a small patched 6.1 kernel
# boots, and every emulated instruction counts: small BSS, no gzip'd initrd.
#
# Results are cached outside the clone:
#   ${E1KVM_CACHE:-/var/cache/e1kvm}/guest-<hash>   final artifacts
#       hash = sha256(this script, kernel fragments + patch, init, lib,
#                     scenarios, progs, package versions, the host files
#                     copied in)
#   .../kernel-<khash>   kernel artifacts alone, so that changing a scenario
#       rebuilds only the initrd (seconds), not the kernel (minutes)
# Both are built in a temp dir and renamed into place, so an interrupted
# build never leaves a half-filled cache entry.
#
# Environment: E1KVM_CACHE (cache root), E1KVM_JOBS (make -j, default nproc).
set -euo pipefail
shopt -s inherit_errexit # failures inside $(...) abort too

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
case $1 in -h | --help) usage ;; esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
mkdir -p "$1"
OUTDIR=$(cd "$1" && pwd)
JOBS=${E1KVM_JOBS:-$(nproc)}
LINUX_TAR=/usr/src/linux-source-6.1.tar.xz

# Parameters the guest kernel needs on this host (docs/HOST.md): the
# emulator cannot run XSAVE/XRSTOR, CMPXCHG16B, CLAC/STAC, POPCNT, RDGSBASE,
# INVPCID, ...; hiding erms/fsrm makes memcpy use rep movsq (8x fewer
# emulated iterations).
GUEST_CMDLINE="console=ttyS0 noxsave nofsgsbase clearcpuid=smap,umip,pcid,invpcid,fsgsbase,cx16,erms,fsrm,rdpid,pku,popcnt,rdrand,rdseed,rdtscp,clflushopt,clwb"

T0=$(date +%s)
say() { echo "mkguest: [$(( $(date +%s) - T0 ))s] $*" >&2; }
die() { echo "mkguest: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# 1. Packages.  dpkg-query first so that the common case costs nothing;
#    apt-get update only when something is actually missing.
# ---------------------------------------------------------------------------
PKGS=(linux-source-6.1 busybox-static iperf3 ethtool tcpdump
      build-essential bc flex bison libelf-dev libssl-dev cpio xz-utils patch)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' ok installed$' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing missing packages: ${missing[*]}"
	SUDO=
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || die "need root to install: ${missing[*]}"
		SUDO=sudo
	fi
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[ -r "$LINUX_TAR" ] || die "$LINUX_TAR missing (package linux-source-6.1)"

# ---------------------------------------------------------------------------
# 2. What goes into the guest, and the cache keys.
# ---------------------------------------------------------------------------
KDIR=$HERE/kernel
KFILES=("$KDIR/minimal.config" "$KDIR/extra.config" "$KDIR/pvm-emulator.patch")
GFILES=("$HERE/init" "$HERE/lib/e1kvm.sh")
# headers the guest programs include: the test frame shared with the
# host's bench senders (-I), and what the poll-mode drivers share (progs/)
PROG_INCLUDE=$(cd "$HERE/../../bench" && pwd)
PROG_HEADERS=("$PROG_INCLUDE/udpframe.h" "$HERE/progs/pmd.h")
shopt -s nullglob
SCENARIOS=("$HERE"/scenarios/*.sh)
# Guest programs: each progs/NAME.c is compiled static on the host and
# installed as /bin/NAME in all three initrds (build_prog).
PROGS=("$HERE"/progs/*.c)
shopt -u nullglob
for f in "${KFILES[@]}" "${GFILES[@]}" "${PROG_HEADERS[@]}"; do [ -f "$f" ] || die "missing $f"; done
command -v musl-gcc >/dev/null || die "musl-gcc not found (apt-get install musl-tools, or tools/install-deps.sh)"
[ ${#SCENARIOS[@]} -gt 0 ] || die "no scenarios in $HERE/scenarios"

pkgver() { dpkg-query -W -f='${Package}=${Version}\n' "$@"; }

# Host programs copied into the initrd: path inside the guest = host path.
BUSYBOX=/bin/busybox
tool_path() { # PACKAGE NAME -> the packaged binary's path
	local p
	p=$(dpkg -L "$1" | grep -E "/s?bin/$2\$" | head -n1)
	[ -x "$p" ] || die "$2 not found in package $1"
	echo "$p"
}
# (One assignment each: in a=("$(x)" "$(y)") only y's failure would count.)
iperf3=$(tool_path iperf3 iperf3)
ethtool=$(tool_path ethtool ethtool)
tcpdump=$(tool_path tcpdump tcpdump)
NET_TOOLS=("$iperf3" "$ethtool")
CAP_TOOLS=("$tcpdump")
TOOLS=("${NET_TOOLS[@]}" "${CAP_TOOLS[@]}")

# Shared libraries of the tools (ldd), as the paths the loader will look
# for: /lib/x86_64-linux-gnu/... and /lib64/ld-linux-x86-64.so.2.
shared_libs() {
	local out
	out=$(ldd "$@") || die "ldd failed on $*"
	if grep -q 'not found' <<<"$out"; then die "unresolved libraries: $out"; fi
	# "lib => /path (addr)", "/lib64/ld-linux... (addr)"; skip the "prog:"
	# headers ldd prints when given several files.
	awk '$2 == "=>" && $3 ~ /^\// {print $3}
	     $1 ~ /^\// && $1 !~ /:$/ {print $1}' <<<"$out" |
		LC_ALL=C sort -u
}
# (Assigned first, not mapfile <(...): a failure there would be lost.)
libs=$(shared_libs "${NET_TOOLS[@]}")
mapfile -t NET_LIBS <<<"$libs"
libs=$(shared_libs "${TOOLS[@]}")
mapfile -t LIBS <<<"$libs"

# The kernel key covers only what the kernel build reads: the fragments, the
# patch, the build functions' own text (declare -f: comments do not count),
# the kernel source and the compiler.
kernel_key() {
	{
		sha256sum "${KFILES[@]}" | awk '{print $1}'
		declare -f build_kernel check_config
		pkgver linux-source-6.1
		gcc --version | head -n1
	} | sha256sum | cut -c1-16
}
# The guest key covers everything (this whole script included).
guest_key() {
	{
		sha256sum "$SELF" "${KFILES[@]}" "${GFILES[@]}" "${PROG_HEADERS[@]}" | awk '{print $1}'
		for f in "${SCENARIOS[@]}"; do
			echo "$(basename "$f") $(sha256sum <"$f" | cut -d' ' -f1)"
		done
		for f in "${PROGS[@]}"; do
			echo "progs/$(basename "$f") $(sha256sum <"$f" | cut -d' ' -f1)"
		done
		pkgver musl-dev # the static programs contain its libc.a
		pkgver linux-source-6.1 busybox-static iperf3 ethtool tcpdump
		# The libraries come from other packages (libc6, libssl3, ...):
		# hash their contents rather than chase package names.
		sha256sum "$BUSYBOX" "${TOOLS[@]}" "${LIBS[@]}"
		gcc --version | head -n1
	} | sha256sum | cut -c1-16
}

# ---------------------------------------------------------------------------
# 3. Kernel build (runs in a scratch dir; writes artifacts into $1).
# ---------------------------------------------------------------------------
# Options the tests depend on.  merge_config.sh -m does not complain when
# Kconfig drops a requested value (unmet dependency), so check explicitly.
check_config() {
	local cfg=$1 bad=0 want
	for want in CONFIG_E1000=m CONFIG_VLAN_8021Q=y CONFIG_SMP=y \
		CONFIG_NR_CPUS=8 CONFIG_X86_MPPARSE=y CONFIG_MODULES=y \
		CONFIG_MODULE_UNLOAD=y CONFIG_UIO_PCI_GENERIC=y \
		CONFIG_VFIO_NOIOMMU=y CONFIG_HUGETLBFS=y CONFIG_PVH=y \
		CONFIG_SERIAL_8250_CONSOLE=y CONFIG_PACKET=y \
		CONFIG_BLK_DEV_INITRD=y CONFIG_DEVTMPFS=y CONFIG_VIRTIO_NET=y \
		CONFIG_CRYPTO_MANAGER_DISABLE_TESTS=y CONFIG_ACPI=y; do
		grep -qx "$want" "$cfg" || { echo "config: want $want" >&2; bad=1; }
	done
	# Known to hang or crawl on this host (see docs/HOST.md).
	for want in CONFIG_PTP_1588_CLOCK_KVM CONFIG_MODULE_SIG \
		CONFIG_RANDOMIZE_BASE CONFIG_MAXSMP; do
		if grep -q "^$want=" "$cfg"; then
			echo "config: $want must be off" >&2; bad=1
		fi
	done
	return $bad
}

build_kernel() { # DEST (scratch space; artifacts end up directly in DEST)
	local dest=$1 src=$1/src log=$1/build.log
	say "kernel: extracting $LINUX_TAR"
	mkdir -p "$src"
	tar -xJf "$LINUX_TAR" -C "$src" --strip-components=1
	cd "$src"
	say "kernel: applying pvm-emulator.patch"
	# --fuzz=0: the patch targets exactly this source; refuse fuzzy hunks.
	patch -p1 --forward --fuzz=0 <"$KDIR/pvm-emulator.patch" >>"$log"
	say "kernel: configuring"
	# Reproducible-ish version string; keep the host's name out of it.
	export KBUILD_BUILD_USER=e1kvm KBUILD_BUILD_HOST=e1kvm
	# shellcheck disable=SC2155 # (date cannot fail; kept as is: the
	# function's text is part of the kernel cache key)
	export KBUILD_BUILD_TIMESTAMP="$(date -u -d @0)"
	{
		make allnoconfig
		scripts/kconfig/merge_config.sh -m .config \
			"$KDIR/minimal.config" "$KDIR/extra.config"
		make olddefconfig
	} >>"$log" 2>&1
	check_config .config || die "kernel config lacks required options (see above)"
	say "kernel: make -j$JOBS bzImage modules (log: $log)"
	# vmlinux is built on the way to bzImage; modules gives e1000.ko.
	make -j"$JOBS" bzImage modules >>"$log" 2>&1
	cp vmlinux System.map "$dest/"
	cp arch/x86/boot/bzImage "$dest/bzImage"
	cp .config "$dest/config"
	# No debug info is configured, but strip anyway: the module is copied
	# by the emulated kernel at insmod time.
	strip --strip-debug -o "$dest/e1000.ko" drivers/net/ethernet/intel/e1000/e1000.ko
	cd "$dest"
	rm -rf "$src"
}

# ---------------------------------------------------------------------------
# 4. Initrd (writes $2 from kernel artifacts in $1).
# ---------------------------------------------------------------------------
# Writes a newc cpio of directory $1 to $2.  Fixed timestamps and sorted
# names: the same inputs give the same bytes.
pack_cpio() { # DIR IMG
	find "$1" -exec touch -h -d @0 {} +
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc --owner=0:0 --reproducible --quiet) >"$2"
}

# Copies host files into the tree at the same paths.  Real tools replace
# any same-named busybox applet link; libraries keep the paths ldd printed
# (the loader's built-in search path covers /lib/x86_64-linux-gnu; the
# loader itself stays /lib64/ld-linux-x86-64.so.2).
add_host_files() { # DIR FILE...
	local st=$1 f
	shift
	for f in "$@"; do
		mkdir -p "$st$(dirname "$f")"
		rm -f "$st$f"
		cp -L "$f" "$st$f"
	done
}

# Smoke test on the host: do the tools find all their libraries in the tree?
# (chroot needs root; skipped otherwise.)
smoke_test() { # DIR COMMAND
	[ "$(id -u)" = 0 ] || return 0
	chroot "$1" /bin/sh -c "$2" >/dev/null 2>&1 ||
		die "'$2' does not run inside the initrd tree"
}

# Compiles guest program $1 (C, one file) to $2: static, so it needs no
# libraries even in the base initrd, against musl and stripped (~80 KB; with
# glibc each was ~0.8 MB, and each initrd MB costs the guest ~1.1 s of boot).
build_prog() { # SRC DEST
	musl-gcc -static -O2 -Wall -Werror -I"$PROG_INCLUDE" -o "$WORK/prog.tmp" "$1" || die "cannot compile $1"
	rm -f "$2" # never write through a busybox applet symlink of that name
	strip -o "$2" "$WORK/prog.tmp"
	rm -f "$WORK/prog.tmp"
}

# Builds the three initrds into $2 (initrd-base.img, initrd-net.img,
# initrd.img), each a single archive (so cpio -t shows everything) made from
# one tree that grows: base -> + iperf3/ethtool -> + tcpdump.
build_initrds() { # KERNEL_DIR OUTDIR
	local kdir=$1 out=$2 st
	st=$(mktemp -d "$WORK/initrd.XXXXXX")
	mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,mnt,var/run,lib/modules,scenarios}
	chmod 1777 "$st/tmp"

	# busybox and a symlink per applet, at the applet's usual place.
	cp "$BUSYBOX" "$st/bin/busybox"
	local a
	for a in $("$BUSYBOX" --list-full); do
		case $a in bin/busybox | linuxrc) continue ;; esac
		mkdir -p "$st/$(dirname "$a")"
		ln -sf /bin/busybox "$st/$a"
	done

	# e1000 as a module: /init insmods it, tests rmmod/insmod it again.
	cp "$kdir/e1000.ko" "$st/lib/modules/e1000.ko"

	cp "$HERE/init" "$st/init"
	chmod 755 "$st/init"
	cp "$HERE/lib/e1kvm.sh" "$st/lib/e1kvm.sh"
	cp "${SCENARIOS[@]}" "$st/scenarios/"
	chmod 755 "$st"/scenarios/*.sh
	local prog
	for prog in "${PROGS[@]}"; do
		build_prog "$prog" "$st/bin/$(basename "$prog" .c)"
	done

	# Users: tcpdump drops privileges to user "tcpdump" unless run with
	# -Z root; both work with these entries.  glibc >= 2.34 has the "files"
	# NSS module built in, so no libnss_files is needed.
	cat >"$st/etc/passwd" <<-'EOF'
	root:x:0:0:root:/root:/bin/sh
	tcpdump:x:100:100:tcpdump:/nonexistent:/bin/false
	nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$st/etc/group" <<-'EOF'
	root:x:0:
	tcpdump:x:100:
	nogroup:x:65534:
	EOF
	cat >"$st/etc/nsswitch.conf" <<-'EOF'
	passwd: files
	group: files
	hosts: files
	services: files
	protocols: files
	EOF
	cat >"$st/etc/hosts" <<-'EOF'
	127.0.0.1 localhost
	10.77.0.1 host
	10.77.0.2 guest
	EOF
	cat >"$st/etc/protocols" <<-'EOF'
	ip	0	IP
	icmp	1	ICMP
	tcp	6	TCP
	udp	17	UDP
	EOF
	cat >"$st/etc/services" <<-'EOF'
	echo		7/tcp
	echo		7/udp
	discard		9/udp
	ssh		22/tcp
	domain		53/udp
	iperf3		5201/tcp
	EOF
	echo guest >"$st/etc/hostname"
	# /dev/console is not needed here: the kernel's built-in default
	# initramfs has it (and /init mounts devtmpfs); no mknod, no root needed.

	smoke_test "$st" 'busybox true && [ -x /init ]'
	pack_cpio "$st" "$out/initrd-base.img"

	add_host_files "$st" "${NET_TOOLS[@]}" "${NET_LIBS[@]}"
	smoke_test "$st" 'iperf3 --version && ethtool --version'
	pack_cpio "$st" "$out/initrd-net.img"

	add_host_files "$st" "${CAP_TOOLS[@]}" "${LIBS[@]}"
	smoke_test "$st" 'tcpdump --version && tcpdump -Z root -D'
	pack_cpio "$st" "$out/initrd.img"
	rm -rf "$st"
}

# ---------------------------------------------------------------------------
# 5. Cache lookup, build, publish.
# ---------------------------------------------------------------------------
CACHE=${E1KVM_CACHE:-/var/cache/e1kvm}
if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then
	[ -z "${E1KVM_CACHE:-}" ] || die "cache dir $CACHE not writable"
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/e1kvm
	mkdir -p "$CACHE"
fi
GKEY=$(guest_key)
GDIR=$CACHE/guest-$GKEY
ARTIFACTS=(vmlinux bzImage initrd.img initrd-net.img initrd-base.img
	System.map config e1000.ko cmdline)

publish() {
	local f
	for f in "${ARTIFACTS[@]}"; do
		# Copy to a temp name and rename, so OUTDIR never holds a torn file.
		cp -f "$GDIR/$f" "$OUTDIR/.$f.tmp"
		mv -f "$OUTDIR/.$f.tmp" "$OUTDIR/$f"
	done
	say "guest-$GKEY -> $OUTDIR (initrd.img $(stat -c %s "$OUTDIR/initrd.img")," \
		"initrd-net.img $(stat -c %s "$OUTDIR/initrd-net.img")," \
		"initrd-base.img $(stat -c %s "$OUTDIR/initrd-base.img") bytes)"
}

complete() { # DIR FILE... -> all present
	local d=$1 f
	shift
	for f in "$@"; do [ -s "$d/$f" ] || return 1; done
}

# Fast path: a finished entry appears only by rename, so "complete" is final.
if complete "$GDIR" "${ARTIFACTS[@]}"; then
	publish
	exit 0
fi

# Serialize builders (two parallel kernel builds would only fight for CPUs);
# the winner's result is then the fast path for the others.
exec 9>"$CACHE/.lock"
flock 9
if complete "$GDIR" "${ARTIFACTS[@]}"; then
	publish
	exit 0
fi

# Holding the lock, any other work dir is debris of a killed run (a kernel
# tree is ~1.5 GB): remove it.
rm -rf "$CACHE"/.work.*
WORK=$(mktemp -d "$CACHE/.work.XXXXXX")
cleanup() {
	local rc=$?
	if [ $rc != 0 ] && [ -f "$WORK/kernel/build.log" ]; then
		cp "$WORK/kernel/build.log" "$CACHE/last-failed-build.log" || true
		echo "mkguest: kernel build log (tail); full: $CACHE/last-failed-build.log" >&2
		tail -n 40 "$WORK/kernel/build.log" >&2 || true
	fi
	cd /
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP # so that cleanup runs on ^C / kill as well

KKEY=$(kernel_key)
KCACHE=$CACHE/kernel-$KKEY
KARTIFACTS=(vmlinux bzImage System.map config e1000.ko)
if complete "$KCACHE" "${KARTIFACTS[@]}"; then
	say "kernel: cached kernel-$KKEY"
else
	tk=$(date +%s)
	mkdir "$WORK/kernel"
	build_kernel "$WORK/kernel"
	rm -rf "$KCACHE"
	mv -T "$WORK/kernel" "$KCACHE"
	# BSS size matters: the emulated rep stosb clears it at ~2 MB/s.
	bss=$(nm "$KCACHE/vmlinux" | awk '$3=="__bss_start"{s=$1} $3=="__bss_stop"{e=$1} END{print s, e}')
	bss=$(( (0x${bss#* } - 0x${bss% *}) / 1024 ))
	say "kernel: built kernel-$KKEY in $(( $(date +%s) - tk ))s (BSS ${bss} KiB)"
fi

say "initrd: building (kernel-$KKEY)"
mkdir "$WORK/guest"
for f in vmlinux bzImage System.map config e1000.ko; do
	cp "$KCACHE/$f" "$WORK/guest/$f"
done
echo "$GUEST_CMDLINE" >"$WORK/guest/cmdline"
build_initrds "$KCACHE" "$WORK/guest"
rm -rf "$GDIR"
mv -T "$WORK/guest" "$GDIR"
publish
