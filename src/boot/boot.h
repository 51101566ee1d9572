/* Starting a Linux guest: the kernel and initrd in RAM with boot_params and
 * an MP table (linux.c, mptable.c), a vCPU's CPUID (cpuid.c) and its
 * registers at the kernel's 64-bit entry (linux.c). The board hands these
 * to the VM as its boot hooks (Vm.load_guest, Vm.setup_vcpu). */
#ifndef E1KVM_BOOT_BOOT_H
#define E1KVM_BOOT_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/vcpu.h"
#include "core/vm.h"
#include "util/error.h"

/* A PCI function's interrupt as the MP table lists it: slot, INTx pin
 * (0 = INTA) and the IOAPIC input it is wired to. The board reads them off
 * its PCI bus at each boot: the boot layer does not see hw/. */
typedef struct BootPciIrq {
    uint8_t slot, pin, gsi;
} BootPciIrq;

int linux_load(Vm *vm, const BootPciIrq *pci_irqs, int npci_irqs, Error *err);
int cpuid_setup(Vm *vm, Vcpu *v, Error *err);
int vcpu_setup_boot_state(Vm *vm, Vcpu *v, Error *err);
int mptable_write(Vm *vm, uint64_t addr, size_t max, const BootPciIrq *pci_irqs, int npci_irqs,
                  Error *err);

#endif
