/* What every NIC model needs to look at frames: byte order helpers,
 * Ethernet / IP / TCP / UDP constants, the internet checksum, the Ethernet
 * CRC and iovec helpers. No device state here: the e1000 and any later
 * NIC share these. */
#ifndef E1KVM_NET_ETH_H
#define E1KVM_NET_ETH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_VLAN 0x8100
#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_CWR 0x80

extern const uint8_t eth_bcast[ETH_ALEN];

/* Packet headers are big endian, descriptors little endian. */
static inline uint16_t ld16be(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ld32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void st16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void st32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint16_t ld16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t ld32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t ld64le(const uint8_t *p)
{
    return (uint64_t)ld32le(p) | (uint64_t)ld32le(p + 4) << 32;
}

static inline void st16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Internet checksum (RFC 1071): add the 16-bit big-endian words of p (an
 * odd last byte padded with zero) to sum; fold to 16 bits. */
uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len);

static inline uint16_t csum_fold(uint64_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}

/* Ethernet FCS: CRC-32 of IEEE 802.3 over p. */
uint32_t eth_crc32(const uint8_t *p, size_t len);

/* Bytes in an iovec; copy its first len bytes out (len <= iov_size). */
size_t iov_size(const struct iovec *iov, int iovcnt);
void iov_to_buf(const struct iovec *iov, int iovcnt, uint8_t *buf, size_t len);
/* Copy len bytes out of the iovec from byte off on / into it from byte off
 * on; both stop at its end and return the bytes copied. */
size_t iov_to_buf_at(const struct iovec *iov, int iovcnt, size_t off, void *buf, size_t len);
size_t iov_from_buf_at(const struct iovec *iov, int iovcnt, size_t off, const void *buf,
                       size_t len);
/* Copy len bytes from src (from byte soff on) to dst (from byte doff on),
 * piece by piece, no bounce buffer; stops at either end and returns the
 * bytes copied. */
size_t iov_copy(const struct iovec *dst, int dstcnt, size_t doff, const struct iovec *src,
                int srccnt, size_t soff, size_t len);
/* The pieces of src that hold bytes [off, off + len) as a new iovec in dst
 * (no copy): their count, or -1 if more than dst_max would be needed. Ends
 * early at src's end. */
int iov_slice(const struct iovec *src, int srccnt, size_t off, size_t len, struct iovec *dst,
              int dst_max);

#endif
