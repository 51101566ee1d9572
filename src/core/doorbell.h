/* Doorbells: device registers whose guest writes KVM turns into eventfd
 * signals instead of VM exits (ioeventfds), offered to any device.
 *
 * A doorbell is one register of a MemoryRegion (a ring tail, a virtio
 * notify address). Values get an ioeventfd each, with the value as
 * datamatch: a write of a known value does not leave KVM, the vCPU goes on
 * at once, and the main loop learns later which values were written. The
 * device chooses which values to learn (doorbell_learn), typically each one
 * as the guest first writes it: the service calls the device's `exited`
 * hook for every write of the doorbell's width that did exit.
 *
 * The doorbells of one device form a group: one fd in the main loop, and
 * one cheap call (doorbell_group_take) that the device makes before every
 * register access, so that the guest never sees its writes out of order
 * (reading a tail back, or a value without a doorbell written after one
 * with). A group delivers, per doorbell, the values that rang since the last
 * take in one `rang` call: the device decides what they mean (the newest
 * tail, or every queue notified).
 *
 * The device owns no eventfd or epoll fd. Nothing here is thread-safe:
 * callers hold the device lock (core/loop.h). */
#ifndef E1KVM_CORE_DOORBELL_H
#define E1KVM_CORE_DOORBELL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/memory.h"

/* at most this many doorbells per group */
#define DOORBELL_GROUP_MAX 16

typedef struct Doorbell Doorbell;
typedef struct DoorbellGroup DoorbellGroup;

typedef struct DoorbellOps {
    /* values[0..n-1]: the values written through eventfds since the last
     * take (n >= 1, in no particular order; one written again while the
     * group looks may appear twice) */
    void (*rang)(void *opaque, const uint32_t *values, unsigned n);
    /* a write of the doorbell's width that exited (it had no eventfd yet,
     * or its eventfd came after the write was on its way); the write op has
     * run already. NULL: learn the value written. */
    void (*exited)(void *opaque, uint32_t value);
} DoorbellOps;

/* A group whose fd is watched by the main loop; NULL if out of fds. */
DoorbellGroup *doorbell_group_new(void);
/* Every doorbell of the group released: ioeventfds unregistered, fds
 * closed, the loop handler removed. NULL is ignored. */
void doorbell_group_free(DoorbellGroup *g);
/* A doorbell for len-byte writes at offset of mr, with room for at most
 * max_values learnt values; NULL when the group is full. Doorbells ring in
 * the order they were added. */
Doorbell *doorbell_add(DoorbellGroup *g, MemoryRegion *mr, uint64_t offset, uint32_t len,
                       uint32_t max_values, const DoorbellOps *ops, void *opaque);
/* Give value an eventfd. True if it has one now; false when the doorbell
 * is full or KVM refused (then the doorbell learns no more and the writes
 * keep exiting). */
bool doorbell_learn(Doorbell *d, uint32_t value);
bool doorbell_known(const Doorbell *d, uint32_t value);
/* how many values have an eventfd */
uint32_t doorbell_count(const Doorbell *d);
/* Deliver what rang (see DoorbellOps.rang). Costs nothing while no value
 * was learnt, one non-blocking epoll_wait otherwise. */
void doorbell_group_take(DoorbellGroup *g);

#endif
