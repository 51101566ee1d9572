/* PCI bus 0 behind a host bridge with configuration mechanism #1.
 *
 * Interrupt routing: slot S's INTA is wired to IOAPIC input pci_slot_gsi(S)
 * (16..23, level-triggered, active high); the MP table says so, and the
 * Interrupt Line register holds the same number so the guest can cross-check. */
#include "hw/pci.h"

#include <stdlib.h>
#include <string.h>

#include "hw/msix.h"

#define PCI_MMIO_BASE 0xC0000000ULL /* start of the PCI hole (below 4 GiB) */
#define PCI_MMIO_END 0xFEC00000ULL  /* IOAPIC and LAPIC live above */
#define PCI_PIO_BASE 0xC000
#define PCI_PIO_END 0x10000

struct PCIBus {
    AddressSpace *mmio, *pio;
    void (*set_gsi)(void *opaque, int gsi, int level);
    void *opaque;
    PCIDevice *devs[PCI_MAX_DEVICES];
    uint32_t config_addr; /* 0xCF8 latch */
    uint64_t next_mmio, next_pio;
    MemoryRegion cfg_addr_mr, cfg_data_mr;
    PCIDevice host_bridge;
    PCIMsiRouter msi; /* a copy of the board's (send NULL: none) */
    void *msi_opaque;
};

int pci_slot_gsi(int slot)
{
    return 16 + (slot % 8);
}

static uint32_t cfg_get(const PCIDevice *d, uint32_t addr, int len)
{
    uint32_t v = 0;
    memcpy(&v, &d->config[addr], (size_t)len);
    return v;
}

static void cfg_set(PCIDevice *d, uint32_t addr, uint32_t v, int len)
{
    memcpy(&d->config[addr], &v, (size_t)len);
}

void pci_device_init(PCIDevice *d, const char *name, uint16_t vendor, uint16_t device,
                     uint16_t subsys_vendor, uint16_t subsys, uint32_t class_code, uint8_t rev)
{
    memset(d->config, 0, sizeof(d->config));
    memset(d->wmask, 0, sizeof(d->wmask));
    memset(d->w1cmask, 0, sizeof(d->w1cmask));
    d->name = name;
    cfg_set(d, PCI_VENDOR_ID, vendor, 2);
    cfg_set(d, PCI_DEVICE_ID, device, 2);
    cfg_set(d, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor, 2);
    cfg_set(d, PCI_SUBSYSTEM_ID, subsys, 2);
    d->config[PCI_REVISION_ID] = rev;
    d->config[PCI_CLASS_PROG] = class_code & 0xff;
    cfg_set(d, PCI_CLASS_DEVICE, (class_code >> 8) & 0xffff, 2);
    d->config[PCI_INTERRUPT_PIN] = 1; /* INTA */
    /* COMMAND: I/O, memory, bus master, INTx disable are writable */
    d->wmask[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    d->wmask[PCI_COMMAND + 1] = PCI_COMMAND_INTX_DISABLE >> 8;
    d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    d->wmask[PCI_LATENCY_TIMER] = 0xff;
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
    /* STATUS error bits are write-one-to-clear */
    d->w1cmask[PCI_STATUS + 1] = 0xf9;
    d->irq_level = 0;
}

void pci_register_bar(PCIDevice *d, int n, uint64_t size, bool io, const MemoryRegionOps *ops,
                      void *opaque, const char *name)
{
    PCIBar *b = &d->bar[n];
    b->size = size;
    b->io = io;
    b->region.name = name;
    b->region.size = size;
    b->region.ops = ops;
    b->region.opaque = opaque;
    uint32_t mask = ~(uint32_t)(size - 1);
    uint32_t off = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)n;
    if (io) {
        cfg_set(d, off, 1, 4); /* bit 0: I/O space */
        mask &= ~3u;
    } else {
        cfg_set(d, off, 0, 4); /* 32-bit, non-prefetchable memory */
        mask &= ~0xfu;
    }
    memcpy(&d->wmask[off], &mask, 4);
}

/* ---- capabilities (PCI Local Bus 3.0, section 6.7) ----
 *
 * The list starts at the pointer in PCI_CAPABILITY_LIST; each capability is
 * dword aligned above the 64-byte header and links to the next through its
 * second byte (0: the end). Space is handed out downward from the top of
 * the 256 bytes and every new capability becomes the head of the list, so
 * the head is always the lowest one: the next goes right below it, and no
 * record of the free space is needed besides the list itself. */
#define PCI_CAP_FIRST 0x40
#define PCI_CAP_WALK_MAX ((PCI_CONFIG_SIZE - PCI_CAP_FIRST) / 4) /* a loop bound */

int pci_add_capability(PCIDevice *d, uint8_t id, uint8_t size)
{
    if (size < 2)
        return -1;
    uint32_t head = d->config[PCI_CAPABILITY_LIST];
    uint32_t top = head ? head : PCI_CONFIG_SIZE;
    if (top < PCI_CAP_FIRST || top < (uint32_t)size + PCI_CAP_FIRST)
        return -1; /* full (or a head pointer not of our making) */
    uint32_t off = (top - size) & ~3u;
    memset(&d->config[off], 0, size);
    memset(&d->wmask[off], 0, size);
    memset(&d->w1cmask[off], 0, size);
    d->config[off] = id;
    d->config[off + PCI_CAP_LIST_NEXT] = (uint8_t)head;
    d->config[PCI_CAPABILITY_LIST] = (uint8_t)off;
    d->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    return (int)off;
}

int pci_find_capability(const PCIDevice *d, uint8_t id)
{
    uint32_t off = d->config[PCI_CAPABILITY_LIST];
    /* bounded: a list that loops (ours never does) ends after as many hops
     * as config space has dwords for capabilities */
    for (int n = 0; off && n < PCI_CAP_WALK_MAX; n++) {
        off &= ~3u; /* the bottom two bits are reserved (section 6.7) */
        if (off < PCI_CAP_FIRST)
            return -1;
        if (d->config[off] == id)
            return (int)off;
        off = d->config[off + PCI_CAP_LIST_NEXT];
    }
    return -1;
}

/* Power management (PCI Bus Power Management Interface 1.2, chapter 3):
 * PMC at +2, PMCSR at +4, PMCSR_BSE at +6 (bridges only) and Data at +7. */
#define PCI_PM_SIZEOF 8
#define PCI_PM_PMC 2
#define PCI_PM_PMC_VERSION_1_2 3 /* PMC bits 2:0 (section 3.2.3) */
#define PCI_PM_CTRL 4
#define PCI_PM_CTRL_STATE_MASK 0x0003 /* PowerState, PMCSR bits 1:0 (3.2.4) */
#define PCI_PM_CTRL_NO_SOFT_RESET 0x0008
#define PCI_PM_STATE_D0 0
#define PCI_PM_STATE_D3HOT 3

int pci_add_pm_capability(PCIDevice *d)
{
    int off = pci_add_capability(d, PCI_CAP_ID_PM, PCI_PM_SIZEOF);
    if (off < 0)
        return -1;
    /* PMC: version 1.2; no D1/D2, no PME from any state (bits 15:11 zero),
     * no auxiliary current, no device-specific initialization: all
     * read-only. */
    cfg_set(d, (uint32_t)off + PCI_PM_PMC, PCI_PM_PMC_VERSION_1_2, 2);
    /* PMCSR: in D0. No_Soft_Reset: going D3hot -> D0 keeps the
     * configuration (section 3.2.4), the device model loses nothing in
     * D3hot. PowerState is the only writable field; PME_En and PME_Status
     * are read-only 0 without PME support, the Data fields are not
     * implemented (Data_Select, Data_Scale read 0). */
    cfg_set(d, (uint32_t)off + PCI_PM_CTRL, PCI_PM_CTRL_NO_SOFT_RESET, 2);
    d->wmask[off + PCI_PM_CTRL] = PCI_PM_CTRL_STATE_MASK;
    return off;
}

/* The function's power state (D0 without the capability). */
static unsigned pci_power_state(const PCIDevice *d, int pm)
{
    if (pm < 0)
        return PCI_PM_STATE_D0;
    return d->config[pm + PCI_PM_CTRL] & PCI_PM_CTRL_STATE_MASK;
}

/* A write to PowerState took place: D1 and D2 are not supported, so such a
 * write completes but is discarded and the state stays (PM 1.2, section
 * 3.2.4, PowerState). Returns whether the state changed. */
static bool pci_pm_written(PCIDevice *d, int pm, unsigned old_state)
{
    unsigned s = pci_power_state(d, pm);
    if (s != PCI_PM_STATE_D0 && s != PCI_PM_STATE_D3HOT) {
        d->config[pm + PCI_PM_CTRL] =
            (uint8_t)((d->config[pm + PCI_PM_CTRL] & ~PCI_PM_CTRL_STATE_MASK) | old_state);
        return false;
    }
    return s != old_state;
}

static void pci_update_mappings(PCIDevice *d)
{
    uint16_t cmd = (uint16_t)cfg_get(d, PCI_COMMAND, 2);
    /* a function in D3hot answers configuration accesses only (PM 1.2,
     * section 5.3.1.4.1): its BARs decode nothing until it is back in D0 */
    bool d0 = pci_power_state(d, pci_find_capability(d, PCI_CAP_ID_PM)) == PCI_PM_STATE_D0;
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        PCIBar *b = &d->bar[i];
        if (!b->size)
            continue;
        uint32_t raw = cfg_get(d, PCI_BASE_ADDRESS_0 + 4 * (uint32_t)i, 4);
        uint64_t addr = b->io ? (raw & ~3u) : (raw & ~0xfu);
        bool enable = d0 && (b->io ? (cmd & PCI_COMMAND_IO) : (cmd & PCI_COMMAND_MEMORY));
        AddressSpace *as = b->io ? d->bus->pio : d->bus->mmio;
        /* an address of 0, or one the sizing probe left (all ones), decodes nothing */
        if (addr == 0 || (addr + b->size - 1) > (b->io ? 0xffffULL : 0xffffffffULL) ||
            addr == (uint64_t)(~(b->size - 1) & (b->io ? 0xfffcu : 0xfffffff0u)))
            enable = false;
        if (b->region.mapped && (!enable || b->region.addr != addr))
            address_space_del(as, &b->region);
        if (enable && !b->region.mapped) {
            b->region.addr = addr;
            address_space_add(as, &b->region); /* overlap: stays unmapped */
        }
    }
}

static void pci_update_irq(PCIDevice *d)
{
    uint16_t status = (uint16_t)cfg_get(d, PCI_STATUS, 2);
    /* STATUS.INTERRUPT reflects the device's request whether or not it is masked */
    if (d->irq_level)
        status |= PCI_STATUS_INTERRUPT;
    else
        status &= (uint16_t)~PCI_STATUS_INTERRUPT;
    cfg_set(d, PCI_STATUS, status, 2);
    if (!d->bus || !d->bus->set_gsi || !d->config[PCI_INTERRUPT_PIN])
        return; /* no interrupt pin (the host bridge) */
    /* A level-triggered line shared by several slots is the OR of their
     * requests: one device lowering it must not hide another's. */
    int level = 0;
    for (int slot = 0; slot < PCI_MAX_DEVICES; slot++) {
        PCIDevice *o = d->bus->devs[slot];
        if (!o || o->gsi != d->gsi || !o->config[PCI_INTERRUPT_PIN])
            continue;
        uint16_t ocmd = (uint16_t)cfg_get(o, PCI_COMMAND, 2);
        /* with MSI-X enabled the function may not use its INTx pin (PCI
         * 3.0, section 6.8.2): its request stays out of the line */
        level |= o->irq_level && !(ocmd & PCI_COMMAND_INTX_DISABLE) && !msix_enabled(o);
    }
    d->bus->set_gsi(d->bus->opaque, d->gsi, level);
}

void pci_set_irq(PCIDevice *d, int level)
{
    level = !!level;
    if (d->irq_level == level)
        return;
    d->irq_level = level;
    pci_update_irq(d);
}

uint32_t pci_config_read(PCIDevice *d, uint32_t addr, int len)
{
    if (addr >= PCI_CONFIG_SIZE || addr + (uint32_t)len > PCI_CONFIG_SIZE)
        return 0xffffffffu;
    if (d->config_read)
        d->config_read(d, addr, len);
    return cfg_get(d, addr, len);
}

void pci_config_write(PCIDevice *d, uint32_t addr, uint32_t val, int len)
{
    if (addr >= PCI_CONFIG_SIZE || addr + (uint32_t)len > PCI_CONFIG_SIZE)
        return;
    uint16_t old_cmd = (uint16_t)cfg_get(d, PCI_COMMAND, 2);
    int pm = pci_find_capability(d, PCI_CAP_ID_PM);
    unsigned old_state = pci_power_state(d, pm);
    bool old_msix = msix_enabled(d);
    for (int i = 0; i < len; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i));
        uint32_t a = addr + (uint32_t)i;
        d->config[a] = (uint8_t)((d->config[a] & ~d->wmask[a]) | (b & d->wmask[a]));
        d->config[a] &= (uint8_t) ~(b & d->w1cmask[a]);
    }
    bool remap = addr < PCI_BASE_ADDRESS_0 + 24 && addr + (uint32_t)len > PCI_COMMAND;
    if (pm >= 0 && addr <= (uint32_t)pm + PCI_PM_CTRL &&
        addr + (uint32_t)len > (uint32_t)pm + PCI_PM_CTRL)
        remap |= pci_pm_written(d, pm, old_state);
    if (remap)
        pci_update_mappings(d);
    /* Message Control's Enable and Function Mask act at once (unmasking
     * sends what is pending) */
    if (d->msix)
        msix_config_written(d, addr, val, len);
    if (((old_cmd ^ cfg_get(d, PCI_COMMAND, 2)) & PCI_COMMAND_INTX_DISABLE) ||
        old_msix != msix_enabled(d))
        pci_update_irq(d);
    if (d->config_written)
        d->config_written(d, addr, val, len);
}

/* ---- host bridge: 0xCF8 address latch, 0xCFC..0xCFF data window ---- */

static PCIDevice *cfg_target(PCIBus *bus, uint32_t *reg)
{
    uint32_t a = bus->config_addr;
    if (!(a & 0x80000000u) || ((a >> 16) & 0xff) != 0)
        return NULL; /* disabled, or a bus we do not have */
    int devfn = (a >> 8) & 0xff;
    if (devfn & 7)
        return NULL; /* single-function devices only */
    *reg = a & 0xfc;
    return bus->devs[devfn >> 3];
}

static uint64_t cfg_addr_read(void *opaque, uint64_t off, unsigned size)
{
    PCIBus *bus = opaque;
    if (off != 0 || size != 4)
        return 0xffffffffu;
    return bus->config_addr;
}

static void cfg_addr_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PCIBus *bus = opaque;
    if (off == 0 && size == 4)
        bus->config_addr = (uint32_t)val;
}

static uint64_t cfg_data_read(void *opaque, uint64_t off, unsigned size)
{
    PCIBus *bus = opaque;
    uint32_t reg;
    PCIDevice *d = cfg_target(bus, &reg);
    if (!d || size > 4 || off + size > 4)
        return 0xffffffffu;
    return pci_config_read(d, reg + (uint32_t)off, (int)size);
}

static void cfg_data_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    PCIBus *bus = opaque;
    uint32_t reg;
    PCIDevice *d = cfg_target(bus, &reg);
    if (!d || size > 4 || off + size > 4)
        return;
    pci_config_write(d, reg + (uint32_t)off, (uint32_t)val, (int)size);
}

static const MemoryRegionOps cfg_addr_ops = {.read = cfg_addr_read, .write = cfg_addr_write};
static const MemoryRegionOps cfg_data_ops = {.read = cfg_data_read, .write = cfg_data_write};

PCIBus *pci_bus_new(AddressSpace *mmio, AddressSpace *pio,
                    void (*set_gsi)(void *opaque, int gsi, int level), void *opaque)
{
    PCIBus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return NULL;
    bus->mmio = mmio;
    bus->pio = pio;
    bus->set_gsi = set_gsi;
    bus->opaque = opaque;
    bus->next_mmio = PCI_MMIO_BASE;
    bus->next_pio = PCI_PIO_BASE;
    /* slot 0: the host bridge (Intel 440FX ids, as most guests know them) */
    PCIDevice *hb = &bus->host_bridge;
    pci_device_init(hb, "host-bridge", 0x8086, 0x1237, 0x1af4, 0x1100, 0x060000, 2);
    hb->config[PCI_INTERRUPT_PIN] = 0;
    hb->bus = bus;
    hb->devfn = 0;
    bus->devs[0] = hb;
    return bus;
}

void pci_bus_map_config_ports(PCIBus *bus)
{
    bus->cfg_addr_mr = (MemoryRegion){
        .name = "pci-conf-addr", .addr = 0xcf8, .size = 4, .ops = &cfg_addr_ops, .opaque = bus};
    bus->cfg_data_mr = (MemoryRegion){
        .name = "pci-conf-data", .addr = 0xcfc, .size = 4, .ops = &cfg_data_ops, .opaque = bus};
    address_space_add(bus->pio, &bus->cfg_addr_mr);
    address_space_add(bus->pio, &bus->cfg_data_mr);
}

void pci_bus_set_msi_router(PCIBus *bus, const PCIMsiRouter *r, void *opaque)
{
    bus->msi = r ? *r : (PCIMsiRouter){0};
    bus->msi_opaque = opaque;
}

const PCIMsiRouter *pci_msi_router(PCIDevice *d, void **opaque)
{
    if (!d->bus || !d->bus->msi.send)
        return NULL;
    *opaque = d->bus->msi_opaque;
    return &d->bus->msi;
}

void pci_msi_send(PCIDevice *d, uint64_t addr, uint32_t data)
{
    void *opaque;
    const PCIMsiRouter *r = pci_msi_router(d, &opaque);
    if (r)
        r->send(opaque, addr, data);
}

int pci_bus_add_device(PCIBus *bus, PCIDevice *d, Error *err)
{
    int slot;
    for (slot = 1; slot < PCI_MAX_DEVICES && bus->devs[slot]; slot++)
        ;
    if (slot == PCI_MAX_DEVICES)
        return error_setf(err, "PCI bus is full (%d slots)", PCI_MAX_DEVICES - 1);
    d->bus = bus;
    d->devfn = slot << 3;
    d->gsi = pci_slot_gsi(slot);
    d->config[PCI_INTERRUPT_LINE] = (uint8_t)d->gsi;
    /* assign BARs as firmware would: naturally aligned, in order */
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        PCIBar *b = &d->bar[i];
        if (!b->size)
            continue;
        uint64_t *next = b->io ? &bus->next_pio : &bus->next_mmio;
        uint64_t end = b->io ? PCI_PIO_END : PCI_MMIO_END;
        uint64_t addr = (*next + b->size - 1) & ~(b->size - 1);
        if (addr + b->size > end)
            return error_setf(err, "%s: no room for BAR%d (%llu bytes)", d->name, i,
                              (unsigned long long)b->size);
        *next = addr + b->size;
        uint32_t off = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)i;
        cfg_set(d, off, (uint32_t)addr | (b->io ? 1u : 0u), 4);
    }
    cfg_set(d, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
    bus->devs[slot] = d;
    pci_update_mappings(d);
    return 0;
}

PCIDevice *pci_bus_device(PCIBus *bus, int slot)
{
    if (slot < 0 || slot >= PCI_MAX_DEVICES)
        return NULL;
    return bus->devs[slot];
}
