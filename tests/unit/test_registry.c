/* The type registry and -device / -netdev option parsing (qom/object.h).
 *
 * The test registers its own types with type_register from a constructor,
 * as TYPE_REGISTER does for the devices.
 * The library this test links also registers the real types (e1000, tap...),
 * so the tests never assume the registry holds only these. */
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

#include "qom/object.h"

typedef struct TestDev {
    Object obj;
    char *name;
    uint32_t num;
    bool flag;
    MacProp mac;
    char *label;
    uint32_t count;
    bool enabled;
} TestDev;

static const Property testdev_props[] = {
    PROP_STR("name", TestDev, name, NULL, "a name"),
    PROP_U32("num", TestDev, num, NULL, "a number"),
    PROP_BOOL("flag", TestDev, flag, NULL, "a flag"),
    PROP_MAC("mac", TestDev, mac, "a MAC address"),
    PROP_STR("label", TestDev, label, "dflt-label", "a string with a default"),
    PROP_U32("count", TestDev, count, "0x7", "a number with a default"),
    PROP_BOOL("enabled", TestDev, enabled, "on", "a flag with a default"),
    PROP_END,
};

static const TypeInfo testdev_info = {
    .name = "testdev",
    .kind = TYPE_KIND_DEVICE,
    .bus = "PCI",
    .desc = "unit test device",
    .instance_size = sizeof(TestDev),
    .props = testdev_props,
};

typedef struct TestNet {
    Object obj;
    char *ifname;
    bool vnet_hdr;
} TestNet;

static const Property testnet_props[] = {
    PROP_STR("ifname", TestNet, ifname, NULL, "interface"),
    PROP_BOOL("vnet_hdr", TestNet, vnet_hdr, "off", "virtio-net header"),
    PROP_END,
};

static const TypeInfo testnet_info = {
    .name = "testnet",
    .kind = TYPE_KIND_NETDEV,
    .desc = "unit test netdev",
    .instance_size = sizeof(TestNet),
    .props = testnet_props,
};

/* Same name, both kinds: type_find must pick by kind. */
static const TypeInfo twin_dev_info = {.name = "twin",
                                       .kind = TYPE_KIND_DEVICE,
                                       .desc = "twin device",
                                       .instance_size = sizeof(Object)};
static const TypeInfo twin_net_info = {.name = "twin",
                                       .kind = TYPE_KIND_NETDEV,
                                       .desc = "twin netdev",
                                       .instance_size = sizeof(Object)};

/* Registered in reverse order so that type_next has to sort. */
static const TypeInfo zzz_info = {.name = "zzz-testdev",
                                  .kind = TYPE_KIND_DEVICE,
                                  .desc = "last",
                                  .instance_size = sizeof(Object)};
static const TypeInfo mmm_info = {.name = "mmm-testdev",
                                  .kind = TYPE_KIND_DEVICE,
                                  .desc = "middle",
                                  .instance_size = sizeof(Object)};
static const TypeInfo aaa_info = {.name = "aaa-testdev",
                                  .kind = TYPE_KIND_DEVICE,
                                  .desc = "first",
                                  .instance_size = sizeof(Object)};

/* One constructor for all of them (not TYPE_REGISTER each): the order of
 * the calls is what this test is about. */
static void __attribute__((constructor)) test_types_register(void)
{
    type_register(&zzz_info);
    type_register(&testdev_info);
    type_register(&twin_net_info);
    type_register(&mmm_info);
    type_register(&testnet_info);
    type_register(&twin_dev_info);
    type_register(&aaa_info);
}

/* ---- the registry ---- */

static void test_type_find(void **state)
{
    (void)state;
    assert_ptr_equal(type_find("testdev", TYPE_KIND_DEVICE), &testdev_info);
    assert_ptr_equal(type_find("testnet", TYPE_KIND_NETDEV), &testnet_info);
    assert_ptr_equal(type_find("aaa-testdev", TYPE_KIND_DEVICE), &aaa_info);
    /* wrong kind */
    assert_null(type_find("testdev", TYPE_KIND_NETDEV));
    assert_null(type_find("testnet", TYPE_KIND_DEVICE));
    /* same name, either kind */
    assert_ptr_equal(type_find("twin", TYPE_KIND_DEVICE), &twin_dev_info);
    assert_ptr_equal(type_find("twin", TYPE_KIND_NETDEV), &twin_net_info);
    /* exact names only */
    assert_null(type_find("testde", TYPE_KIND_DEVICE));
    assert_null(type_find("testdevx", TYPE_KIND_DEVICE));
    assert_null(type_find("TESTDEV", TYPE_KIND_DEVICE));
    assert_null(type_find("", TYPE_KIND_DEVICE));
    assert_null(type_find("no-such-type", TYPE_KIND_NETDEV));
}

static void check_sorted_iteration(TypeKind kind, const TypeInfo *const *mine, int nmine)
{
    int seen[8] = {0};
    int n = 0;
    const TypeInfo *prev = NULL;
    for (const TypeInfo *t = type_next(NULL, kind); t; t = type_next(t, kind)) {
        assert_true(n < 64); /* no loop */
        n++;
        assert_int_equal(t->kind, kind);
        if (prev && strcmp(prev->name, t->name) >= 0)
            fail_msg("type_next: '%s' after '%s'", t->name, prev->name);
        /* whatever type_find gives for that name is what we iterate */
        assert_ptr_equal(type_find(t->name, kind), t);
        for (int i = 0; i < nmine; i++)
            if (t == mine[i])
                seen[i]++;
        prev = t;
    }
    for (int i = 0; i < nmine; i++)
        if (seen[i] != 1)
            fail_msg("'%s' seen %d times", mine[i]->name, seen[i]);
    /* the last one has no successor */
    assert_non_null(prev);
    assert_null(type_next(prev, kind));
}

static void test_type_next_sorted(void **state)
{
    (void)state;
    const TypeInfo *devs[] = {&aaa_info, &mmm_info, &testdev_info, &twin_dev_info, &zzz_info};
    check_sorted_iteration(TYPE_KIND_DEVICE, devs, 5);
    const TypeInfo *nets[] = {&testnet_info, &twin_net_info};
    check_sorted_iteration(TYPE_KIND_NETDEV, nets, 2);

    /* direct successors among our own names, other types permitting */
    const TypeInfo *t = type_next(&mmm_info, TYPE_KIND_DEVICE);
    assert_non_null(t);
    assert_true(strcmp(t->name, "mmm-testdev") > 0);
    assert_true(strcmp(t->name, "testdev") <= 0);
    t = type_next(&testdev_info, TYPE_KIND_DEVICE);
    assert_non_null(t);
    assert_true(strcmp(t->name, "testdev") > 0 && strcmp(t->name, "twin") <= 0);
    /* the first device type sorts no later than aaa-testdev */
    t = type_next(NULL, TYPE_KIND_DEVICE);
    assert_non_null(t);
    assert_true(strcmp(t->name, "aaa-testdev") <= 0);
}

/* ---- object_new_from_opts ---- */

static Error err;

static Object *new_obj(const char *opts, TypeKind kind)
{
    memset(&err, 0, sizeof(err));
    return object_new_from_opts(opts, kind, &err);
}

static void test_parse_all_props(void **state)
{
    (void)state;
    Object *o =
        new_obj("testdev,id=x,num=0x10,flag=on,mac=52:54:00:00:00:01,name=foo", TYPE_KIND_DEVICE);
    if (!o)
        fail_msg("object_new_from_opts failed: %s", err.msg);
    TestDev *d = (TestDev *)o;
    assert_ptr_equal(o->type, &testdev_info);
    assert_string_equal(o->id, "x");
    assert_null(o->next);
    assert_int_equal(d->num, 16);
    assert_true(d->flag);
    static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x01};
    assert_memory_equal(d->mac.a, mac, 6);
    assert_true(d->mac.set);
    assert_string_equal(d->name, "foo");
    /* props not given keep their defaults */
    assert_string_equal(d->label, "dflt-label");
    assert_int_equal(d->count, 7);
    assert_true(d->enabled);
    object_free(o);
}

static void test_defaults(void **state)
{
    (void)state;
    Object *o = new_obj("testdev", TYPE_KIND_DEVICE);
    if (!o)
        fail_msg("object_new_from_opts failed: %s", err.msg);
    TestDev *d = (TestDev *)o;
    assert_ptr_equal(o->type, &testdev_info);
    assert_null(o->id);
    assert_null(d->name); /* no default: stays NULL / zero */
    assert_int_equal(d->num, 0);
    assert_false(d->flag);
    assert_false(d->mac.set);
    static const uint8_t zero[6] = {0};
    assert_memory_equal(d->mac.a, zero, 6);
    assert_string_equal(d->label, "dflt-label");
    assert_int_equal(d->count, 7);
    assert_true(d->enabled);
    object_free(o);

    /* given values override defaults */
    o = new_obj("testdev,label=mine,count=123,enabled=no", TYPE_KIND_DEVICE);
    if (!o)
        fail_msg("object_new_from_opts failed: %s", err.msg);
    d = (TestDev *)o;
    assert_string_equal(d->label, "mine");
    assert_int_equal(d->count, 123);
    assert_false(d->enabled);
    object_free(o);
}

static void test_bool_and_u32_spellings(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        bool b;
    } bools[] = {{"on", true},   {"yes", true}, {"true", true},   {"1", true},
                 {"off", false}, {"no", false}, {"false", false}, {"0", false}};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        char opts[64];
        snprintf(opts, sizeof(opts), "testdev,flag=%s,enabled=%s", bools[i].v, bools[i].v);
        Object *o = new_obj(opts, TYPE_KIND_DEVICE);
        if (!o)
            fail_msg("'%s': %s", opts, err.msg);
        assert_int_equal(((TestDev *)o)->flag, bools[i].b);
        assert_int_equal(((TestDev *)o)->enabled, bools[i].b);
        object_free(o);
    }
    Object *o = new_obj("testdev,num=4294967295,count=0", TYPE_KIND_DEVICE);
    assert_non_null(o);
    assert_int_equal(((TestDev *)o)->num, 0xffffffffu);
    assert_int_equal(((TestDev *)o)->count, 0);
    object_free(o);
}

static void test_netdev(void **state)
{
    (void)state;
    Object *o = new_obj("testnet,id=n0,ifname=tap7,vnet_hdr=on", TYPE_KIND_NETDEV);
    if (!o)
        fail_msg("object_new_from_opts failed: %s", err.msg);
    TestNet *n = (TestNet *)o;
    assert_ptr_equal(o->type, &testnet_info);
    assert_string_equal(o->id, "n0");
    assert_string_equal(n->ifname, "tap7");
    assert_true(n->vnet_hdr);
    object_free(o);

    /* the same string as a device: no such device type */
    assert_null(new_obj("testnet,id=n0", TYPE_KIND_DEVICE));
    assert_non_null(strstr(err.msg, "unknown device type 'testnet'"));
    /* and a device as a netdev */
    assert_null(new_obj("testdev,id=n0", TYPE_KIND_NETDEV));
    assert_non_null(strstr(err.msg, "unknown netdev type 'testdev'"));
    /* the twin type is found for either kind */
    o = new_obj("twin,id=t", TYPE_KIND_NETDEV);
    assert_non_null(o);
    assert_ptr_equal(o->type, &twin_net_info);
    object_free(o);
    o = new_obj("twin", TYPE_KIND_DEVICE);
    assert_non_null(o);
    assert_ptr_equal(o->type, &twin_dev_info);
    object_free(o);
}

static void test_repeated_props(void **state)
{
    (void)state;
    /* the last value wins; the earlier strings are freed (ASan checks) */
    Object *o =
        new_obj("testdev,name=a,name=bb,label=x,label=y,id=i1,id=i2,num=1,num=2", TYPE_KIND_DEVICE);
    if (!o)
        fail_msg("object_new_from_opts failed: %s", err.msg);
    TestDev *d = (TestDev *)o;
    assert_string_equal(d->name, "bb");
    assert_string_equal(d->label, "y");
    assert_string_equal(o->id, "i2");
    assert_int_equal(d->num, 2);
    /* an empty string is a valid string value */
    assert_int_equal(object_set_prop(o, "name", "", &err), 0);
    assert_string_equal(d->name, "");
    object_free(o);
}

static void test_object_set_prop(void **state)
{
    (void)state;
    Object *o = new_obj("testdev", TYPE_KIND_DEVICE);
    assert_non_null(o);
    TestDev *d = (TestDev *)o;
    assert_int_equal(object_set_prop(o, "num", "0x1234", &err), 0);
    assert_int_equal(d->num, 0x1234);
    assert_int_equal(object_set_prop(o, "mac", "02:00:00:00:00:ff", &err), 0);
    assert_true(d->mac.set);
    assert_int_equal(d->mac.a[0], 0x02);
    assert_int_equal(d->mac.a[5], 0xff);
    assert_int_equal(object_set_prop(o, "id", "later", &err), 0);
    assert_string_equal(o->id, "later");

    /* a failed set leaves the old value */
    memset(&err, 0, sizeof(err));
    assert_int_equal(object_set_prop(o, "num", "nope", &err), -1);
    assert_int_equal(d->num, 0x1234);
    assert_non_null(strstr(err.msg, "'num'"));
    memset(&err, 0, sizeof(err));
    assert_int_equal(object_set_prop(o, "flag", "maybe", &err), -1);
    assert_false(d->flag);
    memset(&err, 0, sizeof(err));
    assert_int_equal(object_set_prop(o, "mac", "01:00:00:00:00:00", &err), -1);
    assert_true(d->mac.set);
    /* (the address itself is clobbered by a rejected multicast value: see
     * test_parse_mac_failure_leaves_output in test_options.c) */
    memset(&err, 0, sizeof(err));
    assert_int_equal(object_set_prop(o, "id", "", &err), -1);
    assert_non_null(strstr(err.msg, "id must not be empty"));
    assert_string_equal(o->id, "later");
    memset(&err, 0, sizeof(err));
    assert_int_equal(object_set_prop(o, "nosuch", "1", &err), -1);
    assert_non_null(strstr(err.msg, "unknown property 'nosuch'"));
    /* a NULL Error is allowed */
    assert_int_equal(object_set_prop(o, "num", "x", NULL), -1);
    object_free(o);
    object_free(NULL);
}

/* The parse fails; the message is one line and contains every phrase. */
static void expect_error(const char *opts, TypeKind kind, const char *const *phrases)
{
    memset(&err, 0, sizeof(err));
    Object *o = object_new_from_opts(opts, kind, &err);
    if (o) {
        object_free(o);
        fail_msg("'%s' was accepted", opts);
    }
    if (!err.msg[0])
        fail_msg("'%s': no message", opts);
    if (strchr(err.msg, '\n'))
        fail_msg("'%s': message has a newline: %s", opts, err.msg);
    for (int i = 0; phrases[i]; i++)
        if (!strstr(err.msg, phrases[i]))
            fail_msg("'%s': message '%s' lacks '%s'", opts, err.msg, phrases[i]);
}

#define EXPECT_ERROR(opts, kind, ...)                                                              \
    expect_error(opts, kind, (const char *const[]){__VA_ARGS__, NULL})

static void test_errors(void **state)
{
    (void)state;
    EXPECT_ERROR("nosuchtype,id=x", TYPE_KIND_DEVICE, "unknown device type 'nosuchtype'",
                 "-device help");
    EXPECT_ERROR("nosuchnet", TYPE_KIND_NETDEV, "unknown netdev type 'nosuchnet'", "-netdev help");

    EXPECT_ERROR("testdev,bogus=1", TYPE_KIND_DEVICE, "unknown property 'bogus'",
                 "-device testdev,help");
    EXPECT_ERROR("testnet,id=n,mac=52:54:00:00:00:01", TYPE_KIND_NETDEV, "unknown property 'mac'",
                 "-netdev testnet,help");
    /* property names are case sensitive */
    EXPECT_ERROR("testdev,NUM=1", TYPE_KIND_DEVICE, "unknown property 'NUM'");

    /* a bad value for each property type */
    EXPECT_ERROR("testdev,num=abc", TYPE_KIND_DEVICE, "'num'", "number", "'abc'");
    EXPECT_ERROR("testdev,num=-1", TYPE_KIND_DEVICE, "'num'", "number", "'-1'");
    EXPECT_ERROR("testdev,num=4294967296", TYPE_KIND_DEVICE, "'num'", "'4294967296'");
    EXPECT_ERROR("testdev,num=", TYPE_KIND_DEVICE, "'num'", "number");
    EXPECT_ERROR("testdev,count=12x", TYPE_KIND_DEVICE, "'count'", "'12x'");
    EXPECT_ERROR("testdev,flag=maybe", TYPE_KIND_DEVICE, "'flag'", "on or off", "'maybe'");
    EXPECT_ERROR("testdev,flag=", TYPE_KIND_DEVICE, "'flag'", "on or off");
    EXPECT_ERROR("testdev,mac=52:54:00:00:00", TYPE_KIND_DEVICE, "'mac'", "unicast MAC",
                 "'52:54:00:00:00'");
    EXPECT_ERROR("testdev,mac=01:00:5e:00:00:01", TYPE_KIND_DEVICE, "'mac'", "unicast MAC");
    EXPECT_ERROR("testdev,mac=52:54:00:00:00:01x", TYPE_KIND_DEVICE, "'mac'");
    EXPECT_ERROR("testdev,id=", TYPE_KIND_DEVICE, "id must not be empty");

    /* key without '=' */
    EXPECT_ERROR("testdev,flag", TYPE_KIND_DEVICE, "expected key=value", "'flag'");
    EXPECT_ERROR("testdev,num=1,oops", TYPE_KIND_DEVICE, "expected key=value", "'oops'");

    /* the type must come first and must not be empty */
    EXPECT_ERROR("", TYPE_KIND_DEVICE, "type must come first");
    EXPECT_ERROR(",num=1", TYPE_KIND_DEVICE, "type must come first");
    EXPECT_ERROR("num=1,testdev", TYPE_KIND_DEVICE, "type must come first");
    EXPECT_ERROR("id=n0", TYPE_KIND_NETDEV, "type must come first", "-netdev");

    /* a failure after strings were set frees them (ASan's leak check) */
    EXPECT_ERROR("testdev,name=leak,id=leak,label=leak,num=bad", TYPE_KIND_DEVICE, "'num'");
}

/* ---- help output ---- */

/* Run fn with stdout captured into buf. */
static void capture_stdout(void (*fn)(void *), void *arg, char *buf, size_t size)
{
    char path[] = "/tmp/e1kvm-test-out-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    fn(arg);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    ssize_t n = pread(fd, buf, size - 1, 0);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
}

static void print_devices(void *arg)
{
    (void)arg;
    type_print_list(TYPE_KIND_DEVICE);
}

static void print_testdev(void *arg)
{
    *(int *)arg = type_print_props("testdev", TYPE_KIND_DEVICE, NULL);
}

static void test_help_output(void **state)
{
    (void)state;
    static char out[16384];
    capture_stdout(print_devices, NULL, out, sizeof(out));
    assert_non_null(strstr(out, "name \"testdev\", bus PCI, desc \"unit test device\""));
    char *a = strstr(out, "\"aaa-testdev\"");
    char *m = strstr(out, "\"mmm-testdev\"");
    char *z = strstr(out, "\"zzz-testdev\"");
    assert_true(a && m && z && a < m && m < z);
    assert_null(strstr(out, "testnet")); /* netdevs are not devices */

    int rc = -1;
    capture_stdout(print_testdev, &rc, out, sizeof(out));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "testdev options:"));
    assert_non_null(strstr(out, "<uint32>"));
    assert_non_null(strstr(out, "<macaddr>"));
    assert_non_null(strstr(out, "(default: dflt-label)"));
    assert_non_null(strstr(out, "(default: 0x7)"));

    Error e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(type_print_props("testnet", TYPE_KIND_DEVICE, &e), -1);
    assert_non_null(strstr(e.msg, "unknown device type 'testnet'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_find),
        cmocka_unit_test(test_type_next_sorted),
        cmocka_unit_test(test_parse_all_props),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bool_and_u32_spellings),
        cmocka_unit_test(test_netdev),
        cmocka_unit_test(test_repeated_props),
        cmocka_unit_test(test_object_set_prop),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
