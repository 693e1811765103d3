"""Per-SM limits of NVIDIA GPUs and the occupancy estimate (CUDA occupancy calculator rules).

Figures are the CUDA C++ Programming Guide's table "Technical Specifications per Compute
Capability" (registers per SM, threads/warps/blocks per SM, shared memory per SM and per block,
the shared memory the runtime reserves per block) plus the allocation granularities of
cuda_occupancy.h (registers per warp in units of 256, shared memory in units of 128 bytes, the
register file split over 4 SM sub-partitions).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

KiB = 1024


@dataclass(frozen=True)
class SMLimits:
    cc: str                       # compute capability, "9.0"
    regs_per_sm: int = 65536
    max_regs_per_thread: int = 255
    max_regs_per_block: int = 65536
    max_threads_per_sm: int = 2048
    max_warps_per_sm: int = 64
    max_blocks_per_sm: int = 32
    max_threads_per_block: int = 1024
    smem_per_sm: int = 0          # the largest carveout
    max_smem_per_block: int = 0   # opt-in maximum (cudaFuncAttributeMaxDynamicSharedMemorySize)
    reserved_smem_per_block: int = 0
    reg_alloc_unit: int = 256     # registers, per warp
    smem_alloc_unit: int = 128    # bytes
    sub_partitions: int = 4
    tensor_cores: str = ""        # what the SM's tensor cores do, for reports and prompts


SM = {
    "sm_70": SMLimits("7.0", smem_per_sm=96 * KiB, max_smem_per_block=96 * KiB, smem_alloc_unit=256,
                      tensor_cores="HMMA f16 (m8n8k4 per quad-pair)"),
    "sm_75": SMLimits("7.5", max_threads_per_sm=1024, max_warps_per_sm=32, max_blocks_per_sm=16,
                      smem_per_sm=64 * KiB, max_smem_per_block=64 * KiB, smem_alloc_unit=256,
                      tensor_cores="HMMA f16, IMMA int8/int4"),
    "sm_80": SMLimits("8.0", smem_per_sm=164 * KiB, max_smem_per_block=163 * KiB, reserved_smem_per_block=KiB,
                      tensor_cores="HMMA f16/bf16/tf32 (mma.sync m16n8k16), IMMA int8, DMMA f64"),
    "sm_86": SMLimits("8.6", max_threads_per_sm=1536, max_warps_per_sm=48, max_blocks_per_sm=16,
                      smem_per_sm=100 * KiB, max_smem_per_block=99 * KiB, reserved_smem_per_block=KiB,
                      tensor_cores="HMMA f16/bf16/tf32, IMMA int8"),
    "sm_87": SMLimits("8.7", max_threads_per_sm=1536, max_warps_per_sm=48, max_blocks_per_sm=16,
                      smem_per_sm=164 * KiB, max_smem_per_block=163 * KiB, reserved_smem_per_block=KiB,
                      tensor_cores="HMMA f16/bf16/tf32, IMMA int8"),
    "sm_89": SMLimits("8.9", max_threads_per_sm=1536, max_warps_per_sm=48, max_blocks_per_sm=24,
                      smem_per_sm=100 * KiB, max_smem_per_block=99 * KiB, reserved_smem_per_block=KiB,
                      tensor_cores="HMMA f16/bf16/tf32/fp8, IMMA int8"),
    "sm_90": SMLimits("9.0", smem_per_sm=228 * KiB, max_smem_per_block=227 * KiB, reserved_smem_per_block=KiB,
                      tensor_cores="HMMA (mma.sync); wgmma (HGMMA) needs sm_90a"),
    "sm_90a": SMLimits("9.0a", smem_per_sm=228 * KiB, max_smem_per_block=227 * KiB, reserved_smem_per_block=KiB,
                       tensor_cores="HGMMA (wgmma.mma_async, warpgroup of 128 threads) with TMA; HMMA (mma.sync)"),
    "sm_100": SMLimits("10.0", smem_per_sm=228 * KiB, max_smem_per_block=227 * KiB, reserved_smem_per_block=KiB,
                       tensor_cores="HMMA (mma.sync); tcgen05 (UTC*MMA, tensor memory) needs sm_100a"),
    "sm_100a": SMLimits("10.0a", smem_per_sm=228 * KiB, max_smem_per_block=227 * KiB, reserved_smem_per_block=KiB,
                        tensor_cores="tcgen05.mma (UTCHMMA/UTCQMMA, tensor memory), HMMA"),
    "sm_120": SMLimits("12.0", max_threads_per_sm=1536, max_warps_per_sm=48, max_blocks_per_sm=32,
                       smem_per_sm=100 * KiB, max_smem_per_block=99 * KiB, reserved_smem_per_block=KiB,
                       tensor_cores="HMMA f16/bf16/tf32/fp8/fp4 (mma.sync)"),
}


def limits(sm: str) -> SMLimits | None:
    return SM.get(sm) or SM.get(sm.rstrip("af"))


def nvcc_arch_flags(sm: str) -> list[str]:
    """Real code for exactly this SM (no PTX in the binary, so no JIT at load time)."""
    num = sm[3:]
    return ["-gencode", f"arch=compute_{num},code=sm_{num}"]


@dataclass(frozen=True)
class Occupancy:
    threads_per_block: int
    blocks_per_sm: int
    warps_per_sm: int
    occupancy: float              # active warps / max warps per SM
    limiter: str                  # registers | shared memory | threads/warps | blocks | none
    by: dict                      # the block limit of each resource
    smem_per_block: int           # static + dynamic + the runtime's reserve
    note: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def _ceil_to(x: int, unit: int) -> int:
    return -(-x // unit) * unit


def occupancy(lim: SMLimits, regs_per_thread: int, threads_per_block: int, static_smem: int,
              dynamic_smem: int = 0) -> Occupancy:
    """Resident blocks per SM and occupancy for one kernel (assuming the largest shared-memory
    carveout), and which resource limits it."""
    t = max(1, threads_per_block)
    warps = math.ceil(t / 32)
    smem = static_smem + dynamic_smem + lim.reserved_smem_per_block
    by: dict[str, int] = {}
    if t > lim.max_threads_per_block:
        return Occupancy(t, 0, 0, 0.0, "threads/warps", {"threads/warps": 0}, smem,
                         f"{t} threads per block exceed the limit of {lim.max_threads_per_block}")
    by["threads/warps"] = lim.max_warps_per_sm // warps
    by["blocks"] = lim.max_blocks_per_sm
    regs = max(1, regs_per_thread)
    if regs > lim.max_regs_per_thread:
        return Occupancy(t, 0, 0, 0.0, "registers", {"registers": 0}, smem, "more registers than a thread may have")
    per_warp = _ceil_to(regs * 32, lim.reg_alloc_unit)
    warps_by_regs = (lim.regs_per_sm // lim.sub_partitions // per_warp) * lim.sub_partitions
    by["registers"] = warps_by_regs // warps if per_warp * warps <= lim.max_regs_per_block else 0
    if smem > 0:
        smem_alloc = _ceil_to(smem, lim.smem_alloc_unit)
        by["shared memory"] = lim.smem_per_sm // smem_alloc if smem - lim.reserved_smem_per_block <= \
            lim.max_smem_per_block else 0
    blocks = min(by.values())
    limiter = min(by, key=lambda k: (by[k], ["registers", "shared memory", "threads/warps", "blocks"].index(k)))
    active = blocks * warps
    if active >= lim.max_warps_per_sm:
        limiter = "none (full occupancy)"
    return Occupancy(t, blocks, active, round(active / lim.max_warps_per_sm, 4), limiter, by, smem)
