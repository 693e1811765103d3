"""Red-team kernels (kernels/hostile/, one trick per file, the trick and the status it must get in
its header) through `tensorop bench` on the host (and the portable ones under QEMU), in one batch
per device so the whole file stays well under 90 s. Every hostile kernel must come back non-ok
(or, for the tricks whose only aim is speed, no faster than the honest control), the control must
stay ok, nothing the kernels start may outlive the campaign, and nothing outside the scratch dir
may be written or reached.

A trick that gets past the harness is a FINDING (kernels/hostile/README.md): list it in FINDINGS
(an xfail) until the hole is closed; one is open today, a modelled speed on x86-qemu (red team 6,
its own strict xfail below)."""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, requires_qemu

serial = pytest.mark.serial   # compares timings measured on this host: run alone (QEMU's modelled cycles need not)

HOSTILE = REPO / "kernels" / "hostile"
CONTROL = "control_honest.c"

# kernel -> the status it gets on the host, as measured (one per kernel; "fast?": ok, and then no
# faster than the honest control: the trick aims only at a faked speed and the harness leaves it
# its honest speed). A second status is allowed only where the outcome depends on scheduling, with
# the reason beside it.
HOST = {
    "control_honest.c": {"ok"},
    "threads_omp_pragma.c": {"ok"},                      # pragma ignored without -fopenmp: honest
    # statefulness / working only while checked: the check run's reuse check (the same buffers
    # again, a few inputs changed, the previous result left in C) catches every memo
    "memo_static_ptr.c": {"wrong_answer"},
    "memo_stack_stash.c": {"wrong_answer"},
    "memo_stack_stash_nobcmp.c": {"wrong_answer"},
    "r3_memo_sampled.c": {"wrong_answer"},
    "r3_memo_late.c": {"wrong_answer"},                  # switched on late: the reuse check after the samples
    "first_n_static.c": {"wrong_answer"},
    "first_n_tls.c": {"wrong_answer"},
    "first_n_stack_stash.c": {"wrong_answer"},
    "clock_skip_rdtsc.c": {"wrong_answer"},              # skipped calls leave C unwritten
    "poison_detect.c": {"wrong_answer"},                 # C not poisoned in the reuse call: it skips, stale
    "low_precision_timed.c": {"wrong_answer"},
    "clobber_inputs.c": {"wrong_answer"},                # inputs checked unchanged after every verified call
    "clobber_past_end.c": {"wrong_answer"},              # its stray writes land in another case's inputs
    # object gate (the kernel's .o) and program gate (the linked program)
    "interpose_clock.c": {"rejected"},
    "interpose_weak_asm.c": {"rejected"},
    "interpose_alias.c": {"rejected"},
    "ctor_attribute.c": {"rejected"},
    "ctor_init_array.c": {"rejected"},
    "ctor_ctors_asm.c": {"rejected"},
    "ctor_init_section.c": {"rejected"},
    "ctor_ifunc.c": {"rejected"},
    "forge_printf_exit.c": {"rejected"},
    "forge_syscall_asm.c": {"rejected"},
    "forge_syscall_bytes.c": {"rejected"},
    "forge_syscall_hidden.c": {"rejected"},              # inside an immediate: the linked code's every-offset scan
    "r3_gate_stub_section.c": {"rejected"},              # a section of its own name, flagged not executable
    "r3_gate_text_not_exec.c": {"rejected"},
    "r3_gate_rodata_code.c": {"crash"},                  # code in .rodata: not executable (-z separate-code)
    "forge_dlsym.c": {"rejected"},
    "forge_memcpy_addr.c": {"rejected"},
    "markers_region.c": {"link_error"},
    "threads_pthread.c": {"rejected"},
    "threads_gomp.c": {"rejected"},
    "files_fopen.c": {"rejected"},
    "socket_connect.c": {"rejected"},
    "spinner_fork.c": {"rejected"},
    "compile_include_leak.c": {"compile_error"},
    # system calls through a libc gadget (no syscall instruction, no library address taken): the
    # check run's and the timing run's worker allow no system call beyond memory, reading and
    # writing its own pipes and exit: SIGSYS at the first forbidden call, or its own exit
    "gadget_forge_channel.c": {"crash"},
    "gadget_forge_channel_exit.c": {"crash"},
    "gadget_time_tamper.c": {"crash"},
    "gadget_fork_worker.c": {"crash"},
    "gadget_spinner.c": {"crash"},                        # the process check is below
    "gadget_sample_tamper.c": {"crash"},
    "gadget_probe.c": {"crash"},
    "gadget_stderr_inject.c": {"crash"},
    "r3_gadget_forge_profile.c": {"crash"},
    "r3_gadget_link_outputs.c": {"crash"},
    "r3_gadget_swap_channel.c": {"crash"},
    # the samples live in the driver's parent process: rewriting memory in the kernel's own
    # process changes nothing, so it comes back ok, at its honest speed
    "sample_tamper_nosys.c": {"fast?", "crash"},         # crash when its pointer walk faults (the layout decides)
    "r3_partner_copy.c": {"fast?"},                       # alone (the paired run is tested below)
    "r3_markers_named.c": {"fast?"},                      # markers mean nothing natively
    # the compiler runs in the sandbox: host files are not there to include
    "compile_incbin.c": {"compile_error"},
    "compile_incbin_repo.c": {"compile_error"},
    "compile_incbin_exfil.c": {"compile_error"},
    # red team 2: the worker process, its pipes and its shared plan; object-gate corners
    "r2_extra_done.c": {"wrong_answer", "fast?"},         # a stale "done": the next sample is poisoned,
                                                          # unless the parent happens to wait it out
    "r2_plan_scribble.c": {"wrong_answer", "fast?", "crash"},   # skipped calls stay poisoned, if it finds the
                                                          # plan copy on the worker's stack; its 8 KiB stack walk
                                                          # can run off the top of a young worker's stack (SIGSEGV)
    "r2_worker_hijack.c": {"wrong_answer"},
    "r2_predict_seeds.c": {"fast?"},                      # seeds are drawn fresh: nothing to predict
    "r2_gate_weak_undef.c": {"rejected"},
    "r2_gate_common.c": {"rejected"},
    "r2_gate_symver.c": {"rejected"},
    "r2_gate_gotpcrel.c": {"rejected"},
    # red team 8: A rewritten to zeros plus three words that kept a public digest of it unchanged
    "r8_gemm_digest_forge.c": {"wrong_answer"},       # inputs compared word for word with a private copy
}

FINDINGS: dict[str, str] = {}   # kernel -> why it is an xfail today (none open: see the README)

# Portable tricks under QEMU (rv64-qemu and arm64-qemu alike): speed is modelled cycles, so "fast?"
# (ok, no faster than the honest control) is deterministic here.
QEMU = {
    "control_honest.c": {"ok"},
    "first_n_stack_stash.c": {"wrong_answer"},
    "first_n_static.c": {"wrong_answer"},
    "low_precision_timed.c": {"wrong_answer"},
    "poison_detect.c": {"wrong_answer"},
    "memo_stack_stash.c": {"wrong_answer"},
    "memo_stack_stash_nobcmp.c": {"wrong_answer"},
    "r3_memo_sampled.c": {"wrong_answer"},
    "r3_memo_late.c": {"fast?"},                  # one profiled call: its memo never switches on
    "clock_skip_rdtsc.c": {"fast?"},              # no rdtsc off x86: the honest loop
    "markers_region.c": {"link_error"},
    "markers_by_address.c": {"rejected"},         # the plugin takes markers only from the driver
    "markers_end_early.c": {"rejected"},
    "r3_markers_named.c": {"fast?"},              # its own functions named like the markers count for nothing
    "profiled_call_skip.c": {"wrong_answer"},
    "sample_tamper_nosys.c": {"fast?", "crash"},  # rv64: its stack walk faults in the worker (crash); arm64: ok
    "r3_gate_stub_section.c": {"rejected"},
    "r3_gate_text_not_exec.c": {"rejected"},
    "r3_gate_rodata_code.c": {"crash"},
    # qemu-user cannot apply the seccomp filter: the gadget's system calls run, and the plugin
    # watches the counted call (system calls, its own descriptors) and the harness reads no file
    # by name
    "r3_gadget_forge_profile.c": {"rejected"},    # the plugin's own record follows the forged one
    "r3_gadget_link_outputs.c": {"rejected"},     # c0.bin is a link: not read
    "r3_gadget_swap_channel.c": {"crash"},        # the plugin finds its descriptors replaced: status 125
    "r3_partner_copy.c": {"fast?"},
}
QEMU_DEVICES = ("rv64-qemu", "arm64-qemu")
QEMU_EXACT = {("rv64-qemu", "sample_tamper_nosys.c"): "crash", ("arm64-qemu", "sample_tamper_nosys.c"): "ok"}
QEMU_FINDINGS: dict[str, str] = {}

# The x86 libc-gadget kernels under x86-qemu (no seccomp there either)
X86_QEMU = {
    "control_honest.c": {"ok"},
    "gadget_forge_channel.c": {"fast?"},          # it forges in its 20th call: a profiled run makes one
    "gadget_forge_channel_exit.c": {"fast?"},
    "gadget_time_tamper.c": {"rejected", "crash"},   # system calls inside the counted call; in the check
                                                     # run its stack edits can end the worker first (the
                                                     # 2 ms window it matches depends on the load): crash
    "gadget_sample_tamper.c": {"rejected"},
    "gadget_fork_worker.c": {"rejected"},
    "gadget_spinner.c": {"rejected"},
    "forge_syscall_hidden.c": {"rejected"},
    "r3_gadget_forge_profile.c": {"rejected"},
    "r3_gadget_link_outputs.c": {"rejected"},
    "r3_gadget_swap_channel.c": {"crash"},
}

SPINNER_TAG = "4242.7"          # gadget_spinner.c execs `/bin/sleep 4242.7`


def _env(base: Path) -> dict:
    env = dict(os.environ)
    env.update(TENSOROP_CACHE=str(REPO / ".cache"), TENSOROP_HOME=str(base / "ws"),
               TENSOROP_SCRATCH=str(base / "scratch"), TENSOROP_PROFILES=str(base / "profiles"))
    env.pop("TENSOROP_DB", None)
    return env


def _workspace(base: Path) -> Path:
    root = base / "ws"
    root.mkdir(parents=True)
    shutil.copy(REPO / "devices.yaml", root / "devices.yaml")
    shutil.copytree(REPO / "toolchains", root / "toolchains")
    return root


def _bench(base: Path, files, device: str, shape: str, op: str = "gemm"):
    cmd = [sys.executable, "-m", "harness", "bench", *map(str, files), "--op", op, "-s", shape, "-d", device,
           "--json", "--max-time", "0.15", "--min-samples", "3", "--max-samples", "20"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=base / "ws", env=_env(base), timeout=300)
    rows = {json.loads(l)["kernel"]: json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")}
    assert len(rows) == len(files), p.stderr[-3000:]
    return rows


def instantiate(src: str, *, host_file: Path, outside: Path, repo_marker: Path) -> str:
    """The kernels name the host paths they attack as placeholders, filled in per run."""
    return (src.replace("@HOST_FILE@", str(host_file)).replace("@REPO_FILE@", str(REPO / "README.md"))
            .replace("@REPO_DB@", str(REPO / "results" / "tensorop.db")).replace("@REPO_MARKER@", str(repo_marker))
            .replace("@OUTSIDE_MARKER@", str(outside / "escape_marker")))


def _stray(marker: str) -> list[tuple[int, str]]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [(int(l.split(None, 1)[0]), l) for l in out.splitlines() if marker in l and "ps -eo" not in l]


def _kill_and_list(found):
    for pid, _ in found:                        # only processes our own kernels started
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return [l for _, l in found]


@pytest.fixture(scope="module")
def host_run(tmp_path_factory):
    """One campaign on the host with every hostile kernel; gadget_probe.c is instantiated with this
    run's marker paths (outside the scratch dir) and the port of a listener we hold open."""
    base = tmp_path_factory.mktemp("hostile")
    _workspace(base)
    outside = base / "outside"                   # a host dir the sandbox must not reach
    outside.mkdir()
    os.chmod(outside, 0o777)
    repo_marker = REPO / ".redteam_escape_marker"
    for p in (repo_marker, Path("/tmp/tensorop_redteam_escape"), Path("/tmp/tensorop_redteam_fopen_marker")):
        p.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    port = listener.getsockname()[1]

    kdir = base / "kernels"
    kdir.mkdir()
    host_file = base / "host_secret.txt"         # a host file no kernel (or its compiler) may read
    host_file.write_text("tensorop host secret\n" * 100)
    files = []
    for name in HOST:
        src = instantiate((HOSTILE / name).read_text(), host_file=host_file, outside=outside,
                          repo_marker=repo_marker)
        if name == "gadget_probe.c":
            src = src.replace("0xb9, 0x72", f"{port >> 8:#x}, {port & 0xff:#x}")
        (kdir / name).write_text(src)
        files.append(kdir / name)
    start = time.monotonic()
    rows = _bench(base, files, "host", "64x64x64")
    elapsed = time.monotonic() - start
    time.sleep(0.5)
    stray = _stray(SPINNER_TAG) + _stray(str(base))
    try:
        conn, _ = listener.accept()
        conn.close()
        connected = True
    except BlockingIOError:
        connected = False
    listener.close()
    return dict(rows=rows, base=base, outside=outside, repo_marker=repo_marker, elapsed=elapsed,
                stray=_kill_and_list(stray), connected=connected)


HONEST = (CONTROL, "threads_omp_pragma.c")   # the same naive loop, honestly timed


def _honest_speed(rows) -> float:
    """The honest loop's speed in this batch: the best of its honest copies (each trial alone is
    at the mercy of the load on a shared 2-core box)."""
    return max(rows[n]["gflops"] for n in HONEST if n in rows and rows[n]["status"] == "ok")


def _judge(rows, name, allowed, control_gflops):
    r = rows[name]
    if r["status"] == "ok" and "fast?" in allowed:
        assert r["gflops"] < 2.5 * control_gflops, (
            f"{name}: ok at {r['gflops']:.1f} GFLOP/s, {r['gflops'] / control_gflops:.1f}x the honest control")
        return
    assert r["status"] in allowed, (name, r["status"], r["error"])


@serial
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=FINDINGS[n], strict=False))
                                  if n in FINDINGS else n for n in HOST])
def test_hostile_kernel_on_host(host_run, name):
    rows = host_run["rows"]
    assert rows[CONTROL]["status"] == "ok", rows[CONTROL]["error"]
    _judge(rows, name, HOST[name], _honest_speed(rows))


@serial
def test_hostile_gate_errors_name_the_rule(host_run):
    rows = host_run["rows"]
    assert "init" in rows["ctor_init_section.c"]["error"]
    assert "IFUNC" in rows["ctor_ifunc.c"]["error"]
    assert "syscall" in rows["forge_syscall_asm.c"]["error"]
    assert "clock_gettime" in rows["interpose_weak_asm.c"]["error"]
    assert "address" in rows["forge_memcpy_addr.c"]["error"]


@serial
def test_quoted_stderr_is_bounded(host_run):
    """A crashing kernel chooses the stderr the error quotes (8 MiB of it here): keep it short."""
    r = host_run["rows"]["gadget_stderr_inject.c"]
    assert len(r["error"] or "") < 2000, len(r["error"])


@serial
def test_nothing_outlives_the_campaign(host_run):
    assert host_run["stray"] == [], f"processes outlived the trial (killed now): {host_run['stray']}"


@serial
def test_nothing_written_or_reached_outside_scratch(host_run):
    outside, repo_marker = host_run["outside"], host_run["repo_marker"]
    assert list(outside.iterdir()) == [], "a kernel wrote into a host directory outside its scratch dir"
    assert not repo_marker.exists(), "a kernel wrote into the repository"
    assert not Path("/tmp/tensorop_redteam_fopen_marker").exists()
    assert not host_run["connected"], "a kernel connected to a host socket"
    # the probe reports what it managed, as C[0][0] in its wrong_answer text
    probe = host_run["rows"]["gadget_probe.c"]
    if probe["status"] == "wrong_answer" and probe["error"] and "got " in probe["error"]:
        mask = int(float(re.search(r"got ([-0-9.e+]+)", probe["error"]).group(1)))
        assert not mask & 8, "the sandbox can read the results database"
        assert not mask & 64, "the sandbox can connect to a host socket"
        assert not mask & 128, "the sandbox can read a host file"
        assert not mask & (1 << 16), "the sandbox may run on more than one CPU"
        assert not mask & (1 << 18), "a kernel wrote into the build cache beside its driver"
    assert not list((REPO / ".cache" / "builds").glob("*/poisoned_by_kernel"))


@serial
def test_batch_is_quick(host_run):
    assert host_run["elapsed"] < 80, host_run["elapsed"]


def _qemu_batch(tmp_path_factory, names, devices, shape="64x64x64"):
    """One campaign of `names` on the emulated `devices`, the kernels instantiated like the host's."""
    base = tmp_path_factory.mktemp("hostile_qemu")
    _workspace(base)
    outside = base / "outside"
    outside.mkdir()
    host_file = base / "host_secret.txt"
    host_file.write_text("tensorop host secret\n" * 100)
    kdir = base / "kernels"
    kdir.mkdir()
    files = []
    for name in names:
        (kdir / name).write_text(instantiate((HOSTILE / name).read_text(), host_file=host_file, outside=outside,
                                             repo_marker=REPO / ".redteam_escape_marker"))
        files.append(kdir / name)
    cmd = [sys.executable, "-m", "harness", "bench", *map(str, files), "-s", shape, "--json",
           "--max-time", "0.15", "--min-samples", "3", "--max-samples", "5"]
    for d in devices:
        cmd += ["-d", d]
    # one page-colour key for the campaign: its kernels are modelled under the same colours
    env = {**_env(base), "TENSOROP_PAGE_COLOURS": secrets.token_hex(8)}
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=base / "ws", env=env, timeout=300)
    rows = {(r["device"], r["kernel"]): r for r in map(json.loads, (l for l in p.stdout.splitlines() if l.startswith("{")))}
    assert len(rows) == len(files) * len(devices), p.stderr[-3000:]
    return dict(rows=rows, stray=_kill_and_list(_stray(str(base))), outside=outside)


@pytest.fixture(scope="module")
def qemu_run(tmp_path_factory):
    return _qemu_batch(tmp_path_factory, QEMU, QEMU_DEVICES)


@requires_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("device", QEMU_DEVICES)
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=QEMU_FINDINGS[n], strict=False))
                                  if n in QEMU_FINDINGS else n for n in QEMU])
def test_hostile_kernel_under_qemu(qemu_run, device, name):
    rows = {k: r for (d, k), r in qemu_run["rows"].items() if d == device}
    assert rows[CONTROL]["status"] == "ok", rows[CONTROL]["error"]
    _judge(rows, name, QEMU[name], rows[CONTROL]["gflops"])     # modelled: deterministic
    if (device, name) in QEMU_EXACT:
        assert rows[name]["status"] == QEMU_EXACT[device, name], rows[name]["error"]
    assert qemu_run["stray"] == [] and list(qemu_run["outside"].iterdir()) == []


@pytest.fixture(scope="module")
def x86_qemu_run(tmp_path_factory):
    return _qemu_batch(tmp_path_factory, X86_QEMU, ("x86-qemu",))


@requires_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("name", list(X86_QEMU))
def test_libc_gadgets_under_x86_qemu(x86_qemu_run, name):
    """The x86 gadget kernels where no seccomp filter applies: the plugin and the harness alone."""
    rows = {k: r for (d, k), r in x86_qemu_run["rows"].items()}
    assert rows[CONTROL]["status"] == "ok", rows[CONTROL]["error"]
    _judge(rows, name, X86_QEMU[name], rows[CONTROL]["gflops"])
    assert x86_qemu_run["stray"] == []


# red team 3b: code moved out of the program with mremap, the GOT made writable with mprotect
# (through a libc wrapper's system call): inside the counted call a kernel may manage only memory
# it mapped there itself
# red team 3c: code run after the counted call through an exit handler (__cxa_atexit) that made a
# page executable: the profiled driver _exits, so the handler never runs and C stays 7/8 unwritten
RELOCATED = {"rv64-qemu": {"r3b_reloc_got_rv64.c": "rejected", "r3b_reloc_undecodable.c": "rejected",
                           "r3c_exit_handler_rv64.c": "wrong_answer"},
             "arm64-qemu": {"r3b_reloc_got_arm64.c": "rejected"}}


@requires_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("device", sorted(RELOCATED))
def test_code_moved_out_of_the_program_is_rejected(tmp_path_factory, device):
    run = _qemu_batch(tmp_path_factory, (CONTROL, *RELOCATED[device]), (device,))
    rows = {k: r for (d, k), r in run["rows"].items()}
    assert rows[CONTROL]["status"] == "ok", rows[CONTROL]["error"]
    for name, status in RELOCATED[device].items():
        assert rows[name]["status"] == status, (name, rows[name]["status"], rows[name]["cycles"], rows[name]["error"])
        assert "system call" in rows[name]["error"] if status == "rejected" else "NaN" in rows[name]["error"]
    assert run["stray"] == []


@requires_qemu
@pytest.mark.qemu
def test_model_inputs_the_kernel_controls_cost_no_less_than_the_truth(tmp_path_factory):
    """rv64: the same RVV loop with a register-form vsetvl (an unknown vector state) or with one
    instruction the core model cannot decode is modelled no cheaper than its honest twin."""
    names = ("control_honest.c", "r3_model_vsetvl_twin.c", "r3_model_vsetvl_register.c", "r3_model_undecodable.c")
    rows = {k: r for (d, k), r in _qemu_batch(tmp_path_factory, names, ("rv64-qemu",))["rows"].items()}
    for n in names:
        assert rows[n]["status"] == "ok", (n, rows[n]["error"])
    twin = rows["r3_model_vsetvl_twin.c"]["cycles"]
    assert rows["r3_model_vsetvl_register.c"]["cycles"] >= twin
    assert rows["r3_model_undecodable.c"]["cycles"] >= twin


@requires_qemu
@pytest.mark.qemu
def test_a_cheap_rep_stosb_does_not_empty_the_store_buffer(tmp_path_factory):
    """Red team 4 (x86-qemu): a 56-byte `rep stosb` every 16 rows of a j-k-i loop, each iteration a
    block of its own under QEMU, modelled no cheaper than the same loop without it: one rep string
    instruction's stores are one store buffer entry, so older stores still commit late and miss."""
    names = ("r4_store_buffer_twin.c", "r4_store_buffer_rep_flush.c")
    rows = {k: r for (d, k), r in _qemu_batch(tmp_path_factory, names, ("x86-qemu",), "128x128x128")["rows"].items()}
    for n in names:
        assert rows[n]["status"] == "ok", (n, rows[n]["error"])
    twin, flush = rows["r4_store_buffer_twin.c"], rows["r4_store_buffer_rep_flush.c"]
    assert sum(twin["misses"]["store_misses"]) > 0.9 * 128 ** 3, twin["misses"]
    assert flush["cycles"] >= 0.97 * twin["cycles"], (flush["cycles"], twin["cycles"])



def _attack_and_twin(tmp_path_factory, attack, twin, shape, device="x86-qemu"):
    """The modelled cycles of an attack and its honest twin on `device`, in one campaign: under
    the same page colours (the campaign's one key), so that the two differ by what the attack
    does, not by where the run put its pages."""
    rows = {k: r for (d, k), r in _qemu_batch(tmp_path_factory, (twin, attack), (device,), shape)["rows"].items()}
    for n in (twin, attack):
        assert rows[n]["status"] == "ok", (n, rows[n]["error"])
    return rows[attack], rows[twin]


@requires_qemu
@pytest.mark.qemu
def test_a_scalar_touch_does_not_buy_prefetches_the_vector_loads_earn(tmp_path_factory):
    """Red team 5 (x86-qemu): a 4x16 register tile with B unpacked (rows 1 KiB apart) plus one
    scalar load per k step of a line its 256-bit loads read anyway. QEMU hands the plugin each
    256-bit load in 8-byte pieces; trained by the pieces, the stride prefetcher never saw the row
    stride, the scalar load taught it, and its prefetches (kept in L1 only, charged nothing) made
    the kernel 12.9% cheaper than its twin. The IP-stride detector now sees each execution once,
    as a core does, a prefetch that crosses L2 is charged as traffic, and one used a few
    instructions after it was issued waits for what of its latency is left."""
    touch, twin = _attack_and_twin(tmp_path_factory, "r5_touch_trains_prefetch.c", "r5_touch_twin.c", "64x256x1536")
    assert touch["cycles"] >= 0.97 * twin["cycles"], (touch["cycles"], twin["cycles"])


@requires_qemu
@pytest.mark.qemu
def test_a_scalar_touch_does_not_buy_late_ip_stride_prefetches(tmp_path_factory):
    """Red team 6 (x86-qemu): two 2x16 tiles half a row apart, B (3 MiB) unpacked, plus a rolled
    loop of one scalar load touching both tiles' B lines per k step. That load walks B at 1.5 KiB
    strides, which the IP-stride detector follows (the 3 KiB row stride it does not), so each next
    line is prefetched a few instructions before its use. Charged no latency and kept out of L2,
    those prefetches made the touch 2x cheaper than its twin; the host runs the pair 0.98-1.06x
    apart. A prefetched line's first load now waits for what of its origin's latency has not
    elapsed, and one found still in flight is kept in L2 as the demand miss it was."""
    touch, twin = _attack_and_twin(tmp_path_factory, "r6_ip_touch_late_prefetch.c", "r6_ip_touch_twin.c", "16x768x1024")
    b_lines = 16 // 2 * (768 // 2 // 16) * 1024 * 2            # B lines the tiles load per call
    assert sum(touch["misses"]["late_prefetches"]) > 0.25 * b_lines > 4 * sum(twin["misses"]["late_prefetches"])
    assert touch["cycles"] >= 0.97 * twin["cycles"], (touch["cycles"], twin["cycles"])


@requires_qemu
@pytest.mark.qemu
def test_an_l1_prefetch_does_not_bring_an_l2_prefetch_sooner(tmp_path_factory):
    """Red team 7 (x86-qemu): ikj with B streamed by rows from L3, each row's lines downward, as
    straight-line code (the twin) and as a rolled loop (the attack). Rolled, each load walks B a
    line at a time and the L1 prefetcher fetches the next line from L2, where the streamer's
    prefetch has put it, still on its way from L3. Timed from the L1 prefetch with origin L2, the
    attack modelled 30% cheaper, where the host runs it 1.29x slower; the L1 copy now keeps the L2
    prefetch's clock and origin (1.02x its twin)."""
    rolled, twin = _attack_and_twin(tmp_path_factory, "r7_rolled_l1_prefetch.c", "r7_unrolled_twin.c", "16x768x1024")
    assert rolled["misses"]["late_prefetches"][1] > 0.8 * twin["misses"]["late_prefetches"][1] > 0, (rolled, twin)
    assert rolled["cycles"] >= 0.97 * twin["cycles"], (rolled["cycles"], twin["cycles"])


@requires_qemu
@pytest.mark.qemu
def test_l3_hits_do_not_shorten_a_group_of_memory_misses(tmp_path_factory):
    """Red team 10 (a76-qemu, 2 MiB L3): misses beyond L2 were charged over the misses per group
    they overlap in, i.e. groups x their average latency. Five loads per k step that hit L3 joined
    the DRAM misses' groups of an unpacked register tile and made it 29.7% cheaper than its twin
    (whose extra loads hit L1) for strictly more memory work. A group now costs its slowest
    member's latency."""
    attack, twin = _attack_and_twin(tmp_path_factory, "r10_l3_hits_shorten_groups.c", "r10_l3_hits_twin.c",
                                    "16x1024x1024", "a76-qemu")
    assert attack["misses"]["l1_to_l3"] > 4 * twin["misses"]["l1_to_memory"] > 0, (attack["misses"], twin["misses"])
    assert attack["cycles"] >= 0.97 * twin["cycles"], (attack["cycles"], twin["cycles"])


@serial
def test_conv2d_forgeries_are_caught(tmp_path):
    """Red team 8, conv2d on the host: (1) w rewritten to zeros plus three words that kept the
    driver's old public digest of it unchanged, so the projection (computed from the buffers after
    the call) agreed with a cheap wrong y: 4.1x "faster", ok; now the inputs are compared with the
    driver's private copy and the check reads that copy. (2) y zero but for a +H/-H pair that the
    signs cancel in z half the time, inflating the ||y|| denominator: passed a call's two
    projections 1 time in 4; ||y||^2 now counts at most 16 x ||z_ref||^2. Both are honest on the
    outputs the harness checks in full, so only the driver's per-call check can see them."""
    _workspace(tmp_path)
    files = [HOSTILE / "r8_conv_digest_forge.c", HOSTILE / "r8_conv_norm_pair.c", EXAMPLES / "conv2d_direct.c"]
    rows = _bench(tmp_path, files, "host", "1x8x28x28,16x3x3,s1,p1", op="conv2d")
    assert rows["conv2d_direct.c"]["status"] == "ok", rows["conv2d_direct.c"]
    assert rows["r8_conv_digest_forge.c"]["status"] == "wrong_answer", rows["r8_conv_digest_forge.c"]
    assert "modified its input" in rows["r8_conv_digest_forge.c"]["error"]
    assert rows["r8_conv_norm_pair.c"]["status"] == "wrong_answer", rows["r8_conv_norm_pair.c"]


@serial
def test_paired_comparison_is_not_forged(tmp_path):
    _workspace(tmp_path)
    cmd = [sys.executable, "-m", "harness", "bench", str(HOSTILE / "sample_tamper_paired.c"), "-s", "64x64x64",
           "-d", "host", "--json", "--max-time", "0.15", "--against", "naive", "--budget", "2"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path / "ws", env=_env(tmp_path), timeout=300)
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    r = next(r for r in rows if r["kernel"] == "sample_tamper_paired.c")
    # its tampering happens in its own worker, the samples live in the driver's: ok, at its honest
    # speed (the naive loop's: a forged sample would show as a ratio far from 1), unless its pointer
    # walk through the worker's memory faults (the layout decides): crash, in its own trial or in
    # the paired run (then no ratio at all, and the note says why; a fresh-clone CI run saw it)
    assert r["status"] in ("ok", "crash"), (r["status"], r["error"])
    if r["status"] == "ok" and r["paired"] is None:
        assert r["ratio"] is None and r["note"].startswith("paired run: crash"), r
    elif r["status"] == "ok":
        assert 0.5 < r["paired"]["ratio"] < 2.0, r["paired"]


def _paired_ratio(tmp_path, kernel: Path):
    _workspace(tmp_path)
    cmd = [sys.executable, "-m", "harness", "bench", str(kernel), "-s", "64x64x64",
           "-d", "host", "--json", "--max-time", "0.15", "--against", "naive", "--budget", "2"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path / "ws", env=_env(tmp_path), timeout=300)
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return next(r for r in rows if r["kernel"] == kernel.name)


@serial
def test_paired_comparison_is_not_forged_by_predicted_seeds(tmp_path):
    """red team 2, finding 1 (closed): each timed sample's inputs are drawn fresh in the driver."""
    r = _paired_ratio(tmp_path, HOSTILE / "r2_predict_seeds.c")
    assert r["status"] == "ok" and r["paired"], (r["status"], r["error"])
    assert r["paired"]["ratio"] < 2.0, f"paired ratio vs naive {r['paired']['ratio']:.2f}"


@serial
def test_paired_partner_memory_is_out_of_reach(tmp_path):
    """red team 3: a kernel that copies its partner's output (found beside its own buffers) when
    the partner ran first in a sample. Each kernel has its own worker: nothing is there to copy."""
    r = _paired_ratio(tmp_path, HOSTILE / "r3_partner_copy.c")
    assert r["status"] == "ok" and r["paired"], (r["status"], r["error"])
    assert r["paired"]["ratio_ci95"][1] < 1.5, r["paired"]


@pytest.mark.slow       # it takes the compiler's whole 60 s limit
def test_include_bomb_is_bounded(tmp_path):
    """red team 2, finding 2 (low): a self-including file holds the sandboxed compiler until its limit (60 s)."""
    _workspace(tmp_path)
    cmd = [sys.executable, "-m", "harness", "bench", str(HOSTILE / "r2_compile_bomb_include.c"), "-s", "64x64x64",
           "-d", "host", "--json"]
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path / "ws", env=_env(tmp_path), timeout=300)
    r = next(json.loads(l) for l in p.stdout.splitlines() if l.startswith("{"))
    assert r["status"] == "compile_error", r
    assert time.monotonic() - start < 90
