/* tap backend internals: the fd handlers and their state, for the unit
 * tests (which run the handlers directly instead of the loop thread). Not
 * for other code: frontends only see the NetClient. */
#ifndef E1KVM_NET_TAP_INT_H
#define E1KVM_NET_TAP_INT_H

#include <stdbool.h>

#include "net/net.h"

/* The fd read handler (tapN → peer) and write handler (queued peer → tapN);
 * opaque is nc->opaque of the tap backend. */
void tap_send(void *opaque);
void tap_writable(void *opaque);

/* -1 if nc is not a tap backend. */
int tap_fd(NetClient *nc);
/* Is the backend watching its fd for readability / writability? */
bool tap_read_polling(NetClient *nc);
bool tap_write_polling(NetClient *nc);

#endif
