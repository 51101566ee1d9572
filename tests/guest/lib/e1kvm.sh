# e1kvm.sh (installed as /lib/e1kvm.sh): helpers for guest scenarios, busybox sh.
# Scenarios source this file:  . /lib/e1kvm.sh
#
# Everything a test harness parses is one line on the console that starts
# with "E1KVM-":  E1KVM-RESULT <key> <value...>, E1KVM-LOG <text>.
#
# Cost model (docs/HOST.md): guest user code runs at full speed, but every
# kernel entry is emulated.  A fork+exec of a busybox applet costs ~0.5 s
# in this guest, a fork alone less, a shell builtin next to nothing.  So
# these helpers use builtins (read, echo, case) and avoid $(cat ...),
# pipes and external commands where they can; scenarios should too when
# they loop.

# result KEY VALUE...  -> "E1KVM-RESULT KEY VALUE..."
# One echo = one write(2), so the line is not torn by our own output.
result() {
	local key=$1
	shift
	echo "E1KVM-RESULT $key $*"
}

# log TEXT...  -> free-form progress line; parsers of RESULT lines skip it.
log() {
	echo "E1KVM-LOG $*"
}

# uptime_s [-v VAR] -> seconds since boot (first field of /proc/uptime),
# e.g. 35.71; with -v VAR stores it in VAR instead (no subshell).
uptime_s() {
	local _up _rest
	read -r _up _rest < /proc/uptime
	if [ "${1:-}" = -v ]; then eval "$2=\$_up"; else echo "$_up"; fi
}

# cmdline_arg [-v VAR] NAME [DEFAULT]
# The value of NAME=VALUE on the kernel command line (the last one wins, as
# for the kernel); a bare NAME gives "".  If NAME is absent: DEFAULT when one
# was given, else return 1.  Prints the value, or with -v VAR stores it in
# VAR (use that in loops: $(...) costs a fork).
cmdline_arg() {
	local _var="" _name _found=0 _val="" _w _line
	if [ "$1" = -v ]; then _var=$2; shift 2; fi
	_name=$1
	read -r _line < /proc/cmdline
	for _w in $_line; do
		case $_w in
		"$_name"=*) _val=${_w#*=}; _found=1 ;;
		"$_name") _val=""; _found=1 ;;
		esac
	done
	if [ $_found = 0 ]; then
		[ $# -ge 2 ] || return 1
		_val=$2
	fi
	if [ -n "$_var" ]; then eval "$_var=\$_val"; else echo "$_val"; fi
}

# netup IFACE ADDR/PREFIX  -> link up and address added.
netup() {
	ip link set dev "$1" up || return 1
	ip addr add "$2" dev "$1" || return 1
}

# wait_link IFACE TIMEOUT_SECONDS
# Waits until the interface reports carrier; returns 0 if it came up, 1 if
# not within the timeout.  (Reading /sys/.../carrier of a down interface
# fails with EINVAL, hence the 2>/dev/null.)
wait_link() {
	local _ifc=$1 _tmo=${2:-10} _i=0 _c
	while [ $_i -lt $((_tmo * 10)) ]; do
		_c=0
		read -r _c < "/sys/class/net/$_ifc/carrier" 2>/dev/null
		[ "$_c" = 1 ] && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

# set_final ACTION  -> what /init does after the scenario(s): poweroff
# (default), reboot, or shell.  /init always prints E1KVM-DONE first.
set_final() {
	echo "$1" > /run/e1kvm.final
}

# mount_hugetlbfs [DIR]  -> hugetlbfs at DIR (default /dev/hugepages), for
# DPDK-style tests (not mounted by /init: each mount costs boot time).
mount_hugetlbfs() {
	local _d=${1:-/dev/hugepages}
	mkdir -p "$_d"
	grep -q " $_d hugetlbfs " /proc/mounts || mount -t hugetlbfs hugetlbfs "$_d"
}

# pmd_prog: the poll-mode driver the pmd-* scenarios run, from
# e1kvm.pmd_prog (default e1000-pmd; virtio-pmd for a virtio-net device),
# into $pmd; an unknown name ends the scenario with a result line
pmd_prog() {
	cmdline_arg -v pmd e1kvm.pmd_prog e1000-pmd
	case $pmd in
	e1000-pmd | virtio-pmd) ;;
	*)
		echo "E1KVM-RESULT pmd_error unknown e1kvm.pmd_prog '$pmd'"
		exit 1
		;;
	esac
}
