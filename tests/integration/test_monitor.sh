#!/usr/bin/env bash
# The QMP monitor, -stats and the new options, fast: the guest is a tiny
# program (guests/io-guest.S) that keeps writing to an unclaimed port, so
# exits show whether the vCPU runs. No Linux boot; ~30 s. Uses the ASan +
# UBSan build when there is one (hostile input goes through the parser).
#   stop/cont freeze and release the exits; STOP, RESUME, RESET and SHUTDOWN
#   events; system_reset with and without -no-reboot; quit; SIGTERM;
#   wait=on; tcp:; at most 8 clients per socket; malformed and 10 MB input;
#   -stats table; command line errors of -qmp, -trace, -object and the new
#   netdevs (one line, exit code 1).
. "$(dirname "$0")/lib.sh"
E1KVM=${E1KVM_ASAN:-$E1KVM}
[ -x "$E1KVM" ] || E1KVM=$ROOT/build/e1kvm
QMPPY=$ROOT/tests/integration/qmp.py
T=$(mktemp -d)
G=$T/io-guest
cc -nostdlib -static -no-pie -Wl,-Ttext=0x1000000 -Wl,--build-id=none -o "$G" \
    "$ROOT/tests/integration/guests/io-guest.S" || { not_ok "cannot build io-guest"; finish; }
Q=$T/qmp.sock
qmp() { python3 "$QMPPY" "$Q" "$@"; }
io_exits() { qmp get "r['exits'].get('IO', 0)" query-exits; }
# stop_wait PID: wait (at most 10 s) for it to exit; RC = its exit code
# ("killed" if it had to be). Not in $(...): only this shell can wait.
stop_wait() {
    local i
    for ((i = 0; i < 40; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1"
        wait "$1"
        RC=killed
        return
    fi
    wait "$1"
    RC=$?
}

# --- stop / cont, events, reset, quit ---
"$E1KVM" -kernel "$G" -qmp "unix:$Q,server=on,wait=off" -stats </dev/null >"$T/out" 2>"$T/err" &
pid=$!
python3 "$QMPPY" "$Q" listen >"$T/events" 2>&1 &
lis=$!
check_eq "query-status" running "$(qmp get "r['status']" query-status)"
a=$(io_exits)
sleep 1
b=$(io_exits)
check_ge "IO exits grow while running" $((a + 1)) "$b"
check_eq "stop" '{"return": {}}' "$(qmp run stop)"
check_eq "query-status after stop" "paused False" "$(qmp get "r['status'] + ' ' + str(r['running'])" query-status)"
a=$(io_exits)
sleep 1
check_eq "no IO exits while stopped (1 s apart)" "$a" "$(io_exits)"
check_eq "cont" '{"return": {}}' "$(qmp run cont)"
sleep 0.5
check_ge "IO exits grow again after cont" $((a + 1)) "$(io_exits)"
check_eq "system_reset" '{"return": {}}' "$(qmp run system_reset)"
sleep 0.5
check_eq "still running after system_reset" running "$(qmp get "r['status']" query-status)"
check_eq "query-commands lists set_link" True "$(qmp get "'set_link' in [c['name'] for c in r]" query-commands)"
# hostile input on the same monitor
printf '{"execute":"qmp_capabilities"}\n{"execute": ]\n{"execute":"query-status"}\n' >"$T/bad1"
python3 "$QMPPY" "$Q" raw "$T/bad1" >"$T/bad1.out"
check "malformed JSON: error, then the next line is answered" bash -c \
    "grep -q 'JSON parse error' '$T/bad1.out' && grep -q '\"status\": \"running\"' '$T/bad1.out'"
{ printf '{"execute": "'; head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' x; } >"$T/bad2"
python3 "$QMPPY" "$Q" raw "$T/bad2" >"$T/bad2.out"
check "10 MB without a newline: error, connection closed" bash -c \
    "grep -q 'JSON input too large' '$T/bad2.out' && tail -1 '$T/bad2.out' | grep -q CLOSED"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/bad3"
python3 "$QMPPY" "$Q" raw "$T/bad3" >"$T/bad3.out"
check "10 MB of random bytes: an error, no crash" grep -q 'JSON parse error' "$T/bad3.out"
rm -f "$T/bad2" "$T/bad3"
# at most 8 clients on one socket (the listener is one)
python3 - "$Q" >"$T/many.out" <<'EOF'
import socket, sys, time
conns = []
for i in range(9):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); conns.append(s)
time.sleep(0.5)
got = 0
for s in conns:
    s.settimeout(1)
    try:
        if s.recv(100).startswith(b'{"QMP"'):
            got += 1
    except OSError:
        pass
print(got)
EOF
check_eq "8 clients per socket: 7 more after the listener get a greeting, the rest is closed" 7 "$(cat "$T/many.out")"
check_eq "still running after hostile input" running "$(qmp get "r['status']" query-status)"
check_eq "quit" '{"return": {}}' "$(qmp run quit)"
stop_wait $pid
check_eq "quit -> exit code 0" 0 "$RC"
wait $lis
check "events STOP, RESUME, RESET (host), SHUTDOWN (host-qmp-quit)" bash -c "
    grep -q '\"event\": \"STOP\"' '$T/events' && grep -q '\"event\": \"RESUME\"' '$T/events' &&
    grep -q '\"event\": \"RESET\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-system-reset\"}' '$T/events' &&
    grep -q '\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}' '$T/events'"
check "the socket file is removed at exit" test ! -e "$Q"
check "-stats: IO exits and the unclaimed port 0x80" bash -c \
    "grep -qE '^  IO +[0-9]+' '$T/err' && grep -qE '^  \(unclaimed pio\) +- +0x80 +0 +[1-9]' '$T/err'"
check "no sanitizer report" bash -c "! grep -qE 'Sanitizer|runtime error' '$T/err'"

# --- system_reset with -no-reboot ends the VM; SIGTERM ---
"$E1KVM" -kernel "$G" -no-reboot -qmp "unix:$Q,server=on,wait=off" </dev/null >"$T/out" 2>"$T/err" &
pid=$!
python3 "$QMPPY" "$Q" listen >"$T/events" 2>&1 &
lis=$!
sleep 0.5
qmp run system_reset >/dev/null
stop_wait $pid
check_eq "system_reset with -no-reboot -> exit code 0" 0 "$RC"
wait $lis
check "SHUTDOWN (host-qmp-system-reset)" grep -q '"reason": "host-qmp-system-reset"' "$T/events"

"$E1KVM" -kernel "$G" -qmp "unix:$Q,server=on,wait=off" </dev/null >"$T/out" 2>"$T/err" &
pid=$!
python3 "$QMPPY" "$Q" listen >"$T/events" 2>&1 &
lis=$!
sleep 0.5
qmp run stop >/dev/null # a stopped VM stops cleanly too
kill -TERM $pid
stop_wait $pid
check_eq "SIGTERM while stopped -> exit code 0" 0 "$RC"
wait $lis
check "SHUTDOWN (host-signal)" grep -q '"event": "SHUTDOWN", "data": {"guest": false, "reason": "host-signal"}' "$T/events"

# --- wait=on, tcp: (in a private netns: its own loopback) ---
NS=e1kmon-$$
netns_new "$NS"
ip netns exec "$NS" "$E1KVM" -kernel "$G" -qmp "tcp:127.0.0.1:4444,server=on,wait=on" \
    </dev/null >"$T/out" 2>"$T/err" &
pid=$!
sleep 1
check "wait=on: waits for a client before running" grep -q 'waiting for a QMP connection on tcp:127.0.0.1:4444' "$T/err"
ip netns exec "$NS" python3 "$QMPPY" tcp:127.0.0.1:4444 run query-status >/dev/null
sleep 0.5
out=$(ip netns exec "$NS" python3 "$QMPPY" tcp:127.0.0.1:4444 get "r['exits'].get('IO', 0)" query-exits)
check_ge "tcp: the monitor answers; the guest runs once a client came (IO exits)" 1 "$out"
ip netns exec "$NS" python3 "$QMPPY" tcp:127.0.0.1:4444 run quit >/dev/null
stop_wait $pid
check_eq "tcp: quit -> exit code 0" 0 "$RC"

# --- the options: help and one-line errors ---
check "-trace help lists the packet path events" bash -c \
    "'$E1KVM' -trace help | grep -q e1000_receive_filter && '$E1KVM' -trace help | grep -q tap_send"
check "-object help lists filter-dump" bash -c "'$E1KVM' -object help | grep -q 'filter-dump'"
check "-netdev help lists user and socket" bash -c \
    "'$E1KVM' -netdev help | grep -q 'name \"user\"' && '$E1KVM' -netdev help | grep -q 'name \"socket\"'"
# the man page documents every option -help lists
man_src=$(sed 's/\\-/-/g' "$ROOT/man/e1kvm.1")
missing=""
for o in $("$E1KVM" -help | grep -oE '^  -[a-z-]+' | sort -u); do
    grep -q -- "$o" <<<"$man_src" || missing+=" $o"
done
check_eq "man/e1kvm.1 lists every option of -help" "" "$missing"
while IFS='|' read -r want args; do
    [ -z "$want" ] && continue
    # shellcheck disable=SC2086
    err=$("$E1KVM" -kernel "$G" ${args//@T/$T} 2>&1 >/dev/null </dev/null)
    rc=$?
    if [ $rc -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == *"$want"* ]]; then
        ok "'$args' -> $err"
    else
        not_ok "'$args': rc=$rc stderr='$err' (wanted '$want')"
    fi
done <<'EOF'
no trace event matches 'nosuch'|-trace nosuch
unknown option 'x=1'|-trace e1000_irq,x=1
-trace: cannot open|-trace e1000_irq,file=/nonexistent/dir/f
expected unix:PATH or tcp:HOST:PORT|-qmp stdio
only server=on is supported|-qmp unix:@T/q2,server=off
unknown option 'bogus'|-qmp unix:@T/q2,bogus
filter-dump: netdev= is required|-object filter-dump,id=d,file=@T/x.pcap
filter-dump: no -netdev with id 'n9'|-object filter-dump,id=d,netdev=n9,file=@T/x.pcap
filter-dump: cannot open|-netdev user,id=u -object filter-dump,id=d,netdev=u,file=/nonexistent/x.pcap
unknown object type 'nope'|-object nope,id=x
socket: give exactly one of listen=HOST:PORT and connect=HOST:PORT|-netdev socket,id=s
socket: cannot connect to 127.0.0.1:1|-netdev socket,id=s,connect=127.0.0.1:1
socket: listen=nonsense: expected HOST:PORT|-netdev socket,id=s,listen=nonsense
user: hostfwd=tcp:x: expected|-netdev user,id=u,hostfwd=tcp:x
user: net=10.0.2.0/99: prefix length|-netdev user,id=u,net=10.0.2.0/99
user: host, dns and dhcpstart must lie inside|-netdev user,id=u,host=10.9.9.9
EOF
rm -rf "$T"
finish
