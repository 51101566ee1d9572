/* The 82540EM's receive path (SDM 3.2): the net layer offers a frame,
 *   e1000_can_receive, e1000_receive_iov -> receive_filter -> RX DMA into
 *   the guest's descriptors (e1000_rx_store) -> set_ics
 * and with no free descriptor the frame waits in the net layer's queue
 * until an RDT write calls net_flush_queued (e1000_flush_rx). */
#include <string.h>

#include "hw/e1000/e1000_int.h"
#include "trace/trace.h"

static uint32_t rx_ring_count(const E1000State *s)
{
    return s->mac_reg[R(E1000_RDLEN)] / sizeof(struct e1000_rx_desc);
}

/* Descriptors the guest has handed to the device: from RDH up to, not
 * including, RDT. A head or tail outside the ring means none (we never
 * guess which descriptors the guest meant). */
static uint32_t rx_free_descs(const E1000State *s)
{
    uint32_t n = rx_ring_count(s);
    uint32_t h = s->mac_reg[R(E1000_RDH)], t = s->mac_reg[R(E1000_RDT)];
    if (n == 0 || h >= n || t >= n) {
        return 0;
    }
    return t >= h ? t - h : n - h + t;
}

static bool e1000_rx_enabled(const E1000State *s)
{
    return (s->mac_reg[R(E1000_RCTL)] & E1000_RCTL_EN) && bus_master(s);
}

/* Packets that waited in the net layer can come in now: one run's worth
 * (E1000_WORK_BUDGET, enforced by e1000_can_receive), the rest from
 * rx_timer. */
void e1000_flush_rx(E1000State *s)
{
    if (s->nic && e1000_rx_enabled(s) && rx_free_descs(s) && !s->rx_flushing) {
        s->rx_work = 0;
        s->rx_flushing = true;
        net_flush_queued(s->nic);
        s->rx_flushing = false;
    }
}

void e1000_rx_continue(void *opaque)
{
    e1000_flush_rx(opaque);
}

void set_rctl(E1000State *s, int index, uint32_t val)
{
    const uint32_t filter = E1000_RCTL_UPE | E1000_RCTL_MPE | E1000_RCTL_BAM | E1000_RCTL_VFE;
    if ((s->mac_reg[index] ^ val) & filter) {
        net_rx_filter_changed(s->nic);
    }
    reg_store(s, index, val);
    e1000_flush_rx(s); /* enabling reception releases what waited */
}

void set_rdt(E1000State *s, int index, uint32_t val)
{
    reg_store(s, index, val);
    e1000_flush_rx(s);
}

void set_rdtr(E1000State *s, int index, uint32_t val)
{
    reg_store(s, index, val);
    /* FPD (write-only): flush the partial descriptor block, i.e. fire the
     * pending receive-timer interrupt now */
    if ((val & E1000_RDTR_FPD) && (timer_pending(s->rdtr_timer) || timer_pending(s->radv_timer))) {
        e1000_rx_irq_fire(s);
    }
}

/* RAL/RAH pairs (SDM 13.4.25): an address is complete when its RAH is
 * written (RAL first, then RAH, as drivers do). */
void set_ra(E1000State *s, int index, uint32_t val)
{
    if (!((index - R(E1000_RA)) & 1)) {
        reg_store(s, index, val); /* RAL */
        return;
    }
    s->mac_reg[index] = val & E1000_RAH_WMASK;
    net_rx_filter_changed(s->nic);
}

void set_mta(E1000State *s, int index, uint32_t val)
{
    if (s->mac_reg[index] != val) {
        net_rx_filter_changed(s->nic);
    }
    s->mac_reg[index] = val;
}

static bool is_vlan_frame(const E1000State *s, const uint8_t *buf, size_t len)
{
    return len >= ETH_HLEN + 4 && ld16be(buf + 12) == (s->mac_reg[R(E1000_VET)] & 0xffff);
}

/* Multicast table index from destination address bits selected by RCTL.MO
 * (SDM 13.4.22 / 13.5.1): 12 bits starting at bit 36, 35, 34 or 32. */
static unsigned mta_hash(uint32_t rctl, const uint8_t *da)
{
    static const unsigned shift[4] = {4, 3, 2, 0};
    unsigned mo = (rctl & E1000_RCTL_MO_MASK) >> E1000_RCTL_MO_SHIFT;
    return ((unsigned)(da[4] | da[5] << 8) >> shift[mo]) & 0xfff;
}

/* Does the frame pass the address and VLAN filters (SDM 3.2.1)? */
static bool receive_filter(E1000State *s, const uint8_t *buf, size_t len, const char **why)
{
    uint32_t rctl = s->mac_reg[R(E1000_RCTL)];

    if ((rctl & E1000_RCTL_VFE) && is_vlan_frame(s, buf, len)) {
        uint16_t tci = ld16be(buf + 14);
        unsigned vid = tci & 0xfff;
        if (!(s->mac_reg[R(E1000_VFTA) + (vid >> 5)] & (1u << (vid & 31)))) {
            *why = "VLAN ID not in VFTA";
            return false;
        }
        if ((rctl & E1000_RCTL_CFIEN) && !!(tci & 0x1000) != !!(rctl & E1000_RCTL_CFI)) {
            *why = "VLAN CFI bit differs from RCTL.CFI";
            return false;
        }
    }
    bool mcast = buf[0] & 1;
    bool bcast = !memcmp(buf, eth_bcast, ETH_ALEN);
    if (!mcast && (rctl & E1000_RCTL_UPE)) {
        *why = "unicast promiscuous (RCTL.UPE)";
        return true;
    }
    if (mcast && (rctl & E1000_RCTL_MPE)) {
        *why = "multicast promiscuous (RCTL.MPE)";
        return true;
    }
    if (bcast && (rctl & E1000_RCTL_BAM)) {
        *why = "broadcast (RCTL.BAM)";
        return true;
    }
    for (int i = 0; i < E1000_RAR_ENTRIES; i++) {
        uint32_t rah = s->mac_reg[R(E1000_RA) + 2 * i + 1];
        uint32_t ral = s->mac_reg[R(E1000_RA) + 2 * i];
        if (!(rah & E1000_RAH_AV) || (rah & E1000_RAH_ASEL_MASK)) {
            continue; /* unused, or matches source addresses */
        }
        uint8_t ra[ETH_ALEN] = {(uint8_t)ral,         (uint8_t)(ral >> 8), (uint8_t)(ral >> 16),
                                (uint8_t)(ral >> 24), (uint8_t)rah,        (uint8_t)(rah >> 8)};
        if (!memcmp(buf, ra, ETH_ALEN)) {
            *why = i ? "exact address match (RAL/RAH[1..15])" : "own address (RAL/RAH[0])";
            return true;
        }
    }
    if (mcast) {
        unsigned h = mta_hash(rctl, buf);
        if (s->mac_reg[R(E1000_MTA) + (h >> 5)] & (1u << (h & 31))) {
            *why = "multicast hash bit set in MTA";
            return true;
        }
    }
    *why = mcast ? "multicast, hash bit clear in MTA" : "unicast to another address";
    return false;
}

/* RXCSUM offloads (SDM 3.2.9) on the frame as stored: IPv4 header checksum
 * (IPOFL) and TCP/UDP checksum (TUOFL), checked for real. IPv6 and IP
 * fragments are beyond the 82540: reported as not checked (IXSM). */
static void rx_checksum(E1000State *s, const uint8_t *p, size_t len, uint8_t *status,
                        uint8_t *errors)
{
    uint32_t rxcsum = s->mac_reg[R(E1000_RXCSUM)];
    size_t off = ETH_HLEN;
    uint8_t st = 0, err = 0;

    if (len >= ETH_HLEN && is_vlan_frame(s, p, len)) {
        off += 4; /* tag left in place (CTRL.VME clear) */
    }
    if ((rxcsum & (E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL)) && len >= off + 20 &&
        ld16be(p + off - 2) == ETH_P_IP && (p[off] >> 4) == 4) {
        const uint8_t *ip = p + off;
        size_t ihl = (size_t)(ip[0] & 0xf) * 4, tot = ld16be(ip + 2);
        if (ihl >= 20 && off + ihl <= len) {
            if (rxcsum & E1000_RXCSUM_IPOFL) {
                st |= E1000_RXD_STAT_IPCS;
                if (csum_fold(csum_add(0, ip, ihl)) != 0xffff) {
                    err |= E1000_RXD_ERR_IPE;
                }
            }
            bool frag = ld16be(ip + 6) & 0x3fff; /* MF or a fragment offset */
            uint8_t proto = ip[9];
            size_t l4len = tot - ihl;
            if ((rxcsum & E1000_RXCSUM_TUOFL) && !frag && tot >= ihl && off + tot <= len &&
                ((proto == IP_PROTO_TCP && l4len >= 20) ||
                 (proto == IP_PROTO_UDP && l4len >= 8 && ld16be(ip + ihl + 6) != 0))) {
                uint64_t sum = csum_add(0, ip + 12, 8); /* source, destination */
                sum += proto + l4len;
                sum = csum_add(sum, ip + ihl, l4len);
                st |= E1000_RXD_STAT_TCPCS;
                if (csum_fold(sum) != 0xffff) {
                    err |= E1000_RXD_ERR_TCPE;
                }
            }
        }
    }
    if (!(st & (E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS))) {
        st |= E1000_RXD_STAT_IXSM;
    }
    *status |= st;
    *errors |= err;
}

/* RCTL.BSIZE / BSEX (SDM 13.4.22). */
static uint32_t rx_buf_size(uint32_t rctl)
{
    static const uint32_t sz[2][4] = {{2048, 1024, 512, 256}, {2048, 16384, 8192, 4096}};
    return sz[!!(rctl & E1000_RCTL_BSEX)][(rctl & E1000_RCTL_SZ_MASK) >> E1000_RCTL_SZ_SHIFT];
}

/* Is there room now? The net layer keeps the frame queued (no drop) while
 * reception is off or the guest has given no descriptor (RDH == RDT). */
bool e1000_can_receive(NetClient *nc)
{
    E1000State *s = nc->opaque;
    if (!e1000_rx_enabled(s)) {
        return false;
    }
    if (s->rx_flushing && s->rx_work >= E1000_WORK_BUDGET) {
        continue_later(s->rx_timer); /* the rest in the next run */
        return false;
    }
    if (!rx_free_descs(s)) {
        stat_inc(s, E1000_RNBC, 1); /* a frame found no buffer (it waits) */
        return false;
    }
    return true;
}

/* Store one frame in guest buffers from RDH on; the caller checked that
 * enough descriptors are free. A descriptor or buffer outside RAM is
 * skipped (the DMA is refused); the ring still advances. */
static void e1000_rx_store(E1000State *s, const uint8_t *buf, size_t total, uint8_t status,
                           uint8_t errors, uint16_t special, uint16_t csum)
{
    uint32_t n = rx_ring_count(s);
    uint64_t base = (uint64_t)s->mac_reg[R(E1000_RDBAH)] << 32 | s->mac_reg[R(E1000_RDBAL)];
    uint32_t bsize = rx_buf_size(s->mac_reg[R(E1000_RCTL)]);
    uint32_t idx = s->mac_reg[R(E1000_RDH)];
    size_t off = 0;

    do {
        uint64_t da = base + (uint64_t)idx * sizeof(struct e1000_rx_desc);
        uint8_t d[16];
        size_t chunk = total - off < bsize ? total - off : bsize;
        bool last = off + chunk == total;
        if (dma_read(s->ram, da, d, sizeof(d)) == 0) {
            TRACE(e1000_dma_write, "RX buffer of descriptor [%u] at %#llx len=%zu%s", idx,
                  (unsigned long long)ld64le(d), chunk, last ? " EOP" : "");
            dma_write(s->ram, ld64le(d), buf + off, chunk);
            /* length, checksum, errors and special first; status (DD) last
             * so that a polling guest never sees DD before the rest */
            st16le(d + 8, (uint16_t)chunk);
            st16le(d + 10, csum);
            d[13] = last ? errors : 0;
            st16le(d + 14, last ? special : 0);
            dma_write(s->ram, da + 8, d + 8, 4);
            dma_write(s->ram, da + 13, d + 13, 3);
            __atomic_thread_fence(__ATOMIC_RELEASE);
            uint8_t st = E1000_RXD_STAT_DD | (last ? (uint8_t)(status | E1000_RXD_STAT_EOP) : 0);
            dma_write(s->ram, da + 12, &st, 1);
        }
        off += chunk;
        idx = (idx + 1) % n;
    } while (off < total);
    s->mac_reg[R(E1000_RDH)] = idx;
}

static ssize_t e1000_receive_frame(E1000State *s, const struct iovec *iov, int iovcnt)
{
    uint32_t rctl = s->mac_reg[R(E1000_RCTL)];
    size_t size = iov_size(iov, iovcnt);
    uint8_t *buf = s->rx_buf;

    if (!e1000_rx_enabled(s)) {
        TRACE(e1000_receive_iov, "len=%zu: RX disabled, waits in the queue", size);
        return 0; /* wait in the queue until RCTL.EN */
    }
    if (!s->link_up) {
        TRACE(e1000_receive_iov, "len=%zu: lost, no carrier", size);
        return size; /* no carrier: lost on the wire */
    }
    if (s->rx_flushing) {
        work_add(&s->rx_work, E1000_FRAME_COST + (uint32_t)(size < 0x20000 ? size : 0x20000));
    }
    TRACE(e1000_receive_iov, "len=%zu RDH=%u RDT=%u", size, s->mac_reg[R(E1000_RDH)],
          s->mac_reg[R(E1000_RDT)]);
    size_t maxlen = (rctl & E1000_RCTL_LPE) ? E1000_MAX_FRAME_LPE : E1000_MAX_FRAME_STD;
    if (size + 4 > maxlen) {
        stat_inc(s, E1000_TPR, 1);
        stat_add64(s, E1000_TORL, size + 4);
        stat_inc(s, E1000_ROC, 1); /* oversize: discarded */
        return size;
    }
    /* short frames come padded to the Ethernet minimum, as from a wire */
    size_t len = size;
    iov_to_buf(iov, iovcnt, buf, len);
    if (len < E1000_MIN_FRAME) {
        memset(buf + len, 0, E1000_MIN_FRAME - len);
        len = E1000_MIN_FRAME;
    }
    const char *why = "";
    bool pass = receive_filter(s, buf, len, &why);
    if (TRACE_ON(e1000_receive_filter)) {
        trace_emit(TRACE_e1000_receive_filter,
                   "%s dst=%02x:%02x:%02x:%02x:%02x:%02x ethertype=%#06x: %s",
                   pass ? "accept" : "reject", buf[0], buf[1], buf[2], buf[3], buf[4], buf[5],
                   ld16be(buf + 12), why);
    }
    if (!pass) {
        stat_inc(s, E1000_TPR, 1);
        stat_add64(s, E1000_TORL, len + 4);
        return size;
    }

    bool strip = (s->mac_reg[R(E1000_CTRL)] & E1000_CTRL_VME) && is_vlan_frame(s, buf, len);
    size_t stored = len - (strip ? 4 : 0);
    size_t total = stored + ((rctl & E1000_RCTL_SECRC) ? 0 : 4);
    uint32_t bsize = rx_buf_size(rctl);
    uint32_t need = (uint32_t)((total + bsize - 1) / bsize);
    uint32_t n = rx_ring_count(s);
    if (n == 0) {
        return 0; /* no ring yet: wait */
    }
    if (need > n - 1) {
        /* could never fit however many buffers the guest gives: the FIFO
         * overflows on the real part */
        stat_inc(s, E1000_MPC, 1);
        set_ics(s, E1000_ICR_RXO);
        return size;
    }
    if (rx_free_descs(s) < need) {
        TRACE(e1000_receive_iov, "len=%zu: %u descriptors free, %u needed: waits for RDT", size,
              rx_free_descs(s), need);
        stat_inc(s, E1000_RNBC, 1);
        return 0; /* wait for RDT to move */
    }

    /* accepted: count it (lengths with FCS, before VLAN stripping) */
    stat_inc(s, E1000_TPR, 1);
    stat_add64(s, E1000_TORL, len + 4);
    stat_inc(s, E1000_GPRC, 1);
    stat_add64(s, E1000_GORCL, len + 4);
    stat_size(s, E1000_PRC64, len + 4);
    if (!memcmp(buf, eth_bcast, ETH_ALEN)) {
        stat_inc(s, E1000_BPRC, 1);
    } else if (buf[0] & 1) {
        stat_inc(s, E1000_MPRC, 1);
    }

    uint32_t fcs = (rctl & E1000_RCTL_SECRC) ? 0 : eth_crc32(buf, len);
    uint8_t status = 0, errors = 0;
    uint16_t special = 0;
    if (strip) {
        special = ld16be(buf + 14);
        memmove(buf + 12, buf + 16, len - 16);
        status |= E1000_RXD_STAT_VP;
    }
    if (!(rctl & E1000_RCTL_SECRC)) {
        buf[stored] = (uint8_t)fcs;
        buf[stored + 1] = (uint8_t)(fcs >> 8);
        buf[stored + 2] = (uint8_t)(fcs >> 16);
        buf[stored + 3] = (uint8_t)(fcs >> 24);
    }
    rx_checksum(s, buf, stored, &status, &errors);
    /* the raw packet checksum from RXCSUM.PCSS, for drivers that want it */
    uint32_t pcss = s->mac_reg[R(E1000_RXCSUM)] & E1000_RXCSUM_PCSS_MASK;
    uint16_t csum = pcss < stored ? csum_fold(csum_add(0, buf + pcss, stored - pcss)) : 0;

    e1000_rx_store(s, buf, total, status, errors, special, csum);

    uint32_t cause = rx_delay_cause(s);
    /* RXDMT0 when the free descriptors fall to RCTL.RDMTS of the ring */
    unsigned rdmts = (rctl & E1000_RCTL_RDMTS_MASK) >> E1000_RCTL_RDMTS_SHIFT;
    if (rx_free_descs(s) <= n >> (rdmts + 1)) {
        cause |= E1000_ICR_RXDMT0;
    }
    set_ics(s, cause);
    return size;
}

/* A frame from the peer. With vnet_hdr it starts with the backend's
 * virtio_net_hdr, which says nothing the NIC needs: no offloads are enabled
 * towards the guest (e1kvm never sets TUNSETOFFLOAD), so frames come whole
 * and with their checksums. */
#define E1000_RX_MAX_IOV 64
ssize_t e1000_receive_iov(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    E1000State *s = nc->opaque;
    if (!s->vnet_hdr) {
        return e1000_receive_frame(s, iov, iovcnt);
    }
    struct iovec v[E1000_RX_MAX_IOV];
    size_t hdr = sizeof(struct virtio_net_hdr), skip = hdr;
    int k = 0;
    for (int i = 0; i < iovcnt; i++) {
        size_t cut = skip < iov[i].iov_len ? skip : iov[i].iov_len;
        skip -= cut;
        if (iov[i].iov_len > cut) {
            if (k == E1000_RX_MAX_IOV) {
                return (ssize_t)iov_size(iov, iovcnt); /* too many pieces: dropped */
            }
            v[k++] = (struct iovec){(char *)iov[i].iov_base + cut, iov[i].iov_len - cut};
        }
    }
    if (skip) {
        return (ssize_t)iov_size(iov, iovcnt); /* shorter than its header */
    }
    ssize_t r = e1000_receive_frame(s, v, k);
    return r > 0 ? r + (ssize_t)hdr : r;
}

/* QMP query-rx-filter: the filter registers as the guest programmed them. */
void e1000_query_rx_filter(NetClient *nc, NetRxFilter *f)
{
    E1000State *s = nc->opaque;
    uint32_t rctl = s->mac_reg[R(E1000_RCTL)];
    memset(f, 0, sizeof(*f));
    f->promiscuous = rctl & E1000_RCTL_UPE;
    f->multicast_all = rctl & E1000_RCTL_MPE;
    f->broadcast_allowed = rctl & E1000_RCTL_BAM;
    f->vlan_filter = rctl & E1000_RCTL_VFE;
    for (int i = 0; i < E1000_RAR_ENTRIES; i++) {
        uint32_t ral = s->mac_reg[R(E1000_RA) + 2 * i], rah = s->mac_reg[R(E1000_RA) + 2 * i + 1];
        uint8_t a[ETH_ALEN] = {(uint8_t)ral,         (uint8_t)(ral >> 8), (uint8_t)(ral >> 16),
                               (uint8_t)(ral >> 24), (uint8_t)rah,        (uint8_t)(rah >> 8)};
        if (i == 0) {
            memcpy(f->main_mac, a, ETH_ALEN);
        } else if ((rah & E1000_RAH_AV) && (a[0] & 1)) {
            memcpy(f->multicast[f->n_multicast++], a, ETH_ALEN);
        } else if (rah & E1000_RAH_AV) {
            memcpy(f->unicast[f->n_unicast++], a, ETH_ALEN);
        }
    }
    memcpy(f->mc_hash, &s->mac_reg[R(E1000_MTA)], sizeof(f->mc_hash));
    memcpy(f->vlan_table, &s->mac_reg[R(E1000_VFTA)], sizeof(f->vlan_table));
}
