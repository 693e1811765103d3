"""A board's image, built once from Debian packages and cached in the user's cache directory
(harness/config/boards.py `board_dir`: ${XDG_CACHE_HOME:-~/.cache}/tensorop/boards/NAME):

    NAME/build.json         what was built (suite, packages, files and their digests, time taken)
    NAME/rootfs.ext4        the root file system (booted with snapshot=on: the cache is never written)
    NAME/vmlinux-*|vmlinuz-*, initrd.img-*   the distro's kernel and initrd, from the image's /boot
    NAME/id_ed25519[.pub]   the login key of the board's unprivileged user (made at build time)
    NAME/ssh_host_ed25519_key.pub   the board's host key (made at build time; known_hosts is written from it)
    NAME/openblas/libopenblas.so.0  the board's own OpenBLAS (its package's bytes; the baseline links it)
    NAME/run/               a running board's pid, console log and QEMU log (harness/transport/boards/vm.py)

Only Debian packages: mmdebstrap (a foreign --arch runs the package scripts through qemu-user-static's
binfmt_misc formats), the distro's kernel and initrd, mkfs.ext4 -d. A build goes into a scratch
directory beside NAME and is renamed into place whole, so a half-built board is never seen.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from harness.config.boards import BOARD_OPENBLAS, SystemBoard, board_dir
from harness.transport.boards import BoardError

MANIFEST = "build.json"
FORMAT = 1                       # bump when the image's layout or contents change (old caches are rebuilt)
LOGIN_KEY = "id_ed25519"
HOST_KEY_PUB = "ssh_host_ed25519_key.pub"
OPENBLAS = BOARD_OPENBLAS

_HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "riscv64": "riscv64"}
_QEMU_USER = {"riscv64": "qemu-riscv64", "arm64": "qemu-aarch64"}


def apt_line(packages) -> str:
    return "apt-get install -y " + " ".join(dict.fromkeys(packages))


def missing_tools(board: SystemBoard) -> list[tuple[str, str]]:
    """(tool or file, Debian package) for each host tool or firmware the board needs and lacks."""
    out = []
    for tool, pkg in board.tools:
        if tool.endswith("-static") and not foreign(board):
            continue                                  # a native build needs no qemu-user
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            out.append((tool, pkg))
    for path, pkg in board.firmware:
        if not Path(path).exists():
            out.append((path, pkg))
    return out


def check_tools(board: SystemBoard) -> None:
    """A BoardError with the apt-get line when a host tool or firmware the board needs is missing."""
    miss = missing_tools(board)
    if miss:
        raise BoardError(f"{board.name}: missing {', '.join(t for t, _ in miss)}; install with: "
                         f"{apt_line(p for _, p in miss)}")


def foreign(board: SystemBoard) -> bool:
    return _HOST_ARCH.get(platform.machine().lower()) != board.debian_arch


def ensure_binfmt(board: SystemBoard, run=subprocess.run) -> None:
    """A foreign --arch needs binfmt_misc mounted and qemu-user-static's format for the board's
    arch enabled; done here when we are root, else a BoardError saying how."""
    if not foreign(board):
        return
    fmt = Path("/proc/sys/fs/binfmt_misc") / _QEMU_USER[board.debian_arch]
    if _enabled(fmt):
        return
    how = ("mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc; "
           f"update-binfmts --enable {_QEMU_USER[board.debian_arch]}")
    if os.geteuid() == 0:
        if not Path("/proc/sys/fs/binfmt_misc/register").exists():
            run(["mount", "binfmt_misc", "-t", "binfmt_misc", "/proc/sys/fs/binfmt_misc"], capture_output=True)
        run(["update-binfmts", "--enable", _QEMU_USER[board.debian_arch]], capture_output=True)
        if _enabled(fmt):
            return
    raise BoardError(f"{board.name}: building a {board.debian_arch} image on this {platform.machine()} host "
                     f"needs qemu-user-static's binfmt_misc format {fmt.name} (not registered); as root: {how}")


def _enabled(fmt: Path) -> bool:
    try:
        return fmt.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        return False


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest(home: Path) -> dict | None:
    try:
        return json.loads((home / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def cache_problem(board: SystemBoard, home: Path | None = None, *, deep: bool = True) -> str:
    """Why the cached image of `board` cannot be booted ("" when it can): no build, an unreadable or
    older manifest, a missing file, a file whose digest or size changed, a file system e2fsck rejects."""
    home = home or board_dir(board.name)
    if not home.exists():
        return "not built"
    m = manifest(home)
    if m is None:
        return f"{home / MANIFEST} is missing or unreadable"
    if m.get("format") != FORMAT or m.get("board") != board.name:
        return f"{home / MANIFEST} is of another format or board"
    if sorted(m.get("packages", [])) != sorted(board.all_packages) or m.get("suite") != board.suite:
        return "built with other packages or suite than the board now names"
    for rel, want in m.get("files", {}).items():
        p = home / rel
        if not p.is_file():
            return f"{p} is missing"
        if want.get("size") != p.stat().st_size:
            return f"{p} changed size"
        if "sha256" in want and _sha256(p) != want["sha256"]:
            return f"{p} does not match its digest"
    e2fsck = shutil.which("e2fsck") or "/usr/sbin/e2fsck"
    if deep and Path(e2fsck).exists():
        r = subprocess.run([e2fsck, "-fn", str(home / "rootfs.ext4")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return f"e2fsck finds its root file system damaged: {(r.stdout + r.stderr).strip().splitlines()[-1:]}"
    return ""


@contextmanager
def build_lock(name: str):
    """One build of a board at a time on this machine (another `boards up` waits for it)."""
    root = board_dir(name).parent
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


_HOOK = r"""#!/bin/sh
# mmdebstrap --customize-hook: the board's network, login user, host key and sshd policy
set -eu
root="$1"; src="$2"; name="$3"; user="$4"; console="$5"
echo "$name" > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$name" > "$root/etc/hosts"
# minbase has no DHCP client: QEMU's user network is always 10.0.2.0/24 with the gateway at .2
mkdir -p "$root/etc/network"
printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n  address 10.0.2.15/24\n  gateway 10.0.2.2\n' \
  > "$root/etc/network/interfaces"
printf 'nameserver 10.0.2.3\n' > "$root/etc/resolv.conf"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' > "$root/etc/fstab"
# the unprivileged login: key only (no password is set; sshd allows no passwords anyway)
chroot "$root" useradd --create-home --shell /bin/sh "$user"
mkdir -p "$root/home/$user/.ssh"
cp "$src/id_ed25519.pub" "$root/home/$user/.ssh/authorized_keys"
chmod 700 "$root/home/$user/.ssh"; chmod 600 "$root/home/$user/.ssh/authorized_keys"
chroot "$root" chown -R "$user:$user" "/home/$user/.ssh"
# the host key made on the host at build time (so known_hosts is written from it, no trust on first use)
rm -f "$root"/etc/ssh/ssh_host_*
cp "$src/ssh_host_ed25519_key" "$src/ssh_host_ed25519_key.pub" "$root/etc/ssh/"
chmod 600 "$root/etc/ssh/ssh_host_ed25519_key"
mkdir -p "$root/etc/ssh/sshd_config.d"
cat > "$root/etc/ssh/sshd_config.d/tensorop.conf" <<EOF
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers $user
UseDNS no
EOF
# nothing that wakes up on its own to compete with the measurements
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer \
            systemd-timesyncd.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# the serial console's login prompt is not needed (a root shell is never offered)
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@$console.service"
"""


def build(board: SystemBoard, *, log: Callable[[str], None] = print) -> dict:
    """Build `board` into its cache directory (replacing whatever is there) and return its manifest.
    Takes minutes (a foreign arch's package scripts run under qemu-user)."""
    check_tools(board)
    if os.geteuid() != 0:
        raise BoardError(f"{board.name}: building a board needs root (mmdebstrap's root mode, chroot in its "
                         f"customize hook, file ownership for mkfs.ext4 -d); run `tensorop boards up "
                         f"{board.name}` once as root, or give this user a built cache directory")
    ensure_binfmt(board)
    home = board_dir(board.name)
    home.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{board.name}.build-", dir=home.parent))
    started = time.monotonic()
    try:
        keygen = shutil.which("ssh-keygen") or "ssh-keygen"
        for f, comment in ((LOGIN_KEY, f"tensorop@{board.name}"), ("ssh_host_ed25519_key", f"root@{board.name}")):
            subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(work / f)],
                           check=True, capture_output=True)
        (work / "hook.sh").write_text(_HOOK)
        rootfs = work / "rootfs"
        cmd = ["mmdebstrap", f"--arch={board.debian_arch}", "--variant=minbase",
               f"--include={','.join(board.all_packages)}",
               f"--customize-hook=sh {work / 'hook.sh'} \"$1\" {work} {board.name} {board.user} {board.console}",
               board.suite, str(rootfs), board.mirror]
        log(f"{board.name}: building from Debian packages (mmdebstrap {board.suite} {board.debian_arch}); "
            f"takes minutes; log: {work.parent / (board.name + '.build.log')}")
        blog = work.parent / f"{board.name}.build.log"
        with open(blog, "w") as out:
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        if rc != 0:
            tail = "\n".join(blog.read_text(errors="replace").splitlines()[-15:])
            raise BoardError(f"{board.name}: mmdebstrap failed (exit {rc}); its log {blog} ends:\n{tail}")
        kernel = _one(rootfs / "boot", board.kernel_glob, board)
        initrd = _one(rootfs / "boot", board.initrd_glob, board)
        shutil.copy2(kernel, work / kernel.name)
        shutil.copy2(initrd, work / initrd.name)
        files = [kernel.name, initrd.name, LOGIN_KEY, LOGIN_KEY + ".pub", HOST_KEY_PUB]
        if board.openblas_glob:
            lib = rootfs / board.openblas_glob
            if not lib.is_file():
                raise BoardError(f"{board.name}: the image has no {board.openblas_glob} (package libopenblas0)")
            (work / "openblas").mkdir()
            shutil.copy2(lib.resolve(), work / OPENBLAS)
            files.append(OPENBLAS)
        os.remove(work / "ssh_host_ed25519_key")          # the board has it; the host needs only the public half
        mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
        r = subprocess.run([mkfs, "-q", "-F", "-L", "tensorop-root", "-d", str(rootfs), str(work / "rootfs.ext4"),
                            f"{board.image_mb}M"], capture_output=True, text=True)
        if r.returncode != 0:
            raise BoardError(f"{board.name}: mkfs.ext4 -d failed: {(r.stdout + r.stderr).strip()[-600:]}")
        shutil.rmtree(rootfs)
        m = {"format": FORMAT, "board": board.name, "suite": board.suite, "arch": board.debian_arch,
             "packages": list(board.all_packages), "mirror": board.mirror, "kernel": kernel.name,
             "initrd": initrd.name, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "build_s": round(time.monotonic() - started, 1),
             "files": {f: {"size": (work / f).stat().st_size, "sha256": _sha256(work / f)} for f in files}}
        m["files"]["rootfs.ext4"] = {"size": (work / "rootfs.ext4").stat().st_size}
        (work / MANIFEST).write_text(json.dumps(m, indent=1) + "\n")
        if home.exists():
            shutil.rmtree(home)
        os.rename(work, home)
        log(f"{board.name}: built in {m['build_s']:.0f} s ({_size(home)}) at {home}")
        return m
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def ensure_built(board: SystemBoard, *, rebuild: bool = False, log: Callable[[str], None] = print) -> dict:
    """The board's manifest, building it first when there is no usable cache (a corrupt one is
    rebuilt, saying why)."""
    with build_lock(board.name):
        why = "rebuild asked for" if rebuild else cache_problem(board)
        if not why:
            return manifest(board_dir(board.name))
        if why != "not built":
            log(f"{board.name}: cached image unusable ({why}); rebuilding")
        return build(board, log=log)


def _one(folder: Path, pattern: str, board: SystemBoard) -> Path:
    found = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not found:
        raise BoardError(f"{board.name}: no {pattern} in the image's /boot (package {board.kernel_package})")
    return found[-1]


def _size(home: Path) -> str:
    total = sum(p.stat().st_blocks * 512 for p in home.rglob("*") if p.is_file())
    return f"{total / 2**20:.0f} MiB on disk"
