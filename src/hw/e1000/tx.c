/* The 82540EM's transmit path (SDM 3.3-3.5): a TDT write runs the ring,
 *   set_tdt -> start_xmit -> process_tx_desc (context, data, TSO)
 *           -> xmit_seg (checksums, VLAN) -> e1000_send_packet -> net_send_iov
 * with TSO cut here, or handed whole to a vnet_hdr backend as one GSO frame
 * (xmit_gso). */
#include <stdio.h>
#include <string.h>

#include "hw/e1000/e1000_int.h"
#include "trace/trace.h"

void e1000_tx_reset_packet(E1000Tx *tx)
{
    tx->in_packet = tx->tse = tx->gso = tx->drop = tx->hdr_saved = false;
    tx->popts = 0;
    tx->vle = false;
    tx->vlan_tci = 0;
    tx->legacy_ic = false;
    tx->size = tx->tso_frames = tx->tso_payload = tx->total = 0;
    tx->desc_pending = false;
}

/* Insert the complement of the checksum of [css, cse] at cso. cse == 0
 * means "to the end". Offsets outside the frame leave it alone. */
static void insert_csum(uint8_t *p, uint32_t len, uint32_t css, uint32_t cso, uint32_t cse,
                        bool nonzero)
{
    uint32_t end = (cse && cse < len) ? cse + 1 : len;
    if (css >= end || cso + 2 > len) {
        return;
    }
    uint16_t c = (uint16_t)~csum_fold(csum_add(0, p + css, end - css));
    if (nonzero && c == 0) {
        c = 0xffff; /* UDP: 0 would mean "no checksum" */
    }
    st16be(p + cso, c);
}

/* MAC loopback (RCTL.LBM) or PHY loopback: transmitted frames come straight
 * back in instead of reaching the wire. */
bool e1000_loopback(const E1000State *s)
{
    return (s->mac_reg[R(E1000_RCTL)] & E1000_RCTL_LBM_MASK) == E1000_RCTL_LBM_MAC ||
           (s->phy_reg[PHY_CTRL] & MII_CR_LOOPBACK);
}

/* Statistics for one frame as it is on the wire (FCS included). */
static void tx_count_frame(E1000State *s, uint32_t wire, const uint8_t *dst)
{
    stat_inc(s, E1000_GPTC, 1);
    stat_inc(s, E1000_TPT, 1);
    stat_add64(s, E1000_GOTCL, wire + 4);
    stat_add64(s, E1000_TOTL, wire + 4);
    stat_size(s, E1000_PTC64, wire + 4);
    if (dst && (dst[0] & 1)) {
        stat_inc(s, memcmp(dst, eth_bcast, ETH_ALEN) ? E1000_MPTC : E1000_BPTC, 1);
    }
}

/* Send one frame (or, with @vh, one GSO frame that the backend segments:
 * its statistics are counted by the caller, segment by segment). */
static void e1000_send_packet(E1000State *s, uint8_t *buf, uint32_t len,
                              const struct virtio_net_hdr *vh)
{
    static const struct virtio_net_hdr no_offload;
    uint8_t tag[4];
    struct iovec iov[4];
    int n = 0;
    bool vlan = s->tx.vle && len >= 2 * ETH_ALEN;
    uint32_t wire = len + (vlan ? 4 : 0);

    /* TCTL.PSP: pad short frames to the 64-byte minimum (FCS included) */
    if ((s->mac_reg[R(E1000_TCTL)] & E1000_TCTL_PSP) && wire < E1000_MIN_FRAME) {
        memset(buf + len, 0, E1000_MIN_FRAME - wire);
        len += E1000_MIN_FRAME - wire;
        wire = E1000_MIN_FRAME;
    }
    bool joined = false;
    if (s->vnet_hdr) {
        const struct virtio_net_hdr *h = vh ? vh : &no_offload;
        if (!vlan && buf == s->tx.buf) {
            memcpy(s->tx.vnet_room, h, sizeof(*h)); /* header and frame in one piece */
            iov[n++] = (struct iovec){.iov_base = s->tx.vnet_room, .iov_len = sizeof(*h) + len};
            joined = true;
        } else {
            iov[n++] = (struct iovec){.iov_base = (void *)h, .iov_len = sizeof(*h)};
        }
    }
    if (joined) {
        /* the frame is in iov[0] already */
    } else if (vlan) {
        st16be(tag, (uint16_t)s->mac_reg[R(E1000_VET)]);
        st16be(tag + 2, s->tx.vlan_tci);
        iov[n++] = (struct iovec){.iov_base = buf, .iov_len = 2 * ETH_ALEN};
        iov[n++] = (struct iovec){.iov_base = tag, .iov_len = 4};
        iov[n++] = (struct iovec){.iov_base = buf + 2 * ETH_ALEN, .iov_len = len - 2 * ETH_ALEN};
    } else {
        iov[n++] = (struct iovec){.iov_base = buf, .iov_len = len};
    }

    if (!s->link_up || !s->nic) {
        TRACE(e1000_send_packet, "len=%u lost: no carrier", wire);
        return; /* no carrier: the frame goes nowhere */
    }
    TRACE(e1000_send_packet, "len=%u%s%s", wire, vlan ? " VLAN tag inserted" : "",
          vh ? " as one GSO frame (vnet_hdr)" : "");
    work_add(&s->tx_work, E1000_FRAME_COST + wire);
    if (!vh) {
        tx_count_frame(s, wire, len >= ETH_ALEN ? buf : NULL);
    }

    bool loopback = e1000_loopback(s);
    if (loopback) {
        /* diagnostics: straight back in (the receive side's work counts
         * too); never a GSO frame (tx_start_packet) */
        work_add(&s->tx_work, E1000_FRAME_COST + wire);
        e1000_receive_iov(s->nic, iov, n);
        return;
    }
    /* The guest is never held back: if the peer is busy the frame waits in
     * its queue (or is dropped there); the descriptor is done either way. */
    net_send_iov(s->nic, iov, n, NULL);
}

/* Send what is in tx.buf as one frame: for TSO fix up this segment's
 * headers first (SDM 3.5.x), then insert the checksums POPTS asks for. */
static void xmit_seg(E1000State *s, bool last)
{
    E1000Tx *tx = &s->tx;
    uint8_t *p = tx->buf;
    uint32_t len = tx->size;
    const E1000TxContext *c = &tx->ctx;

    if (tx->tse) {
        uint32_t ipcss = c->ipcss, tucss = c->tucss;
        if (c->ip) {
            /* IPv4: total length of this segment, identification + n */
            if (ipcss + 6 <= len) {
                st16be(p + ipcss + 2, (uint16_t)(len - ipcss));
                st16be(p + ipcss + 4, (uint16_t)(ld16be(p + ipcss + 4) + tx->tso_frames));
            }
        } else if (ipcss + 40 <= len) {
            /* IPv6: payload length (everything after the fixed header) */
            st16be(p + ipcss + 4, (uint16_t)(len - ipcss - 40));
        }
        if (c->tcp) {
            if (tucss + 14 <= len) {
                st32be(p + tucss + 4, ld32be(p + tucss + 4) + tx->tso_payload);
                if (!last) {
                    p[tucss + 13] &= (uint8_t) ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
                }
            }
        } else if (tucss + 6 <= len) {
            st16be(p + tucss + 4, (uint16_t)(len - tucss)); /* UDP length */
        }
        /* The driver seeds the checksum field with the pseudo-header sum
         * without the length; the hardware adds this segment's L4 length. */
        if ((tx->popts & E1000_TXD_POPTS_TXSM) && c->tucso + 2u <= len && tucss < len) {
            uint32_t sum = ld16be(p + c->tucso) + (len - tucss);
            st16be(p + c->tucso, csum_fold(sum));
        }
    }
    if (tx->popts & E1000_TXD_POPTS_IXSM) {
        insert_csum(p, len, c->ipcss, c->ipcso, c->ipcse, false);
    }
    if (tx->popts & E1000_TXD_POPTS_TXSM) {
        insert_csum(p, len, c->tucss, c->tucso, c->tucse, true);
    }
    if (tx->legacy_ic) {
        insert_csum(p, len, tx->legacy_css, tx->legacy_cso, 0, true);
    }
    if (TRACE_ON(e1000_xmit_seg)) {
        /* the checksums as inserted, "-" where none was asked for */
        char ip[8] = "-", l4[8] = "-", leg[8] = "-";
        if ((tx->popts & E1000_TXD_POPTS_IXSM) && c->ipcso + 2u <= len) {
            snprintf(ip, sizeof(ip), "%#06x", ld16be(p + c->ipcso));
        }
        if ((tx->popts & E1000_TXD_POPTS_TXSM) && c->tucso + 2u <= len) {
            snprintf(l4, sizeof(l4), "%#06x", ld16be(p + c->tucso));
        }
        if (tx->legacy_ic && tx->legacy_cso + 2u <= len) {
            snprintf(leg, sizeof(leg), "%#06x", ld16be(p + tx->legacy_cso));
        }
        trace_emit(TRACE_e1000_xmit_seg, "len=%u%s seg=%u ip_csum=%s l4_csum=%s legacy_csum=%s",
                   len, tx->tse ? " TSO" : "", tx->tso_frames, ip, l4, leg);
    }
    e1000_send_packet(s, p, len, NULL);
    if (tx->tse) {
        tx->tso_frames++;
        tx->tso_payload += len - c->hdr_len;
    }
}

/* Take @len bytes at guest address @addr into the packet. Without TSO the
 * packet is capped at E1000_TX_MAX_FRAME (a bigger one is dropped whole,
 * never written past the buffer). With TSO every HDRLEN + MSS bytes make a
 * segment that leaves at once. */
static bool tx_tso_data(E1000State *s, uint64_t addr, uint32_t len);

static bool tx_add_data(E1000State *s, uint64_t addr, uint32_t len)
{
    E1000Tx *tx = &s->tx;

    if (tx->drop || len == 0) {
        return true;
    }
    if (tx->total + (uint64_t)len > E1000_TSO_MAX_DATA ||
        (!tx->tse && tx->size + (uint64_t)len > E1000_TX_MAX_FRAME)) {
        tx->drop = true;
        return true;
    }
    tx->total += len;
    work_add(&s->tx_work, len);
    if (!tx->tse || tx->gso) { /* buf holds E1000_TSO_MAX_DATA */
        if (dma_read(s->ram, addr, tx->buf + tx->size, len) < 0) {
            tx->drop = true; /* buffer outside RAM: the frame cannot be fetched */
            return true;
        }
        tx->size += len;
        return true;
    }
    return tx_tso_data(s, addr, len);
}

/* TSO: every HDRLEN + MSS bytes make a segment that leaves at once. Returns
 * false if the run's work budget ran out with data left: the rest is kept
 * in tx.desc_addr / desc_left for the next run (start_xmit). */
static bool tx_tso_data(E1000State *s, uint64_t addr, uint32_t len)
{
    E1000Tx *tx = &s->tx;
    const E1000TxContext *c = &tx->ctx;
    uint32_t hdr = c->hdr_len, seg = c->hdr_len + c->mss;
    while (len > 0) {
        /* each pass takes >= 1 byte: size < seg always holds here (the
         * context is the packet's own copy, mss > 0) */
        if (tx->size >= seg) {
            tx->drop = true;
            return true;
        }
        uint32_t want = tx->size < hdr ? hdr - tx->size : seg - tx->size;
        uint32_t n = len < want ? len : want;
        if (dma_read(s->ram, addr, tx->buf + tx->size, n) < 0) {
            tx->drop = true;
            return true;
        }
        tx->size += n;
        addr += n;
        len -= n;
        if (!tx->hdr_saved && tx->size >= hdr) {
            memcpy(tx->header, tx->buf, hdr);
            tx->hdr_saved = true;
        }
        if (tx->size == seg) {
            /* a full segment; it is the last one if PAYLEN says so */
            xmit_seg(s, tx->tso_payload + c->mss >= c->paylen);
            memcpy(tx->buf, tx->header, hdr);
            tx->size = hdr;
            if (tx->tso_frames >= E1000_TSO_MAX_SEGS) {
                tx->drop = true;
                return true;
            }
            if (len > 0 && s->tx_work >= E1000_WORK_BUDGET) {
                tx->desc_pending = true;
                tx->desc_addr = addr;
                tx->desc_left = len;
                return false;
            }
        }
    }
    return true;
}

/* ---- GSO hand-off (gso=on, -netdev tap with vnet_hdr) ----
 *
 * A TSO send is the hardware cutting one TCP packet of up to 64 KiB into
 * MSS-sized segments (SDM 3.5). When the backend takes a virtio_net_hdr, the
 * host kernel can do that cut itself (or not at all: a frame for the host
 * goes up its stack whole), so the device gathers the packet whole and sends
 * one GSO frame: one write instead of one per segment, no per-segment
 * checksum in the VMM. What the guest sees is the same as with segmentation
 * here: descriptors written back, statistics counted per segment, the same
 * segments on the wire (IPv4 identification + n, FIN/PSH on the last only,
 * TCP checksum of each: the kernel's TCP GSO does exactly what SDM 3.5.3
 * asks of the hardware). Only TCP with TXSM (the checksum the kernel must
 * finish); UDP TSO, odd header layouts and loopback use the model's own
 * segmentation. */
static bool tx_can_gso(E1000State *s, const E1000TxContext *c, uint8_t popts)
{
    uint32_t iphl = c->ip ? 20 : 40;
    bool loopback = e1000_loopback(s);
    return s->vnet_hdr && c->tcp && (popts & E1000_TXD_POPTS_TXSM) && !loopback &&
           c->ipcss >= ETH_HLEN && (uint32_t)c->ipcss + iphl <= c->tucss &&
           (uint32_t)c->tucss + 20 <= c->hdr_len && c->tucso == c->tucss + 16 &&
           c->paylen + (uint32_t)c->hdr_len - c->ipcss <= 0xffff;
}

/* The gathered packet as one GSO frame; false (counted as a failed TSO
 * context) when it does not add up to a TCP packet the kernel can cut. */
static bool xmit_gso(E1000State *s)
{
    E1000Tx *tx = &s->tx;
    const E1000TxContext *c = &tx->ctx;
    uint8_t *p = tx->buf;
    uint32_t len = tx->size, hdr = c->hdr_len, ipcss = c->ipcss, tucss = c->tucss;

    if (len < hdr || len - ipcss > 0xffff || (p[tucss + 12] >> 4) * 4u + tucss != hdr) {
        return false; /* data shorter than its header, or TCP options past HDRLEN */
    }
    uint32_t payload = len - hdr;
    if (payload <= c->mss) {
        /* one segment: the model sends it like the hardware would */
        xmit_seg(s, true);
        return true;
    }
    if (c->ip) {
        st16be(p + ipcss + 2, (uint16_t)(len - ipcss)); /* the kernel sets each segment's */
    } else {
        st16be(p + ipcss + 4, (uint16_t)(len - ipcss - 40));
    }
    /* the driver seeded the TCP checksum with the pseudo-header sum without
     * the length; a GSO frame carries it with the whole packet's L4 length,
     * and the kernel replaces that by each segment's */
    st16be(p + c->tucso, csum_fold(ld16be(p + c->tucso) + (len - tucss)));
    if (tx->popts & E1000_TXD_POPTS_IXSM) {
        insert_csum(p, len, c->ipcss, c->ipcso, c->ipcse, false);
    }
    uint32_t vlan = tx->vle ? 4 : 0;
    struct virtio_net_hdr vh = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = (uint8_t)((c->ip ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6) |
                              ((p[tucss + 13] & TCP_FLAG_CWR) ? VIRTIO_NET_HDR_GSO_ECN : 0)),
        .hdr_len = (uint16_t)(hdr + vlan),
        .gso_size = c->mss,
        .csum_start = (uint16_t)(tucss + vlan),
        .csum_offset = (uint16_t)(c->tucso - tucss),
    };
    uint32_t nseg = (payload + c->mss - 1) / c->mss;
    TRACE(e1000_xmit_seg, "len=%u TSO as one GSO frame: %u segments of MSS %u", len, nseg, c->mss);
    /* the segments the wire would carry, for the statistics */
    for (uint32_t i = 0; i < nseg; i++) {
        uint32_t seg = i + 1 < nseg ? c->mss : payload - i * c->mss;
        tx_count_frame(s, hdr + seg + vlan, p);
    }
    e1000_send_packet(s, p, len, &vh);
    tx->tso_frames = nseg;
    tx->tso_payload = payload;
    return true;
}

static void tx_end_packet(E1000State *s)
{
    E1000Tx *tx = &s->tx;
    if (tx->gso) {
        bool ok = !tx->drop && xmit_gso(s);
        stat_inc(s, ok ? E1000_TSCTC : E1000_TSCTFC, 1);
    } else if (tx->tse) {
        uint32_t hdr = tx->ctx.hdr_len;
        /* the rest after the last full segment; nothing if HDRLEN was
         * beyond the data */
        if (!tx->drop && tx->hdr_saved &&
            (tx->size > hdr || (tx->size == hdr && tx->tso_frames == 0))) {
            xmit_seg(s, true);
        }
        stat_inc(s, (!tx->drop && tx->hdr_saved) ? E1000_TSCTC : E1000_TSCTFC, 1);
    } else if (!tx->drop && tx->size > 0) {
        xmit_seg(s, true);
    }
    e1000_tx_reset_packet(tx);
}

/* First descriptor of a packet: decide how it is built. */
static void tx_start_packet(E1000State *s, bool tse, uint8_t popts)
{
    E1000Tx *tx = &s->tx;
    e1000_tx_reset_packet(tx);
    tx->in_packet = true;
    tx->tse = tse;
    tx->popts = popts;
    /* A context descriptor that comes in the middle of this packet must not
     * change how it is cut: the packet keeps a copy. */
    tx->ctx = tse ? tx->tso_ctx : tx->csum_ctx;
    if (tse) {
        const E1000TxContext *c = &tx->ctx;
        /* an MSS of 0 or a segment larger than our frame buffer cannot be
         * segmented: the packet is consumed and counted as failed */
        if (c->mss == 0 || (uint32_t)c->hdr_len + c->mss > E1000_TX_MAX_FRAME) {
            tx->drop = true;
        } else {
            tx->gso = tx_can_gso(s, c, popts);
        }
    }
}

static void tx_vlan(E1000State *s, uint32_t cmd, uint16_t special)
{
    if ((cmd & E1000_TXD_CMD_VLE) && (s->mac_reg[R(E1000_CTRL)] & E1000_CTRL_VME)) {
        s->tx.vle = true;
        s->tx.vlan_tci = special;
    }
}

/* One descriptor (SDM 3.3.3 legacy, 3.3.6 context, 3.3.7 data). */
static bool process_tx_desc(E1000State *s, const uint8_t *d)
{
    E1000Tx *tx = &s->tx;
    uint64_t addr = ld64le(d);
    uint32_t lower = ld32le(d + 8), upper = ld32le(d + 12);
    uint32_t dtyp = lower & E1000_TXD_DTYP_MASK;
    bool legacy = !(lower & E1000_TXD_CMD_DEXT);
    bool done;

    if (tx->desc_pending) {
        /* the rest of a descriptor that an earlier run left half done */
        tx->desc_pending = false;
        done = tx_tso_data(s, tx->desc_addr, tx->desc_left);
    } else if (!legacy && dtyp == E1000_TXD_DTYP_C) {
        /* context: offsets for the packets that follow */
        E1000TxContext *c = (lower & E1000_TXD_CMD_TSE) ? &tx->tso_ctx : &tx->csum_ctx;
        c->ipcss = (uint8_t)addr;
        c->ipcso = (uint8_t)(addr >> 8);
        c->ipcse = (uint16_t)(addr >> 16);
        c->tucss = (uint8_t)(addr >> 32);
        c->tucso = (uint8_t)(addr >> 40);
        c->tucse = (uint16_t)(addr >> 48);
        c->paylen = lower & E1000_TXD_LEN_MASK;
        c->ip = lower & E1000_TXD_CMD_IP;
        c->tcp = lower & E1000_TXD_CMD_TCP;
        c->hdr_len = (uint8_t)(upper >> 8);
        c->mss = (uint16_t)(upper >> 16);
        return true;
    } else if (!legacy && dtyp != E1000_TXD_DTYP_D) {
        return true; /* reserved descriptor type: consumed, nothing sent */
    } else {
        if (!tx->in_packet) {
            tx_start_packet(s, !legacy && (lower & E1000_TXD_CMD_TSE),
                            legacy ? 0 : (uint8_t)(upper >> 8));
        }
        tx_vlan(s, lower, (uint16_t)(upper >> 16));
        done =
            tx_add_data(s, addr, lower & (legacy ? E1000_TXD_LEGACY_LEN_MASK : E1000_TXD_LEN_MASK));
    }
    if (!done) {
        return false; /* work budget spent: continued by the next run */
    }
    if (legacy && (lower & E1000_TXD_CMD_EOP)) {
        /* CSO/CSS/IC count in the last descriptor of the packet */
        tx->legacy_ic = lower & E1000_TXD_CMD_IC;
        tx->legacy_cso = (uint8_t)(lower >> 16);
        tx->legacy_css = (uint8_t)(upper >> 8);
    }
    if (lower & E1000_TXD_CMD_EOP) {
        tx_end_packet(s);
    }
    return true;
}

/* Run the ring from TDH to TDT. At most one pass over the ring per call
 * (CVE-2015-6815, CVE-2016-1981) and at most E1000_WORK_BUDGET of work: a
 * guest cannot keep us here; what is left runs from tx_timer. A head or
 * tail outside the ring, an empty ring or a descriptor outside RAM stops
 * the walk without touching memory. */
void start_xmit(E1000State *s)
{
    uint32_t n = s->mac_reg[R(E1000_TDLEN)] / sizeof(struct e1000_tx_desc);
    uint64_t base = (uint64_t)s->mac_reg[R(E1000_TDBAH)] << 32 | s->mac_reg[R(E1000_TDBAL)];
    uint32_t cause = 0;
    bool progressed = false;

    if (!(s->mac_reg[R(E1000_TCTL)] & E1000_TCTL_EN) || !bus_master(s) || n == 0) {
        return;
    }
    TRACE(e1000_start_xmit, "TDH=%u TDT=%u ring=%u descriptors at %#llx", s->mac_reg[R(E1000_TDH)],
          s->mac_reg[R(E1000_TDT)], n, (unsigned long long)base);
    s->tx_work = 0;
    for (uint32_t budget = n; budget > 0; budget--) {
        uint32_t tdh = s->mac_reg[R(E1000_TDH)], tdt = s->mac_reg[R(E1000_TDT)];
        if (tdh == tdt || tdh >= n || tdt >= n) {
            break;
        }
        if (s->tx_work >= E1000_WORK_BUDGET) {
            continue_later(s->tx_timer); /* the rest in the next run */
            break;
        }
        uint64_t da = base + (uint64_t)tdh * sizeof(struct e1000_tx_desc);
        uint8_t d[16];
        if (s->tx.desc_pending) {
            memcpy(d, s->tx.desc, sizeof(d)); /* fetched by an earlier run */
        } else if (dma_read(s->ram, da, d, sizeof(d)) < 0) {
            break;
        }
        work_add(&s->tx_work, E1000_DESC_COST);
        if (TRACE_ON(e1000_process_tx_desc)) {
            char desc[200];
            trace_emit(TRACE_e1000_process_tx_desc, "[%u] %s", tdh,
                       e1000_tx_desc_describe(d, desc, sizeof(desc)));
        }
        if (!process_tx_desc(s, d)) {
            memcpy(s->tx.desc, d, sizeof(d));
            continue_later(s->tx_timer); /* the rest in the next run */
            break;
        }
        uint32_t lower = ld32le(d + 8);
        if (lower & (E1000_TXD_CMD_RS | E1000_TXD_CMD_RPS)) {
            /* write back DD in the status byte only (SDM 3.3.3.2) */
            uint8_t sta = d[12] | E1000_TXD_STAT_DD;
            TRACE(e1000_dma_write, "TX descriptor [%u] status DD at %#llx len=1", tdh,
                  (unsigned long long)(da + 12));
            dma_write(s->ram, da + 12, &sta, 1);
            cause |= tx_writeback_cause(s, lower & E1000_TXD_CMD_IDE);
        }
        s->mac_reg[R(E1000_TDH)] = (tdh + 1) % n;
        progressed = true;
    }
    if (progressed && s->mac_reg[R(E1000_TDH)] == s->mac_reg[R(E1000_TDT)]) {
        cause |= E1000_ICR_TXQE;
    }
    set_ics(s, cause);
}

void e1000_tx_continue(void *opaque)
{
    start_xmit(opaque);
}

/* ---- transmit-side registers ---- */

void set_tctl(E1000State *s, int index, uint32_t val)
{
    reg_store(s, index, val);
    start_xmit(s);
}

void set_tdt(E1000State *s, int index, uint32_t val)
{
    reg_store(s, index, val);
    start_xmit(s);
}

/* TDH written: the guest (re)initialises the ring; a half-assembled packet
 * from before belongs to nobody. */
void set_tdh(E1000State *s, int index, uint32_t val)
{
    reg_store(s, index, val);
    e1000_tx_reset_packet(&s->tx);
}

/* For the process_tx_desc trace point. */
const char *e1000_tx_desc_describe(const uint8_t *d, char *buf, size_t len)
{
    uint64_t addr = (uint64_t)ld32le(d) | (uint64_t)ld32le(d + 4) << 32;
    uint32_t lower = ld32le(d + 8), upper = ld32le(d + 12);
    uint32_t cmd = lower >> 24;

    if (!(lower & E1000_TXD_CMD_DEXT)) {
        snprintf(buf, len, "legacy buf=%#llx len=%u cmd=%#x%s%s%s%s cso=%u css=%u vlan=%#x",
                 (unsigned long long)addr, lower & E1000_TXD_LEGACY_LEN_MASK, cmd,
                 (lower & E1000_TXD_CMD_EOP) ? " EOP" : "", (lower & E1000_TXD_CMD_IC) ? " IC" : "",
                 (lower & E1000_TXD_CMD_RS) ? " RS" : "", (lower & E1000_TXD_CMD_VLE) ? " VLE" : "",
                 (lower >> 16) & 0xff, (upper >> 8) & 0xff, upper >> 16);
    } else if ((lower & E1000_TXD_DTYP_MASK) == E1000_TXD_DTYP_C) {
        snprintf(buf, len,
                 "context %s ipcss=%u ipcso=%u ipcse=%u tucss=%u tucso=%u tucse=%u paylen=%u "
                 "hdrlen=%u mss=%u%s%s",
                 (lower & E1000_TXD_CMD_TSE) ? "TSO" : "checksum", (unsigned)(addr & 0xff),
                 (unsigned)((addr >> 8) & 0xff), (unsigned)((addr >> 16) & 0xffff),
                 (unsigned)((addr >> 32) & 0xff), (unsigned)((addr >> 40) & 0xff),
                 (unsigned)(addr >> 48), lower & E1000_TXD_LEN_MASK, (upper >> 8) & 0xff,
                 upper >> 16, (lower & E1000_TXD_CMD_IP) ? " IPv4" : " IPv6",
                 (lower & E1000_TXD_CMD_TCP) ? " TCP" : " UDP");
    } else if ((lower & E1000_TXD_DTYP_MASK) == E1000_TXD_DTYP_D) {
        unsigned popts = (upper >> 8) & 0xff;
        snprintf(buf, len, "data buf=%#llx len=%u cmd=%#x%s%s%s%s popts=%#x%s%s vlan=%#x",
                 (unsigned long long)addr, lower & E1000_TXD_LEN_MASK, cmd,
                 (lower & E1000_TXD_CMD_EOP) ? " EOP" : "",
                 (lower & E1000_TXD_CMD_TSE) ? " TSE" : "", (lower & E1000_TXD_CMD_RS) ? " RS" : "",
                 (lower & E1000_TXD_CMD_VLE) ? " VLE" : "", popts,
                 (popts & E1000_TXD_POPTS_IXSM) ? " IXSM" : "",
                 (popts & E1000_TXD_POPTS_TXSM) ? " TXSM" : "", upper >> 16);
    } else {
        snprintf(buf, len, "reserved type %#x", (lower & E1000_TXD_DTYP_MASK) >> 20);
    }
    return buf;
}
