/* Where the loader puts things in guest memory (all below 1 MiB but the
 * kernel and initrd). */
#ifndef E1KVM_BOOT_LAYOUT_H
#define E1KVM_BOOT_LAYOUT_H

#define BOOT_GDT_ADDR 0x500
#define BOOT_IDT_ADDR 0x520
#define BOOT_ZERO_PAGE 0x7000
#define BOOT_STACK_TOP 0x8ff0
#define BOOT_PML4 0x9000
#define BOOT_PDPT 0xa000
#define BOOT_PD 0xb000 /* four pages: identity map of 4 GiB with 2 MiB pages */
#define BOOT_CMDLINE 0x20000
#define BOOT_CMDLINE_MAX 0x10000
#define MPTABLE_ADDR 0x9fc00 /* last KiB of base memory, where Linux looks */
#define MPTABLE_MAX 0x400
#define EBDA_START 0x9fc00
#define BIOS_ROM_START 0xf0000
#define HIMEM_START 0x100000
#define BZIMAGE_LOAD_ADDR 0x100000

#endif
