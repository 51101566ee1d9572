/* The device side of a virtio split virtqueue (VIRTIO 1.2, section 2.7).
 *
 * Everything in the three ring areas belongs to the guest and may change
 * under us at any time (another vCPU writes it while we read). The rules
 * this file keeps, each at the place it is needed:
 *  - every ring field the device acts on is loaded once into a local
 *    (an atomic load, so the compiler cannot fetch it again later), and
 *    only the local is checked and used;
 *  - every index is checked against the queue size, every buffer against
 *    guest RAM (guest_ram_ptr), every loop over guest data has a fixed
 *    bound (the queue size, the indirect table size, VIRTQUEUE_MAX_SG);
 *  - a violation marks the queue broken with a one-line reason and the
 *    queue is never walked again until the driver resets it.
 * The pop path allocates nothing: the element is the caller's. */
#include <endian.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "virtqueue.h"

/* the size of one descriptor: the alignment and length unit of the
 * descriptor table and of indirect tables (2.7.5, 2.7.5.3) */
#define DESC_SIZE ((uint64_t)sizeof(struct vring_desc))

_Static_assert(sizeof(struct vring_desc) == 16, "vring_desc is 16 bytes (2.7.5)");
_Static_assert(sizeof(struct vring_used_elem) == 8, "vring_used_elem is 8 bytes (2.7.8)");
_Static_assert(VIRTQUEUE_MAX_SIZE <= 32768, "a split queue has at most 32768 entries (2.7)");

static void vq_break(VirtQueue *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void vq_break(VirtQueue *vq, const char *fmt, ...)
{
    va_list ap;
    /* the first reason is the one worth reporting: what follows may only
     * be a consequence of it */
    if (vq->broken) {
        return;
    }
    vq->broken = true;
    va_start(ap, fmt);
    vsnprintf(vq->broken_why, sizeof(vq->broken_why), fmt, ap);
    va_end(ap);
}

/* --- ring field access -------------------------------------------------
 * The rings are little endian (2.7: "in little-endian byte order" for a
 * VIRTIO 1.x device); le*toh are no-ops on x86 but say what the bytes are. */

static uint16_t avail_flags(const VirtQueue *vq)
{
    return le16toh(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED));
}

/* used_event sits after the avail ring's num entries (2.7.6, 2.7.7) */
static uint16_t avail_used_event(const VirtQueue *vq)
{
    return le16toh(__atomic_load_n(&vq->avail->ring[vq->num], __ATOMIC_RELAXED));
}

/* The driver's avail index. Acquire: the ring entries and descriptors it
 * covers were written before it (2.7.13: the driver writes the entry, a
 * memory barrier, then idx), so they must be read after it. */
static uint16_t avail_idx_read(VirtQueue *vq)
{
    vq->shadow_avail_idx = le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
    return vq->shadow_avail_idx;
}

/* avail_event sits after the used ring's num entries (2.7.8, 2.7.10) */
static void used_avail_event_write(VirtQueue *vq, uint16_t v)
{
    /* by address: flags, idx, then num 8-byte entries */
    uint16_t *p = (uint16_t *)((uint8_t *)vq->used + 4 + sizeof(struct vring_used_elem) * vq->num);
    __atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}

/* The device is the only writer of used->flags; the read-modify-write is
 * therefore ours alone, the guest only reads the result. */
static void used_flags_update(VirtQueue *vq, uint16_t set, uint16_t clear)
{
    uint16_t f = le16toh(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED));
    f = (uint16_t)((f | set) & ~clear);
    __atomic_store_n(&vq->used->flags, htole16(f), __ATOMIC_RELAXED);
}

/* --- start and reset --------------------------------------------------- */

/* [gpa, gpa + len) aligned and entirely in RAM: the host pointer, else NULL
 * and the queue broken with the area's name in the reason */
static void *map_area(VirtQueue *vq, const char *what, uint64_t gpa, uint64_t len, uint64_t align)
{
    if (gpa & (align - 1)) {
        vq_break(vq, "%s ring at 0x%llx: not %llu-byte aligned", what, (unsigned long long)gpa,
                 (unsigned long long)align);
        return NULL;
    }
    void *p = guest_ram_ptr(vq->ram, gpa, len);
    if (!p) {
        vq_break(vq, "%s ring 0x%llx +%llu outside RAM", what, (unsigned long long)gpa,
                 (unsigned long long)len);
    }
    return p;
}

/* The device side back to "nothing mapped, nothing taken": disabled, no
 * ring pointers, indexes 0, notifications wanted, not broken. */
static void vq_clear(VirtQueue *vq)
{
    vq->enabled = false;
    vq->desc = NULL;
    vq->avail = NULL;
    vq->used = NULL;
    vq->last_avail_idx = 0;
    vq->shadow_avail_idx = 0;
    vq->used_idx = 0;
    vq->inuse = 0;
    vq->signalled_used = 0;
    vq->signalled_used_valid = false;
    vq->notification = true;
    vq->broken = false;
    vq->broken_why[0] = '\0';
}

int virtqueue_start(VirtQueue *vq, const GuestMemory *ram)
{
    vq->ram = ram;
    vq_clear(vq);

    unsigned max = vq->num_max;
    if (max == 0 || max > VIRTQUEUE_MAX_SIZE) {
        max = VIRTQUEUE_MAX_SIZE;
    }
    /* 2.7: "Queue Size ... is always a power of 2"; the device offers at
     * most num_max (4.1.4.3: the driver may only write a smaller size) */
    if (vq->num == 0 || vq->num > max || (vq->num & (vq->num - 1))) {
        vq_break(vq, "queue size %u: not a power of two, or above %u", vq->num, max);
        return -1;
    }
    if (!ram) {
        vq_break(vq, "no guest RAM");
        return -1;
    }
    /* 2.7, table "Virtqueue Part / Alignment / Size": desc 16 and 16*num,
     * avail 2 and 6+2*num, used 4 and 6+8*num (both with the event-index
     * word, which exists in memory whether or not EVENT_IDX is used) */
    uint64_t n = vq->num;
    vq->desc = map_area(vq, "descriptor", vq->desc_gpa, DESC_SIZE * n, 16);
    if (vq->desc) {
        vq->avail = map_area(vq, "available", vq->avail_gpa, 6 + 2 * n, 2);
    }
    if (vq->avail) {
        vq->used = map_area(vq, "used", vq->used_gpa, 6 + 8 * n, 4);
    }
    if (!vq->used) {
        vq->desc = NULL;
        vq->avail = NULL;
        return -1;
    }
    vq->enabled = true;
    return 0;
}

void virtqueue_reset(VirtQueue *vq)
{
    vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
    vq->num = vq->num_max;
    vq_clear(vq);
}

static bool usable(const VirtQueue *vq)
{
    return vq->enabled && !vq->broken && vq->desc;
}

/* --- the available side ------------------------------------------------ */

bool virtqueue_empty(VirtQueue *vq)
{
    /* nothing can be popped from a queue that is off or broken: saying
     * "empty" keeps a device's "while (!empty) pop" loop from spinning */
    if (!usable(vq)) {
        return true;
    }
    if (vq->shadow_avail_idx != vq->last_avail_idx) {
        return false;
    }
    return avail_idx_read(vq) == vq->last_avail_idx;
}

unsigned virtqueue_avail_count(VirtQueue *vq)
{
    if (!usable(vq)) {
        return 0;
    }
    uint16_t n = (uint16_t)(avail_idx_read(vq) - vq->last_avail_idx);
    /* an index running ahead is for pop to refuse; here it counts nothing */
    return n <= vq->num ? n : 0;
}

/* Where a chain being walked is: the table (the queue's descriptor table
 * or an indirect one) and what has been gathered so far. */
typedef struct Walk {
    VirtQueue *vq;
    VirtQueueElement *e;
    bool seen_write; /* a device-writable descriptor came already */
} Walk;

/* One descriptor, fetched once (no double fetch): copied into a local,
 * then a compiler barrier, so the checks below and the use after them see
 * the same bytes even if the guest rewrites the descriptor meanwhile (the
 * compiler may not go back to guest memory for a field it has a copy of).
 * Byte-wise, as an indirect table need not be aligned (2.7.5.3). */
static struct vring_desc desc_fetch(const void *table, unsigned i)
{
    struct vring_desc c;
    memcpy(&c, (const uint8_t *)table + DESC_SIZE * i, sizeof(c));
    __asm__ volatile("" ::: "memory");
    c.addr = le64toh(c.addr);
    c.len = le32toh(c.len);
    c.flags = le16toh(c.flags);
    c.next = le16toh(c.next);
    return c;
}

/* Add one buffer descriptor's buffer to the element. */
static int walk_buffer(Walk *w, const struct vring_desc *d, const char *where, unsigned i)
{
    VirtQueueElement *e = w->e;
    bool write = d->flags & VRING_DESC_F_WRITE;

    /* 2.7.4.2: "The driver MUST place any device-writable descriptor
     * elements after any device-readable descriptor elements." */
    if (!write && w->seen_write) {
        vq_break(w->vq, "%sdescriptor %u: readable after a writable one", where, i);
        return -1;
    }
    w->seen_write |= write;
    /* A zero-length buffer carries nothing: it is accepted (the spec does
     * not forbid it, some drivers make them) and leaves no iovec, so a
     * device never sees an empty sg entry. */
    if (d->len == 0) {
        return 0;
    }
    void *p = guest_ram_ptr(w->vq->ram, d->addr, d->len);
    if (!p) {
        vq_break(w->vq, "%sdescriptor %u: buffer 0x%llx +%u outside RAM", where, i,
                 (unsigned long long)d->addr, d->len);
        return -1;
    }
    if (e->out_num + e->in_num >= VIRTQUEUE_MAX_SG) {
        vq_break(w->vq, "%sdescriptor %u: more than %u buffers in the chain", where, i,
                 VIRTQUEUE_MAX_SG);
        return -1;
    }
    /* the lengths are 32-bit and at most VIRTQUEUE_MAX_SG of them: the
     * sums fit a 64-bit size_t; the test keeps a 32-bit build honest */
    size_t *sum = write ? &e->in_len : &e->out_len;
    if (d->len > SIZE_MAX - *sum) {
        vq_break(w->vq, "%sdescriptor %u: chain length overflows", where, i);
        return -1;
    }
    *sum += d->len;
    e->sg[e->out_num + e->in_num] = (struct iovec){.iov_base = p, .iov_len = d->len};
    if (write) {
        e->in_num++;
    } else {
        e->out_num++;
    }
    return 0;
}

/* An indirect table (2.7.5.3): a descriptor table of its own, with
 * d->len / 16 entries, whose chain starts at entry 0. */
static int walk_indirect(Walk *w, const struct vring_desc *d, unsigned i)
{
    VirtQueue *vq = w->vq;

    /* 2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag
     * unless the VIRTIO_F_INDIRECT_DESC feature was negotiated." */
    if (!vq->indirect) {
        vq_break(vq, "descriptor %u: indirect, not negotiated", i);
        return -1;
    }
    /* 2.7.5.3.1: "A driver MUST NOT set both VIRTQ_DESC_F_INDIRECT and
     * VIRTQ_DESC_F_NEXT in flags": the table ends the chain. */
    if (d->flags & VRING_DESC_F_NEXT) {
        vq_break(vq, "descriptor %u: indirect with NEXT", i);
        return -1;
    }
    /* The table is whole descriptors, at least one; and no longer than
     * the most buffers an element may have (the header's bound: a bigger
     * table could only hold a chain we would refuse anyway). */
    if (d->len == 0 || d->len % DESC_SIZE) {
        vq_break(vq, "descriptor %u: indirect table length %u not a multiple of 16", i, d->len);
        return -1;
    }
    uint32_t max = (uint32_t)(d->len / DESC_SIZE);
    if (max > VIRTQUEUE_MAX_SG) {
        vq_break(vq, "descriptor %u: indirect table of %u entries (at most %u)", i, max,
                 VIRTQUEUE_MAX_SG);
        return -1;
    }
    const void *table = guest_ram_ptr(vq->ram, d->addr, d->len);
    if (!table) {
        vq_break(vq, "descriptor %u: indirect table 0x%llx +%u outside RAM", i,
                 (unsigned long long)d->addr, d->len);
        return -1;
    }

    /* The chain inside the table may visit each entry at most once: max
     * steps; one more means a loop. */
    unsigned j = 0;
    for (uint32_t step = 0; step < max; step++) {
        struct vring_desc c = desc_fetch(table, j);
        /* 2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT
         * flag within an indirect descriptor" */
        if (c.flags & VRING_DESC_F_INDIRECT) {
            vq_break(vq, "indirect descriptor %u: nested indirect table", j);
            return -1;
        }
        if (walk_buffer(w, &c, "indirect ", j) < 0) {
            return -1;
        }
        if (!(c.flags & VRING_DESC_F_NEXT)) {
            return 0;
        }
        if (c.next >= max) {
            vq_break(vq, "indirect descriptor %u: next %u beyond the table's %u entries", j, c.next,
                     max);
            return -1;
        }
        j = c.next;
    }
    vq_break(vq, "descriptor %u: indirect chain longer than its %u entries (a loop)", i, max);
    return -1;
}

int virtqueue_pop(VirtQueue *vq, VirtQueueElement *e)
{
    if (vq->broken) {
        return -1;
    }
    if (!usable(vq)) {
        return 0;
    }
    if (vq->shadow_avail_idx == vq->last_avail_idx) {
        avail_idx_read(vq);
    }
    /* 2.7.13: the driver never has more than num entries outstanding;
     * an index further ahead would make us walk stale ring slots twice */
    uint16_t pending = (uint16_t)(vq->shadow_avail_idx - vq->last_avail_idx);
    if (pending > vq->num) {
        vq_break(vq, "avail idx %u is %u ahead of %u (queue size %u)", vq->shadow_avail_idx,
                 pending, vq->last_avail_idx, vq->num);
        return -1;
    }
    if (pending == 0) {
        return 0;
    }

    /* The ring entry: read once, after the acquire of idx above. num is a
     * power of two, so the mask is the "% num" of 2.7.6. */
    uint16_t slot = vq->last_avail_idx & (uint16_t)(vq->num - 1);
    uint16_t head = le16toh(__atomic_load_n(&vq->avail->ring[slot], __ATOMIC_RELAXED));
    if (head >= vq->num) {
        vq_break(vq, "avail ring[%u]: head %u >= queue size %u", slot, head, vq->num);
        return -1;
    }

    e->index = head;
    e->out_num = e->in_num = 0;
    e->out_len = e->in_len = 0;
    Walk w = {.vq = vq, .e = e, .seen_write = false};

    /* 2.7.5: a chain is at most num descriptors long ("the maximum
     * possible descriptor chain length"), so num steps bound the walk and
     * a chain that needs more is a loop. 2.7.5.3.2: the device "MUST
     * handle the case of zero or more normal chained descriptors followed
     * by a single descriptor with flags&VIRTQ_DESC_F_INDIRECT". The
     * entries of an indirect table are bounded by that table, not by num:
     * Linux gives a table as many entries as the request has buffers, and
     * QEMU accepts them, so the bound there is the table and
     * VIRTQUEUE_MAX_SG. */
    unsigned i = head;
    for (unsigned step = 0; step < vq->num; step++) {
        struct vring_desc c = desc_fetch(vq->desc, i);
        if (c.flags & VRING_DESC_F_INDIRECT) {
            /* 2.7.5.3.2: the device ignores WRITE on the table's own
             * descriptor; the entries say what is writable */
            if (walk_indirect(&w, &c, i) < 0) {
                return -1;
            }
            goto done;
        }
        if (walk_buffer(&w, &c, "", i) < 0) {
            return -1;
        }
        if (!(c.flags & VRING_DESC_F_NEXT)) {
            goto done;
        }
        if (c.next >= vq->num) {
            vq_break(vq, "descriptor %u: next %u >= queue size %u", i, c.next, vq->num);
            return -1;
        }
        i = c.next;
    }
    vq_break(vq, "chain at head %u longer than queue size %u (a loop)", head, vq->num);
    return -1;

done:
    vq->last_avail_idx++;
    vq->inuse++;
    vq->pops++;
    /* 2.7.10: with EVENT_IDX the device asks to be notified once the
     * driver makes the next entry available; kept current on every pop
     * while notifications are wanted (set_notification(false) stops it) */
    if (vq->event_idx && vq->notification) {
        used_avail_event_write(vq, vq->last_avail_idx);
    }
    return 1;
}

void virtqueue_unpop(VirtQueue *vq, unsigned n)
{
    /* only what was popped and not yet flushed can be given back */
    if (n > vq->inuse) {
        n = vq->inuse;
    }
    vq->last_avail_idx = (uint16_t)(vq->last_avail_idx - n);
    vq->inuse -= n;
}

/* --- the used side ----------------------------------------------------- */

void virtqueue_fill(VirtQueue *vq, const VirtQueueElement *e, uint32_t len, unsigned idx)
{
    /* Writes land in the used ring only: mapped at start and checked to
     * be in RAM. A broken queue may still return what it had popped (the
     * driver is told to reset; the entries are harmless). */
    if (!vq->enabled || !vq->used) {
        return;
    }
    /* 2.7.8: len is the bytes written into the device-writable buffers;
     * never more than they hold, whatever a device computed */
    if (len > e->in_len) {
        len = (uint32_t)e->in_len;
    }
    uint16_t slot = (uint16_t)(vq->used_idx + idx) & (uint16_t)(vq->num - 1);
    struct vring_used_elem *u = &vq->used->ring[slot];
    __atomic_store_n(&u->id, htole32(e->index), __ATOMIC_RELAXED);
    __atomic_store_n(&u->len, htole32(len), __ATOMIC_RELAXED);
}

void virtqueue_flush(VirtQueue *vq, unsigned count)
{
    if (!vq->enabled || !vq->used) {
        return;
    }
    uint16_t old = vq->used_idx;
    uint16_t new = (uint16_t)(old + count);
    vq->used_idx = new;
    vq->inuse = count > vq->inuse ? 0 : vq->inuse - count;
    vq->pushes += count;
    /* Release: the entries written by fill are visible before the index
     * that covers them (2.7.8.2: the device sets len before it updates
     * idx; 2.7.14: a write barrier between entry and index). */
    __atomic_store_n(&vq->used->idx, htole16(new), __ATOMIC_RELEASE);
    /* If the index moved past the value last signalled, the 16-bit window
     * vring_need_event compares over (old, new] no longer says whether the
     * driver was told: forget it, the next should_notify notifies. */
    if ((uint16_t)(new - vq->signalled_used) < (uint16_t)(new - old)) {
        vq->signalled_used_valid = false;
    }
}

void virtqueue_push(VirtQueue *vq, const VirtQueueElement *e, uint32_t len)
{
    virtqueue_fill(vq, e, len, 0);
    virtqueue_flush(vq, 1);
}

/* --- notifications ----------------------------------------------------- */

/* 2.7.7: the driver wants an interrupt when the used index passes
 * used_event, i.e. when used_event lies in [old, new) modulo 2^16 (the
 * entries published since the last notification). */
static bool need_event(uint16_t event, uint16_t new, uint16_t old)
{
    return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

bool virtqueue_should_notify(VirtQueue *vq)
{
    if (!vq->enabled || !vq->avail) {
        return false;
    }
    /* The used index we just published must be globally visible before we
     * read the driver's suppression state; the driver does the mirror
     * image (writes flags/used_event, barrier, reads idx). Without a full
     * barrier both sides can miss each other: a lost interrupt. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);

    bool notify;
    if (!vq->event_idx) {
        /* 2.7.7: "VIRTQ_AVAIL_F_NO_INTERRUPT": the driver asks for no
         * interrupt (a hint; honoured) */
        notify = !(avail_flags(vq) & VRING_AVAIL_F_NO_INTERRUPT);
    } else {
        uint16_t old = vq->signalled_used;
        uint16_t new = vq->used_idx;
        bool valid = vq->signalled_used_valid;
        vq->signalled_used = new;
        vq->signalled_used_valid = true;
        /* 2.7.7.2: notify if used_event is among the entries published
         * since the last notification; with no last notification to
         * compare with, notify (a spurious interrupt is harmless, a lost
         * one is not) */
        notify = !valid || need_event(avail_used_event(vq), new, old);
    }
    if (notify) {
        vq->notifies_sent++;
    } else {
        vq->notifies_suppressed++;
    }
    return notify;
}

void virtqueue_set_notification(VirtQueue *vq, bool enable)
{
    vq->notification = enable;
    if (!vq->enabled || !vq->used) {
        return;
    }
    if (vq->event_idx) {
        /* 2.7.10: with EVENT_IDX, used->flags is not consulted by the
         * driver; notifications are asked for by moving avail_event to
         * the current avail index (the next entry added notifies).
         * Disabling just leaves avail_event behind: the driver stops
         * notifying once it has passed it. */
        if (enable) {
            used_avail_event_write(vq, avail_idx_read(vq));
        }
    } else if (enable) {
        used_flags_update(vq, 0, VRING_USED_F_NO_NOTIFY);
    } else {
        /* 2.7.10: VIRTQ_USED_F_NO_NOTIFY, a hint the driver may ignore */
        used_flags_update(vq, VRING_USED_F_NO_NOTIFY, 0);
    }
    /* The new flags / avail_event must be visible before the caller
     * re-reads avail->idx (virtqueue_empty): otherwise the driver may add
     * a chain, see the old state, skip the notify, and we miss it. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
