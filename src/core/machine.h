/* What a device can see of the machine it is realized onto. */
#ifndef E1KVM_CORE_MACHINE_H
#define E1KVM_CORE_MACHINE_H

#include "core/memory.h"
#include "hw/pci.h"
#include "qom/object.h"

struct Machine {
    GuestMemory ram;
    AddressSpace mmio;
    AddressSpace pio;
    PCIBus *pci;
    Object *objects; /* realized devices and backends */
    int nr_nics;     /* for default MAC addresses */
};

#endif
