/* libFuzzer harness for the whole virtio-net-pci device: the modern PCI
 * transport (hw/virtio/virtio_pci.c), the network device
 * (hw/virtio/virtio_net.c), its split virtqueues (virtqueue.c), MSI-X
 * (hw/msix.c) and the net layer between it and a backend (net/net.c,
 * net/eth.c). One input is what a hostile driver and the peer on the wire
 * do, decoded into the interfaces the VMM itself uses:
 *
 *   - BAR4 reads and writes of any size and offset (common configuration,
 *     ISR, device configuration, notify), through the memory layer;
 *   - the MSI-X table and PBA (BAR1), and PCI configuration space (Message
 *     Control, the virtio PCI configuration access window, anything);
 *   - guest RAM: raw bytes, descriptors, avail ring entries, and whole
 *     transmit chains, receive buffers and control requests written the way
 *     a driver writes them;
 *   - a "driver prologue": a correct initialisation (features, the three
 *     queues at fixed ring addresses, DRIVER_OK), so that the data paths are
 *     a few bytes away;
 *   - frames from the backend (with a virtio-net header from the input when
 *     the backend carries one), the backend being busy (backpressure), the
 *     link going down and up, bottom halves and timers running.
 *
 * The machine is the unit test's (tests/unit/test_virtio_net.c): fake RAM,
 * a PCI bus, an MSI router that records, a fake backend. Four are built
 * once (backend with or without a vnet header, default or other device
 * properties); the first input byte picks one and whether the MSI router
 * has routes (KVM's irqfd routes) or only sends. Every input starts and
 * ends with a reset device (status 0, MSI-X reset, configuration space as
 * realized, link flapped to empty the net layer's queues), zeroed RAM and
 * an idle backend.
 *
 * Guest RAM is RAM_SIZE bytes at 0 and HIGH_SIZE bytes at 4 GiB, each
 * followed in the host by memory poisoned for AddressSanitizer. After each
 * operation the harness checks what the device promises:
 *   - what the backend receives is a frame of 14 bytes to
 *     NET_MAX_PACKET - 10 after the backend's header, and without a
 *     negotiated VIRTIO_NET_F_CSUM that header asks for no offload;
 *   - an MSI message goes out only while MSI-X is enabled and the function
 *     unmasked, and it is the message of an unmasked vector of the table;
 *     routes are used only while they exist and are all released at reset;
 *   - with MSI-X enabled the INTx line stays low, and reading the ISR
 *     lowers it;
 *   - once the device is in DEVICE_NEEDS_RESET it uses no queue and sends
 *     nothing until it is reset;
 *   - the link bit of the device configuration follows the backend's link;
 *   - no operation takes more than MAX_STEP_NS of thread CPU time.
 *
 * Input format (little endian, missing bytes read as zero): a
 * configuration byte, then operations, an opcode byte each and its
 * arguments: see the switch in LLVMFuzzerTestOneInput and
 * tests/fuzz/mkseeds_virtio_net.py. FUZZ_VNET_VERBOSE=1 keeps the
 * device's warnings (otherwise they go to /dev/null) and prints a line per
 * input; FUZZ_VNET_TRACE=PATTERN turns trace points on, as -trace does. */
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/loop.h"
#include "core/machine.h"
#include "fuzz_input.h"
#include "hw/msix.h"
#include "hw/pci.h"
#include "hw/virtio/virtio_pci.h"
#include "net/net.h"
#include "qom/object.h"
#include "trace/trace.h"

#ifndef MAX_STEP_NS
#define MAX_STEP_NS (50 * 1000 * 1000LL)
#endif
#define MAX_OPS 2048

/* Guest RAM and where the harness's driver keeps things in it */
#define RAM_SIZE 0x100000u
#define HIGH_BASE 0x100000000ULL
#define HIGH_SIZE 0x10000u
#define GUARD 0x1000u
#define NQ 3
#define QBASE(q) (0x8000u * ((unsigned)(q) + 1)) /* desc; avail +0x4000, used +0x5000 */
#define AVAIL_OFF 0x4000u
#define USED_OFF 0x5000u
#define TABLE_BASE 0x20000u /* indirect tables */
#define TABLE_SIZE 0x8000u
#define CTRL_BASE 0x28000u /* control requests */
#define CTRL_SIZE 0x8000u
#define TX_BASE 0x30000u
#define TX_END 0xa0000u
#define RX_BASE 0xa0000u
#define RX_END RAM_SIZE
#define VNET_HDR 12 /* struct virtio_net_hdr_mrg_rxbuf */
#define HOST_HDR 10 /* struct virtio_net_hdr */
#define ETH_HDR 14

#define CC(field) (VIRTIO_PCI_COMMON_OFF + offsetof(struct virtio_pci_common_cfg, field))

/* ------------------------------------------------------------------------ */
/* The machines                                                             */

#define NFX 4
#define MAX_ROUTES 8

typedef struct Fx {
    Machine m;
    Object *obj;
    VirtioDevice *vd;
    PCIDevice *dev;
    MemoryRegion *bar, *msix_bar;
    NetClient *backend;
    VirtioDeviceOps ops; /* the device's, with reset counted */
    const VirtioDeviceOps *dev_ops;
    bool vnet;
    int msix_cap;
    uint8_t config0[PCI_CONFIG_SIZE]; /* configuration space as realized */
    int line;                         /* the INTx line as the bus drives it */
} Fx;

static uint8_t ram[RAM_SIZE + GUARD] __attribute__((aligned(4096)));
static uint8_t high[HIGH_SIZE + GUARD] __attribute__((aligned(4096)));
static Fx fxs[NFX];
static Fx *f; /* the machine of this input */
static FILE *errout;
static int64_t now_ns = 1000000000;
static uint8_t frame[NET_MAX_PACKET + 2048];

/* what this input made happen */
static struct {
    bool busy; /* the backend takes nothing now (the net layer queues) */
    uint64_t received, resets, msis;
    const char *op; /* the operation running, for messages */
} st;

/* the driver's view of its queues */
static struct {
    uint16_t qsize[NQ];
    uint16_t next_desc[NQ];
    uint32_t tx_off, rx_off, table_off, ctrl_off;
} drv;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_virtio_net: ", errout);
    vfprintf(errout, fmt, ap);
    fprintf(errout, " (in %s; status %#x)\n", st.op ? st.op : "reset", f ? f->vd->status : 0);
    va_end(ap);
    abort();
}

/* CPU time of this thread: the work an operation caused */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void set_gsi(void *opaque, int gsi, int level)
{
    (void)gsi;
    ((Fx *)opaque)->line = level;
}

/* --- the MSI router: messages and routes, checked against the table --- */

static struct {
    bool live;
    uint64_t addr;
    uint32_t data;
} routes[MAX_ROUTES];

static uint32_t msix_table(unsigned v, unsigned field)
{
    return (uint32_t)memory_region_dispatch_read(f->msix_bar, 16 * v + field, 4);
}

static void check_message(uint64_t addr, uint32_t data)
{
    uint16_t ctl = (uint16_t)pci_config_read(f->dev, (uint32_t)f->msix_cap + 2, 2);
    if (!msix_enabled(f->dev) || !(ctl & 0x8000)) {
        fail("an MSI message while MSI-X is disabled");
    }
    if (ctl & 0x4000) {
        fail("an MSI message while the function is masked");
    }
    for (unsigned v = 0; v < msix_nvectors(f->dev); v++) {
        uint64_t a = msix_table(v, 0) | (uint64_t)msix_table(v, 4) << 32;
        if (a == addr && msix_table(v, 8) == data && !(msix_table(v, 12) & 1)) {
            st.msis++;
            return;
        }
    }
    fail("an MSI message (%#llx, %#x) that no unmasked vector has", (unsigned long long)addr, data);
}

static void msi_send(void *opaque, uint64_t addr, uint32_t data)
{
    (void)opaque;
    check_message(addr, data);
}

static int route_add(void *opaque, uint64_t addr, uint32_t data)
{
    (void)opaque;
    for (int h = 0; h < MAX_ROUTES; h++) {
        if (!routes[h].live) {
            routes[h].live = true;
            routes[h].addr = addr;
            routes[h].data = data;
            return h;
        }
    }
    return -1; /* none left: the vector falls back to send */
}

static void route_check(int h, const char *what)
{
    if (h < 0 || h >= MAX_ROUTES || !routes[h].live) {
        fail("%s of route %d, which does not exist", what, h);
    }
}

static int route_update(void *opaque, int h, uint64_t addr, uint32_t data)
{
    (void)opaque;
    route_check(h, "update");
    routes[h].addr = addr;
    routes[h].data = data;
    return 0;
}

static void route_del(void *opaque, int h)
{
    (void)opaque;
    route_check(h, "release");
    routes[h].live = false;
}

static void route_fire(void *opaque, int h)
{
    (void)opaque;
    route_check(h, "delivery");
    check_message(routes[h].addr, routes[h].data);
}

static const PCIMsiRouter router_send = {.send = msi_send};
static const PCIMsiRouter router_routes = {.send = msi_send,
                                           .route_add = route_add,
                                           .route_update = route_update,
                                           .route_del = route_del,
                                           .route_fire = route_fire};

/* --- the backend --- */

static volatile uint8_t sink;

static ssize_t backend_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    Fx *x = nc->opaque;
    if (st.busy) {
        return 0;
    }
    size_t total = 0;
    uint8_t head[HOST_HDR] = {0};
    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *b = iov[i].iov_base;
        if (iov[i].iov_len) {
            sink ^= b[0]; /* ASan: every buffer readable, to its last byte */
            sink ^= b[iov[i].iov_len - 1];
        }
        for (size_t k = 0; k < iov[i].iov_len && total + k < HOST_HDR; k++) {
            head[total + k] = b[k];
        }
        total += iov[i].iov_len;
    }
    size_t hl = x->vnet ? HOST_HDR : 0;
    if (total > NET_MAX_PACKET || total < hl + ETH_HDR || total - hl > NET_MAX_PACKET - HOST_HDR) {
        fail("the backend got a frame of %zu bytes (header %zu)", total, hl);
    }
    if (x->vnet && !virtio_has_feature(x->vd, VIRTIO_NET_F_CSUM) &&
        ((head[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM) || head[1] != VIRTIO_NET_HDR_GSO_NONE)) {
        fail("an offloaded frame (flags %#x, gso %#x) without VIRTIO_NET_F_CSUM", head[0], head[1]);
    }
    st.received++;
    return (ssize_t)total;
}
static bool backend_has_vnet(NetClient *nc)
{
    return ((Fx *)nc->opaque)->vnet;
}
static void backend_using_vnet(NetClient *nc, bool on)
{
    net_link_set_vnet_hdr_len(nc, on ? HOST_HDR : 0);
}
static int backend_set_offload(NetClient *nc, unsigned flags)
{
    (void)nc;
    (void)flags;
    return 0;
}
static void backend_sent(NetClient *nc)
{
    (void)nc;
}
static const NetClientInfo backend_info = {
    .type = "fuzz",
    .kind = NET_CLIENT_BACKEND,
    .receive_iov = backend_receive,
    .has_vnet_hdr = backend_has_vnet,
    .using_vnet_hdr = backend_using_vnet,
    .set_offload = backend_set_offload,
};

/* the device's reset, counted: a reset ends DEVICE_NEEDS_RESET */
static void counted_reset(VirtioDevice *vd)
{
    st.resets++;
    for (int i = 0; i < NFX; i++) {
        if (fxs[i].vd == vd && fxs[i].dev_ops->reset) {
            fxs[i].dev_ops->reset(vd);
        }
    }
}

static void fx_init(Fx *x, int i)
{
    x->m.ram.range[0] = (GuestMemRange){.gpa = 0, .size = RAM_SIZE, .host = ram};
    x->m.ram.range[1] = (GuestMemRange){.gpa = HIGH_BASE, .size = HIGH_SIZE, .host = high};
    x->m.ram.nranges = 2;
    x->m.ram.total = RAM_SIZE + HIGH_SIZE;
    address_space_init(&x->m.mmio, "mmio");
    address_space_init(&x->m.pio, "pio");
    x->m.pci = pci_bus_new(&x->m.mmio, &x->m.pio, set_gsi, x);
    x->vnet = i & 1;
    char id[16], opts[256];
    snprintf(id, sizeof(id), "fuzz%d", i);
    x->backend = net_client_new(&backend_info, id, x);
    net_backend_register(x->backend);
    /* the defaults, or a device with another shape: no control queue, no
     * merged buffers, the smallest and largest queues, notifies as exits */
    snprintf(opts, sizeof(opts), "virtio-net-pci,netdev=%s,mac=52:54:00:12:34:56%s", id,
             i & 2 ? ",ctrl_vq=off,mrg_rxbuf=off,rx_queue_size=8,tx_queue_size=1024,doorbells=off"
                   : "");
    Error err = {{0}};
    x->obj = object_new_from_opts(opts, TYPE_KIND_DEVICE, &err);
    if (!x->obj || x->obj->type->realize(x->obj, &x->m, &err) < 0) {
        fprintf(errout, "fuzz_virtio_net: realize: %s\n", err.msg);
        abort();
    }
    x->vd = (VirtioDevice *)x->obj; /* the instance starts with its VirtioDevice */
    x->dev = &x->vd->pci;
    x->bar = &x->dev->bar[VIRTIO_PCI_BAR].region;
    x->msix_bar = &x->dev->bar[VIRTIO_PCI_MSIX_BAR].region;
    x->msix_cap = pci_find_capability(x->dev, PCI_CAP_ID_MSIX);
    if (x->msix_cap < 0 || x->vd->pci_cfg_cap <= 0) {
        abort();
    }
    x->dev_ops = x->vd->ops;
    x->ops = *x->vd->ops;
    x->ops.reset = counted_reset;
    x->vd->ops = &x->ops;
    pci_config_write(x->dev, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    memcpy(x->config0, x->dev->config, PCI_CONFIG_SIZE);
}

/* ------------------------------------------------------------------------ */
/* Accesses, each timed                                                     */

static void check_time(int64_t t0)
{
    int64_t dt = cpu_ns() - t0;
    if (dt > MAX_STEP_NS) {
        fail("one operation took %lld ms: unbounded work", (long long)(dt / 1000000));
    }
}

static void bar_write(uint64_t off, uint64_t v, unsigned size)
{
    memory_region_dispatch_write(f->bar, off, v, size);
}
static uint64_t bar_read(uint64_t off, unsigned size)
{
    return memory_region_dispatch_read(f->bar, off, size);
}

static void run_pending(void)
{
    for (int i = 0; i < 64; i++) {
        int n = bh_run_pending() + timers_run_expired();
        if (n == 0) {
            break;
        }
        now_ns += 1000;
    }
}

/* ------------------------------------------------------------------------ */
/* The driver (virtio 1.2, 3.1.1 and 2.7)                                   */

static uint8_t *gpa_ptr(uint64_t gpa)
{
    return ram + gpa;
}
static struct vring_desc *desc(unsigned q)
{
    return (struct vring_desc *)gpa_ptr(QBASE(q));
}
static struct vring_avail *avail(unsigned q)
{
    return (struct vring_avail *)gpa_ptr(QBASE(q) + AVAIL_OFF);
}
static uint16_t qsize(unsigned q)
{
    return drv.qsize[q] ? drv.qsize[q] : 256;
}

static void avail_add(unsigned q, uint16_t head)
{
    struct vring_avail *a = avail(q);
    uint16_t idx = a->idx;
    a->ring[idx % qsize(q)] = head;
    __atomic_store_n(&a->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static void kick(unsigned q)
{
    bar_write(VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, q, 2);
}

/* the features a driver may want: all of them but the ones it leaves out */
static void prologue(uint32_t drop, uint8_t log2)
{
    bar_write(CC(device_status), 0, 1);
    bar_write(CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
    bar_write(CC(device_feature_select), 0, 4);
    uint64_t feat = bar_read(CC(device_feature), 4);
    bar_write(CC(device_feature_select), 1, 4);
    feat |= bar_read(CC(device_feature), 4) << 32;
    feat &= ~(uint64_t)drop;
    /* 5.1.3.1: what each feature depends on goes with it */
#define F(b) (1ull << VIRTIO_NET_F_##b)
    if (!(feat & F(CSUM))) {
        feat &= ~(F(HOST_TSO4) | F(HOST_TSO6) | F(HOST_ECN) | F(HOST_UFO));
    }
    if (!(feat & (F(HOST_TSO4) | F(HOST_TSO6)))) {
        feat &= ~F(HOST_ECN);
    }
    if (!(feat & F(GUEST_CSUM))) {
        feat &= ~(F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_ECN) | F(GUEST_UFO));
    }
    if (!(feat & (F(GUEST_TSO4) | F(GUEST_TSO6)))) {
        feat &= ~F(GUEST_ECN);
    }
    if (!(feat & F(CTRL_VQ))) {
        feat &= ~(F(CTRL_RX) | F(CTRL_VLAN) | F(CTRL_MAC_ADDR) | F(CTRL_RX_EXTRA) |
                  F(GUEST_ANNOUNCE) | F(MQ));
    }
#undef F
    bar_write(CC(guest_feature_select), 0, 4);
    bar_write(CC(guest_feature), (uint32_t)feat, 4);
    bar_write(CC(guest_feature_select), 1, 4);
    bar_write(CC(guest_feature), (uint32_t)(feat >> 32), 4);
    uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
    bar_write(CC(device_status), s, 1);
    if (!(bar_read(CC(device_status), 1) & VIRTIO_CONFIG_S_FEATURES_OK)) {
        fail("the prologue's features %#llx were refused", (unsigned long long)feat);
    }
    unsigned nq = (unsigned)bar_read(CC(num_queues), 2);
    for (unsigned q = 0; q < nq && q < NQ; q++) {
        memset(gpa_ptr(QBASE(q)), 0, 0x8000);
        bar_write(CC(queue_select), q, 2);
        unsigned max = (unsigned)bar_read(CC(queue_size), 2);
        unsigned n = 1u << (3 + log2 % 8); /* 8 .. 1024 */
        while (n > max) {
            n >>= 1;
        }
        drv.qsize[q] = (uint16_t)n;
        drv.next_desc[q] = 0;
        bar_write(CC(queue_size), n, 2);
        bar_write(CC(queue_msix_vector), q, 2);
        bar_write(CC(queue_desc_lo), QBASE(q), 4);
        bar_write(CC(queue_desc_hi), 0, 4);
        bar_write(CC(queue_avail_lo), QBASE(q) + AVAIL_OFF, 4);
        bar_write(CC(queue_avail_hi), 0, 4);
        bar_write(CC(queue_used_lo), QBASE(q) + USED_OFF, 4);
        bar_write(CC(queue_used_hi), 0, 4);
        bar_write(CC(queue_enable), 1, 2);
    }
    bar_write(CC(msix_config), nq, 2);
    bar_write(CC(device_status), s | VIRTIO_CONFIG_S_DRIVER_OK, 1);
}

/* a chain of n descriptors for bufs (gpa, len, flags), direct in the ring
 * or as an indirect table; made available */
typedef struct Buf {
    uint64_t gpa;
    uint32_t len;
    uint16_t flags;
} Buf;

static void add_chain(unsigned q, const Buf *b, unsigned n, bool indirect)
{
    uint16_t size = qsize(q);
    uint16_t head = (uint16_t)(drv.next_desc[q] % size);
    if (indirect) {
        if (drv.table_off + 16 * n > TABLE_SIZE) {
            drv.table_off = 0;
        }
        uint32_t t = TABLE_BASE + drv.table_off;
        struct vring_desc *td = (struct vring_desc *)gpa_ptr(t);
        for (unsigned i = 0; i < n; i++) {
            td[i] = (struct vring_desc){
                .addr = b[i].gpa,
                .len = b[i].len,
                .flags = (uint16_t)(b[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
                .next = (uint16_t)(i + 1)};
        }
        drv.table_off += 16 * n;
        desc(q)[head] = (struct vring_desc){
            .addr = t, .len = 16 * n, .flags = VRING_DESC_F_INDIRECT, .next = 0};
        drv.next_desc[q] = (uint16_t)(head + 1);
    } else {
        for (unsigned i = 0; i < n; i++) {
            uint16_t d = (uint16_t)((head + i) % size);
            desc(q)[d] = (struct vring_desc){
                .addr = b[i].gpa,
                .len = b[i].len,
                .flags = (uint16_t)(b[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
                .next = (uint16_t)((d + 1) % size)};
        }
        drv.next_desc[q] = (uint16_t)((head + n) % size);
    }
    avail_add(q, head);
}

static const uint8_t dsts[4][6] = {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
                                   {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                                   {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01},
                                   {0x02, 0x00, 0x00, 0x00, 0x00, 0x07}};

/* an Ethernet frame of len bytes at p: destination by kind bits 0-1, an
 * 802.1Q tag if bit 2 (VLAN from the input), up to 255 bytes from the
 * input after the header, then a pattern */
static void make_frame(Input *in, uint8_t *p, size_t len, uint8_t kind)
{
    uint8_t h[18] = {0};
    memcpy(h, dsts[kind & 3], 6);
    h[6] = 0x02;
    h[11] = 0x01;
    size_t hl = 12;
    if (kind & 4) {
        uint16_t vid = (uint16_t)get(in, 2);
        h[hl++] = 0x81;
        h[hl++] = 0x00;
        h[hl++] = (uint8_t)(vid >> 8);
        h[hl++] = (uint8_t)vid;
    }
    h[hl++] = 0x08;
    h[hl++] = 0x00;
    memcpy(p, h, len < hl ? len : hl);
    size_t nin = (size_t)get(in, 1);
    for (size_t i = hl; i < len; i++) {
        p[i] = i - hl < nin ? (uint8_t)get(in, 1) : (uint8_t)(i * 7);
    }
    for (size_t i = len > hl ? len - hl : 0; i < nin; i++) {
        get(in, 1); /* what did not fit is consumed all the same */
    }
}

/* a transmit chain: the header (from the input or zero), the frame, in n
 * pieces; kind bit 4 an indirect table, bit 5 a device-writable buffer at
 * the end (the device must refuse it), bit 6 kick, bit 7 header from input */
static void tx_chain(Input *in)
{
    uint8_t kind = (uint8_t)get(in, 1);
    unsigned n = 1 + (kind & 15);
    size_t flen = (size_t)get(in, 3) % (NET_MAX_PACKET + 0x1000);
    uint8_t hdr[VNET_HDR] = {0};
    if (kind & 0x80) {
        for (int i = 0; i < VNET_HDR; i++) {
            hdr[i] = (uint8_t)get(in, 1);
        }
    }
    uint8_t fk = (uint8_t)get(in, 1);
    size_t total = VNET_HDR + flen;
    if (drv.tx_off + total > TX_END - TX_BASE) {
        drv.tx_off = 0;
    }
    uint32_t gpa = TX_BASE + drv.tx_off;
    memcpy(gpa_ptr(gpa), hdr, VNET_HDR);
    make_frame(in, gpa_ptr(gpa + VNET_HDR), flen, fk);
    drv.tx_off = (uint32_t)((drv.tx_off + total + 63) & ~63u);
    Buf b[17];
    size_t piece = total / n, off = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t l = i + 1 < n ? piece : total - off;
        b[i] = (Buf){gpa + off, (uint32_t)l, 0};
        off += l;
    }
    if (kind & 0x20) {
        b[n++] = (Buf){RX_BASE, 64, VRING_DESC_F_WRITE};
    }
    add_chain(1, b, n, kind & 0x10);
    if (kind & 0x40) {
        kick(1);
    }
}

/* count receive buffers of size bytes each (flags bit 0: each in two
 * descriptors, bit 1: indirect, bit 2: kick, bit 3: readable, which the
 * device must refuse) */
static void rx_buffers(Input *in)
{
    unsigned count = 1 + (unsigned)get(in, 1) % 64;
    uint32_t size = (uint32_t)get(in, 2) % 0x4001;
    uint8_t flags = (uint8_t)get(in, 1);
    uint16_t w = flags & 8 ? 0 : VRING_DESC_F_WRITE;
    for (unsigned i = 0; i < count; i++) {
        if (drv.rx_off + size > RX_END - RX_BASE) {
            drv.rx_off = 0;
        }
        uint32_t gpa = RX_BASE + drv.rx_off;
        drv.rx_off = (drv.rx_off + size + 15) & ~15u;
        if (flags & 1) {
            Buf b[2] = {{gpa, size / 2, w}, {gpa + size / 2, size - size / 2, w}};
            add_chain(0, b, 2, flags & 2);
        } else {
            Buf b = {gpa, size, w};
            add_chain(0, &b, 1, flags & 2);
        }
    }
    if (flags & 4) {
        kick(0);
    }
}

/* a control request: class, command, data from the input, the ack byte
 * (flags bit 0: kick, bit 1: the data in one piece with the header, bit 2:
 * no ack buffer, which the device must refuse) */
static void ctrl_request(Input *in)
{
    uint8_t cls = (uint8_t)get(in, 1), cmd = (uint8_t)get(in, 1), flags = (uint8_t)get(in, 1);
    size_t len = (size_t)get(in, 2) % 0x1000;
    if (drv.ctrl_off + len + 16 > CTRL_SIZE) {
        drv.ctrl_off = 0;
    }
    uint32_t gpa = CTRL_BASE + drv.ctrl_off;
    uint8_t *p = gpa_ptr(gpa);
    p[0] = cls;
    p[1] = cmd;
    size_t nin = (size_t)get(in, 2);
    for (size_t i = 0; i < len; i++) {
        p[2 + i] = i < nin ? (uint8_t)get(in, 1) : 0;
    }
    uint32_t ack = (uint32_t)(gpa + 2 + len);
    p[2 + len] = 0xee;
    drv.ctrl_off = (uint32_t)((drv.ctrl_off + len + 16) & ~7u);
    Buf b[3];
    unsigned n = 0;
    if (flags & 2) {
        b[n++] = (Buf){gpa, (uint32_t)(2 + len), 0};
    } else {
        b[n++] = (Buf){gpa, 2, 0};
        if (len) {
            b[n++] = (Buf){gpa + 2, (uint32_t)len, 0};
        }
    }
    if (!(flags & 4)) {
        b[n++] = (Buf){ack, 1, VRING_DESC_F_WRITE};
    }
    add_chain(2, b, n, false);
    if (flags & 1) {
        kick(2);
    }
}

/* a frame from the backend: kind bits 0-2 as make_frame, bit 3 the
 * backend's virtio-net header from the input (when it has one) */
static void backend_frame(Input *in)
{
    uint8_t kind = (uint8_t)get(in, 1);
    size_t len = (size_t)get(in, 3) % (NET_MAX_PACKET + 1024);
    size_t hl = f->vnet ? HOST_HDR : 0;
    memset(frame, 0, hl);
    if (hl && (kind & 8)) {
        for (size_t i = 0; i < hl; i++) {
            frame[i] = (uint8_t)get(in, 1);
        }
    }
    make_frame(in, frame + hl, len, kind);
    net_send(f->backend, frame, hl + len, backend_sent);
}

/* BAR4 offsets: sel bits 0-1 the structure, bit 2 anywhere (past the BAR
 * too), bits 3-5 the size */
static uint64_t bar4_off(uint8_t sel, uint16_t raw)
{
    static const uint32_t base[4] = {VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_ISR_OFF,
                                     VIRTIO_PCI_DEVICE_OFF, VIRTIO_PCI_NOTIFY_OFF};
    static const uint32_t span[4] = {0x40, 4, 0x10, 0x20};
    if (sel & 4) {
        return raw % (VIRTIO_PCI_BAR_SIZE + 0x10);
    }
    return base[sel & 3] + raw % span[sel & 3];
}
static const unsigned sizes[8] = {1, 2, 4, 8, 3, 2, 4, 1};

/* PCI configuration addresses: sel bits 0-1: anywhere, MSI-X Message
 * Control, the PCI configuration access capability, COMMAND; bits 2-3 the
 * size */
static uint32_t cfg_addr(uint8_t sel, uint8_t raw)
{
    switch (sel & 3) {
    case 0:
        return raw;
    case 1:
        return (uint32_t)f->msix_cap + 2 + raw % 2;
    case 2:
        return (uint32_t)f->vd->pci_cfg_cap + raw % 20;
    default:
        return PCI_COMMAND + raw % 2;
    }
}

/* ------------------------------------------------------------------------ */
/* Reset between inputs                                                     */

static void reset_machine(void)
{
    st.op = NULL;
    st.busy = false;
    bar_write(CC(device_status), 0, 1);
    msix_reset(f->dev);
    /* configuration space as realized: BARs, COMMAND, PM, the windows */
    for (uint32_t a = 0; a < PCI_CONFIG_SIZE; a += 4) {
        if (memcmp(&f->dev->config[a], &f->config0[a], 4)) {
            uint32_t v;
            memcpy(&v, &f->config0[a], 4);
            pci_config_write(f->dev, a, v, 4);
        }
    }
    memcpy(f->dev->config, f->config0, PCI_CONFIG_SIZE);
    /* down and up again: what waits in the net layer is dropped */
    net_set_link(f->backend, false);
    net_set_link(f->backend, true);
    net_flush_queued(f->backend);
    run_pending();
    for (int h = 0; h < MAX_ROUTES; h++) {
        if (routes[h].live) {
            fail("route %d outlived the MSI-X reset", h);
        }
    }
    bar_write(CC(device_status), 0, 1);
    /* what a driver finds after a reset (4.1.4.3) */
    if (bar_read(CC(device_status), 1) || bar_read(CC(msix_config), 2) != MSIX_NO_VECTOR ||
        f->vd->guest_features || f->vd->isr || f->line) {
        fail("the device is not as reset");
    }
    for (unsigned q = 0; q < f->vd->nqueues; q++) {
        bar_write(CC(queue_select), q, 2);
        if (bar_read(CC(queue_enable), 2) || bar_read(CC(queue_size), 2) != f->vd->vq[q].num_max ||
            bar_read(CC(queue_msix_vector), 2) != MSIX_NO_VECTOR || f->vd->vq[q].broken) {
            fail("queue %u is not as reset", q);
        }
    }
    bar_write(CC(queue_select), 0, 2);
    f->vd->config_generation = 0;
    memset(&drv, 0, sizeof(drv));
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static bool done;
    if (done) {
        return 0;
    }
    done = true;
    errout = stderr;
    if (!getenv("FUZZ_VNET_VERBOSE")) {
        /* the device warns once per broken ring: on every other input here */
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            stderr = null;
        }
    }
    clock_set_fake(&now_ns);
    const char *tr = getenv("FUZZ_VNET_TRACE"); /* trace points, as -trace takes them */
    if (tr) {
        Error err = {{0}};
        if (trace_parse_opt(tr, &err) < 0) {
            fprintf(errout, "fuzz_virtio_net: FUZZ_VNET_TRACE: %s\n", err.msg);
        }
    }
    for (int i = 0; i < NFX; i++) {
        fx_init(&fxs[i], i);
    }
    POISON(ram + RAM_SIZE, GUARD);
    POISON(high + HIGH_SIZE, GUARD);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    LLVMFuzzerInitialize(NULL, NULL);
    Input in = {data, size};
    uint8_t cfg = (uint8_t)get(&in, 1);
    f = &fxs[cfg & 3];
    pci_bus_set_msi_router(f->m.pci, cfg & 4 ? &router_routes : &router_send, f);
    memset(routes, 0, sizeof(routes));
    memset(ram, 0, RAM_SIZE);
    memset(high, 0, HIGH_SIZE);
    reset_machine();
    memset(&st, 0, sizeof(st));

    for (unsigned ops = 0; in.left && ops < MAX_OPS; ops++) {
        uint8_t op = (uint8_t)get(&in, 1);
        bool broken = f->vd->status & VIRTIO_CONFIG_S_NEEDS_RESET;
        uint64_t resets = st.resets, received = st.received;
        uint16_t used[NQ];
        for (unsigned q = 0; q < NQ; q++) {
            used[q] = f->vd->vq[q].used_idx;
        }
        int64_t t0 = cpu_ns();
        switch (op % 20) {
        case 0: { /* BAR4 write */
            st.op = "BAR4 write";
            uint8_t sel = (uint8_t)get(&in, 1);
            uint64_t off = bar4_off(sel, (uint16_t)get(&in, 2));
            bar_write(off, get(&in, 4), sizes[(sel >> 3) & 7]);
            break;
        }
        case 1: { /* BAR4 read */
            st.op = "BAR4 read";
            uint8_t sel = (uint8_t)get(&in, 1);
            uint64_t off = bar4_off(sel, (uint16_t)get(&in, 2));
            unsigned sz = sizes[(sel >> 3) & 7];
            bar_read(off, sz);
            if (off == VIRTIO_PCI_ISR_OFF && f->line) {
                fail("INTx still high after the ISR was read");
            }
            break;
        }
        case 2: { /* MSI-X table / PBA write */
            st.op = "MSI-X write";
            uint8_t sel = (uint8_t)get(&in, 1);
            uint64_t off = get(&in, 2) % 0x1010;
            if (!(sel & 1)) {
                off %= 16 * msix_nvectors(f->dev) + 8; /* the table, mostly */
            }
            memory_region_dispatch_write(f->msix_bar, off, get(&in, 8), sizes[(sel >> 1) & 7]);
            break;
        }
        case 3: { /* MSI-X table / PBA read */
            st.op = "MSI-X read";
            uint8_t sel = (uint8_t)get(&in, 1);
            memory_region_dispatch_read(f->msix_bar, get(&in, 2) % 0x1010, sizes[(sel >> 1) & 7]);
            break;
        }
        case 4: { /* configuration write */
            st.op = "config write";
            uint8_t sel = (uint8_t)get(&in, 1);
            uint32_t a = cfg_addr(sel, (uint8_t)get(&in, 1));
            pci_config_write(f->dev, a, (uint32_t)get(&in, 4), 1 << ((sel >> 2) % 3));
            break;
        }
        case 5: { /* configuration read (the access window reads the BAR) */
            st.op = "config read";
            uint8_t sel = (uint8_t)get(&in, 1);
            pci_config_read(f->dev, cfg_addr(sel, (uint8_t)get(&in, 1)), 1 << ((sel >> 2) % 3));
            break;
        }
        case 6: { /* raw bytes into guest RAM (bit 31: the high range) */
            st.op = "RAM write";
            uint32_t a = (uint32_t)get(&in, 4);
            unsigned len = (unsigned)get(&in, 1);
            uint8_t *base = a & 0x80000000u ? high : ram;
            uint32_t lim = a & 0x80000000u ? HIGH_SIZE : RAM_SIZE;
            a = (a & 0x7fffffffu) % lim;
            for (unsigned i = 0; i < len; i++) {
                uint8_t b = (uint8_t)get(&in, 1);
                if (a + i < lim) {
                    base[a + i] = b;
                }
            }
            break;
        }
        case 7: { /* a descriptor of queue q, at the prologue's ring */
            st.op = "descriptor write";
            unsigned q = (unsigned)get(&in, 1) % NQ;
            unsigned i = (unsigned)get(&in, 2) % qsize(q);
            uint8_t fl = (uint8_t)get(&in, 1);
            uint64_t addr = get(&in, 4);
            if (fl & 0x80) {
                addr = HIGH_BASE + addr % (HIGH_SIZE + 64); /* and past its end */
            } else if (!(fl & 0x40)) {
                addr %= RAM_SIZE + 64;
            }
            uint32_t len = (uint32_t)get(&in, 4);
            uint16_t next = (uint16_t)get(&in, 2);
            desc(q)[i] = (struct vring_desc){
                .addr = addr, .len = len, .flags = (uint16_t)(fl & 7), .next = next};
            break;
        }
        case 8: { /* the driver makes a head available */
            st.op = "avail";
            unsigned q = (unsigned)get(&in, 1) % NQ;
            avail_add(q, (uint16_t)get(&in, 2));
            break;
        }
        case 9: { /* avail flags, used_event, or the avail index */
            st.op = "avail fields";
            unsigned q = (unsigned)get(&in, 1) % NQ;
            uint8_t which = (uint8_t)get(&in, 1);
            uint16_t v = (uint16_t)get(&in, 2);
            struct vring_avail *a = avail(q);
            if (which % 3 == 0) {
                a->flags = v;
            } else if (which % 3 == 1) {
                a->ring[qsize(q)] = v; /* used_event */
            } else {
                __atomic_store_n(&a->idx, v, __ATOMIC_RELEASE);
            }
            break;
        }
        case 10:
            st.op = "backend frame";
            backend_frame(&in);
            break;
        case 11: { /* the link */
            st.op = "link";
            bool up = get(&in, 1) & 1;
            net_set_link(f->backend, up);
            uint16_t s = (uint16_t)bar_read(VIRTIO_PCI_DEVICE_OFF + 6, 2);
            if (!(s & VIRTIO_NET_S_LINK_UP) != !up) {
                fail("link %s but the configuration says %#x", up ? "up" : "down", s);
            }
            break;
        }
        case 12: /* the main loop: bottom halves and timers, time passing */
            st.op = "main loop";
            now_ns += (int64_t)get(&in, 2) * 1000;
            run_pending();
            break;
        case 13: { /* the driver prologue */
            st.op = "prologue";
            uint32_t drop = (uint32_t)get(&in, 4); /* features it leaves out */
            prologue(drop, (uint8_t)get(&in, 1));
            break;
        }
        case 14: { /* the backend busy, or taking what waits */
            st.op = "backend busy";
            st.busy = get(&in, 1) & 1;
            if (!st.busy) {
                net_flush_queued(f->backend);
            }
            break;
        }
        case 15:
            st.op = "transmit chain";
            tx_chain(&in);
            break;
        case 16:
            st.op = "receive buffers";
            rx_buffers(&in);
            break;
        case 17:
            st.op = "control request";
            ctrl_request(&in);
            break;
        case 18: { /* notify queue q (value, size from the input) */
            st.op = "notify";
            unsigned q = (unsigned)get(&in, 1) % 4;
            bar_write(VIRTIO_PCI_NOTIFY_OFF + 4 * q, get(&in, 2), op & 0x80 ? 4 : 2);
            break;
        }
        case 19: { /* MSI-X on with vectors programmed, as a driver does it */
            st.op = "MSI-X setup";
            uint8_t mask = (uint8_t)get(&in, 1);
            for (unsigned v = 0; v < msix_nvectors(f->dev); v++) {
                memory_region_dispatch_write(f->msix_bar, 16 * v, 0xfee00000u, 4);
                memory_region_dispatch_write(f->msix_bar, 16 * v + 4, 0, 4);
                memory_region_dispatch_write(f->msix_bar, 16 * v + 8, 0x4020 + v, 4);
                memory_region_dispatch_write(f->msix_bar, 16 * v + 12, (mask >> v) & 1, 4);
            }
            pci_config_write(f->dev, (uint32_t)f->msix_cap + 2, mask & 0x80 ? 0xc000 : 0x8000, 2);
            break;
        }
        }
        check_time(t0);
        /* the promises, after every operation */
        if (msix_enabled(f->dev) && f->line) {
            fail("INTx high while MSI-X is enabled");
        }
        if (broken && st.resets == resets) {
            if (!(f->vd->status & VIRTIO_CONFIG_S_NEEDS_RESET)) {
                fail("DEVICE_NEEDS_RESET cleared without a reset");
            }
            for (unsigned q = 0; q < NQ; q++) {
                if (f->vd->vq[q].used_idx != used[q]) {
                    fail("queue %u used after DEVICE_NEEDS_RESET", q);
                }
            }
            /* the backend may still take what it had queued before */
            if (st.received != received && op % 20 != 14) {
                fail("a frame sent after DEVICE_NEEDS_RESET");
            }
        }
        for (unsigned q = 0; q < f->vd->nqueues; q++) {
            const VirtQueue *vq = &f->vd->vq[q];
            if (vq->enabled &&
                (vq->num == 0 || vq->num > vq->num_max || (vq->num & (vq->num - 1)))) {
                fail("queue %u enabled with %u entries", q, vq->num);
            }
        }
    }
    int64_t t0 = cpu_ns();
    st.op = "the end";
    run_pending();
    check_time(t0);
    if (getenv("FUZZ_VNET_VERBOSE")) {
        fprintf(errout,
                "fuzz_virtio_net: status %#x, used %u/%u/%u, %llu frames to the backend, %llu "
                "MSI messages\n",
                f->vd->status, f->vd->vq[0].used_idx, f->vd->vq[1].used_idx, f->vd->vq[2].used_idx,
                (unsigned long long)st.received, (unsigned long long)st.msis);
    }
    reset_machine();
    return 0;
}
