/* The command line: a QEMU-compatible subset parsed into a machine
 * description. Kept apart from main() so that unit tests drive it. */
#ifndef E1KVM_CORE_CMDLINE_H
#define E1KVM_CORE_CMDLINE_H

#include "core/vm.h"
#include "util/error.h"

#define CMDLINE_MAX_OBJS 32

typedef struct Cmdline {
    VmConfig vm;
    const char *netdevs[CMDLINE_MAX_OBJS];
    int nnetdevs;
    const char *devices[CMDLINE_MAX_OBJS];
    int ndevices;
} Cmdline;

typedef enum CmdlineResult {
    CMDLINE_RUN = 0,   /* boot the VM */
    CMDLINE_EXIT = 1,  /* informational output was printed: exit 0 */
    CMDLINE_ERROR = -1 /* err holds a one-line message: exit 1 */
} CmdlineResult;

CmdlineResult cmdline_parse(int argc, char **argv, Cmdline *cl, Error *err);
void cmdline_usage(void);

#endif
