/* The KVM system and VM fds: capabilities, guest RAM slots, the in-kernel
 * interrupt controllers, doorbells and posted writes (kvm.c). */
#ifndef E1KVM_CORE_KVM_H
#define E1KVM_CORE_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>

#include "core/vm.h"
#include "util/error.h"

int kvm_open(Vm *vm, Error *err);
int kvm_create_vm(Vm *vm, Error *err);
void kvm_destroy_vm(Vm *vm);
/* Drive an input of the in-kernel PIC/IOAPIC: an IrqLine's set (core/irq.h)
 * with the Vm as opaque. */
void kvm_set_irq(void *opaque, int gsi, int level);
/* A PCI INTx line (level-triggered, GSI 16-23): the PCI bus's set_gsi */
void kvm_set_pci_irq(void *opaque, int gsi, int level);
/* MSI delivery for the PCI bus's router (hw/pci.h PCIMsiRouter), the Vm as
 * opaque; callers hold the device lock. send is KVM_SIGNAL_MSI. A route is
 * an entry of KVM's GSI routing table (GSI 24 up) with an irqfd: add
 * returns its handle or -1 (no routing in this KVM, VM_MSI_ROUTES in use,
 * an ioctl failed), fire signals the eventfd, update rewrites the entry,
 * del deassigns and closes it. */
void kvm_msi_send(void *opaque, uint64_t addr, uint32_t data);
int kvm_msi_route_add(void *opaque, uint64_t addr, uint32_t data);
int kvm_msi_route_update(void *opaque, int route, uint64_t addr, uint32_t data);
void kvm_msi_route_del(void *opaque, int route);
void kvm_msi_route_fire(void *opaque, int route);
/* Called after a vCPU exit was handled (device lock held): lines EOI'd while
 * still wanted are asserted again now */
void kvm_intx_redeliver(Vm *vm);
/* deliver the posted writes KVM queued (caller holds the device lock) */
void kvm_flush_posted(Vm *vm);
/* cheap unlocked check: has KVM queued posted writes? */
static inline bool kvm_posted_pending(const Vm *vm)
{
    const struct kvm_coalesced_mmio_ring *r = vm->posted_ring;
    return r && __atomic_load_n(&r->first, __ATOMIC_RELAXED) !=
                    __atomic_load_n(&r->last, __ATOMIC_ACQUIRE);
}

#endif
