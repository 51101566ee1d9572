/* Confining the VMM once it is set up (docs/SECURITY.md):
 *
 *   -runas USER   drop root: supplementary groups, then gid, then uid, after
 *                 /dev/kvm, the TAPs and the monitor sockets are open;
 *   -sandbox on   (the default) a seccomp-BPF filter that lets through only
 *                 the system calls e1kvm makes while it runs the guest;
 *                 anything else kills the whole process (SIGSYS).
 *
 * Order in main(): parse, open and realize everything, sandbox_runas(),
 * sandbox_enter(), then vm_run(). The filter covers the VM's whole life:
 * boot, guest reboot (a new KVM VM, RAM, vCPU threads, the kernel and
 * initrd read again), poweroff, signals, network traffic, link loss. */
#ifndef E1KVM_UTIL_SANDBOX_H
#define E1KVM_UTIL_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

typedef struct SandboxConfig {
    /* -netdev user: libslirp opens host sockets for the guest's connections
     * (socket, connect, bind, listen on AF_INET/AF_INET6) */
    bool host_sockets;
    /* -qmp unix:PATH: the socket file is removed at exit (unlink) */
    bool unlink;
} SandboxConfig;

/* Is seccomp filtering compiled in and offered by this kernel? */
bool sandbox_available(void);

/* Install the filter on every thread of the process. After it, a system
 * call outside the policy kills the process. Returns -1 (err set) if the
 * filter could not be built or loaded. */
int sandbox_enter(const SandboxConfig *cfg, Error *err);

/* The action taken on a forbidden system call, for messages and tests. */
const char *sandbox_action_name(void);

/* -runas USER: USER is a name from the password database (its primary
 * group) or a numeric UID[:GID] (GID defaults to the entry's group, or to
 * UID when there is no entry). Resolved while parsing, for an early error. */
int sandbox_lookup_user(const char *spec, uid_t *uid, gid_t *gid, Error *err);

/* Become uid/gid for good: setgroups({gid}), setgid, setuid, then check
 * that root cannot be regained. */
int sandbox_runas(uid_t uid, gid_t gid, Error *err);

#endif
