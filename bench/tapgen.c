/* tapgen: host-side traffic generator for bench/pmd.sh. Sends UDP/IPv4
 * frames into a TAP device as fast as it can (or at a given rate), so that
 * the VMM holding the TAP has them to read and deliver to its guest.
 *
 *   tapgen IFNAME DST_MAC SIZE [-t SECONDS] [-r PPS] [-b BATCH]
 *
 * Why a packet socket and not the TAP itself: the VMM owns the TAP's file
 * descriptor; a second TUNSETIFF on the same name only works as another
 * queue of an IFF_MULTI_QUEUE device. A frame written to an AF_PACKET socket
 * bound to the TAP, on the other hand, is "transmitted" by the TAP device,
 * which means queued for its reader: exactly the VMM's receive path. Run it
 * in the network namespace of the TAP (ip netns exec NS tapgen ...).
 *
 * The frame: SIZE bytes (Ethernet header to payload end, no FCS), from the
 * TAP's own MAC and 10.77.0.1 to DST_MAC and 10.77.0.2, UDP port 9. Frames
 * go out in sendmmsg() batches (default 64) past the qdisc
 * (PACKET_QDISC_BYPASS), straight into the TAP's queue (txqueuelen frames)
 * for the VMM to read. When that queue is full the TAP drops the frame,
 * counts it as TX dropped (ip -s link) and sendmmsg fails with ENOBUFS at
 * that frame; then we pause ~50 us instead of spinning, so that on a small
 * host the sender does not take the CPU the VMM needs to empty the queue
 * (the queue stays full: the VMM is the bottleneck, as intended).
 *
 * Stops after SECONDS (default: never) or on SIGINT/SIGTERM and prints
 *   TAPGEN sent=N dropped=D secs=S pps=R offered_pps=O [last_error=TEXT]
 * sent: frames the TAP queued; dropped: frames refused (queue full, or no
 * reader and so no carrier); pps = sent/S; offered_pps = (sent+dropped)/S.
 * Build: cc -O2 -Wall -Werror -o tapgen bench/tapgen.c (bench/pmd.sh does). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "udpframe.h"

#define MAX_BATCH 256

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "tapgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: tapgen IFNAME DST_MAC SIZE [-t SECONDS] [-r PPS] [-b BATCH]\n"
                    "  SIZE: frame bytes without FCS, 60..1514\n");
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        usage();
    }
    const char *ifname = argv[1];
    unsigned dst[6];
    char tail;
    if (sscanf(argv[2], "%x:%x:%x:%x:%x:%x%c", &dst[0], &dst[1], &dst[2], &dst[3], &dst[4], &dst[5],
               &tail) != 6) {
        usage();
    }
    long size = strtol(argv[3], NULL, 10);
    if (size < 60 || size > 1514) {
        usage();
    }
    double secs = 0, pps = 0;
    int batch = 64, c;
    optind = 4;
    while ((c = getopt(argc, argv, "t:r:b:")) != -1) {
        switch (c) {
        case 't':
            secs = atof(optarg);
            break;
        case 'r':
            pps = atof(optarg);
            break;
        case 'b':
            batch = atoi(optarg);
            if (batch < 1 || batch > MAX_BATCH) {
                usage();
            }
            break;
        default:
            usage();
        }
    }

    int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: send only, never receive */
    if (fd < 0) {
        die("socket(AF_PACKET)");
    }
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
        die(ifname);
    }
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = ifr.ifr_ifindex};
    if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        die("bind");
    }
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        die("SIOCGIFHWADDR");
    }
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0) {
        die("PACKET_QDISC_BYPASS");
    }

    static uint8_t frame[1514];
    uint8_t dmac[6];
    for (int i = 0; i < 6; i++) {
        dmac[i] = (uint8_t)dst[i];
    }
    const uint8_t sip[4] = {10, 77, 0, 1}, dip[4] = {10, 77, 0, 2};
    udp_frame(frame, (size_t)size, dmac, (const uint8_t *)ifr.ifr_hwaddr.sa_data, sip, dip, 9, 9);

    /* every message of a batch points at the same frame */
    static struct iovec iov;
    static struct mmsghdr msgs[MAX_BATCH];
    iov.iov_base = frame;
    iov.iov_len = (size_t)size;
    for (int i = 0; i < batch; i++) {
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    if (secs > 0) {
        alarm((unsigned)(secs + 0.999));
    }

    unsigned long long sent = 0, dropped = 0;
    int last_errno = 0;
    double t0 = now_s();
    while (!stop) {
        if (pps > 0) {
            /* pace: batch k may start at t0 + k * batch / pps */
            double due = t0 + sent / pps;
            double d = due - now_s();
            if (d > 0) {
                struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        int n = sendmmsg(fd, msgs, (unsigned)batch, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != ENOBUFS && errno != EAGAIN) {
                die("sendmmsg");
            }
            /* the first frame of the batch was refused: queue full */
            dropped++;
            last_errno = errno;
            struct timespec pause = {0, 50000};
            nanosleep(&pause, NULL);
            continue;
        }
        sent += (unsigned)n;
    }
    double dt = now_s() - t0;
    printf("TAPGEN sent=%llu dropped=%llu secs=%.3f pps=%.0f offered_pps=%.0f%s%s\n", sent, dropped,
           dt, dt > 0 ? sent / dt : 0, dt > 0 ? (sent + dropped) / dt : 0,
           last_errno ? " last_error=" : "", last_errno ? strerror(last_errno) : "");
    return 0;
}
