/* Trace points (trace/trace.h), exit statistics (trace/stats.h) and the
 * e1000 register names: -trace parsing, the line format, the e1000 packet
 * path as trace lines (through the e1000 fixture), and the cost of a
 * disabled trace point (a microbenchmark; the result is printed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "e1000_fixture.h"
#include "trace/stats.h"
#include "trace/trace.h"

static char trace_path[] = "/tmp/e1kvm-test-trace-XXXXXX";

static void trace_all_off(void)
{
    trace_set_pattern("*", false);
}

/* Point the trace at a fresh file; returns its path. */
static const char *trace_to_file(void)
{
    static bool made;
    if (!made) {
        int fd = mkstemp(trace_path);
        assert_true(fd >= 0);
        close(fd);
        made = true;
    }
    Error err = {{0}};
    assert_int_equal(trace_set_file(trace_path, &err), 0);
    return trace_path;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_parse(void **state)
{
    (void)state;
    Error err = {{0}};
    trace_all_off();
    assert_int_equal(trace_parse_opt("e1000_*", &err), 0);
    assert_true(trace_enabled[TRACE_e1000_set_ics]);
    assert_true(trace_enabled[TRACE_e1000_receive_filter]);
    assert_false(trace_enabled[TRACE_tap_send]);
    /* a leading '-' switches off */
    assert_int_equal(trace_parse_opt("enable=-e1000_mmio_*", &err), 0);
    assert_false(trace_enabled[TRACE_e1000_mmio_read]);
    assert_true(trace_enabled[TRACE_e1000_irq]);
    /* several keys */
    assert_int_equal(trace_parse_opt("tap_send,enable=net_*", &err), 0);
    assert_true(trace_enabled[TRACE_tap_send]);
    assert_true(trace_enabled[TRACE_net_deliver]);
    /* errors: a pattern naming nothing, an unknown key, empty */
    assert_int_equal(trace_parse_opt("nosuch_event", &err), -1);
    assert_non_null(strstr(err.msg, "no trace event matches 'nosuch_event'"));
    assert_int_equal(trace_parse_opt("e1000_irq,bogus=1", &err), -1);
    assert_non_null(strstr(err.msg, "unknown option 'bogus=1'"));
    assert_int_equal(trace_parse_opt("-", &err), -1);
    assert_int_equal(trace_parse_opt("file=/nonexistent-dir/x", &err), -1);
    assert_non_null(strstr(err.msg, "cannot open"));
    /* events=FILE: one pattern a line, comments */
    char ev[] = "/tmp/e1kvm-test-events-XXXXXX";
    int fd = mkstemp(ev);
    assert_true(fd >= 0);
    const char *text = "# comment\n  tap_*   \n\nqmp_command # the monitor\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    trace_all_off();
    char opt[64];
    snprintf(opt, sizeof(opt), "events=%s", ev);
    assert_int_equal(trace_parse_opt(opt, &err), 0);
    assert_true(trace_enabled[TRACE_tap_send]);
    assert_true(trace_enabled[TRACE_tap_receive_iov]);
    assert_true(trace_enabled[TRACE_qmp_command]);
    assert_false(trace_enabled[TRACE_qmp_event]);
    unlink(ev);
    trace_all_off();
    /* every event has a name and a description */
    for (int i = 0; i < TRACE_N; i++) {
        assert_true(strlen(trace_event_name((TraceEvent)i)) > 3);
        assert_true(strlen(trace_event_desc((TraceEvent)i)) > 10);
    }
}

static void test_line_format(void **state)
{
    (void)state;
    const char *path = trace_to_file();
    trace_all_off();
    TRACE(net_send, "not traced %d", 1);
    trace_set_pattern("net_send", true);
    TRACE(net_send, "a -> b len=%d", 42);
    trace_all_off();
    trace_set_file(NULL, NULL);
    char *s = slurp(path);
    regex_t re;
    assert_int_equal(
        regcomp(&re, "^[0-9]+\\.[0-9]{9} main net_send a -> b len=42\n$", REG_EXTENDED), 0);
    assert_int_equal(regexec(&re, s, 0, NULL, 0), 0);
    regfree(&re);
}

/* A long line is cut, still one line. */
static void test_long_line(void **state)
{
    (void)state;
    const char *path = trace_to_file();
    char big[4000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    trace_set_pattern("qmp_event", true);
    TRACE(qmp_event, "%s", big);
    trace_all_off();
    trace_set_file(NULL, NULL);
    char *s = slurp(path);
    assert_true(strlen(s) < 1100);
    assert_int_equal(s[strlen(s) - 1], '\n');
    assert_null(strchr(s, '\n') + 1 < s + strlen(s) ? strchr(strchr(s, '\n') + 1, '\n') : NULL);
}

/* ---- the e1000 packet path as trace lines ---- */

#define RXRING 0x10000
#define RXBUF 0x20000
#define TXRING 0x80000
#define TXBUF 0x90000

static void test_e1000_path(void **state)
{
    (void)state;
    E1000Fixture *f = fx_new();
    assert_non_null(f);
    const char *path = trace_to_file();
    trace_set_pattern("e1000_*", true);
    trace_set_pattern("net_*", true);

    /* RX: 8 descriptors (RDLEN is a multiple of 128 bytes) */
    for (uint32_t i = 0; i < 8; i++) {
        struct e1000_rx_desc d = {.buffer_addr = RXBUF + i * 2048};
        memcpy(fx_ram + RXRING + 16 * i, &d, sizeof(d));
    }
    fx_wr(f, E1000_CTRL, E1000_CTRL_SLU | E1000_CTRL_FD);
    fx_wr(f, E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_TXDW);
    fx_wr(f, E1000_RDBAL, RXRING);
    fx_wr(f, E1000_RDLEN, 8 * 16);
    fx_wr(f, E1000_RDH, 0);
    fx_wr(f, E1000_RDT, 7);
    fx_wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM);
    uint8_t fr[64] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00};
    assert_int_equal(net_send(f->backend, fr, sizeof(fr), NULL), (ssize_t)sizeof(fr));
    /* a frame for someone else, and a broadcast */
    uint8_t other[64] = {0x02, 0, 0, 0, 0, 0x99, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06};
    net_send(f->backend, other, sizeof(other), NULL);
    uint8_t bc[64] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06};
    net_send(f->backend, bc, sizeof(bc), NULL);
    fx_rd(f, E1000_ICR);

    /* TX: one legacy descriptor */
    memset(fx_ram + TXRING, 0, 16 * 8);
    memset(fx_ram + TXBUF, 0xab, 100);
    fx_wr(f, E1000_TDBAL, TXRING);
    fx_wr(f, E1000_TDLEN, 8 * 16);
    fx_wr(f, E1000_TDH, 0);
    fx_wr(f, E1000_TDT, 0);
    fx_wr(f, E1000_TCTL, E1000_TCTL_EN);
    struct e1000_tx_desc d = {.buffer_addr = TXBUF,
                              .lower = 100 | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS};
    memcpy(fx_ram + TXRING, &d, sizeof(d));
    fx_wr(f, E1000_TDT, 1);
    assert_int_equal(f->nsent, 1);

    trace_all_off();
    trace_set_file(NULL, NULL);
    char *s = slurp(path);
    static const char *const want[] = {
        " main e1000_mmio_write CTRL <- 0x",
        " e1000_link e1000 (STATUS.LU=1), LSC",
        "net_send fake",
        "net_deliver to e1000 (e1000) len=64",
        " e1000_receive_iov len=64 RDH=0 RDT=7",
        " e1000_receive_filter accept dst=52:54:00:12:34:56 ethertype=0x0800: own address "
        "(RAL/RAH[0])",
        " e1000_dma_write RX buffer of descriptor [0] at 0x20000 len=68 EOP",
        " e1000_set_ics cause=RXT0 ",
        " e1000_irq raise",
        " e1000_receive_filter reject dst=02:00:00:00:00:99 ethertype=0x0806: unicast to another "
        "address",
        " e1000_receive_filter accept dst=ff:ff:ff:ff:ff:ff ethertype=0x0806: broadcast (RCTL.BAM)",
        " e1000_irq lower", /* (the read's side effect, traced before the read) */
        " e1000_mmio_read ICR -> 0x",
        " e1000_mmio_write TDT <- 0x1",
        " e1000_start_xmit TDH=0 TDT=1 ring=8",
        " e1000_process_tx_desc [0] legacy buf=0x90000 len=100 cmd=0x9 EOP RS",
        " e1000_xmit_seg len=100 seg=0 ip_csum=- l4_csum=- legacy_csum=-",
        " e1000_send_packet len=100",
        "net_send e1000 -> fake",
        "net_deliver to fake",
        " e1000_dma_write TX descriptor [0] status DD at 0x8000c len=1",
        " e1000_set_ics cause=TXDW|TXQE",
    };
    const char *p = s;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *hit = strstr(p, want[i]);
        if (!hit) {
            fprintf(stderr, "missing (in order) '%s' in:\n%s\n", want[i], s);
        }
        assert_non_null(hit);
        p = hit;
    }
    fx_free(f);
}

/* ---- the cost of a disabled trace point ---- */

static volatile uint64_t sink;

__attribute__((noinline)) static void step_plain(uint64_t v)
{
    sink += v;
}

__attribute__((noinline)) static void step_traced(uint64_t v)
{
    TRACE(e1000_set_ics, "cause=%#llx icr=%#x", (unsigned long long)v, (unsigned)(v * 3));
    sink += v;
}

/* The same loop with four trace points in its body: no call around them,
 * so only the tests and branches themselves differ. */
__attribute__((noinline)) static uint64_t loop_plain(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        acc = acc * 31 + i;
        __asm__ volatile("" : "+r"(acc));
    }
    return acc;
}

__attribute__((noinline)) static uint64_t loop_traced(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        TRACE(e1000_set_ics, "a %llu", (unsigned long long)acc);
        acc = acc * 31 + i;
        TRACE(e1000_irq, "b %llu", (unsigned long long)acc);
        __asm__ volatile("" : "+r"(acc));
        TRACE(net_send, "c %llu", (unsigned long long)acc);
        TRACE(tap_send, "d %llu", (unsigned long long)i);
    }
    return acc;
}

static double ns_per_iter(uint64_t (*fn)(uint64_t), uint64_t n)
{
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    sink += fn(n);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)n;
}

static double ns_per_call(void (*fn)(uint64_t), uint64_t n)
{
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    for (uint64_t i = 0; i < n; i++) {
        fn(i);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)n;
}

/* The same function with and without a (disabled) trace point, the best of
 * several runs each: the difference is what a trace point costs when
 * tracing is off. Printed for the record; asserted only loosely (a loaded
 * machine makes single runs noisy). Timed in CPU time of this thread, so
 * that being preempted on a busy host does not count. */
static void test_disabled_cost(void **state)
{
    (void)state;
    trace_all_off();
    const uint64_t n = 20 * 1000 * 1000;
    double plain = 1e9, traced = 1e9;
    for (int r = 0; r < 7; r++) {
        double p = ns_per_call(step_plain, n), t = ns_per_call(step_traced, n);
        plain = p < plain ? p : plain;
        traced = t < traced ? t : traced;
    }
    printf("# trace point, tracing off: %.3f ns per call with it, %.3f ns without: "
           "%.3f ns per trace point\n",
           traced, plain, traced - plain);
    double lp = 1e9, lt = 1e9;
    for (int r = 0; r < 7; r++) {
        double p = ns_per_iter(loop_plain, n), t = ns_per_iter(loop_traced, n);
        lp = p < lp ? p : lp;
        lt = t < lt ? t : lt;
    }
    printf("# 4 trace points in a loop body, tracing off: %.3f ns per iteration, %.3f ns "
           "without: %.3f ns per trace point\n",
           lt, lp, (lt - lp) / 4);
    /* and on, to /dev/null, for comparison */
    Error err = {{0}};
    assert_int_equal(trace_set_file("/dev/null", &err), 0);
    trace_set_pattern("e1000_set_ics", true);
    double on = ns_per_call(step_traced, 200000);
    trace_all_off();
    trace_set_file(NULL, NULL);
    printf("# trace point, tracing on (to /dev/null): %.0f ns per line\n", on);
    assert_true(traced - plain < 5.0);
    assert_true((lt - lp) / 4 < 5.0);
}

/* ---- names and exit statistics ---- */

static void test_reg_names(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(e1000_reg_name(E1000_TDT, b, sizeof(b)), "TDT");
    assert_string_equal(e1000_reg_name(E1000_TDT + 2, b, sizeof(b)), "TDT");
    assert_string_equal(e1000_reg_name(E1000_CTRL, b, sizeof(b)), "CTRL");
    assert_string_equal(e1000_reg_name(E1000_ICR, b, sizeof(b)), "ICR");
    assert_string_equal(e1000_reg_name(E1000_GORCH, b, sizeof(b)), "GORCH");
    assert_string_equal(e1000_reg_name(E1000_TSCTFC, b, sizeof(b)), "TSCTFC");
    assert_string_equal(e1000_reg_name(E1000_RA, b, sizeof(b)), "RAL[0]");
    assert_string_equal(e1000_reg_name(E1000_RA + 4, b, sizeof(b)), "RAH[0]");
    assert_string_equal(e1000_reg_name(E1000_RA + 8 * 15 + 4, b, sizeof(b)), "RAH[15]");
    assert_string_equal(e1000_reg_name(E1000_MTA + 4 * 127, b, sizeof(b)), "MTA[127]");
    assert_string_equal(e1000_reg_name(E1000_VFTA, b, sizeof(b)), "VFTA[0]");
    assert_string_equal(e1000_reg_name(0x1fffc, b, sizeof(b)), "reg0x1fffc");
    assert_null(e1000_mmio_reg_name(0x20000, b, sizeof(b)));
    assert_string_equal(e1000_io_reg_name(4, b, sizeof(b)), "IODATA");
    char c[96];
    assert_string_equal(
        e1000_icr_names(E1000_ICR_TXDW | E1000_ICR_LSC | E1000_ICR_RXT0, c, sizeof(c)),
        "TXDW|LSC|RXT0");
    assert_string_equal(e1000_icr_names(0, c, sizeof(c)), "none");
}

static const char *fake_namer(uint64_t off, char *buf, size_t len)
{
    (void)buf;
    (void)len;
    return off == 8 ? "EIGHT" : NULL;
}

static void test_exitstats(void **state)
{
    (void)state;
    exitstats_reset();
    static MemoryRegion a = {.name = "a", .addr = 0x2000}, b = {.name = "b", .addr = 0x1000};
    exitstats_set_namer(&a, fake_namer);
    exitstats_record(&a, 8, false, true);
    exitstats_record(&a, 8, false, true);
    exitstats_record(&a, 8, false, false);
    exitstats_record(&a, 4, false, false);
    exitstats_record(&b, 0, true, false);
    exitstats_record(NULL, 0x80, true, true);
    exitstats_record_doorbell(&a, 8, 5);
    ExitStatsReg r[8];
    size_t n = exitstats_snapshot(r, 8);
    assert_int_equal(n, 4);
    /* sorted by region address, then offset; unclaimed last */
    assert_ptr_equal(r[0].mr, &b);
    assert_ptr_equal(r[1].mr, &a);
    assert_int_equal(r[1].offset, 4);
    assert_int_equal(r[2].offset, 8);
    assert_int_equal(r[2].reads, 1);
    assert_int_equal(r[2].writes, 2);
    assert_int_equal(r[2].doorbells, 5);
    char buf[32];
    assert_string_equal(exitstats_reg_name(&a, 8, buf, sizeof(buf)), "EIGHT");
    assert_string_equal(exitstats_reg_name(&a, 4, buf, sizeof(buf)), "+0x4");
    assert_string_equal(exitstats_reg_name(r[3].mr, r[3].offset, buf, sizeof(buf)), "0x80");
    assert_int_equal(r[3].writes, 1);
    /* bounded: a guest touching thousands of addresses fills the table,
     * the rest is counted as not attributed */
    for (uint64_t off = 0; off < 5000; off++) {
        exitstats_record(&b, off * 4, false, false);
    }
    n = exitstats_snapshot(NULL, 0);
    assert_true(n <= 2048 * 3 / 4);
    assert_true(exitstats_overflow() > 0);
    exitstats_reset();
    assert_int_equal(exitstats_snapshot(NULL, 0), 0);
}

int main(void)
{
    (void)fx_advance; /* fixture helpers these tests do not need */
    (void)fx_sent_cb;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),         cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_long_line),     cmocka_unit_test(test_e1000_path),
        cmocka_unit_test(test_disabled_cost), cmocka_unit_test(test_reg_names),
        cmocka_unit_test(test_exitstats),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(trace_path);
    return r;
}
