#!/bin/sh
# e1000-common: not a scenario of its own (run alone it only defines
# functions and exits 0).  Helpers shared by the e1000-* scenarios that
# tests/integration/test_e1000.sh chains in one boot:
#   . /scenarios/e1000-common.sh
# Sets IFC, ADDR, PEER from e1kvm.iface, e1kvm.ip, e1kvm.peer.
#
# Cost model (docs/HOST.md): each fork+exec costs ~0.5 s of emulated guest
# kernel work, so parsing is done with shell builtins where it is easy.
# Avoid running several guest programs at once: on this host (a PVM quirk,
# see docs/HOST.md) a program exec'd while others run now and then dies with
# SIGSEGV (seen: one of three concurrent busybox pings).  Concurrent traffic
# is made by the host instead (host_step).
. /lib/e1kvm.sh
cmdline_arg -v IFC e1kvm.iface eth0
cmdline_arg -v ADDR e1kvm.ip 10.77.0.2/24
cmdline_arg -v PEER e1kvm.peer 10.77.0.1

# e1k_up [IFACE ADDR/PREFIX]: interface up with its address, wait for carrier.
# Idempotent (scenarios share one boot and may run alone or in any order).
# Prints nothing; returns 1 if there is no carrier after 15 s.
e1k_up() {
	local _i=${1:-$IFC} _a=${2:-$ADDR}
	ip link set dev "$_i" up || return 1
	ip addr add "$_a" dev "$_i" 2>/dev/null # "File exists" is fine
	wait_link "$_i" 15
}

# ping_n VAR PING-ARGS...: run busybox ping, store the number of replies
# received in VAR (0 when ping printed no summary).  Every ping is bounded
# by -w (deadline) so that a lost reply can never hang a scenario.
ping_n() {
	local _var=$1 _out
	shift
	_out=$(ping "$@" 2>&1)
	ping_parse "$_var" "$_out" "$*"
}

# ping_parse VAR OUTPUT [WHAT]: VAR = replies counted in ping's OUTPUT, with
# "+Ndup" appended if busybox also counted N duplicate replies (so that a
# comparison with the expected count fails); logs the round-trip summary
# (for a human reading the console log).
ping_parse() {
	local _n=0 _d
	case $2 in
	*" packets received"*)
		_n=${2% packets received*}
		_n=${_n##* }
		;;
	esac
	case $2 in
	*" duplicates"*)
		_d=${2% duplicates*}
		_n="$_n+${_d##* }dup"
		;;
	esac
	case $2 in
	*round-trip*) log "ping $3: $_n received, ${2##*round-trip }" ;;
	*) log "ping $3: $_n received" ;;
	esac
	eval "$1=\$_n"
}

# host_step NAME: ask the host test to do NAME, and block until it is done.
# Protocol: we listen on TCP port 7777, then print
#   E1KVM-WAIT NAME seq=N port=7777
# on the console (N counts the requests of this boot; port=7777 last, so the
# host knows the line is complete).  The host test watches the console log,
# does its part (ping us, change its TAP, read its counters, ...), then
# connects to our port 7777 and sends one line (its answer, stored in
# HOST_ANSWER).  Listening before the request makes the release one TCP
# connection, not a series of refused attempts: e1000-stats counts the
# frames in between.  The request is repeated every ~10 s while we wait (a
# console line torn by other output would otherwise be missed; the host
# serves each seq once), and nc is restarted should it die without an
# answer (the exec quirk above): up to 8 tries, a second apart, each logged
# with nc's exit status (three quick tries once all died in a row).
# Bounded: nc gives up after 300 s; returns 1 without an answer.
host_step() {
	local _pid _i _try=0 _found _seq=0 _rc
	read -r _seq 2>/dev/null </tmp/host_step.seq
	_seq=$((_seq + 1))
	echo $_seq >/tmp/host_step.seq
	HOST_ANSWER=""
	while [ -z "$HOST_ANSWER" ] && [ $_try -lt 8 ]; do
		[ $_try = 0 ] || sleep 1
		_try=$((_try + 1))
		rm -f /tmp/host_step
		timeout 300 nc -l -p 7777 </dev/null >/tmp/host_step 2>/dev/null &
		_pid=$!
		# wait (at most 60 tries) for the socket: local port 7777
		# (0x1E61) in state 0A (LISTEN) in /proc/net/tcp (or tcp6 on a
		# kernel with IPv6, where nc listens dual-stack).  grep, not the
		# shell's read: the shell seeks back after over-reading, and
		# /proc/net/tcp counts its position in sockets, not bytes (read
		# sees only the header line).
		_found=0 _i=0
		while [ $_found = 0 ] && [ $_i -lt 60 ] && kill -0 $_pid 2>/dev/null; do
			grep -sqE ":1E61 0+:0000 0A " /proc/net/tcp /proc/net/tcp6 && _found=1
			_i=$((_i + 1))
		done
		[ $_found = 1 ] || log "host_step $1: nc is not listening on port 7777"
		_i=0
		while kill -0 $_pid 2>/dev/null; do
			[ $((_i % 20)) = 0 ] && echo "E1KVM-WAIT $1 seq=$_seq port=7777"
			sleep 0.5
			_i=$((_i + 1))
		done
		wait $_pid
		_rc=$?
		read -r HOST_ANSWER </tmp/host_step
		[ -n "$HOST_ANSWER" ] || log "host_step $1: try $_try: nc ended (status $_rc) without an answer"
	done
	if [ -z "$HOST_ANSWER" ]; then
		log "host_step $1: no answer from the host"
		return 1
	fi
	log "host_step $1: $HOST_ANSWER"
}

# snmp_ip PREFIX: the Ip counters of /proc/net/snmp that show fragmentation,
# as variables PREFIX_FragCreates, PREFIX_ReasmReqds.
snmp_ip() {
	local _p=$1 _names="" _line _n _v
	while read -r _line; do
		case $_line in
		"Ip: Forwarding"*) _names=${_line#Ip: } ;;
		"Ip: "*)
			set -- ${_line#Ip: }
			for _n in $_names; do
				case $_n in
				FragCreates | ReasmReqds) eval "${_p}_$_n=\$1" ;;
				esac
				shift
			done
			;;
		esac
	done </proc/net/snmp
}

# nic_stats PREFIX [IFACE]: the device's own counters as the driver reports
# them (ethtool -S: rx_packets = GPRC, tx_packets = GPTC, rx_bytes = GORC,
# tx_bytes = GOTC registers), as PREFIX_hw_rx_packets etc., and the driver's
# software counters (/sys/class/net/IFACE/statistics, counted per cleaned
# descriptor) as PREFIX_sw_rx_packets etc.
nic_stats() {
	local _p=$1 _i=${2:-$IFC} _k _v _s
	ethtool -S "$_i" >/tmp/ethtool-S
	while read -r _k _v; do
		case $_k in
		rx_packets: | tx_packets: | rx_bytes: | tx_bytes:)
			eval "${_p}_hw_${_k%:}=\$_v" ;;
		esac
	done </tmp/ethtool-S
	for _s in rx_packets tx_packets rx_bytes tx_bytes; do
		read -r _v <"/sys/class/net/$_i/statistics/$_s"
		eval "${_p}_sw_$_s=\$_v"
	done
}
