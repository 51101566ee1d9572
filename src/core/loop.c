/* Main loop: epoll over fd handlers, a timerfd for the earliest timer, and an
 * eventfd to wake the loop from other threads (timer re-armed, bottom half
 * scheduled, quit). Timers use a timerfd rather than epoll's millisecond
 * timeout because interrupt moderation (ITR, RDTR) needs microseconds. */
#include "core/loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;

void device_lock(void)
{
    pthread_mutex_lock(&dev_lock);
}

void device_unlock(void)
{
    pthread_mutex_unlock(&dev_lock);
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
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
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

/* Re-arm the timerfd to the earliest pending timer (caller holds the lock). */
static void timers_rearm(void)
{
    if (tfd < 0)
        return;
    struct itimerspec its = {0};
    if (timers) {
        int64_t t = timers->expire > 0 ? timers->expire : 1;
        its.it_value.tv_sec = t / 1000000000LL;
        its.it_value.tv_nsec = t % 1000000000LL;
    }
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
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

int loop_run(void)
{
    if (loop_init() < 0)
        return 1;
    struct epoll_event evs[32];
    while (!quit_requested) {
        int n = epoll_wait(epfd, evs, 32, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        device_lock();
        for (int i = 0; i < n && !quit_requested; i++) {
            int fd = evs[i].data.fd;
            if (fd == wakefd || fd == tfd) {
                uint64_t v;
                ssize_t r = read(fd, &v, sizeof(v));
                (void)r;
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
        device_unlock();
    }
    return quit_code;
}
