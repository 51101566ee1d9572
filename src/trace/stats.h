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

/* The statistics count by region, which they only name: trace sits below
 * core (core records into it), so it does not see core's types. What a
 * region is called and where it is comes from a describer that the memory
 * layer installs (exitstats_set_describer). */
struct MemoryRegion;

/* Name of the register at @offset of a region (may format into buf), or
 * NULL if it has none. */
typedef const char *(*ExitStatsNamer)(uint64_t offset, char *buf, size_t len);

/* Name and current guest address (or port) of a region, for sorting and
 * printing. Without one, regions sort by pointer and print as "?". */
typedef void (*ExitStatsDescriber)(const struct MemoryRegion *mr, const char **name,
                                   uint64_t *addr);
void exitstats_set_describer(ExitStatsDescriber describe);

void exitstats_set_namer(const struct MemoryRegion *mr, ExitStatsNamer namer);
/* One guest access that exited to user space. @mr may be NULL (nothing
 * claimed the address; then @offset is the address). */
void exitstats_record(const struct MemoryRegion *mr, uint64_t offset, bool pio, bool write);
/* @count guest writes that rang a doorbell (a KVM ioeventfd): they did not
 * exit, the device learnt of them from an eventfd. */
void exitstats_record_doorbell(const struct MemoryRegion *mr, uint64_t offset, uint64_t count);
/* One posted guest write (KVM coalesced MMIO) delivered: it did not exit. */
void exitstats_record_posted(const struct MemoryRegion *mr, uint64_t offset);

typedef struct ExitStatsReg {
    const struct MemoryRegion *mr;
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
const char *exitstats_reg_name(const struct MemoryRegion *mr, uint64_t offset, char *buf,
                               size_t len);
void exitstats_reset(void);

/* The -stats table of port and MMIO exits per region and register (the
 * exits per reason are the vCPUs' own: vcpu_exits_print). */
void exitstats_print(FILE *f);

#endif
