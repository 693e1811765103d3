"""Real boards by name, so a name never silently means something else (docs/DEVICES.md).

A board's name resolves to a device of that name (or alias) in devices.yaml when one is
configured; otherwise to the closest emulated core, with a notice saying so and how its speed
is modelled; and where no emulated device is close (RVV 0.7.1 cores, GPUs), to a clear error
saying what is needed. Never to another ISA.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_XTHEAD = ("implements RVV 0.7.1 (XTheadVector), which QEMU's RVV 1.0 cannot stand in for: it needs a "
           "real board over SSH (see the commented k1 example in devices.yaml) and an XTheadVector-capable "
           "toolchain (GCC >= 14, -march=rv64gc_xtheadvector)")


@dataclass(frozen=True)
class Board:
    names: tuple[str, ...]           # lower-case labels a user or a prompt may use
    title: str
    emulated_by: str = ""            # the closest emulated device, "" if none
    needs: str = ""                  # why there is no emulated stand-in


BOARDS = (
    Board(("k1", "spacemit k1", "spacemit-k1", "bpi-f3", "banana pi bpi-f3", "spacemit x60", "x60"),
          "SpacemiT K1 (X60 cores, RVV 1.0, VLEN 256)", "rv64-qemu"),
    Board(("c908", "t-head c908"), "T-Head C908 (RVV 1.0, VLEN 128)", "rv64-qemu-vlen128"),
    Board(("c910", "t-head c910", "c920", "th1520", "lichee pi 4a"), "T-Head C910/C920", needs=_XTHEAD),
    Board(("c906", "t-head c906", "allwinner d1"), "T-Head C906", needs=_XTHEAD),
    Board(("a76", "cortex-a76", "raspberry pi 5", "pi5", "rpi5", "bcm2712"), "Arm Cortex-A76 (NEON)", "a76-qemu"),
    Board(("graviton3", "neoverse-v1"), "Arm Neoverse V1 (SVE 256)", "arm64-qemu"),
    Board(("h100", "h200", "a100", "l40s", "rtx 4060", "rtx 4090", "4060", "4090"), "an NVIDIA GPU",
          needs="is a GPU: configure the GPU server as an SSH device (see the commented h100 example in "
                "devices.yaml); nothing emulates it"),
)


def board_named(text: str) -> Board | None:
    t = " ".join(text.strip().lower().split())
    for b in BOARDS:
        if t in b.names:
            return b
    return None


def all_labels() -> list[tuple[str, Board]]:
    return [(n, b) for b in BOARDS for n in b.names]


# ---- boards tensorop builds and boots itself (QEMU system mode) ---------------------------------
# A Linux board from Debian packages only (mmdebstrap, the distro's kernel and initrd, OpenSBI for
# RISC-V, direct kernel boot for arm64), booted by `tensorop boards up NAME` and reached over SSH
# like a lab's board (devices.yaml: a device with `board: NAME`). Building and booting:
# harness/transport/boards/.

@dataclass(frozen=True)
class SystemBoard:
    name: str
    title: str
    debian_arch: str                  # mmdebstrap --arch
    qemu: str                         # the qemu-system binary
    machine: tuple[str, ...]          # -machine/-cpu/-bios ... (everything but disk, net, kernel)
    console: str                      # the kernel's serial console
    kernel_glob: str                  # the kernel in the image's /boot
    initrd_glob: str = "initrd.img-*"
    kernel_package: str = ""          # linux-image-<flavour>
    suite: str = "trixie"
    mirror: str = "http://deb.debian.org/debian"
    packages: tuple[str, ...] = ("openssh-server", "systemd-sysv", "udev", "iproute2", "ifupdown",
                                 "libopenblas0", "strace")
    image_mb: int = 2048              # the ext4 root file system
    boot_deadline_s: float = 600.0    # from QEMU's start to an SSH banner (TCG boots slowly on a busy host)
    user: str = "tensorop"            # the unprivileged login (key only); root cannot log in
    # host tools: (command or file, the Debian package that provides it)
    tools: tuple[tuple[str, str], ...] = ()
    firmware: tuple[tuple[str, str], ...] = ()   # files QEMU loads itself, and their packages
    openblas_glob: str = ""           # the board's own OpenBLAS in its image (the baseline links it)

    @property
    def all_packages(self) -> tuple[str, ...]:
        return (*self.packages, self.kernel_package)


_COMMON_TOOLS = (("mmdebstrap", "mmdebstrap"), ("mkfs.ext4", "e2fsprogs"), ("e2fsck", "e2fsprogs"),
                 ("ssh-keygen", "openssh-client"), ("update-binfmts", "binfmt-support"))

# One core each: the timing run's cores check (CPU time over wall time) is sound only where the
# guest's clocks and accounting agree, and with two TCG vCPUs on a busy host they do not (an honest
# single-threaded kernel measured 1.38 cores); one vCPU also leaves the host a core for the harness.
SYSTEM_BOARDS = {
    "rv64-board": SystemBoard(
        "rv64-board", "RISC-V RV64GCV Linux board (RVV 1.0, VLEN 256), QEMU system mode", "riscv64",
        "qemu-system-riscv64",
        ("-machine", "virt", "-cpu", "rv64,v=true,vlen=256,vext_spec=v1.0", "-smp", "1", "-m", "2G",
         "-bios", "default"),
        "ttyS0", "vmlinux-*", kernel_package="linux-image-riscv64",
        tools=(*_COMMON_TOOLS, ("qemu-system-riscv64", "qemu-system-misc"),
               ("qemu-riscv64-static", "qemu-user-static")),
        firmware=(("/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin", "qemu-system-data"),),   # -bios default
        openblas_glob="usr/lib/riscv64-linux-gnu/openblas-pthread/libopenblas.so.0"),
    "arm64-board": SystemBoard(
        "arm64-board", "Arm64 Linux board (Armv8 with NEON and SVE 256), QEMU system mode", "arm64",
        "qemu-system-aarch64",
        # pauth-impdef: QEMU's cheap pointer authentication (the architected one dominates TCG's time)
        ("-machine", "virt", "-cpu", "max,sve256=on,pauth-impdef=on", "-smp", "1", "-m", "2G"),
        "ttyAMA0", "vmlinuz-*", kernel_package="linux-image-arm64",
        tools=(*_COMMON_TOOLS, ("qemu-system-aarch64", "qemu-system-arm"),
               ("qemu-aarch64-static", "qemu-user-static")),
        openblas_glob="usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0"),
}


def system_board(name: str) -> SystemBoard:
    """The buildable board `name`, or a ValueError naming the known ones."""
    try:
        return SYSTEM_BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; tensorop builds: {', '.join(SYSTEM_BOARDS)}") from None


def boards_cache() -> Path:
    """Where built boards are kept: ${XDG_CACHE_HOME:-~/.cache}/tensorop/boards (outside any checkout,
    so a fresh clone or a CI checkout on the same machine reuses them)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tensorop" / "boards"


BOARD_OPENBLAS = "openblas/libopenblas.so.0"     # the board's own OpenBLAS in its cache directory


def board_dir(name: str) -> Path:
    return boards_cache() / name
