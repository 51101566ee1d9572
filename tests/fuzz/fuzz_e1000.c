/* libFuzzer harness for the e1000 model: one input is what a guest (and the
 * peer on the wire) does to the NIC, decoded from a byte stream into the
 * interfaces the VMM itself uses:
 *
 *   - BAR0 MMIO reads and writes (any offset, sizes 1..16) and BAR1 I/O,
 *   - PCI configuration writes (COMMAND: bus mastering, BARs),
 *   - guest RAM contents: descriptors, buffers, raw bytes,
 *   - frames arriving from the peer (the backend sends them),
 *   - the backend being busy or its link going down,
 *   - time passing: timers (interrupt delays, ITR, continuations) expire.
 *
 * The machine is the unit tests' fixture (tests/unit/e1000_fixture.h) built
 * once; every input starts from a reset device, zeroed RAM and an idle
 * backend. Guest RAM is the first FUZZ_RAM bytes of the fixture's buffer:
 * the rest is poisoned for AddressSanitizer, so a DMA that escaped the RAM
 * bounds check would be reported even though it stays inside the host
 * allocation. A single device access that takes longer than MAX_STEP_NS
 * aborts (unbounded work, the class of CVE-2015-6815 / CVE-2021-20257).
 *
 * Input format: a sequence of operations, each an opcode byte followed by
 * its arguments (little endian); missing bytes read as zero. See the
 * switch in LLVMFuzzerTestOneInput and tests/fuzz/mkseeds.py, which writes
 * the seed corpus in this format. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../unit/e1000_fixture.h"
#include "fuzz_input.h"

#define FUZZ_RAM (1u << 20)
#define TXRING 0x1000u
#define RXRING 0x2000u
#define TXBUF 0x10000u
#define RXBUF 0x40000u
#define RXBUF_STRIDE 0x800u
#ifndef MAX_STEP_NS
#define MAX_STEP_NS (500 * 1000 * 1000LL)
#endif

/* Registers worth hitting more often than the other 32K dwords. */
static const uint32_t regs[] = {
    E1000_CTRL,         E1000_STATUS, E1000_EECD,   E1000_EERD,   E1000_CTRL_EXT, E1000_MDIC,
    E1000_FCAL,         E1000_VET,    E1000_ICR,    E1000_ITR,    E1000_ICS,      E1000_IMS,
    E1000_IMC,          E1000_RCTL,   E1000_TCTL,   E1000_TIPG,   E1000_LEDCTL,   E1000_PBA,
    E1000_RDBAL,        E1000_RDBAH,  E1000_RDLEN,  E1000_RDH,    E1000_RDT,      E1000_RDTR,
    E1000_RXDCTL,       E1000_RADV,   E1000_TDBAL,  E1000_TDBAH,  E1000_TDLEN,    E1000_TDH,
    E1000_TDT,          E1000_TIDV,   E1000_TXDCTL, E1000_TADV,   E1000_RXCSUM,   E1000_MTA,
    E1000_MTA + 0x1FC,  E1000_RA,     E1000_RA + 4, E1000_RA + 8, E1000_RA + 12,  E1000_VFTA,
    E1000_VFTA + 0x1FC, E1000_WUC,    E1000_MANC,   E1000_GORCH,  E1000_TORH,     E1000_TPR,
};
#define NREGS (sizeof(regs) / sizeof(regs[0]))

static E1000Fixture *f;
static uint32_t bar0_cfg, bar1_cfg;
static uint8_t frame[17000];

/* CPU time of this thread: the work an access caused, not the time the
 * machine took to give us the CPU (fuzzing often shares it). */
static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void check_time(int64_t t0, const char *what)
{
    int64_t dt = wall_ns() - t0;
    if (dt > MAX_STEP_NS) {
        fprintf(stderr, "fuzz_e1000: one %s took %lld ms: unbounded work\n", what,
                (long long)(dt / 1000000));
        abort();
    }
}

static void mmio_write(uint64_t off, uint64_t val, unsigned size)
{
    MemoryRegion *mr = &f->dev->bar[0].region;
    int64_t t0 = wall_ns();
    memory_region_dispatch_write(mr, off, val, size);
    check_time(t0, "MMIO write");
}

static uint64_t mmio_read(uint64_t off, unsigned size)
{
    MemoryRegion *mr = &f->dev->bar[0].region;
    int64_t t0 = wall_ns();
    uint64_t v = memory_region_dispatch_read(mr, off, size);
    check_time(t0, "MMIO read");
    return v;
}

/* What the main loop does on its iterations: run the timers that are due
 * (each iteration is one step during which the device lock is held). */
static void run_timers(void)
{
    for (int i = 0; i < 64; i++) {
        int64_t t0 = wall_ns();
        int r = timers_run_expired();
        check_time(t0, "timer run");
        if (r == 0) {
            break;
        }
        fx_now += 1;
    }
}

/* A frame of @len bytes: an Ethernet/IPv4 (or IPv6) header with TCP or
 * UDP the filters and offloads care about (if kind bit 0), then a count
 * byte N and N bytes from the input, then a pattern. */
static size_t build_frame(Input *in, uint8_t kind, size_t len)
{
    if (len > sizeof(frame)) {
        len = sizeof(frame);
    }
    memset(frame, 0, len < 64 ? 64 : len);
    size_t off = 0;
    if (kind & 1) {
        static const uint8_t dsts[4][6] = {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
                                           {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                                           {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01},
                                           {0x02, 0x00, 0x00, 0x00, 0x00, 0x07}};
        uint8_t hdr[128] = {0};
        memcpy(hdr, dsts[(kind >> 1) & 3], 6);
        hdr[6] = 0x02;
        hdr[11] = 0x01;
        size_t h = 12;
        if (kind & 0x08) { /* 802.1Q tag */
            hdr[h++] = 0x81;
            hdr[h++] = 0x00;
            hdr[h++] = kind & 0x70;
            hdr[h++] = 0x05;
        }
        if (kind & 0x80) { /* IPv6 + TCP */
            hdr[h++] = 0x86;
            hdr[h++] = 0xdd;
            hdr[h] = 0x60;
            hdr[h + 4] = (uint8_t)((len - h - 40) >> 8);
            hdr[h + 5] = (uint8_t)(len - h - 40);
            hdr[h + 6] = 6;
            hdr[h + 7] = 64;
            h += 40;
        } else { /* IPv4 + TCP or UDP */
            hdr[h++] = 0x08;
            hdr[h++] = 0x00;
            hdr[h] = 0x45;
            hdr[h + 2] = (uint8_t)((len - h) >> 8);
            hdr[h + 3] = (uint8_t)(len - h);
            hdr[h + 8] = 64;
            hdr[h + 9] = (kind & 0x10) ? 17 : 6;
            h += 20;
        }
        hdr[h + 12] = 0x50; /* TCP data offset */
        h += 20;
        off = h < len ? h : len;
        memcpy(frame, hdr, off);
    }
    /* then up to 255 bytes from the input, then a pattern */
    size_t nin = (size_t)get(in, 1);
    for (size_t i = off; i < len; i++) {
        frame[i] = i - off < nin ? (uint8_t)get(in, 1) : (uint8_t)(i * 7);
    }
    for (size_t i = len; i < off + nin; i++) {
        get(in, 1); /* what did not fit: consumed all the same */
    }
    return len;
}

static void reset_machine(void)
{
    f->backend_busy = false;
    /* link down and up again purges what waits in the net layer */
    net_set_link(f->backend, false);
    net_set_link(f->backend, true);
    fx_clear_sent(f);
    fx_now = 1000000000;
    pci_config_write(f->dev, PCI_BASE_ADDRESS_0, bar0_cfg, 4);
    pci_config_write(f->dev, PCI_BASE_ADDRESS_0 + 4, bar1_cfg, 4);
    pci_config_write(f->dev, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER,
                     2);
    fx_wr(f, E1000_CTRL, E1000_CTRL_PHY_RST);
    fx_wr(f, E1000_CTRL, E1000_CTRL_RST);
    memset(fx_ram, 0, FUZZ_RAM);
    while (timers_run_expired() > 0) {
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)fx_advance; /* fixture helpers this harness does without */
    (void)fx_free;
    (void)fx_new;
    f = fx_new_opts("doorbells=on"); /* the tail writes' fast path too */
    if (!f) {
        abort();
    }
    /* guest RAM is the first FUZZ_RAM bytes: everything after is off limits */
    f->m.ram.range[0].size = FUZZ_RAM;
    f->m.ram.total = FUZZ_RAM;
    POISON(fx_ram + FUZZ_RAM, FX_RAM_SIZE - FUZZ_RAM);
    bar0_cfg = pci_config_read(f->dev, PCI_BASE_ADDRESS_0, 4);
    bar1_cfg = pci_config_read(f->dev, PCI_BASE_ADDRESS_0 + 4, 4);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!f) {
        LLVMFuzzerInitialize(NULL, NULL);
    }
    reset_machine();
    Input in = {data, size};
    while (in.left) {
        uint8_t op = (uint8_t)get(&in, 1);
        switch (op & 15) {
        case 0: { /* MMIO write to a known register */
            uint32_t reg = regs[get(&in, 1) % NREGS];
            mmio_write(reg, get(&in, 4), 4);
            break;
        }
        case 1: /* MMIO read of a known register */
            mmio_read(regs[get(&in, 1) % NREGS], 4);
            break;
        case 2: { /* MMIO access anywhere, any size */
            static const unsigned sizes[] = {1, 2, 4, 8, 3, 16};
            uint8_t kind = (uint8_t)get(&in, 1);
            uint64_t off = get(&in, 4) % (E1000_MMIO_SIZE + 16);
            uint64_t val = get(&in, 8);
            unsigned sz = sizes[(kind >> 1) % 6];
            if (kind & 1) {
                mmio_write(off, val, sz);
            } else {
                mmio_read(off, sz);
            }
            break;
        }
        case 3: { /* BAR1: IOADDR / IODATA */
            MemoryRegion *io = &f->dev->bar[1].region;
            uint8_t kind = (uint8_t)get(&in, 1);
            uint64_t off = get(&in, 1) % E1000_IO_SIZE;
            uint32_t val = (uint32_t)get(&in, 4);
            unsigned sz = 1u << ((kind >> 1) % 3);
            int64_t t0 = wall_ns();
            if (kind & 1) {
                memory_region_dispatch_write(io, off, val, sz);
            } else {
                memory_region_dispatch_read(io, off, sz);
            }
            check_time(t0, "I/O access");
            break;
        }
        case 4: { /* raw bytes into guest RAM */
            uint32_t gpa = (uint32_t)get(&in, 4) % FUZZ_RAM;
            uint32_t len = (uint32_t)get(&in, 1);
            for (uint32_t i = 0; i < len && gpa + i < FUZZ_RAM; i++) {
                fx_ram[gpa + i] = (uint8_t)get(&in, 1);
            }
            break;
        }
        case 5: { /* a TX descriptor in the usual ring */
            uint32_t idx = (uint32_t)get(&in, 1);
            uint8_t flags = (uint8_t)get(&in, 1);
            uint64_t addr = get(&in, 8);
            uint32_t lower = (uint32_t)get(&in, 4), upper = (uint32_t)get(&in, 4);
            if (!(flags & 1)) {
                addr = TXBUF + addr % 0x20000;
            }
            struct e1000_tx_desc d = {.buffer_addr = addr, .lower = lower, .upper = upper};
            memcpy(fx_ram + TXRING + 16 * idx, &d, sizeof(d));
            break;
        }
        case 6: { /* an RX descriptor in the usual ring */
            uint32_t idx = (uint32_t)get(&in, 1);
            uint8_t flags = (uint8_t)get(&in, 1);
            uint64_t addr = get(&in, 8);
            if (!(flags & 1)) {
                addr = RXBUF + (addr % 256) * RXBUF_STRIDE;
            }
            struct e1000_rx_desc d = {.buffer_addr = addr};
            memcpy(fx_ram + RXRING + 16 * idx, &d, sizeof(d));
            break;
        }
        case 7: { /* a frame from the peer */
            uint8_t kind = (uint8_t)get(&in, 1);
            size_t len = build_frame(&in, kind, (size_t)get(&in, 2) % sizeof(frame));
            int64_t t0 = wall_ns();
            net_send(f->backend, frame, len, fx_sent_cb);
            check_time(t0, "frame delivery");
            break;
        }
        case 8: /* time passes */
            fx_now += (int64_t)(get(&in, 4) & 0xffffff) * 64;
            run_timers();
            break;
        case 9: { /* PCI configuration write */
            static const int lens[] = {1, 2, 4};
            uint32_t off = (uint32_t)get(&in, 1);
            int len = lens[get(&in, 1) % 3];
            uint32_t val = (uint32_t)get(&in, 4);
            int64_t t0 = wall_ns();
            pci_config_write(f->dev, off & ~(uint32_t)(len - 1), val, len);
            check_time(t0, "config write");
            break;
        }
        case 10: /* the backend's link */
            net_set_link(f->backend, get(&in, 1) & 1);
            break;
        case 11: /* the backend busy (frames wait at it) or ready again */
            f->backend_busy = get(&in, 1) & 1;
            if (!f->backend_busy) {
                net_flush_queued(f->backend);
            }
            break;
        case 12: { /* what a driver's open does: rings, link, units on */
            uint32_t ntx = ((uint32_t)get(&in, 1) % 32 + 1) * 8;
            uint32_t nrx = ((uint32_t)get(&in, 1) % 32 + 1) * 8;
            uint32_t rctl = (uint32_t)get(&in, 4), tctl = (uint32_t)get(&in, 4);
            for (uint32_t i = 0; i < nrx; i++) {
                struct e1000_rx_desc d = {.buffer_addr = RXBUF + i * RXBUF_STRIDE};
                memcpy(fx_ram + RXRING + 16 * i, &d, sizeof(d));
            }
            fx_wr(f, E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_FD);
            fx_wr(f, E1000_IMS, 0xFFFFFFFF);
            fx_wr(f, E1000_TDBAL, TXRING);
            fx_wr(f, E1000_TDLEN, ntx * 16);
            fx_wr(f, E1000_RDBAL, RXRING);
            fx_wr(f, E1000_RDLEN, nrx * 16);
            fx_wr(f, E1000_RDT, nrx - 1);
            fx_wr(f, E1000_RCTL, E1000_RCTL_EN | (rctl & ~(uint32_t)E1000_RCTL_EN));
            fx_wr(f, E1000_TCTL, E1000_TCTL_EN | (tctl & ~(uint32_t)E1000_TCTL_EN));
            break;
        }
        case 13: { /* the main loop runs: continuations and due timers */
            uint32_t n = (uint32_t)get(&in, 1) % 16 + 1;
            for (uint32_t i = 0; i < n; i++) {
                fx_now += 1;
                run_timers();
            }
            break;
        }
        case 14: { /* a frame to transmit, at TXBUF + off */
            uint8_t kind = (uint8_t)get(&in, 1);
            uint32_t off = (uint32_t)get(&in, 2);
            size_t len = build_frame(&in, kind | 1, (size_t)get(&in, 2) % 0x2000);
            memcpy(fx_ram + TXBUF + off, frame, len);
            break;
        }
        case 15: { /* a tail write (the most common one): TDT or RDT, as
                    * an exit (which teaches the value its doorbell) or, if
                    * the value has one, as KVM's eventfd signal */
            uint32_t reg = get(&in, 1) & 1 ? E1000_RDT : E1000_TDT;
            uint32_t v = get(&in, 2);
            MemoryRegion *mr = &f->dev->bar[0].region;
            int fd = -1;
            for (size_t i = 0; i < mr->nioeventfds; i++) {
                const IoEventFd *e = &mr->ioeventfds[i];
                if (e->offset == reg && e->len == 4 && e->match && e->data == v) {
                    fd = e->fd;
                }
            }
            uint64_t one = 1;
            if (fd < 0 || write(fd, &one, sizeof(one)) != sizeof(one)) {
                mmio_write(reg, v, 4);
            }
            break;
        }
        }
    }
    /* every operation returned: let what remains run to the end, bounded */
    for (int i = 0; i < 256; i++) {
        fx_now += 1000;
        int64_t t0 = wall_ns();
        int r = timers_run_expired();
        check_time(t0, "timer run");
        if (r == 0) {
            break;
        }
    }
    /* the interrupt line follows ICR & IMS, whatever happened */
    uint32_t icr = fx_rd(f, E1000_ICR);
    (void)icr;
    if (f->irq_level) {
        fprintf(stderr, "fuzz_e1000: interrupt line high after ICR was read and cleared\n");
        abort();
    }
    return 0;
}
