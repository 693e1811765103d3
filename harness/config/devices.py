"""Devices: devices.yaml names each device a kernel can run on.

    devices:
      rv64-qemu:
        arch: riscv64
        transport: local                 # local | ssh
        emulated: true                   # QEMU user mode: speed is modelled cycles (QEMU plugin + core model)
        runner: [qemu-riscv64, -cpu, "rv64,v=true,vlen=256,vext_spec=v1.0", -L, "{cache}/sysroot/riscv64"]
        toolchain: riscv64-clang
        features: [rvv1.0, vlen256]
        aliases: [RISC-V, rvv]
        timeout_s: 60                    # per run, on top of the expected run time
        measure: {max_time_s: 5}         # overrides of harness.core.measure_options.MeasureOptions
        env: {OPENBLAS_NUM_THREADS: "1"}

      k1:                                # a board over SSH (harness/transport/ssh.py)
        arch: riscv64
        transport: ssh
        host: bpi-f3.lab                 # or a ~/.ssh/config Host alias (ProxyJump honoured)
        user: bench                      # port/user/key override ~/.ssh/config; no passwords
        key: ~/.ssh/id_ed25519
        workdir: /tmp/tensorop           # blobs/, runs/, lock on the device
        toolchain: riscv64-clang
        known_hosts: ~/.ssh/known_hosts  # unknown keys refused until `tensorop devices trust k1`
        connect_timeout_s: 10
        keepalive_s: 2                   # a cut link is noticed within ~keepalive_s + link_timeout_s
        link_timeout_s: 10
        lock: true                       # exclusive lease lock on the device (default for ssh)
        lock_lease_s: 60
        lock_wait_s: 600
        quarantine_after: 3              # consecutive device errors before the rest are skipped

      rv64-board:                        # a board tensorop builds and boots (`tensorop boards up rv64-board`)
        arch: riscv64
        transport: ssh
        board: rv64-board                # harness/config/boards.py SYSTEM_BOARDS; key and known_hosts
                                         # default to the board's own, made when it was built
        host: 127.0.0.1
        port: 10022                      # QEMU's user-mode network forwards this port to the board's sshd
        user: tensorop
        emulated: system                 # a whole Linux under QEMU system mode (TCG): its wall times are
                                         # the emulator's, labelled emulated, never a speed against OpenBLAS
        openblas: board                  # the baseline links the board's own OpenBLAS (from its packages)

A malformed file fails with ConfigError naming the file, the line and the field.
"""
from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.config.transports import names as transport_names
from harness.config.yamlfile import ConfigError, FieldReader, LineDict, load_yaml, line_of
from harness.core.measure_options import MeasureOptions
from harness.config.boards import SYSTEM_BOARDS, board_dir, board_named

TRANSPORTS = transport_names()     # the registry in harness/config/transports.py (as shipped)
DEVICE_FIELDS = {
    "arch", "transport", "emulated", "runner", "toolchain", "features", "aliases", "description",
    "timeout_s", "measure", "env", "host", "port", "user", "key", "workdir", "sandbox", "pin", "manuals",
    "slow_gflops", "threads",
    # emulated devices: the llvm-mca model that gives their speed (harness/measure/model/)
    "core_model", "mca_triple", "mca_attr", "clock_ghz", "memory",
    # ssh transport (harness/transport/ssh.py) and the farm (locks, faults):
    "ssh_config", "known_hosts", "connect_timeout_s", "keepalive_s", "link_timeout_s", "lock",
    "lock_lease_s", "lock_wait_s", "quarantine_after", "proxy_jump",
    # labgrid transport (harness/transport/labgrid.py): a place of a shared lab
    "coordinator", "place", "tags",
    # boards tensorop builds and boots (harness/config/boards.py SYSTEM_BOARDS)
    "board", "openblas",
}
EMULATIONS = ("user", "system")     # `emulated: true` is QEMU user mode


def _measure_fields() -> dict[str, str]:
    """Name -> type ("int" | "float" | "bool") of each harness.core.measure_options.MeasureOptions field."""
    from dataclasses import fields
    return {f.name: str(f.type) for f in fields(MeasureOptions)}


def _check_measure(path: Path, name: str, measure: dict) -> None:
    """Validate a device's `measure:` block against MeasureOptions (unknown keys, types) as file:line."""
    types = _measure_fields()
    mr = FieldReader(path, measure, f"device '{name}' measure")
    mr.unknown(set(types))
    for k in measure:
        if types[k] == "bool":
            mr.bool(k)
        elif types[k] == "int":
            mr.int(k, minimum=0)
        else:
            mr.float(k, minimum=0)


# llvm-mca core models for emulated devices that name none: (core, nominal GHz)
DEFAULT_CORE_MODELS = {
    "riscv64": ("sifive-x280", 1.6),
    "aarch64": ("cortex-a76", 2.4),
    "aarch64+sve": ("neoverse-v1", 2.6),
    "x86_64": ("haswell", 3.0),
}


SM_RE = re.compile(r"^sm_(\d+)([af]?)$")
VECTOR_RE = re.compile(r"(?:vlen|sve)=?(\d{3,4})")
DEFAULT_CLOCK_GHZ = 1.6     # nominal clock of an emulated device without `clock_ghz`


@dataclass(frozen=True)
class Device:
    name: str
    arch: str
    transport: str = "local"
    toolchain: str = ""
    runner: tuple[str, ...] = ()
    emulated: bool = False             # QEMU user mode: speed is modelled cycles (`emulated: true`)
    emulation: str = ""                # "" native, "user" (emulated: true), "system" (emulated: system: a whole
                                       # board under QEMU system mode; wall times labelled emulated, no ratios)
    features: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    description: str = ""
    timeout_s: float = 10.0
    slow_gflops: float = 0.2           # a floor on throughput, used to scale time limits with work
    measure: dict = field(default_factory=dict, hash=False, compare=False)
    env: dict = field(default_factory=dict, hash=False, compare=False)
    sandbox: bool = True               # local runs of artifacts inside bubblewrap (sandbox/bubblewrap.py)
    pin: bool = True                   # pin native timing runs to one core (the last)
    threads: int = 1                   # cores a kernel may use (the task's thread count; >1: pthread/OpenMP
                                       # symbols pass the object gate, timing runs may use this many cores)
    host: str = ""
    port: int = 0                      # 0: from ~/.ssh/config, else 22
    user: str = ""
    key: str = ""
    workdir: str = "/tmp/tensorop"
    manuals: tuple[str, ...] = ()
    core_model: str = ""               # llvm-mca -mcpu name (e.g. sifive-x280); emulated speed = modelled cycles
    mca_triple: str = ""               # llvm triple for llvm-mc/llvm-mca; default derived from arch
    mca_attr: str = ""                 # extra -mattr for llvm-mc/llvm-mca (e.g. +sve)
    clock_ghz: float = 0.0             # nominal clock: modelled cycles -> modelled GFLOP/s
    memory: str = ""                   # memory model (harness/measure/model/memory.py): "" = the core model's
                                       # hierarchy, "host" = its row with this host's L1D/L2 from sysfs, "none"
    ssh_config: str = ""               # default ~/.ssh/config (Host aliases, ProxyJump, IdentityFile)
    known_hosts: str = ""              # default ~/.ssh/known_hosts; unknown host keys are refused
    connect_timeout_s: float = 10.0
    keepalive_s: float = 2.0           # ssh keepalive interval while waiting on the device
    link_timeout_s: float = 10.0       # unacknowledged data this long: the link is dead (TCP_USER_TIMEOUT)
    lock: bool = False                 # take the exclusive device lock (default: on for ssh devices)
    lock_lease_s: float = 60.0         # a lease not renewed for this long is stale and recovered
    lock_wait_s: float = 600.0         # give up waiting for another holder after this long
    quarantine_after: int = 3          # consecutive device errors before the rest are skipped
    proxy_jump: str = ""               # ssh: jump host(s) as ProxyJump spells them (overrides ~/.ssh/config)
    coordinator: str = ""              # labgrid: host:port of the coordinator (else LG_COORDINATOR)
    place: str = ""                    # labgrid: a place name or glob
    tags: dict = field(default_factory=dict, hash=False, compare=False)   # labgrid: reserve any place with these tags
    board: str = ""                    # a board tensorop builds and boots (`tensorop boards up NAME`)
    openblas: str = ""                 # "" the harness's OpenBLAS wheel; "board": the board's own library
    source: Path | None = None
    line: int = 0

    def matches(self, text: str) -> bool:
        t = text.strip().lower()
        return t == self.name.lower() or any(t == a.lower() for a in self.aliases)

    # ---- facts derived from the entry, one home each ----------------------------------------
    @property
    def system_emulated(self) -> bool:
        """A whole board under QEMU system mode: real-device measurement (verified timed calls over
        SSH), but the wall times are the emulator's: labelled emulated, never compared as speed."""
        return self.emulation == "system"

    @property
    def cuda(self) -> bool:
        """An NVIDIA GPU: features name `cuda` or the toolchain is nvcc (harness/backends/cuda/)."""
        return "cuda" in (f.lower() for f in self.features) or self.toolchain.startswith("cuda")

    @property
    def sm(self) -> str | None:
        """A CUDA device's SM as nvcc spells it ("sm_90a"), from its features; None when none is named."""
        for f in self.features:
            if SM_RE.match(f.lower()):
                return f.lower()
        return None

    @property
    def threads_allowed(self) -> int:
        """Cores a kernel may use (the task's thread count)."""
        return max(1, int(self.threads or 1))

    @property
    def run_env(self) -> dict[str, str]:
        """The environment every run on the device gets from devices.yaml: its `env`, over thread counts
        of OpenBLAS and OpenMP set to the task's threads. A BLAS left to size its own thread pool (a board
        without OPENBLAS_NUM_THREADS in its env) would start threads in the timing worker, whose seccomp
        filter kills any thread a single-threaded task starts (SIGSYS, seen on a real riscv64 kernel)."""
        n = str(self.threads_allowed)
        return {"OPENBLAS_NUM_THREADS": n, "OMP_NUM_THREADS": n, **self.env}

    @property
    def nominal_clock_ghz(self) -> float:
        """The clock that turns modelled cycles into modelled GFLOP/s (clock_ghz, else 1.6 GHz)."""
        return float(self.clock_ghz or DEFAULT_CLOCK_GHZ)

    @property
    def declared_vector_bits(self) -> int:
        """A vector length named in the entry (features such as vlen256 or sve256, or the runner's
        vlen=256); 0 when none is."""
        for f in (*self.features, *self.runner):
            m = VECTOR_RE.search(str(f).lower())
            if m:
                return int(m.group(1))
        return 0


def native_arch() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


def _emulation(r: FieldReader) -> str:
    """`emulated:` is true/false (QEMU user mode, modelled cycles) or `system` (a QEMU system-mode board)."""
    v = r.m.get("emulated")
    if v is None or v is False:
        return ""
    if v is True or v == "user":
        return "user"
    if v == "system":
        return "system"
    raise r.fail("emulated", f"expected true (QEMU user mode), false or system (a QEMU system-mode board), got {v!r}")


def _device(path: Path, name: str, data, line: int) -> Device:
    r = FieldReader(path, data, f"device '{name}'", line)
    r.unknown(DEVICE_FIELDS)
    emulation = _emulation(r)
    transport = r.str("transport", default="local", choices=transport_names())   # registered ones too
    arch = r.str("arch", required=True)
    if arch == "native":
        arch = native_arch()
    measure = r.mapping("measure")
    if measure:
        _check_measure(path, name, measure)
    env = r.mapping("env")
    for k, v in env.items():
        if not isinstance(v, (str, int, float)):
            raise FieldReader(path, env, f"device '{name}' env").fail(k, "expected a string value")
    dev = Device(
        name=name,
        arch=arch,
        transport=transport,
        toolchain=r.str("toolchain", required=True),
        runner=tuple(r.str_list("runner")),
        emulated=emulation == "user",
        emulation=emulation,
        features=tuple(r.str_list("features")),
        aliases=tuple(r.str_list("aliases")),
        description=r.str("description"),
        timeout_s=r.float("timeout_s", default=10.0, minimum=0.1),
        # a GPU (features name cuda): 20 GFLOP/s, far below any CUDA GPU's slowest honest kernel, so
        # 4096^3 gets seconds, not the CPU floor's hours, before a hung kernel is killed
        slow_gflops=r.float("slow_gflops", minimum=1e-6,
                            default=0.02 if emulation else
                            20.0 if "cuda" in [f.lower() for f in r.str_list("features")] else 0.2),
        measure=dict(measure),
        env={str(k): str(v) for k, v in env.items()},
        sandbox=r.bool("sandbox", default=True),
        pin=r.bool("pin", default=True),
        threads=r.int("threads", default=1, minimum=1),
        host=r.str("host"),
        port=r.int("port", default=0, minimum=1),
        user=r.str("user"),
        key=r.str("key"),
        workdir=r.str("workdir", default="/tmp/tensorop"),
        manuals=tuple(r.str_list("manuals")),
        core_model=r.str("core_model"),
        mca_triple=r.str("mca_triple"),
        mca_attr=r.str("mca_attr"),
        clock_ghz=r.float("clock_ghz", default=0.0, minimum=0.01) if "clock_ghz" in data else 0.0,
        memory=r.str("memory", choices=("host", "none")),
        ssh_config=r.str("ssh_config"),
        known_hosts=r.str("known_hosts"),
        connect_timeout_s=r.float("connect_timeout_s", default=10.0, minimum=0.1),
        keepalive_s=r.float("keepalive_s", default=2.0, minimum=0.1),
        link_timeout_s=r.float("link_timeout_s", default=10.0, minimum=0.5),
        lock=r.bool("lock", default=transport == "ssh"),
        lock_lease_s=r.float("lock_lease_s", default=60.0, minimum=1.0),
        lock_wait_s=r.float("lock_wait_s", default=600.0, minimum=0.0),
        quarantine_after=r.int("quarantine_after", default=3, minimum=1),
        proxy_jump=r.str("proxy_jump"),
        coordinator=r.str("coordinator"),
        place=r.str("place"),
        tags={str(k): str(v) for k, v in r.mapping("tags").items()},
        board=r.str("board"),
        openblas=r.str("openblas", choices=("board",)),
        source=path,
        line=line_of(data),
    )
    if dev.core_model and any(c.isspace() or c == "," for c in dev.core_model):
        raise r.fail("core_model", "expected one llvm-mca -mcpu name (e.g. sifive-x280)")
    if dev.mca_attr and not all(a.strip()[:1] in "+-" for a in dev.mca_attr.split(",")):
        raise r.fail("mca_attr", "expected comma-separated +feature/-feature items (e.g. +sve)")
    if dev.emulated and not dev.core_model and dev.arch in DEFAULT_CORE_MODELS:
        # an emulated device's speed is modelled cycles: without a named core, the closest
        # generic one for its ISA (shown by `devices list` and recorded with every trial)
        sve = any("sve" in f.lower() for f in dev.features)
        core, ghz = DEFAULT_CORE_MODELS[dev.arch + ("+sve" if sve and dev.arch == "aarch64" else "")]
        dev = replace(dev, core_model=core, clock_ghz=dev.clock_ghz or ghz,
                      mca_attr=dev.mca_attr or ("+sve" if sve and dev.arch == "aarch64" else ""))
    if dev.core_model and not dev.clock_ghz:
        raise r.fail("core_model", "a device with a core_model needs clock_ghz (its nominal clock)")
    if dev.board:
        if dev.board not in SYSTEM_BOARDS:
            raise r.fail("board", f"unknown board {dev.board!r}; tensorop builds: {', '.join(SYSTEM_BOARDS)}")
        if transport not in ("ssh", "labgrid"):
            raise r.fail("board", "a built board is reached over transport ssh or labgrid")
        if dev.arch != {"riscv64": "riscv64", "arm64": "aarch64"}[SYSTEM_BOARDS[dev.board].debian_arch]:
            raise r.fail("arch", f"board {dev.board!r} is {SYSTEM_BOARDS[dev.board].debian_arch}")
        home = board_dir(dev.board)     # the key and host key made when the board was built
        dev = replace(dev, key=dev.key or str(home / "id_ed25519"),
                      known_hosts=dev.known_hosts or str(home / "known_hosts"),
                      user=dev.user or SYSTEM_BOARDS[dev.board].user)
    if dev.openblas == "board" and not dev.board:
        raise r.fail("openblas", "'board' needs field 'board' (the built board whose library is linked)")
    if transport == "ssh" and not dev.host:
        raise r.fail(None, "transport 'ssh' needs field 'host'")
    if transport == "labgrid" and not (dev.place or dev.tags):
        raise r.fail(None, "transport 'labgrid' needs field 'place' (a name or glob) or 'tags' (a reservation filter)")
    return dev


def load_devices(path: Path) -> dict[str, Device]:
    data = load_yaml(path)
    if data is None:
        raise ConfigError(f"{path}:1: empty file; expected a top-level 'devices:' mapping")
    top = FieldReader(path, data, "top level")
    top.unknown({"devices"})
    devs = top.mapping("devices")
    if not devs:
        raise top.fail("devices", "no devices defined")
    out: dict[str, Device] = {}
    seen_alias: dict[str, str] = {}
    for name, body in devs.items():
        if not isinstance(name, str) or not name or any(c in name for c in "/ \t"):
            raise ConfigError(f"{path}:{line_of(devs, name)}: device name {name!r} must be a non-empty word without '/' or spaces")
        dev = _device(path, name, body if body is not None else LineDict(), line_of(devs, name))
        for label in (dev.name, *dev.aliases):
            key = label.lower()
            if key in seen_alias and seen_alias[key] != name:
                raise ConfigError(f"{path}:{dev.line}: device '{name}': alias {label!r} already names device '{seen_alias[key]}'")
            seen_alias[key] = name
        out[name] = dev
    return out


def find_device(devices: dict[str, Device], text: str, notify=None) -> Device:
    """The device named `text` (name or alias); else, for a known board name (harness.config.boards),
    its closest emulated device, with a notice passed to `notify`; else a ConfigError."""
    for d in devices.values():
        if d.matches(text):
            return d
    board = board_named(text)
    if board is not None:
        if board.needs:
            raise ConfigError(f"{text!r} ({board.title}) is not configured in devices.yaml and {board.needs}")
        if board.emulated_by in devices:
            d = devices[board.emulated_by]
            if notify is not None:
                notify(emulation_notice(text, board.title, d))
            return d
    known = ", ".join(f"{d.name} ({', '.join(d.aliases)})" if d.aliases else d.name for d in devices.values())
    raise ConfigError(f"unknown device {text!r}; known devices: {known}")


def emulation_notice(text: str, title: str, d: Device) -> str:
    vl = next((f for f in d.features if f.startswith(("vlen", "sve"))), "")
    vl = re.sub(r"([a-z]+)(\d+)", r"\1 \2", vl).upper()
    model = f", modelled as {d.core_model}" if d.core_model else ""
    return (f"{text} ({title}) is not configured; using {d.name}{model}" + (f", {vl}" if vl else "") +
            " (add an SSH device of that name to devices.yaml to measure the real board)")
