/* Frame helpers every NIC model shares (net/eth.h). */
#include "net/eth.h"

#include <endian.h>
#include <stdbool.h>
#include <string.h>

const uint8_t eth_bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* The ones'-complement sum does not depend on byte order (RFC 1071, 2.B),
 * so the loop adds 32-bit little-endian words into a 64-bit accumulator (no
 * carry can be lost for any frame length) and swaps the folded result once:
 * 4-8x faster than a word at a time, and this loop is most of the cost of
 * checksum offload and TSO (bench/devbench). */
uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        uint32_t w[4];
        memcpy(w, p + i, sizeof(w));
        acc += (uint64_t)le32toh(w[0]) + le32toh(w[1]) + le32toh(w[2]) + le32toh(w[3]);
    }
    for (; i + 4 <= len; i += 4) {
        uint32_t w;
        memcpy(&w, p + i, sizeof(w));
        acc += le32toh(w);
    }
    for (; i + 2 <= len; i += 2) {
        acc += (uint32_t)(p[i] | p[i + 1] << 8);
    }
    if (i < len) {
        acc += p[i]; /* the low byte of a little-endian word: the high byte of a big-endian one */
    }
    while (acc >> 16) {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    return sum + (uint16_t)((acc & 0xff) << 8 | acc >> 8);
}

/* CRC-32 (IEEE 802.3, reflected), slicing by 8: the tables are built once,
 * before main. */
static uint32_t crc_table[8][256];

static void __attribute__((constructor)) crc32_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        }
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            uint32_t c = crc_table[t - 1][i];
            crc_table[t][i] = (c >> 8) ^ crc_table[0][c & 0xff];
        }
    }
}

uint32_t eth_crc32(const uint8_t *p, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    while (len >= 8) {
        uint32_t a = c ^ ld32le(p), b = ld32le(p + 4);
        c = crc_table[7][a & 0xff] ^ crc_table[6][(a >> 8) & 0xff] ^
            crc_table[5][(a >> 16) & 0xff] ^ crc_table[4][a >> 24] ^ crc_table[3][b & 0xff] ^
            crc_table[2][(b >> 8) & 0xff] ^ crc_table[1][(b >> 16) & 0xff] ^ crc_table[0][b >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) {
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    }
    return ~c;
}

size_t iov_size(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++) {
        n += iov[i].iov_len;
    }
    return n;
}

void iov_to_buf(const struct iovec *iov, int iovcnt, uint8_t *buf, size_t len)
{
    size_t off = 0;
    for (int i = 0; i < iovcnt && off < len; i++) {
        size_t n = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
        memcpy(buf + off, iov[i].iov_base, n);
        off += n;
    }
}

/* len bytes between the iovec (from byte off on) and buf, either way */
static size_t iov_buf_at(const struct iovec *iov, int iovcnt, size_t off, uint8_t *buf, size_t len,
                         bool to_buf)
{
    size_t done = 0;
    for (int i = 0; i < iovcnt && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t n = iov[i].iov_len - off < len - done ? iov[i].iov_len - off : len - done;
        uint8_t *piece = (uint8_t *)iov[i].iov_base + off;
        if (to_buf) {
            memcpy(buf + done, piece, n);
        } else {
            memcpy(piece, buf + done, n);
        }
        done += n;
        off = 0;
    }
    return done;
}

size_t iov_to_buf_at(const struct iovec *iov, int iovcnt, size_t off, void *buf, size_t len)
{
    return iov_buf_at(iov, iovcnt, off, buf, len, true);
}

size_t iov_from_buf_at(const struct iovec *iov, int iovcnt, size_t off, const void *buf, size_t len)
{
    return iov_buf_at(iov, iovcnt, off, (uint8_t *)buf, len, false);
}

int iov_slice(const struct iovec *src, int srccnt, size_t off, size_t len, struct iovec *dst,
              int dst_max)
{
    int n = 0;
    for (int i = 0; i < srccnt && len; i++) {
        if (off >= src[i].iov_len) {
            off -= src[i].iov_len;
            continue;
        }
        if (n == dst_max) {
            return -1;
        }
        size_t piece = src[i].iov_len - off < len ? src[i].iov_len - off : len;
        dst[n++] = (struct iovec){.iov_base = (uint8_t *)src[i].iov_base + off, .iov_len = piece};
        len -= piece;
        off = 0;
    }
    return n;
}

size_t iov_copy(const struct iovec *dst, int dstcnt, size_t doff, const struct iovec *src,
                int srccnt, size_t soff, size_t len)
{
    int di = 0, si = 0;
    /* find the starting pieces */
    while (di < dstcnt && doff >= dst[di].iov_len) {
        doff -= dst[di++].iov_len;
    }
    while (si < srccnt && soff >= src[si].iov_len) {
        soff -= src[si++].iov_len;
    }
    size_t done = 0;
    while (done < len && di < dstcnt && si < srccnt) {
        size_t dl = dst[di].iov_len - doff, sl = src[si].iov_len - soff;
        size_t n = dl < sl ? dl : sl;
        if (n > len - done) {
            n = len - done;
        }
        memcpy((uint8_t *)dst[di].iov_base + doff, (const uint8_t *)src[si].iov_base + soff, n);
        done += n;
        doff += n;
        soff += n;
        if (doff == dst[di].iov_len) {
            di++;
            doff = 0;
        }
        if (soff == src[si].iov_len) {
            si++;
            soff = 0;
        }
    }
    return done;
}
