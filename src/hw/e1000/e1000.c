/* Intel 82540EM Gigabit Ethernet controller ("e1000"), as seen by the
 * unmodified Linux e1000 driver: register dispatch, interrupts and their
 * moderation, doorbells, reset and realize. Transmit is in tx.c, receive in
 * rx.c, the EEPROM and the PHY in nvm_phy.c (e1000_int.h has the map).
 *
 * The registers: BAR0 (128 KiB MMIO) and BAR1 (I/O window IOADDR/IODATA
 * onto the same registers). Both dispatch through per-register tables
 * generated from the register table in e1000_regs.h (read op, write op,
 * writable mask, flags) and indexed by the register's dword index; a
 * register without an entry reads 0 and ignores writes, as reserved space
 * does on the real part. The memory layer (core/memory.c) hands BAR0 only
 * aligned 4-byte accesses: it splits wider ones and merges narrow writes
 * with what the register stores (e1000_write_fill).
 *
 * Everything the guest controls (ring bases, lengths, heads, tails, buffer
 * addresses, descriptor lengths, offload offsets) is checked where it is
 * used: guest memory is reached only through dma_read/dma_write, which
 * refuse anything outside RAM, and every loop over descriptors or segments
 * has a bound. Callers hold the device lock (core/loop.h): no locking here.
 *
 * Section numbers refer to the Intel 8254x Family of Gigabit Ethernet
 * Controllers Software Developer's Manual (SDM). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/machine.h"
#include "hw/e1000/e1000_int.h"
#include "trace/stats.h"
#include "trace/trace.h"
#include "util/error.h"

/* ------------------------------------------------------------------------ */
/* Interrupts (SDM 13.4.17-13.4.21)                                         */

/* Posted IMS/IMC writes (posted=on): KVM queues them instead of exiting,
 * as a PCI bridge posts memory writes; every driver reads a register after
 * them (the Linux driver's E1000_WRITE_FLUSH), and that read's exit takes
 * them in first. The device takes them in too before it decides about its
 * interrupt line, so that it never asserts for a cause the guest has masked
 * already. A guest that unmasks and then never exits would wait for its
 * interrupt: while a cause the guest has ever unmasked is pending behind
 * the mask, a timer looks for posted writes (causes a driver never enables,
 * like the Linux driver's TXQE, do not keep it running). It looks after
 * E1000_POSTED_POLL_NS, and backs off to E1000_POSTED_POLL_MAX_NS while the
 * guest keeps its interrupts masked (a NAPI poll that lasts: the Linux
 * driver flushes anyway, and a wake-up every 1 ms cost more main-loop CPU
 * than the packets did); an IMS write brings it back to the start. */
#define E1000_POSTED_POLL_NS 1000000
#define E1000_POSTED_POLL_MAX_NS 32000000

static void e1000_take_posted(E1000State *s)
{
    if (s->posted) {
        memory_region_flush_posted(&s->pci.bar[0].region);
    }
}

static void e1000_posted_timer_cb(void *opaque);

/* Drive INTx from (ICR & IMS). A new assertion respects ITR: at most one
 * every ITR x 256 ns; the mitigation timer asserts when the gap is over. */
static void e1000_update_irq(E1000State *s)
{
    e1000_take_posted(s);
    if (s->posted && (s->mac_reg[R(E1000_ICR)] & ~s->mac_reg[R(E1000_IMS)] & s->ims_ever) &&
        !timer_pending(s->posted_timer)) {
        timer_mod(s->posted_timer, clock_ns() + s->posted_poll_ns);
    }
    if (!(s->mac_reg[R(E1000_ICR)] & s->mac_reg[R(E1000_IMS)])) {
        timer_del(s->mit_timer);
        if (TRACE_ON(e1000_irq) && s->pci.irq_level) {
            trace_emit(TRACE_e1000_irq, "lower (ICR=%#x IMS=%#x)", s->mac_reg[R(E1000_ICR)],
                       s->mac_reg[R(E1000_IMS)]);
        }
        pci_set_irq(&s->pci, 0);
        return;
    }
    if (s->pci.irq_level) {
        return;
    }
    uint32_t itr = s->mac_reg[R(E1000_ITR)] & 0xffff;
    int64_t now = clock_ns();
    if (itr && now < s->next_irq_ns) {
        if (!timer_pending(s->mit_timer)) {
            TRACE(e1000_irq, "held back by ITR for %lld ns", (long long)(s->next_irq_ns - now));
            timer_mod(s->mit_timer, s->next_irq_ns);
        }
        return;
    }
    s->next_irq_ns = now + (int64_t)itr * 256;
    TRACE(e1000_irq, "raise (ICR=%#x IMS=%#x)", s->mac_reg[R(E1000_ICR)], s->mac_reg[R(E1000_IMS)]);
    pci_set_irq(&s->pci, 1);
}

/* Set ICR to @val. INT_ASSERTED (bit 31) says whether any cause is set. */
static void set_interrupt_cause(E1000State *s, uint32_t val)
{
    val &= ~E1000_ICR_INT_ASSERTED;
    if (val) {
        val |= E1000_ICR_INT_ASSERTED;
    }
    s->mac_reg[R(E1000_ICR)] = val;
    e1000_update_irq(s);
}

void set_ics(E1000State *s, uint32_t cause)
{
    if (cause) {
        if (TRACE_ON(e1000_set_ics)) {
            char names[96];
            trace_emit(TRACE_e1000_set_ics, "cause=%s ICR=%#x IMS=%#x",
                       e1000_icr_names(cause, names, sizeof(names)),
                       s->mac_reg[R(E1000_ICR)] | cause, s->mac_reg[R(E1000_IMS)]);
        }
        set_interrupt_cause(s, s->mac_reg[R(E1000_ICR)] | cause);
    }
}

static void e1000_mit_timer(void *opaque)
{
    e1000_update_irq(opaque);
}

static void e1000_posted_timer_cb(void *opaque)
{
    E1000State *s = opaque;
    if (s->posted_poll_ns < E1000_POSTED_POLL_MAX_NS) {
        s->posted_poll_ns *= 2;
    }
    e1000_update_irq(s); /* takes them in, and looks again if still masked */
}

/* The delay timers are "restarted" on every packet. Rather than re-arm the
 * host timer each time, keep the true deadline aside and let an early expiry
 * re-arm itself to it. */
static void delay_timer_arm(Timer *t, int64_t *deadline, int64_t when)
{
    *deadline = when;
    if (!timer_pending(t) || timer_expire_time(t) > when) {
        timer_mod(t, when);
    }
}

/* The packet timer and the absolute timer of one direction both end in
 * the same interrupt; whichever fires first stops the other. */
static void delay_irq_fire(E1000State *s, Timer *packet, Timer *absolute, uint32_t cause)
{
    timer_del(packet);
    timer_del(absolute);
    set_ics(s, cause);
}

/* A packet timer expired early (it was restarted since it was armed):
 * re-arm it to the true deadline. */
static bool delay_timer_due(Timer *t, int64_t deadline)
{
    if (clock_ns() < deadline) {
        timer_mod(t, deadline);
        return false;
    }
    return true;
}

static void e1000_tx_irq_fire(void *opaque)
{
    E1000State *s = opaque;
    delay_irq_fire(s, s->tidv_timer, s->tadv_timer, E1000_ICR_TXDW);
}

static void e1000_tidv_cb(void *opaque)
{
    E1000State *s = opaque;
    if (delay_timer_due(s->tidv_timer, s->tidv_deadline)) {
        e1000_tx_irq_fire(s);
    }
}

void e1000_rx_irq_fire(void *opaque)
{
    E1000State *s = opaque;
    delay_irq_fire(s, s->rdtr_timer, s->radv_timer, E1000_ICR_RXT0);
}

static void e1000_rdtr_cb(void *opaque)
{
    E1000State *s = opaque;
    if (delay_timer_due(s->rdtr_timer, s->rdtr_deadline)) {
        e1000_rx_irq_fire(s);
    }
}

/* A descriptor with RS was written back (SDM 3.4): TXDW now, or after the
 * TIDV packet timer / TADV absolute timer when the descriptor asks for IDE. */
uint32_t tx_writeback_cause(E1000State *s, bool ide)
{
    uint32_t tidv = s->mac_reg[R(E1000_TIDV)] & 0xffff;
    if (!ide || !tidv) {
        return E1000_ICR_TXDW;
    }
    int64_t now = clock_ns();
    delay_timer_arm(s->tidv_timer, &s->tidv_deadline, now + (int64_t)tidv * 1024);
    uint32_t tadv = s->mac_reg[R(E1000_TADV)] & 0xffff;
    if (tadv && !timer_pending(s->tadv_timer)) {
        timer_mod(s->tadv_timer, now + (int64_t)tadv * 1024);
    }
    return 0;
}

/* A frame was stored (SDM 3.2.7): RXT0 now if RDTR is 0, else when the RDTR
 * packet timer (restarted per frame) or the RADV absolute timer runs out. */
uint32_t rx_delay_cause(E1000State *s)
{
    uint32_t rdtr = s->mac_reg[R(E1000_RDTR)] & 0xffff;
    if (!rdtr) {
        return E1000_ICR_RXT0;
    }
    int64_t now = clock_ns();
    delay_timer_arm(s->rdtr_timer, &s->rdtr_deadline, now + (int64_t)rdtr * 1024);
    uint32_t radv = s->mac_reg[R(E1000_RADV)] & 0xffff;
    if (radv && !timer_pending(s->radv_timer)) {
        timer_mod(s->radv_timer, now + (int64_t)radv * 1024);
    }
    return 0;
}

/* CTRL.RST (SDM 13.4.1): every register back to its power-on value and the
 * EEPROM reloaded (RAR0 from words 0..2). PCI config space, the PHY and the
 * EEPROM itself are untouched. */
static void e1000_reset(E1000State *s)
{
    timer_del(s->tidv_timer);
    timer_del(s->tadv_timer);
    timer_del(s->rdtr_timer);
    timer_del(s->radv_timer);
    timer_del(s->mit_timer);
    timer_del(s->posted_timer);
    s->ims_ever = 0;
    s->posted_poll_ns = E1000_POSTED_POLL_NS;
    timer_del(s->tx_timer);
    timer_del(s->rx_timer);
    s->next_irq_ns = 0;
    memset(s->mac_reg, 0, sizeof(s->mac_reg));
    memset(&s->eecd, 0, sizeof(s->eecd));
    s->tx.csum_ctx = (E1000TxContext){0};
    s->tx.tso_ctx = (E1000TxContext){0};
    s->tx.ctx = (E1000TxContext){0};
    e1000_tx_reset_packet(&s->tx);
    s->ioaddr = 0;

    uint32_t *r = s->mac_reg;
    if (s->eeprom[EEPROM_INIT_CONTROL1_REG] & EEPROM_WORD0A_FD) {
        r[R(E1000_CTRL)] = E1000_CTRL_FD;
    }
    r[R(E1000_EECD)] = E1000_EECD_FWE_DIS;
    r[R(E1000_VET)] = 0x8100;
    r[R(E1000_LEDCTL)] = 0x07068302;
    r[R(E1000_PBA)] = E1000_PBA_DEFAULT;
    r[R(E1000_RXCSUM)] = E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL;
    e1000_load_rar0(s);
    s->link_up = false;
    e1000_update_link(s, false);
    pci_set_irq(&s->pci, 0);
}

/* ------------------------------------------------------------------------ */
/* Register read/write operations                                           */

uint32_t mac_readreg(E1000State *s, int index)
{
    return s->mac_reg[index];
}

void mac_writereg(E1000State *s, int index, uint32_t val)
{
    reg_store(s, index, val);
}

/* ICR is read to clear (SDM 13.4.17): the read returns every cause and
 * clears them, which also drops the interrupt line. */
static uint32_t mac_icr_read(E1000State *s, int index)
{
    uint32_t v = s->mac_reg[index];
    if (v) {
        set_interrupt_cause(s, 0);
    }
    return v;
}

static void set_w1c(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] &= ~val;
}

static void set_ctrl(E1000State *s, int index, uint32_t val)
{
    (void)index;
    uint32_t old = s->mac_reg[R(E1000_CTRL)];
    if (val & E1000_CTRL_RST) {
        /* Global reset: self-clearing, done by the time the write returns.
         * The Linux driver issues it through the I/O BAR (82540 erratum). */
        e1000_reset(s);
        return;
    }
    s->mac_reg[R(E1000_CTRL)] = val;
    if ((val & E1000_CTRL_PHY_RST) && !(old & E1000_CTRL_PHY_RST)) {
        phy_reset(s); /* the PHY is held in reset while the bit is set */
    }
    e1000_update_link(s, true);
}

static void set_ctrl_ext(E1000State *s, int index, uint32_t val)
{
    if (val & E1000_CTRL_EXT_EE_RST) {
        e1000_load_rar0(s); /* EEPROM reload; the bit self-clears */
    }
    reg_store(s, index, val); /* EE_RST is not stored */
}

static void set_icr(E1000State *s, int index, uint32_t val)
{
    /* writing 1s clears those causes */
    set_interrupt_cause(s, s->mac_reg[index] & ~val);
}

static void set_ics_reg(E1000State *s, int index, uint32_t val)
{
    (void)index;
    set_ics(s, val & E1000_ICR_CAUSES);
}

static void set_ims(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] |= val & E1000_ICR_CAUSES;
    s->ims_ever |= val & E1000_ICR_CAUSES;
    s->posted_poll_ns = E1000_POSTED_POLL_NS;
    e1000_update_irq(s);
}

static void set_imc(E1000State *s, int index, uint32_t val)
{
    (void)index;
    s->mac_reg[R(E1000_IMS)] &= ~val;
    e1000_update_irq(s);
}

static void set_itr(E1000State *s, int index, uint32_t val)
{
    reg_store(s, index, val);
    /* a shorter interval may let a held-back interrupt through now */
    if (timer_pending(s->mit_timer)) {
        int64_t limit = clock_ns() + (int64_t)(val & 0xffff) * 256;
        if (s->next_irq_ns > limit) {
            s->next_irq_ns = limit;
            timer_mod(s->mit_timer, limit);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The tables, from the register table (e1000_regs.h)                       */

#define REG_RANGE(off, n) [R(off)... R(off) + (n)-1]
#define REG_READOP(name, off, n, rd, wr, mask, fl) REG_RANGE(off, n) = rd,
#define REG_WRITEOP(name, off, n, rd, wr, mask, fl) REG_RANGE(off, n) = wr,
#define REG_WMASK(name, off, n, rd, wr, mask, fl) REG_RANGE(off, n) = (mask),
#define REG_FLAGS(name, off, n, rd, wr, mask, fl) REG_RANGE(off, n) = (fl),
#define REG_NAME(name, off, n, rd, wr, mask, fl) {off, n, #name},

static const MacRegReadOp macreg_readops[E1000_NREGS] = {E1000_REGISTERS(REG_READOP)};
static const MacRegWriteOp macreg_writeops[E1000_NREGS] = {E1000_REGISTERS(REG_WRITEOP)};
const uint32_t e1000_reg_wmask[E1000_NREGS] = {E1000_REGISTERS(REG_WMASK)};
static const uint8_t macreg_flags[E1000_NREGS] = {E1000_REGISTERS(REG_FLAGS)};

static const struct {
    uint32_t offset, dwords;
    const char *name;
} e1000_reg_names[] = {E1000_REGISTERS(REG_NAME)};

const char *e1000_reg_name(uint32_t offset, char *buf, size_t len)
{
    offset &= ~3u;
    for (size_t i = 0; i < sizeof(e1000_reg_names) / sizeof(e1000_reg_names[0]); i++) {
        uint32_t base = e1000_reg_names[i].offset, n = e1000_reg_names[i].dwords;
        if (offset < base || offset >= base + 4 * n) {
            continue;
        }
        if (n == 1) {
            return e1000_reg_names[i].name;
        }
        unsigned k = (offset - base) / 4;
        if (base == E1000_RA) { /* RAL/RAH pairs */
            snprintf(buf, len, "%s[%u]", (k & 1) ? "RAH" : "RAL", k / 2);
        } else {
            snprintf(buf, len, "%s[%u]", e1000_reg_names[i].name, k);
        }
        return buf;
    }
    snprintf(buf, len, "reg%#x", offset);
    return buf;
}

const char *e1000_mmio_reg_name(uint64_t offset, char *buf, size_t len)
{
    return offset < E1000_MMIO_SIZE ? e1000_reg_name((uint32_t)offset, buf, len) : NULL;
}

const char *e1000_io_reg_name(uint64_t offset, char *buf, size_t len)
{
    (void)buf;
    (void)len;
    return offset < 4 ? "IOADDR" : offset < 8 ? "IODATA" : NULL;
}

const char *e1000_icr_names(uint32_t cause, char *buf, size_t len)
{
    static const char *const names[17] = {
        "TXDW", "TXQE",  "LSC",  "RXSEQ", "RXDMT0", "bit5", "RXO",     "RXT0", "bit8",
        "MDAC", "RXCFG", "GPI0", "GPI1",  "GPI2",   "GPI3", "TXD_LOW", "SRPD",
    };
    size_t n = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < 17 && n < len; i++) {
        if (cause & (1u << i)) {
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "|" : "", names[i]);
        }
    }
    if (!n) {
        snprintf(buf, len, "none");
    }
    return buf;
}

static uint32_t e1000_reg_read(E1000State *s, unsigned index)
{
    uint32_t v = 0; /* reserved or unimplemented: reads as zero */
    if (macreg_readops[index]) {
        v = macreg_readops[index](s, (int)index);
        if (macreg_flags[index] & E1000_REG_COR) {
            s->mac_reg[index] = 0;
            if (macreg_flags[index] & E1000_REG_COR_PAIR) {
                s->mac_reg[index - 1] = 0;
            }
        }
    }
    if (TRACE_ON(e1000_mmio_read)) {
        char name[24];
        trace_emit(TRACE_e1000_mmio_read, "%s -> %#x",
                   e1000_reg_name(index << 2, name, sizeof(name)), v);
    }
    return v;
}

static void e1000_reg_write(E1000State *s, unsigned index, uint32_t val)
{
    if (TRACE_ON(e1000_mmio_write)) {
        char name[24];
        trace_emit(TRACE_e1000_mmio_write, "%s <- %#x",
                   e1000_reg_name(index << 2, name, sizeof(name)), val);
    }
    if (macreg_writeops[index]) {
        macreg_writeops[index](s, (int)index, val);
    }
}

/* ------------------------------------------------------------------------ */
/* Doorbells (core/doorbell.h)                                              */

/* The tail registers are the device's doorbells: the guest writes TDT to
 * hand over packets and RDT to hand back buffers. A tail value the guest has
 * written once (and so will likely write again: a driver cycles through the
 * same values lap after lap) gets a KVM ioeventfd, and its next write does
 * not leave KVM. Values are learnt when a tail write exits: that value and
 * the next E1000_DOORBELL_AHEAD - 1, so no single guest access pays for more
 * than E1000_DOORBELL_AHEAD registrations (each costs KVM an SRCU grace
 * period, ~1-2 ms on a nested host, docs/HOST.md), and a doorbell stays
 * valid whatever the ring length: it is the same write.
 *
 * At most E1000_DOORBELL_MAX values per ring. A DPDK-style driver writes the
 * tail once per burst of 32 (16 values on a 512-descriptor ring); the Linux
 * driver writes any of its 256 (it hands over each packet), so 256 covers
 * its default rings whole; values past the bound exit as usual. The bound
 * also bounds the worst single guest access: unmapping BAR0 (COMMAND.MEM
 * off, BAR moved) unregisters them all. KVM allows ~1000 ioeventfds per bus
 * for the VM: a second NIC may find it full, and its writes then exit. */
#define E1000_DOORBELL_MAX 256

/* Values learnt per exiting tail write: the one written and the next ones
 * around the ring, which a driver writes next (the Linux driver moves the
 * tail by one or two descriptors per packet), so that a driver's first lap
 * exits once per E1000_DOORBELL_AHEAD values instead of once per value.
 * Bounds the exit's extra cost to that many KVM_IOEVENTFD calls. */
#define E1000_DOORBELL_AHEAD 8

/* Tails only move forward (the guest cannot pass the head), so of the
 * values that rang the newest is the one furthest ahead of the current
 * tail. A value beyond the ring is a guest error: taken, but as the nearest
 * so that a valid newer one wins. */
static uint32_t newest_tail(E1000State *s, unsigned tail, unsigned len, const uint32_t *v,
                            unsigned n)
{
    uint32_t size = s->mac_reg[R(len)] / 16, cur = s->mac_reg[R(tail)];
    uint32_t best = v[0], best_dist = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t dist = size && v[i] < size ? (v[i] + size - cur % size) % size : 0;
        if (i == 0 || dist > best_dist) {
            best = v[i];
            best_dist = dist;
        }
    }
    return best;
}

/* (From the main loop too, when the group's fd fires: the writes the guest
 * posted before it rang come first there as well.) */
static void e1000_rdt_rang(void *opaque, const uint32_t *values, unsigned n)
{
    E1000State *s = opaque;
    e1000_take_posted(s);
    uint32_t v = newest_tail(s, E1000_RDT, E1000_RDLEN, values, n);
    TRACE(e1000_mmio_write, "RDT <- %#x (doorbell: KVM ioeventfd, no exit)", v);
    set_rdt(s, R(E1000_RDT), v);
}

static void e1000_tdt_rang(void *opaque, const uint32_t *values, unsigned n)
{
    E1000State *s = opaque;
    e1000_take_posted(s);
    uint32_t v = newest_tail(s, E1000_TDT, E1000_TDLEN, values, n);
    TRACE(e1000_mmio_write, "TDT <- %#x (doorbell: KVM ioeventfd, no exit)", v);
    set_tdt(s, R(E1000_TDT), v);
}

/* A 4-byte tail write exited: give its value (and the next ones) a doorbell
 * for next time. */
static void e1000_tail_exited(E1000State *s, Doorbell *db, unsigned len, uint32_t value)
{
    uint32_t size = s->mac_reg[R(len)] / 16;
    value &= 0xffff;
    uint32_t n =
        size && value < size ? (size < E1000_DOORBELL_AHEAD ? size : E1000_DOORBELL_AHEAD) : 1;
    for (uint32_t k = 0; k < n; k++) {
        if (!doorbell_learn(db, n > 1 ? (value + k) % size : value)) {
            return;
        }
    }
}

static void e1000_rdt_exited(void *opaque, uint32_t value)
{
    E1000State *s = opaque;
    e1000_tail_exited(s, s->db_rdt, E1000_RDLEN, value);
}

static void e1000_tdt_exited(void *opaque, uint32_t value)
{
    E1000State *s = opaque;
    e1000_tail_exited(s, s->db_tdt, E1000_TDLEN, value);
}

static const DoorbellOps e1000_rdt_doorbell = {.rang = e1000_rdt_rang, .exited = e1000_rdt_exited};
static const DoorbellOps e1000_tdt_doorbell = {.rang = e1000_tdt_rang, .exited = e1000_tdt_exited};

/* Before every register access: what the guest wrote without exiting came
 * first. Posted writes before the doorbells it rang after them. */
static void e1000_take_pending(E1000State *s)
{
    e1000_take_posted(s);
    doorbell_group_take(s->db_group);
}

/* ------------------------------------------------------------------------ */
/* BAR0 and BAR1                                                            */

/* BAR0: aligned 4-byte accesses (core/memory.c splits the rest). */
static uint64_t e1000_mmio_read(void *opaque, uint64_t addr, unsigned size)
{
    E1000State *s = opaque;
    e1000_take_pending(s);
    if (size != 4 || addr >= E1000_MMIO_SIZE || (addr & 3)) {
        return 0;
    }
    return e1000_reg_read(s, (unsigned)(addr >> 2));
}

static void e1000_mmio_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    E1000State *s = opaque;
    e1000_take_pending(s);
    if (size != 4 || addr >= E1000_MMIO_SIZE || (addr & 3)) {
        return;
    }
    e1000_reg_write(s, (unsigned)(addr >> 2), (uint32_t)val);
}

/* A narrow write keeps the other bytes of what the register stores, except
 * where a write is an action (ICR, ICS, IMS, IMC, WUS: writing the old bytes
 * again would clear or set causes the guest did not name). */
static uint64_t e1000_write_fill(void *opaque, uint64_t addr, unsigned size)
{
    E1000State *s = opaque;
    unsigned index = (unsigned)(addr >> 2);
    if (size != 4 || addr >= E1000_MMIO_SIZE || (macreg_flags[index] & E1000_REG_ACTION)) {
        return 0;
    }
    return s->mac_reg[index];
}

static const MemoryRegionOps e1000_mmio_ops = {
    .read = e1000_mmio_read,
    .write = e1000_mmio_write,
    .min_access_size = 4,
    .max_access_size = 4,
    .write_fill = e1000_write_fill,
};

/* BAR1: IOADDR (offset 0) selects a register, IODATA (offset 4) accesses it
 * (SDM 13.2.1). The rest of the window is reserved. */
static uint64_t e1000_io_read(void *opaque, uint64_t addr, unsigned size)
{
    E1000State *s = opaque;
    uint32_t v;
    if (addr < 4) {
        v = s->ioaddr;
    } else if (addr < 8) {
        v = s->ioaddr < E1000_MMIO_SIZE ? (uint32_t)e1000_mmio_read(s, s->ioaddr & ~3u, 4) : 0;
    } else {
        return 0;
    }
    v >>= 8 * (addr & 3);
    return size >= 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void e1000_io_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    E1000State *s = opaque;
    if (addr == E1000_IOADDR && size == 4) {
        s->ioaddr = (uint32_t)val & 0x0001FFFC;
    } else if (addr == E1000_IODATA && size == 4) {
        e1000_mmio_write(s, s->ioaddr, (uint32_t)val, 4);
    }
}

static const MemoryRegionOps e1000_io_ops = {
    .read = e1000_io_read,
    .write = e1000_io_write,
};

/* ------------------------------------------------------------------------ */
/* Realize                                                                  */

static void e1000_config_written(PCIDevice *d, uint32_t addr, uint32_t val, int len)
{
    (void)val;
    E1000State *s = (E1000State *)((char *)d - offsetof(E1000State, pci));
    if (addr <= PCI_COMMAND && addr + (uint32_t)len > PCI_COMMAND && bus_master(s)) {
        /* bus mastering (back) on: DMA that waited can run */
        e1000_flush_rx(s);
        start_xmit(s);
    }
}

/* Give back what realize took (timers, doorbells); also on its error path. */
static void e1000_release(E1000State *s)
{
    doorbell_group_free(s->db_group);
    s->db_group = NULL;
    s->db_rdt = s->db_tdt = NULL;
    Timer **timers[] = {&s->tidv_timer, &s->tadv_timer,   &s->rdtr_timer, &s->radv_timer,
                        &s->mit_timer,  &s->posted_timer, &s->tx_timer,   &s->rx_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        timer_free(*timers[i]);
        *timers[i] = NULL;
    }
}

static void e1000_nc_cleanup(NetClient *nc)
{
    E1000State *s = nc->opaque;
    e1000_release(s);
    if (s->vnet_hdr && nc->peer) {
        net_using_vnet_hdr(nc->peer, false);
    }
    s->vnet_hdr = false;
    s->nic = NULL;
}

static const NetClientInfo e1000_net_info = {
    .type = "e1000",
    .kind = NET_CLIENT_NIC,
    .can_receive = e1000_can_receive,
    .receive_iov = e1000_receive_iov,
    .link_status_changed = e1000_set_link_status,
    .cleanup = e1000_nc_cleanup,
    .query_rx_filter = e1000_query_rx_filter,
};

/* Posted registers (the table's E1000_REG_POSTED: IMS and IMC, SDM
 * 13.4.20-21): writes without an effect the guest can see before its next
 * register read, except on the interrupt line, which the device settles
 * itself (e1000_update_irq). */
static int e1000_add_posted(E1000State *s)
{
    for (unsigned i = 0; i < sizeof(e1000_reg_names) / sizeof(e1000_reg_names[0]); i++) {
        uint32_t off = e1000_reg_names[i].offset;
        if ((macreg_flags[R(off)] & E1000_REG_POSTED) &&
            memory_region_add_posted(&s->pci.bar[0].region, off, 4 * e1000_reg_names[i].dwords) <
                0) {
            return -1;
        }
    }
    return 0;
}

/* Doorbells (the table's E1000_REG_DOORBELL: RDT, TDT), RDT first: when
 * both rang, buffers are handed back before packets go out, as before. */
static void e1000_add_doorbells(E1000State *s)
{
    s->db_group = doorbell_group_new();
    if (!s->db_group) {
        return; /* out of fds: the tails exit */
    }
    MemoryRegion *mr = &s->pci.bar[0].region;
    s->db_rdt =
        doorbell_add(s->db_group, mr, E1000_RDT, 4, E1000_DOORBELL_MAX, &e1000_rdt_doorbell, s);
    s->db_tdt =
        doorbell_add(s->db_group, mr, E1000_TDT, 4, E1000_DOORBELL_MAX, &e1000_tdt_doorbell, s);
}

/* the models (E1000Model), with their types at the end of this file */
#define E1000_NMODELS 3
static const E1000Model e1000_models[E1000_NMODELS];

static int e1000_realize(Object *obj, Machine *m, Error *err)
{
    E1000State *s = (E1000State *)obj;

    s->model = &e1000_models[0];
    for (size_t i = 0; i < E1000_NMODELS; i++) {
        if (obj->type == e1000_models[i].type) {
            s->model = &e1000_models[i];
        }
    }

    if (!s->netdev_id) {
        return error_setf(err, "e1000: netdev= is required");
    }
    NetClient *peer = net_backend_find(s->netdev_id);
    if (!peer) {
        return error_setf(err, "e1000: no -netdev with id '%s'", s->netdev_id);
    }
    if (peer->peer) {
        return error_setf(err, "e1000: netdev '%s' is already in use", s->netdev_id);
    }

    if (s->conf_mac.set) {
        memcpy(s->macaddr, s->conf_mac.a, ETH_ALEN);
    } else {
        /* 52:54:00:12:34:56, then :57, ... one per NIC */
        uint32_t tail = (0x12u << 16 | 0x34u << 8 | 0x56u) + (uint32_t)m->nr_nics;
        const uint8_t mac[ETH_ALEN] = {
            0x52, 0x54, 0x00, (uint8_t)(tail >> 16), (uint8_t)(tail >> 8), (uint8_t)tail};
        memcpy(s->macaddr, mac, ETH_ALEN);
    }

    s->ram = &m->ram;
    e1000_eeprom_init(s);
    phy_reset(s);
    pci_device_init(&s->pci, obj->type->name, E1000_VENDOR_INTEL, s->model->device_id,
                    E1000_SUBSYS_VENDOR, s->model->subsys_id, E1000_CLASS_ETHERNET,
                    s->model->revision);
    pci_register_bar(&s->pci, 0, E1000_MMIO_SIZE, false, &e1000_mmio_ops, s, "e1000-mmio");
    pci_register_bar(&s->pci, 1, E1000_IO_SIZE, true, &e1000_io_ops, s, "e1000-io");
    exitstats_set_namer(&s->pci.bar[0].region, e1000_mmio_reg_name);
    exitstats_set_namer(&s->pci.bar[1].region, e1000_io_reg_name);
    s->pci.config_written = e1000_config_written;
    if (s->posted && e1000_add_posted(s) < 0) {
        return error_setf(err, "e1000: cannot set up posted writes");
    }

    s->tidv_timer = timer_new(e1000_tidv_cb, s);
    s->tadv_timer = timer_new(e1000_tx_irq_fire, s);
    s->rdtr_timer = timer_new(e1000_rdtr_cb, s);
    s->radv_timer = timer_new(e1000_rx_irq_fire, s);
    s->mit_timer = timer_new(e1000_mit_timer, s);
    s->posted_timer = timer_new(e1000_posted_timer_cb, s);
    s->tx_timer = timer_new(e1000_tx_continue, s);
    s->rx_timer = timer_new(e1000_rx_continue, s);
    if (!s->tidv_timer || !s->tadv_timer || !s->rdtr_timer || !s->radv_timer || !s->mit_timer ||
        !s->posted_timer || !s->tx_timer || !s->rx_timer) {
        die("out of memory");
    }
    if (s->doorbells) {
        e1000_add_doorbells(s);
    }
    e1000_reset(s);

    if (pci_bus_add_device(m->pci, &s->pci, err) < 0) {
        e1000_release(s);
        return -1;
    }
    m->nr_nics++;

    s->nic = net_client_new(&e1000_net_info, obj->id ? obj->id : "e1000", s);
    net_client_set_peer(s->nic, peer);
    /* gso=on with a backend that carries virtio-net headers: TSO sends
     * leave as GSO frames (xmit_gso) */
    if (s->gso && net_has_vnet_hdr(peer)) {
        net_using_vnet_hdr(peer, true);
        s->vnet_hdr = s->nic->vnet_hdr_len == sizeof(struct virtio_net_hdr);
        if (!s->vnet_hdr) {
            net_using_vnet_hdr(peer, false);
        }
    }
    s->nic->link_down = peer->link_down;
    e1000_update_link(s, false);
    return 0;
}

static const Property e1000_props[] = {
    PROP_STR("netdev", E1000State, netdev_id, NULL, "id of the -netdev backend (required)"),
    PROP_MAC("mac", E1000State, conf_mac, "MAC address (default 52:54:00:12:34:56 + NIC index)"),
    /* on by default: measured side by side on the development host
     * (docs/BENCHMARKS.md), a poll-mode driver sends 1.4x and receives
     * 1.2-1.7x the packets per second with them; the Linux driver's exits
     * and interrupts per packet did not change (most of its tail values
     * have no doorbell and exit as before) */
    PROP_BOOL("doorbells", E1000State, doorbells, "on",
              "TDT/RDT writes as KVM ioeventfds instead of exits (values learnt as written)"),
    PROP_BOOL("gso", E1000State, gso, "on",
              "TSO sends handed to a vnet_hdr backend whole, as GSO frames, not cut here"),
    PROP_BOOL("posted", E1000State, posted, "on",
              "IMS/IMC writes posted through KVM's coalesced MMIO ring instead of exiting"),
    PROP_END,
};

/* The machine resets (the guest rebooted): power-on state, the PHY too, so
 * that neither unit works on the old guest's rings in the new one's RAM. */
static void e1000_machine_reset(Object *obj)
{
    E1000State *s = (E1000State *)obj;
    phy_reset(s);
    e1000_reset(s);
}

/* One type per model, all with the same properties, realize and reset. */
#define E1000_TYPE(var, type_name, description)                                                    \
    static const TypeInfo var = {                                                                  \
        .name = type_name,                                                                         \
        .kind = TYPE_KIND_DEVICE,                                                                  \
        .bus = "PCI",                                                                              \
        .desc = description,                                                                       \
        .instance_size = sizeof(E1000State),                                                       \
        .props = e1000_props,                                                                      \
        .realize = e1000_realize,                                                                  \
        .reset = e1000_machine_reset,                                                              \
    }
E1000_TYPE(e1000_info, "e1000", "Intel 82540EM Gigabit Ethernet (PRO/1000 MT Desktop)");
E1000_TYPE(e1000_82544gc_info, "e1000-82544gc",
           "Intel 82544GC Gigabit Ethernet (PRO/1000 T Desktop)");
E1000_TYPE(e1000_82545em_info, "e1000-82545em",
           "Intel 82545EM Gigabit Ethernet (PRO/1000 MT Server)");

static const E1000Model e1000_models[E1000_NMODELS] = {
    {&e1000_info, E1000_DEV_ID_82540EM, E1000_SUBSYS_ID, E1000_REVISION, M88E1011_PHY_ID2, true},
    {&e1000_82544gc_info, E1000_DEV_ID_82544GC_COPPER, E1000_SUBSYS_ID_82544GC, E1000_REVISION,
     M88E1000_PHY_ID2, false},
    {&e1000_82545em_info, E1000_DEV_ID_82545EM_COPPER, E1000_SUBSYS_ID_82545EM, E1000_REVISION,
     M88E1011_PHY_ID2, true},
};

TYPE_REGISTER(e1000_info)
TYPE_REGISTER(e1000_82544gc_info)
TYPE_REGISTER(e1000_82545em_info)
