"""Reading a file that untrusted code (a kernel's run, an LLM's script) could have replaced.

The harness runs with more rights than the code it runs. A run that swaps its output file for a
symlink to a host file, a FIFO, or /proc/self/mem would otherwise get the harness to read (and
quote back, possibly to an LLM endpoint) what the run itself could not, or to hang. So a file left
by a run is opened without following a final symlink (O_NOFOLLOW), without blocking (O_NONBLOCK),
must be a regular file, and is read up to a size cap.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path


class UntrustedFileError(OSError):
    """The file is not there as a plain regular file of bounded size; the message says why."""


def read_untrusted(path: Path, limit: int) -> bytes:
    """The bytes of `path` (a regular file, at most `limit` bytes). Raises FileNotFoundError when
    absent, UntrustedFileError when it is anything else than a bounded regular file."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as e:
        # ELOOP: the final component is a symlink
        raise UntrustedFileError(f"{Path(path).name} is not a regular file the run wrote ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedFileError(f"{Path(path).name} is not a regular file (a FIFO, device or directory)")
        if st.st_size > limit:
            raise UntrustedFileError(f"{Path(path).name} is {st.st_size} bytes, more than the {limit} allowed")
        chunks, left = [], limit + 1
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        data = b"".join(chunks)
        if len(data) > limit:
            raise UntrustedFileError(f"{Path(path).name} grew past the {limit} bytes allowed")
        return data
    finally:
        os.close(fd)


def read_held(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes of a descriptor the harness opened itself (a memfd given to a run), from
    its start: nothing the run can name or replace."""
    chunks, off = [], 0
    while off < limit:
        b = os.pread(fd, min(limit - off, 1 << 20), off)
        if not b:
            break
        chunks.append(b)
        off += len(b)
    return b"".join(chunks)
