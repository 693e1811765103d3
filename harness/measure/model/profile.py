"""The block profile the QEMU plugin writes (`blocks=FD`, see qemu/tensorop_plugin.c).

    # tensorop-blocks v1 arch=riscv64 regions=1 insns=14290 edges=1 fwd=1
    <vaddr-hex> <vstate> <count> <n-insns> <insn-bytes-hex>
    e <from-vaddr-hex> <from-vstate> <to-vaddr-hex> <to-vstate> <count>
    f <vaddr-hex> <loads>
    n <vaddr-hex> <loads>
    o <vaddr-hex> <count>

One line per (translation block, vector state at block entry) executed inside the counted
regions; counts are summed over all regions. `e` lines: which block ran next, how often; `f`:
the block's loads that read what one of the last 128 stores wrote (a dependency through memory;
recorded only when the header says fwd=1); `n`: those whose store ran at most 64 instructions
before (a tight recurrence through memory); `o`: successor edges the plugin did not keep. Pure
parsing, no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class Block:
    vaddr: int
    vstate: str          # RVV "e32m8", "e32mf2", "unknown", "none"; "-" elsewhere
    count: int           # executions, all regions
    n_insns: int
    code: bytes          # the instruction bytes

    @property
    def insns(self) -> int:
        return self.count * self.n_insns


Node = tuple[int, str]        # (vaddr, vstate): a block as the edges name it


@dataclass(frozen=True)
class Profile:
    arch: str
    regions: int | None       # from the header; None if absent
    insns: int | None
    blocks: tuple[Block, ...]
    edges: dict[tuple[Node, Node], int] = field(default_factory=dict)   # (from, to) -> count
    forwarded: dict[int, int] = field(default_factory=dict)             # vaddr -> loads fed by a recent store
    forwarded_near: dict[int, int] = field(default_factory=dict)        # ... by a store a few instructions before
    dropped_edges: dict[int, int] = field(default_factory=dict)         # vaddr -> edges not kept
    has_edges: bool = False          # the plugin recorded edges (header edges=1)
    has_forwarding: bool = False     # ... and watched stores (header fwd=1)

    @property
    def block_insns(self) -> int:
        return sum(b.insns for b in self.blocks)


def parse_blocks(data: str | bytes) -> Profile:
    """Parse a blocks file; identical (code, vstate) blocks translated more than once (QEMU
    may retranslate) are merged. Raises ProfileError on malformed input."""
    text = data.decode("ascii", errors="replace") if isinstance(data, (bytes, bytearray)) else data
    arch, regions, insns = "", None, None
    has_edges = has_fwd = False
    merged: dict[tuple[int, str, bytes], list] = {}
    edges: dict[tuple[Node, Node], int] = {}
    forwarded: dict[int, int] = {}
    near: dict[int, int] = {}
    dropped: dict[int, int] = {}
    for no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            for tok in line[1:].split():
                k, _, v = tok.partition("=")
                if k == "arch":
                    arch = v
                elif k == "regions" and v.isdigit():
                    regions = int(v)
                elif k == "insns" and v.isdigit():
                    insns = int(v)
                elif k == "edges":
                    has_edges = v == "1"
                elif k == "fwd":
                    has_fwd = v == "1"
            continue
        parts = line.split()
        if parts[0] in ("e", "f", "n", "o"):
            try:
                if parts[0] == "e" and len(parts) == 6:
                    key = ((int(parts[1], 16), parts[2]), (int(parts[3], 16), parts[4]))
                    edges[key] = edges.get(key, 0) + int(parts[5])
                elif parts[0] in ("f", "n", "o") and len(parts) == 3:
                    d = {"f": forwarded, "n": near, "o": dropped}[parts[0]]
                    d[int(parts[1], 16)] = d.get(int(parts[1], 16), 0) + int(parts[2])
                else:
                    raise ProfileError(f"blocks line {no}: a malformed {parts[0]!r} line")
            except ValueError as e:
                raise ProfileError(f"blocks line {no}: {e}") from None
            continue
        if len(parts) != 5:
            raise ProfileError(f"blocks line {no}: expected 5 fields, got {len(parts)}")
        try:
            vaddr, count, n = int(parts[0], 16), int(parts[2]), int(parts[3])
            code = bytes.fromhex(parts[4])
        except ValueError as e:
            raise ProfileError(f"blocks line {no}: {e}") from None
        key = (vaddr, parts[1], code)
        if key in merged:
            merged[key][0] += count
        else:
            merged[key] = [count, n]
    blocks = tuple(Block(k[0], k[1], c, n, k[2]) for k, (c, n) in merged.items())
    blocks = tuple(sorted(blocks, key=lambda b: (-b.insns, b.vaddr, b.vstate)))
    return Profile(arch=arch, regions=regions, insns=insns, blocks=blocks, edges=edges, forwarded=forwarded, forwarded_near=near,
                   dropped_edges=dropped, has_edges=has_edges, has_forwarding=has_fwd and has_edges)


def check_profile(prof: Profile, record: dict) -> str:
    """'' when the block profile agrees with the plugin's record (its regions and its instruction
    count, which the plugin counts apart from the profile); else why not."""
    regions, insns = int(record.get("regions") or 0), int(record.get("insns") or 0)
    if prof.regions is not None and prof.regions != regions:
        return f"the block profile has {prof.regions} regions, the plugin's record {regions}"
    if prof.insns is not None and prof.insns != insns:
        return f"the block profile's header counts {prof.insns} instructions, the plugin's record {insns}"
    if prof.block_insns != insns:
        return f"the block profile's blocks hold {prof.block_insns} executed instructions, the plugin counted {insns}"
    return ""


def check_code(prof: Profile, exe_segments: list[tuple[int, bytes]]) -> str:
    """'' when every block that lies in the program's own executable segments (`exe_segments`:
    (address, bytes) of each, from the linked file) holds exactly the bytes at that address in
    the file; else the first block that does not. Blocks elsewhere (shared libraries) are the
    plugin's to report."""
    for b in prof.blocks:
        for start, data in exe_segments:
            if start <= b.vaddr < start + len(data):
                off = b.vaddr - start
                if data[off:off + len(b.code)] != b.code:
                    return (f"the block at {b.vaddr:#x} does not hold the program's bytes at that address "
                            "(the profile does not describe the code that ran)")
                break
    return ""
