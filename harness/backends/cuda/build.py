"""Builder for CUDA devices: nvcc on this host, for the device's sm_XX.

kernel.cu --nvcc -c (real code for the SM only, ptxas -v)--> kernel.o --gate (host object and
device code)--> --inspect (registers, spills, smem, occupancy, SASS mix)--> CompileReport
  and, unless compile-only: the ABI's driver (harness/driver/cuda_<op>_driver.cu with its defines)
  + kernel.o --nvcc link (static cudart, full RELRO)--> driver executable (the Artifact).

The kernel's op and dtype are read from the ABI symbol its object defines (ABIS: one row per
CUDA op and dtype, naming its driver and defines). Build directories are content-hashed under
.cache/builds/cuda-<key>/.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from harness.config.devices import Device
from harness.config.toolchains import Toolchain
from harness.core.records import Artifact, BuildResult, Status
from harness.core.workspace import PACKAGE_DIR
from harness.backends.cuda import tools
from harness.backends.cuda.arch import limits, nvcc_arch_flags
from harness.backends.cuda.gate import check_device_code, check_host_object
from harness.backends.cuda.inspect import CompileReport, inspect_object, parse_nvinfo, parse_sass, run_tool
from harness.backends.cpu.build import publish_build, run_compiler

HEADER_DIR = PACKAGE_DIR / "driver"


@dataclass(frozen=True)
class CudaAbi:
    """One CUDA ABI function: the op and dtype it means, the timing driver it links with."""
    symbol: str
    op: str
    dtype: str
    driver: str                      # file in harness/driver/
    defines: tuple[str, ...] = ()    # the driver's -D flags for this ABI

    @property
    def driver_source(self) -> Path:
        return HEADER_DIR / self.driver


ABIS = (
    CudaAbi("tensorop_gemm_f32_cuda", "gemm", "f32", "cuda_gemm_driver.cu"),
    CudaAbi("tensorop_gemm_f16_cuda", "gemm", "f16", "cuda_gemm_driver.cu", ("-DTENSOROP_F16",)),
    CudaAbi("tensorop_conv2d_f32_cuda", "conv2d", "f32", "cuda_conv2d_driver.cu"),
)
DRIVER_HEADERS = ("tensorop_cuda.h", "tensorop_driver_common.h", "tensorop_cases.h", "tensorop_cuda_driver.h",
                  "tensorop_cuda_modes.h")
BUILD_FORMAT = "cuda-5"
COMPILE_TIMEOUT_S = 300
HARDEN = ("-Xlinker", "-z,relro", "-Xlinker", "-z,now")


@dataclass(frozen=True)
class CudaUnit:
    """The second kernel of a paired build (a kernel, or a vendor baseline with allow_blas):
    linked as <symbol>_b beside the first for the driver's pair mode (-DTENSOROP_PAIR)."""
    source: bytes
    name: str
    relax: tuple[str, ...] = ()
    allow_blas: bool = False
    libs: tuple[str, ...] = ()
    cflags: tuple[str, ...] = ()


@dataclass
class CudaBuild:
    result: BuildResult
    report: CompileReport | None = None
    dtype: str = ""
    sm: str = ""
    op: str = ""

    @property
    def ok(self) -> bool:
        return self.result.status is Status.OK


def _nvcc_run(cmd: list[str], cwd: Path, tc: Toolchain) -> tuple[int, str]:
    """nvcc in the same sandbox as every kernel compiler (harness.backends.cpu.build.run_compiler), with its whole
    installation readable (a CUDA toolkit directory, or the NVIDIA wheels beside each other)."""
    real = Path(cmd[0]).resolve()
    install = [real.parents[i] for i in (1, 2) if len(real.parents) > i and str(real.parents[i]) != "/"]
    return run_compiler([str(real), *cmd[1:]], cwd, tc, readable_extra=install)


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if not line.startswith("$ ") and ("error" in line.lower() or "undefined reference" in line):
            return line.strip()[:600]
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith("$ ")]
    return (lines[-1] if lines else "failed").strip()[:600]


def defined_abi(obj: Path) -> list[CudaAbi]:
    """The tensorop CUDA ABI functions the host object defines."""
    with obj.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        names = {s.name for s in symtab.iter_symbols() if s["st_shndx"] != "SHN_UNDEF"} if symtab else set()
    return [a for a in ABIS if a.symbol in names]


# The CUDA driver API functions a kernel's host side may call (the gate's allow-list: TMA
# descriptor encoders). They live in the NVIDIA driver's libcuda.so.1, which only a GPU machine
# has; the link uses a stub of that library (what the CUDA toolkit's lib64/stubs/libcuda.so is
# for), so a machine without a GPU links the same executable, and the GPU machine's real
# libcuda.so.1 is what runs.
DRIVER_API = ("cuTensorMapEncodeTiled", "cuTensorMapEncodeIm2col")


def driver_api_used(obj: Path) -> list[str]:
    """The CUDA driver API functions (DRIVER_API) the host object calls."""
    with obj.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        undefined = {s.name for s in symtab.iter_symbols() if s["st_shndx"] == "SHN_UNDEF"} if symtab else set()
    return [n for n in DRIVER_API if n in undefined]


def libcuda_stub(builds_dir: Path) -> Path:
    """A link-time stub of libcuda.so.1 defining DRIVER_API (built once with the host C compiler,
    cached by its content); never shipped or run."""
    source = "".join(f"int {n}(void) {{ return 999; }}\n" for n in DRIVER_API).encode()
    out = builds_dir / f"libcuda-stub-{_key(source)[:12]}" / "libcuda.so"
    if out.is_file():
        return out
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise RuntimeError("no host C compiler (cc) to build the link stub of libcuda.so.1")
    work = Path(tempfile.mkdtemp(prefix="libcuda-", dir=builds_dir))
    try:
        (work / "stub.c").write_bytes(source)
        p = subprocess.run([cc, "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "stub.c", "-o", "libcuda.so"],
                           cwd=work, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"building the libcuda.so.1 link stub failed: {p.stderr.strip()[:300]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work / "libcuda.so", out)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _drivers_bytes() -> bytes:
    """Every CUDA driver source and shared header (part of each build's key)."""
    files = sorted({a.driver for a in ABIS} | set(DRIVER_HEADERS))
    return b"".join((HEADER_DIR / f).read_bytes() for f in files)


def _key(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def build_cuda(source: bytes, name: str, device: Device, tc: Toolchain, builds_dir: Path, *, link: bool = True,
               relax: tuple[str, ...] = (), allow_blas: bool = False, libs: tuple[str, ...] = (),
               threads: int | None = None, dynamic_smem: int = 0, extra_cflags: tuple[str, ...] = (),
               partner: CudaUnit | None = None) -> CudaBuild:
    """Compile, gate and inspect one CUDA kernel for `device`; link it with the timing driver
    unless `link` is false (compile-only: what `tensorop build` and `bench --build-only` report).
    With `partner`, a paired build: the partner is compiled, checked to define the same ABI and
    gated (unless it is a trusted baseline); both objects keep only their ABI function global
    (objcopy -G, so two kernels' launch stubs cannot clash), the partner's renamed to <symbol>_b,
    and the driver is built with -DTENSOROP_PAIR. Shared libraries (`libs`: a baseline's vendor
    library) are linked, placed beside the driver (found through its run path $ORIGIN) and
    listed as the artifact's runtime libraries, so transports ship them with it."""
    sm = device.sm
    if sm is None:
        return CudaBuild(BuildResult(Status.DEVICE_ERROR, "", None,
                                     f"device {device.name}: no sm_XX in its features (e.g. features: "
                                     "[cuda, sm_90a, tensor-cores])"))
    nvcc = tools.nvcc(tc)
    if nvcc is None:
        return CudaBuild(BuildResult(Status.DEVICE_ERROR, "", None,
                                     f"toolchain {tc.name}: nvcc not found; {tools.INSTALL_HINT}"), sm=sm)
    cuobjdump = tools.cuobjdump(tc)
    missing = [t for t in ("cuobjdump", "nvdisasm") if tools.find_tool(t, tc) is None]
    if missing:
        return CudaBuild(BuildResult(Status.DEVICE_ERROR, "", None,
                                     f"{' and '.join(missing)} not found: the device code cannot be gated or "
                                     "inspected; " + tools.INSTALL_HINT), sm=sm)
    version = _version(nvcc)
    key = _key(BUILD_FORMAT, source, _drivers_bytes(), nvcc, version, sm, link, name, relax, allow_blas,
               libs, extra_cflags, tc.cflags, tc.ldflags, sorted(tc.env.items()),
               repr(partner) if partner else "")
    builds_dir.mkdir(parents=True, exist_ok=True)
    out = builds_dir / f"cuda-{key[:20]}"
    arch = nvcc_arch_flags(sm)
    cflags = [*tc.cflags, *arch, *extra_cflags, "-Xptxas", "-v", f"-I{HEADER_DIR}"]
    work = Path(tempfile.mkdtemp(prefix="build-", dir=builds_dir))
    log: list[str] = []
    try:
        src = work / "src" / Path(name).name
        src.parent.mkdir()
        src.write_bytes(source)
        rc, text = _nvcc_run([nvcc, *cflags, "-c", str(src.relative_to(work)), "-o", "kernel.o"], work, tc)
        log.append(text)
        if rc != 0:
            return CudaBuild(BuildResult(Status.COMPILE_ERROR, "".join(log), None, _first_error(text)), sm=sm)
        obj = work / "kernel.o"
        found = defined_abi(obj)
        if len(found) != 1:
            msg = ("defines none of " + ", ".join(a.symbol for a in ABIS) if not found else
                   "defines " + " and ".join(a.symbol for a in found) + " (one ABI function per file)")
            return CudaBuild(BuildResult(Status.REJECTED, "".join(log) + msg + "\n", None, msg), sm=sm)
        abi = found[0]
        dtype, op = abi.dtype, abi.op
        nvinfo = parse_nvinfo(run_tool([cuobjdump, "-elf", str(obj)]))
        kernels = set(parse_sass(run_tool([cuobjdump, "-sass", str(obj)]))) | set(nvinfo)
        if not allow_blas:
            for verdict in (check_host_object(obj, abi.symbol, kernels, relax), check_device_code(nvinfo, relax)):
                if verdict.relaxed:
                    log.append(f"object gate: rules relaxed for a trusted kernel: {', '.join(verdict.relaxed)}\n")
                if not verdict.ok:
                    msg = "object gate: " + verdict.message
                    return CudaBuild(BuildResult(Status.REJECTED, "".join(log) + msg + "\n", None, msg),
                                     dtype=dtype, sm=sm, op=op)
        lim = limits(sm)
        report = inspect_object(str(obj), sm, text, cuobjdump, dtype=dtype,
                                tensor_cores=bool(lim and lim.tensor_cores),
                                threads=threads, dynamic_smem=dynamic_smem)
        if not link:
            return CudaBuild(BuildResult(Status.OK, "".join(log), None), report, dtype, sm, op)
        all_libs = tuple(dict.fromkeys((*libs, *(partner.libs if partner else ()))))
        shipped = tuple(str(out / soname(Path(p))) for p in all_libs)   # beside the driver, by the name it needs
        if (out / "driver").is_file() and (out / "build.json").is_file():
            info = json.loads((out / "build.json").read_text())
            return CudaBuild(BuildResult(Status.OK, info["log"], _artifact(key, out / "driver", tc, version, cflags,
                                                                           shipped)), report, dtype, sm, op)
        objects = ["kernel.o"]
        if partner is not None:
            failed = _pair_partner(partner, abi, nvcc, tc, [*tc.cflags, *arch, "-Xptxas", "-v", f"-I{HEADER_DIR}"],
                                   cuobjdump, work, log)
            if failed is not None:
                return CudaBuild(failed, report, dtype, sm, op)
            objects.append("partner.o")
        rc, dtext = _nvcc_run([nvcc, *tc.cflags, *arch, *abi.defines, *(["-DTENSOROP_PAIR"] if partner else []),
                               "-c", str(abi.driver_source), "-o", "driver.o"], work, tc)
        log.append(dtext)
        if rc != 0:
            return CudaBuild(BuildResult(Status.INTERNAL_ERROR, "".join(log), None,
                                         f"the CUDA timing driver does not compile: {_first_error(dtext)}"),
                             report, dtype, sm, op)
        rpath = ["-Xlinker", "-rpath,$ORIGIN"] if all_libs else []
        driver_api = [n for o in objects for n in driver_api_used(work / o)]
        stub = []
        if driver_api:
            try:
                stub = [str(libcuda_stub(builds_dir))]
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                return CudaBuild(BuildResult(Status.INTERNAL_ERROR, "".join(log), None, str(e)), report, dtype, sm, op)
            log.append(f"links libcuda.so.1 (the NVIDIA driver) for {', '.join(dict.fromkeys(driver_api))}\n")
        rc, ltext = _nvcc_run([nvcc, *tc.ldflags, *arch, *HARDEN, *rpath, "driver.o", *objects,
                               *(a for lib in all_libs for a in _link_arg(lib)), *stub, "-o", "driver"], work, tc)
        log.append(ltext)
        if rc != 0:
            return CudaBuild(BuildResult(Status.LINK_ERROR, "".join(log), None, _first_error(ltext)), report, dtype, sm,
                             op)
        for lib in dict.fromkeys(Path(p) for p in all_libs):   # beside the driver under the name it needs
            os.symlink(lib.resolve(), work / soname(lib))         # (its SONAME), found through $ORIGIN
        (work / "build.json").write_text(json.dumps({"log": "".join(log), "sm": sm, "dtype": dtype, "op": op,
                                                     "toolchain": tc.name, "version": version}))
        publish_build(work, out)
        return CudaBuild(BuildResult(Status.OK, "".join(log), _artifact(key, out / "driver", tc, version, cflags,
                                                                        shipped)), report, dtype, sm, op)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _link_arg(lib: str) -> list[str]:
    """A shared library on nvcc's link line: nvcc takes `x.so` and `x.a` but not a versioned name
    (`libcudnn.so.9`: "Don't know what to do with"), which goes to the host linker as it is."""
    return [lib] if lib.endswith((".so", ".a", ".o")) else ["-Xlinker", lib]


def soname(lib: Path) -> str:
    """The name the linker records for a shared library (DT_SONAME; libcudnn.so -> libcudnn.so.9),
    which the dynamic loader looks for at run time; the file's name when it has none."""
    try:
        with Path(lib).open("rb") as f:
            dyn = ELFFile(f).get_section_by_name(".dynamic")
            for tag in (dyn.iter_tags() if dyn is not None else ()):
                if tag.entry.d_tag == "DT_SONAME":
                    return str(tag.soname)
    except (OSError, ValueError, Exception):
        pass
    return Path(lib).name


def _pair_partner(partner: CudaUnit, abi: CudaAbi, nvcc: str, tc: Toolchain, cflags: list[str], cuobjdump: str,
                  work: Path, log: list[str]) -> BuildResult | None:
    """Compile and gate the partner of a paired build to partner.o, then rename: kernel.o keeps
    only <symbol> global, partner.o only <symbol>_b. None when it worked."""
    src = work / "partner" / Path(partner.name).name
    src.parent.mkdir()
    src.write_bytes(partner.source)
    rc, text = _nvcc_run([nvcc, *cflags, *partner.cflags, "-c", str(src.relative_to(work)), "-o", "partner.o"],
                         work, tc)
    log.append(text)
    if rc != 0:
        return BuildResult(Status.COMPILE_ERROR, "".join(log), None, f"the paired kernel: {_first_error(text)}")
    obj = work / "partner.o"
    found = defined_abi(obj)
    if [a.symbol for a in found] != [abi.symbol]:
        msg = (f"paired build: the partner {partner.name} defines "
               f"{' and '.join(a.symbol for a in found) or 'no tensorop CUDA ABI function'}, not {abi.symbol}")
        return BuildResult(Status.REJECTED, "".join(log) + msg + "\n", None, msg)
    if not partner.allow_blas:
        nvinfo = parse_nvinfo(run_tool([cuobjdump, "-elf", str(obj)]))
        kernels = set(parse_sass(run_tool([cuobjdump, "-sass", str(obj)]))) | set(nvinfo)
        for verdict in (check_host_object(obj, abi.symbol, kernels, partner.relax),
                        check_device_code(nvinfo, partner.relax)):
            if not verdict.ok:
                msg = f"object gate (paired kernel {partner.name}): {verdict.message}"
                return BuildResult(Status.REJECTED, "".join(log) + msg + "\n", None, msg)
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        return BuildResult(Status.DEVICE_ERROR, "".join(log), None,
                           "objcopy (binutils) not found: a paired CUDA build renames the partner's ABI symbol with it")
    for args in ((f"--keep-global-symbol={abi.symbol}", "kernel.o"),
                 (f"--redefine-sym={abi.symbol}={abi.symbol}_b", f"--keep-global-symbol={abi.symbol}_b", "partner.o")):
        p = subprocess.run([objcopy, *args], cwd=work, capture_output=True, text=True, timeout=60)
        log.append(f"$ objcopy {' '.join(args)}\n{p.stdout}{p.stderr}")
        if p.returncode != 0:
            return BuildResult(Status.INTERNAL_ERROR, "".join(log), None, f"objcopy failed: {p.stderr.strip()[:300]}")
    return None


def _artifact(key: str, exe: Path, tc: Toolchain, version: str, cflags: list[str],
              libs: tuple[str, ...] = ()) -> Artifact:
    return Artifact(key=key, executable=exe, runtime_libs=tuple(Path(p) for p in libs), toolchain=tc.name,
                    toolchain_version=version, cflags=tuple(cflags), ldflags=tc.ldflags)


def _version(nvcc: str) -> str:
    try:
        p = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=30)
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        return lines[-1].strip() if lines else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
