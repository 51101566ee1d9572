/* A tiny ELF "kernel" for the monitor tests, entered in 64-bit mode like
 * vmlinux: it writes to port 0x80 (which nothing claims) in an endless
 * loop, a short delay apart, so that every second brings port I/O exits
 * that a monitor "stop" must freeze and "cont" must let go on. */
    .code64
    .globl _start
    .section .text
_start:
    xor     %eax, %eax
1:  out     %al, $0x80
    inc     %eax
    mov     $2000, %ecx
2:  dec     %ecx
    jnz     2b
    jmp     1b
