/* MSI-X (PCI Local Bus Specification 3.0, section 6.8.2; hw/msix.h).
 *
 * The capability (section 6.8.2.1-6.8.2.5) is 12 bytes in config space:
 * ID, next pointer, Message Control, then the Table Offset/BIR and PBA
 * Offset/BIR dwords. The table and the pending-bit array live in a 4 KiB
 * memory BAR of their own: the table at 0 (16 bytes a vector), the PBA at
 * 0x800 (one bit a vector, in qwords).
 *
 * Delivery goes through the bus's router. With routes (KVM GSI routes and
 * an irqfd each in the VMM) a vector gets its route when it is unmasked
 * while MSI-X is enabled, or at its first delivery; the route follows the
 * vector's address and data, and is released when MSI-X is disabled, at
 * reset and at uninit. Without routes, or when the router has none left,
 * each message goes through send. */
#include "hw/msix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSIX_BAR_SIZE 0x1000
#define MSIX_TABLE_OFFSET 0x000
#define MSIX_PBA_OFFSET 0x800

/* a table entry (section 6.8.2.6-6.8.2.9) */
#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_ADDR_LO 0
#define MSIX_ENTRY_ADDR_HI 4
#define MSIX_ENTRY_DATA 8
#define MSIX_ENTRY_CTRL 12
#define MSIX_ENTRY_CTRL_MASKED 0x1 /* the only defined bit; the rest reserved */

/* the capability (section 6.8.2.3) */
#define MSIX_CAP_SIZEOF 12
#define MSIX_CAP_FLAGS 2 /* Message Control */
#define MSIX_CAP_TABLE 4 /* Table Offset (31:3) / Table BIR (2:0) */
#define MSIX_CAP_PBA 8   /* PBA Offset / PBA BIR */
#define MSIX_FLAGS_QSIZE 0x07ff
#define MSIX_FLAGS_MASKALL 0x4000
#define MSIX_FLAGS_ENABLE 0x8000

/* a vector's route besides a handle >= 0 */
#define ROUTE_NONE (-1)
#define ROUTE_FAILED (-2) /* the router had none: send, until the message changes */

typedef struct MsixVector {
    uint32_t addr_lo, addr_hi, data, ctrl;
    int route;
    bool route_stale; /* address or data changed while masked: update before use */
} MsixVector;

typedef struct PCIMsix PCIMsix;

struct PCIMsix {
    PCIDevice *dev;
    unsigned n;
    int cap; /* offset of the capability in config space */
    int bar;
    MsixVector vec[MSIX_MAX_VECTORS];
    uint64_t pba; /* MSIX_MAX_VECTORS bits: one qword */
    /* Message Control as last acted upon, to see Enable and Function Mask change */
    bool enabled, fmasked;
    MsixStats stats;
    char name[48];
};

_Static_assert(MSIX_MAX_VECTORS <= 64, "the PBA is one uint64_t");
_Static_assert(MSIX_MAX_VECTORS *MSIX_ENTRY_SIZE <= MSIX_PBA_OFFSET, "table runs into the PBA");

static uint16_t msix_flags(const PCIMsix *m)
{
    const uint8_t *c = &m->dev->config[m->cap + MSIX_CAP_FLAGS];
    return (uint16_t)(c[0] | c[1] << 8);
}

static bool fn_masked(const PCIMsix *m)
{
    return msix_flags(m) & MSIX_FLAGS_MASKALL;
}

static bool fn_enabled(const PCIMsix *m)
{
    return msix_flags(m) & MSIX_FLAGS_ENABLE;
}

/* Masked by the function or by the vector (section 6.8.2.3, Function Mask) */
static bool vector_masked(const PCIMsix *m, unsigned v)
{
    return fn_masked(m) || (m->vec[v].ctrl & MSIX_ENTRY_CTRL_MASKED);
}

static uint64_t vector_addr(const MsixVector *e)
{
    return (uint64_t)e->addr_hi << 32 | e->addr_lo;
}

static void route_release(PCIMsix *m, MsixVector *e)
{
    if (e->route >= 0) {
        void *o;
        const PCIMsiRouter *r = pci_msi_router(m->dev, &o);
        if (r && r->route_del)
            r->route_del(o, e->route);
    }
    e->route = ROUTE_NONE;
    e->route_stale = false;
}

static void routes_release_all(PCIMsix *m)
{
    for (unsigned v = 0; v < m->n; v++)
        route_release(m, &m->vec[v]);
}

/* The vector's route, made or brought up to date now; -1: use send. */
static int vector_route(PCIMsix *m, MsixVector *e, const PCIMsiRouter *r, void *o)
{
    if (!r->route_add || !r->route_fire || e->route == ROUTE_FAILED)
        return -1;
    if (e->route >= 0 && e->route_stale) {
        e->route_stale = false;
        if (!r->route_update) {
            route_release(m, e); /* no update: a new route for the new message */
        } else {
            m->stats.routes_set++;
            if (r->route_update(o, e->route, vector_addr(e), e->data) < 0) {
                route_release(m, e);
                e->route = ROUTE_FAILED;
                return -1;
            }
        }
    }
    if (e->route == ROUTE_NONE) {
        m->stats.routes_set++;
        int h = r->route_add(o, vector_addr(e), e->data);
        e->route = h >= 0 ? h : ROUTE_FAILED;
    }
    return e->route >= 0 ? e->route : -1;
}

/* Send vector v's message now and clear its pending bit. */
static void vector_deliver(PCIMsix *m, unsigned v)
{
    MsixVector *e = &m->vec[v];
    m->pba &= ~(1ull << v);
    void *o;
    const PCIMsiRouter *r = pci_msi_router(m->dev, &o);
    if (!r)
        return; /* no interrupt controller to talk to (a bus without a router) */
    int h = vector_route(m, e, r, o);
    if (h >= 0)
        r->route_fire(o, h);
    else
        r->send(o, vector_addr(e), e->data);
    m->stats.sent++;
}

/* Vector v may have just become unmasked: set up its route ahead of the
 * first message, and send what is pending (section 6.8.2.9: a pending
 * message goes out once the vector is no longer masked). */
static void vector_unmasked(PCIMsix *m, unsigned v)
{
    if (!fn_enabled(m) || vector_masked(m, v))
        return;
    void *o;
    const PCIMsiRouter *r = pci_msi_router(m->dev, &o);
    if (r)
        vector_route(m, &m->vec[v], r, o);
    if (m->pba & (1ull << v))
        vector_deliver(m, v);
}

void msix_config_written(PCIDevice *d, uint32_t addr, uint32_t val, int len)
{
    (void)val;
    PCIMsix *m = d->msix;
    if (!m)
        return;
    uint32_t ctl = (uint32_t)m->cap + MSIX_CAP_FLAGS;
    if (addr >= ctl + 2 || addr + (uint32_t)len <= ctl)
        return;
    bool was_enabled = m->enabled, was_masked = m->fmasked;
    m->enabled = fn_enabled(m);
    m->fmasked = fn_masked(m);
    if (was_enabled && !m->enabled) {
        /* the function goes back to INTx: its routes are of no use until
         * it is enabled again (and the guest may reprogram it meanwhile) */
        routes_release_all(m);
        return;
    }
    bool was_live = was_enabled && !was_masked;
    if (m->enabled && !m->fmasked && !was_live)
        for (unsigned v = 0; v < m->n; v++)
            vector_unmasked(m, v);
}

/* ---- the table and PBA BAR ---- */

static uint32_t table_read(PCIMsix *m, uint64_t off)
{
    uint64_t v = off / MSIX_ENTRY_SIZE;
    if (v >= m->n)
        return 0;
    const MsixVector *e = &m->vec[v];
    switch (off % MSIX_ENTRY_SIZE) {
    case MSIX_ENTRY_ADDR_LO:
        return e->addr_lo;
    case MSIX_ENTRY_ADDR_HI:
        return e->addr_hi;
    case MSIX_ENTRY_DATA:
        return e->data;
    default:
        return e->ctrl;
    }
}

static void table_write(PCIMsix *m, uint64_t off, uint32_t val)
{
    uint64_t idx = off / MSIX_ENTRY_SIZE;
    if (idx >= m->n)
        return;
    unsigned v = (unsigned)idx;
    MsixVector *e = &m->vec[v];
    bool was_masked = vector_masked(m, v);
    uint32_t *field = NULL;
    switch (off % MSIX_ENTRY_SIZE) {
    case MSIX_ENTRY_ADDR_LO:
        field = &e->addr_lo;
        break;
    case MSIX_ENTRY_ADDR_HI:
        field = &e->addr_hi;
        break;
    case MSIX_ENTRY_DATA:
        field = &e->data;
        break;
    default:
        /* reserved bits of Vector Control read 0 (section 6.8.2.9) */
        e->ctrl = val & MSIX_ENTRY_CTRL_MASKED;
        break;
    }
    if (field && *field != val) {
        *field = val;
        if (e->route == ROUTE_FAILED)
            e->route = ROUTE_NONE; /* a new message: worth another try */
        if (e->route >= 0) {
            /* Software changes a message while the vector is masked
             * (section 6.8.2.9 leaves a change while unmasked undefined):
             * the three dwords become one update at the unmask. An
             * unmasked vector's route follows each write at once. */
            e->route_stale = true;
            void *o;
            const PCIMsiRouter *r = pci_msi_router(m->dev, &o);
            if (!was_masked && r)
                vector_route(m, e, r, o);
        }
    }
    if (was_masked && !vector_masked(m, v))
        vector_unmasked(m, v);
}

static uint32_t bar_read4(PCIMsix *m, uint64_t off)
{
    if (off < MSIX_PBA_OFFSET)
        return table_read(m, off - MSIX_TABLE_OFFSET);
    if (off - MSIX_PBA_OFFSET < sizeof(m->pba))
        return (uint32_t)(m->pba >> (8 * (off - MSIX_PBA_OFFSET)));
    return 0;
}

static void bar_write4(PCIMsix *m, uint64_t off, uint32_t val)
{
    if (off < MSIX_PBA_OFFSET)
        table_write(m, off - MSIX_TABLE_OFFSET, val);
    /* the PBA is read-only (section 6.8.2.10), the rest of the BAR reserved */
}

/* Software must use aligned dword or qword accesses (section 6.8.2); the
 * ops see every access as the guest made it (no min_access_size) so that
 * anything else reads 0 and writes nothing instead of being widened into
 * a read-modify-write. A qword is its low dword, then its high one. */
static uint64_t msix_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    PCIMsix *m = opaque;
    if (off >= MSIX_BAR_SIZE || (off & (size - 1)))
        return 0;
    if (size == 8)
        return bar_read4(m, off) | (uint64_t)bar_read4(m, off + 4) << 32;
    return size == 4 ? bar_read4(m, off) : 0;
}

static void msix_mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PCIMsix *m = opaque;
    if (off >= MSIX_BAR_SIZE || (size != 4 && size != 8) || (off & (size - 1)))
        return;
    bar_write4(m, off, (uint32_t)val);
    if (size == 8)
        bar_write4(m, off + 4, (uint32_t)(val >> 32));
}

static const MemoryRegionOps msix_mmio_ops = {.read = msix_mmio_read, .write = msix_mmio_write};

/* ---- the interface ---- */

static void vectors_reset(PCIMsix *m)
{
    for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++) {
        /* every vector masked after reset (section 6.8.2.9, Mask Bit) */
        m->vec[v] = (MsixVector){.ctrl = MSIX_ENTRY_CTRL_MASKED, .route = ROUTE_NONE};
    }
    m->pba = 0;
}

int msix_init_exclusive_bar(PCIDevice *d, unsigned nvectors, int bar, Error *err)
{
    if (nvectors < 1 || nvectors > MSIX_MAX_VECTORS)
        return error_setf(err, "%s: MSI-X with %u vectors (1..%d)", d->name, nvectors,
                          MSIX_MAX_VECTORS);
    if (bar < 0 || bar >= PCI_NUM_BARS || d->bar[bar].size)
        return error_setf(err, "%s: BAR%d is not free for MSI-X", d->name, bar);
    if (d->msix)
        return error_setf(err, "%s: MSI-X set up twice", d->name);
    PCIMsix *m = calloc(1, sizeof(*m));
    if (!m)
        return error_setf(err, "out of memory");
    int cap = pci_add_capability(d, PCI_CAP_ID_MSIX, MSIX_CAP_SIZEOF);
    if (cap < 0) {
        free(m);
        return error_setf(err, "%s: no room in config space for the MSI-X capability", d->name);
    }
    m->dev = d;
    m->n = nvectors;
    m->cap = cap;
    m->bar = bar;
    vectors_reset(m);
    snprintf(m->name, sizeof(m->name), "%s-msix", d->name ? d->name : "pci");
    /* Message Control: Table Size is N - 1, read-only; Enable (bit 15) and
     * Function Mask (bit 14) are the writable bits. The offset/BIR dwords
     * are read-only (their wmask stays 0). */
    uint16_t flags = (uint16_t)(nvectors - 1);
    d->config[cap + MSIX_CAP_FLAGS] = (uint8_t)flags;
    d->config[cap + MSIX_CAP_FLAGS + 1] = (uint8_t)(flags >> 8);
    d->wmask[cap + MSIX_CAP_FLAGS + 1] = (MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL) >> 8;
    uint32_t table = MSIX_TABLE_OFFSET | (uint32_t)bar, pba = MSIX_PBA_OFFSET | (uint32_t)bar;
    memcpy(&d->config[cap + MSIX_CAP_TABLE], &table, 4);
    memcpy(&d->config[cap + MSIX_CAP_PBA], &pba, 4);
    pci_register_bar(d, bar, MSIX_BAR_SIZE, false, &msix_mmio_ops, m, m->name);
    d->msix = m;
    return 0;
}

/* Take the capability out of the list (it is normally the head: then its
 * space is free again, as pci_add_capability allocates below the head). */
static void cap_unlink(PCIDevice *d, int cap)
{
    uint8_t *link = &d->config[PCI_CAPABILITY_LIST];
    for (int n = 0; *link && n < PCI_CONFIG_SIZE / 4; n++) {
        if (*link == cap) {
            *link = d->config[cap + PCI_CAP_LIST_NEXT];
            break;
        }
        link = &d->config[*link + PCI_CAP_LIST_NEXT];
    }
    memset(&d->config[cap], 0, MSIX_CAP_SIZEOF);
    memset(&d->wmask[cap], 0, MSIX_CAP_SIZEOF);
    if (!d->config[PCI_CAPABILITY_LIST])
        d->config[PCI_STATUS] &= (uint8_t)~PCI_STATUS_CAP_LIST;
}

void msix_uninit(PCIDevice *d)
{
    PCIMsix *m = d->msix;
    if (!m)
        return;
    routes_release_all(m);
    PCIBar *b = &d->bar[m->bar];
    if (b->region.mapped && b->region.as)
        address_space_del(b->region.as, &b->region);
    memset(b, 0, sizeof(*b));
    uint32_t off = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)m->bar;
    memset(&d->config[off], 0, 4);
    memset(&d->wmask[off], 0, 4);
    cap_unlink(d, m->cap);
    d->msix = NULL;
    free(m);
}

void msix_reset(PCIDevice *d)
{
    PCIMsix *m = d->msix;
    if (!m)
        return;
    /* Enable and Function Mask cleared through the config path, so the INTx
     * line is looked at again and the disable releases the routes */
    uint32_t ctl = (uint32_t)m->cap + MSIX_CAP_FLAGS;
    pci_config_write(d, ctl, msix_flags(m) & ~(MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL), 2);
    routes_release_all(m);
    m->enabled = m->fmasked = false;
    vectors_reset(m);
}

bool msix_enabled(const PCIDevice *d)
{
    return d->msix && fn_enabled(d->msix);
}

unsigned msix_nvectors(const PCIDevice *d)
{
    return d->msix ? d->msix->n : 0;
}

void msix_notify(PCIDevice *d, unsigned vector)
{
    PCIMsix *m = d->msix;
    if (!m || vector >= m->n || !fn_enabled(m))
        return; /* disabled: the device signals INTx instead */
    if (vector_masked(m, vector)) {
        m->pba |= 1ull << vector;
        m->stats.pended++;
        return;
    }
    vector_deliver(m, vector);
}

bool msix_is_pending(const PCIDevice *d, unsigned vector)
{
    const PCIMsix *m = d->msix;
    return m && vector < m->n && (m->pba & (1ull << vector));
}

void msix_stats(const PCIDevice *d, MsixStats *out)
{
    if (d->msix)
        *out = d->msix->stats;
    else
        memset(out, 0, sizeof(*out));
}
