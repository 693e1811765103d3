"""What a run leaves behind is read as untrusted (docs/THREAT_MODEL.md): its streams come back
through descriptors the harness holds, a file it names is read only as a bounded regular file
(never through a link, a FIFO or /proc/self/mem), the result channel is parsed with bounds, and
the environment a run gets carries no secret. Real runs under the sandbox, real files."""
from __future__ import annotations

import os
import time

import pytest

from harness.core import channel
from harness.core.records import RunResult
from harness.core.untrusted_files import UntrustedFileError, read_untrusted
from harness.generate.asmscript import run_script
from harness.transport.local import LocalTransport, run_environ


def test_read_untrusted_refuses_links_fifos_and_floods(tmp_path):
    secret = tmp_path / "host_secret"
    secret.write_text("api_key=sk-should-never-be-read\n")
    (tmp_path / "plain.bin").write_bytes(b"\x01\x02")
    assert read_untrusted(tmp_path / "plain.bin", 10) == b"\x01\x02"
    (tmp_path / "link.bin").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo.bin")
    (tmp_path / "mem.bin").symlink_to("/proc/self/mem")
    (tmp_path / "big.bin").write_bytes(b"x" * 100)
    for name, why in (("link.bin", "not a regular file"), ("fifo.bin", "FIFO"), ("mem.bin", "not a regular file"),
                      ("big.bin", "more than")):
        t0 = time.monotonic()
        with pytest.raises(UntrustedFileError, match=why):
            read_untrusted(tmp_path / name, 10)
        assert time.monotonic() - t0 < 2          # a FIFO with no writer does not block the reader
    with pytest.raises(FileNotFoundError):
        read_untrusted(tmp_path / "absent.bin", 10)


def test_a_run_that_replaces_its_outputs_gets_nothing_of_the_host(lab, tmp_path, monkeypatch):
    """A sandboxed run links its output names to a host file, makes another a FIFO, and prints its
    environment: the outputs are not read, the run returns at once, no secret is in its environment."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-reach-a-kernel")
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("api_key=sk-host-file\n")
    t = LocalTransport(lab.device("host"), lab.ws)
    script = (f"echo out; echo chan >&3; echo prof >&4; ln -s {secret} pick.bin; ln -s /proc/self/environ c0.bin; "
              "mkfifo c1.bin; echo data > c2.bin; env")
    t0 = time.monotonic()
    run = t._execute(["sh", "-c", script], timeout_s=20, fetch=["pick.bin", "c0.bin", "c1.bin", "c2.bin"], native=True)
    assert time.monotonic() - t0 < 15
    assert run.returncode == 0, run.stderr
    assert run.files == {"c2.bin": b"data\n"}
    assert run.channel == b"chan\n" and run.profile == b"prof\n"
    assert "sk-must-not-reach-a-kernel" not in run.stdout and "OPENAI_API_KEY" not in run.stdout
    assert "sk-host-file" not in repr(run)
    assert "OPENAI_API_KEY" not in run_environ()


def test_channel_bounds_a_deep_record():
    deep = b"[" * 200_000 + b"]" * 200_000
    for body in (deep + b"\n", b'{"tensorop": "driver", "x": ' + deep + b"}\n", b"\xff\xfe\n"):
        recs = channel.read_channel(RunResult(0, "", "", 0.0, channel=body), want_plugin=False)
        assert recs.error and recs.driver is None


def test_script_linking_its_output_to_a_host_file_is_refused(tmp_path):
    """An LLM's assembly-emitting script that makes kernel.S a link to a host file (or to
    /proc/self/mem): the round is refused and none of the file's content comes back."""
    secret = tmp_path / "secret.txt"
    secret.write_text("api_key=sk-only-on-the-host\n")
    for target in (str(secret), "/proc/self/mem"):
        code = f"import os\nos.symlink({target!r}, 'kernel.S')\n"
        asm, reason = run_script(code, timeout_s=20, scratch=tmp_path)
        assert asm == "" and "kernel.S" in reason and "sk-only-on-the-host" not in reason, reason
    asm, reason = run_script("import os\nos.mkfifo('kernel.S')\n", timeout_s=20, scratch=tmp_path)
    assert asm == "" and "FIFO" in reason
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith("asmgen-")]
    assert leftovers == []                       # the script's directory is removed
