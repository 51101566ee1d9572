/* The sandbox (util/sandbox.c): the seccomp policy e1kvm installs with
 * -sandbox on, and -runas. Each check forks a child that installs the very
 * same filter through the same API and then tries one thing:
 *   - what the VMM does while it runs a guest must work (threads, epoll,
 *     eventfd, timerfd, mmap, reading the kernel again, KVM ioctls' path);
 *   - anything else must kill the child with SIGSYS: execve, fork, socket,
 *     open for writing, executable mappings, ptrace, setuid, foreign ioctls.
 * /proc/self/status must say "Seccomp: 2" (filter mode) in the child. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

typedef void (*ChildFn)(void);

/* Run fn in a child that installed the filter (cfg) first. Returns the
 * child's wait status. The child never returns into cmocka: it _exit()s
 * (no atexit handlers, no LeakSanitizer pass after the filter is in). */
static int run_sandboxed(const SandboxConfig *cfg, ChildFn fn)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        Error err = {{0}};
        if (sandbox_enter(cfg, &err) < 0) {
            fprintf(stderr, "sandbox_enter: %s\n", err.msg);
            _exit(100);
        }
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void expect_killed(const SandboxConfig *cfg, ChildFn fn, const char *what)
{
    int st = run_sandboxed(cfg, fn);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS) {
        fail_msg("%s: expected death by SIGSYS, got %s %d", what,
                 WIFSIGNALED(st) ? "signal" : "exit code",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
}

static void expect_ok(const SandboxConfig *cfg, ChildFn fn, const char *what)
{
    int st = run_sandboxed(cfg, fn);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fail_msg("%s: expected exit 0, got %s %d", what, WIFSIGNALED(st) ? "signal" : "exit code",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
}

static const SandboxConfig plain = {0};

/* ---- what the VMM does at run time ---- */

static void *thread_fn(void *arg)
{
    prctl(PR_SET_NAME, "vcpu0", 0, 0, 0);
    return arg;
}

static int timer_fd = -1, pipe_fd[2] = {-1, -1};

static void child_runtime(void)
{
    /* the filter is on, in mode 2 */
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        _exit(1);
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        _exit(2);
    }
    buf[n] = '\0';
    if (!strstr(buf, "Seccomp:\t2")) {
        _exit(3);
    }
    /* threads (vCPUs are created on every boot) */
    pthread_t t;
    if (pthread_create(&t, NULL, thread_fn, buf) != 0 || pthread_join(t, NULL) != 0) {
        _exit(4);
    }
    /* the loop's primitives */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep < 0 || ev < 0) {
        _exit(5);
    }
    struct epoll_event e = {.events = EPOLLIN, .data.fd = ev};
    uint64_t one = 1;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) < 0 || write(ev, &one, 8) != 8 ||
        epoll_wait(ep, &e, 1, 1000) != 1 || read(ev, &one, 8) != 8) {
        _exit(6);
    }
    struct itimerspec its = {.it_value = {.tv_nsec = 1000}};
    if (timerfd_settime(timer_fd, 0, &its, NULL) < 0) {
        _exit(7);
    }
    /* guest RAM comes and goes with every boot */
    void *p = mmap(NULL, 1 << 22, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED || madvise(p, 1 << 22, MADV_DONTDUMP) < 0 || munmap(p, 1 << 22) < 0) {
        _exit(8);
    }
    /* console output, time, a short sleep */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    struct timespec d = {.tv_nsec = 1000};
    nanosleep(&d, NULL);
    if (write(pipe_fd[1], "x", 1) != 1) {
        _exit(9);
    }
    /* reading the kernel again on a guest reboot */
    fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        _exit(10);
    }
    close(fd);
    /* a forbidden clone3 only fails (glibc then uses clone) */
    if (syscall(435 /* clone3 */, NULL, 0) != -1 || errno != ENOSYS) {
        _exit(11);
    }
}

static void test_runtime_allowed(void **state)
{
    (void)state;
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    assert_true(timer_fd >= 0);
    assert_int_equal(pipe(pipe_fd), 0);
    expect_ok(&plain, child_runtime, "what the VMM does at run time");
    char c;
    assert_int_equal(read(pipe_fd[0], &c, 1), 1);
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    close(timer_fd);
}

/* ---- what it must never do ---- */

static void child_execve(void)
{
    char *argv[] = {"/bin/true", NULL};
    char *envp[] = {NULL};
    execve("/bin/true", argv, envp);
    _exit(50); /* not reached: execve either kills or runs /bin/true */
}

static void child_fork(void)
{
    pid_t p = fork();
    if (p == 0) {
        _exit(0);
    }
    _exit(51);
}

static void child_socket_inet(void)
{
    socket(AF_INET, SOCK_STREAM, 0);
    _exit(52);
}

static void child_socket_packet(void)
{
    socket(AF_PACKET, SOCK_RAW, 0);
    _exit(53);
}

static void child_socket_inet_ok(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    _exit(s >= 0 ? 0 : 54);
}

static void child_open_write(void)
{
    open("/tmp/e1kvm-sandbox-test-must-not-exist", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    _exit(55);
}

static void child_open_rdwr(void)
{
    open("/dev/null", O_RDWR | O_CLOEXEC);
    _exit(56);
}

static void child_mmap_exec(void)
{
    mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    _exit(57);
}

static void child_mprotect_exec(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p, 4096, PROT_READ | PROT_EXEC);
    _exit(58);
}

static void child_ptrace(void)
{
    ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    _exit(59);
}

static void child_setuid(void)
{
    setuid(0);
    _exit(60);
}

static void child_foreign_ioctl(void)
{
    /* a network interface ioctl (not KVM's, not the console's) */
    ioctl(0, 0x8913 /* SIOCGIFFLAGS */, NULL);
    _exit(61);
}

static void child_unlink(void)
{
    unlink("/tmp/e1kvm-sandbox-test-must-not-exist");
    _exit(62);
}

static void child_unlink_allowed(void)
{
    int r = unlink("/tmp/e1kvm-sandbox-test-must-not-exist");
    _exit(r < 0 && errno == ENOENT ? 0 : 63);
}

static void child_prctl_other(void)
{
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    _exit(64);
}

static void test_forbidden_killed(void **state)
{
    (void)state;
    expect_killed(&plain, child_execve, "execve");
    expect_killed(&plain, child_socket_inet, "socket(AF_INET)");
    expect_killed(&plain, child_open_write, "open O_WRONLY|O_CREAT");
    expect_killed(&plain, child_open_rdwr, "open O_RDWR");
    expect_killed(&plain, child_mmap_exec, "mmap PROT_EXEC");
    expect_killed(&plain, child_mprotect_exec, "mprotect PROT_EXEC");
    expect_killed(&plain, child_setuid, "setuid");
    expect_killed(&plain, child_foreign_ioctl, "ioctl SIOCGIFFLAGS");
    expect_killed(&plain, child_unlink, "unlink");
    if (!SANITIZED) {
        /* the ASan/LSan runtime needs these at exit: its build allows them */
        expect_killed(&plain, child_fork, "fork");
        expect_killed(&plain, child_ptrace, "ptrace");
        expect_killed(&plain, child_prctl_other, "prctl(PR_SET_DUMPABLE)");
    }
}

static void test_config_widens(void **state)
{
    (void)state;
    SandboxConfig net = {.host_sockets = true};
    expect_ok(&net, child_socket_inet_ok, "-netdev user: socket(AF_INET)");
    expect_killed(&net, child_socket_packet, "-netdev user: socket(AF_PACKET)");
    expect_killed(&net, child_execve, "-netdev user: execve");
    SandboxConfig qmp = {.unlink = true};
    expect_ok(&qmp, child_unlink_allowed, "-qmp unix: unlink");
    expect_killed(&qmp, child_socket_inet, "-qmp unix: socket(AF_INET)");
}

/* ---- -runas ---- */

static void test_lookup_user(void **state)
{
    (void)state;
    uid_t u;
    gid_t g;
    Error err = {{0}};
    assert_int_equal(sandbox_lookup_user("root", &u, &g, &err), 0);
    assert_int_equal(u, 0);
    assert_int_equal(g, 0);
    assert_int_equal(sandbox_lookup_user("65534:65533", &u, &g, &err), 0);
    assert_int_equal(u, 65534);
    assert_int_equal(g, 65533);
    assert_int_equal(sandbox_lookup_user("4242", &u, &g, &err), 0);
    assert_int_equal(u, 4242);
    static const char *const bad[] = {"",   "e1kvm-no-such-user", "1:x", ":1", "-1",
                                      "1:", "99999999999"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sandbox_lookup_user(bad[i], &u, &g, &err), -1);
        assert_non_null(strstr(err.msg, "-runas"));
    }
}

static void test_runas(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        Error err = {{0}};
        if (sandbox_runas(65534, 65534, &err) < 0) {
            _exit(1);
        }
        gid_t groups[8];
        int n = getgroups(8, groups);
        if (getuid() != 65534 || geteuid() != 65534 || getgid() != 65534 || getegid() != 65534 ||
            n != 1 || groups[0] != 65534) {
            _exit(2);
        }
        if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) {
            _exit(3); /* root is gone for good */
        }
        /* and then the filter on top, as e1kvm does */
        if (sandbox_enter(&plain, &err) < 0) {
            _exit(4);
        }
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    if (!sandbox_available()) {
        fprintf(stderr, "seccomp is not available here\n");
        return 77; /* skipped */
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runtime_allowed), cmocka_unit_test(test_forbidden_killed),
        cmocka_unit_test(test_config_widens),   cmocka_unit_test(test_lookup_user),
        cmocka_unit_test(test_runas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
