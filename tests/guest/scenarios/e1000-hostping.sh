#!/bin/sh
# e1000-hostping: the host pings us (200 at a 50 ms interval) while we wait;
# the host test checks its own ping's result and answers ok or fail.
#   E1KVM-RESULT hostping_answer ok|fail   (as the host reported it)
. /scenarios/e1000-common.sh
e1k_up || log "no carrier on $IFC"
host_step host_ping || exit 1
result hostping_answer "$HOST_ANSWER"
[ "$HOST_ANSWER" = ok ]
