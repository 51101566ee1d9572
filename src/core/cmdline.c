#include "core/cmdline.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qom/object.h"
#include "trace/trace.h"
#include "util/sandbox.h"

void cmdline_usage(void)
{
    printf(
        "usage: e1kvm [options]\n"
        "\n"
        "Boot a Linux kernel directly on KVM with full emulation of an Intel 82540EM NIC.\n"
        "\n"
        "  -kernel FILE        Linux kernel: uncompressed ELF vmlinux or bzImage\n"
        "  -initrd FILE        initial ramdisk\n"
        "  -append STR         kernel command line\n"
        "  -m SIZE             guest RAM, e.g. 256M or 1G (default 256M; a number alone is MiB)\n"
        "  -smp N              number of vCPUs, 1..%d (default 1)\n"
        "  -cpu MODEL          host | emulator | auto (default auto: emulator where this KVM\n"
        "                      runs guest kernels in its instruction emulator)\n"
        "  -netdev tap,id=ID,ifname=NAME[,fd=N][,vnet_hdr=on|off][,script=no,downscript=no]\n"
        "                      a network backend (-netdev help lists the types)\n"
        "  -device TYPE[,prop=value...]\n"
        "                      a device, e.g. e1000,netdev=ID[,mac=52:54:00:12:34:56]\n"
        "                      (-device help lists types, -device TYPE,help their properties)\n"
        "  -name NAME          name of the guest\n"
        "  -nographic          no display (the only mode; accepted for compatibility)\n"
        "  -serial stdio       COM1 on standard input/output (the default)\n"
        "  -no-reboot          exit when the guest reboots instead of booting again\n"
        "  -sandbox on|off     seccomp filter: only the system calls needed (default on)\n"
        "  -runas USER         drop root (to USER, a name or UID[:GID]) once set up\n"
        "  -netdev user,id=ID[,hostfwd=tcp:127.0.0.1:HPORT-:GPORT][,restrict=on]\n"
        "                      user-mode network (libslirp): DHCP, NAT, port forwarding\n"
        "  -netdev socket,id=ID,listen=HOST:PORT | connect=HOST:PORT\n"
        "                      frames over a TCP stream to another e1kvm (or QEMU)\n"
        "  -object filter-dump,id=ID,netdev=ID,file=PATH[,maxlen=N]\n"
        "                      write both directions of a netdev to a pcap file\n"
        "  -object main-loop,id=ID,poll-max-ns=N\n"
        "                      poll up to N ns for events before the loop sleeps (default\n"
        "                      32000, adaptive; 0: never)\n"
        "  -trace [enable=]PATTERN[,events=FILE][,file=PATH]\n"
        "                      trace the packet path (-trace help lists the events)\n"
        "  -stats              print exit statistics (per reason, per register) at exit\n"
        "  -qmp unix:PATH,server=on,wait=off | tcp:HOST:PORT,server=on,wait=off\n"
        "                      QMP monitor (stop, cont, set_link, query-exits, ...)\n"
        "  -version            print the version and exit\n"
        "  -help               print this help and exit\n",
        VM_MAX_VCPUS);
}

static int check_file(const char *opt, const char *path, Error *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return error_setf(err, "%s: cannot open '%s': %s", opt, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return error_setf(err, "%s: '%s' is not a regular file", opt, path);
    if (access(path, R_OK) < 0)
        return error_setf(err, "%s: cannot read '%s': %s", opt, path, strerror(errno));
    return 0;
}

/* "-device help" / "-device TYPE,help" (and the same for -netdev) */
static int maybe_help(const char *arg, TypeKind kind, Error *err)
{
    if (strcmp(arg, "help") == 0 || strcmp(arg, "?") == 0) {
        type_print_list(kind);
        return 1;
    }
    size_t n = strlen(arg);
    if (n > 5 && strcmp(arg + n - 5, ",help") == 0) {
        char name[64];
        size_t len = strcspn(arg, ",");
        if (len >= sizeof(name))
            len = sizeof(name) - 1;
        memcpy(name, arg, len);
        name[len] = '\0';
        return type_print_props(name, kind, err) < 0 ? -1 : 1;
    }
    return 0;
}

CmdlineResult cmdline_parse(int argc, char **argv, Cmdline *cl, Error *err)
{
    memset(cl, 0, sizeof(*cl));
    cl->vm.ram_size = 256ULL << 20;
    cl->vm.smp = 1;
    cl->vm.cpu_model = CPU_MODEL_AUTO;
    cl->sandbox = true;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        /* QEMU accepts --opt as well as -opt */
        if (opt[0] == '-' && opt[1] == '-')
            opt++;
        if (opt[0] != '-' || !opt[1])
            return error_setf(err, "unexpected argument '%s' (try -help)", argv[i]);
        opt++;
        if (!strcmp(opt, "help") || !strcmp(opt, "h")) {
            cmdline_usage();
            return CMDLINE_EXIT;
        }
        if (!strcmp(opt, "version")) {
            printf("e1kvm version %s\n", E1KVM_VERSION);
            return CMDLINE_EXIT;
        }
        if (!strcmp(opt, "nographic"))
            continue;
        if (!strcmp(opt, "no-reboot")) {
            cl->vm.no_reboot = true;
            continue;
        }
        if (!strcmp(opt, "stats")) {
            cl->stats = true;
            continue;
        }
        static const char *const with_arg[] = {"kernel", "initrd", "append", "m",       "smp",
                                               "netdev", "device", "name",   "serial",  "cpu",
                                               "trace",  "qmp",    "object", "sandbox", "runas"};
        bool known = false;
        for (size_t k = 0; k < sizeof(with_arg) / sizeof(with_arg[0]); k++)
            known = known || !strcmp(opt, with_arg[k]);
        if (!known)
            return error_setf(err, "unknown option '%s' (try -help)", argv[i]);
        if (i + 1 >= argc)
            return error_setf(err, "option '%s' needs an argument", argv[i]);
        const char *arg = argv[++i];
        if (!strcmp(opt, "kernel")) {
            if (check_file("-kernel", arg, err) < 0)
                return CMDLINE_ERROR;
            cl->vm.kernel = arg;
        } else if (!strcmp(opt, "initrd")) {
            if (check_file("-initrd", arg, err) < 0)
                return CMDLINE_ERROR;
            cl->vm.initrd = arg;
        } else if (!strcmp(opt, "append")) {
            cl->vm.append = arg;
        } else if (!strcmp(opt, "name")) {
            cl->vm.name = arg;
        } else if (!strcmp(opt, "m")) {
            /* QEMU also takes "size=256M" */
            const char *s = strncmp(arg, "size=", 5) == 0 ? arg + 5 : arg;
            uint64_t bytes;
            if (parse_size_mib_default(s, &bytes) < 0)
                return error_setf(err, "-m: invalid size '%s' (examples: 256M, 1G)", arg);
            if (bytes < (32ULL << 20))
                return error_setf(err, "-m: %s is too small (at least 32M)", arg);
            if (bytes > (1ULL << 40))
                return error_setf(err, "-m: %s is too large (at most 1T)", arg);
            cl->vm.ram_size = bytes;
        } else if (!strcmp(opt, "smp")) {
            const char *s = strncmp(arg, "cpus=", 5) == 0 ? arg + 5 : arg;
            uint32_t n;
            if (parse_u32(s, &n) < 0 || n < 1 || n > VM_MAX_VCPUS)
                return error_setf(err, "-smp: invalid CPU count '%s' (1..%d)", arg, VM_MAX_VCPUS);
            cl->vm.smp = (int)n;
        } else if (!strcmp(opt, "serial")) {
            if (strcmp(arg, "stdio") != 0)
                return error_setf(err, "-serial: only 'stdio' is supported, not '%s'", arg);
        } else if (!strcmp(opt, "cpu")) {
            if (!strcmp(arg, "host"))
                cl->vm.cpu_model = CPU_MODEL_HOST;
            else if (!strcmp(arg, "emulator"))
                cl->vm.cpu_model = CPU_MODEL_EMULATOR;
            else if (!strcmp(arg, "auto"))
                cl->vm.cpu_model = CPU_MODEL_AUTO;
            else
                return error_setf(err, "-cpu: unknown CPU model '%s' (host, emulator, auto)", arg);
        } else if (!strcmp(opt, "sandbox")) {
            /* QEMU's form is on|off[,option=...]; only on and off here */
            if (!strcmp(arg, "on"))
                cl->sandbox = true;
            else if (!strcmp(arg, "off"))
                cl->sandbox = false;
            else
                return error_setf(err, "-sandbox: expects on or off, not '%s'", arg);
        } else if (!strcmp(opt, "runas")) {
            if (sandbox_lookup_user(arg, &cl->runas_uid, &cl->runas_gid, err) < 0)
                return CMDLINE_ERROR;
            cl->runas = arg;
        } else if (!strcmp(opt, "trace")) {
            int t = trace_parse_opt(arg, err);
            if (t < 0)
                return CMDLINE_ERROR;
            if (t > 0)
                return CMDLINE_EXIT;
        } else if (!strcmp(opt, "qmp")) {
            if (cl->nqmp == CMDLINE_MAX_QMP)
                return error_setf(err, "too many -qmp options (at most %d)", CMDLINE_MAX_QMP);
            cl->qmp[cl->nqmp++] = arg;
        } else if (!strcmp(opt, "object")) {
            int h = maybe_help(arg, TYPE_KIND_OBJECT, err);
            if (h < 0)
                return CMDLINE_ERROR;
            if (h > 0)
                return CMDLINE_EXIT;
            if (cl->nobjects == CMDLINE_MAX_OBJS)
                return error_setf(err, "too many -object options (at most %d)", CMDLINE_MAX_OBJS);
            cl->objects[cl->nobjects++] = arg;
        } else if (!strcmp(opt, "netdev") || !strcmp(opt, "device")) {
            TypeKind kind = opt[0] == 'n' ? TYPE_KIND_NETDEV : TYPE_KIND_DEVICE;
            int h = maybe_help(arg, kind, err);
            if (h < 0)
                return CMDLINE_ERROR;
            if (h > 0)
                return CMDLINE_EXIT;
            const char **list = kind == TYPE_KIND_NETDEV ? cl->netdevs : cl->devices;
            int *n = kind == TYPE_KIND_NETDEV ? &cl->nnetdevs : &cl->ndevices;
            if (*n == CMDLINE_MAX_OBJS)
                return error_setf(err, "too many -%s options (at most %d)", opt, CMDLINE_MAX_OBJS);
            list[(*n)++] = arg;
        }
    }
    if (!cl->vm.kernel)
        return error_setf(err, "no kernel given: use -kernel FILE (try -help)");
    return CMDLINE_RUN;
}
