/* QMP internals for the unit tests: attach a connected fd as a client and
 * run its read handler directly (no main loop thread). */
#ifndef E1KVM_MONITOR_QMP_INT_H
#define E1KVM_MONITOR_QMP_INT_H

#include "core/vm.h"

typedef struct QmpClient QmpClient;

/* A client on an already connected fd (the greeting is sent at once). */
QmpClient *qmp_attach_fd(int fd, Vm *vm);
/* The fd read handler: reads what is there and answers it. */
void qmp_client_readable(void *opaque);
/* Is the client still connected (not closed after an error)? */
bool qmp_client_alive(const QmpClient *c);

#endif
