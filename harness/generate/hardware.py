"""Hardware comprehension: the device's factors (vector registers and length, caches, key
instructions, cores) from its probe profile, devices.yaml and optional manual excerpts, plus
the project's table of optimisation hints per primitive set (QiMeng-TensorOp, section 3.1).

The factors are a view of the device's one profile record (harness.backends.cpu.probe.HardwareProfile);
this module probes nothing itself.
"""
from __future__ import annotations

from pathlib import Path

from harness.config.devices import Device
from harness.backends.cpu.probe import (
    SIMD_BITS,
    VREGS,
    HardwareProfile,
    cached_profile,
    load_or_probe,
    profile_from_config,
)
from harness.generate.templates.lowp import canonical_features, lowp_instructions
from harness.backends import backend_for
from harness.generate import cuda
from harness.generate.factors import HardwareFactors, KiB  # noqa: F401 (KiB: templates' context)


# The project's optimisation hints per primitive (the paper's table), general and per set.
HINTS: dict[str, list[str]] = {
    "tiling": ["Block loops BLIS-style: NC x KC panel of B in L2/L3, MC x KC block of A in L2, "
               "KC x NR micro-panel of B in L1; the MR x NR register tile stays in registers."],
    "reordering": ["Loop order jc -> pc -> ic -> jr -> ir -> k: each packed panel is reused from the "
                   "cache level it was sized for. Where B's KC x NR panel is the wide one (vectors along N, "
                   "A broadcast), swapping the two tile loops (ic -> ir -> jr) keeps the small MR x KC panel "
                   "of A in L1 and streams B's KC x NC block from L2 instead: size that block to about two "
                   "thirds of the L2 (the ORDER parameter of the x86 sketches; 1.04x at 1024^3 and 1.11x at "
                   "2048^3 on an Ice Lake core)."],
    "vectorisation": ["Vectorise along N (contiguous in row-major B and C); A values enter as scalars, "
                      "broadcasts or lanes."],
    "layout": ["Pack A into MR-row panels (k-major) and B into NR-column panels (k-major), zero-padded, so "
               "the micro-kernel streams unit-stride memory and never branches on edges."],
    "pipelining": ["Unroll the k loop; load B for step k+1 while the FMAs of step k run; keep >= "
                   "latency x FMA-ports independent accumulator chains."],
    "registers": ["Maximise MR x NR subject to accumulators + B vectors + A registers <= the register file; "
                  "spills in the k loop ruin performance."],
    "memory hierarchy": ["Size KC so KC*NR*4 bytes fits L1, MC so MC*KC*4 fits L2; first K block stores C, "
                         "later ones accumulate."],
    "instructions": [],
    "compute units": ["One core: the ABI's kernel is single-threaded; use every FMA pipe via independent chains."],
    "small M": ["For M <= 16 (LLM decoding: 1 x 4096 x 4096 and the like) GEMM is bandwidth-bound on B: do not "
                "pack (packing B reads and writes it once more); read A in place, stream B once, row by row, "
                "keep an M x nb chunk of C (or of partial sums) in L1 while K passes through it, sum k blocks "
                "separately (blocked summation keeps the error down at large K), and handle N edges with masked "
                "or vl-limited vector ops, never a scalar tail loop. At M = 1 the call is DRAM-bound: read 16 B "
                "rows per k step (16 unit-stride streams keep more misses in flight than 8) and leave the "
                "prefetching to the hardware (1.07x paired at 1x4096x4096 on an Ice Lake core)."],
}
SET_HINTS: dict[str, list[str]] = {
    "rvv": ["RVV 1.0 intrinsics need the __riscv_ prefix (e.g. __riscv_vle32_v_f32m4, __riscv_vfmacc_vf_f32m4).",
            "Be VLEN-agnostic: get vl from __riscv_vsetvlmax_e32m<LMUL>() at run time; never assume VLEN.",
            "Use LMUL 8 (or 4) groups: one vfmacc.vf does VLEN*LMUL/32 FMAs; (MR*NV+NV)*LMUL <= 32 registers. "
            "Choose LMUL by modelled cycles, not instruction count: on an in-order core (sifive-x280 model) each "
            "vector op costs a fixed issue part plus a part proportional to LMUL, so 3 rows x LMUL 8 (3 accumulators "
            "+ 1 B group) models ~1.5x faster than OpenBLAS and 2x faster than 7 x 4 at LMUL 1.",
            "Edges: set vl = vsetvl(n - j) for the last columns (tail-agnostic) instead of a scalar tail loop.",
            "Avoid vsetvli inside the k loop; A values are scalar flw + vfmacc.vf."],
    "sve": ["SVE is VL-agnostic: svcntw() lanes; predicates from svptrue_b32().",
            "svld1rq_f32 loads 4 A values replicated per 128-bit segment; svmla_lane_f32(acc, b, a, lane) "
            "is FMA by element; 4 rows x 4 vectors (16 accumulators, NR = 4*VL divides 2^k sizes) models "
            "fastest on neoverse-v1 (2 FMAs/cycle in the loop); 8x3 leaves a partial last panel at 2^k sizes."],
    "neon": ["vfmaq_laneq_f32(acc, b, a, lane) is FMA by element: load 4 A values with one vld1q_f32.",
             "32 q registers: 4 rows x 16 columns = 16 accumulators (>= FMA latency 4 x 2 pipes) + 4 B + 1 A; "
             "it models faster than 8 x 12 on cortex-a76 (no partial panel at 2^k sizes, cheaper packing).",
             "Pack A k-outer (contiguous writes) and copy B panels inline, not with a memcpy call per row."],
    "avx512": ["_mm512_fmadd_ps with a broadcast A operand (compilers fold _mm512_set1_ps(a[k]) into an "
               "embedded {1to16} broadcast); 14x32 or 6x64 tiles use 28/24 of 32 zmm registers.",
               "Masked loads/stores (_mm512_mask_storeu_ps) handle N edges without touching memory past N; "
               "at the M and N edges a micro-kernel of the tile's own rows or vectors (the expert's kernels "
               "have ukernel_r1.. and ukernel_v1..) computes no more than the edge holds.",
               "Prefetch the A panel ~8-16 k steps ahead and the C tile before the k loop (_mm_prefetch); "
               "KC 384 x NR 32 fills a 48 KiB L1 with the B micro-panel and halves the C passes of KC 256."],
    "avx2": ["_mm256_fmadd_ps with _mm256_broadcast_ss; 16 ymm registers: 6x16 (12 accumulators) or 4x24."],
    "amx": ["Intel AMX (bf16, int8): _tile_loadconfig once (palette 1, 8 tiles of 16 rows x 64 bytes), "
            "_tile_dpbf16ps / _tile_dpbssd(C, A, B) with B in the VNNI layout (2 bf16 or 4 int8 consecutive k "
            "per 32-bit word), a 2 x 2 block of C tiles with 2 A and 2 B tiles; _tile_release at the end. "
            "The driver has already requested tile permission (no system calls in kernels).",
            "Pack B into VNNI tiles with AVX-512 (zero-extend each row's 16 elements to 32-bit words, shift "
            "and OR the k pairs/quads): packing is the cost that remains once the tiles do the math."],
    "scalar": ["Plain C register tile with restrict pointers; let the compiler vectorise."],
    # native low-precision sets (native_lowp.py): pack A and B in the instruction's k-groups
    "neon-i8mm": ["vmmlaq_s32(acc, a, b) (SMMLA, target(\"i8mm\")): a = 2 rows x 8 k of A, b = 2 columns x 8 k of B "
                  "(int8), acc = the 2 x 2 int32 block [c00 c01 c10 c11]; pack A and B in k-groups of 8; "
                  "vzip1q_s64/vzip2q_s64 of two blocks give two 4-wide C rows."],
    "neon-sdot": ["vdotq_laneq_s32(acc, b, a, lane) (SDOT, target(\"dotprod\")): b = 4 columns x 4 k, a = 4 rows x "
                  "4 k (int8); acc[j] += dot of column j with row `lane`; pack in k-groups of 4."],
    "neon-bf16mmla": ["vbfmmlaq_f32(acc, a, b) (BFMMLA, target(\"bf16\")): 2 rows x 4 k by 2 columns x 4 k of "
                      "bf16 into a 2 x 2 f32 block; pack A and B in k-groups of 4."],
    "neon-fhm": ["vfmlalq_lane_low_f16 / _high_f16 (FMLAL/FMLAL2, target(\"fp16fml\")): f16 x f16 products added "
                 "exactly into f32 lanes; pack A and B as f16 (half the bytes of widened panels)."],
    "rvv-i8": ["int8 B rows: __riscv_vle8 + __riscv_vsext_vf2 to int16 once per k, then __riscv_vwmacc_vx_i32m<L> "
               "(int16 A scalar x int16 vector into int32 accumulators) per row; exact at any K."],
}
KEY_INSTRUCTIONS = {
    "rvv": ("vsetvli", "vle32.v / vse32.v", "vfmacc.vf (vector += scalar * vector)", "vlse32/vsse32 (strided)"),
    "sve": ("ld1w / st1w", "ld1rqw (load-replicate quad)", "fmla z.s, z.s, z.s[lane]", "whilelt predicates"),
    "neon": ("ld1 {v.4s}", "fmla v.4s, v.4s, v.s[lane]", "ld1r (load-replicate)"),
    "avx512": ("vmovups zmm", "vfmadd231ps zmm, zmm, m32{1to16}", "vbroadcastss", "k-mask loads/stores"),
    "avx2": ("vmovups ymm", "vfmadd231ps ymm", "vbroadcastss"),
    "scalar": ("fmadd (scalar)",),
}


# per operator, beside the GEMM hints (measured on the x86 host, paired against oneDNN 2.6 on the
# paper layers: the implicit GEMM 0.77-2.0x where im2col + the same GEMM gave 0.49-1.87x)
OP_HINTS = {
    "conv2d": ["Do not materialise im2col (C*R*S x P*Q floats per image, written and read again): pack "
               "each KC x NC block of it straight from the image inside the GEMM (sketch 1's pack_B_conv).",
               "The output channels are the GEMM's M, often 64: a tile of 6 or 8 rows fits it better than 14; "
               "a last panel narrower than NR should compute only the vectors that hold its columns."],
}


def hints_for(primitive_set: str, op: str = "gemm") -> dict[str, list[str]]:
    out = {k: list(v) for k, v in HINTS.items()}
    out["instructions"] = list(SET_HINTS.get(primitive_set, []))
    if op in OP_HINTS:
        out[op] = list(OP_HINTS[op])
    return out


def hints_text(primitive_set: str, op: str = "gemm") -> str:
    return "\n".join(f"- {k}: {' '.join(v)}" for k, v in hints_for(primitive_set, op).items() if v)


# ----------------------------------------------------------------------------------------
# choosing the primitive set

def choose_sets(arch: str, flags: set[str]) -> tuple[str, tuple[str, ...]]:
    f = {x.lower() for x in flags}
    if arch in ("x86_64", "amd64", "i686"):
        sets = [s for s, need in (("avx512", {"avx512f"}), ("avx2", {"avx2", "fma"})) if need <= f or s in f]
        sets.append("scalar")
    elif arch == "aarch64":
        sets = (["sve"] if any(x.startswith("sve") for x in f) else []) + ["neon"]
    elif arch.startswith("riscv"):
        sets = (["rvv"] if any(x.startswith("rvv") or x in ("v", "zve32f") for x in f) else []) + ["scalar"]
    else:
        sets = ["scalar"]
    return sets[0], tuple(sets[1:])


# ----------------------------------------------------------------------------------------
# from the profile (harness.backends.cpu.probe) to the generator's factors

def factors(profile: HardwareProfile, device: Device) -> HardwareFactors:
    """The generator's view of a HardwareProfile: the primitive set to write with and the figures
    the parameter-space constraints use."""
    flags = set(profile.features) | {f.lower() for f in device.features if f != "auto"}
    if profile.vector_kind:
        flags.add(profile.vector_kind)
    flags = canonical_features(flags)    # cpuinfo names too: asimddp -> dotprod, asimdfhm -> fhm, ...
    ps, alts = choose_sets(device.arch, flags)
    if ps == "rvv":
        bits = profile.vlen_bits or (profile.vector_bits if profile.vector_kind == "rvv" else 0)
    elif ps == "sve":
        bits = profile.sve_vl_bits or (profile.vector_bits if profile.vector_kind == "sve" else 0)
    else:
        bits = SIMD_BITS.get(ps, 0)
    caches = {k: profile.caches[k] for k in ("l1d", "l2", "l3") if profile.caches.get(k)}
    source = profile.source + (f" ({'; '.join(profile.notes)})" if profile.notes else "")
    return HardwareFactors(
        device=device.name, arch=device.arch, primitive_set=ps, alternatives=alts, vector_bits=bits,
        vregs=VREGS[ps], lanes=max(1, bits // 32), caches=caches, cache_line=profile.cache_line,
        cores=profile.cores or 1, threads=max(1, getattr(device, "threads", 1) or 1),
        cpu=profile.cpu or device.description,
        key_instructions=KEY_INSTRUCTIONS[ps] + lowp_instructions(device.arch, flags),
        emulated=device.emulated, source=source, features=tuple(sorted(flags)))


# factors that come without a probe, by backend (a GPU's come from its SM)
BY_BACKEND = {"cuda": cuda.factors}


def read_manuals(lab, device: Device, limit: int = 4000) -> tuple[str, ...]:
    out = []
    for m in device.manuals:
        p = Path(lab.ws.expand(m))
        if not p.is_absolute():
            p = lab.ws.root / p
        try:
            text = p.read_text(errors="replace")
        except OSError:
            continue
        out.append(f"[{p.name}] " + text[:limit])
    return tuple(out)


def comprehend(lab, device: Device, run_probe: bool = True) -> HardwareFactors:
    """The device's hardware factors from its profile (harness.backends.cpu.probe): probed (and cached per
    configuration) when run_probe, else the cached profile or, without one, devices.yaml alone.
    A failed probe raises harness.backends.cpu.probe.ProbeError; there is no silent fallback. A CUDA device's
    factors come from its SM (harness/generate/cuda.py), without a probe."""
    by_sm = BY_BACKEND.get(backend_for(device).name)
    if by_sm is not None:
        return by_sm(device)
    if run_probe:
        profile = load_or_probe(lab, device)
    else:
        profile = cached_profile(lab, device) or profile_from_config(lab, device)
    hw = factors(profile, device)
    hw.manuals = read_manuals(lab, device)
    return hw
