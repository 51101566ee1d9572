/* A machine around one e1000, built by hand for unit tests (and usable by a
 * fuzz harness): fake guest RAM at gpa 0, the two address spaces, a PCI bus
 * whose interrupt line is a recorder, and a fake backend that records what
 * the NIC sends. The device is created through the object model exactly as
 * -device e1000,netdev=... does and driven through its BAR0 callbacks.
 *
 * Fixtures are never reused: each one gets its own backend id. Freed
 * fixtures keep their Machine (the PCI bus has no destructor) in a static
 * list so that nothing becomes unreachable (LeakSanitizer stays quiet). */
#ifndef E1KVM_TESTS_E1000_FIXTURE_H
#define E1KVM_TESTS_E1000_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/loop.h"
#include "core/machine.h"
#include "hw/e1000/e1000_regs.h"
#include "hw/pci.h"
#include "net/net.h"
#include "qom/object.h"
#include <linux/virtio_net.h>

#define FX_RAM_SIZE (16u << 20)
#define FX_MAX_SENT 1024

typedef struct E1000Fixture {
    Machine m;
    PCIDevice *dev;
    Object *obj;
    NetClient *backend;
    char backend_id[32];
    /* interrupt line as the bus drives it */
    int irq_level;
    int irq_raises;
    /* frames the NIC sent to the backend */
    int nsent;
    uint8_t *sent[FX_MAX_SENT];
    size_t sent_len[FX_MAX_SENT];
    bool backend_busy; /* receive_iov returns 0 */
    int sent_cbs;      /* sent_cb calls for frames the backend queued at the NIC */
    int link_changes;
} E1000Fixture;

static uint8_t *fx_ram;
/* the -device type fx_new creates: "e1000" (82540EM) or another model */
static const char *fx_type = "e1000";
static int64_t fx_now;
static E1000Fixture *fx_all[256];
static int fx_count;

static void fx_set_gsi(void *opaque, int gsi, int level)
{
    E1000Fixture *f = opaque;
    (void)gsi;
    if (level && !f->irq_level) {
        f->irq_raises++;
    }
    f->irq_level = level;
}

static ssize_t fx_backend_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    E1000Fixture *f = nc->opaque;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
    }
    if (f->backend_busy) {
        return 0;
    }
    if (f->nsent < FX_MAX_SENT) {
        uint8_t *p = malloc(total ? total : 1);
        size_t off = 0;
        for (int i = 0; i < iovcnt; i++) {
            memcpy(p + off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
        f->sent[f->nsent] = p;
        f->sent_len[f->nsent] = total;
    }
    f->nsent++;
    return (ssize_t)total;
}

static void fx_backend_link(NetClient *nc)
{
    E1000Fixture *f = nc->opaque;
    f->link_changes++;
}

static const NetClientInfo fx_backend_info = {
    .type = "fake",
    .kind = NET_CLIENT_BACKEND,
    .receive_iov = fx_backend_receive,
    .link_status_changed = fx_backend_link,
};

/* A backend with a virtio_net_hdr (like tap with vnet_hdr): the fixture
 * uses it while fx_backend_vnet is set. */
static bool fx_backend_vnet;

static bool fx_backend_has_vnet(NetClient *nc)
{
    (void)nc;
    return true;
}

static void fx_backend_using_vnet(NetClient *nc, bool enable)
{
    net_link_set_vnet_hdr_len(nc, enable ? sizeof(struct virtio_net_hdr) : 0);
}

static const NetClientInfo fx_backend_vnet_info = {
    .type = "fake",
    .kind = NET_CLIENT_BACKEND,
    .receive_iov = fx_backend_receive,
    .link_status_changed = fx_backend_link,
    .has_vnet_hdr = fx_backend_has_vnet,
    .using_vnet_hdr = fx_backend_using_vnet,
};

static void fx_sent_cb(NetClient *sender)
{
    E1000Fixture *f = sender->opaque;
    f->sent_cbs++;
}

static void fx_clear_sent(E1000Fixture *f)
{
    for (int i = 0; i < f->nsent && i < FX_MAX_SENT; i++) {
        free(f->sent[i]);
        f->sent[i] = NULL;
    }
    f->nsent = 0;
}

/* Create a machine and an e1000 ("e1000,netdev=fakeN" + ",extra" if given).
 * Returns NULL (and prints why) if the device cannot be realized. */
static E1000Fixture *fx_new_opts(const char *extra)
{
    static int serial;
    E1000Fixture *f = calloc(1, sizeof(*f));
    if (!f || fx_count == (int)(sizeof(fx_all) / sizeof(fx_all[0]))) {
        return NULL;
    }
    fx_all[fx_count++] = f;
    if (!fx_ram) {
        fx_ram = calloc(1, FX_RAM_SIZE);
    } else {
        memset(fx_ram, 0, FX_RAM_SIZE);
    }
    f->m.ram.range[0] = (GuestMemRange){.gpa = 0, .size = FX_RAM_SIZE, .host = fx_ram};
    f->m.ram.nranges = 1;
    f->m.ram.total = FX_RAM_SIZE;
    address_space_init(&f->m.mmio, "mmio");
    address_space_init(&f->m.pio, "pio");
    f->m.pci = pci_bus_new(&f->m.mmio, &f->m.pio, fx_set_gsi, f);

    snprintf(f->backend_id, sizeof(f->backend_id), "fake%d", serial++);
    f->backend = net_client_new(fx_backend_vnet ? &fx_backend_vnet_info : &fx_backend_info,
                                f->backend_id, f);
    net_backend_register(f->backend);

    char opts[256];
    snprintf(opts, sizeof(opts), "%s,netdev=%s%s%s", fx_type, f->backend_id, extra ? "," : "",
             extra ? extra : "");
    Error err = {{0}};
    f->obj = object_new_from_opts(opts, TYPE_KIND_DEVICE, &err);
    if (!f->obj || f->obj->type->realize(f->obj, &f->m, &err) < 0) {
        fprintf(stderr, "e1000 fixture: %s\n", err.msg);
        return NULL;
    }
    for (int slot = 1; slot < PCI_MAX_DEVICES; slot++) {
        PCIDevice *d = pci_bus_device(f->m.pci, slot);
        uint32_t id = d ? pci_config_read(d, PCI_DEVICE_ID, 2) : 0;
        if (d && pci_config_read(d, PCI_VENDOR_ID, 2) == E1000_VENDOR_INTEL &&
            (id == E1000_DEV_ID_82540EM || id == E1000_DEV_ID_82544GC_COPPER ||
             id == E1000_DEV_ID_82545EM_COPPER)) {
            f->dev = d;
        }
    }
    if (!f->dev) {
        return NULL;
    }
    /* what the driver's probe does: memory, I/O and bus mastering on */
    pci_config_write(f->dev, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER,
                     2);
    fx_now = 1000000000;
    clock_set_fake(&fx_now);
    return f;
}

static E1000Fixture *fx_new(void)
{
    return fx_new_opts(NULL);
}

static uint32_t fx_rd(E1000Fixture *f, uint32_t reg)
{
    MemoryRegion *mr = &f->dev->bar[0].region;
    return (uint32_t)memory_region_dispatch_read(mr, reg, 4);
}

static void fx_wr(E1000Fixture *f, uint32_t reg, uint32_t val)
{
    MemoryRegion *mr = &f->dev->bar[0].region;
    memory_region_dispatch_write(mr, reg, val, 4);
}

/* Advance the fake clock and run what expired. */
static void fx_advance(int64_t ns)
{
    fx_now += ns;
    while (timers_run_expired() > 0) {
    }
}

/* Quiesce and free the device and the backend. */
static void fx_free(E1000Fixture *f)
{
    if (!f) {
        return;
    }
    if (f->dev) {
        fx_wr(f, E1000_CTRL, E1000_CTRL_RST); /* timers off, line low */
    }
    fx_clear_sent(f);
    if (f->backend) {
        NetClient *nic = f->backend->peer;
        if (nic) {
            net_client_free(nic);
        }
        net_client_free(f->backend);
        f->backend = NULL;
    }
    if (f->obj) {
        object_free(f->obj);
        f->obj = NULL;
    }
    f->dev = NULL;
    clock_set_fake(NULL);
}

#ifdef cmocka_unit_test
/* cmocka setup/teardown: a fresh device per test (when included after
 * <cmocka.h>; the fuzz harness, which has no cmocka, does without; tests
 * that make their own devices leave them unused). */
__attribute__((unused)) static int setup(void **state)
{
    E1000Fixture *f = fx_new();
    if (!f) {
        return -1;
    }
    *state = f;
    return 0;
}

__attribute__((unused)) static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}
#endif

#endif
