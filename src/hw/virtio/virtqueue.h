/* A virtio split virtqueue as the device sees it (Virtual I/O Device
 * (VIRTIO) Version 1.2, section 2.7): the descriptor table, the available
 * ring the driver fills and the used ring the device fills, all in guest
 * RAM.
 *
 * The guest controls every byte of the rings, and writes them while the
 * device reads them. So:
 *  - the ring areas are checked once, when the driver enables the queue
 *    (virtqueue_start): size a power of two <= num_max, each area aligned as
 *    the specification requires and entirely inside RAM; a queue that fails
 *    is never used;
 *  - a descriptor is read once into a local copy before it is checked and
 *    followed (no double fetch); every index is checked against the queue
 *    size, every buffer against RAM (guest_ram_ptr), a chain may not be
 *    longer than the queue size (a loop ends there), an indirect table must
 *    be a multiple of 16 bytes, inside RAM, not nested, not longer than
 *    VIRTQUEUE_MAX_SG; device-writable descriptors must follow the readable
 *    ones;
 *  - the avail index may not run ahead of last_avail_idx by more than the
 *    queue size.
 * Any violation marks the queue broken (vq->broken, with a one-line reason
 * in vq->broken_why): it then pops nothing more, and the device sets
 * DEVICE_NEEDS_RESET. No ring content can make the device loop, crash or
 * touch host memory outside guest RAM.
 *
 * Ordering: the avail index is read with acquire semantics before the
 * entries it covers; used entries are written before the used index is
 * published (release); the notification decisions use a full barrier, as
 * the specification's event-index protocol needs. Callers hold the device
 * lock (core/loop.h). */
#ifndef E1KVM_HW_VIRTIO_VIRTQUEUE_H
#define E1KVM_HW_VIRTIO_VIRTQUEUE_H

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/memory.h"

/* the largest queue a device offers (QEMU's VIRTQUEUE_MAX_SIZE) */
#define VIRTQUEUE_MAX_SIZE 1024
/* the most buffers one element may have (readable + writable) */
#define VIRTQUEUE_MAX_SG 1024

/* One chain the driver made available, mapped to host memory. */
typedef struct VirtQueueElement {
    uint16_t index;   /* head descriptor: what goes into the used ring */
    unsigned out_num; /* device-readable buffers: sg[0 .. out_num) */
    unsigned in_num;  /* device-writable buffers: sg[out_num .. out_num + in_num) */
    size_t out_len;   /* bytes in the readable buffers */
    size_t in_len;    /* bytes in the writable buffers */
    struct iovec sg[VIRTQUEUE_MAX_SG];
} VirtQueueElement;

static inline struct iovec *virtqueue_elem_in(VirtQueueElement *e)
{
    return e->sg + e->out_num;
}

typedef struct VirtQueue {
    /* set by the transport from the driver's writes (common config) */
    uint16_t num;     /* queue size the driver chose */
    uint16_t num_max; /* the most the device offers (<= VIRTQUEUE_MAX_SIZE) */
    uint64_t desc_gpa, avail_gpa, used_gpa;
    bool enabled;   /* queue_enable was written 1 and virtqueue_start took it */
    bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
    bool indirect;  /* VIRTIO_RING_F_INDIRECT_DESC negotiated */

    /* the device's side, from virtqueue_start on */
    const GuestMemory *ram;
    struct vring_desc *desc;   /* host pointers into guest RAM */
    struct vring_avail *avail; /* ring[num] then used_event */
    struct vring_used *used;   /* ring[num] then avail_event */
    uint16_t last_avail_idx;   /* next available entry to take */
    uint16_t shadow_avail_idx; /* the driver's avail->idx as last read */
    uint16_t used_idx;         /* used->idx after the next flush */
    unsigned inuse;            /* popped, not yet flushed */
    uint16_t signalled_used;   /* used index when the driver was last notified */
    bool signalled_used_valid;
    bool notification; /* the device wants notifies (set_notification) */
    bool broken;
    char broken_why[96];

    /* statistics */
    uint64_t pops, pushes, notifies_sent, notifies_suppressed;
} VirtQueue;

/* Validate and map the rings (num, desc_gpa, avail_gpa, used_gpa set): 0,
 * or -1 with vq->broken set and the reason in broken_why. Resets the
 * device-side indexes to 0. */
int virtqueue_start(VirtQueue *vq, const GuestMemory *ram);
/* Back to the state after device reset: disabled, addresses 0, num =
 * num_max, indexes 0, not broken (statistics kept). */
void virtqueue_reset(VirtQueue *vq);
/* Is there no available chain to pop? (true when broken or disabled:
 * there is nothing to pop then either) */
bool virtqueue_empty(VirtQueue *vq);
/* How many chains the driver has made available and the device not popped
 * yet (0 when disabled, broken, or the index runs ahead: pop says so). */
unsigned virtqueue_avail_count(VirtQueue *vq);
/* Take the next available chain: 1 (e filled), 0 (none available, or the
 * queue is not enabled), -1 (malformed: the queue is broken now, and every
 * pop after says so again; e is not valid). Zero-length buffers are
 * accepted and leave no iovec: every sg entry has at least one byte. */
int virtqueue_pop(VirtQueue *vq, VirtQueueElement *e);
/* Give back the last n popped and not yet filled chains (a receive that
 * found too few buffers for a frame): the next pop returns them again. */
void virtqueue_unpop(VirtQueue *vq, unsigned n);
/* Put e into the used ring at position used_idx + idx with len bytes
 * written (len is clamped to e->in_len), without publishing it. fill and
 * flush work on a broken queue too (what was popped may still be given
 * back), not on one that is not enabled. */
void virtqueue_fill(VirtQueue *vq, const VirtQueueElement *e, uint32_t len, unsigned idx);
/* Publish count filled entries: the used index moves on by count. */
void virtqueue_flush(VirtQueue *vq, unsigned count);
/* fill(e, len, 0) + flush(1) */
void virtqueue_push(VirtQueue *vq, const VirtQueueElement *e, uint32_t len);
/* After a flush: does the driver want an interrupt for what was published
 * since it was last notified (VRING_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX
 * the used_event index)? True means: notify now (it records that it did). */
bool virtqueue_should_notify(VirtQueue *vq);
/* Ask the driver for (enable) or spare the device (disable) its notifies:
 * VRING_USED_F_NO_NOTIFY, or with EVENT_IDX the avail_event index set to
 * the current avail index (and, while enabled, moved on to last_avail_idx
 * by each pop; disabling leaves it behind). After enabling, check
 * virtqueue_empty again: the driver may have added a chain before it saw
 * the change. */
void virtqueue_set_notification(VirtQueue *vq, bool enable);

#endif
