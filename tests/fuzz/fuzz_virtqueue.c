/* libFuzzer harness for the split virtqueue's device side
 * (hw/virtio/virtqueue.c): one input is a queue configuration, the guest
 * RAM image that holds its rings, descriptors and indirect tables, and
 * then a sequence of what the device and a (hostile) driver do: pops,
 * pushes, unpops, batched fills, notification decisions, and guest writes
 * to RAM between them, as another vCPU would make them.
 *
 * Guest RAM is two ranges, as on a machine with a PCI hole: RAM_SIZE bytes
 * at RAM_BASE and HIGH_SIZE bytes at HIGH_BASE, each followed in the host
 * by memory poisoned for AddressSanitizer, so that a buffer the queue
 * handed out beyond RAM is reported the moment the harness touches it
 * (every popped buffer is read or written). After each step the harness
 * checks what the queue promises: an element's buffers lie inside guest
 * RAM, its counts and lengths add up, a queue that refused something is
 * broken with a reason and stays so. Every input ends with a bounded drain
 * (pop and push until nothing is left or the queue is broken); a single
 * step that takes longer than MAX_STEP_NS aborts (unbounded work).
 *
 * Input format (little endian, missing bytes read as zero):
 *   u8     config: bits 0-3 log2 of the queue size (masked to 0..9, so
 *          sizes 1..512 against num_max 256: too large ones must be refused),
 *          bit 4 INDIRECT_DESC, bit 5 EVENT_IDX, bit 6 the ring addresses
 *          follow, bit 7 a size that is not a power of two (size - 1)
 *   [u16 x3 desc, avail, used: offsets from RAM_BASE, if bit 6; they may
 *          be misaligned or leave RAM: start must refuse them]
 *   u16    n, then n bytes: the start of guest RAM (rings and tables)
 *   then operations, an opcode byte each, arguments after it: see the
 *   switch in LLVMFuzzerTestOneInput and tests/fuzz/mkseeds_virtqueue.py. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_input.h"
#include "hw/virtio/virtqueue.h"

#define RAM_BASE 0x10000ULL
#define RAM_SIZE 0x10000u
#define HIGH_BASE 0x100000000ULL
#define HIGH_SIZE 0x1000u
#define GUARD 0x1000u
/* When the input gives no addresses, the rings are packed from offset 0
 * (descriptors, avail ring, used ring at the next 4-byte boundary), so
 * that a small queue's image is a few hundred bytes. */
#define NUM_MAX 256
#define MAX_OPS 4096
#define HELD 4 /* popped elements the harness holds at most */
#ifndef MAX_STEP_NS
#define MAX_STEP_NS (500 * 1000 * 1000LL)
#endif

static uint8_t ram[RAM_SIZE + GUARD] __attribute__((aligned(4096)));
static uint8_t high[HIGH_SIZE + GUARD] __attribute__((aligned(4096)));
static GuestMemory gm;
static VirtQueue vq;
static VirtQueueElement held[HELD];
static unsigned nheld; /* held[0 .. nheld): oldest first */
static volatile uint8_t sink;

/* CPU time of this thread (the fuzzer often shares the machine) */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void check_time(int64_t t0, const char *what)
{
    int64_t dt = cpu_ns() - t0;
    if (dt > MAX_STEP_NS) {
        fprintf(stderr, "fuzz_virtqueue: one %s took %lld ms: unbounded work\n", what,
                (long long)(dt / 1000000));
        abort();
    }
}

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_virtqueue: %s (queue size %u, broken: %s)\n", why, vq.num,
            vq.broken ? vq.broken_why : "no");
    abort();
}

static bool in_range(const void *p, size_t len, const uint8_t *base, size_t size)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)base;
    return a >= lo && a - lo <= size && len <= size - (a - lo);
}

/* What a device does with an element: checks that it may, then reads the
 * readable buffers and writes the writable ones (ASan sees any byte that
 * is not guest RAM). */
static void use_element(VirtQueueElement *e)
{
    if (e->index >= vq.num) {
        fail("element head beyond the queue");
    }
    if (e->out_num + e->in_num > VIRTQUEUE_MAX_SG) {
        fail("too many buffers");
    }
    size_t out = 0, in = 0;
    for (unsigned i = 0; i < e->out_num + e->in_num; i++) {
        const struct iovec *v = &e->sg[i];
        if (v->iov_len == 0) {
            fail("an empty iovec");
        }
        if (!in_range(v->iov_base, v->iov_len, ram, RAM_SIZE) &&
            !in_range(v->iov_base, v->iov_len, high, HIGH_SIZE)) {
            fail("a buffer outside guest RAM");
        }
        uint8_t *b = v->iov_base;
        if (i < e->out_num) {
            out += v->iov_len;
            sink ^= b[0];
            sink ^= b[v->iov_len - 1];
        } else {
            in += v->iov_len;
            b[0] = 0xA5;
            b[v->iov_len - 1] = 0x5A;
        }
    }
    if (out != e->out_len || in != e->in_len) {
        fail("lengths do not add up");
    }
}

/* pop into the next free slot (pushing the oldest first if all are held) */
static void do_pop(void)
{
    if (nheld == HELD) {
        virtqueue_push(&vq, &held[0], (uint32_t)held[0].in_len);
        memmove(&held[0], &held[1], sizeof(held[0]) * (HELD - 1));
        nheld--;
    }
    bool was_broken = vq.broken;
    int64_t t0 = cpu_ns();
    int r = virtqueue_pop(&vq, &held[nheld]);
    check_time(t0, "pop");
    if (r == 1) {
        if (vq.broken) {
            fail("pop gave an element from a broken queue");
        }
        use_element(&held[nheld]);
        nheld++;
    } else if (r < 0) {
        if (!vq.broken || !vq.broken_why[0]) {
            fail("pop failed without a reason");
        }
    } else if (r != 0) {
        fail("pop returned something else");
    } else if (was_broken) {
        fail("a broken queue popped nothing instead of failing");
    }
}

/* push the oldest n held elements as one batch (fill each, flush once) */
static void do_fill_flush(unsigned n, uint32_t len)
{
    if (n > nheld) {
        n = nheld;
    }
    for (unsigned i = 0; i < n; i++) {
        virtqueue_fill(&vq, &held[i], len, i);
    }
    virtqueue_flush(&vq, n);
    memmove(&held[0], &held[n], sizeof(held[0]) * (nheld - n));
    nheld -= n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    gm.range[0] = (GuestMemRange){.gpa = RAM_BASE, .size = RAM_SIZE, .host = ram};
    gm.range[1] = (GuestMemRange){.gpa = HIGH_BASE, .size = HIGH_SIZE, .host = high};
    gm.nranges = 2;
    gm.total = RAM_SIZE + HIGH_SIZE;
    POISON(ram + RAM_SIZE, GUARD);
    POISON(high + HIGH_SIZE, GUARD);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        LLVMFuzzerInitialize(NULL, NULL);
        init = true;
    }
    Input in = {data, size};
    memset(ram, 0, RAM_SIZE);
    memset(high, 0, HIGH_SIZE);
    nheld = 0;

    uint8_t cfg = (uint8_t)get(&in, 1);
    memset(&vq, 0, sizeof(vq));
    vq.num_max = NUM_MAX;
    virtqueue_reset(&vq);
    unsigned num = 1u << ((cfg & 15) % 10);
    if (cfg & 0x80) {
        num--;
    }
    vq.num = (uint16_t)num;
    vq.indirect = cfg & 0x10;
    vq.event_idx = cfg & 0x20;
    vq.desc_gpa = RAM_BASE;
    vq.avail_gpa = vq.desc_gpa + 16ULL * num;
    vq.used_gpa = (vq.avail_gpa + 6 + 2ULL * num + 3) & ~3ULL;
    if (cfg & 0x40) {
        vq.desc_gpa = RAM_BASE + get(&in, 2);
        vq.avail_gpa = RAM_BASE + get(&in, 2);
        vq.used_gpa = RAM_BASE + get(&in, 2);
    }
    size_t n = (size_t)get(&in, 2);
    if (n > in.left) {
        n = in.left;
    }
    if (n > RAM_SIZE) {
        n = RAM_SIZE;
    }
    memcpy(ram, in.p, n);
    in.p += n;
    in.left -= n;

    if (virtqueue_start(&vq, &gm) < 0) {
        if (!vq.broken || !vq.broken_why[0] || vq.enabled) {
            fail("start failed without a reason");
        }
        if (getenv("FUZZ_VQ_VERBOSE")) {
            fprintf(stderr, "fuzz_virtqueue: start refused: %s\n", vq.broken_why);
        }
        if (virtqueue_pop(&vq, &held[0]) != -1 || !virtqueue_empty(&vq)) {
            fail("a queue that failed to start is used");
        }
        return 0;
    }
    if (vq.num > NUM_MAX || (vq.num & (vq.num - 1))) {
        fail("start took a bad queue size");
    }

    for (unsigned ops = 0; in.left && ops < MAX_OPS; ops++) {
        uint8_t op = (uint8_t)get(&in, 1);
        switch (op % 10) {
        case 0:
            do_pop();
            break;
        case 1: /* push the oldest held element, len from the input */
            do_fill_flush(1, (uint32_t)get(&in, 4));
            break;
        case 2: { /* give back the newest held elements */
            unsigned k = (unsigned)get(&in, 1) % (nheld + 1);
            virtqueue_unpop(&vq, k);
            nheld -= k;
            break;
        }
        case 3: /* a batch */
            do_fill_flush((unsigned)get(&in, 1) % (HELD + 1), (uint32_t)get(&in, 4));
            break;
        case 4: {
            int64_t t0 = cpu_ns();
            virtqueue_should_notify(&vq);
            check_time(t0, "should_notify");
            break;
        }
        case 5:
            virtqueue_set_notification(&vq, op & 0x80);
            break;
        case 6: { /* the guest writes RAM (rings, descriptors, tables) */
            uint64_t off = get(&in, 2) % (RAM_SIZE - 1);
            uint16_t v = (uint16_t)get(&in, 2);
            memcpy(ram + off, &v, sizeof(v));
            break;
        }
        case 7: { /* the driver makes a chain available */
            struct vring_avail *a = (struct vring_avail *)(ram + (vq.avail_gpa - RAM_BASE));
            uint16_t head = (uint16_t)get(&in, 2);
            uint16_t idx = a->idx;
            a->ring[idx % vq.num] = head;
            __atomic_store_n(&a->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
            break;
        }
        case 8: {
            int64_t t0 = cpu_ns();
            bool empty = virtqueue_empty(&vq);
            check_time(t0, "empty");
            if (vq.broken && !empty) {
                fail("a broken queue is not empty");
            }
            break;
        }
        case 9: /* a descriptor (by index in the table, of the queue size) */ {
            unsigned i = (unsigned)get(&in, 2) % vq.num;
            struct vring_desc d;
            d.addr = RAM_BASE + get(&in, 2);
            d.len = (uint32_t)get(&in, 2);
            d.flags = (uint16_t)(get(&in, 1) & 7);
            d.next = (uint16_t)get(&in, 1);
            memcpy(ram + (vq.desc_gpa - RAM_BASE) + 16 * i, &d, sizeof(d));
            break;
        }
        }
        if (vq.broken && !vq.broken_why[0]) {
            fail("broken without a reason");
        }
    }

    /* the drain: bounded, as every device loop must be */
    do_fill_flush(nheld, 0);
    int64_t t0 = cpu_ns();
    for (unsigned i = 0; i < 2 * VIRTQUEUE_MAX_SIZE && !vq.broken; i++) {
        unsigned before = nheld;
        do_pop();
        if (nheld == before) {
            break;
        }
        do_fill_flush(1, (uint32_t)held[0].in_len);
    }
    do_fill_flush(nheld, 0);
    virtqueue_should_notify(&vq);
    check_time(t0, "drain");
    if (getenv("FUZZ_VQ_VERBOSE")) {
        fprintf(stderr, "fuzz_virtqueue: size %u, %llu pops, %llu pushes, %s\n", vq.num,
                (unsigned long long)vq.pops, (unsigned long long)vq.pushes,
                vq.broken ? vq.broken_why : "not broken");
    }
    return 0;
}
