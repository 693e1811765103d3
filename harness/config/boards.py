"""Real boards by name, so a name never silently means something else (docs/DEVICES.md).

A board's name resolves to a device of that name (or alias) in devices.yaml when one is
configured; otherwise to the closest emulated core, with a notice saying so and how its speed
is modelled; and where no emulated device is close (RVV 0.7.1 cores, GPUs), to a clear error
saying what is needed. Never to another ISA.
"""
from __future__ import annotations

from dataclasses import dataclass

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
