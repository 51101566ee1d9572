/* The devices every machine has: COM1 (8250 UART on stdio), the reset
 * port (i8042 0x64 command 0xFE). */
#ifndef E1KVM_HW_PLATFORM_H
#define E1KVM_HW_PLATFORM_H

#include <stdint.h>

#include "util/error.h"

struct Vm;
int platform_init(struct Vm *vm, Error *err);

typedef struct SerialState SerialState;
/* A 16550A UART at port base, driving ISA interrupt irq, output to out_fd,
 * input from in_fd (-1: none). */
SerialState *serial_new(struct Vm *vm, uint16_t base, int irq, int in_fd, int out_fd);
/* Put the terminal back the way it was (atexit does this as well). */
void serial_restore_terminal(void);

#endif
