#include "core/memory.h"

#include <stdlib.h>
#include <string.h>

#include "trace/stats.h"

/* The exit statistics (trace/) count by region without seeing its type:
 * they learn a region's name and address from here, before main, so that
 * every program linking the memory layer (the VMM, unit tests, devbench)
 * prints the same table. */
static void describe_region(const struct MemoryRegion *mr, const char **name, uint64_t *addr)
{
    *name = mr->name;
    *addr = mr->addr;
}

static void __attribute__((constructor)) memory_stats_register(void)
{
    exitstats_set_describer(describe_region);
}

void *guest_ram_ptr(const GuestMemory *gm, uint64_t gpa, uint64_t len)
{
    for (int i = 0; i < gm->nranges; i++) {
        const GuestMemRange *r = &gm->range[i];
        /* written so that no addition can wrap: gpa + len may exceed 2^64 */
        if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
            return r->host + (gpa - r->gpa);
    }
    return NULL;
}

int dma_read(const GuestMemory *gm, uint64_t gpa, void *buf, size_t len)
{
    void *p = guest_ram_ptr(gm, gpa, len);
    if (!p)
        return -1;
    memcpy(buf, p, len);
    return 0;
}

int dma_write(const GuestMemory *gm, uint64_t gpa, const void *buf, size_t len)
{
    void *p = guest_ram_ptr(gm, gpa, len);
    if (!p)
        return -1;
    memcpy(p, buf, len);
    return 0;
}

void address_space_init(AddressSpace *as, const char *name)
{
    memset(as, 0, sizeof(*as));
    as->name = name;
}

static bool overlaps(const MemoryRegion *a, uint64_t addr, uint64_t size)
{
    return addr < a->addr + a->size && a->addr < addr + size;
}

static void ioeventfd_register(AddressSpace *as, MemoryRegion *mr, IoEventFd *e)
{
    if (as && as->listener && as->listener->ioeventfd_add && !e->active)
        e->active =
            as->listener->ioeventfd_add(as->listener->opaque, as, mr->addr + e->offset, e) == 0;
}

static void ioeventfd_unregister(AddressSpace *as, MemoryRegion *mr, IoEventFd *e)
{
    if (as && as->listener && as->listener->ioeventfd_del && e->active)
        as->listener->ioeventfd_del(as->listener->opaque, as, mr->addr + e->offset, e);
    e->active = false;
}

int memory_region_add_ioeventfd(MemoryRegion *mr, uint64_t offset, uint32_t len, bool match,
                                uint64_t data, int fd)
{
    if (mr->nioeventfds == mr->ioeventfds_cap) {
        size_t cap = mr->ioeventfds_cap ? mr->ioeventfds_cap * 2 : 16;
        IoEventFd *n = realloc(mr->ioeventfds, cap * sizeof(*n));
        if (!n)
            return -1;
        mr->ioeventfds = n;
        mr->ioeventfds_cap = cap;
    }
    IoEventFd *e = &mr->ioeventfds[mr->nioeventfds++];
    *e = (IoEventFd){.offset = offset, .len = len, .match = match, .data = data, .fd = fd};
    if (mr->mapped)
        ioeventfd_register(mr->as, mr, e);
    return 0;
}

void memory_region_del_ioeventfds(MemoryRegion *mr, int fd)
{
    size_t out = 0;
    for (size_t i = 0; i < mr->nioeventfds; i++) {
        IoEventFd *e = &mr->ioeventfds[i];
        if (e->fd == fd) {
            if (mr->mapped)
                ioeventfd_unregister(mr->as, mr, e);
            continue;
        }
        mr->ioeventfds[out++] = *e;
    }
    mr->nioeventfds = out;
    if (out == 0) { /* the last doorbell went: give the table back */
        free(mr->ioeventfds);
        mr->ioeventfds = NULL;
        mr->ioeventfds_cap = 0;
    }
}

static void posted_register(AddressSpace *as, MemoryRegion *mr, PostedRange *p)
{
    if (as && as->listener && as->listener->posted_add && !p->active)
        p->active =
            as->listener->posted_add(as->listener->opaque, as, mr->addr + p->offset, p->len) == 0;
}

static void posted_unregister(AddressSpace *as, MemoryRegion *mr, PostedRange *p)
{
    if (as && as->listener && p->active && as->listener->posted_del)
        as->listener->posted_del(as->listener->opaque, as, mr->addr + p->offset, p->len);
    p->active = false;
}

int memory_region_add_posted(MemoryRegion *mr, uint64_t offset, uint32_t len)
{
    if (mr->nposted == MEMORY_REGION_MAX_POSTED || len == 0 || offset + len > mr->size)
        return -1;
    PostedRange *p = &mr->posted[mr->nposted++];
    *p = (PostedRange){.offset = offset, .len = len};
    if (mr->mapped)
        posted_register(mr->as, mr, p);
    return 0;
}

void memory_region_flush_posted(MemoryRegion *mr)
{
    AddressSpace *as = mr->as;
    if (mr->mapped && as && as->listener && as->listener->posted_flush)
        as->listener->posted_flush(as->listener->opaque);
}

void address_space_set_listener(AddressSpace *as, const MemoryListener *l)
{
    as->listener = l;
    for (size_t i = 0; i < as->nregions; i++) {
        MemoryRegion *mr = as->regions[i];
        for (size_t k = 0; k < mr->nioeventfds; k++)
            ioeventfd_register(as, mr, &mr->ioeventfds[k]);
        for (unsigned k = 0; k < mr->nposted; k++)
            posted_register(as, mr, &mr->posted[k]);
    }
}

void address_space_drop_listener_state(AddressSpace *as)
{
    for (size_t i = 0; i < as->nregions; i++) {
        for (size_t k = 0; k < as->regions[i]->nioeventfds; k++)
            as->regions[i]->ioeventfds[k].active = false;
        for (unsigned k = 0; k < as->regions[i]->nposted; k++)
            as->regions[i]->posted[k].active = false;
    }
    as->listener = NULL;
}

int address_space_add(AddressSpace *as, MemoryRegion *mr)
{
    if (mr->size == 0 || mr->addr + mr->size < mr->addr)
        return -1;
    size_t pos = 0;
    for (size_t i = 0; i < as->nregions; i++) {
        if (overlaps(as->regions[i], mr->addr, mr->size))
            return -1;
        if (as->regions[i]->addr < mr->addr)
            pos = i + 1;
    }
    if (as->nregions == as->cap) {
        size_t cap = as->cap ? as->cap * 2 : 16;
        MemoryRegion **n = realloc(as->regions, cap * sizeof(*n));
        if (!n)
            return -1;
        as->regions = n;
        as->cap = cap;
    }
    memmove(&as->regions[pos + 1], &as->regions[pos], (as->nregions - pos) * sizeof(*as->regions));
    as->regions[pos] = mr;
    as->nregions++;
    mr->mapped = true;
    mr->as = as;
    for (size_t k = 0; k < mr->nioeventfds; k++)
        ioeventfd_register(as, mr, &mr->ioeventfds[k]);
    for (unsigned k = 0; k < mr->nposted; k++)
        posted_register(as, mr, &mr->posted[k]);
    return 0;
}

void address_space_del(AddressSpace *as, MemoryRegion *mr)
{
    for (size_t i = 0; i < as->nregions; i++) {
        if (as->regions[i] == mr) {
            for (size_t k = 0; k < mr->nioeventfds; k++)
                ioeventfd_unregister(as, mr, &mr->ioeventfds[k]);
            /* writes queued at the old address go to the region before it
             * moves (they name a guest address, not the region) */
            bool any_posted = false;
            for (unsigned k = 0; k < mr->nposted; k++) {
                any_posted |= mr->posted[k].active;
                posted_unregister(as, mr, &mr->posted[k]);
            }
            if (any_posted && as->listener && as->listener->posted_flush)
                as->listener->posted_flush(as->listener->opaque);
            memmove(&as->regions[i], &as->regions[i + 1],
                    (as->nregions - i - 1) * sizeof(*as->regions));
            as->nregions--;
            mr->mapped = false;
            return;
        }
    }
}

MemoryRegion *address_space_find(AddressSpace *as, uint64_t addr, uint64_t *offset)
{
    size_t lo = 0, hi = as->nregions;
    while (lo < hi) { /* binary search: regions are sorted and disjoint */
        size_t mid = (lo + hi) / 2;
        MemoryRegion *mr = as->regions[mid];
        if (addr < mr->addr)
            hi = mid;
        else if (addr - mr->addr >= mr->size)
            lo = mid + 1;
        else {
            if (offset)
                *offset = addr - mr->addr;
            return mr;
        }
    }
    return NULL;
}

static uint64_t load_le(const void *data, unsigned size)
{
    uint64_t v = 0;
    memcpy(&v, data, size > 8 ? 8 : size); /* x86 host: little endian */
    return v;
}

int memory_region_watch_writes(MemoryRegion *mr, uint64_t offset, uint32_t len,
                               void (*fn)(void *opaque, uint64_t value), void *opaque)
{
    if (mr->nwatch == MEMORY_REGION_MAX_WATCH)
        return -1;
    mr->watch[mr->nwatch++] = (WriteWatch){offset, len, fn, opaque};
    return 0;
}

void memory_region_unwatch_writes(MemoryRegion *mr, void *opaque)
{
    unsigned out = 0;
    for (unsigned i = 0; i < mr->nwatch; i++) {
        if (mr->watch[i].opaque != opaque)
            mr->watch[out++] = mr->watch[i];
    }
    mr->nwatch = out;
}

/* The unit an access is carried out in: 0 when the ops take it as it is,
 * else the nearest implemented size (naturally aligned units cover an
 * unaligned access). */
static unsigned access_unit(const MemoryRegionOps *ops, uint64_t offset, unsigned size)
{
    unsigned min = ops->min_access_size, max = ops->max_access_size;
    if (!min)
        return 0;
    if (!max || max < min)
        max = min;
    if (size >= min && size <= max && !(offset & (size - 1)))
        return 0;
    return size > max ? max : min;
}

uint64_t memory_region_dispatch_read(MemoryRegion *mr, uint64_t offset, unsigned size)
{
    const MemoryRegionOps *ops = mr->ops;
    if (size == 0 || size > 8 || !ops->read)
        return 0;
    unsigned unit = access_unit(ops, offset, size);
    if (!unit)
        return ops->read(mr->opaque, offset, size);
    uint64_t val = 0;
    for (uint64_t a = offset & ~(uint64_t)(unit - 1); a < offset + size && a < mr->size;
         a += unit) {
        uint64_t u = ops->read(mr->opaque, a, unit);
        for (unsigned b = 0; b < unit; b++) {
            if (a + b >= offset && a + b < offset + size)
                val |= ((u >> (8 * b)) & 0xff) << (8 * (a + b - offset));
        }
    }
    return val;
}

void memory_region_dispatch_write(MemoryRegion *mr, uint64_t offset, uint64_t value, unsigned size)
{
    const MemoryRegionOps *ops = mr->ops;
    if (size == 0 || size > 8 || !ops->write)
        return;
    unsigned unit = access_unit(ops, offset, size);
    if (!unit) {
        ops->write(mr->opaque, offset, value, size);
    } else {
        for (uint64_t a = offset & ~(uint64_t)(unit - 1); a < offset + size && a < mr->size;
             a += unit) {
            uint64_t mask = 0, u = 0;
            for (unsigned b = 0; b < unit; b++) {
                if (a + b >= offset && a + b < offset + size) {
                    mask |= 0xffull << (8 * b);
                    u |= ((value >> (8 * (a + b - offset))) & 0xff) << (8 * b);
                }
            }
            uint64_t full = unit == 8 ? ~0ull : (1ull << (8 * unit)) - 1;
            if (mask != full && ops->write_fill)
                u |= ops->write_fill(mr->opaque, a, unit) & ~mask & full;
            ops->write(mr->opaque, a, u, unit);
        }
    }
    for (unsigned i = 0; i < mr->nwatch; i++) {
        const WriteWatch *w = &mr->watch[i];
        if (w->offset == offset && w->len == size)
            w->fn(w->opaque, size < 8 ? value & ((1ull << (8 * size)) - 1) : value);
    }
}

bool address_space_read(AddressSpace *as, uint64_t addr, void *data, unsigned size)
{
    uint64_t off;
    MemoryRegion *mr = address_space_find(as, addr, &off);
    if (size > 8)
        size = 8;
    if (!mr || !mr->ops->read) {
        memset(data, 0xff, size);
        return false;
    }
    mr->accesses++;
    uint64_t v = memory_region_dispatch_read(mr, off, size);
    memcpy(data, &v, size);
    return true;
}

bool address_space_write(AddressSpace *as, uint64_t addr, const void *data, unsigned size)
{
    uint64_t off;
    MemoryRegion *mr = address_space_find(as, addr, &off);
    if (size > 8)
        size = 8;
    if (!mr || !mr->ops->write)
        return false;
    mr->accesses++;
    memory_region_dispatch_write(mr, off, load_le(data, size), size);
    return true;
}
