/* The net layer: NetClient peers, the bounded incoming queue of each
 * receiver, flow control through sent_cb. See net.h for the contract.
 *
 *   sender ── net_send_iov ──▶ peer->info->receive_iov        (direct)
 *                         └──▶ peer->queue (copy)             (peer busy)
 *   receiver ready ── net_flush_queued ──▶ receive_iov, then sender's sent_cb
 *
 * Everything here runs under the device lock (see core/loop.h), so there is
 * no locking; re-entrancy (a receiver that flushes or sends from inside its
 * own receive_iov, a sent_cb that sends again) is handled by the queue's
 * `delivering` flag. */
#include "net/net.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "net/eth.h"
#include "trace/trace.h"

struct NetPacket {
    NetPacket *next;
    NetClient *sender;
    NetSentCb sent_cb;
    size_t size;
    uint8_t data[];
};

/* Every client, in creation order (net_client_next), and the backends that
 * -device netdev=ID may name (net_backend_find). */
static NetClient **clients;
static size_t nr_clients, clients_cap;
static NetClient **backends;
static size_t nr_backends, backends_cap;

static void list_add(NetClient ***list, size_t *n, size_t *cap, NetClient *nc)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        NetClient **l = realloc(*list, ncap * sizeof(*l));
        if (!l) {
            die("out of memory");
        }
        *list = l;
        *cap = ncap;
    }
    (*list)[(*n)++] = nc;
}

static void list_del(NetClient **list, size_t *n, NetClient *nc)
{
    for (size_t i = 0; i < *n; i++) {
        if (list[i] == nc) {
            memmove(&list[i], &list[i + 1], (*n - i - 1) * sizeof(*list));
            (*n)--;
            return;
        }
    }
}

NetClient *net_client_new(const NetClientInfo *info, const char *id, void *opaque)
{
    NetClient *nc = calloc(1, sizeof(*nc));
    if (!nc || (id && !(nc->id = strdup(id)))) {
        die("out of memory");
    }
    nc->info = info;
    nc->opaque = opaque;
    nc->queue.max = NET_QUEUE_MAX_PACKETS;
    list_add(&clients, &nr_clients, &clients_cap, nc);
    return nc;
}

void net_client_set_peer(NetClient *a, NetClient *b)
{
    if (a->peer && a->peer != b) {
        a->peer->peer = NULL;
    }
    if (b && b->peer && b->peer != a) {
        b->peer->peer = NULL;
    }
    a->peer = b;
    if (b) {
        b->peer = a;
    }
}

void net_backend_register(NetClient *nc)
{
    list_add(&backends, &nr_backends, &backends_cap, nc);
}

NetClient *net_backend_find(const char *id)
{
    if (!id) {
        return NULL;
    }
    for (size_t i = 0; i < nr_backends; i++) {
        if (backends[i]->id && strcmp(backends[i]->id, id) == 0) {
            return backends[i];
        }
    }
    return NULL;
}

NetClient *net_client_next(NetClient *prev)
{
    size_t i = 0;
    if (prev) {
        while (i < nr_clients && clients[i] != prev) {
            i++;
        }
        i++; /* past prev (or past the end if prev is unknown) */
    }
    return i < nr_clients ? clients[i] : NULL;
}

/* ---- the queue ---- */

/* Copy the packet into @receiver's queue. Returns false if the queue is full
 * (the packet is dropped and counted). */
static bool net_queue_append(NetClient *receiver, NetClient *sender, const struct iovec *iov,
                             int iovcnt, size_t size, NetSentCb sent_cb)
{
    NetQueue *q = &receiver->queue;
    if (q->count >= q->max) {
        receiver->dropped_total++;
        return false;
    }
    NetPacket *p = malloc(sizeof(*p) + size);
    if (!p) {
        die("out of memory");
    }
    p->next = NULL;
    p->sender = sender;
    p->sent_cb = sent_cb;
    p->size = size;
    size_t off = 0;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(p->data + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    if (q->tail) {
        q->tail->next = p;
    } else {
        q->head = p;
    }
    q->tail = p;
    q->count++;
    receiver->queued_total++;
    return true;
}

static NetPacket *net_queue_pop(NetQueue *q)
{
    NetPacket *p = q->head;
    if (p) {
        q->head = p->next;
        if (!q->head) {
            q->tail = NULL;
        }
        q->count--;
    }
    return p;
}

/* Drop every packet queued for @receiver (from @only_sender, or from anyone
 * if NULL). Their senders get sent_cb unless @notify is false (the sender is
 * going away). */
static void net_queue_purge(NetClient *receiver, NetClient *only_sender, bool notify)
{
    NetQueue *q = &receiver->queue;
    NetPacket **pp = &q->head, *p;
    NetPacket *last = NULL;
    /* Unlink first, call back after: a sent_cb may send again. */
    NetPacket *purged = NULL, **purged_tail = &purged;
    while ((p = *pp)) {
        if (!only_sender || p->sender == only_sender) {
            *pp = p->next;
            q->count--;
            receiver->dropped_total++;
            p->next = NULL;
            *purged_tail = p;
            purged_tail = &p->next;
        } else {
            last = p;
            pp = &p->next;
        }
    }
    q->tail = last;
    while ((p = purged)) {
        purged = p->next;
        NetClient *sender = p->sender;
        NetSentCb cb = p->sent_cb;
        free(p);
        if (notify && cb) {
            cb(sender);
        }
    }
}

static const char *nc_name(const NetClient *nc)
{
    return nc->id ? nc->id : nc->info->type;
}

static bool client_can_receive(NetClient *nc)
{
    return !nc->info->can_receive || nc->info->can_receive(nc);
}

/* Hand one packet to @receiver: its length if consumed, 0 if not now. */
static ssize_t net_deliver(NetClient *receiver, const struct iovec *iov, int iovcnt, size_t size,
                           bool from_queue)
{
    if (!receiver->info->receive_iov) {
        return size; /* a client that takes nothing consumes everything */
    }
    bool was_delivering = receiver->queue.delivering;
    TRACE(net_deliver, "to %s (%s) len=%zu%s", nc_name(receiver), receiver->info->type, size,
          from_queue ? " from its queue" : "");
    receiver->queue.delivering = true;
    ssize_t ret = receiver->info->receive_iov(receiver, iov, iovcnt);
    receiver->queue.delivering = was_delivering;
    if (ret < 0) {
        ret = size; /* an error in the receiver consumes the packet */
    }
    return ret;
}

ssize_t net_send_iov(NetClient *sender, const struct iovec *iov, int iovcnt, NetSentCb sent_cb)
{
    NetClient *peer = sender->peer;
    size_t size = iov_size(iov, iovcnt);

    if (!peer || sender->link_down || peer->link_down || size > NET_MAX_PACKET) {
        sender->dropped_total++;
        TRACE(net_send, "%s -> %s len=%zu dropped: %s", nc_name(sender), peer ? nc_name(peer) : "-",
              size,
              !peer                   ? "no peer"
              : size > NET_MAX_PACKET ? "too large"
                                      : "link down");
        return -1;
    }
    TRACE(net_send, "%s -> %s len=%zu", nc_name(sender), nc_name(peer), size);
    for (NetFilter *f = sender->filters; f; f = f->next) {
        f->packet(f, sender, NET_FILTER_TX, iov, iovcnt, size);
    }
    for (NetFilter *f = peer->filters; f; f = f->next) {
        f->packet(f, peer, NET_FILTER_RX, iov, iovcnt, size);
    }
    /* Keep the order: once something waits, everything after it waits too,
     * and nothing overtakes a delivery in progress. */
    ssize_t ret;
    if (peer->queue.head || peer->queue.delivering || !client_can_receive(peer)) {
        ret = net_queue_append(peer, sender, iov, iovcnt, size, sent_cb) ? 0 : -1;
    } else {
        ret = net_deliver(peer, iov, iovcnt, size, false);
        if (ret == 0) {
            ret = net_queue_append(peer, sender, iov, iovcnt, size, sent_cb) ? 0 : -1;
        }
    }
    if (ret <= 0) {
        TRACE(net_send, "%s -> %s len=%zu %s (%u in its queue)", nc_name(sender), nc_name(peer),
              size, ret == 0 ? "queued: the receiver is busy" : "dropped: its queue is full",
              peer->queue.count);
    }
    return ret;
}

int net_receive_prepare(NetClient *sender, struct iovec *iov, int max)
{
    NetClient *peer = sender->peer;
    if (!peer || !peer->info->receive_prepare || sender->link_down || peer->link_down ||
        peer->queue.head || peer->queue.delivering || sender->filters || peer->filters ||
        !client_can_receive(peer)) {
        return 0;
    }
    return peer->info->receive_prepare(peer, iov, max);
}

void net_receive_commit(NetClient *sender, const void *vhdr, size_t len, const struct iovec *rest,
                        int restcnt)
{
    NetClient *peer = sender->peer;
    TRACE(net_deliver, "to %s (%s) len=%zu read into its buffers", nc_name(peer), peer->info->type,
          len);
    peer->queue.delivering = true;
    peer->info->receive_commit(peer, vhdr, len, rest, restcnt);
    peer->queue.delivering = false;
}

ssize_t net_send(NetClient *sender, const void *buf, size_t len, NetSentCb sent_cb)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    return net_send_iov(sender, &iov, 1, sent_cb);
}

bool net_flush_queued(NetClient *receiver)
{
    NetQueue *q = &receiver->queue;

    if (q->delivering) {
        /* Called from inside our own receive_iov (or a sent_cb run by this
         * flush): the outer delivery loop carries on where it is. */
        return q->head == NULL;
    }
    while (q->head && !receiver->link_down && client_can_receive(receiver)) {
        /* Take the packet out while it is being delivered, so that the
         * receiver may purge or flush its queue from inside receive_iov. */
        NetPacket *p = net_queue_pop(q);
        struct iovec iov = {.iov_base = p->data, .iov_len = p->size};
        ssize_t ret = net_deliver(receiver, &iov, 1, p->size, true);
        if (ret == 0) {
            /* Still busy: p goes back in front of anything sent meanwhile. */
            p->next = q->head;
            q->head = p;
            if (!q->tail) {
                q->tail = p;
            }
            q->count++;
            break;
        }
        NetClient *sender = p->sender;
        NetSentCb cb = p->sent_cb;
        free(p);
        if (cb) {
            /* The packet has left the queue: the sender may produce again.
             * Whatever it sends now is appended behind what still waits. */
            q->delivering = true;
            cb(sender);
            q->delivering = false;
        }
    }
    if (receiver->link_down) {
        net_queue_purge(receiver, NULL, true);
    }
    return q->head == NULL;
}

void net_set_link(NetClient *nc, bool up)
{
    NetClient *peer = nc->peer;

    TRACE(net_set_link, "%s%s%s %s", nc_name(nc), peer ? " and " : "", peer ? nc_name(peer) : "",
          up ? "up" : "down");
    nc->link_down = !up;
    if (peer) {
        peer->link_down = !up;
    }
    if (!up) {
        net_queue_purge(nc, NULL, true);
        if (peer) {
            net_queue_purge(peer, NULL, true);
        }
    }
    if (nc->info->link_status_changed) {
        nc->info->link_status_changed(nc);
    }
    if (peer && peer->info->link_status_changed) {
        peer->info->link_status_changed(peer);
    }
}

void net_filter_attach(NetClient *nc, NetFilter *f)
{
    NetFilter **pp = &nc->filters;
    while (*pp) {
        pp = &(*pp)->next;
    }
    f->next = NULL;
    *pp = f;
}

void net_filter_detach(NetClient *nc, NetFilter *f)
{
    for (NetFilter **pp = &nc->filters; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            f->next = NULL;
            return;
        }
    }
}

NetClient *net_client_find(const char *id)
{
    for (size_t i = 0; id && i < nr_clients; i++) {
        if (clients[i]->id && strcmp(clients[i]->id, id) == 0) {
            return clients[i];
        }
    }
    return NULL;
}

static void (*rx_filter_notifier)(NetClient *nc);

void net_set_rx_filter_notifier(void (*fn)(NetClient *nc))
{
    rx_filter_notifier = fn;
}

void net_rx_filter_changed(NetClient *nc)
{
    if (rx_filter_notifier && nc) {
        rx_filter_notifier(nc);
    }
}

bool net_has_offload(NetClient *nc)
{
    return nc && nc->info->set_offload && net_has_vnet_hdr(nc);
}

int net_set_offload(NetClient *nc, unsigned flags)
{
    return net_has_offload(nc) ? nc->info->set_offload(nc, flags) : -1;
}

bool net_has_vnet_hdr(NetClient *nc)
{
    return nc && nc->info->has_vnet_hdr && nc->info->has_vnet_hdr(nc);
}

void net_link_set_vnet_hdr_len(NetClient *nc, size_t len)
{
    nc->vnet_hdr_len = len;
    if (nc->peer) {
        nc->peer->vnet_hdr_len = len;
    }
}

void net_using_vnet_hdr(NetClient *nc, bool enable)
{
    if (nc && nc->info->using_vnet_hdr) {
        nc->info->using_vnet_hdr(nc, enable);
    }
}

void net_client_free(NetClient *nc)
{
    if (!nc) {
        return;
    }
    if (nc->info->cleanup) {
        nc->info->cleanup(nc);
    }
    NetClient *peer = nc->peer;
    if (peer) {
        /* Our packets waiting at the peer would name a freed sender. */
        net_queue_purge(peer, nc, false);
        peer->peer = NULL;
        nc->peer = NULL;
    }
    net_queue_purge(nc, NULL, true);
    list_del(clients, &nr_clients, nc);
    list_del(backends, &nr_backends, nc);
    free(nc->id);
    free(nc);
}
