/* Doorbells as a VMM service (core/doorbell.h). */
#include "core/doorbell.h"

#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/loop.h"
#include "trace/stats.h"
#include "util/error.h"

struct Doorbell {
    DoorbellGroup *group;
    unsigned index; /* in the group: the high half of each fd's epoll tag */
    MemoryRegion *mr;
    uint64_t offset;
    uint32_t len;
    const DoorbellOps *ops;
    void *opaque;
    uint32_t max, count;
    int *fd;         /* [slot] */
    uint32_t *value; /* [slot]: the value it matches */
    uint32_t *rang;  /* scratch for a take: values that rang */
    bool full;       /* KVM (or the fd limit) refused one: learn no more */
};

struct DoorbellGroup {
    int epfd;
    unsigned n;
    uint32_t total; /* values learnt over all doorbells */
    Doorbell *db[DOORBELL_GROUP_MAX];
};

static void doorbell_group_ready(void *opaque)
{
    doorbell_group_take(opaque);
}

DoorbellGroup *doorbell_group_new(void)
{
    DoorbellGroup *g = calloc(1, sizeof(*g));
    if (!g)
        die("out of memory");
    g->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g->epfd < 0) {
        free(g);
        return NULL;
    }
    loop_set_fd_handler(g->epfd, doorbell_group_ready, NULL, g);
    return g;
}

static void doorbell_forget(Doorbell *d)
{
    for (uint32_t i = 0; i < d->count; i++) {
        memory_region_del_ioeventfds(d->mr, d->fd[i]);
        close(d->fd[i]);
    }
    d->group->total -= d->count;
    d->count = 0;
}

static void doorbell_free(Doorbell *d)
{
    free(d->fd);
    free(d->value);
    free(d->rang);
    free(d);
}

void doorbell_group_free(DoorbellGroup *g)
{
    if (!g)
        return;
    for (unsigned i = 0; i < g->n; i++) {
        Doorbell *d = g->db[i];
        doorbell_forget(d);
        memory_region_unwatch_writes(d->mr, d);
        doorbell_free(d);
    }
    loop_set_fd_handler(g->epfd, NULL, NULL, NULL);
    close(g->epfd);
    free(g);
}

/* memory.c: a write of exactly the doorbell's width and offset exited */
static void doorbell_write_exited(void *opaque, uint64_t value)
{
    Doorbell *d = opaque;
    uint32_t v = (uint32_t)value;
    if (d->ops->exited)
        d->ops->exited(d->opaque, v);
    else
        doorbell_learn(d, v);
}

Doorbell *doorbell_add(DoorbellGroup *g, MemoryRegion *mr, uint64_t offset, uint32_t len,
                       uint32_t max_values, const DoorbellOps *ops, void *opaque)
{
    if (g->n == DOORBELL_GROUP_MAX || max_values == 0 || max_values > 0xffff)
        return NULL;
    Doorbell *d = calloc(1, sizeof(*d));
    if (!d)
        die("out of memory");
    *d = (Doorbell){.group = g,
                    .index = g->n,
                    .mr = mr,
                    .offset = offset,
                    .len = len,
                    .ops = ops,
                    .opaque = opaque,
                    .max = max_values};
    d->fd = calloc(max_values, sizeof(*d->fd));
    d->value = calloc(max_values, sizeof(*d->value));
    d->rang = calloc(max_values, sizeof(*d->rang));
    if (!d->fd || !d->value || !d->rang)
        die("out of memory");
    if (memory_region_watch_writes(mr, offset, len, doorbell_write_exited, d) < 0) {
        doorbell_free(d);
        return NULL;
    }
    g->db[g->n++] = d;
    return d;
}

bool doorbell_known(const Doorbell *d, uint32_t value)
{
    for (uint32_t i = 0; i < d->count; i++) {
        if (d->value[i] == value)
            return true;
    }
    return false;
}

uint32_t doorbell_count(const Doorbell *d)
{
    return d->count;
}

bool doorbell_learn(Doorbell *d, uint32_t value)
{
    if (doorbell_known(d, value))
        return true;
    if (d->full || d->count >= d->max)
        return false;
    uint32_t slot = d->count;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = d->index << 16 | slot};
    if (fd < 0 || epoll_ctl(d->group->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ||
        memory_region_add_ioeventfd(d->mr, d->offset, d->len, true, value, fd) < 0) {
        if (fd >= 0)
            close(fd);
        d->full = true; /* out of fds or KVM's bus is full: writes exit */
        return false;
    }
    d->fd[slot] = fd;
    d->value[slot] = value;
    d->count = slot + 1;
    d->group->total++;
    return true;
}

void doorbell_group_take(DoorbellGroup *g)
{
    if (!g || !g->total)
        return;
    unsigned nrang[DOORBELL_GROUP_MAX] = {0};
    struct epoll_event ev[64];
    /* all that rang, in batches; bounded: each read resets its eventfd, so
     * a fd is reported once per take (total values / 64 + 1 batches) */
    for (int n = 64, round = 0; n == 64 && (uint32_t)round < g->total / 64 + 1; round++) {
        n = epoll_wait(g->epfd, ev, 64, 0);
        for (int i = 0; i < n; i++) {
            unsigned idx = ev[i].data.u32 >> 16, slot = ev[i].data.u32 & 0xffff;
            uint64_t cnt;
            if (idx >= g->n)
                continue;
            Doorbell *d = g->db[idx];
            if (slot >= d->count || read(d->fd[slot], &cnt, sizeof(cnt)) != sizeof(cnt))
                continue;
            exitstats_record_doorbell(d->mr, d->offset, cnt);
            if (nrang[idx] < d->max) /* a value rings again while we look: once is enough */
                d->rang[nrang[idx]++] = d->value[slot];
        }
    }
    for (unsigned i = 0; i < g->n; i++) {
        if (nrang[i])
            g->db[i]->ops->rang(g->db[i]->opaque, g->db[i]->rang, nrang[i]);
    }
}
