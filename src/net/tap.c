/* -netdev tap: attach to an existing TAP interface (ifname=) or use a TAP fd
 * handed over by a manager (fd=). e1kvm never creates interfaces and never
 * runs scripts: whoever sets up the host network creates tapN beforehand
 * (`ip tuntap add dev tap0 mode tap user $USER`).
 *
 *   tapN readable ── tap_send ── net_send ──▶ peer (NIC)       [host → guest]
 *                  (stops reading while the peer's queue holds our packet;
 *                   tap_send_completed resumes)
 *   peer ── net layer ── tap_receive_iov ── writev ──▶ tapN    [guest → host]
 *                  (EAGAIN: the net layer queues, tap_writable flushes)
 *
 * With vnet_hdr=on the fd carries a struct virtio_net_hdr before every
 * frame. Until a frontend takes it over (net_using_vnet_hdr), frames are
 * plain Ethernet on the net side: the header is stripped on read and a
 * zeroed one (no GSO, no checksum offload) is prepended on write. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "net/net.h"
#include "net/tap-int.h"
#include "qom/object.h"
#include "trace/trace.h"

#define TAP_BATCH 64 /* packets read per wake-up before yielding to the loop */
#define TAP_MAX_IOV 64
#define TAP_DIRECT_IOV 16 /* guest buffers a zero-copy read may fill */
#define TAP_VNET_HDR_LEN ((int)sizeof(struct virtio_net_hdr)) /* 10 */

typedef struct TapState {
    Object obj;
    /* properties */
    char *ifname;
    char *fd_str; /* fd=N; a string so that "not given" is visible */
    char *script, *downscript;
    char *vnet_hdr_str; /* "on", "off" or not given (auto) */
    /* state */
    bool vnet_hdr;          /* open the TAP with IFF_VNET_HDR */
    bool vnet_hdr_required; /* vnet_hdr=on: an error if it cannot be had */
    int fd;
    char name[IFNAMSIZ]; /* the interface, for messages */
    NetClient *nc;
    bool read_poll, write_poll, watched;
    bool read_failed;    /* the interface went away: link down for good */
    bool has_vnet_hdr;   /* the fd carries a virtio_net_hdr per frame */
    bool using_vnet_hdr; /* ... and the frontend handles it itself */
    int vnet_hdr_len;
    uint8_t *buf; /* one received packet (header + frame) */
    size_t buf_size;
} TapState;

static const Property tap_props[] = {
    PROP_STR("ifname", TapState, ifname, NULL, "existing TAP interface to attach to"),
    PROP_STR("fd", TapState, fd_str, NULL, "already opened TAP file descriptor (from a manager)"),
    PROP_STR("script", TapState, script, NULL, "only 'no': e1kvm runs no scripts"),
    PROP_STR("downscript", TapState, downscript, NULL, "only 'no': e1kvm runs no scripts"),
    /* not given: on where the kernel (ifname=) or the fd (fd=) has it. A
     * frontend that can (e1000 with gso=on) then hands TSO sends to the
     * kernel whole; the others see plain frames as before */
    PROP_STR("vnet_hdr", TapState, vnet_hdr_str, NULL,
             "on|off: use IFF_VNET_HDR (virtio-net header); default: where supported"),
    PROP_END,
};

static bool str_given(const char *s)
{
    return s && *s;
}

/* ---- fd handlers ---- */

static void tap_update_fd_handler(TapState *s)
{
    bool want = s->read_poll || s->write_poll;
    if (!want && !s->watched) {
        return;
    }
    loop_set_fd_handler(s->fd, s->read_poll ? tap_send : NULL, s->write_poll ? tap_writable : NULL,
                        s);
    s->watched = want;
}

static void tap_read_poll(TapState *s, bool enable)
{
    s->read_poll = enable && !s->read_failed;
    tap_update_fd_handler(s);
}

static void tap_write_poll(TapState *s, bool enable)
{
    s->write_poll = enable;
    tap_update_fd_handler(s);
}

/* The peer has taken the packet we were waiting on: read again. */
static void tap_send_completed(NetClient *nc)
{
    tap_read_poll(nc->opaque, true);
}

/* The interface is gone (deleted under us) or the fd is broken: say so once,
 * stop watching the fd and take the link down; the VM keeps running. */
static void tap_read_error(TapState *s, int err)
{
    warn_report("tap: %s: read failed: %s; link is down", s->name, strerror(err));
    s->read_failed = true;
    s->read_poll = false;
    s->write_poll = false;
    tap_update_fd_handler(s);
    net_set_link(s->nc, false);
}

/* Zero copy (net_receive_prepare): the frame read straight into the
 * peer's buffers in guest memory, the vnet header (if any) into a buffer of
 * ours, and whatever does not fit into s->buf, for the peer to place. The
 * device lock stays held across this readv (unlike the ordinary read):
 * the buffers are the device's between prepare and commit, and a vCPU
 * must not reset the device under them. Returns 1 (a frame went), 0 (the
 * path is closed: read as usual), -1 (stop reading now: EAGAIN, EOF, an
 * error). */
static int tap_read_direct(TapState *s)
{
    struct iovec v[1 + TAP_DIRECT_IOV + 1];
    uint8_t hdr[TAP_VNET_HDR_LEN];
    int h = s->has_vnet_hdr ? 1 : 0;
    int nd = net_receive_prepare(s->nc, v + h, TAP_DIRECT_IOV);
    if (nd <= 0) {
        return 0;
    }
    if (h) {
        v[0] = (struct iovec){.iov_base = hdr, .iov_len = (size_t)s->vnet_hdr_len};
    }
    size_t room = 0;
    for (int i = 0; i < nd; i++) {
        room += v[h + i].iov_len;
    }
    v[h + nd] = (struct iovec){.iov_base = s->buf, .iov_len = s->buf_size};
    ssize_t n;
    do {
        n = readv(s->fd, v, h + nd + 1);
    } while (n < 0 && errno == EINTR);
    size_t hl = h ? (size_t)s->vnet_hdr_len : 0;
    if (n <= 0 || (size_t)n < hl) {
        int err = errno;
        net_receive_commit(s->nc, NULL, 0, NULL, 0);
        if (n < 0 && err != EAGAIN && err != EWOULDBLOCK) {
            tap_read_error(s, err);
        } else if (n > 0) {
            s->nc->dropped_total++;
            return 1;
        }
        return -1;
    }
    size_t len = (size_t)n - hl;
    struct iovec rest = {.iov_base = s->buf, .iov_len = len > room ? len - room : 0};
    TRACE(tap_send, "%s: read %zu bytes from the TAP fd into the peer's buffers", s->name, len);
    net_receive_commit(s->nc, s->using_vnet_hdr ? hdr : NULL, len, &rest, rest.iov_len ? 1 : 0);
    return 1;
}

/* tapN is readable: hand up to TAP_BATCH packets to the peer. */
void tap_send(void *opaque)
{
    TapState *s = opaque;

    for (int packets = 0; packets < TAP_BATCH && s->read_poll;) {
        int direct = tap_read_direct(s);
        if (direct > 0) {
            packets++;
            continue;
        }
        if (direct < 0) {
            return;
        }
        /* The read touches no device state: let a vCPU that exits meanwhile
         * take the device lock instead of waiting for the whole batch. */
        device_unlock();
        ssize_t n = read(s->fd, s->buf, s->buf_size);
        device_lock();
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                tap_read_error(s, errno);
            }
            return;
        }
        if (n == 0) {
            return;
        }
        packets++;
        uint8_t *frame = s->buf;
        size_t len = n;
        if (s->has_vnet_hdr && !s->using_vnet_hdr) {
            if (len < (size_t)s->vnet_hdr_len) {
                s->nc->dropped_total++;
                continue;
            }
            frame += s->vnet_hdr_len;
            len -= s->vnet_hdr_len;
        }
        TRACE(tap_send, "%s: read %zu bytes from the TAP fd", s->name, len);
        if (net_send(s->nc, frame, len, tap_send_completed) == 0) {
            /* Queued at the peer: leave the rest in the kernel until the
             * peer has room (tap_send_completed). */
            tap_read_poll(s, false);
            return;
        }
    }
}

/* tapN can take packets again after an EAGAIN: deliver what waited. */
void tap_writable(void *opaque)
{
    TapState *s = opaque;

    tap_write_poll(s, false);
    net_flush_queued(s->nc);
}

/* peer → tapN */
static ssize_t tap_receive_iov(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    TapState *s = nc->opaque;
    static const uint8_t zero_hdr[16];
    struct iovec v[TAP_MAX_IOV + 1];
    uint8_t *bounce = NULL;
    size_t size = 0;
    int n = 0;

    for (int i = 0; i < iovcnt; i++) {
        size += iov[i].iov_len;
    }
    if (s->has_vnet_hdr && !s->using_vnet_hdr) {
        v[n++] = (struct iovec){.iov_base = (void *)zero_hdr, .iov_len = s->vnet_hdr_len};
    }
    if (iovcnt <= TAP_MAX_IOV) {
        memcpy(&v[n], iov, iovcnt * sizeof(*iov));
        n += iovcnt;
    } else {
        /* Rare: more pieces than we pass to writev: gather them. */
        bounce = malloc(size ? size : 1);
        if (!bounce) {
            nc->dropped_total++;
            return size;
        }
        size_t off = 0;
        for (int i = 0; i < iovcnt; i++) {
            memcpy(bounce + off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
        v[n++] = (struct iovec){.iov_base = bounce, .iov_len = size};
    }

    ssize_t ret;
    do {
        /* one piece (the usual case: e1kvm's e1000 joins header and frame):
         * write(2) skips writev's iovec import, ~10 % of a small frame's
         * TAP write (0.69 vs 0.77 us per 60-byte frame with a vnet header,
         * docs/BENCHMARKS.md, e12a910) */
        ret = n == 1 ? write(s->fd, v[0].iov_base, v[0].iov_len) : writev(s->fd, v, n);
    } while (ret < 0 && errno == EINTR);
    int err = errno;
    free(bounce);

    if (ret < 0) {
        if (err == EAGAIN || err == EWOULDBLOCK) {
            TRACE(tap_receive_iov, "%s: %zu bytes: EAGAIN, waits for the fd", s->name, size);
            tap_write_poll(s, true);
            return 0; /* the net layer queues it; tap_writable flushes */
        }
        nc->dropped_total++; /* interface down or gone: consume */
    }
    TRACE(tap_receive_iov, "%s: wrote %zu bytes to the TAP fd%s%s", s->name, size,
          ret < 0 ? ": " : "", ret < 0 ? strerror(err) : "");
    return size;
}

static bool tap_has_vnet_hdr(NetClient *nc)
{
    TapState *s = nc->opaque;
    return s->has_vnet_hdr;
}

static void tap_using_vnet_hdr(NetClient *nc, bool enable)
{
    TapState *s = nc->opaque;
    s->using_vnet_hdr = enable && s->has_vnet_hdr;
    net_link_set_vnet_hdr_len(nc, s->using_vnet_hdr ? (size_t)s->vnet_hdr_len : 0);
}

/* TUNSETOFFLOAD: without it the kernel checksums and segments every frame
 * before the TAP hands it over; with it a frontend whose driver takes
 * partial checksums and TSO frames (virtio-net's GUEST_CSUM, GUEST_TSO4/6)
 * gets them whole, one read per 64 KiB instead of per 1.5 KiB. */
static int tap_set_offload(NetClient *nc, unsigned flags)
{
    TapState *s = nc->opaque;
    unsigned tun = 0;
    if (flags & NET_OFFLOAD_CSUM) {
        tun |= TUN_F_CSUM;
        if (flags & NET_OFFLOAD_TSO4) {
            tun |= TUN_F_TSO4;
        }
        if (flags & NET_OFFLOAD_TSO6) {
            tun |= TUN_F_TSO6;
        }
        if ((flags & NET_OFFLOAD_ECN) && (tun & (TUN_F_TSO4 | TUN_F_TSO6))) {
            tun |= TUN_F_TSO_ECN;
        }
    }
    if (s->fd < 0 || !s->has_vnet_hdr || ioctl(s->fd, TUNSETOFFLOAD, tun) < 0) {
        return -1;
    }
    return 0;
}

static void tap_cleanup(NetClient *nc)
{
    TapState *s = nc->opaque;

    if (s->fd >= 0) {
        s->read_poll = s->write_poll = false;
        tap_update_fd_handler(s);
        close(s->fd);
        s->fd = -1;
    }
    free(s->buf);
    s->buf = NULL;
}

static const NetClientInfo tap_net_info = {
    .type = "tap",
    .kind = NET_CLIENT_BACKEND,
    .receive_iov = tap_receive_iov,
    .cleanup = tap_cleanup,
    .has_vnet_hdr = tap_has_vnet_hdr,
    .using_vnet_hdr = tap_using_vnet_hdr,
    .set_offload = tap_set_offload,
};

int tap_fd(NetClient *nc)
{
    if (!nc || nc->info != &tap_net_info) {
        return -1;
    }
    return ((TapState *)nc->opaque)->fd;
}

bool tap_read_polling(NetClient *nc)
{
    return tap_fd(nc) >= 0 && ((TapState *)nc->opaque)->read_poll;
}

bool tap_write_polling(NetClient *nc)
{
    return tap_fd(nc) >= 0 && ((TapState *)nc->opaque)->write_poll;
}

/* ---- opening ---- */

/* Is the interface a TAP (tun driver, layer 2)? Asked through ethtool so the
 * answer is about the caller's network namespace (sysfs may show another).
 * Returns 0, or -errno (-ENODEV: no such interface, -EINVAL: not a TAP). */
static int tap_check_iface(const char *name)
{
    struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
    struct ifreq ifr = {0};
    int sock, ret = 0;

    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    }
    if (sock < 0) {
        return -errno;
    }
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_data = (void *)&info;
    if (ioctl(sock, SIOCETHTOOL, &ifr) < 0) {
        ret = errno == ENODEV ? -ENODEV : -EINVAL;
    } else if (strcmp(info.driver, "tun") != 0 || strcmp(info.bus_info, "tap") != 0) {
        ret = -EINVAL;
    }
    close(sock);
    return ret;
}

static int tap_open_ifname(TapState *s, Error *err)
{
    const char *name = s->ifname;
    unsigned index;
    int fd, ret;

    if (strlen(name) >= IFNAMSIZ) {
        return error_setf(err, "tap: interface name '%s' is too long (at most %d characters)", name,
                          IFNAMSIZ - 1);
    }
    index = if_nametoindex(name);
    ret = index ? tap_check_iface(name) : -ENODEV;
    if (ret == -ENODEV) {
        return error_setf(err, "tap: no such interface '%s'", name);
    } else if (ret < 0) {
        return error_setf(err, "tap: '%s' is not a TAP device", name);
    }

    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return error_setf(err, "tap: cannot open /dev/net/tun: %s", strerror(errno));
    }
    if (s->vnet_hdr) {
        unsigned features = 0;
        if (ioctl(fd, TUNGETFEATURES, &features) < 0 || !(features & IFF_VNET_HDR)) {
            if (s->vnet_hdr_required) {
                close(fd);
                return error_setf(err, "tap: vnet_hdr=on is not supported by this kernel");
            }
            s->vnet_hdr = false;
        }
    }

    struct ifreq ifr = {0};
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (s->vnet_hdr ? IFF_VNET_HDR : 0);
    ret = ioctl(fd, TUNSETIFF, &ifr);
    if (ret < 0 && errno == EINVAL) {
        /* Created with `ip tuntap add ... multi_queue`: attach as one queue. */
        ifr.ifr_flags |= IFF_MULTI_QUEUE;
        ret = ioctl(fd, TUNSETIFF, &ifr);
    }
    if (ret < 0) {
        int e = errno;
        close(fd);
        if (e == EBUSY) {
            return error_setf(err, "tap: '%s' is already in use by another process", name);
        }
        if (e == EPERM || e == EACCES) {
            return error_setf(err,
                              "tap: cannot attach to '%s': %s (the interface belongs to another "
                              "user: 'ip tuntap add dev %s mode tap user USER')",
                              name, strerror(e), name);
        }
        return error_setf(err, "tap: cannot attach to '%s': %s", name, strerror(e));
    }
    /* TUNSETIFF creates the interface if it vanished since the check: that
     * one would not be the interface the user set up. */
    if (if_nametoindex(name) != index) {
        close(fd);
        return error_setf(err, "tap: interface '%s' disappeared while attaching", name);
    }
    s->has_vnet_hdr = s->vnet_hdr;
    snprintf(s->name, sizeof(s->name), "%s", name);
    return fd;
}

/* TUNGETIFF for an fd we were given. The kernel reports IFF_NOFILTER ("no
 * socket filter attached") in the same bit as IFF_NO_PI (0x1000), so with no
 * filter the bit says nothing about packet info. Attach an accept-all filter
 * for the time of a second TUNGETIFF to read the real flag. Returns -1 if
 * the fd is not a tun/tap fd. */
static int tap_fd_get_flags(int fd, struct ifreq *ifr)
{
    if (ioctl(fd, TUNGETIFF, ifr) < 0) {
        return -1;
    }
    if ((ifr->ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TAP || !(ifr->ifr_flags & IFF_NOFILTER)) {
        return 0;
    }
    struct sock_filter accept_all = BPF_STMT(BPF_RET | BPF_K, 0xffffffff);
    struct sock_fprog prog = {.len = 1, .filter = &accept_all};
    struct ifreq real = {0};
    if (ioctl(fd, TUNATTACHFILTER, &prog) < 0) {
        return 0; /* cannot tell: trust the manager */
    }
    int ret = ioctl(fd, TUNGETIFF, &real);
    ioctl(fd, TUNDETACHFILTER, 0);
    if (ret == 0) {
        *ifr = real;
    }
    return 0;
}

static int tap_open_fd(TapState *s, Error *err)
{
    const char *str = s->fd_str;
    char *end;
    struct ifreq ifr = {0};

    errno = 0;
    long v = strtol(str, &end, 10);
    if (errno || end == str || *end || v < 0 || v > INT_MAX) {
        return error_setf(err, "tap: fd=%s is not a file descriptor number", str);
    }
    int fd = v;
    if (fcntl(fd, F_GETFD) < 0) {
        return error_setf(err, "tap: fd=%d is not open", fd);
    }
    if (tap_fd_get_flags(fd, &ifr) < 0 || (ifr.ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TAP) {
        return error_setf(err, "tap: fd=%d is not a TAP device", fd);
    }
    if (!(ifr.ifr_flags & IFF_NO_PI)) {
        return error_setf(err, "tap: fd=%d was opened without IFF_NO_PI", fd);
    }
    if (s->vnet_hdr_required && !(ifr.ifr_flags & IFF_VNET_HDR)) {
        return error_setf(err, "tap: vnet_hdr=on but fd=%d was opened without IFF_VNET_HDR", fd);
    }
    /* The header is a property of the fd: handle it even with vnet_hdr=off. */
    s->has_vnet_hdr = ifr.ifr_flags & IFF_VNET_HDR;
    snprintf(s->name, sizeof(s->name), "%.*s", IFNAMSIZ - 1, ifr.ifr_name);
    int flags = fcntl(fd, F_GETFD);
    fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    return fd;
}

static int tap_check_script(const char *key, const char *value, Error *err)
{
    if (str_given(value) && strcmp(value, "no") != 0) {
        return error_setf(err, "tap: %s= is not supported, use %s=no", key, key);
    }
    return 0;
}

static int tap_realize(Object *obj, Machine *m, Error *err)
{
    TapState *s = (TapState *)obj;
    bool by_name = str_given(s->ifname), by_fd = str_given(s->fd_str);
    (void)m;

    s->fd = -1;
    if (tap_check_script("script", s->script, err) < 0 ||
        tap_check_script("downscript", s->downscript, err) < 0) {
        return -1;
    }
    if (!by_name && !by_fd) {
        return error_setf(err, "tap: ifname= or fd= is required");
    }
    if (!s->vnet_hdr_str || !strcmp(s->vnet_hdr_str, "on")) {
        s->vnet_hdr = true;
        s->vnet_hdr_required = s->vnet_hdr_str != NULL;
    } else if (!strcmp(s->vnet_hdr_str, "off")) {
        s->vnet_hdr = false;
    } else {
        return error_setf(err, "tap: property 'vnet_hdr' expects on or off, not '%s'",
                          s->vnet_hdr_str);
    }
    if (by_name && by_fd) {
        return error_setf(err, "tap: ifname= and fd= cannot be used together");
    }
    if (!obj->id) {
        return error_setf(err, "tap: id= is required");
    }
    if (net_backend_find(obj->id)) {
        return error_setf(err, "tap: netdev id '%s' is already in use", obj->id);
    }

    int fd = by_name ? tap_open_ifname(s, err) : tap_open_fd(s, err);
    if (fd < 0) {
        return -1;
    }
    if (s->has_vnet_hdr) {
        int len = TAP_VNET_HDR_LEN;
        if (ioctl(fd, TUNSETVNETHDRSZ, &len) < 0) {
            int e = errno;
            if (by_name) {
                close(fd);
            }
            return error_setf(err, "tap: %s: cannot set the vnet header size: %s", s->name,
                              strerror(e));
        }
        s->vnet_hdr_len = len;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        if (by_name) {
            close(fd);
        }
        return error_setf(err, "tap: %s: cannot make the fd non-blocking: %s", s->name,
                          strerror(e));
    }

    s->fd = fd;
    s->buf_size = NET_MAX_PACKET + (s->has_vnet_hdr ? s->vnet_hdr_len : 0);
    s->buf = malloc(s->buf_size);
    if (!s->buf) {
        die("out of memory");
    }
    s->nc = net_client_new(&tap_net_info, obj->id, s);
    net_backend_register(s->nc);
    tap_read_poll(s, true);
    return 0;
}

static const TypeInfo tap_info = {
    .name = "tap",
    .kind = TYPE_KIND_NETDEV,
    .desc = "attach to an existing host TAP interface (ifname=) or TAP fd (fd=)",
    .instance_size = sizeof(TapState),
    .props = tap_props,
    .realize = tap_realize,
};

TYPE_REGISTER(tap_info)
