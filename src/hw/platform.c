#include "hw/platform.h"

#include <unistd.h>

#include "core/vm.h"

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

int platform_init(Vm *vm, Error *err)
{
    i8042_mr = (MemoryRegion){
        .name = "i8042", .addr = 0x64, .size = 1, .ops = &i8042_ops, .opaque = vm};
    if (address_space_add(&vm->m.pio, &i8042_mr) < 0)
        return error_setf(err, "cannot map the reset ports");
    if (!serial_new(vm, 0x3f8, 4, STDIN_FILENO, STDOUT_FILENO))
        return error_setf(err, "cannot create the serial port");
    return 0;
}
