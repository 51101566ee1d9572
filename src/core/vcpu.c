/* One thread per vCPU running KVM_RUN. Every exit reason is handled here:
 * port and MMIO accesses go to the region maps (under the device lock), the
 * rest either stops the VM with a clear report or is counted and resumed.
 * This file knows nothing of devices. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/vcpu.h"

#include "core/kvm.h"
#include "core/loop.h"
#include "core/vm.h"
#include "trace/stats.h"
#include "trace/trace.h"

#define SIG_VCPU_KICK SIGUSR1

static const char *const exit_names[] = {
    [KVM_EXIT_UNKNOWN] = "UNKNOWN",
    [KVM_EXIT_EXCEPTION] = "EXCEPTION",
    [KVM_EXIT_IO] = "IO",
    [KVM_EXIT_HYPERCALL] = "HYPERCALL",
    [KVM_EXIT_DEBUG] = "DEBUG",
    [KVM_EXIT_HLT] = "HLT",
    [KVM_EXIT_MMIO] = "MMIO",
    [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
    [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
    [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
    [KVM_EXIT_INTR] = "INTR",
    [KVM_EXIT_SET_TPR] = "SET_TPR",
    [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
    [KVM_EXIT_NMI] = "NMI",
    [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
    [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
    [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
    [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
    [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
    [KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
    [KVM_EXIT_NOTIFY] = "NOTIFY",
};

const char *kvm_exit_reason_name(unsigned reason)
{
    if (reason < sizeof(exit_names) / sizeof(exit_names[0]) && exit_names[reason])
        return exit_names[reason];
    return "?";
}

void vcpu_exits_print(FILE *f, const Vm *vm)
{
    uint64_t total[VM_EXIT_REASONS] = {0}, all = 0;
    fprintf(f, "e1kvm: exit statistics (KVM_RUN returns to user space, since start)\n");
    fprintf(f, "  %-18s", "reason");
    for (int c = 0; c < vm->cfg.smp; c++)
        fprintf(f, " %12s%d", "vcpu", c);
    fprintf(f, " %13s\n", "total");
    for (int r = 0; r < VM_EXIT_REASONS; r++)
        for (int c = 0; c < vm->cfg.smp; c++)
            total[r] += vm->vcpus[c].exits[r];
    for (int r = 0; r < VM_EXIT_REASONS; r++) {
        if (!total[r])
            continue;
        fprintf(f, "  %-18s", kvm_exit_reason_name((unsigned)r));
        for (int c = 0; c < vm->cfg.smp; c++)
            fprintf(f, " %13" PRIu64, vm->vcpus[c].exits[r]);
        fprintf(f, " %13" PRIu64 "\n", total[r]);
        all += total[r];
    }
    fprintf(f, "  %-18s", "all");
    for (int c = 0; c < vm->cfg.smp; c++) {
        uint64_t s = 0;
        for (int r = 0; r < VM_EXIT_REASONS; r++)
            s += vm->vcpus[c].exits[r];
        fprintf(f, " %13" PRIu64, s);
    }
    fprintf(f, " %13" PRIu64 "\n", all);
}

static void kick_handler(int sig)
{
    (void)sig; /* only there to make KVM_RUN return -EINTR */
}

int vcpu_create(Vm *vm, int id, Error *err)
{
    static bool handler_installed;
    if (!handler_installed) {
        struct sigaction sa = {.sa_handler = kick_handler}; /* no SA_RESTART */
        sigemptyset(&sa.sa_mask);
        sigaction(SIG_VCPU_KICK, &sa, NULL);
        handler_installed = true;
    }
    Vcpu *v = &vm->vcpus[id];
    /* exit counts survive a guest reset: statistics are since start */
    uint64_t exits[VM_EXIT_REASONS];
    memcpy(exits, v->exits, sizeof(exits));
    memset(v, 0, sizeof(*v));
    memcpy(v->exits, exits, sizeof(exits));
    v->vm = vm;
    v->id = id;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
    if (v->fd < 0)
        return error_setf(err, "KVM_CREATE_VCPU %d: %s", id, strerror(errno));
    fcntl(v->fd, F_SETFD, FD_CLOEXEC);
    v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        return error_setf(err, "mmap of vCPU %d state: %s", id, strerror(errno));
    }
    if (id == 0 && vm->coalesced_page > 0) {
        long page = sysconf(_SC_PAGESIZE);
        vm->posted_ring =
            (struct kvm_coalesced_mmio_ring *)((char *)v->run + (long)vm->coalesced_page * page);
        vm->posted_max = (uint32_t)(((size_t)page - sizeof(struct kvm_coalesced_mmio_ring)) /
                                    sizeof(struct kvm_coalesced_mmio));
    }
    return vm->setup_vcpu(vm, v, err);
}

void vcpu_destroy(Vcpu *v)
{
    if (v->run)
        munmap(v->run, (size_t)v->vm->run_size);
    if (v->fd > 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

/* RIP and the instruction bytes there, for reports. */
static unsigned long long describe_rip(Vcpu *v, char *bytes, size_t len)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    snprintf(bytes, len, "unavailable");
    memset(&regs, 0, sizeof(regs));
    if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0) {
        struct kvm_translation tr = {.linear_address = regs.rip};
        uint64_t gpa = regs.rip;
        if (ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0) {
            gpa = sregs.cs.base + regs.rip; /* real / protected mode without paging */
            tr.linear_address = gpa;
            if ((sregs.cr0 & 0x80000000u) && ioctl(v->fd, KVM_TRANSLATE, &tr) == 0 && tr.valid)
                gpa = tr.physical_address;
        }
        const uint8_t *p = guest_ram_ptr(&v->vm->m.ram, gpa, 15);
        if (p) {
            size_t n = 0;
            for (int i = 0; i < 15 && n < len; i++)
                n += (size_t)snprintf(bytes + n, len - n, "%s%02x", i ? " " : "", p[i]);
        }
    }
    return (unsigned long long)regs.rip;
}

/* Report a failure the guest cannot recover from, with what a developer
 * needs to find it: reason, suberror, RIP and the instruction bytes. */
static void report_fatal(Vcpu *v, const char *what, unsigned long long detail)
{
    char bytes[64];
    unsigned long long rip = describe_rip(v, bytes, sizeof(bytes));
    fprintf(stderr,
            "e1kvm: vCPU %d: %s (%#llx), RIP %#llx, instruction bytes: %s; stopping the VM\n",
            v->id, what, detail, rip, bytes);
    vm_request_stop(v->vm, VM_STOP_ERROR);
}

static void handle_io(Vcpu *v)
{
    struct kvm_run *run = v->run;
    unsigned size = run->io.size;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    /* string I/O (rep ins/outs) arrives as count elements */
    uint32_t count = run->io.count;
    if (count > 4096 || run->io.data_offset + (uint64_t)count * size > (uint64_t)v->vm->run_size)
        count = 0;
    bool out = run->io.direction == KVM_EXIT_IO_OUT;
    device_lock();
    for (uint32_t i = 0; i < count; i++, data += size) {
        uint64_t off = run->io.port;
        MemoryRegion *mr = address_space_find(&v->vm->m.pio, run->io.port, &off);
        exitstats_record(mr, off, true, out);
        if (out)
            address_space_write(&v->vm->m.pio, run->io.port, data, size);
        else
            address_space_read(&v->vm->m.pio, run->io.port, data, size);
        if (TRACE_ON(vcpu_exit)) {
            uint64_t val = 0;
            memcpy(&val, data, size > 8 ? 8 : size);
            trace_emit(TRACE_vcpu_exit, "IO %s port=%#x size=%u data=%#llx region=%s",
                       out ? "out" : "in", run->io.port, size, (unsigned long long)val,
                       mr ? mr->name : "-");
        }
    }
    kvm_intx_redeliver(v->vm);
    device_unlock();
}

static void handle_mmio(Vcpu *v)
{
    struct kvm_run *run = v->run;
    unsigned len = run->mmio.len > 8 ? 8 : run->mmio.len;
    uint64_t off = run->mmio.phys_addr;
    device_lock();
    MemoryRegion *mr = address_space_find(&v->vm->m.mmio, run->mmio.phys_addr, &off);
    exitstats_record(mr, off, false, run->mmio.is_write);
    if (run->mmio.is_write)
        address_space_write(&v->vm->m.mmio, run->mmio.phys_addr, run->mmio.data, len);
    else
        address_space_read(&v->vm->m.mmio, run->mmio.phys_addr, run->mmio.data, len);
    if (TRACE_ON(vcpu_exit)) {
        uint64_t val = 0;
        memcpy(&val, run->mmio.data, len);
        trace_emit(TRACE_vcpu_exit, "MMIO %s addr=%#llx size=%u data=%#llx region=%s+%#llx",
                   run->mmio.is_write ? "write" : "read", (unsigned long long)run->mmio.phys_addr,
                   len, (unsigned long long)val, mr ? mr->name : "-", (unsigned long long)off);
    }
    kvm_intx_redeliver(v->vm);
    device_unlock();
}

/* Asked by the main loop: is this vCPU stopped for good? True when it sits
 * in HLT with interrupts disabled (the "cli; hlt" a kernel does after
 * poweroff without a power-off method, or after a panic) or was never
 * started by the guest (an AP that got no INIT/SIPI). Nothing in this
 * machine sends NMIs, so such a vCPU never runs again. */
static void check_dead_halt(Vcpu *v)
{
    struct kvm_mp_state mp;
    bool dead = false;
    if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) == 0) {
        if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED || mp.mp_state == KVM_MP_STATE_INIT_RECEIVED)
            dead = true;
        else if (mp.mp_state == KVM_MP_STATE_HALTED) {
            struct kvm_regs regs;
            if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0 && !(regs.rflags & (1u << 9)))
                dead = true;
        }
    }
    atomic_store(&v->dead_halt, dead);
}

/* stop / cont (the QMP monitor): vCPU threads park here, outside KVM_RUN,
 * until the VM is resumed or stopped for good. The state is the Vm's
 * (pause_mu, pause_cv, pause_requested, paused_vcpus). */

static void vcpu_pause_point(Vcpu *v)
{
    pthread_mutex_lock(&v->vm->pause_mu);
    if (atomic_load(&v->vm->pause_requested) && !atomic_load(&v->vm->stopping)) {
        TRACE(vcpu_pause, "vcpu%d paused", v->id);
        v->vm->paused_vcpus++;
        pthread_cond_broadcast(&v->vm->pause_cv);
        while (atomic_load(&v->vm->pause_requested) && !atomic_load(&v->vm->stopping))
            pthread_cond_wait(&v->vm->pause_cv, &v->vm->pause_mu);
        v->vm->paused_vcpus--;
        TRACE(vcpu_pause, "vcpu%d resumed", v->id);
    }
    pthread_mutex_unlock(&v->vm->pause_mu);
}

bool vm_is_paused(Vm *vm)
{
    return atomic_load(&vm->pause_requested);
}

/* Called on the main loop with the device lock held. Returns once every
 * running vCPU has parked (or after a second: a vCPU that does not come out
 * of KVM_RUN cannot run guest code either once it does). The device lock is
 * released while waiting, since a vCPU may be waiting for it to finish an
 * MMIO access before it reaches its pause point. */
void vm_pause(Vm *vm)
{
    if (atomic_exchange(&vm->pause_requested, true))
        return;
    int want = 0;
    for (int i = 0; i < vm->cfg.smp; i++) {
        if (vm->vcpus[i].thread_started) {
            want++;
            vcpu_kick(&vm->vcpus[i]);
        }
    }
    device_unlock();
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 1;
    pthread_mutex_lock(&vm->pause_mu);
    while (vm->paused_vcpus < want && !atomic_load(&vm->stopping))
        if (pthread_cond_timedwait(&vm->pause_cv, &vm->pause_mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&vm->pause_mu);
    device_lock();
}

void vm_resume(Vm *vm)
{
    pthread_mutex_lock(&vm->pause_mu);
    atomic_store(&vm->pause_requested, false);
    pthread_cond_broadcast(&vm->pause_cv);
    pthread_mutex_unlock(&vm->pause_mu);
}

static void *vcpu_thread(void *arg)
{
    Vcpu *v = arg;
    Vm *vm = v->vm;
    char name[16];
    snprintf(name, sizeof(name), "vcpu%d", v->id);
    pthread_setname_np(pthread_self(), name);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIG_VCPU_KICK);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    while (!atomic_load(&vm->stopping)) {
        if (atomic_exchange(&v->check_halt, false))
            check_dead_halt(v);
        if (atomic_load(&vm->pause_requested))
            vcpu_pause_point(v);
        int r = ioctl(v->fd, KVM_RUN, 0);
        v->run->immediate_exit = 0;
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                v->exits[KVM_EXIT_INTR]++;
                continue;
            }
            fprintf(stderr, "e1kvm: vCPU %d: KVM_RUN failed: %s\n", v->id, strerror(errno));
            vm_request_stop(vm, VM_STOP_ERROR);
            break;
        }
        /* writes the guest posted before this exit happened first */
        if (kvm_posted_pending(vm)) {
            device_lock();
            kvm_flush_posted(vm);
            device_unlock();
        }
        unsigned reason = v->run->exit_reason;
        if (reason < VM_EXIT_REASONS)
            v->exits[reason]++;
        if (TRACE_ON(vcpu_exit) && reason != KVM_EXIT_IO && reason != KVM_EXIT_MMIO)
            trace_emit(TRACE_vcpu_exit, "%s", kvm_exit_reason_name(reason));
        switch (reason) {
        case KVM_EXIT_IO:
            handle_io(v);
            break;
        case KVM_EXIT_MMIO:
            handle_mmio(v);
            break;
        case KVM_EXIT_HLT:
            /* the in-kernel LAPIC normally handles HLT; nothing to do */
            break;
        case KVM_EXIT_INTR:
        case KVM_EXIT_IRQ_WINDOW_OPEN:
            break;
        case KVM_EXIT_SHUTDOWN: {
            /* triple fault: on a PC the chipset resets the machine, which is
             * what happens here too (or the VMM exits with -no-reboot) */
            char bytes[64];
            unsigned long long rip = describe_rip(v, bytes, sizeof(bytes));
            fprintf(stderr,
                    "e1kvm: vCPU %d: triple fault (KVM_EXIT_SHUTDOWN), RIP %#llx, instruction "
                    "bytes: %s; %s\n",
                    v->id, rip, bytes, vm->cfg.no_reboot ? "stopping the VM" : "resetting");
            vm_request_stop(vm, VM_STOP_RESET);
            break;
        }
        case KVM_EXIT_SYSTEM_EVENT:
            switch (v->run->system_event.type) {
            case KVM_SYSTEM_EVENT_SHUTDOWN:
                vm_request_stop(vm, VM_STOP_POWEROFF);
                break;
            case KVM_SYSTEM_EVENT_RESET:
                vm_request_stop(vm, VM_STOP_RESET);
                break;
            default:
                report_fatal(v, "system event (crash)", v->run->system_event.type);
                break;
            }
            break;
        case KVM_EXIT_INTERNAL_ERROR: {
            char what[96];
            snprintf(what, sizeof(what), "KVM internal error, suberror %u%s",
                     v->run->internal.suberror,
                     v->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                         ? " (instruction emulation failed)"
                         : "");
            report_fatal(v, what, v->run->internal.ndata ? v->run->internal.data[0] : 0);
            break;
        }
        case KVM_EXIT_FAIL_ENTRY:
            report_fatal(v, "VM entry failed, hardware reason",
                         v->run->fail_entry.hardware_entry_failure_reason);
            break;
        default: {
            char what[64];
            snprintf(what, sizeof(what), "unexpected exit %s (%u)", kvm_exit_reason_name(reason),
                     reason);
            report_fatal(v, what, reason);
            break;
        }
        }
    }
    return NULL;
}

int vcpu_start(Vcpu *v)
{
    /* vCPU threads block the VMM's signals (the main thread handles them)
     * except the kick, which they unblock themselves */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r == 0)
        v->thread_started = true;
    return r == 0 ? 0 : -1;
}

void vcpu_kick(Vcpu *v)
{
    if (!v->thread_started)
        return;
    if (v->run)
        v->run->immediate_exit = 1; /* covers a kick that lands before KVM_RUN */
    pthread_kill(v->thread, SIG_VCPU_KICK);
    /* a paused vCPU waits on the condition variable, not in KVM_RUN */
    pthread_mutex_lock(&v->vm->pause_mu);
    pthread_cond_broadcast(&v->vm->pause_cv);
    pthread_mutex_unlock(&v->vm->pause_mu);
}
