"""Boards in QEMU system mode without booting one (fast): devices.yaml's `board:` and `emulated: system`,
and the bad states of `tensorop boards` (a missing tool, a port in use, a corrupt cache, a board that
never answers SSH), with the real tools. The booted board is tests/test_board_e2e.py (`make test-boards`)."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.config.boards import SYSTEM_BOARDS, board_dir, boards_cache
from harness.config.devices import load_devices
from harness.config.yamlfile import ConfigError
from harness.core.records import Status, Trial
from harness.measure.compare import compare
from harness.transport.boards import BoardError
from harness.transport.boards import image as board_image
from harness.transport.boards import vm as board_vm

REPO = Path(__file__).resolve().parents[1]

BOARD_DEV = """devices:
  b:
    arch: riscv64
    transport: ssh
    board: rv64-board
    host: 127.0.0.1
    port: 10022
    emulated: system
    toolchain: riscv64-clang
    openblas: board
"""


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "tensorop" / "boards"


def _devs(tmp_path, text) -> dict:
    p = tmp_path / "devices.yaml"
    p.write_text(text)
    return load_devices(p)


def test_board_device_gets_the_boards_own_key_and_known_hosts(tmp_path, cache):
    d = _devs(tmp_path, BOARD_DEV)["b"]
    assert boards_cache() == cache
    assert d.key == str(cache / "rv64-board" / "id_ed25519")
    assert d.known_hosts == str(cache / "rv64-board" / "known_hosts")
    assert d.user == "tensorop" and d.system_emulated and not d.emulated and d.emulation == "system"


def test_shipped_boards_are_ssh_devices_on_loopback():
    devs = load_devices(REPO / "devices.yaml")
    ports = set()
    for name in SYSTEM_BOARDS:
        d = devs[name]
        assert d.board == name and d.transport == "ssh" and d.host == "127.0.0.1" and d.system_emulated
        assert d.openblas == "board" and d.user == "tensorop"
        ports.add(d.port)
    assert len(ports) == len(SYSTEM_BOARDS)
    assert devs["rv64-board"].declared_vector_bits == 256 and devs["arm64-board"].declared_vector_bits == 256


@pytest.mark.parametrize("edit, field, words", [
    (("board: rv64-board", "board: rv32-board"), "board", "unknown board 'rv32-board'"),
    (("arch: riscv64", "arch: aarch64"), "arch", "is riscv64"),
    (("emulated: system", "emulated: yes-please"), "emulated", "expected true (QEMU user mode), false or system"),
    (("    board: rv64-board\n", ""), "openblas", "needs field 'board'"),
])
def test_board_fields_are_checked(tmp_path, cache, edit, field, words):
    with pytest.raises(ConfigError) as e:
        _devs(tmp_path, BOARD_DEV.replace(*edit))
    assert f"field '{field}'" in str(e.value) and words in str(e.value) and "devices.yaml:" in str(e.value)


def test_emulated_true_is_still_user_mode(tmp_path):
    d = _devs(tmp_path, BOARD_DEV.replace("emulated: system", "emulated: true").replace("    openblas: board\n", ""))["b"]
    assert d.emulated and d.emulation == "user" and not d.system_emulated


def test_no_speed_comparison_on_a_system_emulated_board(tmp_path, cache):
    """Part 4: a board's wall times are TCG's; compare refuses to make a ratio, and says why."""
    d = _devs(tmp_path, BOARD_DEV)["b"]
    ok = Trial(device="b", op="gemm", shape=(8, 8, 8), dtype="f32", kernel="k", source_hash="h", status=Status.OK,
               emulation="system")
    cmp = compare(None, d, None, None, None, ok, None, replace(ok, kernel="openblas"), (8, 8, 8))
    assert cmp.ratio is None and cmp.status is Status.OK and "QEMU system mode" in cmp.error
    j = replace(ok, gflops=0.2).to_json()
    assert j["emulated"] is True and j["emulation"] == "system" and j["gflops_basis"] == "emulated_time"


def test_missing_tool_names_the_apt_get_line(monkeypatch, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    board = replace(SYSTEM_BOARDS["rv64-board"], firmware=(("/nonexistent/fw_dynamic.bin", "qemu-system-data"),))
    with pytest.raises(BoardError) as e:
        board_image.check_tools(board)
    msg = str(e.value)
    assert "rv64-board: missing" in msg and "mmdebstrap" in msg and "/nonexistent/fw_dynamic.bin" in msg
    assert "apt-get install -y mmdebstrap" in msg and "qemu-system-data" in msg and "qemu-system-misc" in msg


def test_port_in_use_is_refused_before_booting(cache):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        with pytest.raises(BoardError) as e:
            board_vm.start(SYSTEM_BOARDS["rv64-board"], port, log=lambda _: None)
        assert f"port 127.0.0.1:{port} is in use" in str(e.value) and "`port:`" in str(e.value)
    finally:
        s.close()
    assert not (cache / "rv64-board" / "run").exists()      # nothing started


def _fake_cache(home: Path, board) -> None:
    """A cache directory shaped like a build (a small real ext4 image, small stand-in files)."""
    home.mkdir(parents=True)
    for f in ("vmlinux-6.0", "initrd.img-6.0", "id_ed25519", "id_ed25519.pub", "ssh_host_ed25519_key.pub"):
        (home / f).write_text(f"ssh-ed25519 AAAA{f} root@x\n" if f.endswith(".pub") else f"{f}\n")
    subprocess.run([shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4", "-q", "-F", str(home / "rootfs.ext4"),
                    "4M"], check=True, capture_output=True)
    files = {f: {"size": (home / f).stat().st_size, "sha256": board_image._sha256(home / f)}
             for f in ("vmlinux-6.0", "initrd.img-6.0", "id_ed25519", "id_ed25519.pub", "ssh_host_ed25519_key.pub")}
    files["rootfs.ext4"] = {"size": (home / "rootfs.ext4").stat().st_size}
    (home / "build.json").write_text(json.dumps({
        "format": board_image.FORMAT, "board": board.name, "suite": board.suite, "packages": list(board.all_packages),
        "kernel": "vmlinux-6.0", "initrd": "initrd.img-6.0", "files": files}))


def test_corrupt_cache_is_found_and_rebuilt(cache, monkeypatch):
    board = SYSTEM_BOARDS["rv64-board"]
    home = board_dir(board.name)
    assert board_image.cache_problem(board) == "not built"
    _fake_cache(home, board)
    assert board_image.cache_problem(board) == ""
    (home / "initrd.img-6.0").write_text("initrd.img-6.1\n")                    # same size, other bytes
    assert "does not match its digest" in board_image.cache_problem(board)
    _fake_cache_reset = lambda: (shutil.rmtree(home), _fake_cache(home, board))
    _fake_cache_reset()
    with open(home / "rootfs.ext4", "r+b") as f:                               # the ext4 superblock smashed
        f.seek(1024)
        f.write(b"\0" * 1024)
    assert "e2fsck" in board_image.cache_problem(board)
    _fake_cache_reset()
    (home / "build.json").write_text("{not json")
    assert "missing or unreadable" in board_image.cache_problem(board)
    built, said = [], []
    monkeypatch.setattr(board_image, "build", lambda b, log: built.append(b.name) or {"rebuilt": True})
    assert board_image.ensure_built(board, log=said.append) == {"rebuilt": True}
    assert built == ["rv64-board"] and "cached image unusable" in said[0] and "rebuilding" in said[0]


@pytest.mark.skipif(not shutil.which("qemu-system-riscv64"), reason="qemu-system-misc not installed")
def test_board_that_never_answers_ssh_is_stopped_with_its_console_tail(cache):
    """A real QEMU booting a kernel that is not one: no SSH within the deadline, QEMU killed, the
    console log's tail in the error."""
    board = SYSTEM_BOARDS["rv64-board"]
    home = board_dir(board.name)
    _fake_cache(home, board)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.monotonic()
    with pytest.raises(BoardError) as e:
        board_vm.start(board, port, deadline_s=3, log=lambda _: None)
    assert time.monotonic() - t0 < 30
    msg = str(e.value)
    assert f"no SSH answer on 127.0.0.1:{port} within 3 s" in msg and "QEMU stopped" in msg
    assert "Boot HART" in msg                      # the console's tail: OpenSBI's banner
    assert board_vm.running_pid(board) == 0
    assert not board_vm.stop(board)


def test_blas_threads_follow_the_task_unless_the_device_names_them(tmp_path, cache):
    """Part 3: a board without OPENBLAS_NUM_THREADS in its env let OpenBLAS start a thread pool in a
    single-threaded task's worker, which its seccomp filter killed (SIGSYS at rt_sigprocmask, on a real
    riscv64 kernel): every run gets the task's thread count unless devices.yaml says otherwise."""
    d = _devs(tmp_path, BOARD_DEV)["b"]
    assert d.env == {} and d.run_env == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    d2 = _devs(tmp_path, BOARD_DEV + '    threads: 2\n    env: {OMP_NUM_THREADS: "3"}\n')["b"]
    assert d2.run_env == {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "3"}


def test_labgrid_places_of_the_boards():
    """Part 2: what the exporter publishes and how the places are made (the live path: test_board_e2e.py)."""
    from harness.transport.boards.labgrid import EXPORTER, Published, exporter_yaml, place_commands
    import yaml
    entries = [Published(SYSTEM_BOARDS["rv64-board"], "127.0.0.1", 10022),
               Published(SYSTEM_BOARDS["arm64-board"], "127.0.0.1", 10023)]
    cfg = yaml.safe_load(exporter_yaml(entries))
    assert cfg["rv64-board"] == {"NetworkService": {"address": "127.0.0.1", "port": 10022, "username": "tensorop"}}
    assert cfg["arm64-board"]["NetworkService"]["port"] == 10023
    cmds = place_commands(entries)
    assert ["-p", "rv64-board", "add-match", f"{EXPORTER}/rv64-board/NetworkService"] in cmds
    assert ["-p", "arm64-board", "set-tags", "board=arm64-board", "arch=aarch64"] in cmds
