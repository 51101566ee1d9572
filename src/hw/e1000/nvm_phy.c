/* The 82540EM's EEPROM, PHY and link (SDM 5, 8, 13.4.3-13.4.6): the
 * Microwire EEPROM behind EECD and EERD, the Marvell 88E1011 PHY behind
 * MDIC, and STATUS.LU as the MAC sees the PHY's link. */
#include <string.h>

#include "hw/e1000/e1000_int.h"
#include "trace/trace.h"

/* The image a real PRO/1000 MT Desktop adapter carries, reduced to the words
 * that mean something to a driver; unused words read as erased (0xFFFF).
 * Word 0x3F makes the 64-word sum 0xBABA. */
void e1000_eeprom_init(E1000State *s)
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
    e[EEPROM_SUBSYSTEM_ID] = s->model->subsys_id;
    e[EEPROM_SUBSYSTEM_VENDOR] = E1000_SUBSYS_VENDOR;
    e[EEPROM_DEVICE_ID] = s->model->device_id;
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

/* EECD reads: pins as written, GNT follows REQ (where the model has them),
 * the EEPROM drives DO. */
uint32_t get_eecd(E1000State *s, int index)
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
void set_eecd(E1000State *s, int index, uint32_t val)
{
    (void)index;
    E1000Eecd *ee = &s->eecd;
    uint32_t keep = E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_FWE_MASK |
                    (s->model->eecd_arbitration ? E1000_EECD_REQ : 0);
    s->mac_reg[R(E1000_EECD)] = val & keep;
    /* the 82544 has no REQ/GNT: its pins are always software's */
    if (s->model->eecd_arbitration && !(val & E1000_EECD_REQ)) {
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
void set_eerd(E1000State *s, int index, uint32_t val)
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

void phy_reset(E1000State *s)
{
    memset(s->phy_reg, 0, sizeof(s->phy_reg));
    s->phy_reg[PHY_CTRL] = MII_CR_AUTO_NEG_EN | MII_CR_FULL_DUPLEX | MII_CR_SPEED_SELECT_MSB;
    s->phy_reg[PHY_ID1] = M88E1011_PHY_ID1;
    s->phy_reg[PHY_ID2] = s->model->phy_id2;
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

void set_mdic(E1000State *s, int index, uint32_t val)
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
void e1000_update_link(E1000State *s, bool notify)
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

void e1000_set_link_status(NetClient *nc)
{
    e1000_update_link(nc->opaque, true);
}

void e1000_load_rar0(E1000State *s)
{
    const uint8_t *m = s->macaddr;
    s->mac_reg[R(E1000_RA)] = (uint32_t)m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24;
    s->mac_reg[R(E1000_RA) + 1] = (uint32_t)m[4] | m[5] << 8 | E1000_RAH_AV;
}

/* STATUS (SDM 13.4.2): speed and duplex follow the PHY unless CTRL forces
 * them (FRCSPD / FRCDPX); ASDV is what the PHY detected. */
uint32_t get_status(E1000State *s, int index)
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
