"""The host's roofline: peak single-core FMA GFLOP/s and streaming read bandwidth (DRAM, L2),
from our own C micro-benchmarks (benchmarks/roofline_micro.c) built with the device's toolchain
and run through its (sandboxed) transport."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from harness.core.records import Artifact
from harness.core.workspace import PACKAGE_DIR
from harness.transport import get_transport

MICRO_C = PACKAGE_DIR.parent / "benchmarks" / "roofline_micro.c"

# ---- roofline micro-benchmarks ---------------------------------------------------------------


def roofline_micro(lab, device, quick: bool = False) -> dict:
    """Peak single-core FMA GFLOP/s and streaming read bandwidth (DRAM, L2) of the host, from our
    own C micro-benchmarks built with the device's toolchain and run through its transport."""
    tc = lab.toolchain(device)
    cc = tc.compiler() if tc else None
    if cc is None:
        return {"error": "no compiler"}
    src = MICRO_C.read_text()
    if quick:
        src = src.replace("20000000", "2000000").replace("r < 200", "r < 20")
    lab.ws.scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="micro-", dir=lab.ws.scratch) as d:
        s, exe = Path(d) / "micro.c", Path(d) / "micro"
        s.write_text(src)
        p = subprocess.run([cc, *tc.cflags, str(s), "-o", str(exe), *tc.ldflags], capture_output=True, text=True,
                           timeout=120, env=tc.environ())
        if p.returncode != 0:
            return {"error": f"build: {p.stderr[-300:]}"}
        with get_transport(device, lab.ws) as tr:
            r = tr.run(Artifact(key="roofline-micro", executable=exe), [], timeout_s=120)
    text = (r.channel or b"").decode(errors="replace").strip() or r.stdout.strip()
    try:
        return json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"micro-benchmark printed no answer (rc {r.returncode}): {r.stderr[-200:]}"}


