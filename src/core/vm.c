/* The run/stop/reset cycle. The machine's devices are the board's
 * (hw/board.c), the guest's loader the boot layer's, both reached through
 * what the board put into the Vm. */
#include "core/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/kvm.h"
#include "core/loop.h"
#include "core/vcpu.h"

#define HALT_CHECK_INTERVAL_NS 1000000000LL

typedef struct ResetHook {
    void (*fn)(void *);
    void *opaque;
    struct ResetHook *next;
} ResetHook;
static ResetHook *reset_hooks;

void vm_register_reset(void (*fn)(void *opaque), void *opaque)
{
    ResetHook *h = calloc(1, sizeof(*h));
    if (!h)
        return;
    h->fn = fn;
    h->opaque = opaque;
    h->next = reset_hooks;
    reset_hooks = h;
}

void vm_request_stop(Vm *vm, VmStopReason reason)
{
    int none = VM_STOP_NONE;
    atomic_compare_exchange_strong(&vm->stop_reason, &none, (int)reason);
    loop_quit(0);
}

int vm_init(Vm *vm, const VmConfig *cfg, Error *err)
{
    memset(vm, 0, sizeof(*vm));
    vm->cfg = *cfg;
    vm->vm_fd = -1;
    vm->kvm_fd = -1;
    for (size_t i = 0; i < sizeof(vm->intx) / sizeof(vm->intx[0]); i++)
        vm->intx[i].irqfd = vm->intx[i].resamplefd = -1;
    for (size_t i = 0; i < VM_MSI_ROUTES; i++)
        vm->msi_routes[i].fd = -1;
    pthread_mutex_init(&vm->pause_mu, NULL);
    pthread_cond_init(&vm->pause_cv, NULL);
    if (loop_init() < 0)
        return error_setf(err, "cannot create the main loop: %s", strerror(errno));
    if (kvm_open(vm, err) < 0)
        return -1;
    address_space_init(&vm->m.mmio, "mmio");
    address_space_init(&vm->m.pio, "pio");
    return 0;
}

/* Once a second: ask every vCPU whether it has stopped for good; when all
 * have (poweroff on a machine without ACPI ends in "cli; hlt" on every CPU),
 * the guest is off. */
static Timer *halt_timer;
static void halt_check(void *opaque)
{
    Vm *vm = opaque;
    bool all_dead = true;
    for (int i = 0; i < vm->cfg.smp; i++)
        all_dead = all_dead && atomic_load(&vm->vcpus[i].dead_halt);
    if (all_dead) {
        vm_request_stop(vm, VM_STOP_POWEROFF);
        return;
    }
    for (int i = 0; i < vm->cfg.smp; i++) {
        atomic_store(&vm->vcpus[i].check_halt, true);
        vcpu_kick(&vm->vcpus[i]);
    }
    timer_mod(halt_timer, clock_ns() + HALT_CHECK_INTERVAL_NS);
}

static int boot_once(Vm *vm, Error *err)
{
    if (kvm_create_vm(vm, err) < 0)
        return -1;
    if (!vm->load_guest || !vm->setup_vcpu)
        return error_setf(err, "no board: nothing to boot");
    if (vm->load_guest(vm, err) < 0)
        return -1;
    for (int i = 0; i < vm->cfg.smp; i++)
        if (vcpu_create(vm, i, err) < 0)
            return -1;
    vm->boots++;
    for (int i = 0; i < vm->cfg.smp; i++)
        if (vcpu_start(&vm->vcpus[i]) < 0)
            return error_setf(err, "cannot start vCPU thread %d", i);
    return 0;
}

static void stop_vcpus(Vm *vm)
{
    atomic_store(&vm->stopping, true);
    for (int i = 0; i < vm->cfg.smp; i++) {
        Vcpu *v = &vm->vcpus[i];
        if (!v->thread_started)
            continue;
        /* a vCPU may be blocked in HLT: kick until it leaves KVM_RUN */
        for (;;) {
            vcpu_kick(v);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            if (pthread_timedjoin_np(v->thread, NULL, &ts) == 0)
                break;
        }
        v->thread_started = false;
    }
}

int vm_run(Vm *vm)
{
    Error err = {{0}};
    halt_timer = timer_new(halt_check, vm);
    for (;;) {
        atomic_store(&vm->stop_reason, VM_STOP_NONE);
        atomic_store(&vm->stopping, false);
        loop_reset_quit();
        device_lock();
        int r = boot_once(vm, &err);
        if (r == 0)
            timer_mod(halt_timer, clock_ns() + HALT_CHECK_INTERVAL_NS);
        device_unlock();
        if (r < 0) {
            fprintf(stderr, "e1kvm: %s\n", err.msg);
            stop_vcpus(vm);
            return 1;
        }
        loop_run();
        stop_vcpus(vm);
        device_lock();
        timer_del(halt_timer);
        int reason = atomic_load(&vm->stop_reason);
        bool again = reason == VM_STOP_RESET && !vm->cfg.no_reboot;
        kvm_destroy_vm(vm);
        if (again) {
            for (ResetHook *h = reset_hooks; h; h = h->next)
                h->fn(h->opaque);
            for (Object *o = vm->m.objects; o; o = o->next)
                if (o->type->reset)
                    o->type->reset(o);
        }
        device_unlock();
        if (again)
            continue;
        return reason == VM_STOP_ERROR ? 1 : 0;
    }
}
