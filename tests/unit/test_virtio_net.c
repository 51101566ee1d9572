/* virtio-net-pci against a small virtio driver written here from the
 * specification (Virtual I/O Device (VIRTIO) Version 1.2, 3.1 and 4.1),
 * over fake guest RAM and a fake backend: feature negotiation, queue setup,
 * transmit and receive (one buffer, merged buffers, no buffer: the frame
 * waits), the receive filter through the control queue, link changes,
 * MSI-X delivery, and hostile rings (the device sets NEEDS_RESET, the VMM
 * goes on). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "core/loop.h"
#include "core/machine.h"
#include "hw/msix.h"
#include "hw/pci.h"
#include "hw/virtio/virtio_pci.h"
#include "net/net.h"
#include "qom/object.h"

#define RAM_SIZE (8u << 20)
#define QN 16 /* queue size the test driver uses */
#define MAX_SENT 64

typedef struct Fx {
    Machine m;
    PCIDevice *dev;
    MemoryRegion *bar;
    Object *obj;
    NetClient *backend;
    char backend_id[32];
    bool vnet; /* the backend carries a virtio_net_hdr */
    int irq_level, irq_raises;
    int msis;
    uint32_t last_msi_data;
    int nsent;
    uint8_t sent[MAX_SENT][2048];
    size_t sent_len[MAX_SENT];
    uint16_t avail_idx[3], used_seen[3];
    uint16_t next_desc[3];
} Fx;

static uint8_t *ram;
static Fx *cur;

static void set_gsi(void *opaque, int gsi, int level)
{
    Fx *f = opaque;
    (void)gsi;
    if (level && !f->irq_level) {
        f->irq_raises++;
    }
    f->irq_level = level;
}

static void msi_send(void *opaque, uint64_t addr, uint32_t data)
{
    (void)opaque;
    (void)addr;
    cur->msis++;
    cur->last_msi_data = data;
}
static const PCIMsiRouter msi_router = {.send = msi_send};

static ssize_t backend_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    Fx *f = nc->opaque;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (f->nsent < MAX_SENT && total + iov[i].iov_len <= sizeof(f->sent[0])) {
            memcpy(f->sent[f->nsent] + total, iov[i].iov_base, iov[i].iov_len);
        }
        total += iov[i].iov_len;
    }
    if (f->nsent < MAX_SENT) {
        f->sent_len[f->nsent] = total;
    }
    f->nsent++;
    return (ssize_t)total;
}
static bool backend_has_vnet(NetClient *nc)
{
    return ((Fx *)nc->opaque)->vnet;
}
static void backend_using_vnet(NetClient *nc, bool on)
{
    net_link_set_vnet_hdr_len(nc, on ? sizeof(struct virtio_net_hdr) : 0);
}
static int backend_set_offload(NetClient *nc, unsigned flags)
{
    (void)nc;
    (void)flags;
    return 0;
}
static const NetClientInfo backend_info = {
    .type = "fake",
    .kind = NET_CLIENT_BACKEND,
    .receive_iov = backend_receive,
    .has_vnet_hdr = backend_has_vnet,
    .using_vnet_hdr = backend_using_vnet,
    .set_offload = backend_set_offload,
};

static Fx *fx_new(bool vnet, const char *extra)
{
    static int serial;
    Fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    cur = f;
    if (!ram) {
        ram = calloc(1, RAM_SIZE);
    }
    memset(ram, 0, RAM_SIZE);
    f->m.ram.range[0] = (GuestMemRange){.gpa = 0, .size = RAM_SIZE, .host = ram};
    f->m.ram.nranges = 1;
    f->m.ram.total = RAM_SIZE;
    address_space_init(&f->m.mmio, "mmio");
    address_space_init(&f->m.pio, "pio");
    f->m.pci = pci_bus_new(&f->m.mmio, &f->m.pio, set_gsi, f);
    pci_bus_set_msi_router(f->m.pci, &msi_router, f);
    f->vnet = vnet;
    snprintf(f->backend_id, sizeof(f->backend_id), "vfake%d", serial++);
    f->backend = net_client_new(&backend_info, f->backend_id, f);
    net_backend_register(f->backend);
    char opts[256];
    snprintf(opts, sizeof(opts), "virtio-net-pci,netdev=%s,mac=52:54:00:aa:bb:cc%s%s",
             f->backend_id, extra ? "," : "", extra ? extra : "");
    Error err = {{0}};
    f->obj = object_new_from_opts(opts, TYPE_KIND_DEVICE, &err);
    if (!f->obj || f->obj->type->realize(f->obj, &f->m, &err) < 0) {
        fail_msg("realize: %s", err.msg);
    }
    for (int slot = 1; slot < PCI_MAX_DEVICES; slot++) {
        PCIDevice *d = pci_bus_device(f->m.pci, slot);
        if (d && pci_config_read(d, PCI_VENDOR_ID, 2) == 0x1af4) {
            f->dev = d;
        }
    }
    assert_non_null(f->dev);
    f->bar = &f->dev->bar[VIRTIO_PCI_BAR].region;
    pci_config_write(f->dev, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    return f;
}

/* --- the driver's register accesses (BAR4 through the memory layer) --- */

static void w(Fx *f, uint64_t off, uint64_t v, unsigned size)
{
    memory_region_dispatch_write(f->bar, off, v, size);
}
static uint64_t r(Fx *f, uint64_t off, unsigned size)
{
    return memory_region_dispatch_read(f->bar, off, size);
}
#define CC(field) (VIRTIO_PCI_COMMON_OFF + offsetof(struct virtio_pci_common_cfg, field))

static uint64_t device_features(Fx *f)
{
    w(f, CC(device_feature_select), 0, 4);
    uint64_t lo = r(f, CC(device_feature), 4);
    w(f, CC(device_feature_select), 1, 4);
    return lo | r(f, CC(device_feature), 4) << 32;
}

static uint8_t status(Fx *f)
{
    return (uint8_t)r(f, CC(device_status), 1);
}

/* ring layout of queue q in RAM */
static uint64_t desc_gpa(int q)
{
    return 0x10000 + 0x4000 * (uint64_t)q;
}
static uint64_t avail_gpa(int q)
{
    return desc_gpa(q) + 0x1000;
}
static uint64_t used_gpa(int q)
{
    return desc_gpa(q) + 0x2000;
}
static struct vring_desc *desc(int q)
{
    return (struct vring_desc *)(ram + desc_gpa(q));
}
static struct vring_avail *avail(int q)
{
    return (struct vring_avail *)(ram + avail_gpa(q));
}
static struct vring_used *used(int q)
{
    return (struct vring_used *)(ram + used_gpa(q));
}

/* 3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues,
 * DRIVER_OK. Returns the status read back after FEATURES_OK. */
static uint8_t drv_init(Fx *f, uint64_t want)
{
    w(f, CC(device_status), 0, 1);
    w(f, CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
    uint64_t feat = device_features(f) & want;
    w(f, CC(guest_feature_select), 0, 4);
    w(f, CC(guest_feature), (uint32_t)feat, 4);
    w(f, CC(guest_feature_select), 1, 4);
    w(f, CC(guest_feature), (uint32_t)(feat >> 32), 4);
    w(f, CC(device_status),
      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK, 1);
    uint8_t st = status(f);
    if (!(st & VIRTIO_CONFIG_S_FEATURES_OK)) {
        return st;
    }
    unsigned nq = (unsigned)r(f, CC(num_queues), 2);
    for (unsigned q = 0; q < nq && q < 3; q++) {
        /* fresh rings, as a driver allocates them zeroed */
        memset(ram + desc_gpa((int)q), 0, 0x3000);
        w(f, CC(queue_select), q, 2);
        w(f, CC(queue_size), QN, 2);
        w(f, CC(queue_desc_lo), (uint32_t)desc_gpa((int)q), 4);
        w(f, CC(queue_desc_hi), 0, 4);
        w(f, CC(queue_avail_lo), (uint32_t)avail_gpa((int)q), 4);
        w(f, CC(queue_avail_hi), 0, 4);
        w(f, CC(queue_used_lo), (uint32_t)used_gpa((int)q), 4);
        w(f, CC(queue_used_hi), 0, 4);
        w(f, CC(queue_enable), 1, 2);
        f->avail_idx[q] = f->used_seen[q] = f->next_desc[q] = 0;
    }
    w(f, CC(device_status), st | VIRTIO_CONFIG_S_DRIVER_OK, 1);
    return st;
}

#define BASE_FEATURES                                                                              \
    ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |   \
     (1ull << VIRTIO_NET_F_CTRL_VQ) | (1ull << VIRTIO_NET_F_CTRL_RX))

typedef struct Buf {
    uint64_t gpa;
    uint32_t len;
    bool write;
} Buf;

/* a chain of n buffers made available on queue q */
static uint16_t drv_add(Fx *f, int q, const Buf *b, int n)
{
    uint16_t head = f->next_desc[q];
    for (int i = 0; i < n; i++) {
        uint16_t d = (uint16_t)((head + i) % QN);
        desc(q)[d].addr = b[i].gpa;
        desc(q)[d].len = b[i].len;
        desc(q)[d].flags =
            (uint16_t)((b[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0));
        desc(q)[d].next = (uint16_t)((d + 1) % QN);
    }
    f->next_desc[q] = (uint16_t)((head + n) % QN);
    avail(q)->ring[f->avail_idx[q] % QN] = head;
    f->avail_idx[q]++;
    __atomic_store_n(&avail(q)->idx, f->avail_idx[q], __ATOMIC_RELEASE);
    return head;
}

static void drv_kick(Fx *f, int q)
{
    w(f, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * (unsigned)q, (uint64_t)q, 2);
}

static uint16_t used_idx(int q)
{
    return __atomic_load_n(&used(q)->idx, __ATOMIC_ACQUIRE);
}

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};

/* an Ethernet frame of len bytes to dst */
static void make_frame(uint8_t *p, size_t len, const uint8_t *dst)
{
    memset(p, 0, len);
    memcpy(p, dst, 6);
    memcpy(p + 6, "\x02\x00\x00\x00\x00\x01", 6);
    p[12] = 0x08;
    for (size_t i = 14; i < len; i++) {
        p[i] = (uint8_t)i;
    }
}

static void test_identity_and_caps(void **state)
{
    (void)state;
    Fx *f = fx_new(false, NULL);
    assert_int_equal(pci_config_read(f->dev, PCI_DEVICE_ID, 2), 0x1041);
    assert_int_equal(pci_config_read(f->dev, PCI_REVISION_ID, 1), 1);
    assert_true(pci_config_read(f->dev, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    /* walk the capability list: the four virtio structures and PCI_CFG
     * (vendor specific), MSI-X and PM, each once */
    int seen[6] = {0}, msix = 0, pm = 0, n = 0;
    for (uint32_t c = pci_config_read(f->dev, PCI_CAPABILITY_LIST, 1); c && n < 48;
         c = pci_config_read(f->dev, c + 1, 1), n++) {
        uint32_t id = pci_config_read(f->dev, c, 1);
        if (id == PCI_CAP_ID_VNDR) {
            uint32_t type = pci_config_read(f->dev, c + 3, 1);
            assert_true(type >= 1 && type <= 5);
            seen[type]++;
            assert_int_equal(pci_config_read(f->dev, c + 4, 1), VIRTIO_PCI_BAR);
        } else if (id == PCI_CAP_ID_MSIX) {
            msix++;
        } else if (id == PCI_CAP_ID_PM) {
            pm++;
        }
    }
    for (int t = 1; t <= 5; t++) {
        assert_int_equal(seen[t], 1);
    }
    assert_int_equal(msix, 1);
    assert_int_equal(pm, 1);
    /* 3 queues (rx, tx, ctrl) + config */
    assert_int_equal(msix_nvectors(f->dev), 4);
    assert_int_equal(r(f, CC(num_queues), 2), 3);
    /* the MAC in the device configuration */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(r(f, VIRTIO_PCI_DEVICE_OFF + (unsigned)i, 1), guest_mac[i]);
    }
    /* no vnet_hdr backend: no offloads offered */
    uint64_t feat = device_features(f);
    assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
    assert_false(feat & (1ull << VIRTIO_NET_F_CSUM));
    assert_false(feat & (1ull << VIRTIO_NET_F_GUEST_TSO4));
    Fx *g = fx_new(true, NULL);
    feat = device_features(g);
    assert_true(feat & (1ull << VIRTIO_NET_F_CSUM));
    assert_true(feat & (1ull << VIRTIO_NET_F_HOST_TSO4));
    assert_true(feat & (1ull << VIRTIO_NET_F_GUEST_CSUM));
    assert_true(feat & (1ull << VIRTIO_NET_F_GUEST_TSO6));
}

static void test_feature_negotiation(void **state)
{
    (void)state;
    Fx *f = fx_new(false, NULL);
    /* a legacy driver (no VERSION_1): FEATURES_OK refused */
    uint8_t st = drv_init(f, BASE_FEATURES & ~(1ull << VIRTIO_F_VERSION_1));
    assert_false(st & VIRTIO_CONFIG_S_FEATURES_OK);
    /* CTRL_RX without CTRL_VQ violates 5.1.3.1: refused */
    st = drv_init(f, BASE_FEATURES & ~(1ull << VIRTIO_NET_F_CTRL_VQ));
    assert_false(st & VIRTIO_CONFIG_S_FEATURES_OK);
    /* a feature the device did not offer: refused */
    w(f, CC(device_status), 0, 1);
    w(f, CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
    w(f, CC(guest_feature_select), 1, 4);
    w(f, CC(guest_feature), 1u | (1u << 30), 4); /* VERSION_1 and bit 62 */
    w(f, CC(device_status), 0x0b, 1);
    assert_false(status(f) & VIRTIO_CONFIG_S_FEATURES_OK);
    /* the proper set: accepted, DRIVER_OK set */
    st = drv_init(f, BASE_FEATURES);
    assert_true(st & VIRTIO_CONFIG_S_FEATURES_OK);
    assert_true(status(f) & VIRTIO_CONFIG_S_DRIVER_OK);
    /* reset: status 0 reads back 0, queues disabled */
    w(f, CC(device_status), 0, 1);
    assert_int_equal(status(f), 0);
    w(f, CC(queue_select), 1, 2);
    assert_int_equal(r(f, CC(queue_enable), 2), 0);
    assert_int_equal(r(f, CC(queue_size), 2), 256);
    /* a queue that does not exist reads size 0 */
    w(f, CC(queue_select), 7, 2);
    assert_int_equal(r(f, CC(queue_size), 2), 0);
}

static void test_tx(void **state)
{
    (void)state;
    Fx *f = fx_new(false, NULL);
    drv_init(f, BASE_FEATURES);
    /* header (12 bytes, no offload) in one buffer, the frame in two */
    uint8_t frame[100];
    make_frame(frame, sizeof(frame), guest_mac);
    memset(ram + 0x100000, 0, 12);
    memcpy(ram + 0x101000, frame, 40);
    memcpy(ram + 0x102000, frame + 40, 60);
    Buf b[3] = {{0x100000, 12, false}, {0x101000, 40, false}, {0x102000, 60, false}};
    drv_add(f, 1, b, 3);
    drv_kick(f, 1);
    assert_int_equal(f->nsent, 1);
    assert_int_equal(f->sent_len[0], sizeof(frame));
    assert_memory_equal(f->sent[0], frame, sizeof(frame));
    assert_int_equal(used_idx(1), 1);
    assert_int_equal(used(1)->ring[0].id, 0);
    /* INTx (MSI-X is off): ISR bit 0, read clears and lowers the line */
    assert_int_equal(f->irq_level, 1);
    assert_int_equal(r(f, VIRTIO_PCI_ISR_OFF, 1), 1);
    assert_int_equal(f->irq_level, 0);
    assert_int_equal(r(f, VIRTIO_PCI_ISR_OFF, 1), 0);
}

static void test_tx_vnet_hdr_passed_on(void **state)
{
    (void)state;
    Fx *f = fx_new(true, NULL);
    drv_init(f, BASE_FEATURES | (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_HOST_TSO4));
    struct virtio_net_hdr_mrg_rxbuf h = {0};
    h.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h.hdr.gso_size = 1448;
    h.hdr.hdr_len = 54;
    h.hdr.csum_start = 34;
    h.hdr.csum_offset = 16;
    memcpy(ram + 0x100000, &h, 12);
    make_frame(ram + 0x100000 + 12, 300, guest_mac);
    Buf b = {0x100000, 312, false};
    drv_add(f, 1, &b, 1);
    drv_kick(f, 1);
    assert_int_equal(f->nsent, 1);
    /* the backend gets its 10-byte header as the guest wrote it, then the frame */
    assert_int_equal(f->sent_len[0], 10 + 300);
    assert_memory_equal(f->sent[0], &h.hdr, 10);
    assert_memory_equal(f->sent[0] + 10, ram + 0x100000 + 12, 300);
}

static void test_rx_one_buffer_and_backpressure(void **state)
{
    (void)state;
    Fx *f = fx_new(false, NULL);
    drv_init(f, BASE_FEATURES);
    uint8_t frame[200];
    make_frame(frame, sizeof(frame), guest_mac);
    /* no receive buffer yet: the frame waits (queued), nothing is lost */
    assert_int_equal(net_send(f->backend, frame, sizeof(frame), NULL), 0);
    assert_int_equal(used_idx(0), 0);
    Buf b = {0x200000, 2048, true};
    drv_add(f, 0, &b, 1);
    drv_kick(f, 0);
    assert_int_equal(used_idx(0), 1);
    assert_int_equal(used(0)->ring[0].len, 12 + sizeof(frame));
    struct virtio_net_hdr_mrg_rxbuf h;
    memcpy(&h, ram + 0x200000, 12);
    assert_int_equal(h.num_buffers, 1);
    assert_int_equal(h.hdr.flags, 0);
    assert_memory_equal(ram + 0x200000 + 12, frame, sizeof(frame));
}

static void test_rx_mergeable(void **state)
{
    (void)state;
    Fx *f = fx_new(false, NULL);
    drv_init(f, BASE_FEATURES | (1ull << VIRTIO_NET_F_MRG_RXBUF));
    for (int i = 0; i < 6; i++) {
        Buf b = {0x300000 + 0x1000 * (uint64_t)i, 64, true};
        drv_add(f, 0, &b, 1);
    }
    drv_kick(f, 0);
    uint8_t frame[200];
    make_frame(frame, sizeof(frame), guest_mac);
    assert_int_equal(net_send(f->backend, frame, sizeof(frame), NULL), (ssize_t)sizeof(frame));
    /* 12 + 200 bytes in 64-byte buffers: 4 of them */
    assert_int_equal(used_idx(0), 4);
    struct virtio_net_hdr_mrg_rxbuf h;
    memcpy(&h, ram + 0x300000, 12);
    assert_int_equal(h.num_buffers, 4);
    uint8_t got[212];
    for (int i = 0; i < 4; i++) {
        uint32_t len = used(0)->ring[i].len;
        assert_int_equal(len, i < 3 ? 64 : 212 - 192);
        memcpy(got + 64 * i, ram + 0x300000 + 0x1000 * (uint64_t)used(0)->ring[i].id, len);
    }
    assert_memory_equal(got + 12, frame, sizeof(frame));
    /* a frame that needs more buffers than are left (2 of 64 bytes) waits */
    assert_int_equal(net_send(f->backend, frame, sizeof(frame), NULL), 0);
    assert_int_equal(used_idx(0), 4);
}

/* Zero copy: the backend reads a frame straight into the buffer that
 * net_receive_prepare offers (after the header's room), and what does not
 * fit goes through its own buffer into the next ones (MRG_RXBUF) */
static void test_rx_zerocopy(void **state)
{
    (void)state;
    Fx *f = fx_new(false, NULL);
    drv_init(f, BASE_FEATURES | (1ull << VIRTIO_NET_F_MRG_RXBUF));
    struct iovec iov[16];
    /* too few buffers for any frame (48 with MRG_RXBUF): the path stays closed */
    Buf b0 = {0x600000, 128, true};
    drv_add(f, 0, &b0, 1);
    drv_kick(f, 0);
    assert_int_equal(net_receive_prepare(f->backend, iov, 16), 0);
    for (int i = 1; i < QN; i++) {
        Buf b = {0x600000 + 0x1000 * (uint64_t)i, 128, true};
        drv_add(f, 0, &b, 1);
    }
    /* a 16-entry ring never has 48: without MRG_RXBUF one buffer will do */
    drv_init(f, BASE_FEATURES);
    Buf big = {0x700000, 2048, true};
    drv_add(f, 0, &big, 1);
    drv_kick(f, 0);
    int k = net_receive_prepare(f->backend, iov, 16);
    assert_int_equal(k, 1);
    assert_ptr_equal(iov[0].iov_base, ram + 0x700000 + 12);
    assert_int_equal(iov[0].iov_len, 2048 - 12);
    uint8_t frame[300];
    make_frame(frame, sizeof(frame), guest_mac);
    memcpy(iov[0].iov_base, frame, sizeof(frame));
    net_receive_commit(f->backend, NULL, sizeof(frame), NULL, 0);
    assert_int_equal(used_idx(0), 1);
    assert_int_equal(used(0)->ring[0].len, 12 + sizeof(frame));
    struct virtio_net_hdr_mrg_rxbuf h;
    memcpy(&h, ram + 0x700000, 12);
    assert_int_equal(h.num_buffers, 1);
    assert_memory_equal(ram + 0x700000 + 12, frame, sizeof(frame));
    /* filtered after the read (promiscuous off, another MAC): the buffer
     * goes back to the ring, unused */
    uint8_t *cmd = ram + 0x500000;
    cmd[0] = VIRTIO_NET_CTRL_RX;
    cmd[1] = VIRTIO_NET_CTRL_RX_PROMISC;
    cmd[2] = 0;
    Buf c[3] = {{0x500000, 2, false}, {0x500002, 1, false}, {0x501000, 1, true}};
    drv_add(f, 2, c, 3);
    drv_kick(f, 2);
    Buf big2 = {0x710000, 2048, true};
    drv_add(f, 0, &big2, 1);
    k = net_receive_prepare(f->backend, iov, 16);
    assert_int_equal(k, 1);
    const uint8_t other[6] = {0x52, 0x54, 0x00, 0x11, 0x22, 0x33};
    make_frame(iov[0].iov_base, 100, other);
    net_receive_commit(f->backend, NULL, 100, NULL, 0);
    assert_int_equal(used_idx(0), 1);
    /* the same buffer is offered again, and a read that failed gives it back */
    k = net_receive_prepare(f->backend, iov, 16);
    assert_int_equal(k, 1);
    assert_ptr_equal(iov[0].iov_base, ram + 0x710000 + 12);
    net_receive_commit(f->backend, NULL, 0, NULL, 0);
    /* a frame larger than the buffer without MRG_RXBUF: dropped, counted,
     * the buffer back */
    k = net_receive_prepare(f->backend, iov, 16);
    assert_int_equal(k, 1);
    make_frame(iov[0].iov_base, 100, guest_mac);
    static uint8_t tail[4000];
    struct iovec rest = {tail, sizeof(tail)};
    net_receive_commit(f->backend, NULL, 2036 + sizeof(tail), &rest, 1);
    assert_int_equal(used_idx(0), 1);
    assert_false(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_rx_filter_ctrl(void **state)
{
    (void)state;
    Fx *f = fx_new(false, NULL);
    drv_init(f, BASE_FEATURES);
    for (int i = 0; i < 4; i++) {
        Buf b = {0x400000 + 0x1000 * (uint64_t)i, 2048, true};
        drv_add(f, 0, &b, 1);
    }
    drv_kick(f, 0);
    uint8_t frame[64];
    const uint8_t other[6] = {0x52, 0x54, 0x00, 0x11, 0x22, 0x33};
    make_frame(frame, sizeof(frame), other);
    /* promiscuous after reset (as QEMU): another unicast MAC gets in */
    net_send(f->backend, frame, sizeof(frame), NULL);
    assert_int_equal(used_idx(0), 1);
    /* controlq: promiscuous off */
    uint8_t *cmd = ram + 0x500000;
    cmd[0] = VIRTIO_NET_CTRL_RX;
    cmd[1] = VIRTIO_NET_CTRL_RX_PROMISC;
    cmd[2] = 0;
    ram[0x501000] = 0xee;
    Buf c[3] = {{0x500000, 2, false}, {0x500002, 1, false}, {0x501000, 1, true}};
    drv_add(f, 2, c, 3);
    drv_kick(f, 2);
    assert_int_equal(ram[0x501000], VIRTIO_NET_OK);
    assert_int_equal(used_idx(2), 1);
    /* now the other MAC is filtered (consumed, not delivered), ours not */
    assert_int_equal(net_send(f->backend, frame, sizeof(frame), NULL), (ssize_t)sizeof(frame));
    assert_int_equal(used_idx(0), 1);
    make_frame(frame, sizeof(frame), guest_mac);
    net_send(f->backend, frame, sizeof(frame), NULL);
    assert_int_equal(used_idx(0), 2);
    /* multicast: not in the (empty) table, filtered; after
     * VIRTIO_NET_CTRL_MAC_TABLE_SET with it as the one multicast entry, in */
    const uint8_t mc[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
    make_frame(frame, sizeof(frame), mc);
    net_send(f->backend, frame, sizeof(frame), NULL);
    assert_int_equal(used_idx(0), 2);
    cmd[0] = VIRTIO_NET_CTRL_MAC;
    cmd[1] = VIRTIO_NET_CTRL_MAC_TABLE_SET;
    uint8_t *tab = ram + 0x502000;
    memset(tab, 0, 4); /* 0 unicast entries */
    tab[4] = 1;        /* 1 multicast entry */
    memset(tab + 5, 0, 3);
    memcpy(tab + 8, mc, 6);
    Buf t[3] = {{0x500000, 2, false}, {0x502000, 14, false}, {0x501000, 1, true}};
    drv_add(f, 2, t, 3);
    drv_kick(f, 2);
    assert_int_equal(ram[0x501000], VIRTIO_NET_OK);
    net_send(f->backend, frame, sizeof(frame), NULL);
    assert_int_equal(used_idx(0), 3);
    /* a table whose count runs past the request: VIRTIO_NET_ERR */
    tab[4] = 200;
    drv_add(f, 2, t, 3);
    drv_kick(f, 2);
    assert_int_equal(ram[0x501000], VIRTIO_NET_ERR);
    /* an unknown class: VIRTIO_NET_ERR, the device goes on */
    cmd[0] = 0x7f;
    Buf c2[3] = {{0x500000, 2, false}, {0x500002, 1, false}, {0x501000, 1, true}};
    drv_add(f, 2, c2, 3);
    drv_kick(f, 2);
    assert_int_equal(ram[0x501000], VIRTIO_NET_ERR);
    assert_false(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_link_and_config_interrupt(void **state)
{
    (void)state;
    Fx *f = fx_new(false, NULL);
    drv_init(f, BASE_FEATURES);
    uint8_t gen = (uint8_t)r(f, CC(config_generation), 1);
    assert_int_equal(r(f, VIRTIO_PCI_DEVICE_OFF + 6, 2) & VIRTIO_NET_S_LINK_UP, 1);
    net_set_link(f->backend, false);
    assert_int_equal(r(f, VIRTIO_PCI_DEVICE_OFF + 6, 2) & VIRTIO_NET_S_LINK_UP, 0);
    assert_int_not_equal(r(f, CC(config_generation), 1), gen);
    /* INTx with ISR bit 1 (configuration change) */
    assert_int_equal(r(f, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_CONFIG);
    net_set_link(f->backend, true);
    assert_int_equal(r(f, VIRTIO_PCI_DEVICE_OFF + 6, 2) & VIRTIO_NET_S_LINK_UP, 1);
}

/* MSI-X on: the table entry of the queue's vector gets the message */
static void test_msix_delivery(void **state)
{
    (void)state;
    Fx *f = fx_new(false, NULL);
    /* find the MSI-X capability, enable it (Message Control bit 15) */
    uint32_t c = pci_config_read(f->dev, PCI_CAPABILITY_LIST, 1);
    while (c && pci_config_read(f->dev, c, 1) != PCI_CAP_ID_MSIX) {
        c = pci_config_read(f->dev, c + 1, 1);
    }
    assert_true(c);
    /* program vector 1: address, data, unmasked */
    MemoryRegion *t = &f->dev->bar[VIRTIO_PCI_MSIX_BAR].region;
    memory_region_dispatch_write(t, 16 + 0, 0xfee00000, 4);
    memory_region_dispatch_write(t, 16 + 4, 0, 4);
    memory_region_dispatch_write(t, 16 + 8, 0x4071, 4);
    memory_region_dispatch_write(t, 16 + 12, 0, 4);
    pci_config_write(f->dev, c + 2, 0x8000, 2);
    assert_true(msix_enabled(f->dev));
    drv_init(f, BASE_FEATURES);
    w(f, CC(queue_select), 1, 2);
    w(f, CC(queue_msix_vector), 1, 2);
    assert_int_equal(r(f, CC(queue_msix_vector), 2), 1);
    /* a vector the function does not have reads back NO_VECTOR */
    w(f, CC(queue_msix_vector), 40, 2);
    assert_int_equal(r(f, CC(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
    w(f, CC(queue_msix_vector), 1, 2);
    make_frame(ram + 0x100000 + 12, 60, guest_mac);
    Buf b = {0x100000, 72, false};
    drv_add(f, 1, &b, 1);
    drv_kick(f, 1);
    assert_int_equal(f->nsent, 1);
    assert_int_equal(f->msis, 1);
    assert_int_equal(f->last_msi_data, 0x4071);
    assert_int_equal(f->irq_level, 0); /* no INTx with MSI-X on */
}

/* Hostile rings: the device sets NEEDS_RESET and stops; nothing crashes,
 * nothing loops. */
static void test_hostile_rings(void **state)
{
    (void)state;
    Fx *f = fx_new(false, NULL);
    drv_init(f, BASE_FEATURES);
    /* a TX chain that loops: descriptor 0 -> 1 -> 0 ... */
    desc(1)[0] =
        (struct vring_desc){.addr = 0x100000, .len = 64, .flags = VRING_DESC_F_NEXT, .next = 1};
    desc(1)[1] =
        (struct vring_desc){.addr = 0x100000, .len = 64, .flags = VRING_DESC_F_NEXT, .next = 0};
    avail(1)->ring[0] = 0;
    __atomic_store_n(&avail(1)->idx, 1, __ATOMIC_RELEASE);
    drv_kick(f, 1);
    assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
    assert_int_equal(f->nsent, 0);
    /* reset and again: a buffer outside RAM */
    drv_init(f, BASE_FEATURES);
    assert_false(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
    Buf b = {RAM_SIZE - 8, 64, false};
    drv_add(f, 1, &b, 1);
    drv_kick(f, 1);
    assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
    /* a receive buffer the device may only read */
    drv_init(f, BASE_FEATURES);
    Buf rb = {0x200000, 2048, false};
    drv_add(f, 0, &rb, 1);
    drv_kick(f, 0);
    uint8_t frame[64];
    make_frame(frame, sizeof(frame), guest_mac);
    net_send(f->backend, frame, sizeof(frame), NULL);
    assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
    /* a queue whose rings lie outside RAM: refused at enable */
    w(f, CC(device_status), 0, 1);
    w(f, CC(device_status), 3, 1);
    w(f, CC(guest_feature_select), 1, 4);
    w(f, CC(guest_feature), 1, 4);
    w(f, CC(device_status), 0x0b, 1);
    w(f, CC(queue_select), 0, 2);
    w(f, CC(queue_desc_lo), RAM_SIZE - 16, 4);
    w(f, CC(queue_enable), 1, 2);
    assert_int_equal(r(f, CC(queue_enable), 2), 0);
    assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
    /* an avail index far ahead of the device's: broken, not a long walk */
    drv_init(f, BASE_FEATURES);
    __atomic_store_n(&avail(1)->idx, 40000, __ATOMIC_RELEASE);
    drv_kick(f, 1);
    assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
    /* odd accesses to the common configuration are ignored */
    w(f, CC(device_feature_select) + 1, 0xff, 1);
    w(f, CC(queue_select), 0x12345678, 4);
    r(f, VIRTIO_PCI_BAR_SIZE - 1, 1);
}

int main(void)
{
    static int64_t now = 1000000000;
    clock_set_fake(&now);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_and_caps),
        cmocka_unit_test(test_feature_negotiation),
        cmocka_unit_test(test_tx),
        cmocka_unit_test(test_tx_vnet_hdr_passed_on),
        cmocka_unit_test(test_rx_one_buffer_and_backpressure),
        cmocka_unit_test(test_rx_mergeable),
        cmocka_unit_test(test_rx_zerocopy),
        cmocka_unit_test(test_rx_filter_ctrl),
        cmocka_unit_test(test_link_and_config_interrupt),
        cmocka_unit_test(test_msix_delivery),
        cmocka_unit_test(test_hostile_rings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
