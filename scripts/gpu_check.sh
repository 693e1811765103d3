#!/usr/bin/env bash
# Run every CUDA part of tensorop on this machine's NVIDIA GPU and keep the records as files
# (scripts/gpu_check.py says what runs). For a GPU machine with no package index: Python packages
# tensorop needs and the machine lacks travel as wheels in .whl/, bubblewrap (the sandbox) as
# Debian packages in .gpu/debs/ (see docs/CUDA.md, "Running the GPU check").
#
#   scripts/gpu_check.sh OUTDIR [gpu_check.py options]     e.g. --deadline 420 --group correctness,hostile
#   scripts/gpu_check.sh --dry-run OUTDIR                   on a machine without a GPU: the same plan,
#                                                           each run ending as the device_error it must be
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
OUT=${1:?usage: scripts/gpu_check.sh [--dry-run] OUTDIR [options]}
shift
mkdir -p "$OUT"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ "$DRY" = 1 ] && PY=.venv/bin/python
say() { echo "[gpu_check.sh] $*"; }
SCRATCH=$(mktemp -d -t tensorop-gpu.XXXXXX)   # carried wheels and bubblewrap unpack here

# Python packages: whatever is missing comes from the carried wheels (no index there)
if ! $PY -c "import harness.apps.cli" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    say "installing the carried wheels into $SCRATCH/site"
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SCRATCH/site \
      .whl/*.whl || say "pip install of the wheels failed"
    export PYTHONPATH=$SCRATCH/site${PYTHONPATH:+:$PYTHONPATH}
  fi
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
$PY -c "import harness.apps.cli" || { say "tensorop does not import with $PY"; exit 2; }

# bubblewrap: the machine's, else the carried Debian package (with its libraries if missing)
if ! command -v bwrap >/dev/null && ls .gpu/debs/*.deb >/dev/null 2>&1; then
  mkdir -p $SCRATCH/bwrap/bin
  for f in .gpu/debs/*.deb; do dpkg-deb -x "$f" $SCRATCH/bwrap/tree; done
  real=$SCRATCH/bwrap/tree/usr/bin/bwrap
  libs=$SCRATCH/bwrap/tree/lib/x86_64-linux-gnu:$SCRATCH/bwrap/tree/usr/lib/x86_64-linux-gnu
  if ldd "$real" | grep -q "not found"; then
    printf '#!/bin/sh\nexec /lib64/ld-linux-x86-64.so.2 --library-path %s %s "$@"\n' "$libs" "$real" \
      > $SCRATCH/bwrap/bin/bwrap
  else
    printf '#!/bin/sh\nexec %s "$@"\n' "$real" > $SCRATCH/bwrap/bin/bwrap
  fi
  chmod +x $SCRATCH/bwrap/bin/bwrap
  export PATH=$SCRATCH/bwrap/bin:$PATH
  say "bubblewrap from the carried package: $(bwrap --version 2>&1)"
fi

# the NVIDIA driver's libcuda.so.1 must be found by name inside the sandbox
if ! ldconfig -p 2>/dev/null | grep -q "libcuda.so.1"; then
  for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64; do
    if [ -e "$d/libcuda.so.1" ]; then export LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; break; fi
  done
fi

{
  echo "# machine"
  uname -a; nproc; command -v nvcc && nvcc --version | tail -2
  echo "python: $($PY --version 2>&1) at $(command -v $PY)"
  echo "bwrap: $(command -v bwrap) $(bwrap --version 2>&1)"
  echo "nvcc: $(ls -la "$(command -v nvcc)") -> $(readlink -f "$(command -v nvcc)")"; ls -la /usr/local/ | grep -i cuda
  findmnt -rn -o TARGET,SOURCE,FSTYPE,OPTIONS 2>/dev/null | grep -Ei "usr|cuda|nvidia|opt" | head -20
  echo "libcuda: $(ldconfig -p 2>/dev/null | grep libcuda.so.1 | head -2) LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  $PY - <<'EOF'
from harness.cuda import tools
print("cublas include/lib:", tools.library_include("cublas"), tools.library_lib("cublas"))
print("cudnn include/lib:", tools.library_include("cudnn"), tools.library_lib("cudnn"))
EOF
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

SANDBOX=()
if ! bwrap --unshare-all --die-with-parent --uid 65534 --gid 65534 --ro-bind /usr /usr --symlink usr/lib64 /lib64 \
     --symlink usr/lib /lib --symlink usr/bin /bin --proc /proc --dev /dev true 2>"$OUT/bwrap.err"; then
  say "bubblewrap does not run here ($(tail -1 "$OUT/bwrap.err")): the device runs UNCONFINED (sandbox: false)"
  SANDBOX=(--no-sandbox)
fi
if [ "$DRY" = 1 ]; then
  exec $PY scripts/gpu_check.py "$OUT" --device-name h200 --sm sm_90a "${SANDBOX[@]}" "$@"
fi
exec $PY scripts/gpu_check.py "$OUT" "${SANDBOX[@]}" "$@"
