"""The `cuda` primitive set for the generators: optimisation hints per primitive (the paper's
table, GPU column) and the sketches the expert templates follow, for the LLM prompts.

Expert templates (kernels/cuda/): wmma_f16.cu (WMMA 16x16x16, f16 in / f32 accumulate),
mma_sync_f16.cu (PTX mma.sync.m16n8k16 with ldmatrix), simt_f32.cu (FFMA register tiles; f32 has
no tensor-core path within the f32 bound). On sm_90a the next step is the WGMMA + TMA sketch below
(not yet a shipped, verified template: no GPU has run it).
"""
from __future__ import annotations

ABI = """extern "C" void tensorop_gemm_f16_cuda(int M, int N, int K, const __half *A, int lda,
                                       const __half *B, int ldb, float *C, int ldc, cudaStream_t stream);
extern "C" void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda,
                                       const float *B, int ldb, float *C, int ldc, cudaStream_t stream);
Row-major, device pointers; enqueue the kernels on `stream` only and return (no synchronisation, no
other streams, no cudaMalloc: cudaMallocAsync on the stream if you need a workspace). Give kernels
C++ linkage (an anonymous namespace) and __launch_bounds__; no printf/malloc/assert on the device."""

HINTS: dict[str, list[str]] = {
    "tiling": ["Block tile BM x BN x BK per thread block (128x128x32 is a good start), warp tile 64x32 or 32x64, "
               "mma tile 16x8x16 (mma.sync) or 16x16x16 (WMMA); 64xN per warpgroup for wgmma on sm_90a."],
    "memory hierarchy": ["Stage A and B tiles in shared memory with cp.async (sm_80+) or TMA (sm_90a), double or "
                         "multi-stage buffered so loads of stage k+1 overlap the MMAs of stage k; flush of L2 "
                         "between samples means A and B come from HBM at least once."],
    "layout": ["Pad shared rows by 8 halves (or use the 128-byte swizzle) so ldmatrix is bank-conflict free; "
               "B row-major (K x N) feeds mma .col B fragments through ldmatrix.trans."],
    "instructions": ["Tensor cores: WMMA (nvcuda::wmma) or PTX mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                     "with ldmatrix; on sm_90a wgmma.mma_async (HGMMA) with operands in shared memory described "
                     "by matrix descriptors, fed by cp.async.bulk.tensor (TMA) and mbarriers. The build report "
                     "counts HMMA/HGMMA in the SASS: zero means the kernel fell back to FFMA."],
    "registers": ["Accumulators dominate: a 64x32 warp tile holds 64 f32 registers per thread; stay <= 128 "
                  "registers at 256 threads for 2 blocks/SM (tensorop build shows registers, spills, occupancy)."],
    "pipelining": ["Software-pipeline the k loop: issue the next stage's copies, then wait on the current stage "
                   "(cp.async.wait_group / mbarrier), then the MMAs; one __syncthreads per stage."],
    "compute units": ["Grid covers C with one block per tile; for small M*N use split-K or a smaller tile so "
                      "every SM has work (132 SMs on H100)."],
    "edges": ["Any M, N, K, lda, ldb, ldc must work: zero-fill out-of-range tile elements and bounds-check "
              "stores; vectorised 16-byte loads only when the tile is inside and lda/ldb are multiples of 8."],
}

WGMMA_TMA_SKETCH = """// sm_90a sketch: one warpgroup (128 threads) per 64 x BN tile, TMA + mbarrier pipeline.
// host: cuTensorMapEncodeTiled for A (box 64 x 64 halves) and B (box 64 x BN), 128B swizzle;
//       pass the CUtensorMap as __grid_constant__ const parameters.
// device, per stage s of S:
//   if (threadIdx.x == 0) { mbarrier.arrive.expect_tx(bar[s], bytes);
//                           cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier (A tile, B tile) }
//   mbarrier.try_wait.parity(bar[s], phase);
//   wgmma.fence; wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {acc...}, descA, descB, ...; (x4 for BK=64)
//   wgmma.commit_group; wgmma.wait_group 1;   // keep one group in flight
// epilogue: accumulators -> C with bounds checks (or TMA store when the tile is inside)."""


def prompt_section(sm: str) -> str:
    lines = [f"Primitive set: cuda ({sm}); tensor cores via WMMA / mma.sync" +
             ("; wgmma + TMA available (sm_90a)" if sm.endswith("90a") else ""), "ABI:", ABI, "Hints:"]
    for k, v in HINTS.items():
        lines += [f"- {k}: {h}" for h in v]
    if sm.endswith("90a"):
        lines += ["WGMMA/TMA sketch:", WGMMA_TMA_SKETCH]
    return "\n".join(lines)
