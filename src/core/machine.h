/* What a device can see of the machine it is realized onto. The PCI bus is
 * the board's (hw/pci.h): core only carries the pointer, so it names no hw
 * type, and a device that plugs into it includes hw/pci.h itself. */
#ifndef E1KVM_CORE_MACHINE_H
#define E1KVM_CORE_MACHINE_H

#include "core/memory.h"
#include "qom/object.h"

struct PCIBus;

struct Machine {
    GuestMemory ram;
    AddressSpace mmio;
    AddressSpace pio;
    struct PCIBus *pci; /* the board's PCI host bridge (hw/board.c) */
    Object *objects;    /* realized devices and backends */
    int nr_nics;        /* for default MAC addresses */
};

#endif
