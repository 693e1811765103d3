#!/usr/bin/env bash
# Sets up everything tensorop needs on a Debian/Ubuntu x86-64 (or arm64) machine. Idempotent:
# a second run only checks. Steps:
#   1. Debian packages: cross compilers, QEMU user mode, OpenSSH (for the farm tests)
#   2. .venv with tensorop and its Python dependencies
#   3. OpenBLAS 0.3.34 (scipy-openblas32 wheels) for x86_64, aarch64 and riscv64 in .cache/openblas/
#   3b. x86_64 only: oneMKL (the mkl and mkl-include wheels) in .cache/mkl/x86_64/, the `mkl` baseline;
#      the mkl wheel is ~230 MB to download and ~470 MB of libraries unpacked (only the LP64 interface,
#      the sequential and GNU threading layers, the core and its CPU-specific libraries are kept)
#   4. a glibc >= 2.38 run-time sysroot for riscv64 (Debian trixie's libc6-riscv64-cross) in .cache/sysroot/
#   5. the QEMU instruction-count plugin, built against qemu-plugin.h from Debian's qemu source package
#   6. CUDA: nvcc (unless the machine has one) and cuobjdump from NVIDIA's PyPI wheels into .venv, for
#      the compile-only CUDA path (no GPU needed), and only the headers of the cuBLAS/cuDNN wheels (plus
#      cuDNN's small loader library) into .cache/cuda-headers/; a failure here only makes the CUDA tests skip
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${TENSOROP_CACHE:-$ROOT/.cache}
PY=${PYTHON:-python3}
log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# ---- 1. Debian packages -----------------------------------------------------------------
PKGS=(gcc make pkg-config xz-utils unzip qemu-user qemu-user-static
      gcc-riscv64-linux-gnu libc6-dev-riscv64-cross gcc-aarch64-linux-gnu libc6-dev-arm64-cross
      openssh-server openssh-client iproute2 util-linux bubblewrap llvm-19)
# oneDNN for the onednn conv2d baseline (x86-64: Debian's CPU build; PyPI's wheels are SYCL builds)
[ "$(uname -m)" = x86_64 ] && PKGS+=(libdnnl-dev)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
have_clang=""
for v in 19 18 17 16; do command -v clang-$v >/dev/null && { have_clang=clang-$v; break; }; done
apt_updated=""
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "tensorop setup: missing Debian packages: $*" >&2
    echo "run: sudo apt-get install -y $*   (then make setup again)" >&2
    exit 1
  fi
  [ -n "$apt_updated" ] || { log "apt-get update"; apt-get update -qq; apt_updated=1; }
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
if [ -z "$have_clang" ]; then
  [ -n "$apt_updated" ] || { [ "$(id -u)" = 0 ] && { apt-get update -qq; apt_updated=1; }; }
  for v in 19 18 17 16; do
    if apt-cache show clang-$v >/dev/null 2>&1; then apt_install clang-$v lld-$v; have_clang=clang-$v; break; fi
  done
  [ -n "$have_clang" ] || { echo "tensorop setup: need clang >= 16 for RVV 1.0 intrinsics; none installable" >&2; exit 1; }
fi

# ---- 2. Python environment ------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then log "creating .venv"; $PY -m venv .venv; fi
stamp=.venv/.tensorop-installed
if [ ! -f $stamp ] || [ pyproject.toml -nt $stamp ]; then
  log "installing tensorop into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test,cuda]'
  touch $stamp
fi

# ---- a private apt list reusing this machine's Debian mirror (for other suites / sources) --
mirror_uri() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  echo "$uri"
}
APTDIR=$CACHE/apt
private_apt() {   # private_apt <apt args...>
  apt-get -q -o Dir::Etc::SourceList="$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$APTDIR/lists" -o Dir::Cache="$APTDIR/cache" -o Debug::NoLocking=1 \
    -o APT::Sandbox::User=root "$@"
}
private_apt_ready=""
prepare_private_apt() {
  [ -n "$private_apt_ready" ] && return
  local uri; uri=$(mirror_uri)
  [ -n "$uri" ] || { echo "tensorop setup: cannot find the Debian mirror in /etc/apt sources" >&2; exit 1; }
  local codename; codename=$(. /etc/os-release; echo "${VERSION_CODENAME:-bookworm}")
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
  local key=/usr/share/keyrings/debian-archive-keyring.gpg
  cat > "$APTDIR/sources.list" <<SRC
deb [signed-by=$key] $uri trixie main
deb-src [signed-by=$key] $uri $codename main
SRC
  log "private apt lists (trixie, $codename sources)"
  private_apt update >/dev/null
  private_apt_ready=1
}

# ---- 3. OpenBLAS for each architecture --------------------------------------------------
OPENBLAS_VERSION=0.3.34.481.3
for spec in x86_64:manylinux_2_28_x86_64:manylinux_2_27_x86_64 aarch64:manylinux_2_28_aarch64:manylinux_2_27_aarch64 riscv64:manylinux_2_39_riscv64:manylinux_2_38_riscv64; do
  arch=${spec%%:*}; plats=${spec#*:}
  dest=$CACHE/openblas/$arch
  [ -f "$dest/libscipy_openblas.so" ] && continue
  log "OpenBLAS $OPENBLAS_VERSION for $arch"
  tmp=$(mktemp -d)
  args=()
  for p in ${plats//:/ }; do args+=(--platform "$p"); done
  .venv/bin/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: "${args[@]}" \
    --python-version 3.11 -d "$tmp" "scipy-openblas32==$OPENBLAS_VERSION"
  mkdir -p "$dest"
  unzip -q -o -j "$tmp"/*.whl 'scipy_openblas32/lib/libscipy_openblas.so' -d "$dest"
  rm -rf "$tmp"
done

# ---- 3b. oneMKL for x86_64 (the `mkl` baseline; harness/backends/cpu/baselines.py) -------------
MKL_VERSION=2026.2.1        # baselines.py MKL_VERSION
MKLDIR=$CACHE/mkl/x86_64
MKL_LIBS=(libmkl_intel_lp64.so.3 libmkl_sequential.so.3 libmkl_gnu_thread.so.3 libmkl_core.so.3
          libmkl_def.so.3 libmkl_mc3.so.3 libmkl_avx2.so.3 libmkl_avx512.so.3 libmkl_avx10.so.3)
if [ "$(uname -m)" != x86_64 ]; then
  log "oneMKL: skipped (its wheels are for x86_64 only; this machine is $(uname -m)): the mkl baseline is unavailable"
elif [ ! -f "$MKLDIR/lib/libmkl_core.so.3" ] || [ ! -f "$MKLDIR/include/mkl.h" ]; then
  log "oneMKL $MKL_VERSION (the mkl wheel is ~230 MB)"
  tmp=$(mktemp -d)
  if .venv/bin/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
       --platform manylinux_2_28_x86_64 --python-version 3.11 -d "$tmp" \
       "mkl==$MKL_VERSION" "mkl-include==$MKL_VERSION"; then
    mkdir -p "$MKLDIR/lib" "$MKLDIR/include"
    unzip -q -o -j "$tmp"/mkl-"$MKL_VERSION"-*.whl "${MKL_LIBS[@]/#/mkl-$MKL_VERSION.data/data/lib/}" -d "$MKLDIR/lib"
    unzip -q -o -j "$tmp"/mkl_include-*.whl "mkl_include-$MKL_VERSION.data/data/include/*.h" -d "$MKLDIR/include"
  else
    echo "tensorop setup: could not fetch the oneMKL wheels (offline?); the mkl baseline is unavailable" >&2
  fi
  rm -rf "$tmp"
fi

# ---- 4. riscv64 run-time sysroot with glibc >= 2.38 -------------------------------------
RVSYS=$CACHE/sysroot/riscv64
if [ ! -e "$RVSYS/lib/ld-linux-riscv64-lp64d.so.1" ]; then
  prepare_private_apt
  log "riscv64 glibc run-time sysroot (Debian trixie libc6-riscv64-cross)"
  tmp=$(mktemp -d)
  (cd "$tmp" && private_apt download libc6-riscv64-cross >/dev/null)
  dpkg -x "$tmp"/libc6-riscv64-cross_*.deb "$tmp/x"
  rm -rf "$RVSYS"; mkdir -p "$(dirname "$RVSYS")"
  mv "$tmp/x/usr/riscv64-linux-gnu" "$RVSYS"
  rm -rf "$tmp"
fi

# ---- 5. QEMU instruction-count plugin ---------------------------------------------------
QINC=$CACHE/qemu/include
if [ ! -f "$QINC/qemu-plugin.h" ]; then
  prepare_private_apt
  log "qemu-plugin.h from Debian's qemu source package"
  tmp=$(mktemp -d)
  (cd "$tmp" && private_apt source --download-only qemu >/dev/null)
  mkdir -p "$QINC"
  tar -xJf "$tmp"/qemu_*.orig.tar.xz -C "$tmp" --wildcards '*/include/qemu/qemu-plugin.h'
  cp "$tmp"/qemu-*/include/qemu/qemu-plugin.h "$QINC/"
  rm -rf "$tmp"
fi
if [ ! -f "$CACHE/qemu/libtensorop.so" ] || [ qemu/tensorop_plugin.c -nt "$CACHE/qemu/libtensorop.so" ] || [ qemu/cache_sim.h -nt "$CACHE/qemu/libtensorop.so" ]; then
  log "building the QEMU instruction-count plugin"
  make -s -C qemu PLUGIN_INCLUDE="$QINC" OUT="$CACHE/qemu/libtensorop.so"
fi
# ---- 6. CUDA compiler and SASS tools (harness/backends/cuda/tools.py finds them) ----------------------
cuda_tool() {   # cuda_tool NAME: true when NAME is on PATH, in a CUDA install or in .venv's wheels
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/local/cuda/bin/$1" ] && return 0
  [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/$1" ] && return 0
  compgen -G ".venv/lib/python3*/site-packages/nvidia/cu1*/bin/$1" >/dev/null
}
cuda_wheels=()
cuda_tool nvcc || cuda_wheels+=("nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*"
                                "nvidia-nvvm==13.0.*" "nvidia-cuda-cccl==13.0.*")
# the oldest cuobjdump/nvdisasm wheels; they read 12.x/13.x cubins (cuobjdump -sass runs nvdisasm)
cuda_tool cuobjdump || cuda_wheels+=("nvidia-cuda-cuobjdump==13.2.*")
cuda_tool nvdisasm || cuda_wheels+=("nvidia-cuda-nvdisasm==13.2.*")
if [ ${#cuda_wheels[@]} -gt 0 ]; then
  log "CUDA tools from NVIDIA's PyPI wheels into .venv: ${cuda_wheels[*]}"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps "${cuda_wheels[@]}" \
    || echo "tensorop setup: could not install the CUDA wheels; the CUDA compile-only tests will skip" >&2
fi
# cuBLAS and cuDNN headers for the baselines' compile (and cuDNN's link) tests: the wheels are ~0.5 GB
# each, so only their include/*.h (and libcudnn.so.N, 137 KB) are read out of them with HTTP range
# requests (remotezip), pinned to nvcc's major version (scripts/fetch_cuda_headers.py)
nvcc_bin=$(command -v nvcc 2>/dev/null || true)
[ -n "$nvcc_bin" ] || for c in /usr/local/cuda/bin/nvcc ${CUDA_HOME:+$CUDA_HOME/bin/nvcc} .venv/lib/python3*/site-packages/nvidia/cu1*/bin/nvcc; do
  [ -x "$c" ] && { nvcc_bin=$c; break; }
done
if [ -n "$nvcc_bin" ]; then
  .venv/bin/python scripts/fetch_cuda_headers.py --dest "$CACHE/cuda-headers" --nvcc "$nvcc_bin" \
    || echo "tensorop setup: could not fetch the cuBLAS/cuDNN headers; their compile tests will skip" >&2
fi
log "ready: .venv/bin/tensorop"
