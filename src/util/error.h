/* Error reporting shared by every layer: one message buffer filled by the
 * place that detects the problem, printed once by whoever gives up. */
#ifndef E1KVM_UTIL_ERROR_H
#define E1KVM_UTIL_ERROR_H

#include <stdarg.h>
#include <stdio.h>

typedef struct Error {
    char msg[512];
} Error;

/* Fill @err (may be NULL) with a formatted message; always returns -1 so
 * callers can write `return error_setf(err, ...)`. */
int error_setf(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "e1kvm: <msg>" on stderr and exit(1). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Print "e1kvm: <msg>" on stderr (a warning; the VM continues). */
void warn_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
