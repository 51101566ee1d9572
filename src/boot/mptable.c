/* Intel MultiProcessor Specification 1.4 tables: CPUs, the IOAPIC, the ISA
 * and PCI buses and how their interrupts reach IOAPIC inputs. Linux finds
 * the floating pointer in the last KiB of base memory. An MP table costs
 * the guest far less to parse than ACPI, which matters when the guest
 * kernel runs in an instruction emulator (docs/HOST.md: ACPI ~11 s). */
#include <string.h>

#include "boot/boot.h"

#define APIC_DEFAULT_BASE 0xfee00000u
#define IOAPIC_DEFAULT_BASE 0xfec00000u
#define BUS_ID_PCI 0
#define BUS_ID_ISA 1
#define IOAPIC_PINS 24

#define MP_PROCESSOR 0
#define MP_BUS 1
#define MP_IOAPIC 2
#define MP_INTSRC 3
#define MP_LINTSRC 4
#define MP_INT 0
#define MP_NMI 1
#define MP_EXTINT 3
/* flags: polarity bits 1:0 (01 high), trigger bits 3:2 (11 level) */
#define MP_IRQ_DEFAULT 0x00
#define MP_IRQ_PCI_LEVEL_HIGH 0x0d

typedef struct __attribute__((packed)) {
    char signature[4];
    uint32_t physptr;
    uint8_t length;
    uint8_t specrev;
    uint8_t checksum;
    uint8_t feature[5];
} MpFloating;

typedef struct __attribute__((packed)) {
    char signature[4];
    uint16_t length;
    uint8_t spec;
    uint8_t checksum;
    char oem[8];
    char productid[12];
    uint32_t oemptr;
    uint16_t oemsize;
    uint16_t count;
    uint32_t lapic;
    uint16_t extlen;
    uint8_t extcheck;
    uint8_t reserved;
} MpConfig;

typedef struct __attribute__((packed)) {
    uint8_t type, apicid, apicver, cpuflag;
    uint32_t cpufeature, featureflag;
    uint32_t reserved[2];
} MpCpu;

typedef struct __attribute__((packed)) {
    uint8_t type, busid;
    char bustype[6];
} MpBus;

typedef struct __attribute__((packed)) {
    uint8_t type, apicid, apicver, flags;
    uint32_t apicaddr;
} MpIoapic;

typedef struct __attribute__((packed)) {
    uint8_t type, irqtype;
    uint16_t irqflag;
    uint8_t srcbus, srcbusirq, dstapic, dstirq;
} MpIntsrc;

static uint8_t checksum(const void *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + ((const uint8_t *)p)[i]);
    return (uint8_t)-s;
}

int mptable_write(Vm *vm, uint64_t addr, size_t max, const BootPciIrq *pci_irqs, int npci_irqs,
                  Error *err)
{
    uint8_t *base = guest_ram_ptr(&vm->m.ram, addr, max);
    if (!base)
        return error_setf(err, "no room for the MP table");
    memset(base, 0, max);
    MpFloating *mpf = (MpFloating *)base;
    MpConfig *mpc = (MpConfig *)(base + sizeof(*mpf));
    uint8_t *p = (uint8_t *)(mpc + 1), *end = base + max;
    int ioapic_id = vm->cfg.smp;
    uint16_t count = 0;
#define ENTRY(T) (p + sizeof(T) <= end ? (T *)memset(p, 0, sizeof(T)) : NULL)
#define NEXT(T) (p += sizeof(T), count++)

    for (int i = 0; i < vm->cfg.smp; i++) {
        MpCpu *c = ENTRY(MpCpu);
        if (!c)
            goto full;
        *c = (MpCpu){.type = MP_PROCESSOR,
                     .apicid = (uint8_t)i,
                     .apicver = 0x14,
                     .cpuflag = (uint8_t)(1 | (i == 0 ? 2 : 0)), /* enabled, boot CPU */
                     .cpufeature = 0x600,
                     .featureflag = 0x201}; /* family 6; FPU, APIC */
        NEXT(MpCpu);
    }
    static const struct {
        uint8_t id;
        const char *name;
    } buses[] = {{BUS_ID_PCI, "PCI   "}, {BUS_ID_ISA, "ISA   "}};
    for (int i = 0; i < 2; i++) {
        MpBus *b = ENTRY(MpBus);
        if (!b)
            goto full;
        b->type = MP_BUS;
        b->busid = buses[i].id;
        memcpy(b->bustype, buses[i].name, 6);
        NEXT(MpBus);
    }
    MpIoapic *io = ENTRY(MpIoapic);
    if (!io)
        goto full;
    *io = (MpIoapic){.type = MP_IOAPIC,
                     .apicid = (uint8_t)ioapic_id,
                     .apicver = 0x11,
                     .flags = 1,
                     .apicaddr = IOAPIC_DEFAULT_BASE};
    NEXT(MpIoapic);
    /* ISA IRQ n -> IOAPIC input n, as KVM's default routing wires them */
    for (int irq = 0; irq < 16; irq++) {
        MpIntsrc *s = ENTRY(MpIntsrc);
        if (!s)
            goto full;
        *s = (MpIntsrc){.type = MP_INTSRC,
                        .irqtype = MP_INT,
                        .irqflag = MP_IRQ_DEFAULT,
                        .srcbus = BUS_ID_ISA,
                        .srcbusirq = (uint8_t)irq,
                        .dstapic = (uint8_t)ioapic_id,
                        .dstirq = (uint8_t)irq};
        NEXT(MpIntsrc);
    }
    /* PCI: INTA of each populated slot -> its IOAPIC input, level, active high */
    for (int i = 0; i < npci_irqs; i++) {
        const BootPciIrq *irq = &pci_irqs[i];
        MpIntsrc *s = ENTRY(MpIntsrc);
        if (!s)
            goto full;
        *s = (MpIntsrc){.type = MP_INTSRC,
                        .irqtype = MP_INT,
                        .irqflag = MP_IRQ_PCI_LEVEL_HIGH,
                        .srcbus = BUS_ID_PCI,
                        .srcbusirq = (uint8_t)((irq->slot << 2) | irq->pin),
                        .dstapic = (uint8_t)ioapic_id,
                        .dstirq = irq->gsi};
        NEXT(MpIntsrc);
    }
    /* local interrupts: LINT0 ExtINT (8259 virtual wire), LINT1 NMI, all CPUs */
    for (int i = 0; i < 2; i++) {
        MpIntsrc *s = ENTRY(MpIntsrc);
        if (!s)
            goto full;
        *s = (MpIntsrc){.type = MP_LINTSRC,
                        .irqtype = i ? MP_NMI : MP_EXTINT,
                        .irqflag = MP_IRQ_DEFAULT,
                        .srcbus = 0,
                        .srcbusirq = 0,
                        .dstapic = 0xff,
                        .dstirq = (uint8_t)i};
        NEXT(MpIntsrc);
    }
#undef ENTRY
#undef NEXT
    memcpy(mpc->signature, "PCMP", 4);
    mpc->length = (uint16_t)(p - (uint8_t *)mpc);
    mpc->spec = 4;
    memcpy(mpc->oem, "E1KVM   ", 8);
    memcpy(mpc->productid, "E1KVM 0.1   ", 12);
    mpc->count = count;
    mpc->lapic = APIC_DEFAULT_BASE;
    mpc->checksum = checksum(mpc, mpc->length);

    memcpy(mpf->signature, "_MP_", 4);
    mpf->physptr = (uint32_t)(addr + sizeof(*mpf));
    mpf->length = 1; /* in 16-byte units */
    mpf->specrev = 4;
    mpf->checksum = checksum(mpf, sizeof(*mpf));
    return 0;
full:
    return error_setf(err, "MP table does not fit in %zu bytes", max);
}
