/* Intel 82540EM Gigabit Ethernet controller ("e1000"), as seen by the
 * unmodified Linux e1000 driver.
 *
 * The model has three faces:
 *  - registers: BAR0 (128 KiB MMIO) and BAR1 (I/O window IOADDR/IODATA onto
 *    the same registers). e1000_mmio_read/e1000_mmio_write dispatch through
 *    per-register tables (macreg_readops / macreg_writeops) indexed by the
 *    register's dword index; a register without an entry reads 0 and ignores
 *    writes, as reserved space does on the real part.
 *  - transmit: a TDT write runs the ring at once (set_tdt -> start_xmit ->
 *    process_tx_desc -> xmit_seg -> e1000_send_packet -> net_send_iov).
 *  - receive: the net layer offers a frame (e1000_can_receive,
 *    e1000_receive_iov -> receive_filter -> descriptors); with no free
 *    descriptor the frame waits in the net layer's queue and a later RDT
 *    write calls net_flush_queued.
 *
 * Everything the guest controls (ring bases, lengths, heads, tails, buffer
 * addresses, descriptor lengths, offload offsets) is checked where it is
 * used: guest memory is reached only through dma_read/dma_write, which
 * refuse anything outside RAM, and every loop over descriptors or segments
 * has a bound. Callers hold the device lock (core/loop.h): no locking here.
 *
 * Section numbers refer to the Intel 8254x Family of Gigabit Ethernet
 * Controllers Software Developer's Manual (SDM). */
#include <endian.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/machine.h"
#include "core/memory.h"
#include "hw/e1000_names.h"
#include "hw/e1000_regs.h"
#include "hw/pci.h"
#include "net/net.h"
#include "qom/object.h"
#include "trace/stats.h"
#include "trace/trace.h"
#include "util/error.h"

#define E1000_NREGS (E1000_MMIO_SIZE >> 2)
#define R(reg) ((reg) >> 2) /* register byte offset -> mac_reg[] index */

/* Frame limits, counted with the 4-byte FCS as the SDM counts them. */
#define E1000_MIN_FRAME 60        /* without FCS: short frames are padded */
#define E1000_MAX_FRAME_STD 1522  /* RCTL.LPE = 0 (tagged 1500-byte MTU) */
#define E1000_MAX_FRAME_LPE 16384 /* RCTL.LPE = 1 */
#define E1000_RX_BUF (E1000_MAX_FRAME_LPE + 8)

/* Transmit: the largest frame we assemble without TSO, and with TSO the
 * largest header + MSS segment. A TSO packet may bring at most 64 KiB of
 * payload plus its header (an IPv4 length is 16 bits; stacks send <= 64 KiB)
 * and be cut into at most E1000_TSO_MAX_SEGS segments: a guest asking for
 * more (say MSS 1) gets what fits and the packet counts as failed, so that
 * one TDT write cannot keep the device lock for long. */
#define E1000_TX_MAX_FRAME 0x10000
#define E1000_TX_BUF (E1000_TX_MAX_FRAME + 256)
#define E1000_TSO_MAX_DATA (0x10000 + 256)
#define E1000_TSO_MAX_SEGS 4096

/* Work per run of the transmit or the receive unit. A guest register write
 * (TDT, TCTL, RDT, RCTL, ...) runs the unit for at most this much work and
 * returns; what is left continues from the main loop (tx_timer / rx_timer
 * armed for "now"), as the hardware too works through its rings after the
 * write has completed. So no ring content can hold a vCPU (or the device
 * lock) for long: QEMU can be made to spend seconds in one TDT write. A
 * unit is about one byte copied or checksummed; each frame handed on costs
 * E1000_FRAME_COST more (a TAP write is a system call that the host stack
 * may turn into real work, ~1-5 us) and each descriptor E1000_DESC_COST.
 * One run is then at most ~128 small frames, 4 frames of 64 KiB or 8192
 * descriptors: ~1 ms at worst (tests/unit/test_cve.c measures it). A
 * descriptor whose TSO segments exceed the budget is left half done and
 * resumed (E1000Tx.desc_pending). */
#define E1000_WORK_BUDGET (512u * 1024)
#define E1000_FRAME_COST 4096u
#define E1000_DESC_COST 64u

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_CWR 0x80
#define TCP_FLAG_PSH 0x08

/* ------------------------------------------------------------------------ */
/* State                                                                    */

/* One offload context (SDM 3.3.6). The 82540 keeps the TSO context apart
 * from the checksum-only one, so a driver may interleave the two. */
typedef struct E1000TxContext {
    uint8_t ipcss, ipcso;
    uint16_t ipcse;
    uint8_t tucss, tucso;
    uint16_t tucse;
    uint32_t paylen;
    uint8_t hdr_len;
    uint16_t mss;
    bool ip;  /* TUCMD.IP: IPv4 (else IPv6) */
    bool tcp; /* TUCMD.TCP: TCP (else UDP) */
} E1000TxContext;

/* The packet being assembled from data descriptors. */
typedef struct E1000Tx {
    E1000TxContext csum_ctx, tso_ctx; /* as the last context descriptors set them */
    E1000TxContext ctx;               /* the one this packet uses, fixed at its first descriptor */
    bool in_packet;                   /* saw the first descriptor of a packet, not yet EOP */
    bool tse;       /* this packet is segmented (DCMD.TSE of its first descriptor) */
    bool gso;       /* ... by the backend: gathered whole, sent as one GSO frame */
    bool drop;      /* something went wrong: consume the descriptors, send nothing */
    bool hdr_saved; /* TSO: the header has been copied to header[] */
    uint8_t popts;  /* POPTS of the first data descriptor */
    bool vle;       /* insert a VLAN tag (VLE and CTRL.VME) */
    uint16_t vlan_tci;
    bool legacy_ic; /* legacy descriptor checksum (CMD.IC at EOP) */
    uint8_t legacy_css, legacy_cso;
    uint32_t size;        /* bytes in buf */
    uint32_t tso_frames;  /* segments sent for this packet */
    uint32_t tso_payload; /* payload bytes sent in those segments */
    uint32_t total;       /* bytes taken from descriptors for this packet */
    /* the descriptor at TDH, fetched and partly processed when the work
     * budget ran out in the middle of its TSO segments */
    bool desc_pending;
    uint8_t desc[16];
    uint64_t desc_addr; /* its data not yet taken */
    uint32_t desc_left;
    uint8_t header[256];
    /* room for the backend's virtio_net_hdr right before the frame, so that
     * header and frame leave in one piece (one iovec: measurably cheaper
     * for the TAP than two, ~10 % of a 64-byte frame's write) */
    uint8_t vnet_room[sizeof(struct virtio_net_hdr)];
    uint8_t buf[E1000_TX_BUF];
} E1000Tx;
_Static_assert(offsetof(E1000Tx, buf) ==
                   offsetof(E1000Tx, vnet_room) + sizeof(struct virtio_net_hdr),
               "the vnet header room must end where the frame starts");

/* Microwire EEPROM state machine behind EECD (SDM 5.3). */
typedef struct E1000Eecd {
    uint32_t pins;   /* SK, CS, DI as last written */
    uint32_t val_in; /* start bit, opcode and address shifted in so far */
    int bits_in;     /* how many of them (after the start bit) */
    bool reading;    /* READ decoded: DO carries data */
    bool ignoring;   /* unsupported opcode: wait for CS to drop */
    int out_pos;     /* data bit being output, -1 = the dummy zero */
    uint8_t addr;
} E1000Eecd;

/* Doorbells per ring: at most this many tail values get an eventfd. A
 * DPDK-style driver writes the tail once per burst of 32 (16 values on a
 * 512-descriptor ring); the Linux driver writes any of its 256 (it hands
 * over each packet), so 256 covers its default rings whole; values past the
 * bound exit as usual. The bound also bounds the worst single guest access:
 * unmapping BAR0 (COMMAND.MEM off, BAR moved) unregisters them all, and each
 * KVM_IOEVENTFD call waits for an SRCU grace period (~1-2 ms on the nested
 * development host, tens of us on an ordinary one). KVM allows ~1000
 * ioeventfds per bus for the VM: a second NIC may find it full, and its
 * writes then exit. */
#define E1000_DOORBELL_MAX 256
enum { DB_TX, DB_RX };

typedef struct E1000State {
    Object obj; /* first: the object model's handle */
    /* properties */
    char *netdev_id;
    MacProp conf_mac;
    bool doorbells; /* doorbells=on: TDT/RDT writes signal eventfds instead of exiting */
    bool posted;    /* posted=on: IMS/IMC writes queue in KVM instead of exiting */
    bool gso;       /* gso=on: TSO sends go to a vnet_hdr backend whole */

    PCIDevice pci;
    GuestMemory *ram;
    NetClient *nic;
    uint8_t macaddr[ETH_ALEN];
    bool vnet_hdr; /* frames to and from the peer carry a virtio_net_hdr */

    uint32_t mac_reg[E1000_NREGS];
    uint16_t phy_reg[E1000_PHY_REGS];
    uint16_t eeprom[E1000_EEPROM_WORDS];
    E1000Eecd eecd;
    uint32_t ioaddr; /* BAR1 IOADDR */
    bool link_up;    /* STATUS.LU as last reported (LSC on change) */

    /* interrupt moderation (SDM 3.2.7, 3.4, 13.4.19) */
    Timer *tidv_timer, *tadv_timer, *rdtr_timer, *radv_timer, *mit_timer;
    Timer *posted_timer;                  /* bounds how long a posted IMS write can wait */
    uint32_t ims_ever;                    /* causes the guest has unmasked since reset */
    int64_t posted_poll_ns;               /* the posted_timer's current interval */
    int64_t tidv_deadline, rdtr_deadline; /* timers re-armed lazily */
    int64_t next_irq_ns;                  /* ITR: earliest next assertion */

    /* work budget (E1000_WORK_BUDGET): the rest of a run continues here */
    Timer *tx_timer, *rx_timer;
    uint32_t tx_work, rx_work; /* spent in the current run */
    bool rx_flushing;          /* a guest write is releasing queued frames */

    /* doorbells: TDT/RDT writes that KVM turns into eventfd signals */
    int db_epfd;                              /* -1: none */
    int db_fd[2][E1000_DOORBELL_MAX];         /* [ring][slot] */
    uint16_t db_value[2][E1000_DOORBELL_MAX]; /* [ring][slot]: the tail value it matches */
    uint32_t db_count[2];                     /* slots in use per ring */
    bool db_full;                             /* KVM refused one: learn no more */

    E1000Tx tx;
    uint8_t rx_buf[E1000_RX_BUF];
} E1000State;

static void set_ics(E1000State *s, uint32_t cause);
static void start_xmit(E1000State *s);
static void e1000_update_link(E1000State *s, bool notify);
static ssize_t e1000_receive_iov(NetClient *nc, const struct iovec *iov, int iovcnt);

/* ------------------------------------------------------------------------ */
/* Byte helpers: descriptors are little endian, packet headers big endian.  */

static inline uint16_t ld16be(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ld32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void st16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void st32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t ld32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t ld64le(const uint8_t *p)
{
    return (uint64_t)ld32le(p) | (uint64_t)ld32le(p + 4) << 32;
}

static inline void st16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Internet checksum: adds the 16-bit big-endian words of p (an odd last
 * byte padded with zero) to sum. The ones'-complement sum does not depend on
 * byte order (RFC 1071, 2.B), so the loop adds 32-bit little-endian words
 * into a 64-bit accumulator (no carry can be lost for any frame length) and
 * swaps the folded result once: 4-8x faster than a word at a time, and this
 * loop is most of the cost of checksum offload and TSO (bench/devbench). */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        uint32_t w[4];
        memcpy(w, p + i, sizeof(w));
        acc += (uint64_t)le32toh(w[0]) + le32toh(w[1]) + le32toh(w[2]) + le32toh(w[3]);
    }
    for (; i + 4 <= len; i += 4) {
        uint32_t w;
        memcpy(&w, p + i, sizeof(w));
        acc += le32toh(w);
    }
    for (; i + 2 <= len; i += 2) {
        acc += (uint32_t)(p[i] | p[i + 1] << 8);
    }
    if (i < len) {
        acc += p[i]; /* the low byte of a little-endian word: the high byte of a big-endian one */
    }
    while (acc >> 16) {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    return sum + (uint16_t)((acc & 0xff) << 8 | acc >> 8);
}

static uint16_t csum_fold(uint64_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}

/* Ethernet FCS: CRC-32 (IEEE 802.3, reflected), slicing by 8. */
static uint32_t crc_table[8][256];

static void crc32_init(void)
{
    if (crc_table[0][1]) {
        return;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        }
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            uint32_t c = crc_table[t - 1][i];
            crc_table[t][i] = (c >> 8) ^ crc_table[0][c & 0xff];
        }
    }
}

static uint32_t eth_crc32(const uint8_t *p, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    while (len >= 8) {
        uint32_t a = c ^ ld32le(p), b = ld32le(p + 4);
        c = crc_table[7][a & 0xff] ^ crc_table[6][(a >> 8) & 0xff] ^
            crc_table[5][(a >> 16) & 0xff] ^ crc_table[4][a >> 24] ^ crc_table[3][b & 0xff] ^
            crc_table[2][(b >> 8) & 0xff] ^ crc_table[1][(b >> 16) & 0xff] ^ crc_table[0][b >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) {
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    }
    return ~c;
}

static size_t iov_size(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++) {
        n += iov[i].iov_len;
    }
    return n;
}

static void iov_to_buf(const struct iovec *iov, int iovcnt, uint8_t *buf, size_t len)
{
    size_t off = 0;
    for (int i = 0; i < iovcnt && off < len; i++) {
        size_t n = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
        memcpy(buf + off, iov[i].iov_base, n);
        off += n;
    }
}

static bool bus_master(const E1000State *s)
{
    return s->pci.config[PCI_COMMAND] & PCI_COMMAND_MASTER;
}

/* Statistics registers stick at their maximum rather than wrap (SDM 13.7). */
static void stat_inc(E1000State *s, uint32_t reg, uint32_t n)
{
    uint32_t *r = &s->mac_reg[R(reg)];
    *r = (*r > UINT32_MAX - n) ? UINT32_MAX : *r + n;
}

static void stat_add64(E1000State *s, uint32_t reg_lo, uint64_t n)
{
    uint64_t v = (uint64_t)s->mac_reg[R(reg_lo) + 1] << 32 | s->mac_reg[R(reg_lo)];
    v = (v > UINT64_MAX - n) ? UINT64_MAX : v + n;
    s->mac_reg[R(reg_lo)] = (uint32_t)v;
    s->mac_reg[R(reg_lo) + 1] = (uint32_t)(v >> 32);
}

/* Size buckets of PRC64..PRC1522 / PTC64..PTC1522, frame length with FCS. */
static void stat_size(E1000State *s, uint32_t reg64, size_t len)
{
    static const size_t limits[] = {64, 127, 255, 511, 1023, 1522};
    for (unsigned i = 0; i < 6; i++) {
        if (len <= limits[i]) {
            stat_inc(s, reg64 + 4 * i, 1);
            return;
        }
    }
}

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

static void set_ics(E1000State *s, uint32_t cause)
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

static void e1000_tx_irq_fire(void *opaque)
{
    E1000State *s = opaque;
    timer_del(s->tidv_timer);
    timer_del(s->tadv_timer);
    set_ics(s, E1000_ICR_TXDW);
}

static void e1000_tidv_cb(void *opaque)
{
    E1000State *s = opaque;
    if (clock_ns() < s->tidv_deadline) {
        timer_mod(s->tidv_timer, s->tidv_deadline);
        return;
    }
    e1000_tx_irq_fire(s);
}

static void e1000_rx_irq_fire(void *opaque)
{
    E1000State *s = opaque;
    timer_del(s->rdtr_timer);
    timer_del(s->radv_timer);
    set_ics(s, E1000_ICR_RXT0);
}

static void e1000_rdtr_cb(void *opaque)
{
    E1000State *s = opaque;
    if (clock_ns() < s->rdtr_deadline) {
        timer_mod(s->rdtr_timer, s->rdtr_deadline);
        return;
    }
    e1000_rx_irq_fire(s);
}

/* A descriptor with RS was written back (SDM 3.4): TXDW now, or after the
 * TIDV packet timer / TADV absolute timer when the descriptor asks for IDE. */
static uint32_t tx_writeback_cause(E1000State *s, bool ide)
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
static uint32_t rx_delay_cause(E1000State *s)
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

/* ------------------------------------------------------------------------ */
/* EEPROM (SDM 5.6)                                                         */

/* The image a real PRO/1000 MT Desktop adapter carries, reduced to the words
 * that mean something to a driver; unused words read as erased (0xFFFF).
 * Word 0x3F makes the 64-word sum 0xBABA. */
static void e1000_eeprom_init(E1000State *s)
{
    uint16_t *e = s->eeprom;
    for (int i = 0; i < E1000_EEPROM_WORDS; i++) {
        e[i] = 0xFFFF;
    }
    for (int i = 0; i < 3; i++) {
        e[i] = (uint16_t)(s->macaddr[2 * i] | s->macaddr[2 * i + 1] << 8);
    }
    e[EEPROM_COMPAT] = 0x0000; /* no special compatibility fields */
    e[EEPROM_ID_LED_SETTINGS] = ID_LED_DEFAULT;
    e[EEPROM_VERSION] = 0x0001; /* image version 0.1 */
    e[0x06] = 0x0000;           /* OEM words */
    e[0x07] = 0x0000;
    e[EEPROM_PBA_BYTE_1] = 0x0000; /* PBA number 000000-000 */
    e[EEPROM_PBA_BYTE_2] = 0x0000;
    e[EEPROM_INIT_CONTROL1_REG] = EEPROM_WORD0A_SIGNATURE | EEPROM_WORD0A_FD |
                                  EEPROM_WORD0A_LOAD_DEV_ID | EEPROM_WORD0A_LOAD_SUBSYS_ID;
    e[EEPROM_SUBSYSTEM_ID] = E1000_SUBSYS_ID;
    e[EEPROM_SUBSYSTEM_VENDOR] = E1000_SUBSYS_VENDOR;
    e[EEPROM_DEVICE_ID] = E1000_DEV_ID_82540EM;
    e[EEPROM_VENDOR_ID] = E1000_VENDOR_INTEL;
    /* Autonegotiation on; no PAUSE advertised: the model neither sends nor
     * honours PAUSE frames, so drivers that follow the EEPROM default to no
     * flow control (SDM 5.6.x, word 0Fh bits 13:12). */
    e[EEPROM_INIT_CONTROL2_REG] = EEPROM_WORD0F_ANE;
    e[EEPROM_SWDEF_PINS_CTRL_PORT_0] = 0x0000; /* software pins: inputs, low */
    e[EEPROM_CIRCUIT_CTRL] = 0x0000;
    e[EEPROM_POWER] = 0x1E05;                /* D0 3.0 W, D3 0.5 W (units of 0.1 W) */
    e[EEPROM_INIT_CONTROL3_PORT_A] = 0x0000; /* no APM wake-up (no WoL by default) */
    uint16_t sum = 0;
    for (int i = 0; i < EEPROM_CHECKSUM_REG; i++) {
        sum = (uint16_t)(sum + e[i]);
    }
    e[EEPROM_CHECKSUM_REG] = (uint16_t)(EEPROM_SUM - sum);
}

/* EECD reads: pins as written, GNT follows REQ, the EEPROM drives DO. */
static uint32_t get_eecd(E1000State *s, int index)
{
    (void)index;
    E1000Eecd *ee = &s->eecd;
    uint32_t v = s->mac_reg[R(E1000_EECD)] & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI |
                                              E1000_EECD_FWE_MASK | E1000_EECD_REQ);
    v |= E1000_EECD_PRES;
    if (v & E1000_EECD_REQ) {
        v |= E1000_EECD_GNT;
    }
    if (ee->reading) {
        if (ee->out_pos >= 0) {
            unsigned word = (ee->addr + (unsigned)ee->out_pos / 16) % E1000_EEPROM_WORDS;
            unsigned bit = 15 - (unsigned)ee->out_pos % 16;
            if ((s->eeprom[word] >> bit) & 1) {
                v |= E1000_EECD_DO;
            }
        } /* else the dummy zero that precedes the data */
    } else {
        v |= E1000_EECD_DO; /* idle / ready */
    }
    return v;
}

/* EECD writes: software toggles SK with CS high and shifts a start bit, the
 * opcode (10b = READ) and 6 address bits in on DI, then clocks 16 data bits
 * out on DO, MSB first (SDM 5.3.1). Data changes on the rising edge of SK;
 * held CS keeps reading the following words. Writes are not supported: the
 * image is read-only (a write opcode is ignored). */
static void set_eecd(E1000State *s, int index, uint32_t val)
{
    (void)index;
    E1000Eecd *ee = &s->eecd;
    uint32_t keep =
        E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_FWE_MASK | E1000_EECD_REQ;
    s->mac_reg[R(E1000_EECD)] = val & keep;
    if (!(val & E1000_EECD_REQ)) {
        /* not granted: the pins belong to the hardware */
        ee->pins = 0;
        ee->reading = ee->ignoring = false;
        ee->bits_in = 0;
        return;
    }
    uint32_t old = ee->pins;
    uint32_t pins = val & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI);
    ee->pins = pins;
    if (!(pins & E1000_EECD_CS)) {
        ee->reading = ee->ignoring = false;
        ee->bits_in = 0;
        ee->val_in = 0;
        return;
    }
    if (!(old & E1000_EECD_CS)) { /* chip selected: a new command */
        ee->reading = ee->ignoring = false;
        ee->bits_in = 0;
        ee->val_in = 0;
    }
    if (!(pins & E1000_EECD_SK) || (old & E1000_EECD_SK)) {
        return; /* act on rising clock edges only */
    }
    if (ee->reading) {
        ee->out_pos++;
        if (ee->out_pos >= 16 * E1000_EEPROM_WORDS) {
            ee->out_pos = 0;
            ee->addr = 0;
        }
        return;
    }
    if (ee->ignoring) {
        return;
    }
    bool di = pins & E1000_EECD_DI;
    if (ee->bits_in == 0 && !di) {
        return; /* leading zeros before the start bit */
    }
    ee->val_in = ee->val_in << 1 | di;
    ee->bits_in++;
    if (ee->bits_in == 3 + E1000_EEPROM_ADDR_BITS) {
        unsigned opcode = (ee->val_in >> E1000_EEPROM_ADDR_BITS) & 7;
        if (opcode == EEPROM_READ_OPCODE_MICROWIRE) {
            ee->reading = true;
            ee->addr = ee->val_in & (E1000_EEPROM_WORDS - 1);
            ee->out_pos = -1;
        } else {
            ee->ignoring = true;
        }
    }
}

/* EERD (SDM 13.4.4): START reads the word at ADDR at once; DONE and the
 * data are there on the next read. The 64-word part decodes 6 address bits. */
static void set_eerd(E1000State *s, int index, uint32_t val)
{
    (void)index;
    uint32_t addr = (val & E1000_EERD_ADDR_MASK) >> E1000_EERD_ADDR_SHIFT;
    if (!(val & E1000_EERD_START)) {
        s->mac_reg[R(E1000_EERD)] = val & E1000_EERD_ADDR_MASK;
        return;
    }
    uint16_t data = s->eeprom[addr % E1000_EEPROM_WORDS];
    s->mac_reg[R(E1000_EERD)] =
        (uint32_t)data << E1000_EERD_DATA_SHIFT | addr << E1000_EERD_ADDR_SHIFT | E1000_EERD_DONE;
}

/* ------------------------------------------------------------------------ */
/* PHY: Marvell 88E1011 behind MDIC (SDM 13.4.6, 8.x)                        */

static void phy_reset(E1000State *s)
{
    memset(s->phy_reg, 0, sizeof(s->phy_reg));
    s->phy_reg[PHY_CTRL] = MII_CR_AUTO_NEG_EN | MII_CR_FULL_DUPLEX | MII_CR_SPEED_SELECT_MSB;
    s->phy_reg[PHY_ID1] = M88E1011_PHY_ID1;
    s->phy_reg[PHY_ID2] = M88E1011_PHY_ID2;
    s->phy_reg[PHY_AUTONEG_ADV] = NWAY_AR_SELECTOR_802_3 | NWAY_AR_10T_HD_CAPS |
                                  NWAY_AR_10T_FD_CAPS | NWAY_AR_100TX_HD_CAPS |
                                  NWAY_AR_100TX_FD_CAPS;
    s->phy_reg[PHY_NEXT_PAGE_TX] = 0x2001;
    s->phy_reg[PHY_1000T_CTRL] = CR_1000T_HD_CAPS | CR_1000T_FD_CAPS;
    s->phy_reg[PHY_EXT_STATUS] = IEEE_ESR_1000T_HD_CAPS | IEEE_ESR_1000T_FD_CAPS;
    s->phy_reg[M88E1000_PHY_SPEC_CTRL] = M88E1000_PSCR_AUTO_X_MODE;
    s->phy_reg[M88E1000_EXT_PHY_SPEC_CTRL] = 0x0060;
    s->phy_reg[M88E1000_LED_CTRL] = 0x4100;
}

enum { SPEED_10 = 0, SPEED_100 = 1, SPEED_1000 = 2 }; /* as STATUS.SPEED, PSSR 15:14 */

/* The mode the PHY settles on with the virtual link partner, which offers
 * everything from 10 half to 1000 full: the best mode both advertise, or
 * what PHY_CTRL forces with autonegotiation off. False if there is no
 * common mode (then there is no link). */
static bool phy_resolve(const E1000State *s, unsigned *speed, bool *fd)
{
    uint16_t bmcr = s->phy_reg[PHY_CTRL];
    if (!(bmcr & MII_CR_AUTO_NEG_EN)) {
        *speed = (bmcr & MII_CR_SPEED_SELECT_MSB)   ? SPEED_1000
                 : (bmcr & MII_CR_SPEED_SELECT_LSB) ? SPEED_100
                                                    : SPEED_10;
        *fd = bmcr & MII_CR_FULL_DUPLEX;
        return true;
    }
    static const struct {
        uint8_t reg;
        uint16_t bit;
        uint8_t speed;
        bool fd;
    } modes[] = {
        {PHY_1000T_CTRL, CR_1000T_FD_CAPS, SPEED_1000, true},
        {PHY_1000T_CTRL, CR_1000T_HD_CAPS, SPEED_1000, false},
        {PHY_AUTONEG_ADV, NWAY_AR_100TX_FD_CAPS, SPEED_100, true},
        {PHY_AUTONEG_ADV, NWAY_AR_100TX_HD_CAPS, SPEED_100, false},
        {PHY_AUTONEG_ADV, NWAY_AR_10T_FD_CAPS, SPEED_10, true},
        {PHY_AUTONEG_ADV, NWAY_AR_10T_HD_CAPS, SPEED_10, false},
    };
    for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (s->phy_reg[modes[i].reg] & modes[i].bit) {
            *speed = modes[i].speed;
            *fd = modes[i].fd;
            return true;
        }
    }
    return false;
}

/* The cable is plugged when the peer link is up; the PHY sees it unless it
 * is powered down or held in reset (CTRL.PHY_RST). Autonegotiation with the
 * virtual partner completes as soon as it is (re)started. */
static bool phy_link_up(const E1000State *s)
{
    unsigned speed;
    bool fd;
    return s->nic && !s->nic->link_down && !(s->phy_reg[PHY_CTRL] & MII_CR_POWER_DOWN) &&
           !(s->mac_reg[R(E1000_CTRL)] & E1000_CTRL_PHY_RST) && phy_resolve(s, &speed, &fd);
}

enum { PHY_R = 1, PHY_W = 2 };
static const uint8_t phy_access[E1000_PHY_REGS] = {
    [PHY_CTRL] = PHY_R | PHY_W,
    [PHY_STATUS] = PHY_R,
    [PHY_ID1] = PHY_R,
    [PHY_ID2] = PHY_R,
    [PHY_AUTONEG_ADV] = PHY_R | PHY_W,
    [PHY_LP_ABILITY] = PHY_R,
    [PHY_AUTONEG_EXP] = PHY_R,
    [PHY_NEXT_PAGE_TX] = PHY_R | PHY_W,
    [PHY_LP_NEXT_PAGE] = PHY_R,
    [PHY_1000T_CTRL] = PHY_R | PHY_W,
    [PHY_1000T_STATUS] = PHY_R,
    [PHY_EXT_STATUS] = PHY_R,
    [M88E1000_PHY_SPEC_CTRL] = PHY_R | PHY_W,
    [M88E1000_PHY_SPEC_STATUS] = PHY_R,
    [M88E1000_INT_ENABLE] = PHY_R | PHY_W,
    [M88E1000_INT_STATUS] = PHY_R,
    [M88E1000_EXT_PHY_SPEC_CTRL] = PHY_R | PHY_W,
    [M88E1000_RX_ERR_CNTR] = PHY_R,
    [M88E1000_LED_CTRL] = PHY_R | PHY_W,
    [M88E1000_PHY_EXT_CTRL] = PHY_R | PHY_W,
    [M88E1000_PHY_PAGE_SELECT] = PHY_R | PHY_W,
    [M88E1000_PHY_GEN_CONTROL] = PHY_R | PHY_W,
};

static uint16_t phy_read(E1000State *s, unsigned reg)
{
    bool link = phy_link_up(s);
    bool an = s->phy_reg[PHY_CTRL] & MII_CR_AUTO_NEG_EN;
    switch (reg) {
    case PHY_STATUS: {
        uint16_t v = MII_SR_EXTENDED_CAPS | MII_SR_AUTONEG_CAPS | MII_SR_PREAMBLE_SUPPRESS |
                     MII_SR_EXTENDED_STATUS | MII_SR_10T_HD_CAPS | MII_SR_10T_FD_CAPS |
                     MII_SR_100X_HD_CAPS | MII_SR_100X_FD_CAPS;
        if (link) {
            v |= MII_SR_LINK_STATUS | (an ? MII_SR_AUTONEG_COMPLETE : 0);
        }
        return v;
    }
    case PHY_LP_ABILITY: /* the partner: 10/100 half and full, no PAUSE */
        return link && an ? NWAY_LPAR_ACKNOWLEDGE | NWAY_AR_SELECTOR_802_3 | NWAY_AR_10T_HD_CAPS |
                                NWAY_AR_10T_FD_CAPS | NWAY_AR_100TX_HD_CAPS | NWAY_AR_100TX_FD_CAPS
                          : 0;
    case PHY_AUTONEG_EXP:
        return link && an ? NWAY_ER_LP_NWAY_CAPS : 0;
    case PHY_1000T_STATUS:
        return link ? SR_1000T_LOCAL_RX_STATUS | SR_1000T_REMOTE_RX_STATUS | SR_1000T_LP_FD_CAPS |
                          SR_1000T_LP_HD_CAPS
                    : 0;
    case M88E1000_PHY_SPEC_STATUS: {
        unsigned speed;
        bool fd;
        if (!link || !phy_resolve(s, &speed, &fd)) {
            return 0;
        }
        return (uint16_t)(speed << 14 | (fd ? M88E1000_PSSR_DPLX : 0) |
                          M88E1000_PSSR_SPD_DPLX_RESOLVED | M88E1000_PSSR_LINK);
    }
    case M88E1000_INT_STATUS:
    case M88E1000_RX_ERR_CNTR:
    case PHY_LP_NEXT_PAGE:
        return 0;
    default:
        return s->phy_reg[reg];
    }
}

static void phy_write(E1000State *s, unsigned reg, uint16_t val)
{
    if (!(phy_access[reg] & PHY_W)) {
        return; /* read-only: the PHY ignores the write */
    }
    if (reg == PHY_CTRL) {
        /* RESET (a software reset: it applies the configuration and keeps
         * what software wrote, as on the 88E1011) and RESTART_AUTO_NEG are
         * self-clearing. With our partner autonegotiation finishes at once:
         * the link is back before the driver's first poll. */
        val &= (uint16_t) ~(MII_CR_RESET | MII_CR_RESTART_AUTO_NEG);
        s->phy_reg[PHY_CTRL] = val;
        e1000_update_link(s, true);
        return;
    }
    s->phy_reg[reg] = val;
}

static void set_mdic(E1000State *s, int index, uint32_t val)
{
    (void)index;
    unsigned reg = (val & E1000_MDIC_REG_MASK) >> E1000_MDIC_REG_SHIFT;
    unsigned phy = (val & E1000_MDIC_PHY_MASK) >> E1000_MDIC_PHY_SHIFT;
    uint32_t op = val & E1000_MDIC_OP_MASK;

    if (phy != E1000_PHY_ADDR) {
        val |= E1000_MDIC_ERROR; /* nobody answers at that address */
    } else if (op == E1000_MDIC_OP_READ) {
        if (phy_access[reg] & PHY_R) {
            val = (val & ~E1000_MDIC_DATA_MASK) | phy_read(s, reg);
        } else {
            val |= E1000_MDIC_ERROR;
        }
    } else if (op == E1000_MDIC_OP_WRITE) {
        if (phy_access[reg]) {
            phy_write(s, reg, (uint16_t)(val & E1000_MDIC_DATA_MASK));
        } else {
            val |= E1000_MDIC_ERROR;
        }
    } else {
        val |= E1000_MDIC_ERROR; /* opcodes 00 and 11 are reserved */
    }
    /* the MDIO cycle is over by the time software looks */
    s->mac_reg[R(E1000_MDIC)] = val | E1000_MDIC_READY;
    if (val & E1000_MDIC_INT_EN) {
        set_ics(s, E1000_ICR_MDAC);
    }
}

/* STATUS.LU is the PHY's link as the MAC sees it: with the internal PHY the
 * MAC takes it only while CTRL.SLU is set (SDM 8.2.x). A change raises LSC. */
static void e1000_update_link(E1000State *s, bool notify)
{
    bool up = (s->mac_reg[R(E1000_CTRL)] & E1000_CTRL_SLU) && phy_link_up(s);
    if (up == s->link_up) {
        return;
    }
    s->link_up = up;
    TRACE(e1000_link, "%s (STATUS.LU=%d)%s", s->obj.id ? s->obj.id : "e1000", up,
          notify ? ", LSC" : "");
    if (notify) {
        set_ics(s, E1000_ICR_LSC);
    }
}

static void e1000_set_link_status(NetClient *nc)
{
    e1000_update_link(nc->opaque, true);
}

/* ------------------------------------------------------------------------ */
/* Reset                                                                    */

static void e1000_tx_reset_packet(E1000Tx *tx)
{
    tx->in_packet = tx->tse = tx->gso = tx->drop = tx->hdr_saved = false;
    tx->popts = 0;
    tx->vle = false;
    tx->vlan_tci = 0;
    tx->legacy_ic = false;
    tx->size = tx->tso_frames = tx->tso_payload = tx->total = 0;
    tx->desc_pending = false;
}

static void e1000_load_rar0(E1000State *s)
{
    const uint8_t *m = s->macaddr;
    s->mac_reg[R(E1000_RA)] = (uint32_t)m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24;
    s->mac_reg[R(E1000_RA) + 1] = (uint32_t)m[4] | m[5] << 8 | E1000_RAH_AV;
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

typedef uint32_t (*MacRegReadOp)(E1000State *s, int index);
typedef void (*MacRegWriteOp)(E1000State *s, int index, uint32_t val);

static uint32_t mac_readreg(E1000State *s, int index)
{
    return s->mac_reg[index];
}

/* Statistics: clear on read. The 64-bit octet counters clear when their high
 * half is read (the driver reads low, then high). */
static uint32_t mac_read_clr4(E1000State *s, int index)
{
    uint32_t v = s->mac_reg[index];
    s->mac_reg[index] = 0;
    return v;
}

static uint32_t mac_read_clr8(E1000State *s, int index)
{
    uint32_t v = s->mac_reg[index];
    s->mac_reg[index] = 0;
    s->mac_reg[index - 1] = 0;
    return v;
}

/* STATUS (SDM 13.4.2): speed and duplex follow the PHY unless CTRL forces
 * them (FRCSPD / FRCDPX); ASDV is what the PHY detected. */
static uint32_t get_status(E1000State *s, int index)
{
    (void)index;
    uint32_t ctrl = s->mac_reg[R(E1000_CTRL)];
    unsigned speed = SPEED_1000, phy_speed;
    bool fd = true;
    if (phy_resolve(s, &phy_speed, &fd)) {
        speed = phy_speed;
    }
    phy_speed = speed;
    if (ctrl & E1000_CTRL_FRCSPD) {
        speed = (ctrl & E1000_CTRL_SPD_SEL) >> 8;
        speed = speed > SPEED_1000 ? SPEED_1000 : speed;
    }
    if (ctrl & E1000_CTRL_FRCDPX) {
        fd = ctrl & E1000_CTRL_FD;
    }
    uint32_t v = speed << 6 | phy_speed << 8;
    if (fd) {
        v |= E1000_STATUS_FD;
    }
    if (s->link_up) {
        v |= E1000_STATUS_LU;
    }
    return v;
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

static void mac_writereg(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val;
}

static void mac_write_ro(E1000State *s, int index, uint32_t val)
{
    (void)s;
    (void)index;
    (void)val;
}

static void set_16bit(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0xffff;
}

/* RDLEN/TDLEN: a multiple of 128 bytes; the low 7 bits read as zero. */
static void set_dlen(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0x000FFF80;
}

/* RDBAL/TDBAL: 16-byte aligned; the low 4 bits read as zero. */
static void set_dbal(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0xFFFFFFF0;
}

static void set_rah(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0x8003FFFF;
    net_rx_filter_changed(s->nic); /* an address (RAL, then RAH) was written */
}

static void set_mta(E1000State *s, int index, uint32_t val)
{
    if (s->mac_reg[index] != val) {
        net_rx_filter_changed(s->nic);
    }
    s->mac_reg[index] = val;
}

static void set_fcrtl(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0x8000FFF8;
}

static void set_fcrth(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0x0000FFF8;
}

static void set_tipg(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0x3FFFFFFF;
}

static void set_txcw(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0xC000FFFF;
}

static void set_rxcsum(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & (E1000_RXCSUM_PCSS_MASK | E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL);
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
    s->mac_reg[index] = val & ~E1000_CTRL_EXT_EE_RST;
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
    s->mac_reg[index] = val & 0xffff;
    /* a shorter interval may let a held-back interrupt through now */
    if (timer_pending(s->mit_timer)) {
        int64_t limit = clock_ns() + (int64_t)(val & 0xffff) * 256;
        if (s->next_irq_ns > limit) {
            s->next_irq_ns = limit;
            timer_mod(s->mit_timer, limit);
        }
    }
}

/* ---- receive-side registers ---- */

static uint32_t rx_ring_count(const E1000State *s)
{
    return s->mac_reg[R(E1000_RDLEN)] / sizeof(struct e1000_rx_desc);
}

/* Descriptors the guest has handed to the device: from RDH up to, not
 * including, RDT. A head or tail outside the ring means none (we never
 * guess which descriptors the guest meant). */
static uint32_t rx_free_descs(const E1000State *s)
{
    uint32_t n = rx_ring_count(s);
    uint32_t h = s->mac_reg[R(E1000_RDH)], t = s->mac_reg[R(E1000_RDT)];
    if (n == 0 || h >= n || t >= n) {
        return 0;
    }
    return t >= h ? t - h : n - h + t;
}

static bool e1000_rx_enabled(const E1000State *s)
{
    return (s->mac_reg[R(E1000_RCTL)] & E1000_RCTL_EN) && bus_master(s);
}

/* Packets that waited in the net layer can come in now: one run's worth
 * (E1000_WORK_BUDGET, enforced by e1000_can_receive), the rest from
 * rx_timer. */
static void e1000_flush_rx(E1000State *s)
{
    if (s->nic && e1000_rx_enabled(s) && rx_free_descs(s) && !s->rx_flushing) {
        s->rx_work = 0;
        s->rx_flushing = true;
        net_flush_queued(s->nic);
        s->rx_flushing = false;
    }
}

static void e1000_rx_continue(void *opaque)
{
    e1000_flush_rx(opaque);
}

/* Account @n units of work to a run, saturating. */
static void work_add(uint32_t *work, uint32_t n)
{
    *work = *work > UINT32_MAX - n ? UINT32_MAX : *work + n;
}

/* A run spent its budget: the next one runs from the main loop's next
 * round, after the events that came meanwhile (the TAP, the monitor) and
 * after any thread waiting for the device lock (the loop lets a waiter go
 * first, core/loop.c), so a guest that keeps the unit busy delays a vCPU's
 * register access by one run at most. */
static void continue_later(Timer *t)
{
    timer_mod(t, clock_ns() + 1); /* + 1: not again in this round's timer pass */
}

static void set_rctl(E1000State *s, int index, uint32_t val)
{
    const uint32_t filter = E1000_RCTL_UPE | E1000_RCTL_MPE | E1000_RCTL_BAM | E1000_RCTL_VFE;
    if ((s->mac_reg[index] ^ val) & filter) {
        net_rx_filter_changed(s->nic);
    }
    s->mac_reg[index] = val;
    e1000_flush_rx(s); /* enabling reception releases what waited */
}

static void set_rdt(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0xffff;
    e1000_flush_rx(s);
}

static void set_rdtr(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0xffff;
    /* FPD (write-only): flush the partial descriptor block, i.e. fire the
     * pending receive-timer interrupt now */
    if ((val & E1000_RDTR_FPD) && (timer_pending(s->rdtr_timer) || timer_pending(s->radv_timer))) {
        e1000_rx_irq_fire(s);
    }
}

/* ---- transmit-side registers ---- */

static void set_tctl(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val;
    start_xmit(s);
}

static void set_tdt(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0xffff;
    start_xmit(s);
}

/* TDH written: the guest (re)initialises the ring; a half-assembled packet
 * from before belongs to nobody. */
static void set_tdh(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & 0xffff;
    e1000_tx_reset_packet(&s->tx);
}

#define RANGE(first, last) [R(first)... R(last)]

static const MacRegReadOp macreg_readops[] = {
    [R(E1000_CTRL)] = mac_readreg,
    [R(E1000_STATUS)] = get_status,
    [R(E1000_EECD)] = get_eecd,
    [R(E1000_EERD)] = mac_readreg,
    [R(E1000_CTRL_EXT)] = mac_readreg,
    [R(E1000_MDIC)] = mac_readreg,
    [R(E1000_FCAL)] = mac_readreg,
    [R(E1000_FCAH)] = mac_readreg,
    [R(E1000_FCT)] = mac_readreg,
    [R(E1000_VET)] = mac_readreg,
    [R(E1000_ICR)] = mac_icr_read,
    [R(E1000_ITR)] = mac_readreg,
    [R(E1000_IMS)] = mac_readreg,
    [R(E1000_RCTL)] = mac_readreg,
    [R(E1000_FCTTV)] = mac_readreg,
    [R(E1000_TXCW)] = mac_readreg,
    [R(E1000_RXCW)] = mac_readreg,
    [R(E1000_TCTL)] = mac_readreg,
    [R(E1000_TIPG)] = mac_readreg,
    [R(E1000_AIT)] = mac_readreg,
    [R(E1000_LEDCTL)] = mac_readreg,
    [R(E1000_PBA)] = mac_readreg,
    [R(E1000_FCRTL)] = mac_readreg,
    [R(E1000_FCRTH)] = mac_readreg,
    [R(E1000_RDFH)] = mac_readreg,
    [R(E1000_RDFT)] = mac_readreg,
    [R(E1000_RDFHS)] = mac_readreg,
    [R(E1000_RDFTS)] = mac_readreg,
    [R(E1000_RDFPC)] = mac_readreg,
    [R(E1000_RDBAL)] = mac_readreg,
    [R(E1000_RDBAH)] = mac_readreg,
    [R(E1000_RDLEN)] = mac_readreg,
    [R(E1000_RDH)] = mac_readreg,
    [R(E1000_RDT)] = mac_readreg,
    [R(E1000_RDTR)] = mac_readreg,
    [R(E1000_RXDCTL)] = mac_readreg,
    [R(E1000_RADV)] = mac_readreg,
    [R(E1000_RSRPD)] = mac_readreg,
    [R(E1000_TXDMAC)] = mac_readreg,
    [R(E1000_TDFH)] = mac_readreg,
    [R(E1000_TDFT)] = mac_readreg,
    [R(E1000_TDFHS)] = mac_readreg,
    [R(E1000_TDFTS)] = mac_readreg,
    [R(E1000_TDFPC)] = mac_readreg,
    [R(E1000_TDBAL)] = mac_readreg,
    [R(E1000_TDBAH)] = mac_readreg,
    [R(E1000_TDLEN)] = mac_readreg,
    [R(E1000_TDH)] = mac_readreg,
    [R(E1000_TDT)] = mac_readreg,
    [R(E1000_TIDV)] = mac_readreg,
    [R(E1000_TXDCTL)] = mac_readreg,
    [R(E1000_TADV)] = mac_readreg,
    [R(E1000_TSPMT)] = mac_readreg,
    /* statistics */
    RANGE(E1000_CRCERRS, E1000_GPTC) = mac_read_clr4,
    [R(E1000_GORCL)] = mac_readreg,
    [R(E1000_GORCH)] = mac_read_clr8,
    [R(E1000_GOTCL)] = mac_readreg,
    [R(E1000_GOTCH)] = mac_read_clr8,
    RANGE(E1000_RNBC, E1000_MGTPTC) = mac_read_clr4,
    [R(E1000_TORL)] = mac_readreg,
    [R(E1000_TORH)] = mac_read_clr8,
    [R(E1000_TOTL)] = mac_readreg,
    [R(E1000_TOTH)] = mac_read_clr8,
    RANGE(E1000_TPR, E1000_TSCTFC) = mac_read_clr4,
    /* filters and wake-up */
    [R(E1000_RXCSUM)] = mac_readreg,
    RANGE(E1000_MTA, E1000_MTA + 4 * E1000_MC_TBL_SIZE - 4) = mac_readreg,
    RANGE(E1000_RA, E1000_RA + 8 * E1000_RAR_ENTRIES - 4) = mac_readreg,
    RANGE(E1000_VFTA, E1000_VFTA + 4 * E1000_VLAN_FILTER_TBL_SIZE - 4) = mac_readreg,
    [R(E1000_WUC)] = mac_readreg,
    [R(E1000_WUFC)] = mac_readreg,
    [R(E1000_WUS)] = mac_readreg,
    [R(E1000_MANC)] = mac_readreg,
    [R(E1000_IPAV)] = mac_readreg,
    RANGE(E1000_IP4AT, E1000_IP4AT + 0x1C) = mac_readreg,
    RANGE(E1000_IP6AT, E1000_IP6AT + 0x0C) = mac_readreg,
    [R(E1000_WUPL)] = mac_readreg,
    RANGE(E1000_WUPM, E1000_WUPM + 0x7C) = mac_readreg,
    RANGE(E1000_FFLT, E1000_FFLT + 0x1C) = mac_readreg,
    RANGE(E1000_FFMT, E1000_FFMT + 0x3FC) = mac_readreg,
    RANGE(E1000_FFVT, E1000_FFVT + 0x3FC) = mac_readreg,
};

static const MacRegWriteOp macreg_writeops[] = {
    [R(E1000_CTRL)] = set_ctrl,
    [R(E1000_STATUS)] = mac_write_ro,
    [R(E1000_EECD)] = set_eecd,
    [R(E1000_EERD)] = set_eerd,
    [R(E1000_CTRL_EXT)] = set_ctrl_ext,
    [R(E1000_MDIC)] = set_mdic,
    [R(E1000_FCAL)] = mac_writereg,
    [R(E1000_FCAH)] = set_16bit,
    [R(E1000_FCT)] = set_16bit,
    [R(E1000_VET)] = set_16bit,
    [R(E1000_ICR)] = set_icr,
    [R(E1000_ITR)] = set_itr,
    [R(E1000_ICS)] = set_ics_reg,
    [R(E1000_IMS)] = set_ims,
    [R(E1000_IMC)] = set_imc,
    [R(E1000_RCTL)] = set_rctl,
    [R(E1000_FCTTV)] = set_16bit,
    [R(E1000_TXCW)] = set_txcw,
    [R(E1000_TCTL)] = set_tctl,
    [R(E1000_TIPG)] = set_tipg,
    [R(E1000_AIT)] = set_16bit,
    [R(E1000_LEDCTL)] = mac_writereg,
    [R(E1000_PBA)] = mac_writereg,
    [R(E1000_FCRTL)] = set_fcrtl,
    [R(E1000_FCRTH)] = set_fcrth,
    [R(E1000_RDFH)] = set_16bit,
    [R(E1000_RDFT)] = set_16bit,
    [R(E1000_RDFHS)] = set_16bit,
    [R(E1000_RDFTS)] = set_16bit,
    [R(E1000_RDFPC)] = set_16bit,
    [R(E1000_RDBAL)] = set_dbal,
    [R(E1000_RDBAH)] = mac_writereg,
    [R(E1000_RDLEN)] = set_dlen,
    [R(E1000_RDH)] = set_16bit,
    [R(E1000_RDT)] = set_rdt,
    [R(E1000_RDTR)] = set_rdtr,
    [R(E1000_RXDCTL)] = mac_writereg,
    [R(E1000_RADV)] = set_16bit,
    [R(E1000_RSRPD)] = set_16bit,
    [R(E1000_TXDMAC)] = mac_writereg,
    [R(E1000_TDFH)] = set_16bit,
    [R(E1000_TDFT)] = set_16bit,
    [R(E1000_TDFHS)] = set_16bit,
    [R(E1000_TDFTS)] = set_16bit,
    [R(E1000_TDFPC)] = set_16bit,
    [R(E1000_TDBAL)] = set_dbal,
    [R(E1000_TDBAH)] = mac_writereg,
    [R(E1000_TDLEN)] = set_dlen,
    [R(E1000_TDH)] = set_tdh,
    [R(E1000_TDT)] = set_tdt,
    [R(E1000_TIDV)] = set_16bit,
    [R(E1000_TXDCTL)] = mac_writereg,
    [R(E1000_TADV)] = set_16bit,
    [R(E1000_TSPMT)] = mac_writereg,
    [R(E1000_RXCSUM)] = set_rxcsum,
    RANGE(E1000_MTA, E1000_MTA + 4 * E1000_MC_TBL_SIZE - 4) = set_mta,
    RANGE(E1000_VFTA, E1000_VFTA + 4 * E1000_VLAN_FILTER_TBL_SIZE - 4) = mac_writereg,
    [R(E1000_WUC)] = mac_writereg,
    [R(E1000_WUFC)] = mac_writereg,
    [R(E1000_WUS)] = set_w1c,
    [R(E1000_MANC)] = mac_writereg,
    [R(E1000_IPAV)] = mac_writereg,
    RANGE(E1000_IP4AT, E1000_IP4AT + 0x1C) = mac_writereg,
    RANGE(E1000_IP6AT, E1000_IP6AT + 0x0C) = mac_writereg,
    [R(E1000_WUPL)] = mac_writereg,
    RANGE(E1000_WUPM, E1000_WUPM + 0x7C) = mac_writereg,
    RANGE(E1000_FFLT, E1000_FFLT + 0x1C) = mac_writereg,
    RANGE(E1000_FFMT, E1000_FFMT + 0x3FC) = mac_writereg,
    RANGE(E1000_FFVT, E1000_FFVT + 0x3FC) = mac_writereg,
};

#define N_READOPS (sizeof(macreg_readops) / sizeof(macreg_readops[0]))
#define N_WRITEOPS (sizeof(macreg_writeops) / sizeof(macreg_writeops[0]))

/* RAL/RAH pairs: RAL plain, RAH with its writable mask. */
static MacRegWriteOp ra_writeop(unsigned index)
{
    if (index >= R(E1000_RA) && index < R(E1000_RA) + 2 * E1000_RAR_ENTRIES) {
        return (index & 1) ? set_rah : mac_writereg;
    }
    return NULL;
}

static uint32_t e1000_reg_read(E1000State *s, unsigned index)
{
    uint32_t v = 0; /* reserved or unimplemented: reads as zero */
    if (index < N_READOPS && macreg_readops[index]) {
        v = macreg_readops[index](s, (int)index);
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
    MacRegWriteOp op = ra_writeop(index);
    if (!op && index < N_WRITEOPS) {
        op = macreg_writeops[index];
    }
    if (op) {
        op(s, (int)index, val);
    }
}

/* Registers whose write is an action rather than a store: a narrow write
 * must not replay the other bytes' old contents into them. */
static bool reg_write_is_action(unsigned index)
{
    switch (index) {
    case R(E1000_ICR):
    case R(E1000_ICS):
    case R(E1000_IMS):
    case R(E1000_IMC):
    case R(E1000_WUS):
        return true;
    default:
        return false;
    }
}

/* ---- doorbells ----
 *
 * The tail registers are the device's doorbells: the guest writes TDT to
 * hand over packets and RDT to hand back buffers. Instead of a VM exit per
 * write, a tail value the guest has written once (and so will likely write
 * again: a driver cycles through the same values lap after lap) gets a KVM
 * ioeventfd with that value as datamatch. The next write of it does not
 * leave KVM: the vCPU goes on at once, and the main loop learns which value
 * was written from which eventfd fired. Values are learnt one per exiting
 * write (registering one costs KVM an SRCU grace period, ~1-2 ms on the
 * development host), so no single guest access pays for more than one, and
 * a doorbell stays valid whatever the ring length: it is the same write.
 *
 * Tails only move forward (the guest cannot pass the head), so when several
 * fired the newest is the one furthest ahead of the current tail. Every
 * register access the guest makes to the device first takes in the doorbells
 * that rang, so the guest never sees them out of order (e.g. reading TDT
 * back, or a value without a doorbell written after one with). */
static void e1000_doorbells_drop(E1000State *s, int ring)
{
    MemoryRegion *mr = &s->pci.bar[0].region;
    for (uint32_t i = 0; i < s->db_count[ring]; i++) {
        memory_region_del_ioeventfds(mr, s->db_fd[ring][i]);
        close(s->db_fd[ring][i]);
    }
    s->db_count[ring] = 0;
}

static void e1000_doorbells_take(E1000State *s)
{
    /* writes the guest posted came before any doorbell it rang after them */
    e1000_take_posted(s);
    if (s->db_epfd < 0 || (!s->db_count[DB_TX] && !s->db_count[DB_RX])) {
        return;
    }
    struct epoll_event ev[64];
    uint32_t best[2] = {0, 0}, best_dist[2] = {0, 0};
    bool rang[2] = {false, false};
    /* all that rang, in batches (bounded: each read resets its eventfd, so
     * a fd is reported once; 2 x E1000_DOORBELL_MAX at most) */
    for (int n = 64, round = 0; n == 64 && round < 2 * E1000_DOORBELL_MAX / 64 + 1; round++) {
        n = epoll_wait(s->db_epfd, ev, 64, 0);
        for (int i = 0; i < n; i++) {
            int ring = (int)(ev[i].data.u32 >> 16);
            uint32_t slot = ev[i].data.u32 & 0xffff;
            uint64_t cnt;
            if (ring > DB_RX || slot >= s->db_count[ring] ||
                read(s->db_fd[ring][slot], &cnt, sizeof(cnt)) != sizeof(cnt)) {
                continue;
            }
            exitstats_record_doorbell(&s->pci.bar[0].region, ring == DB_TX ? E1000_TDT : E1000_RDT,
                                      cnt);
            uint32_t v = s->db_value[ring][slot];
            uint32_t size = s->mac_reg[ring == DB_TX ? R(E1000_TDLEN) : R(E1000_RDLEN)] / 16;
            uint32_t cur = s->mac_reg[ring == DB_TX ? R(E1000_TDT) : R(E1000_RDT)];
            /* a value beyond the ring is a guest error: take it, but as the
             * nearest so that a valid newer one wins */
            uint32_t dist = size && v < size ? (v + size - cur % size) % size : 0;
            if (!rang[ring] || dist > best_dist[ring]) {
                best[ring] = v;
                best_dist[ring] = dist;
            }
            rang[ring] = true;
        }
    }
    if (rang[DB_RX]) {
        TRACE(e1000_mmio_write, "RDT <- %#x (doorbell: KVM ioeventfd, no exit)", best[DB_RX]);
        set_rdt(s, R(E1000_RDT), best[DB_RX]);
    }
    if (rang[DB_TX]) {
        TRACE(e1000_mmio_write, "TDT <- %#x (doorbell: KVM ioeventfd, no exit)", best[DB_TX]);
        set_tdt(s, R(E1000_TDT), best[DB_TX]);
    }
}

static void e1000_doorbell_ready(void *opaque)
{
    e1000_doorbells_take(opaque);
}

/* Values learnt per exiting tail write: the one written and the next ones
 * around the ring, which a driver writes next (the Linux driver moves the
 * tail by one or two descriptors per packet), so that a driver's first lap
 * exits once per E1000_DOORBELL_AHEAD values instead of once per value.
 * Bounds the exit's extra cost to that many KVM_IOEVENTFD calls. */
#define E1000_DOORBELL_AHEAD 8

static bool e1000_doorbell_known(E1000State *s, int ring, uint32_t value)
{
    for (uint32_t i = 0; i < s->db_count[ring]; i++) {
        if (s->db_value[ring][i] == value) {
            return true;
        }
    }
    return false;
}

static bool e1000_doorbell_add(E1000State *s, int ring, uint32_t value)
{
    uint32_t slot = s->db_count[ring];
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = ((uint32_t)ring << 16) | slot};
    if (fd < 0 || epoll_ctl(s->db_epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ||
        memory_region_add_ioeventfd(&s->pci.bar[0].region, ring == DB_TX ? E1000_TDT : E1000_RDT, 4,
                                    true, value, fd) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        s->db_full = true; /* out of fds or KVM's bus is full: writes exit */
        return false;
    }
    s->db_fd[ring][slot] = fd;
    s->db_value[ring][slot] = (uint16_t)value;
    s->db_count[ring] = slot + 1;
    return true;
}

/* A 4-byte tail write exited: give its value (and the next ones) a doorbell
 * for next time. A value that has one already exited because the doorbell
 * was registered after the guest's write was on its way. */
static void e1000_doorbell_learn(E1000State *s, int ring, uint32_t value)
{
    if (s->db_epfd < 0) {
        return;
    }
    uint32_t size = s->mac_reg[ring == DB_TX ? R(E1000_TDLEN) : R(E1000_RDLEN)] / 16;
    uint32_t n =
        size && value < size ? (size < E1000_DOORBELL_AHEAD ? size : E1000_DOORBELL_AHEAD) : 1;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t v = n > 1 ? (value + k) % size : value;
        if (e1000_doorbell_known(s, ring, v)) {
            continue;
        }
        if (s->db_full || s->db_count[ring] >= E1000_DOORBELL_MAX ||
            !e1000_doorbell_add(s, ring, v)) {
            return;
        }
    }
}

/* Accesses of 1, 2, 4 or 8 bytes at any offset: each dword touched is read
 * whole (with its side effects) or written whole; a partial write merges the
 * new bytes into the register's current value. */
static uint64_t e1000_mmio_read(void *opaque, uint64_t addr, unsigned size)
{
    E1000State *s = opaque;
    uint64_t val = 0;
    e1000_doorbells_take(s);
    if (size > 8 || addr >= E1000_MMIO_SIZE) {
        return 0;
    }
    for (uint64_t a = addr & ~3ULL; a < addr + size; a += 4) {
        uint32_t v = a < E1000_MMIO_SIZE ? e1000_reg_read(s, (unsigned)(a >> 2)) : 0;
        for (unsigned b = 0; b < 4; b++) {
            uint64_t byte_addr = a + b;
            if (byte_addr >= addr && byte_addr < addr + size) {
                val |= (uint64_t)((v >> (8 * b)) & 0xff) << (8 * (byte_addr - addr));
            }
        }
    }
    return val;
}

static void e1000_mmio_write(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    E1000State *s = opaque;
    e1000_doorbells_take(s);
    if (size > 8 || addr >= E1000_MMIO_SIZE) {
        return;
    }
    for (uint64_t a = addr & ~3ULL; a < addr + size && a < E1000_MMIO_SIZE; a += 4) {
        unsigned index = (unsigned)(a >> 2);
        uint32_t mask = 0, v = 0;
        for (unsigned b = 0; b < 4; b++) {
            uint64_t byte_addr = a + b;
            if (byte_addr >= addr && byte_addr < addr + size) {
                mask |= 0xffu << (8 * b);
                v |= (uint32_t)((val >> (8 * (byte_addr - addr))) & 0xff) << (8 * b);
            }
        }
        if (mask != 0xffffffffu && !reg_write_is_action(index)) {
            v |= s->mac_reg[index] & ~mask;
        }
        e1000_reg_write(s, index, v);
    }
}

/* A write that left KVM (a VM exit): a tail value learns its doorbell. */
static void e1000_mmio_write_exit(void *opaque, uint64_t addr, uint64_t val, unsigned size)
{
    E1000State *s = opaque;
    e1000_mmio_write(s, addr, val, size);
    if (size == 4 && (addr == E1000_TDT || addr == E1000_RDT)) {
        e1000_doorbell_learn(s, addr == E1000_TDT ? DB_TX : DB_RX, (uint32_t)val & 0xffff);
    }
}

static const MemoryRegionOps e1000_mmio_ops = {
    .read = e1000_mmio_read,
    .write = e1000_mmio_write_exit,
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
/* Transmit (SDM 3.3)                                                       */

/* Insert the complement of the checksum of [css, cse] at cso. cse == 0
 * means "to the end". Offsets outside the frame leave it alone. */
static void insert_csum(uint8_t *p, uint32_t len, uint32_t css, uint32_t cso, uint32_t cse,
                        bool nonzero)
{
    uint32_t end = (cse && cse < len) ? cse + 1 : len;
    if (css >= end || cso + 2 > len) {
        return;
    }
    uint16_t c = (uint16_t)~csum_fold(csum_add(0, p + css, end - css));
    if (nonzero && c == 0) {
        c = 0xffff; /* UDP: 0 would mean "no checksum" */
    }
    st16be(p + cso, c);
}

/* Hand one frame to the peer, inserting the VLAN tag and padding as the MAC
 * does on the wire. */
/* MAC loopback (RCTL.LBM) or PHY loopback: transmitted frames come straight
 * back in instead of reaching the wire. */
static bool e1000_loopback(const E1000State *s)
{
    return (s->mac_reg[R(E1000_RCTL)] & E1000_RCTL_LBM_MASK) == E1000_RCTL_LBM_MAC ||
           (s->phy_reg[PHY_CTRL] & MII_CR_LOOPBACK);
}

/* Statistics for one frame as it is on the wire (FCS included). */
static void tx_count_frame(E1000State *s, uint32_t wire, const uint8_t *dst)
{
    stat_inc(s, E1000_GPTC, 1);
    stat_inc(s, E1000_TPT, 1);
    stat_add64(s, E1000_GOTCL, wire + 4);
    stat_add64(s, E1000_TOTL, wire + 4);
    stat_size(s, E1000_PTC64, wire + 4);
    if (dst && (dst[0] & 1)) {
        static const uint8_t bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        stat_inc(s, memcmp(dst, bcast, ETH_ALEN) ? E1000_MPTC : E1000_BPTC, 1);
    }
}

/* Send one frame (or, with @vh, one GSO frame that the backend segments:
 * its statistics are counted by the caller, segment by segment). */
static void e1000_send_packet(E1000State *s, uint8_t *buf, uint32_t len,
                              const struct virtio_net_hdr *vh)
{
    static const struct virtio_net_hdr no_offload;
    uint8_t tag[4];
    struct iovec iov[4];
    int n = 0;
    bool vlan = s->tx.vle && len >= 2 * ETH_ALEN;
    uint32_t wire = len + (vlan ? 4 : 0);

    /* TCTL.PSP: pad short frames to the 64-byte minimum (FCS included) */
    if ((s->mac_reg[R(E1000_TCTL)] & E1000_TCTL_PSP) && wire < E1000_MIN_FRAME) {
        memset(buf + len, 0, E1000_MIN_FRAME - wire);
        len += E1000_MIN_FRAME - wire;
        wire = E1000_MIN_FRAME;
    }
    bool joined = false;
    if (s->vnet_hdr) {
        const struct virtio_net_hdr *h = vh ? vh : &no_offload;
        if (!vlan && buf == s->tx.buf) {
            memcpy(s->tx.vnet_room, h, sizeof(*h)); /* header and frame in one piece */
            iov[n++] = (struct iovec){.iov_base = s->tx.vnet_room, .iov_len = sizeof(*h) + len};
            joined = true;
        } else {
            iov[n++] = (struct iovec){.iov_base = (void *)h, .iov_len = sizeof(*h)};
        }
    }
    if (joined) {
        /* the frame is in iov[0] already */
    } else if (vlan) {
        st16be(tag, (uint16_t)s->mac_reg[R(E1000_VET)]);
        st16be(tag + 2, s->tx.vlan_tci);
        iov[n++] = (struct iovec){.iov_base = buf, .iov_len = 2 * ETH_ALEN};
        iov[n++] = (struct iovec){.iov_base = tag, .iov_len = 4};
        iov[n++] = (struct iovec){.iov_base = buf + 2 * ETH_ALEN, .iov_len = len - 2 * ETH_ALEN};
    } else {
        iov[n++] = (struct iovec){.iov_base = buf, .iov_len = len};
    }

    if (!s->link_up || !s->nic) {
        TRACE(e1000_send_packet, "len=%u lost: no carrier", wire);
        return; /* no carrier: the frame goes nowhere */
    }
    TRACE(e1000_send_packet, "len=%u%s%s", wire, vlan ? " VLAN tag inserted" : "",
          vh ? " as one GSO frame (vnet_hdr)" : "");
    work_add(&s->tx_work, E1000_FRAME_COST + wire);
    if (!vh) {
        tx_count_frame(s, wire, len >= ETH_ALEN ? buf : NULL);
    }

    bool loopback = e1000_loopback(s);
    if (loopback) {
        /* diagnostics: straight back in (the receive side's work counts
         * too); never a GSO frame (tx_start_packet) */
        work_add(&s->tx_work, E1000_FRAME_COST + wire);
        e1000_receive_iov(s->nic, iov, n);
        return;
    }
    /* The guest is never held back: if the peer is busy the frame waits in
     * its queue (or is dropped there); the descriptor is done either way. */
    net_send_iov(s->nic, iov, n, NULL);
}

/* Send what is in tx.buf as one frame: for TSO fix up this segment's
 * headers first (SDM 3.5.x), then insert the checksums POPTS asks for. */
static void xmit_seg(E1000State *s, bool last)
{
    E1000Tx *tx = &s->tx;
    uint8_t *p = tx->buf;
    uint32_t len = tx->size;
    const E1000TxContext *c = &tx->ctx;

    if (tx->tse) {
        uint32_t ipcss = c->ipcss, tucss = c->tucss;
        if (c->ip) {
            /* IPv4: total length of this segment, identification + n */
            if (ipcss + 6 <= len) {
                st16be(p + ipcss + 2, (uint16_t)(len - ipcss));
                st16be(p + ipcss + 4, (uint16_t)(ld16be(p + ipcss + 4) + tx->tso_frames));
            }
        } else if (ipcss + 40 <= len) {
            /* IPv6: payload length (everything after the fixed header) */
            st16be(p + ipcss + 4, (uint16_t)(len - ipcss - 40));
        }
        if (c->tcp) {
            if (tucss + 14 <= len) {
                st32be(p + tucss + 4, ld32be(p + tucss + 4) + tx->tso_payload);
                if (!last) {
                    p[tucss + 13] &= (uint8_t) ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
                }
            }
        } else if (tucss + 6 <= len) {
            st16be(p + tucss + 4, (uint16_t)(len - tucss)); /* UDP length */
        }
        /* The driver seeds the checksum field with the pseudo-header sum
         * without the length; the hardware adds this segment's L4 length. */
        if ((tx->popts & E1000_TXD_POPTS_TXSM) && c->tucso + 2u <= len && tucss < len) {
            uint32_t sum = ld16be(p + c->tucso) + (len - tucss);
            st16be(p + c->tucso, csum_fold(sum));
        }
    }
    if (tx->popts & E1000_TXD_POPTS_IXSM) {
        insert_csum(p, len, c->ipcss, c->ipcso, c->ipcse, false);
    }
    if (tx->popts & E1000_TXD_POPTS_TXSM) {
        insert_csum(p, len, c->tucss, c->tucso, c->tucse, true);
    }
    if (tx->legacy_ic) {
        insert_csum(p, len, tx->legacy_css, tx->legacy_cso, 0, true);
    }
    if (TRACE_ON(e1000_xmit_seg)) {
        /* the checksums as inserted, "-" where none was asked for */
        char ip[8] = "-", l4[8] = "-", leg[8] = "-";
        if ((tx->popts & E1000_TXD_POPTS_IXSM) && c->ipcso + 2u <= len) {
            snprintf(ip, sizeof(ip), "%#06x", ld16be(p + c->ipcso));
        }
        if ((tx->popts & E1000_TXD_POPTS_TXSM) && c->tucso + 2u <= len) {
            snprintf(l4, sizeof(l4), "%#06x", ld16be(p + c->tucso));
        }
        if (tx->legacy_ic && tx->legacy_cso + 2u <= len) {
            snprintf(leg, sizeof(leg), "%#06x", ld16be(p + tx->legacy_cso));
        }
        trace_emit(TRACE_e1000_xmit_seg, "len=%u%s seg=%u ip_csum=%s l4_csum=%s legacy_csum=%s",
                   len, tx->tse ? " TSO" : "", tx->tso_frames, ip, l4, leg);
    }
    e1000_send_packet(s, p, len, NULL);
    if (tx->tse) {
        tx->tso_frames++;
        tx->tso_payload += len - c->hdr_len;
    }
}

/* Take @len bytes at guest address @addr into the packet. Without TSO the
 * packet is capped at E1000_TX_MAX_FRAME (a bigger one is dropped whole,
 * never written past the buffer). With TSO every HDRLEN + MSS bytes make a
 * segment that leaves at once. */
static bool tx_tso_data(E1000State *s, uint64_t addr, uint32_t len);

static bool tx_add_data(E1000State *s, uint64_t addr, uint32_t len)
{
    E1000Tx *tx = &s->tx;

    if (tx->drop || len == 0) {
        return true;
    }
    if (tx->total + (uint64_t)len > E1000_TSO_MAX_DATA ||
        (!tx->tse && tx->size + (uint64_t)len > E1000_TX_MAX_FRAME)) {
        tx->drop = true;
        return true;
    }
    tx->total += len;
    work_add(&s->tx_work, len);
    if (!tx->tse || tx->gso) { /* buf holds E1000_TSO_MAX_DATA */
        if (dma_read(s->ram, addr, tx->buf + tx->size, len) < 0) {
            tx->drop = true; /* buffer outside RAM: the frame cannot be fetched */
            return true;
        }
        tx->size += len;
        return true;
    }
    return tx_tso_data(s, addr, len);
}

/* TSO: every HDRLEN + MSS bytes make a segment that leaves at once. Returns
 * false if the run's work budget ran out with data left: the rest is kept
 * in tx.desc_addr / desc_left for the next run (start_xmit). */
static bool tx_tso_data(E1000State *s, uint64_t addr, uint32_t len)
{
    E1000Tx *tx = &s->tx;
    const E1000TxContext *c = &tx->ctx;
    uint32_t hdr = c->hdr_len, seg = c->hdr_len + c->mss;
    while (len > 0) {
        /* each pass takes >= 1 byte: size < seg always holds here (the
         * context is the packet's own copy, mss > 0) */
        if (tx->size >= seg) {
            tx->drop = true;
            return true;
        }
        uint32_t want = tx->size < hdr ? hdr - tx->size : seg - tx->size;
        uint32_t n = len < want ? len : want;
        if (dma_read(s->ram, addr, tx->buf + tx->size, n) < 0) {
            tx->drop = true;
            return true;
        }
        tx->size += n;
        addr += n;
        len -= n;
        if (!tx->hdr_saved && tx->size >= hdr) {
            memcpy(tx->header, tx->buf, hdr);
            tx->hdr_saved = true;
        }
        if (tx->size == seg) {
            /* a full segment; it is the last one if PAYLEN says so */
            xmit_seg(s, tx->tso_payload + c->mss >= c->paylen);
            memcpy(tx->buf, tx->header, hdr);
            tx->size = hdr;
            if (tx->tso_frames >= E1000_TSO_MAX_SEGS) {
                tx->drop = true;
                return true;
            }
            if (len > 0 && s->tx_work >= E1000_WORK_BUDGET) {
                tx->desc_pending = true;
                tx->desc_addr = addr;
                tx->desc_left = len;
                return false;
            }
        }
    }
    return true;
}

/* ---- GSO hand-off (gso=on, -netdev tap with vnet_hdr) ----
 *
 * A TSO send is the hardware cutting one TCP packet of up to 64 KiB into
 * MSS-sized segments (SDM 3.5). When the backend takes a virtio_net_hdr, the
 * host kernel can do that cut itself (or not at all: a frame for the host
 * goes up its stack whole), so the device gathers the packet whole and sends
 * one GSO frame: one write instead of one per segment, no per-segment
 * checksum in the VMM. What the guest sees is the same as with segmentation
 * here: descriptors written back, statistics counted per segment, the same
 * segments on the wire (IPv4 identification + n, FIN/PSH on the last only,
 * TCP checksum of each: the kernel's TCP GSO does exactly what SDM 3.5.3
 * asks of the hardware). Only TCP with TXSM (the checksum the kernel must
 * finish); UDP TSO, odd header layouts and loopback use the model's own
 * segmentation. */
static bool tx_can_gso(E1000State *s, const E1000TxContext *c, uint8_t popts)
{
    uint32_t iphl = c->ip ? 20 : 40;
    bool loopback = e1000_loopback(s);
    return s->vnet_hdr && c->tcp && (popts & E1000_TXD_POPTS_TXSM) && !loopback &&
           c->ipcss >= ETH_HLEN && (uint32_t)c->ipcss + iphl <= c->tucss &&
           (uint32_t)c->tucss + 20 <= c->hdr_len && c->tucso == c->tucss + 16 &&
           c->paylen + (uint32_t)c->hdr_len - c->ipcss <= 0xffff;
}

/* The gathered packet as one GSO frame; false (counted as a failed TSO
 * context) when it does not add up to a TCP packet the kernel can cut. */
static bool xmit_gso(E1000State *s)
{
    E1000Tx *tx = &s->tx;
    const E1000TxContext *c = &tx->ctx;
    uint8_t *p = tx->buf;
    uint32_t len = tx->size, hdr = c->hdr_len, ipcss = c->ipcss, tucss = c->tucss;

    if (len < hdr || len - ipcss > 0xffff || (p[tucss + 12] >> 4) * 4u + tucss != hdr) {
        return false; /* data shorter than its header, or TCP options past HDRLEN */
    }
    uint32_t payload = len - hdr;
    if (payload <= c->mss) {
        /* one segment: the model sends it like the hardware would */
        xmit_seg(s, true);
        return true;
    }
    if (c->ip) {
        st16be(p + ipcss + 2, (uint16_t)(len - ipcss)); /* the kernel sets each segment's */
    } else {
        st16be(p + ipcss + 4, (uint16_t)(len - ipcss - 40));
    }
    /* the driver seeded the TCP checksum with the pseudo-header sum without
     * the length; a GSO frame carries it with the whole packet's L4 length,
     * and the kernel replaces that by each segment's */
    st16be(p + c->tucso, csum_fold(ld16be(p + c->tucso) + (len - tucss)));
    if (tx->popts & E1000_TXD_POPTS_IXSM) {
        insert_csum(p, len, c->ipcss, c->ipcso, c->ipcse, false);
    }
    uint32_t vlan = tx->vle ? 4 : 0;
    struct virtio_net_hdr vh = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = (uint8_t)((c->ip ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6) |
                              ((p[tucss + 13] & TCP_FLAG_CWR) ? VIRTIO_NET_HDR_GSO_ECN : 0)),
        .hdr_len = (uint16_t)(hdr + vlan),
        .gso_size = c->mss,
        .csum_start = (uint16_t)(tucss + vlan),
        .csum_offset = (uint16_t)(c->tucso - tucss),
    };
    uint32_t nseg = (payload + c->mss - 1) / c->mss;
    TRACE(e1000_xmit_seg, "len=%u TSO as one GSO frame: %u segments of MSS %u", len, nseg, c->mss);
    /* the segments the wire would carry, for the statistics */
    for (uint32_t i = 0; i < nseg; i++) {
        uint32_t seg = i + 1 < nseg ? c->mss : payload - i * c->mss;
        tx_count_frame(s, hdr + seg + vlan, p);
    }
    e1000_send_packet(s, p, len, &vh);
    tx->tso_frames = nseg;
    tx->tso_payload = payload;
    return true;
}

static void tx_end_packet(E1000State *s)
{
    E1000Tx *tx = &s->tx;
    if (tx->gso) {
        bool ok = !tx->drop && xmit_gso(s);
        stat_inc(s, ok ? E1000_TSCTC : E1000_TSCTFC, 1);
    } else if (tx->tse) {
        uint32_t hdr = tx->ctx.hdr_len;
        /* the rest after the last full segment; nothing if HDRLEN was
         * beyond the data */
        if (!tx->drop && tx->hdr_saved &&
            (tx->size > hdr || (tx->size == hdr && tx->tso_frames == 0))) {
            xmit_seg(s, true);
        }
        stat_inc(s, (!tx->drop && tx->hdr_saved) ? E1000_TSCTC : E1000_TSCTFC, 1);
    } else if (!tx->drop && tx->size > 0) {
        xmit_seg(s, true);
    }
    e1000_tx_reset_packet(tx);
}

/* First descriptor of a packet: decide how it is built. */
static void tx_start_packet(E1000State *s, bool tse, uint8_t popts)
{
    E1000Tx *tx = &s->tx;
    e1000_tx_reset_packet(tx);
    tx->in_packet = true;
    tx->tse = tse;
    tx->popts = popts;
    /* A context descriptor that comes in the middle of this packet must not
     * change how it is cut: the packet keeps a copy. */
    tx->ctx = tse ? tx->tso_ctx : tx->csum_ctx;
    if (tse) {
        const E1000TxContext *c = &tx->ctx;
        /* an MSS of 0 or a segment larger than our frame buffer cannot be
         * segmented: the packet is consumed and counted as failed */
        if (c->mss == 0 || (uint32_t)c->hdr_len + c->mss > E1000_TX_MAX_FRAME) {
            tx->drop = true;
        } else {
            tx->gso = tx_can_gso(s, c, popts);
        }
    }
}

static void tx_vlan(E1000State *s, uint32_t cmd, uint16_t special)
{
    if ((cmd & E1000_TXD_CMD_VLE) && (s->mac_reg[R(E1000_CTRL)] & E1000_CTRL_VME)) {
        s->tx.vle = true;
        s->tx.vlan_tci = special;
    }
}

/* One descriptor (SDM 3.3.3 legacy, 3.3.6 context, 3.3.7 data). */
static bool process_tx_desc(E1000State *s, const uint8_t *d)
{
    E1000Tx *tx = &s->tx;
    uint64_t addr = ld64le(d);
    uint32_t lower = ld32le(d + 8), upper = ld32le(d + 12);
    uint32_t dtyp = lower & E1000_TXD_DTYP_MASK;
    bool legacy = !(lower & E1000_TXD_CMD_DEXT);
    bool done;

    if (tx->desc_pending) {
        /* the rest of a descriptor that an earlier run left half done */
        tx->desc_pending = false;
        done = tx_tso_data(s, tx->desc_addr, tx->desc_left);
    } else if (!legacy && dtyp == E1000_TXD_DTYP_C) {
        /* context: offsets for the packets that follow */
        E1000TxContext *c = (lower & E1000_TXD_CMD_TSE) ? &tx->tso_ctx : &tx->csum_ctx;
        c->ipcss = (uint8_t)addr;
        c->ipcso = (uint8_t)(addr >> 8);
        c->ipcse = (uint16_t)(addr >> 16);
        c->tucss = (uint8_t)(addr >> 32);
        c->tucso = (uint8_t)(addr >> 40);
        c->tucse = (uint16_t)(addr >> 48);
        c->paylen = lower & E1000_TXD_LEN_MASK;
        c->ip = lower & E1000_TXD_CMD_IP;
        c->tcp = lower & E1000_TXD_CMD_TCP;
        c->hdr_len = (uint8_t)(upper >> 8);
        c->mss = (uint16_t)(upper >> 16);
        return true;
    } else if (!legacy && dtyp != E1000_TXD_DTYP_D) {
        return true; /* reserved descriptor type: consumed, nothing sent */
    } else {
        if (!tx->in_packet) {
            tx_start_packet(s, !legacy && (lower & E1000_TXD_CMD_TSE),
                            legacy ? 0 : (uint8_t)(upper >> 8));
        }
        tx_vlan(s, lower, (uint16_t)(upper >> 16));
        done =
            tx_add_data(s, addr, lower & (legacy ? E1000_TXD_LEGACY_LEN_MASK : E1000_TXD_LEN_MASK));
    }
    if (!done) {
        return false; /* work budget spent: continued by the next run */
    }
    if (legacy && (lower & E1000_TXD_CMD_EOP)) {
        /* CSO/CSS/IC count in the last descriptor of the packet */
        tx->legacy_ic = lower & E1000_TXD_CMD_IC;
        tx->legacy_cso = (uint8_t)(lower >> 16);
        tx->legacy_css = (uint8_t)(upper >> 8);
    }
    if (lower & E1000_TXD_CMD_EOP) {
        tx_end_packet(s);
    }
    return true;
}

/* Run the ring from TDH to TDT. At most one pass over the ring per call
 * (CVE-2015-6815, CVE-2016-1981) and at most E1000_WORK_BUDGET of work: a
 * guest cannot keep us here; what is left runs from tx_timer. A head or
 * tail outside the ring, an empty ring or a descriptor outside RAM stops
 * the walk without touching memory. */
static void start_xmit(E1000State *s)
{
    uint32_t n = s->mac_reg[R(E1000_TDLEN)] / sizeof(struct e1000_tx_desc);
    uint64_t base = (uint64_t)s->mac_reg[R(E1000_TDBAH)] << 32 | s->mac_reg[R(E1000_TDBAL)];
    uint32_t cause = 0;
    bool progressed = false;

    if (!(s->mac_reg[R(E1000_TCTL)] & E1000_TCTL_EN) || !bus_master(s) || n == 0) {
        return;
    }
    TRACE(e1000_start_xmit, "TDH=%u TDT=%u ring=%u descriptors at %#llx", s->mac_reg[R(E1000_TDH)],
          s->mac_reg[R(E1000_TDT)], n, (unsigned long long)base);
    s->tx_work = 0;
    for (uint32_t budget = n; budget > 0; budget--) {
        uint32_t tdh = s->mac_reg[R(E1000_TDH)], tdt = s->mac_reg[R(E1000_TDT)];
        if (tdh == tdt || tdh >= n || tdt >= n) {
            break;
        }
        if (s->tx_work >= E1000_WORK_BUDGET) {
            continue_later(s->tx_timer); /* the rest in the next run */
            break;
        }
        uint64_t da = base + (uint64_t)tdh * sizeof(struct e1000_tx_desc);
        uint8_t d[16];
        if (s->tx.desc_pending) {
            memcpy(d, s->tx.desc, sizeof(d)); /* fetched by an earlier run */
        } else if (dma_read(s->ram, da, d, sizeof(d)) < 0) {
            break;
        }
        work_add(&s->tx_work, E1000_DESC_COST);
        if (TRACE_ON(e1000_process_tx_desc)) {
            char desc[200];
            trace_emit(TRACE_e1000_process_tx_desc, "[%u] %s", tdh,
                       e1000_tx_desc_describe(d, desc, sizeof(desc)));
        }
        if (!process_tx_desc(s, d)) {
            memcpy(s->tx.desc, d, sizeof(d));
            continue_later(s->tx_timer); /* the rest in the next run */
            break;
        }
        uint32_t lower = ld32le(d + 8);
        if (lower & (E1000_TXD_CMD_RS | E1000_TXD_CMD_RPS)) {
            /* write back DD in the status byte only (SDM 3.3.3.2) */
            uint8_t sta = d[12] | E1000_TXD_STAT_DD;
            TRACE(e1000_dma_write, "TX descriptor [%u] status DD at %#llx len=1", tdh,
                  (unsigned long long)(da + 12));
            dma_write(s->ram, da + 12, &sta, 1);
            cause |= tx_writeback_cause(s, lower & E1000_TXD_CMD_IDE);
        }
        s->mac_reg[R(E1000_TDH)] = (tdh + 1) % n;
        progressed = true;
    }
    if (progressed && s->mac_reg[R(E1000_TDH)] == s->mac_reg[R(E1000_TDT)]) {
        cause |= E1000_ICR_TXQE;
    }
    set_ics(s, cause);
}

static void e1000_tx_continue(void *opaque)
{
    start_xmit(opaque);
}

/* ------------------------------------------------------------------------ */
/* Receive (SDM 3.2)                                                        */

static const uint8_t eth_bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static bool is_vlan_frame(const E1000State *s, const uint8_t *buf, size_t len)
{
    return len >= ETH_HLEN + 4 && ld16be(buf + 12) == (s->mac_reg[R(E1000_VET)] & 0xffff);
}

/* Multicast table index from destination address bits selected by RCTL.MO
 * (SDM 13.4.22 / 13.5.1): 12 bits starting at bit 36, 35, 34 or 32. */
static unsigned mta_hash(uint32_t rctl, const uint8_t *da)
{
    static const unsigned shift[4] = {4, 3, 2, 0};
    unsigned mo = (rctl & E1000_RCTL_MO_MASK) >> E1000_RCTL_MO_SHIFT;
    return ((unsigned)(da[4] | da[5] << 8) >> shift[mo]) & 0xfff;
}

/* Does the frame pass the address and VLAN filters (SDM 3.2.1)? */
static bool receive_filter(E1000State *s, const uint8_t *buf, size_t len, const char **why)
{
    uint32_t rctl = s->mac_reg[R(E1000_RCTL)];

    if ((rctl & E1000_RCTL_VFE) && is_vlan_frame(s, buf, len)) {
        uint16_t tci = ld16be(buf + 14);
        unsigned vid = tci & 0xfff;
        if (!(s->mac_reg[R(E1000_VFTA) + (vid >> 5)] & (1u << (vid & 31)))) {
            *why = "VLAN ID not in VFTA";
            return false;
        }
        if ((rctl & E1000_RCTL_CFIEN) && !!(tci & 0x1000) != !!(rctl & E1000_RCTL_CFI)) {
            *why = "VLAN CFI bit differs from RCTL.CFI";
            return false;
        }
    }
    bool mcast = buf[0] & 1;
    bool bcast = !memcmp(buf, eth_bcast, ETH_ALEN);
    if (!mcast && (rctl & E1000_RCTL_UPE)) {
        *why = "unicast promiscuous (RCTL.UPE)";
        return true;
    }
    if (mcast && (rctl & E1000_RCTL_MPE)) {
        *why = "multicast promiscuous (RCTL.MPE)";
        return true;
    }
    if (bcast && (rctl & E1000_RCTL_BAM)) {
        *why = "broadcast (RCTL.BAM)";
        return true;
    }
    for (int i = 0; i < E1000_RAR_ENTRIES; i++) {
        uint32_t rah = s->mac_reg[R(E1000_RA) + 2 * i + 1];
        uint32_t ral = s->mac_reg[R(E1000_RA) + 2 * i];
        if (!(rah & E1000_RAH_AV) || (rah & E1000_RAH_ASEL_MASK)) {
            continue; /* unused, or matches source addresses */
        }
        uint8_t ra[ETH_ALEN] = {(uint8_t)ral,         (uint8_t)(ral >> 8), (uint8_t)(ral >> 16),
                                (uint8_t)(ral >> 24), (uint8_t)rah,        (uint8_t)(rah >> 8)};
        if (!memcmp(buf, ra, ETH_ALEN)) {
            *why = i ? "exact address match (RAL/RAH[1..15])" : "own address (RAL/RAH[0])";
            return true;
        }
    }
    if (mcast) {
        unsigned h = mta_hash(rctl, buf);
        if (s->mac_reg[R(E1000_MTA) + (h >> 5)] & (1u << (h & 31))) {
            *why = "multicast hash bit set in MTA";
            return true;
        }
    }
    *why = mcast ? "multicast, hash bit clear in MTA" : "unicast to another address";
    return false;
}

/* RXCSUM offloads (SDM 3.2.9) on the frame as stored: IPv4 header checksum
 * (IPOFL) and TCP/UDP checksum (TUOFL), checked for real. IPv6 and IP
 * fragments are beyond the 82540: reported as not checked (IXSM). */
static void rx_checksum(E1000State *s, const uint8_t *p, size_t len, uint8_t *status,
                        uint8_t *errors)
{
    uint32_t rxcsum = s->mac_reg[R(E1000_RXCSUM)];
    size_t off = ETH_HLEN;
    uint8_t st = 0, err = 0;

    if (len >= ETH_HLEN && is_vlan_frame(s, p, len)) {
        off += 4; /* tag left in place (CTRL.VME clear) */
    }
    if ((rxcsum & (E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL)) && len >= off + 20 &&
        ld16be(p + off - 2) == ETH_P_IP && (p[off] >> 4) == 4) {
        const uint8_t *ip = p + off;
        size_t ihl = (size_t)(ip[0] & 0xf) * 4, tot = ld16be(ip + 2);
        if (ihl >= 20 && off + ihl <= len) {
            if (rxcsum & E1000_RXCSUM_IPOFL) {
                st |= E1000_RXD_STAT_IPCS;
                if (csum_fold(csum_add(0, ip, ihl)) != 0xffff) {
                    err |= E1000_RXD_ERR_IPE;
                }
            }
            bool frag = ld16be(ip + 6) & 0x3fff; /* MF or a fragment offset */
            uint8_t proto = ip[9];
            size_t l4len = tot - ihl;
            if ((rxcsum & E1000_RXCSUM_TUOFL) && !frag && tot >= ihl && off + tot <= len &&
                ((proto == IPPROTO_TCP_ && l4len >= 20) ||
                 (proto == IPPROTO_UDP_ && l4len >= 8 && ld16be(ip + ihl + 6) != 0))) {
                uint64_t sum = csum_add(0, ip + 12, 8); /* source, destination */
                sum += proto + l4len;
                sum = csum_add(sum, ip + ihl, l4len);
                st |= E1000_RXD_STAT_TCPCS;
                if (csum_fold(sum) != 0xffff) {
                    err |= E1000_RXD_ERR_TCPE;
                }
            }
        }
    }
    if (!(st & (E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS))) {
        st |= E1000_RXD_STAT_IXSM;
    }
    *status |= st;
    *errors |= err;
}

/* RCTL.BSIZE / BSEX (SDM 13.4.22). */
static uint32_t rx_buf_size(uint32_t rctl)
{
    static const uint32_t sz[2][4] = {{2048, 1024, 512, 256}, {2048, 16384, 8192, 4096}};
    return sz[!!(rctl & E1000_RCTL_BSEX)][(rctl & E1000_RCTL_SZ_MASK) >> E1000_RCTL_SZ_SHIFT];
}

/* Is there room now? The net layer keeps the frame queued (no drop) while
 * reception is off or the guest has given no descriptor (RDH == RDT). */
static bool e1000_can_receive(NetClient *nc)
{
    E1000State *s = nc->opaque;
    if (!e1000_rx_enabled(s)) {
        return false;
    }
    if (s->rx_flushing && s->rx_work >= E1000_WORK_BUDGET) {
        continue_later(s->rx_timer); /* the rest in the next run */
        return false;
    }
    if (!rx_free_descs(s)) {
        stat_inc(s, E1000_RNBC, 1); /* a frame found no buffer (it waits) */
        return false;
    }
    return true;
}

/* Store one frame in guest buffers from RDH on; the caller checked that
 * enough descriptors are free. A descriptor or buffer outside RAM is
 * skipped (the DMA is refused); the ring still advances. */
static void e1000_rx_store(E1000State *s, const uint8_t *buf, size_t total, uint8_t status,
                           uint8_t errors, uint16_t special, uint16_t csum)
{
    uint32_t n = rx_ring_count(s);
    uint64_t base = (uint64_t)s->mac_reg[R(E1000_RDBAH)] << 32 | s->mac_reg[R(E1000_RDBAL)];
    uint32_t bsize = rx_buf_size(s->mac_reg[R(E1000_RCTL)]);
    uint32_t idx = s->mac_reg[R(E1000_RDH)];
    size_t off = 0;

    do {
        uint64_t da = base + (uint64_t)idx * sizeof(struct e1000_rx_desc);
        uint8_t d[16];
        size_t chunk = total - off < bsize ? total - off : bsize;
        bool last = off + chunk == total;
        if (dma_read(s->ram, da, d, sizeof(d)) == 0) {
            TRACE(e1000_dma_write, "RX buffer of descriptor [%u] at %#llx len=%zu%s", idx,
                  (unsigned long long)ld64le(d), chunk, last ? " EOP" : "");
            dma_write(s->ram, ld64le(d), buf + off, chunk);
            /* length, checksum, errors and special first; status (DD) last
             * so that a polling guest never sees DD before the rest */
            st16le(d + 8, (uint16_t)chunk);
            st16le(d + 10, csum);
            d[13] = last ? errors : 0;
            st16le(d + 14, last ? special : 0);
            dma_write(s->ram, da + 8, d + 8, 4);
            dma_write(s->ram, da + 13, d + 13, 3);
            __atomic_thread_fence(__ATOMIC_RELEASE);
            uint8_t st = E1000_RXD_STAT_DD | (last ? (uint8_t)(status | E1000_RXD_STAT_EOP) : 0);
            dma_write(s->ram, da + 12, &st, 1);
        }
        off += chunk;
        idx = (idx + 1) % n;
    } while (off < total);
    s->mac_reg[R(E1000_RDH)] = idx;
}

static ssize_t e1000_receive_frame(E1000State *s, const struct iovec *iov, int iovcnt)
{
    uint32_t rctl = s->mac_reg[R(E1000_RCTL)];
    size_t size = iov_size(iov, iovcnt);
    uint8_t *buf = s->rx_buf;

    if (!e1000_rx_enabled(s)) {
        TRACE(e1000_receive_iov, "len=%zu: RX disabled, waits in the queue", size);
        return 0; /* wait in the queue until RCTL.EN */
    }
    if (!s->link_up) {
        TRACE(e1000_receive_iov, "len=%zu: lost, no carrier", size);
        return size; /* no carrier: lost on the wire */
    }
    if (s->rx_flushing) {
        work_add(&s->rx_work, E1000_FRAME_COST + (uint32_t)(size < 0x20000 ? size : 0x20000));
    }
    TRACE(e1000_receive_iov, "len=%zu RDH=%u RDT=%u", size, s->mac_reg[R(E1000_RDH)],
          s->mac_reg[R(E1000_RDT)]);
    size_t maxlen = (rctl & E1000_RCTL_LPE) ? E1000_MAX_FRAME_LPE : E1000_MAX_FRAME_STD;
    if (size + 4 > maxlen) {
        stat_inc(s, E1000_TPR, 1);
        stat_add64(s, E1000_TORL, size + 4);
        stat_inc(s, E1000_ROC, 1); /* oversize: discarded */
        return size;
    }
    /* short frames come padded to the Ethernet minimum, as from a wire */
    size_t len = size;
    iov_to_buf(iov, iovcnt, buf, len);
    if (len < E1000_MIN_FRAME) {
        memset(buf + len, 0, E1000_MIN_FRAME - len);
        len = E1000_MIN_FRAME;
    }
    const char *why = "";
    bool pass = receive_filter(s, buf, len, &why);
    if (TRACE_ON(e1000_receive_filter)) {
        trace_emit(TRACE_e1000_receive_filter,
                   "%s dst=%02x:%02x:%02x:%02x:%02x:%02x ethertype=%#06x: %s",
                   pass ? "accept" : "reject", buf[0], buf[1], buf[2], buf[3], buf[4], buf[5],
                   ld16be(buf + 12), why);
    }
    if (!pass) {
        stat_inc(s, E1000_TPR, 1);
        stat_add64(s, E1000_TORL, len + 4);
        return size;
    }

    bool strip = (s->mac_reg[R(E1000_CTRL)] & E1000_CTRL_VME) && is_vlan_frame(s, buf, len);
    size_t stored = len - (strip ? 4 : 0);
    size_t total = stored + ((rctl & E1000_RCTL_SECRC) ? 0 : 4);
    uint32_t bsize = rx_buf_size(rctl);
    uint32_t need = (uint32_t)((total + bsize - 1) / bsize);
    uint32_t n = rx_ring_count(s);
    if (n == 0) {
        return 0; /* no ring yet: wait */
    }
    if (need > n - 1) {
        /* could never fit however many buffers the guest gives: the FIFO
         * overflows on the real part */
        stat_inc(s, E1000_MPC, 1);
        set_ics(s, E1000_ICR_RXO);
        return size;
    }
    if (rx_free_descs(s) < need) {
        TRACE(e1000_receive_iov, "len=%zu: %u descriptors free, %u needed: waits for RDT", size,
              rx_free_descs(s), need);
        stat_inc(s, E1000_RNBC, 1);
        return 0; /* wait for RDT to move */
    }

    /* accepted: count it (lengths with FCS, before VLAN stripping) */
    stat_inc(s, E1000_TPR, 1);
    stat_add64(s, E1000_TORL, len + 4);
    stat_inc(s, E1000_GPRC, 1);
    stat_add64(s, E1000_GORCL, len + 4);
    stat_size(s, E1000_PRC64, len + 4);
    if (!memcmp(buf, eth_bcast, ETH_ALEN)) {
        stat_inc(s, E1000_BPRC, 1);
    } else if (buf[0] & 1) {
        stat_inc(s, E1000_MPRC, 1);
    }

    uint32_t fcs = (rctl & E1000_RCTL_SECRC) ? 0 : eth_crc32(buf, len);
    uint8_t status = 0, errors = 0;
    uint16_t special = 0;
    if (strip) {
        special = ld16be(buf + 14);
        memmove(buf + 12, buf + 16, len - 16);
        status |= E1000_RXD_STAT_VP;
    }
    if (!(rctl & E1000_RCTL_SECRC)) {
        buf[stored] = (uint8_t)fcs;
        buf[stored + 1] = (uint8_t)(fcs >> 8);
        buf[stored + 2] = (uint8_t)(fcs >> 16);
        buf[stored + 3] = (uint8_t)(fcs >> 24);
    }
    rx_checksum(s, buf, stored, &status, &errors);
    /* the raw packet checksum from RXCSUM.PCSS, for drivers that want it */
    uint32_t pcss = s->mac_reg[R(E1000_RXCSUM)] & E1000_RXCSUM_PCSS_MASK;
    uint16_t csum = pcss < stored ? csum_fold(csum_add(0, buf + pcss, stored - pcss)) : 0;

    e1000_rx_store(s, buf, total, status, errors, special, csum);

    uint32_t cause = rx_delay_cause(s);
    /* RXDMT0 when the free descriptors fall to RCTL.RDMTS of the ring */
    unsigned rdmts = (rctl & E1000_RCTL_RDMTS_MASK) >> E1000_RCTL_RDMTS_SHIFT;
    if (rx_free_descs(s) <= n >> (rdmts + 1)) {
        cause |= E1000_ICR_RXDMT0;
    }
    set_ics(s, cause);
    return size;
}

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

static void e1000_nc_cleanup(NetClient *nc)
{
    E1000State *s = nc->opaque;
    if (s->db_epfd >= 0) {
        e1000_doorbells_drop(s, DB_TX);
        e1000_doorbells_drop(s, DB_RX);
        loop_set_fd_handler(s->db_epfd, NULL, NULL, NULL);
        close(s->db_epfd);
        s->db_epfd = -1;
    }
    timer_free(s->tidv_timer);
    timer_free(s->tadv_timer);
    timer_free(s->rdtr_timer);
    timer_free(s->radv_timer);
    timer_free(s->mit_timer);
    timer_free(s->posted_timer);
    s->tidv_timer = s->tadv_timer = s->rdtr_timer = s->radv_timer = s->mit_timer = NULL;
    s->posted_timer = NULL;
    timer_free(s->tx_timer);
    timer_free(s->rx_timer);
    s->tx_timer = s->rx_timer = NULL;
    if (s->vnet_hdr && nc->peer) {
        net_using_vnet_hdr(nc->peer, false);
    }
    s->vnet_hdr = false;
    s->nic = NULL;
}

/* A frame from the peer. With vnet_hdr it starts with the backend's
 * virtio_net_hdr, which says nothing the NIC needs: no offloads are enabled
 * towards the guest (e1kvm never sets TUNSETOFFLOAD), so frames come whole
 * and with their checksums. */
#define E1000_RX_MAX_IOV 64
static ssize_t e1000_receive_iov(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    E1000State *s = nc->opaque;
    if (!s->vnet_hdr) {
        return e1000_receive_frame(s, iov, iovcnt);
    }
    struct iovec v[E1000_RX_MAX_IOV];
    size_t hdr = sizeof(struct virtio_net_hdr), skip = hdr;
    int k = 0;
    for (int i = 0; i < iovcnt; i++) {
        size_t cut = skip < iov[i].iov_len ? skip : iov[i].iov_len;
        skip -= cut;
        if (iov[i].iov_len > cut) {
            if (k == E1000_RX_MAX_IOV) {
                return (ssize_t)iov_size(iov, iovcnt); /* too many pieces: dropped */
            }
            v[k++] = (struct iovec){(char *)iov[i].iov_base + cut, iov[i].iov_len - cut};
        }
    }
    if (skip) {
        return (ssize_t)iov_size(iov, iovcnt); /* shorter than its header */
    }
    ssize_t r = e1000_receive_frame(s, v, k);
    return r > 0 ? r + (ssize_t)hdr : r;
}

/* QMP query-rx-filter: the filter registers as the guest programmed them. */
static void e1000_query_rx_filter(NetClient *nc, NetRxFilter *f)
{
    E1000State *s = nc->opaque;
    uint32_t rctl = s->mac_reg[R(E1000_RCTL)];
    memset(f, 0, sizeof(*f));
    f->promiscuous = rctl & E1000_RCTL_UPE;
    f->multicast_all = rctl & E1000_RCTL_MPE;
    f->broadcast_allowed = rctl & E1000_RCTL_BAM;
    f->vlan_filter = rctl & E1000_RCTL_VFE;
    for (int i = 0; i < E1000_RAR_ENTRIES; i++) {
        uint32_t ral = s->mac_reg[R(E1000_RA) + 2 * i], rah = s->mac_reg[R(E1000_RA) + 2 * i + 1];
        uint8_t a[ETH_ALEN] = {(uint8_t)ral,         (uint8_t)(ral >> 8), (uint8_t)(ral >> 16),
                               (uint8_t)(ral >> 24), (uint8_t)rah,        (uint8_t)(rah >> 8)};
        if (i == 0) {
            memcpy(f->main_mac, a, ETH_ALEN);
        } else if ((rah & E1000_RAH_AV) && (a[0] & 1)) {
            memcpy(f->multicast[f->n_multicast++], a, ETH_ALEN);
        } else if (rah & E1000_RAH_AV) {
            memcpy(f->unicast[f->n_unicast++], a, ETH_ALEN);
        }
    }
    memcpy(f->mc_hash, &s->mac_reg[R(E1000_MTA)], sizeof(f->mc_hash));
    memcpy(f->vlan_table, &s->mac_reg[R(E1000_VFTA)], sizeof(f->vlan_table));
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

static int e1000_realize(Object *obj, Machine *m, Error *err)
{
    E1000State *s = (E1000State *)obj;

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

    crc32_init();
    s->ram = &m->ram;
    e1000_eeprom_init(s);
    phy_reset(s);
    pci_device_init(&s->pci, "e1000", E1000_VENDOR_INTEL, E1000_DEV_ID_82540EM, E1000_SUBSYS_VENDOR,
                    E1000_SUBSYS_ID, E1000_CLASS_ETHERNET, E1000_REVISION);
    pci_register_bar(&s->pci, 0, E1000_MMIO_SIZE, false, &e1000_mmio_ops, s, "e1000-mmio");
    pci_register_bar(&s->pci, 1, E1000_IO_SIZE, true, &e1000_io_ops, s, "e1000-io");
    exitstats_set_namer(&s->pci.bar[0].region, e1000_mmio_reg_name);
    exitstats_set_namer(&s->pci.bar[1].region, e1000_io_reg_name);
    s->pci.config_written = e1000_config_written;
    /* IMS and IMC (SDM 13.4.20-21): writes without an effect the guest can
     * see before its next register read, except on the interrupt line,
     * which the device settles itself (e1000_update_irq) */
    if (s->posted && (memory_region_add_posted(&s->pci.bar[0].region, E1000_IMS, 4) < 0 ||
                      memory_region_add_posted(&s->pci.bar[0].region, E1000_IMC, 4) < 0)) {
        return error_setf(err, "e1000: cannot set up posted writes");
    }
    s->db_epfd = s->doorbells ? epoll_create1(EPOLL_CLOEXEC) : -1;
    if (s->db_epfd >= 0) {
        loop_set_fd_handler(s->db_epfd, e1000_doorbell_ready, NULL, s);
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
    e1000_reset(s);

    if (pci_bus_add_device(m->pci, &s->pci, err) < 0) {
        timer_free(s->tidv_timer);
        timer_free(s->tadv_timer);
        timer_free(s->rdtr_timer);
        timer_free(s->radv_timer);
        timer_free(s->mit_timer);
        timer_free(s->posted_timer);
        s->tidv_timer = s->tadv_timer = s->rdtr_timer = s->radv_timer = s->mit_timer = NULL;
        s->posted_timer = NULL;
        timer_free(s->tx_timer);
        timer_free(s->rx_timer);
        s->tx_timer = s->rx_timer = NULL;
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

static const TypeInfo e1000_info = {
    .name = "e1000",
    .kind = TYPE_KIND_DEVICE,
    .bus = "PCI",
    .desc = "Intel 82540EM Gigabit Ethernet (PRO/1000 MT Desktop)",
    .instance_size = sizeof(E1000State),
    .props = e1000_props,
    .realize = e1000_realize,
};

static void e1000_register(void)
{
    type_register(&e1000_info);
}

type_init(e1000_register)
