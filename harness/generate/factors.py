"""The device's hardware factors as the generators, the prompts and the tuner's constraints see
them (QiMeng-TensorOp, section 3.1): primitive set, vector registers and length, caches, cores,
key instructions. Filled from a CPU device's probe profile (hardware.py) or a CUDA device's SM
(cuda.py)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

KiB = 1024


@dataclass
class HardwareFactors:
    device: str
    arch: str
    primitive_set: str                    # rvv | sve | neon | avx512 | avx2 | scalar
    alternatives: tuple[str, ...] = ()    # other primitive sets the device supports
    vector_bits: int = 0                  # VLEN / SVE VL / SIMD width in bits (0: scalar)
    vregs: int = 16
    lanes: int = 1                        # f32 lanes per vector register
    caches: dict = field(default_factory=dict)   # {"l1d": bytes, "l2": bytes, "l3": bytes}; absent: unknown
    cache_line: int = 0                   # bytes (0: unknown)
    cores: int = 1
    threads: int = 1                      # threads the task allows (devices.yaml `threads`)
    cpu: str = ""
    key_instructions: tuple[str, ...] = ()
    emulated: bool = False
    source: str = ""                      # where the profile came from (probe | devices.yaml) and its notes
    manuals: tuple[str, ...] = ()         # excerpts of the manuals listed in devices.yaml
    features: tuple[str, ...] = ()        # the profile's feature flags (cpuinfo flags, ISA extensions)

    def context(self) -> dict:
        """Names the parameter-space constraints may use (unknown caches: 32 KiB L1d, 512 KiB L2)."""
        return {"vregs": self.vregs, "lanes": max(1, self.lanes), "l1d": self.caches.get("l1d", 32 * KiB),
                "l2": self.caches.get("l2", 512 * KiB), "l3": self.caches.get("l3", 0) or self.caches.get("l2", 0),
                "vector_bits": self.vector_bits, "cores": self.cores}

    def summary(self) -> str:
        c = self.caches
        cache = ", ".join(f"{k.upper()} {v // KiB} KiB" for k, v in c.items() if v)
        lines = [
            f"Device {self.device} ({self.arch}{', emulated by QEMU' if self.emulated else ''}; {self.cpu or 'cpu unknown'})",
            f"Primitive set: {self.primitive_set}" + (f" (also: {', '.join(self.alternatives)})" if self.alternatives else ""),
            f"Vector registers: {self.vregs} x {self.vector_bits} bits ({self.lanes} f32 lanes each)"
            if self.vector_bits else f"Vector registers: none used (scalar, {self.vregs} FP registers)",
            f"Caches: {cache or 'unknown'}" + (f", {self.cache_line}-byte lines" if self.cache_line else "") +
            f"; cores: {self.cores} " + ("(the kernel runs single-threaded)" if self.threads <= 1 else
                                         f"(the task allows {self.threads} threads: pthreads over N)"),
            f"Key instructions: {'; '.join(self.key_instructions)}",
        ]
        if self.emulated:
            lines.append("Performance is judged by modelled cycles (QEMU block profile replayed through llvm-mca's "
                         "core model; fewer is better), not by instruction count or QEMU wall time.")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return asdict(self)


