"""Transports: how a device runs things. One module per transport, behind one registry.

    name      module:class                                      devices.yaml `transport:`
    local     harness.transport.local:LocalTransport             this machine (native or QEMU)
    ssh       harness.transport.ssh:SSHTransport                 a board with an SSH server
    labgrid   harness.transport.labgrid:LabgridTransport         a place of a labgrid lab, over SSH

Adding a transport is adding one module with a `Transport` subclass (harness/transport/base.py)
and one line in REGISTRY below (or `register()` at run time, e.g. from a plugin). Modules are
imported only when a device uses them, so paramiko or labgrid are loaded only when needed, and
this file imports nothing from the rest of tensorop: config/devices.py reads `names()` from it to
validate devices.yaml without an import cycle.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from harness.config.devices import Device
    from harness.core.workspace import Workspace
    from harness.transport.base import Transport

REGISTRY: dict[str, "str | type[Transport]"] = {
    "local": "harness.transport.local:LocalTransport",
    "ssh": "harness.transport.ssh:SSHTransport",
    "labgrid": "harness.transport.labgrid:LabgridTransport",
}


def register(name: str, target: str | type) -> None:
    """Add (or replace) a transport: `target` is a Transport subclass or "module:Class"."""
    if not name or not name.replace("-", "_").isidentifier():
        raise ValueError(f"transport name {name!r} must be a word")
    REGISTRY[name] = target


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def transport_class(name: str) -> type["Transport"]:
    """The Transport subclass registered as `name` (its module is imported now)."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise NotImplementedError(f"unknown transport {name!r}; known: {', '.join(REGISTRY)}") from None
    if not isinstance(target, str):
        return target
    module, _, cls = target.partition(":")
    try:
        return getattr(import_module(module), cls)
    except ImportError as e:
        raise NotImplementedError(f"transport {name!r} is not available: {e}") from None


def get_transport(device: "Device", ws: "Workspace") -> "Transport":
    """A transport for `device` (a context manager: close() drops its connections)."""
    try:
        cls = transport_class(device.transport)
    except NotImplementedError as e:
        raise NotImplementedError(f"device {device.name}: {e}") from None
    return cls(device, ws)


__all__ = ["REGISTRY", "register", "names", "transport_class", "get_transport"]
