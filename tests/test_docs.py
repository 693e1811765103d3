"""The documentation stays true to the tree (issue 18): README.md is a short front door, docs/*.md
hold the rest, and neither may go stale or point outside the repository.

- every module under harness/ has its line in docs/ARCHITECTURE.md's Layout block, and every path
  listed there exists (so a re-layering cannot leave the layout behind);
- README.md and docs/*.md name no path outside the repository ("../", absolute links) and no
  design card but docs/ARCHITECTURE.md;
- every relative Markdown link resolves to a file (and a heading, when it names one);
- every repository path the docs name in the text (harness/..., scripts/..., kernels/..., ...) exists,
  and every dotted `harness.x.y` name starts with a real module;
- README.md stays short.

Pure Python over the files: no subprocess, no kernels.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
ARCHITECTURE = DOCS / "ARCHITECTURE.md"
README_MAX_LINES = 250

# the top-level folders whose paths the docs may name in the text and that must exist
CHECKED_ROOTS = ("harness", "scripts", "benchmarks", "kernels", "baselines", "qemu", "tests", "toolchains")
PATH_RE = re.compile(r"(?<![\w./-])((?:%s)/[\w./<>*{}-]*)" % "|".join(CHECKED_ROOTS))
DOTTED_RE = re.compile(r"(?<![\w./-])(harness(?:\.\w+)+)")
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE_RE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)
INLINE_CODE_RE = re.compile(r"`[^`\n]*`")
PARENT_RE = re.compile(r"(?<![.\w])\.\./")                 # "../", not an ellipsis ("cuda-.../driver")


def doc_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def layout_lines() -> list[str]:
    """The `harness/...` lines of the fenced blocks in ARCHITECTURE.md's "## Layout" section."""
    text = ARCHITECTURE.read_text()
    section = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, ("docs/ARCHITECTURE.md has no '## Layout' section: add it back, with a fenced block of "
                     "lines 'harness/<path>  <description>' for every package and module under harness/")
    lines = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", section.group(1), re.S | re.M):
        lines += [line for line in block.splitlines() if line.startswith("harness/")]
    assert lines, "docs/ARCHITECTURE.md's Layout section lists no 'harness/...' lines in a fenced block"
    return lines


def layout_paths() -> list[str]:
    paths = []
    for line in layout_lines():
        m = re.match(r"(harness/\S*)\s{2,}\S", line)
        assert m, (f"docs/ARCHITECTURE.md Layout line {line!r} must read 'harness/<path>  <description>' "
                   "(the path, two or more spaces, then what lives there)")
        paths.append(m.group(1))
    return paths


def python_modules() -> set[str]:
    return {rel(p) for p in (REPO / "harness").rglob("*.py") if "__pycache__" not in p.parts}


def packages() -> set[str]:
    return {rel(p.parent) + "/" for p in (REPO / "harness").rglob("__init__.py") if "__pycache__" not in p.parts
            and p.parent != REPO / "harness"}


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code (where brackets are not links)."""
    return INLINE_CODE_RE.sub("", FENCE_RE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE_RE.sub("", path.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M)}


# ---- the layout ----------------------------------------------------------------------------------

def test_layout_lists_every_module():
    listed = set(layout_paths())
    missing = sorted(python_modules() - listed)
    assert not missing, ("modules missing from the Layout block of docs/ARCHITECTURE.md (add one line each, "
                         "'harness/<path>  <what lives there>', from the module's docstring): " + ", ".join(missing))


def test_layout_lists_every_package_folder():
    listed = set(layout_paths())
    missing = sorted(packages() - listed)
    assert not missing, ("package folders missing from the Layout block of docs/ARCHITECTURE.md (add a line "
                         "'harness/<folder>/  <what the package is>'): " + ", ".join(missing))


def test_layout_paths_exist():
    stale = []
    for p in layout_paths():
        target = REPO / p
        if not (target.is_dir() if p.endswith("/") else target.is_file()):
            stale.append(p)
    assert not stale, ("the Layout block of docs/ARCHITECTURE.md lists paths that do not exist (moved or "
                       "removed: fix or drop their lines; folders end with '/'): " + ", ".join(stale))


def test_layout_has_no_duplicates():
    paths = layout_paths()
    dups = sorted({p for p in paths if paths.count(p) > 1})
    assert not dups, "docs/ARCHITECTURE.md's Layout block lists these paths twice (keep one line each): " + ", ".join(dups)


# ---- nothing outside the repository ---------------------------------------------------------------

@pytest.mark.parametrize("doc", doc_files(), ids=rel)
def test_no_path_outside_the_repository(doc):
    text = doc.read_text()
    bad = [f"line {n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if PARENT_RE.search(line)]
    assert not bad, (f"{rel(doc)} points outside the repository with '../' (name repository files by their path "
                     "from the repository root, and copy what is needed into docs/): " + "; ".join(bad))
    absolute = [t for t in LINK_RE.findall(prose(text)) if t.startswith(("/", "file:"))]
    assert not absolute, f"{rel(doc)} links to absolute paths (use repository-relative links): {absolute}"
    assert "DESIGN.md" not in text, (f"{rel(doc)} names DESIGN.md, which is not in the repository: the design "
                                     "notes the repository carries are docs/ARCHITECTURE.md (link that instead)")


# ---- links and paths resolve ----------------------------------------------------------------------

@pytest.mark.parametrize("doc", doc_files(), ids=rel)
def test_relative_links_resolve(doc):
    broken = []
    for target in LINK_RE.findall(prose(doc.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):          # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target} (no heading '#{anchor}' in {rel(path)})")
    assert not broken, f"{rel(doc)} has broken links (fix the path or the heading it names): " + ", ".join(broken)


@pytest.mark.parametrize("doc", doc_files(), ids=rel)
def test_named_repository_paths_exist(doc):
    missing = []
    for raw in PATH_RE.findall(doc.read_text()):
        path = raw.rstrip(".,;:")
        if any(ch in path for ch in "<>*{}") or "..." in path:
            continue                                         # a pattern (harness/ops/<op>.py, kernels/cuda/*.cu)
        if not (REPO / path).exists():
            missing.append(path)
    assert not missing, (f"{rel(doc)} names repository paths that do not exist (after a move, write the new "
                         "home; check with `git ls-files`): " + ", ".join(sorted(set(missing))))


@pytest.mark.parametrize("doc", doc_files(), ids=rel)
def test_dotted_module_names_exist(doc):
    missing = []
    for name in set(DOTTED_RE.findall(doc.read_text())):
        parts = name.split(".")
        # the longest prefix of at least two parts that is a module or package
        found = any((REPO.joinpath(*parts[:i]).with_suffix(".py")).is_file()
                    or (REPO.joinpath(*parts[:i]) / "__init__.py").is_file()
                    for i in range(2, len(parts) + 1))
        if not found:
            missing.append(name)
    assert not missing, (f"{rel(doc)} names harness modules that do not exist (write the module's new "
                         "dotted path or its file path): " + ", ".join(sorted(missing)))


# ---- the front door ---------------------------------------------------------------------------------

def test_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n <= README_MAX_LINES, (f"README.md has {n} lines (at most {README_MAX_LINES}): it is the five-minute "
                                   "front door; move details into docs/ (USAGE, DEVICES, OPERATORS, CUDA, "
                                   "CYCLE_MODEL, THREAT_MODEL, ARCHITECTURE) and link them")


def test_readme_links_every_doc():
    text = README.read_text()
    unlinked = [rel(d) for d in sorted(DOCS.glob("*.md")) if f"]({rel(d)}" not in text]
    assert not unlinked, "README.md's Documentation list does not link: " + ", ".join(unlinked) + " (add a line each)"
