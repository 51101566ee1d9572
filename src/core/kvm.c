/* The KVM system fd and the VM fd: capabilities, guest RAM slots, the
 * in-kernel interrupt controllers. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "core/kvm.h"

#include "core/loop.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "trace/stats.h"

#define PCI_HOLE_START 0xC0000000ULL /* RAM stops here below 4 GiB */
#define HIGH_RAM_START 0x100000000ULL

static const struct {
    int cap;
    const char *name;
} required_caps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP (in-kernel LAPIC/IOAPIC/PIC)"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2 (in-kernel PIT)"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

static void msi_probe(Vm *vm);

int kvm_open(Vm *vm, Error *err)
{
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return error_setf(err, "cannot open /dev/kvm: %s%s", strerror(errno),
                          errno == ENOENT   ? " (is the kvm module loaded?)"
                          : errno == EACCES ? " (are you in the kvm group?)"
                                            : "");
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION)
        return error_setf(err, "KVM API version %d, expected %d", api, KVM_API_VERSION);
    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0)
            return error_setf(err, "this KVM lacks %s", required_caps[i].name);
    }
    vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->run_size <= 0)
        return error_setf(err, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
    msi_probe(vm);
    int max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max_vcpus > 0 && vm->cfg.smp > max_vcpus)
        return error_setf(err, "-smp %d: this KVM allows at most %d vCPUs", vm->cfg.smp, max_vcpus);
    /* A PVM host with pvm_native=Y runs ordinary guests' kernel code in
     * KVM's instruction emulator; the CPU model must then hide what the
     * emulator cannot execute (see boot/cpuid.c). */
    int fd = open("/sys/module/kvm_pvm/parameters/pvm_native", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char c = 0;
        if (read(fd, &c, 1) == 1 && (c == 'Y' || c == '1'))
            vm->emulated_kernel_host = true;
        close(fd);
    }
    return 0;
}

static int map_ram(Vm *vm, int slot, uint64_t gpa, uint64_t size, Error *err)
{
    void *host = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (host == MAP_FAILED)
        return error_setf(err, "cannot allocate %llu MiB of guest RAM: %s",
                          (unsigned long long)(size >> 20), strerror(errno));
    /* the guest's memory is not part of a core dump of the VMM */
    madvise(host, size, MADV_DONTDUMP);
    struct kvm_userspace_memory_region r = {
        .slot = (uint32_t)slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        munmap(host, size);
        return error_setf(err, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
    }
    GuestMemory *gm = &vm->m.ram;
    gm->range[gm->nranges++] = (GuestMemRange){.gpa = gpa, .size = size, .host = host};
    gm->total += size;
    return 0;
}

/* Doorbells: a guest write that matches signals an eventfd inside KVM, so
 * the vCPU goes on without a trip to user space (~1.4 us instead of ~9 us
 * on the development host). */
static int kvm_ioeventfd(Vm *vm, AddressSpace *as, uint64_t addr, const IoEventFd *e, bool del)
{
    struct kvm_ioeventfd io = {
        .datamatch = e->data,
        .addr = addr,
        .len = e->len,
        .fd = e->fd,
        .flags = (e->match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
                 (as == &vm->m.pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
                 (del ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
    };
    return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io);
}

static int kvm_ioeventfd_add(void *opaque, AddressSpace *as, uint64_t addr, IoEventFd *e)
{
    Vm *vm = opaque;
    if (vm->vm_fd < 0 || !vm->has_ioeventfd)
        return -1;
    /* KVM has room for ~1000 per bus: past that the write simply exits */
    return kvm_ioeventfd(vm, as, addr, e, false) < 0 ? -1 : 0;
}

static void kvm_ioeventfd_del(void *opaque, AddressSpace *as, uint64_t addr, IoEventFd *e)
{
    Vm *vm = opaque;
    if (vm->vm_fd >= 0)
        kvm_ioeventfd(vm, as, addr, e, true);
}

/* Posted writes: KVM appends a write to a coalesced-MMIO zone to a ring
 * page shared with user space and lets the vCPU go on. Nothing tells us it
 * did: the ring is emptied before every exit is handled (vcpu.c) and when a
 * device asks (memory_region_flush_posted), so a device sees its registers
 * written in guest order. When the ring is full KVM simply exits. */
static int kvm_posted_zone(Vm *vm, uint64_t addr, uint32_t len, bool del)
{
    struct kvm_coalesced_mmio_zone z = {.addr = addr, .size = len};
    return ioctl(vm->vm_fd, del ? KVM_UNREGISTER_COALESCED_MMIO : KVM_REGISTER_COALESCED_MMIO, &z);
}

static int kvm_posted_add(void *opaque, AddressSpace *as, uint64_t addr, uint32_t len)
{
    Vm *vm = opaque;
    if (vm->vm_fd < 0 || vm->coalesced_page <= 0 || as != &vm->m.mmio)
        return -1;
    return kvm_posted_zone(vm, addr, len, false) < 0 ? -1 : 0;
}

static void kvm_posted_del(void *opaque, AddressSpace *as, uint64_t addr, uint32_t len)
{
    Vm *vm = opaque;
    if (vm->vm_fd >= 0 && as == &vm->m.mmio)
        kvm_posted_zone(vm, addr, len, true);
}

void kvm_flush_posted(Vm *vm)
{
    struct kvm_coalesced_mmio_ring *r = vm->posted_ring;
    if (!r || vm->posted_flushing)
        return;
    vm->posted_flushing = true;
    /* bounded: at most one ring's worth of entries were queued before the
     * check; the vCPU may add more meanwhile, the next flush takes them */
    for (uint32_t n = 0; n < vm->posted_max; n++) {
        uint32_t first = __atomic_load_n(&r->first, __ATOMIC_RELAXED);
        if (first == __atomic_load_n(&r->last, __ATOMIC_ACQUIRE) || first >= vm->posted_max)
            break;
        struct kvm_coalesced_mmio *e = &r->coalesced_mmio[first];
        uint8_t data[8];
        unsigned len = e->len > 8 ? 8 : e->len;
        uint64_t addr = e->phys_addr;
        memcpy(data, e->data, len);
        __atomic_store_n(&r->first, (first + 1) % vm->posted_max, __ATOMIC_RELEASE);
        uint64_t off = addr;
        MemoryRegion *mr = address_space_find(&vm->m.mmio, addr, &off);
        exitstats_record_posted(mr, off);
        address_space_write(&vm->m.mmio, addr, data, len);
    }
    vm->posted_flushing = false;
}

static void kvm_posted_flush(void *opaque)
{
    kvm_flush_posted(opaque);
}

static MemoryListener kvm_listener = {
    .ioeventfd_add = kvm_ioeventfd_add,
    .ioeventfd_del = kvm_ioeventfd_del,
    .posted_add = kvm_posted_add,
    .posted_del = kvm_posted_del,
    .posted_flush = kvm_posted_flush,
};

static void intx_open(Vm *vm);
static void intx_close(Vm *vm);
static void msi_routes_install(Vm *vm);

int kvm_create_vm(Vm *vm, Error *err)
{
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        uint64_t host = (uint64_t)si.totalram * si.mem_unit + (uint64_t)si.totalswap * si.mem_unit;
        if (vm->cfg.ram_size > host)
            return error_setf(err, "-m %llu MiB: the host has only %llu MiB of memory",
                              (unsigned long long)(vm->cfg.ram_size >> 20),
                              (unsigned long long)(host >> 20));
    }
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0)
        return error_setf(err, "KVM_CREATE_VM: %s", strerror(errno));
    fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC);
    /* Intel VMX needs these pages for real-mode emulation (APs start in real
     * mode); they sit in the reserved area just below 4 GiB. */
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
        return error_setf(err, "KVM_SET_TSS_ADDR: %s", strerror(errno));
    uint64_t idmap = 0xfffbc000ULL;
    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap); /* optional (AMD lacks it) */
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return error_setf(err, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
    struct kvm_pit_config pit = {.flags = 0};
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        return error_setf(err, "KVM_CREATE_PIT2: %s", strerror(errno));

    memset(&vm->m.ram, 0, sizeof(vm->m.ram));
    uint64_t low = vm->cfg.ram_size < PCI_HOLE_START ? vm->cfg.ram_size : PCI_HOLE_START;
    if (map_ram(vm, 0, 0, low, err) < 0)
        return -1;
    if (vm->cfg.ram_size > low && map_ram(vm, 1, HIGH_RAM_START, vm->cfg.ram_size - low, err) < 0)
        return -1;
    int khz = ioctl(vm->vm_fd, KVM_GET_TSC_KHZ, 0);
    vm->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
    /* doorbells of the devices (kept across resets) go to the new VM */
    vm->has_ioeventfd = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0;
    /* the ring's page offset in the vCPU mapping; the ring itself is found
     * once vCPU 0 is mapped (vcpu.c) */
    long page = sysconf(_SC_PAGESIZE);
    int cpage = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
    vm->coalesced_page =
        cpage > 0 && page > 0 && (long)(cpage + 1) * page <= vm->run_size ? cpage : 0;
    vm->posted_ring = NULL;
    intx_open(vm);
    msi_routes_install(vm);
    kvm_listener.opaque = vm;
    address_space_set_listener(&vm->m.mmio, &kvm_listener);
    address_space_set_listener(&vm->m.pio, &kvm_listener);
    return 0;
}

void kvm_destroy_vm(Vm *vm)
{
    /* closing the VM fd drops KVM's doorbells with it (and posted writes
     * still queued: the machine is being reset) */
    vm->posted_ring = NULL;
    intx_close(vm);
    /* the irqfds go with the VM fd; the routes' eventfds stay for the next */
    for (int i = 0; i < VM_MSI_ROUTES; i++)
        vm->msi_routes[i].installed = false;
    address_space_drop_listener_state(&vm->m.mmio);
    address_space_drop_listener_state(&vm->m.pio);
    for (int i = 0; i < vm->cfg.smp; i++)
        vcpu_destroy(&vm->vcpus[i]);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    vm->vm_fd = -1;
    GuestMemory *gm = &vm->m.ram;
    for (int i = 0; i < gm->nranges; i++)
        munmap(gm->range[i].host, gm->range[i].size);
    memset(gm, 0, sizeof(*gm));
}

/* PCI INTx lines through irqfds with EOI resampling.
 *
 * A level-triggered line driven with KVM_IRQ_LINE stays asserted in KVM's
 * IOAPIC until the device lowers it, which it does when the driver reads
 * the cause (ICR). If the guest signals EOI for the vector before that
 * read, the IOAPIC sees the line still high and delivers the interrupt a
 * second time; the second handler then finds ICR = 0. On the development
 * host (nested, the guest kernel in KVM's emulator) every interrupt gets
 * an extra EOI right at entry, so that every e1000 interrupt was taken
 * twice (docs/BENCHMARKS.md).
 *
 * With an irqfd in resample mode KVM asserts the line when we signal the
 * eventfd and lowers it itself at the EOI, telling us through the
 * resample eventfd. If the device still wants the line then, we assert it
 * again, but not at once: at the vCPU's next exit (normally the handler's
 * cause read, which lowers it) or after INTX_REDELIVER_NS, whichever comes
 * first. A line the device lowers before the EOI stays asserted in KVM
 * until that EOI (the interrupt was delivered already; the IOAPIC takes
 * no new one from this pin before the EOI anyway). */
#define INTX_FIRST_GSI 16
#define INTX_LINES 8
#define INTX_REDELIVER_NS 1000000

static void intx_assert(struct KvmIntx *l)
{
    uint64_t one = 1;
    if (write(l->irqfd, &one, sizeof(one)) == (ssize_t)sizeof(one))
        l->asserted = true;
}

void kvm_intx_redeliver(Vm *vm)
{
    if (!atomic_exchange(&vm->intx_redeliver, false))
        return;
    timer_del(vm->intx_timer);
    for (int i = 0; i < INTX_LINES; i++) {
        struct KvmIntx *l = &vm->intx[i];
        if (l->redeliver) {
            l->redeliver = false;
            if (l->want && !l->asserted && l->irqfd >= 0)
                intx_assert(l);
        }
    }
}

static void intx_timer_cb(void *opaque)
{
    kvm_intx_redeliver(opaque);
}

/* KVM lowered the line at an EOI (main loop, device lock held) */
static void intx_resampled(void *opaque)
{
    struct KvmIntx *l = opaque;
    Vm *vm = l->vm;
    uint64_t n;
    if (read(l->resamplefd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        return;
    l->asserted = false;
    if (l->want && !l->redeliver) {
        l->redeliver = true;
        atomic_store(&vm->intx_redeliver, true);
        if (!timer_pending(vm->intx_timer))
            timer_mod(vm->intx_timer, clock_ns() + INTX_REDELIVER_NS);
    }
}

static void intx_close(Vm *vm)
{
    for (int i = 0; i < INTX_LINES; i++) {
        struct KvmIntx *l = &vm->intx[i];
        if (l->resamplefd >= 0) {
            loop_set_fd_handler(l->resamplefd, NULL, NULL, NULL);
            close(l->resamplefd);
        }
        if (l->irqfd >= 0)
            close(l->irqfd);
        *l = (struct KvmIntx){.vm = vm, .irqfd = -1, .resamplefd = -1};
    }
    atomic_store(&vm->intx_redeliver, false);
    if (vm->intx_timer)
        timer_del(vm->intx_timer);
}

/* Without KVM_CAP_IRQFD_RESAMPLE (or when a call fails) the lines keep
 * KVM_IRQ_LINE: correct, only the double delivery above stays. */
static void intx_open(Vm *vm)
{
    for (int i = 0; i < INTX_LINES; i++)
        vm->intx[i] = (struct KvmIntx){.vm = vm, .irqfd = -1, .resamplefd = -1};
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE) <= 0)
        return;
    if (!vm->intx_timer && !(vm->intx_timer = timer_new(intx_timer_cb, vm)))
        return;
    for (int i = 0; i < INTX_LINES; i++) {
        struct KvmIntx *l = &vm->intx[i];
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        int rfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct kvm_irqfd irqfd = {.fd = (uint32_t)fd,
                                  .gsi = (uint32_t)(INTX_FIRST_GSI + i),
                                  .flags = KVM_IRQFD_FLAG_RESAMPLE,
                                  .resamplefd = (uint32_t)rfd};
        if (fd < 0 || rfd < 0 || ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
            if (fd >= 0)
                close(fd);
            if (rfd >= 0)
                close(rfd);
            continue;
        }
        l->irqfd = fd;
        l->resamplefd = rfd;
        loop_set_fd_handler(rfd, intx_resampled, NULL, l);
    }
}

void kvm_set_pci_irq(void *opaque, int gsi, int level)
{
    Vm *vm = opaque;
    int i = gsi - INTX_FIRST_GSI;
    if (i < 0 || i >= INTX_LINES || vm->intx[i].irqfd < 0) {
        kvm_set_irq(vm, gsi, level);
        return;
    }
    struct KvmIntx *l = &vm->intx[i];
    l->want = level;
    if (!level) {
        l->redeliver = false; /* the cause was read: nothing to deliver again */
        return;
    }
    if (!l->asserted)
        intx_assert(l);
    l->redeliver = false;
}

/* Drive an input of the in-kernel PIC/IOAPIC (pci.c and serial.c call this
 * through the interrupt lines the board gave them). */
void kvm_set_irq(void *opaque, int gsi, int level)
{
    Vm *vm = opaque;
    if (vm->vm_fd < 0)
        return;
    struct kvm_irq_level l = {.irq = (uint32_t)gsi, .level = (uint32_t)level};
    ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

/* MSI through KVM's GSI routing table and irqfds.
 *
 * A message is an (address, data) pair. KVM_SIGNAL_MSI delivers one from
 * an ioctl; a route gives the pair a GSI of its own (an entry of type
 * KVM_IRQ_ROUTING_MSI) with an eventfd registered by KVM_IRQFD, so a
 * message is an 8-byte write to the eventfd, which KVM injects straight
 * from the wakeup without taking the VM's locks, and which any thread (or
 * later the kernel: vhost) may do.
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, including the routes
 * KVM_CREATE_IRQCHIP installed for the interrupt controllers' inputs
 * (arch/x86/kvm/irq_comm.c, default_routing): GSIs 0-15 on the IOAPIC pin
 * of that number and on the PIC (master for 0-7, slave for 8-15, pin GSI
 * mod 8), GSIs 16-23 on the IOAPIC only. Every table we set starts with
 * those, so COM1, the PCI INTx lines and their resample irqfds see no
 * difference.
 *
 * Reset: the Vm keeps the route table while the KVM VM is torn down and
 * created again. kvm_destroy_vm forgets the irqfds (closing the VM fd
 * deassigns them), kvm_create_vm sets the table again with what is still
 * held and registers the same eventfds with the new VM, after emptying
 * them: KVM injects a count left in an eventfd when it is assigned, and a
 * message of the old boot must not reach the new one. Normally the
 * devices' reset (msix_reset) has released every route by then. */
#define IRQCHIP_GSIS 24 /* IOAPIC inputs; GSIs 0-15 also reach the PIC */
#define PIC_GSIS 16
#define MSI_FIRST_GSI IRQCHIP_GSIS

static void msi_probe(Vm *vm)
{
    vm->has_signal_msi = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) > 0;
    /* KVM_CAP_IRQ_ROUTING is the largest table KVM takes (also the bound
     * on GSI numbers) */
    int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
    bool irqfd = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0;
    max -= IRQCHIP_GSIS + PIC_GSIS;
    vm->msi_max_routes = !irqfd || max <= 0 ? 0 : max < VM_MSI_ROUTES ? max : VM_MSI_ROUTES;
}

static struct kvm_irq_routing_entry irqchip_route(uint32_t gsi, uint32_t chip, uint32_t pin)
{
    return (struct kvm_irq_routing_entry){
        .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP, .u.irqchip = {.irqchip = chip, .pin = pin}};
}

/* Give KVM the whole table: the interrupt controllers' routes, then one
 * entry per route held. */
static int msi_routing_set(Vm *vm)
{
    if (vm->vm_fd < 0)
        return 0; /* kvm_create_vm sets it */
    size_t max = IRQCHIP_GSIS + PIC_GSIS + VM_MSI_ROUTES;
    struct kvm_irq_routing *t = calloc(1, sizeof(*t) + max * sizeof(t->entries[0]));
    if (!t)
        return -1;
    uint32_t n = 0;
    for (uint32_t gsi = 0; gsi < IRQCHIP_GSIS; gsi++) {
        t->entries[n++] = irqchip_route(gsi, KVM_IRQCHIP_IOAPIC, gsi);
        if (gsi < PIC_GSIS)
            t->entries[n++] = irqchip_route(
                gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
    }
    for (int i = 0; i < VM_MSI_ROUTES; i++) {
        const struct KvmMsiRoute *r = &vm->msi_routes[i];
        if (r->fd < 0)
            continue;
        t->entries[n++] =
            (struct kvm_irq_routing_entry){.gsi = (uint32_t)(MSI_FIRST_GSI + i),
                                           .type = KVM_IRQ_ROUTING_MSI,
                                           .u.msi = {.address_lo = (uint32_t)r->addr,
                                                     .address_hi = (uint32_t)(r->addr >> 32),
                                                     .data = r->data}};
    }
    t->nr = n;
    int ret = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, t);
    free(t);
    return ret < 0 ? -1 : 0;
}

static int msi_irqfd(Vm *vm, int i, bool deassign)
{
    struct kvm_irqfd irqfd = {.fd = (uint32_t)vm->msi_routes[i].fd,
                              .gsi = (uint32_t)(MSI_FIRST_GSI + i),
                              .flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0};
    return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -1 : 0;
}

/* kvm_create_vm: the routes held go to the new VM (see above) */
static void msi_routes_install(Vm *vm)
{
    bool any = false;
    for (int i = 0; i < VM_MSI_ROUTES; i++) {
        struct KvmMsiRoute *r = &vm->msi_routes[i];
        r->installed = false;
        if (r->fd < 0)
            continue;
        uint64_t stale;
        while (read(r->fd, &stale, sizeof(stale)) == (ssize_t)sizeof(stale))
            ; /* non-blocking: one read empties it, the loop ends on EAGAIN */
        any = true;
    }
    /* without a route left KVM's own default table is the one we would set */
    if (!any || msi_routing_set(vm) < 0)
        return; /* routes not installed fire through KVM_SIGNAL_MSI */
    for (int i = 0; i < VM_MSI_ROUTES; i++) {
        struct KvmMsiRoute *r = &vm->msi_routes[i];
        if (r->fd >= 0 && msi_irqfd(vm, i, false) == 0)
            r->installed = true;
    }
}

static struct KvmMsiRoute *msi_route(Vm *vm, int route)
{
    if (route < 0 || route >= VM_MSI_ROUTES || vm->msi_routes[route].fd < 0)
        return NULL;
    return &vm->msi_routes[route];
}

void kvm_msi_send(void *opaque, uint64_t addr, uint32_t data)
{
    Vm *vm = opaque;
    if (vm->vm_fd < 0 || !vm->has_signal_msi)
        return; /* no VM (between two boots), or no way to deliver */
    struct kvm_msi msi = {
        .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data};
    ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi);
}

int kvm_msi_route_add(void *opaque, uint64_t addr, uint32_t data)
{
    Vm *vm = opaque;
    int i;
    for (i = 0; i < vm->msi_max_routes && vm->msi_routes[i].fd >= 0; i++)
        ;
    if (i >= vm->msi_max_routes)
        return -1; /* none left (or no routing at all): the caller sends */
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -1;
    struct KvmMsiRoute *r = &vm->msi_routes[i];
    *r = (struct KvmMsiRoute){.addr = addr, .data = data, .fd = fd};
    if (vm->vm_fd < 0)
        return i; /* installed by the next kvm_create_vm */
    if (msi_routing_set(vm) < 0 || msi_irqfd(vm, i, false) < 0) {
        close(fd);
        *r = (struct KvmMsiRoute){.fd = -1};
        msi_routing_set(vm); /* without the entry again */
        return -1;
    }
    r->installed = true;
    return i;
}

int kvm_msi_route_update(void *opaque, int route, uint64_t addr, uint32_t data)
{
    Vm *vm = opaque;
    struct KvmMsiRoute *r = msi_route(vm, route);
    if (!r)
        return -1;
    if (r->addr == addr && r->data == data)
        return 0;
    r->addr = addr;
    r->data = data;
    /* the irqfd follows its GSI's new entry (KVM re-reads the routes of
     * every irqfd when the table changes) */
    return msi_routing_set(vm);
}

void kvm_msi_route_del(void *opaque, int route)
{
    Vm *vm = opaque;
    struct KvmMsiRoute *r = msi_route(vm, route);
    if (!r)
        return;
    if (r->installed && vm->vm_fd >= 0)
        msi_irqfd(vm, route, true); /* before its GSI leaves the table */
    close(r->fd);
    *r = (struct KvmMsiRoute){.fd = -1};
    msi_routing_set(vm);
}

void kvm_msi_route_fire(void *opaque, int route)
{
    Vm *vm = opaque;
    struct KvmMsiRoute *r = msi_route(vm, route);
    if (!r)
        return;
    uint64_t one = 1;
    if (!r->installed || write(r->fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        kvm_msi_send(vm, r->addr, r->data);
}
