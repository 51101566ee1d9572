/* The board: the machine every VM is, put together from the layers (the
 * one place in hw/ that sees the Vm): the PCI host bridge with its INTx
 * lines on KVM's irqfds, COM1 (16550A on stdio), the reset port (i8042
 * 0x64 command 0xFE), and the Linux loader as the VM's boot hooks. */
#ifndef E1KVM_HW_BOARD_H
#define E1KVM_HW_BOARD_H

#include "util/error.h"

struct Vm;
/* After vm_init(), before any -device is realized onto vm->m. */
int board_init(struct Vm *vm, Error *err);

#endif
