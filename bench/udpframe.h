/* udpframe.h: the UDP/IPv4 test frame of the bench programs on both sides
 * of the TAP: the host's tapgen.c and tapwrite.c and the guest's poll-mode
 * driver (tests/guest/progs/e1000-pmd.c, built by tests/guest/mkguest.sh
 * with -I bench), one definition for all. Header-only: the programs are
 * built with a plain `cc`. */
#ifndef E1KVM_BENCH_UDPFRAME_H
#define E1KVM_BENCH_UDPFRAME_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t ip_csum(const uint8_t *p, size_t len)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return (uint16_t)~s;
}

/* SIZE bytes (60..1514, Ethernet header to payload end, no FCS) from
 * SMAC/SIP to DMAC/DIP, UDP SPORT -> DPORT (checksum 0: none, allowed for
 * IPv4), payload bytes numbered by their offset in the frame. */
static inline void udp_frame(uint8_t *frame, size_t size, const uint8_t dmac[6],
                             const uint8_t smac[6], const uint8_t sip[4], const uint8_t dip[4],
                             uint16_t sport, uint16_t dport)
{
    memset(frame, 0, 42);
    memcpy(frame, dmac, 6);
    memcpy(frame + 6, smac, 6);
    put16(frame + 12, 0x0800);
    uint8_t *ip = frame + 14;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(size - 14));
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, sip, 4);
    memcpy(ip + 16, dip, 4);
    put16(ip + 10, ip_csum(ip, 20));
    put16(ip + 20, sport);
    put16(ip + 22, dport);
    put16(ip + 24, (uint16_t)(size - 34));
    for (size_t i = 42; i < size; i++) {
        frame[i] = (uint8_t)i;
    }
}

#endif
