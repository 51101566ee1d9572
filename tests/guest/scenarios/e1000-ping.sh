#!/bin/sh
# e1000-ping: eth0 up, then 200 pings guest -> host at a 50 ms interval
# (several in flight: the RTT here is ~20 ms plus emulation jitter).
#   E1KVM-RESULT ping_link up|down
#   E1KVM-RESULT ping200_received N     all 200 are required
. /scenarios/e1000-common.sh
link=down
e1k_up && link=up
result ping_link $link
ping_n n -c 200 -i 0.05 -W 10 -w 120 "$PEER"
result ping200_received "$n"
[ $link = up ] && [ "$n" = 200 ]
