/* Virtio over PCI, the modern (virtio 1.x) interface only (Virtual I/O
 * Device (VIRTIO) Version 1.2, section 4.1), shared by the virtio devices of
 * src/hw/virtio/ (virtio_net.c).
 *
 * The transport owns what every virtio device has: feature negotiation
 * (device_feature/driver_feature in 32-bit halves, FEATURES_OK only for a
 * subset of what was offered that includes VIRTIO_F_VERSION_1 and that the
 * device's check accepts), the device status and reset, the virtqueues'
 * addresses and enables, the interrupt (MSI-X vectors per queue and for
 * config changes, or INTx with the ISR status byte), and the notify
 * addresses, each a doorbell of the VMM's doorbell service
 * (core/doorbell.h), so a queue kick does not leave KVM once its value is
 * known.
 *
 * BAR layout (BAR4, 16 KiB, 32-bit memory): common configuration at 0x0000,
 * ISR status at 0x1000, device configuration at 0x2000, notify at 0x3000
 * (queue q at 0x3000 + 4 q: notify_off_multiplier 4). BAR1: the MSI-X table
 * and PBA (hw/msix.h). Config space: the five virtio capabilities (common,
 * notify, ISR, device, and the PCI configuration access capability), MSI-X
 * and PCI power management.
 *
 * The legacy (0.9.5) I/O-port interface is not offered: a modern-only
 * device (PCI device ID 0x1040 + virtio ID, revision 1), as QEMU's
 * disable-legacy=on. Callers hold the device lock. */
#ifndef E1KVM_HW_VIRTIO_VIRTIO_PCI_H
#define E1KVM_HW_VIRTIO_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/doorbell.h"
#include "core/machine.h"
#include "hw/pci.h"
#include "hw/virtio/virtqueue.h"
#include "qom/object.h"
#include "util/error.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + virtio device ID: modern-only */
#define VIRTIO_PCI_SUBSYS_ID 0x1100   /* QEMU's subsystem ID, as drivers expect */
#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_CONFIG_MAX 64 /* bytes of device configuration */

/* BAR4 */
#define VIRTIO_PCI_BAR 4
#define VIRTIO_PCI_MSIX_BAR 1
#define VIRTIO_PCI_BAR_SIZE 0x4000
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_COMMON_LEN 0x0038 /* struct virtio_pci_common_cfg */
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_ISR_QUEUE 0x1 /* ISR bit 0 (4.1.4.5); bit 1 is VIRTIO_PCI_ISR_CONFIG */

typedef struct VirtioDevice VirtioDevice;

/* what a queue's doorbell (doorbell_add's opaque) names */
typedef struct VirtioDoorbellCtx {
    VirtioDevice *vd;
    unsigned q;
} VirtioDoorbellCtx;

/* What a device type gives the transport. */
typedef struct VirtioDeviceOps {
    uint16_t device_id;  /* VIRTIO_ID_NET, ... */
    uint32_t class_code; /* PCI class (0x020000: Ethernet controller) */
    /* the driver accepted these features and asks for FEATURES_OK: 0 to
     * accept (the device configures itself for them), -1 to refuse */
    int (*set_features)(VirtioDevice *vd, uint64_t features);
    /* the driver wrote the device configuration (bytes off.., already
     * stored in vd->config when writable per config_wmask) */
    void (*config_written)(VirtioDevice *vd, uint32_t off, unsigned len);
    /* queue q was notified (doorbell or exit) */
    void (*queue_notify)(VirtioDevice *vd, unsigned q);
    /* DRIVER_OK was set (the device may start) */
    void (*driver_ok)(VirtioDevice *vd);
    /* device reset (driver wrote status 0, or the VM resets): the
     * transport has reset its own part already */
    void (*reset)(VirtioDevice *vd);
} VirtioDeviceOps;

struct VirtioDevice {
    Object obj; /* first: the instance is an Object */
    PCIDevice pci;
    const VirtioDeviceOps *ops;
    const GuestMemory *ram;
    const char *name; /* for messages and trace lines */

    uint64_t host_features;  /* offered */
    uint64_t guest_features; /* accepted by the driver (driver_feature) */
    uint32_t device_feature_select, driver_feature_select;
    uint8_t status;
    uint8_t config_generation;
    uint16_t msix_config; /* vector for config changes */
    uint16_t queue_select;
    uint8_t isr; /* INTx: bit 0 queue, bit 1 config change; read clears */

    unsigned nqueues;
    VirtQueue vq[VIRTIO_MAX_QUEUES];
    uint16_t vq_vector[VIRTIO_MAX_QUEUES];

    uint8_t config[VIRTIO_CONFIG_MAX]; /* device configuration, little endian */
    uint8_t config_wmask[VIRTIO_CONFIG_MAX];
    uint32_t config_len;

    /* PCI configuration access capability: its offset in config space */
    int pci_cfg_cap;

    DoorbellGroup *db_group;
    Doorbell *db[VIRTIO_MAX_QUEUES];
    VirtioDoorbellCtx db_ctx[VIRTIO_MAX_QUEUES];

    /* statistics (-stats, tests) */
    uint64_t notifies, interrupts, config_interrupts;
};

/* Set up the PCI function (IDs, capabilities, BARs, MSI-X with nqueues + 1
 * vectors, doorbells when want_doorbells) and put it on the bus. vd->ops,
 * host_features, nqueues, the queues' num_max and the config image and its
 * length must be set before. */
int virtio_pci_realize(VirtioDevice *vd, Machine *m, bool want_doorbells, Error *err);
/* Release what realize took (doorbells, MSI-X). */
void virtio_pci_release(VirtioDevice *vd);
/* Device reset (status 0 written, or the VM resets). */
void virtio_reset(VirtioDevice *vd);

static inline bool virtio_has_feature(const VirtioDevice *vd, unsigned bit)
{
    return (vd->guest_features >> bit) & 1;
}
static inline bool virtio_driver_ok(const VirtioDevice *vd)
{
    return (vd->status & 4) && !(vd->status & 0x40); /* DRIVER_OK, not NEEDS_RESET */
}

/* Interrupt the driver for queue q if it wants one now (event index /
 * NO_INTERRUPT decide): MSI-X vector, or ISR bit 0 + INTx. */
void virtio_notify(VirtioDevice *vd, unsigned q);
/* The device configuration changed: generation + 1, config interrupt. */
void virtio_notify_config(VirtioDevice *vd);
/* A malformed ring or request: DEVICE_NEEDS_RESET set, the driver told by
 * a config interrupt, a one-line warning (once). The device stops using
 * its queues until reset. */
void virtio_set_needs_reset(VirtioDevice *vd, const char *why);

#endif
