/* The main loop: one epoll thread serving fd handlers and timers.
 *
 * Locking: one global "device lock" (like QEMU's BQL) serialises all device
 * model code. The loop holds it while it runs fd handlers, timers and bottom
 * halves; the vCPU loop holds it while it dispatches an MMIO/PIO exit. Device
 * code therefore never takes a lock of its own. */
#ifndef E1KVM_CORE_LOOP_H
#define E1KVM_CORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef void (*IOHandler)(void *opaque);

void device_lock(void);
void device_unlock(void);
/* How long at most the main loop, about to take the device lock for a round,
 * lets a thread already waiting for it go first (with more than one CPU). */
#define DEVICE_LOCK_HANDOFF_NS 1000000
/* Threads waiting for the device lock now (tests: a waiter provably waits). */
int device_lock_waiters(void);

/* Create the loop (idempotent). */
int loop_init(void);
/* Watch fd for readability / writability; NULL handlers stop watching. */
void loop_set_fd_handler(int fd, IOHandler read_cb, IOHandler write_cb, void *opaque);
/* Run until loop_quit(); returns the exit code passed to loop_quit(). */
int loop_run(void);
/* Adaptive polling: how long at most the loop looks for events without
 * sleeping once it is idle (0: never poll). */
#define LOOP_POLL_MAX_NS_DEFAULT 32000
void loop_set_poll_max_ns(int64_t ns);
/* The current polling window in ns (tests). */
int64_t loop_poll_ns(void);

/* What the loop and the device lock did since start (-stats, QMP). */
typedef struct LoopStats {
    uint64_t rounds;           /* rounds of events handled */
    uint64_t sleeps;           /* times the loop slept in epoll_wait */
    uint64_t poll_hits;        /* times polling found events: a sleep saved */
    int64_t poll_ns;           /* the polling window now */
    int64_t poll_max_ns;       /* its limit */
    uint64_t lock_contended;   /* device_lock calls that found it held */
    uint64_t lock_slept;       /* ... that had to sleep for it */
    uint64_t lock_handoffs;    /* rounds that let a waiting thread go first */
    uint64_t lock_wait_ns;     /* time those waited, in all */
    uint64_t lock_wait_max_ns; /* the longest wait */
} LoopStats;
void loop_stats(LoopStats *out);
void loop_stats_print(FILE *f);
/* Ask the loop to stop (safe from any thread and from signal handlers). */
void loop_quit(int code);
bool loop_quitting(void);
/* Forget a previous loop_quit() (the VM boots again after a reset). */
void loop_reset_quit(void);

/* Monotonic clock in ns (CLOCK_MONOTONIC, or the test clock if set). */
int64_t clock_ns(void);
/* Unit tests: replace the clock by *now_ns (NULL restores the real one). */
void clock_set_fake(const int64_t *now_ns);

typedef struct Timer Timer;
Timer *timer_new(void (*cb)(void *opaque), void *opaque);
void timer_free(Timer *t);
/* Arm (or re-arm) the timer to fire at absolute clock_ns() time expire_ns. */
void timer_mod(Timer *t, int64_t expire_ns);
void timer_del(Timer *t);
bool timer_pending(const Timer *t);
int64_t timer_expire_time(const Timer *t);
/* Run every timer whose deadline is <= clock_ns(); returns how many ran.
 * Called by the loop; unit tests call it after advancing the fake clock. */
int timers_run_expired(void);

/* Bottom half: a callback scheduled to run once soon on the loop thread. */
typedef struct BottomHalf BottomHalf;
BottomHalf *bh_new(void (*cb)(void *opaque), void *opaque);
void bh_schedule(BottomHalf *bh);
/* Unit tests: run scheduled bottom halves now. */
int bh_run_pending(void);

#endif
