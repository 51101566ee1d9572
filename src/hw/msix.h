/* MSI-X (PCI Local Bus Specification 3.0, section 6.8.2): a capability in
 * configuration space, a table of vectors (message address, data, vector
 * control) and a pending-bit array (PBA), both in a BAR of the device.
 *
 * A device signals vector v with msix_notify(). While the function is
 * masked (Message Control Function Mask) or the vector is (Vector Control
 * bit 0), the vector's pending bit is set instead and the message goes out
 * when the mask is cleared, as the specification asks. Delivery goes
 * through the bus's MSI router (hw/pci.h, PCIMsiRouter): in the VMM a KVM
 * GSI route with an irqfd per vector in use, set up when the guest unmasks
 * the vector and changed when it rewrites the vector's address or data.
 *
 * Everything the guest writes is checked: table and PBA accesses must be 4
 * or 8 bytes and inside the table (other accesses read 0, writes are
 * ignored), the PBA is read-only. Callers hold the device lock. */
#ifndef E1KVM_HW_MSIX_H
#define E1KVM_HW_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/pci.h"
#include "util/error.h"

/* at most this many vectors per function (the specification allows 2048) */
#define MSIX_MAX_VECTORS 64
#define MSIX_NO_VECTOR 0xffff /* virtio's VIRTIO_MSI_NO_VECTOR */

/* MSI-X with its table at offset 0 and its PBA at offset 0x800 of BAR bar,
 * a 4 KiB memory BAR of its own (as QEMU's msix_init_exclusive_bar), and the
 * capability linked into config space. nvectors 1..MSIX_MAX_VECTORS. Call
 * before pci_bus_add_device. */
int msix_init_exclusive_bar(PCIDevice *d, unsigned nvectors, int bar, Error *err);
/* Release the routes and the state (also on realize's error path). */
void msix_uninit(PCIDevice *d);
/* Device reset: every vector masked and cleared, the PBA empty, MSI-X
 * disabled in Message Control, the routes released. */
void msix_reset(PCIDevice *d);
/* Message Control's MSI-X Enable is set: the function uses MSI-X, not INTx. */
bool msix_enabled(const PCIDevice *d);
/* Number of vectors (0: no MSI-X). */
unsigned msix_nvectors(const PCIDevice *d);
/* Signal vector (>= msix_nvectors: ignored, as MSIX_NO_VECTOR is). Masked:
 * the pending bit is set; else the message is sent. */
void msix_notify(PCIDevice *d, unsigned vector);
/* Is the vector's pending bit set (tests, the virtio ISR fallback)? */
bool msix_is_pending(const PCIDevice *d, unsigned vector);

/* pci_config_write calls this after a write that may touch the MSI-X
 * capability (d->msix set): Enable and Function Mask take effect. */
void msix_config_written(PCIDevice *d, uint32_t addr, uint32_t val, int len);

/* Statistics for -stats and tests */
typedef struct MsixStats {
    uint64_t sent;       /* messages delivered */
    uint64_t pended;     /* notifies that found the vector masked */
    uint64_t routes_set; /* route add/update calls */
} MsixStats;
void msix_stats(const PCIDevice *d, MsixStats *out);

#endif
