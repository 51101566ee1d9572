# Guest-driving helpers shared by the NIC tests (test_e1000.sh, test_virtio.sh):
# boot a VM in a namespace and serve its host steps, the host steps
# themselves (on_STEP NS), and the checks on a finished boot. Sourced after
# lib.sh, with L (log prefix), GUEST_IP, HOST_IP, OTHER_IP, OTHER_MAC, MAC0
# and MAC1 set by the test.

# --- host side ---

# ns_setup NS: a namespace of ours, without IPv6: its multicast chatter (MLD,
# router solicitations) would count on the TAP but never reach the guest,
# which has no IPv6, and spoil the counter comparison.
ns_setup() {
    netns_new "$1"
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
}

# iperf_server NS LOG: iperf3 -s in NS; prints its PID (ip netns exec
# execs iperf3, so $! is iperf3 itself).
iperf_server() {
    ip netns exec "$1" iperf3 -s --logfile "$2" </dev/null >/dev/null 2>&1 &
    echo $!
}

# vlan_peer NS TAP VID IP MAC LOG: answer ARP requests and pings for IP
# that arrive tagged with VLAN VID on TAP, from MAC, tagged the same way;
# one line per answer in LOG ("echo-reply GUEST-MAC tci VID len N").
# Prints its PID.  The host kernel untags received frames itself, so the
# tag comes from PACKET_AUXDATA (or from the frame, should it stay there).
VLAN_PEER_PY='
import socket, struct, sys, signal
ifname, vid, myip, mymac = sys.argv[1], int(sys.argv[2]), socket.inet_aton(sys.argv[3]), bytes.fromhex(sys.argv[4].replace(":", ""))
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 1 << 4
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
s.bind((ifname, 0))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
def csum(b):
    b += b"\0" * (len(b) % 2)
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
while True:
    data, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(20))
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    tci = None
    for lvl, typ, d in anc:
        if lvl == SOL_PACKET and typ == PACKET_AUXDATA:
            st, _, _, _, _, vt, _ = struct.unpack("IIIHHHH", d[:20])
            if st & TP_STATUS_VLAN_VALID:
                tci = vt
    if tci is None and data[12:14] == b"\x81\x00":
        tci, data = struct.unpack("!H", data[14:16])[0], data[:12] + data[16:]
    if tci is None or tci & 0xfff != vid:
        continue
    src, et, p = data[6:12], data[12:14], data[14:]
    hdr = src + mymac + struct.pack("!HH", 0x8100, vid)
    if et == b"\x08\x06" and p[6:8] == b"\0\x01" and p[24:28] == myip:
        s.send(hdr + b"\x08\x06" + p[:6] + b"\0\x02" + mymac + myip + p[8:14])
        print("arp-reply", src.hex(":"), "tci", tci, flush=True)
    elif et == b"\x08\x00" and p[9] == 1 and p[16:20] == myip:
        ihl, tot = (p[0] & 15) * 4, struct.unpack("!H", p[2:4])[0]
        ip, icmp = p[:ihl], p[ihl:tot]
        if icmp[0] != 8:
            continue
        icmp = b"\0" + icmp[1:2] + b"\0\0" + icmp[4:]
        icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
        ip = ip[:8] + b"\x40" + ip[9:10] + b"\0\0" + ip[16:20] + ip[12:16] + ip[20:]
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        s.send(hdr + b"\x08\x00" + ip + icmp)
        print("echo-reply", src.hex(":"), "tci", tci, "len", len(data), flush=True)
'
PYTHON=$(command -v /usr/bin/python3 python3 | head -n1)
vlan_peer() {
    ip netns exec "$1" "$PYTHON" -c "$VLAN_PEER_PY" "$2" "$3" "$4" "$5" </dev/null >"$6" 2>&1 &
    echo $!
}

# boot LOG TIMEOUT NS INITRD SCENARIOS APPEND [e1kvm args...]
# Runs ${VMM:-$E1KVM} inside NS with the guest running SCENARIOS (comma
# list); console to LOG, e1kvm's stderr to LOG.err.  While it runs, serves
# the guest's E1KVM-WAIT requests.  Returns e1kvm's exit code (124: killed
# by the timeout or the watchdog).  Two bounds: TIMEOUT seconds in all, and
# $IDLE_MAX seconds without console output (a hung guest is stopped early,
# while a slow one on a busy host, where a boot can take 5 times as long,
# still finishes).
IDLE_MAX=${E1000_IDLE_MAX:-300}
boot() {
    local log=$1 t=$2 ns=$3 initrd=$4 scen=$5 app=$6 pid served=0 step seq size last=-1 since=$SECONDS
    shift 6
    BOOT_LOG=$log
    : >"$log"
    timeout --kill-after=10 "$t" ip netns exec "$ns" "${VMM:-$E1KVM}" \
        -kernel "$KERNEL" -initrd "$initrd" -nographic \
        -append "$GUEST_CMDLINE e1kvm.scenario=$scen e1kvm.ip=$GUEST_IP/24 e1kvm.peer=$HOST_IP $app" \
        "$@" </dev/null >"$log" 2>"$log.err" &
    pid=$!
    while kill -0 $pid 2>/dev/null; do
        # the guest repeats a request until served: serve each seq once
        # ("port=7777" last: a line still being written does not match)
        while read -r step seq; do
            if [ "$seq" -gt "$served" ]; then
                serve_step "$ns" "$step"
                served=$seq
            fi
        done < <(tr -d '\r' <"$log" | awk '$1 == "E1KVM-WAIT" && $3 ~ /^seq=[0-9]+$/ && $4 == "port=7777" { print $2, substr($3, 5) }')
        size=$(stat -c %s "$log")
        if [ "$size" != "$last" ]; then
            last=$size since=$SECONDS
        elif [ $((SECONDS - since)) -ge "$IDLE_MAX" ]; then
            say "# $log: no console output for $IDLE_MAX s, stopping e1kvm"
            echo "E1KVM-TEST watchdog: no console output for $IDLE_MAX s" >>"$log.err"
            kill -TERM $pid # timeout passes it on to e1kvm
            since=$SECONDS
        fi
        sleep 0.3
    done
    wait $pid
}

# serve_step NS STEP: run on_STEP NS, then release the guest with $ANSWER.
serve_step() {
    ANSWER=done
    if declare -F "on_$2" >/dev/null; then
        "on_$2" "$1"
    else
        not_ok "the guest asked for an unknown host step '$2'"
        ANSWER=unknown
    fi
    release "$1" "$ANSWER" || not_ok "host step $2: the guest's port 7777 did not accept the release within 30 s"
}

# release NS WORD: connect to the guest's port 7777 and send WORD.  The
# guest listens before it asks, but retry (30 s): its nc may be restarting
# (see host_step in e1000-common.sh).
release() {
    local end=$((SECONDS + 30))
    while [ $SECONDS -lt $end ]; do
        ip netns exec "$1" timeout 5 bash -c 'echo "$1" >"/dev/tcp/$2/7777"' _ "$2" "$GUEST_IP" \
            2>/dev/null && return 0
        sleep 0.3
    done
    return 1
}

# tap_stats NS TAP: "rx_packets tx_packets rx_bytes tx_bytes" of TAP.
# (On the host side of a TAP, rx = what the guest transmitted.)
tap_stats() {
    local s out=()
    for s in rx_packets tx_packets rx_bytes tx_bytes; do
        out+=("$(ip netns exec "$1" cat "/sys/class/net/$2/statistics/$s")")
    done
    echo "${out[*]}"
}

# --- host steps (on_STEP NS), asked for by the guest scenarios ---

# ping_summary FILE: "TRANSMITTED RECEIVED DUPLICATES" from iputils ping's
# summary ("200 packets transmitted, 200 received, +1 duplicates, ...")
ping_summary() {
    sed -n 's/^\([0-9]\+\) packets transmitted, \([0-9]\+\) received\(, +\([0-9]\+\) duplicates\)\?.*/\1 \2 \4/p' "$1"
}
# host_pings NS COUNT TARGET FILE: COUNT pings at a 50 ms interval, the
# guest's own rate (a 10 ms flood livelocked the emulated guest's receive
# path on a busy host: its NAPI poll never ran, TX completions stopped and
# the netdev watchdog reset the NIC).  No -w: with a deadline, ping -c N
# keeps sending until N replies came; the outer timeout bounds it instead.
host_pings() {
    timeout 180 ip netns exec "$1" ping -c "$2" -i 0.05 -W 30 -q "$3" >"$4" 2>&1
}
# check_pings WHAT COUNT FILE: COUNT sent, COUNT answered, no duplicates;
# PINGS_OK=1 if so
check_pings() {
    local tx rx dup
    read -r tx rx dup < <(ping_summary "$3")
    check_eq "$1: pings sent" "$2" "${tx:-?}"
    check_eq "$1: replies" "$2" "${rx:-?}"
    check_eq "$1: duplicate replies" 0 "${dup:-0}"
    PINGS_OK=0
    if [ "${tx:-}" = "$2" ] && [ "${rx:-}" = "$2" ] && [ -z "$dup" ]; then PINGS_OK=1; fi
}

on_host_ping() {
    host_pings "$1" 200 "$GUEST_IP" "$L-1-host-ping.txt"
    check_pings "host -> guest, 200 pings at 50 ms" 200 "$L-1-host-ping.txt"
    ANSWER=ok
    [ $PINGS_OK = 1 ] || ANSWER=fail
}
on_stats_before() { tap_stats "$1" tap0 >"$L-1-tap-before"; }
on_stats_after() { tap_stats "$1" tap0 >"$L-1-tap-after"; }
on_promisc_traffic() {
    # 10 frames to a MAC that is not the guest's, then 5 pings to the guest
    ip -n "$1" neigh replace $OTHER_IP lladdr $OTHER_MAC dev tap0 nud permanent
    # (no -w: with a deadline iputils ping keeps sending until it ends)
    timeout 20 ip netns exec "$1" ping -c 10 -i 0.05 -W 1 -q $OTHER_IP >/dev/null 2>&1
    timeout 60 ip netns exec "$1" ping -c 5 -i 0.05 -W 30 -q "$GUEST_IP" >/dev/null 2>&1
}
on_mtu_9000() { ip -n "$1" link set tap0 mtu 9000; }
on_mtu_1500() { ip -n "$1" link set tap0 mtu 1500; }
on_mtu_host_ping() {
    # 8972 bytes of ICMP payload with DF: a 9014-byte frame each way, whole
    timeout 120 ip netns exec "$1" ping -M do -s 8972 -c 5 -i 0.2 -W 30 -q "$GUEST_IP" \
        >"$L-1-mtu-host-ping.txt" 2>&1
}
on_eth1_pings() {
    # 100 pings to the guest's eth1 while the guest pings through eth0
    host_pings "$1" 100 10.77.1.2 "${BOOT_LOG%.log}-eth1-pings.txt" &
    ETH1_PINGS=$!
}
on_two_nics() {
    local i want got fails=0
    if [ -n "${ETH1_PINGS:-}" ]; then
        wait "$ETH1_PINGS" # bounded by its timeout
        check_pings "two NICs: host -> guest eth1 while the guest pinged via eth0" 100 "${BOOT_LOG%.log}-eth1-pings.txt"
        [ $PINGS_OK = 1 ] || fails=1
    else
        not_ok "two NICs: host step eth1_pings never ran"
        fails=1
    fi
    # Which TAP learnt which MAC: proves each NIC is wired to its own TAP
    # (arp_ignore=1 keeps the host from answering ARP across the TAPs).
    for i in 0 1; do
        want=$(result "$BOOT_LOG" twonics_mac$i)
        got=$(ip -n "$1" neigh show "10.77.$i.2" dev tap$i | awk '{ for (j = 1; j < NF; j++) if ($j == "lladdr") print $(j + 1) }')
        check_eq "two NICs: tap$i's neighbour 10.77.$i.2 has guest eth$i's MAC" "$want" "$got"
        [ -n "$want" ] && [ "$want" = "$got" ] || fails=1
    done
    # the guest's rc depends on this answer
    ANSWER=ok
    [ $fails = 0 ] || ANSWER=fail
}

# --- checks on a finished boot ---

# check_boot NAME LOG RC SCENARIO...: exit code 0, every scenario ran to rc=0
check_boot() {
    local name=$1 log=$2 rc=$3 s
    shift 3
    check_eq "$name: e1kvm exit code (log: $log)" 0 "$rc"
    check "$name: not stopped by the console watchdog" bash -c '! grep -q "E1KVM-TEST watchdog" "$1"' _ "$log.err"
    for s in "$@"; do
        check_eq "$name: scenario $s" "rc=0" \
            "$(tr -d '\r' <"$log" | awk -v s="$s" '$1 == "E1KVM-END" && $2 == s { print $3 }')"
    done
}
# check_same DESCRIPTION A B: two integers that must be equal (and present)
check_same() {
    if [[ "$2" =~ ^-?[0-9]+$ ]] && [ "$2" = "$3" ]; then ok "$1 ($2)"; else
        not_ok "$1: '$2' != '$3'"
    fi
}
# want LOG KEY EXPECTED DESCRIPTION
want() { check_eq "$4" "$3" "$(result "$1" "$2")"; }
# want_ge LOG KEY MIN DESCRIPTION
want_ge() { check_ge "$4" "$3" "$(result "$1" "$2")"; }
# check_range DESCRIPTION MIN MAX ACTUAL
check_range() {
    if [[ "$4" =~ ^-?[0-9]+$ ]] && [ "$4" -ge "$2" ] && [ "$4" -le "$3" ]; then ok "$1 ($4 in $2..$3)"; else
        not_ok "$1: expected $2..$3, got '$4'"
    fi
}


check_twonics() {
    local log=$1 w=$2
    want "$log" twonics_mac0 $MAC0 "$w: eth0 has the first -device's MAC"
    want "$log" twonics_mac1 $MAC1 "$w: eth1 has the second -device's MAC"
    want "$log" twonics_link0 up "$w: eth0 carrier"
    want "$log" twonics_link1 up "$w: eth1 carrier"
    want "$log" twonics_received0 20 "$w: 20 pings to 10.77.0.1 via eth0, replies"
    want "$log" twonics_received1 20 "$w: 20 pings to 10.77.1.1 via eth1, replies"
    want "$log" twonics_concurrent0 50 "$w: 50 pings via eth0 while the host pinged eth1, replies"
    # on_two_nics made its checks while the guest waited; make sure it ran
    # (answers only: the guest also logs "host_step two_nics: nc is not
    # listening ..." when its nc was slow to start, and then still waits)
    local served
    served=$(tr -d '\r' <"$log" | grep -a -- 'E1KVM-LOG host_step two_nics: ' |
        grep -avc -e 'nc is not listening' -e 'no answer from the host' -e 'without an answer' || true)
    check_eq "$w: host step two_nics served" 1 "$served"
    # not served: what the guest saw of its steps, for the reader of the CI log
    [ "$served" = 1 ] || tr -d '\r' <"$log" | grep -a -e 'E1KVM-LOG host_step' -e 'E1KVM-WAIT' |
        tail -20 | sed 's/^/# guest: /'
}
