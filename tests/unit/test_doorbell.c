/* The doorbell service (core/doorbell.h) on a plain region without KVM:
 * the memory layer keeps the ioeventfds inert, so the test signals their
 * eventfds itself, as KVM would on a guest write that does not exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "core/doorbell.h"
#include "core/loop.h"
#include "core/memory.h"

typedef struct Dev {
    uint32_t reg[4];
    uint32_t rang[64];
    unsigned nrang, calls, exited;
    bool learn_two; /* exited hook: learn the value and the next one */
    Doorbell *db;
} Dev;

static uint64_t dev_read(void *opaque, uint64_t off, unsigned size)
{
    Dev *d = opaque;
    (void)size;
    return d->reg[(off / 4) & 3];
}

static void dev_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    Dev *d = opaque;
    (void)size;
    d->reg[(off / 4) & 3] = (uint32_t)val;
}

static const MemoryRegionOps dev_ops = {.read = dev_read, .write = dev_write};

static void dev_rang(void *opaque, const uint32_t *values, unsigned n)
{
    Dev *d = opaque;
    d->calls++;
    for (unsigned i = 0; i < n && d->nrang < 64; i++)
        d->rang[d->nrang++] = values[i];
}

static void dev_exited(void *opaque, uint32_t value)
{
    Dev *d = opaque;
    d->exited++;
    doorbell_learn(d->db, value);
    if (d->learn_two)
        doorbell_learn(d->db, value + 1);
}

/* the eventfd KVM would signal for a write of value at offset */
static int fd_for(const MemoryRegion *mr, uint64_t offset, uint32_t value)
{
    for (size_t i = 0; i < mr->nioeventfds; i++) {
        const IoEventFd *e = &mr->ioeventfds[i];
        if (e->offset == offset && e->match && e->data == value)
            return e->fd;
    }
    return -1;
}

static void ring(const MemoryRegion *mr, uint64_t offset, uint32_t value)
{
    int fd = fd_for(mr, offset, value);
    assert_true(fd >= 0);
    uint64_t one = 1;
    assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void test_learn_ring_take(void **state)
{
    (void)state;
    assert_int_equal(loop_init(), 0);
    Dev d = {0};
    MemoryRegion mr = {.name = "dev", .size = 16, .ops = &dev_ops, .opaque = &d};
    static const DoorbellOps ops = {.rang = dev_rang, .exited = dev_exited};
    DoorbellGroup *g = doorbell_group_new();
    assert_non_null(g);
    d.db = doorbell_add(g, &mr, 8, 4, 4, &ops, &d);
    assert_non_null(d.db);
    /* nothing learnt: a take costs nothing and reports nothing */
    doorbell_group_take(g);
    assert_int_equal(d.calls, 0);
    /* an exiting write of the doorbell's width learns through the hook */
    memory_region_dispatch_write(&mr, 8, 5, 4);
    assert_int_equal(d.reg[2], 5); /* the write op ran */
    assert_int_equal(d.exited, 1);
    assert_true(doorbell_known(d.db, 5));
    assert_int_equal(mr.nioeventfds, 1);
    /* other widths and offsets do not */
    memory_region_dispatch_write(&mr, 8, 6, 2);
    memory_region_dispatch_write(&mr, 4, 6, 4);
    assert_int_equal(d.exited, 1);
    assert_int_equal(doorbell_count(d.db), 1);
    /* a value learnt twice has one eventfd */
    memory_region_dispatch_write(&mr, 8, 5, 4);
    assert_int_equal(doorbell_count(d.db), 1);
    /* rung without an exit: delivered at the next take, once */
    ring(&mr, 8, 5);
    doorbell_group_take(g);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.nrang, 1);
    assert_int_equal(d.rang[0], 5);
    doorbell_group_take(g);
    assert_int_equal(d.calls, 1);
    /* several values rung: one call with all of them */
    d.learn_two = true;
    memory_region_dispatch_write(&mr, 8, 1, 4); /* learns 1 and 2 */
    ring(&mr, 8, 1);
    ring(&mr, 8, 2);
    ring(&mr, 8, 5);
    d.nrang = 0;
    doorbell_group_take(g);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.nrang, 3);
    uint32_t sum = d.rang[0] + d.rang[1] + d.rang[2];
    assert_int_equal(sum, 1 + 2 + 5);
    /* full: the fifth value is refused, the writes keep exiting */
    assert_int_equal(doorbell_count(d.db), 3);
    assert_true(doorbell_learn(d.db, 9));
    assert_false(doorbell_learn(d.db, 10));
    assert_false(doorbell_known(d.db, 10));
    assert_true(doorbell_learn(d.db, 9)); /* known already */
    /* freeing the group takes every eventfd and the watch back */
    doorbell_group_free(g);
    assert_int_equal(mr.nioeventfds, 0);
    assert_int_equal(mr.nwatch, 0);
    unsigned exited = d.exited;
    memory_region_dispatch_write(&mr, 8, 3, 4);
    assert_int_equal(d.exited, exited);
    doorbell_group_free(NULL);
}

/* Without an exited hook the value written is learnt; doorbells of one
 * group ring in the order they were added. */
static unsigned order[8], norder;
static void rang_a(void *opaque, const uint32_t *v, unsigned n)
{
    (void)opaque;
    (void)v;
    (void)n;
    order[norder++] = 1;
}
static void rang_b(void *opaque, const uint32_t *v, unsigned n)
{
    (void)opaque;
    (void)v;
    (void)n;
    order[norder++] = 2;
}

static void test_default_learn_and_order(void **state)
{
    (void)state;
    assert_int_equal(loop_init(), 0);
    Dev d = {0};
    MemoryRegion mr = {.name = "dev", .size = 16, .ops = &dev_ops, .opaque = &d};
    static const DoorbellOps a = {.rang = rang_a}, b = {.rang = rang_b};
    DoorbellGroup *g = doorbell_group_new();
    Doorbell *da = doorbell_add(g, &mr, 0, 4, 8, &a, &d);
    Doorbell *dbb = doorbell_add(g, &mr, 4, 4, 8, &b, &d);
    assert_non_null(da);
    assert_non_null(dbb);
    memory_region_dispatch_write(&mr, 4, 7, 4);
    memory_region_dispatch_write(&mr, 0, 3, 4);
    assert_true(doorbell_known(da, 3));
    assert_true(doorbell_known(dbb, 7));
    ring(&mr, 4, 7);
    ring(&mr, 0, 3);
    doorbell_group_take(g);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    /* the group's size is bounded */
    for (int i = 2; i < DOORBELL_GROUP_MAX; i++)
        assert_non_null(doorbell_add(g, &mr, 12, 4, 1, &a, &d));
    assert_null(doorbell_add(g, &mr, 12, 4, 1, &a, &d));
    doorbell_group_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learn_ring_take),
        cmocka_unit_test(test_default_learn_and_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
