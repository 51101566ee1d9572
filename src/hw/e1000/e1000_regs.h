/* Intel 82540EM (e1000) register map, bit fields, descriptor layouts,
 * PHY (Marvell 88E1011) and EEPROM definitions.
 *
 * Names follow the Intel 8254x Family Software Developer's Manual (SDM) and
 * the Linux driver's e1000_hw.h so that the three can be read side by side.
 * Offsets are byte offsets into BAR0 (128 KiB of memory-mapped registers). */
#ifndef E1KVM_HW_E1000_REGS_H
#define E1KVM_HW_E1000_REGS_H

#include <stdint.h>

/* ---- PCI identity ---- */
#define E1000_VENDOR_INTEL 0x8086
#define E1000_DEV_ID_82540EM 0x100E
#define E1000_DEV_ID_82544GC_COPPER 0x100C
#define E1000_DEV_ID_82545EM_COPPER 0x100F
#define E1000_SUBSYS_VENDOR 0x8086 /* PRO/1000 MT Desktop Adapter */
#define E1000_SUBSYS_ID 0x001E
#define E1000_SUBSYS_ID_82544GC 0x1112 /* PRO/1000 T Desktop Adapter */
#define E1000_SUBSYS_ID_82545EM 0x1001 /* PRO/1000 MT Server Adapter */
#define E1000_REVISION 0x02
#define E1000_CLASS_ETHERNET 0x020000

#define E1000_MMIO_SIZE 0x20000 /* BAR0 */
#define E1000_IO_SIZE 0x40      /* BAR1: IOADDR / IODATA window */
#define E1000_IOADDR 0x00
#define E1000_IODATA 0x04

/* ---- General registers (SDM 13.4) ---- */
#define E1000_CTRL 0x00000     /* Device Control */
#define E1000_STATUS 0x00008   /* Device Status (RO) */
#define E1000_EECD 0x00010     /* EEPROM/Flash Control */
#define E1000_EERD 0x00014     /* EEPROM Read */
#define E1000_CTRL_EXT 0x00018 /* Extended Device Control */
#define E1000_FLA 0x0001C      /* Flash Access */
#define E1000_MDIC 0x00020     /* MDI Control */
#define E1000_FCAL 0x00028     /* Flow Control Address Low */
#define E1000_FCAH 0x0002C     /* Flow Control Address High */
#define E1000_FCT 0x00030      /* Flow Control Type */
#define E1000_VET 0x00038      /* VLAN Ether Type */
#define E1000_ICR 0x000C0      /* Interrupt Cause Read (read to clear) */
#define E1000_ITR 0x000C4      /* Interrupt Throttling Rate */
#define E1000_ICS 0x000C8      /* Interrupt Cause Set (WO) */
#define E1000_IMS 0x000D0      /* Interrupt Mask Set/Read */
#define E1000_IMC 0x000D8      /* Interrupt Mask Clear (WO) */
#define E1000_RCTL 0x00100     /* Receive Control */
#define E1000_FCTTV 0x00170    /* Flow Control Transmit Timer Value */
#define E1000_TXCW 0x00178     /* Transmit Configuration Word */
#define E1000_RXCW 0x00180     /* Receive Configuration Word (RO) */
#define E1000_TCTL 0x00400     /* Transmit Control */
#define E1000_TIPG 0x00410     /* Transmit Inter-Packet Gap */
#define E1000_AIT 0x00458      /* Adaptive IFS Throttle */
#define E1000_LEDCTL 0x00E00   /* LED Control */
#define E1000_PBA 0x01000      /* Packet Buffer Allocation */
#define E1000_FCRTL 0x02160    /* Flow Control Receive Threshold Low */
#define E1000_FCRTH 0x02168    /* Flow Control Receive Threshold High */
#define E1000_RDFH 0x02410     /* RX Data FIFO Head */
#define E1000_RDFT 0x02418     /* RX Data FIFO Tail */
#define E1000_RDFHS 0x02420    /* RX Data FIFO Head Saved */
#define E1000_RDFTS 0x02428    /* RX Data FIFO Tail Saved */
#define E1000_RDFPC 0x02430    /* RX Data FIFO Packet Count */
#define E1000_RDBAL 0x02800    /* RX Descriptor Base Address Low */
#define E1000_RDBAH 0x02804    /* RX Descriptor Base Address High */
#define E1000_RDLEN 0x02808    /* RX Descriptor Length */
#define E1000_RDH 0x02810      /* RX Descriptor Head */
#define E1000_RDT 0x02818      /* RX Descriptor Tail */
#define E1000_RDTR 0x02820     /* RX Delay Timer */
#define E1000_RXDCTL 0x02828   /* RX Descriptor Control */
#define E1000_RADV 0x0282C     /* RX Interrupt Absolute Delay Timer */
#define E1000_RSRPD 0x02C00    /* RX Small Packet Detect Interrupt */
#define E1000_TXDMAC 0x03000   /* TX DMA Control */
#define E1000_TDFH 0x03410     /* TX Data FIFO Head */
#define E1000_TDFT 0x03418     /* TX Data FIFO Tail */
#define E1000_TDFHS 0x03420    /* TX Data FIFO Head Saved */
#define E1000_TDFTS 0x03428    /* TX Data FIFO Tail Saved */
#define E1000_TDFPC 0x03430    /* TX Data FIFO Packet Count */
#define E1000_TDBAL 0x03800    /* TX Descriptor Base Address Low */
#define E1000_TDBAH 0x03804    /* TX Descriptor Base Address High */
#define E1000_TDLEN 0x03808    /* TX Descriptor Length */
#define E1000_TDH 0x03810      /* TX Descriptor Head */
#define E1000_TDT 0x03818      /* TX Descriptor Tail */
#define E1000_TIDV 0x03820     /* TX Interrupt Delay Value */
#define E1000_TXDCTL 0x03828   /* TX Descriptor Control */
#define E1000_TADV 0x0382C     /* TX Interrupt Absolute Delay Value */
#define E1000_TSPMT 0x03830    /* TCP Segmentation Pad and Min Threshold */
#define E1000_RXCSUM 0x05000   /* RX Checksum Control */
#define E1000_MTA 0x05200      /* Multicast Table Array (128 dwords) */
#define E1000_RA 0x05400       /* Receive Address (16 pairs RAL/RAH) */
#define E1000_VFTA 0x05600     /* VLAN Filter Table Array (128 dwords) */
#define E1000_WUC 0x05800      /* Wakeup Control */
#define E1000_WUFC 0x05808     /* Wakeup Filter Control */
#define E1000_WUS 0x05810      /* Wakeup Status */
#define E1000_MANC 0x05820     /* Management Control */
#define E1000_IPAV 0x05838     /* IP Address Valid */
#define E1000_IP4AT 0x05840    /* IPv4 Address Table (4 entries, 8 bytes apart) */
#define E1000_IP6AT 0x05880    /* IPv6 Address Table */
#define E1000_WUPL 0x05900     /* Wakeup Packet Length */
#define E1000_WUPM 0x05A00     /* Wakeup Packet Memory (128 bytes) */
#define E1000_FFLT 0x05F00     /* Flexible Filter Length Table */
#define E1000_FFMT 0x09000     /* Flexible Filter Mask Table */
#define E1000_FFVT 0x09800     /* Flexible Filter Value Table */

#define E1000_MC_TBL_SIZE 128 /* MTA dwords */
#define E1000_VLAN_FILTER_TBL_SIZE 128
#define E1000_RAR_ENTRIES 16

/* ---- Statistics (SDM 13.7): all clear on read ---- */
#define E1000_CRCERRS 0x04000
#define E1000_ALGNERRC 0x04004
#define E1000_SYMERRS 0x04008
#define E1000_RXERRC 0x0400C
#define E1000_MPC 0x04010
#define E1000_SCC 0x04014
#define E1000_ECOL 0x04018
#define E1000_MCC 0x0401C
#define E1000_LATECOL 0x04020
#define E1000_COLC 0x04028
#define E1000_DC 0x04030
#define E1000_TNCRS 0x04034
#define E1000_SEC 0x04038
#define E1000_CEXTERR 0x0403C
#define E1000_RLEC 0x04040
#define E1000_XONRXC 0x04048
#define E1000_XONTXC 0x0404C
#define E1000_XOFFRXC 0x04050
#define E1000_XOFFTXC 0x04054
#define E1000_FCRUC 0x04058
#define E1000_PRC64 0x0405C
#define E1000_PRC127 0x04060
#define E1000_PRC255 0x04064
#define E1000_PRC511 0x04068
#define E1000_PRC1023 0x0406C
#define E1000_PRC1522 0x04070
#define E1000_GPRC 0x04074
#define E1000_BPRC 0x04078
#define E1000_MPRC 0x0407C
#define E1000_GPTC 0x04080
#define E1000_GORCL 0x04088
#define E1000_GORCH 0x0408C
#define E1000_GOTCL 0x04090
#define E1000_GOTCH 0x04094
#define E1000_RNBC 0x040A0
#define E1000_RUC 0x040A4
#define E1000_RFC 0x040A8
#define E1000_ROC 0x040AC
#define E1000_RJC 0x040B0
#define E1000_MGTPRC 0x040B4
#define E1000_MGTPDC 0x040B8
#define E1000_MGTPTC 0x040BC
#define E1000_TORL 0x040C0
#define E1000_TORH 0x040C4
#define E1000_TOTL 0x040C8
#define E1000_TOTH 0x040CC
#define E1000_TPR 0x040D0
#define E1000_TPT 0x040D4
#define E1000_PTC64 0x040D8
#define E1000_PTC127 0x040DC
#define E1000_PTC255 0x040E0
#define E1000_PTC511 0x040E4
#define E1000_PTC1023 0x040E8
#define E1000_PTC1522 0x040EC
#define E1000_MPTC 0x040F0
#define E1000_BPTC 0x040F4
#define E1000_TSCTC 0x040F8
#define E1000_TSCTFC 0x040FC
#define E1000_STATS_FIRST E1000_CRCERRS
#define E1000_STATS_LAST E1000_TSCTFC

/* ---- CTRL ---- */
#define E1000_CTRL_FD 0x00000001      /* Full duplex */
#define E1000_CTRL_LRST 0x00000008    /* Link reset */
#define E1000_CTRL_ASDE 0x00000020    /* Auto-speed detection enable */
#define E1000_CTRL_SLU 0x00000040     /* Set link up */
#define E1000_CTRL_ILOS 0x00000080    /* Invert loss of signal */
#define E1000_CTRL_SPD_SEL 0x00000300 /* Speed select */
#define E1000_CTRL_SPD_1000 0x00000200
#define E1000_CTRL_FRCSPD 0x00000800 /* Force speed */
#define E1000_CTRL_FRCDPX 0x00001000 /* Force duplex */
#define E1000_CTRL_SWDPIN0 0x00040000
#define E1000_CTRL_SWDPIN1 0x00080000
#define E1000_CTRL_SWDPIN2 0x00100000
#define E1000_CTRL_SWDPIN3 0x00200000
#define E1000_CTRL_RST 0x04000000  /* Global device reset (self-clearing) */
#define E1000_CTRL_RFCE 0x08000000 /* Receive flow control enable */
#define E1000_CTRL_TFCE 0x10000000 /* Transmit flow control enable */
#define E1000_CTRL_VME 0x40000000  /* VLAN mode enable */
#define E1000_CTRL_PHY_RST 0x80000000

/* ---- STATUS ---- */
#define E1000_STATUS_FD 0x00000001
#define E1000_STATUS_LU 0x00000002
#define E1000_STATUS_FUNC_MASK 0x0000000C
#define E1000_STATUS_TXOFF 0x00000010
#define E1000_STATUS_TBIMODE 0x00000020
#define E1000_STATUS_SPEED_10 0x00000000
#define E1000_STATUS_SPEED_100 0x00000040
#define E1000_STATUS_SPEED_1000 0x00000080
#define E1000_STATUS_ASDV_1000 0x00000300 /* auto speed detection value */
#define E1000_STATUS_PCI66 0x00000800
#define E1000_STATUS_BUS64 0x00001000

/* ---- EECD (SDM 13.4.3): software bit-bangs the Microwire EEPROM ---- */
#define E1000_EECD_SK 0x00000001 /* clock */
#define E1000_EECD_CS 0x00000002 /* chip select */
#define E1000_EECD_DI 0x00000004 /* data into the EEPROM */
#define E1000_EECD_DO 0x00000008 /* data out of the EEPROM */
#define E1000_EECD_FWE_MASK 0x00000030
#define E1000_EECD_FWE_DIS 0x00000010
#define E1000_EECD_REQ 0x00000040  /* software requests access */
#define E1000_EECD_GNT 0x00000080  /* access granted */
#define E1000_EECD_PRES 0x00000100 /* EEPROM present */
#define E1000_EECD_SIZE 0x00000200 /* 0: 64 words (6 address bits), 1: 256 */

/* ---- EERD (82540 layout: start bit 0, done bit 4) ---- */
#define E1000_EERD_START 0x00000001
#define E1000_EERD_DONE 0x00000010
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_ADDR_MASK 0x0000FF00
#define E1000_EERD_DATA_SHIFT 16

/* ---- CTRL_EXT ---- */
#define E1000_CTRL_EXT_EE_RST 0x00002000 /* reinitialise from EEPROM (self-clearing) */

/* ---- MDIC (SDM 13.4.6) ---- */
#define E1000_MDIC_DATA_MASK 0x0000FFFF
#define E1000_MDIC_REG_MASK 0x001F0000
#define E1000_MDIC_REG_SHIFT 16
#define E1000_MDIC_PHY_MASK 0x03E00000
#define E1000_MDIC_PHY_SHIFT 21
#define E1000_MDIC_OP_WRITE 0x04000000
#define E1000_MDIC_OP_READ 0x08000000
#define E1000_MDIC_OP_MASK 0x0C000000
#define E1000_MDIC_READY 0x10000000
#define E1000_MDIC_INT_EN 0x20000000
#define E1000_MDIC_ERROR 0x40000000
#define E1000_PHY_ADDR 1 /* the internal PHY answers at address 1 */

/* ---- Interrupt cause bits: ICR / ICS / IMS / IMC ---- */
#define E1000_ICR_TXDW 0x00000001   /* transmit descriptor written back */
#define E1000_ICR_TXQE 0x00000002   /* transmit queue empty */
#define E1000_ICR_LSC 0x00000004    /* link status change */
#define E1000_ICR_RXSEQ 0x00000008  /* receive sequence error */
#define E1000_ICR_RXDMT0 0x00000010 /* receive descriptor minimum threshold */
#define E1000_ICR_RXO 0x00000040    /* receiver overrun */
#define E1000_ICR_RXT0 0x00000080   /* receiver timer */
#define E1000_ICR_MDAC 0x00000200   /* MDI access complete */
#define E1000_ICR_RXCFG 0x00000400
#define E1000_ICR_GPI_EN0 0x00000800
#define E1000_ICR_GPI_EN1 0x00001000
#define E1000_ICR_GPI_EN2 0x00002000
#define E1000_ICR_GPI_EN3 0x00004000
#define E1000_ICR_TXD_LOW 0x00008000
#define E1000_ICR_SRPD 0x00010000
#define E1000_ICR_INT_ASSERTED 0x80000000
#define E1000_ICR_CAUSES 0x0001FFFF /* cause bits ICS may set */
#define E1000_ICS_TXDW E1000_ICR_TXDW
#define E1000_ICS_TXQE E1000_ICR_TXQE
#define E1000_ICS_LSC E1000_ICR_LSC
#define E1000_ICS_RXSEQ E1000_ICR_RXSEQ
#define E1000_ICS_RXDMT0 E1000_ICR_RXDMT0
#define E1000_ICS_RXO E1000_ICR_RXO
#define E1000_ICS_RXT0 E1000_ICR_RXT0
#define E1000_ICS_MDAC E1000_ICR_MDAC
#define E1000_IMS_TXDW E1000_ICR_TXDW
#define E1000_IMS_TXQE E1000_ICR_TXQE
#define E1000_IMS_LSC E1000_ICR_LSC
#define E1000_IMS_RXSEQ E1000_ICR_RXSEQ
#define E1000_IMS_RXDMT0 E1000_ICR_RXDMT0
#define E1000_IMS_RXO E1000_ICR_RXO
#define E1000_IMS_RXT0 E1000_ICR_RXT0

/* ---- RCTL (SDM 13.4.22) ---- */
#define E1000_RCTL_RST 0x00000001
#define E1000_RCTL_EN 0x00000002
#define E1000_RCTL_SBP 0x00000004 /* store bad packets */
#define E1000_RCTL_UPE 0x00000008 /* unicast promiscuous */
#define E1000_RCTL_MPE 0x00000010 /* multicast promiscuous */
#define E1000_RCTL_LPE 0x00000020 /* long packet enable */
#define E1000_RCTL_LBM_MASK 0x000000C0
#define E1000_RCTL_LBM_NO 0x00000000
#define E1000_RCTL_LBM_MAC 0x00000040
#define E1000_RCTL_RDMTS_MASK 0x00000300
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_RDMTS_HALF 0x00000000
#define E1000_RCTL_RDMTS_QUAT 0x00000100
#define E1000_RCTL_RDMTS_EIGTH 0x00000200
#define E1000_RCTL_MO_MASK 0x00003000
#define E1000_RCTL_MO_SHIFT 12
#define E1000_RCTL_BAM 0x00008000 /* broadcast accept */
#define E1000_RCTL_SZ_MASK 0x00030000
#define E1000_RCTL_SZ_SHIFT 16
#define E1000_RCTL_SZ_2048 0x00000000
#define E1000_RCTL_SZ_1024 0x00010000
#define E1000_RCTL_SZ_512 0x00020000
#define E1000_RCTL_SZ_256 0x00030000
#define E1000_RCTL_SZ_16384 0x00010000 /* with BSEX */
#define E1000_RCTL_SZ_8192 0x00020000  /* with BSEX */
#define E1000_RCTL_SZ_4096 0x00030000  /* with BSEX */
#define E1000_RCTL_VFE 0x00040000      /* VLAN filter enable */
#define E1000_RCTL_CFIEN 0x00080000    /* canonical form indicator enable */
#define E1000_RCTL_CFI 0x00100000      /* canonical form indicator value */
#define E1000_RCTL_DPF 0x00400000      /* discard pause frames */
#define E1000_RCTL_PMCF 0x00800000     /* pass MAC control frames */
#define E1000_RCTL_BSEX 0x02000000     /* buffer size extension (x16) */
#define E1000_RCTL_SECRC 0x04000000    /* strip Ethernet CRC */

/* ---- RAH ---- */
#define E1000_RAH_AV 0x80000000        /* address valid */
#define E1000_RAH_ASEL_MASK 0x00030000 /* 00: destination address */

/* ---- RDTR ---- */
#define E1000_RDTR_FPD 0x80000000 /* flush partial descriptor block (write only) */

/* ---- RXCSUM ---- */
#define E1000_RXCSUM_PCSS_MASK 0x000000FF /* packet checksum start */
#define E1000_RXCSUM_IPOFL 0x00000100     /* IPv4 checksum offload */
#define E1000_RXCSUM_TUOFL 0x00000200     /* TCP/UDP checksum offload */

/* ---- TCTL ---- */
#define E1000_TCTL_RST 0x00000001
#define E1000_TCTL_EN 0x00000002
#define E1000_TCTL_PSP 0x00000008 /* pad short packets */
#define E1000_TCTL_CT 0x00000ff0
#define E1000_TCTL_COLD 0x003ff000
#define E1000_TCTL_RTLC 0x01000000

/* ---- PBA ---- */
#define E1000_PBA_DEFAULT 0x00100030 /* 48 KiB RX, 16 KiB TX (82540EM) */

/* ---- Receive descriptor (legacy, SDM 3.2.3) ---- */
struct e1000_rx_desc {
    uint64_t buffer_addr;
    uint16_t length;
    uint16_t csum;
    uint8_t status;
    uint8_t errors;
    uint16_t special;
} __attribute__((packed));

#define E1000_RXD_STAT_DD 0x01    /* descriptor done */
#define E1000_RXD_STAT_EOP 0x02   /* end of packet */
#define E1000_RXD_STAT_IXSM 0x04  /* ignore checksum indication */
#define E1000_RXD_STAT_VP 0x08    /* 802.1Q packet, tag stripped */
#define E1000_RXD_STAT_TCPCS 0x20 /* TCP/UDP checksum calculated */
#define E1000_RXD_STAT_IPCS 0x40  /* IP checksum calculated */
#define E1000_RXD_STAT_PIF 0x80   /* passed in-exact filter */
#define E1000_RXD_ERR_CE 0x01     /* CRC error */
#define E1000_RXD_ERR_SE 0x02     /* symbol error */
#define E1000_RXD_ERR_SEQ 0x04    /* sequence error */
#define E1000_RXD_ERR_CXE 0x10    /* carrier extension error */
#define E1000_RXD_ERR_TCPE 0x20   /* TCP/UDP checksum error */
#define E1000_RXD_ERR_IPE 0x40    /* IP checksum error */
#define E1000_RXD_ERR_RXE 0x80    /* RX data error */

/* ---- Transmit descriptors (SDM 3.3) ----
 * All three kinds are 16 bytes. Legacy: DEXT clear. Context: DEXT set,
 * DTYP 0. Data: DEXT set, DTYP 1. */
struct e1000_tx_desc {
    uint64_t buffer_addr;
    uint32_t lower; /* length 15:0, CSO 23:16, CMD 31:24 (legacy) */
    uint32_t upper; /* STA 3:0, CSS 15:8, special 31:16 (legacy) */
} __attribute__((packed));

struct e1000_context_desc {
    uint8_t ipcss;           /* IP checksum start */
    uint8_t ipcso;           /* IP checksum offset */
    uint16_t ipcse;          /* IP checksum end (inclusive, 0 = end of packet) */
    uint8_t tucss;           /* TCP/UDP checksum start */
    uint8_t tucso;           /* TCP/UDP checksum offset */
    uint16_t tucse;          /* TCP/UDP checksum end (inclusive, 0 = end of packet) */
    uint32_t cmd_and_length; /* PAYLEN 19:0, DTYP 23:20, TUCMD 31:24 */
    uint8_t status;
    uint8_t hdr_len;
    uint16_t mss;
} __attribute__((packed));

#define E1000_TXD_DTYP_C 0x00000000 /* context descriptor */
#define E1000_TXD_DTYP_D 0x00100000 /* data descriptor */
#define E1000_TXD_DTYP_MASK 0x00F00000
#define E1000_TXD_POPTS_IXSM 0x01     /* insert IP checksum */
#define E1000_TXD_POPTS_TXSM 0x02     /* insert TCP/UDP checksum */
#define E1000_TXD_CMD_EOP 0x01000000  /* end of packet */
#define E1000_TXD_CMD_IFCS 0x02000000 /* insert FCS */
#define E1000_TXD_CMD_IC 0x04000000   /* insert checksum (legacy) */
#define E1000_TXD_CMD_RS 0x08000000   /* report status */
#define E1000_TXD_CMD_RPS 0x10000000  /* report packet sent */
#define E1000_TXD_CMD_DEXT 0x20000000 /* descriptor extension */
#define E1000_TXD_CMD_VLE 0x40000000  /* add VLAN tag */
#define E1000_TXD_CMD_IDE 0x80000000  /* enable interrupt delay */
#define E1000_TXD_CMD_TCP 0x01000000  /* context: TCP (else UDP) */
#define E1000_TXD_CMD_IP 0x02000000   /* context: IPv4 (else IPv6) */
#define E1000_TXD_CMD_TSE 0x04000000  /* TCP segmentation enable */
#define E1000_TXD_STAT_DD 0x00000001  /* descriptor done */
#define E1000_TXD_STAT_EC 0x00000002
#define E1000_TXD_STAT_LC 0x00000004
#define E1000_TXD_STAT_TU 0x00000008
#define E1000_TXD_LEN_MASK 0x000FFFFF /* data descriptor length */
#define E1000_TXD_LEGACY_LEN_MASK 0x0000FFFF

/* ---- PHY registers (IEEE 802.3 clause 22 + Marvell 88E1011) ---- */
#define PHY_CTRL 0x00
#define PHY_STATUS 0x01
#define PHY_ID1 0x02
#define PHY_ID2 0x03
#define PHY_AUTONEG_ADV 0x04
#define PHY_LP_ABILITY 0x05
#define PHY_AUTONEG_EXP 0x06
#define PHY_NEXT_PAGE_TX 0x07
#define PHY_LP_NEXT_PAGE 0x08
#define PHY_1000T_CTRL 0x09
#define PHY_1000T_STATUS 0x0A
#define PHY_EXT_STATUS 0x0F
#define M88E1000_PHY_SPEC_CTRL 0x10
#define M88E1000_PHY_SPEC_STATUS 0x11
#define M88E1000_INT_ENABLE 0x12
#define M88E1000_INT_STATUS 0x13
#define M88E1000_EXT_PHY_SPEC_CTRL 0x14
#define M88E1000_RX_ERR_CNTR 0x15
#define M88E1000_LED_CTRL 0x18
#define M88E1000_PHY_EXT_CTRL 0x1A
#define M88E1000_PHY_PAGE_SELECT 0x1D
#define M88E1000_PHY_GEN_CONTROL 0x1E
#define E1000_PHY_REGS 32

#define M88E1011_I_PHY_ID 0x01410C20
#define M88E1011_PHY_ID1 0x0141
#define M88E1011_PHY_ID2 0x0C20 /* 82540EM, 82545EM: Marvell 88E1011 */
#define M88E1000_PHY_ID2 0x0C30 /* 82544GC: Marvell 88E1000 */

#define MII_CR_SPEED_SELECT_MSB 0x0040
#define MII_CR_COLL_TEST_ENABLE 0x0080
#define MII_CR_FULL_DUPLEX 0x0100
#define MII_CR_RESTART_AUTO_NEG 0x0200
#define MII_CR_ISOLATE 0x0400
#define MII_CR_POWER_DOWN 0x0800
#define MII_CR_AUTO_NEG_EN 0x1000
#define MII_CR_SPEED_SELECT_LSB 0x2000
#define MII_CR_LOOPBACK 0x4000
#define MII_CR_RESET 0x8000

#define MII_SR_EXTENDED_CAPS 0x0001
#define MII_SR_LINK_STATUS 0x0004
#define MII_SR_AUTONEG_CAPS 0x0008
#define MII_SR_AUTONEG_COMPLETE 0x0020
#define MII_SR_PREAMBLE_SUPPRESS 0x0040
#define MII_SR_EXTENDED_STATUS 0x0100
#define MII_SR_10T_HD_CAPS 0x0800
#define MII_SR_10T_FD_CAPS 0x1000
#define MII_SR_100X_HD_CAPS 0x2000
#define MII_SR_100X_FD_CAPS 0x4000

#define NWAY_AR_SELECTOR_802_3 0x0001
#define NWAY_AR_10T_HD_CAPS 0x0020
#define NWAY_AR_10T_FD_CAPS 0x0040
#define NWAY_AR_100TX_HD_CAPS 0x0080
#define NWAY_AR_100TX_FD_CAPS 0x0100
#define NWAY_AR_PAUSE 0x0400
#define NWAY_AR_ASM_DIR 0x0800
#define NWAY_LPAR_ACKNOWLEDGE 0x4000
#define NWAY_ER_LP_NWAY_CAPS 0x0001

#define CR_1000T_HD_CAPS 0x0100
#define CR_1000T_FD_CAPS 0x0200
#define SR_1000T_LP_HD_CAPS 0x0400
#define SR_1000T_LP_FD_CAPS 0x0800
#define SR_1000T_REMOTE_RX_STATUS 0x1000
#define SR_1000T_LOCAL_RX_STATUS 0x2000
#define IEEE_ESR_1000T_HD_CAPS 0x1000
#define IEEE_ESR_1000T_FD_CAPS 0x2000

#define M88E1000_PSCR_AUTO_X_MODE 0x0060
#define M88E1000_PSCR_ASSERT_CRS_ON_TX 0x0800
#define M88E1000_PSSR_LINK 0x0400
#define M88E1000_PSSR_SPD_DPLX_RESOLVED 0x0800
#define M88E1000_PSSR_DPLX 0x2000
#define M88E1000_PSSR_1000MBS 0x8000

/* ---- EEPROM (SDM 5.6): 64 x 16-bit Microwire, 6 address bits ---- */
#define E1000_EEPROM_WORDS 64
#define E1000_EEPROM_ADDR_BITS 6
#define EEPROM_READ_OPCODE_MICROWIRE 0x6 /* start bit + 10b */
#define EEPROM_WRITE_OPCODE_MICROWIRE 0x5
#define EEPROM_ERASE_OPCODE_MICROWIRE 0x7
#define EEPROM_COMPAT 0x0003
#define EEPROM_ID_LED_SETTINGS 0x0004
#define EEPROM_VERSION 0x0005
#define EEPROM_PBA_BYTE_1 0x0008
#define EEPROM_PBA_BYTE_2 0x0009
#define EEPROM_INIT_CONTROL1_REG 0x000A
#define EEPROM_SUBSYSTEM_ID 0x000B
#define EEPROM_SUBSYSTEM_VENDOR 0x000C
#define EEPROM_DEVICE_ID 0x000D
#define EEPROM_VENDOR_ID 0x000E
#define EEPROM_INIT_CONTROL2_REG 0x000F
#define EEPROM_SWDEF_PINS_CTRL_PORT_0 0x0020
#define EEPROM_CIRCUIT_CTRL 0x0021
#define EEPROM_POWER 0x0022 /* D3 power (low byte), D0 power (high byte) */
#define EEPROM_INIT_CONTROL3_PORT_A 0x0024
#define EEPROM_BOOT_AGENT 0x0030
#define EEPROM_CHECKSUM_REG 0x003F
#define EEPROM_SUM 0xBABA
#define EEPROM_WORD0A_SIGNATURE 0x4000 /* bits 15:14 = 01b: image valid */
#define EEPROM_WORD0A_FD 0x0400
#define EEPROM_WORD0A_LOAD_SUBSYS_ID 0x0001
#define EEPROM_WORD0A_LOAD_DEV_ID 0x0002
#define EEPROM_WORD0F_PAUSE 0x1000
#define EEPROM_WORD0F_ASM_DIR 0x2000
#define EEPROM_WORD0F_ANE 0x0800
#define ID_LED_DEFAULT 0x8911 /* LED0 link/activity default, as the driver assumes */

/* ---- The register table ----
 * Every register the model implements, once: datasheet name, byte offset,
 * how many dwords it spans (tables such as MTA), its read op, its write op,
 * the bits a write stores, and what kind of register it is. The dispatch
 * tables, the writable masks, the names that -trace and -stats print and the
 * registers KVM is told about (posted writes, doorbells) are all generated
 * from this list (src/hw/e1000/e1000.c). Offsets the list does not name are
 * reserved: they read as zero and ignore writes, as on the real part.
 *
 * Read ops: mac_readreg (the stored value) or one that computes it; NULL:
 * write-only (reads 0). Write ops: mac_writereg (stores value & mask) or one
 * with side effects (it stores with the same mask); NULL: read-only. */
#define E1000_REG_COR 0x01      /* clear on read (statistics, SDM 13.7) */
#define E1000_REG_COR_PAIR 0x02 /* high half of a 64-bit counter: clears both halves */
#define E1000_REG_ACTION 0x04   /* a write acts, not stores: a narrow write keeps no old bytes */
#define E1000_REG_POSTED 0x08   /* writes may be posted (KVM's coalesced MMIO, posted=on) */
#define E1000_REG_DOORBELL 0x10 /* a ring tail: 4-byte writes learn ioeventfds (doorbells=on) */

#define E1000_REG_RO 0u /* mask of a read-only register (its write op is NULL) */
#define E1000_REG_ALL 0xFFFFFFFFu
#define E1000_RAH_WMASK 0x8003FFFFu /* RAH: AV, ASEL and the address' high 16 bits */

/* one register per line, in the datasheet's order */
// clang-format off
/* X(name, offset, dwords, read op, write op, write mask, flags) */
#define E1000_REGISTERS(X)                                                                         \
    X(CTRL, E1000_CTRL, 1, mac_readreg, set_ctrl, E1000_REG_ALL, 0)                                \
    X(STATUS, E1000_STATUS, 1, get_status, NULL, E1000_REG_RO, 0)                                  \
    X(EECD, E1000_EECD, 1, get_eecd, set_eecd, E1000_REG_ALL, 0)                                   \
    X(EERD, E1000_EERD, 1, mac_readreg, set_eerd, E1000_REG_ALL, 0)                                \
    X(CTRL_EXT, E1000_CTRL_EXT, 1, mac_readreg, set_ctrl_ext, ~E1000_CTRL_EXT_EE_RST, 0)           \
    X(FLA, E1000_FLA, 1, NULL, NULL, E1000_REG_RO, 0) /* no flash on the 82540EM */                \
    X(MDIC, E1000_MDIC, 1, mac_readreg, set_mdic, E1000_REG_ALL, 0)                                \
    X(FCAL, E1000_FCAL, 1, mac_readreg, mac_writereg, E1000_REG_ALL, 0)                            \
    X(FCAH, E1000_FCAH, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                   \
    X(FCT, E1000_FCT, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                     \
    X(VET, E1000_VET, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                     \
    X(ICR, E1000_ICR, 1, mac_icr_read, set_icr, E1000_REG_ALL, E1000_REG_ACTION)                   \
    X(ITR, E1000_ITR, 1, mac_readreg, set_itr, 0xFFFF, 0)                                          \
    X(ICS, E1000_ICS, 1, NULL, set_ics_reg, E1000_ICR_CAUSES, E1000_REG_ACTION)                    \
    X(IMS, E1000_IMS, 1, mac_readreg, set_ims, E1000_ICR_CAUSES,                                   \
      E1000_REG_ACTION | E1000_REG_POSTED)                                                         \
    X(IMC, E1000_IMC, 1, NULL, set_imc, E1000_ICR_CAUSES, E1000_REG_ACTION | E1000_REG_POSTED)     \
    X(RCTL, E1000_RCTL, 1, mac_readreg, set_rctl, E1000_REG_ALL, 0)                                \
    X(FCTTV, E1000_FCTTV, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                 \
    X(TXCW, E1000_TXCW, 1, mac_readreg, mac_writereg, 0xC000FFFF, 0)                               \
    X(RXCW, E1000_RXCW, 1, mac_readreg, NULL, E1000_REG_RO, 0)                                     \
    X(TCTL, E1000_TCTL, 1, mac_readreg, set_tctl, E1000_REG_ALL, 0)                                \
    X(TIPG, E1000_TIPG, 1, mac_readreg, mac_writereg, 0x3FFFFFFF, 0)                               \
    X(AIT, E1000_AIT, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                     \
    X(LEDCTL, E1000_LEDCTL, 1, mac_readreg, mac_writereg, E1000_REG_ALL, 0)                        \
    X(PBA, E1000_PBA, 1, mac_readreg, mac_writereg, E1000_REG_ALL, 0)                              \
    X(FCRTL, E1000_FCRTL, 1, mac_readreg, mac_writereg, 0x8000FFF8, 0)                             \
    X(FCRTH, E1000_FCRTH, 1, mac_readreg, mac_writereg, 0x0000FFF8, 0)                             \
    X(RDFH, E1000_RDFH, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                   \
    X(RDFT, E1000_RDFT, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                   \
    X(RDFHS, E1000_RDFHS, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                 \
    X(RDFTS, E1000_RDFTS, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                 \
    X(RDFPC, E1000_RDFPC, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                 \
    /* ring bases 16-byte aligned, lengths a multiple of 128 bytes (SDM 13.4.25-27) */             \
    X(RDBAL, E1000_RDBAL, 1, mac_readreg, mac_writereg, 0xFFFFFFF0, 0)                             \
    X(RDBAH, E1000_RDBAH, 1, mac_readreg, mac_writereg, E1000_REG_ALL, 0)                          \
    X(RDLEN, E1000_RDLEN, 1, mac_readreg, mac_writereg, 0x000FFF80, 0)                             \
    X(RDH, E1000_RDH, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                     \
    X(RDT, E1000_RDT, 1, mac_readreg, set_rdt, 0xFFFF, E1000_REG_DOORBELL)                         \
    X(RDTR, E1000_RDTR, 1, mac_readreg, set_rdtr, 0xFFFF, 0)                                       \
    X(RXDCTL, E1000_RXDCTL, 1, mac_readreg, mac_writereg, E1000_REG_ALL, 0)                        \
    X(RADV, E1000_RADV, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                   \
    X(RSRPD, E1000_RSRPD, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                 \
    X(TXDMAC, E1000_TXDMAC, 1, mac_readreg, mac_writereg, E1000_REG_ALL, 0)                        \
    X(TDFH, E1000_TDFH, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                   \
    X(TDFT, E1000_TDFT, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                   \
    X(TDFHS, E1000_TDFHS, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                 \
    X(TDFTS, E1000_TDFTS, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                 \
    X(TDFPC, E1000_TDFPC, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                 \
    X(TDBAL, E1000_TDBAL, 1, mac_readreg, mac_writereg, 0xFFFFFFF0, 0)                             \
    X(TDBAH, E1000_TDBAH, 1, mac_readreg, mac_writereg, E1000_REG_ALL, 0)                          \
    X(TDLEN, E1000_TDLEN, 1, mac_readreg, mac_writereg, 0x000FFF80, 0)                             \
    X(TDH, E1000_TDH, 1, mac_readreg, set_tdh, 0xFFFF, 0)                                          \
    X(TDT, E1000_TDT, 1, mac_readreg, set_tdt, 0xFFFF, E1000_REG_DOORBELL)                         \
    X(TIDV, E1000_TIDV, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                   \
    X(TXDCTL, E1000_TXDCTL, 1, mac_readreg, mac_writereg, E1000_REG_ALL, 0)                        \
    X(TADV, E1000_TADV, 1, mac_readreg, mac_writereg, 0xFFFF, 0)                                   \
    X(TSPMT, E1000_TSPMT, 1, mac_readreg, mac_writereg, E1000_REG_ALL, 0)                          \
    /* statistics (SDM 13.7): read-only, clear on read; a 64-bit counter */                        \
    /* clears when its high half is read (drivers read low, then high) */                          \
    E1000_STAT(X, CRCERRS)                                                                         \
    E1000_STAT(X, ALGNERRC)                                                                        \
    E1000_STAT(X, SYMERRS)                                                                         \
    E1000_STAT(X, RXERRC)                                                                          \
    E1000_STAT(X, MPC)                                                                             \
    E1000_STAT(X, SCC)                                                                             \
    E1000_STAT(X, ECOL)                                                                            \
    E1000_STAT(X, MCC)                                                                             \
    E1000_STAT(X, LATECOL)                                                                         \
    E1000_STAT(X, COLC)                                                                            \
    E1000_STAT(X, DC)                                                                              \
    E1000_STAT(X, TNCRS)                                                                           \
    E1000_STAT(X, SEC)                                                                             \
    E1000_STAT(X, CEXTERR)                                                                         \
    E1000_STAT(X, RLEC)                                                                            \
    E1000_STAT(X, XONRXC)                                                                          \
    E1000_STAT(X, XONTXC)                                                                          \
    E1000_STAT(X, XOFFRXC)                                                                         \
    E1000_STAT(X, XOFFTXC)                                                                         \
    E1000_STAT(X, FCRUC)                                                                           \
    E1000_STAT(X, PRC64)                                                                           \
    E1000_STAT(X, PRC127)                                                                          \
    E1000_STAT(X, PRC255)                                                                          \
    E1000_STAT(X, PRC511)                                                                          \
    E1000_STAT(X, PRC1023)                                                                         \
    E1000_STAT(X, PRC1522)                                                                         \
    E1000_STAT(X, GPRC)                                                                            \
    E1000_STAT(X, BPRC)                                                                            \
    E1000_STAT(X, MPRC)                                                                            \
    E1000_STAT(X, GPTC)                                                                            \
    E1000_STAT64(X, GORCL, GORCH)                                                                  \
    E1000_STAT64(X, GOTCL, GOTCH)                                                                  \
    E1000_STAT(X, RNBC)                                                                            \
    E1000_STAT(X, RUC)                                                                             \
    E1000_STAT(X, RFC)                                                                             \
    E1000_STAT(X, ROC)                                                                             \
    E1000_STAT(X, RJC)                                                                             \
    E1000_STAT(X, MGTPRC)                                                                          \
    E1000_STAT(X, MGTPDC)                                                                          \
    E1000_STAT(X, MGTPTC)                                                                          \
    E1000_STAT64(X, TORL, TORH)                                                                    \
    E1000_STAT64(X, TOTL, TOTH)                                                                    \
    E1000_STAT(X, TPR)                                                                             \
    E1000_STAT(X, TPT)                                                                             \
    E1000_STAT(X, PTC64)                                                                           \
    E1000_STAT(X, PTC127)                                                                          \
    E1000_STAT(X, PTC255)                                                                          \
    E1000_STAT(X, PTC511)                                                                          \
    E1000_STAT(X, PTC1023)                                                                         \
    E1000_STAT(X, PTC1522)                                                                         \
    E1000_STAT(X, MPTC)                                                                            \
    E1000_STAT(X, BPTC)                                                                            \
    E1000_STAT(X, TSCTC)                                                                           \
    E1000_STAT(X, TSCTFC)                                                                          \
    /* filters and wake-up */                                                                      \
    X(RXCSUM, E1000_RXCSUM, 1, mac_readreg, mac_writereg,                                          \
      E1000_RXCSUM_PCSS_MASK | E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL, 0)                         \
    X(MTA, E1000_MTA, E1000_MC_TBL_SIZE, mac_readreg, set_mta, E1000_REG_ALL,                      \
      0) /* RAL/RAH pairs: RAL stores all bits, RAH E1000_RAH_WMASK (set_ra) */                    \
    X(RA, E1000_RA, 2 * E1000_RAR_ENTRIES, mac_readreg, set_ra, E1000_REG_ALL, 0)                  \
    X(VFTA, E1000_VFTA, E1000_VLAN_FILTER_TBL_SIZE, mac_readreg, mac_writereg, E1000_REG_ALL,      \
      0) X(WUC, E1000_WUC, 1, mac_readreg, mac_writereg, E1000_REG_ALL,                            \
           0) X(WUFC, E1000_WUFC, 1, mac_readreg, mac_writereg, E1000_REG_ALL,                     \
                0) X(WUS, E1000_WUS, 1, mac_readreg, set_w1c, E1000_REG_ALL, E1000_REG_ACTION)     \
        X(MANC, E1000_MANC, 1, mac_readreg, mac_writereg, E1000_REG_ALL,                           \
          0) X(IPAV, E1000_IPAV, 1, mac_readreg, mac_writereg, E1000_REG_ALL,                      \
               0) X(IP4AT, E1000_IP4AT, 8, mac_readreg, mac_writereg, E1000_REG_ALL,               \
                    0) X(IP6AT, E1000_IP6AT, 4, mac_readreg, mac_writereg, E1000_REG_ALL, 0)       \
            X(WUPL, E1000_WUPL, 1, mac_readreg, mac_writereg, E1000_REG_ALL, 0)                    \
                X(WUPM, E1000_WUPM, 32, mac_readreg, mac_writereg, E1000_REG_ALL, 0)               \
                    X(FFLT, E1000_FFLT, 8, mac_readreg, mac_writereg, E1000_REG_ALL, 0)            \
                        X(FFMT, E1000_FFMT, 256, mac_readreg, mac_writereg, E1000_REG_ALL, 0)      \
                            X(FFVT, E1000_FFVT, 256, mac_readreg, mac_writereg, E1000_REG_ALL, 0)

#define E1000_STAT(X, name) X(name, E1000_##name, 1, mac_readreg, NULL, E1000_REG_RO, E1000_REG_COR)
#define E1000_STAT64(X, lo, hi)                                                                    \
    X(lo, E1000_##lo, 1, mac_readreg, NULL, E1000_REG_RO, 0)                                       \
    X(hi, E1000_##hi, 1, mac_readreg, NULL, E1000_REG_RO, E1000_REG_COR | E1000_REG_COR_PAIR)
// clang-format on

/* ---- Names, for traces, exit statistics and tests ---- */
#include <stddef.h>
/* Name of the dword register at byte offset @offset of BAR0: a constant
 * string, or one formatted into buf ("MTA[5]", "RAL[0]", "reg0x1234"). */
const char *e1000_reg_name(uint32_t offset, char *buf, size_t len);
/* ExitStatsNamer for BAR0 (memory) and BAR1 (the IOADDR/IODATA window). */
const char *e1000_mmio_reg_name(uint64_t offset, char *buf, size_t len);
const char *e1000_io_reg_name(uint64_t offset, char *buf, size_t len);
/* Interrupt cause bits as names: "TXDW|TXQE". */
const char *e1000_icr_names(uint32_t cause, char *buf, size_t len);
/* A 16-byte TX descriptor decoded: kind (legacy, context, data) and fields. */
const char *e1000_tx_desc_describe(const uint8_t *d, char *buf, size_t len);

#endif
