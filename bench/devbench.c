/* devbench: what one packet costs in the e1000 model, measured on the host
 * alone (results and method in docs/DEVBENCH.md).
 *
 * One e1000 is realized through the object model exactly as
 * "-device e1000,netdev=..." does, on a machine that has no KVM and no vCPU:
 * guest RAM is an anonymous mapping (as the VMM maps it), the interrupt line
 * is a counter, and the backend (the netdev the NIC is paired with) only
 * counts what the NIC hands it. A small "driver" in this file programs the
 * device as Linux's e1000 driver does and then times the device side:
 *
 *   RX   frames come in through the net layer as a TAP read delivers them
 *        (net_send from the backend -> e1000_can_receive/e1000_receive_iov);
 *        every 32 frames the driver takes the descriptors back, refills them
 *        and writes RDT, and reads ICR as its interrupt handler would.
 *   TX   descriptors and buffers are written into guest RAM beforehand; the
 *        timed part is the TDT write (once per packet, as Linux does, or once
 *        per 32 packets, as DPDK does) and everything the device does for it.
 *   TSO  a 64 KiB TCP/IPv4 send cut into 45 segments of MSS 1448, with the
 *        descriptors Linux's e1000_tso/e1000_tx_map build.
 *
 * Register accesses go through the same path as a vCPU's MMIO exit
 * (vcpu.c handle_mmio): device lock, exit statistics, address-space dispatch
 * to BAR0. Everything the device produced is checked: byte for byte against
 * independently built frames in a verification pass before and after the
 * timed runs, and by counts (frames, bytes, statistics registers, DD bits,
 * TDH) after every timed run. A check that fails ends the program with exit
 * status 1 and says why, so a broken model cannot print a fast number.
 *
 * With --vnet the backend carries virtio-net headers (as -netdev tap does
 * by default): every frame comes with one, checked too, and a TSO send
 * leaves as one GSO frame instead of 45 segments (e1000 gso=on).
 *
 *   devbench [--quick] [--vnet] [--only=SUBSTRING] [--cpu=N] [--reps=N]
 */
#include <errno.h>
#include <linux/virtio_net.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/machine.h"
#include "core/memory.h"
#include "hw/e1000/e1000_regs.h"
#include "hw/pci.h"
#include "net/net.h"
#include "qom/object.h"
#include "trace/stats.h"
#include "trace/trace.h"

/* ------------------------------------------------------------------------ */
/* The fake guest                                                           */

/* A 1 GiB guest; rings and buffers at addresses a Linux guest could use:
 * rings from dma_alloc_coherent, RX buffers as the e1000 driver's page
 * fragments (2048 + NET_SKB_PAD headroom + shared info = 2432 bytes apart,
 * data 64 bytes in), TX frames in skb heads, TSO payload in 32 KiB pages. */
#define RAM_SIZE (1ull << 30)
#define RING 256 /* descriptors per ring (the Linux driver's default) */
#define RX_RING_GPA 0x0364a000ull
#define TX_RING_GPA 0x0364b000ull
#define RX_POOL 1024 /* buffers the driver cycles through */
#define RX_POOL_GPA 0x1a000000ull
#define RX_STRIDE 2432
#define RX_HEADROOM 64
#define TX_BUF_GPA 0x1c000000ull /* frame k at + k * 2048 + 128 */
#define TSO_HDR_GPA 0x1e000000ull
#define TSO_DATA_GPA 0x20000000ull /* send j: two 32 KiB pages at + j * 64 KiB */
#define BURST 32                   /* RX refill, DPDK TX burst, ICR reads */

/* TSO: what Linux sends for a 64 KiB write on a connection with TCP
 * timestamps and a 1500-byte MTU */
#define TSO_HDR 66 /* Ethernet 14 + IPv4 20 + TCP 20 + timestamps 12 */
#define TSO_MSS 1448
#define TSO_SEGS 45
#define TSO_PAYLOAD (TSO_SEGS * TSO_MSS) /* 65160: 64 KiB rounded down to MSS */
#define TSO_DESCS 19                     /* context + header + 17 data, see tso_descs */
#define TSO_SENDS_PER_LAP (255 / TSO_DESCS)

static const uint8_t NIC_MAC[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t HOST_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

static Machine machine;
static uint8_t *ram;
static PCIDevice *dev;
static Object *nic_obj;
static NetClient *backend;
static uint64_t bar0;
static int irq_level;
static uint64_t irq_raises;

static const char *cur_case = "setup";

static void __attribute__((format(printf, 1, 2), noreturn)) fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "devbench: FAILED in case '%s': ", cur_case);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

static uint8_t *gpa(uint64_t a)
{
    return ram + a;
}

/* ---- byte helpers and checksums (independent of the model's own) ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint64_t sum16(const uint8_t *p, size_t len, uint64_t sum)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    if (i < len) {
        sum += (uint32_t)p[i] << 8;
    }
    return sum;
}

static uint16_t fold(uint64_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}

static uint64_t pseudo4(const uint8_t *ip, uint8_t proto, size_t l4len)
{
    return sum16(ip + 12, 8, 0) + proto + l4len;
}

/* bit by bit: slow and obviously right, used only when verifying */
static uint32_t crc32_bitwise(const uint8_t *p, size_t len)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        }
    }
    return ~c;
}

/* ---- frames ---- */

/* Ethernet + IPv4 + UDP of exactly @len bytes (>= 42), checksums right. */
static void build_udp4(uint8_t *p, size_t len, const uint8_t *dst, const uint8_t *src,
                       uint16_t ip_id)
{
    memset(p, 0, len);
    memcpy(p, dst, 6);
    memcpy(p + 6, src, 6);
    put16(p + 12, 0x0800);
    uint8_t *ip = p + 14, *udp = ip + 20;
    size_t l4 = len - 34;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + l4));
    put16(ip + 4, ip_id);
    put16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = 17;
    put32(ip + 12, 0x0a000202); /* 10.0.2.2 -> 10.0.2.15 */
    put32(ip + 16, 0x0a00020f);
    put16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
    put16(udp, 40000);
    put16(udp + 2, 9); /* discard */
    put16(udp + 4, (uint16_t)l4);
    for (size_t i = 8; i < l4; i++) {
        udp[i] = (uint8_t)(i * 7 + ip_id);
    }
    uint16_t c = (uint16_t)~fold(sum16(udp, l4, pseudo4(ip, 17, l4)));
    put16(udp + 6, c ? c : 0xffff);
}

typedef struct Frame {
    uint8_t *data;
    size_t len;
} Frame;

/* ------------------------------------------------------------------------ */
/* The machine, the backend, register access                                */

static void bench_set_gsi(void *opaque, int gsi, int level)
{
    (void)opaque;
    (void)gsi;
    if (level && !irq_level) {
        irq_raises++; /* a KVM_IRQ_LINE ioctl in the VMM */
    }
    irq_level = level;
}

/* What the backend was given. In verify mode every frame is compared with
 * the one expected at its position (ref[frames % nref]). */
static struct {
    uint64_t frames, bytes;
    bool verify;
    const Frame *ref;
    size_t nref;
    uint64_t bad;
    char why[256];
} peer;

static uint8_t peer_scratch[NET_MAX_PACKET];

/* --vnet: the backend has a virtio_net_hdr per frame; frames must carry the
 * one in peer.vh (a zero one unless the case is a GSO hand-off) */
static bool vnet;
static struct virtio_net_hdr peer_vh;

static ssize_t peer_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    size_t len = 0, hdr = nc->vnet_hdr_len;
    for (int i = 0; i < iovcnt; i++) {
        len += iov[i].iov_len;
    }
    if (len < hdr) {
        peer.bad++;
        snprintf(peer.why, sizeof(peer.why), "frame %llu: shorter than its vnet header",
                 (unsigned long long)peer.frames);
        return (ssize_t)len;
    }
    if (hdr && peer.verify && !peer.bad) {
        struct virtio_net_hdr got;
        size_t off = 0;
        for (int i = 0; i < iovcnt && off < sizeof(got); i++) {
            size_t n = iov[i].iov_len < sizeof(got) - off ? iov[i].iov_len : sizeof(got) - off;
            memcpy((uint8_t *)&got + off, iov[i].iov_base, n);
            off += n;
        }
        if (memcmp(&got, &peer_vh, sizeof(got)) != 0) {
            peer.bad++;
            snprintf(peer.why, sizeof(peer.why),
                     "frame %llu: vnet header flags %#x gso %#x hdr_len %u gso_size %u csum %u+%u, "
                     "expected %#x %#x %u %u %u+%u",
                     (unsigned long long)peer.frames, got.flags, got.gso_type, got.hdr_len,
                     got.gso_size, got.csum_start, got.csum_offset, peer_vh.flags, peer_vh.gso_type,
                     peer_vh.hdr_len, peer_vh.gso_size, peer_vh.csum_start, peer_vh.csum_offset);
        }
    }
    len -= hdr;
    if (peer.verify && !peer.bad) {
        size_t off = 0, skip = hdr;
        for (int i = 0; i < iovcnt; i++) {
            size_t cut = skip < iov[i].iov_len ? skip : iov[i].iov_len;
            skip -= cut;
            memcpy(peer_scratch + off, (const uint8_t *)iov[i].iov_base + cut,
                   iov[i].iov_len - cut);
            off += iov[i].iov_len - cut;
        }
        const Frame *want = &peer.ref[peer.frames % peer.nref];
        if (len != want->len) {
            peer.bad++;
            snprintf(peer.why, sizeof(peer.why), "frame %llu: %zu bytes, expected %zu",
                     (unsigned long long)peer.frames, len, want->len);
        } else if (memcmp(peer_scratch, want->data, len) != 0) {
            size_t at = 0;
            while (peer_scratch[at] == want->data[at]) {
                at++;
            }
            peer.bad++;
            snprintf(peer.why, sizeof(peer.why),
                     "frame %llu (%zu bytes) differs from the expected one at byte %zu "
                     "(%#04x, expected %#04x)",
                     (unsigned long long)peer.frames, len, at, peer_scratch[at], want->data[at]);
        }
    }
    peer.frames++;
    peer.bytes += len;
    return (ssize_t)(len + hdr);
}

static bool peer_has_vnet(NetClient *nc)
{
    (void)nc;
    return vnet;
}

static void peer_using_vnet(NetClient *nc, bool enable)
{
    net_link_set_vnet_hdr_len(nc, enable && vnet ? sizeof(struct virtio_net_hdr) : 0);
}

static const NetClientInfo peer_info = {
    .type = "devbench",
    .kind = NET_CLIENT_BACKEND,
    .receive_iov = peer_receive,
    .has_vnet_hdr = peer_has_vnet,
    .using_vnet_hdr = peer_using_vnet,
};

static uint64_t sent_cb_calls;

static void peer_sent_cb(NetClient *nc)
{
    (void)nc;
    sent_cb_calls++; /* a frame had been queued at the NIC: must not happen here */
}

/* A guest register access as a vCPU exit delivers it (vcpu.c handle_mmio). */
static void mmio_access(uint32_t reg, uint32_t *val, bool write)
{
    uint64_t addr = bar0 + reg, off = addr;
    device_lock();
    MemoryRegion *mr = address_space_find(&machine.mmio, addr, &off);
    exitstats_record(mr, off, false, write);
    if (write) {
        address_space_write(&machine.mmio, addr, val, 4);
    } else {
        address_space_read(&machine.mmio, addr, val, 4);
    }
    if (TRACE_ON(vcpu_exit)) {
        trace_emit(TRACE_vcpu_exit, "MMIO %s addr=%#llx size=4 data=%#x region=%s+%#llx",
                   write ? "write" : "read", (unsigned long long)addr, *val, mr ? mr->name : "-",
                   (unsigned long long)off);
    }
    device_unlock();
}

static void wr(uint32_t reg, uint32_t val)
{
    mmio_access(reg, &val, true);
}

static uint32_t rd(uint32_t reg)
{
    uint32_t v = 0;
    mmio_access(reg, &v, false);
    return v;
}

static void machine_create(void)
{
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
               -1, 0);
    if (ram == MAP_FAILED) {
        fail("cannot map %llu MiB of guest RAM: %s", RAM_SIZE >> 20, strerror(errno));
    }
    machine.ram.range[0] = (GuestMemRange){.gpa = 0, .size = RAM_SIZE, .host = ram};
    machine.ram.nranges = 1;
    machine.ram.total = RAM_SIZE;
    address_space_init(&machine.mmio, "mmio");
    address_space_init(&machine.pio, "pio");
    machine.pci = pci_bus_new(&machine.mmio, &machine.pio, bench_set_gsi, NULL);

    backend = net_client_new(&peer_info, "devbench0", NULL);
    net_backend_register(backend);
    Error err = {{0}};
    nic_obj = object_new_from_opts("e1000,netdev=devbench0", TYPE_KIND_DEVICE, &err);
    if (!nic_obj || nic_obj->type->realize(nic_obj, &machine, &err) < 0) {
        fail("cannot realize the e1000: %s", err.msg);
    }
    for (int slot = 0; slot < PCI_MAX_DEVICES && !dev; slot++) {
        PCIDevice *d = pci_bus_device(machine.pci, slot);
        if (d && pci_config_read(d, PCI_VENDOR_ID, 2) == E1000_VENDOR_INTEL &&
            pci_config_read(d, PCI_DEVICE_ID, 2) == E1000_DEV_ID_82540EM) {
            dev = d;
        }
    }
    if (!dev) {
        fail("no e1000 on the PCI bus");
    }
    /* what the driver's probe does: memory, I/O and bus mastering on; the
     * firmware (the VMM) assigned the BARs */
    pci_config_write(dev, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    if (!dev->bar[0].region.mapped) {
        fail("BAR0 is not mapped");
    }
    bar0 = dev->bar[0].region.addr;
}

static void machine_destroy(void)
{
    wr(E1000_CTRL, E1000_CTRL_RST);
    if (backend->peer) {
        net_client_free(backend->peer);
    }
    net_client_free(backend);
    object_free(nic_obj);
    munmap(ram, RAM_SIZE);
}

/* ------------------------------------------------------------------------ */
/* The driver                                                               */

static struct {
    uint32_t rdt, next_clean, next_buf;
    uint32_t tdt;
} drv;

static uint64_t rx_buf_gpa(uint32_t k)
{
    return RX_POOL_GPA + (uint64_t)(k % RX_POOL) * RX_STRIDE + RX_HEADROOM;
}

/* e1000_reset + e1000_configure (tx, rx) + e1000_irq_enable, in the order
 * Linux does them; interrupt moderation off (ITR, TIDV, TADV, RDTR, RADV 0)
 * so that no timer is involved. Linux's RCTL: no SECRC (the driver drops
 * the FCS itself); @secrc asks the device to strip it (as DPDK does). */
static void driver_open(bool secrc)
{
    wr(E1000_CTRL, E1000_CTRL_RST);
    wr(E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_FD);
    for (uint32_t i = 0; i < 128; i++) {
        wr(E1000_MTA + 4 * i, 0);
    }
    wr(E1000_IMC, 0xffffffffu);
    (void)rd(E1000_ICR);

    memset(gpa(TX_RING_GPA), 0, RING * 16);
    wr(E1000_TDBAL, (uint32_t)TX_RING_GPA);
    wr(E1000_TDBAH, 0);
    wr(E1000_TDLEN, RING * 16);
    wr(E1000_TDH, 0);
    wr(E1000_TDT, 0);
    wr(E1000_TIPG, 8 | 8 << 10 | 6 << 20);
    wr(E1000_TIDV, 0);
    wr(E1000_TADV, 0);
    wr(E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP | E1000_TCTL_RTLC | 0x0F << 4 | 0x3F << 12);
    drv.tdt = 0;

    wr(E1000_RDTR, 0);
    wr(E1000_RADV, 0);
    wr(E1000_ITR, 0);
    wr(E1000_RDBAL, (uint32_t)RX_RING_GPA);
    wr(E1000_RDBAH, 0);
    wr(E1000_RDLEN, RING * 16);
    wr(E1000_RDH, 0);
    wr(E1000_RDT, 0);
    wr(E1000_RXCSUM, rd(E1000_RXCSUM) | E1000_RXCSUM_TUOFL);
    wr(E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_LBM_NO | E1000_RCTL_RDMTS_HALF |
                       E1000_RCTL_SZ_2048 | (secrc ? E1000_RCTL_SECRC : 0));
    /* e1000_alloc_rx_buffers: all but the last BURST descriptors, so that
     * the ring never runs dry while BURST frames wait to be cleaned */
    for (uint32_t i = 0; i < RING; i++) {
        struct e1000_rx_desc d = {.buffer_addr = rx_buf_gpa(i)};
        memcpy(gpa(RX_RING_GPA + 16 * i), &d, sizeof(d));
    }
    drv.next_buf = RING;
    drv.next_clean = 0;
    drv.rdt = RING - BURST;
    wr(E1000_RDT, drv.rdt);

    wr(E1000_IMS,
       E1000_IMS_RXT0 | E1000_IMS_TXDW | E1000_IMS_RXDMT0 | E1000_IMS_RXSEQ | E1000_IMS_LSC);
    (void)rd(E1000_ICR); /* the LSC of the link coming up */
    if (!(rd(E1000_STATUS) & E1000_STATUS_LU)) {
        fail("link is not up after driver_open");
    }
}

/* ------------------------------------------------------------------------ */
/* Timing                                                                   */

static int64_t clock_read(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

typedef struct Span {
    int64_t wall, cpu;
} Span;

static void span_start(Span *s)
{
    s->cpu = -clock_read(CLOCK_THREAD_CPUTIME_ID);
    s->wall = -clock_read(CLOCK_MONOTONIC);
}

static void span_stop(Span *s)
{
    s->wall += clock_read(CLOCK_MONOTONIC);
    s->cpu += clock_read(CLOCK_THREAD_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                    */

/* MMIO_*: the fixed cost of a register write that exits, for reference:
 * a plain store (TIPG), and a TDT write with nothing new to send */
typedef enum { RX, TX_LEGACY, TX_CSUM, TX_TSO, MMIO_PLAIN, MMIO_TDT } Kind;

typedef struct Case {
    const char *id;   /* for --only */
    const char *name; /* table row */
    Kind kind;
    size_t len;     /* frame length without FCS */
    uint32_t ppk;   /* TX: packets per TDT write */
    bool secrc;     /* RX: RCTL.SECRC */
    bool trace;     /* every trace point on, written to /dev/null */
    uint64_t units; /* per timed run: frames (RX), packets (TX), sends (TSO) */
    uint64_t units_quick;
} Case;

typedef struct Result {
    double wall, cpu; /* ns per unit, medians */
    double wall_min, wall_max;
    double frames_per_unit, bytes_per_frame;
    double irqs_per_unit;
    char checked[96];
} Result;

/* ---- RX ---- */

static Frame rx_frame;

/* The driver's clean + refill after BURST frames (e1000_clean_rx_irq and
 * e1000_alloc_rx_buffers): check each descriptor the device wrote, give it
 * a fresh buffer, hand the batch back with one RDT write; read ICR as the
 * interrupt handler does. @full: also compare the stored bytes and FCS. */
static void rx_clean(const Case *c, bool full)
{
    const uint8_t want_status =
        E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP | E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS;
    const size_t want_len = c->len + (c->secrc ? 0 : 4);
    for (int k = 0; k < BURST; k++) {
        uint32_t i = drv.next_clean;
        struct e1000_rx_desc d;
        memcpy(&d, gpa(RX_RING_GPA + 16 * i), sizeof(d));
        if (d.status != want_status || d.errors != 0 || d.length != want_len) {
            fail("RX descriptor %u: status %#x errors %#x length %u, expected status %#x "
                 "errors 0 length %zu",
                 i, d.status, d.errors, d.length, want_status, want_len);
        }
        if (full) {
            const uint8_t *b = gpa(d.buffer_addr);
            if (memcmp(b, rx_frame.data, c->len) != 0) {
                fail("RX descriptor %u: the buffer does not hold the frame", i);
            }
            if (!c->secrc) {
                uint32_t fcs = crc32_bitwise(b, c->len);
                uint32_t got = (uint32_t)b[c->len] | (uint32_t)b[c->len + 1] << 8 |
                               (uint32_t)b[c->len + 2] << 16 | (uint32_t)b[c->len + 3] << 24;
                if (got != fcs) {
                    fail("RX descriptor %u: FCS %#x, expected %#x", i, got, fcs);
                }
            }
        }
        d = (struct e1000_rx_desc){.buffer_addr = rx_buf_gpa(drv.next_buf++)};
        memcpy(gpa(RX_RING_GPA + 16 * i), &d, sizeof(d));
        drv.next_clean = (i + 1) % RING;
    }
    drv.rdt = (drv.rdt + BURST) % RING;
    wr(E1000_RDT, drv.rdt);
    uint32_t icr = rd(E1000_ICR);
    if (!(icr & E1000_ICR_RXT0)) {
        fail("ICR %#x after %d frames: RXT0 not set", icr, BURST);
    }
}

/* Deliver @n frames (a multiple of BURST) as a TAP read does. */
static void rx_run(const Case *c, uint64_t n, bool full)
{
    /* --vnet: a TAP read brings the kernel's header first (no offloads) */
    static const struct virtio_net_hdr none;
    struct iovec iov[2] = {{(void *)&none, backend->vnet_hdr_len}, {rx_frame.data, rx_frame.len}};
    size_t want = backend->vnet_hdr_len + rx_frame.len;
    for (uint64_t i = 0; i < n; i++) {
        ssize_t r = net_send_iov(backend, iov, 2, peer_sent_cb);
        if (r != (ssize_t)want) {
            fail("frame %llu: net_send returned %zd (queued or dropped), expected %zu",
                 (unsigned long long)i, r, want);
        }
        if ((i + 1) % BURST == 0) {
            rx_clean(c, full);
        }
    }
}

static void rx_prepare(const Case *c)
{
    free(rx_frame.data);
    rx_frame.len = c->len;
    rx_frame.data = malloc(c->len);
    if (!rx_frame.data) {
        fail("out of memory");
    }
    build_udp4(rx_frame.data, c->len, NIC_MAC, HOST_MAC, 0x4242);
    driver_open(c->secrc);
}

static void rx_timed(const Case *c, uint64_t n, Span *sp)
{
    (void)rd(E1000_GPRC); /* statistics clear on read */
    (void)rd(E1000_RNBC);
    span_start(sp);
    rx_run(c, n, false);
    span_stop(sp);
    uint32_t gprc = rd(E1000_GPRC);
    uint32_t rnbc = rd(E1000_RNBC);
    if (gprc != n) {
        fail("GPRC %u after %llu frames", gprc, (unsigned long long)n);
    }
    if (rnbc || sent_cb_calls || backend->peer->queue.count) {
        fail("frames waited for descriptors (RNBC %u, queued %u, sent_cb %llu)", rnbc,
             backend->peer->queue.count, (unsigned long long)sent_cb_calls);
    }
}

/* ---- TX ---- */

typedef struct TxPlan {
    uint32_t dpp;  /* descriptors per packet */
    uint32_t npkt; /* packets whose descriptors sit in the ring at once */
    bool refill;   /* the ring must be rewritten before each lap (TSO) */
    uint8_t (*descs)[16];
    Frame *ref; /* the frames the backend must receive, in order */
    size_t nref;
} TxPlan;

static TxPlan plan;

static void tx_desc(uint8_t *d, uint64_t addr, uint32_t lower, uint32_t upper)
{
    struct e1000_tx_desc t = {.buffer_addr = addr, .lower = lower, .upper = upper};
    memcpy(d, &t, sizeof(t));
}

static void ctx_desc(uint8_t *d, uint8_t ipcss, uint8_t ipcso, uint16_t ipcse, uint8_t tucss,
                     uint8_t tucso, uint32_t cmd_len, uint8_t hdr_len, uint16_t mss)
{
    struct e1000_context_desc c = {.ipcss = ipcss,
                                   .ipcso = ipcso,
                                   .ipcse = ipcse,
                                   .tucss = tucss,
                                   .tucso = tucso,
                                   .tucse = 0,
                                   .cmd_and_length = cmd_len | E1000_TXD_CMD_DEXT,
                                   .hdr_len = hdr_len,
                                   .mss = mss};
    memcpy(d, &c, sizeof(c));
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fail("out of memory");
    }
    return p;
}

static void plan_free(void)
{
    for (size_t i = 0; i < plan.nref; i++) {
        free(plan.ref[i].data);
    }
    free(plan.ref);
    free(plan.descs);
    memset(&plan, 0, sizeof(plan));
}

/* Legacy (no offload: what Linux sends with tx checksumming off, and DPDK
 * without offload flags) or checksum offload: a context descriptor (IPv4
 * header and UDP checksum: IXSM + TXSM) and one data descriptor per packet,
 * as e1000_tx_csum + e1000_tx_map build them (Linux itself asks for TXSM
 * only; the IP header checksum is the stack's). RS on every packet, as
 * Linux does. */
static void plan_simple(const Case *c)
{
    bool csum = c->kind == TX_CSUM;
    plan.dpp = csum ? 2 : 1;
    plan.npkt = RING / plan.dpp;
    plan.descs = xcalloc(RING, 16);
    plan.nref = plan.npkt;
    plan.ref = xcalloc(plan.nref, sizeof(Frame));
    for (uint32_t k = 0; k < plan.npkt; k++) {
        Frame *f = &plan.ref[k];
        f->len = c->len;
        f->data = xcalloc(1, c->len);
        build_udp4(f->data, c->len, HOST_MAC, NIC_MAC, (uint16_t)(0x1000 + k));
        uint64_t buf = TX_BUF_GPA + (uint64_t)k * 2048 + 128;
        uint8_t *g = gpa(buf);
        memcpy(g, f->data, c->len);
        uint8_t *d = plan.descs[k * plan.dpp];
        const uint32_t eop = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
        if (!csum) {
            tx_desc(d, buf, (uint32_t)c->len | eop, 0);
            continue;
        }
        /* the stack leaves the IP checksum to the device (IXSM) and seeds
         * the UDP checksum with the pseudo-header sum (CHECKSUM_PARTIAL) */
        uint8_t *ip = g + 14;
        put16(ip + 10, 0);
        put16(g + 34 + 6, fold(pseudo4(ip, 17, c->len - 34)));
        ctx_desc(d, 14, 24, 33, 34, 40, E1000_TXD_CMD_IP, 0, 0);
        tx_desc(d + 16, buf, (uint32_t)c->len | E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_D | eop,
                (E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM) << 8);
    }
    memcpy(gpa(TX_RING_GPA), plan.descs, RING * 16);
}

/* TSO as Linux's e1000_tso + e1000_tx_map build it: a context descriptor
 * (TSE, IPv4, TCP, PAYLEN, HDRLEN 66, MSS 1448); the skb head (the headers,
 * IP total length and checksum 0, TCP checksum seeded with the pseudo-header
 * sum without length); the payload in two 32 KiB page fragments cut into
 * 4 KiB descriptors (E1000_MAX_DATA_PER_TXD), the last 4 bytes of the last
 * fragment in a descriptor of their own (the driver's "sentinel" for
 * premature write-back in TSO mode): 1 + 1 + 8 + 9 = 19 descriptors. */
static uint32_t tso_descs(uint8_t (*out)[16], uint32_t j)
{
    const uint32_t data = E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_D | E1000_TXD_CMD_TSE;
    const uint32_t popts = (E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM) << 8;
    uint64_t hdr = TSO_HDR_GPA + (uint64_t)j * 1024 + 64;
    uint64_t frag[2] = {TSO_DATA_GPA + (uint64_t)j * 0x10000,
                        TSO_DATA_GPA + (uint64_t)j * 0x10000 + 0x8000};
    uint32_t fraglen[2] = {0x8000, TSO_PAYLOAD - 0x8000};
    uint32_t n = 0;
    ctx_desc(out[n++], 14, 24, 33, 34, 50,
             E1000_TXD_CMD_TSE | E1000_TXD_CMD_IP | E1000_TXD_CMD_TCP | TSO_PAYLOAD, TSO_HDR,
             TSO_MSS);
    tx_desc(out[n++], hdr, data | TSO_HDR, popts);
    for (int f = 0; f < 2; f++) {
        uint32_t left = fraglen[f];
        uint64_t a = frag[f];
        while (left) {
            uint32_t sz = left < 4096 ? left : 4096;
            if (f == 1 && sz == left && sz > 8) {
                sz -= 4; /* the sentinel */
            }
            tx_desc(out[n++], a, data | sz, popts);
            a += sz;
            left -= sz;
        }
    }
    uint32_t lower;
    memcpy(&lower, out[n - 1] + 8, 4);
    lower |= E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
    memcpy(out[n - 1] + 8, &lower, 4);
    return n;
}

static void plan_tso(void)
{
    plan.dpp = TSO_DESCS;
    plan.npkt = TSO_SENDS_PER_LAP;
    plan.refill = true;
    plan.descs = xcalloc((size_t)plan.npkt * TSO_DESCS, 16);
    plan.nref = (size_t)plan.npkt * (vnet ? 1 : TSO_SEGS);
    plan.ref = xcalloc(plan.nref, sizeof(Frame));
    static uint8_t payload[TSO_PAYLOAD];
    for (uint32_t j = 0; j < plan.npkt; j++) {
        /* the headers as the stack built them (PSH on the send) */
        uint8_t h[TSO_HDR];
        memset(h, 0, sizeof(h));
        memcpy(h, HOST_MAC, 6);
        memcpy(h + 6, NIC_MAC, 6);
        put16(h + 12, 0x0800);
        uint8_t *ip = h + 14, *tcp = h + 34;
        uint16_t id = (uint16_t)(0x2000 + j * 64);
        uint32_t seq = 0x10000000u + j * TSO_PAYLOAD;
        ip[0] = 0x45;
        put16(ip + 4, id);
        put16(ip + 6, 0x4000);
        ip[8] = 64;
        ip[9] = 6;
        put32(ip + 12, 0x0a00020f); /* 10.0.2.15 -> 10.0.2.2 */
        put32(ip + 16, 0x0a000202);
        put16(tcp, 45678);
        put16(tcp + 2, 5201);
        put32(tcp + 4, seq);
        put32(tcp + 8, 0x01020304);
        tcp[12] = 8 << 4; /* 32-byte header */
        tcp[13] = 0x18;   /* ACK PSH */
        put16(tcp + 14, 502);
        tcp[20] = 1; /* NOP NOP timestamps */
        tcp[21] = 1;
        tcp[22] = 8;
        tcp[23] = 10;
        put32(tcp + 24, 0x11111111u + j);
        put32(tcp + 28, 0x22222222u);
        for (uint32_t i = 0; i < TSO_PAYLOAD; i++) {
            payload[i] = (uint8_t)(i * 13 + j * 7 + (i >> 10));
        }
        /* guest memory: the head with Linux's TSO preparation, the payload */
        uint8_t *g = gpa(TSO_HDR_GPA + (uint64_t)j * 1024 + 64);
        memcpy(g, h, TSO_HDR);
        put16(g + 14 + 2, 0);
        put16(g + 14 + 10, 0);
        put16(g + 34 + 16, fold(pseudo4(g + 14, 6, 0)));
        memcpy(gpa(TSO_DATA_GPA + (uint64_t)j * 0x10000), payload, TSO_PAYLOAD);
        if (tso_descs(plan.descs + (size_t)j * TSO_DESCS, j) != TSO_DESCS) {
            fail("TSO: descriptor count is not %d", TSO_DESCS);
        }
        if (vnet) {
            /* one GSO frame: what the kernel expects (IP length of the whole
             * packet, TCP field = pseudo-header sum with the whole length) */
            Frame *f = &plan.ref[j];
            f->len = TSO_HDR + TSO_PAYLOAD;
            f->data = xcalloc(1, f->len);
            uint8_t *s = f->data, *sip = s + 14, *stcp = s + 34;
            memcpy(s, h, TSO_HDR);
            memcpy(s + TSO_HDR, payload, TSO_PAYLOAD);
            put16(sip + 2, (uint16_t)(20 + 32 + TSO_PAYLOAD));
            put16(sip + 10, (uint16_t)~fold(sum16(sip, 20, 0)));
            put16(stcp + 16, fold(pseudo4(sip, 6, 32 + TSO_PAYLOAD)));
            continue;
        }
        /* the segments a correct device sends, built here independently */
        for (uint32_t k = 0; k < TSO_SEGS; k++) {
            Frame *f = &plan.ref[(size_t)j * TSO_SEGS + k];
            f->len = TSO_HDR + TSO_MSS;
            f->data = xcalloc(1, f->len);
            uint8_t *s = f->data, *sip = s + 14, *stcp = s + 34;
            memcpy(s, h, TSO_HDR);
            memcpy(s + TSO_HDR, payload + (size_t)k * TSO_MSS, TSO_MSS);
            put16(sip + 2, 20 + 32 + TSO_MSS);
            put16(sip + 4, (uint16_t)(id + k));
            put16(sip + 10, (uint16_t)~fold(sum16(sip, 20, 0)));
            put32(stcp + 4, seq + k * TSO_MSS);
            if (k + 1 < TSO_SEGS) {
                stcp[13] &= (uint8_t)~0x09; /* PSH and FIN only on the last */
            }
            size_t l4 = 32 + TSO_MSS;
            put16(stcp + 16, (uint16_t)~fold(sum16(stcp, l4, pseudo4(sip, 6, l4))));
        }
    }
}

static void tx_prepare(const Case *c)
{
    plan_free();
    driver_open(false);
    memset(&peer_vh, 0, sizeof(peer_vh));
    if (c->kind == TX_TSO) {
        plan_tso();
        if (vnet) {
            peer_vh = (struct virtio_net_hdr){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                              .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                                              .hdr_len = TSO_HDR,
                                              .gso_size = TSO_MSS,
                                              .csum_start = 34,
                                              .csum_offset = 16};
        }
    } else {
        plan_simple(c);
    }
}

/* TSO: write the lap's descriptors at the tail (the guest's work, not
 * timed). The static rings of the other cases stay as they are: the device
 * only sets DD in them. */
static void tx_refill(void)
{
    for (uint32_t i = 0; i < plan.npkt * plan.dpp; i++) {
        memcpy(gpa(TX_RING_GPA + 16 * ((drv.tdt + i) % RING)), plan.descs[i], 16);
    }
}

/* Hand @npkt packets to the device, @ppk per TDT write, reading ICR every
 * BURST packets (TSO: every send) as the interrupt handler would. */
static void tx_kicks(const Case *c, uint32_t npkt)
{
    uint32_t icr_every = c->kind == TX_TSO ? 1 : BURST;
    for (uint32_t p = 0; p < npkt; p += c->ppk) {
        drv.tdt = (drv.tdt + c->ppk * plan.dpp) % RING;
        wr(E1000_TDT, drv.tdt);
        if ((p + c->ppk) % icr_every == 0) {
            uint32_t icr = rd(E1000_ICR);
            if (!(icr & E1000_ICR_TXDW)) {
                fail("ICR %#x after a TDT write: TXDW not set", icr);
            }
        }
    }
}

/* Are the EOP descriptors of the last @npkt packets (ending at TDT) done? */
static void tx_check_dd(uint32_t npkt)
{
    for (uint32_t p = 1; p <= npkt; p++) {
        uint32_t i = (drv.tdt + RING - (p - 1) * plan.dpp - 1) % RING;
        const uint8_t *d = gpa(TX_RING_GPA + 16 * i);
        if (!(d[12] & E1000_TXD_STAT_DD)) {
            fail("TX descriptor %u (EOP) has no DD", i);
        }
    }
}

static void tx_clear_status(void)
{
    for (uint32_t i = 0; i < RING; i++) {
        gpa(TX_RING_GPA + 16 * i)[12] = 0;
    }
}

static void tx_check_head(void)
{
    uint32_t tdh = rd(E1000_TDH);
    if (tdh != drv.tdt) {
        fail("TDH %u != TDT %u after the TDT writes returned", tdh, drv.tdt);
    }
}

/* @n packets (TSO: sends) in laps of plan.npkt; each lap is timed on its
 * own when the ring has to be rewritten in between. */
static void tx_run(const Case *c, uint64_t n, Span *sp)
{
    Span total = {0, 0};
    if (!plan.refill) {
        tx_clear_status();
        if (sp) {
            span_start(&total);
        }
        tx_kicks(c, (uint32_t)n);
        if (sp) {
            span_stop(&total);
        }
        tx_check_dd((uint32_t)(n < plan.npkt ? n : plan.npkt));
    } else {
        for (uint64_t done = 0; done < n; done += plan.npkt) {
            tx_refill();
            Span lap;
            if (sp) {
                span_start(&lap);
            }
            tx_kicks(c, plan.npkt);
            if (sp) {
                span_stop(&lap);
                total.wall += lap.wall;
                total.cpu += lap.cpu;
            }
            tx_check_dd(plan.npkt);
        }
    }
    tx_check_head();
    if (sp) {
        *sp = total;
    }
}

static uint64_t tx_frames_per_unit(const Case *c)
{
    return c->kind == TX_TSO && !vnet ? TSO_SEGS : 1;
}

/* segments on the wire, as the statistics count them */
static uint64_t tx_segs_per_unit(const Case *c)
{
    return c->kind == TX_TSO ? TSO_SEGS : 1;
}

static void tx_timed(const Case *c, uint64_t n, Span *sp)
{
    (void)rd(E1000_GPTC);
    uint64_t f0 = peer.frames, b0 = peer.bytes;
    tx_run(c, n, sp);
    uint64_t frames = peer.frames - f0, bytes = peer.bytes - b0;
    uint64_t want = n * tx_frames_per_unit(c);
    size_t flen = plan.ref[0].len;
    uint32_t gptc = rd(E1000_GPTC);
    if (frames != want || bytes != want * flen || gptc != n * tx_segs_per_unit(c)) {
        fail("the backend got %llu frames / %llu bytes (GPTC %u), expected %llu / %llu",
             (unsigned long long)frames, (unsigned long long)bytes, gptc, (unsigned long long)want,
             (unsigned long long)(want * flen));
    }
}

/* ---- register writes alone ---- */

static void mmio_timed(const Case *c, uint64_t n, Span *sp)
{
    uint64_t f0 = peer.frames;
    uint32_t v = 0;
    span_start(sp);
    if (c->kind == MMIO_PLAIN) {
        for (uint64_t i = 0; i < n; i++) {
            v = 8 | 8 << 10 | (uint32_t)(i & 0x3ff) << 20;
            wr(E1000_TIPG, v);
        }
    } else {
        for (uint64_t i = 0; i < n; i++) {
            wr(E1000_TDT, drv.tdt);
        }
    }
    span_stop(sp);
    if (c->kind == MMIO_PLAIN && rd(E1000_TIPG) != v) {
        fail("TIPG reads %#x, last written %#x", rd(E1000_TIPG), v);
    }
    if (c->kind == MMIO_TDT && (peer.frames != f0 || rd(E1000_TDH) != drv.tdt)) {
        fail("a TDT write with nothing new sent %llu frames",
             (unsigned long long)(peer.frames - f0));
    }
}

/* ---- one case: verify, warm up, time, verify again ---- */

static int reps = 5;
static bool quick;

static void verify_pass(const Case *c)
{
    if (c->kind == MMIO_PLAIN || c->kind == MMIO_TDT) {
        return; /* checked after every timed run */
    }
    if (c->kind == RX) {
        rx_run(c, RING, true); /* every descriptor of the ring once */
        return;
    }
    /* the backend's frame count is where the ring is: start the reference
     * list there */
    peer.verify = true;
    peer.ref = plan.ref;
    peer.nref = plan.nref;
    peer.bad = 0;
    uint64_t f0 = peer.frames;
    uint64_t n = plan.npkt; /* every packet of the ring once */
    tx_run(c, n, NULL);
    peer.verify = false;
    if (peer.bad) {
        fail("%s", peer.why);
    }
    if (peer.frames - f0 != n * tx_frames_per_unit(c)) {
        fail("verification: %llu frames, expected %llu", (unsigned long long)(peer.frames - f0),
             (unsigned long long)(n * tx_frames_per_unit(c)));
    }
}

static uint64_t round_units(const Case *c, uint64_t n)
{
    uint64_t m = c->kind == RX       ? BURST
                 : c->kind == TX_TSO ? TSO_SENDS_PER_LAP
                 : c->ppk            ? c->ppk
                                     : 1;
    n = (n + m - 1) / m * m;
    return n ? n : m;
}

static void run_case(const Case *c, Result *r)
{
    cur_case = c->id;
    memset(r, 0, sizeof(*r));
    peer.frames = peer.bytes = 0;
    if (c->kind == RX) {
        rx_prepare(c);
    } else if (c->kind == MMIO_PLAIN || c->kind == MMIO_TDT) {
        driver_open(false);
    } else {
        tx_prepare(c);
    }
    if (c->trace) {
        Error err = {{0}};
        if (trace_set_file("/dev/null", &err) < 0) {
            fail("%s", err.msg);
        }
        trace_set_pattern("*", true);
    } else if (trace_any_enabled()) {
        fail("trace points are on");
    }

    uint64_t n = round_units(c, quick ? c->units_quick : c->units);
    verify_pass(c);
    /* warm-up: a fifth of a timed run, not measured */
    Span sp;
    void (*timed)(const Case *, uint64_t, Span *) = c->kind == RX           ? rx_timed
                                                    : c->kind >= MMIO_PLAIN ? mmio_timed
                                                                            : tx_timed;
    timed(c, round_units(c, n / 5), &sp);
    double wall[16], cpu[16];
    uint64_t irq0 = irq_raises;
    for (int i = 0; i < reps; i++) {
        timed(c, n, &sp);
        wall[i] = (double)sp.wall / (double)n;
        cpu[i] = (double)sp.cpu / (double)n;
    }
    r->irqs_per_unit = (double)(irq_raises - irq0) / (double)(n * (uint64_t)reps);
    verify_pass(c);

    if (c->trace) {
        trace_set_pattern("*", false);
        trace_set_file(NULL, NULL);
    }
    r->wall_min = r->wall_max = wall[0];
    for (int i = 1; i < reps; i++) {
        r->wall_min = wall[i] < r->wall_min ? wall[i] : r->wall_min;
        r->wall_max = wall[i] > r->wall_max ? wall[i] : r->wall_max;
    }
    r->wall = median(wall, reps);
    r->cpu = median(cpu, reps);
    if (c->kind >= MMIO_PLAIN) {
        r->frames_per_unit = 0;
        snprintf(r->checked, sizeof(r->checked), "ok: %s, %llu x %d writes",
                 c->kind == MMIO_PLAIN ? "value read back" : "nothing sent, TDH = TDT",
                 (unsigned long long)n, reps);
    } else if (c->kind == RX) {
        r->frames_per_unit = 1;
        r->bytes_per_frame = (double)c->len;
        snprintf(r->checked, sizeof(r->checked), "ok: %d frames byte-exact%s, %llu x %d counted",
                 2 * RING, c->secrc ? "" : " + FCS", (unsigned long long)n, reps);
    } else {
        r->frames_per_unit = (double)tx_frames_per_unit(c);
        r->bytes_per_frame = (double)plan.ref[0].len;
        snprintf(r->checked, sizeof(r->checked), "ok: %zu frames byte-exact, %llu x %d counted",
                 2 * plan.nref, (unsigned long long)(n * tx_frames_per_unit(c)), reps);
    }
}

/* ------------------------------------------------------------------------ */

#define K 1024ull
/* units per timed run: about 0.1 s each on the development host (full) */
static const Case cases[] = {
    {"rx-64", "RX 64 B (60 B UDP + FCS), Linux RCTL: FCS to guest", RX, 60, 0, false, false,
     1024 * K, 8 * K},
    {"rx-1500", "RX 1500 B (1514 B UDP + FCS), Linux RCTL", RX, 1514, 0, false, false, 96 * K,
     4 * K},
    {"rx-64-secrc", "RX 64 B, RCTL.SECRC (FCS stripped)", RX, 60, 0, true, false, 1024 * K, 8 * K},
    {"rx-1500-secrc", "RX 1500 B, RCTL.SECRC", RX, 1514, 0, true, false, 128 * K, 4 * K},
    {"tx-legacy-64-burst", "TX legacy 64 B, TDT per 32 packets", TX_LEGACY, 60, 32, false, false,
     4096 * K, 8 * K},
    {"tx-legacy-64-pkt", "TX legacy 64 B, TDT per packet", TX_LEGACY, 60, 1, false, false, 2048 * K,
     8 * K},
    {"tx-legacy-1500-burst", "TX legacy 1500 B, TDT per 32 packets", TX_LEGACY, 1514, 32, false,
     false, 2048 * K, 4 * K},
    {"tx-legacy-1500-pkt", "TX legacy 1500 B, TDT per packet", TX_LEGACY, 1514, 1, false, false,
     2048 * K, 4 * K},
    {"tx-csum-64-burst", "TX ctx+data IXSM/TXSM 64 B, TDT per 32 packets", TX_CSUM, 60, 32, false,
     false, 2048 * K, 8 * K},
    {"tx-csum-64-pkt", "TX ctx+data IXSM/TXSM 64 B, TDT per packet", TX_CSUM, 60, 1, false, false,
     1024 * K, 8 * K},
    {"tx-csum-1500-burst", "TX ctx+data IXSM/TXSM 1500 B, TDT per 32 packets", TX_CSUM, 1514, 32,
     false, false, 256 * K, 4 * K},
    {"tx-csum-1500-pkt", "TX ctx+data IXSM/TXSM 1500 B, TDT per packet", TX_CSUM, 1514, 1, false,
     false, 256 * K, 4 * K},
    {"tso-64k", "TX TSO 64 KiB (45 x MSS 1448), TDT per send", TX_TSO, 0, 1, false, false, 13 * 600,
     13 * 4},
    {"mmio-plain", "reference: one register write through the exit path (TIPG, a store)",
     MMIO_PLAIN, 0, 0, false, false, 4096 * K, 16 * K},
    {"mmio-tdt-empty", "reference: TDT write with nothing to send", MMIO_TDT, 0, 0, false, false,
     4096 * K, 16 * K},
    {"trace-tx-csum-64-pkt", "TX ctx+data 64 B, TDT per packet, all trace points -> /dev/null",
     TX_CSUM, 60, 1, false, true, 32 * K, 2 * K},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void usage(void)
{
    printf("usage: devbench [--quick] [--vnet] [--only=SUBSTRING] [--cpu=N] [--reps=N] [--list]\n"
           "  Per-packet cost of the e1000 model on the host (docs/DEVBENCH.md).\n"
           "  --quick   short runs (CI: proves it runs and its checks pass)\n"
           "  --vnet    the backend carries virtio-net headers: TSO leaves as one GSO frame\n"
           "  --only    run the cases whose id contains SUBSTRING (--list shows them)\n"
           "  --cpu     pin to this CPU (default: the one it starts on)\n"
           "  --reps    timed runs per case, median printed (default 5, max 15)\n");
}

static double clock_pair_ns(clockid_t id)
{
    int64_t t0 = clock_read(CLOCK_MONOTONIC);
    for (int i = 0; i < 1000; i++) {
        (void)clock_read(id);
    }
    return (double)(clock_read(CLOCK_MONOTONIC) - t0) / 1000.0;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    int cpu = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = true;
        } else if (!strcmp(argv[i], "--vnet")) {
            vnet = true;
        } else if (!strncmp(argv[i], "--only=", 7)) {
            only = argv[i] + 7;
        } else if (!strncmp(argv[i], "--cpu=", 6)) {
            cpu = atoi(argv[i] + 6);
        } else if (!strncmp(argv[i], "--reps=", 7)) {
            reps = atoi(argv[i] + 7);
            if (reps < 1 || reps > 15) {
                usage();
                return 2;
            }
        } else if (!strcmp(argv[i], "--list")) {
            for (size_t k = 0; k < NCASES; k++) {
                printf("%-22s %s\n", cases[k].id, cases[k].name);
            }
            return 0;
        } else {
            usage();
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }

    if (cpu < 0) {
        cpu = sched_getcpu();
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    bool pinned = cpu >= 0 && sched_setaffinity(0, sizeof(set), &set) == 0;

    machine_create();

    struct utsname u;
    uname(&u);
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M", localtime(&now));
#if defined(__SANITIZE_ADDRESS__)
    const char *build = "ASan (numbers not meaningful)";
#elif defined(__OPTIMIZE__)
    const char *build = "optimized";
#else
    const char *build = "not optimized (numbers not meaningful)";
#endif
    printf("devbench: e1000 model per-packet cost, host side only (fake guest RAM, counting "
           "backend)\n");
    printf("%s, %s %s, %ld CPUs online, %s on CPU %d; build: %s; %s runs; %d timed runs per "
           "case, median\n",
           date, u.nodename, u.release, sysconf(_SC_NPROCESSORS_ONLN),
           pinned ? "pinned" : "not pinned", cpu, build, quick ? "quick" : "full", reps);
    printf("clock_gettime: CLOCK_MONOTONIC %.0f ns, CLOCK_THREAD_CPUTIME_ID %.0f ns per call\n\n",
           clock_pair_ns(CLOCK_MONOTONIC), clock_pair_ns(CLOCK_THREAD_CPUTIME_ID));
    printf("| case | ns/packet | CPU ns/packet | Mpps | Gbit/s | INTx/packet | min..max ns | "
           "checked |\n");
    printf("|---|---:|---:|---:|---:|---:|---|---|\n");
    fflush(stdout);

    int ran = 0;
    for (size_t k = 0; k < NCASES; k++) {
        const Case *c = &cases[k];
        if (only && !strstr(c->id, only)) {
            continue;
        }
        Result r;
        run_case(c, &r);
        ran++;
        double f = r.frames_per_unit;
        double gbit = r.bytes_per_frame * 8 * f / r.wall;
        if (c->kind >= MMIO_PLAIN) {
            printf("| %s | %.0f | %.0f | %.3f | | %.3f | %.0f..%.0f | %s |\n", c->name, r.wall,
                   r.cpu, 1e3 / r.wall, r.irqs_per_unit, r.wall_min, r.wall_max, r.checked);
        } else if (c->kind == TX_TSO) {
            f = TSO_SEGS; /* per segment on the wire, whoever cuts them */
            gbit = r.bytes_per_frame * 8 * r.frames_per_unit / r.wall;
            printf(
                "| %s: per 64 KiB send%s | %.0f | %.0f | %.4f | %.2f | %.3f | %.0f..%.0f | %s |\n",
                c->name, vnet ? ", handed over as one GSO frame (--vnet)" : "", r.wall, r.cpu,
                1e3 / r.wall, gbit, r.irqs_per_unit, r.wall_min, r.wall_max, r.checked);
            printf("| %s: per segment | %.0f | %.0f | %.3f | %.2f | %.3f | %.0f..%.0f | %s |\n",
                   c->name, r.wall / f, r.cpu / f, 1e3 * f / r.wall, gbit, r.irqs_per_unit / f,
                   r.wall_min / f, r.wall_max / f, r.checked);
        } else {
            printf("| %s | %.0f | %.0f | %.3f | %.2f | %.3f | %.0f..%.0f | %s |\n", c->name, r.wall,
                   r.cpu, 1e3 / r.wall, gbit, r.irqs_per_unit, r.wall_min, r.wall_max, r.checked);
        }
        fflush(stdout);
    }
    if (ran == 0) {
        fprintf(stderr, "devbench: no case matches '%s' (--list)\n", only);
        return 2;
    }
    cur_case = "teardown";
    plan_free();
    free(rx_frame.data);
    machine_destroy();
    printf("\ndevbench: all checks passed\n");
    return 0;
}
