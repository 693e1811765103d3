"""The SSH transport, one concern per module:

    config.py      Endpoint: devices.yaml over ~/.ssh/config (HostName, Port, User, IdentityFile, ProxyJump)
    hostkeys.py    known_hosts, refusing unknown keys, fingerprints, `devices trust`
    connection.py  the socket chain, connect, reconnect with backoff, scan_host_key
    exec.py        the channel loop and the device-side wrapper protocol (harness/transport/scripts/ssh_wrapper.sh)
    uploads.py     content-hash blobs
    transport.py   SSHTransport (registered as "ssh")
"""
from harness.transport.ssh.config import Endpoint, resolve_endpoint
from harness.transport.ssh.connection import Connection, TransferStats, connect_client, scan_host_key
from harness.transport.ssh.errors import SSHError, UnknownHostKey
from harness.transport.ssh.exec import HOST_GRACE_S, MARKER_VAR
from harness.transport.ssh.hostkeys import fingerprint, load_known_hosts, trust_host_key
from harness.transport.ssh.transport import SSHTransport

__all__ = ["Endpoint", "resolve_endpoint", "Connection", "TransferStats", "connect_client", "scan_host_key",
           "SSHError", "UnknownHostKey", "HOST_GRACE_S", "MARKER_VAR", "fingerprint", "load_known_hosts",
           "trust_host_key", "SSHTransport"]
