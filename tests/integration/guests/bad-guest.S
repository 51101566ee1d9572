/* A tiny ELF "kernel" that misbehaves on purpose, entered in 64-bit mode
 * like vmlinux. Its first byte of the command line... no: it reads the
 * mode from RSI's boot_params (command line pointer at 0x228) and picks:
 *   "triple"  -> ud2 with an empty IDT: #UD, #DF, triple fault
 *   "emulate" -> lock cmpxchg16b, which KVM's instruction emulator cannot
 *                run (on hosts that emulate guest kernels; elsewhere it
 *                runs and we fall through to the triple fault)
 *   "spin"    -> an endless loop (for the SIGTERM test)
 */
    .code64
    .globl _start
    .section .text
_start:
    lidt    idt_empty(%rip)
    mov     0x228(%rsi), %ebx        /* boot_params.hdr.cmd_line_ptr */
    mov     (%rbx), %eax
    cmp     $0x70697274, %eax        /* "trip" */
    je      triple
    cmp     $0x6e697073, %eax        /* "spin" */
    je      spin
emulate:
    lea     scratch(%rip), %rdi
    xor     %eax, %eax
    xor     %edx, %edx
    lock cmpxchg16b (%rdi)
triple:
    ud2
spin:
    pause
    jmp     spin

    .section .data
    .balign 16
scratch:
    .quad 0, 0
idt_empty:
    .word 0
    .quad 0
