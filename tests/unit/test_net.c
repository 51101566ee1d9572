/* Net layer and tap backend tests.
 *
 * The net layer tests connect two fake clients: a backend that sends (and
 * counts its sent_cb) and a NIC whose can_receive / receive_iov we steer.
 *
 * The tap tests that need a real TAP run as root in a network namespace of
 * their own (unshare(CLONE_NEWNET) of this test process), so no traffic
 * leaves it. There the host side of a TAP is an AF_PACKET socket bound to
 * the interface: what it sends comes out of the tap fd (host → guest), what
 * the backend writes into the fd arrives on it (guest → host). The fd
 * handlers are called directly (tap-int.h), never by the loop thread. As a
 * non-root user these tests are not run and the program exits 77 (SKIP). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/loop.h"
#include "net/net.h"
#include "net/tap-int.h"
#include "qom/object.h"

/* ------------------------------------------------------------------ */
/* fake clients                                                         */

#define MAX_RX 1024

typedef struct Fake {
    NetClient *nc;
    bool can_rx;       /* can_receive */
    int accept_budget; /* receive_iov takes this many more, then returns 0; -1: no limit */
    bool flush_inside; /* receive_iov calls net_flush_queued(self) */
    bool set_link_down_inside;
    int nrx;
    uint32_t seq[MAX_RX];
    size_t len[MAX_RX];
    uint8_t last[2048];
    size_t last_len;
    int sent_cbs;
    int sends_in_sent_cb; /* the sent_cb sends this many more packets */
    uint32_t next_seq;
    int link_changes;
    uint16_t only_ethertype; /* nonzero: ignore other frames (tap tests) */
    int ignored;
} Fake;

static bool fake_can_receive(NetClient *nc)
{
    Fake *f = nc->opaque;
    return f->can_rx;
}

static ssize_t fake_receive_iov(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    Fake *f = nc->opaque;
    uint8_t buf[2048];
    size_t n = 0, total = 0;

    for (int i = 0; i < iovcnt; i++) {
        size_t c = iov[i].iov_len;
        total += c;
        if (n + c > sizeof(buf)) {
            c = sizeof(buf) - n;
        }
        memcpy(buf + n, iov[i].iov_base, c);
        n += c;
    }
    if (f->accept_budget == 0) {
        return 0;
    }
    if (f->accept_budget > 0) {
        f->accept_budget--;
    }
    if (f->only_ethertype && (n < 14 || ((buf[12] << 8) | buf[13]) != f->only_ethertype)) {
        f->ignored++;
        return total;
    }
    assert_true(f->nrx < MAX_RX);
    uint32_t seq = 0;
    size_t off = f->only_ethertype ? 14 : 0;
    if (n >= off + 4) {
        memcpy(&seq, buf + off, 4);
    }
    f->seq[f->nrx] = seq;
    f->len[f->nrx] = total;
    f->nrx++;
    memcpy(f->last, buf, n);
    f->last_len = n;
    if (f->flush_inside) {
        net_flush_queued(nc);
    }
    if (f->set_link_down_inside) {
        f->set_link_down_inside = false;
        net_set_link(nc, false);
    }
    return total;
}

static void fake_link_status_changed(NetClient *nc)
{
    Fake *f = nc->opaque;
    f->link_changes++;
}

static const NetClientInfo fake_nic_info = {
    .type = "fake-nic",
    .kind = NET_CLIENT_NIC,
    .can_receive = fake_can_receive,
    .receive_iov = fake_receive_iov,
    .link_status_changed = fake_link_status_changed,
};

static const NetClientInfo fake_backend_info = {
    .type = "fake-backend",
    .kind = NET_CLIENT_BACKEND,
    .can_receive = fake_can_receive,
    .receive_iov = fake_receive_iov,
    .link_status_changed = fake_link_status_changed,
};

static ssize_t send_seq(NetClient *from, uint32_t seq, NetSentCb cb)
{
    uint8_t pkt[64];
    memset(pkt, 0xab, sizeof(pkt));
    memcpy(pkt, &seq, 4);
    return net_send(from, pkt, sizeof(pkt), cb);
}

static void backend_sent_cb(NetClient *nc)
{
    Fake *f = nc->opaque;
    f->sent_cbs++;
    /* a backend that resumes producing right away (tap with data waiting) */
    while (f->sends_in_sent_cb > 0) {
        f->sends_in_sent_cb--;
        if (send_seq(nc, f->next_seq++, backend_sent_cb) == 0) {
            break;
        }
    }
}

typedef struct Pair {
    Fake be, nic;
} Pair;

static void fake_init(Fake *f, const NetClientInfo *info, const char *id)
{
    memset(f, 0, sizeof(*f));
    f->can_rx = true;
    f->accept_budget = -1;
    f->nc = net_client_new(info, id, f);
}

static int pair_setup(void **state)
{
    Pair *p = calloc(1, sizeof(*p));
    fake_init(&p->be, &fake_backend_info, "be0");
    fake_init(&p->nic, &fake_nic_info, "nic0");
    net_backend_register(p->be.nc);
    net_client_set_peer(p->be.nc, p->nic.nc);
    *state = p;
    return 0;
}

static int pair_teardown(void **state)
{
    Pair *p = *state;
    net_client_free(p->nic.nc);
    net_client_free(p->be.nc);
    free(p);
    return 0;
}

static void assert_seqs(const Fake *f, uint32_t first, int n)
{
    assert_int_equal(f->nrx, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(f->seq[i], first + i);
    }
}

/* ------------------------------------------------------------------ */
/* net layer                                                            */

static void test_direct_delivery_in_order(void **state)
{
    Pair *p = *state;
    for (uint32_t i = 0; i < 10; i++) {
        assert_int_equal(send_seq(p->be.nc, i, backend_sent_cb), 64);
    }
    assert_seqs(&p->nic, 0, 10);
    assert_int_equal(p->be.sent_cbs, 0); /* only queued packets get one */
    assert_int_equal(p->nic.nc->queue.count, 0);
    assert_int_equal(p->nic.nc->queued_total, 0);
    /* and the other way round */
    assert_int_equal(send_seq(p->nic.nc, 7, NULL), 64);
    assert_seqs(&p->be, 7, 1);
}

static void test_no_peer_drops(void **state)
{
    (void)state;
    Fake lone;
    fake_init(&lone, &fake_backend_info, "lone");
    assert_int_equal(send_seq(lone.nc, 1, NULL), -1);
    assert_int_equal(lone.nc->dropped_total, 1);
    net_client_free(lone.nc);
}

static void test_queue_then_flush(void **state)
{
    Pair *p = *state;
    p->nic.can_rx = false;
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(send_seq(p->be.nc, i, backend_sent_cb), 0);
    }
    assert_int_equal(p->nic.nrx, 0);
    assert_int_equal(p->nic.nc->queue.count, 3);
    assert_int_equal(p->nic.nc->queued_total, 3);
    assert_int_equal(p->be.sent_cbs, 0);

    /* not yet able: flushing changes nothing */
    assert_false(net_flush_queued(p->nic.nc));
    assert_int_equal(p->nic.nrx, 0);
    assert_int_equal(p->be.sent_cbs, 0);

    p->nic.can_rx = true;
    assert_true(net_flush_queued(p->nic.nc));
    assert_seqs(&p->nic, 0, 3);
    assert_true(p->be.sent_cbs >= 1);
    assert_int_equal(p->nic.nc->queue.count, 0);
    assert_int_equal(p->nic.nc->dropped_total, 0);

    /* afterwards delivery is direct again */
    assert_int_equal(send_seq(p->be.nc, 3, backend_sent_cb), 64);
    assert_seqs(&p->nic, 0, 4);
}

static void test_order_kept_while_queue_nonempty(void **state)
{
    Pair *p = *state;
    p->nic.can_rx = false;
    assert_int_equal(send_seq(p->be.nc, 0, backend_sent_cb), 0);
    /* the NIC could take it now, but packet 0 still waits: 1 must not
     * overtake it */
    p->nic.can_rx = true;
    assert_int_equal(send_seq(p->be.nc, 1, backend_sent_cb), 0);
    assert_int_equal(p->nic.nrx, 0);
    assert_true(net_flush_queued(p->nic.nc));
    assert_seqs(&p->nic, 0, 2);
}

static void test_receive_returns_zero(void **state)
{
    Pair *p = *state;
    /* can_receive says yes, but receive_iov refuses after 2 packets */
    p->nic.accept_budget = 2;
    assert_int_equal(send_seq(p->be.nc, 0, backend_sent_cb), 64);
    assert_int_equal(send_seq(p->be.nc, 1, backend_sent_cb), 64);
    assert_int_equal(send_seq(p->be.nc, 2, backend_sent_cb), 0);
    assert_int_equal(send_seq(p->be.nc, 3, backend_sent_cb), 0);
    assert_int_equal(send_seq(p->be.nc, 4, backend_sent_cb), 0);
    assert_int_equal(p->nic.nc->queue.count, 3);

    /* room for one more: partial flush, the rest keeps its place */
    p->nic.accept_budget = 1;
    assert_false(net_flush_queued(p->nic.nc));
    assert_seqs(&p->nic, 0, 3);
    assert_int_equal(p->nic.nc->queue.count, 2);
    assert_int_equal(p->be.sent_cbs, 1);

    p->nic.accept_budget = -1;
    assert_true(net_flush_queued(p->nic.nc));
    assert_seqs(&p->nic, 0, 5);
    assert_int_equal(p->be.sent_cbs, 3);
    assert_int_equal(p->nic.nc->dropped_total, 0);
}

static void test_bounded_queue(void **state)
{
    Pair *p = *state;
    const int extra = 5;
    p->nic.can_rx = false;
    for (int i = 0; i < NET_QUEUE_MAX_PACKETS + extra; i++) {
        ssize_t r = send_seq(p->be.nc, i, NULL);
        assert_int_equal(r, i < NET_QUEUE_MAX_PACKETS ? 0 : -1);
    }
    assert_int_equal(p->nic.nc->queue.count, NET_QUEUE_MAX_PACKETS);
    assert_int_equal(p->nic.nc->dropped_total, extra);
    p->nic.can_rx = true;
    assert_true(net_flush_queued(p->nic.nc));
    /* what was queued all arrives, in order; only the overflow is lost */
    assert_seqs(&p->nic, 0, NET_QUEUE_MAX_PACKETS);
}

static void test_oversized_dropped(void **state)
{
    Pair *p = *state;
    static uint8_t big[NET_MAX_PACKET + 1];
    assert_int_equal(net_send(p->be.nc, big, sizeof(big), NULL), -1);
    assert_int_equal(net_send(p->be.nc, big, NET_MAX_PACKET, NULL), NET_MAX_PACKET);
    assert_int_equal(p->nic.nrx, 1);
    assert_int_equal(p->be.nc->dropped_total, 1);
}

static void test_link_down(void **state)
{
    Pair *p = *state;

    /* two packets wait when the link goes down: they are dropped, and the
     * waiting sender hears about it so it does not wait forever */
    p->nic.can_rx = false;
    assert_int_equal(send_seq(p->be.nc, 0, backend_sent_cb), 0);
    assert_int_equal(send_seq(p->be.nc, 1, backend_sent_cb), 0);
    net_set_link(p->be.nc, false);
    assert_true(p->be.nc->link_down);
    assert_true(p->nic.nc->link_down);
    assert_int_equal(p->be.link_changes, 1);
    assert_int_equal(p->nic.link_changes, 1);
    assert_int_equal(p->nic.nc->queue.count, 0);
    assert_int_equal(p->nic.nc->dropped_total, 2);
    assert_true(p->be.sent_cbs >= 1);

    /* while down: dropped in both directions, nothing queued */
    p->nic.can_rx = true;
    assert_int_equal(send_seq(p->be.nc, 2, backend_sent_cb), -1);
    assert_int_equal(send_seq(p->nic.nc, 3, NULL), -1);
    assert_int_equal(p->be.nc->dropped_total, 1);
    assert_int_equal(p->nic.nc->dropped_total, 3);
    assert_int_equal(p->nic.nrx, 0);
    assert_int_equal(p->be.nrx, 0);

    /* up again, from the other side */
    net_set_link(p->nic.nc, true);
    assert_false(p->be.nc->link_down);
    assert_false(p->nic.nc->link_down);
    assert_int_equal(p->be.link_changes, 2);
    assert_int_equal(p->nic.link_changes, 2);
    assert_int_equal(send_seq(p->be.nc, 4, backend_sent_cb), 64);
    assert_seqs(&p->nic, 4, 1);
}

static void test_link_down_inside_receive(void **state)
{
    Pair *p = *state;
    p->nic.can_rx = false;
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(send_seq(p->be.nc, i, backend_sent_cb), 0);
    }
    /* the receiver takes the link down while the flush delivers packet 0 */
    p->nic.can_rx = true;
    p->nic.set_link_down_inside = true;
    assert_true(net_flush_queued(p->nic.nc));
    assert_seqs(&p->nic, 0, 1);
    assert_int_equal(p->nic.nc->queue.count, 0);
    assert_int_equal(p->nic.nc->dropped_total, 3);
    assert_true(p->be.sent_cbs >= 1);
}

static void test_reentrant_flush(void **state)
{
    Pair *p = *state;
    p->nic.can_rx = false;
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(send_seq(p->be.nc, i, backend_sent_cb), 0);
    }
    /* the receiver flushes its own queue from inside receive_iov (as a NIC
     * does when receiving frees room): no recursion, no duplicates */
    p->nic.can_rx = true;
    p->nic.flush_inside = true;
    assert_true(net_flush_queued(p->nic.nc));
    assert_seqs(&p->nic, 0, 5);
    /* a direct delivery that flushes inside is fine too */
    assert_int_equal(send_seq(p->be.nc, 5, backend_sent_cb), 64);
    assert_seqs(&p->nic, 0, 6);
}

static void test_sent_cb_sends_again(void **state)
{
    Pair *p = *state;
    p->nic.can_rx = false;
    assert_int_equal(send_seq(p->be.nc, 0, backend_sent_cb), 0);
    assert_int_equal(send_seq(p->be.nc, 1, backend_sent_cb), 0);
    /* on the first sent_cb the backend produces 3 more (2, 3, 4) from inside
     * the flush: they go behind 1, never before it */
    p->be.next_seq = 2;
    p->be.sends_in_sent_cb = 3;
    p->nic.can_rx = true;
    assert_true(net_flush_queued(p->nic.nc));
    assert_seqs(&p->nic, 0, 5);
    assert_int_equal(p->nic.nc->queue.count, 0);
}

static void test_iov_gathered(void **state)
{
    Pair *p = *state;
    uint32_t seq = 42;
    char a[] = "hello, ", b[] = "world";
    struct iovec iov[3] = {
        {.iov_base = &seq, .iov_len = 4},
        {.iov_base = a, .iov_len = strlen(a)},
        {.iov_base = b, .iov_len = strlen(b)},
    };
    p->nic.can_rx = false;
    assert_int_equal(net_send_iov(p->be.nc, iov, 3, NULL), 0);
    p->nic.can_rx = true;
    assert_true(net_flush_queued(p->nic.nc));
    assert_seqs(&p->nic, 42, 1);
    assert_int_equal(p->nic.last_len, 4 + 12);
    assert_memory_equal(p->nic.last + 4, "hello, world", 12);
}

static void test_registry(void **state)
{
    Pair *p = *state;
    assert_ptr_equal(net_backend_find("be0"), p->be.nc);
    assert_null(net_backend_find("nic0")); /* NICs are not netdevs */
    assert_null(net_backend_find("nope"));
    assert_null(net_backend_find(NULL));

    bool seen_be = false, seen_nic = false;
    int n = 0;
    for (NetClient *nc = net_client_next(NULL); nc; nc = net_client_next(nc)) {
        seen_be |= nc == p->be.nc;
        seen_nic |= nc == p->nic.nc;
        n++;
    }
    assert_true(seen_be && seen_nic);
    assert_int_equal(n, 2);

    Fake extra;
    fake_init(&extra, &fake_backend_info, "be1");
    net_backend_register(extra.nc);
    assert_ptr_equal(net_backend_find("be1"), extra.nc);
    net_client_free(extra.nc);
    assert_null(net_backend_find("be1"));
    assert_ptr_equal(net_backend_find("be0"), p->be.nc);
}

static void test_free_sender_with_queued_packets(void **state)
{
    Pair *p = *state;
    Fake be2;
    fake_init(&be2, &fake_backend_info, "be2");
    net_client_set_peer(be2.nc, p->nic.nc); /* re-peer: be0 loses its peer */
    assert_null(p->be.nc->peer);
    p->nic.can_rx = false;
    assert_int_equal(send_seq(be2.nc, 0, backend_sent_cb), 0);
    assert_int_equal(send_seq(be2.nc, 1, backend_sent_cb), 0);
    net_client_free(be2.nc);
    /* its packets left with it; nobody calls back into the freed sender */
    assert_null(p->nic.nc->peer);
    assert_int_equal(p->nic.nc->queue.count, 0);
    p->nic.can_rx = true;
    assert_true(net_flush_queued(p->nic.nc));
    assert_int_equal(p->nic.nrx, 0);
    net_client_set_peer(p->be.nc, p->nic.nc);
}

static void test_vnet_hdr_default(void **state)
{
    Pair *p = *state;
    assert_false(net_has_vnet_hdr(p->be.nc));
    net_using_vnet_hdr(p->be.nc, true); /* no-op without the capability */
    assert_false(net_has_vnet_hdr(NULL));
}

/* ------------------------------------------------------------------ */
/* tap: realize helpers                                                 */

typedef struct TapInst {
    Object *obj;
    NetClient *nc;
} TapInst;

/* Parse and realize a -netdev string; returns 0 or -1 with err set. */
static int tap_create(const char *opts, TapInst *t, Error *err)
{
    memset(t, 0, sizeof(*t));
    err->msg[0] = '\0';
    Object *obj = object_new_from_opts(opts, TYPE_KIND_NETDEV, err);
    if (!obj) {
        return -1;
    }
    if (obj->type->realize(obj, NULL, err) < 0) {
        object_free(obj);
        return -1;
    }
    t->obj = obj;
    t->nc = net_backend_find(obj->id);
    assert_non_null(t->nc);
    return 0;
}

static void tap_destroy(TapInst *t)
{
    net_client_free(t->nc);
    object_free(t->obj);
}

static void expect_tap_error(const char *opts, const char *msg)
{
    TapInst t;
    Error err;
    if (tap_create(opts, &t, &err) == 0) {
        tap_destroy(&t);
        fail_msg("'%s' was accepted; expected: %s", opts, msg);
    }
    assert_string_equal(err.msg, msg);
}

/* ---- tap errors that need no privilege ---- */

static void test_tap_needs_ifname_or_fd(void **state)
{
    (void)state;
    expect_tap_error("tap,id=n0", "tap: ifname= or fd= is required");
    expect_tap_error("tap,id=n0,script=no,downscript=no", "tap: ifname= or fd= is required");
    expect_tap_error("tap,id=n0,ifname=tap0,fd=3", "tap: ifname= and fd= cannot be used together");
}

static void test_tap_scripts_rejected(void **state)
{
    (void)state;
    expect_tap_error("tap,id=n0,ifname=tap0,script=/etc/qemu-ifup",
                     "tap: script= is not supported, use script=no");
    expect_tap_error("tap,id=n0,ifname=tap0,script=no,downscript=/etc/qemu-ifdown",
                     "tap: downscript= is not supported, use downscript=no");
}

static void test_tap_missing_interface(void **state)
{
    (void)state;
    expect_tap_error("tap,id=n0,ifname=e1kvm-nope0", "tap: no such interface 'e1kvm-nope0'");
    expect_tap_error("tap,id=n0,ifname=this-name-is-too-long",
                     "tap: interface name 'this-name-is-too-long' is too long (at most 15 "
                     "characters)");
}

static void test_tap_lo_not_tap(void **state)
{
    (void)state;
    expect_tap_error("tap,id=n0,ifname=lo", "tap: 'lo' is not a TAP device");
}

static void test_tap_fd_errors(void **state)
{
    (void)state;
    int pfd[2];
    char opts[64], msg[128];

    assert_int_equal(pipe(pfd), 0);
    snprintf(opts, sizeof(opts), "tap,id=n0,fd=%d", pfd[0]);
    snprintf(msg, sizeof(msg), "tap: fd=%d is not a TAP device", pfd[0]);
    expect_tap_error(opts, msg);
    /* a failed realize leaves the fd alone: it still belongs to the caller */
    assert_true(fcntl(pfd[0], F_GETFD) >= 0);
    close(pfd[0]);
    close(pfd[1]);

    snprintf(opts, sizeof(opts), "tap,id=n0,fd=%d", pfd[0]);
    snprintf(msg, sizeof(msg), "tap: fd=%d is not open", pfd[0]);
    expect_tap_error(opts, msg);

    expect_tap_error("tap,id=n0,fd=three", "tap: fd=three is not a file descriptor number");
    expect_tap_error("tap,id=n0,fd=-1", "tap: fd=-1 is not a file descriptor number");
}

/* ------------------------------------------------------------------ */
/* tap: real TAP interfaces in a private network namespace (root)      */

#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental */

static void write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = write(fd, s, strlen(s));
        (void)r;
        close(fd);
    }
}

static int open_tun(const char *name, int flags)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    ifr.ifr_flags = flags;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void make_persistent(const char *name, int type)
{
    int fd = open_tun(name, type | IFF_NO_PI);
    assert_true(fd >= 0);
    assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
    close(fd);
}

static void if_up(const char *name)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
    close(s);
}

static int netns_setup(void **state)
{
    (void)state;
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
        return -1;
    }
    /* a quiet namespace: no IPv6 autoconfiguration chatter on the TAPs */
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    make_persistent("t0", IFF_TAP);
    make_persistent("t1", IFF_TAP);
    make_persistent("t2", IFF_TAP);
    make_persistent("t3", IFF_TAP);
    make_persistent("tun0", IFF_TUN);
    if_up("t0");
    if_up("t1");
    if_up("t2");
    if_up("t3");
    return 0;
}

/* The host side of a TAP: an AF_PACKET socket for our test ethertype. */
static int host_socket(const char *ifname)
{
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(TEST_ETHERTYPE));
    assert_true(s >= 0);
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(TEST_ETHERTYPE),
        .sll_ifindex = (int)if_nametoindex(ifname),
    };
    assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
    /* straight into the driver: once send() returns, the frame is in the
     * tap's queue (no qdisc in between) */
    int one = 1;
    assert_int_equal(setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)), 0);
    return s;
}

static size_t make_frame(uint8_t *f, uint32_t seq, size_t len)
{
    static const uint8_t hdr[14] = {0xff,
                                    0xff,
                                    0xff,
                                    0xff,
                                    0xff,
                                    0xff,
                                    0x02,
                                    0x00,
                                    0x00,
                                    0x00,
                                    0x00,
                                    0x01,
                                    TEST_ETHERTYPE >> 8,
                                    TEST_ETHERTYPE & 0xff};
    memcpy(f, hdr, 14);
    memcpy(f + 14, &seq, 4);
    for (size_t i = 18; i < len; i++) {
        f[i] = (uint8_t)(i ^ seq);
    }
    return len;
}

static void host_send(int s, uint32_t seq, size_t len)
{
    uint8_t f[1514];
    make_frame(f, seq, len);
    assert_int_equal(send(s, f, len, 0), (ssize_t)len);
}

/* Next frame that arrived on the host side (not one we sent), or -1. */
static ssize_t host_recv(int s, uint8_t *buf, size_t size)
{
    for (;;) {
        struct pollfd pfd = {.fd = s, .events = POLLIN};
        if (poll(&pfd, 1, 2000) != 1) {
            return -1;
        }
        struct sockaddr_ll from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(s, buf, size, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) {
            return -1;
        }
        if (from.sll_pkttype != PACKET_OUTGOING) {
            return n;
        }
    }
}

/* Wait until the tap fd is readable and run its read handler once. */
static void run_tap_send(NetClient *nc)
{
    struct pollfd pfd = {.fd = tap_fd(nc), .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    device_lock(); /* the main loop runs fd handlers with it held */
    tap_send(nc->opaque);
    device_unlock();
}

static void nic_attach(Fake *nic, TapInst *t)
{
    fake_init(nic, &fake_nic_info, "nic");
    nic->only_ethertype = TEST_ETHERTYPE;
    net_client_set_peer(t->nc, nic->nc);
}

static void test_tap_traffic_by_ifname(void **state)
{
    (void)state;
    TapInst t;
    Error err;
    Fake nic;
    uint8_t f[1514], got[2048];

    assert_int_equal(tap_create("tap,id=n0,ifname=t0,script=no,downscript=no", &t, &err), 0);
    assert_string_equal(t.nc->id, "n0");
    assert_int_equal(t.nc->info->kind, NET_CLIENT_BACKEND);
    assert_true(fcntl(tap_fd(t.nc), F_GETFL) & O_NONBLOCK);
    assert_true(tap_read_polling(t.nc));
    /* vnet_hdr is on by default; a frontend that does not take it over
     * still sends and receives plain frames (the rest of this test) */
    assert_true(net_has_vnet_hdr(t.nc));
    nic_attach(&nic, &t);
    int host = host_socket("t0");

    /* host → guest: in order, bytes intact */
    for (uint32_t i = 0; i < 5; i++) {
        host_send(host, i, 60 + i * 100);
    }
    while (nic.nrx < 5) {
        run_tap_send(t.nc);
    }
    assert_seqs(&nic, 0, 5);
    make_frame(f, 4, 460);
    assert_int_equal(nic.last_len, 460);
    assert_memory_equal(nic.last, f, 460);

    /* guest → host */
    make_frame(f, 77, 1514);
    assert_int_equal(net_send(nic.nc, f, 1514, NULL), 1514);
    assert_int_equal(host_recv(host, got, sizeof(got)), 1514);
    assert_memory_equal(got, f, 1514);

    /* nothing else is waiting: EAGAIN ends a read batch quietly */
    device_lock();
    tap_send(t.nc->opaque);
    device_unlock();
    assert_true(tap_read_polling(t.nc));
    assert_int_equal(t.nc->dropped_total, 0);

    close(host);
    net_client_free(nic.nc);
    tap_destroy(&t);
}

static void test_tap_flow_control(void **state)
{
    (void)state;
    TapInst t;
    Error err;
    Fake nic;

    assert_int_equal(tap_create("tap,id=n0,ifname=t0", &t, &err), 0);
    nic_attach(&nic, &t);
    int host = host_socket("t0");

    /* the guest has no RX buffers: the first frame waits in the NIC's queue
     * and the tap stops reading, leaving the rest in the kernel */
    nic.can_rx = false;
    for (uint32_t i = 0; i < 3; i++) {
        host_send(host, i, 100);
    }
    run_tap_send(t.nc);
    assert_false(tap_read_polling(t.nc));
    assert_int_equal(nic.nc->queue.count, 1);
    assert_int_equal(nic.nrx, 0);

    /* RX buffers arrive: the queued frame goes in, the tap resumes */
    nic.can_rx = true;
    assert_true(net_flush_queued(nic.nc));
    assert_seqs(&nic, 0, 1);
    assert_true(tap_read_polling(t.nc));
    while (nic.nrx < 3) {
        run_tap_send(t.nc);
    }
    assert_seqs(&nic, 0, 3);
    assert_int_equal(nic.nc->dropped_total, 0);

    close(host);
    net_client_free(nic.nc);
    tap_destroy(&t);
}

static void test_tap_busy_and_tun(void **state)
{
    (void)state;
    TapInst t;
    Error err;

    assert_int_equal(tap_create("tap,id=n0,ifname=t0", &t, &err), 0);
    expect_tap_error("tap,id=n1,ifname=t0", "tap: 't0' is already in use by another process");
    expect_tap_error("tap,id=n0,ifname=t1", "tap: netdev id 'n0' is already in use");
    tap_destroy(&t);
    /* detached again: attachable again (the interface is persistent) */
    assert_int_equal(tap_create("tap,id=n0,ifname=t0", &t, &err), 0);
    tap_destroy(&t);

    expect_tap_error("tap,id=n0,ifname=tun0", "tap: 'tun0' is not a TAP device");
}

static void test_tap_by_fd(void **state)
{
    (void)state;
    TapInst t;
    Error err;
    Fake nic;
    char opts[64], msg[128];
    uint8_t f[200], got[2048];

    int fd = open_tun("t1", IFF_TAP | IFF_NO_PI);
    assert_true(fd >= 0);
    snprintf(opts, sizeof(opts), "tap,id=f1,fd=%d,vnet_hdr=on", fd);
    snprintf(msg, sizeof(msg), "tap: vnet_hdr=on but fd=%d was opened without IFF_VNET_HDR", fd);
    expect_tap_error(opts, msg);

    snprintf(opts, sizeof(opts), "tap,id=f1,fd=%d", fd);
    assert_int_equal(tap_create(opts, &t, &err), 0);
    assert_int_equal(tap_fd(t.nc), fd);
    nic_attach(&nic, &t);
    int host = host_socket("t1");

    host_send(host, 9, 100);
    run_tap_send(t.nc);
    assert_seqs(&nic, 9, 1);

    make_frame(f, 10, sizeof(f));
    assert_int_equal(net_send(nic.nc, f, sizeof(f), NULL), (ssize_t)sizeof(f));
    assert_int_equal(host_recv(host, got, sizeof(got)), (ssize_t)sizeof(f));
    assert_memory_equal(got, f, sizeof(f));

    close(host);
    net_client_free(nic.nc);
    tap_destroy(&t);
    /* the backend owned the fd: closed with it */
    assert_int_equal(fcntl(fd, F_GETFD), -1);

    /* fds that are not a usable TAP */
    int bad[3] = {
        open("/dev/net/tun", O_RDWR | O_CLOEXEC), /* never attached */
        open_tun("tun0", IFF_TUN | IFF_NO_PI),    /* layer 3 */
        open_tun("t1", IFF_TAP),                  /* with packet info */
    };
    for (int i = 0; i < 3; i++) {
        assert_true(bad[i] >= 0);
        snprintf(opts, sizeof(opts), "tap,id=f1,fd=%d", bad[i]);
        if (i < 2) {
            snprintf(msg, sizeof(msg), "tap: fd=%d is not a TAP device", bad[i]);
        } else {
            snprintf(msg, sizeof(msg), "tap: fd=%d was opened without IFF_NO_PI", bad[i]);
        }
        expect_tap_error(opts, msg);
        close(bad[i]);
    }
}

static void test_tap_vnet_hdr(void **state)
{
    (void)state;
    TapInst t;
    Error err;
    Fake nic;
    uint8_t f[300], got[2048];

    assert_int_equal(tap_create("tap,id=v0,ifname=t2,vnet_hdr=on", &t, &err), 0);
    assert_true(net_has_vnet_hdr(t.nc));
    nic_attach(&nic, &t);
    nic.only_ethertype = 0; /* with the header on, byte 12 is no ethertype */
    int host = host_socket("t2");

    /* frontends see plain frames: the header is stripped ... */
    host_send(host, 1, sizeof(f));
    run_tap_send(t.nc);
    make_frame(f, 1, sizeof(f));
    assert_int_equal(nic.nrx, 1);
    assert_int_equal(nic.last_len, sizeof(f));
    assert_memory_equal(nic.last, f, sizeof(f));

    /* ... and a zeroed one is prepended: the host sees the frame unchanged */
    make_frame(f, 2, sizeof(f));
    assert_int_equal(net_send(nic.nc, f, sizeof(f), NULL), (ssize_t)sizeof(f));
    assert_int_equal(host_recv(host, got, sizeof(got)), (ssize_t)sizeof(f));
    assert_memory_equal(got, f, sizeof(f));

    /* a frontend that takes the header over sees and supplies it */
    net_using_vnet_hdr(t.nc, true);
    host_send(host, 3, sizeof(f));
    run_tap_send(t.nc);
    make_frame(f, 3, sizeof(f));
    assert_int_equal(nic.nrx, 2);
    assert_int_equal(nic.last_len, 10 + sizeof(f));
    assert_memory_equal(nic.last + 10, f, sizeof(f));

    uint8_t hf[10 + sizeof(f)];
    memset(hf, 0, 10);
    make_frame(hf + 10, 4, sizeof(f));
    assert_int_equal(net_send(nic.nc, hf, sizeof(hf), NULL), (ssize_t)sizeof(hf));
    assert_int_equal(host_recv(host, got, sizeof(got)), (ssize_t)sizeof(f));
    assert_memory_equal(got, hf + 10, sizeof(f));

    close(host);
    net_client_free(nic.nc);
    tap_destroy(&t);
}

/* An unprivileged process meets a TAP that belongs to root. */
static void test_tap_permission_denied(void **state)
{
    (void)state;
    int fd = open_tun("t4", IFF_TAP | IFF_NO_PI);
    assert_true(fd >= 0);
    assert_int_equal(ioctl(fd, TUNSETOWNER, 0), 0);
    assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
    close(fd);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        TapInst t;
        Error err;
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0) {
            _exit(2);
        }
        /* which step refuses depends on the mode of /dev/net/tun here */
        const char *want = access("/dev/net/tun", R_OK | W_OK) < 0
                               ? "tap: cannot open /dev/net/tun: Permission denied"
                               : "tap: cannot attach to 't4': Operation not permitted (the "
                                 "interface belongs to another user: 'ip tuntap add dev t4 mode "
                                 "tap user USER')";
        if (tap_create("tap,id=p0,ifname=t4", &t, &err) == 0 || strcmp(err.msg, want) != 0) {
            fprintf(stderr, "got '%s'\nwant '%s'\n", err.msg, want);
            _exit(1);
        }
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_tap_interface_deleted(void **state)
{
    (void)state;
    TapInst t;
    Error err;
    Fake nic;

    assert_int_equal(tap_create("tap,id=d0,ifname=t3", &t, &err), 0);
    nic_attach(&nic, &t);
    assert_int_equal(system("ip link del t3"), 0);

    /* the fd reports an error: one warning, link down, no more polling */
    run_tap_send(t.nc);
    assert_false(tap_read_polling(t.nc));
    assert_false(tap_write_polling(t.nc));
    assert_true(t.nc->link_down);
    assert_true(nic.nc->link_down);
    assert_int_equal(nic.link_changes, 1);
    uint8_t f[100];
    make_frame(f, 1, sizeof(f));
    assert_int_equal(net_send(nic.nc, f, sizeof(f), NULL), -1);

    net_client_free(nic.nc);
    tap_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest net_tests[] = {
        cmocka_unit_test_setup_teardown(test_direct_delivery_in_order, pair_setup, pair_teardown),
        cmocka_unit_test(test_no_peer_drops),
        cmocka_unit_test_setup_teardown(test_queue_then_flush, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_order_kept_while_queue_nonempty, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_receive_returns_zero, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_bounded_queue, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_dropped, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_link_down, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_link_down_inside_receive, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_reentrant_flush, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_sent_cb_sends_again, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_iov_gathered, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_registry, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_free_sender_with_queued_packets, pair_setup,
                                        pair_teardown),
        cmocka_unit_test_setup_teardown(test_vnet_hdr_default, pair_setup, pair_teardown),
        cmocka_unit_test(test_tap_needs_ifname_or_fd),
        cmocka_unit_test(test_tap_scripts_rejected),
        cmocka_unit_test(test_tap_missing_interface),
        cmocka_unit_test(test_tap_lo_not_tap),
        cmocka_unit_test(test_tap_fd_errors),
    };
    const struct CMUnitTest tap_tests[] = {
        cmocka_unit_test(test_tap_traffic_by_ifname), cmocka_unit_test(test_tap_flow_control),
        cmocka_unit_test(test_tap_busy_and_tun),      cmocka_unit_test(test_tap_by_fd),
        cmocka_unit_test(test_tap_vnet_hdr),          cmocka_unit_test(test_tap_interface_deleted),
        cmocka_unit_test(test_tap_permission_denied),
    };

    int failed = cmocka_run_group_tests_name("net", net_tests, NULL, NULL);
    if (geteuid() != 0) {
        fprintf(stderr, "test_net: the TAP tests need root (a private network namespace and "
                        "/dev/net/tun): not run\n");
        return failed ? failed : 77;
    }
    return failed + cmocka_run_group_tests_name("tap", tap_tests, netns_setup, NULL);
}
