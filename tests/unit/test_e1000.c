/* e1000 (82540EM) device model against fake guest RAM and a fake backend.
 *
 * Each test builds its own machine (e1000_fixture.h), programs the device
 * through BAR0 the way a driver does, and checks what lands in guest memory,
 * what reaches the backend and what the interrupt line does. Checksums are
 * recomputed here from scratch, never with the device's helpers. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "e1000_fixture.h"

/* guest memory layout used by the tests */
#define RXRING 0x10000ULL
#define TXRING 0x20000ULL
#define RXBUF 0x100000ULL /* RX buffers, RXBUF_STRIDE apart */
#define RXBUF_STRIDE 0x4000ULL
#define TXBUF 0x800000ULL
#define TXDATA (TXBUF + 0x100000ULL) /* second area for split packets */

static const uint8_t OUR_MAC[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t PEER_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ------------------------------------------------------------------ */
/* helpers: bytes, checksums (independent of the device's code)       */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* one's complement sum of 16-bit big-endian words, not folded */
static uint32_t t_sum(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i < len; i++) {
        sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
    }
    return sum;
}

static uint16_t t_fold(uint32_t sum)
{
    while (sum > 0xffff) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}

/* pseudo-header sum for IPv4 (addresses from the header at ip) */
static uint32_t t_pseudo4(const uint8_t *ip, uint8_t proto, size_t l4len)
{
    return t_sum(ip + 12, 8, 0) + proto + (uint32_t)l4len;
}

static uint32_t t_pseudo6(const uint8_t *ip6, uint8_t proto, size_t l4len)
{
    return t_sum(ip6 + 8, 32, 0) + proto + (uint32_t)l4len;
}

static bool ipv4_hdr_ok(const uint8_t *ip)
{
    size_t ihl = (ip[0] & 0xf) * 4u;
    return t_fold(t_sum(ip, ihl, 0)) == 0xffff;
}

/* TCP or UDP checksum of an IPv4 packet at ip, as a receiver checks it */
static bool ipv4_l4_ok(const uint8_t *ip)
{
    size_t ihl = (ip[0] & 0xf) * 4u;
    size_t l4len = get16(ip + 2) - ihl;
    return t_fold(t_sum(ip + ihl, l4len, t_pseudo4(ip, ip[9], l4len))) == 0xffff;
}

static uint32_t t_crc32(const uint8_t *p, size_t len)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        }
    }
    return ~c;
}

/* ------------------------------------------------------------------ */
/* frame builders                                                      */

static size_t mk_eth(uint8_t *p, const uint8_t *dst, uint16_t type)
{
    memcpy(p, dst, 6);
    memcpy(p + 6, PEER_MAC, 6);
    put16(p + 12, type);
    return 14;
}

static void fill_payload(uint8_t *p, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
    }
}

/* Ethernet + IPv4 + TCP with correct checksums. Returns the frame length. */
static size_t mk_tcp4(uint8_t *p, const uint8_t *dst, size_t plen, uint8_t flags, uint16_t id,
                      uint32_t seq)
{
    size_t off = mk_eth(p, dst, 0x0800);
    uint8_t *ip = p + off, *tcp = ip + 20;
    memset(ip, 0, 40);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(40 + plen));
    put16(ip + 4, id);
    put16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, 0x0a000001);
    put32(ip + 16, 0x0a000002);
    put16(ip + 10, (uint16_t)~t_fold(t_sum(ip, 20, 0)));
    put16(tcp, 40000);
    put16(tcp + 2, 5201);
    put32(tcp + 4, seq);
    put32(tcp + 8, 0x11223344);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    put16(tcp + 14, 65535);
    fill_payload(tcp + 20, plen, seq);
    put16(tcp + 16, (uint16_t)~t_fold(t_sum(tcp, 20 + plen, t_pseudo4(ip, 6, 20 + plen))));
    return off + 40 + plen;
}

static size_t mk_udp4(uint8_t *p, const uint8_t *dst, size_t plen)
{
    size_t off = mk_eth(p, dst, 0x0800);
    uint8_t *ip = p + off, *udp = ip + 20;
    memset(ip, 0, 28);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(28 + plen));
    put16(ip + 4, 0x1234);
    ip[8] = 64;
    ip[9] = 17;
    put32(ip + 12, 0xc0a80001);
    put32(ip + 16, 0xc0a80002);
    put16(ip + 10, (uint16_t)~t_fold(t_sum(ip, 20, 0)));
    put16(udp, 5353);
    put16(udp + 2, 5353);
    put16(udp + 4, (uint16_t)(8 + plen));
    fill_payload(udp + 8, plen, 7);
    uint16_t c = (uint16_t)~t_fold(t_sum(udp, 8 + plen, t_pseudo4(ip, 17, 8 + plen)));
    put16(udp + 6, c ? c : 0xffff);
    return off + 28 + plen;
}

/* ------------------------------------------------------------------ */
/* driver-side helpers                                                 */

static void link_up(E1000Fixture *f)
{
    fx_wr(f, E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_FD);
}

static uint8_t *ram(uint64_t gpa)
{
    return fx_ram + gpa;
}

/* RX ring of @count descriptors, all but one handed to the device. */
static void rx_setup(E1000Fixture *f, uint32_t count, uint32_t rctl)
{
    for (uint32_t i = 0; i < count; i++) {
        struct e1000_rx_desc d = {.buffer_addr = RXBUF + i * RXBUF_STRIDE};
        memcpy(ram(RXRING + 16 * i), &d, sizeof(d));
    }
    link_up(f);
    fx_wr(f, E1000_RDBAL, (uint32_t)RXRING);
    fx_wr(f, E1000_RDBAH, 0);
    fx_wr(f, E1000_RDLEN, count * 16);
    fx_wr(f, E1000_RDH, 0);
    fx_wr(f, E1000_RDT, count - 1);
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | rctl);
    fx_rd(f, E1000_ICR); /* forget the LSC of link_up */
}

static struct e1000_rx_desc rx_desc(uint32_t i)
{
    struct e1000_rx_desc d;
    memcpy(&d, ram(RXRING + 16 * i), sizeof(d));
    return d;
}

static uint8_t *rx_data(uint32_t i)
{
    return ram(RXBUF + i * RXBUF_STRIDE);
}

static ssize_t inject(E1000Fixture *f, const uint8_t *frame, size_t len)
{
    return net_send(f->backend, frame, len, fx_sent_cb);
}

/* Did the device store the frame (RDH moved)? */
static bool rx_accepts(E1000Fixture *f, const uint8_t *frame, size_t len)
{
    uint32_t h = fx_rd(f, E1000_RDH);
    inject(f, frame, len);
    return fx_rd(f, E1000_RDH) != h;
}

static uint32_t txq_tail, txq_count;

static void tx_setup(E1000Fixture *f, uint32_t count)
{
    link_up(f);
    txq_tail = 0;
    txq_count = count;
    memset(ram(TXRING), 0, 16 * count);
    fx_wr(f, E1000_TDBAL, (uint32_t)TXRING);
    fx_wr(f, E1000_TDBAH, 0);
    fx_wr(f, E1000_TDLEN, count * 16);
    fx_wr(f, E1000_TDH, 0);
    fx_wr(f, E1000_TDT, 0);
    fx_wr(f, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
    fx_rd(f, E1000_ICR);
}

static uint32_t tx_push(uint64_t addr, uint32_t lower, uint32_t upper)
{
    struct e1000_tx_desc d = {.buffer_addr = addr, .lower = lower, .upper = upper};
    uint32_t i = txq_tail;
    memcpy(ram(TXRING + 16 * i), &d, sizeof(d));
    txq_tail = (txq_tail + 1) % txq_count;
    return i;
}

static void tx_push_ctx(uint8_t ipcss, uint8_t ipcso, uint16_t ipcse, uint8_t tucss, uint8_t tucso,
                        uint16_t tucse, uint32_t cmd_len, uint8_t hdr_len, uint16_t mss)
{
    struct e1000_context_desc c = {.ipcss = ipcss,
                                   .ipcso = ipcso,
                                   .ipcse = ipcse,
                                   .tucss = tucss,
                                   .tucso = tucso,
                                   .tucse = tucse,
                                   .cmd_and_length = cmd_len | E1000_TXD_CMD_DEXT,
                                   .hdr_len = hdr_len,
                                   .mss = mss};
    memcpy(ram(TXRING + 16 * txq_tail), &c, sizeof(c));
    txq_tail = (txq_tail + 1) % txq_count;
}

static void tx_kick(E1000Fixture *f)
{
    fx_wr(f, E1000_TDT, txq_tail);
}

static uint8_t tx_status(uint32_t i)
{
    return ram(TXRING + 16 * i)[12];
}

#define LEGACY(len, cmd) ((uint32_t)(len) | (cmd))
#define DATA(len, cmd) ((uint32_t)(len) | E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_D | (cmd))
#define POPTS(x) ((uint32_t)(x) << 8)

/* ------------------------------------------------------------------ */
/* identity, EEPROM, PHY                                               */

static void test_pci_identity(void **state)
{
    E1000Fixture *f = *state;
    PCIDevice *d = f->dev;
    assert_int_equal(pci_config_read(d, PCI_VENDOR_ID, 2), 0x8086);
    assert_int_equal(pci_config_read(d, PCI_DEVICE_ID, 2), 0x100E);
    assert_int_equal(pci_config_read(d, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x8086);
    assert_int_equal(pci_config_read(d, PCI_SUBSYSTEM_ID, 2), 0x001E);
    assert_int_equal(pci_config_read(d, PCI_CLASS_PROG, 1), 0x00);
    assert_int_equal(pci_config_read(d, PCI_CLASS_DEVICE, 2), 0x0200);
    assert_int_equal(pci_config_read(d, PCI_INTERRUPT_PIN, 1), 1);
    /* BAR sizing as firmware does it */
    uint32_t bar0 = pci_config_read(d, PCI_BASE_ADDRESS_0, 4);
    assert_int_equal(bar0 & 1, 0);
    pci_config_write(d, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
    assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0, 4) & ~0xfu, (uint32_t) ~(0x20000 - 1));
    pci_config_write(d, PCI_BASE_ADDRESS_0, bar0, 4);
    uint32_t bar1 = pci_config_read(d, PCI_BASE_ADDRESS_0 + 4, 4);
    assert_int_equal(bar1 & 1, 1);
    assert_int_equal(d->bar[0].size, 0x20000);
    assert_true(d->bar[1].io);
}

static void test_eeprom_eerd(void **state)
{
    E1000Fixture *f = *state;
    uint16_t w[64], sum = 0;
    for (unsigned i = 0; i < 64; i++) {
        fx_wr(f, E1000_EERD, i << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
        uint32_t v = fx_rd(f, E1000_EERD);
        assert_true(v & E1000_EERD_DONE);
        assert_int_equal((v & E1000_EERD_ADDR_MASK) >> E1000_EERD_ADDR_SHIFT, i);
        w[i] = (uint16_t)(v >> 16);
        sum = (uint16_t)(sum + w[i]);
    }
    assert_int_equal(sum, 0xBABA);
    assert_int_equal(w[0], 0x5452);
    assert_int_equal(w[1], 0x1200);
    assert_int_equal(w[2], 0x5634);
    assert_int_equal(w[EEPROM_DEVICE_ID], 0x100E);
    assert_int_equal(w[EEPROM_VENDOR_ID], 0x8086);
    assert_int_equal(w[EEPROM_SUBSYSTEM_ID], 0x001E);
    assert_int_equal(w[EEPROM_INIT_CONTROL1_REG] >> 14, 1);       /* valid signature */
    assert_int_equal(w[EEPROM_INIT_CONTROL3_PORT_A] & 0x0400, 0); /* no APM wake */
}

/* The Linux driver's Microwire read, step by step (e1000_hw.c). */
static void ee_out(E1000Fixture *f, uint32_t *eecd, bool sk)
{
    *eecd = sk ? *eecd | E1000_EECD_SK : *eecd & ~E1000_EECD_SK;
    fx_wr(f, E1000_EECD, *eecd);
}

static void ee_shift_out(E1000Fixture *f, uint32_t *eecd, uint16_t data, int count)
{
    *eecd &= ~E1000_EECD_DO;
    for (int bit = count - 1; bit >= 0; bit--) {
        *eecd &= ~E1000_EECD_DI;
        if (data & (1u << bit)) {
            *eecd |= E1000_EECD_DI;
        }
        fx_wr(f, E1000_EECD, *eecd);
        ee_out(f, eecd, true);
        ee_out(f, eecd, false);
    }
    *eecd &= ~E1000_EECD_DI;
    fx_wr(f, E1000_EECD, *eecd);
}

static uint16_t ee_shift_in(E1000Fixture *f, uint32_t *eecd)
{
    uint16_t data = 0;
    *eecd = fx_rd(f, E1000_EECD) & ~(E1000_EECD_DO | E1000_EECD_DI);
    for (int i = 0; i < 16; i++) {
        data <<= 1;
        ee_out(f, eecd, true);
        *eecd = fx_rd(f, E1000_EECD) & ~E1000_EECD_DI;
        if (*eecd & E1000_EECD_DO) {
            data |= 1;
        }
        ee_out(f, eecd, false);
    }
    return data;
}

/* req: ask for the EEPROM first (82540 and later; the 82544 has no REQ/GNT) */
static uint16_t ee_read_bitbang_req(E1000Fixture *f, unsigned addr, bool req)
{
    uint32_t eecd = fx_rd(f, E1000_EECD) | (req ? E1000_EECD_REQ : 0);
    fx_wr(f, E1000_EECD, eecd);
    eecd = fx_rd(f, E1000_EECD);
    assert_true(!req || (eecd & E1000_EECD_GNT));
    assert_true(eecd & E1000_EECD_PRES);
    assert_false(eecd & E1000_EECD_SIZE); /* 64 words, 6 address bits */
    eecd &= ~(E1000_EECD_DI | E1000_EECD_SK);
    fx_wr(f, E1000_EECD, eecd);
    eecd |= E1000_EECD_CS;
    fx_wr(f, E1000_EECD, eecd);
    ee_shift_out(f, &eecd, EEPROM_READ_OPCODE_MICROWIRE, 3);
    ee_shift_out(f, &eecd, (uint16_t)addr, 6);
    uint16_t v = ee_shift_in(f, &eecd);
    /* release: CS low, one clock, drop the request */
    eecd &= ~(E1000_EECD_CS | E1000_EECD_DI);
    fx_wr(f, E1000_EECD, eecd);
    ee_out(f, &eecd, true);
    ee_out(f, &eecd, false);
    eecd &= ~E1000_EECD_REQ;
    fx_wr(f, E1000_EECD, eecd);
    return v;
}

static uint16_t ee_read_bitbang(E1000Fixture *f, unsigned addr)
{
    return ee_read_bitbang_req(f, addr, true);
}

static void test_eeprom_bitbang(void **state)
{
    E1000Fixture *f = *state;
    uint16_t sum = 0;
    for (unsigned i = 0; i < 64; i++) {
        uint16_t v = ee_read_bitbang(f, i);
        fx_wr(f, E1000_EERD, i << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
        assert_int_equal(v, fx_rd(f, E1000_EERD) >> 16);
        sum = (uint16_t)(sum + v);
    }
    assert_int_equal(sum, 0xBABA);
    assert_int_equal(ee_read_bitbang(f, 1), 0x1200);
    /* without the grant the pins do nothing */
    assert_false(fx_rd(f, E1000_EECD) & E1000_EECD_GNT);
}

static void test_mac_property_and_defaults(void **state)
{
    (void)state;
    E1000Fixture *f = fx_new_opts("mac=52:54:00:ab:cd:ef");
    assert_non_null(f);
    assert_int_equal(fx_rd(f, E1000_RA), 0xab005452);
    assert_int_equal(fx_rd(f, E1000_RA + 4), 0x8000efcd);
    fx_wr(f, E1000_EERD, 2 << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
    assert_int_equal(fx_rd(f, E1000_EERD) >> 16, 0xefcd);
    assert_int_equal(f->m.nr_nics, 1);

    /* a second NIC on the same machine gets the next default address */
    NetClient *b2 = net_client_new(f->backend->info, "second-backend", f);
    net_backend_register(b2);
    Error err = {{0}};
    Object *o2 = object_new_from_opts("e1000,netdev=second-backend", TYPE_KIND_DEVICE, &err);
    assert_non_null(o2);
    assert_int_equal(o2->type->realize(o2, &f->m, &err), 0);
    PCIDevice *d2 = NULL;
    for (int slot = 1; slot < PCI_MAX_DEVICES; slot++) {
        PCIDevice *d = pci_bus_device(f->m.pci, slot);
        if (d && d != f->dev) {
            d2 = d;
        }
    }
    assert_non_null(d2);
    MemoryRegion *mr = &d2->bar[0].region;
    assert_int_equal(memory_region_dispatch_read(mr, E1000_RA + 4, 4), 0x80005734);

    /* a backend already taken, or none at all: realize refuses */
    Object *o3 = object_new_from_opts("e1000,netdev=second-backend", TYPE_KIND_DEVICE, &err);
    assert_non_null(o3);
    assert_int_equal(o3->type->realize(o3, &f->m, &err), -1);
    assert_non_null(strstr(err.msg, "in use"));
    object_free(o3);
    Object *o4 = object_new_from_opts("e1000", TYPE_KIND_DEVICE, &err);
    assert_non_null(o4);
    assert_int_equal(o4->type->realize(o4, &f->m, &err), -1);
    object_free(o4);

    MemoryRegion *mr2 = &d2->bar[0].region;
    memory_region_dispatch_write(mr2, E1000_CTRL, E1000_CTRL_RST, 4);
    net_client_free(b2->peer);
    net_client_free(b2);
    object_free(o2);
    fx_free(f);
}

static uint32_t mdic(E1000Fixture *f, uint32_t op, unsigned phy, unsigned reg, uint16_t data)
{
    fx_wr(f, E1000_MDIC, op | phy << E1000_MDIC_PHY_SHIFT | reg << E1000_MDIC_REG_SHIFT | data);
    uint32_t v = fx_rd(f, E1000_MDIC);
    assert_true(v & E1000_MDIC_READY);
    return v;
}

static uint16_t phy_rd(E1000Fixture *f, unsigned reg)
{
    uint32_t v = mdic(f, E1000_MDIC_OP_READ, 1, reg, 0);
    assert_false(v & E1000_MDIC_ERROR);
    return (uint16_t)v;
}

static void test_phy_mdic(void **state)
{
    E1000Fixture *f = *state;
    assert_int_equal((uint32_t)phy_rd(f, PHY_ID1) << 16 | (phy_rd(f, PHY_ID2) & 0xfff0),
                     M88E1011_I_PHY_ID);
    /* the driver's setup: advertisement, then restart autonegotiation */
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_AUTONEG_ADV, 0x01e1);
    assert_int_equal(phy_rd(f, PHY_AUTONEG_ADV), 0x01e1);
    uint16_t bmcr = phy_rd(f, PHY_CTRL);
    assert_true(bmcr & MII_CR_AUTO_NEG_EN);
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_CTRL, bmcr | MII_CR_RESTART_AUTO_NEG | MII_CR_RESET);
    /* self-clearing bits, autonegotiation complete with link */
    assert_false(phy_rd(f, PHY_CTRL) & (MII_CR_RESTART_AUTO_NEG | MII_CR_RESET));
    uint16_t bmsr = phy_rd(f, PHY_STATUS);
    assert_true(bmsr & MII_SR_LINK_STATUS);
    assert_true(bmsr & MII_SR_AUTONEG_COMPLETE);
    assert_true(phy_rd(f, PHY_1000T_STATUS) & SR_1000T_LP_FD_CAPS);
    assert_true(phy_rd(f, PHY_LP_ABILITY) & NWAY_LPAR_ACKNOWLEDGE);
    uint16_t pssr = phy_rd(f, M88E1000_PHY_SPEC_STATUS);
    assert_int_equal(pssr & 0xc000, M88E1000_PSSR_1000MBS);
    assert_true(pssr & M88E1000_PSSR_LINK);
    /* PHY-specific control is read/write, status is read-only */
    mdic(f, E1000_MDIC_OP_WRITE, 1, M88E1000_PHY_SPEC_CTRL, 0x0868);
    assert_int_equal(phy_rd(f, M88E1000_PHY_SPEC_CTRL), 0x0868);
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_ID1, 0xdead);
    assert_int_equal(phy_rd(f, PHY_ID1), 0x0141);
    /* errors: other PHY address, unimplemented register, reserved opcode */
    assert_true(mdic(f, E1000_MDIC_OP_READ, 2, PHY_ID1, 0) & E1000_MDIC_ERROR);
    assert_true(mdic(f, E1000_MDIC_OP_READ, 1, 0x0B, 0) & E1000_MDIC_ERROR);
    assert_true(mdic(f, E1000_MDIC_OP_WRITE, 1, 0x1F, 0) & E1000_MDIC_ERROR);
    assert_true(mdic(f, 0, 1, PHY_ID1, 0) & E1000_MDIC_ERROR);
    /* MDIC.I: MDAC interrupt when the cycle completes */
    fx_rd(f, E1000_ICR);
    fx_wr(f, E1000_MDIC, E1000_MDIC_OP_READ | 1 << 21 | PHY_ID2 << 16 | E1000_MDIC_INT_EN);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_MDAC);
    /* power down takes the link away (and raises LSC) */
    link_up(f);
    fx_rd(f, E1000_ICR);
    assert_true(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_CTRL, bmcr | MII_CR_POWER_DOWN);
    assert_false(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
    assert_false(phy_rd(f, PHY_STATUS) & MII_SR_LINK_STATUS);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_LSC);
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_CTRL, bmcr | MII_CR_RESTART_AUTO_NEG);
    assert_true(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
}

/* What ethtool -s does: advertise less, or force speed and duplex. */
static void test_phy_speed_duplex(void **state)
{
    E1000Fixture *f = *state;
    link_up(f);
    assert_int_equal(fx_rd(f, E1000_STATUS) & 0xc1, E1000_STATUS_SPEED_1000 | E1000_STATUS_FD);
    /* advertise 100 full only */
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_1000T_CTRL, 0);
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_AUTONEG_ADV, 0x0101);
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_CTRL, 0x1340);
    assert_int_equal(phy_rd(f, M88E1000_PHY_SPEC_STATUS) & 0xe000, 0x4000 | M88E1000_PSSR_DPLX);
    assert_int_equal(fx_rd(f, E1000_STATUS) & 0xc1, E1000_STATUS_SPEED_100 | E1000_STATUS_FD);
    /* 10 half, forced, autonegotiation off */
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_CTRL, 0x0000);
    assert_int_equal(phy_rd(f, M88E1000_PHY_SPEC_STATUS) & 0xe000, 0);
    assert_int_equal(fx_rd(f, E1000_STATUS) & 0xc1, E1000_STATUS_SPEED_10);
    assert_true(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
    /* the MAC forced to 1000 full through CTRL */
    fx_wr(f, E1000_CTRL,
          E1000_CTRL_SLU | E1000_CTRL_FRCSPD | E1000_CTRL_FRCDPX | E1000_CTRL_SPD_1000 |
              E1000_CTRL_FD);
    assert_int_equal(fx_rd(f, E1000_STATUS) & 0xc1, E1000_STATUS_SPEED_1000 | E1000_STATUS_FD);
    /* nothing in common with the partner: no link */
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_AUTONEG_ADV, 0x0001);
    mdic(f, E1000_MDIC_OP_WRITE, 1, PHY_CTRL, 0x1340);
    assert_false(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
    assert_false(phy_rd(f, PHY_STATUS) & MII_SR_LINK_STATUS);
}

static void test_status_and_link(void **state)
{
    E1000Fixture *f = *state;
    /* after reset SLU is clear: the MAC does not see the link yet */
    assert_false(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
    fx_wr(f, E1000_IMS, E1000_IMS_LSC);
    link_up(f);
    uint32_t st = fx_rd(f, E1000_STATUS);
    assert_true(st & E1000_STATUS_LU);
    assert_true(st & E1000_STATUS_FD);
    assert_int_equal(st & 0xc0, E1000_STATUS_SPEED_1000);
    assert_int_equal(f->irq_level, 1); /* LSC on SLU */
    assert_int_equal(fx_rd(f, E1000_ICR), E1000_ICR_LSC | E1000_ICR_INT_ASSERTED);
    assert_int_equal(f->irq_level, 0);
    /* cable pulled at the backend */
    net_set_link(f->backend, false);
    assert_false(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
    assert_int_equal(f->irq_level, 1);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_LSC);
    net_set_link(f->backend, true);
    assert_true(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_LSC);
    /* STATUS is read-only */
    fx_wr(f, E1000_STATUS, 0);
    assert_true(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
}

static void test_ctrl_reset(void **state)
{
    E1000Fixture *f = *state;
    fx_wr(f, E1000_RA, 0x11223344);
    fx_wr(f, E1000_RA + 8, 0x55667788);
    fx_wr(f, E1000_RA + 12, 0x8000aabb);
    fx_wr(f, E1000_IMS, 0xffff);
    fx_wr(f, E1000_TDLEN, 4096);
    fx_wr(f, E1000_MTA + 40, 0xffffffff);
    fx_wr(f, E1000_ICS, E1000_ICR_TXDW);
    assert_int_equal(f->irq_level, 1);
    fx_wr(f, E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_RST);
    assert_int_equal(f->irq_level, 0);
    assert_false(fx_rd(f, E1000_CTRL) & E1000_CTRL_RST); /* self-clearing */
    assert_int_equal(fx_rd(f, E1000_IMS), 0);
    assert_int_equal(fx_rd(f, E1000_ICR), 0);
    assert_int_equal(fx_rd(f, E1000_TDLEN), 0);
    assert_int_equal(fx_rd(f, E1000_MTA + 40), 0);
    assert_int_equal(fx_rd(f, E1000_RA + 12), 0);
    /* the station address comes back from the EEPROM */
    assert_int_equal(fx_rd(f, E1000_RA), 0x12005452);
    assert_int_equal(fx_rd(f, E1000_RA + 4), 0x80005634);
    assert_int_equal(fx_rd(f, E1000_PBA), E1000_PBA_DEFAULT);
    assert_int_equal(fx_rd(f, E1000_VET), 0x8100);
}

static void test_io_bar(void **state)
{
    E1000Fixture *f = *state;
    MemoryRegion *io = &f->dev->bar[1].region;
    memory_region_dispatch_write(io, E1000_IOADDR, E1000_CTRL, 4);
    memory_region_dispatch_write(io, E1000_IODATA, E1000_CTRL_SLU | E1000_CTRL_FD, 4);
    assert_int_equal(memory_region_dispatch_read(io, E1000_IOADDR, 4), E1000_CTRL);
    assert_int_equal(fx_rd(f, E1000_CTRL), E1000_CTRL_SLU | E1000_CTRL_FD);
    memory_region_dispatch_write(io, E1000_IOADDR, E1000_STATUS, 4);
    assert_true(memory_region_dispatch_read(io, E1000_IODATA, 4) & E1000_STATUS_LU);
    /* the driver's reset path on 82540: CTRL.RST through the I/O window */
    fx_wr(f, E1000_IMS, 0xff);
    memory_region_dispatch_write(io, E1000_IOADDR, E1000_CTRL, 4);
    memory_region_dispatch_write(io, E1000_IODATA, E1000_CTRL_RST, 4);
    assert_int_equal(fx_rd(f, E1000_IMS), 0);
    /* reserved part of the window, and IOADDR past the registers */
    assert_int_equal(memory_region_dispatch_read(io, 0x20, 4), 0);
    memory_region_dispatch_write(io, E1000_IOADDR, 0xfffffffc, 4);
    memory_region_dispatch_read(io, E1000_IODATA, 4);
    memory_region_dispatch_write(io, E1000_IODATA, 0x12345678, 4);
}

/* ------------------------------------------------------------------ */
/* interrupts                                                          */

static void test_interrupt_registers(void **state)
{
    E1000Fixture *f = *state;
    fx_wr(f, E1000_ICS, E1000_ICS_TXDW);
    assert_int_equal(f->irq_level, 0); /* masked */
    assert_int_equal(fx_rd(f, E1000_ICR), E1000_ICR_TXDW | E1000_ICR_INT_ASSERTED);
    assert_int_equal(fx_rd(f, E1000_ICR), 0); /* read to clear */

    fx_wr(f, E1000_IMS, E1000_IMS_TXDW | E1000_IMS_RXT0);
    fx_wr(f, E1000_IMS, E1000_IMS_LSC); /* IMS writes set, they do not replace */
    assert_int_equal(fx_rd(f, E1000_IMS), E1000_IMS_TXDW | E1000_IMS_RXT0 | E1000_IMS_LSC);
    fx_wr(f, E1000_ICS, E1000_ICS_RXT0);
    assert_int_equal(f->irq_level, 1);
    fx_wr(f, E1000_IMC, E1000_IMS_RXT0);
    assert_int_equal(f->irq_level, 0);
    assert_int_equal(fx_rd(f, E1000_IMS), E1000_IMS_TXDW | E1000_IMS_LSC);
    fx_wr(f, E1000_IMS, E1000_IMS_RXT0);
    assert_int_equal(f->irq_level, 1);
    /* writing 1s to ICR clears those causes */
    fx_wr(f, E1000_ICR, E1000_ICR_RXT0);
    assert_int_equal(f->irq_level, 0);
    fx_wr(f, E1000_ICS, E1000_ICS_RXT0 | E1000_ICS_TXQE);
    assert_int_equal(f->irq_level, 1);
    fx_wr(f, E1000_ICR, E1000_ICR_RXT0);
    assert_int_equal(f->irq_level, 0); /* TXQE left, but masked */
    assert_int_equal(fx_rd(f, E1000_ICR), E1000_ICR_TXQE | E1000_ICR_INT_ASSERTED);
    /* ICS reads as nothing (write-only) */
    assert_int_equal(fx_rd(f, E1000_ICS), 0);

    /* INTx disable in COMMAND masks the pin, STATUS.INTERRUPT still says */
    fx_wr(f, E1000_ICS, E1000_ICS_TXDW);
    assert_int_equal(f->irq_level, 1);
    pci_config_write(f->dev, PCI_COMMAND,
                     PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE, 2);
    assert_int_equal(f->irq_level, 0);
    assert_true(pci_config_read(f->dev, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    pci_config_write(f->dev, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    assert_int_equal(f->irq_level, 1);
    fx_rd(f, E1000_ICR);
    assert_int_equal(f->irq_level, 0);
    assert_false(pci_config_read(f->dev, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
}

static void test_itr_throttling(void **state)
{
    E1000Fixture *f = *state;
    fx_wr(f, E1000_ITR, 1000); /* 256 us between assertions */
    fx_wr(f, E1000_IMS, E1000_IMS_TXDW);
    fx_wr(f, E1000_ICS, E1000_ICS_TXDW);
    assert_int_equal(f->irq_raises, 1);
    fx_rd(f, E1000_ICR);
    assert_int_equal(f->irq_level, 0);
    fx_advance(100000);
    fx_wr(f, E1000_ICS, E1000_ICS_TXDW);
    assert_int_equal(f->irq_level, 0); /* held back */
    fx_advance(100000);
    assert_int_equal(f->irq_level, 0);
    fx_advance(60000);
    assert_int_equal(f->irq_level, 1);
    assert_int_equal(f->irq_raises, 2);
    /* a cause cleared while held back never fires */
    fx_rd(f, E1000_ICR);
    fx_wr(f, E1000_ICS, E1000_ICS_TXDW);
    fx_wr(f, E1000_ICR, E1000_ICR_TXDW);
    fx_advance(300000);
    assert_int_equal(f->irq_raises, 2);
}

/* ------------------------------------------------------------------ */
/* receive                                                             */

static void test_rx_basic(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[200];
    rx_setup(f, 8, E1000_RCTL_BAM);
    fx_wr(f, E1000_IMS, E1000_IMS_RXT0);
    size_t len = mk_tcp4(fr, OUR_MAC, 100, 0x18, 1, 1000);
    assert_int_equal(inject(f, fr, len), (ssize_t)len);
    struct e1000_rx_desc d = rx_desc(0);
    assert_int_equal(d.status & (E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP),
                     E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP);
    /* SECRC clear: the 4 FCS bytes are stored too, and they are right */
    assert_int_equal(d.length, len + 4);
    assert_memory_equal(rx_data(0), fr, len);
    uint32_t crc = t_crc32(fr, len);
    uint8_t fcs[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                      (uint8_t)(crc >> 24)};
    assert_memory_equal(rx_data(0) + len, fcs, 4);
    assert_int_equal(fx_rd(f, E1000_RDH), 1);
    assert_int_equal(f->irq_level, 1);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_RXT0);

    /* SECRC set: no FCS */
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC);
    inject(f, fr, len);
    assert_int_equal(rx_desc(1).length, len);
    assert_int_equal(fx_rd(f, E1000_RDH), 2);

    /* short frames are padded to 60 bytes */
    uint8_t arp[42];
    memset(arp, 0x5a, sizeof(arp));
    mk_eth(arp, BCAST, 0x0806);
    inject(f, arp, sizeof(arp));
    d = rx_desc(2);
    assert_int_equal(d.length, 60);
    assert_memory_equal(rx_data(2), arp, sizeof(arp));
    for (int i = 42; i < 60; i++) {
        assert_int_equal(rx_data(2)[i], 0);
    }
}

static void test_rx_filter(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[128];
    const uint8_t other[6] = {0x52, 0x54, 0x00, 0x99, 0x99, 0x99};
    const uint8_t mc[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
    const uint8_t mc2[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
    size_t len;
    rx_setup(f, 256, E1000_RCTL_SECRC);

    len = mk_udp4(fr, OUR_MAC, 20);
    assert_true(rx_accepts(f, fr, len));
    len = mk_udp4(fr, other, 20);
    assert_false(rx_accepts(f, fr, len));
    /* broadcast: only with BAM */
    len = mk_udp4(fr, BCAST, 20);
    assert_false(rx_accepts(f, fr, len));
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC | E1000_RCTL_BAM);
    assert_true(rx_accepts(f, fr, len));
    /* multicast through the hash table: MO=0 uses address bits 47:36 */
    len = mk_udp4(fr, mc, 20);
    assert_false(rx_accepts(f, fr, len));
    unsigned h = ((unsigned)mc[5] << 4 | mc[4] >> 4) & 0xfff;
    fx_wr(f, E1000_MTA + 4 * (h >> 5), 1u << (h & 31));
    assert_true(rx_accepts(f, fr, len));
    len = mk_udp4(fr, mc2, 20);
    assert_false(rx_accepts(f, fr, len));
    /* MO=3 uses bits 43:32 */
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC | 3 << E1000_RCTL_MO_SHIFT);
    unsigned h3 = ((unsigned)(mc2[5] & 0xf) << 8 | mc2[4]) & 0xfff;
    fx_wr(f, E1000_MTA + 4 * (h3 >> 5), 1u << (h3 & 31));
    assert_true(rx_accepts(f, fr, len));
    /* multicast promiscuous */
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC | E1000_RCTL_MPE);
    const uint8_t mc3[6] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e};
    len = mk_udp4(fr, mc3, 20);
    assert_true(rx_accepts(f, fr, len));
    len = mk_udp4(fr, other, 20);
    assert_false(rx_accepts(f, fr, len)); /* MPE is not UPE */
    /* unicast promiscuous */
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC | E1000_RCTL_UPE);
    assert_true(rx_accepts(f, fr, len));
    len = mk_udp4(fr, mc3, 20);
    assert_false(rx_accepts(f, fr, len)); /* UPE is not MPE */
    /* a second exact address in RAR[3]; an invalid (AV clear) entry does nothing */
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC);
    fx_wr(f, E1000_RA + 24, 0x99005452);
    fx_wr(f, E1000_RA + 28, 0x00009999);
    len = mk_udp4(fr, other, 20);
    assert_false(rx_accepts(f, fr, len));
    fx_wr(f, E1000_RA + 28, 0x80009999);
    assert_true(rx_accepts(f, fr, len));
    /* VLAN filter: VID 100 must be in VFTA */
    uint8_t tagged[140];
    len = mk_udp4(fr, OUR_MAC, 20);
    memcpy(tagged, fr, 12);
    put16(tagged + 12, 0x8100);
    put16(tagged + 14, 100);
    memcpy(tagged + 16, fr + 12, len - 12);
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC | E1000_RCTL_VFE);
    assert_false(rx_accepts(f, tagged, len + 4));
    fx_wr(f, E1000_VFTA + 4 * (100 >> 5), 1u << (100 & 31));
    assert_true(rx_accepts(f, tagged, len + 4));
    put16(tagged + 14, 101);
    assert_false(rx_accepts(f, tagged, len + 4));
    /* without VFE the tag does not matter */
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC);
    assert_true(rx_accepts(f, tagged, len + 4));
}

/* Frames carry a sequence number in their UDP payload. */
static size_t mk_seq_frame(uint8_t *fr, uint32_t seq)
{
    size_t len = mk_udp4(fr, OUR_MAC, 64);
    put32(fr + 42, seq);
    return len;
}

static void test_rx_backpressure_and_wrap(void **state)
{
    E1000Fixture *f = *state;
    const uint32_t n = 8, total = 40;
    uint8_t fr[128];
    rx_setup(f, n, E1000_RCTL_SECRC);

    uint32_t delivered_now = 0, queued = 0;
    for (uint32_t i = 0; i < total; i++) {
        size_t len = mk_seq_frame(fr, i);
        ssize_t r = inject(f, fr, len);
        assert_true(r >= 0); /* never dropped */
        if (r > 0) {
            delivered_now++;
        } else {
            queued++;
        }
    }
    assert_int_equal(delivered_now, n - 1); /* one descriptor stays with the driver */
    assert_int_equal(queued, total - (n - 1));
    assert_int_equal(fx_rd(f, E1000_RDH), fx_rd(f, E1000_RDT)); /* ring full */

    /* the guest consumes what is done and returns the buffers; every RDT
     * write lets queued frames in, in order */
    uint32_t next = 0, got = 0;
    for (int round = 0; round < 100 && got < total; round++) {
        while (rx_desc(next).status & E1000_RXD_STAT_DD) {
            assert_int_equal(get32(rx_data(next) + 42), got);
            got++;
            struct e1000_rx_desc d = {.buffer_addr = RXBUF + next * RXBUF_STRIDE};
            memcpy(ram(RXRING + 16 * next), &d, sizeof(d));
            next = (next + 1) % n;
        }
        fx_wr(f, E1000_RDT, (next + n - 1) % n);
    }
    assert_int_equal(got, total);
    assert_int_equal(f->sent_cbs, (int)queued); /* each queued frame released its sender */
    assert_int_equal(fx_rd(f, E1000_MPC), 0);
    assert_true(fx_rd(f, E1000_RNBC) > 0);
    assert_int_equal(fx_rd(f, E1000_GPRC), total);
}

static void test_rx_disabled_waits(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[128];
    rx_setup(f, 8, E1000_RCTL_SECRC);
    fx_wr(f, E1000_RCTL, E1000_RCTL_SECRC); /* EN off */
    size_t len = mk_seq_frame(fr, 7);
    assert_int_equal(inject(f, fr, len), 0);
    assert_int_equal(fx_rd(f, E1000_RDH), 0);
    fx_wr(f, E1000_RCTL, E1000_RCTL_SECRC | E1000_RCTL_EN);
    assert_int_equal(fx_rd(f, E1000_RDH), 1);
    assert_int_equal(get32(rx_data(0) + 42), 7);
    assert_int_equal(f->sent_cbs, 1);
    /* bus mastering off: nothing is written, the frame waits */
    pci_config_write(f->dev, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    assert_int_equal(inject(f, fr, len), 0);
    assert_int_equal(fx_rd(f, E1000_RDH), 1);
    pci_config_write(f->dev, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    assert_int_equal(fx_rd(f, E1000_RDH), 2);
}

static void test_rx_multi_descriptor(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[1200];
    rx_setup(f, 16, E1000_RCTL_SECRC | E1000_RCTL_SZ_256);
    size_t len = mk_tcp4(fr, OUR_MAC, 946, 0x10, 9, 9); /* 1000 bytes */
    assert_int_equal(len, 1000);
    assert_int_equal(inject(f, fr, len), (ssize_t)len);
    assert_int_equal(fx_rd(f, E1000_RDH), 4);
    for (uint32_t i = 0; i < 4; i++) {
        struct e1000_rx_desc d = rx_desc(i);
        assert_true(d.status & E1000_RXD_STAT_DD);
        assert_int_equal(!!(d.status & E1000_RXD_STAT_EOP), i == 3);
        assert_int_equal(d.length, i < 3 ? 256 : 1000 - 768);
        assert_memory_equal(rx_data(i), fr + 256 * i, d.length);
    }
    /* a frame needing more buffers than are free waits for them */
    fx_wr(f, E1000_RDT, 6); /* descriptors 4, 5 free */
    assert_int_equal(inject(f, fr, len), 0);
    assert_int_equal(fx_rd(f, E1000_RDH), 4);
    fx_wr(f, E1000_RDT, 9);
    assert_int_equal(fx_rd(f, E1000_RDH), 8);
    /* a frame that can never fit (ring of 8 x 256 bytes, at most 7 given
     * to the device): dropped, MPC/RXO */
    static uint8_t big[2100];
    rx_setup(f, 8, E1000_RCTL_SECRC | E1000_RCTL_SZ_256 | E1000_RCTL_LPE);
    len = mk_tcp4(big, OUR_MAC, 1946, 0x10, 9, 9); /* 2000 bytes: 8 buffers */
    assert_int_equal(inject(f, big, len), (ssize_t)len);
    assert_int_equal(fx_rd(f, E1000_RDH), 0);
    assert_int_equal(fx_rd(f, E1000_MPC), 1);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_RXO);
}

static void test_rx_long_packets(void **state)
{
    E1000Fixture *f = *state;
    static uint8_t fr[9100];
    rx_setup(f, 8, E1000_RCTL_SECRC);
    size_t len = mk_tcp4(fr, OUR_MAC, 1460, 0x10, 1, 1); /* 1514: fits */
    assert_true(rx_accepts(f, fr, len));
    len = mk_tcp4(fr, OUR_MAC, 1465, 0x10, 1, 1); /* 1519 + FCS > 1522 */
    assert_false(rx_accepts(f, fr, len));
    assert_int_equal(fx_rd(f, E1000_ROC), 1);
    /* jumbo with LPE and 16 KiB buffers */
    fx_wr(f, E1000_RCTL,
          E1000_RCTL_EN | E1000_RCTL_SECRC | E1000_RCTL_LPE | E1000_RCTL_BSEX |
              E1000_RCTL_SZ_16384);
    len = mk_tcp4(fr, OUR_MAC, 9000, 0x10, 1, 1);
    assert_true(rx_accepts(f, fr, len));
    struct e1000_rx_desc d = rx_desc(1);
    assert_int_equal(d.length, len);
    assert_true(d.status & E1000_RXD_STAT_EOP);
    assert_memory_equal(rx_data(1), fr, len);
    /* even with LPE nothing above 16 KiB */
    static uint8_t big[20000];
    memcpy(big, fr, 14);
    assert_false(rx_accepts(f, big, sizeof(big)));
}

static void test_rx_checksum_offload(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[300];
    rx_setup(f, 32, E1000_RCTL_SECRC);
    fx_wr(f, E1000_RXCSUM, E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL);
    uint32_t i = 0;

    /* good TCP */
    size_t len = mk_tcp4(fr, OUR_MAC, 100, 0x18, 1, 1);
    inject(f, fr, len);
    struct e1000_rx_desc d = rx_desc(i++);
    assert_int_equal(d.status & (E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS | E1000_RXD_STAT_IXSM),
                     E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS);
    assert_int_equal(d.errors, 0);
    /* bad TCP checksum (payload corrupted) */
    fr[80] ^= 0x01;
    inject(f, fr, len);
    d = rx_desc(i++);
    assert_true(d.status & E1000_RXD_STAT_TCPCS);
    assert_int_equal(d.errors, E1000_RXD_ERR_TCPE);
    /* bad IP header checksum */
    len = mk_tcp4(fr, OUR_MAC, 100, 0x18, 1, 1);
    fr[14 + 8] = 3; /* TTL changed, checksum not */
    inject(f, fr, len);
    d = rx_desc(i++);
    assert_true(d.status & E1000_RXD_STAT_IPCS);
    assert_true(d.errors & E1000_RXD_ERR_IPE);
    assert_false(d.errors & E1000_RXD_ERR_TCPE);
    /* good UDP */
    len = mk_udp4(fr, OUR_MAC, 33);
    inject(f, fr, len);
    d = rx_desc(i++);
    assert_true(d.status & E1000_RXD_STAT_TCPCS);
    assert_int_equal(d.errors, 0);
    /* bad UDP */
    fr[50] ^= 0xff;
    inject(f, fr, len);
    d = rx_desc(i++);
    assert_int_equal(d.errors, E1000_RXD_ERR_TCPE);
    /* not IP: nothing checked */
    uint8_t arp[60] = {0};
    mk_eth(arp, OUR_MAC, 0x0806);
    inject(f, arp, sizeof(arp));
    d = rx_desc(i++);
    assert_int_equal(d.status & (E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS | E1000_RXD_STAT_IXSM),
                     E1000_RXD_STAT_IXSM);
    /* offloads off: IXSM even for TCP */
    fx_wr(f, E1000_RXCSUM, 0);
    len = mk_tcp4(fr, OUR_MAC, 100, 0x18, 1, 1);
    inject(f, fr, len);
    d = rx_desc(i++);
    assert_int_equal(d.status & (E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS | E1000_RXD_STAT_IXSM),
                     E1000_RXD_STAT_IXSM);
    /* the raw packet checksum from PCSS */
    fx_wr(f, E1000_RXCSUM, 34);
    inject(f, fr, len);
    d = rx_desc(i++);
    assert_int_equal(d.csum, t_fold(t_sum(fr + 34, len - 34, 0)));
}

static void test_rx_vlan_strip(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[200], tagged[204];
    rx_setup(f, 8, E1000_RCTL_SECRC);
    size_t len = mk_tcp4(fr, OUR_MAC, 50, 0x18, 1, 1);
    memcpy(tagged, fr, 12);
    put16(tagged + 12, 0x8100);
    put16(tagged + 14, 0x2064); /* priority 1, VID 100 */
    memcpy(tagged + 16, fr + 12, len - 12);
    /* VME clear: the tag stays */
    inject(f, tagged, len + 4);
    struct e1000_rx_desc d = rx_desc(0);
    assert_int_equal(d.length, len + 4);
    assert_false(d.status & E1000_RXD_STAT_VP);
    assert_true(d.status & E1000_RXD_STAT_TCPCS); /* checksums found behind the tag */
    /* VME set: stripped into the special field */
    fx_wr(f, E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_VME);
    inject(f, tagged, len + 4);
    d = rx_desc(1);
    assert_int_equal(d.length, len);
    assert_true(d.status & E1000_RXD_STAT_VP);
    assert_int_equal(d.special, 0x2064);
    assert_memory_equal(rx_data(1), fr, len);
    assert_int_equal(d.errors, 0);
}

static void test_rx_interrupt_delay(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[128];
    size_t len = mk_seq_frame(fr, 1);
    rx_setup(f, 64, E1000_RCTL_SECRC);
    fx_wr(f, E1000_IMS, E1000_IMS_RXT0);
    fx_wr(f, E1000_RDTR, 100); /* 102.4 us after the last frame */
    inject(f, fr, len);
    assert_false(fx_rd(f, E1000_ICR) & E1000_ICR_RXT0);
    fx_advance(50000);
    inject(f, fr, len); /* restarts the packet timer */
    fx_advance(60000);
    assert_int_equal(f->irq_level, 0);
    fx_advance(50000);
    assert_int_equal(f->irq_level, 1);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_RXT0);
    /* RADV bounds the delay of a steady stream */
    fx_wr(f, E1000_RADV, 150); /* 153.6 us */
    for (int i = 0; i < 3; i++) {
        inject(f, fr, len);
        fx_advance(60000);
    }
    assert_int_equal(f->irq_level, 1);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_RXT0);
    fx_advance(1000000);
    /* FPD flushes at once */
    fx_wr(f, E1000_RADV, 0);
    fx_wr(f, E1000_RDTR, 1000);
    inject(f, fr, len);
    assert_int_equal(f->irq_level, 0);
    fx_wr(f, E1000_RDTR, 1000 | E1000_RDTR_FPD);
    assert_int_equal(f->irq_level, 1);
    assert_int_equal(fx_rd(f, E1000_RDTR), 1000);
    fx_rd(f, E1000_ICR);
    fx_advance(2000000);
    assert_int_equal(f->irq_level, 0); /* nothing left pending */
}

static void test_rx_rxdmt0(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[128];
    size_t len = mk_seq_frame(fr, 1);
    rx_setup(f, 16, E1000_RCTL_SECRC | E1000_RCTL_RDMTS_HALF); /* 15 free, threshold 8 */
    fx_rd(f, E1000_ICR);
    for (int i = 0; i < 6; i++) {
        inject(f, fr, len);
    }
    assert_false(fx_rd(f, E1000_ICR) & E1000_ICR_RXDMT0); /* 9 left */
    inject(f, fr, len);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_RXDMT0); /* 8 left */
}

/* ------------------------------------------------------------------ */
/* transmit                                                            */

static void test_tx_legacy(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[300];
    tx_setup(f, 8);
    fx_wr(f, E1000_IMS, E1000_IMS_TXDW);
    size_t len = mk_tcp4(fr, PEER_MAC, 200, 0x18, 5, 5);
    memcpy(ram(TXBUF), fr, len);
    uint32_t i =
        tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS), 0);
    tx_kick(f);
    assert_int_equal(f->nsent, 1);
    assert_int_equal(f->sent_len[0], len);
    assert_memory_equal(f->sent[0], fr, len);
    assert_true(tx_status(i) & E1000_TXD_STAT_DD);
    assert_int_equal(fx_rd(f, E1000_TDH), 1);
    assert_int_equal(f->irq_level, 1);
    assert_int_equal(fx_rd(f, E1000_ICR), E1000_ICR_TXDW | E1000_ICR_TXQE | E1000_ICR_INT_ASSERTED);

    /* one frame from three descriptors; RS only on the last */
    memcpy(ram(TXDATA), fr + 100, len - 100);
    uint32_t a = tx_push(TXBUF, LEGACY(60, E1000_TXD_CMD_IFCS), 0);
    tx_push(TXBUF + 60, LEGACY(40, E1000_TXD_CMD_IFCS), 0);
    uint32_t c = tx_push(TXDATA, LEGACY(len - 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS), 0);
    tx_kick(f);
    assert_int_equal(f->nsent, 2);
    assert_int_equal(f->sent_len[1], len);
    assert_memory_equal(f->sent[1], fr, len);
    assert_false(tx_status(a) & E1000_TXD_STAT_DD);
    assert_true(tx_status(c) & E1000_TXD_STAT_DD);
    assert_int_equal(fx_rd(f, E1000_TDH), fx_rd(f, E1000_TDT));

    /* short frames are padded (TCTL.PSP) */
    memcpy(ram(TXBUF), fr, 42);
    tx_push(TXBUF, LEGACY(42, E1000_TXD_CMD_EOP), 0);
    tx_kick(f);
    assert_int_equal(f->sent_len[2], 60);
    /* TX disabled: TDT moves, nothing goes until TCTL.EN */
    fx_wr(f, E1000_TCTL, 0);
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP), 0);
    tx_kick(f);
    assert_int_equal(f->nsent, 3);
    fx_wr(f, E1000_TCTL, E1000_TCTL_EN);
    assert_int_equal(f->nsent, 4);
    /* ring registers written after enabling TX still count at use time */
    fx_wr(f, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
    fx_wr(f, E1000_TDLEN, 0);
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP), 0);
    tx_kick(f);
    assert_int_equal(f->nsent, 4);
    fx_wr(f, E1000_TDLEN, 8 * 16);
    fx_wr(f, E1000_TDT, txq_tail);
    assert_int_equal(f->nsent, 5);
    /* the backend being busy does not stall the ring */
    f->backend_busy = true;
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS), 0);
    tx_kick(f);
    assert_int_equal(fx_rd(f, E1000_TDH), txq_tail);
    f->backend_busy = false;
    net_flush_queued(f->backend);
    assert_int_equal(f->nsent, 6);
}

/* Doorbells: a 4-byte TDT/RDT write that exited teaches the device its
 * value; KVM then turns the next write of that value into an eventfd signal,
 * and the device takes the signals in on its next register access (or on the
 * main loop), in order, as if the write had exited. */
static int doorbell_fd(E1000Fixture *f, uint32_t reg, uint32_t value)
{
    MemoryRegion *mr = &f->dev->bar[0].region;
    for (size_t i = 0; i < mr->nioeventfds; i++) {
        IoEventFd *e = &mr->ioeventfds[i];
        if (e->offset == reg && e->len == 4 && e->match && e->data == value) {
            return e->fd;
        }
    }
    return -1;
}

static void ring_doorbell(E1000Fixture *f, uint32_t reg, uint32_t value)
{
    uint64_t one = 1;
    int fd = doorbell_fd(f, reg, value);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void test_tx_doorbell(void **state)
{
    (void)state;
    E1000Fixture *f = fx_new_opts("doorbells=on");
    assert_non_null(f);
    uint8_t fr[300];
    tx_setup(f, 8); /* writes TDT = 0 */
    /* the value written learns its doorbell, and so do the next ones around
     * the ring (E1000_DOORBELL_AHEAD: 8, the whole ring here) */
    for (uint32_t v = 0; v < 8; v++) {
        assert_true(doorbell_fd(f, E1000_TDT, v) >= 0);
    }
    assert_int_equal(doorbell_fd(f, E1000_TDT, 8), -1);
    assert_int_equal(doorbell_fd(f, E1000_RDT, 0), -1);
    size_t len = mk_tcp4(fr, PEER_MAC, 200, 0x18, 5, 5);
    memcpy(ram(TXBUF), fr, len);
    /* first lap: the writes exit (the fixture calls the exit path) */
    for (uint32_t v = 1; v < 8; v++) {
        tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS), 0);
        fx_wr(f, E1000_TDT, v);
        assert_int_equal(f->nsent, (int)v);
        assert_true(doorbell_fd(f, E1000_TDT, v) >= 0);
    }
    /* an 8-byte or 2-byte write does not match a doorbell: no new one */
    MemoryRegion *mr = &f->dev->bar[0].region;
    size_t before = mr->nioeventfds;
    memory_region_dispatch_write(mr, E1000_TDT, 7, 2);
    assert_int_equal(mr->nioeventfds, before);
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS), 0);
    fx_wr(f, E1000_TDT, 0); /* completes the lap: 8 sent */
    assert_int_equal(f->nsent, 8);
    fx_clear_sent(f);
    for (int k = 0; k < 3; k++) {
        tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS), 0);
    }
    /* the guest wrote TDT=1 and then TDT=3 without exits */
    ring_doorbell(f, E1000_TDT, 1);
    ring_doorbell(f, E1000_TDT, 3);
    assert_int_equal(f->nsent, 0);
    /* its next register access sees them applied, the newest last */
    assert_int_equal(fx_rd(f, E1000_TDT), 3);
    assert_int_equal(f->nsent, 3);
    assert_int_equal(fx_rd(f, E1000_TDH), 3);
    /* across the wrap: from 3, tail 1 is further ahead than tail 7 */
    for (int k = 0; k < 6; k++) {
        tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS), 0);
    }
    ring_doorbell(f, E1000_TDT, 1);
    ring_doorbell(f, E1000_TDT, 7);
    assert_int_equal(fx_rd(f, E1000_TDH), 1);
    assert_int_equal(f->nsent, 9);
    /* a doorbell is the same write whatever the ring length: it stays */
    fx_wr(f, E1000_TDLEN, 512 * 16);
    assert_true(doorbell_fd(f, E1000_TDT, 7) >= 0);
    /* a doorbell that rang before a write that exits is taken first */
    fx_wr(f, E1000_TDH, 0);
    fx_wr(f, E1000_TDT, 0);
    fx_clear_sent(f);
    txq_tail = 0;
    txq_count = 512;
    for (int k = 0; k < 9; k++) {
        tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS), 0);
    }
    ring_doorbell(f, E1000_TDT, 7);
    fx_wr(f, E1000_TDT, 9); /* exits: 7 first, then 9 */
    assert_int_equal(f->nsent, 9);
    /* 9 and the 7 after it, not further */
    assert_true(doorbell_fd(f, E1000_TDT, 9) >= 0);
    assert_true(doorbell_fd(f, E1000_TDT, 16) >= 0);
    assert_int_equal(doorbell_fd(f, E1000_TDT, 17), -1);
    /* at most E1000_DOORBELL_MAX (256) values per ring; the rest exit */
    for (uint32_t v = 10; v < 400; v++) {
        fx_wr(f, E1000_TDT, v); /* no descriptors there: nothing to send */
    }
    size_t n = 0;
    for (uint32_t v = 0; v < 512; v++) {
        n += doorbell_fd(f, E1000_TDT, v) >= 0;
    }
    assert_int_equal(n, 256);
    assert_int_equal(doorbell_fd(f, E1000_TDT, 399), -1);
    /* more doorbells rang than one epoll batch (64) holds: all are taken
     * and the furthest ahead of the tail wins, wherever it came in the batch */
    fx_wr(f, E1000_TDH, 0);
    fx_wr(f, E1000_TDT, 0);
    fx_clear_sent(f);
    txq_tail = 0;
    txq_count = 512;
    for (int k = 0; k < 100; k++) { /* within one run's work budget */
        tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS), 0);
    }
    for (uint32_t v = 100; v >= 20; v--) {
        ring_doorbell(f, E1000_TDT, v);
    }
    (void)fx_rd(f, E1000_STATUS); /* any access takes the doorbells first */
    assert_int_equal(fx_rd(f, E1000_TDT), 100);
    assert_int_equal(f->nsent, 100);
}

/* Posted IMS/IMC writes (posted=on) with a stand-in for KVM's coalesced-MMIO
 * ring: writes in a window queue without reaching the device until a flush. */
static struct {
    E1000Fixture *f;
    uint32_t off[8], val[8];
    int queued, windows, flushes;
} pq;

static int pq_add(void *o, AddressSpace *as, uint64_t addr, uint32_t len)
{
    (void)o, (void)as, (void)addr, (void)len;
    pq.windows++;
    return 0;
}

static void pq_del(void *o, AddressSpace *as, uint64_t addr, uint32_t len)
{
    (void)o, (void)as, (void)addr, (void)len;
    pq.windows--;
}

static void pq_flush(void *o)
{
    (void)o;
    pq.flushes++;
    /* like KVM's ring: an entry leaves the queue before it is delivered
     * (the delivery may ask for a flush again) */
    for (int i = 0; i < pq.queued;) {
        uint32_t off = pq.off[i], val = pq.val[i];
        memmove(&pq.off[0], &pq.off[1], sizeof(pq.off[0]) * (size_t)(pq.queued - 1));
        memmove(&pq.val[0], &pq.val[1], sizeof(pq.val[0]) * (size_t)(pq.queued - 1));
        pq.queued--;
        fx_wr(pq.f, off, val);
    }
}

static void pq_post(uint32_t off, uint32_t val)
{
    assert_true(pq.queued < 8);
    pq.off[pq.queued] = off;
    pq.val[pq.queued++] = val;
}

static void test_posted_ims_imc(void **state)
{
    (void)state;
    E1000Fixture *f = fx_new();
    assert_non_null(f);
    memset(&pq, 0, sizeof(pq));
    pq.f = f;
    static const MemoryListener l = {
        .posted_add = pq_add, .posted_del = pq_del, .posted_flush = pq_flush};
    address_space_set_listener(&f->m.mmio, &l);
    assert_int_equal(pq.windows, 2); /* IMS and IMC, BAR0 is mapped */
    uint8_t fr[200];
    size_t len = mk_tcp4(fr, OUR_MAC, 100, 0x18, 1, 1000);
    rx_setup(f, 8, E1000_RCTL_BAM);
    fx_wr(f, E1000_IMS, E1000_IMS_RXT0);

    /* the driver's interrupt handler: ICR read, IMC posted, then a flush
     * read. A frame arriving between them must not assert the line for a
     * cause the guest has already masked: the device takes the posted IMC
     * in before it decides. */
    inject(f, fr, len);
    assert_int_equal(f->irq_level, 1);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_RXT0);
    assert_int_equal(f->irq_level, 0);
    pq_post(E1000_IMC, 0xffffffff);
    int raises = f->irq_raises;
    inject(f, fr, len);
    assert_int_equal(pq.queued, 0);
    assert_int_equal(f->irq_raises, raises);
    assert_int_equal(f->irq_level, 0);
    assert_int_equal(fx_rd(f, E1000_IMS), 0);

    /* re-enabling: IMS posted while a cause waits behind the mask. The
     * flush read (STATUS) takes it in first: the line rises at once. */
    pq_post(E1000_IMS, E1000_IMS_RXT0);
    assert_int_equal(f->irq_level, 0);
    (void)fx_rd(f, E1000_STATUS);
    assert_int_equal(f->irq_level, 1);
    (void)fx_rd(f, E1000_ICR);

    /* a guest that never reads after its IMS write still gets its interrupt:
     * the device looks after 1 ms, then backs off (2, 4, .. 32 ms) while
     * the guest keeps the cause masked */
    fx_wr(f, E1000_IMC, 0xffffffff);
    inject(f, fr, len);
    assert_int_equal(f->irq_level, 0);
    pq_post(E1000_IMS, E1000_IMS_RXT0);
    fx_advance(500000);
    assert_int_equal(f->irq_level, 0);
    assert_int_equal(pq.queued, 1);
    fx_advance(600000);
    assert_int_equal(pq.queued, 0);
    assert_int_equal(f->irq_level, 1);
    (void)fx_rd(f, E1000_ICR);
    fx_wr(f, E1000_IMC, 0xffffffff);
    inject(f, fr, len); /* masked: polls at +1 ms, +2 ms more, +4 ms more .. */
    for (int k = 0; k < 7; k++) {
        fx_advance(32000000);
    }
    pq_post(E1000_IMS, E1000_IMS_RXT0); /* now the poll runs every 32 ms */
    fx_advance(1000000);
    assert_int_equal(f->irq_level, 0);
    fx_advance(32000000);
    assert_int_equal(f->irq_level, 1);
    address_space_set_listener(&f->m.mmio, NULL);
}

static void test_tx_legacy_checksum(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[300];
    tx_setup(f, 8);
    size_t len = mk_tcp4(fr, PEER_MAC, 150, 0x18, 5, 5);
    /* as a driver with CHECKSUM_PARTIAL leaves it: pseudo-header sum only */
    uint8_t *ip = fr + 14, *tcp = fr + 34;
    put16(tcp + 16, t_fold(t_pseudo4(ip, 6, len - 34)));
    memcpy(ram(TXBUF), fr, len);
    /* CSO = 50, CSS = 34, IC in the (single, last) descriptor */
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC) | 50u << 16, 34u << 8);
    tx_kick(f);
    assert_int_equal(f->nsent, 1);
    assert_true(ipv4_l4_ok(f->sent[0] + 14));
    assert_memory_equal(f->sent[0] + 34 + 20, fr + 34 + 20, 150);
    /* without IC the field is left alone */
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP) | 50u << 16, 34u << 8);
    tx_kick(f);
    assert_false(ipv4_l4_ok(f->sent[1] + 14));
}

static void test_tx_context_checksum(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[400];
    tx_setup(f, 16);
    /* UDP/IPv4: IP checksum zeroed, UDP field seeded with the pseudo header */
    size_t len = mk_udp4(fr, PEER_MAC, 300);
    uint8_t *ip = fr + 14;
    put16(ip + 10, 0);
    put16(fr + 34 + 6, t_fold(t_pseudo4(ip, 17, len - 34)));
    memcpy(ram(TXBUF), fr, len);
    tx_push_ctx(14, 24, 33, 34, 40, 0, E1000_TXD_CMD_IP, 0, 0);
    tx_push(TXBUF, DATA(100, E1000_TXD_CMD_IFCS),
            POPTS(E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM));
    tx_push(TXBUF + 100, DATA(len - 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS), 0);
    tx_kick(f);
    assert_int_equal(f->nsent, 1);
    assert_int_equal(f->sent_len[0], len);
    assert_true(ipv4_hdr_ok(f->sent[0] + 14));
    assert_true(ipv4_l4_ok(f->sent[0] + 14));

    /* TCP/IPv4, TXSM only: the IP header is left as given */
    len = mk_tcp4(fr, PEER_MAC, 200, 0x18, 1, 1);
    put16(fr + 34 + 16, t_fold(t_pseudo4(ip, 6, len - 34)));
    memcpy(ram(TXBUF), fr, len);
    tx_push_ctx(0, 0, 0, 34, 50, 0, E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP, 0, 0);
    tx_push(TXBUF, DATA(len, E1000_TXD_CMD_EOP), POPTS(E1000_TXD_POPTS_TXSM));
    tx_kick(f);
    assert_int_equal(f->nsent, 2);
    assert_true(ipv4_l4_ok(f->sent[1] + 14));
    assert_memory_equal(f->sent[1] + 14, fr + 14, 20);

    /* the context stays until replaced: a second packet reuses it */
    len = mk_tcp4(fr, PEER_MAC, 80, 0x18, 2, 2);
    put16(fr + 34 + 16, t_fold(t_pseudo4(ip, 6, len - 34)));
    memcpy(ram(TXBUF), fr, len);
    tx_push(TXBUF, DATA(len, E1000_TXD_CMD_EOP), POPTS(E1000_TXD_POPTS_TXSM));
    tx_kick(f);
    assert_true(ipv4_l4_ok(f->sent[2] + 14));
}

/* A TSO packet the way the Linux driver prepares it (e1000_tso). */
static size_t prep_tso4(uint8_t *fr, size_t plen, uint8_t flags, uint16_t id, uint32_t seq)
{
    size_t len = mk_tcp4(fr, PEER_MAC, plen, flags, id, seq);
    uint8_t *ip = fr + 14;
    put16(ip + 2, 0);
    put16(ip + 10, 0);
    put16(fr + 34 + 16, t_fold(t_pseudo4(ip, 6, 0)));
    return len;
}

/* A TSO send of @plen payload bytes (PSH|FIN|ACK, IP id 0x1000, seq
 * 0x10000000) in guest RAM at TXBUF and its TSO context descriptor pushed
 * (IPv4/TCP, HDRLEN 54, @mss); the data descriptors are the caller's. */
static size_t tso4_send_prepare(uint8_t *fr, size_t plen, unsigned mss)
{
    size_t len = prep_tso4(fr, plen, 0x19, 0x1000, 0x10000000);
    memcpy(ram(TXBUF), fr, len);
    tx_push_ctx(14, 24, 33, 34, 50, 0,
                E1000_TXD_CMD_TSE | E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP | (uint32_t)plen, 54,
                (uint16_t)mss);
    return len;
}

static void check_tso4_segments(E1000Fixture *f, int first, const uint8_t *orig, size_t plen,
                                unsigned mss, uint16_t id, uint32_t seq, uint8_t flags)
{
    unsigned nseg = (unsigned)((plen + mss - 1) / mss);
    assert_int_equal(f->nsent - first, nseg);
    for (unsigned k = 0; k < nseg; k++) {
        const uint8_t *s = f->sent[first + k];
        size_t pl = k + 1 < nseg ? mss : plen - (size_t)mss * (nseg - 1);
        assert_int_equal(f->sent_len[first + k], 54 + pl);
        const uint8_t *ip = s + 14, *tcp = s + 34;
        assert_int_equal(get16(ip + 2), 40 + pl);
        assert_int_equal(get16(ip + 4), (uint16_t)(id + k));
        assert_int_equal(get32(tcp + 4), seq + k * mss);
        uint8_t want = k + 1 < nseg ? (uint8_t)(flags & ~0x09) : flags;
        assert_int_equal(tcp[13], want);
        assert_true(ipv4_hdr_ok(ip));
        assert_true(ipv4_l4_ok(ip));
        assert_memory_equal(tcp + 20, orig + 54 + (size_t)k * mss, pl);
        assert_memory_equal(s, orig, 14); /* Ethernet header copied */
    }
}

static void test_tx_tso_ipv4(void **state)
{
    E1000Fixture *f = *state;
    static uint8_t fr[8000];
    const unsigned mss = 1448;
    tx_setup(f, 32);

    /* 4000 bytes of payload, PSH|FIN|ACK: three segments */
    size_t plen = 4000, len = tso4_send_prepare(fr, plen, mss);
    uint32_t popts = POPTS(E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
    /* header alone, then the payload in two pieces that do not line up with MSS */
    tx_push(TXBUF, DATA(54, E1000_TXD_CMD_TSE | E1000_TXD_CMD_IFCS), popts);
    tx_push(TXBUF + 54, DATA(1500, E1000_TXD_CMD_TSE), popts);
    uint32_t last =
        tx_push(TXBUF + 1554,
                DATA(len - 1554, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS), popts);
    tx_kick(f);
    check_tso4_segments(f, 0, fr, plen, mss, 0x1000, 0x10000000, 0x19);
    assert_true(tx_status(last) & E1000_TXD_STAT_DD);
    assert_int_equal(fx_rd(f, E1000_TSCTC), 1);
    assert_int_equal(fx_rd(f, E1000_GPTC), 3);

    /* payload an exact multiple of MSS: FIN/PSH land on the last full segment */
    plen = 2 * mss;
    len = prep_tso4(fr, plen, 0x19, 0xfffe, 0xfffff000); /* ID and seq wrap */
    memcpy(ram(TXBUF), fr, len);
    tx_push_ctx(14, 24, 33, 34, 50, 0,
                E1000_TXD_CMD_TSE | E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP | (uint32_t)plen, 54,
                (uint16_t)mss);
    tx_push(TXBUF, DATA(len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), popts);
    tx_kick(f);
    check_tso4_segments(f, 3, fr, plen, mss, 0xfffe, 0xfffff000, 0x19);

    /* header split across descriptors, small MSS, many segments */
    plen = 1000;
    len = prep_tso4(fr, plen, 0x18, 7, 1);
    memcpy(ram(TXBUF), fr, len);
    tx_push_ctx(14, 24, 33, 34, 50, 0,
                E1000_TXD_CMD_TSE | E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP | (uint32_t)plen, 54, 100);
    tx_push(TXBUF, DATA(20, E1000_TXD_CMD_TSE), popts);
    tx_push(TXBUF + 20, DATA(len - 20, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), popts);
    tx_kick(f);
    check_tso4_segments(f, 5, fr, plen, 100, 7, 1, 0x18);
}

/* TSO handed to a vnet_hdr backend (gso=on): one GSO frame whose segments,
 * cut as the kernel's TCP GSO cuts them, are byte for byte the frames the
 * model's own segmentation sends; statistics count the segments. */
static size_t ref_gso_cut(const uint8_t *g, size_t glen, const struct virtio_net_hdr *vh,
                          unsigned i, uint8_t *out)
{
    size_t hdr = vh->hdr_len, payload = glen - hdr, off = (size_t)i * vh->gso_size;
    size_t n = payload - off < vh->gso_size ? payload - off : vh->gso_size;
    bool last = off + n == payload;
    memcpy(out, g, hdr);
    memcpy(out + hdr, g + hdr + off, n);
    uint8_t *ip = out + 14, *tcp = out + vh->csum_start;
    put16(ip + 2, (uint16_t)(hdr - 14 + n));
    put16(ip + 4, (uint16_t)(get16(ip + 4) + i));
    put16(ip + 10, 0);
    put16(ip + 10, (uint16_t)~t_fold(t_sum(ip, 20, 0)));
    uint32_t seq = (uint32_t)get16(tcp + 4) << 16 | get16(tcp + 6);
    seq += (uint32_t)off;
    put16(tcp + 4, (uint16_t)(seq >> 16));
    put16(tcp + 6, (uint16_t)seq);
    if (!last) {
        tcp[13] &= (uint8_t)~0x09; /* FIN, PSH */
    }
    size_t l4 = hdr - vh->csum_start + n;
    put16(tcp + vh->csum_offset, 0);
    put16(tcp + vh->csum_offset, (uint16_t)~t_fold(t_sum(tcp, l4, t_pseudo4(ip, 6, l4))));
    return hdr + n;
}

static void test_tx_tso_gso(void **state)
{
    (void)state;
    static uint8_t fr[8000], seg[2048];
    const unsigned mss = 1448;
    const size_t plen = 4000;
    E1000Fixture *model = fx_new(), *f;
    fx_backend_vnet = true;
    f = fx_new();
    fx_backend_vnet = false;
    assert_non_null(model);
    assert_non_null(f);
    E1000Fixture *both[2] = {model, f};
    for (int k = 0; k < 2; k++) {
        txq_tail = 0; /* both rings start at 0; f's goes on from where it ends */
        tx_setup(both[k], 8);
        size_t len = tso4_send_prepare(fr, plen, mss);
        uint32_t popts = POPTS(E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
        tx_push(TXBUF, DATA(54, E1000_TXD_CMD_TSE | E1000_TXD_CMD_IFCS), popts);
        uint32_t last = tx_push(
            TXBUF + 54, DATA(len - 54, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS),
            popts);
        tx_kick(both[k]);
        assert_true(tx_status(last) & E1000_TXD_STAT_DD);
        assert_int_equal(fx_rd(both[k], E1000_TSCTC), 1);
        assert_int_equal(fx_rd(both[k], E1000_GPTC), 3);
    }
    assert_int_equal(model->nsent, 3);
    assert_int_equal(f->nsent, 1); /* one write for the whole packet */
    const size_t vhl = sizeof(struct virtio_net_hdr);
    struct virtio_net_hdr vh;
    memcpy(&vh, f->sent[0], vhl);
    const uint8_t *g = f->sent[0] + vhl;
    size_t glen = f->sent_len[0] - vhl;
    assert_int_equal(glen, 54 + plen);
    assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    assert_int_equal(vh.gso_size, mss);
    assert_int_equal(vh.hdr_len, 54);
    assert_int_equal(vh.csum_start, 34);
    assert_int_equal(vh.csum_offset, 16);
    /* what the kernel expects in a GSO frame: the IP length of the whole
     * packet, the TCP field holding the pseudo-header sum with its length */
    assert_int_equal(get16(g + 14 + 2), glen - 14);
    assert_int_equal(get16(g + 34 + 16), t_fold(t_pseudo4(g + 14, 6, glen - 34)));
    for (unsigned i = 0; i < 3; i++) {
        size_t n = ref_gso_cut(g, glen, &vh, i, seg);
        assert_int_equal(n, model->sent_len[i]);
        assert_memory_equal(seg, model->sent[i], n);
    }
    /* a packet within one MSS goes out as a plain frame (zero header) */
    fx_clear_sent(f);
    size_t len = prep_tso4(fr, 500, 0x18, 9, 9);
    memcpy(ram(TXBUF), fr, len);
    tx_push_ctx(14, 24, 33, 34, 50, 0,
                E1000_TXD_CMD_TSE | E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP | 500u, 54, (uint16_t)mss);
    tx_push(TXBUF, DATA(len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP),
            POPTS(E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM));
    tx_kick(f);
    assert_int_equal(f->nsent, 1);
    memcpy(&vh, f->sent[0], vhl);
    assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    assert_int_equal(f->sent_len[0], vhl + len);
    assert_true(ipv4_l4_ok(f->sent[0] + vhl + 14));
    /* frames from the backend come with a header the NIC does not store */
    rx_setup(f, 8, E1000_RCTL_BAM);
    uint8_t in[10 + 200];
    memset(in, 0, 10);
    size_t flen = mk_tcp4(in + 10, OUR_MAC, 100, 0x18, 1, 1000);
    assert_int_equal(net_send(f->backend, in, 10 + flen, NULL), (ssize_t)(10 + flen));
    assert_int_equal(rx_desc(0).length, flen + 4);
    assert_memory_equal(rx_data(0), in + 10, flen);
}

static void test_tx_tso_ipv6(void **state)
{
    E1000Fixture *f = *state;
    static uint8_t fr[4000];
    const unsigned mss = 1000;
    const size_t plen = 2500, hdr = 14 + 40 + 20;
    tx_setup(f, 8);
    mk_eth(fr, PEER_MAC, 0x86DD);
    uint8_t *ip6 = fr + 14, *tcp = ip6 + 40;
    memset(ip6, 0, 60);
    ip6[0] = 0x60;
    ip6[6] = 6;
    ip6[7] = 64;
    for (int i = 0; i < 16; i++) {
        ip6[8 + i] = (uint8_t)(0x20 + i);
        ip6[24 + i] = (uint8_t)(0x40 + i);
    }
    put32(tcp + 4, 5000);
    tcp[12] = 5 << 4;
    tcp[13] = 0x18;
    fill_payload(tcp + 20, plen, 3);
    put16(tcp + 16, t_fold(t_pseudo6(ip6, 6, 0))); /* tcp_v6_gso_csum_prep */
    size_t len = hdr + plen;
    memcpy(ram(TXBUF), fr, len);
    tx_push_ctx(14, 0, 0, 54, 70, 0, E1000_TXD_CMD_TSE | E1000_TXD_CMD_TCP | (uint32_t)plen,
                (uint8_t)hdr, (uint16_t)mss);
    tx_push(TXBUF, DATA(len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), POPTS(E1000_TXD_POPTS_TXSM));
    tx_kick(f);
    assert_int_equal(f->nsent, 3);
    for (int k = 0; k < 3; k++) {
        const uint8_t *s = f->sent[k];
        size_t pl = k < 2 ? mss : plen - 2 * mss;
        assert_int_equal(f->sent_len[k], hdr + pl);
        assert_int_equal(get16(s + 14 + 4), 20 + pl); /* payload length */
        assert_int_equal(get32(s + 54 + 4), 5000 + k * mss);
        size_t l4 = 20 + pl;
        assert_int_equal(t_fold(t_sum(s + 54, l4, t_pseudo6(s + 14, 6, l4))), 0xffff);
        assert_int_equal(s[54 + 13], k < 2 ? 0x10 : 0x18);
    }
}

static void test_vlan_insert(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[200];
    tx_setup(f, 8);
    size_t len = mk_tcp4(fr, PEER_MAC, 60, 0x18, 1, 1);
    memcpy(ram(TXBUF), fr, len);
    /* VLE ignored while CTRL.VME is clear */
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_VLE), 0x0123u << 16);
    tx_kick(f);
    assert_int_equal(f->sent_len[0], len);
    fx_wr(f, E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_VME);
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_VLE), 0x0123u << 16);
    tx_kick(f);
    assert_int_equal(f->sent_len[1], len + 4);
    const uint8_t *s = f->sent[1];
    assert_memory_equal(s, fr, 12);
    assert_int_equal(get16(s + 12), 0x8100);
    assert_int_equal(get16(s + 14), 0x0123);
    assert_memory_equal(s + 16, fr + 12, len - 12);
    /* data descriptor form, with another VET */
    fx_wr(f, E1000_VET, 0x88a8);
    tx_push(TXBUF, DATA(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_VLE), 0x0042u << 16);
    tx_kick(f);
    assert_int_equal(get16(f->sent[2] + 12), 0x88a8);
    assert_int_equal(get16(f->sent[2] + 14), 0x0042);
}

static void test_tx_interrupt_delay(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[100];
    size_t len = mk_udp4(fr, PEER_MAC, 20);
    tx_setup(f, 8);
    memcpy(ram(TXBUF), fr, len);
    fx_wr(f, E1000_IMS, E1000_IMS_TXDW);
    fx_wr(f, E1000_TIDV, 100);
    fx_wr(f, E1000_TADV, 250);
    uint32_t rs_ide = E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS | E1000_TXD_CMD_IDE;
    tx_push(TXBUF, LEGACY(len, rs_ide), 0);
    tx_kick(f);
    assert_true(tx_status(0) & E1000_TXD_STAT_DD); /* written back at once ... */
    assert_int_equal(f->irq_level, 0);             /* ... the interrupt waits */
    fx_advance(80000);
    tx_push(TXBUF, LEGACY(len, rs_ide), 0);
    tx_kick(f);
    fx_advance(80000);
    assert_int_equal(f->irq_level, 0); /* TIDV restarted by the second packet */
    fx_advance(30000);
    assert_int_equal(f->irq_level, 1);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_TXDW);
    /* TADV caps a steady stream: a packet every 80 us never lets TIDV expire */
    for (int i = 0; i < 3; i++) {
        tx_push(TXBUF, LEGACY(len, rs_ide), 0);
        tx_kick(f);
        fx_advance(80000);
        assert_int_equal(f->irq_level, 0);
    }
    fx_advance(20000); /* TADV (256 us) comes before TIDV (262.4 us) */
    assert_int_equal(f->irq_level, 1);
    fx_rd(f, E1000_ICR);
    fx_advance(1000000);
    /* without IDE: immediate */
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS), 0);
    tx_kick(f);
    assert_int_equal(f->irq_level, 1);
}

/* ------------------------------------------------------------------ */
/* statistics, register behaviour                                      */

static void test_statistics(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[1100];
    rx_setup(f, 32, E1000_RCTL_SECRC | E1000_RCTL_BAM | E1000_RCTL_MPE);
    tx_setup(f, 8);
    /* clear what setup left */
    for (uint32_t r = E1000_STATS_FIRST; r <= E1000_STATS_LAST; r += 4) {
        fx_rd(f, r);
    }
    size_t l1 = mk_udp4(fr, OUR_MAC, 18); /* 60 bytes */
    inject(f, fr, l1);
    size_t l2 = mk_udp4(fr, BCAST, 958); /* 1000 bytes */
    inject(f, fr, l2);
    const uint8_t mc[6] = {0x01, 0x00, 0x5e, 0x01, 0x02, 0x03};
    size_t l3 = mk_udp4(fr, mc, 100);
    inject(f, fr, l3);
    const uint8_t other[6] = {0x52, 0x54, 0x00, 0x99, 0x99, 0x99};
    size_t l4 = mk_udp4(fr, other, 100); /* filtered out */
    inject(f, fr, l4);

    assert_int_equal(fx_rd(f, E1000_GPRC), 3);
    assert_int_equal(fx_rd(f, E1000_GPRC), 0); /* clear on read */
    assert_int_equal(fx_rd(f, E1000_TPR), 4);
    assert_int_equal(fx_rd(f, E1000_BPRC), 1);
    assert_int_equal(fx_rd(f, E1000_MPRC), 1);
    assert_int_equal(fx_rd(f, E1000_PRC64), 1);
    assert_int_equal(fx_rd(f, E1000_PRC1023), 1);
    assert_int_equal(fx_rd(f, E1000_PRC255), 1);
    uint32_t gorc = (uint32_t)(l1 + l2 + l3 + 12);
    assert_int_equal(fx_rd(f, E1000_GORCL), gorc);
    assert_int_equal(fx_rd(f, E1000_GORCL), gorc); /* low half alone does not clear */
    assert_int_equal(fx_rd(f, E1000_GORCH), 0);
    assert_int_equal(fx_rd(f, E1000_GORCL), 0); /* the high read cleared both */
    assert_int_equal(fx_rd(f, E1000_TORL), gorc + l4 + 4);
    fx_rd(f, E1000_TORH);

    size_t t1 = mk_udp4(fr, BCAST, 500);
    memcpy(ram(TXBUF), fr, t1);
    tx_push(TXBUF, LEGACY(t1, E1000_TXD_CMD_EOP), 0);
    tx_push(TXBUF, LEGACY(t1, E1000_TXD_CMD_EOP), 0);
    tx_kick(f);
    assert_int_equal(fx_rd(f, E1000_GPTC), 2);
    assert_int_equal(fx_rd(f, E1000_TPT), 2);
    assert_int_equal(fx_rd(f, E1000_BPTC), 2);
    assert_int_equal(fx_rd(f, E1000_PTC1023), 2);
    assert_int_equal(fx_rd(f, E1000_GOTCL), 2 * (t1 + 4));
    assert_int_equal(fx_rd(f, E1000_GOTCH), 0);
    assert_int_equal(fx_rd(f, E1000_GOTCL), 0);
    assert_int_equal(fx_rd(f, E1000_TOTL), 2 * (t1 + 4));
    assert_int_equal(fx_rd(f, E1000_GPTC), 0);
    /* statistics are read-only */
    fx_wr(f, E1000_GPTC, 55);
    assert_int_equal(fx_rd(f, E1000_GPTC), 0);
}

/* The masks the driver's `ethtool -t` register test expects. */
static void test_register_masks(void **state)
{
    E1000Fixture *f = *state;
    static const struct {
        uint32_t reg, mask, write;
    } pat[] = {
        {E1000_FCAL, 0xFFFFFFFF, 0xFFFFFFFF},   {E1000_FCAH, 0x0000FFFF, 0xFFFFFFFF},
        {E1000_FCT, 0x0000FFFF, 0xFFFFFFFF},    {E1000_VET, 0x0000FFFF, 0xFFFFFFFF},
        {E1000_RDTR, 0x0000FFFF, 0xFFFFFFFF},   {E1000_RDBAH, 0xFFFFFFFF, 0xFFFFFFFF},
        {E1000_RDLEN, 0x000FFF80, 0x000FFFFF},  {E1000_RDH, 0x0000FFFF, 0x0000FFFF},
        {E1000_RDT, 0x0000FFFF, 0x0000FFFF},    {E1000_FCRTH, 0x0000FFF8, 0x0000FFF8},
        {E1000_FCTTV, 0x0000FFFF, 0x0000FFFF},  {E1000_TIPG, 0x3FFFFFFF, 0x3FFFFFFF},
        {E1000_TDBAH, 0xFFFFFFFF, 0xFFFFFFFF},  {E1000_TDLEN, 0x000FFF80, 0x000FFFFF},
        {E1000_RDBAL, 0xFFFFFFF0, 0xFFFFFFFF},  {E1000_TXCW, 0xC000FFFF, 0x0000FFFF},
        {E1000_TDBAL, 0xFFFFFFF0, 0xFFFFFFFF},  {E1000_TIDV, 0x0000FFFF, 0x0000FFFF},
        {E1000_RA + 4, 0x8003FFFF, 0xFFFFFFFF}, {E1000_RA + 124, 0x8003FFFF, 0xFFFFFFFF},
        {E1000_MTA, 0xFFFFFFFF, 0xFFFFFFFF},    {E1000_MTA + 508, 0xFFFFFFFF, 0xFFFFFFFF},
    };
    static const uint32_t test[] = {0x5A5A5A5A, 0xA5A5A5A5, 0x00000000, 0xFFFFFFFF};
    for (size_t i = 0; i < sizeof(pat) / sizeof(pat[0]); i++) {
        for (size_t j = 0; j < 4; j++) {
            fx_wr(f, pat[i].reg, test[j] & pat[i].write);
            assert_int_equal(fx_rd(f, pat[i].reg) & pat[i].mask,
                             test[j] & pat[i].write & pat[i].mask);
        }
    }
    /* the STATUS check of the same test */
    uint32_t before = fx_rd(f, E1000_STATUS) & 0xFFFFF833;
    fx_wr(f, E1000_STATUS, 0xFFFFF833);
    assert_int_equal(fx_rd(f, E1000_STATUS) & 0xFFFFF833, before);
    /* RCTL and TCTL keep what is written */
    fx_wr(f, E1000_RCTL, 0x06DFB3FE & 0x003FFFFB);
    assert_int_equal(fx_rd(f, E1000_RCTL), 0x06DFB3FE & 0x003FFFFB);
    /* unknown registers read 0 and ignore writes */
    fx_wr(f, 0x1F000, 0xdeadbeef);
    assert_int_equal(fx_rd(f, 0x1F000), 0);
    fx_wr(f, 0x00004, 0xdeadbeef); /* CTRL_DUP does not exist on the 82540 */
    assert_int_equal(fx_rd(f, 0x00004), 0);
}

static void test_mmio_access_sizes(void **state)
{
    E1000Fixture *f = *state;
    MemoryRegion *mr = &f->dev->bar[0].region;
    fx_wr(f, E1000_RDT, 0);
    memory_region_dispatch_write(mr, E1000_FCAL, 0x11223344, 4);
    assert_int_equal(memory_region_dispatch_read(mr, E1000_FCAL + 1, 1), 0x33);
    assert_int_equal(memory_region_dispatch_read(mr, E1000_FCAL + 2, 2), 0x1122);
    memory_region_dispatch_write(mr, E1000_FCAL + 1, 0xaa, 1);
    assert_int_equal(fx_rd(f, E1000_FCAL), 0x1122aa44);
    /* 8-byte access covers two registers */
    memory_region_dispatch_write(mr, E1000_TDBAL, 0x0000000100000080ULL, 8);
    assert_int_equal(fx_rd(f, E1000_TDBAL), 0x80);
    assert_int_equal(fx_rd(f, E1000_TDBAH), 1);
    assert_int_equal(memory_region_dispatch_read(mr, E1000_TDBAL, 8), 0x0000000100000080ULL);
    /* unaligned, crossing into the next register */
    assert_int_equal(memory_region_dispatch_read(mr, E1000_TDBAL + 2, 4), 0x00010000);
    /* a narrow write to ICR clears only what it names */
    fx_wr(f, E1000_ICS, E1000_ICS_LSC | E1000_ICS_RXT0);
    memory_region_dispatch_write(mr, E1000_ICR, E1000_ICR_LSC, 1);
    assert_int_equal(fx_rd(f, E1000_ICR), E1000_ICR_RXT0 | E1000_ICR_INT_ASSERTED);
    /* past the BAR */
    assert_int_equal(memory_region_dispatch_read(mr, 0x1fffe, 4), 0);
    assert_int_equal(memory_region_dispatch_read(mr, 0x20000, 4), 0);
    memory_region_dispatch_write(mr, 0x1fffd, 0xffffffffffffffffULL, 8);
    memory_region_dispatch_write(mr, 0x7fffffff, 1, 4);
}

/* ------------------------------------------------------------------ */
/* hostile guests                                                      */

static void test_hostile_tx_rings(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[100];
    size_t len = mk_udp4(fr, PEER_MAC, 20);
    memcpy(ram(TXBUF), fr, len);
    tx_setup(f, 8);

    /* ring outside RAM */
    fx_wr(f, E1000_TDBAL, 0xFFFFF000);
    fx_wr(f, E1000_TDBAH, 0xFFFFFFFF);
    fx_wr(f, E1000_TDT, 3);
    assert_int_equal(f->nsent, 0);
    assert_int_equal(fx_rd(f, E1000_TDH), 0);
    /* ring straddling the end of RAM */
    fx_wr(f, E1000_TDBAH, 0);
    fx_wr(f, E1000_TDBAL, FX_RAM_SIZE - 64);
    fx_wr(f, E1000_TDT, 7);
    assert_true(fx_rd(f, E1000_TDH) <= 4);
    /* TDLEN 0: nothing */
    fx_wr(f, E1000_TDBAL, (uint32_t)TXRING);
    fx_wr(f, E1000_TDH, 0);
    fx_wr(f, E1000_TDLEN, 0);
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP), 0);
    fx_wr(f, E1000_TDT, 1);
    assert_int_equal(f->nsent, 0);
    /* TDH or TDT beyond the ring */
    fx_wr(f, E1000_TDLEN, 8 * 16);
    fx_wr(f, E1000_TDH, 100);
    fx_wr(f, E1000_TDT, 1);
    assert_int_equal(f->nsent, 0);
    assert_int_equal(fx_rd(f, E1000_TDH), 100);
    fx_wr(f, E1000_TDH, 0);
    fx_wr(f, E1000_TDT, 0xffff);
    assert_int_equal(f->nsent, 0);
    /* TDT == TDH: empty */
    fx_wr(f, E1000_TDT, 0);
    assert_int_equal(f->nsent, 0);
    /* a full ring (TDT one behind TDH): one pass, then it stops */
    txq_tail = 0;
    for (int i = 0; i < 8; i++) {
        tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP), 0);
    }
    fx_wr(f, E1000_TDH, 1);
    fx_wr(f, E1000_TDT, 0);
    assert_int_equal(f->nsent, 7);
    assert_int_equal(fx_rd(f, E1000_TDH), 0);
}

static void test_hostile_tx_descriptors(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[200];
    size_t len = mk_tcp4(fr, PEER_MAC, 100, 0x18, 1, 1);
    memcpy(ram(TXBUF), fr, len);
    tx_setup(f, 64);

    /* legacy descriptors of 0xFFFF bytes chained past 64 KiB: dropped whole */
    for (int i = 0; i < 3; i++) {
        tx_push(TXBUF, LEGACY(0xFFFF, 0), 0);
    }
    uint32_t last = tx_push(TXBUF, LEGACY(0xFFFF, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS), 0);
    tx_kick(f);
    assert_int_equal(f->nsent, 0);
    assert_true(tx_status(last) & E1000_TXD_STAT_DD);
    assert_int_equal(fx_rd(f, E1000_TDH), txq_tail);
    /* data descriptor length 0xFFFFF (1 MiB) */
    tx_push(TXBUF, DATA(0xFFFFF, E1000_TXD_CMD_EOP), 0);
    tx_kick(f);
    assert_int_equal(f->nsent, 0);
    /* buffer at the top of the address space, and straddling the end of RAM */
    tx_push(0xFFFFFFFFFFFFF000ULL, LEGACY(100, E1000_TXD_CMD_EOP), 0);
    tx_push(FX_RAM_SIZE - 10, LEGACY(100, E1000_TXD_CMD_EOP), 0);
    tx_kick(f);
    assert_int_equal(f->nsent, 0);
    /* and the ring still works afterwards */
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_EOP), 0);
    tx_kick(f);
    assert_int_equal(f->nsent, 1);

    /* TSO with MSS 0 */
    uint32_t tso = E1000_TXD_CMD_TSE | E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP;
    uint32_t popts = POPTS(E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
    fx_rd(f, E1000_TSCTFC);
    tx_push_ctx(14, 24, 33, 34, 50, 0, tso | 100, 54, 0);
    tx_push(TXBUF, DATA(len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), popts);
    tx_kick(f);
    assert_int_equal(f->nsent, 1);
    assert_int_equal(fx_rd(f, E1000_TSCTFC), 1);
    /* HDRLEN beyond the packet */
    tx_push_ctx(14, 24, 33, 34, 50, 0, tso | 100, 250, 1000);
    tx_push(TXBUF, DATA(len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), popts);
    tx_kick(f);
    assert_int_equal(f->nsent, 1);
    assert_int_equal(fx_rd(f, E1000_TSCTFC), 1);
    /* MSS 1: many tiny segments, all bounded by the buffer */
    tx_push_ctx(14, 24, 33, 34, 50, 0, tso | 100, 54, 1);
    tx_push(TXBUF, DATA(len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), popts);
    tx_kick(f);
    assert_int_equal(f->nsent, 1 + 100);
    /* MSS 1 over 5000 bytes: cut off at the segment cap, counted as failed */
    fx_clear_sent(f);
    fx_rd(f, E1000_TSCTFC);
    tx_push_ctx(14, 24, 33, 34, 50, 0, tso | 5000, 54, 1);
    tx_push(TXBUF, DATA(5054, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), popts);
    tx_kick(f);
    /* one register write does a bounded part of the work (the work budget);
     * the rest continues from the main loop's timer */
    assert_true(f->nsent > 0 && f->nsent < 4096);
    for (int i = 0; i < 1000 && f->nsent < 4096; i++) {
        fx_advance(1000);
    }
    assert_int_equal(f->nsent, 4096);
    assert_int_equal(fx_rd(f, E1000_TSCTFC), 1);
    /* offsets (and checksum end) far past the frame are ignored */
    fx_clear_sent(f);
    tx_push_ctx(200, 250, 0xffff, 240, 254, 0xfff0, E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP, 0, 0);
    tx_push(TXBUF, DATA(len, E1000_TXD_CMD_EOP), popts);
    tx_kick(f);
    assert_int_equal(f->nsent, 1);
    assert_memory_equal(f->sent[0], fr, len);
    /* TSO with offsets at the very end of the header: bounded, no overflow */
    fx_clear_sent(f);
    tx_push_ctx(250, 255, 0, 250, 255, 0, tso | 2000, 255, 1000);
    tx_push(TXBUF, DATA(2255, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), popts);
    tx_kick(f);
    assert_int_equal(f->nsent, 2);
    assert_int_equal(f->sent_len[0], 1255);
    /* a segment bigger than any frame: refused */
    fx_rd(f, E1000_TSCTFC);
    tx_push_ctx(14, 24, 33, 34, 50, 0, tso | 100000, 255, 65535);
    tx_push(TXBUF, DATA(60000, E1000_TXD_CMD_TSE), popts);
    tx_push(TXBUF, DATA(60000, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), popts);
    tx_kick(f);
    assert_int_equal(f->nsent, 2);
    assert_int_equal(fx_rd(f, E1000_TSCTFC), 1);
    /* a new TSO context in the middle of a TSO packet (smaller MSS than what
     * is already buffered) must not change how that packet is cut */
    fx_clear_sent(f);
    tx_push_ctx(14, 24, 33, 34, 50, 0, tso | 3000, 54, 2000);
    tx_push(TXBUF, DATA(1500, E1000_TXD_CMD_TSE), popts);
    tx_push_ctx(14, 24, 33, 34, 50, 0, tso | 3000, 10, 20);
    tx_push(TXBUF, DATA(1554, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP), popts);
    tx_kick(f);
    assert_int_equal(f->nsent, 2);
    assert_int_equal(f->sent_len[0], 2054);
    assert_int_equal(f->sent_len[1], 1054);
    /* reserved descriptor type */
    tx_push(TXBUF, LEGACY(len, E1000_TXD_CMD_DEXT | 0x00300000 | E1000_TXD_CMD_EOP), 0);
    tx_kick(f);
    assert_int_equal(fx_rd(f, E1000_TDH), txq_tail);
}

static void test_hostile_rx(void **state)
{
    E1000Fixture *f = *state;
    uint8_t fr[128];
    size_t len = mk_seq_frame(fr, 1);
    rx_setup(f, 8, E1000_RCTL_SECRC);
    /* RDLEN 0: frames wait, nothing is written */
    fx_wr(f, E1000_RDLEN, 0);
    assert_int_equal(inject(f, fr, len), 0);
    /* RDH beyond the ring: still waiting */
    fx_wr(f, E1000_RDLEN, 8 * 16);
    fx_wr(f, E1000_RDH, 200);
    fx_wr(f, E1000_RDT, 3);
    assert_int_equal(inject(f, fr, len), 0);
    assert_int_equal(fx_rd(f, E1000_RDH), 200);
    /* back to sane: both waiting frames arrive */
    fx_wr(f, E1000_RDH, 0);
    fx_wr(f, E1000_RDT, 7);
    assert_int_equal(fx_rd(f, E1000_RDH), 2);
    /* buffer address outside RAM: the descriptor completes, no data */
    struct e1000_rx_desc bad = {.buffer_addr = 0xFFFFFFFFFFFFF000ULL};
    memcpy(ram(RXRING + 16 * 2), &bad, sizeof(bad));
    inject(f, fr, len);
    assert_true(rx_desc(2).status & E1000_RXD_STAT_DD);
    /* ring outside RAM: frames are consumed without a write */
    fx_wr(f, E1000_RDBAL, 0xFFFFF000);
    fx_wr(f, E1000_RDBAH, 0xFFFFFFFF);
    inject(f, fr, len);
    /* ring partly beyond the end of RAM */
    fx_wr(f, E1000_RDBAH, 0);
    fx_wr(f, E1000_RDBAL, FX_RAM_SIZE - 32);
    fx_wr(f, E1000_RDH, 0);
    fx_wr(f, E1000_RDT, 7);
    for (int i = 0; i < 7; i++) {
        inject(f, fr, len);
    }
    assert_int_equal(fx_rd(f, E1000_RDH), 7);
    /* runt and jumbo frames from the backend */
    uint8_t tiny[1] = {0};
    inject(f, tiny, 1);
    inject(f, tiny, 0);
}

/* Random descriptors and register writes: nothing may crash (ASan/UBSan
 * builds check the memory side) and every kick must return. */
static void test_hostile_random(void **state)
{
    E1000Fixture *f = *state;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    tx_setup(f, 256);
    rx_setup(f, 64, 0);
    uint8_t fr[1600];
    long sent = 0;
    for (int round = 0; round < 200; round++) {
        /* whatever the random writes did, keep both units running */
        fx_wr(f, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
        fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_UPE | E1000_RCTL_MPE);
        fx_wr(f, E1000_TDLEN, 256 * 16);
        fx_wr(f, E1000_RDLEN, 64 * 16);
        for (int i = 0; i < 256; i++) {
            uint8_t *d = ram(TXRING + 16 * (uint64_t)i);
            uint64_t r1 = RND(), r2 = RND();
            uint64_t addr = (r1 & 3) == 0 ? r1 : TXBUF + (r1 >> 40) % 0x20000;
            memcpy(d, &addr, 8);
            uint32_t lower = (uint32_t)r2, upper = (uint32_t)(r2 >> 32);
            if (!(r1 & 0x10)) {
                lower &= ~0x000F0000u;
                lower = (lower & 0xfff00000u) | (uint32_t)((r2 >> 20) % 3000);
            }
            memcpy(d + 8, &lower, 4);
            memcpy(d + 12, &upper, 4);
        }
        fx_wr(f, E1000_TDT, (uint32_t)(RND() % 256));
        uint32_t reg = (uint32_t)(RND() % 0x20000) & ~3u;
        if (reg != E1000_TDBAL && reg != E1000_TDBAH && reg != E1000_CTRL && reg != E1000_RDBAL &&
            reg != E1000_RDBAH) {
            fx_wr(f, reg, (uint32_t)RND());
        }
        size_t len = 1 + RND() % sizeof(fr);
        for (size_t k = 0; k < len; k++) {
            fr[k] = (uint8_t)RND();
        }
        memcpy(fr, OUR_MAC, 6);
        inject(f, fr, len);
        fx_wr(f, E1000_RDT, (uint32_t)(RND() % 64));
        fx_advance((int64_t)(RND() % 1000000));
        sent += f->nsent;
        fx_clear_sent(f);
    }
    assert_true(sent > 1000); /* the rings really ran */
#undef RND
}

/* A realize that fails after it took timers and doorbells (the PCI bus is
 * full) gives them back: no fd stays open, no loop handler points at the
 * failed device. */
static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++) {
        n += fcntl(fd, F_GETFD) != -1;
    }
    return n;
}

static void test_realize_failure_releases(void **state)
{
    E1000Fixture *f = *state;
    Error err = {{0}};
    char name[32], opts[64];
    int added = 0;
    for (int i = 0; i < PCI_MAX_DEVICES; i++) {
        snprintf(name, sizeof(name), "fill-backend-%d", i);
        NetClient *b = net_client_new(f->backend->info, name, f);
        net_backend_register(b);
        snprintf(opts, sizeof(opts), "e1000,netdev=%s", name);
        Object *o = object_new_from_opts(opts, TYPE_KIND_DEVICE, &err);
        assert_non_null(o);
        int fds = open_fds();
        if (o->type->realize(o, &f->m, &err) < 0) {
            /* the bus is full: everything the device took is back */
            assert_int_equal(open_fds(), fds);
            object_free(o);
            break;
        }
        added++;
    }
    assert_true(added > 0 && added < PCI_MAX_DEVICES);
}

/* The other 8254x models (-device e1000-82544gc, e1000-82545em): their own
 * PCI identity, EEPROM image and PHY, as the Linux driver keys on them
 * (e1000_set_mac_type, e1000_detect_gig_phy, e1000_acquire_eeprom). */
static void check_model(const char *type, uint16_t devid, uint16_t subsys, uint16_t phy_id2,
                        bool arbitration)
{
    fx_type = type;
    E1000Fixture *f = fx_new();
    fx_type = "e1000";
    assert_non_null(f);
    assert_int_equal(pci_config_read(f->dev, PCI_DEVICE_ID, 2), devid);
    assert_int_equal(pci_config_read(f->dev, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x8086);
    assert_int_equal(pci_config_read(f->dev, PCI_SUBSYSTEM_ID, 2), subsys);
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, PHY_ID1, 0) & 0xFFFF, M88E1011_PHY_ID1);
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, PHY_ID2, 0) & 0xFFFF, phy_id2);
    /* the EEPROM as the driver reads it: with REQ/GNT where the model has
     * them, without on the 82544 (REQ is no bit there: GNT never shows) */
    uint16_t sum = 0, w[64];
    for (unsigned i = 0; i < 64; i++) {
        w[i] = ee_read_bitbang_req(f, i, arbitration);
        sum = (uint16_t)(sum + w[i]);
    }
    assert_int_equal(sum, 0xBABA);
    assert_int_equal(w[EEPROM_DEVICE_ID], devid);
    assert_int_equal(w[EEPROM_SUBSYSTEM_ID], subsys);
    assert_int_equal(w[0], 0x5452); /* the MAC address, 52:54:... */
    if (!arbitration) {
        fx_wr(f, E1000_EECD, E1000_EECD_REQ);
        assert_false(fx_rd(f, E1000_EECD) & (E1000_EECD_REQ | E1000_EECD_GNT));
    } else {
        /* without the grant the pins do nothing: a read yields no data */
        uint32_t eecd = E1000_EECD_CS;
        fx_wr(f, E1000_EECD, eecd);
        ee_shift_out(f, &eecd, EEPROM_READ_OPCODE_MICROWIRE, 3);
        ee_shift_out(f, &eecd, 0, 6);
        assert_int_equal(ee_shift_in(f, &eecd), 0xFFFF);
    }
    /* no PCI-X bus: the driver's PCI-X workarounds stay off */
    assert_int_equal(fx_rd(f, E1000_STATUS) & 0x3800, 0);
}

static void test_models(void **state)
{
    (void)state;
    check_model("e1000", E1000_DEV_ID_82540EM, E1000_SUBSYS_ID, M88E1011_PHY_ID2, true);
    check_model("e1000-82544gc", E1000_DEV_ID_82544GC_COPPER, E1000_SUBSYS_ID_82544GC,
                M88E1000_PHY_ID2, false);
    check_model("e1000-82545em", E1000_DEV_ID_82545EM_COPPER, E1000_SUBSYS_ID_82545EM,
                M88E1011_PHY_ID2, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pci_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eeprom_eerd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eeprom_bitbang, setup, teardown),
        cmocka_unit_test(test_models),
        cmocka_unit_test_setup_teardown(test_realize_failure_releases, setup, teardown),
        cmocka_unit_test(test_mac_property_and_defaults),
        cmocka_unit_test_setup_teardown(test_phy_mdic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_phy_speed_duplex, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctrl_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_bar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_registers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_itr_throttling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_backpressure_and_wrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_disabled_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_multi_descriptor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_long_packets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_checksum_offload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_vlan_strip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_interrupt_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_rxdmt0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_legacy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_doorbell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_posted_ims_imc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_legacy_checksum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_context_checksum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_tso_ipv4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_tso_gso, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_tso_ipv6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vlan_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_interrupt_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statistics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_masks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmio_access_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_tx_rings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_tx_descriptors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_rx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_random, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
