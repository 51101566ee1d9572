/* Command line parsing (core/cmdline.h) and the option-value helpers of the
 * object model (qom/object.h): parse_mac, parse_bool, parse_u32 and
 * parse_size_mib_default.
 *
 * -kernel / -initrd must name readable regular files: the group setup makes
 * two with mkstemp (and a directory with mkdtemp for the "not a regular file"
 * case) and removes them at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cmdline.h"
#include "qom/object.h"

static char kernel_path[] = "/tmp/e1kvm-test-kernel-XXXXXX";
static char initrd_path[] = "/tmp/e1kvm-test-initrd-XXXXXX";
static char dir_path[] = "/tmp/e1kvm-test-dir-XXXXXX";

static int make_file(char *tmpl, const char *content)
{
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, content, strlen(content));
    close(fd);
    return n == (ssize_t)strlen(content) ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    if (make_file(kernel_path, "not really a kernel") < 0)
        return -1;
    if (make_file(initrd_path, "not really an initrd") < 0)
        return -1;
    if (!mkdtemp(dir_path))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(kernel_path);
    unlink(initrd_path);
    rmdir(dir_path);
    return 0;
}

/* Run cmdline_parse on {"e1kvm", args..., NULL}. */
static CmdlineResult parse_argv(const char *const *args, Cmdline *cl, Error *err)
{
    const char *argv[128];
    int argc = 0;
    argv[argc++] = "e1kvm";
    for (int i = 0; args[i]; i++) {
        assert_true(argc < 127);
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    memset(err, 0, sizeof(*err));
    return cmdline_parse(argc, (char **)argv, cl, err);
}

#define PARSE(cl, err, ...) parse_argv((const char *const[]){__VA_ARGS__, NULL}, (cl), (err))

/* The parse fails with a one-line message containing every given phrase. */
#define EXPECT_ERROR(...)                                                                          \
    do {                                                                                           \
        Cmdline cl_;                                                                               \
        Error err_;                                                                                \
        CmdlineResult r_ = PARSE(&cl_, &err_, __VA_ARGS__);                                        \
        assert_int_equal(r_, CMDLINE_ERROR);                                                       \
        assert_true(err_.msg[0] != '\0');                                                          \
        assert_null(strchr(err_.msg, '\n'));                                                       \
        strcpy(last_msg, err_.msg);                                                                \
    } while (0)

/* the message of the last EXPECT_ERROR, for assert_msg_has */
static char last_msg[sizeof(((Error *)0)->msg)];

static void assert_msg_has(const char *phrase)
{
    if (!strstr(last_msg, phrase))
        fail_msg("message '%s' does not contain '%s'", last_msg, phrase);
}

/* ---- valid command lines ---- */

static void test_defaults(void **state)
{
    (void)state;
    Cmdline cl;
    Error err;
    assert_int_equal(PARSE(&cl, &err, "-kernel", kernel_path), CMDLINE_RUN);
    assert_string_equal(cl.vm.kernel, kernel_path);
    assert_null(cl.vm.initrd);
    assert_null(cl.vm.append);
    assert_null(cl.vm.name);
    assert_int_equal(cl.vm.ram_size, 256ULL << 20);
    assert_int_equal(cl.vm.smp, 1);
    assert_false(cl.vm.no_reboot);
    assert_int_equal(cl.vm.cpu_model, CPU_MODEL_AUTO);
    assert_int_equal(cl.nnetdevs, 0);
    assert_int_equal(cl.ndevices, 0);
}

static void test_full_command_line(void **state)
{
    (void)state;
    Cmdline cl;
    Error err;
    CmdlineResult r =
        PARSE(&cl, &err, "-kernel", kernel_path, "-initrd", initrd_path, "-append",
              "console=ttyS0 root=/dev/ram0 quiet", "-m", "1G", "-smp", "2", "-nographic",
              "-serial", "stdio", "-no-reboot", "-name", "guest0", "-cpu", "host", "-netdev",
              "tap,id=n0,ifname=tap0", "-device", "e1000,netdev=n0", "-netdev",
              "tap,id=n1,ifname=tap1", "-device", "e1000,netdev=n1,mac=52:54:00:12:34:57");
    if (r != CMDLINE_RUN)
        fail_msg("unexpected result %d: %s", r, err.msg);
    assert_string_equal(cl.vm.kernel, kernel_path);
    assert_string_equal(cl.vm.initrd, initrd_path);
    assert_string_equal(cl.vm.append, "console=ttyS0 root=/dev/ram0 quiet");
    assert_int_equal(cl.vm.ram_size, 1ULL << 30);
    assert_int_equal(cl.vm.smp, 2);
    assert_true(cl.vm.no_reboot);
    assert_string_equal(cl.vm.name, "guest0");
    assert_int_equal(cl.vm.cpu_model, CPU_MODEL_HOST);
    /* -netdev and -device strings are kept, in order, unparsed */
    assert_int_equal(cl.nnetdevs, 2);
    assert_string_equal(cl.netdevs[0], "tap,id=n0,ifname=tap0");
    assert_string_equal(cl.netdevs[1], "tap,id=n1,ifname=tap1");
    assert_int_equal(cl.ndevices, 2);
    assert_string_equal(cl.devices[0], "e1000,netdev=n0");
    assert_string_equal(cl.devices[1], "e1000,netdev=n1,mac=52:54:00:12:34:57");
}

static void test_order_independent(void **state)
{
    (void)state;
    Cmdline cl;
    Error err;
    /* -kernel need not come first */
    assert_int_equal(PARSE(&cl, &err, "-m", "512", "-no-reboot", "-kernel", kernel_path),
                     CMDLINE_RUN);
    assert_string_equal(cl.vm.kernel, kernel_path);
    assert_int_equal(cl.vm.ram_size, 512ULL << 20);
    assert_true(cl.vm.no_reboot);
}

static void test_memory_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *arg;
        uint64_t bytes;
    } cases[] = {
        {"256M", 256ULL << 20},      {"1G", 1ULL << 30},        {"512", 512ULL << 20},
        {"size=128M", 128ULL << 20}, {"32M", 32ULL << 20},      {"2g", 2ULL << 30},
        {"64m", 64ULL << 20},        {"1024MB", 1024ULL << 20}, {"1T", 1ULL << 40},
        {"65536K", 64ULL << 20},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Cmdline cl;
        Error err;
        CmdlineResult r = PARSE(&cl, &err, "-kernel", kernel_path, "-m", cases[i].arg);
        if (r != CMDLINE_RUN)
            fail_msg("-m %s: result %d: %s", cases[i].arg, r, err.msg);
        if (cl.vm.ram_size != cases[i].bytes)
            fail_msg("-m %s: got %llu bytes, want %llu", cases[i].arg,
                     (unsigned long long)cl.vm.ram_size, (unsigned long long)cases[i].bytes);
    }
}

static void test_smp_and_cpu(void **state)
{
    (void)state;
    Cmdline cl;
    Error err;
    for (int n = 1; n <= VM_MAX_VCPUS; n++) {
        char s[16];
        snprintf(s, sizeof(s), "%d", n);
        assert_int_equal(PARSE(&cl, &err, "-kernel", kernel_path, "-smp", s), CMDLINE_RUN);
        assert_int_equal(cl.vm.smp, n);
    }
    assert_int_equal(PARSE(&cl, &err, "-kernel", kernel_path, "-smp", "cpus=4"), CMDLINE_RUN);
    assert_int_equal(cl.vm.smp, 4);
    assert_int_equal(PARSE(&cl, &err, "-kernel", kernel_path, "-cpu", "emulator"), CMDLINE_RUN);
    assert_int_equal(cl.vm.cpu_model, CPU_MODEL_EMULATOR);
    assert_int_equal(PARSE(&cl, &err, "-kernel", kernel_path, "-cpu", "host", "-cpu", "auto"),
                     CMDLINE_RUN);
    assert_int_equal(cl.vm.cpu_model, CPU_MODEL_AUTO);
}

static void test_double_dash(void **state)
{
    (void)state;
    Cmdline cl;
    Error err;
    CmdlineResult r =
        PARSE(&cl, &err, "--kernel", kernel_path, "--initrd", initrd_path, "--m", "128M", "--smp",
              "3", "--nographic", "--no-reboot", "--name", "dd", "--netdev", "tap,id=x", "--device",
              "e1000,netdev=x", "--append", "a b");
    if (r != CMDLINE_RUN)
        fail_msg("unexpected result %d: %s", r, err.msg);
    assert_string_equal(cl.vm.kernel, kernel_path);
    assert_string_equal(cl.vm.initrd, initrd_path);
    assert_int_equal(cl.vm.ram_size, 128ULL << 20);
    assert_int_equal(cl.vm.smp, 3);
    assert_true(cl.vm.no_reboot);
    assert_string_equal(cl.vm.name, "dd");
    assert_string_equal(cl.vm.append, "a b");
    assert_int_equal(cl.nnetdevs, 1);
    assert_string_equal(cl.netdevs[0], "tap,id=x");
    assert_int_equal(cl.ndevices, 1);
    assert_string_equal(cl.devices[0], "e1000,netdev=x");
}

static void test_many_objects(void **state)
{
    (void)state;
    const char *args[2 * (CMDLINE_MAX_OBJS + 1) + 3];
    char names[CMDLINE_MAX_OBJS + 1][32];
    int n = 0;
    args[n++] = "-kernel";
    args[n++] = kernel_path;
    for (int i = 0; i < CMDLINE_MAX_OBJS; i++) {
        snprintf(names[i], sizeof(names[i]), "tap,id=n%d", i);
        args[n++] = "-netdev";
        args[n++] = names[i];
    }
    args[n] = NULL;
    Cmdline cl;
    Error err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(parse_argv(args, &cl, &err), CMDLINE_RUN);
    assert_int_equal(cl.nnetdevs, CMDLINE_MAX_OBJS);
    for (int i = 0; i < CMDLINE_MAX_OBJS; i++)
        assert_string_equal(cl.netdevs[i], names[i]);
    /* one more is refused */
    snprintf(names[CMDLINE_MAX_OBJS], sizeof(names[0]), "tap,id=extra");
    args[n++] = "-netdev";
    args[n++] = names[CMDLINE_MAX_OBJS];
    args[n] = NULL;
    assert_int_equal(parse_argv(args, &cl, &err), CMDLINE_ERROR);
    assert_non_null(strstr(err.msg, "too many"));
    assert_null(strchr(err.msg, '\n'));
}

/* -help and friends print to stdout: keep the test log readable */
static int quiet_stdout(void)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int null = open("/dev/null", O_WRONLY);
    assert_true(saved >= 0 && null >= 0);
    dup2(null, STDOUT_FILENO);
    close(null);
    return saved;
}

static void restore_stdout(int saved)
{
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
}

static void test_help_and_version(void **state)
{
    (void)state;
    Cmdline cl;
    Error err;
    CmdlineResult r[8];
    /* stdout is restored before asserting so that a failure is visible */
    int saved = quiet_stdout();
    r[0] = PARSE(&cl, &err, "-help");
    r[1] = PARSE(&cl, &err, "--help");
    r[2] = PARSE(&cl, &err, "-h");
    r[3] = PARSE(&cl, &err, "-version");
    r[4] = PARSE(&cl, &err, "--version");
    /* informational options win even without -kernel, and stop parsing */
    r[5] = PARSE(&cl, &err, "-m", "256M", "-version", "-bogus");
    r[6] = PARSE(&cl, &err, "-device", "help");
    r[7] = PARSE(&cl, &err, "-netdev", "help");
    restore_stdout(saved);
    for (int i = 0; i < 8; i++)
        if (r[i] != CMDLINE_EXIT)
            fail_msg("case %d: result %d, want CMDLINE_EXIT", i, r[i]);
}

/* ---- errors ---- */

static void test_error_unknown_option(void **state)
{
    (void)state;
    EXPECT_ERROR("-kernel", kernel_path, "-frobnicate");
    assert_msg_has("unknown option");
    assert_msg_has("-frobnicate");
    EXPECT_ERROR("-kernel", kernel_path, "--vnc", ":0");
    assert_msg_has("unknown option");
    assert_msg_has("--vnc");
    /* a bare word or a lone dash is no option either */
    EXPECT_ERROR("-kernel", kernel_path, "stray");
    assert_msg_has("stray");
    EXPECT_ERROR("-kernel", kernel_path, "-");
    assert_msg_has("'-'");
}

static void test_error_missing_argument(void **state)
{
    (void)state;
    static const char *const opts[] = {"-kernel", "-initrd", "-append", "-m",      "-smp",
                                       "-netdev", "-device", "-name",   "-serial", "-cpu"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (!strcmp(opts[i], "-kernel"))
            EXPECT_ERROR(opts[i]);
        else
            EXPECT_ERROR("-kernel", kernel_path, opts[i]);
        assert_msg_has("needs an argument");
        assert_msg_has(opts[i]);
    }
}

static void test_error_bad_memory(void **state)
{
    (void)state;
    static const char *const invalid[] = {"abc",
                                          "0",
                                          "12Q",
                                          "-5",
                                          "",
                                          "0M",
                                          "1.5G",
                                          "256MBX",
                                          "M",
                                          "size=",
                                          "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        EXPECT_ERROR("-kernel", kernel_path, "-m", invalid[i]);
        assert_msg_has("-m");
        assert_msg_has("invalid size");
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "'%s'", invalid[i]);
        assert_msg_has(quoted);
    }
    EXPECT_ERROR("-kernel", kernel_path, "-m", "10M");
    assert_msg_has("too small");
    assert_msg_has("10M");
    EXPECT_ERROR("-kernel", kernel_path, "-m", "31");
    assert_msg_has("too small");
    EXPECT_ERROR("-kernel", kernel_path, "-m", "2048K");
    assert_msg_has("too small");
    EXPECT_ERROR("-kernel", kernel_path, "-m", "2T");
    assert_msg_has("too large");
}

static void test_error_bad_smp(void **state)
{
    (void)state;
    static const char *const invalid[] = {"0", "9", "x", "-1", "", "2x", "cpus=0", "4294967297"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        EXPECT_ERROR("-kernel", kernel_path, "-smp", invalid[i]);
        assert_msg_has("-smp");
        assert_msg_has("invalid CPU count");
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "'%s'", invalid[i]);
        assert_msg_has(quoted);
    }
}

static void test_error_kernel_files(void **state)
{
    (void)state;
    char missing[sizeof(dir_path) + 32];
    snprintf(missing, sizeof(missing), "%s/no-such-file", dir_path);
    EXPECT_ERROR("-kernel", missing);
    assert_msg_has("-kernel");
    assert_msg_has("cannot open");
    assert_msg_has(missing);
    assert_msg_has("No such file");

    EXPECT_ERROR("-kernel", dir_path);
    assert_msg_has("-kernel");
    assert_msg_has("not a regular file");
    assert_msg_has(dir_path);

    EXPECT_ERROR("-kernel", kernel_path, "-initrd", missing);
    assert_msg_has("-initrd");
    assert_msg_has("cannot open");

    EXPECT_ERROR("-kernel", kernel_path, "-initrd", dir_path);
    assert_msg_has("-initrd");
    assert_msg_has("not a regular file");
}

static void test_error_serial_cpu(void **state)
{
    (void)state;
    EXPECT_ERROR("-kernel", kernel_path, "-serial", "pty");
    assert_msg_has("-serial");
    assert_msg_has("only 'stdio'");
    assert_msg_has("'pty'");
    EXPECT_ERROR("-kernel", kernel_path, "-cpu", "foo");
    assert_msg_has("-cpu");
    assert_msg_has("unknown CPU model");
    assert_msg_has("'foo'");
    EXPECT_ERROR("-kernel", kernel_path, "-cpu", "Host");
    assert_msg_has("unknown CPU model");
}

static void test_error_no_kernel(void **state)
{
    (void)state;
    EXPECT_ERROR("-m", "256M", "-smp", "2");
    assert_msg_has("no kernel");
    assert_msg_has("-kernel");
    Cmdline cl;
    Error err;
    memset(&err, 0, sizeof(err));
    const char *argv[] = {"e1kvm", NULL};
    assert_int_equal(cmdline_parse(1, (char **)argv, &cl, &err), CMDLINE_ERROR);
    assert_non_null(strstr(err.msg, "no kernel"));
}

static void test_error_device_help_unknown(void **state)
{
    (void)state;
    EXPECT_ERROR("-device", "no-such-device,help");
    assert_msg_has("unknown device type");
    assert_msg_has("no-such-device");
    EXPECT_ERROR("-netdev", "no-such-netdev,help");
    assert_msg_has("unknown netdev type");
}

/* ---- qom parsing helpers ---- */

static void test_parse_mac(void **state)
{
    (void)state;
    uint8_t mac[6];
    assert_int_equal(parse_mac("52:54:00:12:34:56", mac), 0);
    static const uint8_t want1[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    assert_memory_equal(mac, want1, 6);

    assert_int_equal(parse_mac("02:AB:cd:EF:0a:F0", mac), 0);
    static const uint8_t want2[6] = {0x02, 0xab, 0xcd, 0xef, 0x0a, 0xf0};
    assert_memory_equal(mac, want2, 6);

    static const char *const bad[] = {
        "52:54:00:12:34:5",     /* too short */
        "52:54:00:12:34",       /* five octets */
        "52:54:00:12:34:56:78", /* seven */
        "52:54:00:12:34:56x",   /* trailing junk */
        "52:54:00:12:34:56 ",   /* trailing space */
        "01:00:5e:00:00:01",    /* multicast */
        "ff:ff:ff:ff:ff:ff",    /* broadcast */
        "03:00:00:00:00:01",    /* multicast, locally administered */
        "52-54-00-12-34-56",    /* wrong separator */
        "52:54:00:12:34:g6",    /* not hex */
        "5:254:00:12:34:56",    /* misplaced separator */
        " 52:54:00:12:34:5",    /* leading space */
        "52:54:0x:12:34:56",    /* 0x prefix inside */
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(mac, 0xaa, sizeof(mac));
        if (parse_mac(bad[i], mac) == 0)
            fail_msg("parse_mac accepted '%s'", bad[i]);
    }
}

/* A rejected MAC must not overwrite the caller's address (else a MAC
 * property could hold a multicast address with its set flag true), just as
 * parse_u32 and parse_bool leave their output untouched on failure. */
static void test_parse_mac_failure_leaves_output(void **state)
{
    (void)state;
    print_message("known bug in parse_mac: a rejected value clobbers the output\n");
    static const uint8_t orig[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
    static const char *const bad[] = {"01:00:5e:00:00:01", "52:54:00:12:34:g6",
                                      "ff:ff:ff:ff:ff:ff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t mac[6];
        memcpy(mac, orig, 6);
        assert_int_equal(parse_mac(bad[i], mac), -1);
        assert_memory_equal(mac, orig, 6);
    }
}

static void test_parse_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        bool b = false;
        assert_int_equal(parse_bool(yes[i], &b), 0);
        assert_true(b);
        b = true;
        assert_int_equal(parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    static const char *const bad[] = {"", "2", "onn", "o", "enable", "yes ", "-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool b = true;
        if (parse_bool(bad[i], &b) == 0)
            fail_msg("parse_bool accepted '%s'", bad[i]);
        assert_true(b); /* untouched */
    }
}

static void test_parse_u32(void **state)
{
    (void)state;
    uint32_t v;
    assert_int_equal(parse_u32("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_u32("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(parse_u32("0x10", &v), 0);
    assert_int_equal(v, 16);
    assert_int_equal(parse_u32("0XfF", &v), 0);
    assert_int_equal(v, 255);
    assert_int_equal(parse_u32("4294967295", &v), 0);
    assert_int_equal(v, 0xffffffffu);
    assert_int_equal(parse_u32("0xffffffff", &v), 0);
    assert_int_equal(v, 0xffffffffu);

    static const char *const bad[] = {
        "",      "4294967296", "0x100000000", "99999999999999999999999",
        "-1",    "-0",         " 1",          "1 ",
        "12abc", "0x",         "x1",          "0xg",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 0x5a5a5a5a;
        if (parse_u32(bad[i], &v) == 0)
            fail_msg("parse_u32 accepted '%s' as %u", bad[i], v);
        assert_int_equal(v, 0x5a5a5a5a); /* untouched */
    }
}

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t bytes;
    } good[] = {
        {"1", 1ULL << 20},      {"512", 512ULL << 20},   {"256M", 256ULL << 20},
        {"256m", 256ULL << 20}, {"256MB", 256ULL << 20}, {"1G", 1ULL << 30},
        {"3g", 3ULL << 30},     {"4096K", 4ULL << 20},   {"1T", 1ULL << 40},
        {"2GB", 2ULL << 30},    {"16384", 16ULL << 30},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t b = 0;
        if (parse_size_mib_default(good[i].s, &b) != 0)
            fail_msg("parse_size_mib_default rejected '%s'", good[i].s);
        if (b != good[i].bytes)
            fail_msg("'%s': got %llu, want %llu", good[i].s, (unsigned long long)b,
                     (unsigned long long)good[i].bytes);
    }
    static const char *const bad[] = {
        "",
        "abc",
        "0",
        "0G",
        "-5",
        "12Q",
        "1.5G",
        "M",
        "256MBB",
        "256B",
        " 1M",
        "1M ",
        "1GX",
        "+1",
        "99999999999999999999999",
        "17592186044416" /* 2^44 MiB overflows 64 bits */,
        "16777216T" /* 2^24 TiB = 2^64 bytes */,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t b = 12345;
        if (parse_size_mib_default(bad[i], &b) == 0)
            fail_msg("parse_size_mib_default accepted '%s' as %llu", bad[i], (unsigned long long)b);
        assert_int_equal(b, 12345); /* untouched */
    }
    /* the largest values that still fit */
    uint64_t b = 0;
    assert_int_equal(parse_size_mib_default("16777215T", &b), 0);
    assert_int_equal(b, 16777215ULL << 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full_command_line),
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_memory_sizes),
        cmocka_unit_test(test_smp_and_cpu),
        cmocka_unit_test(test_double_dash),
        cmocka_unit_test(test_many_objects),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_error_unknown_option),
        cmocka_unit_test(test_error_missing_argument),
        cmocka_unit_test(test_error_bad_memory),
        cmocka_unit_test(test_error_bad_smp),
        cmocka_unit_test(test_error_kernel_files),
        cmocka_unit_test(test_error_serial_cpu),
        cmocka_unit_test(test_error_no_kernel),
        cmocka_unit_test(test_error_device_help_unknown),
        cmocka_unit_test(test_parse_mac),
        cmocka_unit_test(test_parse_mac_failure_leaves_output),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_parse_u32),
        cmocka_unit_test(test_parse_size),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
