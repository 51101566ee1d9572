/* Guest physical memory and the region map.
 *
 * Two things live here:
 *  - GuestMemory: where guest RAM is in the host process, and the only way
 *    devices touch it (dma_read / dma_write / guest_ram_ptr), each checking
 *    that the whole range lies inside RAM. A DMA that targets anything else
 *    (MMIO, the PCI hole, beyond RAM, wrapping past 2^64) is refused: devices
 *    therefore can never re-enter themselves or another device through DMA.
 *  - AddressSpace: a map from guest addresses to MemoryRegions (MMIO or port
 *    I/O) with read/write callbacks; the vCPU loop dispatches exits through it.
 */
#ifndef E1KVM_CORE_MEMORY_H
#define E1KVM_CORE_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_RANGES 2

typedef struct GuestMemRange {
    uint64_t gpa;  /* guest physical start */
    uint64_t size; /* bytes */
    uint8_t *host; /* host virtual address of gpa */
} GuestMemRange;

typedef struct GuestMemory {
    GuestMemRange range[GUEST_MEM_MAX_RANGES];
    int nranges;
    uint64_t total; /* bytes of RAM in all ranges */
} GuestMemory;

/* Host pointer for [gpa, gpa+len) if it lies entirely inside one RAM range,
 * else NULL. len == 0 is allowed (returns the pointer if gpa is in RAM). */
void *guest_ram_ptr(const GuestMemory *gm, uint64_t gpa, uint64_t len);

/* Copy between guest RAM and a host buffer. Return 0 on success, -1 (and
 * copy nothing) if any byte of the range is outside RAM. */
int dma_read(const GuestMemory *gm, uint64_t gpa, void *buf, size_t len);
int dma_write(const GuestMemory *gm, uint64_t gpa, const void *buf, size_t len);

typedef struct MemoryRegionOps {
    /* offset is relative to the region start; size is 1, 2, 4 or 8, or
     * what the sizes below allow */
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
    /* The access sizes the ops implement (as QEMU's impl.min_access_size /
     * max_access_size); 0: any, as the guest made it. The dispatcher turns
     * any other access (narrower, wider or unaligned) into naturally
     * aligned accesses of the nearest implemented size: a read returns the
     * bytes asked for, a write narrower than min_access_size becomes one of
     * min_access_size whose other bytes come from write_fill. */
    unsigned min_access_size, max_access_size;
    /* What the bytes a narrow write does not cover get: the contents a
     * register stores (so they stay), or 0 for one whose write is an action
     * (a write-1-to-clear register must not replay old bytes). Called
     * without side effects; NULL: 0. */
    uint64_t (*write_fill)(void *opaque, uint64_t offset, unsigned size);
} MemoryRegionOps;

/* A doorbell: a guest write of (optionally exactly) `data` to `offset` in a
 * region signals eventfd `fd` instead of stopping the vCPU (KVM ioeventfd).
 * The device learns of the write from the fd, later, on the main loop. */
typedef struct IoEventFd {
    uint64_t offset;
    uint32_t len;
    bool match; /* only this value (else any write of len bytes) */
    uint64_t data;
    int fd;
    bool active; /* accepted by the accelerator (KVM may refuse: then the write exits as usual) */
} IoEventFd;

/* A posted-write window: guest writes to [offset, offset + len) of a region
 * are queued by the accelerator (KVM's coalesced-MMIO ring) instead of
 * stopping the vCPU, like PCI posted writes. They reach the region's write
 * op in guest order before any later access that exits, or when the device
 * asks for them (memory_region_flush_posted). Only for registers whose
 * writes have no effect the guest can observe before its next read. */
typedef struct PostedRange {
    uint64_t offset;
    uint32_t len;
    bool active; /* accepted by the accelerator */
} PostedRange;

#define MEMORY_REGION_MAX_POSTED 4

/* A hook on writes that exited to the VMM (not on writes a device makes to
 * itself): called after the write op for every write of exactly len bytes
 * at offset. The doorbell service learns its values this way. */
typedef struct WriteWatch {
    uint64_t offset;
    uint32_t len;
    void (*fn)(void *opaque, uint64_t value);
    void *opaque;
} WriteWatch;

#define MEMORY_REGION_MAX_WATCH 16

struct AddressSpace;

typedef struct MemoryRegion {
    const char *name;
    uint64_t addr; /* guest address (MMIO) or port (PIO) */
    uint64_t size;
    const MemoryRegionOps *ops;
    void *opaque;
    bool mapped;             /* currently in an AddressSpace */
    uint64_t accesses;       /* exits served by this region (statistics) */
    struct AddressSpace *as; /* where it is mapped */
    IoEventFd *ioeventfds;
    size_t nioeventfds, ioeventfds_cap;
    PostedRange posted[MEMORY_REGION_MAX_POSTED];
    unsigned nposted;
    WriteWatch watch[MEMORY_REGION_MAX_WATCH];
    unsigned nwatch;
} MemoryRegion;

/* Who turns doorbells into accelerator state (KVM); NULL in unit tests,
 * where doorbells stay inert and tests signal the fds themselves. */
typedef struct MemoryListener {
    /* returns 0 if the accelerator took it */
    int (*ioeventfd_add)(void *opaque, struct AddressSpace *as, uint64_t addr, IoEventFd *e);
    void (*ioeventfd_del)(void *opaque, struct AddressSpace *as, uint64_t addr, IoEventFd *e);
    /* posted-write windows (MMIO only); returns 0 if the accelerator took it */
    int (*posted_add)(void *opaque, struct AddressSpace *as, uint64_t addr, uint32_t len);
    void (*posted_del)(void *opaque, struct AddressSpace *as, uint64_t addr, uint32_t len);
    /* deliver every queued posted write now (caller holds the device lock) */
    void (*posted_flush)(void *opaque);
    void *opaque;
} MemoryListener;

typedef struct AddressSpace {
    const char *name;       /* "mmio" or "pio" */
    MemoryRegion **regions; /* sorted by addr, non-overlapping */
    size_t nregions, cap;
    const MemoryListener *listener;
} AddressSpace;

void address_space_init(AddressSpace *as, const char *name);
/* Insert a region at mr->addr. Returns -1 if it overlaps another one. */
int address_space_add(AddressSpace *as, MemoryRegion *mr);
void address_space_del(AddressSpace *as, MemoryRegion *mr);
/* Doorbells of a region; they follow the region when it is (un)mapped or
 * moved (a BAR reprogrammed). Returns -1 on allocation failure. */
int memory_region_add_ioeventfd(MemoryRegion *mr, uint64_t offset, uint32_t len, bool match,
                                uint64_t data, int fd);
/* Remove every doorbell of the region that signals fd. */
void memory_region_del_ioeventfds(MemoryRegion *mr, int fd);
/* Make writes to [offset, offset + len) posted (see PostedRange); they
 * follow the region when it moves. Returns -1 when the table is full. */
int memory_region_add_posted(MemoryRegion *mr, uint64_t offset, uint32_t len);
/* Deliver the posted writes queued so far (to every region: the queue is
 * one, in guest order). Caller holds the device lock. */
void memory_region_flush_posted(MemoryRegion *mr);
/* Watch exiting writes of len bytes at offset (WriteWatch); -1 when the
 * table is full. Unwatch removes every watch with that opaque. */
int memory_region_watch_writes(MemoryRegion *mr, uint64_t offset, uint32_t len,
                               void (*fn)(void *opaque, uint64_t value), void *opaque);
void memory_region_unwatch_writes(MemoryRegion *mr, void *opaque);
/* An access to a region at offset, as the guest made it (size 1..8; a
 * larger one is ignored, reads 0): split or merged to the sizes the
 * region's ops implement, then the write watches. */
uint64_t memory_region_dispatch_read(MemoryRegion *mr, uint64_t offset, unsigned size);
void memory_region_dispatch_write(MemoryRegion *mr, uint64_t offset, uint64_t value, unsigned size);
/* Attach an accelerator; (re)registers the doorbells of mapped regions
 * (also used after the VM was re-created on reset). */
void address_space_set_listener(AddressSpace *as, const MemoryListener *l);
/* Forget accelerator state without telling it (the VM fd is gone). */
void address_space_drop_listener_state(AddressSpace *as);

/* Region containing addr (and offset inside it), or NULL. */
MemoryRegion *address_space_find(AddressSpace *as, uint64_t addr, uint64_t *offset);
/* Dispatch an access. Unclaimed reads return all ones (as on a real bus),
 * unclaimed writes are ignored; the return value says whether a region took it. */
bool address_space_read(AddressSpace *as, uint64_t addr, void *data, unsigned size);
bool address_space_write(AddressSpace *as, uint64_t addr, const void *data, unsigned size);

#endif
