"""The CPU backend: C kernels built with the device's toolchain (host or cross), gated on the
linked driver (build.py, object_gate.py), the CPU's physical ceiling (peak.py), OpenBLAS and
naive baselines (baselines.py), the hardware probe (probe.py); backend.py puts them together."""
from harness.backends.cpu.backend import CpuBackend

__all__ = ["CpuBackend"]
