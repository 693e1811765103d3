"""Transports: how a device runs things (harness/transport/base.py), one module per transport;
the registry of their names is harness/config/transports.py."""
from __future__ import annotations

from typing import TYPE_CHECKING

from harness.config.transports import REGISTRY, names, register, transport_class

if TYPE_CHECKING:  # pragma: no cover
    from harness.config.devices import Device
    from harness.core.workspace import Workspace
    from harness.transport.base import Transport


def get_transport(device: "Device", ws: "Workspace") -> "Transport":
    """A transport for `device` (a context manager: close() drops its connections)."""
    try:
        cls = transport_class(device.transport)
    except NotImplementedError as e:
        raise NotImplementedError(f"device {device.name}: {e}") from None
    return cls(device, ws)


__all__ = ["REGISTRY", "register", "names", "transport_class", "get_transport"]
