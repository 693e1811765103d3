"""Uploads by content hash: <workdir>/blobs/<sha256>, each content sent once per device (the
blobs already there are listed when the connection opens), hashes cached by (path, size, mtime)."""
from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from harness.transport.ssh.connection import Connection


class Blobs:
    def __init__(self, conn: Connection, workdir: str):
        self.conn, self.workdir, self.stats = conn, workdir, conn.stats
        self.present: set[str] = set()
        self._hash_cache: dict[tuple[str, int, int], str] = {}

    def listed(self, names: list[str]) -> None:
        """What `ls <workdir>/blobs` printed on connect."""
        self.present = {n.strip() for n in names if len(n.strip()) == 64}

    def hash(self, path: Path) -> str:
        st = path.stat()
        k = (str(path), st.st_size, st.st_mtime_ns)
        h = self._hash_cache.get(k)
        if h is None:
            d = hashlib.sha256()
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    d.update(chunk)
            h = self._hash_cache[k] = d.hexdigest()
        return h

    def remote(self, path: Path) -> str:
        """Remote path of `path`'s content, uploading it once."""
        h = self.hash(path)
        remote = f"{self.workdir}/blobs/{h}"
        if h in self.present:
            return remote
        sftp = self.conn.sftp()
        tmp = f"{remote}.tmp.{secrets.token_hex(4)}"
        size = path.stat().st_size
        sftp.put(str(path), tmp, confirm=True)
        sftp.chmod(tmp, 0o755)
        sftp.posix_rename(tmp, remote)
        self.present.add(h)
        self.stats.bytes_uploaded += size
        self.stats.files_uploaded += 1
        return remote
