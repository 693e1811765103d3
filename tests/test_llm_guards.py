"""Malformed LLM answers, sent by a real loopback server: each is rejected with its reason,
the reason goes back to the model, and the run goes on to the correct kernel."""
from __future__ import annotations

import pytest

from harness.generate.base import Task
from harness.generate.guards import check_c, extract_code
from harness.generate.llm import LLMClient, LLMConfig, SessionStore
from harness.generate.llm_generator import LLMGenerator
from harness.generate.loop import generate_on_device
from harness.campaign.store import Store

from fake_openai_server import FakeOpenAI
from test_llm_feedback import BUDGET, CORRECT, answer

MALFORMED = [
    ("no code block", "I would tile the loops and use FMA instructions.", "no code block"),
    ("truncated", "Here it is:\n```c\n" + CORRECT[:300], "truncated"),
    ("unbalanced", answer(CORRECT[:-3]), "truncated or malformed"),
    ("hit token limit", {"content": answer(CORRECT), "finish_reason": "length"}, "truncated"),
    ("wrong name", answer(CORRECT.replace("tensorop_gemm_f32", "my_sgemm")), "does not define the required function"),
    ("system()", answer(CORRECT.replace("for (int i = 0; i < M; i++) {", 'system("id"); for (int i = 0; i < M; i++) {', 1)),
     "process creation"),
    ("fork", answer(CORRECT.replace("for (int i = 0; i < M; i++) {", "fork(); for (int i = 0; i < M; i++) {", 1)),
     "process creation"),
    ("socket", answer("#include <sys/socket.h>\n" + CORRECT), "forbidden header"),
    ("file write", answer(CORRECT.replace("for (int i = 0; i < M; i++) {",
                                          'void *f = fopen("log.txt", "w"); for (int i = 0; i < M; i++) {', 1)),
     "forbidden call (fopen)"),
    ("BLAS", answer("void cblas_sgemm();\n" + CORRECT.replace("for (int i = 0; i < M; i++) {",
                                                              "cblas_sgemm(); for (int i = 0; i < M; i++) {", 1)),
     "BLAS call"),
    ("read the reference", answer(CORRECT.replace("#include <stddef.h>",
                                                  '#include <stddef.h>\nstatic const char *ref = "c0.bin";')),
     "reference"),
    ("python network", answer("import socket\nopen('kernel.S','w').write('')\n", "python"), "socket"),
    ("python no output", answer("x = 1 + 1\n", "python"), "did not write its assembly"),
]


def test_malformed_answers_are_rejected_with_reasons(lab):
    script = [m[1] for m in MALFORMED] + [answer(CORRECT)]
    with FakeOpenAI(script) as srv:
        session = SessionStore(lab.ws.results / "sessions")
        gen = LLMGenerator(LLMClient(LLMConfig(base_url=srv.url, api_key="x", model="fake", stream=True), session),
                           scratch=lab.ws.root)
        task = Task("gemm", (48, 40, 32), "f32", ("host",))
        with Store(lab.ws.database) as store:
            res = generate_on_device(lab, task, "host", gen, store, rounds=len(script), campaign="guards",
                                     search_overrides=BUDGET, final_overrides=BUDGET, write=False)
    n = len(MALFORMED)
    assert [f.status for f in res.history] == ["rejected"] * n + ["ok"]
    for (name, _, reason), fb, i in zip(MALFORMED, res.history, range(n)):
        assert reason in fb.message, (name, fb.message)
        # the reason is in the next request to the model
        assert fb.message in srv.user_texts(i + 1), name
    assert res.ok
    # nothing was compiled for the rejected answers: only OpenBLAS, one candidate and the final pair
    assert len(res.trials) == 4


def test_python_script_emitting_assembly_is_built_and_verified(lab):
    """The paper's optional route: a script writes assembly; it runs sandboxed and only kernel.S is kept."""
    import platform
    if platform.machine() != "x86_64":
        pytest.skip("the scripted assembly is x86-64")
    # a naive x86-64 SysV kernel: C[i][j] = sum_k A[i][k] * B[k][j]
    script = r'''
asm = """
    .text
    .globl tensorop_gemm_f32
    .type tensorop_gemm_f32, @function
tensorop_gemm_f32:
    # edi=M esi=N edx=K rcx=A r8d=lda r9=B [rsp+8]=ldb [rsp+16]=C [rsp+24]=ldc
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    movslq 48(%rsp), %r10        # ldb
    movq   56(%rsp), %r11        # C
    movslq 64(%rsp), %r12        # ldc
    movslq %r8d, %r8             # lda
    xor %r13d, %r13d             # i
1:  cmp %edi, %r13d
    jge 9f
    xor %r14d, %r14d             # j
2:  cmp %esi, %r14d
    jge 8f
    vxorps %xmm0, %xmm0, %xmm0
    xor %r15d, %r15d             # k
3:  cmp %edx, %r15d
    jge 4f
    movq %r13, %rax
    imul %r8, %rax
    addq %r15, %rax
    vmovss (%rcx,%rax,4), %xmm1
    movq %r15, %rax
    imul %r10, %rax
    addq %r14, %rax
    vfmadd231ss (%r9,%rax,4), %xmm1, %xmm0
    inc %r15d
    jmp 3b
4:  movq %r13, %rax
    imul %r12, %rax
    addq %r14, %rax
    vmovss %xmm0, (%r11,%rax,4)
    inc %r14d
    jmp 2b
8:  inc %r13d
    jmp 1b
9:  pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    ret
    .size tensorop_gemm_f32, .-tensorop_gemm_f32
    .section .note.GNU-stack,"",@progbits
"""
with open("kernel.S", "w") as f:
    f.write(asm)
'''
    with FakeOpenAI([answer(script, "python")]) as srv:
        gen = LLMGenerator(LLMClient(LLMConfig(base_url=srv.url, api_key="x", model="fake", stream=False)),
                           scratch=lab.ws.root)
        with Store(lab.ws.database) as store:
            res = generate_on_device(lab, Task("gemm", (33, 17, 9), "f32", ("host",)), "host", gen, store,
                                     rounds=1, campaign="asm", search_overrides=BUDGET,
                                     final_overrides=BUDGET, write=False)
    assert [f.status for f in res.history] == ["ok"], res.history[0].message
    assert res.best.label.endswith("-asm")


def test_guard_units():
    assert check_c(CORRECT) == ""
    assert extract_code("```c\nint x;\n```")[2] == ""
    assert "truncated" in extract_code("x", finish_reason="length")[2]
    assert "inline assembly" in check_c(CORRECT.replace("for (int i = 0; i < M; i++) {",
                                                        '__asm__ volatile("syscall"); for (int i = 0; i < M; i++) {', 1))
