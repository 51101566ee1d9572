/* virtio-pmd: the poll-mode measurement of e1000-pmd.c against a virtio-net
 * device, so that bench/pmd.sh can put the paravirtual reference (QEMU's
 * virtio-net-pci, vhost off) next to the emulated e1000s with the same
 * workload: a driver in guest user space, rings in hugepages, no
 * interrupts, one doorbell (queue notify) per burst of 32, as DPDK's virtio
 * PMD works.
 *
 * It drives the virtio 1.x PCI interface (the "modern" one, which
 * transitional and modern-only devices both have; Virtual I/O Device
 * specification 1.1, section 4.1): the vendor-specific PCI capabilities
 * locate the common configuration, the notification area and the device
 * configuration in the BARs, mapped through sysfs resourceN. One split
 * virtqueue per direction (queue 0 receive, 1 transmit), feature
 * VIRTIO_F_VERSION_1 only: every buffer starts with the 12-byte
 * virtio_net_hdr_v1 (all zero on transmit: no offloads), no control queue
 * (QEMU's virtio-net is promiscuous until a driver says otherwise).
 *
 *   virtio-pmd [options] tx SIZE SECONDS    send SIZE-byte UDP/IPv4 frames
 *   virtio-pmd [options] rx SECONDS [SIZE]  count received frames
 *
 * Output: the same E1KVM-RESULT/E1KVM-MARK lines as e1000-pmd (pmd_run,
 * pmd-begin, pmd-end, pmd_tx_pps / pmd_rx_pps, ...). The ring size is the
 * device's maximum if that is smaller than asked (QEMU: 256).
 *
 * -F: read the device status (common configuration) after each notify, the
 * counterpart of e1000-pmd's STATUS read: one exit per burst.
 *
 * Built static by tests/guest/mkguest.sh, installed as /bin/virtio-pmd. */
#define PMD_NAME "virtio-pmd"
#include "pmd.h"

#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_NET_TRANSITIONAL 0x1000
#define VIRTIO_NET_MODERN 0x1041

/* PCI capabilities (4.1.4): vendor-specific ones describe the structures */
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_VNDR 0x09
enum { CFG_COMMON = 1, CFG_NOTIFY = 2, CFG_ISR = 3, CFG_DEVICE = 4 };

/* struct virtio_pci_common_cfg (4.1.4.3) */
enum {
    CC_DFSELECT = 0x00,
    CC_DF = 0x04,
    CC_GFSELECT = 0x08,
    CC_GF = 0x0c,
    CC_MSIX = 0x10,
    CC_NUMQ = 0x12,
    CC_STATUS = 0x14,
    CC_Q_SELECT = 0x16,
    CC_Q_SIZE = 0x18,
    CC_Q_MSIX = 0x1a,
    CC_Q_ENABLE = 0x1c,
    CC_Q_NOFF = 0x1e,
    CC_Q_DESC = 0x20,
    CC_Q_AVAIL = 0x28,
    CC_Q_USED = 0x30,
};
#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define NO_VECTOR 0xffff
#define F_VERSION_1_HI 1u /* feature bit 32: bit 0 of the second word */

/* split virtqueue (2.6) */
struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
#define DESC_F_WRITE 2
struct vq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
};
#define AVAIL_F_NO_INTERRUPT 1
struct vq_used_elem {
    uint32_t id;
    uint32_t len;
};
struct vq_used {
    uint16_t flags;
    uint16_t idx;
    struct vq_used_elem ring[];
};
#define USED_F_NO_NOTIFY 1

#define NET_HDR_LEN 12 /* struct virtio_net_hdr_v1 */
#define BUF_SIZE 2048
#define MAX_RING 1024
#define RXQ 0
#define TXQ 1

typedef struct Vq {
    unsigned n;
    volatile struct vq_desc *desc;
    volatile struct vq_avail *avail;
    volatile struct vq_used *used;
    volatile uint16_t *notify;
    uint16_t avail_idx, used_seen, index;
    uint8_t *buf[MAX_RING];
    uint64_t pa[MAX_RING];
} Vq;

static volatile uint8_t *common; /* common configuration, NULL until mapped */
static volatile uint8_t *bars[6];
static size_t bar_size[6];
static volatile uint8_t *notify_base;
static uint32_t notify_mult, notify_len;

static uint8_t cc_rd8(unsigned off)
{
    mmio_reads++;
    return common[off];
}

static uint16_t cc_rd16(unsigned off)
{
    mmio_reads++;
    return *(volatile uint16_t *)(common + off);
}

static uint32_t cc_rd32(unsigned off)
{
    mmio_reads++;
    return *(volatile uint32_t *)(common + off);
}

static void cc_wr8(unsigned off, uint8_t v)
{
    mmio_writes++;
    common[off] = v;
}

static void cc_wr16(unsigned off, uint16_t v)
{
    mmio_writes++;
    *(volatile uint16_t *)(common + off) = v;
}

static void cc_wr32(unsigned off, uint32_t v)
{
    mmio_writes++;
    *(volatile uint32_t *)(common + off) = v;
}

/* 64-bit fields as two 32-bit writes, low first (4.1.3.1 allows it) */
static void cc_wr64(unsigned off, uint64_t v)
{
    cc_wr32(off, (uint32_t)v);
    cc_wr32(off + 4, (uint32_t)(v >> 32));
}

/* Device reset stops all DMA (4.1.4.3.2: reading 0 back says it is done). */
static void pmd_quiesce(void)
{
    if (common) {
        common[CC_STATUS] = 0;
        for (int i = 0; i < 1000 && common[CC_STATUS] != 0; i++) {
        }
    }
    pci_bus_master_off();
}

static void usage(void)
{
    fprintf(stderr,
            "usage: %s [options] tx SIZE SECONDS\n"
            "       %s [options] rx SECONDS [SIZE]\n"
            "  -p BDF      the NIC (default: the first virtio-net, 1af4:1000 or 1af4:1041)\n"
            "  -n N        descriptors per queue, a power of two 64..%d, at most the device's\n"
            "              (default 512)\n"
            "  -b N        burst: buffers per notify (default 32)\n"
            "  -D MAC      tx: destination MAC (default ff:ff:ff:ff:ff:ff)\n"
            "  -d IP       tx: destination IPv4 (default 10.77.0.1)\n"
            "  -s IP       tx: source IPv4 (default 10.77.0.2)\n"
            "  -P PORT     tx: UDP destination port (default 9, discard)\n"
            "  -F          read the device status after each notify\n"
            "SIZE: frame bytes without FCS, 60..1514.\n",
            prog, prog, MAX_RING);
    exit(2);
}

/* ------------------------------------------------------------------------ */
/* Finding the structures (4.1.4)                                           */

static volatile uint8_t *bar_at(const char *bdf, unsigned bar, uint32_t off, uint32_t len)
{
    if (bar > 5) {
        die("virtio capability names BAR %u", bar);
    }
    if (!bars[bar]) {
        bars[bar] = map_bar(bdf, bar, 0, &bar_size[bar]);
    }
    if ((uint64_t)off + len > bar_size[bar]) {
        die("virtio structure at BAR%u+0x%x (%u bytes) beyond the BAR (%zu bytes)", bar, off, len,
            bar_size[bar]);
    }
    return bars[bar] + off;
}

static void find_structures(const char *bdf, uint8_t mac[6])
{
    uint8_t cfg[256];
    pci_cfg_read(cfg, sizeof(cfg), 0);
    if (!(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST)) {
        die("%s has no PCI capabilities: not a virtio 1.x device", bdf);
    }
    volatile uint8_t *device = NULL;
    unsigned p = cfg[PCI_CAP_PTR] & ~3u;
    for (int guard = 0; p >= 0x40 && p <= 256 - 20 && guard < 48; guard++) {
        if (cfg[p] == PCI_CAP_ID_VNDR) {
            unsigned type = cfg[p + 3], bar = cfg[p + 4];
            uint32_t off, len;
            memcpy(&off, &cfg[p + 8], 4);
            memcpy(&len, &cfg[p + 12], 4);
            if (type == CFG_COMMON && !common && len >= 0x38) {
                common = bar_at(bdf, bar, off, len);
            } else if (type == CFG_NOTIFY && !notify_base) {
                notify_base = bar_at(bdf, bar, off, len);
                notify_len = len;
                memcpy(&notify_mult, &cfg[p + 16], 4);
            } else if (type == CFG_DEVICE && !device && len >= 6) {
                device = bar_at(bdf, bar, off, len);
            }
        }
        p = cfg[p + 1] & ~3u;
    }
    if (!common || !notify_base) {
        die("%s: no virtio common configuration or notification capability", bdf);
    }
    /* struct virtio_net_config starts with the MAC (used as the source) */
    for (int i = 0; i < 6; i++) {
        mac[i] = device ? device[i] : 0;
    }
}

/* ------------------------------------------------------------------------ */
/* Device initialization (3.1.1)                                            */

static void device_init(void)
{
    cc_wr8(CC_STATUS, 0); /* reset */
    for (int i = 0; cc_rd8(CC_STATUS) != 0; i++) {
        if (i > 1000) {
            die("device does not come out of reset");
        }
        sleep_ms(1);
    }
    cc_wr8(CC_STATUS, STATUS_ACKNOWLEDGE);
    cc_wr8(CC_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    cc_wr32(CC_DFSELECT, 1);
    if (!(cc_rd32(CC_DF) & F_VERSION_1_HI)) {
        die("device does not offer VIRTIO_F_VERSION_1");
    }
    cc_wr32(CC_GFSELECT, 0);
    cc_wr32(CC_GF, 0);
    cc_wr32(CC_GFSELECT, 1);
    cc_wr32(CC_GF, F_VERSION_1_HI);
    cc_wr8(CC_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    if (!(cc_rd8(CC_STATUS) & STATUS_FEATURES_OK)) {
        die("device refused the features (VIRTIO_F_VERSION_1 alone)");
    }
    cc_wr16(CC_MSIX, NO_VECTOR); /* we poll */
    if (cc_rd16(CC_NUMQ) < 2) {
        die("device has fewer than 2 queues");
    }
}

/* One split virtqueue with n buffers of BUF_SIZE, each behind its own
 * descriptor (descriptor i always points at buffer i). */
static void vq_setup(Vq *q, unsigned index, unsigned want, Dma *dma, bool device_writes)
{
    cc_wr16(CC_Q_SELECT, (uint16_t)index);
    unsigned max = cc_rd16(CC_Q_SIZE);
    if (max == 0) {
        die("queue %u does not exist", index);
    }
    unsigned n = want < max ? want : max;
    if (n & (n - 1)) {
        die("queue %u: size %u is not a power of two", index, n);
    }
    q->n = n;
    q->index = (uint16_t)index;
    q->desc = dma_alloc(dma, 16 * n, 4096);
    q->avail = dma_alloc(dma, 6 + 2 * n, 4096);
    q->used = dma_alloc(dma, 6 + 8 * n, 4096);
    for (unsigned i = 0; i < n; i++) {
        q->buf[i] = dma_alloc(dma, BUF_SIZE, BUF_SIZE);
        q->pa[i] = dma_pa(dma, q->buf[i]);
        q->desc[i].addr = q->pa[i];
        q->desc[i].len = device_writes ? BUF_SIZE : 0;
        q->desc[i].flags = device_writes ? DESC_F_WRITE : 0;
        q->desc[i].next = 0;
    }
    q->avail->flags = AVAIL_F_NO_INTERRUPT;
    q->avail_idx = q->used_seen = 0;
    cc_wr16(CC_Q_SIZE, (uint16_t)n);
    cc_wr16(CC_Q_MSIX, NO_VECTOR);
    cc_wr64(CC_Q_DESC, dma_pa(dma, (void *)q->desc));
    cc_wr64(CC_Q_AVAIL, dma_pa(dma, (void *)q->avail));
    cc_wr64(CC_Q_USED, dma_pa(dma, (void *)q->used));
    uint64_t noff = (uint64_t)cc_rd16(CC_Q_NOFF) * notify_mult;
    if (noff + 2 > notify_len) {
        die("queue %u: notify offset 0x%" PRIx64 " beyond the notification area (%u bytes)", index,
            noff, notify_len);
    }
    q->notify = (volatile uint16_t *)(notify_base + noff);
    cc_wr16(CC_Q_ENABLE, 1);
}

/* ------------------------------------------------------------------------ */
/* The poll loops                                                           */

static double rx_enabled_at;

/* Publish the new avail index and ring the doorbell unless the device said
 * it does not need it (USED_F_NO_NOTIFY: it is still working the queue).
 * The full barrier orders our index store before the flags load. */
static void vq_kick(Vq *q)
{
    barrier();
    q->avail->idx = q->avail_idx;
    __sync_synchronize();
    if (!(q->used->flags & USED_F_NO_NOTIFY)) {
        mmio_writes++;
        *q->notify = q->index;
        if (flush_reads) {
            (void)cc_rd8(CC_STATUS);
        }
    }
}

static void run_tx(Vq *q, unsigned size, unsigned secs)
{
    unsigned n = q->n, free = n;
    uint64_t sent = 0, waits = 0;

    for (unsigned i = 0; i < n; i++) {
        q->desc[i].len = NET_HDR_LEN + size;
    }
    uint64_t w0 = mmio_writes, r0 = mmio_reads;
    window_open(size, secs);
    double t0 = now_s();
    while (!stop) {
        uint16_t u = q->used->idx;
        free += (uint16_t)(u - q->used_seen);
        q->used_seen = u;
        if (free < burst) {
            waits++; /* the device has not got that far yet */
            continue;
        }
        for (unsigned i = 0; i < burst; i++) {
            uint16_t slot = q->avail_idx % n;
            q->avail->ring[slot] = slot; /* descriptor i carries buffer i */
            q->avail_idx++;
        }
        free -= burst;
        vq_kick(q);
        sent += burst;
    }
    double t1 = now_s();
    window_close();
    uint64_t win_writes = mmio_writes - w0, win_reads = mmio_reads - r0;

    /* drain: everything handed over comes back used (bounded: 2 s) */
    double td = now_s();
    while (q->used->idx != q->avail_idx && now_s() - td < 2) {
    }
    bool drained = q->used->idx == q->avail_idx;
    out("E1KVM-MARK pmd-end %s %u", run_name, size);

    double dt = t1 - t0;
    report_tx(sent, size, dt, win_writes, win_reads);
    out("E1KVM-RESULT pmd_tx_used_waits %" PRIu64, waits);
    out("E1KVM-RESULT pmd_tx_drained %d used=%u avail=%u", drained, q->used->idx, q->avail_idx);
}

static void run_rx(Vq *q, unsigned secs, unsigned size)
{
    unsigned n = q->n, hold = 0;
    uint64_t pkts = 0, bytes = 0, bad_len = 0, bad_id = 0, bad_data = 0, polls = 0;

    uint64_t w0 = mmio_writes, r0 = mmio_reads;
    window_open(size, 30); /* the first frame must come within 30 s */
    double t0 = 0;
    bool started = false;
    while (!stop) {
        if (q->used->idx == q->used_seen) {
            polls++;
            continue;
        }
        barrier(); /* the element after the index (x86 keeps loads in order) */
        if (!started) {
            t0 = now_s();
            alarm(secs);
            signals = 0;
            started = true;
        }
        volatile struct vq_used_elem *e = &q->used->ring[q->used_seen % n];
        uint32_t id = e->id, len = e->len;
        q->used_seen++;
        if (id >= n) {
            bad_id++;
            continue; /* not ours: cannot be given back */
        }
        unsigned flen = len >= NET_HDR_LEN ? len - NET_HDR_LEN : 0;
        if (size && flen != size) {
            bad_len++;
        }
        const uint8_t *f = q->buf[id] + NET_HDR_LEN;
        if (flen < 14 || f[12] != 0x08 || f[13] != 0x00) {
            bad_data++;
        }
        pkts++;
        bytes += flen;
        q->avail->ring[q->avail_idx % n] = (uint16_t)id;
        q->avail_idx++;
        if (++hold >= burst) {
            vq_kick(q);
            hold = 0;
        }
    }
    double t1 = now_s();
    window_close();
    uint64_t win_writes = mmio_writes - w0, win_reads = mmio_reads - r0;
    out("E1KVM-MARK pmd-end %s %u", run_name, size);

    double dt = started ? t1 - t0 : 0;
    report_rx(pkts, bytes, dt, started ? t0 - rx_enabled_at : -1.0, win_writes, win_reads, polls);
    out("E1KVM-RESULT pmd_rx_bad %" PRIu64 " len=%" PRIu64 " id=%" PRIu64 " data=%" PRIu64,
        bad_len + bad_id + bad_data, bad_len, bad_id, bad_data);
    if (!started) {
        die("no frame received within 30 s");
    }
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static Vq rxq, txq;
    PmdArgs args;
    pmd_parse_args(argc, argv, &args, MAX_RING);
    FrameSpec fs = args.fs;
    bool tx = args.tx;
    unsigned size = args.size, secs = args.secs, ring = args.ring;
    if (ring & (ring - 1)) {
        fprintf(stderr, "%s: ring size %u is not a power of two\n", prog, ring);
        usage();
    }
    watchdog_setup(60); /* setup runs in the emulated guest kernel: slow */

    double t_start = now_s();
    char bdf[256];
    static const unsigned ids[] = {VIRTIO_NET_MODERN, VIRTIO_NET_TRANSITIONAL, 0};
    find_pci(bdf, sizeof(bdf), args.bdf, VIRTIO_VENDOR, ids, "virtio-net");
    claim_device(bdf);
    uint8_t mac[6];
    find_structures(bdf, mac);
    device_init();

    /* two queues of at most MAX_RING buffers of 2 KiB plus their rings */
    Dma dma;
    size_t need = 2 * ((size_t)ring * BUF_SIZE + 3 * 4096 + 24 * (size_t)ring);
    dma_init(&dma, (unsigned)((need + HUGE_SZ - 1) / HUGE_SZ) + 1);
    /* both queues exist (the device wants them); only one direction runs */
    vq_setup(&rxq, RXQ, ring, &dma, true);
    vq_setup(&txq, TXQ, ring, &dma, false);
    Vq *q = tx ? &txq : &rxq;
    if (burst > q->n / 2) {
        die("burst %u is more than half the queue (%u)", burst, q->n);
    }
    memcpy(fs.src, mac, 6);
    for (unsigned i = 0; tx && i < q->n; i++) {
        memset(q->buf[i], 0, NET_HDR_LEN); /* no offloads */
        build_frame(q->buf[i] + NET_HDR_LEN, size, &fs);
    }
    cc_wr8(CC_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
    if (!tx) {
        /* every receive buffer to the device at once */
        for (unsigned i = 0; i < q->n; i++) {
            q->avail->ring[i] = (uint16_t)i;
        }
        q->avail_idx = (uint16_t)q->n;
        vq_kick(q);
        rx_enabled_at = now_s();
    }
    out("E1KVM-RESULT pmd_nic %s mac=%02x:%02x:%02x:%02x:%02x:%02x ring=%u burst=%u "
        "hugepages=%zu setup_mmio=%" PRIu64 "w/%" PRIu64 "r setup_s=%.2f",
        bdf, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], q->n, burst, dma.len / HUGE_SZ,
        mmio_writes, mmio_reads, now_s() - t_start);
    alarm(0);

    if (tx) {
        run_tx(q, size, secs);
    } else {
        run_rx(q, secs, size);
    }
    pmd_quiesce();
    return 0;
}
