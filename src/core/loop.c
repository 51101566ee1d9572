/* Main loop: epoll over fd handlers, a timerfd for the earliest timer, and an
 * eventfd to wake the loop from other threads (timer re-armed, bottom half
 * scheduled, quit). Timers use a timerfd rather than epoll's millisecond
 * timeout because interrupt moderation (ITR, RDTR) needs microseconds. */
#include "core/loop.h"

#include "qom/object.h"
#include "util/error.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;

/* How long a thread spins for the device lock before it sleeps on it. The
 * lock is held for a register access or one frame's delivery (a few µs),
 * while going to sleep and being woken costs the waiter a futex round trip
 * and a scheduler switch: ~60 µs on the nested development host, a few µs on
 * bare metal. A vCPU that exits while the I/O thread delivers frames would
 * otherwise sleep at most of its exits (bench/pmd.sh RX-FLUSH: ~7,000 sleeps
 * a second). Spinning only pays with a second CPU to run the holder. */
#define DEVICE_LOCK_SPIN_NS 20000
static bool lock_spin;          /* more than one CPU: spinning can pay */
static atomic_int lock_waiters; /* threads in device_lock's slow path */

/* what loop_stats reports (-stats, QMP query-exits "loop") */
static _Atomic uint64_t st_rounds, st_sleeps, st_poll_hits;
static _Atomic uint64_t st_contended, st_slept, st_handoffs, st_wait_ns, st_wait_max_ns;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t real_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* decided once, before main (and so before the sandbox) */
__attribute__((constructor)) static void lock_spin_decide(void)
{
    lock_spin = sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

void device_lock(void)
{
    if (pthread_mutex_trylock(&dev_lock) == 0)
        return;
    atomic_fetch_add(&lock_waiters, 1);
    int64_t t0 = real_clock_ns();
    bool got = false;
    if (lock_spin) {
        int64_t until = t0 + DEVICE_LOCK_SPIN_NS;
        do {
            for (int i = 0; i < 32; i++)
                cpu_relax();
            got = pthread_mutex_trylock(&dev_lock) == 0;
        } while (!got && real_clock_ns() < until);
    }
    if (!got) {
        pthread_mutex_lock(&dev_lock);
        st_slept++;
    }
    atomic_fetch_sub(&lock_waiters, 1);
    uint64_t waited = (uint64_t)(real_clock_ns() - t0);
    st_contended++;
    st_wait_ns += waited;
    uint64_t max = st_wait_max_ns;
    while (waited > max && !atomic_compare_exchange_weak(&st_wait_max_ns, &max, waited)) {
    }
}

/* The main loop takes the lock again for every batch of events. A mutex
 * released and at once re-taken by the same thread would let a vCPU that
 * waits for it starve while the device has work queued (a guest keeping its
 * TX ring full); so a thread already waiting goes first, for at most
 * DEVICE_LOCK_HANDOFF_NS (it may be asleep and need a wake-up). */
static void loop_lock(void)
{
    if (atomic_load(&lock_waiters) > 0) {
        st_handoffs++;
        if (lock_spin) {
            int64_t until = real_clock_ns() + DEVICE_LOCK_HANDOFF_NS;
            while (atomic_load(&lock_waiters) > 0 && real_clock_ns() < until) {
                for (int i = 0; i < 32; i++)
                    cpu_relax();
            }
        } else {
            sched_yield(); /* one CPU: the waiter needs it to run */
        }
    }
    device_lock();
}

void device_unlock(void)
{
    pthread_mutex_unlock(&dev_lock);
}

int device_lock_waiters(void)
{
    return atomic_load(&lock_waiters);
}

typedef struct FdHandler {
    IOHandler read_cb, write_cb;
    void *opaque;
    bool active;
} FdHandler;

struct Timer {
    void (*cb)(void *);
    void *opaque;
    int64_t expire;
    bool pending;
    Timer *next; /* pending list, sorted by expire */
};

struct BottomHalf {
    void (*cb)(void *);
    void *opaque;
    bool scheduled;
    BottomHalf *next;
};

static int epfd = -1, wakefd = -1, tfd = -1;
static FdHandler *handlers;
static int nhandlers;
static Timer *timers;
static BottomHalf *bh_list;
static volatile sig_atomic_t quit_requested;
static volatile sig_atomic_t quit_code;
static const int64_t *fake_clock;

int64_t clock_ns(void)
{
    if (fake_clock)
        return *fake_clock;
    return real_clock_ns();
}

void clock_set_fake(const int64_t *now_ns)
{
    fake_clock = now_ns;
}

static void loop_wake(void)
{
    if (wakefd >= 0) {
        uint64_t one = 1;
        ssize_t r = write(wakefd, &one, sizeof(one));
        (void)r; /* EAGAIN: counter saturated, the loop wakes anyway */
    }
}

int loop_init(void)
{
    if (epfd >= 0)
        return 0;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epfd < 0 || wakefd < 0 || tfd < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = wakefd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev);
    ev.data.fd = tfd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
    return 0;
}

void loop_set_fd_handler(int fd, IOHandler read_cb, IOHandler write_cb, void *opaque)
{
    if (fd < 0 || loop_init() < 0)
        return;
    if (fd >= nhandlers) {
        int n = fd + 64;
        FdHandler *h = realloc(handlers, (size_t)n * sizeof(*h));
        if (!h)
            return;
        memset(h + nhandlers, 0, (size_t)(n - nhandlers) * sizeof(*h));
        handlers = h;
        nhandlers = n;
    }
    FdHandler *h = &handlers[fd];
    struct epoll_event ev = {.data.fd = fd};
    if (read_cb)
        ev.events |= EPOLLIN;
    if (write_cb)
        ev.events |= EPOLLOUT;
    if (!ev.events) {
        if (h->active)
            epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
        memset(h, 0, sizeof(*h));
        return;
    }
    if (epoll_ctl(epfd, h->active ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0 && errno == ENOENT)
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    h->read_cb = read_cb;
    h->write_cb = write_cb;
    h->opaque = opaque;
    h->active = true;
}

/* The timerfd wakes the loop for the earliest timer. Setting it is a system
 * call that reprograms a host timer (a VM exit of its own on a nested host:
 * bench/pmd.sh TX spent a quarter of the I/O thread in timerfd_settime when
 * it was re-armed at every round), so it is set only when it would not fire
 * in time otherwise: never disarmed (a stale expiry wakes the loop once, for
 * nothing), and not at all for a timer the loop thread itself makes due at
 * once, because the loop then does not sleep (loop_run). All under the
 * device lock. */
static int64_t tfd_armed;           /* expiry set and not yet reported; 0: none */
static __thread bool in_loop_round; /* this thread is the loop, in a round */

static void timers_rearm(void)
{
    if (tfd < 0 || !timers)
        return;
    int64_t want = timers->expire > 0 ? timers->expire : 1;
    if (tfd_armed && tfd_armed <= want)
        return; /* fires at or before it; the loop re-arms then */
    if (in_loop_round && want <= clock_ns())
        return; /* due: this round's end sees it and the loop polls */
    struct itimerspec its = {0};
    its.it_value.tv_sec = want / 1000000000LL;
    its.it_value.tv_nsec = want % 1000000000LL;
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    tfd_armed = want;
}

Timer *timer_new(void (*cb)(void *opaque), void *opaque)
{
    Timer *t = calloc(1, sizeof(*t));
    if (t) {
        t->cb = cb;
        t->opaque = opaque;
    }
    return t;
}

void timer_del(Timer *t)
{
    if (!t || !t->pending)
        return;
    for (Timer **pp = &timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    t->pending = false;
    t->next = NULL;
}

void timer_free(Timer *t)
{
    timer_del(t);
    free(t);
}

void timer_mod(Timer *t, int64_t expire_ns)
{
    timer_del(t);
    t->expire = expire_ns;
    t->pending = true;
    Timer **pp = &timers;
    while (*pp && (*pp)->expire <= expire_ns)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    if (timers == t && !fake_clock) {
        timers_rearm();
    }
}

bool timer_pending(const Timer *t)
{
    return t && t->pending;
}

int64_t timer_expire_time(const Timer *t)
{
    return t->pending ? t->expire : -1;
}

int timers_run_expired(void)
{
    int n = 0;
    int64_t now = clock_ns();
    /* bounded: a callback that re-arms itself for "now" runs again only on
     * the next loop iteration */
    for (int budget = 1024; timers && timers->expire <= now && budget > 0; budget--) {
        Timer *t = timers;
        timers = t->next;
        t->pending = false;
        t->next = NULL;
        t->cb(t->opaque);
        n++;
    }
    if (!fake_clock)
        timers_rearm();
    return n;
}

BottomHalf *bh_new(void (*cb)(void *opaque), void *opaque)
{
    BottomHalf *bh = calloc(1, sizeof(*bh));
    if (bh) {
        bh->cb = cb;
        bh->opaque = opaque;
    }
    return bh;
}

void bh_schedule(BottomHalf *bh)
{
    if (bh->scheduled)
        return;
    bh->scheduled = true;
    bh->next = bh_list;
    bh_list = bh;
    loop_wake();
}

int bh_run_pending(void)
{
    int n = 0;
    while (bh_list) {
        BottomHalf *list = bh_list;
        bh_list = NULL;
        while (list) {
            BottomHalf *bh = list;
            list = bh->next;
            bh->scheduled = false;
            bh->next = NULL;
            bh->cb(bh->opaque);
            n++;
        }
    }
    return n;
}

void loop_quit(int code)
{
    if (!quit_requested)
        quit_code = code;
    quit_requested = 1;
    loop_wake();
}

void loop_reset_quit(void)
{
    quit_requested = 0;
    quit_code = 0;
}

bool loop_quitting(void)
{
    return quit_requested;
}

/* Adaptive polling before sleeping, the idea of QEMU's IOThread poll-max-ns:
 * when events keep arriving shortly after the loop went idle (a poll-mode
 * guest ringing TDT every few µs), looking again for a while without
 * sleeping saves the sleep and the wake-up (a scheduler round trip for this
 * thread, and for the vCPU whose ioeventfd write has to wake it: ~9,000 a
 * second in bench/pmd.sh TX before). The window grows while the loop keeps
 * being woken within poll_max_ns of going idle and drops to nothing after a
 * longer sleep, so an idle or lightly used VM never polls. */
static _Atomic int64_t poll_max_ns = LOOP_POLL_MAX_NS_DEFAULT;
static _Atomic int64_t poll_ns; /* the current window (read by other threads) */

void loop_set_poll_max_ns(int64_t ns)
{
    poll_max_ns = ns < 0 ? 0 : ns;
    if (poll_ns > poll_max_ns)
        poll_ns = poll_max_ns;
}

int64_t loop_poll_ns(void)
{
    return poll_ns;
}

static int loop_wait(struct epoll_event *evs, int max, bool timer_due)
{
    if (timer_due)
        return epoll_wait(epfd, evs, max, 0); /* a round is due anyway: just look */
    int64_t start = real_clock_ns(), max_ns = poll_max_ns, window = poll_ns;
    if (window > max_ns)
        window = max_ns; /* the limit was lowered meanwhile */
    if (window > 0) {
        int64_t until = start + window;
        do {
            int n = epoll_wait(epfd, evs, max, 0);
            if (n != 0) {
                st_poll_hits += n > 0;
                return n; /* events (the window was right) or an error */
            }
        } while (real_clock_ns() < until);
    }
    st_sleeps++;
    int n = epoll_wait(epfd, evs, max, -1);
    int64_t slept = real_clock_ns() - start; /* polling included */
    if (slept > max_ns)
        poll_ns = 0; /* polling that long would not have paid */
    else if (slept > window)
        poll_ns =
            window ? (window * 2 < max_ns ? window * 2 : max_ns) : (max_ns < 4000 ? max_ns : 4000);
    return n;
}

int loop_run(void)
{
    if (loop_init() < 0)
        return 1;
    struct epoll_event evs[32];
    bool timer_due = false;
    while (!quit_requested) {
        int n = loop_wait(evs, 32, timer_due);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        loop_lock();
        st_rounds++;
        in_loop_round = true;
        for (int i = 0; i < n && !quit_requested; i++) {
            int fd = evs[i].data.fd;
            if (fd == wakefd || fd == tfd) {
                uint64_t v;
                ssize_t r = read(fd, &v, sizeof(v));
                (void)r;
                if (fd == tfd)
                    tfd_armed = 0;
                continue;
            }
            if (fd >= nhandlers || !handlers[fd].active)
                continue;
            FdHandler h = handlers[fd];
            if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && h.read_cb)
                h.read_cb(h.opaque);
            /* the read handler may have removed or replaced the entry */
            if (fd < nhandlers && handlers[fd].active && handlers[fd].write_cb &&
                (evs[i].events & (EPOLLOUT | EPOLLERR)))
                handlers[fd].write_cb(handlers[fd].opaque);
        }
        timers_run_expired();
        bh_run_pending();
        /* a timer due already (a run that continues in the next round) makes
         * the next wait a look, not a sleep; any other is on the timerfd */
        timer_due = timers && timers->expire <= clock_ns();
        in_loop_round = false;
        if (!timer_due)
            timers_rearm();
        device_unlock();
    }
    return quit_code;
}

void loop_stats(LoopStats *out)
{
    *out = (LoopStats){.rounds = st_rounds,
                       .sleeps = st_sleeps,
                       .poll_hits = st_poll_hits,
                       .poll_ns = poll_ns,
                       .poll_max_ns = poll_max_ns,
                       .lock_contended = st_contended,
                       .lock_slept = st_slept,
                       .lock_handoffs = st_handoffs,
                       .lock_wait_ns = st_wait_ns,
                       .lock_wait_max_ns = st_wait_max_ns};
}

void loop_stats_print(FILE *f)
{
    LoopStats st;
    loop_stats(&st);
    fprintf(f,
            "e1kvm: main loop: %" PRIu64 " rounds, %" PRIu64 " sleeps, %" PRIu64
            " wake-ups saved by polling (window %.1f us, limit %.1f us)\n",
            st.rounds, st.sleeps, st.poll_hits, st.poll_ns / 1e3, st.poll_max_ns / 1e3);
    fprintf(f,
            "e1kvm: device lock: %" PRIu64 " takes found it held (%" PRIu64
            " slept), waited %.1f us"
            " on average, %.1f us at most; %" PRIu64 " rounds let a waiting thread go first\n",
            st.lock_contended, st.lock_slept,
            st.lock_contended ? (double)st.lock_wait_ns / (double)st.lock_contended / 1e3 : 0.0,
            st.lock_wait_max_ns / 1e3, st.lock_handoffs);
}

/* -object main-loop,id=ID,poll-max-ns=N: the polling limit (as QEMU's
 * IOThread poll-max-ns; 0 turns polling off). */
#define STR_(x) #x
#define STR(x) STR_(x) /* the default, as the property's string */
typedef struct MainLoopObject {
    Object obj;
    uint32_t poll_max_ns;
} MainLoopObject;

static int main_loop_realize(Object *obj, Machine *m, Error *err)
{
    (void)m;
    MainLoopObject *ml = (MainLoopObject *)obj;
    if (ml->poll_max_ns > 1000000000u)
        return error_setf(err, "main-loop: poll-max-ns must be at most 1000000000 (1 s), not %u",
                          ml->poll_max_ns);
    loop_set_poll_max_ns(ml->poll_max_ns);
    return 0;
}

static const Property main_loop_props[] = {
    PROP_U32("poll-max-ns", MainLoopObject, poll_max_ns, STR(LOOP_POLL_MAX_NS_DEFAULT),
             "longest the idle loop polls for events before it sleeps (0: never)"),
    PROP_END,
};

static const TypeInfo main_loop_info = {
    .name = "main-loop",
    .kind = TYPE_KIND_OBJECT,
    .desc = "settings of the main loop (adaptive polling)",
    .instance_size = sizeof(MainLoopObject),
    .props = main_loop_props,
    .realize = main_loop_realize,
};

TYPE_REGISTER(main_loop_info)
