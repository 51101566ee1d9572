/* -sandbox and -runas: see sandbox.h and docs/SECURITY.md.
 *
 * The seccomp policy is an allow list built with libseccomp. Its default
 * action is SCMP_ACT_KILL_PROCESS: a VMM that makes a system call it never
 * makes in normal operation has been subverted (or has a bug we want to see
 * at once), and the safe thing is to stop every thread of it before it does
 * anything else. EPERM would let an attacker probe the policy and carry on;
 * a SIGSYS trap handler could be replaced by one (rt_sigaction is allowed).
 * The kernel logs the killed system call ("audit: type=1326 ... syscall=N"
 * in dmesg); `-sandbox off` runs without the filter.
 *
 * What the list covers, and why (x86_64 names):
 *   - I/O on descriptors that are already open: read/write/readv/writev,
 *     pread64/pwrite64, lseek, close, fcntl, fstat/newfstatat; epoll_* and
 *     poll/ppoll (the main loop, QMP's last flush), eventfd2 (doorbells are
 *     re-created when the guest resizes a ring), timerfd_settime;
 *   - sockets that are already open (QMP clients, -netdev socket):
 *     accept4, recvfrom/recvmsg, sendto/sendmsg, shutdown, get/setsockopt,
 *     getsockname/getpeername. New sockets only with -netdev user;
 *   - ioctl: KVM's (type 0xAE: KVM_RUN, KVM_IRQ_LINE, KVM_IOEVENTFD,
 *     KVM_CREATE_VM on reboot, ...) and the terminal ones the console needs
 *     (TCGETS/TCSETS*, TIOCGWINSZ, FIONBIO, FIONREAD), and TUNSETOFFLOAD
 *     (a virtio-net driver chooses which offloaded frames its TAP hands
 *     over while the guest runs); nothing else;
 *   - memory: mmap/mprotect without PROT_EXEC, munmap, mremap, madvise, brk
 *     (guest RAM is re-mapped on every guest reboot);
 *   - threads: clone with CLONE_THREAD only (vCPU threads are created on
 *     every boot); clone3 fails with ENOSYS so that glibc falls back to
 *     clone, whose flags a filter can see; futex, set_robust_list, rseq,
 *     tgkill (vCPU kicks), rt_sig*, sigaltstack, exit, exit_group;
 *   - openat read-only (no O_CREAT, O_TRUNC, write access): a guest reboot
 *     reads the kernel and the initrd again;
 *   - time, sleeping, sysinfo (a reboot checks host memory), getrandom,
 *     prctl(PR_SET_NAME) (vCPU thread names), sched_yield, getpid/gettid.
 * Everything else (execve, fork, ptrace, open for writing, unlink, mount,
 * setuid, bpf, perf_event_open, process_vm_*, kexec, ...) kills.
 *
 * ASan/LSan builds add what the sanitizer runtime needs to report and to
 * check for leaks at exit (its StopTheWorld clones a tracer that ptraces the
 * other threads): that build is for finding bugs, not for production. */
#include "util/sandbox.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef E1KVM_HAVE_SECCOMP
#include <fcntl.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

const char *sandbox_action_name(void)
{
    return "kill the process (SIGSYS)";
}

#ifdef E1KVM_HAVE_SECCOMP

bool sandbox_available(void)
{
    /* PR_GET_SECCOMP answers 0 (not filtered), 2 (filtered) or EINVAL */
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
}

/* System calls allowed whatever their arguments. */
/* clang-format off */
static const int allow_always[] = {
    /* descriptors that are open already */
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
    SCMP_SYS(pwrite64), SCMP_SYS(lseek), SCMP_SYS(close), SCMP_SYS(fcntl), SCMP_SYS(fstat),
    SCMP_SYS(newfstatat), SCMP_SYS(statx),
    /* the main loop */
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_create1),
    SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(eventfd2), SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_gettime),
    /* sockets that are open already (QMP clients, -netdev socket) */
    SCMP_SYS(accept4), SCMP_SYS(accept), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg),
    SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(shutdown), SCMP_SYS(getsockopt),
    SCMP_SYS(setsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername),
    /* memory (PROT_EXEC is checked below) */
    SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(brk),
    /* threads and signals */
    SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(tgkill),
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
    SCMP_SYS(sigaltstack), SCMP_SYS(restart_syscall), SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    /* time */
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday), SCMP_SYS(time),
    /* misc */
    SCMP_SYS(sysinfo), SCMP_SYS(getrandom), SCMP_SYS(getuid), SCMP_SYS(geteuid),
    SCMP_SYS(getgid), SCMP_SYS(getegid),
};
/* clang-format on */

/* ioctls besides KVM's: the console (serial.c: isatty, tcsetattr at exit) */
static const unsigned long tty_ioctls[] = {TCGETS,     TCSETS,  TCSETSW, TCSETSF,
                                           TIOCGWINSZ, FIONBIO, FIONREAD};

#ifdef SANDBOX_SANITIZER
/* What ASan/LSan's runtime does at exit or when it reports. */
/* clang-format off */
static const int allow_sanitizer[] = {
    SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(waitid), SCMP_SYS(prctl), SCMP_SYS(getdents),
    SCMP_SYS(getdents64), SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(access), SCMP_SYS(tkill),
    SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(clone), SCMP_SYS(kill), SCMP_SYS(getppid),
    SCMP_SYS(prlimit64), SCMP_SYS(getrlimit), SCMP_SYS(uname), SCMP_SYS(process_vm_readv),
    SCMP_SYS(pipe2), SCMP_SYS(dup2), SCMP_SYS(dup3),
};
/* clang-format on */
#endif

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int add(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
               const struct scmp_arg_cmp *cmp, Error *err)
{
    int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
    if (r < 0) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        error_setf(err, "sandbox: cannot add a rule for %s: %s", name ? name : "?", strerror(-r));
        free(name);
        return -1;
    }
    return 0;
}

#define ADD(action, sys, ...)                                                                      \
    do {                                                                                           \
        const struct scmp_arg_cmp cmp_[] = {__VA_ARGS__};                                          \
        if (add(ctx, action, sys, NELEMS(cmp_), cmp_, err) < 0)                                    \
            goto fail;                                                                             \
    } while (0)
#define ADD0(action, sys)                                                                          \
    do {                                                                                           \
        if (add(ctx, action, sys, 0, NULL, err) < 0)                                               \
            goto fail;                                                                             \
    } while (0)

int sandbox_enter(const SandboxConfig *cfg, Error *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx)
        return error_setf(err, "sandbox: seccomp_init failed");
    /* every thread, and the other ABIs (x32, i386) are refused outright */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0 ||
        seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) {
        error_setf(err, "sandbox: this libseccomp lacks TSYNC or KILL_PROCESS");
        goto fail;
    }
    for (size_t i = 0; i < NELEMS(allow_always); i++)
        ADD0(SCMP_ACT_ALLOW, allow_always[i]);

    /* ioctl: KVM's own (type 0xAE), the console's */
    ADD(SCMP_ACT_ALLOW, SCMP_SYS(ioctl), SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, 0xae00));
    for (size_t i = 0; i < NELEMS(tty_ioctls); i++)
        ADD(SCMP_ACT_ALLOW, SCMP_SYS(ioctl), SCMP_A1(SCMP_CMP_EQ, tty_ioctls[i]));
    ADD(SCMP_ACT_ALLOW, SCMP_SYS(ioctl), SCMP_A1(SCMP_CMP_EQ, TUNSETOFFLOAD));
    /* memory that is never executable */
    ADD(SCMP_ACT_ALLOW, SCMP_SYS(mmap), SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    ADD(SCMP_ACT_ALLOW, SCMP_SYS(mprotect), SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    /* threads only; clone3's flags are in memory a filter cannot read */
    ADD(SCMP_ACT_ALLOW, SCMP_SYS(clone), SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    ADD0(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3));
    /* reading the kernel and initrd again on a guest reboot */
    ADD(SCMP_ACT_ALLOW, SCMP_SYS(openat),
        SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC | (O_TMPFILE & ~O_DIRECTORY),
                O_RDONLY));
    /* thread names */
    ADD(SCMP_ACT_ALLOW, SCMP_SYS(prctl), SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
    ADD(SCMP_ACT_ALLOW, SCMP_SYS(prctl), SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));
    if (cfg->host_sockets) {
        ADD(SCMP_ACT_ALLOW, SCMP_SYS(socket), SCMP_A0(SCMP_CMP_EQ, AF_INET));
        ADD(SCMP_ACT_ALLOW, SCMP_SYS(socket), SCMP_A0(SCMP_CMP_EQ, AF_INET6));
        ADD0(SCMP_ACT_ALLOW, SCMP_SYS(connect));
        ADD0(SCMP_ACT_ALLOW, SCMP_SYS(bind));
        ADD0(SCMP_ACT_ALLOW, SCMP_SYS(listen));
    }
    if (cfg->unlink) {
        ADD0(SCMP_ACT_ALLOW, SCMP_SYS(unlink));
        ADD0(SCMP_ACT_ALLOW, SCMP_SYS(unlinkat));
    }
#ifdef SANDBOX_SANITIZER
    /* the sanitizer runtime uses open(2), not openat: read-only as well */
    ADD(SCMP_ACT_ALLOW, SCMP_SYS(open),
        SCMP_A1(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC | (O_TMPFILE & ~O_DIRECTORY),
                O_RDONLY));
    for (size_t i = 0; i < NELEMS(allow_sanitizer); i++) {
        /* these may already have rules with argument checks: an exact
         * duplicate without arguments is refused (EEXIST), which is fine */
        int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow_sanitizer[i], 0);
        if (r < 0 && r != -EEXIST) {
            error_setf(err, "sandbox: sanitizer rule: %s", strerror(-r));
            goto fail;
        }
    }
#endif
    int r = seccomp_load(ctx);
    if (r < 0) {
        error_setf(err, "sandbox: cannot load the seccomp filter: %s", strerror(-r));
        goto fail;
    }
    seccomp_release(ctx);
    return 0;
fail:
    seccomp_release(ctx);
    return -1;
}

#else /* !E1KVM_HAVE_SECCOMP */

bool sandbox_available(void)
{
    return false;
}

int sandbox_enter(const SandboxConfig *cfg, Error *err)
{
    (void)cfg;
    return error_setf(err, "sandbox: e1kvm was built without libseccomp (use -sandbox off)");
}

#endif

static int parse_id(const char *s, unsigned long *out)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v >= (unsigned long)(uid_t)-1)
        return -1;
    *out = v;
    return 0;
}

int sandbox_lookup_user(const char *spec, uid_t *uid, gid_t *gid, Error *err)
{
    char buf[64];
    unsigned long u, g;
    const char *colon = strchr(spec, ':');
    if (!*spec)
        return error_setf(err, "-runas: empty user name");
    if (colon) {
        /* UID:GID, both numeric */
        size_t n = (size_t)(colon - spec);
        if (n == 0 || n >= sizeof(buf))
            return error_setf(err, "-runas: invalid user '%s' (a name, UID or UID:GID)", spec);
        memcpy(buf, spec, n);
        buf[n] = '\0';
        if (parse_id(buf, &u) < 0 || parse_id(colon + 1, &g) < 0)
            return error_setf(err, "-runas: invalid user '%s' (a name, UID or UID:GID)", spec);
        *uid = (uid_t)u;
        *gid = (gid_t)g;
        return 0;
    }
    if (parse_id(spec, &u) == 0) {
        struct passwd *pw = getpwuid((uid_t)u);
        *uid = (uid_t)u;
        *gid = pw ? pw->pw_gid : (gid_t)u;
        return 0;
    }
    struct passwd *pw = getpwnam(spec);
    if (!pw)
        return error_setf(err, "-runas: no such user '%s'", spec);
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

int sandbox_runas(uid_t uid, gid_t gid, Error *err)
{
    if (getuid() == uid && geteuid() == uid && getgid() == gid && getegid() == gid)
        return 0; /* already that user: nothing to give up */
    if (setgroups(1, &gid) < 0)
        return error_setf(err, "-runas: cannot drop supplementary groups: %s%s", strerror(errno),
                          errno == EPERM ? " (only root can change user)" : "");
    if (setresgid(gid, gid, gid) < 0)
        return error_setf(err, "-runas: cannot change group to %u: %s", (unsigned)gid,
                          strerror(errno));
    if (setresuid(uid, uid, uid) < 0)
        return error_setf(err, "-runas: cannot change user to %u: %s", (unsigned)uid,
                          strerror(errno));
    /* for good: root must be out of reach now */
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return error_setf(err, "-runas: could regain root after dropping it");
    return 0;
}
