/* An interrupt line as a device sees it: a callback that drives one input
 * of the interrupt controller. The board binds it (to KVM's in-kernel
 * PIC/IOAPIC in the VMM, to a recorder in unit tests), so a device never
 * names the accelerator. PCI's set_gsi (hw/pci.h) is the same shape. */
#ifndef E1KVM_CORE_IRQ_H
#define E1KVM_CORE_IRQ_H

typedef struct IrqLine {
    void (*set)(void *opaque, int gsi, int level);
    void *opaque;
    int gsi;
} IrqLine;

static inline void irq_line_set(const IrqLine *l, int level)
{
    if (l->set)
        l->set(l->opaque, l->gsi, level);
}

#endif
