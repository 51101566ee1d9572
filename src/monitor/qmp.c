/* The QMP monitor (see qmp.h). */
#include "monitor/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/loop.h"
#include "monitor/qmp-int.h"
#include "net/net.h"
#include "trace/stats.h"
#include "trace/trace.h"

#define QMP_MAX_SERVERS 4

typedef struct QmpServer QmpServer;

struct QmpClient {
    int fd;
    QmpServer *srv;
    json_tokener *tok;
    size_t pending;  /* bytes fed to the tokener since the last complete value */
    bool skip_line;  /* after a parse error: discard up to the next newline */
    bool negotiated; /* qmp_capabilities done: commands and events */
    char *out;       /* replies and events not yet written */
    size_t out_len, out_cap;
    bool want_write; /* the fd is watched for writability */
    bool dead;       /* closed: waits in the graveyard to be freed */
    QmpClient *next_dead;
};

struct QmpServer {
    int fd;
    char *unix_path; /* to remove at exit */
    char desc[128];
    QmpClient *clients[QMP_MAX_CLIENTS];
};

static QmpServer *servers[QMP_MAX_SERVERS + 1]; /* + the unit tests' attach */
static int nservers;
static QmpServer attached; /* qmp_attach_fd clients */
static Vm *qmp_vm;
static bool reset_requested; /* system_reset: the next RESET is the host's */
static bool hooks_installed;

typedef struct QmpError {
    const char *cls;
    char desc[256];
} QmpError;

static json_object *qmp_errorf(QmpError *e, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_object *qmp_errorf(QmpError *e, const char *cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
    va_end(ap);
    e->cls = cls;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */

/* A closed client may still be on the stack (its own command closed it),
 * so it is freed later, from a handler entered fresh from the loop. */
static QmpClient *graveyard;

static void free_dead_clients(void)
{
    while (graveyard) {
        QmpClient *c = graveyard;
        graveyard = c->next_dead;
        json_tokener_free(c->tok);
        free(c->out);
        free(c);
    }
}

static void client_close(QmpClient *c)
{
    if (c->dead)
        return;
    c->dead = true;
    loop_set_fd_handler(c->fd, NULL, NULL, NULL);
    close(c->fd);
    c->fd = -1;
    QmpServer *srv = c->srv;
    for (int i = 0; i < QMP_MAX_CLIENTS; i++)
        if (srv->clients[i] == c)
            srv->clients[i] = NULL;
    c->next_dead = graveyard;
    graveyard = c;
}

static void client_writable(void *opaque);

/* Write what is buffered; returns false if the client was closed. */
static bool client_flush(QmpClient *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t w = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0) {
            client_close(c);
            return false;
        }
        off += (size_t)w;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    /* watch for writability only while something waits */
    if (c->want_write != (c->out_len > 0)) {
        c->want_write = c->out_len > 0;
        loop_set_fd_handler(c->fd, qmp_client_readable, c->want_write ? client_writable : NULL, c);
    }
    return true;
}

static void client_writable(void *opaque)
{
    free_dead_clients();
    client_flush(opaque);
}

/* Queue one JSON value as a line ("\r\n" as QEMU ends them). */
static bool client_send(QmpClient *c, json_object *obj)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (c->out_len + len + 2 > QMP_MAX_OUTPUT) {
        /* the client does not read what it asked for: drop it */
        client_close(c);
        return false;
    }
    if (c->out_len + len + 2 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len + 2)
            cap *= 2;
        char *n = realloc(c->out, cap);
        if (!n) {
            client_close(c);
            return false;
        }
        c->out = n;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, len);
    memcpy(c->out + c->out_len + len, "\r\n", 2);
    c->out_len += len + 2;
    return client_flush(c);
}

static json_object *timestamp_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    json_object *t = json_object_new_object();
    json_object_object_add(t, "seconds", json_object_new_int64(tv.tv_sec));
    json_object_object_add(t, "microseconds", json_object_new_int64(tv.tv_usec));
    return t;
}

/* An event to every client in command mode; takes ownership of @data. */
static void qmp_event(const char *name, json_object *data)
{
    json_object *ev = json_object_new_object();
    json_object_object_add(ev, "event", json_object_new_string(name));
    json_object_object_add(ev, "data", data ? data : json_object_new_object());
    json_object_object_add(ev, "timestamp", timestamp_now());
    TRACE(qmp_event, "%s",
          json_object_to_json_string_ext(ev,
                                         JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    for (int s = 0; s < nservers; s++)
        for (int i = 0; i < QMP_MAX_CLIENTS; i++) {
            QmpClient *c = servers[s]->clients[i];
            if (c && c->negotiated)
                client_send(c, ev);
        }
    json_object_put(ev);
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */

typedef json_object *(*QmpHandler)(QmpClient *c, json_object *args, QmpError *err);

static json_object *cmd_qmp_capabilities(QmpClient *c, json_object *args, QmpError *err)
{
    json_object *en;
    if (c->negotiated)
        return qmp_errorf(err, "CommandNotFound",
                          "Capabilities negotiation is already complete, command ignored");
    if (json_object_object_get_ex(args, "enable", &en) && json_object_array_length(en) > 0) {
        json_object *cap = json_object_array_get_idx(en, 0);
        return qmp_errorf(err, "GenericError", "Capability '%s' not available",
                          json_object_get_string(cap));
    }
    c->negotiated = true;
    return json_object_new_object();
}

static json_object *cmd_query_version(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    (void)args;
    (void)err;
    int major = 0, minor = 0, micro = 0;
    sscanf(E1KVM_VERSION, "%d.%d.%d", &major, &minor, &micro);
    json_object *q = json_object_new_object();
    json_object_object_add(q, "major", json_object_new_int(major));
    json_object_object_add(q, "minor", json_object_new_int(minor));
    json_object_object_add(q, "micro", json_object_new_int(micro));
    json_object *r = json_object_new_object();
    json_object_object_add(r, "qemu", q);
    json_object_object_add(r, "package", json_object_new_string("e1kvm " E1KVM_VERSION));
    return r;
}

static json_object *cmd_query_status(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    (void)args;
    (void)err;
    bool paused = vm_is_paused(qmp_vm);
    json_object *r = json_object_new_object();
    json_object_object_add(r, "running", json_object_new_boolean(!paused));
    json_object_object_add(r, "singlestep", json_object_new_boolean(false));
    json_object_object_add(r, "status", json_object_new_string(paused ? "paused" : "running"));
    return r;
}

static json_object *cmd_query_name(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    (void)args;
    (void)err;
    json_object *r = json_object_new_object();
    if (qmp_vm->cfg.name)
        json_object_object_add(r, "name", json_object_new_string(qmp_vm->cfg.name));
    return r;
}

static json_object *cmd_stop(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    (void)args;
    (void)err;
    if (!vm_is_paused(qmp_vm)) {
        vm_pause(qmp_vm);
        qmp_event("STOP", NULL);
    }
    return json_object_new_object();
}

static json_object *cmd_cont(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    (void)args;
    (void)err;
    if (vm_is_paused(qmp_vm)) {
        vm_resume(qmp_vm);
        qmp_event("RESUME", NULL);
    }
    return json_object_new_object();
}

static json_object *cmd_system_reset(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    (void)args;
    (void)err;
    reset_requested = true;
    vm_request_stop(qmp_vm, VM_STOP_RESET);
    return json_object_new_object();
}

static json_object *cmd_quit(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    (void)args;
    (void)err;
    vm_request_stop(qmp_vm, VM_STOP_QUIT);
    return json_object_new_object();
}

static json_object *cmd_set_link(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    json_object *name, *up;
    json_object_object_get_ex(args, "name", &name);
    json_object_object_get_ex(args, "up", &up);
    NetClient *nc = net_client_find(json_object_get_string(name));
    if (!nc)
        return qmp_errorf(err, "DeviceNotFound", "Device '%s' not found",
                          json_object_get_string(name));
    net_set_link(nc, json_object_get_boolean(up));
    return json_object_new_object();
}

static json_object *exit_counts(const uint64_t *exits)
{
    json_object *o = json_object_new_object();
    for (unsigned r = 0; r < VM_EXIT_REASONS; r++)
        if (exits[r])
            json_object_object_add(o, kvm_exit_reason_name(r), json_object_new_uint64(exits[r]));
    return o;
}

static void add_regions(json_object *list, AddressSpace *as, const ExitStatsReg *regs, size_t n)
{
    for (size_t i = 0; i < as->nregions; i++) {
        MemoryRegion *mr = as->regions[i];
        json_object *r = json_object_new_object();
        json_object_object_add(r, "name", json_object_new_string(mr->name ? mr->name : "?"));
        json_object_object_add(r, "space", json_object_new_string(as->name));
        json_object_object_add(r, "address", json_object_new_uint64(mr->addr));
        json_object_object_add(r, "size", json_object_new_uint64(mr->size));
        json_object_object_add(r, "accesses", json_object_new_uint64(mr->accesses));
        json_object *regl = json_object_new_array();
        for (size_t k = 0; k < n; k++) {
            if (regs[k].mr != mr)
                continue;
            char buf[48];
            json_object *e = json_object_new_object();
            json_object_object_add(e, "offset", json_object_new_uint64(regs[k].offset));
            json_object_object_add(
                e, "name",
                json_object_new_string(exitstats_reg_name(mr, regs[k].offset, buf, sizeof(buf))));
            json_object_object_add(e, "reads", json_object_new_uint64(regs[k].reads));
            json_object_object_add(e, "writes", json_object_new_uint64(regs[k].writes));
            json_object_object_add(e, "doorbells", json_object_new_uint64(regs[k].doorbells));
            json_object_object_add(e, "posted", json_object_new_uint64(regs[k].posted));
            json_object_array_add(regl, e);
        }
        json_object_object_add(r, "registers", regl);
        json_object_array_add(list, r);
    }
}

/* query-exits: exits per reason (per vCPU and in all, since start), and
 * port/MMIO exits per region and register. */
static json_object *cmd_query_exits(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    (void)args;
    (void)err;
    uint64_t total[VM_EXIT_REASONS] = {0}, all = 0;
    json_object *r = json_object_new_object();
    json_object *vcpus = json_object_new_array();
    for (int i = 0; i < qmp_vm->cfg.smp; i++) {
        const Vcpu *v = &qmp_vm->vcpus[i];
        uint64_t sum = 0;
        for (int k = 0; k < VM_EXIT_REASONS; k++) {
            total[k] += v->exits[k];
            sum += v->exits[k];
        }
        all += sum;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "cpu", json_object_new_int(i));
        json_object_object_add(o, "total", json_object_new_uint64(sum));
        json_object_object_add(o, "exits", exit_counts(v->exits));
        json_object_array_add(vcpus, o);
    }
    json_object_object_add(r, "total", json_object_new_uint64(all));
    json_object_object_add(r, "exits", exit_counts(total));
    json_object_object_add(r, "vcpus", vcpus);
    size_t n = exitstats_snapshot(NULL, 0);
    ExitStatsReg *regs = calloc(n ? n : 1, sizeof(*regs));
    json_object *regions = json_object_new_array();
    if (regs) {
        n = exitstats_snapshot(regs, n);
        add_regions(regions, &qmp_vm->m.mmio, regs, n);
        add_regions(regions, &qmp_vm->m.pio, regs, n);
        free(regs);
    }
    json_object_object_add(r, "regions", regions);
    json_object_object_add(r, "unattributed", json_object_new_uint64(exitstats_overflow()));
    /* the main loop and the device lock: where the work that did not exit went */
    LoopStats st;
    loop_stats(&st);
    json_object *lo = json_object_new_object();
    json_object_object_add(lo, "rounds", json_object_new_uint64(st.rounds));
    json_object_object_add(lo, "sleeps", json_object_new_uint64(st.sleeps));
    json_object_object_add(lo, "poll-hits", json_object_new_uint64(st.poll_hits));
    json_object_object_add(lo, "poll-window-ns", json_object_new_int64(st.poll_ns));
    json_object_object_add(lo, "poll-max-ns", json_object_new_int64(st.poll_max_ns));
    json_object_object_add(lo, "lock-contended", json_object_new_uint64(st.lock_contended));
    json_object_object_add(lo, "lock-slept", json_object_new_uint64(st.lock_slept));
    json_object_object_add(lo, "lock-handoffs", json_object_new_uint64(st.lock_handoffs));
    json_object_object_add(lo, "lock-wait-ns", json_object_new_uint64(st.lock_wait_ns));
    json_object_object_add(lo, "lock-wait-max-ns", json_object_new_uint64(st.lock_wait_max_ns));
    json_object_object_add(r, "loop", lo);
    return r;
}

/* NIC_RX_FILTER_CHANGED is sent once per NIC until query-rx-filter asks
 * about it (as QEMU does): a guest rewriting its filters does not flood. */
#define MAX_RXF 32
static NetClient *rxf_notified[MAX_RXF];

static bool rxf_is_notified(NetClient *nc, bool clear)
{
    for (int i = 0; i < MAX_RXF; i++) {
        if (rxf_notified[i] == nc) {
            if (clear)
                rxf_notified[i] = NULL;
            return true;
        }
    }
    return false;
}

static void rx_filter_changed(NetClient *nc)
{
    if (rxf_is_notified(nc, false))
        return;
    for (int i = 0; i < MAX_RXF; i++) {
        if (!rxf_notified[i]) {
            rxf_notified[i] = nc;
            break;
        }
    }
    json_object *d = json_object_new_object();
    if (nc->id) {
        char path[160];
        snprintf(path, sizeof(path), "/machine/peripheral/%s", nc->id);
        json_object_object_add(d, "name", json_object_new_string(nc->id));
        json_object_object_add(d, "path", json_object_new_string(path));
    }
    qmp_event("NIC_RX_FILTER_CHANGED", d);
}

static json_object *mac_string(const uint8_t *m)
{
    char s[24];
    snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return json_object_new_string(s);
}

static json_object *rx_filter_json(NetClient *nc)
{
    NetRxFilter f;
    nc->info->query_rx_filter(nc, &f);
    rxf_is_notified(nc, true);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(nc->id ? nc->id : nc->info->type));
    json_object_object_add(o, "promiscuous", json_object_new_boolean(f.promiscuous));
    json_object_object_add(o, "multicast",
                           json_object_new_string(f.multicast_all ? "all" : "normal"));
    json_object_object_add(o, "unicast", json_object_new_string(f.promiscuous ? "all" : "normal"));
    json_object_object_add(o, "vlan", json_object_new_string(f.vlan_filter ? "normal" : "all"));
    json_object_object_add(o, "broadcast-allowed", json_object_new_boolean(f.broadcast_allowed));
    json_object_object_add(o, "multicast-overflow", json_object_new_boolean(false));
    json_object_object_add(o, "unicast-overflow", json_object_new_boolean(false));
    json_object_object_add(o, "main-mac", mac_string(f.main_mac));
    json_object *vl = json_object_new_array(), *uc = json_object_new_array(),
                *mc = json_object_new_array(), *mh = json_object_new_array();
    for (int i = 0; i < 4096; i++) {
        if (f.vlan_filter && (f.vlan_table[i >> 5] & (1u << (i & 31))))
            json_object_array_add(vl, json_object_new_int(i));
        if (f.mc_hash[i >> 5] & (1u << (i & 31)))
            json_object_array_add(mh, json_object_new_int(i));
    }
    for (int i = 0; i < f.n_unicast; i++)
        json_object_array_add(uc, mac_string(f.unicast[i]));
    for (int i = 0; i < f.n_multicast; i++)
        json_object_array_add(mc, mac_string(f.multicast[i]));
    json_object_object_add(o, "vlan-table", vl);
    json_object_object_add(o, "unicast-table", uc);
    json_object_object_add(o, "multicast-table", mc);
    /* e1000: multicast addresses are hashed (MTA): the set bit numbers */
    json_object_object_add(o, "multicast-hash-bits", mh);
    return o;
}

static json_object *cmd_query_rx_filter(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    json_object *name = NULL;
    json_object_object_get_ex(args, "name", &name);
    const char *want = name ? json_object_get_string(name) : NULL;
    if (want) {
        NetClient *nc = net_client_find(want);
        if (!nc)
            return qmp_errorf(err, "GenericError", "invalid net client name: %s", want);
        if (!nc->info->query_rx_filter)
            return qmp_errorf(err, "GenericError", "net client(%s) isn't a NIC", want);
    }
    json_object *list = json_object_new_array();
    for (NetClient *nc = net_client_next(NULL); nc; nc = net_client_next(nc)) {
        if (!nc->info->query_rx_filter || (want && (!nc->id || strcmp(nc->id, want))))
            continue;
        json_object_array_add(list, rx_filter_json(nc));
    }
    return list;
}

static json_object *trace_state_list(const char *pattern, bool set, bool enable, QmpError *err)
{
    if (set && trace_set_pattern(pattern, enable) == 0)
        return qmp_errorf(err, "GenericError", "No event named '%s'", pattern);
    json_object *list = json_object_new_array();
    for (int i = 0; i < TRACE_N; i++) {
        const char *n = trace_event_name((TraceEvent)i);
        if (fnmatch(pattern, n, 0) != 0)
            continue;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(n));
        json_object_object_add(o, "state",
                               json_object_new_string(trace_enabled[i] ? "enabled" : "disabled"));
        json_object_object_add(o, "vcpu", json_object_new_boolean(false));
        json_object_array_add(list, o);
    }
    if (json_object_array_length(list) == 0) {
        json_object_put(list);
        return qmp_errorf(err, "GenericError", "No event named '%s'", pattern);
    }
    return list;
}

static json_object *cmd_trace_get(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    json_object *name;
    json_object_object_get_ex(args, "name", &name);
    return trace_state_list(json_object_get_string(name), false, false, err);
}

static json_object *cmd_trace_set(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    json_object *name, *enable;
    json_object_object_get_ex(args, "name", &name);
    json_object_object_get_ex(args, "enable", &enable);
    json_object *l =
        trace_state_list(json_object_get_string(name), true, json_object_get_boolean(enable), err);
    if (!l)
        return NULL;
    json_object_put(l);
    return json_object_new_object();
}

static json_object *cmd_query_commands(QmpClient *c, json_object *args, QmpError *err);

/* name, arguments ("key:type" with type s=string b=bool a=array; "key?:"
 * optional), handler. Allowed before qmp_capabilities: only that. */
static const struct {
    const char *name;
    const char *args;
    QmpHandler fn;
} commands[] = {
    {"qmp_capabilities", "enable?:a", cmd_qmp_capabilities},
    {"query-version", "", cmd_query_version},
    {"query-status", "", cmd_query_status},
    {"query-name", "", cmd_query_name},
    {"query-commands", "", cmd_query_commands},
    {"stop", "", cmd_stop},
    {"cont", "", cmd_cont},
    {"system_reset", "", cmd_system_reset},
    {"quit", "", cmd_quit},
    {"set_link", "name:s,up:b", cmd_set_link},
    {"query-exits", "", cmd_query_exits},
    {"query-rx-filter", "name?:s", cmd_query_rx_filter},
    {"trace-event-get-state", "name:s,vcpu?:i", cmd_trace_get},
    {"trace-event-set-state", "name:s,enable:b,ignore-unavailable?:b,vcpu?:i", cmd_trace_set},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static json_object *cmd_query_commands(QmpClient *c, json_object *args, QmpError *err)
{
    (void)c;
    (void)args;
    (void)err;
    json_object *l = json_object_new_array();
    for (size_t i = 0; i < NCOMMANDS; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(commands[i].name));
        json_object_array_add(l, o);
    }
    return l;
}

/* Check @args against a spec like "name:s,up:b,enable?:a": every argument
 * declared, of its type; the ones without '?' present. */
static bool check_args(const char *spec, json_object *args, QmpError *err)
{
    struct {
        char name[32];
        bool optional;
        char type;
    } decl[8];
    int n = 0;
    for (const char *p = spec; *p && n < 8;) {
        size_t len = strcspn(p, ":");
        if (!p[len] || len >= sizeof(decl[0].name))
            break;
        memcpy(decl[n].name, p, len);
        decl[n].name[len] = '\0';
        decl[n].optional = len > 0 && p[len - 1] == '?';
        if (decl[n].optional)
            decl[n].name[len - 1] = '\0';
        decl[n].type = p[len + 1];
        n++;
        p += len + 1;
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    json_object_object_foreach(args, key, val)
    {
        (void)val;
        int k = 0;
        while (k < n && strcmp(decl[k].name, key))
            k++;
        if (k == n) {
            qmp_errorf(err, "GenericError", "Parameter '%.64s' is unexpected", key);
            return false;
        }
    }
    for (int k = 0; k < n; k++) {
        static const struct {
            char code;
            json_type type;
            const char *name;
        } types[] = {{'s', json_type_string, "string"},
                     {'b', json_type_boolean, "boolean"},
                     {'a', json_type_array, "array"},
                     {'i', json_type_int, "integer"}};
        json_object *v;
        if (!json_object_object_get_ex(args, decl[k].name, &v)) {
            if (!decl[k].optional) {
                qmp_errorf(err, "GenericError", "Parameter '%s' is missing", decl[k].name);
                return false;
            }
            continue;
        }
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
            if (types[t].code == decl[k].type && !json_object_is_type(v, types[t].type)) {
                qmp_errorf(err, "GenericError", "Invalid parameter type for '%s', expected: %s",
                           decl[k].name, types[t].name);
                return false;
            }
        }
    }
    return true;
}

static void send_error(QmpClient *c, json_object *id, const char *cls, const char *desc)
{
    json_object *r = json_object_new_object();
    json_object *e = json_object_new_object();
    json_object_object_add(e, "class", json_object_new_string(cls));
    json_object_object_add(e, "desc", json_object_new_string(desc));
    json_object_object_add(r, "error", e);
    if (id)
        json_object_object_add(r, "id", json_object_get(id));
    TRACE(qmp_command, "error: %s", desc);
    client_send(c, r);
    json_object_put(r);
}

/* One complete JSON value from the client. */
static void dispatch(QmpClient *c, json_object *req)
{
    json_object *id = NULL, *exec = NULL, *args = NULL;
    if (!json_object_is_type(req, json_type_object)) {
        send_error(c, NULL, "GenericError", "QMP input must be a JSON object");
        return;
    }
    json_object_object_get_ex(req, "id", &id);
    json_object_object_foreach(req, key, val)
    {
        (void)val;
        if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
            char d[128];
            snprintf(d, sizeof(d), "QMP input member '%.64s' is unexpected", key);
            send_error(c, id, "GenericError", d);
            return;
        }
    }
    if (!json_object_object_get_ex(req, "execute", &exec)) {
        send_error(c, id, "GenericError", "QMP input lacks member 'execute'");
        return;
    }
    if (!json_object_is_type(exec, json_type_string)) {
        send_error(c, id, "GenericError", "QMP input member 'execute' must be a string");
        return;
    }
    if (json_object_object_get_ex(req, "arguments", &args) &&
        !json_object_is_type(args, json_type_object)) {
        send_error(c, id, "GenericError", "QMP input member 'arguments' must be an object");
        return;
    }
    const char *name = json_object_get_string(exec);
    TRACE(qmp_command, "%s %s", name, args ? json_object_to_json_string(args) : "");
    if (!c->negotiated && strcmp(name, "qmp_capabilities") != 0) {
        send_error(c, id, "CommandNotFound",
                   "Expecting capabilities negotiation with 'qmp_capabilities'");
        return;
    }
    size_t k = 0;
    while (k < NCOMMANDS && strcmp(commands[k].name, name))
        k++;
    if (k == NCOMMANDS) {
        char d[160];
        snprintf(d, sizeof(d), "The command %.100s has not been found", name);
        send_error(c, id, "CommandNotFound", d);
        return;
    }
    json_object *empty = NULL;
    if (!args)
        args = empty = json_object_new_object();
    QmpError err = {0};
    json_object *ret = NULL;
    if (check_args(commands[k].args, args, &err))
        ret = commands[k].fn(c, args, &err);
    json_object_put(empty);
    if (!ret) {
        send_error(c, id, err.cls ? err.cls : "GenericError", err.desc);
        return;
    }
    json_object *r = json_object_new_object();
    json_object_object_add(r, "return", ret);
    if (id)
        json_object_object_add(r, "id", json_object_get(id));
    client_send(c, r);
    json_object_put(r);
}

/* ------------------------------------------------------------------------ */
/* Input                                                                    */

/* Feed @len bytes; returns false if the client was closed. */
static bool client_feed(QmpClient *c, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len && !c->dead) {
        if (c->skip_line) {
            const char *nl = memchr(buf + off, '\n', len - off);
            if (!nl)
                return true;
            off = (size_t)(nl - buf) + 1;
            c->skip_line = false;
            continue;
        }
        size_t chunk = len - off;
        json_object *obj = json_tokener_parse_ex(c->tok, buf + off, (int)chunk);
        enum json_tokener_error jerr = json_tokener_get_error(c->tok);
        size_t used = json_tokener_get_parse_end(c->tok);
        if (used > chunk)
            used = chunk;
        if (obj || jerr == json_tokener_success) {
            off += used ? used : chunk;
            c->pending = 0;
            json_tokener_reset(c->tok);
            dispatch(c, obj);
            json_object_put(obj);
            continue;
        }
        if (jerr == json_tokener_continue) {
            c->pending += chunk;
            if (c->pending > QMP_MAX_INPUT) {
                char d[96];
                snprintf(d, sizeof(d), "JSON input too large (more than %u bytes): disconnecting",
                         QMP_MAX_INPUT);
                send_error(c, NULL, "GenericError", d);
                if (!c->dead) {
                    client_flush(c);
                    client_close(c);
                }
                return false;
            }
            return true;
        }
        char d[160];
        snprintf(d, sizeof(d), "JSON parse error, %s", json_tokener_error_desc(jerr));
        json_tokener_reset(c->tok);
        c->pending = 0;
        send_error(c, NULL, "GenericError", d);
        /* resynchronise after the next newline (the bad byte may be it) */
        size_t bad = off + used;
        if (bad < len && buf[bad] == '\n') {
            off = bad + 1;
        } else {
            off = bad < len ? bad + 1 : len;
            c->skip_line = true;
        }
    }
    return !c->dead;
}

void qmp_client_readable(void *opaque)
{
    QmpClient *c = opaque;
    char buf[16384];
    free_dead_clients();
    /* bounded per wake-up so one client cannot hold the loop */
    for (int i = 0; i < 64 && !c->dead; i++) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            client_close(c);
            return;
        }
        if (!client_feed(c, buf, (size_t)n))
            return;
    }
}

bool qmp_client_alive(const QmpClient *c)
{
    for (int s = 0; s < nservers; s++)
        for (int i = 0; i < QMP_MAX_CLIENTS; i++)
            if (servers[s]->clients[i] == c)
                return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */

static void vm_reset_hook(void *opaque)
{
    (void)opaque;
    json_object *d = json_object_new_object();
    json_object_object_add(d, "guest", json_object_new_boolean(!reset_requested));
    json_object_object_add(
        d, "reason",
        json_object_new_string(reset_requested ? "host-qmp-system-reset" : "guest-reset"));
    reset_requested = false;
    qmp_event("RESET", d);
}

static void install_hooks(Vm *vm)
{
    qmp_vm = vm;
    if (hooks_installed)
        return;
    hooks_installed = true;
    vm_register_reset(vm_reset_hook, NULL);
    net_set_rx_filter_notifier(rx_filter_changed);
}

static QmpClient *client_new(QmpServer *srv, int fd)
{
    int slot = -1;
    for (int i = 0; i < QMP_MAX_CLIENTS && slot < 0; i++)
        if (!srv->clients[i])
            slot = i;
    QmpClient *c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        close(fd); /* too many monitors on this socket */
        return NULL;
    }
    c->fd = fd;
    c->srv = srv;
    c->tok = json_tokener_new();
    srv->clients[slot] = c;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    loop_set_fd_handler(fd, qmp_client_readable, NULL, c);
    json_object *greet = cmd_query_version(c, NULL, NULL);
    json_object *qmp = json_object_new_object();
    json_object_object_add(qmp, "version", greet);
    json_object_object_add(qmp, "capabilities", json_object_new_array());
    json_object *g = json_object_new_object();
    json_object_object_add(g, "QMP", qmp);
    client_send(c, g);
    json_object_put(g);
    return qmp_client_alive(c) ? c : NULL;
}

QmpClient *qmp_attach_fd(int fd, Vm *vm)
{
    install_hooks(vm);
    bool known = false;
    for (int s = 0; s < nservers; s++)
        known = known || servers[s] == &attached;
    if (!known)
        servers[nservers++] = &attached;
    attached.fd = -1;
    return client_new(&attached, fd);
}

static void server_accept(void *opaque)
{
    QmpServer *srv = opaque;
    free_dead_clients();
    int fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0)
        client_new(srv, fd);
}

/* "key=value" options after the address. */
static int parse_flags(char *opts, bool *wait, Error *err, const char *spec)
{
    char *save = NULL;
    for (char *kv = strtok_r(opts, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        if (!strcmp(kv, "server") || !strcmp(kv, "server=on"))
            continue;
        if (!strcmp(kv, "server=off"))
            return error_setf(err, "-qmp %s: only server=on is supported (e1kvm listens)", spec);
        if (!strcmp(kv, "nowait") || !strcmp(kv, "wait=off"))
            *wait = false;
        else if (!strcmp(kv, "wait") || !strcmp(kv, "wait=on"))
            *wait = true;
        else
            return error_setf(err, "-qmp %s: unknown option '%s' (server=on, wait=on|off)", spec,
                              kv);
    }
    return 0;
}

int qmp_open(const char *spec, Vm *vm, Error *err)
{
    if (nservers >= QMP_MAX_SERVERS)
        return error_setf(err, "-qmp: too many monitors");
    char copy[512];
    if (strlen(spec) >= sizeof(copy))
        return error_setf(err, "-qmp: argument too long");
    strcpy(copy, spec);
    char *comma = strchr(copy, ',');
    char *opts = comma ? comma + 1 : NULL;
    if (comma)
        *comma = '\0';
    bool wait = false;
    if (opts && parse_flags(opts, &wait, err, spec) < 0)
        return -1;
    char where[512];
    strcpy(where, copy); /* the address, for messages (copy gets cut up) */

    QmpServer *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return error_setf(err, "out of memory");
    int fd = -1;
    if (!strncmp(copy, "unix:", 5)) {
        const char *path = copy + 5;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
            free(srv);
            return error_setf(err, "-qmp %s: bad socket path", spec);
        }
        strcpy(sa.sun_path, path);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path); /* a stale socket from an earlier run */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            free(srv);
            return error_setf(err, "-qmp %s: cannot listen on '%s': %s", spec, path, strerror(e));
        }
        srv->unix_path = strdup(path);
    } else if (!strncmp(copy, "tcp:", 4)) {
        char *host = copy + 4, *port = strrchr(host, ':');
        if (!port) {
            free(srv);
            return error_setf(err, "-qmp %s: expected tcp:HOST:PORT", spec);
        }
        *port++ = '\0';
        struct addrinfo hints = {
            .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
        struct addrinfo *ai = NULL;
        int g = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
        if (g != 0) {
            free(srv);
            return error_setf(err, "-qmp %s: %s", spec, gai_strerror(g));
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            freeaddrinfo(ai);
            free(srv);
            return error_setf(err, "-qmp %s: cannot listen: %s", spec, strerror(e));
        }
        freeaddrinfo(ai);
    } else {
        free(srv);
        return error_setf(err, "-qmp %s: expected unix:PATH or tcp:HOST:PORT", spec);
    }
    srv->fd = fd;
    snprintf(srv->desc, sizeof(srv->desc), "%s", spec);
    servers[nservers++] = srv;
    install_hooks(vm);
    if (wait) {
        fprintf(stderr, "e1kvm: waiting for a QMP connection on %s\n", where);
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            client_new(srv, c);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    loop_set_fd_handler(fd, server_accept, NULL, srv);
    return 0;
}

void qmp_vm_exited(Vm *vm)
{
    if (!nservers)
        return;
    static const char *const reasons[] = {
        [VM_STOP_NONE] = "host-error",   [VM_STOP_POWEROFF] = "guest-shutdown",
        [VM_STOP_RESET] = "guest-reset", [VM_STOP_SIGNAL] = "host-signal",
        [VM_STOP_ERROR] = "host-error",  [VM_STOP_QUIT] = "host-qmp-quit",
    };
    int why = atomic_load(&vm->stop_reason);
    bool guest = why == VM_STOP_POWEROFF || (why == VM_STOP_RESET && !reset_requested);
    const char *reason = why >= 0 && why <= VM_STOP_QUIT ? reasons[why] : "host-error";
    if (why == VM_STOP_RESET && reset_requested)
        reason = "host-qmp-system-reset";
    json_object *d = json_object_new_object();
    json_object_object_add(d, "guest", json_object_new_boolean(guest));
    json_object_object_add(d, "reason", json_object_new_string(reason));
    device_lock();
    qmp_event("SHUTDOWN", d);
    for (int s = 0; s < nservers; s++) {
        QmpServer *srv = servers[s];
        for (int i = 0; i < QMP_MAX_CLIENTS; i++) {
            QmpClient *c = srv->clients[i];
            if (!c)
                continue;
            /* up to a second for the last replies and the event */
            for (int tries = 0; tries < 100 && !c->dead && c->out_len; tries++) {
                struct pollfd p = {.fd = c->fd, .events = POLLOUT};
                poll(&p, 1, 10);
                client_flush(c);
            }
            if (!c->dead)
                client_close(c);
        }
        if (srv != &attached) {
            loop_set_fd_handler(srv->fd, NULL, NULL, NULL);
            close(srv->fd);
            if (srv->unix_path)
                unlink(srv->unix_path);
            free(srv->unix_path);
            free(srv);
        }
    }
    nservers = 0;
    free_dead_clients();
    device_unlock();
}
