/* e1kvm: command line -> machine description -> run. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "core/cmdline.h"
#include "core/loop.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "hw/board.h"
#include "monitor/qmp.h"
#include "qom/object.h"
#include "trace/stats.h"
#include "util/sandbox.h"

/* the VM a signal stops (set before the handler is installed) */
static Vm *signal_vm;

static void on_signal(int sig)
{
    (void)sig;
    if (signal_vm)
        vm_request_stop(signal_vm, VM_STOP_SIGNAL);
}

/* Parse every -netdev and -device string first, so that a syntax error is
 * reported before anything is opened; then realize them in order (backends
 * first: a NIC looks its backend up by id). */
static Object *parse_objects(const char *const *opts, int n, TypeKind kind, Object **list,
                             Error *err)
{
    for (int i = 0; i < n; i++) {
        Object *obj = object_new_from_opts(opts[i], kind, err);
        if (!obj)
            return NULL;
        if (kind == TYPE_KIND_NETDEV && !obj->id) {
            object_free(obj);
            error_setf(err, "-netdev %s: id= is required", opts[i]);
            return NULL;
        }
        list[i] = obj;
    }
    return (Object *)1;
}

static int realize_objects(Vm *vm, Object **list, const char *const *opts, int n, TypeKind kind,
                           Error *err)
{
    for (int i = 0; i < n; i++) {
        Object *obj = list[i];
        Error e = {{0}};
        if (obj->type->realize && obj->type->realize(obj, &vm->m, &e) < 0)
            return error_setf(err, "-%s %s: %s",
                              kind == TYPE_KIND_NETDEV   ? "netdev"
                              : kind == TYPE_KIND_OBJECT ? "object"
                                                         : "device",
                              opts[i], e.msg);
        obj->next = vm->m.objects;
        vm->m.objects = obj;
    }
    return 0;
}

int main(int argc, char **argv)
{
    Cmdline cl;
    Error err = {{0}};
    switch (cmdline_parse(argc, argv, &cl, &err)) {
    case CMDLINE_EXIT:
        return 0;
    case CMDLINE_ERROR:
        fprintf(stderr, "e1kvm: %s\n", err.msg);
        return 1;
    case CMDLINE_RUN:
        break;
    }
    /* stdout may be a pipe to a test: each console line as it comes */
    setvbuf(stdout, NULL, _IONBF, 0);
    /* each e1000 doorbell is an eventfd (up to 2 x 256 per NIC): lift the
     * soft fd limit (1024 by default) towards the hard one */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 8192 &&
        nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max < 8192 ? nofile.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    static Vm vm;
    static Object *netdevs[CMDLINE_MAX_OBJS], *devices[CMDLINE_MAX_OBJS];
    static Object *objects[CMDLINE_MAX_OBJS];
    if (!parse_objects(cl.netdevs, cl.nnetdevs, TYPE_KIND_NETDEV, netdevs, &err) ||
        !parse_objects(cl.devices, cl.ndevices, TYPE_KIND_DEVICE, devices, &err) ||
        !parse_objects(cl.objects, cl.nobjects, TYPE_KIND_OBJECT, objects, &err) ||
        vm_init(&vm, &cl.vm, &err) < 0 || board_init(&vm, &err) < 0 ||
        realize_objects(&vm, netdevs, cl.netdevs, cl.nnetdevs, TYPE_KIND_NETDEV, &err) < 0 ||
        realize_objects(&vm, devices, cl.devices, cl.ndevices, TYPE_KIND_DEVICE, &err) < 0 ||
        realize_objects(&vm, objects, cl.objects, cl.nobjects, TYPE_KIND_OBJECT, &err) < 0) {
        fprintf(stderr, "e1kvm: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < cl.nqmp; i++) {
        if (qmp_open(cl.qmp[i], &vm, &err) < 0) {
            fprintf(stderr, "e1kvm: %s\n", err.msg);
            return 1;
        }
    }
    signal_vm = &vm;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Everything is open: give up root, then all but the system calls the
     * VM needs from here on (util/sandbox.h, docs/SECURITY.md) */
    if (cl.runas && sandbox_runas(cl.runas_uid, cl.runas_gid, &err) < 0) {
        fprintf(stderr, "e1kvm: %s\n", err.msg);
        return 1;
    }
    if (cl.sandbox) {
        SandboxConfig sc = {0};
        for (int i = 0; i < cl.nnetdevs; i++)
            sc.host_sockets |= netdevs[i]->type->needs_host_sockets;
        for (int i = 0; i < cl.nqmp; i++)
            sc.unlink |= !strncmp(cl.qmp[i], "unix:", 5);
        if (sandbox_enter(&sc, &err) < 0) {
            fprintf(stderr, "e1kvm: %s\n", err.msg);
            return 1;
        }
    }
    int rc = vm_run(&vm);
    qmp_vm_exited(&vm);
    if (cl.stats) {
        vcpu_exits_print(stderr, &vm);
        exitstats_print(stderr);
        loop_stats_print(stderr);
    }
    return rc;
}
