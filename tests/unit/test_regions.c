/* Guest RAM bounds checks (GuestMemory, dma_read/dma_write) and the region
 * map (AddressSpace) of core/memory.h.
 *
 * The GuestMemory under test has two 1 MiB ranges backed by calloc'd
 * buffers: one at guest physical 0, one at 4 GiB, with a hole between. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define LOW_GPA 0ULL
#define HIGH_GPA (4 * GiB)
#define RANGE_SIZE MiB

typedef struct Ram {
    GuestMemory gm;
    uint8_t *low, *high;
} Ram;

static int ram_setup(void **state)
{
    Ram *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->low = calloc(1, RANGE_SIZE);
    r->high = calloc(1, RANGE_SIZE);
    if (!r->low || !r->high)
        return -1;
    r->gm.range[0] = (GuestMemRange){.gpa = LOW_GPA, .size = RANGE_SIZE, .host = r->low};
    r->gm.range[1] = (GuestMemRange){.gpa = HIGH_GPA, .size = RANGE_SIZE, .host = r->high};
    r->gm.nranges = 2;
    r->gm.total = 2 * RANGE_SIZE;
    *state = r;
    return 0;
}

static int ram_teardown(void **state)
{
    Ram *r = *state;
    free(r->low);
    free(r->high);
    free(r);
    return 0;
}

/* ---- guest_ram_ptr ---- */

static void test_ram_ptr_inside(void **state)
{
    Ram *r = *state;
    const GuestMemory *gm = &r->gm;
    assert_ptr_equal(guest_ram_ptr(gm, 0, 1), r->low);
    assert_ptr_equal(guest_ram_ptr(gm, 0x1234, 16), r->low + 0x1234);
    assert_ptr_equal(guest_ram_ptr(gm, 0, RANGE_SIZE), r->low); /* the whole range */
    assert_ptr_equal(guest_ram_ptr(gm, RANGE_SIZE - 1, 1), r->low + RANGE_SIZE - 1);
    assert_ptr_equal(guest_ram_ptr(gm, RANGE_SIZE - 16, 16), r->low + RANGE_SIZE - 16);
    assert_ptr_equal(guest_ram_ptr(gm, HIGH_GPA, 8), r->high);
    assert_ptr_equal(guest_ram_ptr(gm, HIGH_GPA + 0x8000, 0x1000), r->high + 0x8000);
    assert_ptr_equal(guest_ram_ptr(gm, HIGH_GPA + RANGE_SIZE - 4, 4), r->high + RANGE_SIZE - 4);
    assert_ptr_equal(guest_ram_ptr(gm, HIGH_GPA, RANGE_SIZE), r->high);
}

static void test_ram_ptr_outside(void **state)
{
    Ram *r = *state;
    const GuestMemory *gm = &r->gm;
    /* straddling the end of a range */
    assert_null(guest_ram_ptr(gm, RANGE_SIZE - 8, 16));
    assert_null(guest_ram_ptr(gm, RANGE_SIZE - 1, 2));
    assert_null(guest_ram_ptr(gm, 0, RANGE_SIZE + 1));
    assert_null(guest_ram_ptr(gm, HIGH_GPA + RANGE_SIZE - 1, 2));
    assert_null(guest_ram_ptr(gm, HIGH_GPA, RANGE_SIZE + 1));
    /* just past the end */
    assert_null(guest_ram_ptr(gm, RANGE_SIZE, 1));
    assert_null(guest_ram_ptr(gm, HIGH_GPA + RANGE_SIZE, 1));
    /* in the hole, and straddling into the high range from it */
    assert_null(guest_ram_ptr(gm, 2 * GiB, 4));
    assert_null(guest_ram_ptr(gm, 0xFEE00000ULL, 4));
    assert_null(guest_ram_ptr(gm, HIGH_GPA - 4, 8));
    assert_null(guest_ram_ptr(gm, HIGH_GPA - 1, 1));
    /* a range covering RAM and the hole between the ranges */
    assert_null(guest_ram_ptr(gm, 0, HIGH_GPA + 16));
    /* gpa + len wraps past 2^64 */
    assert_null(guest_ram_ptr(gm, 0xFFFFFFFFFFFFF000ULL, 0x2000));
    assert_null(guest_ram_ptr(gm, 0xFFFFFFFFFFFFFFFFULL, 1));
    /* gpa inside RAM but len so large that gpa + len wraps to inside RAM:
     * a naive "gpa + len <= end" check would accept these */
    assert_null(guest_ram_ptr(gm, 0x1000, 0xFFFFFFFFFFFFF800ULL));
    assert_null(guest_ram_ptr(gm, HIGH_GPA + 0x1000, 0 - HIGH_GPA));
    assert_null(guest_ram_ptr(gm, 0x10, UINT64_MAX));
}

static void test_ram_ptr_len0(void **state)
{
    Ram *r = *state;
    const GuestMemory *gm = &r->gm;
    assert_ptr_equal(guest_ram_ptr(gm, 0, 0), r->low);
    assert_ptr_equal(guest_ram_ptr(gm, 0x400, 0), r->low + 0x400);
    assert_ptr_equal(guest_ram_ptr(gm, RANGE_SIZE - 1, 0), r->low + RANGE_SIZE - 1);
    assert_ptr_equal(guest_ram_ptr(gm, HIGH_GPA + 0x10, 0), r->high + 0x10);
    assert_null(guest_ram_ptr(gm, 2 * GiB, 0));
    assert_null(guest_ram_ptr(gm, RANGE_SIZE + 1, 0));
    assert_null(guest_ram_ptr(gm, 0xFFFFFFFFFFFFFFFFULL, 0));
}

/* memory.h: a zero-length access returns a pointer only if gpa is in RAM;
 * the first address past a range is not. */
static void test_ram_ptr_len0_past_end(void **state)
{
    Ram *r = *state;
    print_message("known bug in guest_ram_ptr: len 0 at the end of a range\n");
    assert_null(guest_ram_ptr(&r->gm, RANGE_SIZE, 0));
    assert_null(guest_ram_ptr(&r->gm, HIGH_GPA + RANGE_SIZE, 0));
}

static void test_ram_ptr_empty(void **state)
{
    (void)state;
    GuestMemory gm;
    memset(&gm, 0, sizeof(gm));
    assert_null(guest_ram_ptr(&gm, 0, 0));
    assert_null(guest_ram_ptr(&gm, 0, 1));
    uint8_t b = 0x5a;
    assert_int_equal(dma_read(&gm, 0, &b, 1), -1);
    assert_int_equal(b, 0x5a);
}

/* ---- dma_read / dma_write ---- */

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

static void test_dma_success(void **state)
{
    Ram *r = *state;
    uint8_t buf[256], back[256];
    fill_pattern(buf, sizeof(buf), 3);

    assert_int_equal(dma_write(&r->gm, 0x2000, buf, sizeof(buf)), 0);
    assert_memory_equal(r->low + 0x2000, buf, sizeof(buf));
    assert_int_equal(r->low[0x1fff], 0);
    assert_int_equal(r->low[0x2000 + sizeof(buf)], 0);
    memset(back, 0, sizeof(back));
    assert_int_equal(dma_read(&r->gm, 0x2000, back, sizeof(back)), 0);
    assert_memory_equal(back, buf, sizeof(buf));

    /* the last bytes of the high range */
    fill_pattern(buf, sizeof(buf), 99);
    uint64_t gpa = HIGH_GPA + RANGE_SIZE - sizeof(buf);
    assert_int_equal(dma_write(&r->gm, gpa, buf, sizeof(buf)), 0);
    assert_memory_equal(r->high + RANGE_SIZE - sizeof(buf), buf, sizeof(buf));
    memset(back, 0, sizeof(back));
    assert_int_equal(dma_read(&r->gm, gpa, back, sizeof(back)), 0);
    assert_memory_equal(back, buf, sizeof(buf));

    /* the low range is untouched by writes to the high one */
    assert_int_equal(r->low[RANGE_SIZE - 1], 0);

    /* zero-length transfers inside RAM succeed */
    assert_int_equal(dma_read(&r->gm, 0x10, back, 0), 0);
    assert_int_equal(dma_write(&r->gm, 0x10, buf, 0), 0);
}

static void test_dma_refused(void **state)
{
    Ram *r = *state;
    uint8_t buf[64], back[64];
    fill_pattern(buf, sizeof(buf), 42);

    static const struct {
        uint64_t gpa;
        size_t len;
    } bad[] = {
        {RANGE_SIZE - 32, 64},          /* straddles the end of the low range */
        {RANGE_SIZE, 1},                /* just past */
        {2 * GiB, 64},                  /* hole */
        {HIGH_GPA - 32, 64},            /* straddles into the high range */
        {HIGH_GPA + RANGE_SIZE - 1, 2}, /* straddles the end of the high range */
        {0xFFFFFFFFFFFFFFF0ULL, 64},    /* wraps past 2^64 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* snapshot both ranges: a refused write must change nothing */
        uint8_t *low_before = malloc(RANGE_SIZE), *high_before = malloc(RANGE_SIZE);
        assert_non_null(low_before);
        assert_non_null(high_before);
        fill_pattern(r->low + RANGE_SIZE - 128, 128, (uint8_t)i);
        fill_pattern(r->high, 128, (uint8_t)i);
        fill_pattern(r->high + RANGE_SIZE - 128, 128, (uint8_t)i);
        memcpy(low_before, r->low, RANGE_SIZE);
        memcpy(high_before, r->high, RANGE_SIZE);

        if (dma_write(&r->gm, bad[i].gpa, buf, bad[i].len) != -1)
            fail_msg("dma_write at 0x%llx len %zu accepted", (unsigned long long)bad[i].gpa,
                     bad[i].len);
        assert_memory_equal(r->low, low_before, RANGE_SIZE);
        assert_memory_equal(r->high, high_before, RANGE_SIZE);

        memset(back, 0xee, sizeof(back));
        if (dma_read(&r->gm, bad[i].gpa, back, bad[i].len) != -1)
            fail_msg("dma_read at 0x%llx len %zu accepted", (unsigned long long)bad[i].gpa,
                     bad[i].len);
        for (size_t k = 0; k < sizeof(back); k++)
            assert_int_equal(back[k], 0xee); /* nothing copied */
        free(low_before);
        free(high_before);
    }
}

/* ---- AddressSpace ---- */

typedef struct Dev {
    uint64_t last_off, last_val;
    unsigned last_size;
    int reads, writes;
    uint64_t read_value;
} Dev;

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    Dev *d = opaque;
    d->reads++;
    d->last_off = off;
    d->last_size = size;
    return d->read_value;
}

static void dev_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    Dev *d = opaque;
    d->writes++;
    d->last_off = off;
    d->last_val = val;
    d->last_size = size;
}

static const MemoryRegionOps dev_ops = {.read = dev_read, .write = dev_write};
static const MemoryRegionOps write_only_ops = {.write = dev_write};

static MemoryRegion make_region(const char *name, uint64_t addr, uint64_t size, Dev *d)
{
    return (MemoryRegion){.name = name, .addr = addr, .size = size, .ops = &dev_ops, .opaque = d};
}

static void check_sorted(const AddressSpace *as)
{
    for (size_t i = 1; i < as->nregions; i++) {
        const MemoryRegion *a = as->regions[i - 1], *b = as->regions[i];
        if (!(a->addr + a->size <= b->addr))
            fail_msg("regions %zu (0x%llx+0x%llx) and %zu (0x%llx) out of order", i - 1,
                     (unsigned long long)a->addr, (unsigned long long)a->size, i,
                     (unsigned long long)b->addr);
    }
}

static void test_as_add_find(void **state)
{
    (void)state;
    AddressSpace as;
    address_space_init(&as, "mmio");
    assert_string_equal(as.name, "mmio");
    assert_int_equal(as.nregions, 0);
    uint64_t off = 0;
    assert_null(address_space_find(&as, 0, &off));

    Dev d = {0};
    MemoryRegion c = make_region("c", 0xF0000000, 0x1000, &d);
    MemoryRegion a = make_region("a", 0x1000, 0x100, &d);
    MemoryRegion b = make_region("b", 0x2000, 0x10, &d);
    /* out of order */
    assert_int_equal(address_space_add(&as, &c), 0);
    assert_int_equal(address_space_add(&as, &a), 0);
    assert_int_equal(address_space_add(&as, &b), 0);
    assert_true(a.mapped && b.mapped && c.mapped);
    assert_int_equal(as.nregions, 3);
    assert_ptr_equal(as.regions[0], &a);
    assert_ptr_equal(as.regions[1], &b);
    assert_ptr_equal(as.regions[2], &c);

    /* first byte, last byte, one past */
    off = 99;
    assert_ptr_equal(address_space_find(&as, 0x1000, &off), &a);
    assert_int_equal(off, 0);
    assert_ptr_equal(address_space_find(&as, 0x10ff, &off), &a);
    assert_int_equal(off, 0xff);
    assert_null(address_space_find(&as, 0x1100, &off));
    assert_null(address_space_find(&as, 0xfff, &off));
    assert_ptr_equal(address_space_find(&as, 0x2000, &off), &b);
    assert_int_equal(off, 0);
    assert_ptr_equal(address_space_find(&as, 0x200f, &off), &b);
    assert_int_equal(off, 0xf);
    assert_null(address_space_find(&as, 0x2010, &off));
    assert_ptr_equal(address_space_find(&as, 0xF0000abc, &off), &c);
    assert_int_equal(off, 0xabc);
    assert_null(address_space_find(&as, 0xF0001000, &off));
    assert_null(address_space_find(&as, UINT64_MAX, &off));
    /* offset may be NULL */
    assert_ptr_equal(address_space_find(&as, 0x1080, NULL), &a);
    free(as.regions);
}

static void test_as_overlap_refused(void **state)
{
    (void)state;
    AddressSpace as;
    address_space_init(&as, "pio");
    Dev d = {0};
    MemoryRegion base = make_region("base", 0x100, 0x100, &d);
    assert_int_equal(address_space_add(&as, &base), 0);

    static const struct {
        uint64_t addr, size;
    } bad[] = {
        {0x100, 0x100}, /* identical */
        {0x80, 0x81},   /* covers the first byte */
        {0x1ff, 1},     /* the last byte */
        {0x1ff, 0x100}, /* covers the last byte */
        {0x140, 0x10},  /* inside */
        {0x0, 0x1000},  /* around */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        MemoryRegion o = make_region("overlap", bad[i].addr, bad[i].size, &d);
        if (address_space_add(&as, &o) != -1)
            fail_msg("overlapping region 0x%llx+0x%llx accepted", (unsigned long long)bad[i].addr,
                     (unsigned long long)bad[i].size);
        assert_false(o.mapped);
        assert_int_equal(as.nregions, 1);
    }
    /* adjacent on both sides is fine */
    MemoryRegion below = make_region("below", 0x80, 0x80, &d);
    MemoryRegion above = make_region("above", 0x200, 0x80, &d);
    assert_int_equal(address_space_add(&as, &above), 0);
    assert_int_equal(address_space_add(&as, &below), 0);
    assert_int_equal(as.nregions, 3);
    check_sorted(&as);
    /* zero size, and a region wrapping past 2^64, are refused */
    MemoryRegion empty = make_region("empty", 0x1000, 0, &d);
    assert_int_equal(address_space_add(&as, &empty), -1);
    MemoryRegion wrap = make_region("wrap", 0xFFFFFFFFFFFFF000ULL, 0x2000, &d);
    assert_int_equal(address_space_add(&as, &wrap), -1);
    assert_false(wrap.mapped);
    assert_int_equal(as.nregions, 3);
    /* the map is unchanged: find still works */
    uint64_t off;
    assert_ptr_equal(address_space_find(&as, 0x7f, &off), NULL);
    assert_ptr_equal(address_space_find(&as, 0x80, &off), &below);
    assert_ptr_equal(address_space_find(&as, 0x100, &off), &base);
    assert_ptr_equal(address_space_find(&as, 0x27f, &off), &above);
    assert_int_equal(off, 0x7f);
    free(as.regions);
}

#define NREG 50

static void test_as_many_regions(void **state)
{
    (void)state;
    AddressSpace as;
    address_space_init(&as, "mmio");
    static MemoryRegion regs[NREG];
    Dev d = {0};
    /* region i at 0x10000 * i + 0x100, size 0x100 + i (gaps in between);
     * inserted in a scrambled order (37 is coprime with 50) */
    for (int k = 0; k < NREG; k++) {
        int i = (k * 37) % NREG;
        regs[i] = make_region("r", 0x10000ULL * (uint64_t)i + 0x100, 0x100 + (uint64_t)i, &d);
        assert_int_equal(address_space_add(&as, &regs[i]), 0);
        check_sorted(&as);
    }
    assert_int_equal(as.nregions, NREG);
    for (int i = 0; i < NREG; i++)
        assert_ptr_equal(as.regions[i], &regs[i]);
    for (int i = 0; i < NREG; i++) {
        uint64_t start = regs[i].addr, end = regs[i].addr + regs[i].size;
        uint64_t off = 0;
        assert_ptr_equal(address_space_find(&as, start, &off), &regs[i]);
        assert_int_equal(off, 0);
        assert_ptr_equal(address_space_find(&as, end - 1, &off), &regs[i]);
        assert_int_equal(off, regs[i].size - 1);
        assert_ptr_equal(address_space_find(&as, start + regs[i].size / 2, &off), &regs[i]);
        assert_int_equal(off, regs[i].size / 2);
        assert_null(address_space_find(&as, end, &off));
        assert_null(address_space_find(&as, start - 1, &off));
    }
    assert_null(address_space_find(&as, 0, NULL));
    assert_null(address_space_find(&as, 0x10000ULL * NREG + 0x100, NULL));

    /* remove every third region; the rest are still found, these are not */
    for (int i = 0; i < NREG; i += 3) {
        address_space_del(&as, &regs[i]);
        assert_false(regs[i].mapped);
    }
    check_sorted(&as);
    for (int i = 0; i < NREG; i++) {
        MemoryRegion *want = i % 3 == 0 ? NULL : &regs[i];
        assert_ptr_equal(address_space_find(&as, regs[i].addr, NULL), want);
        assert_ptr_equal(address_space_find(&as, regs[i].addr + regs[i].size - 1, NULL), want);
    }
    /* and they can be added back */
    for (int i = 0; i < NREG; i += 3)
        assert_int_equal(address_space_add(&as, &regs[i]), 0);
    assert_int_equal(as.nregions, NREG);
    for (int i = 0; i < NREG; i++)
        assert_ptr_equal(address_space_find(&as, regs[i].addr + 1, NULL), &regs[i]);
    free(as.regions);
}

static void test_as_del(void **state)
{
    (void)state;
    AddressSpace as;
    address_space_init(&as, "mmio");
    Dev d = {0};
    MemoryRegion a = make_region("a", 0x1000, 0x1000, &d);
    MemoryRegion b = make_region("b", 0x3000, 0x1000, &d);
    MemoryRegion never = make_region("never", 0x8000, 0x10, &d);
    assert_int_equal(address_space_add(&as, &a), 0);
    assert_int_equal(address_space_add(&as, &b), 0);
    address_space_del(&as, &a);
    assert_false(a.mapped);
    assert_true(b.mapped);
    assert_int_equal(as.nregions, 1);
    assert_null(address_space_find(&as, 0x1000, NULL));
    assert_null(address_space_find(&as, 0x1fff, NULL));
    assert_ptr_equal(address_space_find(&as, 0x3000, NULL), &b);
    /* deleting what is not there changes nothing */
    address_space_del(&as, &never);
    address_space_del(&as, &a);
    assert_int_equal(as.nregions, 1);
    assert_ptr_equal(address_space_find(&as, 0x3fff, NULL), &b);
    /* the freed range can be taken again */
    MemoryRegion c = make_region("c", 0x1800, 0x1000, &d);
    assert_int_equal(address_space_add(&as, &c), 0);
    assert_ptr_equal(address_space_find(&as, 0x1800, NULL), &c);
    address_space_del(&as, &b);
    address_space_del(&as, &c);
    assert_int_equal(as.nregions, 0);
    assert_null(address_space_find(&as, 0x3000, NULL));
    free(as.regions);
}

static void test_as_unclaimed(void **state)
{
    (void)state;
    AddressSpace as;
    address_space_init(&as, "pio");
    Dev d = {.read_value = 0x1234};
    MemoryRegion a = make_region("a", 0x60, 4, &d);
    assert_int_equal(address_space_add(&as, &a), 0);

    for (unsigned size = 1; size <= 8; size *= 2) {
        uint8_t buf[16];
        memset(buf, 0, sizeof(buf));
        assert_false(address_space_read(&as, 0x70, buf, size));
        for (unsigned i = 0; i < size; i++)
            assert_int_equal(buf[i], 0xff);
        for (unsigned i = size; i < sizeof(buf); i++)
            assert_int_equal(buf[i], 0); /* nothing beyond size */
        uint64_t v = 0;
        assert_false(address_space_write(&as, 0x70, &v, size));
    }
    /* just before and just after the region */
    uint32_t v32 = 0;
    assert_false(address_space_read(&as, 0x5f, &v32, 1));
    assert_false(address_space_read(&as, 0x64, &v32, 1));
    assert_int_equal(d.reads, 0);
    assert_int_equal(d.writes, 0);
    assert_int_equal(a.accesses, 0);

    /* a region without a read callback reads as unclaimed */
    MemoryRegion wo = {.name = "wo", .addr = 0x80, .size = 4, .ops = &write_only_ops, .opaque = &d};
    assert_int_equal(address_space_add(&as, &wo), 0);
    v32 = 0;
    assert_false(address_space_read(&as, 0x80, &v32, 4));
    assert_int_equal(v32, 0xffffffffu);
    assert_int_equal(d.reads, 0);
    v32 = 7;
    assert_true(address_space_write(&as, 0x82, &v32, 2));
    assert_int_equal(d.writes, 1);
    assert_int_equal(d.last_off, 2);
    assert_int_equal(d.last_val, 7);
    free(as.regions);
}

static void test_as_dispatch(void **state)
{
    (void)state;
    AddressSpace as;
    address_space_init(&as, "mmio");
    Dev d1 = {.read_value = 0x1122334455667788ULL};
    Dev d2 = {.read_value = 0xabcd};
    MemoryRegion r1 = make_region("r1", 0xfebc0000, 0x20000, &d1);
    MemoryRegion r2 = make_region("r2", 0xfebe0000, 0x1000, &d2);
    assert_int_equal(address_space_add(&as, &r2), 0);
    assert_int_equal(address_space_add(&as, &r1), 0);

    /* writes: value assembled little-endian from the buffer, exact size */
    uint8_t bytes[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    assert_true(address_space_write(&as, 0xfebc00d0, bytes, 4));
    assert_int_equal(d1.writes, 1);
    assert_int_equal(d1.last_off, 0xd0);
    assert_int_equal(d1.last_size, 4);
    assert_int_equal(d1.last_val, 0x44332211);
    assert_true(address_space_write(&as, 0xfebc0002, bytes, 1));
    assert_int_equal(d1.last_off, 2);
    assert_int_equal(d1.last_size, 1);
    assert_int_equal(d1.last_val, 0x11);
    assert_true(address_space_write(&as, 0xfebc0010, bytes, 2));
    assert_int_equal(d1.last_size, 2);
    assert_int_equal(d1.last_val, 0x2211);
    assert_true(address_space_write(&as, 0xfebdfff8, bytes, 8));
    assert_int_equal(d1.last_off, 0x1fff8);
    assert_int_equal(d1.last_size, 8);
    assert_int_equal(d1.last_val, 0x8877665544332211ULL);
    assert_int_equal(d1.writes, 4);
    assert_int_equal(r1.accesses, 4);

    /* reads: the value comes back truncated to the access size */
    uint8_t buf[8];
    memset(buf, 0, sizeof(buf));
    assert_true(address_space_read(&as, 0xfebc0008, buf, 4));
    assert_int_equal(d1.reads, 1);
    assert_int_equal(d1.last_off, 8);
    assert_int_equal(d1.last_size, 4);
    uint32_t v32;
    memcpy(&v32, buf, 4);
    assert_int_equal(v32, 0x55667788);
    assert_int_equal(buf[4], 0); /* not written past size */
    memset(buf, 0, sizeof(buf));
    assert_true(address_space_read(&as, 0xfebc0001, buf, 1));
    assert_int_equal(buf[0], 0x88);
    assert_int_equal(buf[1], 0);
    assert_int_equal(d1.last_size, 1);
    assert_int_equal(d1.last_off, 1);
    uint64_t v64 = 0;
    assert_true(address_space_read(&as, 0xfebc0100, &v64, 8));
    assert_int_equal(v64, 0x1122334455667788ULL);
    assert_int_equal(d1.reads, 3);
    assert_int_equal(r1.accesses, 7);

    /* the neighbour gets its own accesses, at its own offsets */
    uint16_t v16 = 0;
    assert_true(address_space_read(&as, 0xfebe0ffe, &v16, 2));
    assert_int_equal(v16, 0xabcd);
    assert_int_equal(d2.reads, 1);
    assert_int_equal(d2.last_off, 0xffe);
    assert_int_equal(d2.last_size, 2);
    assert_int_equal(r2.accesses, 1);
    assert_int_equal(r1.accesses, 7);
    assert_int_equal(d1.reads, 3);

    /* unclaimed accesses count nowhere */
    assert_false(address_space_read(&as, 0xfebe1000, &v16, 2));
    assert_int_equal(r2.accesses, 1);
    free(as.regions);
}

/* A stand-in for KVM's coalesced-MMIO ring: it records which windows are
 * registered and queues "guest writes" that the flush hands to the space. */
typedef struct FakeAccel {
    AddressSpace *as;
    uint64_t zone_addr[8];
    uint32_t zone_len[8];
    int nzones, adds, dels, flushes;
    struct {
        uint64_t addr, val;
    } queue[8];
    int queued;
} FakeAccel;

static int fake_posted_add(void *opaque, AddressSpace *as, uint64_t addr, uint32_t len)
{
    FakeAccel *a = opaque;
    (void)as;
    if (a->nzones == 8)
        return -1;
    a->zone_addr[a->nzones] = addr;
    a->zone_len[a->nzones++] = len;
    a->adds++;
    return 0;
}

static void fake_posted_del(void *opaque, AddressSpace *as, uint64_t addr, uint32_t len)
{
    FakeAccel *a = opaque;
    (void)as;
    for (int i = 0; i < a->nzones; i++) {
        if (a->zone_addr[i] == addr && a->zone_len[i] == len) {
            a->zone_addr[i] = a->zone_addr[--a->nzones];
            a->zone_len[i] = a->zone_len[a->nzones];
            a->dels++;
            return;
        }
    }
    fail_msg("posted_del of a window never added: %#llx+%u", (unsigned long long)addr, len);
}

static void fake_posted_flush(void *opaque)
{
    FakeAccel *a = opaque;
    a->flushes++;
    for (int i = 0; i < a->queued; i++) {
        uint32_t v = (uint32_t)a->queue[i].val;
        address_space_write(a->as, a->queue[i].addr, &v, 4);
    }
    a->queued = 0;
}

/* a guest write the accelerator takes without an exit, if a window covers it */
static bool fake_guest_write(FakeAccel *a, uint64_t addr, uint32_t val)
{
    for (int i = 0; i < a->nzones; i++) {
        if (addr >= a->zone_addr[i] && addr + 4 <= a->zone_addr[i] + a->zone_len[i]) {
            a->queue[a->queued].addr = addr;
            a->queue[a->queued++].val = val;
            return true;
        }
    }
    return false;
}

static void test_posted_windows(void **state)
{
    (void)state;
    AddressSpace as;
    address_space_init(&as, "mmio");
    FakeAccel acc = {.as = &as};
    MemoryListener l = {.posted_add = fake_posted_add,
                        .posted_del = fake_posted_del,
                        .posted_flush = fake_posted_flush,
                        .opaque = &acc};
    address_space_set_listener(&as, &l);
    Dev d = {0};
    MemoryRegion bar = make_region("bar", 0xfebc0000, 0x20000, &d);
    /* windows must fit the region; at most MEMORY_REGION_MAX_POSTED */
    assert_int_equal(memory_region_add_posted(&bar, 0x1fffe, 4), -1);
    assert_int_equal(memory_region_add_posted(&bar, 0xd0, 0), -1);
    assert_int_equal(memory_region_add_posted(&bar, 0xd0, 4), 0);
    assert_int_equal(memory_region_add_posted(&bar, 0xd8, 4), 0);
    /* not mapped yet: nothing registered, and a flush asks nobody */
    assert_int_equal(acc.adds, 0);
    memory_region_flush_posted(&bar);
    assert_int_equal(acc.flushes, 0);
    /* mapping registers them at the region's guest address */
    assert_int_equal(address_space_add(&as, &bar), 0);
    assert_int_equal(acc.nzones, 2);
    assert_true(bar.posted[0].active && bar.posted[1].active);
    assert_true(fake_guest_write(&acc, 0xfebc00d0, 0x9d));
    assert_true(fake_guest_write(&acc, 0xfebc00d8, 0x80));
    assert_false(fake_guest_write(&acc, 0xfebc00c8, 1)); /* not in a window: exits */
    assert_int_equal(d.writes, 0);
    /* a flush delivers them in guest order */
    memory_region_flush_posted(&bar);
    assert_int_equal(d.writes, 2);
    assert_int_equal(d.last_off, 0xd8);
    assert_int_equal(d.last_val, 0x80);
    /* the BAR moves: writes queued at the old address reach the region
     * before it leaves, then the windows follow it */
    assert_true(fake_guest_write(&acc, 0xfebc00d0, 0x11));
    address_space_del(&as, &bar);
    assert_int_equal(d.writes, 3);
    assert_int_equal(d.last_off, 0xd0);
    assert_int_equal(d.last_val, 0x11);
    assert_int_equal(acc.nzones, 0);
    assert_int_equal(acc.dels, 2);
    bar.addr = 0xfe000000;
    assert_int_equal(address_space_add(&as, &bar), 0);
    assert_int_equal(acc.nzones, 2);
    assert_false(fake_guest_write(&acc, 0xfebc00d0, 1));
    assert_true(fake_guest_write(&acc, 0xfe0000d8, 0x22));
    memory_region_flush_posted(&bar);
    assert_int_equal(d.last_off, 0xd8);
    assert_int_equal(d.last_val, 0x22);
    /* the table is bounded */
    assert_int_equal(memory_region_add_posted(&bar, 0x10, 4), 0);
    assert_int_equal(memory_region_add_posted(&bar, 0x20, 4), 0);
    assert_int_equal(memory_region_add_posted(&bar, 0x30, 4), -1);
    assert_int_equal(acc.nzones, 4);
    address_space_del(&as, &bar);
    assert_int_equal(acc.nzones, 0);
    free(as.regions);
}

/* ---- access sizes (MemoryRegionOps.min/max_access_size) ---- */

/* A region of 4-byte registers that records what reaches its ops. */
typedef struct DwordDev {
    uint32_t reg[8];
    unsigned reads, writes;
    unsigned last_size;
    uint64_t last_offset;
    bool action_at_4; /* register 1 acts on writes: a narrow write keeps no old bytes */
    unsigned watched;
    uint64_t watched_value;
} DwordDev;

static uint64_t dword_read(void *opaque, uint64_t off, unsigned size)
{
    DwordDev *d = opaque;
    d->reads++;
    d->last_size = size;
    d->last_offset = off;
    assert_int_equal(size, 4);
    assert_int_equal(off & 3, 0);
    return off / 4 < 8 ? d->reg[off / 4] : 0;
}

static void dword_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    DwordDev *d = opaque;
    d->writes++;
    d->last_size = size;
    d->last_offset = off;
    assert_int_equal(size, 4);
    assert_int_equal(off & 3, 0);
    assert_true(val <= 0xffffffffu);
    if (off / 4 < 8)
        d->reg[off / 4] = (uint32_t)val;
}

static uint64_t dword_fill(void *opaque, uint64_t off, unsigned size)
{
    DwordDev *d = opaque;
    assert_int_equal(size, 4);
    return (d->action_at_4 && off == 4) || off / 4 >= 8 ? 0 : d->reg[off / 4];
}

static const MemoryRegionOps dword_ops = {
    .read = dword_read,
    .write = dword_write,
    .min_access_size = 4,
    .max_access_size = 4,
    .write_fill = dword_fill,
};

static void test_access_sizes_split_and_merge(void **state)
{
    (void)state;
    DwordDev d = {.reg = {0x11223344, 0x55667788}, .action_at_4 = true};
    MemoryRegion mr = {.name = "dw", .size = 32, .ops = &dword_ops, .opaque = &d};
    /* aligned 4 bytes: straight through */
    assert_int_equal(memory_region_dispatch_read(&mr, 0, 4), 0x11223344);
    assert_int_equal(d.reads, 1);
    /* narrow and unaligned reads: the bytes asked for, from whole dwords */
    assert_int_equal(memory_region_dispatch_read(&mr, 1, 1), 0x33);
    assert_int_equal(memory_region_dispatch_read(&mr, 2, 2), 0x1122);
    assert_int_equal(memory_region_dispatch_read(&mr, 2, 4), 0x77881122);
    /* 8 bytes: two dwords */
    d.reads = 0;
    assert_int_equal(memory_region_dispatch_read(&mr, 0, 8), 0x5566778811223344ULL);
    assert_int_equal(d.reads, 2);
    /* a narrow write keeps the other bytes a register stores */
    memory_region_dispatch_write(&mr, 1, 0xaa, 1);
    assert_int_equal(d.reg[0], 0x1122aa44);
    /* ... but not those of an action register (fill 0) */
    memory_region_dispatch_write(&mr, 4, 0x01, 1);
    assert_int_equal(d.reg[1], 0x00000001);
    /* an 8-byte write is two 4-byte ones */
    d.writes = 0;
    memory_region_dispatch_write(&mr, 8, 0x0000000100000080ULL, 8);
    assert_int_equal(d.writes, 2);
    assert_int_equal(d.reg[2], 0x80);
    assert_int_equal(d.reg[3], 1);
    /* unaligned write across two registers merges into both */
    d.reg[4] = 0xAAAAAAAA;
    d.reg[5] = 0xBBBBBBBB;
    memory_region_dispatch_write(&mr, 18, 0x11223344, 4);
    assert_int_equal(d.reg[4], 0x3344AAAA);
    assert_int_equal(d.reg[5], 0xBBBB1122);
    /* past the region's end: nothing reaches the ops, reads 0 for those bytes */
    d.reads = d.writes = 0;
    assert_int_equal(memory_region_dispatch_read(&mr, 30, 4), d.reg[7] >> 16);
    assert_int_equal(memory_region_dispatch_read(&mr, 32, 4), 0);
    memory_region_dispatch_write(&mr, 0x7fffffff, 1, 4);
    assert_int_equal(d.writes, 0);
    /* wider than 8 bytes or zero: refused whole */
    memory_region_dispatch_write(&mr, 0, ~0ULL, 16);
    memory_region_dispatch_write(&mr, 0, ~0ULL, 0);
    assert_int_equal(d.writes, 0);
    assert_int_equal(memory_region_dispatch_read(&mr, 0, 16), 0);
}

/* Without declared sizes a region gets every access as the guest made it. */
static uint64_t any_read(void *opaque, uint64_t off, unsigned size)
{
    DwordDev *d = opaque;
    d->last_size = size;
    d->last_offset = off;
    return 0x1234;
}

static void any_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    DwordDev *d = opaque;
    (void)val;
    d->last_size = size;
    d->last_offset = off;
}

static void watch_cb(void *opaque, uint64_t value)
{
    DwordDev *d = opaque;
    d->watched++;
    d->watched_value = value;
}

static void test_access_sizes_passthrough_and_watch(void **state)
{
    (void)state;
    static const MemoryRegionOps any_ops = {.read = any_read, .write = any_write};
    DwordDev d = {0};
    MemoryRegion mr = {.name = "any", .size = 64, .ops = &any_ops, .opaque = &d};
    assert_int_equal(memory_region_dispatch_read(&mr, 3, 2), 0x1234);
    assert_int_equal(d.last_size, 2);
    assert_int_equal(d.last_offset, 3);
    memory_region_dispatch_write(&mr, 5, 1, 1);
    assert_int_equal(d.last_size, 1);
    /* a watch sees writes of exactly its offset and length, after the op */
    assert_int_equal(memory_region_watch_writes(&mr, 8, 4, watch_cb, &d), 0);
    memory_region_dispatch_write(&mr, 8, 0x1122334455ULL, 4);
    assert_int_equal(d.watched, 1);
    assert_int_equal(d.watched_value, 0x22334455);
    memory_region_dispatch_write(&mr, 8, 7, 2);
    memory_region_dispatch_write(&mr, 8, 7, 8);
    memory_region_dispatch_write(&mr, 12, 7, 4);
    assert_int_equal(d.watched, 1);
    memory_region_unwatch_writes(&mr, &d);
    memory_region_dispatch_write(&mr, 8, 1, 4);
    assert_int_equal(d.watched, 1);
    for (int i = 0; i < MEMORY_REGION_MAX_WATCH; i++)
        assert_int_equal(memory_region_watch_writes(&mr, 4 * (uint64_t)i, 4, watch_cb, &d), 0);
    assert_int_equal(memory_region_watch_writes(&mr, 0, 4, watch_cb, &d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ram_ptr_inside, ram_setup, ram_teardown),
        cmocka_unit_test_setup_teardown(test_ram_ptr_outside, ram_setup, ram_teardown),
        cmocka_unit_test_setup_teardown(test_ram_ptr_len0, ram_setup, ram_teardown),
        cmocka_unit_test_setup_teardown(test_ram_ptr_len0_past_end, ram_setup, ram_teardown),
        cmocka_unit_test(test_ram_ptr_empty),
        cmocka_unit_test_setup_teardown(test_dma_success, ram_setup, ram_teardown),
        cmocka_unit_test_setup_teardown(test_dma_refused, ram_setup, ram_teardown),
        cmocka_unit_test(test_as_add_find),
        cmocka_unit_test(test_as_overlap_refused),
        cmocka_unit_test(test_as_many_regions),
        cmocka_unit_test(test_as_del),
        cmocka_unit_test(test_as_unclaimed),
        cmocka_unit_test(test_as_dispatch),
        cmocka_unit_test(test_posted_windows),
        cmocka_unit_test(test_access_sizes_split_and_merge),
        cmocka_unit_test(test_access_sizes_passthrough_and_watch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
