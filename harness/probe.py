"""Hardware probe: what a device is made of, read on the device itself, cached per device.

One shell round trip reads uname, /proc/cpuinfo, the cache hierarchy from
/sys/devices/system/cpu/cpu0/cache, the core count, /proc/meminfo and nvidia-smi where present;
a tiny probe program built with the device's toolchain and run under the device's runner reports
the vector length (RVV: vlenb via __riscv_vsetvlmax_e8m1; SVE: svcntb) and what the ISA
executes. Under qemu-user /proc and /sys are the *host's*: the profile says so (`emulated`,
`notes`), keeps those numbers apart as `host_*`-sourced, and takes the vector length from the
probe program, which QEMU emulates faithfully.

    profile = load_or_probe(lab, device)      # .cache/profiles/<device>.json, probed if missing
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .config.devices import Device
from .records import Artifact
from .scripts import script
from .transport import get_transport

PROFILE_FORMAT = 1

# The vector-length probe, built per toolchain. An illegal instruction (no V / no SVE) is caught.
PROBE_C = r'''
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
static sigjmp_buf env;
static void on_sigill(int s) { (void)s; siglongjmp(env, 1); }
#if defined(__riscv) && defined(__riscv_v_intrinsic)
#include <riscv_vector.h>
static long vector_bytes(void) { return (long)__riscv_vsetvlmax_e8m1(); }   /* = vlenb at LMUL 1 */
#define KIND "rvv"
#elif defined(__ARM_FEATURE_SVE)
#include <arm_sve.h>
static long vector_bytes(void) { return (long)svcntb(); }
#define KIND "sve"
#else
static long vector_bytes(void) { return -1; }
#define KIND "none"
#endif
int main(void) {
    long b = -1;
    signal(SIGILL, on_sigill);
    if (!sigsetjmp(env, 1)) b = vector_bytes();
    printf("{\"kind\": \"%s\", \"vector_bytes\": %ld}\n", KIND, b);
    return 0;
}
'''


@dataclass
class HardwareProfile:
    device: str
    arch: str                               # uname -m as the probe program/device reports it
    emulated: bool = False                  # qemu-user: cpuinfo/caches/memory below are the host's
    cpu: str = ""                           # model name / uarch
    isa: str = ""                           # e.g. rv64imafdcv..., or the arch for x86/arm
    features: list[str] = field(default_factory=list)   # cpuinfo flags / extensions (lowercase)
    vector_kind: str = ""                   # rvv | sve | avx512 | avx2 | neon | ""
    vector_bits: int = 0                    # VLEN (RVV), SVE VL, or the fixed SIMD width
    vlen_bits: int = 0                      # RVV only
    sve_vl_bits: int = 0                    # SVE only
    caches: dict[str, int] = field(default_factory=dict)  # l1d, l1i, l2, l3 -> bytes
    cache_line: int = 0
    cache_details: list[dict] = field(default_factory=list)
    cores: int = 0
    mem_bytes: int = 0
    gpus: list[dict] = field(default_factory=list)       # nvidia-smi rows
    notes: list[str] = field(default_factory=list)
    probed_at: str = ""
    format: int = PROFILE_FORMAT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "HardwareProfile":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def get(self, key: str, default=None):   # dict-style access for callers that want it
        return getattr(self, key, default)


def profile_path(lab, device: Device) -> Path:
    return lab.ws.cache / "profiles" / f"{device.name}.json"


def load_or_probe(lab, device, refresh: bool = False) -> HardwareProfile:
    """The cached profile of `device` (a Device or its name), probing it first if there is none."""
    if isinstance(device, str):
        device = lab.device(device)
    p = profile_path(lab, device)
    if p.is_file() and not refresh:
        try:
            data = json.loads(p.read_text())
            if data.get("format") == PROFILE_FORMAT:
                return HardwareProfile.from_json(data)
        except (OSError, ValueError, TypeError):
            pass
    prof = probe(lab, device)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(prof.to_json(), indent=2))
    os.replace(tmp, p)
    return prof


class ProbeError(Exception):
    pass


def probe(lab, device: Device, timeout_s: float = 60.0) -> HardwareProfile:
    """Run the probes on the device; raises ProbeError if the device cannot be reached."""
    prof = HardwareProfile(device=device.name, arch=device.arch, emulated=device.emulated,
                           probed_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    with get_transport(device, lab.ws) as t:
        r = t.run_command(["sh", "-c", script("probe.sh")], timeout_s=timeout_s)
        if r.device_error or r.returncode != 0:
            raise ProbeError(r.device_error or f"probe script failed on {device.name}: {r.stderr.strip()[-300:]}")
        _parse_sections(prof, _sections(r.stdout), device)
        vec = _vector_probe(lab, device, t, timeout_s)
    if device.emulated:
        prof.notes.append("emulated (qemu-user): cpu, features, caches, cores and memory are the host's, not the "
                          "target's; arch, vector length and ISA come from the probe program run under the emulator")
        prof.features = [f for f in device.features if f != "auto"]
        prof.isa = device.arch
        prof.cpu = f"{device.description or device.arch} (emulated on {prof.cpu})"
    if vec is not None:
        kind, nbytes = vec
        if nbytes > 0:
            prof.vector_kind, prof.vector_bits = kind, nbytes * 8
            if kind == "rvv":
                prof.vlen_bits = nbytes * 8
            elif kind == "sve":
                prof.sve_vl_bits = nbytes * 8
        elif kind in ("rvv", "sve"):
            prof.notes.append(f"the probe program found no {kind.upper()} unit (illegal instruction)")
    if not prof.vector_kind:
        f = set(prof.features)
        if "avx512f" in f:
            prof.vector_kind, prof.vector_bits = "avx512", 512
        elif "avx2" in f:
            prof.vector_kind, prof.vector_bits = "avx2", 256
        elif device.arch == "aarch64" and ({"asimd", "neon"} & f or device.emulated):
            prof.vector_kind, prof.vector_bits = "neon", 128
    return prof


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        if line.startswith("@@"):
            cur = line[2:].strip()
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return out


def _size(text: str) -> int:
    m = re.match(r"\s*(\d+)\s*([KMG]?)", text or "")
    if not m:
        return 0
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]


def _parse_sections(prof: HardwareProfile, s: dict[str, list[str]], device: Device) -> None:
    uname = (s.get("uname") or [""])[0].strip()
    if uname and not device.emulated:
        prof.arch = uname
    try:
        prof.cores = int((s.get("nproc") or ["0"])[0].strip() or 0)
    except ValueError:
        pass
    info: dict[str, str] = {}
    for line in s.get("cpuinfo", []):
        k, sep, v = line.partition(":")
        if sep and k.strip() and k.strip() not in info:
            info[k.strip().lower()] = v.strip()
        if not line.strip() and info:
            break          # the first processor block is enough
    prof.cpu = info.get("model name") or info.get("uarch") or info.get("cpu model") or info.get("cpu part", "")
    flags = info.get("flags") or info.get("features") or ""
    prof.features = sorted(set(flags.lower().split()))
    isa = info.get("isa", "")
    if isa:   # RISC-V: rv64imafdcv_zicsr_... -> base string plus z*/s*/x* extensions as features
        prof.isa = isa
        base, *exts = isa.lower().split("_")
        letters = base[4:] if base.startswith(("rv64", "rv32")) else ""
        prof.features = sorted(set(prof.features) | set(letters) | set(exts))
    else:
        prof.isa = prof.arch
    for line in s.get("meminfo", []):
        if line.startswith("MemTotal:"):
            prof.mem_bytes = _size(line.split(":", 1)[1].strip().replace(" kB", "K"))
    for line in s.get("cache", []):
        parts = line.split("|")
        if len(parts) < 6 or not parts[0]:
            continue
        level, ctype, size, lsize, ways, shared = parts[:6]
        d = {"level": int(level or 0), "type": ctype, "size_bytes": _size(size), "line_bytes": int(lsize or 0),
             "ways": int(ways or 0), "shared_cpu_list": shared}
        prof.cache_details.append(d)
        name = {"Data": "d", "Instruction": "i"}.get(ctype, "")
        key = f"l{d['level']}{name}" if d["level"] == 1 else f"l{d['level']}"
        prof.caches[key] = d["size_bytes"]
        prof.cache_line = prof.cache_line or d["line_bytes"]
    for line in s.get("nvidia", []):
        cols = [c.strip() for c in line.split(",")]
        if len(cols) >= 5 and "failed" not in line.lower():
            prof.gpus.append({"name": cols[0], "memory": cols[1], "compute_cap": cols[2], "driver": cols[3],
                              "max_sm_clock": cols[4]})
        elif line.strip():
            prof.notes.append(f"nvidia-smi: {line.strip()[:200]}")


def _vector_probe(lab, device: Device, transport, timeout_s: float) -> tuple[str, int] | None:
    """Build the probe program with the device's toolchain (with SVE on arm64) and run it."""
    tc = lab.toolchain(device)
    cc = tc.compiler() if tc else None
    if cc is None:
        return None
    flags = list(tc.cflags)
    if device.arch == "aarch64" and not any("sve" in f for f in flags):
        flags = [f for f in flags if not f.startswith("-march=")] + ["-march=armv8.2-a+sve"]
    lab.ws.scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hwprobe-", dir=lab.ws.scratch) as d:
        src, exe = Path(d) / "probe.c", Path(d) / "probe"
        src.write_text(PROBE_C)
        try:
            p = subprocess.run([cc, *flags, str(src), "-o", str(exe), *tc.ldflags], capture_output=True, text=True,
                               timeout=120)
        except (OSError, subprocess.SubprocessError):
            return None
        if p.returncode != 0:
            return None
        r = transport.run(Artifact(key="hwprobe", executable=exe), [], timeout_s=timeout_s)
    if r.device_error or r.returncode != 0:
        return None
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            try:
                d = json.loads(line)
                return str(d["kind"]), int(d["vector_bytes"])
            except (ValueError, KeyError):
                return None
    return None
