#!/usr/bin/env python3
"""Write the seed corpus of fuzz_virtqueue (tests/fuzz/corpus/virtqueue/seed-*).

Each seed is a queue configuration, a guest RAM image and a list of
operations in the harness's input format (see fuzz_virtqueue.c). They put
the fuzzer next to each check: well-formed direct and indirect chains,
event-index notification, batches and unpop, and one of each malformed
shape (a loop, an index running ahead, a head or buffer out of range,
nested or misshapen indirect tables, writable before readable, rings that
do not fit).

    python3 tests/fuzz/mkseeds_virtqueue.py [OUTDIR]
"""
import os
import struct
import sys

RAM_BASE = 0x10000
HIGH_BASE = 0x100000000
RAM_SIZE = 0x10000
TABLE, BUF = 0x1000, 0x3000  # indirect tables, buffers (offsets in RAM)
NEXT, WRITE, INDIRECT = 1, 2, 4
F_INDIRECT, F_EVENT_IDX, F_ADDRS, F_NOT_POW2 = 0x10, 0x20, 0x40, 0x80

# opcodes (op % 10 in the harness)
POP, PUSH, UNPOP, BATCH, NOTIFY, SETNOTIF, POKE, ADD, EMPTY, DESCW = range(10)


class Seed:
    def __init__(self, log2num, flags=0, addrs=None):
        self.cfg = (log2num & 15) | flags
        self.addrs = addrs
        self.ram = bytearray()
        self.ops = bytearray()
        self.num = 1 << log2num
        self.avail_idx = 0
        # the harness's packed layout (no addresses in the input)
        self.d = 0
        self.a = 16 * self.num
        self.u = (self.a + 6 + 2 * self.num + 3) & ~3

    def put(self, off, data):
        if off + len(data) > len(self.ram):
            self.ram.extend(bytes(off + len(data) - len(self.ram)))
        self.ram[off:off + len(data)] = data

    def desc(self, i, addr, length, flags=0, nxt=0, table=0):
        self.put(table + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def avail(self, head):
        """make a chain available in the image (before start)"""
        self.put(self.a + 4 + 2 * (self.avail_idx % self.num), struct.pack("<H", head))
        self.avail_idx += 1
        self.put(self.a + 2, struct.pack("<H", self.avail_idx))

    def used_event(self):
        return self.a + 4 + 2 * self.num

    def op(self, code, *args):
        self.ops.append(code)
        for size, value in args:
            self.ops.extend(value.to_bytes(size, "little"))

    def bytes(self):
        out = bytearray([self.cfg])
        if self.addrs is not None:
            out += struct.pack("<HHH", *self.addrs)
        out += struct.pack("<H", len(self.ram)) + self.ram + self.ops
        return bytes(out)


def drive(s, pops=4):
    """a device's loop: pop and push, notify, look again"""
    for _ in range(pops):
        s.op(POP)
        s.op(PUSH, (4, 0xFFFFFFFF))
    s.op(NOTIFY)
    s.op(EMPTY)


def seeds():
    out = {}

    s = Seed(3)
    s.desc(0, RAM_BASE + BUF, 64, NEXT, 1)
    s.desc(1, RAM_BASE + BUF + 0x100, 128, WRITE)
    s.desc(2, RAM_BASE + BUF + 0x200, 32)
    s.avail(0)
    s.avail(2)
    drive(s)
    s.op(ADD, (2, 0))  # the same chain again, added while running
    s.op(POP)
    s.op(PUSH, (4, 10))
    s.op(NOTIFY)
    out["simple"] = s

    s = Seed(3, F_INDIRECT)
    t = TABLE
    s.desc(0, RAM_BASE + BUF, 16, NEXT, 2, table=t)
    s.desc(2, RAM_BASE + BUF + 0x100, 32, NEXT, 1, table=t)
    s.desc(1, RAM_BASE + BUF + 0x200, 1500, WRITE, table=t)
    s.desc(5, RAM_BASE + t, 3 * 16, INDIRECT)
    # direct, then a table: valid (2.7.5.3.2)
    s.desc(6, RAM_BASE + BUF + 0x400, 8, NEXT, 7)
    s.desc(7, RAM_BASE + t, 3 * 16, INDIRECT)
    s.avail(5)
    s.avail(6)
    drive(s)
    out["indirect"] = s

    s = Seed(4, F_EVENT_IDX)
    for i in range(4):
        s.desc(i, RAM_BASE + BUF + 0x100 * i, 256, WRITE)
        s.avail(i)
    s.put(s.used_event(), struct.pack("<H", 2))
    s.op(SETNOTIF | 0x00)  # disable
    s.op(POP)
    s.op(POP)
    s.op(BATCH, (1, 2), (4, 100))
    s.op(NOTIFY)
    s.op(SETNOTIF | 0x80)  # enable: avail_event
    s.op(EMPTY)
    s.op(POP)
    s.op(PUSH, (4, 1))
    s.op(NOTIFY)
    s.op(POKE, (2, s.used_event()), (2, 0))  # used_event moves
    s.op(POP)
    s.op(PUSH, (4, 1))
    s.op(NOTIFY)
    out["event-idx"] = s

    s = Seed(3)
    s.desc(0, RAM_BASE + BUF, 64, NEXT, 1)
    s.desc(1, RAM_BASE + BUF + 0x100, 64, NEXT, 0)
    s.avail(0)
    drive(s, 1)
    out["loop"] = s

    s = Seed(3)
    s.desc(0, RAM_BASE + BUF, 64)
    s.put(s.a + 2, struct.pack("<H", 100))
    drive(s, 1)
    out["avail-ahead"] = s

    s = Seed(3)
    s.desc(0, RAM_BASE + BUF, 64)
    s.avail(0)
    s.avail(9)  # head beyond the queue
    drive(s, 2)
    out["head-beyond"] = s

    s = Seed(3)
    s.desc(0, HIGH_BASE + 0x800, 0x800, NEXT, 1)  # the high range, to its end
    s.desc(1, HIGH_BASE + 0x800, 0x801, WRITE)  # one byte past it
    s.avail(0)
    drive(s, 1)
    out["high-range"] = s

    s = Seed(3, F_INDIRECT)
    t = TABLE
    s.desc(0, RAM_BASE + BUF, 16, NEXT, 1, table=t)
    s.desc(1, RAM_BASE + t, 32, INDIRECT, table=t)  # nested
    s.desc(0, RAM_BASE + t, 32, INDIRECT)
    s.desc(1, RAM_BASE + t, 24, INDIRECT)  # not whole descriptors
    s.desc(2, RAM_BASE + t, 16, INDIRECT | NEXT, 3)  # with NEXT
    s.avail(0)
    s.avail(1)
    s.avail(2)
    drive(s, 3)
    out["indirect-bad"] = s

    s = Seed(3)
    s.desc(0, RAM_BASE + BUF, 64, WRITE | NEXT, 1)
    s.desc(1, RAM_BASE + BUF + 0x100, 0, NEXT, 2)  # empty, readable after writable
    s.desc(2, RAM_BASE + BUF + 0x200, 64)
    s.avail(0)
    drive(s, 1)
    out["write-before-read"] = s

    s = Seed(2, F_INDIRECT)
    t = TABLE
    for i in range(1024):
        s.desc(i, RAM_BASE + 0x6000 + i, 1, NEXT if i < 1023 else 0, i + 1, table=t)
    s.desc(0, RAM_BASE + t, 1024 * 16, INDIRECT)
    s.desc(1, RAM_BASE + BUF, 1, NEXT, 0)  # one more: too many buffers
    s.avail(0)
    s.avail(1)
    drive(s, 2)
    out["max-sg"] = s

    s = Seed(3)
    for i in range(6):
        s.desc(i, RAM_BASE + BUF + 0x100 * i, 64 + i, WRITE)
        s.avail(i)
    for _ in range(3):
        s.op(POP)
    s.op(UNPOP, (1, 2))
    s.op(POP)
    s.op(BATCH, (1, 4), (4, 50))
    s.op(DESCW, (2, 7), (2, BUF + 0x800), (2, 100), (1, WRITE), (1, 0))
    s.op(ADD, (2, 7))
    drive(s, 4)
    out["batch-unpop"] = s

    # rings the start must refuse: misaligned, outside RAM, bad sizes
    out["start-misaligned"] = Seed(3, F_ADDRS, addrs=(0x0008, 0x100, 0x200))
    out["start-outside"] = Seed(3, F_ADDRS, addrs=(0, 0x100, 0xFFFC))
    out["start-not-pow2"] = Seed(3, F_NOT_POW2)
    out["start-too-big"] = Seed(9)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "virtqueue")
    os.makedirs(outdir, exist_ok=True)
    for name, seed in sorted(seeds().items()):
        with open(os.path.join(outdir, "seed-" + name), "wb") as f:
            f.write(seed.bytes())
    print(f"wrote {len(seeds())} seeds to {outdir}")


if __name__ == "__main__":
    main()
