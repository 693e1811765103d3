"""The configured lab: workspace, devices and toolchains, loaded once per command."""
from __future__ import annotations

from dataclasses import dataclass

from harness.config.devices import Device, find_device, load_devices
from harness.config.toolchains import Toolchain, load_toolchains
from harness.core.workspace import Workspace


@dataclass
class Lab:
    ws: Workspace
    devices: dict[str, Device]
    toolchains: dict[str, Toolchain]

    @classmethod
    def load(cls, ws: Workspace | None = None, devices_file=None) -> "Lab":
        ws = ws or Workspace.discover()
        devices = load_devices(devices_file or ws.devices_file)
        return cls(ws, devices, load_toolchains(ws.toolchains_dir))

    def device(self, name: str, notify=None) -> Device:
        """By name or alias; a board name not configured resolves to its closest emulated device
        (the notice goes to `notify`, default stderr)."""
        if notify is None:
            import sys
            notify = lambda text: print(f"note: {text}", file=sys.stderr)   # noqa: E731
        return find_device(self.devices, name, notify)

    def toolchain(self, device: Device) -> Toolchain | None:
        return self.toolchains.get(device.toolchain)
