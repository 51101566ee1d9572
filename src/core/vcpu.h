/* A vCPU: its KVM fd and run page, its thread running KVM_RUN, and what it
 * counts of its exits (vcpu.c). */
#ifndef E1KVM_CORE_VCPU_H
#define E1KVM_CORE_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

#define VM_EXIT_REASONS 64

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

int vcpu_create(struct Vm *vm, int id, Error *err);
int vcpu_start(Vcpu *v);
void vcpu_kick(Vcpu *v);
void vcpu_destroy(Vcpu *v);
/* stop / cont: park every vCPU outside KVM_RUN (main loop, device lock held;
 * returns when they are parked), let them run again; the state survives a
 * guest reset. */
void vm_pause(struct Vm *vm);
void vm_resume(struct Vm *vm);
bool vm_is_paused(struct Vm *vm);
const char *kvm_exit_reason_name(unsigned reason);
/* The first -stats table: exits per reason, per vCPU and in all. */
void vcpu_exits_print(FILE *f, const struct Vm *vm);

#endif
