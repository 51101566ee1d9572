#!/usr/bin/env bash
# The main job, end to end on a fresh Debian 12 machine (as root):
# install what is needed, build e1kvm, build the test guest, then boot it with
# an emulated Intel 82540EM (e1000) on a TAP device inside a private network
# namespace, and show the guest's console while it pings the host and runs
# iperf3 through the e1000. All traffic stays inside the namespace.
#
#   bash tools/demo.sh            the demo scenario
#   bash tools/demo.sh shell      an interactive guest shell on the same setup
#                                 (try: ping 10.77.0.1; ethtool -S eth0; poweroff -f)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SCENARIO=${1:-demo}
NS=e1kvm-demo
GUEST_DIR=${E1KVM_GUEST_DIR:-${E1KVM_CACHE:-/var/cache/e1kvm}/out}

step() { echo; echo "### $*"; }

step "installing build and test dependencies (apt-get, only what is missing)"
bash tools/install-deps.sh

step "building e1kvm (meson + ninja)"
[ -d build ] || meson setup build >/dev/null
ninja -C build

step "building the test guest (Debian's linux-source-6.1 + busybox/iperf3/ethtool; cached)"
tests/guest/mkguest.sh "$GUEST_DIR"

step "network namespace $NS: tap0 = 10.77.0.1/24 (host side), guest eth0 = 10.77.0.2/24"
ip netns del $NS 2>/dev/null || true
ip netns add $NS
trap 'ip netns pids $NS 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del $NS 2>/dev/null || true' EXIT
ip -n $NS link set lo up
ip -n $NS tuntap add dev tap0 mode tap
ip -n $NS addr add 10.77.0.1/24 dev tap0
ip -n $NS link set tap0 up
ip netns exec $NS iperf3 -s -D -1 --logfile /dev/null

step "booting: the guest kernel runs in this host's KVM (about 40 s to /init here)"
set -x
ip netns exec $NS "$ROOT/build/e1kvm" -name demo -m 256M -nographic \
    -kernel "$GUEST_DIR/vmlinux" -initrd "$GUEST_DIR/initrd-net.img" \
    -netdev tap,id=net0,ifname=tap0,script=no,downscript=no \
    -device e1000,netdev=net0,mac=52:54:00:12:34:56 \
    -append "$(cat "$GUEST_DIR/cmdline") e1kvm.scenario=$SCENARIO e1kvm.loglevel=4 e1kvm.ip=10.77.0.2/24 e1kvm.peer=10.77.0.1"
set +x
step "host side: tap0 counters after the run"
ip -n $NS -s link show tap0
