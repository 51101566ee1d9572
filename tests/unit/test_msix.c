/* PCI capabilities and MSI-X (hw/pci.h, hw/msix.h) against a recording MSI
 * router: no KVM. The test function has the power management capability
 * and MSI-X with NVEC vectors in BAR MSIX_BAR; it sits in slot 1 of a bus
 * whose BARs the bus assigned and enabled, so the table is reached through
 * the mmio AddressSpace exactly as a guest's access after an exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/msix.h"
#include "hw/pci.h"

#define NVEC 4
#define MSIX_BAR 1
#define MAX_ROUTES 8

/* table entry fields, PBA, capability registers (PCI 3.0, 6.8.2) */
#define ENTRY(v) ((uint64_t)(v)*16)
#define ADDR_LO 0
#define ADDR_HI 4
#define DATA 8
#define CTRL 12
#define PBA 0x800
#define MC 2 /* Message Control in the capability */
#define MC_ENABLE 0x8000
#define MC_MASKALL 0x4000

typedef struct Recorder {
    int sends;
    uint64_t send_addr;
    uint32_t send_data;
    int adds, updates, dels, fires;
    bool fail_add;
    bool live[MAX_ROUTES];
    uint64_t raddr[MAX_ROUTES];
    uint32_t rdata[MAX_ROUTES];
    int fired[MAX_ROUTES];
} Recorder;

typedef struct Fixture {
    AddressSpace mmio, pio;
    PCIBus *bus;
    Recorder rec;
    int gsi_level[64];
    PCIDevice dev;
    int pm, msix; /* capability offsets */
    uint64_t table;
} Fixture;

static void rec_send(void *opaque, uint64_t addr, uint32_t data)
{
    Recorder *r = opaque;
    r->sends++;
    r->send_addr = addr;
    r->send_data = data;
}

static int rec_add(void *opaque, uint64_t addr, uint32_t data)
{
    Recorder *r = opaque;
    r->adds++;
    if (r->fail_add)
        return -1;
    for (int i = 0; i < MAX_ROUTES; i++) {
        if (!r->live[i]) {
            r->live[i] = true;
            r->raddr[i] = addr;
            r->rdata[i] = data;
            return i;
        }
    }
    return -1;
}

static int rec_update(void *opaque, int route, uint64_t addr, uint32_t data)
{
    Recorder *r = opaque;
    r->updates++;
    assert_true(route >= 0 && route < MAX_ROUTES && r->live[route]);
    r->raddr[route] = addr;
    r->rdata[route] = data;
    return 0;
}

static void rec_del(void *opaque, int route)
{
    Recorder *r = opaque;
    r->dels++;
    assert_true(route >= 0 && route < MAX_ROUTES && r->live[route]);
    r->live[route] = false;
}

static void rec_fire(void *opaque, int route)
{
    Recorder *r = opaque;
    r->fires++;
    assert_true(route >= 0 && route < MAX_ROUTES && r->live[route]);
    r->fired[route]++;
}

static const PCIMsiRouter routing_router = {
    .send = rec_send,
    .route_add = rec_add,
    .route_update = rec_update,
    .route_del = rec_del,
    .route_fire = rec_fire,
};
static const PCIMsiRouter send_only_router = {.send = rec_send};

static int live_routes(const Recorder *r)
{
    int n = 0;
    for (int i = 0; i < MAX_ROUTES; i++)
        n += r->live[i];
    return n;
}

static void record_gsi(void *opaque, int gsi, int level)
{
    Fixture *f = opaque;
    if (gsi >= 0 && gsi < 64)
        f->gsi_level[gsi] = level;
}

static uint64_t noop_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)size;
    return 0;
}

static void noop_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)val;
    (void)size;
}

static const MemoryRegionOps noop_ops = {.read = noop_read, .write = noop_write};

static int setup_with(void **state, const PCIMsiRouter *router)
{
    Fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    address_space_init(&f->mmio, "mmio");
    address_space_init(&f->pio, "pio");
    f->bus = pci_bus_new(&f->mmio, &f->pio, record_gsi, f);
    if (!f->bus)
        return -1;
    pci_bus_map_config_ports(f->bus);
    pci_bus_set_msi_router(f->bus, router, &f->rec);
    PCIDevice *d = &f->dev;
    pci_device_init(d, "msixdev", 0x1af4, 0x1041, 0x1af4, 0x1100, 0x020000, 1);
    pci_register_bar(d, 0, 0x1000, false, &noop_ops, NULL, "msixdev-bar0");
    f->pm = pci_add_pm_capability(d);
    Error err;
    if (f->pm < 0 || msix_init_exclusive_bar(d, NVEC, MSIX_BAR, &err) < 0)
        return -1;
    f->msix = pci_find_capability(d, PCI_CAP_ID_MSIX);
    if (pci_bus_add_device(f->bus, d, &err) < 0) {
        fprintf(stderr, "pci_bus_add_device: %s\n", err.msg);
        return -1;
    }
    f->table = pci_config_read(d, PCI_BASE_ADDRESS_0 + 4 * MSIX_BAR, 4) & ~0xfu;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, &routing_router);
}

static int setup_send_only(void **state)
{
    return setup_with(state, &send_only_router);
}

static int teardown(void **state)
{
    Fixture *f = *state;
    msix_uninit(&f->dev);
    free(f->bus);
    free(f->mmio.regions);
    free(f->pio.regions);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static uint32_t rd(Fixture *f, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    assert_true(address_space_read(&f->mmio, f->table + off, &v, size));
    return (uint32_t)v;
}

static uint64_t rd8(Fixture *f, uint64_t off)
{
    uint64_t v = 0;
    assert_true(address_space_read(&f->mmio, f->table + off, &v, 8));
    return v;
}

static void wr(Fixture *f, uint64_t off, uint64_t val, unsigned size)
{
    assert_true(address_space_write(&f->mmio, f->table + off, &val, size));
}

static uint16_t msgctl(Fixture *f)
{
    return (uint16_t)pci_config_read(&f->dev, (uint32_t)f->msix + MC, 2);
}

static void set_msgctl(Fixture *f, uint16_t v)
{
    pci_config_write(&f->dev, (uint32_t)f->msix + MC, v, 2);
}

/* what Linux does: address and data, then unmask */
static void program(Fixture *f, unsigned v, uint64_t addr, uint32_t data, bool unmask)
{
    wr(f, ENTRY(v) + ADDR_LO, (uint32_t)addr, 4);
    wr(f, ENTRY(v) + ADDR_HI, (uint32_t)(addr >> 32), 4);
    wr(f, ENTRY(v) + DATA, data, 4);
    if (unmask)
        wr(f, ENTRY(v) + CTRL, 0, 4);
}

static int deliveries(const Recorder *r)
{
    return r->sends + r->fires;
}

/* ---- capabilities ---- */

static void test_capability_walk(void **state)
{
    Fixture *f = *state;
    PCIDevice *d = &f->dev;
    assert_true(pci_config_read(d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    bool pm = false, msix = false;
    uint32_t off = pci_config_read(d, PCI_CAPABILITY_LIST, 1);
    int hops = 0;
    while (off) {
        assert_true(off >= 0x40 && off <= 0xfc);
        assert_int_equal(off & 3, 0);
        uint32_t id = pci_config_read(d, off, 1);
        if (id == PCI_CAP_ID_PM) {
            pm = true;
            assert_int_equal(off, f->pm);
        } else if (id == PCI_CAP_ID_MSIX) {
            msix = true;
            assert_int_equal(off, f->msix);
        }
        off = pci_config_read(d, off + PCI_CAP_LIST_NEXT, 1);
        assert_true(++hops <= 2);
    }
    assert_true(pm && msix);
    /* the list pointer and the headers are read-only */
    pci_config_write(d, PCI_CAPABILITY_LIST, 0x80, 1);
    pci_config_write(d, (uint32_t)f->msix, 0xffff, 2);
    assert_int_equal(pci_config_read(d, (uint32_t)f->msix, 1), PCI_CAP_ID_MSIX);
    assert_int_equal(pci_find_capability(d, PCI_CAP_ID_MSIX), f->msix);
    assert_int_equal(pci_find_capability(d, PCI_CAP_ID_VNDR), -1);
    /* MSI-X: Table Size N-1, table at 0 and PBA at 0x800 of the BAR,
     * offset/BIR read-only */
    assert_int_equal(msgctl(f), NVEC - 1);
    assert_int_equal(pci_config_read(d, (uint32_t)f->msix + 4, 4), 0x000 | MSIX_BAR);
    assert_int_equal(pci_config_read(d, (uint32_t)f->msix + 8, 4), 0x800 | MSIX_BAR);
    pci_config_write(d, (uint32_t)f->msix + 4, 0xfffffff8, 4);
    pci_config_write(d, (uint32_t)f->msix + 8, 0, 4);
    assert_int_equal(pci_config_read(d, (uint32_t)f->msix + 4, 4), 0x000 | MSIX_BAR);
    assert_int_equal(pci_config_read(d, (uint32_t)f->msix + 8, 4), 0x800 | MSIX_BAR);
    /* the BAR is 4 KiB of 32-bit memory */
    pci_config_write(d, PCI_BASE_ADDRESS_0 + 4 * MSIX_BAR, 0xffffffff, 4);
    assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 4 * MSIX_BAR, 4), 0xfffff000);
    pci_config_write(d, PCI_BASE_ADDRESS_0 + 4 * MSIX_BAR, (uint32_t)f->table, 4);
    assert_non_null(address_space_find(&f->mmio, f->table, &(uint64_t){0}));
}

static void test_capability_space(void **state)
{
    (void)state;
    PCIDevice d;
    memset(&d, 0, sizeof(d));
    pci_device_init(&d, "full", 1, 2, 3, 4, 0, 0);
    assert_false(pci_config_read(&d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    assert_int_equal(pci_add_capability(&d, PCI_CAP_ID_VNDR, 1), -1);
    int n = 0, off, prev = 0x100;
    while ((off = pci_add_capability(&d, PCI_CAP_ID_VNDR, 14)) >= 0) {
        assert_true(off >= 0x40 && off < prev && (off & 3) == 0);
        assert_true(off + 14 <= prev); /* no overlap with the one above */
        prev = off;
        n++;
    }
    assert_int_equal(n, (0x100 - 0x40) / 16); /* 14 bytes take 16 */
    assert_int_equal(pci_config_read(&d, PCI_CAPABILITY_LIST, 1), prev);
    assert_true(pci_config_read(&d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    /* a capability of 2 bytes still fits nowhere */
    assert_int_equal(pci_add_capability(&d, PCI_CAP_ID_VNDR, 2), -1);
}

static void test_pm(void **state)
{
    Fixture *f = *state;
    PCIDevice *d = &f->dev;
    uint32_t pmc = (uint32_t)f->pm + 2, pmcsr = (uint32_t)f->pm + 4;
    assert_int_equal(pci_config_read(d, pmc, 2) & 7, 3);      /* PM 1.2 */
    assert_int_equal(pci_config_read(d, pmc, 2) & 0xf800, 0); /* no PME */
    assert_int_equal(pci_config_read(d, pmcsr, 2), 0x0008);   /* D0, No_Soft_Reset */
    pci_config_write(d, pmc, 0xffff, 2);
    assert_int_equal(pci_config_read(d, pmc, 2), 3);
    /* D3hot: the BARs decode nothing */
    pci_config_write(d, pmcsr, 3, 2);
    assert_int_equal(pci_config_read(d, pmcsr, 2), 0x000b);
    uint64_t off;
    assert_null(address_space_find(&f->mmio, f->table, &off));
    /* D1 and D2 are not supported: the write is discarded */
    pci_config_write(d, pmcsr, 1, 2);
    assert_int_equal(pci_config_read(d, pmcsr, 2) & 3, 3);
    pci_config_write(d, pmcsr, 0, 1);
    assert_int_equal(pci_config_read(d, pmcsr, 2), 0x0008);
    assert_non_null(address_space_find(&f->mmio, f->table, &off));
    pci_config_write(d, pmcsr, 2, 2);
    assert_int_equal(pci_config_read(d, pmcsr, 2), 0x0008);
    /* only PowerState is writable (PME_En, PME_Status, Data read-only) */
    pci_config_write(d, pmcsr, 0xfffffffc, 4);
    assert_int_equal(pci_config_read(d, pmcsr, 4), 0x0008);
}

static void test_message_control(void **state)
{
    Fixture *f = *state;
    assert_false(msix_enabled(&f->dev));
    assert_int_equal(msix_nvectors(&f->dev), NVEC);
    set_msgctl(f, 0xffff);
    assert_int_equal(msgctl(f), MC_ENABLE | MC_MASKALL | (NVEC - 1));
    assert_true(msix_enabled(&f->dev));
    set_msgctl(f, 0);
    assert_int_equal(msgctl(f), NVEC - 1);
    assert_false(msix_enabled(&f->dev));
    /* the upper byte alone, as Linux's pci_msix_clear_and_set_ctrl may not */
    pci_config_write(&f->dev, (uint32_t)f->msix + MC + 1, MC_ENABLE >> 8, 1);
    assert_true(msix_enabled(&f->dev));
    /* a dword write covering ID, next and Message Control */
    pci_config_write(&f->dev, (uint32_t)f->msix, 0, 4);
    assert_false(msix_enabled(&f->dev));
}

/* ---- table and PBA ---- */

static void test_table(void **state)
{
    Fixture *f = *state;
    for (unsigned v = 0; v < NVEC; v++) {
        assert_int_equal(rd(f, ENTRY(v) + ADDR_LO, 4), 0);
        assert_int_equal(rd(f, ENTRY(v) + ADDR_HI, 4), 0);
        assert_int_equal(rd(f, ENTRY(v) + DATA, 4), 0);
        assert_int_equal(rd(f, ENTRY(v) + CTRL, 4), 1); /* masked */
    }
    assert_int_equal(rd(f, PBA, 4), 0);
    program(f, 2, 0x00000001fee01000ull, 0x4041, false);
    assert_int_equal(rd(f, ENTRY(2) + ADDR_LO, 4), 0xfee01000);
    assert_int_equal(rd(f, ENTRY(2) + ADDR_HI, 4), 1);
    assert_int_equal(rd(f, ENTRY(2) + DATA, 4), 0x4041);
    assert_int_equal(rd8(f, ENTRY(2)), 0x00000001fee01000ull);
    /* reserved Vector Control bits read 0 */
    wr(f, ENTRY(2) + CTRL, 0xfffffffe, 4);
    assert_int_equal(rd(f, ENTRY(2) + CTRL, 4), 0);
    wr(f, ENTRY(2) + CTRL, 0xffffffff, 4);
    assert_int_equal(rd(f, ENTRY(2) + CTRL, 4), 1);
    /* a qword: data then vector control */
    wr(f, ENTRY(1) + DATA, 0x0000000100000033ull, 8);
    assert_int_equal(rd(f, ENTRY(1) + DATA, 4), 0x33);
    assert_int_equal(rd(f, ENTRY(1) + CTRL, 4), 1);
    set_msgctl(f, MC_ENABLE | MC_MASKALL);
    msix_reset(&f->dev);
    assert_false(msix_enabled(&f->dev));
    assert_int_equal(msgctl(f), NVEC - 1);
    for (unsigned v = 0; v < NVEC; v++) {
        assert_int_equal(rd8(f, ENTRY(v)), 0);
        assert_int_equal(rd(f, ENTRY(v) + DATA, 4), 0);
        assert_int_equal(rd(f, ENTRY(v) + CTRL, 4), 1);
    }
}

static void test_odd_accesses(void **state)
{
    Fixture *f = *state;
    program(f, 0, 0xfee00000, 0x30, false);
    /* narrower than a dword or unaligned: reads 0, writes nothing */
    assert_int_equal(rd(f, ENTRY(0) + DATA, 1), 0);
    assert_int_equal(rd(f, ENTRY(0) + DATA, 2), 0);
    assert_int_equal(rd(f, ENTRY(0) + ADDR_LO + 2, 4), 0);
    wr(f, ENTRY(0) + DATA, 0xff, 1);
    wr(f, ENTRY(0) + DATA + 2, 0xffff, 2);
    wr(f, ENTRY(0) + DATA + 1, 0xffffffff, 4);
    wr(f, ENTRY(0) + ADDR_HI, 0x1111111122222222ull, 8); /* unaligned qword */
    wr(f, ENTRY(0) + CTRL, 0, 2);
    assert_int_equal(rd(f, ENTRY(0) + ADDR_LO, 4), 0xfee00000);
    assert_int_equal(rd(f, ENTRY(0) + ADDR_HI, 4), 0);
    assert_int_equal(rd(f, ENTRY(0) + DATA, 4), 0x30);
    assert_int_equal(rd(f, ENTRY(0) + CTRL, 4), 1);
    /* beyond the table, beyond the PBA, the end of the BAR */
    wr(f, ENTRY(NVEC) + DATA, 0x1234, 4);
    assert_int_equal(rd(f, ENTRY(NVEC) + DATA, 4), 0);
    assert_int_equal(rd(f, 0x7fc, 4), 0);
    assert_int_equal(rd(f, PBA + 8, 4), 0);
    assert_int_equal(rd(f, 0xffc, 4), 0);
    assert_int_equal(rd8(f, 0xff8), 0);
    wr(f, 0xff8, ~0ull, 8);
    /* the PBA is read-only */
    wr(f, PBA, 0xffffffff, 4);
    wr(f, PBA, ~0ull, 8);
    assert_int_equal(rd8(f, PBA), 0);
    for (unsigned v = 0; v < NVEC; v++)
        assert_false(msix_is_pending(&f->dev, v));
    assert_int_equal(deliveries(&f->rec), 0);
}

/* ---- notify ---- */

static void test_notify_disabled(void **state)
{
    Fixture *f = *state;
    program(f, 0, 0xfee00000, 0x31, true);
    msix_notify(&f->dev, 0);
    assert_int_equal(deliveries(&f->rec), 0);
    assert_false(msix_is_pending(&f->dev, 0));
    assert_int_equal(f->rec.adds, 0);
    /* vectors out of range and MSIX_NO_VECTOR are ignored */
    set_msgctl(f, MC_ENABLE);
    msix_notify(&f->dev, NVEC);
    msix_notify(&f->dev, MSIX_NO_VECTOR);
    assert_false(msix_is_pending(&f->dev, NVEC));
    MsixStats st;
    msix_stats(&f->dev, &st);
    assert_int_equal(st.pended, 0);
    assert_int_equal(st.sent, 0);
}

static void test_notify_function_masked(void **state)
{
    Fixture *f = *state;
    set_msgctl(f, MC_ENABLE | MC_MASKALL);
    program(f, 1, 0xfee00000, 0x41, true);
    assert_int_equal(f->rec.adds, 0); /* masked by the function: no route yet */
    msix_notify(&f->dev, 1);
    msix_notify(&f->dev, 1);
    assert_int_equal(deliveries(&f->rec), 0);
    assert_true(msix_is_pending(&f->dev, 1));
    assert_int_equal(rd(f, PBA, 4), 1u << 1);
    set_msgctl(f, MC_ENABLE);
    assert_int_equal(f->rec.fires, 1);
    assert_int_equal(f->rec.sends, 0);
    assert_int_equal(f->rec.rdata[0], 0x41);
    assert_false(msix_is_pending(&f->dev, 1));
    assert_int_equal(rd(f, PBA, 4), 0);
    /* another write of Message Control sends nothing more */
    set_msgctl(f, MC_ENABLE);
    assert_int_equal(deliveries(&f->rec), 1);
    msix_notify(&f->dev, 1);
    assert_int_equal(f->rec.fires, 2);
    MsixStats st;
    msix_stats(&f->dev, &st);
    assert_int_equal(st.pended, 2);
    assert_int_equal(st.sent, 2);
    assert_int_equal(st.routes_set, 1);
}

static void test_notify_vector_masked(void **state)
{
    Fixture *f = *state;
    set_msgctl(f, MC_ENABLE);
    program(f, 3, 0xfee00000, 0x51, false);
    msix_notify(&f->dev, 3);
    msix_notify(&f->dev, 3);
    assert_true(msix_is_pending(&f->dev, 3));
    assert_int_equal(rd8(f, PBA), 1u << 3);
    assert_int_equal(deliveries(&f->rec), 0);
    wr(f, ENTRY(3) + CTRL, 0, 4);
    assert_int_equal(deliveries(&f->rec), 1);
    assert_int_equal(f->rec.adds, 1);
    assert_false(msix_is_pending(&f->dev, 3));
    wr(f, ENTRY(3) + CTRL, 0, 4); /* unmasked again: nothing pending */
    assert_int_equal(deliveries(&f->rec), 1);
    /* masked again: pending, the route stays */
    wr(f, ENTRY(3) + CTRL, 1, 4);
    msix_notify(&f->dev, 3);
    assert_int_equal(deliveries(&f->rec), 1);
    wr(f, ENTRY(3) + CTRL, 0, 4);
    assert_int_equal(f->rec.fires, 2);
    assert_int_equal(f->rec.adds, 1);
    assert_int_equal(f->rec.dels, 0);
}

static void test_route_follows_message(void **state)
{
    Fixture *f = *state;
    set_msgctl(f, MC_ENABLE);
    program(f, 0, 0xfee00000, 0x61, true);
    assert_int_equal(f->rec.adds, 1); /* made at the unmask */
    assert_int_equal(f->rec.raddr[0], 0xfee00000);
    /* unmasked: each change goes to the route at once */
    wr(f, ENTRY(0) + DATA, 0x62, 4);
    assert_int_equal(f->rec.updates, 1);
    assert_int_equal(f->rec.rdata[0], 0x62);
    wr(f, ENTRY(0) + DATA, 0x62, 4); /* the same value: nothing to do */
    assert_int_equal(f->rec.updates, 1);
    /* masked: the three dwords become one update at the unmask */
    wr(f, ENTRY(0) + CTRL, 1, 4);
    program(f, 0, 0x00000000fee02000ull, 0x63, false);
    wr(f, ENTRY(0) + ADDR_HI, 0, 4);
    assert_int_equal(f->rec.updates, 1);
    wr(f, ENTRY(0) + CTRL, 0, 4);
    assert_int_equal(f->rec.updates, 2);
    assert_int_equal(f->rec.raddr[0], 0xfee02000);
    assert_int_equal(f->rec.rdata[0], 0x63);
    msix_notify(&f->dev, 0);
    assert_int_equal(f->rec.fired[0], 1);
    assert_int_equal(f->rec.adds, 1);
    MsixStats st;
    msix_stats(&f->dev, &st);
    assert_int_equal(st.routes_set, 3);
}

static void test_routes_released(void **state)
{
    Fixture *f = *state;
    set_msgctl(f, MC_ENABLE);
    program(f, 0, 0xfee00000, 0x71, true);
    program(f, 1, 0xfee00000, 0x72, true);
    assert_int_equal(live_routes(&f->rec), 2);
    /* disabling MSI-X releases them */
    set_msgctl(f, 0);
    assert_int_equal(f->rec.dels, 2);
    assert_int_equal(live_routes(&f->rec), 0);
    /* enabling again: the unmasked vectors get theirs back */
    set_msgctl(f, MC_ENABLE);
    assert_int_equal(f->rec.adds, 4);
    msix_notify(&f->dev, 1);
    assert_int_equal(f->rec.fires, 1);
    /* device reset releases every route */
    msix_reset(&f->dev);
    assert_int_equal(f->rec.dels, 4);
    assert_int_equal(live_routes(&f->rec), 0);
    /* uninit too */
    set_msgctl(f, MC_ENABLE);
    program(f, 2, 0xfee00000, 0x73, true);
    assert_int_equal(live_routes(&f->rec), 1);
    msix_uninit(&f->dev);
    assert_int_equal(live_routes(&f->rec), 0);
    assert_int_equal(msix_nvectors(&f->dev), 0);
    assert_int_equal(pci_find_capability(&f->dev, PCI_CAP_ID_MSIX), -1);
    assert_int_equal(pci_find_capability(&f->dev, PCI_CAP_ID_PM), f->pm);
    assert_null(address_space_find(&f->mmio, f->table, &(uint64_t){0}));
    msix_notify(&f->dev, 0); /* harmless without MSI-X */
}

static void test_route_add_fails(void **state)
{
    Fixture *f = *state;
    f->rec.fail_add = true;
    set_msgctl(f, MC_ENABLE);
    program(f, 0, 0xfee00000, 0x81, true);
    msix_notify(&f->dev, 0);
    msix_notify(&f->dev, 0);
    assert_int_equal(f->rec.sends, 2);
    assert_int_equal(f->rec.fires, 0);
    assert_int_equal(f->rec.send_addr, 0xfee00000);
    assert_int_equal(f->rec.send_data, 0x81);
    assert_int_equal(f->rec.adds, 1); /* not asked again for the same message */
    /* a new message is worth another try */
    f->rec.fail_add = false;
    wr(f, ENTRY(0) + DATA, 0x82, 4);
    msix_notify(&f->dev, 0);
    assert_int_equal(f->rec.adds, 2);
    assert_int_equal(f->rec.fires, 1);
    assert_int_equal(f->rec.rdata[0], 0x82);
}

static void test_send_only_router(void **state)
{
    Fixture *f = *state;
    set_msgctl(f, MC_ENABLE | MC_MASKALL);
    program(f, 2, 0x00000002fee0f00cull, 0x91, true);
    msix_notify(&f->dev, 2);
    assert_int_equal(f->rec.sends, 0);
    set_msgctl(f, MC_ENABLE);
    assert_int_equal(f->rec.sends, 1);
    assert_int_equal(f->rec.send_addr, 0x00000002fee0f00cull);
    assert_int_equal(f->rec.send_data, 0x91);
    msix_reset(&f->dev);
    assert_int_equal(f->rec.adds + f->rec.dels, 0);
}

/* While MSI-X is enabled the function may not assert INTx (6.8.2) */
static void test_intx_while_enabled(void **state)
{
    Fixture *f = *state;
    int gsi = f->dev.gsi;
    pci_set_irq(&f->dev, 1);
    assert_int_equal(f->gsi_level[gsi], 1);
    set_msgctl(f, MC_ENABLE);
    assert_int_equal(f->gsi_level[gsi], 0);
    set_msgctl(f, 0);
    assert_int_equal(f->gsi_level[gsi], 1);
    set_msgctl(f, MC_ENABLE);
    msix_reset(&f->dev); /* back to INTx */
    assert_int_equal(f->gsi_level[gsi], 1);
    pci_set_irq(&f->dev, 0);
    assert_int_equal(f->gsi_level[gsi], 0);
}

static void test_init_errors(void **state)
{
    (void)state;
    PCIDevice d;
    memset(&d, 0, sizeof(d));
    pci_device_init(&d, "bad", 1, 2, 3, 4, 0, 0);
    Error err;
    assert_int_equal(msix_init_exclusive_bar(&d, 0, 1, &err), -1);
    assert_int_equal(msix_init_exclusive_bar(&d, MSIX_MAX_VECTORS + 1, 1, &err), -1);
    assert_int_equal(msix_init_exclusive_bar(&d, 1, PCI_NUM_BARS, &err), -1);
    pci_register_bar(&d, 0, 0x1000, false, &noop_ops, NULL, "bar0");
    assert_int_equal(msix_init_exclusive_bar(&d, 1, 0, &err), -1);
    assert_null(d.msix);
    assert_int_equal(msix_init_exclusive_bar(&d, MSIX_MAX_VECTORS, 2, &err), 0);
    assert_int_equal(msix_init_exclusive_bar(&d, 1, 3, &err), -1);
    assert_int_equal(msix_nvectors(&d), MSIX_MAX_VECTORS);
    msix_uninit(&d);
    assert_null(d.msix);
    assert_int_equal(pci_config_read(&d, PCI_CAPABILITY_LIST, 1), 0);
    assert_false(pci_config_read(&d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    assert_int_equal(d.bar[2].size, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_capability_walk),
        cmocka_unit_test(test_capability_space),
        T(test_pm),
        T(test_message_control),
        T(test_table),
        T(test_odd_accesses),
        T(test_notify_disabled),
        T(test_notify_function_masked),
        T(test_notify_vector_masked),
        T(test_route_follows_message),
        T(test_routes_released),
        T(test_route_add_fails),
        cmocka_unit_test_setup_teardown(test_send_only_router, setup_send_only, teardown),
        T(test_intx_while_enabled),
        cmocka_unit_test(test_init_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
