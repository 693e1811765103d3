"""End to end on a real Linux board in QEMU system mode, as a lab's board is used (`make test-boards`):
`tensorop boards up rv64-board` (built from Debian packages on first use, cached in
~/.cache/tensorop/boards, reused after), then over SSH: the hardware probe from the board itself,
`bench --against openblas` (the board's own OpenBLAS, under the worker's seccomp filter enforced by
a real riscv64 kernel), `generate --tune-budget 2`, hostile kernels and a check that no process of
theirs is left on the board; `tensorop boards down` leaves no QEMU. The arm64 twin is the same, and
slower to boot (`-k arm64`).

Marked `board` (and `slow`, so `make test` leaves it out): `make test-boards` runs it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.config.boards import SYSTEM_BOARDS, board_dir

pytestmark = [pytest.mark.board, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SHAPE = "48x40x32"
EXAMPLE = {"rv64-board": "gemm_rvv.c", "arm64-board": "gemm_sve.c"}
MEASURE = ["--max-time", "2", "--min-samples", "3", "--max-samples", "5"]


def _env(base: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TENSOROP_DB")}
    env.update(TENSOROP_CACHE=str(REPO / ".cache"), TENSOROP_HOME=str(base / "ws"),
               TENSOROP_SCRATCH=str(base / "scratch"), TENSOROP_PROFILES=str(base / "profiles"))
    return env


def _tensorop(base: Path, *args, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          cwd=base / "ws", env=_env(base), timeout=timeout)


def _rows(p: subprocess.CompletedProcess) -> dict:
    return {json.loads(l)["kernel"]: json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")}


def _board_processes(name: str) -> list[str]:
    """Processes of the board's user other than its sshd sessions and this very query."""
    import paramiko
    board = SYSTEM_BOARDS[name]
    home = board_dir(name)
    port = {"rv64-board": 10022, "arm64-board": 10023}[name]
    c = paramiko.SSHClient()
    c.load_host_keys(str(home / "known_hosts"))
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    c.connect("127.0.0.1", port=port, username=board.user, key_filename=str(home / "id_ed25519"),
              allow_agent=False, look_for_keys=False, timeout=30)
    try:
        cmd = ("me=$$; for d in /proc/[0-9]*; do p=${d#/proc/}; [ \"$p\" = \"$me\" ] && continue; "
               "[ \"$(stat -c %U $d 2>/dev/null)\" = " + board.user + " ] || continue; "
               "c=$(tr '\\0' ' ' < $d/cmdline 2>/dev/null); case \"$c\" in sshd*|'') continue;; esac; "
               "echo \"$p $c\"; done")
        _, out, _ = c.exec_command(cmd, timeout=60)
        lines = out.read().decode().splitlines()
    finally:
        c.close()
    return [l for l in lines if "/proc/[0-9]" not in l and " tr " not in l and not l.endswith(" sh -c")]


@pytest.fixture(scope="module", params=["rv64-board", pytest.param("arm64-board", marks=pytest.mark.arm64)])
def board(request, tmp_path_factory):
    name = request.param
    if not shutil.which(SYSTEM_BOARDS[name].qemu):
        pytest.skip(f"{SYSTEM_BOARDS[name].qemu} not installed (make setup-boards)")
    base = tmp_path_factory.mktemp(name)
    (base / "ws").mkdir()
    shutil.copy(REPO / "devices.yaml", base / "ws" / "devices.yaml")
    shutil.copytree(REPO / "toolchains", base / "ws" / "toolchains")
    cached = (board_dir(name) / "build.json").is_file()
    t0 = time.monotonic()
    p = _tensorop(base, "boards", "up", name, timeout=3600)
    up_s = time.monotonic() - t0
    assert p.returncode == 0, p.stdout + p.stderr[-4000:]
    print(f"\n{name}: boards up {up_s:.0f} s ({'cached image' if cached else 'built now'})", file=sys.stderr)
    yield name, base
    d = _tensorop(base, "boards", "down", name, timeout=120)
    assert d.returncode == 0, d.stderr
    left = subprocess.run(["pgrep", "-f", f"tensorop-{name}"], capture_output=True, text=True).stdout.strip()
    assert left == "", f"QEMU of {name} still running: {left}"


def test_probe_reads_the_board_itself(board):
    name, base = board
    p = _tensorop(base, "devices", "probe", name, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    prof = json.loads(p.stdout)
    assert prof["vector_bits"] == 256 and not prof["emulated"]
    if name == "rv64-board":
        assert prof["vector_kind"] == "rvv" and prof["vlen_bits"] == 256 and "v" in prof["isa"][4:].split("_")[0]
    else:
        assert prof["vector_kind"] == "sve" and prof["sve_vl_bits"] == 256 and "sve" in prof["features"]


def test_bench_against_the_boards_own_openblas(board):
    name, base = board
    p = _tensorop(base, "bench", REPO / "kernels" / "examples" / EXAMPLE[name], "-d", name, "-s", SHAPE,
                  "--against", "openblas", "--json", *MEASURE)
    rows = _rows(p)
    assert set(rows) == {EXAMPLE[name], "openblas"}, p.stderr[-3000:]
    for k, r in rows.items():
        assert r["status"] == "ok", (k, r["error"], p.stderr[-2000:])
        assert r["emulated"] is True and r["emulation"] == "system" and r["gflops_basis"] == "emulated_time"
    mine = rows[EXAMPLE[name]]
    assert mine["ratio"] is None and "QEMU system mode" in mine["note"]      # never a speed vs OpenBLAS
    assert p.returncode == 0


def test_generate_with_tuning(board):
    name, base = board
    p = _tensorop(base, "generate", f"{SHAPE} GEMM", "-d", name, "--rounds", "2", "--tune-budget", "2",
                  "--max-time", "1", "--min-samples", "3", "--max-samples", "5", "--search-max-time", "0.5")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    folder = base / "ws" / "generated" / name / f"gemm_{SHAPE}_f32"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["measured"]["status"] == "ok" and meta["openblas"]["status"] == "ok"
    assert meta.get("vs_openblas") is None                                  # no speed ratio on an emulated board
    assert "emulated" in p.stdout + p.stderr


HOSTILE = {
    "control_honest.c": "ok",
    "memo_static_ptr.c": "wrong_answer",          # the reuse check
    "files_fopen.c": "rejected",                  # object gate
    "r3_gate_rodata_code.c": "crash",             # code in .rodata is not executable
}


def test_hostile_kernels_and_no_escaped_process(board):
    name, base = board
    kernels = dict(HOSTILE)
    if name == "rv64-board":
        kernels["r4_gadget_fork_rv64.c"] = "crash"   # clone through a libc gadget: the worker's filter, SIGSYS
    p = _tensorop(base, "bench", *[REPO / "kernels" / "hostile" / k for k in kernels], "-d", name, "-s", "64x64x64",
                  "--json", *MEASURE)
    rows = _rows(p)
    got = {k: rows[k]["status"] for k in kernels if k in rows}
    assert got == kernels, p.stderr[-3000:]
    if "r4_gadget_fork_rv64.c" in rows:
        assert "SIGSYS" in rows["r4_gadget_fork_rv64.c"]["error"]
    time.sleep(1.0)
    assert _board_processes(name) == [], "processes of the trials outlived them on the board"


def test_the_board_as_a_labgrid_place(board):
    """Part 2: the running board published as a labgrid place (an exporter's NetworkService), reached
    by a `transport: labgrid` device reserving it by tags: the lab's path on a foreign ISA."""
    name, base = board
    bin_ = Path(sys.executable).parent
    if not (bin_ / "labgrid-coordinator").exists():
        pytest.skip("labgrid not installed")
    from sshd_fixture import free_port
    port = free_port()
    addr = f"127.0.0.1:{port}"
    (base / "coord").mkdir(exist_ok=True)
    coord = subprocess.Popen([str(bin_ / "labgrid-coordinator"), "--listen", addr], cwd=base / "coord",
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        p = _tensorop(base, "boards", "places", "--coordinator", addr, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        dev = SYSTEM_BOARDS[name]
        arch = "riscv64" if dev.debian_arch == "riscv64" else "aarch64"
        toolchain = "riscv64-clang" if arch == "riscv64" else "aarch64-clang"
        with open(base / "ws" / "devices.yaml", "a") as f:
            f.write(f"  {name}-lab:\n    arch: {arch}\n    transport: labgrid\n    coordinator: {addr}\n"
                    f"    tags: {{board: {name}}}\n    board: {name}\n    emulated: system\n    openblas: board\n"
                    f"    toolchain: {toolchain}\n    timeout_s: 120\n    slow_gflops: 0.01\n    lock_wait_s: 60\n")
        p = _tensorop(base, "bench", REPO / "kernels" / "hostile" / "control_honest.c", "-d", f"{name}-lab",
                      "-s", "32x32x32", "--against", "openblas", "--json", *MEASURE)
        rows = _rows(p)
        assert {k: r["status"] for k, r in rows.items()} == {"control_honest.c": "ok", "openblas": "ok"}, \
            p.stderr[-3000:]
        assert rows["control_honest.c"]["emulation"] == "system" and rows["control_honest.c"]["ratio"] is None
    finally:
        _tensorop(base, "boards", "places", "--coordinator", addr, "--stop", timeout=60)
        coord.terminate()
        coord.wait(timeout=20)
