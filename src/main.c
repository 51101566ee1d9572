/* e1kvm: command line -> machine description -> run. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/cmdline.h"
#include "core/loop.h"
#include "core/vm.h"
#include "qom/object.h"

static void on_signal(int sig)
{
    (void)sig;
    if (the_vm)
        vm_request_stop(the_vm, VM_STOP_SIGNAL);
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
            return error_setf(err, "-%s %s: %s", kind == TYPE_KIND_NETDEV ? "netdev" : "device",
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

    static Vm vm;
    static Object *netdevs[CMDLINE_MAX_OBJS], *devices[CMDLINE_MAX_OBJS];
    if (!parse_objects(cl.netdevs, cl.nnetdevs, TYPE_KIND_NETDEV, netdevs, &err) ||
        !parse_objects(cl.devices, cl.ndevices, TYPE_KIND_DEVICE, devices, &err) ||
        vm_init(&vm, &cl.vm, &err) < 0 ||
        realize_objects(&vm, netdevs, cl.netdevs, cl.nnetdevs, TYPE_KIND_NETDEV, &err) < 0 ||
        realize_objects(&vm, devices, cl.devices, cl.ndevices, TYPE_KIND_DEVICE, &err) < 0) {
        fprintf(stderr, "e1kvm: %s\n", err.msg);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return vm_run(&vm);
}
