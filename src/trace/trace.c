/* Trace points: the event table, -trace parsing and line output. */
#include "trace/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

bool trace_enabled[TRACE_N];

#define TRACE_NAME_(name, desc) #name,
static const char *const event_names[TRACE_N] = {TRACE_EVENTS(TRACE_NAME_)};
#undef TRACE_NAME_
#define TRACE_DESC_(name, desc) desc,
static const char *const event_descs[TRACE_N] = {TRACE_EVENTS(TRACE_DESC_)};
#undef TRACE_DESC_

static int trace_fd = STDERR_FILENO;
static int64_t start_ns;
static __thread char thread_name[16];

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "Start" is the process start: lines say how far into the run they are,
 * whenever tracing was switched on. */
static void trace_start_clock(void)
{
    if (!start_ns)
        start_ns = now_ns();
}

__attribute__((constructor)) static void trace_clock_init(void)
{
    trace_start_clock();
}

const char *trace_event_name(TraceEvent ev)
{
    return ev < TRACE_N ? event_names[ev] : "?";
}

const char *trace_event_desc(TraceEvent ev)
{
    return ev < TRACE_N ? event_descs[ev] : "?";
}

bool trace_any_enabled(void)
{
    for (int i = 0; i < TRACE_N; i++)
        if (trace_enabled[i])
            return true;
    return false;
}

int trace_set_pattern(const char *pattern, bool on)
{
    int n = 0;
    trace_start_clock();
    for (int i = 0; i < TRACE_N; i++) {
        if (fnmatch(pattern, event_names[i], 0) == 0) {
            trace_enabled[i] = on;
            n++;
        }
    }
    return n;
}

void trace_print_events(void)
{
    printf("Trace events (-trace PATTERN, a glob such as 'e1000_*' or '*'):\n");
    for (int i = 0; i < TRACE_N; i++)
        printf("  %-22s %s\n", event_names[i], event_descs[i]);
}

int trace_set_file(const char *path, Error *err)
{
    trace_start_clock();
    if (!path) {
        if (trace_fd != STDERR_FILENO)
            close(trace_fd);
        trace_fd = STDERR_FILENO;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_setf(err, "-trace: cannot open '%s': %s", path, strerror(errno));
    if (trace_fd != STDERR_FILENO)
        close(trace_fd);
    trace_fd = fd;
    return 0;
}

/* One pattern, "-PATTERN" disables. A pattern that names nothing is an
 * error: a typo would otherwise silently trace nothing. */
static int apply_pattern(const char *pat, Error *err)
{
    bool on = true;
    if (pat[0] == '-') {
        on = false;
        pat++;
    }
    if (!*pat)
        return error_setf(err, "-trace: empty pattern");
    if (trace_set_pattern(pat, on) == 0)
        return error_setf(err, "-trace: no trace event matches '%s' (-trace help lists them)", pat);
    return 0;
}

/* events=FILE: one pattern per line; '#' starts a comment. */
static int apply_events_file(const char *path, Error *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return error_setf(err, "-trace: cannot open events file '%s': %s", path, strerror(errno));
    char line[256];
    int ret = 0;
    while (ret == 0 && fgets(line, sizeof(line), f)) {
        char *p = line + strspn(line, " \t");
        p[strcspn(p, "#\r\n")] = '\0';
        size_t n = strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            p[--n] = '\0';
        if (*p)
            ret = apply_pattern(p, err);
    }
    fclose(f);
    return ret;
}

int trace_parse_opt(const char *arg, Error *err)
{
    if (!strcmp(arg, "help") || !strcmp(arg, "?")) {
        trace_print_events();
        return 1;
    }
    char copy[1024];
    if (strlen(arg) >= sizeof(copy))
        return error_setf(err, "-trace: argument too long");
    strcpy(copy, arg);
    char *save = NULL;
    bool first = true;
    for (char *kv = strtok_r(copy, ",", &save); kv;
         kv = strtok_r(NULL, ",", &save), first = false) {
        int r;
        if (!strncmp(kv, "enable=", 7))
            r = apply_pattern(kv + 7, err);
        else if (!strncmp(kv, "events=", 7))
            r = apply_events_file(kv + 7, err);
        else if (!strncmp(kv, "file=", 5))
            r = trace_set_file(kv + 5, err);
        else if (first && !strchr(kv, '='))
            r = apply_pattern(kv, err);
        else
            r = error_setf(err, "-trace: unknown option '%s' (enable=, events=, file=)", kv);
        if (r < 0)
            return -1;
    }
    return 0;
}

static const char *current_thread_name(void)
{
    if (!thread_name[0]) {
        if (syscall(SYS_gettid) == getpid())
            strcpy(thread_name, "main");
        else if (pthread_getname_np(pthread_self(), thread_name, sizeof(thread_name)) != 0 ||
                 !thread_name[0])
            strcpy(thread_name, "thread");
    }
    return thread_name;
}

void trace_emit(TraceEvent ev, const char *fmt, ...)
{
    char line[1024];
    int64_t t = now_ns() - start_ns;
    if (t < 0)
        t = 0;
    int n = snprintf(line, sizeof(line), "%lld.%09lld %s %s ", (long long)(t / 1000000000LL),
                     (long long)(t % 1000000000LL), current_thread_name(), trace_event_name(ev));
    if (n < 0 || (size_t)n >= sizeof(line) - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = sizeof(line) - 2; /* truncated */
    line[n++] = '\n';
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = write(trace_fd, line + off, (size_t)n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* tracing never stops the VM */
        off += (size_t)w;
    }
}
