/* e1000-poke: a hostile "driver" in guest user space. It takes the 82540EM
 * from the kernel (unbinds e1000, enables the device, maps BAR0 through
 * sysfs resource0), then programs it the way an attacker would: rings in
 * the device's own registers, buffers outside RAM or wrapping around 2^64,
 * heads and tails beyond the ring, the largest ring there is full of TSO
 * descriptors cut into 1-byte segments, ring sizes changed in a loop, every
 * register read. Guest user space runs natively here, so this is as fast as
 * a real attack. The VMM must stay alive and responsive: every register
 * access is timed, and the longest one is reported.
 *
 *   e1000-poke [PEER_IPV4]     PEER_IPV4: where the TSO flood is addressed
 *                              (default 10.77.0.1)
 *
 * Output, one line each (E1KVM-RESULT KEY VALUE):
 *   poke_bar0 0xADDR            BAR0's guest-physical address
 *   poke_PHASE_max_us N         longest register access in that phase
 *   poke_PHASE_ok 0|1           what the phase checks held
 *   poke_tso_frames N           frames the flood phase got out (GPTC)
 *   poke_max_us N               longest register access of all but TDLEN/RDLEN
 *   poke_ring_size_write_max_us N  longest TDLEN/RDLEN write (timed apart)
 *   poke_accesses N over_1ms N over_10ms N  accesses timed, and how many
 *                               took longer than 1 ms / 10 ms
 *   poke_done 1                 the program ran to its end
 * Afterwards the device is reset (CTRL.RST) and given back to the kernel by
 * the caller (bind). Exit code 0 when every check held.
 *
 * Built static on the host (tests/integration/test_hostile.sh) and added to
 * the test initrd as /bin/e1000-poke. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BDF "0000:00:01.0"
#define DEV "/sys/bus/pci/devices/" BDF

/* registers (Intel 8254x SDM) */
#define CTRL 0x0000
#define STATUS 0x0008
#define EERD 0x0014
#define MDIC 0x0020
#define ICR 0x00C0
#define IMC 0x00D8
#define RCTL 0x0100
#define TCTL 0x0400
#define RDBAL 0x2800
#define RDBAH 0x2804
#define RDLEN 0x2808
#define RDH 0x2810
#define RDT 0x2818
#define TDBAL 0x3800
#define TDBAH 0x3804
#define TDLEN 0x3808
#define TDH 0x3810
#define TDT 0x3818
#define GPTC 0x4080
#define TPT 0x40D4
#define CTRL_SLU (1u << 6)
#define CTRL_RST (1u << 26)
#define RCTL_EN (1u << 1)
#define RCTL_UPE (1u << 3)
#define RCTL_BAM (1u << 15)
#define RCTL_LBM_MAC (1u << 6)
#define RCTL_SECRC (1u << 26)
#define TCTL_EN (1u << 1)
#define TCTL_PSP (1u << 3)
#define TXD_EOP (1u << 24)
#define TXD_IFCS (1u << 25)
#define TXD_RS (1u << 27)
#define TXD_DEXT (1u << 29)
#define TXD_TSE (1u << 26)
#define TXD_TCP (1u << 25)
#define TXD_IP (1u << 24)
#define DTYP_D (1u << 20)
#define POPTS_IXSM 1u
#define POPTS_TXSM 2u

#define HUGE_SZ (2u << 20)
#define MAX_RING_BYTES 0xFFF80u

static volatile uint8_t *bar;
static uint64_t bar_phys;
static uint8_t *mem;  /* one hugepage: rings and buffers */
static uint64_t phys; /* its guest-physical address */
static int64_t phase_max_ns, all_max_ns;
/* ring size writes (TDLEN/RDLEN) are timed on their own: the VMM may do
 * per-ring-size work there (doorbells) that other accesses never do */
static int64_t dlen_max_ns;
static uint64_t accesses, slow_1ms, slow_10ms;
static uint16_t cmd_orig; /* PCI COMMAND before we took the device */
static bool all_ok = true;

static void out(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if (n > (int)sizeof(line) - 2) {
        n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    ssize_t r = write(1, line, (size_t)n); /* one write: lines are not torn */
    (void)r;
}

static void die(const char *what)
{
    out("E1KVM-RESULT poke_error %s: %s", what, strerror(errno));
    out("E1KVM-RESULT poke_done 0");
    exit(2);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void account(int64_t t0)
{
    int64_t dt = now_ns() - t0;
    accesses++;
    slow_1ms += dt > 1000000;
    slow_10ms += dt > 10000000;
    if (dt > phase_max_ns) {
        phase_max_ns = dt;
    }
    if (dt > all_max_ns) {
        all_max_ns = dt;
    }
}

/* Every register access is timed: the time the vCPU spends in it. */
static uint32_t rd(uint32_t reg)
{
    int64_t t0 = now_ns();
    uint32_t v = *(volatile uint32_t *)(bar + reg);
    account(t0);
    return v;
}

static void wr(uint32_t reg, uint32_t val)
{
    int64_t t0 = now_ns();
    *(volatile uint32_t *)(bar + reg) = val;
    if (reg == TDLEN || reg == RDLEN) {
        int64_t dt = now_ns() - t0;
        dlen_max_ns = dt > dlen_max_ns ? dt : dlen_max_ns;
        return;
    }
    account(t0);
}

static void phase_begin(void)
{
    phase_max_ns = 0;
}

static void phase_end(const char *name, bool ok)
{
    /* the VMM still answers: STATUS reads as a live 82540EM's does */
    uint32_t st = rd(STATUS);
    bool alive = st != 0xFFFFFFFF;
    out("E1KVM-RESULT poke_%s_max_us %lld", name, (long long)(phase_max_ns / 1000));
    out("E1KVM-RESULT poke_%s_ok %d", name, ok && alive);
    if (!(ok && alive)) {
        all_ok = false;
    }
}

static void write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        die(path);
    }
    if (write(fd, s, strlen(s)) < 0 && errno != ENODEV) {
        die(path);
    }
    close(fd);
}

static void put_txd(uint64_t ring_off, uint32_t i, uint64_t addr, uint32_t lower, uint32_t upper)
{
    uint8_t *d = mem + ring_off + 16 * (uint64_t)i;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &lower, 4);
    memcpy(d + 12, &upper, 4);
}

static void reset_device(void)
{
    wr(CTRL, CTRL_RST);
    for (int i = 0; i < 100 && (rd(CTRL) & CTRL_RST); i++) {
        usleep(1000);
    }
    wr(IMC, 0xFFFFFFFF);
    wr(CTRL, CTRL_SLU | (1u << 0) /* FD */);
}

/* Claim the device: unbind the kernel driver, enable it, memory decoding and
 * bus mastering on, map BAR0. */
static void claim(void)
{
    if (access(DEV "/driver", F_OK) == 0) {
        write_file(DEV "/driver/unbind", BDF);
    }
    write_file(DEV "/enable", "1");
    int cfg = open(DEV "/config", O_RDWR);
    if (cfg < 0) {
        die("open config");
    }
    uint16_t cmd;
    uint32_t bar0;
    if (pread(cfg, &cmd, 2, 4) != 2 || pread(cfg, &bar0, 4, 0x10) != 4) {
        die("read config");
    }
    cmd_orig = cmd;
    cmd |= 0x0002 | 0x0004 | 0x0400; /* memory, bus master, INTx off */
    if (pwrite(cfg, &cmd, 2, 4) != 2) {
        die("write config");
    }
    close(cfg);
    bar_phys = bar0 & ~0xFu;
    int fd = open(DEV "/resource0", O_RDWR | O_SYNC);
    if (fd < 0) {
        die("open resource0");
    }
    void *m = mmap(NULL, 0x20000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        die("mmap resource0");
    }
    close(fd);
    bar = m;
    out("E1KVM-RESULT poke_bar0 0x%" PRIx64, bar_phys);
}

/* One 2 MiB hugepage: physically contiguous, its address from pagemap. */
static void get_dma_memory(void)
{
    write_file("/proc/sys/vm/nr_hugepages", "2");
    void *va = mmap(NULL, HUGE_SZ, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE | MAP_LOCKED, -1, 0);
    if (va == MAP_FAILED) {
        die("mmap hugepage");
    }
    memset(va, 0, HUGE_SZ);
    int pm = open("/proc/self/pagemap", O_RDONLY);
    uint64_t ent = 0;
    if (pm < 0 || pread(pm, &ent, 8, (off_t)((uintptr_t)va / 4096 * 8)) != 8) {
        die("pagemap");
    }
    close(pm);
    if (!(ent & (1ULL << 63)) || !(ent & ((1ULL << 55) - 1))) {
        errno = EPERM;
        die("pagemap PFN");
    }
    mem = va;
    phys = (ent & ((1ULL << 55) - 1)) * 4096;
}

/* layout inside the hugepage */
#define OFF_TXRING 0x000000u /* up to MAX_RING_BYTES */
#define OFF_RXRING 0x100000u
#define OFF_RXBUF 0x101000u /* 64 x 2 KiB */
#define OFF_TXBUF 0x180000u /* a frame template, 64 KiB room */

static void tx_ring_at(uint64_t base, uint32_t bytes)
{
    wr(TCTL, 0);
    wr(TDBAL, (uint32_t)base);
    wr(TDBAH, (uint32_t)(base >> 32));
    wr(TDLEN, bytes);
    wr(TDH, 0);
    wr(TDT, 0);
    wr(TCTL, TCTL_EN | TCTL_PSP);
}

static void rx_ring_at(uint64_t base, uint32_t bytes, uint32_t rctl)
{
    wr(RCTL, 0);
    wr(RDBAL, (uint32_t)base);
    wr(RDBAH, (uint32_t)(base >> 32));
    wr(RDLEN, bytes);
    wr(RDH, 0);
    wr(RDT, bytes / 16 - 1);
    wr(RCTL, RCTL_EN | rctl);
}

/* Ethernet (broadcast) + IPv4 + TCP to peer, 54 bytes of header. */
static void frame_template(uint8_t *p, uint32_t peer)
{
    memset(p, 0xff, 6);
    memcpy(p + 6, "\x02\x00\x00\x00\x00\x66", 6);
    p[12] = 0x08;
    p[13] = 0x00;
    uint8_t *ip = p + 14;
    memset(ip, 0, 40);
    ip[0] = 0x45;
    ip[8] = 64;
    ip[9] = 6;
    memcpy(ip + 12, "\x0a\x4d\x00\x63", 4); /* 10.77.0.99 */
    memcpy(ip + 16, &peer, 4);
    uint8_t *tcp = ip + 20;
    tcp[0] = 0x9c;
    tcp[2] = 0x1f;
    tcp[3] = 0x90; /* port 8080: nobody listens, the host answers RST */
    tcp[12] = 0x50;
    tcp[13] = 0x02; /* SYN */
    for (int i = 54; i < 0x10000; i++) {
        p[i] = (uint8_t)i;
    }
}

int main(int argc, char **argv)
{
    uint32_t peer = 0x01004d0a; /* 10.77.0.1, network order */
    if (argc > 1) {
        unsigned a, b, c, d;
        if (sscanf(argv[1], "%u.%u.%u.%u", &a, &b, &c, &d) == 4) {
            peer = a | b << 8 | c << 16 | d << 24;
        }
    }
    alarm(240); /* whatever happens, never hang the test */
    claim();
    get_dma_memory();
    reset_device();
    frame_template(mem + OFF_TXBUF, peer);

    /* 0. baseline: plain register reads */
    phase_begin();
    for (int i = 0; i < 2000; i++) {
        rd(STATUS);
    }
    phase_end("baseline", true);

    /* 1. the TX ring is the device's own BAR0: descriptors are registers */
    phase_begin();
    tx_ring_at(bar_phys, 4096);
    wr(TDT, 100);
    wr(TDT, 255);
    uint32_t tdh = rd(TDH);
    phase_end("ring_in_bar", tdh == 0 && rd(TDLEN) == 4096);

    /* 2. buffers pointing at BAR0 (TDT, CTRL), far outside RAM, wrapping
     * around 2^64, straddling the BAR; maximal legacy lengths */
    phase_begin();
    tx_ring_at(phys + OFF_TXRING, 4096);
    static const uint64_t bad[] = {0, 1ULL << 40, 0xFFFFFFFFFFFFF000ULL, 0xFFFFFFFFFFFFFFFFULL, 0,
                                   0, 0};
    uint64_t addrs[7];
    memcpy(addrs, bad, sizeof(addrs));
    addrs[0] = bar_phys + TDT;
    addrs[4] = bar_phys + CTRL;
    addrs[5] = bar_phys - 8;
    addrs[6] = bar_phys + 0x1FFF0;
    for (uint32_t i = 0; i < 7; i++) {
        put_txd(OFF_TXRING, i, addrs[i], 0xFFFF | TXD_EOP | TXD_RS, 0);
    }
    uint32_t ctrl0 = rd(CTRL);
    wr(TDT, 7);
    usleep(20000);
    bool dd = true;
    for (uint32_t i = 0; i < 7; i++) {
        dd = dd && (mem[OFF_TXRING + 16 * i + 12] & 1);
    }
    phase_end("bad_buffers", dd && rd(TDT) == 7 && rd(CTRL) == ctrl0 && rd(TDH) == 7);

    /* 3. heads and tails beyond the ring, TDT loops */
    phase_begin();
    for (uint32_t i = 0; i < 256; i++) {
        put_txd(OFF_TXRING, i, phys + OFF_TXBUF, 60 | TXD_EOP, 0);
    }
    tx_ring_at(phys + OFF_TXRING, 128);
    wr(TDT, 0xFFFF);
    wr(TDH, 200);
    wr(TDT, 3);
    wr(TDH, 0xFFFF);
    wr(TDT, 0xFFFE);
    for (int i = 0; i < 1000; i++) {
        wr(TDH, (uint32_t)i * 7);
        wr(TDT, (uint32_t)i * 13);
    }
    phase_end("head_tail", true);

    /* 4. RX: the ring in BAR0, then buffers in BAR0; frames come from our
     * own transmissions (MAC loopback) */
    phase_begin();
    rx_ring_at(bar_phys, 4096, RCTL_UPE | RCTL_BAM | RCTL_LBM_MAC | RCTL_SECRC);
    tx_ring_at(phys + OFF_TXRING, 4096);
    for (uint32_t i = 0; i < 32; i++) {
        put_txd(OFF_TXRING, i, phys + OFF_TXBUF, 200 | TXD_EOP, 0);
    }
    ctrl0 = rd(CTRL);
    wr(TDT, 32);
    usleep(20000);
    /* the frames came back in; descriptor fetches from BAR0 were refused
     * (the ring moves on, as for any descriptor the device cannot reach),
     * and nothing was written into the registers the ring overlays */
    bool bar_intact = rd(RDT) == 255 && rd(CTRL) == ctrl0 && rd(RDLEN) == 4096;
    for (uint32_t i = 0; i < 8; i++) {
        uint64_t a = i < 4 ? bar_phys + CTRL + 4 * i : bar_phys + RDT;
        memcpy(mem + OFF_RXRING + 16 * i, &a, 8);
        memset(mem + OFF_RXRING + 16 * i + 8, 0, 8);
    }
    ctrl0 = rd(CTRL);
    rx_ring_at(phys + OFF_RXRING, 128, RCTL_UPE | RCTL_BAM | RCTL_LBM_MAC | RCTL_SECRC);
    tx_ring_at(phys + OFF_TXRING, 4096);
    wr(TDT, 6);
    usleep(20000);
    bool rx_dd = mem[OFF_RXRING + 12] & 1; /* completed, data refused */
    phase_end("rx_in_bar", bar_intact && rx_dd && rd(CTRL) == ctrl0 && rd(RDT) == 7);
    wr(RCTL, 0);

    /* 5. ring sizes in a loop: every change re-creates per-value state */
    phase_begin();
    for (int i = 0; i < 200; i++) {
        wr(TDLEN, (i & 1) ? 0x1000 : 0x800);
        wr(RDLEN, (i & 1) ? 0x800 : 0x1000);
    }
    phase_end("ring_sizes", true);

    /* 6. every register read once (statistics, reserved space, ...) */
    phase_begin();
    for (uint32_t reg = 0; reg < 0x20000; reg += 4) {
        rd(reg);
    }
    phase_end("read_all", true);

    /* 7. the flood: the largest ring (65528 descriptors) of TSO packets cut
     * into 1-byte segments (4096 each): hundreds of millions of frames if
     * the VMM let one write do it all. Watch for a while, then reset. */
    phase_begin();
    reset_device();
    uint32_t n = MAX_RING_BYTES / 16;
    put_txd(OFF_TXRING, 0, 14 | 24 << 8 | 33ULL << 16 | 34ULL << 32 | 50ULL << 40,
            8000 | TXD_DEXT | TXD_TSE | TXD_TCP | TXD_IP, 54 << 8 | 1u << 16);
    for (uint32_t i = 1; i < n; i++) {
        put_txd(OFF_TXRING, i, phys + OFF_TXBUF,
                (54 + 8000) | TXD_DEXT | DTYP_D | TXD_TSE | TXD_EOP | TXD_RS,
                (POPTS_IXSM | POPTS_TXSM) << 8);
    }
    rd(GPTC);
    tx_ring_at(phys + OFF_TXRING, MAX_RING_BYTES);
    int64_t t0 = now_ns();
    wr(TDT, n - 1);
    int64_t tdt_ns = now_ns() - t0;
    uint64_t frames = 0;
    int64_t end = now_ns() + 3000000000LL;
    while (now_ns() < end) {
        rd(STATUS);
        frames += rd(GPTC);
    }
    reset_device();
    out("E1KVM-RESULT poke_tso_tdt_us %lld", (long long)(tdt_ns / 1000));
    out("E1KVM-RESULT poke_tso_frames %llu", (unsigned long long)frames);
    phase_end("tso_flood", frames > 0);

    /* give the device back quiet (no DMA, no interrupts) and its PCI
     * COMMAND as we found it: the driver that binds next does not clear
     * INTx disable, and without interrupts its watchdog never starts */
    wr(TCTL, 0);
    wr(RCTL, 0);
    int cfg = open(DEV "/config", O_RDWR);
    if (cfg < 0 || pwrite(cfg, &cmd_orig, 2, 4) != 2) {
        die("restore PCI COMMAND");
    }
    close(cfg);
    out("E1KVM-RESULT poke_max_us %lld", (long long)(all_max_ns / 1000));
    out("E1KVM-RESULT poke_ring_size_write_max_us %lld", (long long)(dlen_max_ns / 1000));
    out("E1KVM-RESULT poke_accesses %llu over_1ms %llu over_10ms %llu",
        (unsigned long long)accesses, (unsigned long long)slow_1ms, (unsigned long long)slow_10ms);
    out("E1KVM-RESULT poke_done 1");
    return all_ok ? 0 : 1;
}
