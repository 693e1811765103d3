"""The parameter space: safe constraint evaluator, constraint filter, lazy sampling and size,
neighbour moves and the paper-form move parser, hardware-derived constraints."""
import random
import time

import pytest

from harness.generate.templates.cpu_gemm import SETS
from harness.core.space import ParamSpace, SpaceError, hardware_constraints, safe_eval

CTX = {"vregs": 32, "lanes": 16, "l1d": 49152, "l2": 2097152}


def test_safe_evaluator_whitelist():
    assert safe_eval("MR * NV + NV + 1 <= vregs", {"MR": 6, "NV": 4, "vregs": 32}) is True
    assert safe_eval("max(MR, 2) if MR % 2 == 0 else -1", {"MR": 4}) == 4
    assert safe_eval("1 < MR <= 8 and not NV == 3", {"MR": 4, "NV": 2}) is True
    for bad in ("__import__('os').system('true')", "MR.__class__", "[x for x in ()]", "open('f')",
                "lambda: 1", "(1).real", "MR[0]", "print(1)"):
        with pytest.raises(SpaceError):
            ParamSpace({"MR": [1]}, [bad])
    with pytest.raises(SpaceError):
        ParamSpace({"MR": [1]}, ["MR +"])        # syntax


def test_constraint_filter_and_unsafe_values_are_invalid_not_errors():
    sp = ParamSpace({"MR": [2, 4, 8], "NV": [0, 1, 2]}, ["MR * NV <= 8", "16 // NV >= 8", "2 ** (MR * 100) > 0"])
    pts = list(sp.points())
    # NV=0 divides by zero, MR*100 exponent too large: both make the point invalid
    assert pts == []
    sp = ParamSpace({"MR": [2, 4, 8], "NV": [0, 1, 2]}, ["MR * NV <= 8", "16 // NV >= 8", "MR <= vregs"])
    assert list(sp.points({"vregs": 4})) == [{"MR": 2, "NV": 1}, {"MR": 2, "NV": 2}, {"MR": 4, "NV": 1},
                                             {"MR": 4, "NV": 2}]
    assert not sp.valid({"MR": 2, "NV": 1})            # vregs unknown: invalid
    assert any("unknown name vregs" in v for v in sp.violations({"MR": 2, "NV": 1}))
    assert sp.violations({"MR": 3, "NV": 1}, {"vregs": 4})[0].startswith("MR=3 not in")


def test_lazy_sampling_and_size_of_a_huge_space():
    params = {f"P{i}": list(range(10)) for i in range(12)}          # 10**12 combinations
    sp = ParamSpace(params, ["P0 + P1 <= 9", "P2 % 2 == 0"])
    t0 = time.monotonic()
    pts = list(sp.sample(rng=random.Random(1), n=50))
    assert len(pts) == 50 and all(sp.valid(p) for p in pts)
    size = sp.size(samples=2000)
    assert time.monotonic() - t0 < 5
    assert not size.exact and size.product == 10 ** 12
    assert 0.2e12 < size.valid < 0.35e12                              # 0.55 * 0.5 of the product
    assert "estimated" in size.describe()
    # an impossible space stops after the cap instead of spinning
    empty = ParamSpace({"A": [1, 2]}, ["A > 5"])
    assert list(empty.sample(rng=random.Random(0), max_tries=100)) == []
    # small spaces are counted exactly
    small = SETS["avx512"].space.fixed({"ORDER": 0})          # 123,200 combinations
    s = small.size(CTX)
    assert s.exact and s.valid == sum(1 for _ in small.points(CTX))


def test_neighbours_and_moves():
    sp = ParamSpace({"MR": [4, 8, 12, 16], "KC": [128, 192, 256, 384], "NV": [1, 2]}, ["MR * NV <= 16"],
                    {"MR": 8, "KC": 256, "NV": 2})
    p = {"MR": 8, "KC": 256, "NV": 2}
    texts = {m.text for m in sp.neighbours(p)}
    assert {"MR 8 -> 4", "KC+128", "KC-64", "NV 2 -> 1"} <= texts
    assert "MR 8 -> 12" not in texts                                  # 12 * 2 > 16
    assert all(sp.valid(m.apply(p)) for m in sp.neighbours(p))
    mv, why = sp.parse_move("KC+128", p)
    assert mv.apply(p)["KC"] == 384 and not why
    mv, why = sp.parse_move("MR 8 -> 4, NV 2 -> 1", p)
    assert mv.apply(p) == {"MR": 4, "KC": 256, "NV": 1}
    assert sp.parse_move("KC+32", p)[1].endswith("is not in its domain [128, 192, 256, 384]")
    assert "violates MR * NV <= 16" in sp.parse_move("MR 8 -> 16", p)[1]
    assert "is 8 here, not 12" in sp.parse_move("MR 12 -> 16", p)[1]
    assert "unknown parameter BN" in sp.parse_move("BN+32", p)[1]
    assert "not a move" in sp.parse_move("make it faster", p)[1]


def test_hardware_constraints():
    cons = hardware_constraints(["MR", "NV", "LMUL", "KC", "MC"], CTX)
    assert cons == ["MR * NV * LMUL <= vregs", "KC * NV * LMUL * lanes * 4 <= 2 * l1d", "MC * KC * 4 <= 1 * l2"]
    assert hardware_constraints(["MR", "NV"], {}) == []
    for name, ps in SETS.items():          # the expert's seeds stay valid under the derived constraints
        ctx = {"vregs": ps.vregs, "lanes": ps.lanes, "l1d": 32768, "l2": 1 << 20}
        hw = ps.space.with_hardware(ctx)
        assert hw.valid(ps.seeds[0], ctx), (name, hw.violations(ps.seeds[0], ctx))
    sp = ParamSpace({"MR": [4, 8, 16], "NV": [1, 2, 4]}).with_hardware({"vregs": 16, "lanes": 4})
    assert {(p["MR"], p["NV"]) for p in sp.points({"vregs": 16, "lanes": 4})} == \
        {(4, 1), (4, 2), (4, 4), (8, 1), (8, 2), (16, 1)}
