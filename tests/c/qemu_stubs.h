/*
 * Small stand-ins for the QEMU types and functions the generated code uses,
 * so the tests can compile and run it without a QEMU tree.  Each mirrors
 * the QEMU declaration it replaces (include/hw/qdev-core.h, qapi/error.h,
 * target/arm/cpu.h).
 */
#ifndef QEMU_STUBS_H
#define QEMU_STUBS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G_N_ELEMENTS(arr) (sizeof(arr) / sizeof((arr)[0]))
#define TYPE_ARM_CPU "arm-cpu"

typedef struct GlobalProperty {
    const char *driver;
    const char *property;
    const char *value;
    bool used;
    bool optional;
} GlobalProperty;

/* QEMU keeps a GPtrArray; a fixed array is enough here. */
typedef struct CompatProps {
    GlobalProperty *rows[256];
    size_t len;
} CompatProps;

typedef struct MachineClass {
    CompatProps *compat_props;
} MachineClass;

static inline void compat_props_add(CompatProps *props, GlobalProperty *table,
                                    size_t len)
{
    for (size_t i = 0; i < len; i++) {
        props->rows[props->len++] = &table[i];
    }
}

typedef struct Error {
    char msg[1024];
} Error;

static inline void error_setg(Error **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void error_setg(Error **errp, const char *fmt, ...)
{
    va_list ap;

    *errp = calloc(1, sizeof(Error));
    va_start(ap, fmt);
    vsnprintf((*errp)->msg, sizeof((*errp)->msg), fmt, ap);
    va_end(ap);
}

#endif
