#!/usr/bin/env bash
# Observe and drive VMs that run the real guest and its e1000 driver. Two
# boots, at the same time (a boot costs ~40-80 s here), both in one private
# netns (TAP there; the socket link and hostfwd on its loopback):
#   A  eth0 on a TAP, eth1 on -netdev socket,listen=; base initrd;
#      scenarios observe-socket (ping B over the socket link), observe-tap:
#      -trace of the whole packet path, -object filter-dump (pcap read back
#      with tshark), -stats table at exit, and the QMP monitor: stop/cont
#      (the guest stops answering pings, then answers again; exit counts
#      freeze), query-status, query-exits (per register), query-rx-filter +
#      NIC_RX_FILTER_CHANGED (the guest sets promisc), malformed / unknown /
#      huge input (errors, the VM goes on), set_link off/on (the guest sees
#      its carrier go and come back, traffic stops and resumes), SHUTDOWN at
#      the guest's poweroff.
#   B  eth0 on -netdev socket,connect= (no TAP), eth1 on -netdev user
#      (libslirp); net initrd; scenarios observe-socket (ping A),
#      observe-slirp: DHCP in the guest, and the host's iperf3 client
#      reaches iperf3 -s in the guest through hostfwd on 127.0.0.1.
. "$(dirname "$0")/lib.sh"
guest_prepare
L=$LOGDIR/observe
QMPPY=$ROOT/tests/integration/qmp.py
NS_A=e1kobs-$$
GA=10.77.40.2
HA=10.77.40.1
QMP=$LOGDIR/observe-a.qmp
SPORT=15555 # socket link between A and B (netns loopback)
HPORT=15201 # hostfwd to the guest's iperf3 (netns loopback)
# An upper bound, not the expected time (~2-3 minutes on an idle host): a
# host busy with other VMs can make a boot take several minutes.
VM_TIMEOUT=${OBSERVE_TIMEOUT:-900}
rm -f "$L"-*
start=$SECONDS

qmp() { python3 "$QMPPY" "$QMP" "$@"; }
# wait_line FILE PATTERN SECONDS: until a line of FILE matches (grep -E)
wait_line() {
    local i
    for ((i = 0; i < $3 * 2; i++)); do
        [ -f "$1" ] && tr -d '\r' <"$1" | grep -qE -- "$2" && return 0
        sleep 0.5
    done
    return 1
}
# pings NS DEST COUNT WAIT: replies to COUNT pings from NS
pings() {
    ip netns exec "$1" ping -c "$3" -W "$4" "$2" 2>/dev/null | awk '/packets transmitted/ {print $4}'
}
mmio_io() { qmp get "r['exits'].get('MMIO', 0) + r['exits'].get('IO', 0)" query-exits; }

# ------------------------------------------------------------------ boot A
boot_a() {
    timeout --kill-after=10 "$VM_TIMEOUT" ip netns exec "$NS_A" "$E1KVM" -kernel "$KERNEL" \
        -initrd "$INITRD_BASE" -nographic -m 256M \
        -append "$GUEST_CMDLINE e1kvm.scenario=observe-socket,observe-tap e1kvm.ip=$GA/24 e1kvm.peer=$HA e1kvm.sock_iface=eth1 e1kvm.sock_ip=10.77.9.1/24 e1kvm.sock_peer=10.77.9.2" \
        -netdev tap,id=net0,ifname=tap0,script=no,downscript=no \
        -device e1000,netdev=net0,id=nic0,mac=52:54:00:12:34:56,doorbells=on \
        -netdev socket,id=s0,listen=127.0.0.1:$SPORT -device e1000,netdev=s0,mac=52:54:00:00:09:01 \
        -object filter-dump,id=dump0,netdev=net0,file="$L-a.pcap" \
        -trace "enable=*,enable=-vcpu_exit,file=$L-a.trace" -stats \
        -qmp "unix:$QMP,server=on,wait=off" </dev/null >"$L-a.log" 2>"$L-a.err" &
    local vm=$!
    python3 "$QMPPY" "$QMP" listen >"$L-a.events" 2>&1 &
    local listener=$!

    if ! wait_line "$L-a.log" "E1KVM-RESULT phase wait-link-down" "$VM_TIMEOUT"; then
        not_ok "A: the guest never reached the set_link step (see $L-a.log)"
        kill $vm 2>/dev/null
        wait $vm
        return
    fi
    check_ge "A -> B ping over -netdev socket (no TAP)" 1 "$(result "$L-a.log" socket_ping)"
    check_eq "A: guest ping of the host through the TAP" 3 "$(result "$L-a.log" ping1)"
    check_ge "A: guest burst of 300 pings (laps the TX ring)" 280 "$(result "$L-a.log" ping_burst)"
    check_eq "A: host ping of the guest while running" 2 "$(pings "$NS_A" $GA 2 5)"
    check_eq "A: query-status while running" running "$(qmp get "r['status']" query-status)"

    # stop / cont
    check_eq "A: stop" '{"return": {}}' "$(qmp run stop)"
    check_eq "A: query-status after stop" "paused False" \
        "$(qmp get "r['status'] + ' ' + str(r['running'])" query-status)"
    e1=$(mmio_io)
    check_eq "A: no reply from a stopped guest" 0 "$(pings "$NS_A" $GA 2 1)"
    e2=$(mmio_io)
    check_eq "A: no MMIO/IO exits while stopped (before/after 2 s)" "$e1" "$e2"
    check_eq "A: cont" '{"return": {}}' "$(qmp run cont)"
    check_eq "A: query-status after cont" running "$(qmp get "r['status']" query-status)"
    check_ge "A: the guest answers again after cont" 1 "$(pings "$NS_A" $GA 3 5)"
    check_ge "A: exits resume after cont" $((e2 + 1)) "$(mmio_io)"
    check "A: STOP and RESUME events" bash -c "grep -q '\"STOP\"' '$L-a.events' && grep -q '\"RESUME\"' '$L-a.events'"

    # receive filter: the guest set promiscuous mode before this step
    rxf=$(qmp get "'%s %s %s %s' % (r[0]['name'], r[0]['main-mac'], r[0]['promiscuous'], r[0]['broadcast-allowed'])" \
        query-rx-filter '{"name": "nic0"}')
    check_eq "A: query-rx-filter (name, MAC, promiscuous, broadcast)" "nic0 52:54:00:12:34:56 True True" "$rxf"
    check "A: NIC_RX_FILTER_CHANGED event" grep -q NIC_RX_FILTER_CHANGED "$L-a.events"
    check "A: query-rx-filter of a TAP netdev: error" bash -c \
        "python3 '$QMPPY' '$QMP' run query-rx-filter '{\"name\": \"net0\"}' | grep -q \"isn't a NIC\""

    # exit statistics, live
    # (the first e1000's BAR0 is at 0xc0000000; a TDT value written a second
    # time, after the guest's 300-ping burst lapped the ring, rings a doorbell
    # instead of exiting)
    local q='[g for x in r["regions"] if x["name"] == "e1000-mmio" and x["address"] == 0xc0000000 for g in x["registers"] if g["name"] == "%s"][0]["%s"]'
    check_ge "A: query-exits: ICR read exits (per register)" 3 "$(qmp get "$(printf "$q" ICR reads)" query-exits)"
    # IMS/IMC writes are posted (KVM coalesced MMIO): counted, not exits
    check_ge "A: query-exits: IMS posted writes (did not exit)" 3 "$(qmp get "$(printf "$q" IMS posted)" query-exits)"
    check_eq "A: query-exits: IMS write exits (posted instead)" 0 "$(qmp get "$(printf "$q" IMS writes)" query-exits)"
    check_ge "A: query-exits: TDT doorbells (writes that did not exit)" 3 "$(qmp get "$(printf "$q" TDT doorbells)" query-exits)"

    # hostile input: the monitor answers with errors, the VM goes on
    printf '{"execute": }\n{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n[1, 2]\n{"execute":"no-such-command","id":7}\n{"execute":"set_link","arguments":{"name":"nic0","up":"yes"}}\n{"foo":1}\n{"execute":"set_link","arguments":{"name":"nosuch","up":false}}\n' >"$L-a.bad1"
    python3 "$QMPPY" "$QMP" raw "$L-a.bad1" >"$L-a.bad1.out" 2>&1
    check "A: malformed JSON -> JSON parse error" grep -q '"desc": "JSON parse error' "$L-a.bad1.out"
    check "A: ... then the next line works (resync)" grep -q '"status": "running"' "$L-a.bad1.out"
    check "A: non-object input -> error" grep -q 'QMP input must be a JSON object' "$L-a.bad1.out"
    check "A: unknown command -> CommandNotFound with the id" \
        grep -q '"class": "CommandNotFound", "desc": "The command no-such-command has not been found"}, "id": 7' "$L-a.bad1.out"
    check "A: wrong argument type -> error" grep -q "Invalid parameter type for 'up', expected: boolean" "$L-a.bad1.out"
    check "A: unexpected member -> error" grep -q "QMP input member 'foo' is unexpected" "$L-a.bad1.out"
    check "A: set_link of an unknown device -> DeviceNotFound" grep -q '"class": "DeviceNotFound"' "$L-a.bad1.out"
    { printf '{"execute": "'; head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' a; } >"$L-a.bad2"
    python3 "$QMPPY" "$QMP" raw "$L-a.bad2" >"$L-a.bad2.out" 2>&1
    check "A: 10 MB without a newline -> error and disconnect" bash -c \
        "grep -q 'JSON input too large' '$L-a.bad2.out' && tail -1 '$L-a.bad2.out' | grep -q CLOSED"
    head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' '[' >"$L-a.bad3"
    python3 "$QMPPY" "$QMP" raw "$L-a.bad3" >"$L-a.bad3.out" 2>&1
    check "A: 10 MB of '[' -> parse error (nesting bounded)" grep -q 'JSON parse error' "$L-a.bad3.out"
    rm -f "$L-a.bad2" "$L-a.bad3"
    check_eq "A: still running after hostile input" running "$(qmp get "r['status']" query-status)"
    check "A: the event listener is still connected" kill -0 $listener

    # set_link: the guest sees its carrier go, traffic stops; then resumes
    check_eq "A: set_link nic0 off" '{"return": {}}' "$(qmp run set_link '{"name": "nic0", "up": false}')"
    wait_line "$L-a.log" "E1KVM-RESULT carrier_down" 400
    check_eq "A: guest carrier went down" yes "$(result "$L-a.log" carrier_down)"
    check_eq "A: host ping of the guest with the link down" 0 "$(pings "$NS_A" $GA 2 1)"
    wait_line "$L-a.log" "E1KVM-RESULT phase wait-link-up" 200
    check_eq "A: guest ping with the link down" 0 "$(result "$L-a.log" ping_down)"
    check_eq "A: set_link nic0 on" '{"return": {}}' "$(qmp run set_link '{"name": "nic0", "up": true}')"
    wait_line "$L-a.log" "E1KVM-RESULT ping2" 400
    check_eq "A: guest carrier came back" yes "$(result "$L-a.log" carrier_up)"
    check_eq "A: guest ping after the link came back" 3 "$(result "$L-a.log" ping2)"

    wait $vm
    check_eq "A: guest poweroff -> exit code 0" 0 $?
    wait $listener
    check "A: SHUTDOWN event (guest, guest-shutdown)" \
        grep -q '"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}' "$L-a.events"
    check "A: -stats: exit reasons table" grep -qE '^  MMIO +[0-9]+' "$L-a.err"
    check "A: -stats: per-register rows (e1000-mmio ICR reads, TDT doorbells, IMC posted)" bash -c \
        "grep -qE '^  e1000-mmio +0xc0000000 +ICR +[1-9]' '$L-a.err' && grep -qE '^  e1000-mmio +0xc0000000 +TDT +[0-9]+ +[0-9]+ +[1-9]' '$L-a.err' && grep -qE '^  e1000-mmio +0xc0000000 +IMC +0 +0 +0 +[1-9]' '$L-a.err'"

    # the trace: every step of the path, in order for one frame each way
    local t=$L-a.trace ev
    for ev in tap_send net_send net_deliver e1000_receive_iov e1000_receive_filter e1000_dma_write \
        e1000_set_ics e1000_irq e1000_mmio_read e1000_mmio_write e1000_start_xmit \
        e1000_process_tx_desc e1000_xmit_seg e1000_send_packet tap_receive_iov e1000_link \
        net_set_link filter_dump qmp_command qmp_event; do
        grep -q " $ev " "$t" || not_ok "A: trace has no $ev line"
    done
    check "A: trace lines: seconds.nanoseconds, thread name, event" \
        grep -qE '^[0-9]+\.[0-9]{9} vcpu0 e1000_mmio_write IMS <- 0x' "$t"
    check "A: trace: receive_filter says why" grep -q 'e1000_receive_filter accept dst=52:54:00:12:34:56 ethertype=0x0800: own address (RAL/RAH\[0\])' "$t"
    check "A: trace: RX chain in order (tap_send .. set_ics RXT0)" bash -c "awk '
        /tap_send/ {s=1; next}
        s==1 && /net_send net0 -> nic0/ {s=2; next}
        s==2 && /e1000_receive_iov/ {s=3; next}
        s==3 && /e1000_receive_filter accept/ {s=4; next}
        s==4 && /e1000_dma_write RX buffer/ {s=5; next}
        s==5 && /e1000_set_ics cause=RXT0/ {ok=1; exit}
        END {exit !ok}' '$t'"
    check "A: trace: TX chain in order (TDT .. tap write)" bash -c "awk '
        /e1000_mmio_write TDT/ {s=1; next}
        s==1 && /e1000_start_xmit/ {s=2; next}
        s==2 && /e1000_process_tx_desc/ {s=3; next}
        s==3 && /e1000_xmit_seg/ {s=4; next}
        s==4 && /e1000_send_packet/ {s=5; next}
        s==5 && /net_send nic0 -> net0/ {s=6; next}
        s==6 && /tap_receive_iov tap0: wrote/ {ok=1; exit}
        END {exit !ok}' '$t'"

    # the pcap, read back by tshark
    local p=$L-a.pcap req rep
    req=$(tshark -r "$p" -Y "icmp.type == 8 && ip.src == $GA && ip.dst == $HA && eth.src == 52:54:00:12:34:56" 2>/dev/null | wc -l)
    rep=$(tshark -r "$p" -Y "icmp.type == 0 && ip.src == $HA && ip.dst == $GA" 2>/dev/null | wc -l)
    check_ge "A: pcap: guest's echo requests to the host" 6 "$req"
    check_ge "A: pcap: host's echo replies to the guest" 6 "$rep"
    check_ge "A: pcap: host's echo requests to the guest" 2 \
        "$(tshark -r "$p" -Y "icmp.type == 8 && ip.src == $HA && ip.dst == $GA" 2>/dev/null | wc -l)"
}

# ------------------------------------------------------------------ boot B
boot_b() {
    local i
    for ((i = 0; i < 100; i++)); do # A listens from its start
        ip netns exec "$NS_A" ss -ltn | grep -q ":$SPORT " && break
        sleep 0.2
    done
    timeout --kill-after=10 "$VM_TIMEOUT" ip netns exec "$NS_A" "$E1KVM" -kernel "$KERNEL" \
        -initrd "$INITRD_NET" -nographic \
        -append "$GUEST_CMDLINE e1kvm.scenario=observe-socket,observe-slirp e1kvm.sock_ip=10.77.9.2/24 e1kvm.sock_peer=10.77.9.1 e1kvm.slirp_iface=eth1" \
        -netdev socket,id=s0,connect=127.0.0.1:$SPORT -device e1000,netdev=s0,mac=52:54:00:00:09:02 \
        -netdev user,id=u0,hostfwd=tcp:127.0.0.1:$HPORT-:5201 -device e1000,netdev=u0,mac=52:54:00:00:09:03 \
        -trace "enable=socket_*,enable=slirp_*,file=$L-b.trace" </dev/null >"$L-b.log" 2>"$L-b.err" &
    local vm=$!

    if wait_line "$L-b.log" "E1KVM-RESULT phase iperf-ready" "$VM_TIMEOUT"; then
        local ok=0
        for ((i = 0; i < 10; i++)); do
            if ip netns exec "$NS_A" iperf3 -c 127.0.0.1 -p $HPORT -t 3 -J >"$L-b-iperf.json" 2>&1; then
                ok=1
                break
            fi
            sleep 2
        done
        check_eq "B: host iperf3 client through hostfwd 127.0.0.1:$HPORT -> guest iperf3 -s" 1 $ok
        check_ge "B: bytes the guest received through libslirp" 10000 \
            "$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"]))' "$L-b-iperf.json" 2>/dev/null)"
    else
        not_ok "B: the guest's iperf3 server never came up (see $L-b.log)"
    fi
    wait $vm
    check_eq "B: guest poweroff -> exit code 0" 0 $?
    check_ge "B -> A ping over -netdev socket (no TAP)" 1 "$(result "$L-b.log" socket_ping)"
    check "B: trace shows the socket connection and frames both ways" bash -c \
        "grep -q 'socket_connection s0: connected' '$L-b.trace' && grep -q 'socket_send s0' '$L-b.trace' && grep -q 'socket_receive_iov s0' '$L-b.trace'"
    check_eq "B: DHCP lease from libslirp" 10.0.2.15 "$(result "$L-b.log" dhcp_ip)"
    check_eq "B: DHCP router" 10.0.2.2 "$(result "$L-b.log" dhcp_router)"
    check_eq "B: the guest's iperf3 served the host's test" yes "$(result "$L-b.log" iperf_served)"
    check "B: trace shows libslirp frames both ways" bash -c \
        "grep -q 'slirp_input u0' '$L-b.trace' && grep -q 'slirp_send_packet u0' '$L-b.trace'"
}

# namespaces from this shell, so that its EXIT trap removes them
netns_new "$NS_A"
tap_new "$NS_A" tap0 "$HA/24"
boot_a &
PA=$!
boot_b &
PB=$!
wait $PA
wait $PB
say "# test_observe: $((SECONDS - start)) s"
finish
