"""The generated-kernel folder: the one home of its format, written by `generate`, read and
rewritten by the tuner, read by the bench suite.

    generated/<device>/<op>_<shape>_<dtype>/
        kernel.c | kernel.cu   the kernel at its chosen point (kernel.cu on a CUDA device)
        params.json            {"values": {point..., "primitive_set": family}, "space": ParamSpace as JSON}
        meta.json              device, arch, toolchain, op/shape/dtype, the generator and prompt, the
                               hardware factors, the chosen candidate, its measured trial, the baseline's
                               trial and the comparison with it (vs_openblas), every round; after
                               tuning, `tune` (the search summary) and the re-measured comparison

    write_generated(lab, result, generator)   generate's result -> the folder
    KernelFolder.load(path)                   the folder -> its kernel, space, point, meta
    KernelFolder.render(point)                the kernel at another point (templates registry, else
                                              the kernel's own #define lines rewritten)
    write_tuned(folder, result, trial, ...)   the tuner's best point -> the folder
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.records import Trial
from harness.core.space import ParamSpace, SpaceError
from harness.core.stats import Ratio
from harness.generate.factors import HardwareFactors
from harness.generate.templates import registry
from harness.ops import get_op

KiB = 1024
KERNEL_FILES = ("kernel.c", "kernel.cu")


def kernel_file(hardware: HardwareFactors | None) -> str:
    """kernel.cu for a CUDA device's folder, else kernel.c."""
    return "kernel.cu" if hardware is not None and hardware.primitive_set == "cuda" else "kernel.c"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class FolderError(ValueError):
    pass


@dataclass
class KernelFolder:
    """A generated kernel folder as read back (by the tuner, the bench suite, `tensorop tune`)."""

    folder: Path
    source: str
    space: ParamSpace
    values: dict[str, Any]
    meta: dict[str, Any]
    device: str
    shape: tuple[int, ...]
    primitive_set: str | None = None

    @property
    def op(self):
        """The operator the folder's kernel implements (meta.json op/dtype; GEMM f32 before ops existed)."""
        return get_op(self.meta.get("op") or "gemm", self.meta.get("dtype") or "f32")

    @classmethod
    def load(cls, folder: Path) -> "KernelFolder":
        folder = Path(folder)
        kf = folder / "kernel.c"
        if not kf.is_file() and (folder / "kernel.cu").is_file():   # a CUDA device's kernel
            kf = folder / "kernel.cu"
        if not kf.is_file():
            raise FolderError(f"{folder}: no kernel.c (expected a folder written by `tensorop generate`)")
        source = kf.read_text()
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise FolderError(f"{folder}: cannot read meta.json ({e})") from None
        params: dict = {}
        try:
            params = json.loads((folder / "params.json").read_text())
        except (OSError, json.JSONDecodeError):
            pass
        try:
            space = ParamSpace.from_json(params["space"]) if isinstance(params.get("space"), dict) \
                else ParamSpace.from_source(source)
        except SpaceError as e:
            raise FolderError(f"{folder}: bad parameter space: {e}") from None
        if space is None:
            raise FolderError(f"{folder}: kernel.c declares no tensorop-params block: nothing to tune")
        vals = params.get("values") if isinstance(params.get("values"), dict) else params
        values = {n: (vals or {}).get(n, space.defaults.get(n)) for n in space.params}
        if not meta.get("device") or not meta.get("shape"):
            raise FolderError(f"{folder}: meta.json lacks device or shape")
        return cls(folder, source, space, values, meta, meta["device"], tuple(int(x) for x in meta["shape"]),
                   # the kernel's own set (an alternative such as NEON beside SVE, or AMX tiles) before
                   # the device's primary one
                   (params.get("values") or {}).get("primitive_set") or meta.get("primitive_set"))

    @property
    def kernel_file(self) -> str:
        """kernel.cu for a CUDA device's folder, else kernel.c."""
        return "kernel.cu" if (self.folder / "kernel.cu").is_file() and not (self.folder / "kernel.c").is_file() \
            else "kernel.c"

    @property
    def expert(self) -> bool:
        return self.meta.get("generator") == "expert" or "tensorop's expert generator" in self.source[:300]

    def render(self, point: dict) -> str:
        """The kernel source at `point`: the expert template re-rendered, or (for an LLM's
        kernel) its `#define NAME value` lines and parameter block rewritten."""
        if self.expert:
            src = registry.render_point(self.source, self.primitive_set, self.op.name, self.op.dtype, dict(point))
            if src is not None:
                return src
        src = self.source
        for n, v in point.items():
            src, k = re.subn(rf"(?m)^(\s*#\s*define\s+{re.escape(n)}\s+)\S+", rf"\g<1>{v}", src)
            if not k:
                raise FolderError(f"kernel.c has no '#define {n}' to set")
        return re.sub(r"/\*\s*tensorop-params\s*\{.*?\}\s*\*/", lambda m: self.space.block(dict(point)), src,
                      count=1, flags=re.S)

    def context(self) -> dict:
        """The hardware context of the constraints, from meta.json's hardware factors."""
        hw = self.meta.get("hardware") or {}
        caches = hw.get("caches") or {}
        ctx = {"vregs": hw.get("vregs", 32), "lanes": max(1, hw.get("lanes") or 1),
               "l1d": caches.get("l1d", 32 * KiB), "l2": caches.get("l2", 512 * KiB),
               "l3": caches.get("l3") or caches.get("l2", 0), "vector_bits": hw.get("vector_bits", 0),
               "cores": hw.get("cores", 1)}
        return ctx

    def hardware_summary(self) -> str:
        hw = self.meta.get("hardware")
        if not hw:
            return ""
        try:
            return HardwareFactors(**hw).summary()
        except Exception:
            return json.dumps(hw)[:1500]

    @property
    def slug(self) -> str:
        return f"{self.device}-{self.folder.name}"


def write_generated(lab, res, generator, root: Path | None = None) -> Path:
    """The generate loop's result (generate/loop.py DeviceResult) as the folder
    root/<device>/<op>_<shape>_<dtype>/ (root: generated/ by default)."""
    task, cand, final = res.task, res.best, res.final
    folder = (root or lab.ws.generated) / res.device / task.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / kernel_file(res.hardware)).write_text(cand.source)
    params = {k: v for k, v in cand.params.items() if not k.startswith("_")}
    try:
        space = ParamSpace.from_source(cand.source)
        if space:
            params = {"values": {**space.defaults, **params}, "space": space.to_json()}
    except SpaceError as e:
        res.warnings.append(f"{res.device}: params.json has no parameter space: the kernel's "
                            f"tensorop-params block is invalid: {e}")
    (folder / "params.json").write_text(json.dumps(params, indent=2, default=str) + "\n")
    ob = res.openblas
    meta = {
        "device": res.device,
        "arch": final.arch,
        "emulated": final.emulated,
        "toolchain": final.toolchain,
        "toolchain_version": final.toolchain_version,
        "cflags": list(final.cflags),
        "op": task.op, "shape": list(task.shape), "dtype": task.dtype,
        **generator.describe(),
        "prompt": task.prompt,
        "prompt_sha256": sha(task.prompt),
        "request_hashes": list(getattr(generator, "request_hashes", [])),
        "session": getattr(generator, "session_id", None),
        "replay_mismatches": getattr(getattr(generator, "client", None), "mismatches", None),
        "primitive_set": res.hardware.primitive_set if res.hardware else None,
        "hardware": res.hardware.to_json() if res.hardware else None,
        "candidate": cand.label,
        "candidate_notes": cand.notes,
        "source_sha256": sha(cand.source),
        "measured": final.to_json(),
        "openblas": ob.to_json() if ob else None,
        "vs_openblas": res.comparison.to_json() if res.comparison else None,
        "ratio_basis": res.basis,
        "rounds": [{"round": f.round, "label": f.label, "status": f.status, "gflops": f.gflops, "insns": f.insns,
                    "cycles": f.cycles, "vs_openblas": f.vs_openblas, "basis": f.basis, "trial_id": f.trial_id}
                   for f in res.history],
        "warnings": res.warnings,
        "wall_s": round(res.wall_s, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return folder


def write_tuned(target: KernelFolder, result, trial: Trial | None, *, objective_name: str,
               campaign: str, vs_openblas: "Ratio | None" = None) -> Path:
    """The tuner's best point into the folder: the kernel at that point, params.json, meta.json
    (with the search summary: search_summary() of harness/tune/base.py's SearchResult)."""
    best = result.best
    src = target.render(best.point)
    (target.folder / target.kernel_file).write_text(src)
    (target.folder / "params.json").write_text(json.dumps(
        {"values": {**dict(best.point), **({"primitive_set": target.primitive_set} if target.primitive_set else {})},
         "space": target.space.to_json()}, indent=2, default=str) + "\n")
    meta = dict(target.meta)
    if trial is not None:
        meta["measured"] = trial.to_json()
    meta["source_sha256"] = hashlib.sha256(src.encode()).hexdigest()[:16]
    meta["candidate"] = "tune:" + best.point.label()
    if vs_openblas is not None:   # re-measured with fresh inputs against OpenBLAS before it is written
        meta["vs_openblas"] = {**vs_openblas.to_json(), "against": "openblas"}
        meta["ratio_basis"] = vs_openblas.metric
    meta["tune"] = {**result.search_summary(objective_name, campaign), "previous": dict(target.values),
                    "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (target.folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return target.folder


