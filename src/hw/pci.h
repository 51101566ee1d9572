/* PCI: one host bridge, bus 0, configuration mechanism #1 (0xCF8/0xCFC).
 *
 * The VMM plays the firmware's part: it assigns every BAR an address when the
 * device is realized (MMIO in the PCI hole, I/O ports from 0xC000) and fills
 * the interrupt line, so the guest finds devices ready to use. A guest that
 * reprograms a BAR moves the region. */
#ifndef E1KVM_HW_PCI_H
#define E1KVM_HW_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/memory.h"
#include "util/error.h"

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS 0x06
#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

/* capability IDs (PCI Local Bus 3.0, appendix H) */
#define PCI_CAP_ID_PM 0x01   /* power management */
#define PCI_CAP_ID_VNDR 0x09 /* vendor specific (virtio's structures) */
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_LIST_NEXT 1 /* offset of the next pointer in a capability */

#define PCI_NUM_BARS 6
#define PCI_CONFIG_SIZE 256
#define PCI_MAX_DEVICES 32

typedef struct PCIBus PCIBus;
typedef struct PCIDevice PCIDevice;

typedef struct PCIBar {
    uint64_t size; /* 0: the device has no such BAR */
    bool io;       /* I/O space BAR (else 32-bit MMIO) */
    MemoryRegion region;
} PCIBar;

struct PCIDevice {
    const char *name;
    PCIBus *bus;
    int devfn;
    uint8_t config[PCI_CONFIG_SIZE];
    uint8_t wmask[PCI_CONFIG_SIZE];   /* bits the guest may write */
    uint8_t w1cmask[PCI_CONFIG_SIZE]; /* bits cleared by writing 1 */
    PCIBar bar[PCI_NUM_BARS];
    int irq_level;        /* level the device asks for (before INTx disable) */
    int gsi;              /* interrupt input of the IOAPIC this INTx is wired to */
    struct PCIMsix *msix; /* MSI-X state (hw/msix.c), NULL without */
    /* optional hook after a config write (e.g. a device that tracks COMMAND) */
    void (*config_written)(PCIDevice *d, uint32_t addr, uint32_t val, int len);
    /* optional hook before a config read, to fill bytes that are a window
     * onto something else (virtio's PCI configuration access capability) */
    void (*config_read)(PCIDevice *d, uint32_t addr, int len);
};

/* set_gsi: how the bus drives an interrupt input (KVM_IRQ_LINE in the VMM,
 * a recorder in unit tests). */
PCIBus *pci_bus_new(AddressSpace *mmio, AddressSpace *pio,
                    void (*set_gsi)(void *opaque, int gsi, int level), void *opaque);
/* Host bridge's config ports (0xCF8..0xCFF) in the pio space. */
void pci_bus_map_config_ports(PCIBus *bus);

/* Fill the identity part of config space; sets sane write masks. */
void pci_device_init(PCIDevice *d, const char *name, uint16_t vendor, uint16_t device,
                     uint16_t subsys_vendor, uint16_t subsys, uint32_t class_code, uint8_t rev);
/* Declare BAR n (size a power of two). The region is mapped while the BAR is
 * programmed and decoding is enabled in COMMAND. */
void pci_register_bar(PCIDevice *d, int n, uint64_t size, bool io, const MemoryRegionOps *ops,
                      void *opaque, const char *name);
/* Add a capability of size bytes (>= 2) with the given ID to config space,
 * linked at the head of the capability list (STATUS.CAP_LIST set); returns
 * its offset (dword aligned, >= 0x40) or -1 when config space is full. The
 * caller fills the body after the two header bytes, and its wmask. Space
 * is taken from the top of config space downward, each new capability
 * right below the previous head. */
int pci_add_capability(PCIDevice *d, uint8_t id, uint8_t size);
/* Offset of the first capability with this ID on the list, or -1. */
int pci_find_capability(const PCIDevice *d, uint8_t id);
/* The PCI power management capability (PCI PM 1.2): D0 and D3hot through
 * PMCSR, no PME. Returns its offset or -1. */
int pci_add_pm_capability(PCIDevice *d);

/* How the bus delivers message-signalled interrupts (MSI-X, hw/msix.h):
 * in the VMM KVM's GSI routing with an irqfd per route (hw/board.c), in
 * unit tests a recorder. send is required; the route calls are optional
 * (NULL: every message goes through send). A route is a handle >= 0 for
 * one (address, data) pair: add returns -1 when none is left (the caller
 * falls back to send), fire delivers its message. */
typedef struct PCIMsiRouter {
    void (*send)(void *opaque, uint64_t addr, uint32_t data);
    int (*route_add)(void *opaque, uint64_t addr, uint32_t data);
    int (*route_update)(void *opaque, int route, uint64_t addr, uint32_t data);
    void (*route_del)(void *opaque, int route);
    void (*route_fire)(void *opaque, int route);
} PCIMsiRouter;
void pci_bus_set_msi_router(PCIBus *bus, const PCIMsiRouter *r, void *opaque);
/* Deliver one message through the bus's router (ignored without one). */
void pci_msi_send(PCIDevice *d, uint64_t addr, uint32_t data);
/* The router of the device's bus and its opaque, or NULL without one (for
 * hw/msix.c, which keeps routes). */
const PCIMsiRouter *pci_msi_router(PCIDevice *d, void **opaque);

/* Place the device in the first free slot, assign BARs and the interrupt. */
int pci_bus_add_device(PCIBus *bus, PCIDevice *d, Error *err);

/* INTx level from the device; honours COMMAND.INTX_DISABLE and keeps
 * STATUS.INTERRUPT in step (PCI 2.3 INTx masking, needed by uio_pci_generic). */
void pci_set_irq(PCIDevice *d, int level);
/* Config space access as the guest sees it (used by the host bridge and tests). */
uint32_t pci_config_read(PCIDevice *d, uint32_t addr, int len);
void pci_config_write(PCIDevice *d, uint32_t addr, uint32_t val, int len);
/* Device in slot (devfn >> 3) == slot, or NULL; used by the MP table. */
PCIDevice *pci_bus_device(PCIBus *bus, int slot);
/* IOAPIC input of a slot's INTA: 16..23, slots S and S+8 share one */
int pci_slot_gsi(int slot);

#endif
