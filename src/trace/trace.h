/* Trace points: one line per step of the packet path (docs/PATH.md).
 *
 *   TRACE(e1000_set_ics, "cause=%s icr=%#x", ...);
 *
 * Every event is a row of TRACE_EVENTS below and has an enabled flag in
 * trace_enabled[]. A disabled trace point costs one load and one branch the
 * compiler lays out as not taken (__builtin_expect): the arguments are not
 * evaluated and nothing is formatted. An enabled one formats a line
 *
 *   <seconds.nanoseconds since start> <thread> <event> <text>
 *
 * and writes it with one write(2) to stderr or to -trace file=PATH, so lines
 * from several threads never interleave.
 *
 * Command line (as QEMU's): -trace [enable=]PATTERN[,events=FILE][,file=PATH]
 * where PATTERN is a glob over event names ("e1000_*", "*"); a leading '-'
 * disables. -trace help lists the events. QMP trace-event-get-state /
 * trace-event-set-state change them at run time. */
#ifndef E1KVM_TRACE_TRACE_H
#define E1KVM_TRACE_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* name, description. Order: the packet path, guest -> host then host -> guest. */
#define TRACE_EVENTS(X)                                                                            \
    X(vcpu_exit, "a vCPU left KVM_RUN for user space: reason; for IO/MMIO address, size, data")    \
    X(vcpu_pause, "a vCPU stopped for a monitor 'stop', or resumed on 'cont'")                     \
    X(e1000_mmio_read, "e1000 register read (BAR0 or the I/O window): register name, value")       \
    X(e1000_mmio_write, "e1000 register write: register name, value")                              \
    X(e1000_start_xmit, "e1000 TX ring walk starts (TDT/TCTL write): TDH, TDT, ring size")         \
    X(e1000_process_tx_desc, "e1000 one TX descriptor: index, kind (context/data/legacy), fields") \
    X(e1000_xmit_seg, "e1000 a frame or TSO segment is complete: length, checksums inserted")      \
    X(e1000_send_packet, "e1000 frame handed to the net layer (or lost: no carrier)")              \
    X(virtio_notify, "virtio a queue notified by the driver (doorbell or exit)")                   \
    X(virtio_net_tx, "virtio-net a transmit chain: frame length, offloads, outcome")               \
    X(net_send, "net layer: sender -> peer, length, outcome (delivered, queued, dropped: why)")    \
    X(net_deliver, "net layer: a packet handed to a receiver, directly or from its queue")         \
    X(net_set_link, "net layer: link of a client and its peer set up or down")                     \
    X(tap_receive_iov, "tap: frame written to the TAP fd (guest -> host), or EAGAIN")              \
    X(tap_send, "tap: frame read from the TAP fd (host -> guest)")                                 \
    X(socket_send, "socket netdev: frame read from the stream (remote -> guest)")                  \
    X(socket_receive_iov, "socket netdev: frame written to the stream (guest -> remote)")          \
    X(socket_connection, "socket netdev: connection accepted, established or lost")                \
    X(slirp_send_packet, "user netdev: libslirp hands a frame to the guest")                       \
    X(slirp_input, "user netdev: frame from the guest given to libslirp")                          \
    X(filter_dump, "filter-dump: a packet written to the pcap file")                               \
    X(e1000_receive_iov, "e1000 a frame offered by the net layer: length, outcome")                \
    X(e1000_receive_filter, "e1000 RX address/VLAN filter: accept or reject, and why")             \
    X(e1000_dma_write, "e1000 writes guest memory: RX buffer/descriptor, TX write-back; address")  \
    X(e1000_set_ics, "e1000 interrupt causes set: cause names, ICR, IMS")                          \
    X(e1000_irq, "e1000 INTx raised or lowered, or held back by ITR moderation")                   \
    X(e1000_link, "e1000 link status as the MAC reports it (STATUS.LU, LSC)")                      \
    X(virtio_net_rx, "virtio-net a frame offered: filtered, waits for buffers, or placed")         \
    X(virtio_irq, "virtio interrupt sent: queue or configuration change, MSI-X or INTx")           \
    X(virtio_status, "virtio device status, feature negotiation, queue enable, reset")             \
    X(virtio_net_ctrl, "virtio-net control queue command and its answer")                          \
    X(qmp_command, "QMP monitor: command received and its answer")                                 \
    X(qmp_event, "QMP monitor: asynchronous event sent")

#define TRACE_ENUM_(name, desc) TRACE_##name,
typedef enum TraceEvent { TRACE_EVENTS(TRACE_ENUM_) TRACE_N } TraceEvent;
#undef TRACE_ENUM_

extern bool trace_enabled[TRACE_N];

/* Is event @ev on? For a trace point whose arguments need a test first:
 *   if (TRACE_ON(e1000_irq) && level_changed) trace_emit(TRACE_e1000_irq, ...); */
#define TRACE_ON(ev) __builtin_expect(trace_enabled[TRACE_##ev], 0)

#define TRACE(ev, ...)                                                                             \
    do {                                                                                           \
        if (TRACE_ON(ev))                                                                          \
            trace_emit(TRACE_##ev, __VA_ARGS__);                                                   \
    } while (0)

/* Format and write one line (called only when the event is on). */
void trace_emit(TraceEvent ev, const char *fmt, ...) __attribute__((format(printf, 2, 3), cold));

const char *trace_event_name(TraceEvent ev);
const char *trace_event_desc(TraceEvent ev);
/* Switch every event whose name matches the glob @pattern; returns how many
 * matched. */
int trace_set_pattern(const char *pattern, bool on);
/* One -trace argument (see above). Returns 0, 1 if "help" was printed, or -1
 * with err set. */
int trace_parse_opt(const char *arg, Error *err);
/* Send trace lines to @path (truncated) instead of stderr; NULL: stderr. */
int trace_set_file(const char *path, Error *err);
/* Print the list of events (for -trace help). */
void trace_print_events(void);
/* Any event on? */
bool trace_any_enabled(void);

#endif
