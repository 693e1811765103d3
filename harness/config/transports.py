"""The transports a device may name (devices.yaml `transport:`), one registry: name ->
"module:Class" (or a class registered at run time, e.g. by a plugin). devices.yaml is validated
against these names; harness/transport/ implements them, and a module is imported only when a
device uses it (paramiko or labgrid are loaded only when needed).

    name      module:class                                      devices.yaml `transport:`
    local     harness.transport.local:LocalTransport             this machine (native or QEMU)
    ssh       harness.transport.ssh:SSHTransport                 a board with an SSH server
    labgrid   harness.transport.labgrid:LabgridTransport         a place of a labgrid lab, over SSH

Adding a transport is adding one module with a `Transport` subclass (harness/transport/base.py)
and one line in REGISTRY below (or `register()` at run time).
"""
from __future__ import annotations

from importlib import import_module

REGISTRY: dict[str, "str | type"] = {
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


def transport_class(name: str) -> type:
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
