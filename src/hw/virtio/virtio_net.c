/* virtio-net-pci: the paravirtual NIC (Virtual I/O Device (VIRTIO) Version
 * 1.2, section 5.1) on the modern PCI transport (virtio_pci.c), a peer of
 * the same net layer and backends as the e1000.
 *
 * Queues: 0 receiveq, 1 transmitq, 2 controlq (one queue pair: mq=off).
 * Every frame on a queue starts with struct virtio_net_hdr_mrg_rxbuf (12
 * bytes: VIRTIO_F_VERSION_1 always has num_buffers). With a backend that
 * carries virtio-net headers (tap with vnet_hdr) the header's first 10 bytes
 * pass between the guest and the backend as they are: TSO sends leave as
 * GSO frames, partial checksums stay partial, nothing is segmented or
 * checksummed here; the backend is told which offloaded frames the driver
 * takes (GUEST_CSUM, GUEST_TSO4/6, NET_OFFLOAD_*). Without one the device
 * offers no offloads and frames are plain.
 *
 * The packet path, as for the e1000 (docs/PATH.md):
 *   transmit: notify (doorbell or exit) -> virtio_net_flush_tx -> pop chain
 *             -> net_send_iov (a frame up to a page joined with its header
 *             in one buffer, a larger one as iovecs into guest RAM) -> push
 *             -> interrupt unless suppressed (event index)
 *   receive:  backend -> virtio_net_receive_iov -> virtio_net_receive_filter
 *             -> pop one buffer (or several: MRG_RXBUF) -> copy -> push ->
 *             interrupt. No buffer: the frame waits in the net layer's
 *             queue and the backend stops reading until the driver adds
 *             buffers (its notify flushes the queue): backpressure, no loss.
 *
 * The guest controls the rings: virtqueue.c checks every chain; a
 * malformed chain, header or control request puts the device into
 * DEVICE_NEEDS_RESET (virtio_set_needs_reset) and it stops, the VMM goes
 * on. Each run of the transmit queue handles at most VIRTIO_NET_TX_BURST
 * chains and continues from the main loop, so no ring holds a vCPU long.
 * Callers hold the device lock. */
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "hw/msix.h"
#include "hw/virtio/virtio_pci.h"
#include "net/eth.h"
#include "net/net.h"
#include "qom/object.h"
#include "trace/trace.h"
#include "util/error.h"

#define VNET_RXQ 0
#define VNET_TXQ 1
#define VNET_CTRLQ 2
#define VNET_HDR_LEN ((size_t)sizeof(struct virtio_net_hdr_mrg_rxbuf)) /* 12 */
#define VNET_HOST_HDR_LEN sizeof(struct virtio_net_hdr)                /* 10 */
#define VIRTIO_NET_TX_BURST 256
#define VNET_TX_COPY_MAX 4096
/* the most buffers one received frame may take with MRG_RXBUF: a 64 KiB
 * GSO frame in buffers of 1.5 KiB */
#define VNET_RX_MAX_BUFS 48
#define VNET_RX_MAX_SRC 64 /* pieces of a received frame as the backend hands it */
#define VNET_MAC_TABLE 64
#define VNET_MAX_VLAN 4096
#define VNET_CTRL_MAX (2 * sizeof(uint32_t) + 2 * VNET_MAC_TABLE * ETH_ALEN + 16)
#define VNET_CONFIG_LEN 12 /* mac, status, max_virtqueue_pairs, mtu */

typedef struct VirtioNetState {
    VirtioDevice vdev; /* first: starts with the Object */

    /* properties */
    char *netdev_id;
    MacProp conf_mac;
    bool doorbells;
    bool csum, guest_csum, gso, guest_tso, mrg_rxbuf, event_idx, indirect_desc, ctrl_vq;
    bool mq, disable_legacy;
    uint32_t rx_queue_size, tx_queue_size;

    NetClient *nic;
    uint8_t mac[ETH_ALEN];
    bool vnet_hdr; /* the backend carries virtio_net_hdr (10 bytes) */
    bool mergeable;

    /* receive filter (5.1.6.5.1) */
    bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
    unsigned n_uni, n_multi;
    bool uni_overflow, multi_overflow;
    uint8_t macs[VNET_MAC_TABLE][ETH_ALEN]; /* unicast first, then multicast */
    uint32_t vlans[VNET_MAX_VLAN / 32];

    /* transmit */
    BottomHalf *tx_bh;
    bool tx_waiting; /* the backend queued a frame: wait for its sent_cb */
    VirtQueueElement *tx_elem;
    struct iovec tx_iov[VIRTQUEUE_MAX_SG + 1];
    uint8_t tx_buf[VNET_HOST_HDR_LEN + VNET_TX_COPY_MAX];
    /* receive */
    VirtQueueElement *rx_elem[VNET_RX_MAX_BUFS];
    VirtQueueElement *ctrl_elem;
    bool rx_zerocopy;                        /* property: offer receive_prepare */
    struct iovec rx_direct[VNET_RX_MAX_SRC]; /* what prepare offered */
    int rx_direct_cnt;

    /* statistics */
    uint64_t tx_packets, tx_dropped, rx_packets, rx_dropped, rx_filtered;
} VirtioNetState;

static inline VirtioNetState *to_vnet(VirtioDevice *vd)
{
    return (VirtioNetState *)vd;
}

/* ------------------------------------------------------------------------ */
/* Transmit                                                                 */

static void virtio_net_flush_tx(VirtioNetState *n);

/* The backend took the frame it had queued: go on with the ring. */
static void virtio_net_tx_complete(NetClient *nc)
{
    VirtioNetState *n = nc->opaque;
    n->tx_waiting = false;
    virtio_net_flush_tx(n);
}

static void virtio_net_tx_bh(void *opaque)
{
    virtio_net_flush_tx(opaque);
}

/* One chain: the header, then the frame, all device-readable (5.1.6.2). */
static bool virtio_net_xmit_one(VirtioNetState *n, VirtQueueElement *e, ssize_t *sent)
{
    VirtioDevice *vd = &n->vdev;
    struct virtio_net_hdr_mrg_rxbuf hdr;
    *sent = -1;
    if (e->in_num || e->out_len < VNET_HDR_LEN) {
        virtio_set_needs_reset(vd, e->in_num ? "transmitq: a device-writable buffer"
                                             : "transmitq: a chain shorter than the header");
        return false;
    }
    iov_to_buf_at(e->sg, (int)e->out_num, 0, &hdr, VNET_HDR_LEN);
    size_t frame_len = e->out_len - VNET_HDR_LEN;
    bool offload =
        hdr.hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM || hdr.hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE;
    /* offloads the driver did not negotiate, or that the backend cannot
     * carry: a frame nobody can finish. Dropped and counted. */
    if (offload && (!n->vnet_hdr || !virtio_has_feature(vd, VIRTIO_NET_F_CSUM))) {
        n->tx_dropped++;
        TRACE(virtio_net_tx,
              "%s: frame of %zu bytes dropped: offload flags %#x gso %#x not "
              "negotiated",
              vd->name, frame_len, hdr.hdr.flags, hdr.hdr.gso_type);
        return true;
    }
    if (frame_len < ETH_HLEN || frame_len > NET_MAX_PACKET - VNET_HOST_HDR_LEN) {
        n->tx_dropped++;
        TRACE(virtio_net_tx, "%s: frame of %zu bytes dropped: bad length", vd->name, frame_len);
        return true;
    }
    int cnt = 0;
    size_t host_hdr = n->vnet_hdr ? VNET_HOST_HDR_LEN : 0;
    if (frame_len <= VNET_TX_COPY_MAX) {
        /* a frame up to a page joins its header in one buffer: one
         * write(2) at the TAP instead of a writev of pieces, which costs
         * more than copying the frame (the e1000 does the same) */
        memcpy(n->tx_buf, &hdr.hdr, host_hdr);
        iov_to_buf_at(e->sg, (int)e->out_num, VNET_HDR_LEN, n->tx_buf + host_hdr, frame_len);
        n->tx_iov[cnt++] = (struct iovec){.iov_base = n->tx_buf, .iov_len = host_hdr + frame_len};
    } else {
        /* larger (a TSO send): zero copy, iovecs into guest RAM */
        if (host_hdr) {
            n->tx_iov[cnt++] = (struct iovec){.iov_base = &hdr.hdr, .iov_len = host_hdr};
        }
        int k = iov_slice(e->sg, (int)e->out_num, VNET_HDR_LEN, frame_len, n->tx_iov + cnt,
                          VIRTQUEUE_MAX_SG);
        if (k < 0) {
            n->tx_dropped++;
            return true;
        }
        cnt += k;
    }
    *sent = net_send_iov(n->nic, n->tx_iov, cnt, virtio_net_tx_complete);
    TRACE(virtio_net_tx, "%s: chain %u: frame of %zu bytes%s -> %s", vd->name, e->index, frame_len,
          offload ? " (offloaded)" : "",
          *sent > 0    ? "sent"
          : *sent == 0 ? "queued"
                       : "dropped");
    if (*sent < 0) {
        n->tx_dropped++;
    } else {
        n->tx_packets++;
    }
    return true;
}

/* transmitq: every available chain, at most VIRTIO_NET_TX_BURST per run.
 * Notifies stay off while the device works through the ring (the driver
 * need not kick what the device will find anyway), and on again once the
 * ring is empty. */
static void virtio_net_flush_tx(VirtioNetState *n)
{
    VirtioDevice *vd = &n->vdev;
    VirtQueue *vq = &vd->vq[VNET_TXQ];
    unsigned done = 0;

    if (!virtio_driver_ok(vd) || !vq->enabled || n->tx_waiting) {
        return;
    }
    virtqueue_set_notification(vq, false);
    for (;;) {
        if (done == VIRTIO_NET_TX_BURST) {
            bh_schedule(n->tx_bh); /* the rest from the main loop */
            break;
        }
        int r = virtqueue_pop(vq, n->tx_elem);
        if (r < 0) {
            virtio_set_needs_reset(vd, vq->broken_why);
            return;
        }
        if (r == 0) {
            virtqueue_set_notification(vq, true);
            if (virtqueue_empty(vq)) {
                break;
            }
            virtqueue_set_notification(vq, false);
            continue;
        }
        ssize_t sent;
        if (!virtio_net_xmit_one(n, n->tx_elem, &sent)) {
            return;
        }
        /* the net layer copied a queued frame: the buffers go back now */
        virtqueue_push(vq, n->tx_elem, 0);
        done++;
        if (sent == 0) {
            n->tx_waiting = true; /* virtio_net_tx_complete goes on */
            break;
        }
    }
    if (done) {
        virtio_notify(vd, VNET_TXQ);
    }
}

/* ------------------------------------------------------------------------ */
/* Receive                                                                  */

static bool mac_in(const uint8_t (*table)[ETH_ALEN], unsigned from, unsigned to, const uint8_t *a)
{
    for (unsigned i = from; i < to; i++) {
        if (!memcmp(table[i], a, ETH_ALEN)) {
            return true;
        }
    }
    return false;
}

/* 5.1.6.5.1 and 5.1.6.5.2: the receive mode and the MAC and VLAN tables. */
static bool virtio_net_receive_filter(VirtioNetState *n, const uint8_t *f, size_t len)
{
    const uint8_t *dst = f;
    if (n->promisc) {
        return true;
    }
    if (len >= ETH_HLEN + 4 && ld16be(f + 12) == ETH_P_VLAN) {
        uint16_t vid = ld16be(f + 14) & 0xfff;
        if (!(n->vlans[vid >> 5] & (1u << (vid & 31)))) {
            TRACE(virtio_net_rx, "%s: filtered: VLAN %u not in the table", n->vdev.name, vid);
            return false;
        }
    }
    if (!memcmp(dst, eth_bcast, ETH_ALEN)) {
        return !n->nobcast;
    }
    if (dst[0] & 1) {
        if (n->nomulti) {
            return false;
        }
        if (n->allmulti || n->multi_overflow) {
            return true;
        }
        return mac_in(n->macs, n->n_uni, n->n_uni + n->n_multi, dst);
    }
    if (n->nouni) {
        return false;
    }
    if (n->alluni || n->uni_overflow || !memcmp(dst, n->mac, ETH_ALEN)) {
        return true;
    }
    return mac_in(n->macs, 0, n->n_uni, dst);
}

static bool virtio_net_can_receive(NetClient *nc)
{
    VirtioNetState *n = nc->opaque;
    VirtioDevice *vd = &n->vdev;
    return virtio_driver_ok(vd) && vd->vq[VNET_RXQ].enabled && !vd->vq[VNET_RXQ].broken;
}

/* No buffer for the frame now: ask for a notify when the driver adds one,
 * and look once more (it may have added one before it saw the request). */
static bool virtio_net_rx_wait(VirtQueue *vq)
{
    virtqueue_set_notification(vq, true);
    if (!virtqueue_empty(vq)) {
        virtqueue_set_notification(vq, false);
        return false; /* try again */
    }
    return true;
}

/* The checks every received frame passes, on its first bytes (head) and
 * the backend's header: false if it goes no further (filtered or dropped,
 * counted). Clears what the driver did not negotiate from hdr. */
static bool virtio_net_rx_accept(VirtioNetState *n, struct virtio_net_hdr_mrg_rxbuf *hdr,
                                 const uint8_t *head, size_t hl, size_t frame_len)
{
    VirtioDevice *vd = &n->vdev;
    if (frame_len < ETH_HLEN) {
        n->rx_dropped++;
        return false;
    }
    if (!virtio_net_receive_filter(n, head, hl)) {
        n->rx_filtered++;
        return false;
    }
    /* what the driver did not negotiate does not reach it (the backend was
     * told, virtio_net_set_features; this is the belt to those braces) */
    if (!virtio_has_feature(vd, VIRTIO_NET_F_GUEST_CSUM)) {
        if (hdr->hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM || hdr->hdr.gso_type) {
            n->rx_dropped++;
            return false;
        }
        hdr->hdr.flags = 0;
    }
    return true;
}

/* Put header + frame (frame_len bytes in src) into receive buffers and
 * hand them to the driver. rx_elem[0 .. have) are popped already (have is
 * 0, or 1 when the frame's first bytes were read straight into rx_elem[0]
 * after the header: in_place bytes of it). Returns 1 (placed), 0 (short of
 * buffers: every popped one given back; the caller waits), -1 (dropped,
 * counted, or the queue broke). */
static int virtio_net_rx_place(VirtioNetState *n, struct virtio_net_hdr_mrg_rxbuf *hdr,
                               const struct iovec *src, int srccnt, size_t frame_len, unsigned have,
                               size_t in_place)
{
    VirtioDevice *vd = &n->vdev;
    VirtQueue *vq = &vd->vq[VNET_RXQ];
    size_t need = VNET_HDR_LEN + frame_len;
    size_t off = 0; /* bytes of header + frame placed */
    unsigned nbufs = 0;
    while (off < need) {
        if (nbufs == VNET_RX_MAX_BUFS) {
            /* the driver's buffers are tiny: this frame cannot fit */
            virtqueue_unpop(vq, nbufs);
            n->rx_dropped++;
            return -1;
        }
        VirtQueueElement *e = n->rx_elem[nbufs];
        if (nbufs >= have) {
            int r = virtqueue_pop(vq, e);
            if (r < 0) {
                virtio_set_needs_reset(vd, vq->broken_why);
                return -1;
            }
            if (r == 0) {
                virtqueue_unpop(vq, nbufs);
                return 0;
            }
        }
        if (e->out_num || !e->in_len) {
            virtqueue_unpop(vq, nbufs + 1);
            virtio_set_needs_reset(vd, "receiveq: a buffer that is not device-writable");
            return -1;
        }
        if (!n->mergeable && e->in_len < need) {
            /* 5.1.6.3.1: without MRG_RXBUF one buffer holds the whole
             * frame; a driver that gave less loses this frame only */
            virtqueue_unpop(vq, 1);
            n->rx_dropped++;
            TRACE(virtio_net_rx, "%s: frame of %zu bytes dropped: buffer of %zu", vd->name,
                  frame_len, e->in_len);
            return -1;
        }
        struct iovec *in = virtqueue_elem_in(e);
        size_t put = 0;
        if (nbufs == 0) {
            /* the header first; num_buffers is set once known */
            if (e->in_len < VNET_HDR_LEN) {
                virtqueue_unpop(vq, 1);
                virtio_set_needs_reset(vd, "receiveq: a buffer shorter than the header");
                return -1;
            }
            iov_from_buf_at(in, (int)e->in_num, 0, hdr, VNET_HDR_LEN);
            put = VNET_HDR_LEN;
        }
        /* the frame's bytes from (off + put - header) on, as many as fit;
         * those read in place already are skipped */
        size_t want = need - off - put;
        size_t room = e->in_len - put;
        size_t chunk = want < room ? want : room;
        size_t from = off + put - VNET_HDR_LEN;
        size_t skip = nbufs == 0 ? (in_place < chunk ? in_place : chunk) : 0;
        iov_copy(in, (int)e->in_num, put + skip, src, srccnt, from + skip, chunk - skip);
        off += put + chunk;
        nbufs++;
    }
    /* num_buffers: how many buffers this frame took (5.1.6.4) */
    uint16_t nb = (uint16_t)nbufs;
    iov_from_buf_at(virtqueue_elem_in(n->rx_elem[0]), (int)n->rx_elem[0]->in_num,
                    offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers), &nb, sizeof(nb));
    size_t left = need;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t l = n->rx_elem[i]->in_len < left ? n->rx_elem[i]->in_len : left;
        virtqueue_fill(vq, n->rx_elem[i], (uint32_t)l, i);
        left -= l;
    }
    virtqueue_flush(vq, nbufs);
    n->rx_packets++;
    TRACE(virtio_net_rx, "%s: frame of %zu bytes into %u buffer%s%s", vd->name, frame_len, nbufs,
          nbufs == 1 ? "" : "s", have ? " (read in place)" : "");
    virtio_notify(vd, VNET_RXQ);
    return 1;
}

static ssize_t virtio_net_receive_iov(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    VirtioNetState *n = nc->opaque;
    VirtioDevice *vd = &n->vdev;
    VirtQueue *vq = &vd->vq[VNET_RXQ];
    size_t size = iov_size(iov, iovcnt);
    size_t host_hdr = n->vnet_hdr ? VNET_HOST_HDR_LEN : 0;
    struct virtio_net_hdr_mrg_rxbuf hdr;
    uint8_t head[ETH_HLEN + 4];

    if (!virtio_net_can_receive(nc)) {
        return 0;
    }
    if (size < host_hdr) {
        n->rx_dropped++;
        return (ssize_t)size;
    }
    memset(&hdr, 0, sizeof(hdr));
    iov_to_buf_at(iov, iovcnt, 0, &hdr.hdr, host_hdr);
    size_t frame_len = size - host_hdr;
    size_t hl = iov_to_buf_at(iov, iovcnt, host_hdr, head, sizeof(head));
    if (!virtio_net_rx_accept(n, &hdr, head, hl, frame_len)) {
        return (ssize_t)size;
    }
    /* the frame without the backend's header */
    struct iovec frame[VNET_RX_MAX_SRC];
    int fc = iov_slice(iov, iovcnt, host_hdr, frame_len, frame, VNET_RX_MAX_SRC);
    if (fc < 0) {
        n->rx_dropped++;
        return (ssize_t)size;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int r = virtio_net_rx_place(n, &hdr, frame, fc, frame_len, 0, 0);
        if (r != 0) {
            return (ssize_t)size;
        }
        if (virtio_net_rx_wait(vq)) {
            TRACE(virtio_net_rx, "%s: frame of %zu bytes waits: no receive buffer", vd->name,
                  frame_len);
            return 0; /* queued by the net layer; the driver's notify flushes */
        }
    }
    return 0;
}

/* Zero copy from the backend (net_receive_prepare): the next receive
 * buffer, after room for the header, for the backend to read the frame
 * into. Offered only while the ring has buffers enough for any frame (with
 * MRG_RXBUF the most one frame may take), so that commit never has to make
 * a frame that is already read wait. */
static int virtio_net_receive_prepare(NetClient *nc, struct iovec *iov, int max)
{
    VirtioNetState *n = nc->opaque;
    VirtioDevice *vd = &n->vdev;
    VirtQueue *vq = &vd->vq[VNET_RXQ];
    if (!n->rx_zerocopy || !virtio_net_can_receive(nc) ||
        virtqueue_avail_count(vq) < (n->mergeable ? VNET_RX_MAX_BUFS : 1)) {
        return 0;
    }
    VirtQueueElement *e = n->rx_elem[0];
    int r = virtqueue_pop(vq, e);
    if (r <= 0) {
        if (r < 0) {
            virtio_set_needs_reset(vd, vq->broken_why);
        }
        return 0;
    }
    int k = -1;
    if (!e->out_num && e->in_len > VNET_HDR_LEN) {
        k = iov_slice(virtqueue_elem_in(e), (int)e->in_num, VNET_HDR_LEN, e->in_len - VNET_HDR_LEN,
                      iov, max < VNET_RX_MAX_SRC ? max : VNET_RX_MAX_SRC);
    }
    if (k <= 0) {
        /* an odd buffer: the ordinary path meets it again and decides */
        virtqueue_unpop(vq, 1);
        return 0;
    }
    memcpy(n->rx_direct, iov, (size_t)k * sizeof(*iov));
    n->rx_direct_cnt = k;
    return k;
}

static void virtio_net_receive_commit(NetClient *nc, const void *vhdr, size_t len,
                                      const struct iovec *rest, int restcnt)
{
    VirtioNetState *n = nc->opaque;
    VirtQueue *vq = &n->vdev.vq[VNET_RXQ];
    struct virtio_net_hdr_mrg_rxbuf hdr;
    uint8_t head[ETH_HLEN + 4];

    if (len == 0) {
        virtqueue_unpop(vq, 1); /* nothing came */
        return;
    }
    /* the frame: its first bytes in place, the rest in the backend's buffer */
    struct iovec src[VNET_RX_MAX_SRC + 1];
    size_t room = iov_size(n->rx_direct, n->rx_direct_cnt);
    size_t in_place = len < room ? len : room;
    int sc = iov_slice(n->rx_direct, n->rx_direct_cnt, 0, in_place, src, VNET_RX_MAX_SRC);
    if (restcnt > 0 && len > room) {
        src[sc++] = rest[0];
    }
    memset(&hdr, 0, sizeof(hdr));
    if (vhdr) {
        memcpy(&hdr.hdr, vhdr, VNET_HOST_HDR_LEN);
    }
    size_t hl = iov_to_buf_at(src, sc, 0, head, sizeof(head));
    if (!virtio_net_rx_accept(n, &hdr, head, hl, len)) {
        virtqueue_unpop(vq, 1);
        return;
    }
    /* short of buffers cannot happen (prepare saw enough); if the driver
     * took some back meanwhile, the frame is counted as dropped */
    if (virtio_net_rx_place(n, &hdr, src, sc, len, 1, in_place) == 0) {
        n->rx_dropped++;
    }
}

/* The driver added receive buffers (its notify): frames that waited go in. */
static void virtio_net_rx_kick(VirtioNetState *n)
{
    VirtQueue *vq = &n->vdev.vq[VNET_RXQ];
    if (net_flush_queued(n->nic)) {
        /* nothing waits: spare the driver further notifies until the ring
         * runs dry again (virtio_net_rx_wait asks for them then) */
        virtqueue_set_notification(vq, false);
    }
}

/* ------------------------------------------------------------------------ */
/* Control queue (5.1.6.5)                                                  */

static uint8_t ctrl_rx(VirtioNetState *n, uint8_t cmd, const uint8_t *d, size_t len)
{
    bool *bit[] = {
        [VIRTIO_NET_CTRL_RX_PROMISC] = &n->promisc, [VIRTIO_NET_CTRL_RX_ALLMULTI] = &n->allmulti,
        [VIRTIO_NET_CTRL_RX_ALLUNI] = &n->alluni,   [VIRTIO_NET_CTRL_RX_NOMULTI] = &n->nomulti,
        [VIRTIO_NET_CTRL_RX_NOUNI] = &n->nouni,     [VIRTIO_NET_CTRL_RX_NOBCAST] = &n->nobcast};
    if (len != 1 || cmd >= sizeof(bit) / sizeof(bit[0]) ||
        (cmd > VIRTIO_NET_CTRL_RX_ALLMULTI &&
         !virtio_has_feature(&n->vdev, VIRTIO_NET_F_CTRL_RX_EXTRA))) {
        return VIRTIO_NET_ERR;
    }
    *bit[cmd] = d[0] != 0;
    net_rx_filter_changed(n->nic);
    return VIRTIO_NET_OK;
}

/* VIRTIO_NET_CTRL_MAC_TABLE_SET: two tables, unicast then multicast, each
 * a 32-bit entry count and the addresses. More than fit: that class is
 * let through whole (as a real NIC's overflow to promiscuous). */
static uint8_t ctrl_mac_table(VirtioNetState *n, const uint8_t *d, size_t len)
{
    uint8_t macs[VNET_MAC_TABLE][ETH_ALEN];
    unsigned cnt[2] = {0, 0}, stored = 0;
    bool overflow[2] = {false, false};
    size_t off = 0;
    for (int t = 0; t < 2; t++) {
        if (len - off < 4) {
            return VIRTIO_NET_ERR;
        }
        uint32_t entries = ld32le(d + off);
        off += 4;
        if (entries > (len - off) / ETH_ALEN) {
            return VIRTIO_NET_ERR;
        }
        for (uint32_t i = 0; i < entries; i++) {
            if (stored < VNET_MAC_TABLE) {
                memcpy(macs[stored++], d + off + i * ETH_ALEN, ETH_ALEN);
                cnt[t]++;
            } else {
                overflow[t] = true;
            }
        }
        off += (size_t)entries * ETH_ALEN;
    }
    if (off != len) {
        return VIRTIO_NET_ERR;
    }
    memcpy(n->macs, macs, sizeof(macs));
    n->n_uni = cnt[0];
    n->n_multi = cnt[1];
    n->uni_overflow = overflow[0];
    n->multi_overflow = overflow[1];
    net_rx_filter_changed(n->nic);
    return VIRTIO_NET_OK;
}

static uint8_t ctrl_mac(VirtioNetState *n, uint8_t cmd, const uint8_t *d, size_t len)
{
    if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
        return ctrl_mac_table(n, d, len);
    }
    if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET && len == ETH_ALEN &&
        virtio_has_feature(&n->vdev, VIRTIO_NET_F_CTRL_MAC_ADDR)) {
        memcpy(n->mac, d, ETH_ALEN);
        memcpy(n->vdev.config, d, ETH_ALEN); /* the config reads it back (5.1.4) */
        net_rx_filter_changed(n->nic);
        return VIRTIO_NET_OK;
    }
    return VIRTIO_NET_ERR;
}

static uint8_t ctrl_vlan(VirtioNetState *n, uint8_t cmd, const uint8_t *d, size_t len)
{
    if (len != 2) {
        return VIRTIO_NET_ERR;
    }
    uint16_t vid = ld16le(d);
    if (vid >= VNET_MAX_VLAN) {
        return VIRTIO_NET_ERR;
    }
    if (cmd == VIRTIO_NET_CTRL_VLAN_ADD) {
        n->vlans[vid >> 5] |= 1u << (vid & 31);
    } else if (cmd == VIRTIO_NET_CTRL_VLAN_DEL) {
        n->vlans[vid >> 5] &= ~(1u << (vid & 31));
    } else {
        return VIRTIO_NET_ERR;
    }
    net_rx_filter_changed(n->nic);
    return VIRTIO_NET_OK;
}

static void virtio_net_handle_ctrl(VirtioNetState *n)
{
    VirtioDevice *vd = &n->vdev;
    VirtQueue *vq = &vd->vq[VNET_CTRLQ];
    VirtQueueElement *e = n->ctrl_elem;
    unsigned done = 0;
    /* bounded by the ring: at most one pass over its entries per notify */
    for (unsigned i = 0; i < vq->num; i++) {
        int r = virtqueue_pop(vq, e);
        if (r < 0) {
            virtio_set_needs_reset(vd, vq->broken_why);
            return;
        }
        if (r == 0) {
            break;
        }
        struct virtio_net_ctrl_hdr ch;
        uint8_t data[VNET_CTRL_MAX];
        if (e->out_len < sizeof(ch) || e->in_len < 1) {
            virtio_set_needs_reset(vd, "controlq: a request without header or ack byte");
            return;
        }
        iov_to_buf_at(e->sg, (int)e->out_num, 0, &ch, sizeof(ch));
        size_t len = e->out_len - sizeof(ch);
        uint8_t ack = VIRTIO_NET_ERR;
        if (len <= sizeof(data)) {
            iov_to_buf_at(e->sg, (int)e->out_num, sizeof(ch), data, len);
            if (ch.class == VIRTIO_NET_CTRL_RX && virtio_has_feature(vd, VIRTIO_NET_F_CTRL_RX)) {
                ack = ctrl_rx(n, ch.cmd, data, len);
            } else if (ch.class == VIRTIO_NET_CTRL_MAC) {
                ack = ctrl_mac(n, ch.cmd, data, len);
            } else if (ch.class == VIRTIO_NET_CTRL_VLAN &&
                       virtio_has_feature(vd, VIRTIO_NET_F_CTRL_VLAN)) {
                ack = ctrl_vlan(n, ch.cmd, data, len);
            }
        }
        TRACE(virtio_net_ctrl, "%s: class %u command %u (%zu bytes): %s", vd->name, ch.class,
              ch.cmd, len, ack == VIRTIO_NET_OK ? "ok" : "error");
        /* the ack is the last writable byte (5.1.6.5) */
        iov_from_buf_at(virtqueue_elem_in(e), (int)e->in_num, e->in_len - 1, &ack, 1);
        virtqueue_push(vq, e, 1);
        done++;
    }
    if (done) {
        virtio_notify(vd, VNET_CTRLQ);
    }
}

/* ------------------------------------------------------------------------ */
/* The transport's callbacks                                                */

static void virtio_net_queue_notify(VirtioDevice *vd, unsigned q)
{
    VirtioNetState *n = to_vnet(vd);
    if (q == VNET_RXQ) {
        virtio_net_rx_kick(n);
    } else if (q == VNET_TXQ) {
        virtio_net_flush_tx(n);
    } else if (q == VNET_CTRLQ) {
        virtio_net_handle_ctrl(n);
    }
}

/* 5.1.3.1: the feature dependencies a device checks */
static int virtio_net_set_features(VirtioDevice *vd, uint64_t f)
{
    VirtioNetState *n = to_vnet(vd);
#define HAS(b) ((f >> VIRTIO_NET_F_##b) & 1)
    if (((HAS(GUEST_TSO4) || HAS(GUEST_TSO6) || HAS(GUEST_ECN) || HAS(GUEST_UFO)) &&
         !HAS(GUEST_CSUM)) ||
        ((HAS(HOST_TSO4) || HAS(HOST_TSO6) || HAS(HOST_UFO)) && !HAS(CSUM)) ||
        (HAS(HOST_ECN) && !HAS(HOST_TSO4) && !HAS(HOST_TSO6)) ||
        (HAS(GUEST_ECN) && !HAS(GUEST_TSO4) && !HAS(GUEST_TSO6)) ||
        ((HAS(CTRL_RX) || HAS(CTRL_VLAN) || HAS(CTRL_MAC_ADDR) || HAS(GUEST_ANNOUNCE) || HAS(MQ) ||
          HAS(CTRL_RX_EXTRA)) &&
         !HAS(CTRL_VQ))) {
        return -1;
    }
    n->mergeable = HAS(MRG_RXBUF);
    /* what the backend may hand over from now on */
    unsigned off = 0;
    if (HAS(GUEST_CSUM)) {
        off |= NET_OFFLOAD_CSUM | (HAS(GUEST_TSO4) ? NET_OFFLOAD_TSO4 : 0) |
               (HAS(GUEST_TSO6) ? NET_OFFLOAD_TSO6 : 0) | (HAS(GUEST_ECN) ? NET_OFFLOAD_ECN : 0);
    }
    if (n->vnet_hdr && net_set_offload(n->nic->peer, off) < 0 && off) {
        return -1;
    }
    /* without CTRL_VLAN there is no VLAN table: every VLAN passes */
    memset(n->vlans, HAS(CTRL_VLAN) ? 0 : 0xff, sizeof(n->vlans));
#undef HAS
    return 0;
}

static void virtio_net_driver_ok(VirtioDevice *vd)
{
    VirtioNetState *n = to_vnet(vd);
    net_flush_queued(n->nic);
    virtio_net_flush_tx(n);
}

static void virtio_net_update_config(VirtioNetState *n)
{
    uint8_t *c = n->vdev.config;
    memcpy(c, n->mac, ETH_ALEN);
    st16le(c + 6, n->nic && !n->nic->link_down ? VIRTIO_NET_S_LINK_UP : 0);
    st16le(c + 8, 1);     /* max_virtqueue_pairs */
    st16le(c + 10, 1500); /* mtu (read only with VIRTIO_NET_F_MTU, not offered) */
}

static void virtio_net_reset(VirtioDevice *vd)
{
    VirtioNetState *n = to_vnet(vd);
    /* QEMU's defaults, which drivers expect: promiscuous until the driver
     * sets its receive mode, the configured MAC back, empty tables */
    n->promisc = true;
    n->allmulti = n->alluni = n->nomulti = n->nouni = n->nobcast = false;
    n->n_uni = n->n_multi = 0;
    n->uni_overflow = n->multi_overflow = false;
    memset(n->vlans, 0xff, sizeof(n->vlans));
    n->mergeable = false;
    n->tx_waiting = false;
    memcpy(n->mac, n->conf_mac.a, ETH_ALEN);
    if (n->vnet_hdr && n->nic) {
        net_set_offload(n->nic->peer, 0);
    }
    virtio_net_update_config(n);
}

static void virtio_net_link_status_changed(NetClient *nc)
{
    VirtioNetState *n = nc->opaque;
    virtio_net_update_config(n);
    virtio_notify_config(&n->vdev);
}

static void virtio_net_query_rx_filter(NetClient *nc, NetRxFilter *out)
{
    VirtioNetState *n = nc->opaque;
    memset(out, 0, sizeof(*out));
    out->promiscuous = n->promisc;
    out->multicast_all = n->allmulti || n->multi_overflow;
    out->broadcast_allowed = !n->nobcast;
    out->vlan_filter = virtio_has_feature(&n->vdev, VIRTIO_NET_F_CTRL_VLAN);
    memcpy(out->main_mac, n->mac, ETH_ALEN);
    for (unsigned i = 0; i < n->n_uni && i < 16; i++) {
        memcpy(out->unicast[out->n_unicast++], n->macs[i], ETH_ALEN);
    }
    for (unsigned i = 0; i < n->n_multi && i < 16; i++) {
        memcpy(out->multicast[out->n_multicast++], n->macs[n->n_uni + i], ETH_ALEN);
    }
    memcpy(out->vlan_table, n->vlans, sizeof(out->vlan_table));
}

static void virtio_net_release(VirtioNetState *n)
{
    virtio_pci_release(&n->vdev);
    free(n->tx_elem);
    free(n->ctrl_elem);
    n->tx_elem = n->ctrl_elem = NULL;
    for (int i = 0; i < VNET_RX_MAX_BUFS; i++) {
        free(n->rx_elem[i]);
        n->rx_elem[i] = NULL;
    }
}

static void virtio_net_cleanup(NetClient *nc)
{
    VirtioNetState *n = nc->opaque;
    if (n->vnet_hdr && nc->peer) {
        net_set_offload(nc->peer, 0);
        net_using_vnet_hdr(nc->peer, false);
    }
    n->vnet_hdr = false;
    virtio_net_release(n);
    n->nic = NULL;
}

static const NetClientInfo virtio_net_info = {
    .type = "virtio-net",
    .kind = NET_CLIENT_NIC,
    .can_receive = virtio_net_can_receive,
    .receive_iov = virtio_net_receive_iov,
    .receive_prepare = virtio_net_receive_prepare,
    .receive_commit = virtio_net_receive_commit,
    .link_status_changed = virtio_net_link_status_changed,
    .cleanup = virtio_net_cleanup,
    .query_rx_filter = virtio_net_query_rx_filter,
};

static const VirtioDeviceOps virtio_net_ops = {
    .device_id = VIRTIO_ID_NET,
    .class_code = 0x020000,
    .set_features = virtio_net_set_features,
    .queue_notify = virtio_net_queue_notify,
    .driver_ok = virtio_net_driver_ok,
    .reset = virtio_net_reset,
};

/* The guest rebooted: the device and its MSI-X state (table masked, MSI-X
 * off, the KVM routes released) as at power-on. */
static void virtio_net_machine_reset(Object *obj)
{
    VirtioDevice *vd = &((VirtioNetState *)obj)->vdev;
    msix_reset(&vd->pci);
    virtio_reset(vd);
}

static bool queue_size_ok(uint32_t v)
{
    return v >= 8 && v <= VIRTQUEUE_MAX_SIZE && !(v & (v - 1));
}

static int virtio_net_realize(Object *obj, Machine *m, Error *err)
{
    VirtioNetState *n = (VirtioNetState *)obj;
    VirtioDevice *vd = &n->vdev;

    if (!n->netdev_id) {
        return error_setf(err, "virtio-net-pci: netdev= is required");
    }
    if (n->mq) {
        return error_setf(err, "virtio-net-pci: mq=on is not supported (one queue pair)");
    }
    if (!n->disable_legacy) {
        return error_setf(err, "virtio-net-pci: disable-legacy=off: the legacy interface is not "
                               "implemented (virtio 1.x drivers only)");
    }
    if (!queue_size_ok(n->rx_queue_size) || !queue_size_ok(n->tx_queue_size)) {
        return error_setf(err,
                          "virtio-net-pci: rx_queue_size and tx_queue_size must be a power of "
                          "two from 8 to %d",
                          VIRTQUEUE_MAX_SIZE);
    }
    NetClient *peer = net_backend_find(n->netdev_id);
    if (!peer) {
        return error_setf(err, "virtio-net-pci: no -netdev with id '%s'", n->netdev_id);
    }
    if (peer->peer) {
        return error_setf(err, "virtio-net-pci: netdev '%s' is already in use", n->netdev_id);
    }
    if (!n->conf_mac.set) {
        uint32_t tail = (0x12u << 16 | 0x34u << 8 | 0x56u) + (uint32_t)m->nr_nics;
        const uint8_t mac[ETH_ALEN] = {
            0x52, 0x54, 0x00, (uint8_t)(tail >> 16), (uint8_t)(tail >> 8), (uint8_t)tail};
        memcpy(n->conf_mac.a, mac, ETH_ALEN);
    }

    n->tx_elem = malloc(sizeof(*n->tx_elem));
    n->ctrl_elem = malloc(sizeof(*n->ctrl_elem));
    for (int i = 0; i < VNET_RX_MAX_BUFS; i++) {
        n->rx_elem[i] = malloc(sizeof(*n->rx_elem[i]));
        if (!n->rx_elem[i]) {
            die("out of memory");
        }
    }
    n->tx_bh = bh_new(virtio_net_tx_bh, n);
    if (!n->tx_elem || !n->ctrl_elem || !n->tx_bh) {
        die("out of memory");
    }

    vd->name = obj->id ? obj->id : "virtio-net-pci";
    vd->ops = &virtio_net_ops;
    vd->nqueues = n->ctrl_vq ? 3 : 2;
    vd->vq[VNET_RXQ].num_max = (uint16_t)n->rx_queue_size;
    vd->vq[VNET_TXQ].num_max = (uint16_t)n->tx_queue_size;
    vd->vq[VNET_CTRLQ].num_max = 64;
    vd->config_len = VNET_CONFIG_LEN;

    /* the NIC first: the feature set depends on what the backend carries */
    n->nic = net_client_new(&virtio_net_info, obj->id ? obj->id : "virtio-net", n);
    net_client_set_peer(n->nic, peer);
    n->nic->link_down = peer->link_down;
    if ((n->csum || n->guest_csum) && net_has_vnet_hdr(peer)) {
        net_using_vnet_hdr(peer, true);
        n->vnet_hdr = n->nic->vnet_hdr_len == VNET_HOST_HDR_LEN;
        if (!n->vnet_hdr) {
            net_using_vnet_hdr(peer, false);
        }
    }

    uint64_t f = 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS;
    if (n->mrg_rxbuf) {
        f |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
    }
    if (n->event_idx) {
        f |= 1ull << VIRTIO_RING_F_EVENT_IDX;
    }
    if (n->indirect_desc) {
        f |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
    }
    if (n->ctrl_vq) {
        f |= 1ull << VIRTIO_NET_F_CTRL_VQ | 1ull << VIRTIO_NET_F_CTRL_RX |
             1ull << VIRTIO_NET_F_CTRL_RX_EXTRA | 1ull << VIRTIO_NET_F_CTRL_VLAN |
             1ull << VIRTIO_NET_F_CTRL_MAC_ADDR;
    }
    if (n->vnet_hdr && n->csum) {
        f |= 1ull << VIRTIO_NET_F_CSUM;
        if (n->gso) {
            f |= 1ull << VIRTIO_NET_F_HOST_TSO4 | 1ull << VIRTIO_NET_F_HOST_TSO6 |
                 1ull << VIRTIO_NET_F_HOST_ECN;
        }
    }
    if (n->vnet_hdr && n->guest_csum && net_has_offload(peer)) {
        f |= 1ull << VIRTIO_NET_F_GUEST_CSUM;
        if (n->guest_tso) {
            f |= 1ull << VIRTIO_NET_F_GUEST_TSO4 | 1ull << VIRTIO_NET_F_GUEST_TSO6 |
                 1ull << VIRTIO_NET_F_GUEST_ECN;
        }
    }
    vd->host_features = f;

    if (virtio_pci_realize(vd, m, n->doorbells, err) < 0) {
        net_client_set_peer(n->nic, NULL);
        virtio_net_cleanup(n->nic);
        net_client_free(n->nic);
        return -1;
    }
    m->nr_nics++;
    return 0;
}

static const Property virtio_net_props[] = {
    PROP_STR("netdev", VirtioNetState, netdev_id, NULL, "id of the -netdev backend (required)"),
    PROP_MAC("mac", VirtioNetState, conf_mac,
             "MAC address (default 52:54:00:12:34:56 + NIC index)"),
    PROP_BOOL("doorbells", VirtioNetState, doorbells, "on",
              "queue notifies as KVM ioeventfds instead of exits"),
    PROP_BOOL("csum", VirtioNetState, csum, "on",
              "offer CSUM (and with gso=on HOST_TSO4/6): the guest sends partial checksums and "
              "TSO frames, handed to a vnet_hdr backend as they are"),
    PROP_BOOL("gso", VirtioNetState, gso, "on", "offer HOST_TSO4/6 and HOST_ECN (needs csum=on)"),
    PROP_BOOL("guest_csum", VirtioNetState, guest_csum, "on",
              "offer GUEST_CSUM (and with guest_tso=on GUEST_TSO4/6): the backend hands the "
              "guest partial checksums and TSO frames"),
    PROP_BOOL("guest_tso", VirtioNetState, guest_tso, "on",
              "offer GUEST_TSO4/6 and GUEST_ECN (needs guest_csum=on)"),
    PROP_BOOL("mrg_rxbuf", VirtioNetState, mrg_rxbuf, "on",
              "offer MRG_RXBUF: a frame may span several receive buffers"),
    PROP_BOOL("event_idx", VirtioNetState, event_idx, "on",
              "offer RING_EVENT_IDX (notify and interrupt suppression by index)"),
    PROP_BOOL("indirect_desc", VirtioNetState, indirect_desc, "on", "offer RING_INDIRECT_DESC"),
    PROP_BOOL("ctrl_vq", VirtioNetState, ctrl_vq, "on",
              "a control queue: receive mode, MAC and VLAN tables, MAC address"),
    PROP_BOOL("rx_zerocopy", VirtioNetState, rx_zerocopy, "on",
              "a backend that can (tap) reads received frames straight into the guest's buffers"),
    PROP_BOOL("mq", VirtioNetState, mq, "off", "several queue pairs (only off)"),
    PROP_BOOL("disable-legacy", VirtioNetState, disable_legacy, "on",
              "no legacy (virtio 0.9.5) interface (only on)"),
    PROP_U32("rx_queue_size", VirtioNetState, rx_queue_size, "256",
             "receive queue entries (power of two, 8..1024)"),
    PROP_U32("tx_queue_size", VirtioNetState, tx_queue_size, "256",
             "transmit queue entries (power of two, 8..1024)"),
    PROP_END,
};

static const TypeInfo virtio_net_pci_info = {
    .name = "virtio-net-pci",
    .kind = TYPE_KIND_DEVICE,
    .bus = "PCI",
    .desc = "virtio 1.x network device (modern PCI, split virtqueues)",
    .instance_size = sizeof(VirtioNetState),
    .props = virtio_net_props,
    .realize = virtio_net_realize,
    .reset = virtio_net_machine_reset,
};

TYPE_REGISTER(virtio_net_pci_info)
