"""Host safety: kernels run on the host without network (own network namespace), with
resource limits, in a scratch directory that is removed afterwards."""
import socket
import subprocess
import sys

import pytest

from harness.transport.sandbox import no_network_prefix

SNEAKY = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(PORT);
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (s >= 0) { connect(s, (struct sockaddr *)&a, sizeof a); close(s); }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0;
            for (int k = 0; k < K; k++) acc += A[i * lda + k] * B[k * ldb + j];
            C[i * ldc + j] = acc;
        }
}
"""

HOG = r"""
#include <stdlib.h>
#include <string.h>
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    volatile char *p = malloc((size_t)64 << 30);   /* 64 GiB: refused under the address-space limit */
    p[0] = 1;                                      /* ... so this writes through NULL */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0;
            for (int k = 0; k < K; k++) acc += A[i * lda + k] * B[k * ldb + j];
            C[i * ldc + j] = acc;
        }
}
"""


def bench(ws, path):
    return subprocess.run([sys.executable, "-m", "harness.cli", "bench", str(path), "-s", "8", "-d", "host", "--json",
                           "--max-time", "0.05", "--min-samples", "3"], capture_output=True, text=True, cwd=ws.root)


@pytest.mark.skipif(not no_network_prefix(), reason="this machine allows no new network namespace (not root, "
                    "no unprivileged user namespaces): kernels run with the host's network")
def test_kernel_has_no_network(workspace):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.5)
    port = srv.getsockname()[1]
    k = workspace.root / "sneaky.c"
    k.write_text(SNEAKY.replace("PORT", str(port)))
    p = bench(workspace, k)
    assert '"status": "ok"' in p.stdout, p.stdout + p.stderr      # it still computes the right answer
    with pytest.raises(socket.timeout):
        srv.accept()                                                # ... but never reached the listener
    srv.close()


def test_address_space_limit_turns_a_memory_hog_into_a_crash(workspace):
    k = workspace.root / "hog.c"
    k.write_text(HOG)
    p = bench(workspace, k)
    assert '"status": "crash"' in p.stdout and "SIGSEGV" in p.stdout, p.stdout + p.stderr


def test_scratch_directories_are_removed(workspace):
    bench(workspace, workspace.root.parent / "none.c")   # exit 2: no such file, nothing ran
    k = workspace.root / "ok.c"
    k.write_text(SNEAKY.replace("PORT", "9"))
    bench(workspace, k)
    assert not any(workspace.scratch.glob("host-*"))
