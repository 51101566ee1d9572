/* The guest's CPUID: what KVM_GET_SUPPORTED_CPUID offers, adjusted in one
 * table. Every change has a reason next to it.
 *
 * Two models: "host" keeps everything KVM supports (an ordinary VMX/SVM
 * host loses nothing); "emulator" also hides what KVM's x86 instruction
 * emulator cannot execute, for hosts whose KVM runs guest kernel code in
 * that emulator (nested PVM with pvm_native=Y, see docs/HOST.md). "auto"
 * picks "emulator" only on such a host. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "boot/boot.h"

enum { EAX, EBX, ECX, EDX };
enum { ALL_MODELS, EMULATOR_ONLY };

typedef struct CpuidEdit {
    uint32_t function;
    int reg;
    int bit;
    bool set; /* set the bit (else clear it) */
    int when;
    const char *why;
} CpuidEdit;

static const CpuidEdit edits[] = {
    {1, ECX, 31, true, ALL_MODELS, "hypervisor present: the guest skips bare-metal probing"},
    {1, ECX, 13, false, EMULATOR_ONLY, "CMPXCHG16B: the emulator fails on lock cmpxchg16b"},
    {1, ECX, 17, false, EMULATOR_ONLY, "PCID: INVPCID/PCID flushes are not emulated"},
    {1, ECX, 23, false, EMULATOR_ONLY, "POPCNT: not emulated"},
    {1, ECX, 26, false, EMULATOR_ONLY, "XSAVE: XSAVE/XRSTOR are not emulated"},
    {1, ECX, 27, false, EMULATOR_ONLY, "OSXSAVE follows XSAVE"},
    {1, ECX, 28, false, EMULATOR_ONLY, "AVX needs XSAVE"},
    {1, ECX, 12, false, EMULATOR_ONLY, "FMA needs AVX"},
    {1, ECX, 29, false, EMULATOR_ONLY, "F16C needs AVX"},
    {1, ECX, 30, false, EMULATOR_ONLY, "RDRAND: not emulated"},
    {7, EBX, 0, false, EMULATOR_ONLY, "FSGSBASE: RD/WRGSBASE are not emulated"},
    {7, EBX, 5, false, EMULATOR_ONLY, "AVX2 needs XSAVE"},
    {7, EBX, 9, false, EMULATOR_ONLY,
     "ERMS: makes memcpy use rep movsq (8x fewer emulated iterations)"},
    {7, EBX, 10, false, EMULATOR_ONLY, "INVPCID: not emulated"},
    {7, EBX, 16, false, EMULATOR_ONLY, "AVX512F needs XSAVE"},
    {7, EBX, 18, false, EMULATOR_ONLY, "RDSEED: not emulated"},
    {7, EBX, 20, false, EMULATOR_ONLY, "SMAP: CLAC/STAC are not emulated"},
    {7, EBX, 23, false, EMULATOR_ONLY, "CLFLUSHOPT: not emulated"},
    {7, EBX, 24, false, EMULATOR_ONLY, "CLWB: not emulated"},
    {7, ECX, 2, false, EMULATOR_ONLY, "UMIP: not emulated"},
    {7, ECX, 3, false, EMULATOR_ONLY, "PKU: not emulated"},
    {7, ECX, 22, false, EMULATOR_ONLY, "RDPID: not emulated"},
    {7, EDX, 4, false, EMULATOR_ONLY, "FSRM: as ERMS"},
    {0x80000001, EDX, 27, false, EMULATOR_ONLY, "RDTSCP: not emulated"},
};

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, int reg)
{
    switch (reg) {
    case EAX:
        return &e->eax;
    case EBX:
        return &e->ebx;
    case ECX:
        return &e->ecx;
    default:
        return &e->edx;
    }
}

static struct kvm_cpuid2 *supported;

static int get_supported(Vm *vm, Error *err)
{
    if (supported)
        return 0;
    for (int n = 128; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
        if (!c)
            return error_setf(err, "out of memory");
        c->nent = (uint32_t)n;
        if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            supported = c;
            return 0;
        }
        free(c);
        if (errno != E2BIG)
            return error_setf(err, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
    }
    return error_setf(err, "KVM_GET_SUPPORTED_CPUID: too many entries");
}

int cpuid_setup(Vm *vm, Vcpu *v, Error *err)
{
    if (get_supported(vm, err) < 0)
        return -1;
    bool emulator = vm->cfg.cpu_model == CPU_MODEL_EMULATOR ||
                    (vm->cfg.cpu_model == CPU_MODEL_AUTO && vm->emulated_kernel_host);
    size_t sz = sizeof(*supported) + (supported->nent + 1) * sizeof(supported->entries[0]);
    struct kvm_cpuid2 *c = malloc(sz);
    if (!c)
        return error_setf(err, "out of memory");
    memcpy(c, supported, sz - sizeof(supported->entries[0]));
    bool have_timing_leaf = false;
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        for (size_t k = 0; k < sizeof(edits) / sizeof(edits[0]); k++) {
            const CpuidEdit *ed = &edits[k];
            if (ed->function != e->function || (ed->function == 7 && e->index != 0))
                continue;
            if (ed->when == EMULATOR_ONLY && !emulator)
                continue;
            if (ed->set)
                *reg_of(e, ed->reg) |= 1u << ed->bit;
            else
                *reg_of(e, ed->reg) &= ~(1u << ed->bit);
        }
        switch (e->function) {
        case 1:
            /* EBX[31:24]: initial APIC ID; [23:16]: logical CPUs per package */
            e->ebx =
                (e->ebx & 0x0000ffffu) | ((uint32_t)v->id << 24) | ((uint32_t)vm->cfg.smp << 16);
            if (vm->cfg.smp > 1)
                e->edx |= 1u << 28; /* HTT: the count above is valid */
            break;
        case 0xb:
        case 0x1f:
            e->edx = (uint32_t)v->id; /* x2APIC ID */
            break;
        case 0xd:
            if (emulator) /* no XSAVE: no XSAVE state components */
                e->eax = e->ebx = e->ecx = e->edx = 0;
            break;
        case 0x40000000:
            /* hypervisor leaves up to 0x40000010 (the TSC frequency leaf) */
            if (e->eax < 0x40000010)
                e->eax = 0x40000010;
            break;
        case 0x40000010:
            have_timing_leaf = true;
            e->eax = vm->tsc_khz;
            e->ebx = 1000000; /* LAPIC timer: 1 GHz bus in kHz, as KVM emulates */
            break;
        }
    }
    /* Tell the guest the TSC frequency (kHz) so it need not calibrate it
     * against the PIT, a loop that is slow in an emulated kernel. */
    if (!have_timing_leaf && vm->tsc_khz) {
        struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
        memset(e, 0, sizeof(*e));
        e->function = 0x40000010;
        e->eax = vm->tsc_khz;
        e->ebx = 1000000;
    }
    int r = ioctl(v->fd, KVM_SET_CPUID2, c);
    free(c);
    if (r < 0)
        return error_setf(err, "KVM_SET_CPUID2: %s", strerror(errno));
    return 0;
}
