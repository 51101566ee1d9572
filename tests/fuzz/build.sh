#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang into OUTDIR (default build-fuzz/):
#   fuzz_e1000      the e1000 model (tests/fuzz/fuzz_e1000.c)
#   fuzz_virtqueue  the virtio split virtqueue (tests/fuzz/fuzz_virtqueue.c)
#   fuzz_virtio_net the whole virtio-net-pci device (tests/fuzz/fuzz_virtio_net.c)
# The VMM's sources (all of src/ but main.c, as in the core library) are
# compiled with -fsanitize=fuzzer-no-link (coverage for the fuzzer) plus
# ASan and UBSan; only the harness is linked with -fsanitize=fuzzer (which
# brings libFuzzer's main). A plain command line rather than a meson build
# dir: it has no configuration to go stale and needs nothing but clang and
# its runtime (Debian: clang, libclang-rt-14-dev).
#
#   bash tests/fuzz/build.sh [OUTDIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/build-fuzz}
CC=${CC_FUZZ:-clang}
mkdir -p "$OUT/obj"
command -v "$CC" >/dev/null || { echo "build.sh: $CC not found (apt-get install clang)" >&2; exit 1; }

SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
CFLAGS=(-std=gnu11 -O1 -g -D_GNU_SOURCE -DE1KVM_VERSION='"fuzz"' -I"$ROOT/src" -Wall -Wextra
        -Wno-unused-parameter -Wno-gnu-designator -pthread)
LIBS=(-pthread)
# libraries some VMM sources use: linked only if an object that is pulled in needs them
for lib in libseccomp json-c slirp; do
    if pkg-config --exists "$lib" 2>/dev/null; then
        read -ra l <<<"$(pkg-config --libs "$lib")"
        LIBS+=("${l[@]}")
    fi
done

# Compile in parallel. A source that does not compile here (a library's
# headers missing, say) is left out: if a harness needs it, linking fails.
objs=()
pids=()
cd "$ROOT"
while IFS= read -r src; do
    obj=$OUT/obj/$(echo "${src#src/}" | tr / _ | sed 's/\.c$/.o/')
    objs+=("$obj")
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src -name '*.h' -newer "$obj" -print -quit)" ]; then
        rm -f "$obj"
        ("$CC" "${CFLAGS[@]}" "${SAN[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj.tmp" &&
            mv "$obj.tmp" "$obj" || echo "build.sh: warning: $src does not compile with $CC; left out") &
        pids+=($!)
    fi
done < <(find src -name '*.c' ! -path src/main.c | LC_ALL=C sort)
for p in "${pids[@]}"; do wait "$p"; done
present=()
for o in "${objs[@]}"; do [ -f "$o" ] && present+=("$o"); done
objs=("${present[@]}")

# An archive: the linker takes only the objects a harness needs (the VMM's
# other parts may need libraries the harness does not). The device models a
# harness drives register themselves from constructors, so their objects are
# named explicitly (the virtqueue is called directly: the archive suffices).
rm -f "$OUT/libcore.a"
ar rcs "$OUT/libcore.a" "${objs[@]}"
for h in tests/fuzz/fuzz_*.c; do
    name=$(basename "$h" .c)
    extra=()
    case $name in
    fuzz_e1000) extra=("$OUT"/obj/hw_e1000_*.o) ;;
    fuzz_virtio_net) extra=("$OUT"/obj/hw_virtio_*.o) ;;
    esac
    "$CC" "${CFLAGS[@]}" "${SAN[@]}" -fsanitize=fuzzer -o "$OUT/$name" "$h" "${extra[@]}" \
        "$OUT/libcore.a" -Wl,--as-needed "${LIBS[@]}"
    echo "build.sh: built $OUT/$name"
done
