/* Known e1000 emulation bugs, replayed against our model, and the classes
 * of hostile input they belong to. Each test does what a malicious guest
 * driver would do (registers through BAR0, descriptors and buffers in its
 * RAM, frames arriving from the peer) and checks that
 *   - the device does what the hardware would, or stops the queue,
 *   - nothing outside guest RAM is touched (ASan checks the host side; the
 *     guest side is checked against a second NIC whose BAR is the target),
 *   - the work done per guest register access is bounded, and so is its
 *     wall time (measured and reported; asserted in non-sanitizer builds).
 *
 * References: QEMU commits for CVE-2012-0029 (legacy TX buffer overflow),
 * CVE-2015-6815 (TX loop that never ends), CVE-2016-1981 (RX/TX loops on an
 * out-of-bounds ring start), CVE-2021-20257 (TX descriptor chains that never
 * finish), and the DMA re-entrancy class (CVE-2021-3416 and friends: a
 * device DMAing into its own or another device's registers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "e1000_fixture.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* The bound asserted on one register access in the normal build. */
#define MAX_ACCESS_NS (5 * 1000 * 1000LL)

#define RXRING 0x10000ULL
#define TXRING 0x100000ULL /* room for the largest ring: 0xFFF80 bytes */
#define TXBUF 0x400000ULL
#define RXBUF 0x600000ULL
#define RXBUF_STRIDE 0x4000ULL

#define LEGACY(len, cmd) ((uint32_t)(len) | (cmd))
#define DATA(len, cmd) ((uint32_t)(len) | E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_D | (cmd))
#define POPTS(x) ((uint32_t)(x) << 8)
#define TSO_CMD (E1000_TXD_CMD_TSE | E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP)

static const uint8_t OUR_MAC[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static uint8_t *ram(uint64_t gpa)
{
    return fx_ram + gpa;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time of this thread: the work done, without the noise of being
 * preempted on a busy machine (what the bound is about). */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* driver-side helpers                                                 */

static void link_up(E1000Fixture *f)
{
    fx_wr(f, E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_FD);
}

static void put_txd(uint64_t ring, uint32_t i, uint64_t addr, uint32_t lower, uint32_t upper)
{
    struct e1000_tx_desc d = {.buffer_addr = addr, .lower = lower, .upper = upper};
    memcpy(ram(ring + 16 * (uint64_t)i), &d, sizeof(d));
}

static void put_ctx(uint64_t ring, uint32_t i, uint8_t hdr_len, uint16_t mss, uint32_t paylen)
{
    struct e1000_context_desc c = {.ipcss = 14,
                                   .ipcso = 24,
                                   .ipcse = 33,
                                   .tucss = 34,
                                   .tucso = 50,
                                   .tucse = 0,
                                   .cmd_and_length = TSO_CMD | E1000_TXD_CMD_DEXT | paylen,
                                   .hdr_len = hdr_len,
                                   .mss = mss};
    memcpy(ram(ring + 16 * (uint64_t)i), &c, sizeof(c));
}

static void tx_ring(E1000Fixture *f, uint64_t base, uint32_t count)
{
    link_up(f);
    fx_wr(f, E1000_TDBAL, (uint32_t)base);
    fx_wr(f, E1000_TDBAH, (uint32_t)(base >> 32));
    fx_wr(f, E1000_TDLEN, count * 16);
    fx_wr(f, E1000_TDH, 0);
    fx_wr(f, E1000_TDT, 0);
    fx_wr(f, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
    fx_rd(f, E1000_ICR);
}

/* RX registers only (the descriptors may lie outside RAM) */
static void rx_regs(E1000Fixture *f, uint64_t base, uint32_t count, uint32_t rctl)
{
    link_up(f);
    fx_wr(f, E1000_RDBAL, (uint32_t)base);
    fx_wr(f, E1000_RDBAH, (uint32_t)(base >> 32));
    fx_wr(f, E1000_RDLEN, count * 16);
    fx_wr(f, E1000_RDH, 0);
    fx_wr(f, E1000_RDT, count - 1);
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | rctl);
    fx_rd(f, E1000_ICR);
}

static void rx_ring(E1000Fixture *f, uint64_t base, uint32_t count, uint32_t rctl)
{
    for (uint32_t i = 0; i < count; i++) {
        struct e1000_rx_desc d = {.buffer_addr = RXBUF + i * RXBUF_STRIDE};
        memcpy(ram(base + 16 * i), &d, sizeof(d));
    }
    rx_regs(f, base, count, rctl);
}

/* A minimal valid IPv4/UDP frame to our MAC (checksums not needed here). */
static size_t mk_frame(uint8_t *p, size_t len)
{
    memset(p, 0, len);
    memcpy(p, OUR_MAC, 6);
    p[6] = 0x02;
    p[11] = 0x01;
    p[12] = 0x08;
    p[14] = 0x45;
    p[23] = 17;
    for (size_t i = 42; i < len; i++) {
        p[i] = (uint8_t)i;
    }
    return len;
}

/* Work that may still be pending after a register write (a device that
 * continues later, as hardware does) runs when the loop runs timers. */
static int run_pending(void)
{
    int n = 0;
    for (int i = 0; i < 100000; i++) {
        fx_now += 1;
        int r = timers_run_expired();
        if (r == 0) {
            break;
        }
        n += r;
    }
    return n;
}

/* Everything the ring holds, however many continuations that takes. */
static void tx_drain(E1000Fixture *f)
{
    for (int i = 0; i < 1000000 && fx_rd(f, E1000_TDH) != fx_rd(f, E1000_TDT); i++) {
        if (run_pending() == 0) {
            break;
        }
    }
}

/* Guest RAM outside the areas a test uses stays as it was: a canary. */
static void canary_fill(uint64_t gpa, size_t len)
{
    memset(ram(gpa), 0xA5, len);
}

static bool canary_ok(uint64_t gpa, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (ram(gpa)[i] != 0xA5) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* CVE-2012-0029: an oversized legacy-mode packet. QEMU 1.0 appended every
 * descriptor's bytes to a fixed 64 KiB buffer without a size check: a chain
 * of legacy descriptors without EOP wrote past it (heap overflow).        */

static void test_cve_2012_0029_legacy_overflow(void **state)
{
    E1000Fixture *f = *state;
    tx_ring(f, TXRING, 64);
    memset(ram(TXBUF), 0x41, 0x10000);
    /* 40 x 0xFFFF bytes = 2.5 MiB in one packet, RS on the last */
    for (uint32_t i = 0; i < 40; i++) {
        put_txd(TXRING, i, TXBUF,
                LEGACY(0xFFFF, i == 39 ? E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS : 0), 0);
    }
    fx_wr(f, E1000_TDT, 40);
    tx_drain(f);
    assert_int_equal(f->nsent, 0); /* too long for any frame: dropped whole */
    assert_int_equal(fx_rd(f, E1000_TDH), 40);
    assert_true(ram(TXRING + 16 * 39)[12] & E1000_TXD_STAT_DD);
    /* extended data descriptors (no TSE) of the maximal length 0xFFFFF */
    for (uint32_t i = 40; i < 44; i++) {
        put_txd(TXRING, i, TXBUF, DATA(0xFFFFF, i == 43 ? E1000_TXD_CMD_EOP : 0), 0);
    }
    fx_wr(f, E1000_TDT, 44);
    tx_drain(f);
    assert_int_equal(f->nsent, 0);
    /* exactly at the limit: 64 KiB frame goes out (jumbo over TAP is fine) */
    put_txd(TXRING, 44, TXBUF, LEGACY(0x8000, 0), 0);
    put_txd(TXRING, 45, TXBUF, LEGACY(0x8000, E1000_TXD_CMD_EOP), 0);
    fx_wr(f, E1000_TDT, 46);
    tx_drain(f);
    assert_int_equal(f->nsent, 1);
    assert_int_equal(f->sent_len[0], 0x10000);
    /* one byte more: dropped, and the state is clean for the next packet */
    put_txd(TXRING, 46, TXBUF, LEGACY(0x8000, 0), 0);
    put_txd(TXRING, 47, TXBUF, LEGACY(0x8001, E1000_TXD_CMD_EOP), 0);
    put_txd(TXRING, 48, TXBUF, LEGACY(100, E1000_TXD_CMD_EOP), 0);
    fx_wr(f, E1000_TDT, 49);
    tx_drain(f);
    assert_int_equal(f->nsent, 2);
    assert_int_equal(f->sent_len[1], 100);
    /* TSO whose header + MSS exceeds any frame (QEMU's variant of the same
     * overflow went through the TSO header copy) */
    put_ctx(TXRING, 49, 255, 0xFFFF, 0xFFFFF);
    put_txd(TXRING, 50, TXBUF, DATA(0xFFFF, E1000_TXD_CMD_TSE), POPTS(E1000_TXD_POPTS_TXSM));
    put_txd(TXRING, 51, TXBUF, DATA(0xFFFF, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), 0);
    fx_wr(f, E1000_TDT, 52);
    tx_drain(f);
    assert_int_equal(f->nsent, 2);
    assert_int_equal(fx_rd(f, E1000_TDH), 52);
}

/* ------------------------------------------------------------------ */
/* CVE-2015-6815: QEMU's start_xmit looped "while (TDH != TDT)"; with TDT
 * beyond the ring TDH wraps forever and the vCPU never returns.          */

static void test_cve_2015_6815_tx_loop(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[100];
    mk_frame(fr, sizeof(fr));
    memcpy(ram(TXBUF), fr, sizeof(fr));
    tx_ring(f, TXRING, 8);
    for (uint32_t i = 0; i < 8; i++) {
        put_txd(TXRING, i, TXBUF, LEGACY(sizeof(fr), E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS), 0);
    }
    static const uint32_t tails[] = {8, 9, 100, 0x7fff, 0xffff, 0xffffffff};
    for (unsigned k = 0; k < sizeof(tails) / sizeof(tails[0]); k++) {
        fx_wr(f, E1000_TDH, 0);
        fx_clear_sent(f);
        int64_t t0 = cpu_ns(); /* the work done, not the time preempted */
        fx_wr(f, E1000_TDT, tails[k]);
        run_pending();
        int64_t dt = cpu_ns() - t0;
        /* a tail outside the ring describes no descriptor: the queue stops */
        assert_true(f->nsent <= 8);
        assert_true(fx_rd(f, E1000_TDH) < 8);
        assert_true(dt < 1000000000LL);
    }
    /* TDLEN shrunk under a valid tail: the old tail is now out of range */
    fx_wr(f, E1000_TDH, 0);
    fx_wr(f, E1000_TDT, 0);
    fx_wr(f, E1000_TCTL, 0);
    fx_wr(f, E1000_TDT, 7);
    fx_wr(f, E1000_TDLEN, 128 / 2); /* reads back as 0: no ring */
    assert_int_equal(fx_rd(f, E1000_TDLEN), 0);
    fx_clear_sent(f);
    fx_wr(f, E1000_TCTL, E1000_TCTL_EN);
    assert_int_equal(f->nsent, 0);
    /* every descriptor in the ring needs a "done" state: the whole ring once,
     * not again and again (TDT == TDH - 1 is "all but one") */
    fx_wr(f, E1000_TDLEN, 8 * 16);
    fx_wr(f, E1000_TDH, 5);
    fx_wr(f, E1000_TDT, 4);
    run_pending();
    assert_int_equal(f->nsent, 7);
    assert_int_equal(fx_rd(f, E1000_TDH), 4);
}

/* ------------------------------------------------------------------ */
/* CVE-2016-1981: RX and TX loops that start out of bounds (RDH/TDH beyond
 * the ring, or a ring of length 0) and never meet the tail.               */

static void test_cve_2016_1981_ring_bounds(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[1514];
    mk_frame(fr, sizeof(fr));
    /* RX: 256-byte buffers, a 1514-byte frame needs 6 descriptors */
    rx_ring(f, RXRING, 8, E1000_RCTL_SZ_256 | E1000_RCTL_SECRC);
    canary_fill(RXBUF + 8 * RXBUF_STRIDE, 0x1000);
    fx_wr(f, E1000_RDH, 9); /* beyond the ring */
    fx_wr(f, E1000_RDT, 7);
    assert_int_equal(net_send(f->backend, fr, sizeof(fr), fx_sent_cb), 0); /* waits */
    assert_int_equal(fx_rd(f, E1000_RDH), 9);
    fx_wr(f, E1000_RDH, 0xffff);
    fx_wr(f, E1000_RDT, 0xfffe);
    assert_int_equal(fx_rd(f, E1000_RDH), 0xffff);
    /* RDLEN 0 with head == tail == 0 */
    fx_wr(f, E1000_RDLEN, 0);
    fx_wr(f, E1000_RDH, 0);
    fx_wr(f, E1000_RDT, 0);
    assert_int_equal(fx_rd(f, E1000_RDH), 0);
    /* a frame that needs more descriptors than the ring has (8 x 256 B <
     * 2 KiB + FCS with LPE): never stored, reported as missed */
    fx_wr(f, E1000_RDLEN, 8 * 16);
    fx_wr(f, E1000_RDH, 0);
    fx_wr(f, E1000_RDT, 7); /* releases the waiting 1514-byte frame: 6 descs */
    assert_int_equal(fx_rd(f, E1000_RDH), 6);
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SZ_256 | E1000_RCTL_LPE);
    uint8_t big[4000];
    mk_frame(big, sizeof(big));
    fx_rd(f, E1000_MPC);
    assert_int_equal(net_send(f->backend, big, sizeof(big), fx_sent_cb), (ssize_t)sizeof(big));
    assert_int_equal(fx_rd(f, E1000_MPC), 1);
    assert_true(canary_ok(RXBUF + 8 * RXBUF_STRIDE, 0x1000));
    /* TX: TDH beyond the ring, TDLEN 0 */
    tx_ring(f, TXRING, 8);
    put_txd(TXRING, 0, TXBUF, LEGACY(100, E1000_TXD_CMD_EOP), 0);
    fx_wr(f, E1000_TDH, 8);
    fx_wr(f, E1000_TDT, 1);
    assert_int_equal(f->nsent, 0);
    assert_int_equal(fx_rd(f, E1000_TDH), 8);
    fx_wr(f, E1000_TDLEN, 0);
    fx_wr(f, E1000_TDH, 0);
    fx_wr(f, E1000_TDT, 1);
    assert_int_equal(f->nsent, 0);
}

/* ------------------------------------------------------------------ */
/* CVE-2021-20257: QEMU's process_tx_desc computed "bytes = msh - size"
 * which underflowed when a legacy descriptor was chained into a TSO packet
 * (size >= header + MSS): the segmentation loop never ended. Zero-length
 * and odd descriptors belong to the same family.                          */

static void test_cve_2021_20257_evil_descriptors(void **state)
{
    E1000Fixture *f = *state;
    tx_ring(f, TXRING, 256);
    memset(ram(TXBUF), 0x42, 0x20000);
    uint32_t i = 0;
    /* TSO packet (hdr 54, MSS 100) continued by legacy descriptors */
    put_ctx(TXRING, i++, 54, 100, 1000);
    put_txd(TXRING, i++, TXBUF, DATA(154, E1000_TXD_CMD_TSE), POPTS(E1000_TXD_POPTS_TXSM));
    put_txd(TXRING, i++, TXBUF, LEGACY(500, 0), 0);
    put_txd(TXRING, i++, TXBUF, LEGACY(0, 0), 0);
    put_txd(TXRING, i++, TXBUF, LEGACY(400, E1000_TXD_CMD_EOP), 0);
    /* the context changes to a smaller MSS in the middle of a TSO packet */
    put_ctx(TXRING, i++, 54, 1000, 2000);
    put_txd(TXRING, i++, TXBUF, DATA(800, E1000_TXD_CMD_TSE), 0);
    put_ctx(TXRING, i++, 10, 1, 2000);
    put_txd(TXRING, i++, TXBUF, DATA(1254, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), 0);
    /* a header longer than all the data there is */
    put_ctx(TXRING, i++, 200, 8, 10);
    put_txd(TXRING, i++, TXBUF, DATA(100, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), 0);
    /* MSS 0 */
    put_ctx(TXRING, i++, 54, 0, 1000);
    put_txd(TXRING, i++, TXBUF, DATA(1054, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), 0);
    /* 100 zero-length descriptors, none with EOP, then zero-length EOP */
    for (int k = 0; k < 100; k++) {
        put_txd(TXRING, i++, 0, DATA(0, 0), 0);
    }
    put_txd(TXRING, i++, 0, LEGACY(0, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS), 0);
    fx_wr(f, E1000_TDT, i);
    tx_drain(f);
    assert_int_equal(fx_rd(f, E1000_TDH), i);
    assert_true(ram(TXRING + 16 * (uint64_t)(i - 1))[12] & E1000_TXD_STAT_DD);
    /* 1054 bytes / (54 + 100) -> segments of the first packet; whatever the
     * count, each frame is within header + MSS */
    assert_true(f->nsent > 0);
    for (int k = 0; k < f->nsent && k < FX_MAX_SENT; k++) {
        assert_true(f->sent_len[k] <= 0x10000);
    }
    /* the ring of zero-length descriptors without EOP everywhere, tail one
     * behind the head: one pass, then the queue stops */
    fx_clear_sent(f);
    for (uint32_t k = 0; k < 256; k++) {
        put_txd(TXRING, k, 0, LEGACY(0, 0), 0);
    }
    fx_wr(f, E1000_TDT, (i + 255) % 256);
    tx_drain(f);
    assert_int_equal(fx_rd(f, E1000_TDH), (i + 255) % 256);
    assert_int_equal(f->nsent, 0);
}

/* ------------------------------------------------------------------ */
/* DMA re-entrancy: ring and buffer addresses that point at the device's
 * own BAR0 or at another device's. DMA reaches RAM only: nothing reaches
 * the register file, so no register changes and nothing recurses.        */

static Object *second_objs[64];
static NetClient *second_backends[64];

typedef struct SecondNic {
    PCIDevice *dev;
    uint32_t bar0;
} SecondNic;

static SecondNic add_second_nic(E1000Fixture *f)
{
    static int n;
    char id[32], opts[96];
    snprintf(id, sizeof(id), "cve-peer%d", n++);
    NetClient *be = net_client_new(&fx_backend_info, id, f);
    net_backend_register(be);
    snprintf(opts, sizeof(opts), "e1000,netdev=%s,mac=52:54:00:00:00:99", id);
    Error err = {{0}};
    Object *obj = object_new_from_opts(opts, TYPE_KIND_DEVICE, &err);
    assert_non_null(obj);
    assert_int_equal(obj->type->realize(obj, &f->m, &err), 0);
    /* the fixture never frees a second device: keep it reachable */
    second_objs[n % 64] = obj;
    second_backends[n % 64] = be;
    SecondNic s = {0};
    for (int slot = 1; slot < PCI_MAX_DEVICES; slot++) {
        PCIDevice *d = pci_bus_device(f->m.pci, slot);
        if (d && d != f->dev && pci_config_read(d, PCI_VENDOR_ID, 2) == E1000_VENDOR_INTEL) {
            s.dev = d;
        }
    }
    assert_non_null(s.dev);
    pci_config_write(s.dev, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    s.bar0 = pci_config_read(s.dev, PCI_BASE_ADDRESS_0, 4) & ~0xfu;
    return s;
}

/* A register of a device through the machine's MMIO space, as a CPU sees it. */
static uint32_t mmio_rd32(E1000Fixture *f, uint64_t addr)
{
    uint32_t v = 0;
    assert_true(address_space_read(&f->m.mmio, addr, &v, 4));
    return v;
}

static void mmio_wr32(E1000Fixture *f, uint64_t addr, uint32_t v)
{
    assert_true(address_space_write(&f->m.mmio, addr, &v, 4));
}

static void test_dma_reentrancy(void **state)
{
    E1000Fixture *f = *state;
    SecondNic other = add_second_nic(f);
    uint64_t own = pci_config_read(f->dev, PCI_BASE_ADDRESS_0, 4) & ~0xfu;
    assert_true(own != 0 && other.bar0 != 0 && own != other.bar0);
    /* both BARs answer at their addresses */
    assert_int_equal(mmio_rd32(f, own + E1000_TDLEN), 0);
    mmio_wr32(f, other.bar0 + E1000_IMS, E1000_ICR_TXDW);
    mmio_wr32(f, other.bar0 + E1000_RDTR, 0x1234);
    uint32_t other_ctrl = mmio_rd32(f, other.bar0 + E1000_CTRL);
    uint32_t other_rdtr = mmio_rd32(f, other.bar0 + E1000_RDTR);
    uint32_t other_ims = mmio_rd32(f, other.bar0 + E1000_IMS);

    /* (1) the TX ring itself in our own BAR: descriptors are registers */
    tx_ring(f, own, 8);
    fx_wr(f, E1000_TDT, 4);
    assert_int_equal(f->nsent, 0);
    assert_int_equal(fx_rd(f, E1000_TDH), 0); /* descriptor fetch refused: stopped */
    /* (2) a TX ring in RAM whose buffers and RS write-back target BARs */
    tx_ring(f, TXRING, 8);
    put_txd(TXRING, 0, own + E1000_TDT, LEGACY(64, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS), 0);
    put_txd(TXRING, 1, other.bar0 + E1000_CTRL, LEGACY(64, E1000_TXD_CMD_EOP), 0);
    put_txd(TXRING, 2, own - 32, LEGACY(64, E1000_TXD_CMD_EOP), 0); /* straddles into BAR0 */
    fx_wr(f, E1000_TDT, 3);
    assert_int_equal(f->nsent, 0);
    assert_int_equal(fx_rd(f, E1000_TDH), 3);
    /* (3) RX ring in the other NIC's BAR, then RX buffers pointing at its
     * CTRL (a write of frame data there would reset it) and at our RDT */
    uint8_t fr[200];
    mk_frame(fr, sizeof(fr));
    fx_wr(f, E1000_RDBAL, other.bar0);
    fx_wr(f, E1000_RDBAH, 0);
    fx_wr(f, E1000_RDLEN, 8 * 16);
    fx_wr(f, E1000_RDH, 0);
    fx_wr(f, E1000_RDT, 7);
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC);
    net_send(f->backend, fr, sizeof(fr), fx_sent_cb);
    rx_ring(f, RXRING, 8, E1000_RCTL_SECRC);
    struct e1000_rx_desc d0 = {.buffer_addr = other.bar0 + E1000_CTRL};
    struct e1000_rx_desc d1 = {.buffer_addr = own + E1000_RDT};
    memcpy(ram(RXRING), &d0, sizeof(d0));
    memcpy(ram(RXRING + 16), &d1, sizeof(d1));
    net_send(f->backend, fr, sizeof(fr), fx_sent_cb);
    net_send(f->backend, fr, sizeof(fr), fx_sent_cb);
    fx_advance(1000000); /* interrupt delay timers and the like */
    /* the other NIC is untouched; our RDT is what we wrote */
    assert_int_equal(mmio_rd32(f, other.bar0 + E1000_CTRL), other_ctrl);
    assert_int_equal(mmio_rd32(f, other.bar0 + E1000_RDTR), other_rdtr);
    assert_int_equal(mmio_rd32(f, other.bar0 + E1000_IMS), other_ims);
    assert_int_equal(mmio_rd32(f, other.bar0 + E1000_RDH), 0);
    assert_int_equal(fx_rd(f, E1000_RDT), 7);
    /* the descriptors completed (DD) without data: the guest sees them done */
    assert_true(ram(RXRING + 12)[0] & E1000_RXD_STAT_DD);
    /* and the device still works with sane addresses afterwards */
    tx_ring(f, TXRING, 8);
    memcpy(ram(TXBUF), fr, sizeof(fr));
    put_txd(TXRING, 0, TXBUF, LEGACY(sizeof(fr), E1000_TXD_CMD_EOP), 0);
    fx_wr(f, E1000_TDT, 1);
    assert_int_equal(f->nsent, 1);
}

/* ------------------------------------------------------------------ */
/* The classes                                                        */

static void test_ring_lengths(void **state)
{
    E1000Fixture *f = *state;
    static const struct {
        uint32_t write, read;
    } lens[] = {{0, 0},        {1, 0},          {0x7f, 0},
                {0x80, 0x80},  {0x90, 0x80},    {0xFFFFFFFF, 0xFFF80},
                {0x100000, 0}, {0x100080, 0x80}};
    for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        fx_wr(f, E1000_TDLEN, lens[i].write);
        fx_wr(f, E1000_RDLEN, lens[i].write);
        assert_int_equal(fx_rd(f, E1000_TDLEN), lens[i].read);
        assert_int_equal(fx_rd(f, E1000_RDLEN), lens[i].read);
    }
    /* base addresses keep 16-byte alignment; heads and tails 16 bits */
    fx_wr(f, E1000_TDBAL, 0xFFFFFFFF);
    assert_int_equal(fx_rd(f, E1000_TDBAL), 0xFFFFFFF0);
    fx_wr(f, E1000_TDH, 0xFFFFFFFF);
    fx_wr(f, E1000_TDT, 0x12345678);
    assert_int_equal(fx_rd(f, E1000_TDH), 0xFFFF);
    assert_int_equal(fx_rd(f, E1000_TDT), 0x5678);
    fx_wr(f, E1000_RDH, 0xFFFFFFFF);
    fx_wr(f, E1000_RDT, 0xFFFFFFFF);
    assert_int_equal(fx_rd(f, E1000_RDH), 0xFFFF);
    assert_int_equal(fx_rd(f, E1000_RDT), 0xFFFF);
}

static void test_addresses_outside_ram(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[300];
    mk_frame(fr, sizeof(fr));
    canary_fill(FX_RAM_SIZE - 0x1000, 0x1000);
    tx_ring(f, TXRING, 16);
    static const uint64_t bad[] = {
        FX_RAM_SIZE,
        FX_RAM_SIZE - 100, /* straddles the end of RAM */
        0xC0000000ULL,
        0xFEE00000ULL, /* PCI hole, LAPIC */
        0xFFFFFFFFFFFFFF00ULL,
        0xFFFFFFFFFFFFFFFFULL, /* wraps around 2^64 */
        1ULL << 63,
    };
    uint32_t i = 0;
    for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        put_txd(TXRING, i++, bad[k], LEGACY(300, E1000_TXD_CMD_EOP), 0);
    }
    fx_wr(f, E1000_TDT, i);
    assert_int_equal(f->nsent, 0);
    assert_int_equal(fx_rd(f, E1000_TDH), i);
    /* ring bases that wrap: the last descriptor at 2^64 - 16 */
    fx_wr(f, E1000_TDBAL, 0xFFFFFFF0);
    fx_wr(f, E1000_TDBAH, 0xFFFFFFFF);
    fx_wr(f, E1000_TDH, 0);
    fx_wr(f, E1000_TDT, 5);
    assert_int_equal(fx_rd(f, E1000_TDH), 0);
    /* RX ring straddling the end of RAM and buffers that wrap */
    rx_regs(f, FX_RAM_SIZE - 64, 8, E1000_RCTL_SECRC); /* 4 descriptors in RAM */
    struct e1000_rx_desc w = {.buffer_addr = 0xFFFFFFFFFFFFFF80ULL};
    memcpy(ram(FX_RAM_SIZE - 64), &w, sizeof(w));
    w.buffer_addr = FX_RAM_SIZE - 100;
    memcpy(ram(FX_RAM_SIZE - 48), &w, sizeof(w));
    w.buffer_addr = FX_RAM_SIZE - 0x800;
    memcpy(ram(FX_RAM_SIZE - 32), &w, sizeof(w));
    memcpy(ram(FX_RAM_SIZE - 16), &w, sizeof(w));
    canary_fill(FX_RAM_SIZE - 0x800, 0x800 - 64);
    for (int k = 0; k < 7; k++) {
        net_send(f->backend, fr, sizeof(fr), fx_sent_cb);
    }
    assert_int_equal(fx_rd(f, E1000_RDH), 7);
    /* the in-RAM buffer got frames; the straddling one nothing */
    assert_memory_equal(ram(FX_RAM_SIZE - 0x800), fr, sizeof(fr));
    assert_true(canary_ok(FX_RAM_SIZE - 0x800 + sizeof(fr), 0x800 - 64 - sizeof(fr) - 100));
}

static void test_offload_offsets(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[120];
    mk_frame(fr, sizeof(fr));
    memcpy(ram(TXBUF), fr, sizeof(fr));
    tx_ring(f, TXRING, 64);
    uint32_t i = 0;
    /* checksum context with every offset at or past the end */
    struct e1000_context_desc c = {.ipcss = 255,
                                   .ipcso = 255,
                                   .ipcse = 0xFFFF,
                                   .tucss = 119,
                                   .tucso = 119,
                                   .tucse = 1,
                                   .cmd_and_length = E1000_TXD_CMD_DEXT | E1000_TXD_CMD_IP};
    memcpy(ram(TXRING + 16 * i++), &c, sizeof(c));
    put_txd(TXRING, i++, TXBUF, DATA(sizeof(fr), E1000_TXD_CMD_EOP),
            POPTS(E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM));
    /* legacy checksum offset/start past the end (CSO 255, CSS 200) */
    put_txd(TXRING, i++, TXBUF, LEGACY(sizeof(fr), E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC) | 0xFF0000,
            200 << 8);
    /* CSO at the last byte: a 2-byte field would straddle the end */
    put_txd(TXRING, i++, TXBUF,
            LEGACY(sizeof(fr), E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC) | (119 << 16), 0);
    /* start after the end (cse < css) */
    c.tucss = 100;
    c.tucso = 20;
    c.tucse = 50;
    memcpy(ram(TXRING + 16 * i++), &c, sizeof(c));
    put_txd(TXRING, i++, TXBUF, DATA(sizeof(fr), E1000_TXD_CMD_EOP), POPTS(E1000_TXD_POPTS_TXSM));
    fx_wr(f, E1000_TDT, i);
    assert_int_equal(f->nsent, 4);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(f->sent_len[k], sizeof(fr));
    }
    /* a legacy checksum that fits is still inserted where asked */
    assert_memory_equal(f->sent[0], fr, sizeof(fr));
    assert_memory_equal(f->sent[1], fr, sizeof(fr));
    assert_memory_equal(f->sent[2], fr, sizeof(fr));
    /* TSO with HDRLEN beyond the data and offsets beyond the header */
    fx_clear_sent(f);
    put_ctx(TXRING, i++, 255, 16, 100);
    put_txd(TXRING, i++, TXBUF, DATA(100, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP),
            POPTS(E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM));
    fx_wr(f, E1000_TDT, i);
    assert_int_equal(f->nsent, 0);
    assert_int_equal(fx_rd(f, E1000_TDH), i);
}

static void test_eeprom_phy_out_of_range(void **state)
{
    E1000Fixture *f = *state;
    /* EERD: every address the 8-bit field can name */
    for (uint32_t a = 0; a < 256; a++) {
        fx_wr(f, E1000_EERD, E1000_EERD_START | a << E1000_EERD_ADDR_SHIFT);
        uint32_t v = fx_rd(f, E1000_EERD);
        assert_true(v & E1000_EERD_DONE);
    }
    /* EEPROM checksum still 0xBABA (nothing was written) */
    uint16_t sum = 0;
    for (uint32_t a = 0; a < E1000_EEPROM_WORDS; a++) {
        fx_wr(f, E1000_EERD, E1000_EERD_START | a << E1000_EERD_ADDR_SHIFT);
        sum = (uint16_t)(sum + (fx_rd(f, E1000_EERD) >> E1000_EERD_DATA_SHIFT));
    }
    assert_int_equal(sum, 0xBABA);
    /* MDIC: every register of every PHY address, every opcode */
    for (uint32_t phy = 0; phy < 32; phy++) {
        for (uint32_t reg = 0; reg < 32; reg++) {
            for (uint32_t op = 0; op < 4; op++) {
                if (op == 1 && phy == 1 &&
                    (reg == PHY_CTRL || reg == M88E1000_PHY_PAGE_SELECT ||
                     reg == M88E1000_PHY_GEN_CONTROL)) {
                    continue; /* writes that really change the PHY */
                }
                fx_wr(f, E1000_MDIC, 0xFFFF | reg << 16 | phy << 21 | op << 26);
                uint32_t v = fx_rd(f, E1000_MDIC);
                assert_true(v & E1000_MDIC_READY);
                if (phy != 1) {
                    assert_true(v & E1000_MDIC_ERROR);
                }
            }
        }
    }
    /* the PHY still identifies itself */
    fx_wr(f, E1000_MDIC, (uint32_t)PHY_ID1 << 16 | 1u << 21 | E1000_MDIC_OP_READ);
    assert_int_equal(fx_rd(f, E1000_MDIC) & 0xFFFF, M88E1011_PHY_ID1);
    /* EECD bit-banging with an endless clock: the output wraps, no overrun */
    fx_wr(f, E1000_EECD, E1000_EECD_REQ);
    fx_wr(f, E1000_EECD, E1000_EECD_REQ | E1000_EECD_CS);
    for (int bit = 0; bit < 20000; bit++) {
        uint32_t di = (bit < 9) ? ((0x180u >> (8 - bit)) & 1 ? E1000_EECD_DI : 0) : 0;
        fx_wr(f, E1000_EECD, E1000_EECD_REQ | E1000_EECD_CS | di);
        fx_wr(f, E1000_EECD, E1000_EECD_REQ | E1000_EECD_CS | di | E1000_EECD_SK);
        fx_rd(f, E1000_EECD);
    }
    fx_wr(f, E1000_EECD, 0);
    /* registers beyond BAR0 and odd access sizes */
    MemoryRegion *mr = &f->dev->bar[0].region;
    assert_int_equal(memory_region_dispatch_read(mr, E1000_MMIO_SIZE, 4), 0);
    assert_int_equal(memory_region_dispatch_read(mr, E1000_MMIO_SIZE - 1, 8), 0);
    memory_region_dispatch_write(mr, E1000_MMIO_SIZE - 2, ~0ULL, 8);
    memory_region_dispatch_write(mr, E1000_CTRL, ~0ULL, 16);
    assert_int_equal(memory_region_dispatch_read(mr, E1000_STATUS, 3) & 0xFF000000u, 0);
    MemoryRegion *io = &f->dev->bar[1].region;
    memory_region_dispatch_write(io, 0, 0xFFFFFFFF, 4); /* IOADDR beyond the registers */
    memory_region_dispatch_read(io, 4, 4);
    memory_region_dispatch_write(io, 4, E1000_CTRL_RST, 4);
    memory_region_dispatch_write(io, 0x3F, 0xFF, 1);
    assert_int_equal(memory_region_dispatch_read(io, 0x3C, 4), 0);
}

/* ------------------------------------------------------------------ */
/* The time one register access can take, whatever the rings hold.      */

typedef struct Worst {
    const char *what;
    int64_t first_ns;    /* the register write itself (CPU time) */
    int64_t max_ns;      /* the longest single step: the write or a continuation */
    int64_t max_wall_ns; /* the same in wall-clock time (includes preemption) */
    int steps;
    int max_frames; /* frames sent in the longest step (by count) */
} Worst;

static void report(const Worst *w)
{
    fprintf(stderr,
            "# worst case %-42s: register write %6.3f ms, longest step %6.3f ms (wall %6.3f) "
            "over %d steps, <= %d frames per step\n",
            w->what, w->first_ns / 1e6, w->max_ns / 1e6, w->max_wall_ns / 1e6, w->steps,
            w->max_frames);
}

/* Write @reg = @val, then let continuations run (at most @max_steps), timing
 * each step: each is a time during which the device lock is held. */
static Worst timed_kick(E1000Fixture *f, const char *what, uint32_t reg, uint32_t val,
                        int max_steps)
{
    Worst w = {.what = what};
    int sent0 = f->nsent;
    int64_t t0 = cpu_ns(), w0 = wall_ns();
    fx_wr(f, reg, val);
    w.first_ns = w.max_ns = cpu_ns() - t0;
    w.max_wall_ns = wall_ns() - w0;
    w.max_frames = f->nsent - sent0;
    w.steps = 1;
    while (w.steps < max_steps) {
        sent0 = f->nsent;
        fx_now += 1;
        t0 = cpu_ns();
        w0 = wall_ns();
        int r = timers_run_expired();
        int64_t dt = cpu_ns() - t0, dw = wall_ns() - w0;
        if (r == 0) {
            break;
        }
        w.steps++;
        w.max_ns = dt > w.max_ns ? dt : w.max_ns;
        w.max_wall_ns = dw > w.max_wall_ns ? dw : w.max_wall_ns;
        w.max_frames = f->nsent - sent0 > w.max_frames ? f->nsent - sent0 : w.max_frames;
    }
    report(&w);
    return w;
}

static void check_bound(const Worst *w)
{
    /* work per step bounded whatever the ring: far fewer than one ring's
     * worth (65528 descriptors, 4096 segments each) */
    assert_true(w->max_frames <= 1024);
    if (!SANITIZED) {
        assert_true(w->first_ns < MAX_ACCESS_NS);
        assert_true(w->max_ns < MAX_ACCESS_NS);
    }
}

/* The biggest ring there is (TDLEN 0xFFF80 = 65528 descriptors). */
#define MAX_DESCS (0xFFF80u / 16)

static void max_ring(E1000Fixture *f)
{
    tx_ring(f, TXRING, MAX_DESCS);
    f->backend_busy = false;
}

static void test_worst_case_tso_mss1(void **state)
{
    E1000Fixture *f = *state;
    max_ring(f);
    /* one TSO context, then data descriptors that are each a whole TSO
     * packet cut into 1-byte segments (4096 of them at most per packet) */
    put_ctx(TXRING, 0, 54, 1, 0xFFFFF);
    memset(ram(TXBUF), 0x55, 0x20000);
    for (uint32_t i = 1; i < MAX_DESCS; i++) {
        put_txd(TXRING, i, TXBUF,
                DATA(54 + 8000, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS),
                POPTS(E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM));
    }
    Worst w = timed_kick(f, "TSO MSS 1, 65528 descriptors", E1000_TDT, MAX_DESCS - 1, 200);
    check_bound(&w);
}

static void test_worst_case_64k_frames(void **state)
{
    E1000Fixture *f = *state;
    max_ring(f);
    /* checksum context over the whole frame, then 64 KiB frames each
     * with IP and TCP checksums to compute */
    struct e1000_context_desc c = {.ipcss = 14,
                                   .ipcso = 24,
                                   .ipcse = 0,
                                   .tucss = 34,
                                   .tucso = 50,
                                   .tucse = 0,
                                   .cmd_and_length =
                                       E1000_TXD_CMD_DEXT | E1000_TXD_CMD_IP | E1000_TXD_CMD_TCP};
    memcpy(ram(TXRING), &c, sizeof(c));
    memset(ram(TXBUF), 0x66, 0x20000);
    for (uint32_t i = 1; i < MAX_DESCS; i++) {
        put_txd(TXRING, i, TXBUF, DATA(0xFFFF, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS),
                POPTS(E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM));
    }
    Worst w =
        timed_kick(f, "64 KiB frames with checksums, 65528 descs", E1000_TDT, MAX_DESCS - 1, 200);
    check_bound(&w);
}

static void test_worst_case_empty_descriptors(void **state)
{
    E1000Fixture *f = *state;
    max_ring(f);
    /* context descriptors and zero-length data: no frames, only fetches */
    for (uint32_t i = 0; i < MAX_DESCS; i++) {
        if (i & 1) {
            put_txd(TXRING, i, TXBUF, DATA(0, E1000_TXD_CMD_RS), 0);
        } else {
            put_ctx(TXRING, i, 54, 1460, 100);
        }
    }
    Worst w = timed_kick(f, "65528 context/empty descriptors", E1000_TDT, MAX_DESCS - 1, 1000);
    check_bound(&w);
    assert_int_equal(fx_rd(f, E1000_TDH), MAX_DESCS - 1); /* and all were done */
}

static void test_worst_case_loopback(void **state)
{
    E1000Fixture *f = *state;
    /* MAC loopback with jumbo frames: every frame sent is received too */
    rx_ring(f, RXRING, 4096,
            E1000_RCTL_LPE | E1000_RCTL_UPE | E1000_RCTL_LBM_MAC | E1000_RCTL_BSEX |
                E1000_RCTL_SZ_16384);
    for (uint32_t i = 0; i < 4096; i++) {
        struct e1000_rx_desc d = {.buffer_addr = RXBUF + (i % 64) * RXBUF_STRIDE};
        memcpy(ram(RXRING + 16 * i), &d, sizeof(d));
    }
    max_ring(f);
    uint8_t fr[16000];
    mk_frame(fr, sizeof(fr));
    memcpy(ram(TXBUF), fr, sizeof(fr));
    for (uint32_t i = 0; i < MAX_DESCS; i++) {
        put_txd(TXRING, i, TXBUF, LEGACY(sizeof(fr), E1000_TXD_CMD_EOP), 0);
    }
    Worst w = timed_kick(f, "MAC loopback, 16000-byte frames", E1000_TDT, MAX_DESCS - 1, 200);
    check_bound(&w);
    assert_true(fx_rd(f, E1000_RDH) != 0); /* frames came back in */
}

static void test_worst_case_rx_flush(void **state)
{
    E1000Fixture *f = *state;
    /* the net layer's queue full of jumbo frames waiting for buffers, all
     * released by one RDT write */
    rx_ring(f, RXRING, 4096,
            E1000_RCTL_LPE | E1000_RCTL_UPE | E1000_RCTL_BSEX | E1000_RCTL_SZ_16384);
    for (uint32_t i = 0; i < 4096; i++) {
        struct e1000_rx_desc d = {.buffer_addr = RXBUF + (i % 64) * RXBUF_STRIDE};
        memcpy(ram(RXRING + 16 * i), &d, sizeof(d));
    }
    fx_wr(f, E1000_RDT, 0);
    fx_wr(f, E1000_RDH, 0);
    static uint8_t fr[16380 - 4];
    mk_frame(fr, sizeof(fr));
    int queued = 0;
    for (int i = 0; i < NET_QUEUE_MAX_PACKETS + 10; i++) {
        if (net_send(f->backend, fr, sizeof(fr), fx_sent_cb) == 0) {
            queued++;
        }
    }
    assert_int_equal(queued, NET_QUEUE_MAX_PACKETS);
    Worst w = timed_kick(f, "RDT releasing 256 queued 16 KiB frames", E1000_RDT, 4095, 200);
    check_bound(&w);
    assert_int_equal(fx_rd(f, E1000_RDH), NET_QUEUE_MAX_PACKETS);
}

/* Every register, every access: none is slow whatever it is (ring sizes
 * (a VMM may do per-ring-size work), resets, EEPROM and PHY access, ...). */
static void test_worst_case_register_sweep(void **state)
{
    E1000Fixture *f = *state;
    MemoryRegion *mr = &f->dev->bar[0].region;
    static const uint32_t vals[] = {0xFFFFFFFF, 0x00001000, 0};
    int64_t worst = 0;
    uint32_t worst_reg = 0;
    for (unsigned v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
        for (uint32_t reg = 0; reg < E1000_MMIO_SIZE; reg += 4) {
            int64_t t0 = cpu_ns();
            memory_region_dispatch_write(mr, reg, vals[v], 4);
            memory_region_dispatch_read(mr, reg, 4);
            int64_t dt = cpu_ns() - t0;
            if (dt > worst) {
                worst = dt;
                worst_reg = reg;
            }
        }
        run_pending();
    }
    /* ring sizes in a loop (a VMM may do per-ring-size work there) */
    for (int i = 0; i < 64; i++) {
        static const uint32_t regs2[] = {E1000_TDLEN, E1000_RDLEN};
        for (unsigned k = 0; k < 2; k++) {
            int64_t t0 = cpu_ns();
            fx_wr(f, regs2[k], (i & 1) ? 0x1000 : 0x800);
            int64_t dt = cpu_ns() - t0;
            if (dt > worst) {
                worst = dt;
                worst_reg = regs2[k];
            }
        }
    }
    fprintf(stderr,
            "# worst case single register access (3 x 32768 writes + reads): %.3f ms at %#x\n",
            worst / 1e6, worst_reg);
    if (!SANITIZED) {
        assert_true(worst < MAX_ACCESS_NS);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cve_2012_0029_legacy_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cve_2015_6815_tx_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cve_2016_1981_ring_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cve_2021_20257_evil_descriptors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_reentrancy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_addresses_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offload_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eeprom_phy_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worst_case_empty_descriptors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worst_case_64k_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worst_case_tso_mss1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worst_case_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worst_case_rx_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worst_case_register_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
