/* The QMP monitor (monitor/qmp.c) over a socketpair: greeting, capability
 * negotiation, commands and their errors, malformed, split, batched and
 * oversized input, events, and the commands that reach the net layer
 * (set_link, query-rx-filter on a real e1000) and the trace points. No VM
 * runs: the Vm has no vCPU threads, so stop/cont only flip the state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "e1000_fixture.h"
#include "monitor/qmp-int.h"
#include "monitor/qmp.h"
#include "trace/stats.h"
#include "trace/trace.h"

static Vm vm;

typedef struct Peer {
    int fd;       /* our end */
    QmpClient *c; /* the monitor's end */
    char buf[1 << 16];
    size_t len;
} Peer;

static void peer_open(Peer *p)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(p, 0, sizeof(*p));
    p->fd = sv[0];
    fcntl(p->fd, F_SETFL, O_NONBLOCK);
    device_lock();
    p->c = qmp_attach_fd(sv[1], &vm);
    device_unlock();
    assert_non_null(p->c);
}

/* Send @s and let the monitor read it (as the loop would, lock held). */
static void peer_send(Peer *p, const char *s, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(p->fd, s + off, n - off);
        if (w < 0 && errno == EPIPE) {
            break; /* the monitor hung up */
        }
        if (w < 0 && errno == EAGAIN) {
            device_lock();
            if (qmp_client_alive(p->c)) {
                qmp_client_readable(p->c);
            }
            device_unlock();
            continue;
        }
        assert_true(w > 0);
        off += (size_t)w;
    }
    device_lock();
    if (qmp_client_alive(p->c)) {
        qmp_client_readable(p->c);
    }
    device_unlock();
}

static void peer_say(Peer *p, const char *s)
{
    peer_send(p, s, strlen(s));
}

/* Next line from the monitor, parsed; NULL if none within 1 s or closed. */
static json_object *peer_msg(Peer *p)
{
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->len);
        if (nl) {
            *nl = '\0';
            json_object *o = json_tokener_parse(p->buf);
            size_t used = (size_t)(nl - p->buf) + 1;
            memmove(p->buf, p->buf + used, p->len - used);
            p->len -= used;
            assert_non_null(o);
            return o;
        }
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        if (poll(&pf, 1, 1000) <= 0) {
            return NULL;
        }
        ssize_t n = read(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
        if (n <= 0) {
            return NULL;
        }
        p->len += (size_t)n;
    }
}

/* The next message as a string (JSON, plain), for easy comparison. */
static const char *peer_str(Peer *p)
{
    static char s[8192];
    json_object *o = peer_msg(p);
    if (!o) {
        return "(nothing)";
    }
    snprintf(
        s, sizeof(s), "%s",
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return s;
}

static void peer_close(Peer *p)
{
    close(p->fd);
    device_lock();
    if (qmp_client_alive(p->c)) {
        qmp_client_readable(p->c); /* sees EOF, closes */
    }
    device_unlock();
}

static void peer_ready(Peer *p)
{
    peer_open(p);
    const char *g = peer_str(p);
    assert_non_null(strstr(g, "{\"QMP\":{\"version\":{\"qemu\":{\"major\":"));
    assert_non_null(strstr(g, "\"package\":\"e1kvm "));
    assert_non_null(strstr(g, "\"capabilities\":[]"));
    peer_say(p, "{\"execute\":\"qmp_capabilities\"}\n");
    assert_string_equal(peer_str(p), "{\"return\":{}}");
}

static void test_negotiation(void **state)
{
    (void)state;
    Peer p;
    peer_open(&p);
    assert_non_null(strstr(peer_str(&p), "QMP"));
    peer_say(&p, "{\"execute\":\"query-status\",\"id\":\"a\"}");
    assert_string_equal(peer_str(&p), "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":"
                                      "\"Expecting capabilities negotiation with "
                                      "'qmp_capabilities'\"},\"id\":\"a\"}");
    peer_say(&p, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}");
    assert_string_equal(peer_str(&p), "{\"error\":{\"class\":\"GenericError\",\"desc\":"
                                      "\"Capability 'oob' not available\"}}");
    peer_say(&p, "{\"execute\":\"qmp_capabilities\"}");
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    peer_say(&p, "{\"execute\":\"qmp_capabilities\"}");
    assert_non_null(strstr(peer_str(&p), "Capabilities negotiation is already complete"));
    peer_say(&p, "{\"execute\":\"query-version\"}");
    assert_non_null(strstr(peer_str(&p), "{\"return\":{\"qemu\":{\"major\":0,\"minor\":1"));
    peer_close(&p);
}

static void test_errors(void **state)
{
    (void)state;
    Peer p;
    peer_ready(&p);
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"[1,2]", "QMP input must be a JSON object"},
        {"42 ", "QMP input must be a JSON object"},
        {"{\"id\":1}", "QMP input lacks member 'execute'"},
        {"{\"execute\":7}", "QMP input member 'execute' must be a string"},
        {"{\"execute\":\"stop\",\"arguments\":[]}",
         "QMP input member 'arguments' must be an object"},
        {"{\"execute\":\"stop\",\"x\":1}", "QMP input member 'x' is unexpected"},
        {"{\"execute\":\"nope\",\"id\":[1]}",
         "\"desc\":\"The command nope has not been found\"},\"id\":[1]"},
        {"{\"execute\":\"stop\",\"arguments\":{\"a\":1}}", "Parameter 'a' is unexpected"},
        {"{\"execute\":\"set_link\",\"arguments\":{\"name\":\"x\"}}", "Parameter 'up' is missing"},
        {"{\"execute\":\"set_link\",\"arguments\":{\"name\":1,\"up\":true}}",
         "Invalid parameter type for 'name', expected: string"},
        {"{\"execute\":\"set_link\",\"arguments\":{\"name\":\"nosuch\",\"up\":true}}",
         "{\"class\":\"DeviceNotFound\",\"desc\":\"Device 'nosuch' not found\"}"},
        {"{\"execute\":\"query-rx-filter\",\"arguments\":{\"name\":\"nosuch\"}}",
         "invalid net client name: nosuch"},
        {"{\"execute\":\"trace-event-set-state\",\"arguments\":{\"name\":\"zz*\",\"enable\":true}}",
         "No event named 'zz*'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        peer_say(&p, cases[i].in);
        const char *got = peer_str(&p);
        if (!strstr(got, cases[i].want)) {
            fprintf(stderr, "input %s: got %s, wanted %s\n", cases[i].in, got, cases[i].want);
        }
        assert_non_null(strstr(got, cases[i].want));
    }
    /* still serving */
    peer_say(&p, "{\"execute\":\"query-status\"}");
    assert_non_null(strstr(peer_str(&p), "\"status\":\"running\""));
    peer_close(&p);
}

/* Malformed JSON: an error, then the next line is parsed again. */
static void test_malformed_resync(void **state)
{
    (void)state;
    Peer p;
    peer_ready(&p);
    peer_say(&p, "{\"execute\": }\n{\"execute\":\"query-name\"}\n");
    assert_non_null(strstr(peer_str(&p), "JSON parse error"));
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    /* garbage without a newline: everything up to the next newline goes */
    peer_say(&p, "xx{\"execute\":\"stop\"}");
    assert_non_null(strstr(peer_str(&p), "JSON parse error"));
    peer_say(&p, "{\"execute\":\"stop\"}\n{\"execute\":\"query-name\"}\n");
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    assert_string_equal(peer_str(&p), "(nothing)");
    /* deep nesting is refused, not recursed into */
    char deep[4096];
    memset(deep, '[', sizeof(deep) - 2);
    deep[sizeof(deep) - 2] = '\n';
    deep[sizeof(deep) - 1] = '\0';
    peer_say(&p, deep);
    assert_non_null(strstr(peer_str(&p), "JSON parse error"));
    peer_say(&p, "{\"execute\":\"query-name\"}");
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    peer_close(&p);
}

/* A command split over many writes, and several in one write. */
static void test_split_and_batched(void **state)
{
    (void)state;
    Peer p;
    peer_ready(&p);
    const char *cmd = "{ \"execute\" : \"query-status\", \"id\" : \"split\" }";
    for (size_t i = 0; cmd[i]; i++) {
        peer_send(&p, cmd + i, 1);
    }
    assert_non_null(strstr(peer_str(&p), "\"id\":\"split\""));
    peer_say(&p, "{\"execute\":\"query-name\",\"id\":1}{\"execute\":\"query-name\",\"id\":2}\r\n"
                 "{\"execute\":\"query-name\",\"id\":3}");
    assert_string_equal(peer_str(&p), "{\"return\":{},\"id\":1}");
    assert_string_equal(peer_str(&p), "{\"return\":{},\"id\":2}");
    assert_string_equal(peer_str(&p), "{\"return\":{},\"id\":3}");
    /* single quotes, as QEMU accepts them */
    peer_say(&p, "{'execute': 'query-name'}");
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    peer_close(&p);
}

/* More than QMP_MAX_INPUT bytes of one value: an error, then the monitor
 * hangs up; other clients are not affected. */
static void test_huge_input(void **state)
{
    (void)state;
    Peer p, q;
    peer_ready(&p);
    peer_ready(&q);
    size_t n = QMP_MAX_INPUT + 65536;
    char *big = malloc(n);
    assert_non_null(big);
    memcpy(big, "{\"execute\":\"", 12);
    memset(big + 12, 'a', n - 12);
    peer_send(&p, big, n);
    free(big);
    assert_non_null(strstr(peer_str(&p), "JSON input too large"));
    assert_string_equal(peer_str(&p), "(nothing)"); /* closed */
    assert_false(qmp_client_alive(p.c));
    close(p.fd);
    peer_say(&q, "{\"execute\":\"query-status\"}");
    assert_non_null(strstr(peer_str(&q), "running"));
    peer_close(&q);
}

static void test_stop_cont_events(void **state)
{
    (void)state;
    Peer p, listener, raw;
    peer_ready(&p);
    peer_ready(&listener);
    peer_open(&raw); /* not negotiated: no events */
    peer_str(&raw);
    peer_say(&p, "{\"execute\":\"stop\"}");
    const char *ev = peer_str(&p);
    assert_non_null(strstr(ev, "{\"event\":\"STOP\",\"data\":{},\"timestamp\":{\"seconds\":"));
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    assert_non_null(strstr(peer_str(&listener), "\"event\":\"STOP\""));
    peer_say(&p, "{\"execute\":\"query-status\"}");
    assert_string_equal(
        peer_str(&p),
        "{\"return\":{\"running\":false,\"singlestep\":false,\"status\":\"paused\"}}");
    /* stop again: no second event */
    peer_say(&p, "{\"execute\":\"stop\"}");
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    peer_say(&p, "{\"execute\":\"cont\"}");
    assert_non_null(strstr(peer_str(&p), "\"event\":\"RESUME\""));
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    assert_non_null(strstr(peer_str(&listener), "\"event\":\"RESUME\""));
    assert_string_equal(peer_str(&raw), "(nothing)");
    peer_say(&p, "{\"execute\":\"query-status\"}");
    assert_non_null(strstr(peer_str(&p), "\"status\":\"running\""));
    peer_close(&p);
    peer_close(&listener);
    peer_close(&raw);
}

/* set_link, query-rx-filter and NIC_RX_FILTER_CHANGED on a real e1000 */
static void test_e1000_link_and_filter(void **state)
{
    (void)state;
    E1000Fixture *f = fx_new_opts("id=nicq,mac=52:54:00:aa:bb:cc");
    assert_non_null(f);
    fx_wr(f, E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_FD);
    assert_true(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
    Peer p;
    peer_ready(&p);

    char cmd[160];
    snprintf(cmd, sizeof(cmd),
             "{\"execute\":\"set_link\",\"arguments\":{\"name\":\"nicq\",\"up\":false}}");
    peer_say(&p, cmd);
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    assert_false(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);
    assert_true(fx_rd(f, E1000_ICR) & E1000_ICR_LSC);
    assert_int_equal(f->link_changes, 1); /* the backend (peer) was told too */
    snprintf(cmd, sizeof(cmd),
             "{\"execute\":\"set_link\",\"arguments\":{\"name\":\"%s\",\"up\":true}}",
             f->backend_id); /* by the netdev's id works as well */
    peer_say(&p, cmd);
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    assert_true(fx_rd(f, E1000_STATUS) & E1000_STATUS_LU);

    /* the guest turns on promiscuous mode and adds a multicast hash bit */
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_UPE | E1000_RCTL_BAM);
    const char *ev = peer_str(&p);
    assert_non_null(strstr(ev, "{\"event\":\"NIC_RX_FILTER_CHANGED\",\"data\":{\"name\":\"nicq\","
                               "\"path\":\"/machine/peripheral/nicq\"}"));
    fx_wr(f, E1000_MTA + 4 * 3, 1u << 5);
    assert_string_equal(peer_str(&p), "(nothing)"); /* once until queried */
    peer_say(&p, "{\"execute\":\"query-rx-filter\",\"arguments\":{\"name\":\"nicq\"}}");
    const char *r = peer_str(&p);
    assert_non_null(strstr(r, "\"name\":\"nicq\",\"promiscuous\":true,\"multicast\":\"normal\","
                              "\"unicast\":\"all\",\"vlan\":\"all\",\"broadcast-allowed\":true"));
    assert_non_null(strstr(r, "\"main-mac\":\"52:54:00:aa:bb:cc\""));
    assert_non_null(strstr(r, "\"multicast-hash-bits\":[101]"));
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN);
    assert_non_null(strstr(peer_str(&p), "NIC_RX_FILTER_CHANGED"));
    /* the netdev is no NIC */
    snprintf(cmd, sizeof(cmd), "{\"execute\":\"query-rx-filter\",\"arguments\":{\"name\":\"%s\"}}",
             f->backend_id);
    peer_say(&p, cmd);
    assert_non_null(strstr(peer_str(&p), "isn't a NIC"));
    peer_close(&p);
    fx_free(f);
}

static void test_trace_commands(void **state)
{
    (void)state;
    Peer p;
    peer_ready(&p);
    trace_set_pattern("*", false);
    peer_say(&p, "{\"execute\":\"trace-event-set-state\",\"arguments\":{\"name\":\"tap_*\","
                 "\"enable\":true}}");
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    assert_true(trace_enabled[TRACE_tap_send]);
    peer_say(&p, "{\"execute\":\"trace-event-get-state\",\"arguments\":{\"name\":\"tap_send\"}}");
    assert_string_equal(peer_str(&p), "{\"return\":[{\"name\":\"tap_send\",\"state\":\"enabled\","
                                      "\"vcpu\":false}]}");
    trace_set_pattern("*", false);
    peer_close(&p);
}

static void test_query_exits(void **state)
{
    (void)state;
    static MemoryRegion mr = {.name = "dev", .addr = 0x1000, .size = 0x100};
    AddressSpace *as = &vm.m.mmio;
    address_space_init(as, "mmio");
    address_space_init(&vm.m.pio, "pio");
    assert_int_equal(address_space_add(as, &mr), 0);
    mr.accesses = 3;
    exitstats_reset();
    exitstats_record(&mr, 0x10, false, true);
    exitstats_record(&mr, 0x10, false, true);
    exitstats_record(&mr, 0x14, false, false);
    vm.cfg.smp = 1;
    vm.vcpus[0].exits[2] = 5; /* KVM_EXIT_IO */
    vm.vcpus[0].exits[6] = 3; /* KVM_EXIT_MMIO */
    Peer p;
    peer_ready(&p);
    peer_say(&p, "{\"execute\":\"query-exits\"}");
    const char *r = peer_str(&p);
    assert_non_null(strstr(r, "\"total\":8,\"exits\":{\"IO\":5,\"MMIO\":3}"));
    assert_non_null(strstr(r, "\"vcpus\":[{\"cpu\":0,\"total\":8"));
    assert_non_null(
        strstr(r, "{\"name\":\"dev\",\"space\":\"mmio\",\"address\":4096,\"size\":256,"
                  "\"accesses\":3,\"registers\":[{\"offset\":16,\"name\":\"+0x10\","
                  "\"reads\":0,\"writes\":2,\"doorbells\":0,\"posted\":0},{\"offset\":20"));
    /* the main loop and the device lock, after the regions */
    assert_non_null(strstr(r, "\"loop\":{\"rounds\":"));
    assert_non_null(strstr(r, "\"lock-wait-max-ns\":"));
    peer_close(&p);
    address_space_del(as, &mr);
    vm.cfg.smp = 0;
    memset(vm.vcpus[0].exits, 0, sizeof(vm.vcpus[0].exits));
    exitstats_reset();
}

static void test_quit_and_reset(void **state)
{
    (void)state;
    Peer p;
    peer_ready(&p);
    peer_say(&p, "{\"execute\":\"system_reset\"}");
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    assert_int_equal(atomic_load(&vm.stop_reason), VM_STOP_RESET);
    atomic_store(&vm.stop_reason, VM_STOP_NONE);
    peer_say(&p, "{\"execute\":\"quit\"}");
    assert_string_equal(peer_str(&p), "{\"return\":{}}");
    assert_int_equal(atomic_load(&vm.stop_reason), VM_STOP_QUIT);
    atomic_store(&vm.stop_reason, VM_STOP_NONE);
    loop_reset_quit();
    peer_close(&p);
}

int main(void)
{
    (void)fx_advance; /* fixture helpers these tests do not need */
    (void)fx_sent_cb;
    (void)fx_new;
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiation),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_malformed_resync),
        cmocka_unit_test(test_split_and_batched),
        cmocka_unit_test(test_huge_input),
        cmocka_unit_test(test_stop_cont_events),
        cmocka_unit_test(test_e1000_link_and_filter),
        cmocka_unit_test(test_trace_commands),
        cmocka_unit_test(test_query_exits),
        cmocka_unit_test(test_quit_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
