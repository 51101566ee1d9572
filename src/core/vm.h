/* One virtual machine: the KVM VM fd, guest RAM, vCPU threads and the
 * platform devices every machine has (UART, PCI host bridge, reset port).
 *
 * Lifecycle: vm_init() once (devices are realized onto vm->m after it), then
 * vm_run() boots the guest and serves it until poweroff, reset (-no-reboot),
 * a signal or an error. A guest reset without -no-reboot tears down the KVM
 * VM and RAM, resets the devices and boots again in the same process. */
#ifndef E1KVM_CORE_VM_H
#define E1KVM_CORE_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/machine.h"
#include "util/error.h"

#define VM_MAX_VCPUS 8
#define VM_EXIT_REASONS 64

typedef enum CpuModel {
    CPU_MODEL_AUTO,     /* "emulator" on a host whose KVM emulates guest kernels, else "host" */
    CPU_MODEL_HOST,     /* everything KVM_GET_SUPPORTED_CPUID offers */
    CPU_MODEL_EMULATOR, /* minus what KVM's instruction emulator cannot run */
} CpuModel;

typedef struct VmConfig {
    const char *name;
    const char *kernel;
    const char *initrd;
    const char *append;
    uint64_t ram_size;
    int smp;
    bool no_reboot;
    CpuModel cpu_model;
} VmConfig;

typedef enum VmStopReason {
    VM_STOP_NONE = 0,
    VM_STOP_POWEROFF, /* guest powered off / halted for good: exit 0 */
    VM_STOP_RESET,    /* guest asked for a reset */
    VM_STOP_SIGNAL,   /* SIGINT / SIGTERM: exit 0 */
    VM_STOP_ERROR,    /* KVM internal error, failed entry...: exit 1 */
    VM_STOP_QUIT,     /* QMP "quit": exit 0 */
} VmStopReason;

struct Vm;

typedef struct Vcpu {
    struct Vm *vm;
    int id;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    atomic_bool check_halt;          /* main loop asks: are you halted for good? */
    atomic_bool dead_halt;           /* answer: HLT with interrupts disabled / never started */
    uint64_t exits[VM_EXIT_REASONS]; /* per KVM exit reason */
} Vcpu;

typedef struct Vm {
    Machine m;
    VmConfig cfg;
    int kvm_fd;
    int vm_fd;
    int run_size;
    uint32_t tsc_khz;
    bool emulated_kernel_host; /* this host's KVM runs guest kernels in its emulator */
    bool has_ioeventfd;        /* device doorbells handled inside KVM */
    /* posted writes: KVM's coalesced-MMIO ring (one per VM, seen through
     * vCPU 0's mapping); NULL until vCPU 0 exists or without the capability */
    int coalesced_page; /* its page in the vCPU mapping */
    struct kvm_coalesced_mmio_ring *posted_ring;
    uint32_t posted_max;  /* entries in the ring */
    bool posted_flushing; /* a flush is delivering (its writes may ask again) */
    /* PCI INTx (GSI 16-23) through irqfds with EOI resampling (kvm.c) */
    struct KvmIntx {
        int irqfd, resamplefd; /* -1: KVM_IRQ_LINE instead */
        bool want;             /* the devices' OR on this line */
        bool asserted;         /* KVM holds it asserted (until the next EOI) */
        bool redeliver;        /* EOI'd while wanted: assert again soon */
    } intx[8];
    struct Timer *intx_timer;
    atomic_bool intx_redeliver; /* some line waits: the vCPU looks after its next exit */
    Vcpu vcpus[VM_MAX_VCPUS];
    atomic_int stop_reason;
    atomic_bool stopping;
    uint64_t entry;       /* kernel entry point (guest physical) */
    uint64_t boot_params; /* zero page address */
    int boots;            /* how many times the guest was started */
} Vm;

extern Vm *the_vm;

/* open /dev/kvm, check API version and capabilities, build the platform */
int vm_init(Vm *vm, const VmConfig *cfg, Error *err);
/* boot and serve the guest; returns the process exit code */
int vm_run(Vm *vm);
/* request the VM to stop (any thread) */
void vm_request_stop(Vm *vm, VmStopReason reason);

/* Device reset hooks, run before the guest boots again. */
void vm_register_reset(void (*fn)(void *opaque), void *opaque);

/* kvm.c */
int kvm_open(Vm *vm, Error *err);
int kvm_create_vm(Vm *vm, Error *err);
void kvm_destroy_vm(Vm *vm);
void kvm_set_irq(void *opaque, int gsi, int level);
/* A PCI INTx line (level-triggered, GSI 16-23): the PCI bus's set_gsi */
void kvm_set_pci_irq(void *opaque, int gsi, int level);
/* Called after a vCPU exit was handled (device lock held): lines EOI'd while
 * still wanted are asserted again now */
void kvm_intx_redeliver(Vm *vm);
/* deliver the posted writes KVM queued (caller holds the device lock) */
void kvm_flush_posted(Vm *vm);
/* cheap unlocked check: has KVM queued posted writes? */
static inline bool kvm_posted_pending(const Vm *vm)
{
    const struct kvm_coalesced_mmio_ring *r = vm->posted_ring;
    return r && __atomic_load_n(&r->first, __ATOMIC_RELAXED) !=
                    __atomic_load_n(&r->last, __ATOMIC_ACQUIRE);
}
/* vcpu.c */
int vcpu_create(Vm *vm, int id, Error *err);
int vcpu_start(Vcpu *v);
void vcpu_kick(Vcpu *v);
void vcpu_destroy(Vcpu *v);
/* stop / cont: park every vCPU outside KVM_RUN (main loop, device lock held;
 * returns when they are parked), let them run again; the state survives a
 * guest reset. */
void vm_pause(Vm *vm);
void vm_resume(Vm *vm);
bool vm_is_paused(Vm *vm);
const char *kvm_exit_reason_name(unsigned reason);
/* boot/ */
int linux_load(Vm *vm, Error *err);
int cpuid_setup(Vm *vm, Vcpu *v, Error *err);
int vcpu_setup_boot_state(Vm *vm, Vcpu *v, Error *err);
int mptable_write(Vm *vm, uint64_t addr, size_t max, Error *err);

#endif
