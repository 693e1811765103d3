"""Hardware comprehension: the device's factors (vector registers and length, caches, key
instructions, cores) from its probe profile, devices.yaml and optional manual excerpts, plus
the project's table of optimisation hints per primitive set (QiMeng-TensorOp, section 3.1).

The probe (harness.probe.load_or_probe) is preferred; until it is present, or when it fails,
a small fallback reads /proc/cpuinfo and sysfs caches on the host and runs a tiny
vector-length probe program on the device (compiled with the device's toolchain).
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config.devices import Device, native_arch

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
    caches: dict = field(default_factory=dict)   # {"l1d": bytes, "l2": bytes, "l3": bytes}
    cores: int = 1
    cpu: str = ""
    key_instructions: tuple[str, ...] = ()
    emulated: bool = False
    source: str = "fallback"              # where the factors came from
    manuals: tuple[str, ...] = ()         # excerpts of the manuals listed in devices.yaml

    def context(self) -> dict:
        """Names the parameter-space constraints may use."""
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
            f"Caches: {cache or 'unknown'}; cores: {self.cores} (the kernel runs single-threaded)",
            f"Key instructions: {'; '.join(self.key_instructions)}",
        ]
        if self.emulated:
            lines.append("Performance is judged by QEMU's dynamic instruction count (fewer is better) and wall time.")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return asdict(self)


# The project's optimisation hints per primitive (the paper's table), general and per set.
HINTS: dict[str, list[str]] = {
    "tiling": ["Block loops BLIS-style: NC x KC panel of B in L2/L3, MC x KC block of A in L2, "
               "KC x NR micro-panel of B in L1; the MR x NR register tile stays in registers."],
    "reordering": ["Loop order jc -> pc -> ic -> jr -> ir -> k: each packed panel is reused from the "
                   "cache level it was sized for."],
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
}
SET_HINTS: dict[str, list[str]] = {
    "rvv": ["RVV 1.0 intrinsics need the __riscv_ prefix (e.g. __riscv_vle32_v_f32m4, __riscv_vfmacc_vf_f32m4).",
            "Be VLEN-agnostic: get vl from __riscv_vsetvlmax_e32m<LMUL>() at run time; never assume VLEN.",
            "Use LMUL 4 or 8 groups: one vfmacc.vf does VLEN*LMUL/32 FMAs; (MR*NV+NV)*LMUL <= 32 registers.",
            "Avoid vsetvli inside the k loop; A values are scalar flw + vfmacc.vf."],
    "sve": ["SVE is VL-agnostic: svcntw() lanes; predicates from svptrue_b32().",
            "svld1rq_f32 loads 4 A values replicated per 128-bit segment; svmla_lane_f32(acc, b, a, lane) "
            "is FMA by element; 8x3 vectors (24 accumulators) is a good tile."],
    "neon": ["vfmaq_laneq_f32(acc, b, a, lane) is FMA by element: load 4 A values with one vld1q_f32.",
             "32 q registers: 8 rows x 12 columns = 24 accumulators + 3 B + 2 A."],
    "avx512": ["_mm512_fmadd_ps with a broadcast A operand (compilers fold _mm512_set1_ps(a[k]) into an "
               "embedded {1to16} broadcast); 14x32 or 6x64 tiles use 28/24 of 32 zmm registers.",
               "Masked loads/stores (_mm512_mask_storeu_ps) handle N edges without touching memory past N."],
    "avx2": ["_mm256_fmadd_ps with _mm256_broadcast_ss; 16 ymm registers: 6x16 (12 accumulators) or 4x24."],
    "scalar": ["Plain C register tile with restrict pointers; let the compiler vectorise."],
}
KEY_INSTRUCTIONS = {
    "rvv": ("vsetvli", "vle32.v / vse32.v", "vfmacc.vf (vector += scalar * vector)", "vlse32/vsse32 (strided)"),
    "sve": ("ld1w / st1w", "ld1rqw (load-replicate quad)", "fmla z.s, z.s, z.s[lane]", "whilelt predicates"),
    "neon": ("ld1 {v.4s}", "fmla v.4s, v.4s, v.s[lane]", "ld1r (load-replicate)"),
    "avx512": ("vmovups zmm", "vfmadd231ps zmm, zmm, m32{1to16}", "vbroadcastss", "k-mask loads/stores"),
    "avx2": ("vmovups ymm", "vfmadd231ps ymm", "vbroadcastss"),
    "scalar": ("fmadd (scalar)",),
}
VREGS = {"rvv": 32, "sve": 32, "neon": 32, "avx512": 32, "avx2": 16, "scalar": 16}


def hints_for(primitive_set: str) -> dict[str, list[str]]:
    out = {k: list(v) for k, v in HINTS.items()}
    out["instructions"] = list(SET_HINTS.get(primitive_set, []))
    return out


def hints_text(primitive_set: str) -> str:
    return "\n".join(f"- {k}: {' '.join(v)}" for k, v in hints_for(primitive_set).items() if v)


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
# fallback probe

def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            k, _, v = line.partition(":")
            k = k.strip().lower()
            if k in ("model name", "cpu model", "uarch") and not model:
                model = v.strip()
            elif k in ("flags", "features", "isa"):
                flags |= set(v.split())
    except OSError:
        pass
    return model, flags


def _sysfs_caches() -> dict:
    out: dict[str, int] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for idx in sorted(base.glob("index*")):
        try:
            level = (idx / "level").read_text().strip()
            typ = (idx / "type").read_text().strip()
            size = (idx / "size").read_text().strip()
        except OSError:
            continue
        m = re.fullmatch(r"(\d+)([KMG]?)", size)
        if not m or typ == "Instruction":
            continue
        n = int(m.group(1)) * {"": 1, "K": KiB, "M": KiB ** 2, "G": KiB ** 3}[m.group(2)]
        out["l1d" if level == "1" else f"l{level}"] = n
    return out


PROBE_C = r"""
#include <stdio.h>
#if defined(__riscv_vector)
#include <riscv_vector.h>
int main(void) { printf("vector_bits=%d\n", (int)__riscv_vsetvlmax_e8m1() * 8); return 0; }
#elif defined(__ARM_FEATURE_SVE)
#include <arm_sve.h>
int main(void) { printf("vector_bits=%d\n", (int)svcntb() * 8); return 0; }
#else
int main(void) { printf("vector_bits=0\n"); return 0; }
#endif
"""


def _vector_probe(lab, device: Device) -> int | None:
    """Compile and run a tiny program that prints the vector length (RVV VLEN / SVE VL)."""
    from ..records import Artifact
    from ..transport import get_transport
    tc = lab.toolchain(device)
    cc = tc.compiler() if tc else None
    if not cc:
        return None
    d = Path(tempfile.mkdtemp(prefix="vlprobe-", dir=lab.ws.scratch if lab.ws.scratch.exists() else None))
    src, exe = d / "probe.c", d / "probe"
    src.write_text(PROBE_C)
    try:
        p = subprocess.run([cc, *tc.cflags, str(src), "-o", str(exe), *tc.ldflags], capture_output=True, timeout=60)
        if p.returncode != 0:
            return None
        with get_transport(device, lab.ws) as tr:
            r = tr.run(Artifact(key="vlprobe", executable=exe), [], timeout_s=30)
        m = re.search(r"vector_bits=(\d+)", r.stdout or "")
        return int(m.group(1)) if m and r.returncode == 0 else None
    except Exception:
        return None


def _from_features(device: Device) -> int:
    for f in (*device.features, *device.runner):
        m = re.search(r"(?:vlen|sve)[=]?(\d{3,4})", str(f).lower())
        if m:
            return int(m.group(1))
    return 0


def fallback_factors(lab, device: Device, run_probe: bool = True) -> HardwareFactors:
    arch = device.arch
    native = arch == native_arch() and not device.runner and device.transport == "local"
    flags = {f.lower() for f in device.features if f != "auto"}
    cpu, caches, cores = "", {}, 1
    if native:
        cpu, cpuflags = _cpuinfo()
        flags |= cpuflags
        caches = _sysfs_caches()
        cores = os.cpu_count() or 1
    if arch.startswith("riscv") and any(f.startswith("rvv") for f in flags):
        flags.add("rvv")
    ps, alts = choose_sets(arch, flags)
    bits = {"avx512": 512, "avx2": 256, "neon": 128}.get(ps, 0)
    if ps in ("rvv", "sve"):
        probed = _vector_probe(lab, device) if run_probe else None
        bits = probed or _from_features(device) or (256 if ps == "rvv" else 128)
    if not caches:
        caches = {"l1d": 32 * KiB, "l2": 512 * KiB}
    return HardwareFactors(
        device=device.name, arch=arch, primitive_set=ps, alternatives=alts, vector_bits=bits, vregs=VREGS[ps],
        lanes=max(1, bits // 32), caches=caches, cores=cores, cpu=cpu or device.description,
        key_instructions=KEY_INSTRUCTIONS[ps], emulated=device.emulated,
        source="fallback probe" + (" (vector-length program run on the device)" if ps in ("rvv", "sve") else ""))


def _from_profile(profile, device: Device) -> HardwareFactors | None:
    """Adapt harness.probe's HardwareProfile (whatever fields it has) to factors."""
    get = (lambda k, d=None: profile.get(k, d)) if isinstance(profile, dict) else \
        (lambda k, d=None: getattr(profile, k, d))
    flags = {str(f).lower() for f in (get("features") or get("flags") or ())} | \
        {f.lower() for f in device.features if f != "auto"}
    isa = [get("vector_kind") or ""] + list(get("primitive_sets") or ())
    flags |= {str(x).lower() for x in (isa if isinstance(isa, (list, tuple, set)) else [isa])}
    bits = get("vector_bits") or get("vlen_bits") or get("vlen") or 0
    if device.arch.startswith("riscv") and (bits or any(f.startswith("rvv") for f in flags)):
        flags.add("rvv")
    if device.arch == "aarch64" and (get("sve_bits") or get("sve_vl_bits")):
        flags.add("sve")
    ps, alts = choose_sets(device.arch, flags)
    if ps == "sve":
        bits = get("sve_bits") or get("sve_vl_bits") or bits or 128
    elif ps in ("avx512", "avx2", "neon"):
        bits = {"avx512": 512, "avx2": 256, "neon": 128}[ps]
    caches = {}
    raw = get("caches") or {}
    if isinstance(raw, dict):
        for k, v in raw.items():
            key = {"l1": "l1d", "l1d": "l1d", "l2": "l2", "l3": "l3"}.get(str(k).lower().replace("_bytes", ""))
            if key and isinstance(v, (int, float)) and v > 0:
                caches[key] = int(v)
    for k in ("l1d", "l2", "l3"):
        v = get(f"{k}_bytes") or get(k)
        if isinstance(v, (int, float)) and v > 0:
            caches[k] = int(v)
    if not caches.get("l1d"):
        caches["l1d"] = 32 * KiB
    if not caches.get("l2"):
        caches["l2"] = 512 * KiB
    return HardwareFactors(
        device=device.name, arch=device.arch, primitive_set=ps, alternatives=alts, vector_bits=int(bits or 0),
        vregs=VREGS[ps], lanes=max(1, int(bits or 0) // 32), caches=caches, cores=int(get("cores") or 1),
        cpu=str(get("cpu") or get("model") or device.description), key_instructions=KEY_INSTRUCTIONS[ps],
        emulated=device.emulated, source="probe")


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
    """The device's hardware factors: the probe's profile when available, else the fallback."""
    hw = None
    try:
        from ..probe import load_or_probe   # issue 3's probe, when present
        hw = _from_profile(load_or_probe(lab, device), device)
    except ImportError:
        pass
    except Exception:
        hw = None
    if hw is None:
        hw = fallback_factors(lab, device, run_probe=run_probe)
    hw.manuals = read_manuals(lab, device)
    return hw
