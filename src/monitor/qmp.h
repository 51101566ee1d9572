/* The QMP monitor: QEMU's JSON protocol on a Unix or TCP socket.
 *
 *   -qmp unix:/tmp/e1kvm.qmp,server=on,wait=off
 *
 *   <- {"QMP": {"version": {...}, "capabilities": []}}
 *   -> {"execute": "qmp_capabilities"}
 *   <- {"return": {}}
 *   -> {"execute": "set_link", "arguments": {"name": "net0", "up": false}, "id": 1}
 *   <- {"return": {}, "id": 1}
 *   <- {"event": "STOP", "data": {}, "timestamp": {"seconds": ..., "microseconds": ...}}
 *
 * Commands: qmp_capabilities, query-version, query-status, query-name,
 * query-commands, stop, cont, system_reset, quit, set_link, query-exits,
 * query-rx-filter, trace-event-get-state, trace-event-set-state.
 * Events: STOP, RESUME, RESET, SHUTDOWN, NIC_RX_FILTER_CHANGED.
 *
 * Everything runs on the main loop (fd handlers, device lock held). Input is
 * parsed incrementally (json-c) and bounded: a command may be at most
 * QMP_MAX_INPUT bytes; beyond that the client gets an error and is
 * disconnected. After a parse error the rest of the line is discarded. */
#ifndef E1KVM_MONITOR_QMP_H
#define E1KVM_MONITOR_QMP_H

#include "core/vm.h"
#include "util/error.h"

#define QMP_MAX_INPUT (1u << 20)  /* bytes of one command */
#define QMP_MAX_OUTPUT (4u << 20) /* unread replies + events per client */
#define QMP_MAX_CLIENTS 8         /* per -qmp socket */

/* Listen on @spec ("unix:PATH[,server=on][,wait=off]" or
 * "tcp:HOST:PORT[,server=on][,wait=off]"). wait=on blocks until a client
 * connects. */
int qmp_open(const char *spec, Vm *vm, Error *err);
/* The VM has stopped for good: send SHUTDOWN, flush (briefly blocking),
 * close the connections and remove Unix socket files. */
void qmp_vm_exited(Vm *vm);

#endif
