#!/usr/bin/env python3
"""Write the seed corpus of fuzz_virtio_net (tests/fuzz/corpus/virtio_net/seed-*).

Each seed is a configuration byte (which machine, which MSI router) and a
list of operations in the harness's input format (see fuzz_virtio_net.c).
Most start with the driver prologue, so the fuzzer begins next to the data
paths: transmit (plain, offloaded, larger than a page, too large, a burst
longer than one run), receive (one buffer, merged buffers, no buffer yet,
a vnet header from the backend), the control queue, MSI-X (routes, masks,
the function mask), the link, a busy backend, the PCI configuration access
window, and the malformed shapes (a looping chain, the avail index running
ahead, buffers the device may not use).

    python3 tests/fuzz/mkseeds_virtio_net.py [OUTDIR]
"""
import os
import struct
import sys

# configuration byte
VNET, ALT, ROUTES = 1, 2, 4
# opcodes (op % 20 in the harness)
(BAR4W, BAR4R, MSIXW, MSIXR, CFGW, CFGR, RAMW, DESCW, AVAIL, AVAILF, BFRAME, LINK, LOOP,
 PROLOGUE, BUSY, TX, RX, CTRL, NOTIFY, MSIXSETUP) = range(20)

NET_MAX_PACKET = 65536 + 512
# BAR4 selectors: structure (bits 0-1), anywhere (bit 2), size index (bits 3-5)
COMMON, ISR, DEVCFG, NOTIFYA, ANYWHERE = 0, 1, 2, 3, 4
SIZE = {1: 0, 2: 1, 4: 2, 8: 3, 3: 4}
# common configuration offsets
DEVICE_STATUS, QUEUE_SELECT, QUEUE_MSIX = 20, 22, 26
# features (bits the prologue may leave out)
F_CSUM, F_GUEST_CSUM, F_MRG_RXBUF, F_CTRL_VQ = 0, 1, 15, 17
F_INDIRECT, F_EVENT_IDX = 28, 29
NEXT, WRITE, INDIRECT = 1, 2, 4
NEEDS_CSUM, GSO_TCPV4 = 1, 1
# control queue
CTRL_RX, CTRL_MAC, CTRL_VLAN = 0, 1, 2
MAC_TABLE_SET, MAC_ADDR_SET = 0, 1
VLAN_ADD = 0
# PCI configuration selectors: anywhere, MSI-X Message Control, the access window, COMMAND
C_RAW, C_MSIX, C_WINDOW, C_CMD = 0, 1, 2, 3
CSIZE = {1: 0, 2: 4, 4: 8}


class Seed:
    def __init__(self, cfg=0):
        self.cfg = cfg
        self.ops = bytearray()

    def op(self, code, *args):
        self.ops.append(code)
        for size, value in args:
            self.ops.extend(int(value).to_bytes(size, "little"))
        return self

    def raw(self, data):
        self.ops.extend(data)
        return self

    def prologue(self, drop=0, log2=1):  # 8 << log2 entries (16 by default)
        return self.op(PROLOGUE, (4, drop), (1, log2))

    def tx(self, flen, pieces=1, hdr=None, indirect=False, writable=False, kick=True, dst=0,
           payload=b""):
        kind = (pieces - 1) & 15
        kind |= 0x10 if indirect else 0
        kind |= 0x20 if writable else 0
        kind |= 0x40 if kick else 0
        kind |= 0x80 if hdr is not None else 0
        self.op(TX, (1, kind), (3, flen))
        if hdr is not None:
            self.raw(hdr)
        return self._frame(dst, payload)

    def _frame(self, kind, payload, vid=None):
        self.raw(bytes([kind]))
        if kind & 4:
            self.raw(struct.pack("<H", vid or 0))
        return self.raw(bytes([len(payload)]) + payload)

    def rx(self, count, size, split=False, indirect=False, kick=True, readable=False):
        flags = (1 if split else 0) | (2 if indirect else 0) | (4 if kick else 0) | (8 if readable else 0)
        return self.op(RX, (1, count - 1), (2, size), (1, flags))

    def frame(self, length, dst=0, vnet_hdr=None, vid=None, payload=b""):
        kind = dst | (4 if vid is not None else 0) | (8 if vnet_hdr is not None else 0)
        self.op(BFRAME, (1, kind), (3, length))
        if vnet_hdr is not None and self.cfg & VNET:
            self.raw(vnet_hdr)
        if vid is not None:
            self.raw(struct.pack("<H", vid))
        return self.raw(bytes([len(payload)]) + payload)

    def ctrl(self, cls, cmd, data=b"", kick=True, one_piece=False, no_ack=False):
        flags = (1 if kick else 0) | (2 if one_piece else 0) | (4 if no_ack else 0)
        self.op(CTRL, (1, cls), (1, cmd), (1, flags), (2, len(data)), (2, len(data)))
        return self.raw(data)

    def bar4w(self, where, off, val, size):
        return self.op(BAR4W, (1, where | SIZE[size] << 3), (2, off), (4, val))

    def bar4r(self, where, off, size):
        return self.op(BAR4R, (1, where | SIZE[size] << 3), (2, off))

    def cfgw(self, where, off, val, size):
        return self.op(CFGW, (1, where | CSIZE[size]), (1, off), (4, val))

    def cfgr(self, where, off, size):
        return self.op(CFGR, (1, where | CSIZE[size]), (1, off))

    def bytes(self):
        return bytes([self.cfg]) + bytes(self.ops)


def vhdr(flags=0, gso=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0, num_buffers=None):
    h = struct.pack("<BBHHHH", flags, gso, hdr_len, gso_size, csum_start, csum_offset)
    return h if num_buffers is None else h + struct.pack("<H", num_buffers)


def seeds():
    out = {}

    out["tx-chain"] = (Seed().prologue().tx(100, pieces=3).tx(60).tx(1514, pieces=2)
                       .op(LOOP, (2, 10)).bar4r(ISR, 0, 1))

    s = Seed(VNET).prologue()
    tso = vhdr(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16, 0)
    s.tx(3000, pieces=2, hdr=tso)
    s.tx(20000, pieces=5, hdr=tso)  # larger than a page: iovecs into guest RAM
    s.tx(NET_MAX_PACKET - 10, pieces=16)  # the largest frame
    s.tx(NET_MAX_PACKET - 9)  # one byte too many: dropped
    s.tx(10)  # shorter than an Ethernet header: dropped
    out["tx-vnet-tso-sizes"] = s

    # offload flags that were not negotiated: dropped, not passed on
    out["tx-offload-not-negotiated"] = (Seed(VNET).prologue(drop=1 << F_CSUM)
                                        .tx(200, hdr=vhdr(NEEDS_CSUM, 0, 0, 0, 34, 16, 0)))

    out["rx-one-buffer"] = (Seed().prologue(drop=1 << F_MRG_RXBUF)
                            .frame(200)  # no buffer yet: it waits
                            .rx(4, 2048)
                            .frame(60, dst=1).frame(1514, dst=2).frame(2100)  # too large for one
                            .bar4r(ISR, 0, 1))

    out["rx-mergeable"] = (Seed().prologue(log2=4).rx(8, 256).frame(1500).frame(1500)
                           .rx(16, 64, split=True).frame(900).rx(50, 1400).frame(NET_MAX_PACKET - 10)
                           .op(LOOP, (2, 1)))

    out["rx-vnet-header"] = (Seed(VNET).prologue().rx(4, 4096)
                             .frame(1000, vnet_hdr=vhdr(NEEDS_CSUM, 0, 0, 0, 34, 16))
                             .frame(3000, vnet_hdr=vhdr(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16))
                             .frame(5))  # shorter than the backend's header

    mac = bytes([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])  # the device's own
    other = bytes([0x02, 0, 0, 0, 0, 0x07])  # destination 3 of the harness's frames
    table = struct.pack("<I", 1) + other + struct.pack("<I", 1) + bytes([1, 0, 0x5e, 0, 0, 1])
    s = Seed().prologue().rx(8, 2048)
    s.ctrl(CTRL_RX, 0, b"\x00")  # promiscuous off
    s.frame(64, dst=3)  # filtered
    s.ctrl(CTRL_MAC, MAC_TABLE_SET, table)
    s.ctrl(CTRL_MAC, MAC_ADDR_SET, mac)
    s.ctrl(CTRL_RX, 1, b"\x01", one_piece=True)  # all multicast
    s.ctrl(CTRL_VLAN, VLAN_ADD, struct.pack("<H", 5))
    s.frame(64, dst=2).frame(64, dst=3).frame(64, dst=0, vid=5).frame(64, dst=0, vid=6)
    s.ctrl(0x7f, 0)  # unknown class: an error ack
    s.ctrl(CTRL_RX, 0, b"\x01", no_ack=True)  # no ack buffer: NEEDS_RESET
    out["ctrl-commands"] = s

    s = Seed().prologue()
    s.op(DESCW, (1, 1), (2, 0), (1, NEXT), (4, 0x30000), (4, 64), (2, 1))
    s.op(DESCW, (1, 1), (2, 1), (1, NEXT), (4, 0x30000), (4, 64), (2, 0))
    s.op(AVAIL, (1, 1), (2, 0)).op(NOTIFY, (1, 1), (2, 1))
    s.tx(100)  # after NEEDS_RESET: nothing goes out
    s.prologue().tx(100)  # reset: it works again
    out["tx-looping-chain"] = s

    out["indirect"] = (Seed().prologue().tx(300, pieces=4, indirect=True)
                       .rx(4, 2048, split=True, indirect=True).frame(1000)
                       .op(DESCW, (1, 1), (2, 3), (1, INDIRECT | NEXT), (4, 0x20000), (4, 24), (2, 4))
                       .op(AVAIL, (1, 1), (2, 3)).op(NOTIFY, (1, 1), (2, 1)))

    s = Seed(ROUTES)
    s.op(MSIXSETUP, (1, 0b0100))  # vector 2 (the control queue) masked
    s.prologue().tx(100).rx(2, 2048).frame(100)
    s.ctrl(CTRL_RX, 0, b"\x01")  # its interrupt pends
    s.op(MSIXR, (1, 2 << 1), (2, 0x800))  # the PBA
    s.op(MSIXW, (1, 2 << 1), (2, 16 * 2 + 12), (8, 0))  # unmask: the pending message goes
    s.op(MSIXW, (1, 2 << 1), (2, 16 * 1 + 8), (8, 0x4099))  # new data for an unmasked vector
    s.tx(100)
    s.cfgw(C_MSIX, 0, 0xc000, 2)  # function mask
    s.tx(100)
    s.cfgw(C_MSIX, 0, 0x8000, 2)  # unmask: pending messages go
    s.bar4w(COMMON, QUEUE_SELECT, 1, 2).bar4w(COMMON, QUEUE_MSIX, 40, 2)  # refused: NO_VECTOR
    s.tx(100)
    s.cfgw(C_MSIX, 0, 0, 2)  # back to INTx
    s.tx(100).bar4r(ISR, 0, 1)
    out["msix"] = s

    out["msix-send-only"] = (Seed().op(MSIXSETUP, (1, 0x80)).prologue().tx(100)
                             .cfgw(C_MSIX, 0, 0x8000, 2).op(LINK, (1, 0)).op(LINK, (1, 1)))

    out["link-flap"] = (Seed().prologue().rx(4, 2048).op(LINK, (1, 0)).frame(100).tx(100)
                        .bar4r(ISR, 0, 1).bar4r(DEVCFG, 6, 2).op(LINK, (1, 1)).frame(100).tx(100)
                        .bar4r(COMMON, 21, 1))

    out["backend-busy"] = (Seed().prologue().op(BUSY, (1, 1)).tx(100).tx(200).tx(300)
                           .op(BUSY, (1, 0)).op(LOOP, (2, 1)).op(BUSY, (1, 1)).tx(100)
                           .op(LINK, (1, 0)).op(BUSY, (1, 0)).op(LINK, (1, 1)).tx(100))

    # the PCI configuration access window (4.1.4.9): device_status through it
    s = Seed()
    s.cfgw(C_WINDOW, 4, 4, 1)  # bar
    s.cfgw(C_WINDOW, 8, DEVICE_STATUS, 4)  # offset
    s.cfgw(C_WINDOW, 12, 1, 4)  # length
    s.cfgw(C_WINDOW, 16, 3, 4)  # data: ACKNOWLEDGE | DRIVER
    s.cfgr(C_WINDOW, 16, 4)
    s.cfgw(C_WINDOW, 8, 0x3000 + 4, 4).cfgw(C_WINDOW, 12, 2, 4).cfgw(C_WINDOW, 16, 1, 2)
    s.cfgw(C_WINDOW, 8, 0x3fff, 4).cfgw(C_WINDOW, 12, 4, 4).cfgr(C_WINDOW, 16, 4)  # misaligned
    s.cfgw(C_CMD, 0, 0x0406, 2).cfgw(C_RAW, 0x10, 0xffffffff, 4).cfgr(C_RAW, 0x10, 4)
    out["pci-config-window"] = s

    s = Seed().prologue()
    s.op(AVAILF, (1, 1), (1, 2), (2, 1000)).op(NOTIFY, (1, 1), (2, 1))  # avail index far ahead
    s.prologue().rx(2, 2048, readable=True).frame(100)  # a buffer the device may only read
    s.prologue().tx(100, writable=True)  # a writable buffer in a transmit chain
    s.prologue().op(DESCW, (1, 0), (2, 0), (1, WRITE | 0x80), (4, 0xff00), (4, 0x200), (2, 0))
    s.op(AVAIL, (1, 0), (2, 0)).op(NOTIFY, (1, 0), (2, 0)).frame(100)  # past the high range
    s.prologue().rx(1, 4).frame(100)  # shorter than the header
    out["hostile-rings"] = s

    # the other device: no control queue, 8 receive and 1024 transmit entries,
    # notifies as exits; a burst longer than one run continues from the main loop
    s = Seed(ALT).prologue(log2=7)
    for _ in range(300):
        s.tx(60, kick=False)
    s.op(NOTIFY, (1, 1), (2, 1)).op(LOOP, (2, 0)).op(LOOP, (2, 0))
    s.rx(8, 2048).frame(100).frame(1514).frame(2000)
    out["alt-tx-burst"] = s

    s = Seed().prologue(drop=1 << F_INDIRECT)
    s.op(AVAILF, (1, 0), (1, 1), (2, 2))  # used_event
    s.rx(6, 2048)
    for _ in range(4):
        s.frame(100)
    s.op(AVAILF, (1, 1), (1, 0), (2, 1))  # NO_INTERRUPT on the transmit queue
    s.tx(100).bar4r(ISR, 0, 1)
    s.prologue(drop=1 << F_EVENT_IDX).tx(100).bar4r(ISR, 0, 1)
    out["event-idx"] = s

    s = Seed()
    for where in (COMMON, ISR, DEVCFG, NOTIFYA, ANYWHERE):
        for size in (1, 2, 3, 4, 8):
            s.bar4r(where, 0x11 if where == ANYWHERE else 2, size)
            s.bar4w(where, 0x3ffe if where == ANYWHERE else 1, 0xffffffff, size)
    s.bar4w(COMMON, QUEUE_SELECT, 7, 2).bar4r(COMMON, 24, 2).bar4w(COMMON, 0, 5, 4)
    s.bar4w(COMMON, DEVICE_STATUS, 0x0f, 1)  # DRIVER_OK without FEATURES_OK
    s.bar4w(DEVCFG, 0, 0x12345678, 4).bar4r(DEVCFG, 0, 4)
    out["bar4-odd-accesses"] = s
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "virtio_net")
    os.makedirs(outdir, exist_ok=True)
    for name, seed in sorted(seeds().items()):
        with open(os.path.join(outdir, "seed-" + name), "wb") as f:
            f.write(seed.bytes())
    print(f"wrote {len(seeds())} seeds to {outdir}")


if __name__ == "__main__":
    main()
