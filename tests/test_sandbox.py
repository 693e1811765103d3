"""The sandbox on its own (no object gate in front of it): a program that tries everything a
hostile kernel might, run through the local transport exactly as kernels are. Each assertion
is about the host after the run, so each can fail."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness.core.records import Artifact
from harness.transport import get_transport
from harness.sandbox.bubblewrap import SandboxUnavailable, sandbox_prefix

ESCAPE = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    /* 1. network: connect to a listener on the host's loopback */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[1])); a.sin_addr.s_addr = htonl(0x7f000001);
    int net = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    /* 2. write outside the scratch directory */
    int fd = open(argv[2], O_WRONLY | O_CREAT, 0644);
    int wrote = fd >= 0 && write(fd, "pwned\n", 6) == 6;
    /* 3. read the repository */
    int readrepo = open(argv[3], O_RDONLY) >= 0;
    /* 4. a double-forked, setsid spinner meant to outlive the trial */
    if (fork() == 0) { setsid(); if (fork() == 0) { execlp("sleep", "sleep", argv[4], (char *)0); } _exit(0); }
    sleep(1);
    dprintf(3, "{\"tensorop\":\"driver\",\"uid\":%d,\"net\":%d,\"wrote\":%d,\"readrepo\":%d}\n",
            (int)getuid(), net, wrote, readrepo);
    return 0;
}
"""


def _sandbox_works() -> bool:
    try:
        sandbox_prefix(Path("/tmp"))
        return True
    except SandboxUnavailable:
        return False


pytestmark = pytest.mark.skipif(not _sandbox_works(), reason="bubblewrap cannot create namespaces here")


def test_a_hostile_program_reaches_nothing_and_leaves_nothing(lab, tmp_path):
    (tmp_path / "bin").mkdir()
    exe = tmp_path / "bin" / "escape"     # its own directory, as a build's is (it is bound read-only)
    subprocess.run(["cc", "-O1", "-x", "c", "-", "-o", str(exe)], input=ESCAPE.encode(), check=True)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.3)
    marker = tmp_path / "outside" / "pwned.txt"
    marker.parent.mkdir()
    tag = str(700 + os.getpid() % 200) + ".5"          # a sleep length no other process uses
    repo_file = lab.ws.devices_file
    with get_transport(lab.devices["host"], lab.ws) as t:
        run = t.run(Artifact(key="escape", executable=exe),
                    [str(srv.getsockname()[1]), str(marker), str(repo_file), tag], timeout_s=30)
    assert run.returncode == 0, run.stderr
    rec = run.channel.decode()
    assert '"uid":65534' in rec and '"net":0' in rec and '"wrote":0' in rec and '"readrepo":0' in rec, rec
    with pytest.raises(socket.timeout):
        srv.accept()
    srv.close()
    assert not marker.exists()
    time.sleep(0.3)
    survivors = subprocess.run(["pgrep", "-f", f"sleep {tag}"], capture_output=True, text=True).stdout.split()
    assert not survivors, f"processes outlived the trial: {survivors}"
    assert not any(lab.ws.scratch.glob("host-*")), "scratch directories are removed after each run"


HOG = r"""
#include <stdlib.h>
int main(void) { volatile char *p = malloc((size_t)64 << 30); p[0] = 1; return 0; }
"""


def test_address_space_limit_turns_a_memory_hog_into_a_crash(lab, tmp_path):
    exe = tmp_path / "hog"
    subprocess.run(["cc", "-O1", "-x", "c", "-", "-o", str(exe)], input=HOG.encode(), check=True)
    with get_transport(lab.devices["host"], lab.ws) as t:
        run = t.run(Artifact(key="hog", executable=exe), [], timeout_s=30)
    assert run.signal == "SIGSEGV", (run.returncode, run.stderr)
