/* Direct Linux boot without firmware: load an uncompressed ELF vmlinux or a
 * bzImage, build the zero page (boot_params: setup header, e820, command
 * line, initrd), identity-map the low 4 GiB, and enter the kernel's 64-bit
 * entry point with RSI = boot_params (Documentation/x86/boot.rst, "64-bit
 * boot protocol"). */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"
#include "boot/layout.h"

#define E820_RAM 1
#define E820_RESERVED 2
#define KERNEL_HDR_MAGIC 0x53726448 /* "HdrS" */

static int read_file(const char *path, uint8_t **data, size_t *size, Error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_setf(err, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return error_setf(err, "'%s' is not a regular file", path);
    }
    *size = (size_t)st.st_size;
    *data = malloc(*size ? *size : 1);
    if (!*data) {
        close(fd);
        return error_setf(err, "'%s': out of memory", path);
    }
    size_t done = 0;
    while (done < *size) {
        ssize_t r = read(fd, *data + done, *size - done);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            close(fd);
            free(*data);
            return error_setf(err, "cannot read '%s': %s", path,
                              r ? strerror(errno) : "short read");
        }
        done += (size_t)r;
    }
    close(fd);
    return 0;
}

/* Copy into guest RAM, failing with a message if it does not fit. */
static int load_to(Vm *vm, uint64_t gpa, const void *src, size_t len, size_t memsz,
                   const char *what, Error *err)
{
    uint8_t *p = guest_ram_ptr(&vm->m.ram, gpa, memsz);
    if (!p)
        return error_setf(err, "%s does not fit in guest RAM at %#llx (%zu bytes); try a larger -m",
                          what, (unsigned long long)gpa, memsz);
    memcpy(p, src, len);
    memset(p + len, 0, memsz - len);
    return 0;
}

static int load_elf(Vm *vm, const uint8_t *img, size_t size, uint64_t *kernel_end, Error *err)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
    if (size < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64)
        return error_setf(err, "'%s': not an x86_64 ELF kernel", vm->cfg.kernel);
    if (eh->e_phoff > size || eh->e_phnum > 64 ||
        eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size)
        return error_setf(err, "'%s': corrupt ELF program headers", vm->cfg.kernel);
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff);
    *kernel_end = 0;
    int loaded = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        if (ph[i].p_offset > size || ph[i].p_filesz > size - ph[i].p_offset ||
            ph[i].p_filesz > ph[i].p_memsz)
            return error_setf(err, "'%s': corrupt ELF segment %d", vm->cfg.kernel, i);
        if (load_to(vm, ph[i].p_paddr, img + ph[i].p_offset, ph[i].p_filesz, ph[i].p_memsz,
                    "the kernel", err) < 0)
            return -1;
        if (ph[i].p_paddr + ph[i].p_memsz > *kernel_end)
            *kernel_end = ph[i].p_paddr + ph[i].p_memsz;
        loaded++;
    }
    if (!loaded)
        return error_setf(err, "'%s': no loadable segments", vm->cfg.kernel);
    /* vmlinux's entry (ENTRY(phys_startup_64)) is a physical address */
    vm->entry = eh->e_entry;
    return 0;
}

static void e820_add(struct boot_params *bp, uint64_t addr, uint64_t size, uint32_t type)
{
    if (bp->e820_entries >= E820_MAX_ENTRIES_ZEROPAGE)
        return;
    struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];
    e->addr = addr;
    e->size = size;
    e->type = type;
}

static void setup_page_tables(Vm *vm)
{
    uint64_t *pml4 = guest_ram_ptr(&vm->m.ram, BOOT_PML4, 4096);
    uint64_t *pdpt = guest_ram_ptr(&vm->m.ram, BOOT_PDPT, 4096);
    uint64_t *pd = guest_ram_ptr(&vm->m.ram, BOOT_PD, 4 * 4096);
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = BOOT_PDPT | 0x3; /* present, writable */
    for (int i = 0; i < 4; i++)
        pdpt[i] = (BOOT_PD + (uint64_t)i * 4096) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
}

static void setup_gdt(Vm *vm)
{
    uint64_t *gdt = guest_ram_ptr(&vm->m.ram, BOOT_GDT_ADDR, 4 * 8);
    gdt[0] = 0;
    gdt[1] = 0;
    gdt[2] = 0x00af9b000000ffffULL; /* 0x10: 64-bit code, as __BOOT_CS */
    gdt[3] = 0x00cf93000000ffffULL; /* 0x18: flat data, as __BOOT_DS */
    memset(guest_ram_ptr(&vm->m.ram, BOOT_IDT_ADDR, 8), 0, 8);
}

int linux_load(Vm *vm, const BootPciIrq *pci_irqs, int npci_irqs, Error *err)
{
    uint8_t *img = NULL, *initrd = NULL;
    size_t size = 0, initrd_size = 0;
    int ret = -1;
    if (read_file(vm->cfg.kernel, &img, &size, err) < 0)
        return -1;
    struct boot_params *bp = guest_ram_ptr(&vm->m.ram, BOOT_ZERO_PAGE, sizeof(*bp));
    memset(bp, 0, sizeof(*bp));
    uint64_t kernel_end = 0;
    uint64_t initrd_max = 0x37ffffff; /* the boot protocol's default */

    if (size >= 4 && memcmp(img, ELFMAG, SELFMAG) == 0) {
        if (load_elf(vm, img, size, &kernel_end, err) < 0)
            goto out;
        bp->hdr.boot_flag = 0xaa55;
        bp->hdr.header = KERNEL_HDR_MAGIC;
        bp->hdr.version = 0x020f;
        bp->hdr.kernel_alignment = 0x1000000;
        initrd_max = 0x7fffffff;
    } else {
        const struct setup_header *h = (const void *)(img + 0x1f1);
        if (size < 0x1f1 + sizeof(*h) || h->header != KERNEL_HDR_MAGIC) {
            error_setf(err, "'%s': neither an ELF vmlinux nor a bzImage", vm->cfg.kernel);
            goto out;
        }
        if (h->version < 0x020c || !(h->xloadflags & XLF_KERNEL_64)) {
            error_setf(err, "'%s': bzImage without the 64-bit entry point (boot protocol %#x)",
                       vm->cfg.kernel, h->version);
            goto out;
        }
        size_t setup = ((size_t)(h->setup_sects ? h->setup_sects : 4) + 1) * 512;
        if (setup >= size) {
            error_setf(err, "'%s': truncated bzImage", vm->cfg.kernel);
            goto out;
        }
        /* the setup header is copied verbatim, then the loader's fields are filled */
        size_t hdr_len = 0x202 + img[0x201] - 0x1f1;
        if (hdr_len > sizeof(bp->hdr))
            hdr_len = sizeof(bp->hdr);
        memcpy(&bp->hdr, h, hdr_len);
        uint64_t load = BZIMAGE_LOAD_ADDR;
        size_t memsz = size - setup;
        if (h->init_size > memsz)
            memsz = h->init_size; /* room for in-place decompression */
        if (load_to(vm, load, img + setup, size - setup, memsz, "the kernel", err) < 0)
            goto out;
        kernel_end = load + memsz;
        vm->entry = load + 0x200; /* startup_64 of the decompressor */
        initrd_max = h->initrd_addr_max;
        bp->hdr.code32_start = (uint32_t)load;
    }
    bp->hdr.type_of_loader = 0xff;
    bp->hdr.loadflags |= LOADED_HIGH | CAN_USE_HEAP;
    bp->hdr.heap_end_ptr = 0xfe00;

    /* command line */
    const char *cmd = vm->cfg.append ? vm->cfg.append : "";
    size_t cmdlen = strlen(cmd) + 1;
    if (cmdlen > BOOT_CMDLINE_MAX) {
        error_setf(err, "-append: command line too long (%zu bytes)", cmdlen - 1);
        goto out;
    }
    memcpy(guest_ram_ptr(&vm->m.ram, BOOT_CMDLINE, cmdlen), cmd, cmdlen);
    bp->hdr.cmd_line_ptr = BOOT_CMDLINE;
    bp->ext_cmd_line_ptr = 0;
    bp->hdr.cmdline_size = (uint32_t)cmdlen;

    /* initrd: as high as allowed in low RAM, page aligned, above the kernel */
    const GuestMemRange *low = &vm->m.ram.range[0];
    if (vm->cfg.initrd) {
        if (read_file(vm->cfg.initrd, &initrd, &initrd_size, err) < 0)
            goto out;
        uint64_t top = low->size < initrd_max + 1ULL ? low->size : initrd_max + 1ULL;
        if (initrd_size > top || ((top - initrd_size) & ~0xfffULL) < kernel_end) {
            error_setf(err, "-initrd: '%s' (%zu MiB) does not fit in guest RAM; try a larger -m",
                       vm->cfg.initrd, initrd_size >> 20);
            goto out;
        }
        uint64_t addr = (top - initrd_size) & ~0xfffULL;
        if (load_to(vm, addr, initrd, initrd_size, initrd_size, "the initrd", err) < 0)
            goto out;
        bp->hdr.ramdisk_image = (uint32_t)addr;
        bp->hdr.ramdisk_size = (uint32_t)initrd_size;
        bp->ext_ramdisk_image = (uint32_t)(addr >> 32);
        bp->ext_ramdisk_size = (uint32_t)((uint64_t)initrd_size >> 32);
    }

    /* e820: base memory up to the EBDA (where the MP table lives), the BIOS
     * area reserved, then RAM from 1 MiB; the PCI hole stays out. */
    e820_add(bp, 0, EBDA_START, E820_RAM);
    e820_add(bp, EBDA_START, 0xa0000 - EBDA_START, E820_RESERVED);
    e820_add(bp, BIOS_ROM_START, 0x100000 - BIOS_ROM_START, E820_RESERVED);
    e820_add(bp, HIMEM_START, low->size - HIMEM_START, E820_RAM);
    if (vm->m.ram.nranges > 1)
        e820_add(bp, vm->m.ram.range[1].gpa, vm->m.ram.range[1].size, E820_RAM);

    setup_page_tables(vm);
    setup_gdt(vm);
    vm->boot_params = BOOT_ZERO_PAGE;
    if (mptable_write(vm, MPTABLE_ADDR, MPTABLE_MAX, pci_irqs, npci_irqs, err) < 0)
        goto out;
    ret = 0;
out:
    free(img);
    free(initrd);
    return ret;
}

/* MSRs a kernel expects firmware to have set. */
static int setup_msrs(Vcpu *v, Error *err)
{
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e[8];
    } m;
    memset(&m, 0, sizeof(m));
    static const struct {
        uint32_t index;
        uint64_t value;
    } init[] = {
        {0x174, 0},      /* IA32_SYSENTER_CS */
        {0x175, 0},      /* IA32_SYSENTER_ESP */
        {0x176, 0},      /* IA32_SYSENTER_EIP */
        {0xc0000081, 0}, /* STAR */
        {0xc0000082, 0}, /* LSTAR */
        {0xc0000084, 0}, /* SYSCALL_MASK */
        {0x1a0, 1},      /* IA32_MISC_ENABLE: fast strings */
        {0x2ff, 0x806},  /* MTRRdefType: MTRRs on, default write-back */
    };
    for (size_t i = 0; i < 8; i++) {
        m.e[i].index = init[i].index;
        m.e[i].data = init[i].value;
    }
    m.h.nmsrs = 8;
    int n = ioctl(v->fd, KVM_SET_MSRS, &m);
    if (n < 0)
        return error_setf(err, "KVM_SET_MSRS: %s", strerror(errno));
    /* a KVM that refuses one of them sets the rest: not fatal */
    return 0;
}

/* Local APIC: LINT0 takes the PIC's ExtINT, LINT1 NMI, as a BIOS leaves it
 * (virtual wire mode), so legacy interrupts work before the IOAPIC is set up. */
static int setup_lapic(Vcpu *v, Error *err)
{
    struct kvm_lapic_state l;
    if (ioctl(v->fd, KVM_GET_LAPIC, &l) < 0)
        return error_setf(err, "KVM_GET_LAPIC: %s", strerror(errno));
    uint32_t *lint0 = (uint32_t *)&l.regs[0x350], *lint1 = (uint32_t *)&l.regs[0x360];
    *lint0 = (*lint0 & ~0x700u) | (7u << 8); /* ExtINT */
    *lint1 = (*lint1 & ~0x700u) | (4u << 8); /* NMI */
    if (ioctl(v->fd, KVM_SET_LAPIC, &l) < 0)
        return error_setf(err, "KVM_SET_LAPIC: %s", strerror(errno));
    return 0;
}

int vcpu_setup_boot_state(Vm *vm, Vcpu *v, Error *err)
{
    if (setup_msrs(v, err) < 0 || setup_lapic(v, err) < 0)
        return -1;
    if (v->id != 0)
        return 0; /* APs wait for INIT/SIPI from the boot CPU */
    struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
    if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
        return error_setf(err, "KVM_SET_FPU: %s", strerror(errno));
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        return error_setf(err, "KVM_GET_SREGS: %s", strerror(errno));
    struct kvm_segment code = {.base = 0,
                               .limit = 0xffffffff,
                               .selector = 0x10,
                               .type = 11,
                               .present = 1,
                               .dpl = 0,
                               .db = 0,
                               .s = 1,
                               .l = 1,
                               .g = 1};
    struct kvm_segment data = code;
    data.selector = 0x18;
    data.type = 3;
    data.l = 0;
    data.db = 1;
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.gdt.base = BOOT_GDT_ADDR;
    s.gdt.limit = 4 * 8 - 1;
    s.idt.base = BOOT_IDT_ADDR;
    s.idt.limit = 7;
    s.cr3 = BOOT_PML4;
    s.cr4 = 1u << 5;                    /* PAE */
    s.cr0 = 0x80000000u | 0x10u | 0x1u; /* PG, ET, PE */
    s.efer = (1u << 8) | (1u << 10);    /* LME, LMA */
    if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
        return error_setf(err, "KVM_SET_SREGS: %s", strerror(errno));
    struct kvm_regs r = {0};
    r.rflags = 2;
    r.rip = vm->entry;
    r.rsi = vm->boot_params;
    r.rsp = BOOT_STACK_TOP;
    r.rbp = BOOT_STACK_TOP;
    if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
        return error_setf(err, "KVM_SET_REGS: %s", strerror(errno));
    return 0;
}
