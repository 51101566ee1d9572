/* One virtual machine: the KVM VM fd, guest RAM, vCPU threads and the
 * run/stop/reset cycle (vm.c). The devices every machine has (UART, PCI
 * host bridge, reset port) are the board's (hw/board.c): core knows none.
 *
 * Lifecycle: vm_init() once, then board_init() (devices are realized onto
 * vm->m after it), then vm_run() boots the guest and serves it until
 * poweroff, reset (-no-reboot), a signal or an error. A guest reset
 * without -no-reboot tears down the KVM VM and RAM, resets the devices and
 * boots again in the same process. */
#ifndef E1KVM_CORE_VM_H
#define E1KVM_CORE_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/machine.h"
#include "core/vcpu.h"
#include "util/error.h"

#define VM_MAX_VCPUS 8
/* MSI routes KVM keeps for the devices (GSI 24 up, kvm.c) */
#define VM_MSI_ROUTES 256

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
        struct Vm *vm;
        int irqfd, resamplefd; /* -1: KVM_IRQ_LINE instead */
        bool want;             /* the devices' OR on this line */
        bool asserted;         /* KVM holds it asserted (until the next EOI) */
        bool redeliver;        /* EOI'd while wanted: assert again soon */
    } intx[8];
    struct Timer *intx_timer;
    atomic_bool intx_redeliver; /* some line waits: the vCPU looks after its next exit */
    /* MSI routes (GSI 24 + index) with an irqfd each (kvm.c). The table
     * outlives the KVM VM: kvm_create_vm installs what is still held. */
    struct KvmMsiRoute {
        uint64_t addr;
        uint32_t data;
        int fd;         /* the irqfd's eventfd; -1: the slot is free */
        bool installed; /* an irqfd of the current VM fd */
    } msi_routes[VM_MSI_ROUTES];
    int msi_max_routes;  /* 0: no KVM_CAP_IRQ_ROUTING / KVM_CAP_IRQFD, send only */
    bool has_signal_msi; /* KVM_SIGNAL_MSI */
    Vcpu vcpus[VM_MAX_VCPUS];
    atomic_int stop_reason;
    atomic_bool stopping;
    uint64_t entry;       /* kernel entry point (guest physical) */
    uint64_t boot_params; /* zero page address */
    int boots;            /* how many times the guest was started */
    /* stop / cont (vcpu.c): the vCPUs park at their pause point */
    pthread_mutex_t pause_mu;
    pthread_cond_t pause_cv;
    atomic_bool pause_requested;
    int paused_vcpus;
    /* How the guest starts, set by the board (core knows no loader): put
     * the kernel into RAM, once per boot; give a new vCPU its CPUID and
     * entry registers. */
    int (*load_guest)(struct Vm *vm, Error *err);
    int (*setup_vcpu)(struct Vm *vm, Vcpu *v, Error *err);
} Vm;

/* open /dev/kvm, check API version and capabilities, the main loop and the
 * empty address spaces */
int vm_init(Vm *vm, const VmConfig *cfg, Error *err);
/* boot and serve the guest; returns the process exit code */
int vm_run(Vm *vm);
/* request the VM to stop (any thread) */
void vm_request_stop(Vm *vm, VmStopReason reason);

/* Device reset hooks, run before the guest boots again. */
void vm_register_reset(void (*fn)(void *opaque), void *opaque);

#endif
