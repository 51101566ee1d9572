/* The split virtqueue's device side (hw/virtio/virtqueue.h) against fake
 * guest RAM: one range of RAM_SIZE bytes at guest address RAM_BASE (not 0,
 * so a translation that forgot the base shows). The test plays the driver:
 * it writes descriptors, the avail ring and its index, and reads the used
 * ring, as a guest would. Every malformed ring must leave the queue broken
 * with a reason, and nothing else: no host access outside the buffer (run
 * under ASan in build-asan), no loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hw/virtio/virtqueue.h"

#define RAM_BASE 0x100000ULL
#define RAM_SIZE (1u << 20)
#define DESC_OFF 0x0000u  /* up to 256 descriptors */
#define AVAIL_OFF 0x1000u /* 6 + 2 * 256 */
#define USED_OFF 0x2000u  /* 6 + 8 * 256 */
#define TABLE_OFF 0x4000u /* indirect tables: up to 16 KiB + 16 */
#define BUF_OFF 0x10000u

static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
static GuestMemory gm;
static VirtQueue vq;
static VirtQueueElement elem;
static uint16_t drv_avail_idx; /* the driver's next avail->idx */

static uint64_t gpa(uint64_t off)
{
    return RAM_BASE + off;
}

static void *host(uint64_t off)
{
    return ram + off;
}

static struct vring_desc *desc_tab(void)
{
    return host(DESC_OFF);
}

static struct vring_avail *avail(void)
{
    return host(AVAIL_OFF);
}

static struct vring_used *used(void)
{
    return host(USED_OFF);
}

static uint16_t *used_event(void)
{
    return &avail()->ring[vq.num];
}

static uint16_t avail_event(void)
{
    uint16_t v;
    memcpy(&v, (uint8_t *)used() + 4 + 8 * vq.num, sizeof(v));
    return v;
}

static void set_desc(struct vring_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    t[i] = (struct vring_desc){.addr = addr, .len = len, .flags = flags, .next = next};
}

/* the driver makes the chain at head available */
static void avail_add(uint16_t head)
{
    avail()->ring[drv_avail_idx % vq.num] = head;
    drv_avail_idx++;
    __atomic_store_n(&avail()->idx, drv_avail_idx, __ATOMIC_RELEASE);
}

static void fresh(unsigned num)
{
    memset(ram, 0, sizeof(ram));
    memset(&vq, 0, sizeof(vq));
    drv_avail_idx = 0;
    vq.num_max = 256;
    virtqueue_reset(&vq);
    vq.num = (uint16_t)num;
    vq.desc_gpa = gpa(DESC_OFF);
    vq.avail_gpa = gpa(AVAIL_OFF);
    vq.used_gpa = gpa(USED_OFF);
}

static void start(unsigned num, bool indirect, bool event_idx)
{
    fresh(num);
    vq.indirect = indirect;
    vq.event_idx = event_idx;
    assert_int_equal(virtqueue_start(&vq, &gm), 0);
    assert_true(vq.enabled);
    assert_false(vq.broken);
}

static int setup(void **state)
{
    (void)state;
    gm.range[0] = (GuestMemRange){.gpa = RAM_BASE, .size = RAM_SIZE, .host = ram};
    gm.nranges = 1;
    gm.total = RAM_SIZE;
    return 0;
}

/* the queue is broken, with a reason containing @what */
static void expect_broken(const char *what)
{
    assert_int_equal(virtqueue_pop(&vq, &elem), -1);
    assert_true(vq.broken);
    if (!strstr(vq.broken_why, what)) {
        fail_msg("broken_why \"%s\" does not mention \"%s\"", vq.broken_why, what);
    }
    /* and it stays so: nothing more is popped, nothing is available */
    assert_int_equal(virtqueue_pop(&vq, &elem), -1);
    assert_true(virtqueue_empty(&vq));
}

/* --- virtqueue_start ---------------------------------------------------- */

static void expect_start_fails(const char *what)
{
    assert_int_equal(virtqueue_start(&vq, &gm), -1);
    assert_true(vq.broken);
    assert_false(vq.enabled);
    if (!strstr(vq.broken_why, what)) {
        fail_msg("broken_why \"%s\" does not mention \"%s\"", vq.broken_why, what);
    }
    assert_int_equal(virtqueue_pop(&vq, &elem), -1);
    assert_true(virtqueue_empty(&vq));
}

static void test_start_bad_num(void **state)
{
    (void)state;
    static const unsigned bad[] = {0, 3, 6, 255, 512, 1024};
    for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        fresh(bad[k]);
        expect_start_fails("queue size");
    }
    static const unsigned good[] = {1, 2, 64, 256};
    for (unsigned k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
        fresh(good[k]);
        assert_int_equal(virtqueue_start(&vq, &gm), 0);
        assert_true(vq.enabled);
    }
}

static void test_start_bad_alignment(void **state)
{
    (void)state;
    fresh(16);
    vq.desc_gpa += 8;
    expect_start_fails("descriptor ring");
    fresh(16);
    vq.avail_gpa += 1;
    expect_start_fails("available ring");
    fresh(16);
    vq.used_gpa += 2;
    expect_start_fails("used ring");
    /* the minimum alignments themselves are fine */
    fresh(16);
    vq.desc_gpa += 16;
    vq.avail_gpa += 2;
    vq.used_gpa += 4;
    assert_int_equal(virtqueue_start(&vq, &gm), 0);
}

static void test_start_outside_ram(void **state)
{
    (void)state;
    uint64_t end = RAM_BASE + RAM_SIZE;
    /* the last descriptor is one past RAM */
    fresh(16);
    vq.desc_gpa = end - 16 * 15;
    expect_start_fails("descriptor ring");
    /* the avail ring's used_event word is past RAM */
    fresh(16);
    vq.avail_gpa = end - (4 + 2 * 16);
    expect_start_fails("available ring");
    /* the used ring's avail_event word is past RAM */
    fresh(16);
    vq.used_gpa = end - (4 + 8 * 16);
    expect_start_fails("used ring");
    /* below RAM, and at the top of the address space (wrapping) */
    fresh(16);
    vq.desc_gpa = 0;
    expect_start_fails("descriptor ring");
    fresh(16);
    vq.used_gpa = 0xFFFFFFFFFFFFFFF0ULL;
    expect_start_fails("used ring");
    /* exactly at the end is fine */
    fresh(16);
    vq.desc_gpa = end - 16 * 16;
    vq.avail_gpa = end - 16 * 16 - (6 + 2 * 16) - 2;
    vq.used_gpa = end - 16 * 16 - 0x200;
    assert_int_equal(virtqueue_start(&vq, &gm), 0);
    /* and a failed queue starts again once the driver fixes it */
    fresh(16);
    vq.desc_gpa = 0;
    assert_int_equal(virtqueue_start(&vq, &gm), -1);
    vq.desc_gpa = gpa(DESC_OFF);
    assert_int_equal(virtqueue_start(&vq, &gm), 0);
    assert_false(vq.broken);
    assert_string_equal(vq.broken_why, "");
}

static void test_disabled_queue(void **state)
{
    (void)state;
    fresh(16);
    assert_true(virtqueue_empty(&vq));
    assert_int_equal(virtqueue_pop(&vq, &elem), 0);
    /* nothing written anywhere */
    virtqueue_push(&vq, &elem, 0);
    virtqueue_set_notification(&vq, false);
    assert_false(virtqueue_should_notify(&vq));
    for (unsigned i = 0; i < RAM_SIZE; i++) {
        if (ram[i]) {
            fail_msg("byte %u of RAM written by a disabled queue", i);
        }
    }
}

/* --- pop: well-formed chains -------------------------------------------- */

static void test_simple_chain(void **state)
{
    (void)state;
    start(16, false, false);
    assert_true(virtqueue_empty(&vq));
    assert_int_equal(virtqueue_pop(&vq, &elem), 0);

    /* 3 -> 7 -> 1: two readable, one writable */
    set_desc(desc_tab(), 3, gpa(BUF_OFF), 100, VRING_DESC_F_NEXT, 7);
    set_desc(desc_tab(), 7, gpa(BUF_OFF + 0x1000), 200, VRING_DESC_F_NEXT, 1);
    set_desc(desc_tab(), 1, gpa(BUF_OFF + 0x2000), 1500, VRING_DESC_F_WRITE, 0);
    avail_add(3);
    /* a single descriptor */
    set_desc(desc_tab(), 5, gpa(BUF_OFF + 0x3000), 64, 0, 0);
    avail_add(5);

    assert_false(virtqueue_empty(&vq));
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.index, 3);
    assert_int_equal(elem.out_num, 2);
    assert_int_equal(elem.in_num, 1);
    assert_int_equal(elem.out_len, 300);
    assert_int_equal(elem.in_len, 1500);
    assert_ptr_equal(elem.sg[0].iov_base, host(BUF_OFF));
    assert_int_equal(elem.sg[0].iov_len, 100);
    assert_ptr_equal(elem.sg[1].iov_base, host(BUF_OFF + 0x1000));
    assert_int_equal(elem.sg[1].iov_len, 200);
    assert_ptr_equal(virtqueue_elem_in(&elem)[0].iov_base, host(BUF_OFF + 0x2000));
    assert_int_equal(virtqueue_elem_in(&elem)[0].iov_len, 1500);

    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.index, 5);
    assert_int_equal(elem.out_num, 1);
    assert_int_equal(elem.in_num, 0);
    assert_int_equal(elem.out_len, 64);

    assert_true(virtqueue_empty(&vq));
    assert_int_equal(virtqueue_pop(&vq, &elem), 0);
    assert_int_equal(vq.inuse, 2);
    assert_int_equal(vq.pops, 2);
    assert_false(vq.broken);
}

static void test_whole_ring_and_wrap(void **state)
{
    (void)state;
    start(4, false, false);
    for (unsigned i = 0; i < 4; i++) {
        set_desc(desc_tab(), i, gpa(BUF_OFF + 0x100 * i), 10 + i, VRING_DESC_F_WRITE, 0);
    }
    /* many times round the ring and across the 16-bit index wrap */
    vq.last_avail_idx = vq.shadow_avail_idx = vq.used_idx = 65530;
    drv_avail_idx = 65530;
    avail()->idx = 65530;
    used()->idx = 65530;
    for (unsigned round = 0; round < 5; round++) {
        /* a full ring: exactly num outstanding is allowed */
        for (uint16_t i = 0; i < 4; i++) {
            avail_add((uint16_t)(3 - i));
        }
        for (unsigned i = 0; i < 4; i++) {
            assert_int_equal(virtqueue_pop(&vq, &elem), 1);
            assert_int_equal(elem.index, 3 - i);
            assert_int_equal(elem.in_len, 10 + 3 - i);
            virtqueue_push(&vq, &elem, 1);
        }
        assert_true(virtqueue_empty(&vq));
        assert_int_equal(used()->idx, drv_avail_idx);
    }
    assert_false(vq.broken);
}

static void test_indirect_chain(void **state)
{
    (void)state;
    start(8, true, false);
    struct vring_desc *t = host(TABLE_OFF);
    /* table of 4 entries: 0 -> 2 -> 1 (read, read, write); entry 3 unused */
    set_desc(t, 0, gpa(BUF_OFF), 10, VRING_DESC_F_NEXT, 2);
    set_desc(t, 2, gpa(BUF_OFF + 0x100), 20, VRING_DESC_F_NEXT, 1);
    set_desc(t, 1, gpa(BUF_OFF + 0x200), 30, VRING_DESC_F_WRITE, 0);
    /* the WRITE flag of the table's own descriptor is ignored (2.7.5.3.2) */
    set_desc(desc_tab(), 6, gpa(TABLE_OFF), 4 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
    avail_add(6);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.index, 6);
    assert_int_equal(elem.out_num, 2);
    assert_int_equal(elem.in_num, 1);
    assert_int_equal(elem.out_len, 30);
    assert_int_equal(elem.in_len, 30);
    assert_ptr_equal(elem.sg[1].iov_base, host(BUF_OFF + 0x100));
    assert_ptr_equal(elem.sg[2].iov_base, host(BUF_OFF + 0x200));

    /* normal descriptors followed by one indirect (2.7.5.3.2: valid) */
    struct vring_desc *t2 = host(TABLE_OFF + 0x1000);
    set_desc(t2, 0, gpa(BUF_OFF + 0x300), 40, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(t2, 1, gpa(BUF_OFF + 0x400), 50, VRING_DESC_F_WRITE, 0);
    set_desc(desc_tab(), 0, gpa(BUF_OFF + 0x500), 12, VRING_DESC_F_NEXT, 1);
    set_desc(desc_tab(), 1, gpa(TABLE_OFF + 0x1000), 2 * 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.index, 0);
    assert_int_equal(elem.out_num, 1);
    assert_int_equal(elem.in_num, 2);
    assert_int_equal(elem.out_len, 12);
    assert_int_equal(elem.in_len, 90);

    /* an indirect table may hold more entries than the queue has: Linux
     * sizes it by the request (here 32 entries in a queue of 8) */
    struct vring_desc *t3 = host(TABLE_OFF + 0x2000);
    for (unsigned i = 0; i < 32; i++) {
        set_desc(t3, i, gpa(BUF_OFF + i), 1, i < 31 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    }
    set_desc(desc_tab(), 2, gpa(TABLE_OFF + 0x2000), 32 * 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(2);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.out_num, 32);
    assert_int_equal(elem.out_len, 32);

    /* an unaligned table is read correctly */
    struct vring_desc one = {.addr = gpa(BUF_OFF), .len = 7, .flags = 0, .next = 0};
    memcpy(host(TABLE_OFF + 0x3003), &one, sizeof(one));
    set_desc(desc_tab(), 3, gpa(TABLE_OFF + 0x3003), 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(3);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.out_num, 1);
    assert_int_equal(elem.out_len, 7);
    assert_false(vq.broken);
}

static void test_max_sg(void **state)
{
    (void)state;
    start(4, true, false);
    struct vring_desc *t = host(TABLE_OFF);
    for (unsigned i = 0; i < VIRTQUEUE_MAX_SG; i++) {
        set_desc(t, i, gpa(BUF_OFF + i), 1, i + 1 < VIRTQUEUE_MAX_SG ? VRING_DESC_F_NEXT : 0,
                 (uint16_t)(i + 1));
    }
    /* exactly VIRTQUEUE_MAX_SG buffers: fine */
    set_desc(desc_tab(), 0, gpa(TABLE_OFF), VIRTQUEUE_MAX_SG * 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.out_num, VIRTQUEUE_MAX_SG);
    assert_int_equal(elem.out_len, VIRTQUEUE_MAX_SG);
    /* one direct buffer before the same table: one too many */
    set_desc(desc_tab(), 1, gpa(BUF_OFF), 1, VRING_DESC_F_NEXT, 0);
    avail_add(1);
    expect_broken("more than 1024 buffers");

    /* a table longer than VIRTQUEUE_MAX_SG entries is refused outright */
    start(4, true, false);
    set_desc(desc_tab(), 0, gpa(TABLE_OFF), (VIRTQUEUE_MAX_SG + 1) * 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("entries");
}

/* --- pop: malformed chains ---------------------------------------------- */

static void test_loop(void **state)
{
    (void)state;
    /* 0 -> 1 -> 2 -> 3 -> 0: longer than the queue */
    start(4, false, false);
    for (unsigned i = 0; i < 4; i++) {
        set_desc(desc_tab(), i, gpa(BUF_OFF), 8, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % 4));
    }
    avail_add(0);
    expect_broken("longer than queue size");
    assert_int_equal(vq.last_avail_idx, 0);
    assert_int_equal(vq.inuse, 0);

    /* a descriptor pointing at itself */
    start(256, false, false);
    set_desc(desc_tab(), 9, gpa(BUF_OFF), 0, VRING_DESC_F_NEXT, 9);
    avail_add(9);
    expect_broken("a loop");

    /* a loop in an indirect table */
    start(4, true, false);
    struct vring_desc *t = host(TABLE_OFF);
    set_desc(t, 0, gpa(BUF_OFF), 8, VRING_DESC_F_NEXT, 1);
    set_desc(t, 1, gpa(BUF_OFF), 8, VRING_DESC_F_NEXT, 0);
    set_desc(desc_tab(), 0, gpa(TABLE_OFF), 2 * 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("indirect chain longer");
}

static void test_next_out_of_range(void **state)
{
    (void)state;
    start(16, false, false);
    set_desc(desc_tab(), 0, gpa(BUF_OFF), 8, VRING_DESC_F_NEXT, 16);
    avail_add(0);
    expect_broken("next 16 >= queue size 16");

    start(4, true, false);
    struct vring_desc *t = host(TABLE_OFF);
    set_desc(t, 0, gpa(BUF_OFF), 8, VRING_DESC_F_NEXT, 3);
    set_desc(desc_tab(), 0, gpa(TABLE_OFF), 3 * 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("beyond the table");
}

static void test_head_out_of_range(void **state)
{
    (void)state;
    start(16, false, false);
    set_desc(desc_tab(), 0, gpa(BUF_OFF), 8, 0, 0);
    avail_add(0);
    avail_add(16);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    expect_broken("head 16 >= queue size");
    assert_int_equal(vq.last_avail_idx, 1);
}

static void test_avail_idx_ahead(void **state)
{
    (void)state;
    start(8, false, false);
    set_desc(desc_tab(), 0, gpa(BUF_OFF), 8, 0, 0);
    /* 9 entries claimed available in a ring of 8 */
    avail()->idx = 9;
    expect_broken("ahead");

    /* also when the index wraps: last 65535, idx 8 is 9 ahead */
    start(8, false, false);
    vq.last_avail_idx = vq.shadow_avail_idx = 65535;
    avail()->idx = 8;
    expect_broken("9 ahead");

    /* going backwards is "far ahead" too */
    start(8, false, false);
    avail_add(0);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    avail()->idx = 0;
    expect_broken("ahead");
}

static void test_buffer_outside_ram(void **state)
{
    (void)state;
    const uint64_t end = RAM_BASE + RAM_SIZE;
    const struct {
        uint64_t addr;
        uint32_t len;
    } bad[] = {
        {end - 100, 101},                 /* one byte past the end */
        {end, 1},                         /* just past */
        {RAM_BASE - 1, 2},                /* one byte before */
        {0, 16},                          /* below RAM */
        {0xFFFFFFFFFFFFF000ULL, 0x2000},  /* wraps past 2^64 */
        {RAM_BASE + 0x1000, 0xFFFFFFFFu}, /* huge */
    };
    for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        start(16, false, false);
        set_desc(desc_tab(), 0, gpa(BUF_OFF), 8, VRING_DESC_F_NEXT, 5);
        set_desc(desc_tab(), 5, bad[k].addr, bad[k].len, VRING_DESC_F_WRITE, 0);
        avail_add(0);
        expect_broken("descriptor 5: buffer 0x");
        assert_true(strstr(vq.broken_why, "outside RAM"));
    }
    /* the last byte of RAM is fine */
    start(16, false, false);
    set_desc(desc_tab(), 0, end - 1, 1, 0, 0);
    avail_add(0);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_ptr_equal(elem.sg[0].iov_base, ram + RAM_SIZE - 1);

    /* inside an indirect table too */
    start(16, true, false);
    struct vring_desc *t = host(TABLE_OFF);
    set_desc(t, 0, end - 4, 8, 0, 0);
    set_desc(desc_tab(), 0, gpa(TABLE_OFF), 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("indirect descriptor 0: buffer");
}

static void test_indirect_malformed(void **state)
{
    (void)state;
    struct vring_desc *t = host(TABLE_OFF);

    /* not negotiated */
    start(8, false, false);
    set_desc(t, 0, gpa(BUF_OFF), 8, 0, 0);
    set_desc(desc_tab(), 0, gpa(TABLE_OFF), 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("not negotiated");

    /* nested */
    start(8, true, false);
    set_desc(t, 0, gpa(BUF_OFF), 8, VRING_DESC_F_NEXT, 1);
    set_desc(t, 1, gpa(TABLE_OFF), 32, VRING_DESC_F_INDIRECT, 0);
    set_desc(desc_tab(), 0, gpa(TABLE_OFF), 32, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("nested");

    /* length not a multiple of 16, and 0 */
    static const uint32_t lens[] = {0, 8, 17, 31};
    for (unsigned k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        start(8, true, false);
        set_desc(t, 0, gpa(BUF_OFF), 8, 0, 0);
        set_desc(desc_tab(), 0, gpa(TABLE_OFF), lens[k], VRING_DESC_F_INDIRECT, 0);
        avail_add(0);
        expect_broken("multiple of 16");
    }

    /* INDIRECT and NEXT together */
    start(8, true, false);
    set_desc(t, 0, gpa(BUF_OFF), 8, 0, 0);
    set_desc(desc_tab(), 0, gpa(TABLE_OFF), 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
    set_desc(desc_tab(), 1, gpa(BUF_OFF), 8, 0, 0);
    avail_add(0);
    expect_broken("indirect with NEXT");

    /* the table outside RAM, or crossing its end */
    start(8, true, false);
    set_desc(desc_tab(), 0, RAM_BASE + RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("indirect table 0x");
    start(8, true, false);
    set_desc(desc_tab(), 0, 0xFFFFFFFFFFFFFFF0ULL, 32, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("outside RAM");
}

static void test_write_before_read(void **state)
{
    (void)state;
    start(8, true, false);
    set_desc(desc_tab(), 0, gpa(BUF_OFF), 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(desc_tab(), 1, gpa(BUF_OFF), 8, 0, 0);
    avail_add(0);
    expect_broken("readable after a writable");

    /* in an indirect table */
    start(8, true, false);
    struct vring_desc *t = host(TABLE_OFF);
    set_desc(t, 0, gpa(BUF_OFF), 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(t, 1, gpa(BUF_OFF), 8, VRING_DESC_F_NEXT, 2);
    set_desc(t, 2, gpa(BUF_OFF), 8, VRING_DESC_F_WRITE, 0);
    set_desc(desc_tab(), 0, gpa(TABLE_OFF), 48, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("indirect descriptor 1: readable after");

    /* a writable direct descriptor before a table with readable entries */
    start(8, true, false);
    set_desc(t, 0, gpa(BUF_OFF), 8, 0, 0);
    set_desc(desc_tab(), 0, gpa(BUF_OFF), 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(desc_tab(), 1, gpa(TABLE_OFF), 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken("readable after");
}

static void test_zero_length(void **state)
{
    (void)state;
    start(8, false, false);
    /* zero-length buffers are accepted and leave no iovec */
    set_desc(desc_tab(), 0, gpa(BUF_OFF), 0, VRING_DESC_F_NEXT, 1);
    set_desc(desc_tab(), 1, gpa(BUF_OFF + 0x10), 16, VRING_DESC_F_NEXT, 2);
    set_desc(desc_tab(), 2, gpa(BUF_OFF + 0x20), 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
    set_desc(desc_tab(), 3, gpa(BUF_OFF + 0x30), 32, VRING_DESC_F_WRITE, 0);
    avail_add(0);
    /* a chain of one empty buffer, even at an address outside RAM: it
     * names no byte, so nothing is mapped */
    set_desc(desc_tab(), 4, 0, 0, 0, 0);
    avail_add(4);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.out_num, 1);
    assert_int_equal(elem.in_num, 1);
    assert_ptr_equal(elem.sg[0].iov_base, host(BUF_OFF + 0x10));
    assert_ptr_equal(elem.sg[1].iov_base, host(BUF_OFF + 0x30));
    assert_int_equal(elem.out_len, 16);
    assert_int_equal(elem.in_len, 32);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.index, 4);
    assert_int_equal(elem.out_num + elem.in_num, 0);
    assert_int_equal(elem.out_len + elem.in_len, 0);
    /* the order rule holds for empty buffers too */
    set_desc(desc_tab(), 5, gpa(BUF_OFF), 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 6);
    set_desc(desc_tab(), 6, gpa(BUF_OFF), 0, 0, 0);
    avail_add(5);
    expect_broken("readable after");
}

static void test_first_reason_kept(void **state)
{
    (void)state;
    start(8, false, false);
    set_desc(desc_tab(), 0, gpa(BUF_OFF), 8, VRING_DESC_F_NEXT, 8);
    avail_add(0);
    expect_broken("next 8");
    /* later trouble does not overwrite the first reason */
    avail()->idx = 100;
    assert_int_equal(virtqueue_pop(&vq, &elem), -1);
    assert_non_null(strstr(vq.broken_why, "next 8"));
    /* reset clears it, the statistics stay */
    vq.pops = 5;
    virtqueue_reset(&vq);
    assert_false(vq.broken);
    assert_false(vq.enabled);
    assert_string_equal(vq.broken_why, "");
    assert_int_equal(vq.num, vq.num_max);
    assert_int_equal(vq.desc_gpa, 0);
    assert_int_equal(vq.pops, 5);
}

/* --- unpop, fill, flush ------------------------------------------------- */

static void test_unpop(void **state)
{
    (void)state;
    start(8, false, false);
    for (uint16_t i = 0; i < 3; i++) {
        set_desc(desc_tab(), i, gpa(BUF_OFF + 0x100 * i), 100 + i, VRING_DESC_F_WRITE, 0);
        avail_add(i);
    }
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.index, 0);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.index, 1);
    assert_int_equal(vq.inuse, 2);
    virtqueue_unpop(&vq, 2);
    assert_int_equal(vq.inuse, 0);
    assert_int_equal(vq.last_avail_idx, 0);
    assert_false(virtqueue_empty(&vq));
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.index, 0);
    assert_int_equal(elem.in_len, 100);
    assert_ptr_equal(elem.sg[0].iov_base, host(BUF_OFF));
    /* more than was popped: only what is in use goes back */
    virtqueue_unpop(&vq, 10);
    assert_int_equal(vq.last_avail_idx, 0);
    assert_int_equal(vq.inuse, 0);
    /* unpop across the index wrap */
    start(8, false, false);
    drv_avail_idx = 65535;
    avail()->idx = 65535;
    vq.last_avail_idx = vq.shadow_avail_idx = 65535;
    avail_add(2);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(vq.last_avail_idx, 0);
    virtqueue_unpop(&vq, 1);
    assert_int_equal(vq.last_avail_idx, 65535);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(elem.index, 2);
}

static void test_fill_flush(void **state)
{
    (void)state;
    start(4, false, false);
    static VirtQueueElement e[3];
    for (uint16_t i = 0; i < 3; i++) {
        set_desc(desc_tab(), i, gpa(BUF_OFF + 0x100 * i), 100, VRING_DESC_F_WRITE, 0);
        avail_add((uint16_t)(2 - i));
    }
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(virtqueue_pop(&vq, &e[i]), 1);
    }
    /* filled but not flushed: the index does not move */
    virtqueue_fill(&vq, &e[0], 10, 0);
    virtqueue_fill(&vq, &e[1], 5000, 1); /* more than the buffer: clamped */
    assert_int_equal(used()->idx, 0);
    assert_int_equal(used()->ring[0].id, 2);
    assert_int_equal(used()->ring[0].len, 10);
    assert_int_equal(used()->ring[1].id, 1);
    assert_int_equal(used()->ring[1].len, 100);
    virtqueue_flush(&vq, 2);
    assert_int_equal(used()->idx, 2);
    assert_int_equal(vq.used_idx, 2);
    assert_int_equal(vq.inuse, 1);
    assert_int_equal(vq.pushes, 2);
    virtqueue_push(&vq, &e[2], 0);
    assert_int_equal(used()->idx, 3);
    assert_int_equal(used()->ring[2].id, 0);
    assert_int_equal(used()->ring[2].len, 0);
    assert_int_equal(vq.inuse, 0);

    /* the used ring wraps at num: positions 3, then 0 */
    for (uint16_t i = 0; i < 2; i++) {
        avail_add(i);
        assert_int_equal(virtqueue_pop(&vq, &elem), 1);
        virtqueue_push(&vq, &elem, 7);
    }
    assert_int_equal(used()->idx, 5);
    assert_int_equal(used()->ring[3].id, 0);
    assert_int_equal(used()->ring[0].id, 1);
    assert_int_equal(used()->ring[0].len, 7);
    /* nothing beyond the ring and its avail_event word was written */
    for (unsigned i = USED_OFF + 6 + 8 * 4; i < TABLE_OFF; i++) {
        assert_int_equal(ram[i], 0);
    }

    /* a readable-only element is returned with len 0 */
    set_desc(desc_tab(), 3, gpa(BUF_OFF), 100, 0, 0);
    avail_add(3);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    virtqueue_push(&vq, &elem, 100);
    assert_int_equal(used()->ring[1].id, 3);
    assert_int_equal(used()->ring[1].len, 0);
}

/* --- notifications ------------------------------------------------------ */

static void push_one(void)
{
    set_desc(desc_tab(), 0, gpa(BUF_OFF), 100, VRING_DESC_F_WRITE, 0);
    avail_add(0);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    virtqueue_push(&vq, &elem, 1);
}

static void test_notify_flags(void **state)
{
    (void)state;
    start(8, false, false);
    push_one();
    assert_true(virtqueue_should_notify(&vq));
    avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
    push_one();
    assert_false(virtqueue_should_notify(&vq));
    /* without EVENT_IDX used_event means nothing */
    *used_event() = 0xFFFF;
    avail()->flags = 0;
    push_one();
    assert_true(virtqueue_should_notify(&vq));
    assert_int_equal(vq.notifies_sent, 2);
    assert_int_equal(vq.notifies_suppressed, 1);
}

static void test_notify_event_idx(void **state)
{
    (void)state;
    start(8, false, true);
    /* NO_INTERRUPT is not what the driver uses with EVENT_IDX */
    avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
    *used_event() = 100;
    /* the first time there is no last notification: notify */
    push_one();
    assert_true(virtqueue_should_notify(&vq));
    assert_int_equal(vq.signalled_used, 1);
    /* used_event 100: not crossed by 1 -> 2 */
    push_one();
    assert_false(virtqueue_should_notify(&vq));
    /* the driver wants to hear when entry 2 is used (idx goes past 2) */
    *used_event() = 2;
    push_one(); /* idx 3 */
    assert_true(virtqueue_should_notify(&vq));
    /* and only once */
    push_one(); /* idx 4 */
    assert_false(virtqueue_should_notify(&vq));
    /* several entries in one flush, used_event in the middle */
    *used_event() = 5;
    for (int i = 0; i < 3; i++) {
        avail_add(0);
        assert_int_equal(virtqueue_pop(&vq, &elem), 1);
        virtqueue_fill(&vq, &elem, 0, (unsigned)i);
    }
    virtqueue_flush(&vq, 3); /* 4 -> 7 */
    assert_true(virtqueue_should_notify(&vq));
    assert_int_equal(vq.notifies_sent, 3);
    assert_int_equal(vq.notifies_suppressed, 2);

    /* across the 16-bit wrap */
    start(8, false, true);
    vq.used_idx = 65534;
    vq.last_avail_idx = vq.shadow_avail_idx = 65534;
    drv_avail_idx = 65534;
    avail()->idx = 65534;
    *used_event() = 65535;
    push_one(); /* 65535: first: notify */
    assert_true(virtqueue_should_notify(&vq));
    push_one(); /* 0: passes 65535 */
    assert_true(virtqueue_should_notify(&vq));
    push_one(); /* 1 */
    assert_false(virtqueue_should_notify(&vq));

    /* the used index running a whole window past the last signal makes
     * it unreliable: notify */
    start(8, false, true);
    *used_event() = 0;
    push_one();
    assert_true(virtqueue_should_notify(&vq)); /* signalled_used = 1 */
    *used_event() = 0x8000;
    for (unsigned i = 0; i < 65535; i++) {
        avail_add(0);
        assert_int_equal(virtqueue_pop(&vq, &elem), 1);
        virtqueue_fill(&vq, &elem, 0, 0);
        virtqueue_flush(&vq, 1);
    }
    /* used_idx is 0 now; the next flush, onto 1, passes signalled_used
     * (1) again: 16 bits can no longer tell whether the driver was told */
    push_one();
    assert_int_equal(vq.used_idx, 1);
    assert_false(vq.signalled_used_valid);
    *used_event() = 0x4000; /* would say "no" */
    assert_true(virtqueue_should_notify(&vq));
}

static void test_set_notification(void **state)
{
    (void)state;
    start(8, false, false);
    virtqueue_set_notification(&vq, false);
    assert_int_equal(used()->flags, VRING_USED_F_NO_NOTIFY);
    virtqueue_set_notification(&vq, true);
    assert_int_equal(used()->flags, 0);
    /* avail_event is left alone without EVENT_IDX */
    push_one();
    assert_int_equal(avail_event(), 0);

    start(8, false, true);
    /* with EVENT_IDX the flags stay 0; enabling writes avail_event */
    drv_avail_idx = 0;
    set_desc(desc_tab(), 0, gpa(BUF_OFF), 100, VRING_DESC_F_WRITE, 0);
    avail_add(0);
    avail_add(0);
    avail_add(0);
    virtqueue_set_notification(&vq, true);
    assert_int_equal(used()->flags, 0);
    assert_int_equal(avail_event(), 3);
    assert_int_equal(vq.shadow_avail_idx, 3);
    /* while notifications are wanted each pop sets it to last_avail_idx:
     * the next entry the device has not taken */
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(avail_event(), 1);
    /* disabled: it stays behind, the driver stops notifying */
    virtqueue_set_notification(&vq, false);
    assert_int_equal(used()->flags, 0);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(virtqueue_pop(&vq, &elem), 1);
    assert_int_equal(avail_event(), 1);
    /* enabled again: the current avail index; the caller re-checks empty */
    avail_add(0);
    virtqueue_set_notification(&vq, true);
    assert_int_equal(avail_event(), 4);
    assert_false(virtqueue_empty(&vq));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_bad_num),
        cmocka_unit_test(test_start_bad_alignment),
        cmocka_unit_test(test_start_outside_ram),
        cmocka_unit_test(test_disabled_queue),
        cmocka_unit_test(test_simple_chain),
        cmocka_unit_test(test_whole_ring_and_wrap),
        cmocka_unit_test(test_indirect_chain),
        cmocka_unit_test(test_max_sg),
        cmocka_unit_test(test_loop),
        cmocka_unit_test(test_next_out_of_range),
        cmocka_unit_test(test_head_out_of_range),
        cmocka_unit_test(test_avail_idx_ahead),
        cmocka_unit_test(test_buffer_outside_ram),
        cmocka_unit_test(test_indirect_malformed),
        cmocka_unit_test(test_write_before_read),
        cmocka_unit_test(test_zero_length),
        cmocka_unit_test(test_first_reason_kept),
        cmocka_unit_test(test_unpop),
        cmocka_unit_test(test_fill_flush),
        cmocka_unit_test(test_notify_flags),
        cmocka_unit_test(test_notify_event_idx),
        cmocka_unit_test(test_set_notification),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
