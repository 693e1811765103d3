"""Hardware probe: what a device is made of, read on the device itself, cached per device.

One shell round trip reads uname, /proc/cpuinfo, the cache hierarchy from
/sys/devices/system/cpu/cpu0/cache, the core count, /proc/meminfo and nvidia-smi where present;
a tiny probe program built with the device's toolchain and run under the device's runner reports
the vector length (RVV: vlenb via __riscv_vsetvlmax_e8m1; SVE: svcntb) and what the ISA
executes. Under qemu-user /proc and /sys are the *host's*: the profile says so (`emulated`,
`notes`), keeps those numbers apart as `host_*`-sourced, and takes the vector length from the
probe program, which QEMU emulates faithfully.

    profile = load_or_probe(lab, device)      # .cache/profiles/<device>-<config key>.json, probed if missing
    profile = profile_from_config(lab, device) # what devices.yaml alone says (no probing)

The cache is keyed by the device's configuration (runner, arch, features, toolchain and its
compiler, env, ...): editing a runner's `vlen` makes a new key, so the stale profile is not used.
This module is also the one place that reads this machine's /proc/cpuinfo (`host_cpuinfo`).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.config.devices import Device
from harness.core.records import Artifact
from harness.transport.scripts import script
from harness.transport import get_transport

PROFILE_FORMAT = 2

# Fixed-width SIMD sets: register width in bits; and architectural vector registers per set.
SIMD_BITS = {"avx512": 512, "avx2": 256, "neon": 128}
VREGS = {"rvv": 32, "sve": 32, "neon": 32, "avx512": 32, "avx2": 16, "scalar": 16}

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
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
/* the ISA extensions the (emulated) CPU reports in AT_HWCAP/AT_HWCAP2 (Linux arm64 bit numbers) */
static void isa(void) {
    const unsigned long h = getauxval(AT_HWCAP), h2 = getauxval(AT_HWCAP2);
    printf(", \"isa\": [\"neon\"%s%s%s%s%s%s]", (h >> 10) & 1 ? ", \"fp16\"" : "", (h >> 20) & 1 ? ", \"dotprod\"" : "",
           (h >> 23) & 1 ? ", \"fhm\"" : "", (h >> 22) & 1 ? ", \"sve\"" : "", (h2 >> 13) & 1 ? ", \"i8mm\"" : "",
           (h2 >> 14) & 1 ? ", \"bf16\"" : "");
}
#else
static void isa(void) {}
#endif
int main(void) {
    long b = -1;
    signal(SIGILL, on_sigill);
    if (!sigsetjmp(env, 1)) b = vector_bytes();
    printf("{\"kind\": \"%s\", \"vector_bytes\": %ld", KIND, b);
    isa();
    printf("}\n");
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
    vregs: int = 0                          # architectural vector registers of vector_kind
    caches: dict[str, int] = field(default_factory=dict)  # l1d, l1i, l2, l3 -> bytes
    cache_line: int = 0                     # bytes
    cache_details: list[dict] = field(default_factory=list)
    cores: int = 0
    mem_bytes: int = 0
    gpus: list[dict] = field(default_factory=list)       # nvidia-smi rows
    notes: list[str] = field(default_factory=list)
    probed_at: str = ""
    source: str = "probe"                   # probe | devices.yaml (configuration only, nothing probed)
    config_key: str = ""                    # config_key() of the device when this was made
    format: int = PROFILE_FORMAT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "HardwareProfile":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# ----------------------------------------------------------------------------------------
# this machine's /proc/cpuinfo: read here and nowhere else

def parse_cpuinfo(lines) -> dict[str, str]:
    """The first processor block of a /proc/cpuinfo text, keys lowercased."""
    info: dict[str, str] = {}
    for line in lines:
        k, sep, v = line.partition(":")
        if sep and k.strip() and k.strip().lower() not in info:
            info[k.strip().lower()] = v.strip()
        if not line.strip() and info:
            break          # the first processor block is enough
    return info


@functools.lru_cache(maxsize=1)
def host_cpuinfo() -> dict[str, str]:
    try:
        return parse_cpuinfo(Path("/proc/cpuinfo").read_text().splitlines())
    except OSError:
        return {}


def cpu_model(info: dict[str, str]) -> str:
    return info.get("model name") or info.get("uarch") or info.get("cpu model") or info.get("cpu part", "")


def host_cpu_model() -> str:
    return cpu_model(host_cpuinfo()) or platform.processor() or platform.machine()


def host_cpu_flags() -> set[str]:
    info = host_cpuinfo()
    return set((info.get("flags") or info.get("features") or "").lower().split())


# ----------------------------------------------------------------------------------------
# the cache, keyed by the device's configuration

def config_key(lab, device: Device) -> str:
    """A hash of everything in the configuration that can change what the probe finds."""
    d = asdict(device)
    for k in ("source", "line", "aliases", "description", "manuals", "measure"):
        d.pop(k, None)
    tc = lab.toolchain(device)
    cc = tc.compiler() if tc else None
    d["toolchain"] = {"name": device.toolchain, "cc": cc, "version": tc.version() if tc else "",
                      "cflags": list(tc.cflags) if tc else [], "ldflags": list(tc.ldflags) if tc else [],
                      "env": dict(tc.env) if tc else {}}
    d["runner"] = [lab.ws.expand(a) for a in device.runner]
    d["format"] = PROFILE_FORMAT
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def profile_path(lab, device: Device) -> Path:
    return lab.ws.profiles / f"{device.name}-{config_key(lab, device)}.json"


def cached_profile(lab, device: Device) -> HardwareProfile | None:
    """The cached profile for the device's current configuration, or None."""
    p = profile_path(lab, device)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ProbeError(f"cached profile {p} is unreadable ({e}); run `tensorop devices probe "
                         f"{device.name} --refresh`") from None
    if data.get("format") != PROFILE_FORMAT:
        return None
    return HardwareProfile.from_json(data)


def load_or_probe(lab, device, refresh: bool = False) -> HardwareProfile:
    """The cached profile of `device` (a Device or its name), probing it first if there is none
    for its current configuration. Raises ProbeError when the probe fails."""
    if isinstance(device, str):
        device = lab.device(device)
    if not refresh:
        prof = cached_profile(lab, device)
        if prof is not None:
            return prof
    prof = probe(lab, device)
    p = profile_path(lab, device)
    p.parent.mkdir(parents=True, exist_ok=True)
    for old in p.parent.glob(f"{device.name}-*.json"):   # profiles of earlier configurations
        if old != p and re.fullmatch(re.escape(device.name) + r"-[0-9a-f]{12}\.json", old.name):
            old.unlink(missing_ok=True)
    tmp = p.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(prof.to_json(), indent=2))
    os.replace(tmp, p)
    return prof


def _set_vector(prof: HardwareProfile, kind: str, bits: int) -> None:
    prof.vector_kind, prof.vector_bits, prof.vregs = kind, bits, VREGS.get(kind, 0)
    if kind == "rvv":
        prof.vlen_bits = bits
    elif kind == "sve":
        prof.sve_vl_bits = bits


def _vector_from_features(prof: HardwareProfile, device: Device) -> None:
    """Fill the vector fields from feature names (cpuinfo flags or devices.yaml features)."""
    f = {x.lower() for x in prof.features}
    if device.arch.startswith("riscv") and any(x.startswith("rvv") or x in ("v", "zve32f") for x in f):
        _set_vector(prof, "rvv", device.declared_vector_bits)
    elif device.arch == "aarch64" and any(x.startswith("sve") for x in f):
        _set_vector(prof, "sve", device.declared_vector_bits)
    elif "avx512f" in f or "avx512" in f:
        _set_vector(prof, "avx512", SIMD_BITS["avx512"])
    elif "avx2" in f:
        _set_vector(prof, "avx2", SIMD_BITS["avx2"])
    elif device.arch == "aarch64":
        _set_vector(prof, "neon", SIMD_BITS["neon"])


def profile_from_config(lab, device: Device) -> HardwareProfile:
    """What devices.yaml alone says about the device; nothing is probed (caches, cores and
    memory stay unknown: 0 / empty)."""
    prof = HardwareProfile(device=device.name, arch=device.arch, emulated=device.emulated,
                           cpu=device.description, isa=device.arch,
                           features=sorted({f.lower() for f in device.features if f != "auto"}),
                           source="devices.yaml", config_key=config_key(lab, device),
                           notes=["not probed"])
    _vector_from_features(prof, device)
    return prof


class ProbeError(Exception):
    pass


def probe(lab, device: Device, timeout_s: float = 60.0) -> HardwareProfile:
    """Run the probes on the device; raises ProbeError if the device cannot be reached."""
    prof = HardwareProfile(device=device.name, arch=device.arch, emulated=device.emulated,
                           probed_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), source="probe",
                           config_key=config_key(lab, device))
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
        if isinstance(vec, tuple) and vec[2] is not None:
            _reconcile_isa(prof, set(vec[2]))
    kind, nbytes = vec[:2] if isinstance(vec, tuple) else ("", 0)
    if isinstance(vec, str):
        prof.notes.append(vec)
    if nbytes > 0:
        _set_vector(prof, kind, nbytes * 8)
    elif kind in ("rvv", "sve"):
        prof.notes.append(f"the probe program found no {kind.upper()} unit (illegal instruction)")
    if not prof.vector_kind:
        _vector_from_features(prof, device)
        if prof.vector_kind in ("rvv", "sve") and prof.vector_bits:
            prof.notes.append(f"vector length {prof.vector_bits} taken from devices.yaml, not measured")
    if not prof.vregs:
        prof.vregs = VREGS["scalar"]
    return prof


# ISA extensions the aarch64 probe program reads from AT_HWCAP/AT_HWCAP2 (canonical names)
HWCAP_ISA = ("neon", "fp16", "dotprod", "fhm", "sve", "i8mm", "bf16")


def _reconcile_isa(prof: HardwareProfile, found: set[str]) -> None:
    """An emulated device's features: devices.yaml's, less the ISA extensions the emulated CPU lacks
    (a kernel planned for them would die with SIGILL) and plus those it has, each change noted."""
    declared = set(prof.features)
    lacking = sorted(f for f in declared if f in HWCAP_ISA and f not in found)
    extra = sorted(found - declared)
    if lacking:
        prof.notes.append(f"devices.yaml declares {', '.join(lacking)} but the emulated CPU does not report "
                          f"{'it' if len(lacking) == 1 else 'them'} (HWCAP): left out")
    if extra:
        prof.notes.append(f"the emulated CPU reports {', '.join(extra)} (HWCAP), not in devices.yaml: added")
    prof.features = sorted((declared - set(lacking)) | found)


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
    info = parse_cpuinfo(s.get("cpuinfo", []))
    prof.cpu = cpu_model(info)
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


def _vector_probe(lab, device: Device, transport, timeout_s: float) -> tuple[str, int, list | None] | str:
    """Build the probe program with the device's toolchain (with SVE on arm64) and run it:
    (kind, vector bytes, ISA extensions from HWCAP or None), or a note saying why there is no answer."""
    tc = lab.toolchain(device)
    cc = tc.compiler() if tc else None
    if cc is None:
        return f"vector-length probe not run: toolchain {device.toolchain!r} has no compiler here"
    flags = list(tc.cflags)
    if device.arch == "aarch64" and not any("sve" in f for f in flags):
        flags = [f for f in flags if not f.startswith("-march=")] + ["-march=armv8.2-a+sve"]
    lab.ws.scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hwprobe-", dir=lab.ws.scratch) as d:
        src, exe = Path(d) / "probe.c", Path(d) / "probe"
        src.write_text(PROBE_C)
        try:
            p = subprocess.run([cc, *flags, str(src), "-o", str(exe), *tc.ldflags], capture_output=True, text=True,
                               timeout=120, env=tc.environ())
        except (OSError, subprocess.SubprocessError) as e:
            return f"vector-length probe program could not be built: {e}"
        if p.returncode != 0:
            return f"vector-length probe program failed to build: {p.stderr.strip()[-300:]}"
        r = transport.run(Artifact(key="hwprobe", executable=exe), [], timeout_s=timeout_s)
    if r.device_error or r.returncode != 0:
        return f"vector-length probe program failed on the device: {r.device_error or r.stderr.strip()[-300:]}"
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            try:
                d = json.loads(line)
                isa = d.get("isa")
                return str(d["kind"]), int(d["vector_bytes"]), [str(x) for x in isa] if isinstance(isa, list) else None
            except (ValueError, KeyError):
                break
    return f"vector-length probe program printed no answer: {r.stdout.strip()[-200:]!r}"
