/* Type registry and option-string parsing for -device / -netdev. */
#include "qom/object.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TYPES 64

static const TypeInfo *types[MAX_TYPES];
static int ntypes;

void type_register(const TypeInfo *info)
{
    /* runs from constructors before main: a full table is a build error */
    if (ntypes == MAX_TYPES) {
        fprintf(stderr, "e1kvm: too many types registered\n");
        abort();
    }
    types[ntypes++] = info;
}

/* "device", "netdev" or "object": the option without its dash */
static const char *kind_name(TypeKind kind)
{
    return kind == TYPE_KIND_DEVICE ? "device" : kind == TYPE_KIND_NETDEV ? "netdev" : "object";
}

const TypeInfo *type_find(const char *name, TypeKind kind)
{
    for (int i = 0; i < ntypes; i++)
        if (types[i]->kind == kind && strcmp(types[i]->name, name) == 0)
            return types[i];
    return NULL;
}

const TypeInfo *type_next(const TypeInfo *prev, TypeKind kind)
{
    /* the smallest name greater than prev's: sorted order without sorting */
    const TypeInfo *best = NULL;
    for (int i = 0; i < ntypes; i++) {
        const TypeInfo *t = types[i];
        if (t->kind != kind || (prev && strcmp(t->name, prev->name) <= 0))
            continue;
        if (!best || strcmp(t->name, best->name) < 0)
            best = t;
    }
    return best;
}

int parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"on", "yes", "true", "1"};
    static const char *no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    if (!*s || *s == '-' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    /* decimal, or hexadecimal with 0x (no octal: "08" is eight) */
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    unsigned long long v = strtoull(s, &end, hex ? 16 : 10);
    if (errno || *end || end == s || v > 0xffffffffULL)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
                                  &v[5], &tail) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        if (!isxdigit((unsigned char)s[i * 3]) || !isxdigit((unsigned char)s[i * 3 + 1]))
            return -1;
    if (v[0] & 1)
        return -1; /* a multicast address cannot be a station address */
    /* only a valid address reaches the caller's buffer */
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

int parse_size_mib_default(const char *s, uint64_t *bytes)
{
    char *end;
    if (!*s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift;
    switch (toupper((unsigned char)*end)) {
    case '\0':
    case 'M':
        shift = 20;
        break;
    case 'K':
        shift = 10;
        break;
    case 'G':
        shift = 30;
        break;
    case 'T':
        shift = 40;
        break;
    default:
        return -1;
    }
    if (*end && end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2]))
        return -1;
    if (v == 0 || v > (~0ULL >> shift))
        return -1;
    *bytes = (uint64_t)v << shift;
    return 0;
}

static const Property *find_prop(const TypeInfo *t, const char *name)
{
    for (const Property *p = t->props; p && p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

int object_set_prop(Object *obj, const char *name, const char *value, Error *err)
{
    const TypeInfo *t = obj->type;
    if (strcmp(name, "id") == 0) {
        if (!*value)
            return error_setf(err, "%s: id must not be empty", t->name);
        free(obj->id);
        obj->id = strdup(value);
        return 0;
    }
    const Property *p = find_prop(t, name);
    if (!p)
        return error_setf(err, "%s: unknown property '%s' (try -%s %s,help)", t->name, name,
                          kind_name(t->kind), t->name);
    char *field = (char *)obj + p->offset;
    switch (p->type) {
    case PROP_TYPE_STR: {
        char **sp = (char **)field;
        free(*sp);
        *sp = strdup(value);
        return 0;
    }
    case PROP_TYPE_U32:
        if (parse_u32(value, (uint32_t *)field) < 0)
            return error_setf(err, "%s: property '%s' expects a number, not '%s'", t->name, name,
                              value);
        return 0;
    case PROP_TYPE_BOOL:
        if (parse_bool(value, (bool *)field) < 0)
            return error_setf(err, "%s: property '%s' expects on or off, not '%s'", t->name, name,
                              value);
        return 0;
    case PROP_TYPE_MAC: {
        MacProp *m = (MacProp *)field;
        if (parse_mac(value, m->a) < 0)
            return error_setf(err,
                              "%s: property '%s' expects a unicast MAC like 52:54:00:12:34:56, "
                              "not '%s'",
                              t->name, name, value);
        m->set = true;
        return 0;
    }
    }
    return error_setf(err, "%s: bad property type", t->name);
}

void object_free(Object *obj)
{
    if (!obj)
        return;
    for (const Property *p = obj->type->props; p && p->name; p++)
        if (p->type == PROP_TYPE_STR)
            free(*(char **)((char *)obj + p->offset));
    free(obj->id);
    free(obj);
}

Object *object_new_from_opts(const char *opts, TypeKind kind, Error *err)
{
    const char *what = kind_name(kind);
    char *copy = strdup(opts);
    if (!copy) {
        error_setf(err, "out of memory");
        return NULL;
    }
    char *save = NULL;
    char *tname = strtok_r(copy, ",", &save);
    if (!tname || !*tname || strchr(tname, '=')) {
        error_setf(err, "-%s '%s': the type must come first (try -%s help)", what, opts, what);
        free(copy);
        return NULL;
    }
    const TypeInfo *t = type_find(tname, kind);
    if (!t) {
        error_setf(err, "-%s: unknown %s type '%s' (try -%s help)", what, what, tname, what);
        free(copy);
        return NULL;
    }
    Object *obj = calloc(1, t->instance_size);
    if (!obj) {
        error_setf(err, "out of memory");
        free(copy);
        return NULL;
    }
    obj->type = t;
    for (const Property *p = t->props; p && p->name; p++) {
        if (p->defval && object_set_prop(obj, p->name, p->defval, err) < 0)
            goto fail;
    }
    for (char *kv = strtok_r(NULL, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            error_setf(err, "-%s %s: expected key=value, got '%s'", what, t->name, kv);
            goto fail;
        }
        *eq = '\0';
        if (object_set_prop(obj, kv, eq + 1, err) < 0)
            goto fail;
    }
    free(copy);
    return obj;
fail:
    free(copy);
    object_free(obj);
    return NULL;
}

static const char *prop_type_name(PropType t)
{
    switch (t) {
    case PROP_TYPE_STR:
        return "str";
    case PROP_TYPE_U32:
        return "uint32";
    case PROP_TYPE_BOOL:
        return "bool";
    case PROP_TYPE_MAC:
        return "macaddr";
    }
    return "?";
}

void type_print_list(TypeKind kind)
{
    printf("Available %s types:\n", kind_name(kind));
    for (const TypeInfo *t = type_next(NULL, kind); t; t = type_next(t, kind)) {
        if (t->bus)
            printf("name \"%s\", bus %s, desc \"%s\"\n", t->name, t->bus, t->desc);
        else
            printf("name \"%s\", desc \"%s\"\n", t->name, t->desc);
    }
}

int type_print_props(const char *name, TypeKind kind, Error *err)
{
    const TypeInfo *t = type_find(name, kind);
    if (!t)
        return error_setf(err, "-%s: unknown %s type '%s' (try -%s help)", kind_name(kind),
                          kind_name(kind), name, kind_name(kind));
    printf("%s options:\n", t->name);
    printf("  %-12s %-10s - %s\n", "id", "<str>", "object id");
    for (const Property *p = t->props; p && p->name; p++) {
        char tn[16];
        snprintf(tn, sizeof(tn), "<%s>", prop_type_name(p->type));
        printf("  %-12s %-10s - %s", p->name, tn, p->desc ? p->desc : "");
        if (p->defval)
            printf(" (default: %s)", p->defval);
        printf("\n");
    }
    return 0;
}
