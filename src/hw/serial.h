/* COM1's 16550A UART (serial.c): port I/O, one interrupt line, the
 * console on host file descriptors. */
#ifndef E1KVM_HW_SERIAL_H
#define E1KVM_HW_SERIAL_H

#include <stdint.h>

#include "core/irq.h"
#include "core/memory.h"

typedef struct SerialState SerialState;
/* A 16550A UART at port base of pio, raising irq, output to out_fd, input
 * from in_fd (-1: none). */
SerialState *serial_new(AddressSpace *pio, uint16_t base, IrqLine irq, int in_fd, int out_fd);
/* Back to power-on state (a reset hook: the board registers it). */
void serial_reset(void *opaque);
/* Put the terminal back the way it was (atexit does this as well). */
void serial_restore_terminal(void);

#endif
