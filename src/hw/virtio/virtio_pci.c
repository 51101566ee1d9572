/* Virtio over PCI, modern interface (virtio_pci.h has the layout). Section
 * numbers refer to the Virtual I/O Device (VIRTIO) Version 1.2
 * specification. */
#include "hw/virtio/virtio_pci.h"

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "hw/msix.h"
#include "trace/stats.h"
#include "trace/trace.h"

static inline void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
static inline uint32_t get_le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ------------------------------------------------------------------------ */
/* Interrupts (4.1.4.5 ISR status, 4.1.5.1.2 MSI-X vector configuration)    */

static void virtio_raise(VirtioDevice *vd, uint16_t vector, uint8_t isr_bit)
{
    if (msix_enabled(&vd->pci)) {
        msix_notify(&vd->pci, vector); /* NO_VECTOR: ignored, as the driver asked */
        return;
    }
    vd->isr |= isr_bit;
    pci_set_irq(&vd->pci, 1);
}

void virtio_notify(VirtioDevice *vd, unsigned q)
{
    if (q >= vd->nqueues || !virtqueue_should_notify(&vd->vq[q])) {
        return;
    }
    vd->interrupts++;
    TRACE(virtio_irq, "%s: queue %u: interrupt (%s)", vd->name, q,
          msix_enabled(&vd->pci) ? "MSI-X" : "INTx");
    virtio_raise(vd, vd->vq_vector[q], VIRTIO_PCI_ISR_QUEUE);
}

void virtio_notify_config(VirtioDevice *vd)
{
    vd->config_generation++;
    if (!(vd->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
        return; /* 2.1.2: no config interrupt before DRIVER_OK */
    }
    vd->config_interrupts++;
    TRACE(virtio_irq, "%s: configuration change interrupt", vd->name);
    virtio_raise(vd, vd->msix_config, VIRTIO_PCI_ISR_CONFIG);
}

void virtio_set_needs_reset(VirtioDevice *vd, const char *why)
{
    if (vd->status & VIRTIO_CONFIG_S_NEEDS_RESET) {
        return;
    }
    warn_report("%s: the driver broke the device (%s): DEVICE_NEEDS_RESET", vd->name, why);
    vd->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    /* 2.1.2: a device that sets NEEDS_RESET after DRIVER_OK sends a
     * configuration change notification */
    if (vd->status & VIRTIO_CONFIG_S_DRIVER_OK) {
        vd->config_interrupts++;
        virtio_raise(vd, vd->msix_config, VIRTIO_PCI_ISR_CONFIG);
    }
}

/* ------------------------------------------------------------------------ */
/* Reset and feature negotiation (2.1, 3.1.1)                               */

void virtio_reset(VirtioDevice *vd)
{
    vd->status = 0;
    vd->guest_features = 0;
    vd->device_feature_select = vd->driver_feature_select = 0;
    vd->queue_select = 0;
    vd->msix_config = MSIX_NO_VECTOR;
    vd->isr = 0;
    for (unsigned q = 0; q < vd->nqueues; q++) {
        virtqueue_reset(&vd->vq[q]);
        vd->vq_vector[q] = MSIX_NO_VECTOR;
    }
    pci_set_irq(&vd->pci, 0);
    if (vd->ops->reset) {
        vd->ops->reset(vd);
    }
}

/* Bits of the features a device may offer and a driver accept that this
 * transport understands: the ring features and VERSION_1. */
static bool virtio_features_ok(VirtioDevice *vd, uint64_t f, const char **why)
{
    if (f & ~vd->host_features) {
        *why = "features the device did not offer";
        return false;
    }
    if (!(f & (1ull << VIRTIO_F_VERSION_1))) {
        *why = "no VIRTIO_F_VERSION_1 (a legacy driver)";
        return false;
    }
    if (vd->ops->set_features && vd->ops->set_features(vd, f) < 0) {
        *why = "a combination the device refuses";
        return false;
    }
    return true;
}

static void virtio_set_status(VirtioDevice *vd, uint8_t val)
{
    uint8_t old = vd->status;
    if (val == 0) {
        TRACE(virtio_status, "%s: reset by the driver", vd->name);
        virtio_reset(vd);
        return;
    }
    /* NEEDS_RESET is the device's; the driver cannot clear it or set it */
    val = (uint8_t)((val & ~VIRTIO_CONFIG_S_NEEDS_RESET) | (old & VIRTIO_CONFIG_S_NEEDS_RESET));
    if ((val & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
        const char *why = NULL;
        if (!virtio_features_ok(vd, vd->guest_features, &why)) {
            /* 3.1.1 step 6: the driver reads FEATURES_OK back and gives up */
            TRACE(virtio_status, "%s: FEATURES_OK refused for %#llx: %s", vd->name,
                  (unsigned long long)vd->guest_features, why);
            val &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
        } else {
            for (unsigned q = 0; q < vd->nqueues; q++) {
                vd->vq[q].event_idx = virtio_has_feature(vd, VIRTIO_RING_F_EVENT_IDX);
                vd->vq[q].indirect = virtio_has_feature(vd, VIRTIO_RING_F_INDIRECT_DESC);
            }
        }
    }
    if ((val & VIRTIO_CONFIG_S_DRIVER_OK) && !(val & VIRTIO_CONFIG_S_FEATURES_OK)) {
        /* DRIVER_OK without negotiated features: the device cannot work */
        val &= (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK;
        vd->status = val;
        virtio_set_needs_reset(vd, "DRIVER_OK without FEATURES_OK");
        return;
    }
    vd->status = val;
    TRACE(virtio_status, "%s: status %#x -> %#x", vd->name, old, val);
    if ((val & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK) &&
        vd->ops->driver_ok) {
        vd->ops->driver_ok(vd);
    }
}

/* ------------------------------------------------------------------------ */
/* Common configuration (4.1.4.3)                                           */

static VirtQueue *selected_vq(VirtioDevice *vd)
{
    return vd->queue_select < vd->nqueues ? &vd->vq[vd->queue_select] : NULL;
}

/* The structure as the driver reads it now, little endian. */
static void common_image(VirtioDevice *vd, uint8_t img[VIRTIO_PCI_COMMON_LEN])
{
    memset(img, 0, VIRTIO_PCI_COMMON_LEN);
    uint32_t sel = vd->device_feature_select;
    put_le32(img + offsetof(struct virtio_pci_common_cfg, device_feature_select), sel);
    put_le32(img + offsetof(struct virtio_pci_common_cfg, device_feature),
             sel < 2 ? (uint32_t)(vd->host_features >> (32 * sel)) : 0);
    sel = vd->driver_feature_select;
    put_le32(img + offsetof(struct virtio_pci_common_cfg, guest_feature_select), sel);
    put_le32(img + offsetof(struct virtio_pci_common_cfg, guest_feature),
             sel < 2 ? (uint32_t)(vd->guest_features >> (32 * sel)) : 0);
    put_le16(img + offsetof(struct virtio_pci_common_cfg, msix_config), vd->msix_config);
    put_le16(img + offsetof(struct virtio_pci_common_cfg, num_queues), (uint16_t)vd->nqueues);
    img[offsetof(struct virtio_pci_common_cfg, device_status)] = vd->status;
    img[offsetof(struct virtio_pci_common_cfg, config_generation)] = vd->config_generation;
    put_le16(img + offsetof(struct virtio_pci_common_cfg, queue_select), vd->queue_select);
    VirtQueue *vq = selected_vq(vd);
    if (!vq) {
        return; /* 4.1.4.3.1: a queue that does not exist reads size 0 */
    }
    unsigned q = vd->queue_select;
    put_le16(img + offsetof(struct virtio_pci_common_cfg, queue_size), vq->num);
    put_le16(img + offsetof(struct virtio_pci_common_cfg, queue_msix_vector), vd->vq_vector[q]);
    put_le16(img + offsetof(struct virtio_pci_common_cfg, queue_enable), vq->enabled);
    put_le16(img + offsetof(struct virtio_pci_common_cfg, queue_notify_off), (uint16_t)q);
    put_le32(img + offsetof(struct virtio_pci_common_cfg, queue_desc_lo), (uint32_t)vq->desc_gpa);
    put_le32(img + offsetof(struct virtio_pci_common_cfg, queue_desc_hi),
             (uint32_t)(vq->desc_gpa >> 32));
    put_le32(img + offsetof(struct virtio_pci_common_cfg, queue_avail_lo), (uint32_t)vq->avail_gpa);
    put_le32(img + offsetof(struct virtio_pci_common_cfg, queue_avail_hi),
             (uint32_t)(vq->avail_gpa >> 32));
    put_le32(img + offsetof(struct virtio_pci_common_cfg, queue_used_lo), (uint32_t)vq->used_gpa);
    put_le32(img + offsetof(struct virtio_pci_common_cfg, queue_used_hi),
             (uint32_t)(vq->used_gpa >> 32));
}

static uint64_t common_read(VirtioDevice *vd, uint64_t off, unsigned size)
{
    uint8_t img[VIRTIO_PCI_COMMON_LEN];
    if (off >= VIRTIO_PCI_COMMON_LEN || off + size > VIRTIO_PCI_COMMON_LEN) {
        return 0;
    }
    common_image(vd, img);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        v |= (uint64_t)img[off + i] << (8 * i);
    }
    return v;
}

/* A vector the driver asks for: kept if the function has it, else
 * NO_VECTOR, which the driver reads back as "refused" (4.1.5.1.2). */
static uint16_t vector_or_none(VirtioDevice *vd, uint16_t v)
{
    return v < msix_nvectors(&vd->pci) ? v : MSIX_NO_VECTOR;
}

/* Set the 32-bit half (hi) of a 64-bit queue address. */
static void set_half(uint64_t *a, bool hi, uint32_t v)
{
    *a = hi ? ((*a & 0xffffffffull) | (uint64_t)v << 32) : ((*a & ~0xffffffffull) | v);
}

static void queue_enable(VirtioDevice *vd, unsigned q)
{
    VirtQueue *vq = &vd->vq[q];
    if (vq->enabled) {
        return;
    }
    if (virtqueue_start(vq, vd->ram) < 0) {
        char why[160];
        snprintf(why, sizeof(why), "queue %u: %s", q, vq->broken_why);
        virtio_set_needs_reset(vd, why);
        return;
    }
    vq->enabled = true;
    TRACE(virtio_status, "%s: queue %u enabled: %u entries, desc %#llx avail %#llx used %#llx",
          vd->name, q, vq->num, (unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
          (unsigned long long)vq->used_gpa);
}

static void common_write(VirtioDevice *vd, uint64_t off, uint32_t v, unsigned size)
{
    VirtQueue *vq = selected_vq(vd);
    /* 4.1.3.1: the driver accesses each field with its own width; the
     * 64-bit queue addresses as two 32-bit halves. Anything else (a byte
     * into the middle of a field, a write to a read-only field) is ignored. */
#define FIELD(f, w) (off == offsetof(struct virtio_pci_common_cfg, f) && size == (w))
    if (FIELD(device_feature_select, 4)) {
        vd->device_feature_select = v;
    } else if (FIELD(guest_feature_select, 4)) {
        vd->driver_feature_select = v;
    } else if (FIELD(guest_feature, 4)) {
        /* features are fixed once FEATURES_OK was accepted (3.1.1) */
        if (vd->driver_feature_select < 2 && !(vd->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
            unsigned sh = 32 * vd->driver_feature_select;
            vd->guest_features = (vd->guest_features & ~(0xffffffffull << sh)) | (uint64_t)v << sh;
        }
    } else if (FIELD(msix_config, 2)) {
        vd->msix_config = vector_or_none(vd, (uint16_t)v);
    } else if (FIELD(device_status, 1)) {
        virtio_set_status(vd, (uint8_t)v);
    } else if (FIELD(queue_select, 2)) {
        vd->queue_select = (uint16_t)v;
    } else if (!vq) {
        return; /* the per-queue fields of a queue that does not exist */
    } else if (FIELD(queue_msix_vector, 2)) {
        vd->vq_vector[vd->queue_select] = vector_or_none(vd, (uint16_t)v);
    } else if (vq->enabled) {
        return; /* 4.1.4.3.2: size and addresses are fixed while enabled */
    } else if (FIELD(queue_size, 2)) {
        vq->num = (uint16_t)v; /* checked when enabled */
    } else if (FIELD(queue_enable, 2)) {
        if (v == 1) {
            queue_enable(vd, vd->queue_select);
        }
    } else if (FIELD(queue_desc_lo, 4) || FIELD(queue_desc_hi, 4)) {
        set_half(&vq->desc_gpa, off == offsetof(struct virtio_pci_common_cfg, queue_desc_hi), v);
    } else if (FIELD(queue_avail_lo, 4) || FIELD(queue_avail_hi, 4)) {
        set_half(&vq->avail_gpa, off == offsetof(struct virtio_pci_common_cfg, queue_avail_hi), v);
    } else if (FIELD(queue_used_lo, 4) || FIELD(queue_used_hi, 4)) {
        set_half(&vq->used_gpa, off == offsetof(struct virtio_pci_common_cfg, queue_used_hi), v);
    }
#undef FIELD
}

/* ------------------------------------------------------------------------ */
/* BAR4: common, ISR, device configuration, notify                          */

static void virtio_queue_kick(VirtioDevice *vd, unsigned q)
{
    if (q >= vd->nqueues) {
        return;
    }
    vd->notifies++;
    TRACE(virtio_notify, "%s: queue %u notified", vd->name, q);
    if (vd->vq[q].enabled && virtio_driver_ok(vd) && vd->ops->queue_notify) {
        vd->ops->queue_notify(vd, q);
    }
}

static uint64_t virtio_bar_read(void *opaque, uint64_t off, unsigned size)
{
    VirtioDevice *vd = opaque;
    doorbell_group_take(vd->db_group);
    if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN) {
        return common_read(vd, off - VIRTIO_PCI_COMMON_OFF, size);
    }
    if (off == VIRTIO_PCI_ISR_OFF) {
        /* 4.1.4.5: reading clears the status and de-asserts INTx */
        uint8_t isr = vd->isr;
        vd->isr = 0;
        pci_set_irq(&vd->pci, 0);
        return isr;
    }
    if (off >= VIRTIO_PCI_DEVICE_OFF && off + size <= VIRTIO_PCI_DEVICE_OFF + vd->config_len) {
        uint64_t v = 0;
        for (unsigned i = 0; i < size; i++) {
            v |= (uint64_t)vd->config[off - VIRTIO_PCI_DEVICE_OFF + i] << (8 * i);
        }
        return v;
    }
    return 0; /* reserved, and the notify area (write-only) */
}

static void virtio_bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    VirtioDevice *vd = opaque;
    doorbell_group_take(vd->db_group);
    if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN) {
        common_write(vd, off - VIRTIO_PCI_COMMON_OFF, (uint32_t)val, size);
    } else if (off >= VIRTIO_PCI_DEVICE_OFF &&
               off + size <= VIRTIO_PCI_DEVICE_OFF + vd->config_len) {
        uint32_t o = (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF);
        for (unsigned i = 0; i < size; i++) {
            uint8_t m = vd->config_wmask[o + i];
            vd->config[o + i] = (uint8_t)((vd->config[o + i] & ~m) | ((val >> (8 * i)) & m));
        }
        if (vd->ops->config_written) {
            vd->ops->config_written(vd, o, size);
        }
    } else if (off >= VIRTIO_PCI_NOTIFY_OFF && (off - VIRTIO_PCI_NOTIFY_OFF) % 4 == 0 &&
               (size == 2 || size == 4)) {
        /* the address names the queue (queue_notify_off = q); the value
         * written is the queue index too (4.1.4.4), but the address is
         * what the doorbells see, so it is what counts here as well */
        virtio_queue_kick(vd, (unsigned)((off - VIRTIO_PCI_NOTIFY_OFF) / 4));
    }
}

static const MemoryRegionOps virtio_bar_ops = {
    .read = virtio_bar_read,
    .write = virtio_bar_write,
    .min_access_size = 1,
    .max_access_size = 4,
};

static const char *virtio_bar_name(uint64_t off, char *buf, size_t len)
{
    static const struct {
        uint32_t off;
        const char *name;
    } common[] = {
        {0, "device_feature_select"}, {4, "device_feature"},   {8, "driver_feature_select"},
        {12, "driver_feature"},       {16, "msix_config"},     {18, "num_queues"},
        {20, "device_status"},        {21, "config_gen"},      {22, "queue_select"},
        {24, "queue_size"},           {26, "queue_msix"},      {28, "queue_enable"},
        {30, "queue_notify_off"},     {32, "queue_desc"},      {36, "queue_desc_hi"},
        {40, "queue_driver"},         {44, "queue_driver_hi"}, {48, "queue_device"},
        {52, "queue_device_hi"},
    };
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
        if (off == common[i].off) {
            return common[i].name;
        }
    }
    if (off == VIRTIO_PCI_ISR_OFF) {
        return "ISR";
    }
    if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_NOTIFY_OFF) {
        snprintf(buf, len, "config+%#llx", (unsigned long long)(off - VIRTIO_PCI_DEVICE_OFF));
        return buf;
    }
    if (off >= VIRTIO_PCI_NOTIFY_OFF) {
        snprintf(buf, len, "notify[%llu]", (unsigned long long)((off - VIRTIO_PCI_NOTIFY_OFF) / 4));
        return buf;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Doorbells: the notify addresses (4.1.4.4)                                */

static void virtio_db_rang(void *opaque, const uint32_t *values, unsigned n)
{
    VirtioDoorbellCtx *c = opaque;
    (void)values;
    (void)n; /* one value per queue: the queue's index */
    virtio_queue_kick(c->vd, c->q);
}

/* A notify write that exited: the write op kicked the queue already, and
 * the only value worth an eventfd was learnt at realize. */
static void virtio_db_exited(void *opaque, uint32_t value)
{
    (void)opaque;
    (void)value;
}

static const DoorbellOps virtio_db_ops = {.rang = virtio_db_rang, .exited = virtio_db_exited};

static void virtio_add_doorbells(VirtioDevice *vd)
{
    vd->db_group = doorbell_group_new();
    if (!vd->db_group) {
        return; /* out of fds: the notifies exit */
    }
    MemoryRegion *mr = &vd->pci.bar[VIRTIO_PCI_BAR].region;
    for (unsigned q = 0; q < vd->nqueues; q++) {
        VirtioDoorbellCtx *c = &vd->db_ctx[q];
        *c = (VirtioDoorbellCtx){vd, q};
        /* Linux writes the queue index as 16 bits (iowrite16) */
        vd->db[q] =
            doorbell_add(vd->db_group, mr, VIRTIO_PCI_NOTIFY_OFF + 4 * q, 2, 1, &virtio_db_ops, c);
        if (vd->db[q]) {
            doorbell_learn(vd->db[q], q);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Capabilities (4.1.4)                                                     */

static int virtio_add_cap(VirtioDevice *vd, uint8_t type, uint32_t off, uint32_t len,
                          uint8_t cap_len)
{
    int c = pci_add_capability(&vd->pci, PCI_CAP_ID_VNDR, cap_len);
    if (c < 0) {
        return -1;
    }
    uint8_t *p = &vd->pci.config[c];
    p[VIRTIO_PCI_CAP_LEN] = cap_len;
    p[VIRTIO_PCI_CAP_CFG_TYPE] = type;
    p[VIRTIO_PCI_CAP_BAR] = VIRTIO_PCI_BAR;
    put_le32(p + VIRTIO_PCI_CAP_OFFSET, off);
    put_le32(p + VIRTIO_PCI_CAP_LENGTH, len);
    return c;
}

/* The PCI configuration access capability (4.1.4.9): a window onto the
 * BARs through config space, for drivers that cannot map them. The driver
 * writes bar, offset and length into the capability, then reads or writes
 * pci_cfg_data. */
static void virtio_pci_cfg_access(VirtioDevice *vd, bool write)
{
    uint8_t *p = &vd->pci.config[vd->pci_cfg_cap];
    uint32_t off = get_le32(p + VIRTIO_PCI_CAP_OFFSET);
    uint32_t len = get_le32(p + VIRTIO_PCI_CAP_LENGTH);
    uint8_t *data = p + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
    /* 4.1.4.9.1: length 1, 2 or 4, offset aligned to it, inside the BAR */
    if (p[VIRTIO_PCI_CAP_BAR] != VIRTIO_PCI_BAR || (len != 1 && len != 2 && len != 4) ||
        off % len || off > VIRTIO_PCI_BAR_SIZE - len) {
        return;
    }
    if (write) {
        virtio_bar_write(vd, off, get_le32(data) & (len == 4 ? 0xffffffffu : (1u << 8 * len) - 1),
                         len);
    } else {
        put_le32(data, (uint32_t)virtio_bar_read(vd, off, len));
    }
}

static void virtio_config_written(PCIDevice *d, uint32_t addr, uint32_t val, int len)
{
    VirtioDevice *vd = (VirtioDevice *)((char *)d - offsetof(VirtioDevice, pci));
    (void)val;
    uint32_t data = (uint32_t)vd->pci_cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
    if (vd->pci_cfg_cap > 0 && addr < data + 4 && addr + (uint32_t)len > data) {
        virtio_pci_cfg_access(vd, true);
    }
}

static void virtio_config_read(PCIDevice *d, uint32_t addr, int len)
{
    VirtioDevice *vd = (VirtioDevice *)((char *)d - offsetof(VirtioDevice, pci));
    uint32_t data = (uint32_t)vd->pci_cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
    if (vd->pci_cfg_cap > 0 && addr < data + 4 && addr + (uint32_t)len > data) {
        virtio_pci_cfg_access(vd, false);
    }
}

static int virtio_add_caps(VirtioDevice *vd)
{
    /* added in reverse: each goes to the head of the list, so the driver
     * walks common, notify, ISR, device, PCI access, MSI-X, PM */
    int c = pci_add_pm_capability(&vd->pci);
    if (c < 0) {
        return -1;
    }
    c = virtio_add_cap(vd, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, sizeof(struct virtio_pci_cfg_cap));
    if (c < 0) {
        return -1;
    }
    vd->pci_cfg_cap = c;
    /* bar, offset, length and the data window are the driver's to write */
    vd->pci.wmask[c + VIRTIO_PCI_CAP_BAR] = 0xff;
    memset(&vd->pci.wmask[c + VIRTIO_PCI_CAP_OFFSET], 0xff, 8);
    memset(&vd->pci.wmask[c + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)], 0xff, 4);
    if (virtio_add_cap(vd, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF, vd->config_len,
                       sizeof(struct virtio_pci_cap)) < 0 ||
        virtio_add_cap(vd, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1,
                       sizeof(struct virtio_pci_cap)) < 0) {
        return -1;
    }
    c = virtio_add_cap(vd, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
                       VIRTIO_PCI_NOTIFY_MULT * vd->nqueues, sizeof(struct virtio_pci_notify_cap));
    if (c < 0) {
        return -1;
    }
    put_le32(&vd->pci.config[c + offsetof(struct virtio_pci_notify_cap, notify_off_multiplier)],
             VIRTIO_PCI_NOTIFY_MULT);
    if (virtio_add_cap(vd, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN,
                       sizeof(struct virtio_pci_cap)) < 0) {
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Realize                                                                  */

void virtio_pci_release(VirtioDevice *vd)
{
    doorbell_group_free(vd->db_group);
    vd->db_group = NULL;
    memset(vd->db, 0, sizeof(vd->db));
    msix_uninit(&vd->pci);
}

int virtio_pci_realize(VirtioDevice *vd, Machine *m, bool want_doorbells, Error *err)
{
    vd->ram = &m->ram;
    vd->host_features |= 1ull << VIRTIO_F_VERSION_1;
    pci_device_init(&vd->pci, vd->name, VIRTIO_PCI_VENDOR,
                    (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vd->ops->device_id), VIRTIO_PCI_VENDOR,
                    VIRTIO_PCI_SUBSYS_ID, vd->ops->class_code, 1);
    pci_register_bar(&vd->pci, VIRTIO_PCI_BAR, VIRTIO_PCI_BAR_SIZE, false, &virtio_bar_ops, vd,
                     "virtio-pci");
    exitstats_set_namer(&vd->pci.bar[VIRTIO_PCI_BAR].region, virtio_bar_name);
    if (msix_init_exclusive_bar(&vd->pci, vd->nqueues + 1, VIRTIO_PCI_MSIX_BAR, err) < 0) {
        return -1;
    }
    if (virtio_add_caps(vd) < 0) {
        msix_uninit(&vd->pci);
        return error_setf(err, "%s: no room for the capabilities in config space", vd->name);
    }
    vd->pci.config_written = virtio_config_written;
    vd->pci.config_read = virtio_config_read;
    if (want_doorbells) {
        virtio_add_doorbells(vd);
    }
    virtio_reset(vd);
    if (pci_bus_add_device(m->pci, &vd->pci, err) < 0) {
        virtio_pci_release(vd);
        return -1;
    }
    return 0;
}
