/* -netdev user,id=ID[,net=A.B.C.D/N][,host=..][,dhcpstart=..][,dns=..]
 *              [,hostfwd=tcp|udp:[HOSTADDR]:HPORT-[GUESTADDR]:GPORT][,restrict=on|off]
 *
 * User-mode networking with libslirp, as QEMU's -netdev user: the guest
 * gets DHCP (default 10.0.2.15 in 10.0.2.0/24, gateway 10.0.2.2, DNS
 * 10.0.2.3) and NAT to the host's sockets; hostfwd lets a host process reach
 * a guest server through a host port. No TAP and no privileges.
 *
 *   peer (NIC) ── slirp_receive_iov ── slirp_input ──▶ libslirp  [guest → host]
 *   libslirp ── slirp_send_packet_cb ── net_send ──▶ peer (NIC)   [host → guest]
 *
 * libslirp's sockets are polled through our epoll loop: after every call
 * into libslirp the set it wants (slirp_pollfds_fill) is registered as fd
 * handlers, and a timer covers its timeout; when one is ready, poll(2) on the
 * set with timeout 0 gives the revents that slirp_pollfds_poll wants. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "net/net.h"
#include "qom/object.h"
#include "trace/trace.h"

typedef struct SlirpState {
    Object obj;
    /* properties */
    char *net, *host, *dhcpstart, *dns, *hostfwd;
    bool restrict_;
    /* state */
    Slirp *slirp;
    NetClient *nc;
    struct pollfd *pfd; /* what libslirp asked for in the last fill */
    int npfd, cap;
    int *watched; /* fds registered with the loop */
    int nwatched, wcap;
    Timer *poll_timer;
    uint8_t *buf; /* a frame from the NIC, gathered */
} SlirpState;

typedef struct SlirpTimer {
    SlirpState *s;
    SlirpTimerId id;
    void *cb_opaque;
    Timer *t;
} SlirpTimer;

static const Property slirp_props[] = {
    PROP_STR("net", SlirpState, net, "10.0.2.0/24", "guest network, ADDR/PREFIX"),
    PROP_STR("host", SlirpState, host, NULL, "host (gateway) address (default: network + 2)"),
    PROP_STR("dhcpstart", SlirpState, dhcpstart, NULL,
             "first address DHCP hands out (default: network + 15)"),
    PROP_STR("dns", SlirpState, dns, NULL, "DNS server address (default: network + 3)"),
    PROP_STR("hostfwd", SlirpState, hostfwd, NULL,
             "forward a host port: tcp|udp:[HOSTADDR]:HPORT-[GUESTADDR]:GPORT"),
    PROP_BOOL("restrict", SlirpState, restrict_, "off", "isolate the guest from the host network"),
    PROP_END,
};

static void slirp_refresh(SlirpState *s);

/* ---- callbacks from libslirp ---- */

static ssize_t slirp_send_packet_cb(const void *buf, size_t len, void *opaque)
{
    SlirpState *s = opaque;
    TRACE(slirp_send_packet, "%s: %zu bytes to the guest", s->obj.id, len);
    /* if the NIC is busy the frame waits in its queue or is dropped there:
     * TCP inside libslirp retransmits */
    net_send(s->nc, buf, len, NULL);
    return (ssize_t)len;
}

static void slirp_guest_error_cb(const char *msg, void *opaque)
{
    SlirpState *s = opaque;
    warn_report("user netdev %s: guest error: %s", s->obj.id, msg);
}

static int64_t slirp_clock_cb(void *opaque)
{
    (void)opaque;
    return clock_ns();
}

static void slirp_timer_fire(void *opaque)
{
    SlirpTimer *t = opaque;
    slirp_handle_timer(t->s->slirp, t->id, t->cb_opaque);
    slirp_refresh(t->s);
}

static void *slirp_timer_new_opaque_cb(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    SlirpTimer *t = calloc(1, sizeof(*t));
    if (!t) {
        die("out of memory");
    }
    t->s = opaque;
    t->id = id;
    t->cb_opaque = cb_opaque;
    t->t = timer_new(slirp_timer_fire, t);
    return t;
}

static void slirp_timer_free_cb(void *timer, void *opaque)
{
    SlirpTimer *t = timer;
    (void)opaque;
    if (t) {
        timer_free(t->t);
        free(t);
    }
}

static void slirp_timer_mod_cb(void *timer, int64_t expire_ms, void *opaque)
{
    SlirpTimer *t = timer;
    (void)opaque;
    timer_mod(t->t, expire_ms * 1000000LL);
}

static void slirp_register_poll_fd_cb(int fd, void *opaque)
{
    (void)fd, (void)opaque; /* the set is rebuilt after every call */
}

static void slirp_notify_cb(void *opaque)
{
    (void)opaque; /* slirp_refresh runs after every call into libslirp */
}

static const SlirpCb slirp_cbs = {
    .send_packet = slirp_send_packet_cb,
    .guest_error = slirp_guest_error_cb,
    .clock_get_ns = slirp_clock_cb,
    .timer_free = slirp_timer_free_cb,
    .timer_mod = slirp_timer_mod_cb,
    .register_poll_fd = slirp_register_poll_fd_cb,
    .unregister_poll_fd = slirp_register_poll_fd_cb,
    .notify = slirp_notify_cb,
    .timer_new_opaque = slirp_timer_new_opaque_cb,
};

/* ---- polling libslirp's sockets from the epoll loop ---- */

static int slirp_add_poll_cb(int fd, int events, void *opaque)
{
    SlirpState *s = opaque;
    if (s->npfd == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        struct pollfd *p = realloc(s->pfd, (size_t)cap * sizeof(*p));
        if (!p) {
            die("out of memory");
        }
        s->pfd = p;
        s->cap = cap;
    }
    short ev = 0;
    if (events & SLIRP_POLL_IN) {
        ev |= POLLIN;
    }
    if (events & SLIRP_POLL_OUT) {
        ev |= POLLOUT;
    }
    if (events & SLIRP_POLL_PRI) {
        ev |= POLLPRI;
    }
    s->pfd[s->npfd] = (struct pollfd){.fd = fd, .events = ev};
    return s->npfd++;
}

static int slirp_get_revents_cb(int idx, void *opaque)
{
    SlirpState *s = opaque;
    if (idx < 0 || idx >= s->npfd) {
        return 0;
    }
    short r = s->pfd[idx].revents;
    int ev = 0;
    if (r & POLLIN) {
        ev |= SLIRP_POLL_IN;
    }
    if (r & POLLOUT) {
        ev |= SLIRP_POLL_OUT;
    }
    if (r & POLLPRI) {
        ev |= SLIRP_POLL_PRI;
    }
    if (r & POLLERR) {
        ev |= SLIRP_POLL_ERR;
    }
    if (r & POLLHUP) {
        ev |= SLIRP_POLL_HUP;
    }
    return ev;
}

/* One of libslirp's fds is ready, or its timeout passed: let it work. */
static void slirp_poll_now(void *opaque)
{
    SlirpState *s = opaque;
    int r = poll(s->pfd, (nfds_t)s->npfd, 0);
    slirp_pollfds_poll(s->slirp, r < 0, slirp_get_revents_cb, s);
    slirp_refresh(s);
}

/* Ask libslirp which fds it wants now and watch exactly those. */
static void slirp_refresh(SlirpState *s)
{
    uint32_t timeout = 1000; /* ms; libslirp lowers it when its timers need */
    s->npfd = 0;
    slirp_pollfds_fill(s->slirp, &timeout, slirp_add_poll_cb, s);
    /* forget fds libslirp no longer wants (it may have closed them) */
    for (int i = 0; i < s->nwatched; i++) {
        bool keep = false;
        for (int k = 0; k < s->npfd && !keep; k++) {
            keep = s->pfd[k].fd == s->watched[i];
        }
        if (!keep) {
            loop_set_fd_handler(s->watched[i], NULL, NULL, NULL);
        }
    }
    if (s->npfd > s->wcap) {
        int *w = realloc(s->watched, (size_t)s->npfd * sizeof(*w));
        if (!w) {
            die("out of memory");
        }
        s->watched = w;
        s->wcap = s->npfd;
    }
    s->nwatched = 0;
    for (int k = 0; k < s->npfd; k++) {
        bool in = s->pfd[k].events & (POLLIN | POLLPRI), out = s->pfd[k].events & POLLOUT;
        if (!in && !out) {
            continue;
        }
        loop_set_fd_handler(s->pfd[k].fd, in ? slirp_poll_now : NULL, out ? slirp_poll_now : NULL,
                            s);
        s->watched[s->nwatched++] = s->pfd[k].fd;
    }
    timer_mod(s->poll_timer, clock_ns() + (int64_t)timeout * 1000000LL);
}

/* ---- the NetClient ---- */

/* guest → libslirp */
static ssize_t slirp_receive_iov(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    SlirpState *s = nc->opaque;
    size_t size = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (size + iov[i].iov_len > NET_MAX_PACKET) {
            return (ssize_t)(size + iov[i].iov_len); /* cannot happen: net.c bounds it */
        }
        memcpy(s->buf + size, iov[i].iov_base, iov[i].iov_len);
        size += iov[i].iov_len;
    }
    TRACE(slirp_input, "%s: %zu bytes from the guest", s->obj.id, size);
    slirp_input(s->slirp, s->buf, (int)size);
    slirp_refresh(s);
    return (ssize_t)size;
}

static void slirp_nc_cleanup(NetClient *nc)
{
    SlirpState *s = nc->opaque;
    for (int i = 0; i < s->nwatched; i++) {
        loop_set_fd_handler(s->watched[i], NULL, NULL, NULL);
    }
    s->nwatched = 0;
    timer_free(s->poll_timer);
    s->poll_timer = NULL;
    if (s->slirp) {
        slirp_cleanup(s->slirp);
        s->slirp = NULL;
    }
    free(s->pfd);
    free(s->watched);
    free(s->buf);
    s->pfd = NULL;
    s->watched = NULL;
    s->buf = NULL;
}

static const NetClientInfo slirp_net_info = {
    .type = "user",
    .kind = NET_CLIENT_BACKEND,
    .receive_iov = slirp_receive_iov,
    .cleanup = slirp_nc_cleanup,
};

/* ---- configuration ---- */

static int parse_addr(const char *what, const char *str, struct in_addr *a, Error *err)
{
    if (inet_pton(AF_INET, str, a) != 1) {
        return error_setf(err, "user: %s=%s is not an IPv4 address", what, str);
    }
    return 0;
}

/* tcp|udp:[HOSTADDR]:HPORT-[GUESTADDR]:GPORT */
static int add_hostfwd(SlirpState *s, const char *rule, struct in_addr dhcp, Error *err)
{
    char proto[8], haddr[64] = "", gaddr[64] = "";
    unsigned hport, gport;
    int n = 0;
    const char *p = rule;
    size_t pl = strcspn(p, ":");
    if (pl == 0 || pl >= sizeof(proto) || !p[pl]) {
        goto bad;
    }
    memcpy(proto, p, pl);
    proto[pl] = '\0';
    p += pl + 1;
    if (sscanf(p, "%63[^:]:%u-%n", haddr, &hport, &n) == 2 && n > 0) {
        p += n;
    } else if (sscanf(p, ":%u-%n", &hport, &n) == 1 && n > 0) {
        haddr[0] = '\0';
        p += n;
    } else {
        goto bad;
    }
    if (sscanf(p, "%63[^:]:%u%n", gaddr, &gport, &n) == 2 && !p[n]) {
    } else if (sscanf(p, ":%u%n", &gport, &n) == 1 && !p[n]) {
        gaddr[0] = '\0';
    } else {
        goto bad;
    }
    bool udp;
    if (!strcmp(proto, "tcp")) {
        udp = false;
    } else if (!strcmp(proto, "udp")) {
        udp = true;
    } else {
        goto bad;
    }
    if (hport > 65535 || gport == 0 || gport > 65535) {
        goto bad;
    }
    struct in_addr ha = {.s_addr = htonl(INADDR_ANY)}, ga = dhcp;
    if (haddr[0] && parse_addr("hostfwd host address", haddr, &ha, err) < 0) {
        return -1;
    }
    if (gaddr[0] && parse_addr("hostfwd guest address", gaddr, &ga, err) < 0) {
        return -1;
    }
    if (slirp_add_hostfwd(s->slirp, udp, ha, (int)hport, ga, (int)gport) < 0) {
        return error_setf(err, "user: hostfwd=%s: cannot forward host port %u: %s", rule, hport,
                          strerror(errno));
    }
    return 0;
bad:
    return error_setf(err, "user: hostfwd=%s: expected tcp|udp:[HOSTADDR]:HPORT-[GUESTADDR]:GPORT",
                      rule);
}

static int slirp_realize(Object *obj, Machine *m, Error *err)
{
    SlirpState *s = (SlirpState *)obj;
    (void)m;
    if (!obj->id) {
        return error_setf(err, "user: id= is required");
    }
    if (net_backend_find(obj->id)) {
        return error_setf(err, "user: netdev id '%s' is already in use", obj->id);
    }
    /* net=A.B.C.D[/N] */
    char netstr[64];
    snprintf(netstr, sizeof(netstr), "%s", s->net);
    unsigned prefix = 24;
    char *slash = strchr(netstr, '/');
    if (slash) {
        *slash = '\0';
        char *end;
        unsigned long v = strtoul(slash + 1, &end, 10);
        if (*end || end == slash + 1 || v < 8 || v > 30) {
            return error_setf(err, "user: net=%s: prefix length must be 8..30", s->net);
        }
        prefix = (unsigned)v;
    }
    struct in_addr net, mask, host, dhcp, dns;
    if (parse_addr("net", netstr, &net, err) < 0) {
        return -1;
    }
    mask.s_addr = htonl(~0u << (32 - prefix));
    net.s_addr &= mask.s_addr;
    host.s_addr = htonl(ntohl(net.s_addr) + 2);
    dns.s_addr = htonl(ntohl(net.s_addr) + 3);
    dhcp.s_addr = htonl(ntohl(net.s_addr) + 15);
    if ((s->host && parse_addr("host", s->host, &host, err) < 0) ||
        (s->dns && parse_addr("dns", s->dns, &dns, err) < 0) ||
        (s->dhcpstart && parse_addr("dhcpstart", s->dhcpstart, &dhcp, err) < 0)) {
        return -1;
    }
    if ((host.s_addr & mask.s_addr) != net.s_addr || (dns.s_addr & mask.s_addr) != net.s_addr ||
        (dhcp.s_addr & mask.s_addr) != net.s_addr) {
        return error_setf(err, "user: host, dns and dhcpstart must lie inside net=%s", s->net);
    }

    SlirpConfig cfg = {
        .version = 4,
        .restricted = s->restrict_,
        .in_enabled = true,
        .vnetwork = net,
        .vnetmask = mask,
        .vhost = host,
        .in6_enabled = false,
        .vhostname = "e1kvm",
        .vdhcp_start = dhcp,
        .vnameserver = dns,
        .disable_host_loopback = false,
    };
    s->buf = malloc(NET_MAX_PACKET);
    if (!s->buf) {
        die("out of memory");
    }
    s->poll_timer = timer_new(slirp_poll_now, s);
    s->slirp = slirp_new(&cfg, &slirp_cbs, s);
    if (!s->slirp || !s->poll_timer) {
        return error_setf(err, "user: libslirp could not be set up");
    }
    if (s->hostfwd && *s->hostfwd && add_hostfwd(s, s->hostfwd, dhcp, err) < 0) {
        slirp_cleanup(s->slirp);
        s->slirp = NULL;
        return -1;
    }
    s->nc = net_client_new(&slirp_net_info, obj->id, s);
    net_backend_register(s->nc);
    slirp_refresh(s);
    return 0;
}

static const TypeInfo slirp_info = {
    .name = "user",
    .kind = TYPE_KIND_NETDEV,
    .desc = "user-mode network (libslirp): DHCP, NAT to host sockets, hostfwd port forwarding",
    .instance_size = sizeof(SlirpState),
    .props = slirp_props,
    .needs_host_sockets = true, /* NAT: one host socket per guest connection */
    .realize = slirp_realize,
};

TYPE_REGISTER(slirp_info)
