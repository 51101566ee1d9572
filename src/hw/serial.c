/* 16550A UART (COM1) on the host's stdin/stdout: enough of the chip for
 * Linux's 8250 driver to detect it (loopback test, FIFO), print through it
 * with THR-empty interrupts and read what is typed. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/loop.h"
#include "hw/serial.h"

#define UART_RBR 0 /* receive buffer (read), DLAB=0 */
#define UART_THR 0 /* transmit holding (write), DLAB=0 */
#define UART_IER 1
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI 0x01  /* received data available */
#define UART_IER_THRI 0x02 /* transmitter holding register empty */
#define UART_IIR_NO_INT 0x01
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_FIFO 0xc0
#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_LCR_DLAB 0x80
#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

#define RX_FIFO 256

struct SerialState {
    MemoryRegion mr;
    IrqLine irq;
    int in_fd, out_fd;
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    bool thr_ipending; /* THRE interrupt latched until IIR read or THR written */
    uint8_t rx[RX_FIFO];
    unsigned rx_head, rx_count;
    bool reading; /* stdin handler installed */
    int level;
};

static struct termios saved_tio;
static bool tio_saved;

void serial_restore_terminal(void)
{
    if (tio_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

static void serial_update_irq(SerialState *s)
{
    bool pending =
        ((s->ier & UART_IER_RDI) && s->rx_count) || ((s->ier & UART_IER_THRI) && s->thr_ipending);
    /* on a PC the UART's interrupt reaches the PIC only when OUT2 is set */
    int level = pending && (s->mcr & UART_MCR_OUT2);
    if (level != s->level) {
        s->level = level;
        irq_line_set(&s->irq, level);
    }
}

static void serial_stdin_ready(void *opaque);

static void serial_set_reading(SerialState *s, bool on)
{
    if (s->in_fd < 0 || s->reading == on)
        return;
    s->reading = on;
    loop_set_fd_handler(s->in_fd, on ? serial_stdin_ready : NULL, NULL, s);
}

static void serial_stdin_ready(void *opaque)
{
    SerialState *s = opaque;
    uint8_t buf[RX_FIFO];
    size_t room = RX_FIFO - s->rx_count;
    if (room == 0) {
        serial_set_reading(s, false); /* resume when the guest drains the FIFO */
        return;
    }
    ssize_t n = read(s->in_fd, buf, room);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        serial_set_reading(s, false); /* EOF: nothing more will come */
        s->in_fd = -1;
        return;
    }
    for (ssize_t i = 0; i < n; i++)
        s->rx[(s->rx_head + s->rx_count++) % RX_FIFO] = buf[i];
    serial_update_irq(s);
}

static void serial_tx(SerialState *s, uint8_t c)
{
    if (s->mcr & UART_MCR_LOOP) { /* loopback: the byte comes back in */
        if (s->rx_count < RX_FIFO)
            s->rx[(s->rx_head + s->rx_count++) % RX_FIFO] = c;
    } else {
        for (;;) {
            ssize_t r = write(s->out_fd, &c, 1);
            if (r == 1 || (r < 0 && errno != EINTR && errno != EAGAIN))
                break;
        }
    }
    s->thr_ipending = true; /* transmitted at once: THR empty again */
}

static uint64_t serial_read(void *opaque, uint64_t off, unsigned size)
{
    SerialState *s = opaque;
    (void)size;
    uint8_t v = 0;
    switch (off) {
    case UART_RBR:
        if (s->lcr & UART_LCR_DLAB) {
            v = s->dll;
            break;
        }
        if (s->rx_count) {
            v = s->rx[s->rx_head];
            s->rx_head = (s->rx_head + 1) % RX_FIFO;
            s->rx_count--;
            if (s->rx_count == 0)
                serial_set_reading(s, true);
        }
        break;
    case UART_IER:
        v = (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier;
        break;
    case UART_IIR:
        if ((s->ier & UART_IER_RDI) && s->rx_count)
            v = UART_IIR_RDI;
        else if ((s->ier & UART_IER_THRI) && s->thr_ipending) {
            v = UART_IIR_THRI;
            s->thr_ipending = false; /* reading IIR acknowledges THRE */
        } else
            v = UART_IIR_NO_INT;
        if (s->fcr & UART_FCR_ENABLE)
            v |= UART_IIR_FIFO;
        break;
    case UART_LCR:
        v = s->lcr;
        break;
    case UART_MCR:
        v = s->mcr;
        break;
    case UART_LSR:
        v = UART_LSR_THRE | UART_LSR_TEMT | (s->rx_count ? UART_LSR_DR : 0);
        break;
    case UART_MSR:
        if (s->mcr & UART_MCR_LOOP) /* outputs wired back to inputs */
            v = (uint8_t)(((s->mcr & UART_MCR_DTR) ? UART_MSR_DSR : 0) |
                          ((s->mcr & UART_MCR_RTS) ? UART_MSR_CTS : 0) |
                          ((s->mcr & UART_MCR_OUT1) ? UART_MSR_RI : 0) |
                          ((s->mcr & UART_MCR_OUT2) ? UART_MSR_DCD : 0));
        else
            v = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
        break;
    case UART_SCR:
        v = s->scr;
        break;
    }
    serial_update_irq(s);
    return v;
}

static void serial_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    SerialState *s = opaque;
    (void)size;
    uint8_t v = (uint8_t)val;
    switch (off) {
    case UART_THR:
        if (s->lcr & UART_LCR_DLAB)
            s->dll = v;
        else
            serial_tx(s, v);
        break;
    case UART_IER:
        if (s->lcr & UART_LCR_DLAB)
            s->dlm = v;
        else {
            /* enabling THRE interrupts with an empty THR raises one at once */
            if ((v & UART_IER_THRI) && !(s->ier & UART_IER_THRI))
                s->thr_ipending = true;
            s->ier = v & 0x0f;
        }
        break;
    case UART_FCR:
        s->fcr = v & 0xc1;
        if (v & UART_FCR_CLEAR_RCVR) {
            s->rx_count = 0;
            serial_set_reading(s, true);
        }
        break;
    case UART_LCR:
        s->lcr = v;
        break;
    case UART_MCR:
        s->mcr = v & 0x1f;
        break;
    case UART_SCR:
        s->scr = v;
        break;
    }
    serial_update_irq(s);
}

static const MemoryRegionOps serial_ops = {.read = serial_read, .write = serial_write};

void serial_reset(void *opaque)
{
    SerialState *s = opaque;
    s->ier = s->lcr = s->mcr = s->scr = s->fcr = 0;
    s->thr_ipending = false;
    s->level = 0;
}

SerialState *serial_new(AddressSpace *pio, uint16_t base, IrqLine irq, int in_fd, int out_fd)
{
    SerialState *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->irq = irq;
    s->in_fd = in_fd;
    s->out_fd = out_fd;
    s->mr =
        (MemoryRegion){.name = "serial", .addr = base, .size = 8, .ops = &serial_ops, .opaque = s};
    if (address_space_add(pio, &s->mr) < 0) {
        free(s);
        return NULL;
    }
    if (in_fd >= 0 && isatty(in_fd) && tcgetattr(in_fd, &saved_tio) == 0) {
        /* characters go to the guest as typed; ^C still stops the VMM */
        struct termios t = saved_tio;
        t.c_lflag &= (tcflag_t) ~(ICANON | ECHO | ECHONL | IEXTEN);
        t.c_iflag &= (tcflag_t) ~(ICRNL | IXON);
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        tcsetattr(in_fd, TCSANOW, &t);
        tio_saved = true;
        atexit(serial_restore_terminal);
    }
    serial_set_reading(s, true);
    return s;
}
