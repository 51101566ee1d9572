/* pmd.h: what the project's user-space poll-mode drivers share (e1000-pmd.c,
 * virtio-pmd.c): reporting on the console, the watchdog, sysfs and PCI
 * helpers to take a device from the kernel, DMA memory from hugepages with
 * guest-physical addresses, the UDP test frame and option parsing.
 *
 * Header-only (each program is one static binary built by mkguest.sh).
 * Before including it a program defines PMD_NAME and afterwards defines
 *   static void pmd_quiesce(void);   stop the device's DMA (any way out,
 *                                    also from the signal handler)
 *   static void usage(void);         print the usage and exit(2) */
#ifndef E1KVM_GUEST_PMD_H
#define E1KVM_GUEST_PMD_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "udpframe.h" /* bench/: mkguest.sh builds with -I bench */

#define HUGE_SZ (2u << 20)

static const char *prog = PMD_NAME;
static int cfg_fd = -1; /* the PCI config space file, to drop bus mastering */

/* Counters of register accesses: in a VM each one is an exit, unless the
 * hypervisor absorbs it (coalesced MMIO, ioeventfd). */
static uint64_t mmio_writes, mmio_reads;

static void pmd_quiesce(void);
static void usage(void) __attribute__((noreturn));

/* COMMAND = memory space on, bus master off: no more DMA at all (the last
 * step of every pmd_quiesce; async-signal-safe). */
static void pci_bus_master_off(void)
{
    if (cfg_fd >= 0) {
        uint16_t cmd = 0x0002;
        if (pwrite(cfg_fd, &cmd, 2, 4) != 2) {
            /* nothing more can be done on the way out */
        }
    }
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pmd_quiesce();
    /* an E1KVM-RESULT line too, so that a harness reading only those sees why */
    printf("E1KVM-RESULT pmd_error %s\n", msg);
    fflush(stdout);
    fprintf(stderr, "%s: %s\n", prog, msg);
    exit(1);
}

#define CHECK(expr)                                                                                \
    ((expr) < 0 ? die("%s: %s (line %d)", #expr, strerror(errno), __LINE__) : (void)0)

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    /* one line, one write(2): the console is shared with the kernel */
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if (n > (int)sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    if (write(1, line, (size_t)n) != n) {
        /* console gone: nothing to report it to */
    }
}

/* The watchdog: SIGALRM (or SIGINT/SIGTERM) asks the poll loop to stop; a
 * loop that does not notice within the grace period, or any phase that is
 * not a poll loop (setup, draining), ends the process. It never hangs. */
static volatile sig_atomic_t stop;
static volatile sig_atomic_t in_loop; /* a poll loop is running and checks `stop` */
static volatile sig_atomic_t signals;
#define GRACE_S 5

static void on_signal(int sig)
{
    stop = 1;
    if (!in_loop || ++signals > 1) {
        static const char msg[] = PMD_NAME ": watchdog: giving up\n"
                                           "E1KVM-RESULT pmd_error watchdog\n";
        pmd_quiesce();
        if (write(2, msg, sizeof(msg) - 1) < 0) {
            /* we are leaving anyway */
        }
        _exit(3);
    }
    if (sig == SIGALRM) {
        alarm(GRACE_S);
    }
}

static double now_s(void)
{
    struct timespec ts;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &ts));
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0) {
        if (errno != EINTR) {
            die("nanosleep: %s", strerror(errno));
        }
    }
}

/* Descriptors are written with ordinary stores to write-back memory and the
 * tail or doorbell with a store to uncached MMIO. x86 keeps stores in
 * program order, so only the compiler must be kept from reordering (DPDK's
 * rte_io_wmb on x86 is the same compiler barrier). */
#define barrier() __asm__ __volatile__("" ::: "memory")

/* ------------------------------------------------------------------------ */
/* sysfs and PCI                                                            */

static bool read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return false;
    }
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (ok) {
        buf[strcspn(buf, "\n")] = 0;
    }
    return ok;
}

static void write_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        die("open %s: %s", path, strerror(errno));
    }
    ssize_t n = write(fd, s, strlen(s));
    if (n != (ssize_t)strlen(s)) {
        die("write '%s' to %s: %s", s, path, n < 0 ? strerror(errno) : "short write");
    }
    CHECK(close(fd));
}

static unsigned long read_ulong(const char *path)
{
    char buf[64], *end;
    if (!read_line(path, buf, sizeof(buf))) {
        die("read %s: %s", path, strerror(errno));
    }
    errno = 0;
    unsigned long v = strtoul(buf, &end, 0);
    if (errno || end == buf) {
        die("%s: not a number: '%s'", path, buf);
    }
    return v;
}

/* The first PCI device with this vendor and one of the device IDs (0
 * ends the list), or the one the user named; its BDF into bdf. */
static void find_pci(char *bdf, size_t len, const char *want, unsigned vendor,
                     const unsigned *devices, const char *what)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    if (!d) {
        die("opendir /sys/bus/pci/devices: %s", strerror(errno));
    }
    struct dirent *e;
    bool found = false;
    while (!found && (e = readdir(d)) != NULL) {
        char p[512], v[32], dev[32];
        if (e->d_name[0] == '.' || (want && strcmp(e->d_name, want) != 0)) {
            continue;
        }
        snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vendor", e->d_name);
        if (!read_line(p, v, sizeof(v))) {
            continue;
        }
        snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/device", e->d_name);
        if (!read_line(p, dev, sizeof(dev))) {
            continue;
        }
        for (const unsigned *id = devices; *id && !found; id++) {
            if (strtoul(v, NULL, 16) == vendor && strtoul(dev, NULL, 16) == *id) {
                snprintf(bdf, len, "%s", e->d_name);
                found = true;
            }
        }
    }
    closedir(d);
    if (!found) {
        die("no %s (vendor %04x) on the PCI bus%s%s", what, vendor, want ? " at " : "",
            want ? want : "");
    }
}

/* Take the device from the kernel: unbind its driver, enable it, turn on
 * memory decoding and bus mastering (DMA), turn off INTx (we poll). The
 * config space stays open in cfg_fd (pci_bus_master_off, pci_cfg_read). */
static void claim_device(const char *bdf)
{
    char p[512], link[512];
    snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", bdf);
    ssize_t n = readlink(p, link, sizeof(link) - 1);
    if (n >= 0) {
        link[n] = 0;
        const char *drv = strrchr(link, '/');
        snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
        write_str(p, bdf);
        out("E1KVM-LOG %s: unbound %s from %s", prog, bdf, drv ? drv + 1 : link);
    } else if (errno != ENOENT) {
        die("readlink %s: %s", p, strerror(errno));
    }

    snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/enable", bdf);
    if (read_ulong(p) == 0) {
        write_str(p, "1");
    }

    snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/config", bdf);
    cfg_fd = open(p, O_RDWR);
    if (cfg_fd < 0) {
        die("open %s: %s", p, strerror(errno));
    }
    uint16_t cmd;
    if (pread(cfg_fd, &cmd, 2, 4) != 2) {
        die("read PCI COMMAND: %s", strerror(errno));
    }
    /* memory space (bit 1), bus master (bit 2), INTx disable (bit 10) */
    cmd |= 0x0002 | 0x0004 | 0x0400;
    if (pwrite(cfg_fd, &cmd, 2, 4) != 2) {
        die("write PCI COMMAND: %s", strerror(errno));
    }
    uint16_t back;
    if (pread(cfg_fd, &back, 2, 4) != 2) {
        die("read PCI COMMAND: %s", strerror(errno));
    }
    if ((back & 0x0006) != 0x0006) {
        die("PCI COMMAND is 0x%04x after writing 0x%04x: no memory/bus master", back, cmd);
    }
}

/* Bytes of the claimed device's config space (the capability lists). */
__attribute__((unused)) static void pci_cfg_read(void *buf, size_t len, unsigned off)
{
    if (pread(cfg_fd, buf, len, off) != (ssize_t)len) {
        die("read PCI config at 0x%x: %s", off, strerror(errno));
    }
}

/* mmap() memory BAR `index` of the device, at least min_size bytes; the
 * mapping's length in *len if wanted. */
static volatile void *map_bar(const char *bdf, unsigned index, size_t min_size, size_t *len)
{
    char p[512];
    snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/resource%u", bdf, index);
    /* O_SYNC: the kernel maps the BAR uncached (as it would anyway) */
    int fd = open(p, O_RDWR | O_SYNC);
    if (fd < 0) {
        die("open %s: %s", p, strerror(errno));
    }
    struct stat st;
    CHECK(fstat(fd, &st));
    if ((size_t)st.st_size < min_size) {
        die("%s is %lld bytes, expected at least %zu", p, (long long)st.st_size, min_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        die("mmap %s: %s", p, strerror(errno));
    }
    CHECK(close(fd)); /* the mapping stays */
    if (len) {
        *len = (size_t)st.st_size;
    }
    return m;
}

/* ------------------------------------------------------------------------ */
/* DMA memory: hugepages with known physical addresses                      */

/* A hugepage is physically contiguous, so one pagemap lookup per 2 MiB page
 * gives the address of every byte in it; buffers never straddle pages. */
typedef struct Dma {
    uint8_t *va;
    size_t len, used;
    uint64_t pa[16]; /* physical base of each hugepage */
} Dma;

static uint64_t virt_to_phys(int pagemap, const void *va)
{
    uint64_t ent;
    off_t off = (off_t)((uintptr_t)va / 4096) * 8;
    if (pread(pagemap, &ent, 8, off) != 8) {
        die("read /proc/self/pagemap: %s", strerror(errno));
    }
    if (!(ent >> 63 & 1)) {
        die("page %p not present", va);
    }
    uint64_t pfn = ent & ((1ull << 55) - 1);
    if (pfn == 0) {
        die("pagemap hides the PFN (needs CAP_SYS_ADMIN)");
    }
    return pfn * 4096 + (uintptr_t)va % 4096;
}

static void dma_init(Dma *m, unsigned npages)
{
    const char *dir = "/dev/hugepages";
    char buf[256];

    if (npages > sizeof(m->pa) / sizeof(m->pa[0])) {
        die("too many hugepages (%u)", npages);
    }
    /* hugetlbfs: mounted if nobody did (the test guest's /init does not) */
    bool mounted = false;
    FILE *f = fopen("/proc/mounts", "r");
    if (!f) {
        die("open /proc/mounts: %s", strerror(errno));
    }
    while (fgets(buf, sizeof(buf), f)) {
        char dev[64], mnt[128], type[64];
        if (sscanf(buf, "%63s %127s %63s", dev, mnt, type) == 3 && !strcmp(mnt, dir) &&
            !strcmp(type, "hugetlbfs")) {
            mounted = true;
        }
    }
    fclose(f);
    if (!mounted) {
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            die("mkdir %s: %s", dir, strerror(errno));
        }
        CHECK(mount("hugetlbfs", dir, "hugetlbfs", 0, NULL));
    }

    /* enough free 2 MiB pages in the pool */
    const char *hp = "/sys/kernel/mm/hugepages/hugepages-2048kB";
    snprintf(buf, sizeof(buf), "%s/free_hugepages", hp);
    unsigned long nfree = read_ulong(buf);
    if (nfree < npages) {
        snprintf(buf, sizeof(buf), "%s/nr_hugepages", hp);
        unsigned long want = read_ulong(buf) + npages - nfree;
        char num[32];
        snprintf(num, sizeof(num), "%lu", want);
        write_str("/proc/sys/vm/nr_hugepages", num);
        snprintf(buf, sizeof(buf), "%s/free_hugepages", hp);
        if ((nfree = read_ulong(buf)) < npages) {
            die("only %lu free hugepages after asking for %lu in all", nfree, want);
        }
    }

    /* a file in hugetlbfs, mapped shared as DPDK does, then unlinked: the
     * pages go back to the pool when we exit, whatever happens */
    snprintf(buf, sizeof(buf), "%s/%s.%d", dir, PMD_NAME, (int)getpid());
    int fd = open(buf, O_CREAT | O_RDWR | O_EXCL, 0600);
    if (fd < 0) {
        die("open %s: %s", buf, strerror(errno));
    }
    CHECK(unlink(buf));
    m->len = (size_t)npages * HUGE_SZ;
    CHECK(ftruncate(fd, (off_t)m->len));
    void *va =
        mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE | MAP_LOCKED, fd, 0);
    if (va == MAP_FAILED) {
        die("mmap %zu bytes of hugepages: %s", m->len, strerror(errno));
    }
    CHECK(close(fd));
    m->va = va;
    m->used = 0;
    memset(m->va, 0, m->len);

    int pm = open("/proc/self/pagemap", O_RDONLY);
    if (pm < 0) {
        die("open /proc/self/pagemap: %s", strerror(errno));
    }
    for (unsigned i = 0; i < npages; i++) {
        uint8_t *page = m->va + (size_t)i * HUGE_SZ;
        m->pa[i] = virt_to_phys(pm, page);
        /* sanity: the last 4 KiB of the page is where contiguity says */
        if (virt_to_phys(pm, page + HUGE_SZ - 4096) != m->pa[i] + HUGE_SZ - 4096) {
            die("hugepage %u is not physically contiguous", i);
        }
    }
    CHECK(close(pm));
}

/* Bump allocator: `size` bytes aligned to `align`, never across a hugepage. */
static void *dma_alloc(Dma *m, size_t size, size_t align)
{
    size_t off = (m->used + align - 1) & ~(align - 1);
    if (off / HUGE_SZ != (off + size - 1) / HUGE_SZ) {
        off = (off / HUGE_SZ + 1) * HUGE_SZ;
    }
    if (size > HUGE_SZ || off + size > m->len) {
        die("out of DMA memory (%zu of %zu bytes used, %zu wanted)", m->used, m->len, size);
    }
    m->used = off + size;
    return m->va + off;
}

static uint64_t dma_pa(const Dma *m, const void *p)
{
    size_t off = (size_t)((const uint8_t *)p - m->va);
    return m->pa[off / HUGE_SZ] + off % HUGE_SZ;
}

/* ------------------------------------------------------------------------ */
/* Frames and numbers                                                       */

typedef struct FrameSpec {
    uint8_t dst[6], src[6];
    uint8_t sip[4], dip[4];
    uint16_t sport, dport;
} FrameSpec;

/* Ethernet + IPv4 + UDP, `len` bytes in all (no FCS): the frame the host's
 * bench/tapgen.c sends, from the same header (bench/udpframe.h). */
static void build_frame(uint8_t *f, unsigned len, const FrameSpec *fs)
{
    udp_frame(f, len, fs->dst, fs->src, fs->sip, fs->dip, fs->sport, fs->dport);
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255) {
            return false;
        }
        mac[i] = (uint8_t)v[i];
    }
    return true;
}

static bool parse_ip(const char *s, uint8_t ip[4])
{
    unsigned v[4];
    char tail;
    if (sscanf(s, "%u.%u.%u.%u%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4) {
        return false;
    }
    for (int i = 0; i < 4; i++) {
        if (v[i] > 255) {
            return false;
        }
        ip[i] = (uint8_t)v[i];
    }
    return true;
}

static unsigned parse_uint(const char *s, unsigned lo, unsigned hi, const char *what)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: bad %s '%s' (want %u..%u)\n", prog, what, s, lo, hi);
        usage();
    }
    return (unsigned)v;
}

/* ------------------------------------------------------------------------ */
/* The command line, the measurement window and its report                  */

static unsigned burst = 32;       /* -b: descriptors per tail write / notify */
static bool flush_reads;          /* -F: a register read after each one */
static const char *run_name = ""; /* tx, rx, tx-flush or rx-flush */

typedef struct PmdArgs {
    const char *bdf; /* -p; NULL: the first device found */
    unsigned ring;   /* -n */
    FrameSpec fs;    /* -D -d -s -P; the source MAC is the device's */
    bool tx;
    unsigned size, secs;
} PmdArgs;

/* [options] tx SIZE SECONDS | [options] rx SECONDS [SIZE]; prints the
 * "pmd_run" line. The driver checks the ring size against its device. */
static void pmd_parse_args(int argc, char **argv, PmdArgs *a, unsigned max_ring)
{
    *a = (PmdArgs){.ring = 512,
                   .fs = {.dst = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                          .sip = {10, 77, 0, 2},
                          .dip = {10, 77, 0, 1},
                          .sport = 1024,
                          .dport = 9}};
    int c;
    while ((c = getopt(argc, argv, "p:n:b:D:d:s:P:Fh")) != -1) {
        switch (c) {
        case 'p':
            a->bdf = optarg;
            break;
        case 'n':
            a->ring = parse_uint(optarg, 64, max_ring, "ring size");
            break;
        case 'b':
            burst = parse_uint(optarg, 1, 256, "burst");
            break;
        case 'D':
            if (!parse_mac(optarg, a->fs.dst)) {
                usage();
            }
            break;
        case 'd':
            if (!parse_ip(optarg, a->fs.dip)) {
                usage();
            }
            break;
        case 's':
            if (!parse_ip(optarg, a->fs.sip)) {
                usage();
            }
            break;
        case 'F':
            flush_reads = true;
            break;
        case 'P':
            a->fs.dport = (uint16_t)parse_uint(optarg, 1, 65535, "port");
            break;
        default:
            usage();
        }
    }
    argc -= optind;
    argv += optind;
    if (argc == 3 && !strcmp(argv[0], "tx")) {
        a->tx = true;
        a->size = parse_uint(argv[1], 60, 1514, "frame size");
        a->secs = parse_uint(argv[2], 1, 3600, "seconds");
    } else if ((argc == 2 || argc == 3) && !strcmp(argv[0], "rx")) {
        a->tx = false;
        a->secs = parse_uint(argv[1], 1, 3600, "seconds");
        if (argc == 3) {
            a->size = parse_uint(argv[2], 60, 1514, "frame size");
        }
    } else {
        usage();
    }
    run_name = a->tx ? (flush_reads ? "tx-flush" : "tx") : (flush_reads ? "rx-flush" : "rx");
    out("E1KVM-RESULT pmd_run %s %u", run_name, a->size);
}

/* The window's start mark; the watchdog stops the poll loop after alarm_s
 * (RX re-arms it at the first frame). */
static void window_open(unsigned size, unsigned alarm_s)
{
    out("E1KVM-MARK pmd-begin %s %u", run_name, size);
    stop = 0;
    signals = 0;
    in_loop = 1;
    alarm(alarm_s);
}

static void window_close(void)
{
    alarm(0);
    in_loop = 0;
}

/* The result lines both drivers print; each adds its device's own. */
static void report_tx(uint64_t sent, unsigned size, double dt, uint64_t writes, uint64_t reads)
{
    out("E1KVM-RESULT pmd_tx_packets %" PRIu64, sent);
    out("E1KVM-RESULT pmd_tx_bytes %" PRIu64, sent * size);
    out("E1KVM-RESULT pmd_tx_secs %.3f", dt);
    out("E1KVM-RESULT pmd_tx_pps %.0f", sent / dt);
    out("E1KVM-RESULT pmd_tx_mbps %.1f", sent * size * 8 / dt / 1e6);
    out("E1KVM-RESULT pmd_tx_mmio_writes %" PRIu64, writes);
    out("E1KVM-RESULT pmd_tx_mmio_reads %" PRIu64, reads);
    out("E1KVM-RESULT pmd_tx_pkts_per_mmio %.2f", writes ? (double)sent / writes : 0.0);
}

/* first_s: from enabling reception to the first frame (-1: none came) */
static void report_rx(uint64_t pkts, uint64_t bytes, double dt, double first_s, uint64_t writes,
                      uint64_t reads, uint64_t empty_polls)
{
    out("E1KVM-RESULT pmd_rx_packets %" PRIu64, pkts);
    out("E1KVM-RESULT pmd_rx_bytes %" PRIu64, bytes);
    out("E1KVM-RESULT pmd_rx_secs %.3f", dt);
    out("E1KVM-RESULT pmd_rx_first_frame_s %.3f", first_s);
    out("E1KVM-RESULT pmd_rx_pps %.0f", dt > 0 ? pkts / dt : 0.0);
    out("E1KVM-RESULT pmd_rx_mbps %.1f", dt > 0 ? bytes * 8 / dt / 1e6 : 0.0);
    out("E1KVM-RESULT pmd_rx_mmio_writes %" PRIu64, writes);
    out("E1KVM-RESULT pmd_rx_mmio_reads %" PRIu64, reads);
    out("E1KVM-RESULT pmd_rx_pkts_per_mmio %.2f", writes ? (double)pkts / writes : 0.0);
    out("E1KVM-RESULT pmd_rx_empty_polls %" PRIu64, empty_polls);
}

/* SIGALRM, SIGINT and SIGTERM go to the watchdog (on_signal); setup gets
 * `setup_s` seconds, the poll loops re-arm the alarm; pmd_quiesce at exit. */
static void watchdog_setup(unsigned setup_s)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL));
    CHECK(sigaction(SIGINT, &sa, NULL));
    CHECK(sigaction(SIGTERM, &sa, NULL));
    alarm(setup_s);
    atexit(pmd_quiesce);
}

#endif
