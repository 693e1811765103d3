#!/usr/bin/env bash
# The regression gate a CI job runs on a pull request (examples/ci/tensorop-regression.yml calls it;
# run it locally the same way): the example kernels' sources at BASE_REF and HEAD_REF measured
# together on the emulated devices (modelled cycles: deterministic), a Markdown table and a chart
# in $OUT, exit 1 on a regression (a kernel slower beyond the threshold, or broken), 2 on bad input.
#
#   examples/ci/regression.sh BASE_REF [HEAD_REF]      e.g. examples/ci/regression.sh origin/main
set -uo pipefail
base=${1:?usage: examples/ci/regression.sh BASE_REF [HEAD_REF]}
head=${2:-HEAD}
out=${OUT:-results/ci}
shapes=(-s "${SHAPE:-128x128x128}" -s 96x80x72)
tensorop=${TENSOROP:-.venv/bin/tensorop}
mkdir -p "$out"
status=0
# each device with the kernels written for it
run() {
    local name=$1 device=$2; shift 2
    local ks=(); for k in "$@"; do ks+=(-k "$k"); done
    "$tensorop" compare --base-ref "$base" --head-ref "$head" "${ks[@]}" -d "$device" "${shapes[@]}" \
        -f md -o "$out/$name.md" --chart "$out/$name.png"
    local rc=$?
    [ -f "$out/$name.md" ] && cat "$out/$name.md"
    if [ $rc -gt $status ]; then status=$rc; fi
}
run rv64 rv64-qemu kernels/examples/gemm_rvv.c
run arm64 arm64-qemu kernels/examples/gemm_neon.c kernels/examples/gemm_sve.c
cat "$out"/*.md > "$out/compare.md" 2>/dev/null
echo "regression gate: exit $status (0 no regression, 1 regression, 2 bad input)"
exit $status
