/* tapwrite: how fast can one thread write frames into a TAP device? The
 * ceiling under any VMM's TX path (docs/BENCHMARKS.md, "What bounds TX").
 * Writes one IPv4/UDP frame (10.77.0.2 -> 10.77.0.1) to tap0 in a loop for
 * 2 s and prints frames per second.
 *   cc -O2 -o /tmp/tapwrite bench/tapwrite.c
 *   ip netns exec NS taskset -c 1 /tmp/tapwrite LEN FOREIGN
 * LEN: frame length without FCS (60..1514); FOREIGN 0: to tap0's own MAC
 * (02:77:00:00:00:01, as bench/pmd.sh sets it; the host stack takes every
 * frame up to UDP), 1: to another MAC (the stack drops it at once). */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "udpframe.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tapwrite LEN FOREIGN\n");
        return 2;
    }
    int len = atoi(argv[1]), foreign = atoi(argv[2]);
    if (len < 60 || len > 1514) {
        fprintf(stderr, "tapwrite: LEN must be 60..1514\n");
        return 2;
    }
    int fd = open("/dev/net/tun", O_RDWR);
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strcpy(ifr.ifr_name, "tap0");
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
        perror("tapwrite: tap0");
        return 1;
    }
    uint8_t f[1514];
    const uint8_t tap_mac[6] = {0x02, 0x77, 0, 0, 0, 0x01},
                  other_mac[6] = {0x02, 0x77, 0, 0, 0, 0x99};
    const uint8_t guest_mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    const uint8_t sip[4] = {10, 77, 0, 2}, dip[4] = {10, 77, 0, 1};
    udp_frame(f, (size_t)len, foreign ? other_mac : tap_mac, guest_mac, sip, dip, 12345, 12345);
    long n = 0;
    double t0 = now_s(), dt;
    while ((dt = now_s() - t0) < 2) {
        for (int i = 0; i < 1000; i++) {
            if (write(fd, f, (size_t)len) != len) {
                perror("tapwrite: write");
                return 1;
            }
        }
        n += 1000;
    }
    printf("len %d %s: %.0f frames/s, %.2f us per frame\n", len,
           foreign ? "to another MAC" : "to tap0", (double)n / dt, dt / (double)n * 1e6);
    return 0;
}
