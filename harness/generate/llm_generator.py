"""The LLM generator: the same interface as the expert, backed by a chat model.

The conversation is one growing chat per device: a system message (the ABI, the rules, the
answer format), a first user message (task, hardware factors, optimisation hints, a sketch to
start from), then for each round the model's answer and a user message with the feedback
(compiler errors verbatim, wrong-answer figures, crashes, measured performance against
OpenBLAS). Answers are checked by the guards; a rejection is fed back like any other failure.
"""
from __future__ import annotations

from harness.generate.asmscript import run_script, wrap_assembly
from harness.generate.base import Candidate, Feedback, Generator, Task
from harness.generate.guards import check_assembly, check_c, check_python, extract_code
from harness.generate.hardware import HardwareFactors, hints_text
from harness.generate.templates import registry
from harness.backends.cuda import CudaBackend
from harness.generate.llm import request_hash
from harness.core.space import ParamSpace, SpaceError
from harness.generate.cuda import check_source
from harness.generate import cuda as cuda_gen

SYSTEM = """You are an expert in high-performance computing writing GEMM kernels with hardware primitives.
Write one C file implementing exactly this ABI (row-major, C is overwritten):

    void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                           const float *B, int ldb, float *C, int ldc);
    /* C = A * B; A is MxK (lda >= K), B is KxN (ldb >= N), C is MxN (ldc >= N) */

Rules: single-threaded; no BLAS or library math; no I/O, files, processes, network, environment, or
main(); never read or write C outside its M x N region; any M, N, K >= 1 (not only multiples of your
tiles). Structure: a sketch (tiling, loop reordering, packing) around a register-blocked micro-kernel
written with the device's intrinsics. Declare the tunable parameters in a block
/* tensorop-params {"params": {"MR": [...], ...}, "values": {...}, "constraints": ["..."]} */.
Answer with a short plan, then the complete kernel in ONE ```c code block. (Alternatively, a ```python
script that writes GNU assembly defining tensorop_gemm_f32 to kernel.S in the current directory.)"""

CUDA = CudaBackend()


def system_for(task: Task) -> str:
    """The system message for the task's operator (GEMM's is SYSTEM above)."""
    op = task.the_op
    if op.name == "gemm" and op.dtype == "f32":
        return SYSTEM
    return (SYSTEM.replace("writing GEMM kernels", f"writing {op.name} kernels")
            .replace("""    void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                           const float *B, int ldb, float *C, int ldc);
    /* C = A * B; A is MxK (lda >= K), B is KxN (ldb >= N), C is MxN (ldc >= N) */""",
                     "    " + op.prototype.replace("\n", "\n    ") + ";\n    /* " + op.doc + " */")
            .replace("never read or write C outside its M x N region; any M, N, K >= 1",
                     "never write outside the output; any sizes >= 1")
            .replace("tensorop_gemm_f32", op.symbol))


def first_message(task: Task, hw: HardwareFactors) -> str:
    ps_name, sketch = registry.reference(hw, task.op, task.dtype)
    if task.op == "conv2d":
        manuals = ("\n\nManual excerpts:\n" + "\n".join(hw.manuals)) if hw.manuals else ""
        return (f"{task.the_op.llm_task_line(task.shape)}, on device {hw.device}.\n\nHardware factors:\n"
                f"{hw.summary()}{manuals}\n\nOptimisation hints:\n{hints_text(hw.primitive_set, 'conv2d')}\n\n"
                f"Two reference sketches (correct; improve on either):\n{sketch}\nWrite a faster kernel.")
    manuals = ("\n\nManual excerpts:\n" + "\n".join(hw.manuals)) if hw.manuals else ""
    return (f"Task: {task.op} {task.dtype}, M={task.shape[0]} N={task.shape[1]} K={task.shape[2]}, "
            f"on device {hw.device}.\n\nHardware factors:\n{hw.summary()}{manuals}\n\n"
            f"Optimisation hints:\n{hints_text(ps_name)}\n\n"
            f"A reference sketch for this primitive set (correct; improve on it):\n```c\n{sketch}```\n"
            "Write a faster kernel.")


def feedback_message(fb: Feedback) -> str:
    tail = ("Fix the problem and send the complete corrected kernel." if not fb.ok
            else "Improve performance further (change tiling/unrolling/micro-kernel) and send the complete kernel.")
    return f"Feedback on your last kernel:\n{fb.to_text()}\n\n{tail}"


class LLMGenerator(Generator):
    name = "llm"

    def __init__(self, client, script_timeout_s: float = 20.0, scratch=None):
        self.client = client
        self.model = getattr(client, "model", "")
        self.messages: list[dict] = []
        self.request_hashes: list[str] = []
        self.script_timeout_s = script_timeout_s
        self.scratch = scratch
        self._seen = 0
        self.session_id = getattr(getattr(client, "session", None), "id", None)

    def propose(self, task: Task, hardware: HardwareFactors, history: list[Feedback]) -> Candidate:
        cuda = hardware.primitive_set == "cuda"
        if not self.messages:
            if cuda:    # harness/generate/cuda.py: the CUDA ABI, prompts.py's hints, the expert kernel
                self.messages = [{"role": "system", "content": cuda_gen.system_message(task.the_op)},
                                 {"role": "user", "content": cuda_gen.first_message(task, hardware)}]
            else:
                self.messages = [{"role": "system", "content": system_for(task)},
                                 {"role": "user", "content": first_message(task, hardware)}]
        else:
            new = history[self._seen:]
            self.messages.append({"role": "user", "content": "\n\n".join(feedback_message(f) for f in new)
                                  if new else "Send an improved kernel."})
        self._seen = len(history)
        self.request_hashes.append(request_hash(self.messages))
        ans = self.client.chat(list(self.messages), purpose="generate")
        self.messages.append({"role": "assistant", "content": ans.text})
        n = len(self.request_hashes)
        label = f"llm-r{n}"
        op = task.the_op
        if cuda:
            op = CUDA.op(op)
        lang, code, reason = extract_code(ans.text, ans.finish_reason, op.symbol)
        if reason:
            return Candidate(label=label, rejection=reason)
        if cuda:
            reason = "a CUDA device takes a ```cuda file, not a script" if lang == "python" else \
                check_source(code, op)
            if reason:
                return Candidate(label=label, rejection=reason)
            return Candidate(source=code if code.endswith("\n") else code + "\n", label=label)
        if lang == "python":
            reason = check_python(code)
            if reason:
                return Candidate(label=label, rejection=reason)
            try:
                asm, reason = run_script(code, self.script_timeout_s, self.scratch)
            except (OSError, UnicodeError, ValueError) as e:     # whatever the script left: this round's failure
                asm, reason = "", f"the assembly-emitting script's output cannot be read ({type(e).__name__})"
            if reason:
                return Candidate(label=label, rejection=reason)
            reason = check_assembly(asm)
            if reason:
                return Candidate(label=label, rejection=reason)
            if op.symbol not in asm:
                return Candidate(label=label,
                                 rejection=f"the emitted assembly does not define {op.symbol}")
            return Candidate(source=wrap_assembly(asm), label=label + "-asm",
                             notes="assembly from a generator script")
        reason = check_c(code, op)
        if reason:
            return Candidate(label=label, rejection=reason)
        params, notes = {}, ""
        try:
            sp = ParamSpace.from_source(code)
            params = dict(sp.defaults) if sp else {}
        except SpaceError as e:   # the kernel may still be good: measure it, and say why the block was ignored
            notes = f"the tensorop-params block was ignored: {e}"
        return Candidate(source=code if code.endswith("\n") else code + "\n", params=params, label=label,
                         notes=notes)
