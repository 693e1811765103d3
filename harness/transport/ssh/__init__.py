"""The SSH transport, one concern per module:

    config.py      Endpoint: devices.yaml over ~/.ssh/config (HostName, Port, User, IdentityFile, ProxyJump)
    hostkeys.py    known_hosts, refusing unknown keys, fingerprints, `devices trust`
    connection.py  the socket chain, connect, reconnect with backoff, scan_host_key
    exec.py        the channel loop and the device-side wrapper protocol (harness/scripts/ssh_wrapper.sh)
    uploads.py     content-hash blobs
    transport.py   SSHTransport (registered as "ssh")
"""
from .config import Endpoint, resolve_endpoint
from .connection import Connection, TransferStats, connect_client, scan_host_key
from .errors import SSHError, UnknownHostKey
from .exec import HOST_GRACE_S, MARKER_VAR
from .hostkeys import fingerprint, load_known_hosts, trust_host_key
from .transport import SSHTransport

__all__ = ["Endpoint", "resolve_endpoint", "Connection", "TransferStats", "connect_client", "scan_host_key",
           "SSHError", "UnknownHostKey", "HOST_GRACE_S", "MARKER_VAR", "fingerprint", "load_known_hosts",
           "trust_host_key", "SSHTransport"]
