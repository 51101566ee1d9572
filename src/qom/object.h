/* The object model, small: types register themselves before main with
 * TYPE_REGISTER(); -device / -netdev option strings are parsed into typed
 * properties of a new instance; realize() attaches it to the machine.
 *
 *   static const Property e1000_props[] = {
 *       PROP_STR("netdev", E1000State, netdev_id, NULL, "backend id"),
 *       PROP_MAC("mac", E1000State, conf_mac, "MAC address"),
 *       PROP_END,
 *   };
 *   static const TypeInfo e1000_info = {
 *       .name = "e1000", .kind = TYPE_KIND_DEVICE, .bus = "PCI",
 *       .instance_size = sizeof(E1000State), .props = e1000_props,
 *       .realize = e1000_realize, .desc = "Intel 82540EM Gigabit Ethernet",
 *   };
 *   TYPE_REGISTER(e1000_info)
 *
 * Every instance struct starts with an Object (first member), so an
 * Object * converts to the instance type.
 */
#ifndef E1KVM_QOM_OBJECT_H
#define E1KVM_QOM_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct Machine Machine;
typedef struct TypeInfo TypeInfo;

typedef struct Object {
    const TypeInfo *type;
    char *id;            /* id= property, may be NULL */
    struct Object *next; /* in the machine's object list */
} Object;

typedef enum PropType {
    PROP_TYPE_STR,  /* char * (strdup'd) */
    PROP_TYPE_U32,  /* uint32_t, decimal or 0x hex */
    PROP_TYPE_BOOL, /* bool: on/off, yes/no, true/false, 1/0 */
    PROP_TYPE_MAC,  /* uint8_t[6] + bool "set" flag right after */
} PropType;

typedef struct Property {
    const char *name;
    PropType type;
    size_t offset;
    const char *defval; /* default as a string, or NULL */
    const char *desc;
} Property;

/* A MAC property stores the address and whether it was given. */
typedef struct MacProp {
    uint8_t a[6];
    bool set;
} MacProp;

/* a property table reads as one line per property */
// clang-format off
#define PROP_STR(n, T, f, def, d) {n, PROP_TYPE_STR, offsetof(T, f), def, d}
#define PROP_U32(n, T, f, def, d) {n, PROP_TYPE_U32, offsetof(T, f), def, d}
#define PROP_BOOL(n, T, f, def, d) {n, PROP_TYPE_BOOL, offsetof(T, f), def, d}
#define PROP_MAC(n, T, f, d) {n, PROP_TYPE_MAC, offsetof(T, f), NULL, d}
#define PROP_END {NULL, 0, 0, NULL, NULL}
// clang-format on

typedef enum TypeKind {
    TYPE_KIND_DEVICE, /* -device */
    TYPE_KIND_NETDEV, /* -netdev */
    TYPE_KIND_OBJECT, /* -object (filter-dump) */
} TypeKind;

struct TypeInfo {
    const char *name;
    TypeKind kind;
    const char *bus; /* "PCI" etc., for -device help */
    const char *desc;
    size_t instance_size; /* >= sizeof(Object) */
    const Property *props;
    /* The backend opens host sockets of its own while the guest runs
     * (-netdev user connects out for the guest): the seccomp filter of
     * -sandbox on must let socket/connect/bind through. A property of the
     * type so that main.c need not know backends by name. */
    bool needs_host_sockets;
    /* Attach the configured instance to the machine. */
    int (*realize)(Object *obj, Machine *m, Error *err);
    /* The machine resets (the guest rebooted): back to the power-on state
     * before the guest boots again, so that no device DMAs into the new
     * guest's memory through rings the old one set up. NULL: nothing. */
    void (*reset)(Object *obj);
};

void type_register(const TypeInfo *info);
const TypeInfo *type_find(const char *name, TypeKind kind);
/* Iterate registered types of one kind, sorted by name: NULL ends. */
const TypeInfo *type_next(const TypeInfo *prev, TypeKind kind);

/* Register @info (a static const TypeInfo) before main: one line at the end
 * of the file that defines the type. A constructor rather than a list in
 * main.c, so that adding a device or backend is adding its file to
 * meson.build and nothing else. */
#define TYPE_REGISTER(info)                                                                        \
    static void __attribute__((constructor)) type_register_##info(void)                            \
    {                                                                                              \
        type_register(&(info));                                                                    \
    }

/* Parse "TYPE,key=val,..." (for netdevs "TYPE,id=ID,...") into a new object
 * with defaults applied. NULL and err set on unknown type / property / bad
 * value. The type name comes first, as in QEMU. */
Object *object_new_from_opts(const char *opts, TypeKind kind, Error *err);
/* Set one property from a string. */
int object_set_prop(Object *obj, const char *name, const char *value, Error *err);
void object_free(Object *obj);

/* Print the list of types (-device help) or one type's properties
 * (-device TYPE,help) to stdout. */
void type_print_list(TypeKind kind);
int type_print_props(const char *name, TypeKind kind, Error *err);

/* Parsing helpers shared with the command line. */
int parse_mac(const char *s, uint8_t mac[6]);
int parse_bool(const char *s, bool *out);
int parse_u32(const char *s, uint32_t *out);
/* "256M", "1G", "512" (MiB when no suffix, as in QEMU's -m) -> bytes */
int parse_size_mib_default(const char *s, uint64_t *bytes);

#endif
