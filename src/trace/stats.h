/* Exit accounting: how often each vCPU left KVM_RUN and why (Vcpu.exits[]),
 * and for port and MMIO exits which device register the guest touched.
 *
 * The vCPU loop calls exitstats_record() for every PIO/MMIO access with the
 * region and offset (under the device lock, like the dispatch itself); the
 * counts live in a small open-addressing hash keyed by (region, offset).
 * A device may name its registers (exitstats_set_namer); the table printed
 * by -stats and returned by QMP query-exits then says "TDT" instead of
 * "+0x3818". */
#ifndef E1KVM_TRACE_STATS_H
#define E1KVM_TRACE_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/memory.h"

/* Name of the register at @offset of a region (may format into buf), or
 * NULL if it has none. */
typedef const char *(*ExitStatsNamer)(uint64_t offset, char *buf, size_t len);

void exitstats_set_namer(const MemoryRegion *mr, ExitStatsNamer namer);
/* One guest access that exited to user space. @mr may be NULL (nothing
 * claimed the address; then @offset is the address). */
void exitstats_record(const MemoryRegion *mr, uint64_t offset, bool pio, bool write);
/* @count guest writes that rang a doorbell (a KVM ioeventfd): they did not
 * exit, the device learnt of them from an eventfd. */
void exitstats_record_doorbell(const MemoryRegion *mr, uint64_t offset, uint64_t count);
/* One posted guest write (KVM coalesced MMIO) delivered: it did not exit. */
void exitstats_record_posted(const MemoryRegion *mr, uint64_t offset);

typedef struct ExitStatsReg {
    const MemoryRegion *mr;
    uint64_t offset;
    uint64_t reads, writes; /* exits */
    uint64_t doorbells;     /* writes that did not exit (ioeventfd) */
    uint64_t posted;        /* writes that did not exit (coalesced MMIO) */
} ExitStatsReg;

/* Copy up to @max entries, sorted by region address then offset; returns how
 * many there are (which may exceed @max). */
size_t exitstats_snapshot(ExitStatsReg *out, size_t max);
/* Accesses that found the hash full (counted, not attributed). */
uint64_t exitstats_overflow(void);
/* Register name for (mr, offset): the namer's, else "+0xOFF". */
const char *exitstats_reg_name(const MemoryRegion *mr, uint64_t offset, char *buf, size_t len);
void exitstats_reset(void);

struct Vm;
/* The -stats table: exits per reason (per vCPU and in all), then per region
 * and register. */
void exitstats_print(FILE *f, struct Vm *vm);

#endif
