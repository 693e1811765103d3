"""The kernels of two git commits measured together (`tensorop compare --base-ref R --head-ref R`):
each kernel file's source at both refs (git show), both built and verified in one campaign, and
each pair compared by the one objective (measure/compare.py through Campaign.compare): paired,
interleaved time on real devices, modelled cycles on emulated ones. A file unchanged between the
refs is not measured (its row says so); a file present at one ref only is `new` or `gone`."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.campaign.regression import Row, Thresholds, judge
from harness.campaign.scheduler import Campaign, Job
from harness.core.records import Kernel, Status, Trial
from harness.ops import Op


class RefError(Exception):
    """A ref or a kernel path git cannot resolve: bad input (exit status 2)."""


@dataclass(frozen=True)
class Side:
    ref: str
    commit: str


def resolve(repo: Path, ref: str) -> Side:
    p = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RefError(f"{ref!r} is not a commit of the git repository at {repo}")
    return Side(ref, p.stdout.strip())


def repo_of(path: Path) -> tuple[Path, str]:
    """The work tree holding `path` and the path relative to it."""
    folder = path.resolve().parent
    p = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if p.returncode != 0:
        raise RefError(f"{path} is not in a git repository (--base-ref/--head-ref read kernels from git)")
    top = Path(p.stdout.strip())
    return top, str(path.resolve().relative_to(top))


def source_at(repo: Path, side: Side, rel: str) -> bytes | None:
    """The file's bytes at the commit, or None when the commit has no such file."""
    p = subprocess.run(["git", "-C", str(repo), "show", f"{side.commit}:{rel}"], capture_output=True)
    return p.stdout if p.returncode == 0 else None


def compare_refs(c: Campaign, paths: list[Path], base_ref: str, head_ref: str, devices: list[str],
                 shapes: dict[str, list[tuple[int, ...]]], op: Op, thresholds: Thresholds = Thresholds(),
                 target: float = 0.02, budget_s: float = 60.0) -> list[Row]:
    """Rows for every kernel file x device x shape. Raises RefError for a ref or file git cannot
    resolve at either side."""
    pairs = []
    for path in paths:
        repo, rel = repo_of(path)
        base, head = resolve(repo, base_ref), resolve(repo, head_ref)
        sb, sh = source_at(repo, base, rel), source_at(repo, head, rel)
        if sb is None and sh is None:
            raise RefError(f"{rel} exists at neither {base_ref} nor {head_ref}")
        name = path.name
        kb = Kernel(label=name, source=sb, name=name, path=path.resolve(), commit=base.commit) if sb is not None else None
        kh = Kernel(label=name, source=sh, name=name, path=path.resolve(), commit=head.commit) if sh is not None else None
        pairs.append((kb, kh, base, head))
    jobs = []
    for kb, kh, _, _ in pairs:
        for d in devices:
            for s in shapes[d]:
                for k in (kb, kh):
                    if k is not None and not (k is kb and kh is not None and kb.hash == kh.hash):
                        jobs.append(Job(k, d, s, op))
    trials = c.run(jobs)
    found: dict[tuple, Trial] = {}
    for j, t in zip(jobs, trials):
        found[(j.kernel.hash, j.device, tuple(j.shape))] = t
    rows = []
    for kb, kh, base, head in pairs:
        for d in devices:
            for s in shapes[d]:
                tb = found.get((kb.hash, d, tuple(s))) if kb else None
                th = found.get((kh.hash, d, tuple(s))) if kh else None
                if kb is not None and kh is not None and kb.hash == kh.hash:   # one trial stands for both
                    t = found.get((kh.hash, d, tuple(s)))
                    row = judge(t, t, thresholds)
                    row.verdict, row.change = "same", None
                    row.note = f"unchanged between {base_ref} and {head_ref} (not compared)" + \
                        ("" if t.status is Status.OK else f"; {t.status.value}")
                    rows.append(row)
                    continue
                paired, why = None, ""
                if tb is not None and th is not None and tb.status is Status.OK and th.status is Status.OK:
                    run = c.compare(d, kh, kb, s, op, trials=(th, tb), target=target, budget_s=budget_s)
                    paired = run.ratio
                    if paired is None:
                        why = f"the paired run gave no ratio ({run.status.value}: {run.error})"
                row = judge(tb, th, thresholds, paired=paired)
                if why:
                    row.note = why
                row.note = (row.note + "; " if row.note else "") + f"{base_ref}={base.commit[:10]}, " \
                                                                   f"{head_ref}={head.commit[:10]}"
                rows.append(row)
    return rows

