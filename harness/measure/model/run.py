"""Profile a built artifact once under the device's QEMU with the tensorop plugin, through the
device's transport (sandboxed like every run of a kernel), and bring back the plugin's record
(on the private channel) and the block profile. The driver's `profile` mode makes exactly one
verified call inside the counted region. Trials do the same inside harness.measure.runner; this is the
direct path for tests and `model validate`'s diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.measure import check
from harness.config.devices import Device
from harness.ops import gemm
from harness.core.records import Artifact
from harness.transport import get_transport
from harness.transport.base import is_qemu
from harness.core.workspace import Workspace
from harness.core import channel
from harness.measure.model.plugin import plugin_options, profile_problem


@dataclass
class ProfileRun:
    ok: bool
    error: str = ""
    record: dict | None = None        # the plugin's record
    blocks: str = ""                  # the block profile
    output: bytes = b""               # pick.bin, the output of the counted call
    wall_s: float = 0.0
    command: tuple[str, ...] = ()

    @property
    def regions(self) -> int:
        return int((self.record or {}).get("regions", 0))


def profile_artifact(ws: Workspace, device: Device, artifact: Artifact, shape: tuple[int, int, int], *,
                     seed: int = 1, timeout_s: float = 300.0) -> ProfileRun:
    if not device.runner or not is_qemu(device.runner[0]):
        return ProfileRun(False, f"device {device.name} has no QEMU runner to profile under")
    if not ws.qemu_plugin.is_file():
        return ProfileRun(False, f"QEMU plugin {ws.qemu_plugin} not built; run `make setup`")
    case = gemm.GemmCase.tight(*shape, seed)
    if artifact.code_map is None:
        return ProfileRun(False, f"{artifact.executable} has no code map (position-independent?): nothing to profile")
    with get_transport(device, ws) as t:
        run = t.run(artifact, [], timeout_s=timeout_s, stdin=gemm.request("profile", [case],
                                                                          tol=gemm.timing_tolerance(shape[2])),
                    plugin=plugin_options(artifact, device), fetch=["pick.bin"])
    failure = check.run_failure(run, device, "profiled call")
    if failure:
        return ProfileRun(False, failure[1], wall_s=run.wall_s, command=run.command)
    recs = channel.read_channel(run, want_plugin=True)
    if recs.error:
        return ProfileRun(False, recs.error, wall_s=run.wall_s, command=run.command)
    verdict = check.timed_verdict(recs.driver, case, run.files.get("pick.bin"), profile=True)
    why = profile_problem(recs.plugin)
    if why:
        return ProfileRun(False, why, recs.plugin, wall_s=run.wall_s, command=run.command)
    blocks = run.profile.decode("utf-8", "replace")
    return ProfileRun(verdict.ok, verdict.detail, recs.plugin, blocks, run.files.get("pick.bin", b""),
                      run.wall_s, run.command)
