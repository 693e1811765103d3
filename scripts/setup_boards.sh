#!/usr/bin/env bash
# Set-up for the boards in QEMU system mode (`make test-boards`, `tensorop boards up`): the Debian
# packages that build and boot them, and binfmt_misc with qemu-user-static's formats registered
# (mmdebstrap --arch=riscv64|arm64 runs the packages' scripts through them). Idempotent; needs root
# (or sudo) only for what is missing. The boards themselves are built by `tensorop boards up NAME`
# into ${XDG_CACHE_HOME:-~/.cache}/tensorop/boards/NAME (docs/DEVICES.md, "Boards").
set -euo pipefail
log() { echo "tensorop setup-boards: $*" >&2; }
# arch-test: mmdebstrap's check that a foreign architecture runs (only a Recommends of it, which
# --no-install-recommends leaves out: "E: install arch-test for foreign architecture support")
PKGS=(mmdebstrap arch-test qemu-system-misc qemu-system-arm qemu-system-data qemu-user-static binfmt-support
      e2fsprogs openssh-client)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "run: sudo apt-get install -y ${missing[*]}   (then make test-boards again)" >&2
    exit 1
  fi
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
host=$(dpkg --print-architecture)
for fmt in qemu-riscv64 qemu-aarch64; do
  case "$host:$fmt" in riscv64:qemu-riscv64|arm64:qemu-aarch64) continue ;; esac
  [ "$(head -1 /proc/sys/fs/binfmt_misc/$fmt 2>/dev/null)" = enabled ] && continue
  if [ "$(id -u)" != 0 ]; then
    echo "run as root: mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable $fmt" >&2
    exit 1
  fi
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable "$fmt"
  [ "$(head -1 /proc/sys/fs/binfmt_misc/$fmt 2>/dev/null)" = enabled ] || { log "cannot enable binfmt $fmt"; exit 1; }
  log "binfmt_misc: $fmt enabled"
done
