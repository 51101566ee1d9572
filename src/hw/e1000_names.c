/* Register names of the 82540EM for traces and exit statistics, as the SDM
 * and the Linux driver spell them ("TDT", "RAL[0]", "MTA[5]"). */
#include "hw/e1000_names.h"

#include <stdio.h>
#include <stdlib.h>

#include "hw/e1000_regs.h"

static const struct {
    uint32_t offset;
    const char *name;
} e1000_regs[] = {
    {E1000_CTRL, "CTRL"},
    {E1000_STATUS, "STATUS"},
    {E1000_EECD, "EECD"},
    {E1000_EERD, "EERD"},
    {E1000_CTRL_EXT, "CTRL_EXT"},
    {E1000_FLA, "FLA"},
    {E1000_MDIC, "MDIC"},
    {E1000_FCAL, "FCAL"},
    {E1000_FCAH, "FCAH"},
    {E1000_FCT, "FCT"},
    {E1000_VET, "VET"},
    {E1000_ICR, "ICR"},
    {E1000_ITR, "ITR"},
    {E1000_ICS, "ICS"},
    {E1000_IMS, "IMS"},
    {E1000_IMC, "IMC"},
    {E1000_RCTL, "RCTL"},
    {E1000_FCTTV, "FCTTV"},
    {E1000_TXCW, "TXCW"},
    {E1000_RXCW, "RXCW"},
    {E1000_TCTL, "TCTL"},
    {E1000_TIPG, "TIPG"},
    {E1000_AIT, "AIT"},
    {E1000_LEDCTL, "LEDCTL"},
    {E1000_PBA, "PBA"},
    {E1000_FCRTL, "FCRTL"},
    {E1000_FCRTH, "FCRTH"},
    {E1000_RDFH, "RDFH"},
    {E1000_RDFT, "RDFT"},
    {E1000_RDFHS, "RDFHS"},
    {E1000_RDFTS, "RDFTS"},
    {E1000_RDFPC, "RDFPC"},
    {E1000_RDBAL, "RDBAL"},
    {E1000_RDBAH, "RDBAH"},
    {E1000_RDLEN, "RDLEN"},
    {E1000_RDH, "RDH"},
    {E1000_RDT, "RDT"},
    {E1000_RDTR, "RDTR"},
    {E1000_RXDCTL, "RXDCTL"},
    {E1000_RADV, "RADV"},
    {E1000_RSRPD, "RSRPD"},
    {E1000_TXDMAC, "TXDMAC"},
    {E1000_TDFH, "TDFH"},
    {E1000_TDFT, "TDFT"},
    {E1000_TDFHS, "TDFHS"},
    {E1000_TDFTS, "TDFTS"},
    {E1000_TDFPC, "TDFPC"},
    {E1000_TDBAL, "TDBAL"},
    {E1000_TDBAH, "TDBAH"},
    {E1000_TDLEN, "TDLEN"},
    {E1000_TDH, "TDH"},
    {E1000_TDT, "TDT"},
    {E1000_TIDV, "TIDV"},
    {E1000_TXDCTL, "TXDCTL"},
    {E1000_TADV, "TADV"},
    {E1000_TSPMT, "TSPMT"},
    {E1000_CRCERRS, "CRCERRS"},
    {E1000_ALGNERRC, "ALGNERRC"},
    {E1000_SYMERRS, "SYMERRS"},
    {E1000_RXERRC, "RXERRC"},
    {E1000_MPC, "MPC"},
    {E1000_SCC, "SCC"},
    {E1000_ECOL, "ECOL"},
    {E1000_MCC, "MCC"},
    {E1000_LATECOL, "LATECOL"},
    {E1000_COLC, "COLC"},
    {E1000_DC, "DC"},
    {E1000_TNCRS, "TNCRS"},
    {E1000_SEC, "SEC"},
    {E1000_CEXTERR, "CEXTERR"},
    {E1000_RLEC, "RLEC"},
    {E1000_XONRXC, "XONRXC"},
    {E1000_XONTXC, "XONTXC"},
    {E1000_XOFFRXC, "XOFFRXC"},
    {E1000_XOFFTXC, "XOFFTXC"},
    {E1000_FCRUC, "FCRUC"},
    {E1000_PRC64, "PRC64"},
    {E1000_PRC127, "PRC127"},
    {E1000_PRC255, "PRC255"},
    {E1000_PRC511, "PRC511"},
    {E1000_PRC1023, "PRC1023"},
    {E1000_PRC1522, "PRC1522"},
    {E1000_GPRC, "GPRC"},
    {E1000_BPRC, "BPRC"},
    {E1000_MPRC, "MPRC"},
    {E1000_GPTC, "GPTC"},
    {E1000_GORCL, "GORCL"},
    {E1000_GORCH, "GORCH"},
    {E1000_GOTCL, "GOTCL"},
    {E1000_GOTCH, "GOTCH"},
    {E1000_RNBC, "RNBC"},
    {E1000_RUC, "RUC"},
    {E1000_RFC, "RFC"},
    {E1000_ROC, "ROC"},
    {E1000_RJC, "RJC"},
    {E1000_MGTPRC, "MGTPRC"},
    {E1000_MGTPDC, "MGTPDC"},
    {E1000_MGTPTC, "MGTPTC"},
    {E1000_TORL, "TORL"},
    {E1000_TORH, "TORH"},
    {E1000_TOTL, "TOTL"},
    {E1000_TOTH, "TOTH"},
    {E1000_TPR, "TPR"},
    {E1000_TPT, "TPT"},
    {E1000_PTC64, "PTC64"},
    {E1000_PTC127, "PTC127"},
    {E1000_PTC255, "PTC255"},
    {E1000_PTC511, "PTC511"},
    {E1000_PTC1023, "PTC1023"},
    {E1000_PTC1522, "PTC1522"},
    {E1000_MPTC, "MPTC"},
    {E1000_BPTC, "BPTC"},
    {E1000_TSCTC, "TSCTC"},
    {E1000_TSCTFC, "TSCTFC"},
    {E1000_RXCSUM, "RXCSUM"},
    {E1000_WUC, "WUC"},
    {E1000_WUFC, "WUFC"},
    {E1000_WUS, "WUS"},
    {E1000_MANC, "MANC"},
    {E1000_IPAV, "IPAV"},
    {E1000_WUPL, "WUPL"},
};

/* Tables: base, dwords, name, dwords per entry (RA: RAL/RAH pairs). */
static const struct {
    uint32_t base, dwords;
    const char *name;
} e1000_tables[] = {
    {E1000_MTA, E1000_MC_TBL_SIZE, "MTA"},
    {E1000_VFTA, E1000_VLAN_FILTER_TBL_SIZE, "VFTA"},
    {E1000_IP4AT, 8, "IP4AT"},
    {E1000_IP6AT, 4, "IP6AT"},
    {E1000_WUPM, 32, "WUPM"},
    {E1000_FFLT, 8, "FFLT"},
    {E1000_FFMT, 256, "FFMT"},
    {E1000_FFVT, 256, "FFVT"},
};

static int cmp_offset(const void *key, const void *elem)
{
    uint32_t k = *(const uint32_t *)key, o = *(const uint32_t *)elem;
    return k < o ? -1 : k > o;
}

const char *e1000_reg_name(uint32_t offset, char *buf, size_t len)
{
    offset &= ~3u;
    const void *hit = bsearch(&offset, e1000_regs, sizeof(e1000_regs) / sizeof(e1000_regs[0]),
                              sizeof(e1000_regs[0]), cmp_offset);
    if (hit) {
        return ((const typeof(e1000_regs[0]) *)hit)->name;
    }
    if (offset >= E1000_RA && offset < E1000_RA + 8 * E1000_RAR_ENTRIES) {
        unsigned i = (offset - E1000_RA) / 4;
        snprintf(buf, len, "%s[%u]", (i & 1) ? "RAH" : "RAL", i / 2);
        return buf;
    }
    for (size_t t = 0; t < sizeof(e1000_tables) / sizeof(e1000_tables[0]); t++) {
        if (offset >= e1000_tables[t].base &&
            offset < e1000_tables[t].base + 4 * e1000_tables[t].dwords) {
            snprintf(buf, len, "%s[%u]", e1000_tables[t].name, (offset - e1000_tables[t].base) / 4);
            return buf;
        }
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

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *e1000_tx_desc_describe(const uint8_t *d, char *buf, size_t len)
{
    uint64_t addr = (uint64_t)ld32(d) | (uint64_t)ld32(d + 4) << 32;
    uint32_t lower = ld32(d + 8), upper = ld32(d + 12);
    uint32_t cmd = lower >> 24;

    if (!(lower & E1000_TXD_CMD_DEXT)) {
        snprintf(buf, len, "legacy buf=%#llx len=%u cmd=%#x%s%s%s%s cso=%u css=%u vlan=%#x",
                 (unsigned long long)addr, lower & E1000_TXD_LEGACY_LEN_MASK, cmd,
                 (lower & E1000_TXD_CMD_EOP) ? " EOP" : "", (lower & E1000_TXD_CMD_IC) ? " IC" : "",
                 (lower & E1000_TXD_CMD_RS) ? " RS" : "", (lower & E1000_TXD_CMD_VLE) ? " VLE" : "",
                 (lower >> 16) & 0xff, (upper >> 8) & 0xff, upper >> 16);
    } else if ((lower & E1000_TXD_DTYP_MASK) == E1000_TXD_DTYP_C) {
        snprintf(buf, len,
                 "context %s ipcss=%u ipcso=%u ipcse=%u tucss=%u tucso=%u tucse=%u paylen=%u "
                 "hdrlen=%u mss=%u%s%s",
                 (lower & E1000_TXD_CMD_TSE) ? "TSO" : "checksum", (unsigned)(addr & 0xff),
                 (unsigned)((addr >> 8) & 0xff), (unsigned)((addr >> 16) & 0xffff),
                 (unsigned)((addr >> 32) & 0xff), (unsigned)((addr >> 40) & 0xff),
                 (unsigned)(addr >> 48), lower & E1000_TXD_LEN_MASK, (upper >> 8) & 0xff,
                 upper >> 16, (lower & E1000_TXD_CMD_IP) ? " IPv4" : " IPv6",
                 (lower & E1000_TXD_CMD_TCP) ? " TCP" : " UDP");
    } else if ((lower & E1000_TXD_DTYP_MASK) == E1000_TXD_DTYP_D) {
        unsigned popts = (upper >> 8) & 0xff;
        snprintf(buf, len, "data buf=%#llx len=%u cmd=%#x%s%s%s%s popts=%#x%s%s vlan=%#x",
                 (unsigned long long)addr, lower & E1000_TXD_LEN_MASK, cmd,
                 (lower & E1000_TXD_CMD_EOP) ? " EOP" : "",
                 (lower & E1000_TXD_CMD_TSE) ? " TSE" : "", (lower & E1000_TXD_CMD_RS) ? " RS" : "",
                 (lower & E1000_TXD_CMD_VLE) ? " VLE" : "", popts,
                 (popts & E1000_TXD_POPTS_IXSM) ? " IXSM" : "",
                 (popts & E1000_TXD_POPTS_TXSM) ? " TXSM" : "", upper >> 16);
    } else {
        snprintf(buf, len, "reserved type %#x", (lower & E1000_TXD_DTYP_MASK) >> 20);
    }
    return buf;
}
