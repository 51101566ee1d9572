/* The net layer: backends (tap, later user/socket) and NIC frontends are
 * peers. Neither knows what the other is.
 *
 * Sending: net_send_iov(sender, ...) delivers to sender->peer. If the peer
 * cannot take the packet now (its can_receive says no, or its receive_iov
 * returns 0), the packet waits in the peer's bounded incoming queue and
 * net_send_iov returns 0: the sender must stop producing (a backend stops
 * reading its fd) until its sent_cb runs. The receiver calls
 * net_flush_queued(receiver) when it can take packets again (e1000: the guest
 * wrote RDT or enabled RX); queued packets are delivered in order and each
 * sender whose packets left the queue gets its sent_cb.
 *
 * Drops happen only where the receiver says so: receive_iov returns the
 * length (consumed, whether accepted or filtered out) or 0 (not now). */
#ifndef E1KVM_NET_NET_H
#define E1KVM_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "util/error.h"

#define NET_QUEUE_MAX_PACKETS 256
#define NET_MAX_PACKET 65562 /* 64 KiB + vlan + virtio-net header room */

typedef struct NetClient NetClient;
typedef void (*NetSentCb)(NetClient *sender);

typedef enum NetClientKind { NET_CLIENT_BACKEND, NET_CLIENT_NIC } NetClientKind;

typedef struct NetClientInfo {
    const char *type; /* "tap", "e1000", ... */
    NetClientKind kind;
    /* May the client take a packet now? NULL means always. */
    bool (*can_receive)(NetClient *nc);
    /* Take one packet: return total length if consumed (delivered or dropped
     * by the receiver's own rules), 0 if it cannot be taken now (queue it). */
    ssize_t (*receive_iov)(NetClient *nc, const struct iovec *iov, int iovcnt);
    /* Link state of the peer pair changed (set_link). */
    void (*link_status_changed)(NetClient *nc);
    void (*cleanup)(NetClient *nc);
    /* Optional virtio-net header capability (backends; NULL means no). A
     * backend that has one (tap with vnet_hdr) carries a struct
     * virtio_net_hdr before each frame on its side. Until a frontend calls
     * using_vnet_hdr(true) the backend hides it: frontends send and receive
     * plain Ethernet frames. A frontend that does GSO / checksum offload
     * hand-off asks has_vnet_hdr() and then switches it on. */
    bool (*has_vnet_hdr)(NetClient *nc);
    void (*using_vnet_hdr)(NetClient *nc, bool enable);
} NetClientInfo;

typedef struct NetPacket NetPacket;

typedef struct NetQueue {
    NetPacket *head, *tail;
    unsigned count;
    unsigned max;
    bool delivering;
} NetQueue;

struct NetClient {
    const NetClientInfo *info;
    char *id; /* -netdev id= or -device id= */
    NetClient *peer;
    NetQueue queue; /* packets waiting to be received by this client */
    bool link_down;
    void *opaque; /* the backend or device state */
    /* Statistics. queued_total: packets that waited in this client's
     * queue. dropped_total: packets lost by the net layer or the backend at
     * this client: as a sender with no peer / link down, as a receiver whose
     * queue overflowed or whose backend could not write them. */
    uint64_t queued_total, dropped_total;
};

/* Create a client; peer may be NULL (and set by net_client_set_peer). */
NetClient *net_client_new(const NetClientInfo *info, const char *id, void *opaque);
void net_client_set_peer(NetClient *a, NetClient *b);
void net_client_free(NetClient *nc);

/* Find a backend by its -netdev id (NULL if none). */
NetClient *net_backend_find(const char *id);
/* Register a backend so that -device netdev=ID can find it. */
void net_backend_register(NetClient *nc);
/* Iterate over all clients (backends and NICs): returns NULL at the end. */
NetClient *net_client_next(NetClient *prev);

/* Send a packet from @sender to its peer. Returns the length if delivered
 * (or consumed), 0 if queued (sender must wait for sent_cb), -1 if dropped
 * because the queue is full, there is no peer, the link is down or the
 * packet is larger than NET_MAX_PACKET. */
ssize_t net_send_iov(NetClient *sender, const struct iovec *iov, int iovcnt, NetSentCb sent_cb);
ssize_t net_send(NetClient *sender, const void *buf, size_t len, NetSentCb sent_cb);
/* Receiver can take packets again: deliver what is queued for it. Returns
 * true if the queue is now empty. */
bool net_flush_queued(NetClient *receiver);
/* Set link up/down on a client and its peer (both get link_status_changed).
 * Going down drops what is queued on both sides (their senders get sent_cb,
 * so a waiting backend resumes and its further packets are dropped). */
void net_set_link(NetClient *nc, bool up);
/* The optional vnet header capability of @nc (false / no-op if none). */
bool net_has_vnet_hdr(NetClient *nc);
void net_using_vnet_hdr(NetClient *nc, bool enable);

#endif
