#!/usr/bin/env bash
# Install what e1kvm needs to build, test and benchmark on Debian 12 (root).
# Quick when everything is already there: apt-get runs only for what is missing.
set -euo pipefail
PKGS=(
    build-essential meson ninja-build pkg-config clang # build (clang: fuzzing)
    clang-format                                       # tests/run.sh checks the formatting
    libseccomp-dev libclang-rt-14-dev                  # -sandbox (seccomp); libFuzzer for tests/fuzz
    libcmocka-dev                                      # unit tests
    libjson-c-dev libslirp-dev                         # QMP monitor; -netdev user
    iproute2 iputils-ping iperf3 ethtool tcpdump tshark socat # host side of the tests
    qemu-system-x86                                    # side-by-side benchmarks
    linux-perf time bc                                 # benchmarks: exit counts, peak RSS
    linux-source-6.1 busybox-static bc flex bison libelf-dev libssl-dev cpio xz-utils patch # guest
    musl-tools                                         # guest programs: small static binaries
)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # tshark asks whether non-root users may capture: answer no, quietly
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
