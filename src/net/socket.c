/* -netdev socket,id=ID,listen=HOST:PORT | connect=HOST:PORT: Ethernet frames
 * over a TCP stream, in QEMU's stream format (each frame preceded by its
 * length, 4 bytes big endian), so two e1kvm guests, or e1kvm and QEMU, share
 * a link with no TAP and no privileges.
 *
 *   stream readable ── socket_send ── net_send ──▶ peer (NIC)     [remote → guest]
 *                  (stops reading while the peer's queue holds our frame)
 *   peer ── socket_receive_iov ── writev ──▶ stream                [guest → remote]
 *                  (nothing written: the net layer queues; a partial write
 *                   keeps the rest here and later frames wait for it)
 *
 * listen= accepts one connection at a time; when it goes away the next one
 * is accepted. connect= connects once, at start (the listener must be up).
 * While there is no connection, frames from the guest are dropped, as on an
 * unplugged cable. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/loop.h"
#include "net/net.h"
#include "qom/object.h"
#include "trace/trace.h"

#define SOCKET_BATCH 64 /* frames per wake-up before yielding to the loop */
#define SOCKET_MAX_IOV 64

typedef struct SocketState {
    Object obj;
    /* properties */
    char *listen_addr, *connect_addr;
    /* state */
    int listen_fd, fd;
    NetClient *nc;
    bool read_poll, write_poll; /* what we want to watch on fd */
    /* remote → guest: bytes read, not yet handed on */
    uint8_t *rbuf;
    size_t rlen, roff;
    /* guest → remote: the unwritten tail of a frame */
    uint8_t *wbuf;
    size_t wlen, woff;
} SocketState;

static const Property socket_props[] = {
    PROP_STR("listen", SocketState, listen_addr, NULL, "HOST:PORT to accept a connection on"),
    PROP_STR("connect", SocketState, connect_addr, NULL, "HOST:PORT of a listening peer"),
    PROP_END,
};

#define RBUF_SIZE (2 * (4 + NET_MAX_PACKET))

static void socket_readable(void *opaque);
static void socket_writable(void *opaque);
static void socket_accept(void *opaque);

static void socket_update_fd_handler(SocketState *s)
{
    if (s->fd >= 0) {
        loop_set_fd_handler(s->fd, s->read_poll ? socket_readable : NULL,
                            s->write_poll ? socket_writable : NULL, s);
    }
}

static void socket_disconnect(SocketState *s, const char *why)
{
    if (s->fd < 0) {
        return;
    }
    TRACE(socket_connection, "%s: connection closed: %s", s->obj.id, why);
    warn_report("socket %s: connection closed: %s", s->obj.id, why);
    loop_set_fd_handler(s->fd, NULL, NULL, NULL);
    close(s->fd);
    s->fd = -1;
    s->rlen = s->roff = 0;
    s->wlen = s->woff = 0;
    s->read_poll = s->write_poll = false;
    /* frames queued towards the stream have nowhere to go: the net layer
     * drops them on the next flush (our receive_iov consumes them) */
    net_flush_queued(s->nc);
    if (s->listen_fd >= 0) {
        loop_set_fd_handler(s->listen_fd, socket_accept, NULL, s);
    }
}

static void socket_connected(SocketState *s, int fd, const char *how)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->fd = fd;
    s->read_poll = true;
    s->write_poll = false;
    socket_update_fd_handler(s);
    TRACE(socket_connection, "%s: %s", s->obj.id, how);
}

static void socket_accept(void *opaque)
{
    SocketState *s = opaque;
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    if (s->fd >= 0) {
        close(fd); /* one link, one connection */
        return;
    }
    loop_set_fd_handler(s->listen_fd, NULL, NULL, NULL);
    socket_connected(s, fd, "connection accepted");
}

/* The peer took the frame we waited on: carry on with what is buffered,
 * then read again. */
static void socket_send_completed(NetClient *nc)
{
    SocketState *s = nc->opaque;
    if (s->fd >= 0 && !s->read_poll) {
        s->read_poll = true;
        socket_update_fd_handler(s);
        socket_readable(s);
    }
}

/* Hand on complete frames from rbuf. Returns false if reading must pause
 * (the peer queued a frame) or the connection was dropped. */
static bool socket_deliver_buffered(SocketState *s, int *budget)
{
    while (*budget > 0 && s->rlen - s->roff >= 4) {
        const uint8_t *p = s->rbuf + s->roff;
        uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (len == 0 || len > NET_MAX_PACKET) {
            socket_disconnect(s, "bad frame length in the stream");
            return false;
        }
        if (s->rlen - s->roff < 4 + (size_t)len) {
            break;
        }
        s->roff += 4 + len;
        (*budget)--;
        TRACE(socket_send, "%s: %u bytes from the stream", s->obj.id, len);
        if (net_send(s->nc, p + 4, len, socket_send_completed) == 0) {
            s->read_poll = false; /* queued at the peer: wait for it */
            socket_update_fd_handler(s);
            return false;
        }
    }
    /* keep a partial frame at the start of the buffer */
    if (s->roff) {
        memmove(s->rbuf, s->rbuf + s->roff, s->rlen - s->roff);
        s->rlen -= s->roff;
        s->roff = 0;
    }
    return true;
}

static void socket_readable(void *opaque)
{
    SocketState *s = opaque;
    int budget = SOCKET_BATCH;

    while (s->fd >= 0 && s->read_poll && budget > 0) {
        if (!socket_deliver_buffered(s, &budget)) {
            return;
        }
        if (budget == 0) {
            return; /* more later: level-triggered epoll calls us again */
        }
        ssize_t n = read(s->fd, s->rbuf + s->rlen, RBUF_SIZE - s->rlen);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            socket_disconnect(s, n == 0 ? "end of stream" : strerror(errno));
            return;
        }
        s->rlen += (size_t)n;
    }
}

/* The stream can take more: finish the partial frame, then let the net
 * layer deliver what queued meanwhile. */
static void socket_writable(void *opaque)
{
    SocketState *s = opaque;
    while (s->wlen > s->woff) {
        ssize_t w = send(s->fd, s->wbuf + s->woff, s->wlen - s->woff, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (w <= 0) {
            socket_disconnect(s, strerror(errno));
            return;
        }
        s->woff += (size_t)w;
    }
    s->wlen = s->woff = 0;
    s->write_poll = false;
    socket_update_fd_handler(s);
    net_flush_queued(s->nc);
}

/* guest → stream */
static ssize_t socket_receive_iov(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    SocketState *s = nc->opaque;
    size_t size = 0;
    for (int i = 0; i < iovcnt; i++) {
        size += iov[i].iov_len;
    }
    if (s->fd < 0) {
        nc->dropped_total++; /* no connection: lost */
        TRACE(socket_receive_iov, "%s: %zu bytes dropped: not connected", s->obj.id, size);
        return size;
    }
    if (s->wlen) {
        return 0; /* the tail of the previous frame goes first */
    }
    uint8_t hdr[4] = {(uint8_t)(size >> 24), (uint8_t)(size >> 16), (uint8_t)(size >> 8),
                      (uint8_t)size};
    struct iovec v[SOCKET_MAX_IOV + 1];
    int n = 0;
    v[n++] = (struct iovec){hdr, 4};
    uint8_t *flat = NULL;
    if (iovcnt <= SOCKET_MAX_IOV) {
        memcpy(&v[n], iov, (size_t)iovcnt * sizeof(*iov));
        n += iovcnt;
    } else {
        flat = malloc(size);
        if (!flat) {
            nc->dropped_total++;
            return size;
        }
        for (size_t i = 0, off = 0; i < (size_t)iovcnt; off += iov[i].iov_len, i++) {
            memcpy(flat + off, iov[i].iov_base, iov[i].iov_len);
        }
        v[n++] = (struct iovec){flat, size};
    }
    struct msghdr msg = {.msg_iov = v, .msg_iovlen = (size_t)n};
    ssize_t w;
    do {
        w = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    int err = errno;
    size_t total = size + 4;
    if (w < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
        free(flat);
        s->write_poll = true;
        socket_update_fd_handler(s);
        return 0; /* the net layer queues it; socket_writable flushes */
    }
    if (w < 0) {
        free(flat);
        socket_disconnect(s, strerror(err));
        return size;
    }
    if ((size_t)w < total) {
        /* keep the rest of this frame: the stream must stay whole */
        size_t rest = total - (size_t)w, skip = (size_t)w, off = 0;
        for (int i = 0; i < n; i++) {
            size_t len = v[i].iov_len;
            if (skip >= len) {
                skip -= len;
                continue;
            }
            memcpy(s->wbuf + off, (uint8_t *)v[i].iov_base + skip, len - skip);
            off += len - skip;
            skip = 0;
        }
        s->wlen = rest;
        s->woff = 0;
        s->write_poll = true;
        socket_update_fd_handler(s);
    }
    free(flat);
    TRACE(socket_receive_iov, "%s: %zu bytes to the stream%s", s->obj.id, size,
          (size_t)w < total ? " (partly, rest pending)" : "");
    return size;
}

static void socket_cleanup(NetClient *nc)
{
    SocketState *s = nc->opaque;
    if (s->fd >= 0) {
        loop_set_fd_handler(s->fd, NULL, NULL, NULL);
        close(s->fd);
        s->fd = -1;
    }
    if (s->listen_fd >= 0) {
        loop_set_fd_handler(s->listen_fd, NULL, NULL, NULL);
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    free(s->rbuf);
    free(s->wbuf);
    s->rbuf = s->wbuf = NULL;
}

static const NetClientInfo socket_net_info = {
    .type = "socket",
    .kind = NET_CLIENT_BACKEND,
    .receive_iov = socket_receive_iov,
    .cleanup = socket_cleanup,
};

/* "HOST:PORT" (HOST may be [v6]) -> addrinfo */
static int resolve(const char *what, const char *addr, bool passive, struct addrinfo **ai,
                   Error *err)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1] || (size_t)(colon - addr) >= sizeof(host)) {
        return error_setf(err, "socket: %s=%s: expected HOST:PORT", what, addr);
    }
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
    int g = getaddrinfo(host, colon + 1, &hints, ai);
    if (g != 0) {
        return error_setf(err, "socket: %s=%s: %s", what, addr, gai_strerror(g));
    }
    return 0;
}

static int socket_realize(Object *obj, Machine *m, Error *err)
{
    SocketState *s = (SocketState *)obj;
    bool lis = s->listen_addr && *s->listen_addr, con = s->connect_addr && *s->connect_addr;
    struct addrinfo *ai = NULL;
    (void)m;

    s->fd = s->listen_fd = -1;
    if (!obj->id) {
        return error_setf(err, "socket: id= is required");
    }
    if (lis == con) {
        return error_setf(err,
                          "socket: give exactly one of listen=HOST:PORT and connect=HOST:PORT");
    }
    if (net_backend_find(obj->id)) {
        return error_setf(err, "socket: netdev id '%s' is already in use", obj->id);
    }
    if (resolve(lis ? "listen" : "connect", lis ? s->listen_addr : s->connect_addr, lis, &ai, err) <
        0) {
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return error_setf(err, "socket: %s", strerror(errno));
    }
    if (lis) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
            int e = errno;
            close(fd);
            freeaddrinfo(ai);
            return error_setf(err, "socket: cannot listen on %s: %s", s->listen_addr, strerror(e));
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        s->listen_fd = fd;
    } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        int e = errno;
        close(fd);
        freeaddrinfo(ai);
        return error_setf(err, "socket: cannot connect to %s: %s", s->connect_addr, strerror(e));
    }
    freeaddrinfo(ai);

    s->rbuf = malloc(RBUF_SIZE);
    s->wbuf = malloc(4 + NET_MAX_PACKET);
    if (!s->rbuf || !s->wbuf) {
        die("out of memory");
    }
    s->nc = net_client_new(&socket_net_info, obj->id, s);
    net_backend_register(s->nc);
    if (lis) {
        loop_set_fd_handler(s->listen_fd, socket_accept, NULL, s);
    } else {
        socket_connected(s, fd, "connected");
    }
    return 0;
}

static const TypeInfo socket_info = {
    .name = "socket",
    .kind = TYPE_KIND_NETDEV,
    .desc = "frames over a TCP stream (QEMU stream format) to another VM: listen= or connect=",
    .instance_size = sizeof(SocketState),
    .props = socket_props,
    .realize = socket_realize,
};

TYPE_REGISTER(socket_info)
