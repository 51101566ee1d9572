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
/* 64 KiB of IP packet (a GSO frame from a TSO send) + Ethernet/VLAN header
 * + virtio-net header, with room to spare */
#define NET_MAX_PACKET (65536 + 512)

typedef struct NetClient NetClient;
typedef void (*NetSentCb)(NetClient *sender);
typedef struct NetRxFilter NetRxFilter;

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
    /* Optional (backends with a vnet header): which offloaded frames the
     * backend may hand its frontend from now on (NET_OFFLOAD_* bits: frames
     * with a partial checksum, TSO frames), as the frontend's driver
     * accepted them. Returns 0, or -1 if the backend cannot. */
    int (*set_offload)(NetClient *nc, unsigned flags);
    /* Optional zero-copy receive (NICs; net_receive_prepare): where the
     * next frame may be read straight into, as iovecs into guest memory
     * (after whatever the NIC writes itself, as virtio-net's header): their
     * count (<= max), or 0 if the NIC has none to offer now (the backend
     * then reads into its own buffer and sends as usual). A prepare that
     * returned > 0 is followed by exactly one receive_commit. */
    int (*receive_prepare)(NetClient *nc, struct iovec *iov, int max);
    /* The frame is in: len bytes, the first ones in the prepared iovecs,
     * what did not fit in rest; vhdr is the backend's virtio_net_hdr (NULL
     * without). len 0: the read failed, the buffers go back unused. The NIC
     * accepts or drops the frame by its own rules, as receive_iov would. */
    void (*receive_commit)(NetClient *nc, const void *vhdr, size_t len, const struct iovec *rest,
                           int restcnt);
    /* Optional (NICs): the receive filter state, for QMP query-rx-filter. */
    void (*query_rx_filter)(NetClient *nc, NetRxFilter *out);
} NetClientInfo;

/* NetClientInfo.set_offload: what the receiver side can take whole */
#define NET_OFFLOAD_CSUM 0x1 /* partial checksums (VIRTIO_NET_HDR_F_NEEDS_CSUM) */
#define NET_OFFLOAD_TSO4 0x2
#define NET_OFFLOAD_TSO6 0x4
#define NET_OFFLOAD_ECN 0x8

/* What a NIC's receive filter lets in (QMP query-rx-filter). */
struct NetRxFilter {
    bool promiscuous;       /* every unicast frame (e1000: RCTL.UPE) */
    bool multicast_all;     /* every multicast frame (RCTL.MPE) */
    bool broadcast_allowed; /* RCTL.BAM */
    bool vlan_filter;       /* only VLANs in vlan_table (RCTL.VFE) */
    uint8_t main_mac[6];
    int n_unicast; /* further exact unicast addresses */
    uint8_t unicast[16][6];
    int n_multicast; /* exact multicast addresses */
    uint8_t multicast[16][6];
    uint32_t mc_hash[128];    /* multicast hash table bits (e1000 MTA), 4096 */
    uint32_t vlan_table[128]; /* VLAN IDs allowed when vlan_filter, 4096 */
};

/* Observers of the packets a client sends and receives (filter-dump). They
 * see each packet once, as it leaves its sender (after the link check),
 * and cannot change or drop it. */
typedef enum NetFilterDir { NET_FILTER_TX, NET_FILTER_RX } NetFilterDir;
typedef struct NetFilter NetFilter;
struct NetFilter {
    /* @nc: the client the filter is attached to; TX: @nc sent the packet,
     * RX: @nc is about to receive it */
    void (*packet)(NetFilter *f, NetClient *nc, NetFilterDir dir, const struct iovec *iov,
                   int iovcnt, size_t size);
    void *opaque;
    NetFilter *next;
};

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
    /* Bytes of struct virtio_net_hdr in front of every frame on this link,
     * both ways (0: plain Ethernet frames). Set on both ends when the
     * frontend takes the backend's header over (net_using_vnet_hdr);
     * filters skip it. */
    size_t vnet_hdr_len;
    void *opaque; /* the backend or device state */
    /* Statistics. queued_total: packets that waited in this client's
     * queue. dropped_total: packets lost by the net layer or the backend at
     * this client: as a sender with no peer / link down, as a receiver whose
     * queue overflowed or whose backend could not write them. */
    uint64_t queued_total, dropped_total;
    NetFilter *filters;
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
/* The zero-copy receive path from @sender (a backend) to its peer, open
 * only while nothing stands in between: both links up, nothing queued for
 * or being delivered to the peer, no filter on either side (filter-dump
 * sees every packet on the ordinary path), the peer can receive and offers
 * buffers (NetClientInfo.receive_prepare). Returns the iovecs' count, 0 if
 * the path is closed; after > 0 the sender reads the frame and calls
 * net_receive_commit (with len 0 if nothing came). */
int net_receive_prepare(NetClient *sender, struct iovec *iov, int max);
void net_receive_commit(NetClient *sender, const void *vhdr, size_t len, const struct iovec *rest,
                        int restcnt);
/* Set link up/down on a client and its peer (both get link_status_changed).
 * Going down drops what is queued on both sides (their senders get sent_cb,
 * so a waiting backend resumes and its further packets are dropped). */
void net_set_link(NetClient *nc, bool up);
/* The optional vnet header capability of @nc (false / no-op if none). */
bool net_has_vnet_hdr(NetClient *nc);
void net_using_vnet_hdr(NetClient *nc, bool enable);
/* The backend of @nc can be told which offloaded frames to hand over
 * (vnet header on and a set_offload); set them: 0, or -1 if it cannot. */
bool net_has_offload(NetClient *nc);
int net_set_offload(NetClient *nc, unsigned flags);
/* For backends' using_vnet_hdr: frames on @nc's link now carry @len bytes of
 * virtio_net_hdr first (0: none), both ways; sets both ends. */
void net_link_set_vnet_hdr_len(NetClient *nc, size_t len);

/* Attach / detach a packet observer (see NetFilter). */
void net_filter_attach(NetClient *nc, NetFilter *f);
void net_filter_detach(NetClient *nc, NetFilter *f);
/* Find any client (backend or NIC) by id. */
NetClient *net_client_find(const char *id);
/* A NIC's receive filter changed (the guest wrote RCTL, RAL/RAH, MTA): the
 * notifier (QMP NIC_RX_FILTER_CHANGED) is told. */
void net_rx_filter_changed(NetClient *nc);
void net_set_rx_filter_notifier(void (*fn)(NetClient *nc));

#endif
