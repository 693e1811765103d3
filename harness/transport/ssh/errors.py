"""What the SSH transport raises internally (callers of run() get RunResult.device_error)."""
from __future__ import annotations

import paramiko


class SSHError(Exception):
    """A connection problem, with a message meant for the user."""


class UnknownHostKey(SSHError):
    def __init__(self, message: str, host: str, key: paramiko.PKey):
        super().__init__(message)
        self.host, self.key = host, key
