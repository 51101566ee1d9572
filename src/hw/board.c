#include "hw/board.h"

#include <unistd.h>

#include "boot/boot.h"
#include "core/kvm.h"
#include "core/vm.h"
#include "hw/pci.h"
#include "hw/serial.h"

/* Reset ports. Linux without ACPI reboots by writing 0xFE to the i8042
 * command port (after polling its status until the input buffer is empty),
 * then a triple fault (0xCF9 is not decoded: it sits inside the PCI
 * configuration address register). Answering the status read with 0
 * (buffer empty) spares the guest a 64K-iteration polling loop. */
static MemoryRegion i8042_mr;

static uint64_t i8042_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)size;
    return 0; /* status: output buffer empty, input buffer empty */
}

static void i8042_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)size;
    if (off == 0 && (val & 0xff) == 0xfe) /* pulse the CPU reset line */
        vm_request_stop(opaque, VM_STOP_RESET);
}

static const MemoryRegionOps i8042_ops = {.read = i8042_read, .write = i8042_write};

/* Each boot: the Linux loader, with the MP table's PCI interrupt routes
 * read off the bus as the devices left it (INTA of each populated slot ->
 * its IOAPIC input). */
static int board_load_guest(Vm *vm, Error *err)
{
    BootPciIrq irqs[PCI_MAX_DEVICES];
    int n = 0;
    for (int slot = 1; slot < PCI_MAX_DEVICES; slot++) {
        PCIDevice *d = pci_bus_device(vm->m.pci, slot);
        if (!d || !d->config[PCI_INTERRUPT_PIN])
            continue;
        irqs[n++] = (BootPciIrq){.slot = (uint8_t)slot,
                                 .pin = (uint8_t)(d->config[PCI_INTERRUPT_PIN] - 1),
                                 .gsi = (uint8_t)d->gsi};
    }
    return linux_load(vm, irqs, n, err);
}

/* A new vCPU's CPUID, then its registers at the kernel's entry. */
static int board_setup_vcpu(Vm *vm, Vcpu *v, Error *err)
{
    if (cpuid_setup(vm, v, err) < 0)
        return -1;
    return vcpu_setup_boot_state(vm, v, err);
}

/* Message-signalled interrupts of the PCI devices: KVM GSI routes with an
 * irqfd each, KVM_SIGNAL_MSI when there is no route (core/kvm.c). */
static const PCIMsiRouter kvm_msi_router = {
    .send = kvm_msi_send,
    .route_add = kvm_msi_route_add,
    .route_update = kvm_msi_route_update,
    .route_del = kvm_msi_route_del,
    .route_fire = kvm_msi_route_fire,
};

int board_init(Vm *vm, Error *err)
{
    vm->load_guest = board_load_guest;
    vm->setup_vcpu = board_setup_vcpu;
    vm->m.pci = pci_bus_new(&vm->m.mmio, &vm->m.pio, kvm_set_pci_irq, vm);
    if (!vm->m.pci)
        return error_setf(err, "out of memory");
    pci_bus_map_config_ports(vm->m.pci);
    pci_bus_set_msi_router(vm->m.pci, &kvm_msi_router, vm);
    i8042_mr =
        (MemoryRegion){.name = "i8042", .addr = 0x64, .size = 1, .ops = &i8042_ops, .opaque = vm};
    if (address_space_add(&vm->m.pio, &i8042_mr) < 0)
        return error_setf(err, "cannot map the reset ports");
    /* COM1: ISA IRQ 4, straight to KVM's PIC/IOAPIC */
    IrqLine com1_irq = {.set = kvm_set_irq, .opaque = vm, .gsi = 4};
    SerialState *com1 = serial_new(&vm->m.pio, 0x3f8, com1_irq, STDIN_FILENO, STDOUT_FILENO);
    if (!com1)
        return error_setf(err, "cannot create the serial port");
    vm_register_reset(serial_reset, com1);
    return 0;
}
