/* -object filter-dump,id=ID,netdev=ID,file=PATH[,maxlen=N]: every packet
 * the netdev sends (towards the guest) and receives (from the guest) goes to
 * a pcap file, as QEMU's filter-dump does. tcpdump -r / tshark -r read it.
 *
 * It is a NetFilter on the backend's NetClient: an observer the net layer
 * calls as a packet leaves its sender (see net.h), so the file shows what
 * crossed the link, in order, whatever the receiver then does with it. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "qom/object.h"
#include "trace/trace.h"

#define PCAP_MAGIC 0xa1b2c3d4u /* microsecond timestamps */
#define PCAP_LINKTYPE_ETHERNET 1
#define DUMP_MAX_IOV 64

typedef struct DumpState {
    Object obj;
    char *netdev;
    char *file;
    uint32_t maxlen;
    int fd;
    bool failed;
    NetClient *nc;
    NetFilter filter;
    uint64_t packets;
} DumpState;

struct pcap_hdr {
    uint32_t magic;
    uint16_t version_major, version_minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
};

struct pcap_rec {
    uint32_t ts_sec, ts_usec, caplen, len;
};

static bool write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return true;
}

static void dump_packet(NetFilter *f, NetClient *nc, NetFilterDir dir, const struct iovec *iov,
                        int iovcnt, size_t size)
{
    DumpState *s = f->opaque;
    if (s->failed) {
        return;
    }
    /* the link's virtio-net header is not part of the frame: skip it */
    struct iovec skipped[DUMP_MAX_IOV];
    size_t hdr = nc ? nc->vnet_hdr_len : 0;
    if (hdr) {
        if (size < hdr) {
            return;
        }
        int k = 0;
        for (int i = 0; i < iovcnt && k < DUMP_MAX_IOV; i++) {
            size_t skip = hdr < iov[i].iov_len ? hdr : iov[i].iov_len;
            hdr -= skip;
            if (iov[i].iov_len > skip) {
                skipped[k++] =
                    (struct iovec){(char *)iov[i].iov_base + skip, iov[i].iov_len - skip};
            }
        }
        size -= nc->vnet_hdr_len;
        iov = skipped;
        iovcnt = k;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t cap = size < s->maxlen ? size : s->maxlen;
    struct pcap_rec rec = {(uint32_t)ts.tv_sec, (uint32_t)(ts.tv_nsec / 1000), (uint32_t)cap,
                           (uint32_t)size};
    struct iovec v[DUMP_MAX_IOV + 1];
    int n = 0;
    v[n++] = (struct iovec){&rec, sizeof(rec)};
    size_t left = cap;
    for (int i = 0; i < iovcnt && left > 0; i++) {
        size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
        if (n == DUMP_MAX_IOV + 1) {
            /* too many pieces: say so in the record rather than lie */
            rec.caplen -= (uint32_t)left;
            break;
        }
        v[n++] = (struct iovec){iov[i].iov_base, take};
        left -= take;
    }
    if (!write_all(s->fd, v, n)) {
        warn_report("filter-dump %s: cannot write '%s': %s; capture stopped", s->obj.id, s->file,
                    strerror(errno));
        s->failed = true;
        return;
    }
    s->packets++;
    TRACE(filter_dump, "%s: %s len=%zu -> %s (packet %llu)", s->obj.id,
          dir == NET_FILTER_TX ? "from netdev (to guest)" : "to netdev (from guest)", size, s->file,
          (unsigned long long)s->packets);
}

static int dump_realize(Object *obj, Machine *m, Error *err)
{
    DumpState *s = (DumpState *)obj;
    (void)m;
    if (!obj->id) {
        return error_setf(err, "filter-dump: id= is required");
    }
    if (!s->netdev || !*s->netdev) {
        return error_setf(err, "filter-dump: netdev= is required");
    }
    if (!s->file || !*s->file) {
        return error_setf(err, "filter-dump: file= is required");
    }
    if (s->maxlen == 0) {
        return error_setf(err, "filter-dump: maxlen must be at least 1");
    }
    s->nc = net_backend_find(s->netdev);
    if (!s->nc) {
        return error_setf(err, "filter-dump: no -netdev with id '%s'", s->netdev);
    }
    s->fd = open(s->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        return error_setf(err, "filter-dump: cannot open '%s': %s", s->file, strerror(errno));
    }
    struct pcap_hdr h = {PCAP_MAGIC, 2, 4, 0, 0, s->maxlen, PCAP_LINKTYPE_ETHERNET};
    struct iovec v = {&h, sizeof(h)};
    if (!write_all(s->fd, &v, 1)) {
        int e = errno;
        close(s->fd);
        return error_setf(err, "filter-dump: cannot write '%s': %s", s->file, strerror(e));
    }
    s->filter = (NetFilter){.packet = dump_packet, .opaque = s};
    net_filter_attach(s->nc, &s->filter);
    return 0;
}

static const Property dump_props[] = {
    PROP_STR("netdev", DumpState, netdev, NULL, "id of the -netdev to capture (required)"),
    PROP_STR("file", DumpState, file, NULL, "pcap file to write (required; truncated)"),
    PROP_U32("maxlen", DumpState, maxlen, "65536", "bytes of each packet kept"),
    PROP_END,
};

static const TypeInfo dump_info = {
    .name = "filter-dump",
    .kind = TYPE_KIND_OBJECT,
    .desc = "write the packets of a netdev, both directions, to a pcap file",
    .instance_size = sizeof(DumpState),
    .props = dump_props,
    .realize = dump_realize,
};

TYPE_REGISTER(dump_info)
