"""The operator protocol: what the harness needs to know about an operator (GEMM, Conv2d, ...)
to build, gate, time and generate kernels for it. One module per operator in harness/ops/
defines an `Op` subclass and registers an instance (harness/ops/__init__.py); build, trial,
check, campaign, cli, prompt parsing, generators and the object gate ask the op instead of
naming an operator themselves.

An op declares:
  name, dtype, symbol, prototype   the kernel ABI (`tensorop_<op>_<dtype>`) and its C prototype
  driver_source, driver_defines    the harness-owned timing driver it is linked with
  shape_syntax, parse_shape        the --shape syntax (shown in --help) and its parser
  parse_prompt_shape               the shape somewhere in a one-line prompt
  flops(shape)                     the work of one call (GFLOP/s, time limits, peak check)
  check_cases(shape, seeds)        the gate's cases: the shape plus awkward ones, fresh seeds
  timing_case(shape, seed)         the case the timed / profiled / paired runs use
  sample_case(case, seed)          the same case with another seed (the timed run's picked sample)
  inputs(case), reference(case)    inputs bit-identical to the driver's, the float64 reference
  verify(case, raw)                the full NumPy check of one output buffer
  timing_tolerance(case)           the bound of the in-driver check of timed calls
  request(mode, cases, **opts)     the driver's request (stdin)
  baselines, baseline_defines      name -> (C file in baselines/, the library it links or None); macros set above it
  io_elements(shape)               elements the driver regenerates and verifies per call
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

from harness.core.workspace import PACKAGE_DIR

DRIVER_DIR = PACKAGE_DIR / "driver"
BASELINE_DIR = PACKAGE_DIR.parent / "baselines"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rel_err: float
    detail: str = ""


def f32_bound(depth: int) -> float:
    """f32 kernels land near 1e-7 at a small reduction depth and grow about with its square
    root: 1e-5 up to a depth of 4096 (docs/ARCHITECTURE.md, One trial)."""
    return 1e-5 * max(1.0, math.sqrt(depth / 4096))


class Op:
    """Base class of every operator. Subclasses set the class attributes and implement the
    shape/case/input/reference methods; the defaults here cover the shared plumbing."""

    name: str = ""
    dtype: str = "f32"
    symbol: str = ""
    prototype: str = ""                  # the C prototype (without the trailing semicolon)
    doc: str = ""                        # one-line meaning of the ABI (LLM prompts, docs/OPERATORS.md)
    driver_source: Path = DRIVER_DIR / "gemm_driver.c"
    driver_defines: tuple[str, ...] = ()
    header_dir: Path = DRIVER_DIR
    shape_syntax: str = ""
    shape_example: str = ""
    default_shape: str = ""
    prompt_words: tuple[str, ...] = ()   # words that name the op in a prompt
    baselines: dict[str, tuple[str, str | None]] = {}   # name -> (file in baselines/, library: openblas|mkl|None)
    baseline_defines: tuple[str, ...] = ()        # macros defined above a baseline's source (one file, many dtypes)
    seeds_needed: int = 5
    output_bytes_per_element: int = 4
    backend: str = ""                    # "" (the CPU ABI) or the backend whose variant this is ("cuda")

    @property
    def key(self) -> str:
        return f"{self.name}/{self.dtype}"

    @property
    def pair_symbol(self) -> str:
        return self.symbol + "_b"

    def __repr__(self) -> str:
        return f"<op {self.key}{' ' + self.backend if self.backend else ''}>"

    def variant(self, backend: str, *, symbol: str, driver_source: Path, driver_defines: tuple[str, ...] = (),
                error_bound=None) -> "Op":
        """This op as another backend runs it: the same shapes, cases, inputs and float64 reference
        with that backend's ABI symbol and timing driver and, given `error_bound` (the relative
        error bound as a function of the reduction depth), its own bound. A copy; the op is unchanged."""
        v = copy.copy(self)
        v.backend, v.symbol, v.driver_source, v.driver_defines = backend, symbol, driver_source, tuple(driver_defines)
        if error_bound is not None:
            v.rel_error_bound = lambda case: error_bound(v.depth(v.case_shape(case)))
            v.timing_tolerance = lambda case: 3.0 * v.rel_error_bound(case)
        return v

    # ---- shapes ----
    def parse_shape(self, text: str) -> tuple[int, ...]:
        raise NotImplementedError

    def parse_prompt_shape(self, text: str) -> tuple[int, ...] | None:
        try:
            return self.parse_shape(text)
        except ValueError:
            return None

    def shape_text(self, shape) -> str:
        return "x".join(map(str, shape))

    def describe_shape(self, shape) -> str:
        return self.shape_text(shape)

    def flops(self, shape) -> float:
        raise NotImplementedError

    def io_elements(self, shape) -> float:
        """Elements generated, poisoned and verified by the driver per timed call."""
        raise NotImplementedError

    def depth(self, shape) -> int:
        """The reduction length of one output element (the error bound grows with it)."""
        raise NotImplementedError

    # ---- cases, inputs, checks ----
    def check_cases(self, shape, seeds: list[int]) -> list:
        raise NotImplementedError

    def timing_case(self, shape, seed: int):
        raise NotImplementedError

    def sample_case(self, case, seed: int):
        from dataclasses import replace
        return replace(case, seed=seed)

    def case_shape(self, case) -> tuple[int, ...]:
        raise NotImplementedError

    def case_seed(self, case) -> int:
        return case.seed

    def case_arg(self, case) -> str:
        return case.arg()

    def rel_error_bound(self, case) -> float:
        return f32_bound(self.depth(self.case_shape(case)))

    def timing_tolerance(self, case) -> float:
        """The in-driver randomized check estimates the relative Frobenius error from random
        sign projections, so it gets a margin over the gate's bound."""
        return 3.0 * self.rel_error_bound(case)

    def inputs(self, case):
        raise NotImplementedError

    def reference(self, case):
        raise NotImplementedError

    def verify(self, case, raw: bytes) -> Verdict:
        raise NotImplementedError

    def request(self, mode: str, cases: list, **options) -> bytes:
        """The driver's request (its standard input): key=value lines."""
        lines = [f"mode={mode}", *(f"case={self.case_arg(c)}" for c in cases)]
        lines += [f"{k}={v}" for k, v in options.items() if v is not None]
        return ("\n".join(lines) + "\n").encode()

    # ---- baselines, generators ----
    def baseline_path(self, name: str) -> tuple[Path, str | None]:
        """The baseline's C file and the library it links (None: plain C)."""
        if name not in self.baselines:
            raise KeyError(name)
        f, library = self.baselines[name]
        return BASELINE_DIR / f, library

    def llm_task_line(self, shape) -> str:
        return f"Task: {self.name} {self.dtype}, shape {self.describe_shape(shape)}"

    def folder(self, shape) -> str:
        return f"{self.name}_{self.shape_text(shape)}_{self.dtype}"
