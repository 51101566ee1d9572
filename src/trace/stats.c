/* Exit accounting: per-register counters and the -stats table. */
#include "trace/stats.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define STATS_SLOTS 2048 /* power of two; a guest touches a few hundred registers */
#define STATS_MAX_NAMERS 32

typedef struct Slot {
    const struct MemoryRegion *mr; /* NULL: free (the unclaimed accesses use UNCLAIMED_*) */
    uint64_t offset;
    uint64_t reads, writes, doorbells, posted;
} Slot;

static Slot slots[STATS_SLOTS];
static size_t nslots;
static uint64_t overflow;
/* Keys for the accesses no region claimed: addresses no MemoryRegion has,
 * never handed to the describer. */
static const struct Unclaimed {
    const char *name;
} unclaimed_pio = {"(unclaimed pio)"}, unclaimed_mmio = {"(unclaimed mmio)"};
#define UNCLAIMED_PIO ((const struct MemoryRegion *)&unclaimed_pio)
#define UNCLAIMED_MMIO ((const struct MemoryRegion *)&unclaimed_mmio)
#define UNCLAIMED(mr) ((mr) == UNCLAIMED_PIO || (mr) == UNCLAIMED_MMIO)

static ExitStatsDescriber describer;

void exitstats_set_describer(ExitStatsDescriber describe)
{
    describer = describe;
}

/* What the table prints of a region: its name and address. */
static void region_info(const struct MemoryRegion *mr, const char **name, uint64_t *addr)
{
    *name = NULL;
    *addr = 0;
    if (UNCLAIMED(mr))
        *name = ((const struct Unclaimed *)(const void *)mr)->name;
    else if (describer)
        describer(mr, name, addr);
}

static struct {
    const struct MemoryRegion *mr;
    ExitStatsNamer fn;
} namers[STATS_MAX_NAMERS];
static int nnamers;

void exitstats_set_namer(const struct MemoryRegion *mr, ExitStatsNamer namer)
{
    for (int i = 0; i < nnamers; i++) {
        if (namers[i].mr == mr) {
            namers[i].fn = namer;
            return;
        }
    }
    if (nnamers < STATS_MAX_NAMERS)
        namers[nnamers++] = (typeof(namers[0])){mr, namer};
}

static size_t hash(const struct MemoryRegion *mr, uint64_t offset)
{
    uint64_t h = ((uintptr_t)mr >> 4) * 0x9E3779B97F4A7C15ULL ^ offset * 0xC2B2AE3D27D4EB4FULL;
    return (size_t)(h >> 40) & (STATS_SLOTS - 1);
}

/* The slot of (mr, offset), created if needed; NULL when the table is full. */
static Slot *slot_get(const struct MemoryRegion *mr, uint64_t offset)
{
    size_t i = hash(mr, offset);
    /* linear probing, bounded: the table is never allowed past 3/4 full */
    for (;;) {
        Slot *s = &slots[i];
        if (s->mr == mr && s->offset == offset)
            return s;
        if (!s->mr) {
            if (nslots >= STATS_SLOTS * 3 / 4)
                return NULL;
            s->mr = mr;
            s->offset = offset;
            nslots++;
            return s;
        }
        i = (i + 1) & (STATS_SLOTS - 1);
    }
}

void exitstats_record(const struct MemoryRegion *mr, uint64_t offset, bool pio, bool write)
{
    if (!mr)
        mr = pio ? UNCLAIMED_PIO : UNCLAIMED_MMIO;
    Slot *s = slot_get(mr, offset);
    if (!s)
        overflow++;
    else if (write)
        s->writes++;
    else
        s->reads++;
}

void exitstats_record_doorbell(const struct MemoryRegion *mr, uint64_t offset, uint64_t count)
{
    Slot *s = slot_get(mr, offset);
    if (!s)
        overflow += count;
    else
        s->doorbells += count;
}

void exitstats_record_posted(const struct MemoryRegion *mr, uint64_t offset)
{
    if (!mr)
        mr = UNCLAIMED_MMIO;
    Slot *s = slot_get(mr, offset);
    if (!s)
        overflow++;
    else
        s->posted++;
}

uint64_t exitstats_overflow(void)
{
    return overflow;
}

void exitstats_reset(void)
{
    memset(slots, 0, sizeof(slots));
    nslots = 0;
    overflow = 0;
}

static int cmp_reg(const void *a, const void *b)
{
    const ExitStatsReg *x = a, *y = b;
    if (x->mr != y->mr) {
        /* by address; the unclaimed pseudo-region last */
        const char *nx, *ny;
        uint64_t ax, ay;
        region_info(x->mr, &nx, &ax);
        region_info(y->mr, &ny, &ay);
        if (UNCLAIMED(x->mr))
            ax = UINT64_MAX;
        if (UNCLAIMED(y->mr))
            ay = UINT64_MAX;
        if (ax != ay)
            return ax < ay ? -1 : 1;
        return (uintptr_t)x->mr < (uintptr_t)y->mr ? -1 : 1;
    }
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

size_t exitstats_snapshot(ExitStatsReg *out, size_t max)
{
    ExitStatsReg *all = malloc((nslots ? nslots : 1) * sizeof(*all));
    size_t n = 0;
    if (!all)
        return 0;
    for (size_t i = 0; i < STATS_SLOTS; i++)
        if (slots[i].mr)
            all[n++] = (ExitStatsReg){slots[i].mr,     slots[i].offset,    slots[i].reads,
                                      slots[i].writes, slots[i].doorbells, slots[i].posted};
    qsort(all, n, sizeof(*all), cmp_reg);
    if (out && max)
        memcpy(out, all, (n < max ? n : max) * sizeof(*out));
    free(all);
    return n;
}

const char *exitstats_reg_name(const struct MemoryRegion *mr, uint64_t offset, char *buf,
                               size_t len)
{
    for (int i = 0; i < nnamers; i++) {
        if (namers[i].mr == mr) {
            const char *n = namers[i].fn(offset, buf, len);
            if (n)
                return n;
            break;
        }
    }
    if (UNCLAIMED(mr))
        snprintf(buf, len, "%#" PRIx64, offset);
    else
        snprintf(buf, len, "+%#" PRIx64, offset);
    return buf;
}

void exitstats_print(FILE *f)
{
    size_t n = exitstats_snapshot(NULL, 0);
    ExitStatsReg *regs = calloc(n ? n : 1, sizeof(*regs));
    if (!regs)
        return;
    n = exitstats_snapshot(regs, n);
    fprintf(f, "e1kvm: PIO/MMIO exits per device register (writes that did not exit: "
               "doorbells, KVM ioeventfd; posted, KVM coalesced MMIO)\n");
    fprintf(f, "  %-24s %-10s %-16s %12s %12s %12s %12s\n", "region", "address", "register",
            "reads", "writes", "doorbells", "posted");
    for (size_t i = 0; i < n; i++) {
        char name[48], addr[24];
        const struct MemoryRegion *mr = regs[i].mr;
        const char *rname;
        uint64_t raddr;
        region_info(mr, &rname, &raddr);
        if (UNCLAIMED(mr))
            snprintf(addr, sizeof(addr), "-");
        else
            snprintf(addr, sizeof(addr), "%#" PRIx64, raddr);
        fprintf(f, "  %-24s %-10s %-16s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n",
                rname ? rname : "?", addr,
                exitstats_reg_name(mr, regs[i].offset, name, sizeof(name)), regs[i].reads,
                regs[i].writes, regs[i].doorbells, regs[i].posted);
    }
    if (overflow)
        fprintf(f, "  (%" PRIu64 " accesses not attributed: table full)\n", overflow);
    free(regs);
}
