"""Fetch only the headers (and cuDNN's small loader library) out of NVIDIA's cuBLAS and cuDNN
wheels, for the compile-only CUDA path (`make setup`, step 6).

The nvidia-cublas and nvidia-cudnn wheels are ~0.5 GB each; their headers are a few MB. PyPI
serves range requests, so `remotezip` reads the wheel's zip directory and then only the members
we want. pip resolves the pinned wheel (its PEP 658 metadata: the wheel itself is not downloaded)
and gives its address; nothing here names a registry host.

Layout (harness/backends/cuda/tools.py: library_include, library_lib):
    .cache/cuda-headers/cublas/include/*.h
    .cache/cuda-headers/cudnn/include/*.h
    .cache/cuda-headers/cudnn/lib/libcudnn.so.9    the 137 KB loader cuDNN 9 links through; it
                                                    dlopens libcudnn_{graph,cnn,ops,engines_*}
                                                    at run time, which only the full wheel or the
                                                    cuDNN install of a GPU machine has
    .cache/cuda-headers/<lib>/WHEEL                 the wheel they came from (idempotence)

The wheels are pinned per CUDA major version (nvcc's), so the headers match the toolkit that
compiles against them. Exit status 0 also when nothing could be fetched (the CUDA baseline
compile tests then skip with the reason); 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# CUDA major -> library -> pip requirement (13.0 is what setup installs and what was verified)
PINS = {
    13: {"cublas": "nvidia-cublas==13.0.2.14", "cudnn": "nvidia-cudnn-cu13==9.28.0.42"},
    12: {"cublas": "nvidia-cublas-cu12==12.9.*", "cudnn": "nvidia-cudnn-cu12==9.*"},
}
# wheel member -> kept when it matches; the path under the library's folder is the part from include/ or lib/
MEMBERS = {
    "cublas": re.compile(r"^nvidia/(?:cu\d+|cublas)/(include/[^/]+\.h)$"),
    "cudnn": re.compile(r"^nvidia/cudnn/(include/[^/]+\.h|lib/libcudnn\.so\.\d+)$"),
}


def log(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def cuda_major(nvcc: str) -> int | None:
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"release (\d+)\.", out)
    return int(m.group(1)) if m else None


def wheel_url(pip: list[str], requirement: str) -> tuple[str, str]:
    """(url, 'name version') of the wheel pip would install for `requirement`, without downloading it."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([*pip, "install", "--dry-run", "--quiet", "--disable-pip-version-check", "--no-deps",
                        "--ignore-installed", "--only-binary=:all:", "--report", str(report), requirement],
                       check=True, capture_output=True, text=True, timeout=300)
        item = json.loads(report.read_text())["install"][0]
    return item["download_info"]["url"], f"{item['metadata']['name']} {item['metadata']['version']}"


def extract(url: str, pattern: re.Pattern, dest: Path) -> list[str]:
    from remotezip import RemoteZip
    got = []
    with RemoteZip(url) as z:
        for info in z.infolist():
            m = pattern.match(info.filename)
            if not m:
                continue
            target = dest / m.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(z.read(info))
            os.replace(tmp, target)
            got.append(m.group(1))
    return got


def fetch(lib: str, requirement: str, dest: Path, pip: list[str]) -> bool:
    folder = dest / lib
    stamp = folder / "WHEEL"
    if stamp.is_file() and stamp.read_text().split("\n")[0] == requirement and (folder / "include").is_dir():
        return True
    url, wheel = wheel_url(pip, requirement)
    log(f"{lib} headers from {wheel} (range requests: headers only, not the whole wheel)")
    got = extract(url, MEMBERS[lib], folder)
    if not any(g.startswith("include/") for g in got):
        raise RuntimeError(f"{wheel}: no headers matched in the wheel")
    for g in got:                                   # libcudnn.so.9 -> libcudnn.so for -lcudnn
        m = re.match(r"^lib/(lib\w+\.so)\.\d+$", g)
        if m and not (folder / "lib" / m.group(1)).exists():
            (folder / "lib" / m.group(1)).symlink_to(Path(g).name)
    stamp.write_text(f"{requirement}\n{wheel}\n")
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", required=True, help="the cache folder (.cache/cuda-headers)")
    ap.add_argument("--nvcc", default="nvcc", help="the nvcc whose major version picks the wheels")
    ap.add_argument("--libs", default="cublas,cudnn", help="comma-separated: cublas, cudnn")
    args = ap.parse_args(argv)
    libs = [l for l in args.libs.split(",") if l]
    unknown = [l for l in libs if l not in MEMBERS]
    if unknown:
        print(f"fetch_cuda_headers: unknown library {unknown[0]!r} (--libs takes {', '.join(MEMBERS)})",
              file=sys.stderr)
        return 2
    major = cuda_major(args.nvcc)
    if major not in PINS:
        print(f"fetch_cuda_headers: CUDA major version {major} of {args.nvcc} has no pinned wheels "
              f"(known: {', '.join(map(str, PINS))}); the cuBLAS/cuDNN compile tests will skip", file=sys.stderr)
        return 0
    try:
        import remotezip  # noqa: F401
    except ImportError:
        print("fetch_cuda_headers: the remotezip package is missing (pip install -e '.[cuda]')", file=sys.stderr)
        return 0
    pip = [sys.executable, "-m", "pip"]
    for lib in libs:
        try:
            fetch(lib, PINS[major][lib], Path(args.dest), pip)
        except Exception as e:                      # network, resolution, a changed wheel layout
            print(f"fetch_cuda_headers: {lib}: {e}; its compile tests will skip", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
