#!/usr/bin/env python3
"""Write the seed corpus of fuzz_e1000 (tests/fuzz/corpus/e1000/seed-*).

Each seed is a short "guest program" in the harness's input format (see
fuzz_e1000.c): an opcode byte, then its arguments, little endian. The seeds
walk the fuzzer into the interesting states quickly: a driver-like bring-up,
legacy and TSO transmit, receive with filters and VLANs, EEPROM and PHY
access, interrupt moderation, loopback, a busy or unplugged backend, and
the shapes of the known e1000 CVEs.

    python3 tests/fuzz/mkseeds.py [OUTDIR]
"""
import os
import struct
import sys

# the harness's register table, in order (regs[] in fuzz_e1000.c)
REGS = ["CTRL", "STATUS", "EECD", "EERD", "CTRL_EXT", "MDIC", "FCAL", "VET", "ICR", "ITR",
        "ICS", "IMS", "IMC", "RCTL", "TCTL", "TIPG", "LEDCTL", "PBA", "RDBAL", "RDBAH", "RDLEN",
        "RDH", "RDT", "RDTR", "RXDCTL", "RADV", "TDBAL", "TDBAH", "TDLEN", "TDH", "TDT", "TIDV",
        "TXDCTL", "TADV", "RXCSUM", "MTA", "MTA_LAST", "RA0L", "RA0H", "RA1L", "RA1H", "VFTA",
        "VFTA_LAST", "WUC", "MANC", "GORCH", "TORH", "TPR"]
R = {n: i for i, n in enumerate(REGS)}

TXBUF = 0x10000
EOP, IFCS, IC, RS, DEXT, VLE, IDE = 1 << 24, 1 << 25, 1 << 26, 1 << 27, 1 << 29, 1 << 30, 1 << 31
TSE, TCP, IP = 1 << 26, 1 << 25, 1 << 24  # DCMD.TSE, TUCMD.TCP, TUCMD.IP
DTYP_C, DTYP_D = 0x0, 0x1 << 20
IXSM, TXSM = 1, 2


def w(reg, val):
    return struct.pack("<BBI", 0, R[reg], val & 0xFFFFFFFF)


def r(reg):
    return struct.pack("<BB", 1, R[reg])


def mmio(write, size_idx, off, val=0):
    return struct.pack("<BBIQ", 2, (size_idx << 1) | int(write), off, val)


def io(write, size_idx, off, val=0):
    return struct.pack("<BBBI", 3, (size_idx << 1) | int(write), off, val)


def ram(gpa, data):
    return struct.pack("<BIB", 4, gpa, len(data)) + data


def txd(idx, addr_off, lower, upper, raw=False):
    return struct.pack("<BBBQII", 5, idx, int(raw), addr_off, lower, upper)


def ctx(idx, ipcss, ipcso, ipcse, tucss, tucso, tucse, paylen, cmd, hdr_len, mss):
    addr = ipcss | ipcso << 8 | ipcse << 16 | tucss << 32 | tucso << 40 | tucse << 48
    return txd(idx, addr, paylen | cmd | DEXT | DTYP_C, hdr_len << 8 | mss << 16, raw=True)


def rxd(idx, addr, raw=False):
    return struct.pack("<BBBQ", 6, idx, int(raw), addr)


def pkt(kind, length, payload=b""):
    return struct.pack("<BBHB", 7, kind, length, len(payload)) + payload


def clock(ns64):
    return struct.pack("<BI", 8, ns64)


def cfg(off, len_idx, val):
    return struct.pack("<BBBI", 9, off, len_idx, val)


def link(up):
    return struct.pack("<BB", 10, up)


def busy(b):
    return struct.pack("<BB", 11, b)


def setup(ntx, nrx, rctl, tctl):
    return struct.pack("<BBBII", 12, ntx, nrx, rctl, tctl)


def cont(n):
    return struct.pack("<BB", 13, n)


def txframe(kind, off, length, payload=b""):
    return struct.pack("<BBHHB", 14, kind, off, length, len(payload)) + payload


def kick(tdt):
    return struct.pack("<BH", 15, tdt)


UPE, MPE, BAM, LPE, SECRC, VFE, LBM_MAC = 1 << 3, 1 << 4, 1 << 15, 1 << 5, 1 << 26, 1 << 18, 1 << 6
BSEX, SZ_4096 = 1 << 25, 3 << 16
PSP = 1 << 3
# setup(ntx, nrx): rings of (n % 32 + 1) * 8 descriptors
RING8 = 0

SEEDS = {
    "tx-legacy": setup(RING8, RING8, BAM, PSP) + txframe(0x11, 0, 100) +
    txd(0, 0, 100 | EOP | RS | IFCS, 0) + kick(1) + clock(100) + r("ICR") + r("STATUS"),
    "tx-legacy-csum-vlan": w("CTRL", 0x40000040 | 1) + setup(RING8, RING8, 0, PSP) +
    txframe(0x01, 0, 200) + txd(0, 0, 200 | EOP | RS | IC | VLE | 50 << 16, 34 << 8 | 0x0005 << 16) +
    kick(1) + r("ICR"),
    "tx-tso-ipv4": setup(RING8, RING8, 0, PSP) + txframe(0x01, 0, 3000) +
    ctx(0, 14, 24, 33, 34, 50, 0, 3000 - 54, TSE | TCP | IP, 54, 1000) +
    txd(1, 0, 3000 | DEXT | DTYP_D | TSE | EOP | RS, (IXSM | TXSM) << 8) + kick(2) + clock(1000),
    "tx-tso-ipv6-split": setup(RING8, RING8, 0, PSP) + txframe(0x81, 0, 4000) +
    ctx(0, 14, 0, 0, 54, 70, 0, 4000 - 74, TSE | TCP, 74, 536) +
    txd(1, 0, 1000 | DEXT | DTYP_D | TSE, TXSM << 8) +
    txd(2, 1000, 3000 | DEXT | DTYP_D | TSE | EOP | RS, TXSM << 8) + kick(3),
    "tx-context-csum": setup(RING8, RING8, 0, 0) + txframe(0x11, 0, 300) +
    ctx(0, 14, 24, 33, 34, 40, 0, 0, TCP * 0 | IP, 0, 0) +
    txd(1, 0, 300 | DEXT | DTYP_D | EOP, (IXSM | TXSM) << 8) + kick(2),
    "rx-basic": setup(RING8, RING8, BAM | SECRC, 0) + pkt(0x01, 100) + pkt(0x03, 60) +
    pkt(0x05, 80) + pkt(0x07, 1514) + clock(1000) + r("ICR") + w("RDT", 3),
    "rx-vlan-filter": w("CTRL", 0x40000041) + w("VFTA", 0xFFFFFFFF) +
    setup(RING8, RING8, VFE | BAM, 0) + pkt(0x09, 200) + pkt(0x19, 300) + pkt(0x0B, 64),
    "rx-jumbo-multi": setup(RING8, 1, LPE | UPE | BSEX | SZ_4096, 0) + pkt(0x01, 9000) +
    pkt(0x01, 16000) + w("RDT", 5) + pkt(0x01, 12000),
    "rx-backpressure": setup(RING8, RING8, UPE, 0) + b"".join(pkt(0x01, 100 + i) for i in range(12)) +
    w("RDT", 2) + w("RDT", 7) + w("RDH", 200) + pkt(0x01, 70) + w("RDH", 0) + w("RDT", 5),
    "rx-checksums": w("RXCSUM", 0x300 | 14) + setup(RING8, RING8, UPE, 0) + pkt(0x01, 200) +
    pkt(0x11, 200) + pkt(0x81, 300) + r("ICR"),
    "eeprom-eerd": b"".join(w("EERD", 1 | a << 8) + r("EERD") for a in (0, 1, 2, 0x3F, 0x40, 0xFF)),
    "eeprom-bitbang": w("EECD", 0x40) + w("EECD", 0x42) +
    b"".join(w("EECD", 0x42 | d) + w("EECD", 0x43 | d) + r("EECD")
             for d in [4, 4, 0, 0, 0, 0, 0, 0, 4] + [0] * 40) + w("EECD", 0),
    "phy-mdic": b"".join(w("MDIC", reg << 16 | 1 << 21 | 2 << 26) + r("MDIC") for reg in range(0, 32, 3)) +
    w("MDIC", 0 << 16 | 1 << 21 | 1 << 26 | 0x1340) + w("MDIC", 4 << 16 | 1 << 21 | 1 << 26 | 0x01e1) +
    w("MDIC", 2 << 16 | 3 << 21 | 2 << 26) + r("STATUS") + r("ICR"),
    "interrupts": w("IMS", 0x9F) + w("ITR", 500) + w("RDTR", 100) + w("RADV", 200) +
    w("TIDV", 50) + w("TADV", 80) + setup(RING8, RING8, BAM, 0) + pkt(0x03, 100) +
    w("ICS", 4) + clock(5000) + r("ICR") + w("RDTR", 0x80000000) + clock(10) + w("ICR", 0xFFFFFFFF) +
    w("IMC", 0xFFFFFFFF),
    "loopback": setup(RING8, RING8, LBM_MAC | UPE, PSP) + txframe(0x01, 0, 500) +
    txd(0, 0, 500 | EOP | RS, 0) + txd(1, 0, 500 | EOP, 0) + kick(2) + r("ICR"),
    "backend-busy-linkflap": setup(RING8, RING8, BAM, PSP) + busy(1) + txframe(0x03, 0, 100) +
    b"".join(txd(i, 0, 100 | EOP, 0) for i in range(6)) + kick(6) + busy(0) + link(0) + pkt(0x03, 64) +
    kick(7) + link(1) + r("STATUS") + r("ICR"),
    "io-bar": io(1, 2, 0, 0x8) + io(0, 2, 4) + io(1, 2, 0, 0x3818) + io(1, 2, 4, 5) +
    io(1, 2, 0, 0x1FFFF) + io(0, 2, 4) + io(0, 0, 0x3F) + io(1, 2, 0, 0) + io(1, 2, 4, 1 << 26),
    "mmio-sizes": mmio(1, 0, 0x3818, 0x7) + mmio(1, 1, 0x2818, 0x1234) + mmio(0, 3, 0x3810) +
    mmio(1, 3, 0x1FFFC, ~0 & 0xFFFFFFFFFFFFFFFF) + mmio(1, 4, 0xC8, 0xFF) + mmio(1, 5, 0, 0) +
    mmio(0, 2, 0x20004) + mmio(1, 2, 0x1FFFE, 0xFFFF),
    "pci-config": cfg(4, 1, 0) + setup(RING8, RING8, BAM, 0) + txframe(0x03, 0, 64) +
    txd(0, 0, 64 | EOP, 0) + kick(1) + cfg(4, 1, 7) + cfg(4, 1, 0x407) + cfg(0x10, 2, 0xFFFFFFFF) +
    cfg(0x10, 2, 0xFEB00000) + r("STATUS"),
    "cve-2015-6815-tdt-beyond": setup(RING8, RING8, 0, 0) + txd(0, 0, 60 | EOP, 0) + kick(100) +
    kick(0xFFFF) + w("TDH", 9) + kick(3) + w("TDLEN", 0) + kick(1),
    "cve-2016-1981-rdh-beyond": setup(RING8, RING8, UPE | 3 << 16, 0) + w("RDH", 9) + pkt(0x01, 1514) +
    w("RDT", 7) + w("RDLEN", 0) + w("RDH", 0) + w("RDT", 0) + pkt(0x01, 100) + w("RDLEN", 128) +
    w("RDT", 5),
    "cve-2012-0029-oversize": setup(RING8, RING8, 0, 0) +
    b"".join(txd(i, 0, 0xFFFF, 0) for i in range(7)) + txd(7, 0, 0xFFFF | EOP | RS, 0) + kick(0) +
    w("TDH", 1) + kick(0) + cont(16),
    "cve-2021-20257-evil": setup(RING8, RING8, 0, 0) + txframe(0x01, 0, 200) +
    ctx(0, 14, 24, 33, 34, 50, 0, 1000, TSE | TCP | IP, 54, 100) +
    txd(1, 0, 154 | DEXT | DTYP_D | TSE, TXSM << 8) + txd(2, 0, 500, 0) + txd(3, 0, 0, 0) +
    ctx(4, 14, 24, 33, 34, 50, 0, 10, TSE | TCP | IP, 200, 0) +
    txd(5, 0, 100 | DEXT | DTYP_D | TSE | EOP, 0) + txd(6, 0, 0 | EOP | RS, 0) + kick(7) + cont(8),
    "tso-mss1-budget": setup(RING8, RING8, 0, PSP) + txframe(0x01, 0, 5000) +
    ctx(0, 14, 24, 33, 34, 50, 0, 5000, TSE | TCP | IP, 54, 1) +
    txd(1, 0, 5054 | DEXT | DTYP_D | TSE | EOP | RS, (IXSM | TXSM) << 8) + kick(2) + cont(15) +
    w("TDH", 0) + cont(4),
    "dma-outside-ram": setup(RING8, RING8, UPE, 0) + txd(0, 0xFFFFFFFFFFFFFF00, 300 | EOP, 0, raw=True) +
    txd(1, 0x100000 - 10, 300 | EOP, 0, raw=True) + txd(2, 0xFEBC0000, 64 | EOP | RS, 0, raw=True) +
    kick(3) + rxd(0, 0xFFFFFFFFFFFFFFF0, raw=True) + rxd(1, 0xFFFF0, raw=True) + pkt(0x01, 500) +
    pkt(0x01, 60) + w("TDBAL", 0xFFFFFFF0) + w("TDBAH", 0xFFFFFFFF) + kick(1),
    "reset-midflight": setup(RING8, RING8, UPE, PSP) + txframe(0x01, 0, 3000) +
    ctx(0, 14, 24, 33, 34, 50, 0, 3000, TSE | TCP | IP, 54, 8) +
    txd(1, 0, 3000 | DEXT | DTYP_D | TSE | EOP, TXSM << 8) + kick(2) + w("CTRL", 1 << 26) + cont(4) +
    pkt(0x01, 100),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "e1000")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, "seed-" + name), "wb") as fp:
            fp.write(data)
    print("wrote %d seeds to %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
