/* e1000-pmd: a small poll-mode driver for the Intel 82540EM ("e1000") that
 * runs in guest user space, the way DPDK's em PMD does:
 *
 *   - the NIC's registers come from mmap() of the PCI BAR0 sysfs file
 *     (/sys/bus/pci/devices/BDF/resource0) after the kernel driver is
 *     unbound; every register access is a plain 32-bit load or store, which
 *     in a VM traps to the hypervisor: an exit to the VMM, unless the VMM
 *     has KVM absorb the write (coalesced MMIO, ioeventfd);
 *   - descriptor rings and packet buffers live in hugepages, whose physical
 *     (guest-physical) addresses come from /proc/self/pagemap; the device
 *     DMAs into them directly;
 *   - no interrupts: the driver polls the DD bit of descriptors in memory,
 *     and touches a register only to move a tail: one TDT write per burst of
 *     32 transmitted packets, one RDT write per 32 received ones.
 *
 * On this project's host the guest kernel runs in KVM's instruction
 * emulator but guest user space runs natively (docs/HOST.md), so
 * this loop costs almost nothing and the NIC model in the VMM becomes the
 * bottleneck: that is what it measures. It must behave like a driver for
 * the real part (Intel 8254x SDM) and so runs unchanged on QEMU's e1000.
 *
 *   e1000-pmd [options] tx SIZE SECONDS    send SIZE-byte UDP/IPv4 frames
 *   e1000-pmd [options] rx SECONDS [SIZE]  count received frames
 *
 * SIZE is the frame length as the NIC is handed it and as the TAP on the
 * host sees it: Ethernet header to the end of the payload, without the
 * 4-byte FCS the NIC appends (testpmd's txpkts convention); 60..1514.
 *
 * Output (one write each, for the test harness):
 *   E1KVM-RESULT pmd_run RUN SIZE       RUN: tx, rx, or tx-flush, rx-flush
 *                                       with -F
 *   E1KVM-MARK pmd-begin RUN SIZE       the measurement window starts
 *                                       (rx: the ring is armed; the window
 *                                       itself starts at the first frame)
 *   E1KVM-MARK pmd-end RUN SIZE
 *   E1KVM-RESULT pmd_tx_pps N           (rx: pmd_rx_pps) and the packets,
 *                                       bytes, seconds, MMIO accesses of
 *                                       the window, device counters
 * Exit status: 0 ok, 1 error, 2 usage, 3 watchdog.
 *
 * -F (flush): read STATUS after every tail write, as Linux's
 * E1000_WRITE_FLUSH does after some writes. DPDK does not, and the default
 * does not either. It matters on QEMU: QEMU's e1000 maps its registers as
 * KVM "coalesced MMIO" except MDIC, ICR, ICS, IMS, IMC, TCTL and TDT, so an
 * RDT write is only queued in a ring in the kernel and reaches the device
 * model at the next exit that is not coalesced. A PMD that polls memory and
 * writes only RDT makes no such exit: after the first ring of frames QEMU
 * sees no new descriptors (DPDK's em PMD "stalls at ~100 pps" there). The
 * read forces that exit: one more exit per burst.
 *
 * Built static (musl-gcc -static -O2 -Wall -Werror) by tests/guest/mkguest.sh and
 * installed as /bin/e1000-pmd in the test guest's initrds. */
#define PMD_NAME "e1000-pmd"
#include "pmd.h"

/* ------------------------------------------------------------------------ */
/* 82540EM registers and descriptor bits (SDM chapter 13 and 3)              */

#define E1000_VENDOR 0x8086
#define E1000_DEVICE 0x100e /* 82540EM-A, what QEMU and e1kvm model */

enum {
    REG_CTRL = 0x0000,
    REG_STATUS = 0x0008,
    REG_EERD = 0x0014,
    REG_MDIC = 0x0020,
    REG_ICR = 0x00c0,
    REG_ITR = 0x00c4,
    REG_IMC = 0x00d8,
    REG_RCTL = 0x0100,
    REG_TCTL = 0x0400,
    REG_TIPG = 0x0410,
    REG_RDBAL = 0x2800,
    REG_RDBAH = 0x2804,
    REG_RDLEN = 0x2808,
    REG_RDH = 0x2810,
    REG_RDT = 0x2818,
    REG_RDTR = 0x2820,
    REG_RADV = 0x282c,
    REG_TDBAL = 0x3800,
    REG_TDBAH = 0x3804,
    REG_TDLEN = 0x3808,
    REG_TDH = 0x3810,
    REG_TDT = 0x3818,
    REG_TIDV = 0x3820,
    REG_TADV = 0x382c,
    REG_MPC = 0x4010,  /* missed packets (no room in the FIFO) */
    REG_GPRC = 0x4074, /* good packets received */
    REG_GPTC = 0x4080, /* good packets transmitted */
    REG_RNBC = 0x40a0, /* receive: no buffer (descriptor) available */
    REG_TPR = 0x40d0,  /* total packets received (before filtering) */
    REG_TPT = 0x40d4,  /* total packets transmitted */
    REG_MTA = 0x5200,  /* 128 dwords */
    REG_RAL0 = 0x5400, /* receive address 0..15: RAL/RAH pairs */
    REG_RAH0 = 0x5404,
};

#define CTRL_LRST (1u << 3)
#define CTRL_ASDE (1u << 5)
#define CTRL_SLU (1u << 6)
#define CTRL_ILOS (1u << 7)
#define CTRL_FRCSPD (1u << 11)
#define CTRL_FRCDPX (1u << 12)
#define CTRL_RST (1u << 26)
#define CTRL_VME (1u << 30)
#define CTRL_PHY_RST (1u << 31)
#define STATUS_LU (1u << 1)

/* EERD on the 82540 (SDM 13.4.4): START bit 0, DONE bit 4, word address at
 * bit 8, data at bit 16. (Later parts moved DONE and ADDR: not ours.) */
#define EERD_START (1u << 0)
#define EERD_DONE (1u << 4)
#define EERD_ADDR_SHIFT 8
#define EERD_DATA_SHIFT 16

#define MDIC_REG_SHIFT 16
#define MDIC_PHY_SHIFT 21
#define MDIC_OP_WRITE (1u << 26)
#define MDIC_OP_READ (2u << 26)
#define MDIC_READY (1u << 28)
#define MDIC_ERROR (1u << 30)
#define PHY_ADDR 1            /* the internal PHY answers at address 1 */
#define PHY_BMCR 0            /* MII control */
#define BMCR_ANRESTART 0x0200 /* restart autonegotiation */
#define BMCR_ANENABLE 0x1000

#define RCTL_EN (1u << 1)
#define RCTL_BAM (1u << 15)   /* accept broadcast */
#define RCTL_SECRC (1u << 26) /* strip the FCS: buffers hold what was sent */
/* BSIZE = 00 with BSEX = 0: 2048-byte buffers */

#define TCTL_EN (1u << 1)
#define TCTL_PSP (1u << 3) /* pad short packets to 64 bytes */
#define TCTL_CT_SHIFT 4    /* collision threshold (half duplex only) */
#define TCTL_COLD_SHIFT 12 /* collision distance */
#define TCTL_RTLC (1u << 24)

/* Linux and DPDK values for a copper 82540 (SDM 13.4.34). */
#define TIPG_COPPER (8u | 8u << 10 | 6u << 20)

/* Legacy transmit descriptor (SDM 3.3.3). */
struct tx_desc {
    uint64_t addr;
    uint16_t length;
    uint8_t cso;
    uint8_t cmd;
    uint8_t status;
    uint8_t css;
    uint16_t special;
};
#define TXD_CMD_EOP 0x01  /* end of packet */
#define TXD_CMD_IFCS 0x02 /* insert FCS */
#define TXD_CMD_RS 0x08   /* report status: write DD back */
#define TXD_STAT_DD 0x01

/* Receive descriptor (SDM 3.2.3). */
struct rx_desc {
    uint64_t addr;
    uint16_t length;
    uint16_t csum;
    uint8_t status;
    uint8_t errors;
    uint16_t special;
};
#define RXD_STAT_DD 0x01
#define RXD_STAT_EOP 0x02

_Static_assert(sizeof(struct tx_desc) == 16, "legacy TX descriptor is 16 bytes");
_Static_assert(sizeof(struct rx_desc) == 16, "RX descriptor is 16 bytes");

#define BUF_SIZE 2048 /* one buffer per descriptor, = RCTL.BSIZE */
#define MAX_RING 2048 /* descriptors per ring: 2 x 2048 buffers fit in 5 hugepages */

/* ------------------------------------------------------------------------ */
/* Stopping the device on the way out                                      */

static volatile uint32_t *bar; /* BAR0, NULL until mapped */

/* The device must stop DMA before our hugepages go back to the kernel: it
 * holds their physical addresses and would otherwise write into memory
 * that belongs to someone else by then. Called on every way out, including
 * from the signal handler (only plain stores and pwrite: async-signal-safe). */
static void pmd_quiesce(void)
{
    if (bar) {
        bar[REG_RCTL / 4] = 0;
        bar[REG_TCTL / 4] = 0;
        bar[REG_IMC / 4] = ~0u;
        (void)bar[REG_STATUS / 4]; /* flush the posted writes */
    }
    pci_bus_master_off();
}

/* ------------------------------------------------------------------------ */
/* Register access                                                          */

static inline uint32_t rd32(uint32_t reg)
{
    mmio_reads++;
    return bar[reg / 4];
}

/* A plain 32-bit store (one MOV): the only kind of instruction that the
 * hypervisor has to decode for an MMIO exit. */
static inline void wr32(uint32_t reg, uint32_t val)
{
    mmio_writes++;
    bar[reg / 4] = val;
}

/* ------------------------------------------------------------------------ */
/* Device bring-up (SDM 14: general initialization)                         */

static double rx_enabled_at; /* when RCTL.EN was set (now_s) */

typedef struct Nic {
    unsigned n; /* descriptors per ring */
    struct tx_desc *txr;
    struct rx_desc *rxr;
    uint8_t *txbuf[MAX_RING], *rxbuf[MAX_RING];
    uint64_t txpa[MAX_RING], rxpa[MAX_RING];
    uint8_t mac[6];
} Nic;

static bool eeprom_read(uint16_t word, uint16_t *val)
{
    wr32(REG_EERD, EERD_START | (uint32_t)word << EERD_ADDR_SHIFT);
    for (int i = 0; i < 1000; i++) {
        uint32_t v = rd32(REG_EERD);
        if (v & EERD_DONE) {
            *val = (uint16_t)(v >> EERD_DATA_SHIFT);
            return true;
        }
        if (i > 10) {
            sleep_ms(1);
        }
    }
    return false;
}

static bool mdic(uint32_t op, unsigned reg, uint16_t *val)
{
    wr32(REG_MDIC, op | (uint32_t)reg << MDIC_REG_SHIFT | PHY_ADDR << MDIC_PHY_SHIFT |
                       (op == MDIC_OP_WRITE ? *val : 0));
    for (int i = 0; i < 100; i++) {
        uint32_t v = rd32(REG_MDIC);
        if (v & MDIC_READY) {
            if (v & MDIC_ERROR) {
                return false;
            }
            *val = (uint16_t)v;
            return true;
        }
        sleep_ms(1);
    }
    return false;
}

static void nic_reset(void)
{
    /* quiet first, as the Linux driver does: no interrupts, no DMA */
    wr32(REG_IMC, ~0u);
    wr32(REG_RCTL, 0);
    wr32(REG_TCTL, TCTL_PSP);
    (void)rd32(REG_STATUS);
    sleep_ms(10); /* let in-flight DMA finish */
    /* A plain 32-bit MMIO write. (The Linux driver issues this one through
     * the I/O BAR because of an erratum about 64-bit writes; DPDK's em
     * PMD, like us, uses memory space.) */
    wr32(REG_CTRL, rd32(REG_CTRL) | CTRL_RST);
    sleep_ms(5); /* the EEPROM auto-read takes a few ms on the real part */
    for (int i = 0; i < 100 && (rd32(REG_CTRL) & CTRL_RST); i++) {
        sleep_ms(1);
    }
    if (rd32(REG_CTRL) & CTRL_RST) {
        die("CTRL.RST does not clear");
    }
    /* Not every model really resets (QEMU's e1000 only clears the bit), so
     * nothing below relies on reset values: every register we use is
     * written. */
    wr32(REG_IMC, ~0u);
    (void)rd32(REG_ICR); /* read to clear */
}

static void nic_mac(Nic *nic)
{
    uint16_t w[3];
    bool ee = true;
    for (int i = 0; i < 3 && ee; i++) {
        ee = eeprom_read((uint16_t)i, &w[i]);
    }
    uint32_t ral = rd32(REG_RAL0), rah = rd32(REG_RAH0);
    if (ee) {
        for (int i = 0; i < 3; i++) {
            nic->mac[2 * i] = (uint8_t)w[i];
            nic->mac[2 * i + 1] = (uint8_t)(w[i] >> 8);
        }
        uint8_t r[6] = {(uint8_t)ral,         (uint8_t)(ral >> 8), (uint8_t)(ral >> 16),
                        (uint8_t)(ral >> 24), (uint8_t)rah,        (uint8_t)(rah >> 8)};
        if ((rah >> 31) && memcmp(r, nic->mac, 6) != 0) {
            out("E1KVM-LOG e1000-pmd: EEPROM MAC differs from RAL0/RAH0 after reset");
        }
    } else {
        /* RAR0 is loaded from the EEPROM at reset (SDM 13.4.26) */
        out("E1KVM-LOG e1000-pmd: EERD read timed out; MAC from RAL0/RAH0");
        if (!(rah >> 31)) {
            die("no EEPROM and RAH0.AV clear: no MAC address");
        }
        for (int i = 0; i < 4; i++) {
            nic->mac[i] = (uint8_t)(ral >> (8 * i));
        }
        nic->mac[4] = (uint8_t)rah;
        nic->mac[5] = (uint8_t)(rah >> 8);
    }
}

static void nic_link_up(void)
{
    uint32_t ctrl = rd32(REG_CTRL);
    /* set link up; autonegotiated speed/duplex; no forced values, no PHY
     * reset, no VLAN stripping */
    ctrl |= CTRL_SLU | CTRL_ASDE;
    ctrl &= ~(CTRL_LRST | CTRL_FRCSPD | CTRL_FRCDPX | CTRL_ILOS | CTRL_PHY_RST | CTRL_VME);
    wr32(REG_CTRL, ctrl);
    for (int i = 0; i < 500; i++) { /* 5 s */
        if (rd32(REG_STATUS) & STATUS_LU) {
            return;
        }
        if (i == 200) {
            /* 2 s without link: restart autonegotiation in the PHY */
            uint16_t bmcr;
            if (mdic(MDIC_OP_READ, PHY_BMCR, &bmcr)) {
                bmcr |= BMCR_ANENABLE | BMCR_ANRESTART;
                if (!mdic(MDIC_OP_WRITE, PHY_BMCR, &bmcr)) {
                    out("E1KVM-LOG e1000-pmd: MDIC write of BMCR failed");
                }
            }
            out("E1KVM-LOG e1000-pmd: no link after 2 s, restarted autonegotiation");
        }
        sleep_ms(10);
    }
    die("no link (STATUS 0x%08x)", rd32(REG_STATUS));
}

static void nic_setup(Nic *nic, Dma *dma, bool rx_on, bool tx_on)
{
    unsigned n = nic->n;

    /* receive address 0 = our MAC, the other 15 unused; no multicast */
    wr32(REG_RAL0, (uint32_t)nic->mac[0] | nic->mac[1] << 8 | nic->mac[2] << 16 |
                       (uint32_t)nic->mac[3] << 24);
    wr32(REG_RAH0, (uint32_t)nic->mac[4] | nic->mac[5] << 8 | 1u << 31 /* AV */);
    for (int i = 1; i < 16; i++) {
        wr32(REG_RAL0 + 8 * i, 0);
        wr32(REG_RAH0 + 8 * i, 0);
    }
    for (int i = 0; i < 128; i++) {
        wr32(REG_MTA + 4 * i, 0);
    }
    /* no interrupts at all: no moderation timers either */
    wr32(REG_ITR, 0);
    wr32(REG_TIDV, 0);
    wr32(REG_TADV, 0);
    wr32(REG_RDTR, 0);
    wr32(REG_RADV, 0);

    /* rings: 128-byte aligned (TDLEN/RDLEN count in 128-byte units) */
    nic->txr = dma_alloc(dma, n * sizeof(struct tx_desc), 4096);
    nic->rxr = dma_alloc(dma, n * sizeof(struct rx_desc), 4096);
    for (unsigned i = 0; i < n; i++) {
        nic->txbuf[i] = dma_alloc(dma, BUF_SIZE, BUF_SIZE);
        nic->txpa[i] = dma_pa(dma, nic->txbuf[i]);
        nic->rxbuf[i] = dma_alloc(dma, BUF_SIZE, BUF_SIZE);
        nic->rxpa[i] = dma_pa(dma, nic->rxbuf[i]);
    }

    /* transmit (SDM 14.5) */
    uint64_t pa = dma_pa(dma, nic->txr);
    wr32(REG_TCTL, TCTL_PSP); /* off while the ring is (re)programmed */
    wr32(REG_TDBAL, (uint32_t)pa);
    wr32(REG_TDBAH, (uint32_t)(pa >> 32));
    wr32(REG_TDLEN, n * (uint32_t)sizeof(struct tx_desc));
    wr32(REG_TDH, 0);
    wr32(REG_TDT, 0);
    wr32(REG_TIPG, TIPG_COPPER);
    if (tx_on) {
        wr32(REG_TCTL,
             TCTL_EN | TCTL_PSP | 15u << TCTL_CT_SHIFT | 63u << TCTL_COLD_SHIFT | TCTL_RTLC);
    }

    /* receive (SDM 14.4): every descriptor gets a buffer; all but one are
     * handed to the device (RDT = n - 1: head == tail would mean none) */
    for (unsigned i = 0; i < n; i++) {
        nic->rxr[i] = (struct rx_desc){.addr = nic->rxpa[i]};
    }
    pa = dma_pa(dma, nic->rxr);
    wr32(REG_RCTL, 0);
    wr32(REG_RDBAL, (uint32_t)pa);
    wr32(REG_RDBAH, (uint32_t)(pa >> 32));
    wr32(REG_RDLEN, n * (uint32_t)sizeof(struct rx_desc));
    wr32(REG_RDH, 0);
    wr32(REG_RDT, 0);
    if (rx_on) {
        /* 2048-byte buffers (BSIZE 00), broadcast accepted, FCS stripped,
         * no long packets: a frame always fits one buffer */
        wr32(REG_RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);
        barrier();
        wr32(REG_RDT, n - 1);
        rx_enabled_at = now_s();
    }
}

/* ------------------------------------------------------------------------ */
/* The poll loops                                                           */

/* A tail write, optionally pushed through with a read (see -F). */
static inline void write_tail(uint32_t reg, uint32_t val)
{
    wr32(reg, val);
    if (flush_reads) {
        (void)rd32(REG_STATUS);
    }
}

/* Transmit as DPDK's simple em/ixgbe TX path does: a burst fills `burst`
 * descriptors, RS only on the last one (tx_rs_thresh = burst), one TDT
 * write. Descriptors come back `burst` at a time when the DD bit of that
 * RS descriptor is seen: no register read on the fast path. */
static void run_tx(Nic *nic, unsigned size, unsigned secs)
{
    unsigned n = nic->n, tail = 0, nb_free = n - 1, next_rs = burst - 1;
    uint64_t sent = 0, waits = 0;

    for (unsigned i = 0; i < n; i++) {
        nic->txr[i] = (struct tx_desc){0};
    }
    (void)rd32(REG_GPTC); /* statistics clear on read: start from 0 */
    (void)rd32(REG_TPT);

    uint64_t w0 = mmio_writes, r0 = mmio_reads;
    window_open(size, secs);
    double t0 = now_s();
    while (!stop) {
        if (nb_free < burst) {
            volatile uint8_t *st = &nic->txr[next_rs].status;
            if (!(*st & TXD_STAT_DD)) {
                waits++; /* the device has not got that far yet */
                continue;
            }
            nb_free += burst;
            next_rs = (next_rs + burst) % n;
            continue;
        }
        for (unsigned i = 0; i < burst; i++) {
            struct tx_desc *d = &nic->txr[tail + i];
            d->addr = nic->txpa[tail + i];
            d->length = (uint16_t)size;
            d->cso = 0;
            d->cmd = TXD_CMD_EOP | TXD_CMD_IFCS | (i == burst - 1 ? TXD_CMD_RS : 0);
            d->status = 0;
            d->css = 0;
            d->special = 0;
        }
        tail = (tail + burst) % n;
        nb_free -= burst;
        barrier();
        write_tail(REG_TDT, tail);
        sent += burst;
    }
    double t1 = now_s();
    window_close();
    uint64_t win_writes = mmio_writes - w0, win_reads = mmio_reads - r0;

    /* Drain: everything handed over is sent when the last RS descriptor
     * before the tail has DD (bounded: 2 s). */
    unsigned last_rs = (tail + n - 1) % n;
    double td = now_s();
    while (!(*(volatile uint8_t *)&nic->txr[last_rs].status & TXD_STAT_DD) && now_s() - td < 2) {
    }
    bool drained = nic->txr[last_rs].status & TXD_STAT_DD;
    uint32_t tdh = rd32(REG_TDH);
    uint32_t gptc = rd32(REG_GPTC), tpt = rd32(REG_TPT);
    out("E1KVM-MARK pmd-end %s %u", run_name, size);

    double dt = t1 - t0;
    report_tx(sent, size, dt, win_writes, win_reads);
    out("E1KVM-RESULT pmd_tx_dd_waits %" PRIu64, waits);
    out("E1KVM-RESULT pmd_tx_drained %d tdh=%u tdt=%u", drained, tdh, tail);
    out("E1KVM-RESULT pmd_tx_hw_gptc %u", gptc);
    out("E1KVM-RESULT pmd_tx_hw_tpt %u", tpt);
}

/* Receive as DPDK's em RX path does: poll the DD bit of the next
 * descriptor, take the frame, give the descriptor back (status cleared,
 * buffer address rewritten); every `burst` descriptors one RDT write, with
 * RDT = the last descriptor processed (head == tail means "none free", so
 * the tail always trails one descriptor we still hold). The window opens at
 * the first frame: a device may need time after RCTL.EN before it delivers
 * (QEMU's e1000 holds reception for 1 s after any RCTL write). */
static void run_rx(Nic *nic, unsigned secs, unsigned size)
{
    unsigned n = nic->n, next = 0, hold = 0, last = n - 1;
    uint64_t pkts = 0, bytes = 0, bad_len = 0, not_eop = 0, errors = 0, polls = 0, bad_data = 0;

    (void)rd32(REG_GPRC); /* clear on read */
    (void)rd32(REG_MPC);
    (void)rd32(REG_RNBC);
    (void)rd32(REG_TPR);

    uint64_t w0 = mmio_writes, r0 = mmio_reads;
    window_open(size, 30); /* the first frame must come within 30 s */
    double t0 = 0;
    bool started = false;
    while (!stop) {
        volatile struct rx_desc *d = &nic->rxr[next];
        uint8_t st = d->status;
        if (!(st & RXD_STAT_DD)) {
            polls++;
            continue;
        }
        barrier(); /* length and errors after DD (x86 keeps loads in order) */
        if (!started) {
            t0 = now_s();
            alarm(secs);
            signals = 0;
            started = true;
        }
        unsigned len = d->length;
        if (d->errors) {
            errors++;
        }
        if (!(st & RXD_STAT_EOP)) {
            not_eop++;
        }
        if (size && len != size) {
            bad_len++;
        }
        /* what the host sends: IPv4 (checked so that a DMA to the wrong
         * place or a stale buffer shows up as a count, not as a rate) */
        const uint8_t *f = nic->rxbuf[next];
        if (len < 14 || f[12] != 0x08 || f[13] != 0x00) {
            bad_data++;
        }
        pkts++;
        bytes += len;
        d->status = 0;
        d->addr = nic->rxpa[next];
        last = next;
        next = (next + 1) % n;
        if (++hold >= burst) {
            barrier();
            write_tail(REG_RDT, last);
            hold = 0;
        }
    }
    double t1 = now_s();
    window_close();
    uint64_t win_writes = mmio_writes - w0, win_reads = mmio_reads - r0;
    /* where the device stands: head, tail, and our next descriptor */
    uint32_t rdh = rd32(REG_RDH), rdt = rd32(REG_RDT);
    wr32(REG_RCTL, 0);
    uint32_t gprc = rd32(REG_GPRC), mpc = rd32(REG_MPC), rnbc = rd32(REG_RNBC);
    uint32_t tpr = rd32(REG_TPR);
    out("E1KVM-MARK pmd-end %s %u", run_name, size);

    double dt = started ? t1 - t0 : 0;
    /* from RCTL.EN to the first frame, with the host already sending */
    report_rx(pkts, bytes, dt, started ? t0 - rx_enabled_at : -1.0, win_writes, win_reads, polls);
    out("E1KVM-RESULT pmd_rx_bad %" PRIu64 " len=%" PRIu64 " not_eop=%" PRIu64 " errors=%" PRIu64
        " data=%" PRIu64,
        bad_len + not_eop + errors + bad_data, bad_len, not_eop, errors, bad_data);
    const volatile struct rx_desc *nd = &nic->rxr[next];
    out("E1KVM-RESULT pmd_rx_ring rdh=%u rdt=%u next=%u held=%u next_desc=%016" PRIx64
        "/len=%u/sta=0x%02x",
        rdh, rdt, next, hold, nd->addr, nd->length, nd->status);
    out("E1KVM-RESULT pmd_rx_hw_gprc %u", gprc);
    out("E1KVM-RESULT pmd_rx_hw_tpr %u", tpr);
    out("E1KVM-RESULT pmd_rx_hw_mpc %u", mpc);
    out("E1KVM-RESULT pmd_rx_hw_rnbc %u", rnbc);
    if (!started) {
        die("no frame received within 30 s");
    }
}

/* ------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: %s [options] tx SIZE SECONDS\n"
            "       %s [options] rx SECONDS [SIZE]\n"
            "  -p BDF      the NIC (default: the first 8086:100e)\n"
            "  -n N        descriptors per ring, 64..%d, a multiple of the burst (default 512)\n"
            "  -b N        burst: descriptors per tail write (default 32)\n"
            "  -D MAC      tx: destination MAC (default ff:ff:ff:ff:ff:ff)\n"
            "  -d IP       tx: destination IPv4 (default 10.77.0.1)\n"
            "  -s IP       tx: source IPv4 (default 10.77.0.2)\n"
            "  -P PORT     tx: UDP destination port (default 9, discard)\n"
            "  -F          read STATUS after each tail write (see the source)\n"
            "SIZE: frame bytes without FCS, 60..1514.\n",
            prog, prog, MAX_RING);
    exit(2);
}

int main(int argc, char **argv)
{
    static Nic nic; /* 130 KiB of buffer pointers: not on the stack */
    PmdArgs args;
    pmd_parse_args(argc, argv, &args, MAX_RING);
    FrameSpec fs = args.fs;
    bool tx = args.tx;
    unsigned size = args.size, secs = args.secs;
    nic.n = args.ring;
    /* RS positions and ring wrap line up only if bursts tile the ring */
    if (nic.n % 8 || nic.n % burst || burst > nic.n / 2) {
        fprintf(stderr, "%s: ring size %u must be a multiple of 8 and of the burst (%u)\n", prog,
                nic.n, burst);
        usage();
    }

    /* Setup has 60 s (it runs in the emulated guest kernel: unbinding the
     * driver alone takes seconds); the loops re-arm the alarm. */
    watchdog_setup(60);

    double t_start = now_s();
    char bdf[256]; /* a d_name */
    static const unsigned e1000_ids[] = {E1000_DEVICE, 0};
    find_pci(bdf, sizeof(bdf), args.bdf, E1000_VENDOR, e1000_ids, "82540EM");
    claim_device(bdf);
    bar = map_bar(bdf, 0, 0x20000, NULL); /* the 128 KiB register BAR */
    nic_reset();
    nic_mac(&nic);
    nic_link_up();

    /* Two rings (32 KiB at most each) and 2 x n buffers of 2 KiB. The
     * allocator skips to the next hugepage rather than straddle one, losing
     * less than its largest allocation per page. Hugepages are not free
     * here: the emulated guest kernel zeroes each one (~1 s per 2 MiB). */
    size_t need =
        2 * 4096 + 2 * (size_t)nic.n * sizeof(struct tx_desc) + 2 * (size_t)nic.n * BUF_SIZE;
    size_t per_page = HUGE_SZ - MAX_RING * sizeof(struct rx_desc);
    Dma dma;
    dma_init(&dma, (unsigned)((need + per_page - 1) / per_page));
    /* Only the direction measured is enabled: the other would only add
     * device work (a TX-only run needs no receive DMA, and vice versa). */
    nic_setup(&nic, &dma, !tx, tx);
    memcpy(fs.src, nic.mac, 6);
    for (unsigned i = 0; tx && i < nic.n; i++) {
        build_frame(nic.txbuf[i], size, &fs);
    }
    out("E1KVM-RESULT pmd_nic %s mac=%02x:%02x:%02x:%02x:%02x:%02x ring=%u burst=%u "
        "hugepages=%zu setup_mmio=%" PRIu64 "w/%" PRIu64 "r setup_s=%.2f",
        bdf, nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3], nic.mac[4], nic.mac[5], nic.n, burst,
        dma.len / HUGE_SZ, mmio_writes, mmio_reads, now_s() - t_start);
    alarm(0);

    if (tx) {
        run_tx(&nic, size, secs);
    } else {
        run_rx(&nic, secs, size);
    }
    pmd_quiesce();
    return 0;
}
