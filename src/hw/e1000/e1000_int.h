/* The 82540EM model's state and the interfaces between its files, private
 * to src/hw/e1000/:
 *   e1000.c    register dispatch (the table in e1000_regs.h), interrupts and
 *              their moderation, doorbells, reset, realize
 *   tx.c       transmit: start_xmit -> process_tx_desc -> xmit_seg ->
 *              e1000_send_packet, TSO and the GSO hand-off
 *   rx.c       receive: e1000_receive_iov -> receive_filter -> RX DMA, the
 *              checksum verdict
 *   nvm_phy.c  the EEPROM (EECD bit-banging, EERD), MDIC and the PHY, link
 * Callers hold the device lock (core/loop.h): no locking in the model.
 * Section numbers refer to the Intel 8254x Family of Gigabit Ethernet
 * Controllers Software Developer's Manual (SDM). */
#ifndef E1KVM_HW_E1000_INT_H
#define E1KVM_HW_E1000_INT_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/doorbell.h"
#include "core/loop.h"
#include "core/memory.h"
#include "hw/e1000/e1000_regs.h"
#include "hw/pci.h"
#include "net/eth.h"
#include "net/net.h"
#include "qom/object.h"

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

/* The 8254x models that share this implementation (QEMU's -device e1000,
 * e1000-82544gc, e1000-82545em): what the Linux driver and others key on.
 * The driver tells them apart by device ID (e1000_set_mac_type); from then
 * on it expects the PHY that model carries (e1000_detect_gig_phy accepts
 * only 0x01410C30 on the 82544 and 0x01410C20 on the 82540/82545) and, from
 * the 82540 on, asks for the EEPROM with EECD.REQ and waits for EECD.GNT
 * before bit-banging it; the 82544 has no such arbitration (SDM 13.4.3).
 * None of the three is on a PCI-X bus here: STATUS.PCIX_MODE stays clear, so
 * the driver's PCI-X workarounds (82544 errata) stay off. */
typedef struct E1000Model {
    const TypeInfo *type; /* -device e1000, e1000-82544gc, e1000-82545em */
    uint16_t device_id;
    uint16_t subsys_id; /* with vendor E1000_SUBSYS_VENDOR */
    uint8_t revision;
    uint16_t phy_id2;
    bool eecd_arbitration; /* EECD.REQ / EECD.GNT exist */
} E1000Model;

typedef struct E1000State {
    Object obj; /* first: the object model's handle */
    const E1000Model *model;
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

    /* doorbells (core/doorbell.h): TDT/RDT writes KVM turns into eventfd
     * signals; NULL with doorbells=off */
    DoorbellGroup *db_group;
    Doorbell *db_rdt, *db_tdt;

    E1000Tx tx;
    uint8_t rx_buf[E1000_RX_BUF];
} E1000State;

/* ---- register ops (the table in e1000_regs.h names them) ---- */
typedef uint32_t (*MacRegReadOp)(E1000State *s, int index);
typedef void (*MacRegWriteOp)(E1000State *s, int index, uint32_t val);

/* the bits a write stores, per register (from the table) */
extern const uint32_t e1000_reg_wmask[E1000_NREGS];

static inline void reg_store(E1000State *s, int index, uint32_t val)
{
    s->mac_reg[index] = val & e1000_reg_wmask[index];
}

/* e1000.c */
uint32_t mac_readreg(E1000State *s, int index);
void mac_writereg(E1000State *s, int index, uint32_t val);
/* nvm_phy.c */
uint32_t get_status(E1000State *s, int index);
uint32_t get_eecd(E1000State *s, int index);
void set_eecd(E1000State *s, int index, uint32_t val);
void set_eerd(E1000State *s, int index, uint32_t val);
void set_mdic(E1000State *s, int index, uint32_t val);
/* rx.c */
void set_rctl(E1000State *s, int index, uint32_t val);
void set_rdt(E1000State *s, int index, uint32_t val);
void set_rdtr(E1000State *s, int index, uint32_t val);
void set_mta(E1000State *s, int index, uint32_t val);
void set_ra(E1000State *s, int index, uint32_t val);
/* tx.c */
void set_tctl(E1000State *s, int index, uint32_t val);
void set_tdt(E1000State *s, int index, uint32_t val);
void set_tdh(E1000State *s, int index, uint32_t val);

/* ---- interrupts and moderation (e1000.c) ---- */
void set_ics(E1000State *s, uint32_t cause);
/* after a descriptor with RS was written back / a frame was stored: the
 * cause to raise now (0: a delay timer raises it later) */
uint32_t tx_writeback_cause(E1000State *s, bool ide);
uint32_t rx_delay_cause(E1000State *s);
void e1000_rx_irq_fire(void *opaque);

/* ---- EEPROM, PHY, link (nvm_phy.c) ---- */
void e1000_eeprom_init(E1000State *s);
void phy_reset(E1000State *s);
/* STATUS.LU from CTRL.SLU and the PHY; a change raises LSC if notify */
void e1000_update_link(E1000State *s, bool notify);
void e1000_set_link_status(NetClient *nc);
void e1000_load_rar0(E1000State *s);

/* ---- transmit (tx.c) ---- */
void start_xmit(E1000State *s);
void e1000_tx_continue(void *opaque);
void e1000_tx_reset_packet(E1000Tx *tx);
/* MAC loopback (RCTL.LBM) or PHY loopback */
bool e1000_loopback(const E1000State *s);

/* ---- receive (rx.c) ---- */
ssize_t e1000_receive_iov(NetClient *nc, const struct iovec *iov, int iovcnt);
bool e1000_can_receive(NetClient *nc);
void e1000_query_rx_filter(NetClient *nc, NetRxFilter *f);
void e1000_flush_rx(E1000State *s);
void e1000_rx_continue(void *opaque);

/* ---- small helpers every file uses ---- */
static inline bool bus_master(const E1000State *s)
{
    return s->pci.config[PCI_COMMAND] & PCI_COMMAND_MASTER;
}

/* Statistics registers stick at their maximum rather than wrap (SDM 13.7). */
static inline void stat_inc(E1000State *s, uint32_t reg, uint32_t n)
{
    uint32_t *r = &s->mac_reg[R(reg)];
    *r = (*r > UINT32_MAX - n) ? UINT32_MAX : *r + n;
}

static inline void stat_add64(E1000State *s, uint32_t reg_lo, uint64_t n)
{
    uint64_t v = (uint64_t)s->mac_reg[R(reg_lo) + 1] << 32 | s->mac_reg[R(reg_lo)];
    v = (v > UINT64_MAX - n) ? UINT64_MAX : v + n;
    s->mac_reg[R(reg_lo)] = (uint32_t)v;
    s->mac_reg[R(reg_lo) + 1] = (uint32_t)(v >> 32);
}

/* Size buckets of PRC64..PRC1522 / PTC64..PTC1522, frame length with FCS. */
static inline void stat_size(E1000State *s, uint32_t reg64, size_t len)
{
    static const size_t limits[] = {64, 127, 255, 511, 1023, 1522};
    for (unsigned i = 0; i < 6; i++) {
        if (len <= limits[i]) {
            stat_inc(s, reg64 + 4 * i, 1);
            return;
        }
    }
}

/* Account @n units of work to a run, saturating. */
static inline void work_add(uint32_t *work, uint32_t n)
{
    *work = *work > UINT32_MAX - n ? UINT32_MAX : *work + n;
}

/* A run spent its budget: the next one runs from the main loop's next
 * round, after the events that came meanwhile (the TAP, the monitor) and
 * after any thread waiting for the device lock (the loop lets a waiter go
 * first, core/loop.c), so a guest that keeps the unit busy delays a vCPU's
 * register access by one run at most. */
static inline void continue_later(Timer *t)
{
    timer_mod(t, clock_ns() + 1); /* + 1: not again in this round's timer pass */
}

#endif
