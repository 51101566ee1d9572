/* The main loop's concurrency (core/loop.c): a thread waiting for the device
 * lock gets it although the loop keeps re-taking it for work that never
 * ends, and the loop's adaptive polling window grows under a stream of
 * events and drops to nothing after a long sleep. The loop runs in its own
 * thread, as in e1kvm; handlers are fed through eventfds. The timerfd is
 * set only when it must be, yet every timer fires on time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *loop_thread(void *arg)
{
    (void)arg;
    loop_run();
    return NULL;
}

static pthread_t loop_start(void)
{
    pthread_t t;
    loop_reset_quit();
    assert_int_equal(loop_init(), 0);
    assert_int_equal(pthread_create(&t, NULL, loop_thread, NULL), 0);
    return t;
}

static void loop_stop(pthread_t t)
{
    loop_quit(0);
    pthread_join(t, NULL);
}

/* A device that always has work: its eventfd stays readable and each run
 * holds the lock for RUN_NS, as a TX run over a full ring does. */
#define RUN_NS 300000
static atomic_int runs;

static void busy_run(void *opaque)
{
    (void)opaque;
    int64_t until = now_ns() + RUN_NS;
    while (now_ns() < until) {
    }
    runs++;
}

static void test_lock_waiter_goes_first(void **state)
{
    (void)state;
    int fd = eventfd(1, EFD_NONBLOCK); /* never read: ready in every round */
    assert_true(fd >= 0);
    runs = 0;
    loop_set_fd_handler(fd, busy_run, NULL, NULL);
    pthread_t t = loop_start();
    while (runs < 3) {
        usleep(100);
    }

    /* Without the hand-over the loop re-takes the mutex the moment it lets it
     * go, and a waiter asleep on it starves for seconds. */
    LoopStats before, after;
    loop_stats(&before);
    int64_t worst = 0;
    for (int i = 0; i < 50; i++) {
        int64_t t0 = now_ns();
        device_lock();
        int64_t waited = now_ns() - t0;
        device_unlock();
        worst = waited > worst ? waited : worst;
        usleep(200);
    }
    int total_runs = runs;
    loop_set_fd_handler(fd, NULL, NULL, NULL);
    loop_stop(t);
    close(fd);
    loop_stats(&after);
    /* the statistics saw it: takes that found the lock held, hand-overs,
     * a longest wait, rounds */
    assert_true(after.lock_contended >= before.lock_contended + 1);
    assert_true(after.lock_handoffs >= before.lock_handoffs + 1);
    assert_true(after.lock_wait_max_ns > 0);
    assert_true(after.rounds > before.rounds + 10);
    print_message("# device lock: worst wait %.2f ms over 50 takes, %d device runs of %d us\n",
                  worst / 1e6, total_runs, RUN_NS / 1000);
    assert_true(total_runs > 10);               /* the device did keep running */
    assert_true(worst < 100 * (int64_t)RUN_NS); /* a run or a few (a busy host), never seconds */
}

static int ev_fd = -1;
static atomic_int handled;

static void drain(void *opaque)
{
    (void)opaque;
    uint64_t v;
    if (read(ev_fd, &v, sizeof(v)) == sizeof(v))
        handled++;
}

static void signal_and_wait(void)
{
    int before = handled;
    uint64_t one = 1;
    assert_int_equal(write(ev_fd, &one, sizeof(one)), sizeof(one));
    for (int64_t until = now_ns() + 1000000000LL; handled == before && now_ns() < until;) {
    }
    assert_true(handled > before);
}

static void test_poll_window_adapts(void **state)
{
    (void)state;
    ev_fd = eventfd(0, EFD_NONBLOCK);
    assert_true(ev_fd >= 0);
    loop_set_poll_max_ns(2000000); /* 2 ms: generous for a loaded or ASan host */
    loop_set_fd_handler(ev_fd, drain, NULL, NULL);
    pthread_t t = loop_start();

    /* idle: a first event after a long sleep, no window */
    usleep(20000);
    signal_and_wait();
    assert_int_equal(loop_poll_ns(), 0);

    /* a stream of events 50 us apart: the window opens and grows */
    LoopStats before, after;
    loop_stats(&before);
    int64_t widest = 0;
    for (int i = 0; i < 400; i++) {
        signal_and_wait();
        for (int64_t until = now_ns() + 50000; now_ns() < until;) {
        }
        int64_t w = loop_poll_ns();
        widest = w > widest ? w : widest;
    }
    print_message("# adaptive polling: widest window %.1f us under events 50 us apart\n",
                  widest / 1e3);
    assert_true(widest >= 8000);
    loop_stats(&after);
    assert_true(after.poll_hits > before.poll_hits); /* sleeps saved, counted */
    assert_int_equal(after.poll_max_ns, 2000000);

    /* a sleep longer than the limit closes it again */
    usleep(50000);
    signal_and_wait();
    usleep(1000);
    assert_int_equal(loop_poll_ns(), 0);

    /* limit 0: never polls */
    loop_set_poll_max_ns(0);
    for (int i = 0; i < 50; i++) {
        signal_and_wait();
    }
    assert_int_equal(loop_poll_ns(), 0);

    loop_set_fd_handler(ev_fd, NULL, NULL, NULL);
    loop_stop(t);
    close(ev_fd);
    loop_set_poll_max_ns(LOOP_POLL_MAX_NS_DEFAULT);
}

/* Timers: the timerfd is set only when it would not fire in time, and a
 * timer the loop itself makes due runs in the next round without it. */
typedef struct TimerProbe {
    Timer *t;
    atomic_int fired;
    _Atomic int64_t fired_at;
    int chain; /* re-arm for "now" this many more times from the callback */
} TimerProbe;

static void probe_cb(void *opaque)
{
    TimerProbe *p = opaque;
    p->fired_at = now_ns();
    p->fired++;
    if (p->chain > 0) {
        p->chain--;
        timer_mod(p->t, clock_ns()); /* due at once: no timerfd, the loop looks again */
    }
}

static int64_t arm_from_here(TimerProbe *p, int64_t in_ns)
{
    device_lock();
    int64_t at = now_ns();
    timer_mod(p->t, at + in_ns);
    device_unlock();
    return at;
}

static void wait_fired(TimerProbe *p, int want, int64_t limit_ns)
{
    for (int64_t until = now_ns() + limit_ns; p->fired < want && now_ns() < until;) {
        usleep(100);
    }
}

static void test_timers_without_needless_timerfd(void **state)
{
    (void)state;
    loop_set_poll_max_ns(0); /* no polling: a wrong timerfd would hang a round */
    pthread_t t = loop_start();
    TimerProbe a = {0}, b = {0};
    a.t = timer_new(probe_cb, &a);
    b.t = timer_new(probe_cb, &b);

    /* from another thread: the timerfd wakes the sleeping loop on time */
    int64_t at = arm_from_here(&a, 5000000);
    wait_fired(&a, 1, 2000000000LL);
    assert_int_equal(a.fired, 1);
    assert_true(a.fired_at - at >= 5000000);

    /* a later expiry after a stale one: the loop wakes for nothing at the
     * stale time, then re-arms for the real one */
    a.fired = 0;
    arm_from_here(&a, 30000000);
    device_lock();
    timer_del(a.t);
    device_unlock();
    at = arm_from_here(&b, 60000000);
    wait_fired(&b, 1, 2000000000LL);
    assert_int_equal(b.fired, 1);
    assert_int_equal(a.fired, 0);
    assert_true(b.fired_at - at >= 60000000);

    /* an earlier expiry than the one set: armed again, fires first */
    a.fired = b.fired = 0;
    at = arm_from_here(&a, 200000000);
    arm_from_here(&b, 10000000);
    wait_fired(&b, 1, 2000000000LL);
    assert_int_equal(b.fired, 1);
    assert_int_equal(a.fired, 0);
    assert_true(b.fired_at - at < 150000000);
    wait_fired(&a, 1, 2000000000LL);
    assert_int_equal(a.fired, 1);

    /* a chain of 2000 runs each due at once (a TX run continuing): every
     * one runs, without the loop ever sleeping on a timerfd not set */
    b.fired = 0;
    b.chain = 1999;
    int64_t t0 = arm_from_here(&b, 0);
    wait_fired(&b, 2000, 5000000000LL);
    int64_t took = now_ns() - t0;
    print_message("# 2000 timer rounds due at once: %.1f ms\n", took / 1e6);
    assert_int_equal(b.fired, 2000);

    device_lock();
    timer_free(a.t);
    timer_free(b.t);
    device_unlock();
    loop_stop(t);
    loop_set_poll_max_ns(LOOP_POLL_MAX_NS_DEFAULT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_waiter_goes_first),
        cmocka_unit_test(test_poll_window_adapts),
        cmocka_unit_test(test_timers_without_needless_timerfd),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
