/* The command line: a QEMU-compatible subset parsed into a machine
 * description. Kept apart from main() so that unit tests drive it. */
#ifndef E1KVM_CORE_CMDLINE_H
#define E1KVM_CORE_CMDLINE_H

#include <sys/types.h>

#include "core/vm.h"
#include "util/error.h"

#define CMDLINE_MAX_OBJS 32
#define CMDLINE_MAX_QMP 4

typedef struct Cmdline {
    VmConfig vm;
    const char *netdevs[CMDLINE_MAX_OBJS];
    int nnetdevs;
    const char *devices[CMDLINE_MAX_OBJS];
    int ndevices;
    /* observing and driving the VM (trace/, monitor/, net/dump.c); -trace
     * takes effect while parsing */
    const char *objects[CMDLINE_MAX_OBJS]; /* -object */
    int nobjects;
    const char *qmp[CMDLINE_MAX_QMP]; /* -qmp */
    int nqmp;
    bool stats; /* -stats: exit statistics on stderr at the end */
    /* confinement (util/sandbox.h, docs/SECURITY.md) */
    bool sandbox;      /* -sandbox on|off: seccomp filter (default on) */
    const char *runas; /* -runas USER: drop root after setup (NULL: stay) */
    uid_t runas_uid;   /* ... resolved while parsing */
    gid_t runas_gid;
} Cmdline;

typedef enum CmdlineResult {
    CMDLINE_RUN = 0,   /* boot the VM */
    CMDLINE_EXIT = 1,  /* informational output was printed: exit 0 */
    CMDLINE_ERROR = -1 /* err holds a one-line message: exit 1 */
} CmdlineResult;

CmdlineResult cmdline_parse(int argc, char **argv, Cmdline *cl, Error *err);
void cmdline_usage(void);

#endif
