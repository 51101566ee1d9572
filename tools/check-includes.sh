#!/usr/bin/env bash
# The include directions between the layers of src/ (docs/ARCHITECTURE.md,
# "Layers and what each may include"). Every #include "..." of every file in
# src/ is checked against the table below; each violation is printed as
#
#   src/FILE:LINE: LAYER may not include HEADER
#
# and the script exits 1 if there is any. A header a layer may not include
# is a dependency in the wrong direction: the layers would no longer build,
# test and be read one at a time.
#
#   bash tools/check-includes.sh [SOURCE_DIR]    (default: this repository)
set -uo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT" || exit 2
[ -d src ] || { echo "check-includes.sh: no src/ in $ROOT" >&2; exit 2; }

# The layer a source file belongs to: its first folder under src/. main.c,
# the monitor and the board assembly put the machine together from every
# layer, so they are "top" and may include anything.
layer_of() {
    case $1 in
    src/main.c | src/hw/board.c | src/monitor/*) echo top ;;
    src/*/*) local p=${1#src/}; echo "${p%%/*}" ;;
    *) echo top ;;
    esac
}

# allowed LAYER HEADER: what each layer may include besides its own folder.
# Keep this table and the one in docs/ARCHITECTURE.md the same.
allowed() {
    local layer=$1 hdr=$2
    case $layer in
    top) return 0 ;;
    util) return 1 ;;
    qom) case $hdr in util/*) return 0 ;; esac ;;
    trace) case $hdr in util/* | qom/*) return 0 ;; esac ;;
    core) case $hdr in util/* | qom/* | trace/*) return 0 ;; esac ;;
    boot) case $hdr in util/* | core/*) return 0 ;; esac ;;
    net) case $hdr in util/* | qom/* | trace/* | core/loop.h) return 0 ;; esac ;;
    hw)
        case $hdr in
        util/* | qom/* | trace/* | net/net.h | net/eth.h) return 0 ;;
        core/memory.h | core/loop.h | core/doorbell.h | core/irq.h | core/machine.h) return 0 ;;
        esac
        ;;
    esac
    return 1
}

violations=0
while IFS= read -r file; do
    layer=$(layer_of "$file")
    dir=$(dirname "${file#src/}")
    while IFS=: read -r line hdr; do
        # a header named without a folder is the includer's neighbour
        case $hdr in */*) ;; *) hdr=$dir/$hdr ;; esac
        hlayer=${hdr%%/*}
        ok=1
        if [ "$hlayer" != "$layer" ] && ! allowed "$layer" "$hdr"; then
            ok=0
        fi
        # a folder's private header (NAME-int.h, NAME_int.h) stays in that folder
        case $hdr in
        *-int.h | *_int.h) [ "$(dirname "$hdr")" = "$dir" ] || ok=0 ;;
        esac
        if [ $ok = 0 ]; then
            echo "$file:$line: $layer may not include $hdr"
            violations=$((violations + 1))
        fi
    done < <(awk '/^[ \t]*#[ \t]*include[ \t]*"/ {
                      match($0, /"[^"]*"/)
                      print FNR ":" substr($0, RSTART + 1, RLENGTH - 2)
                  }' "$file")
done < <(find src -name '*.[ch]' | sort)

if [ $violations -gt 0 ]; then
    echo "check-includes.sh: $violations include(s) against the layer directions (docs/ARCHITECTURE.md)" >&2
    exit 1
fi
exit 0
