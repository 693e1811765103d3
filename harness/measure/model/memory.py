"""The memory side of the cycle model (docs/CYCLE_MODEL.md, "Memory"): each modelled core's cache
hierarchy, latencies and bandwidths in one table with its sources, the QEMU plugin options that make
the plugin simulate that hierarchy (qemu/cache_sim.h), and the one combination of core cycles
(llvm-mca per block, every load an L1 hit) with the memory stalls the simulation counts:

    latency   = (L2 hits x lat_L2 + late) / MLP + far
    far       = (L3 hits x lat_L3 + memory fills x lat_mem) / MLP   (cores without `rob`)
              = max(that, groups ending in L3 x lat_L3 + groups ending in memory x lat_mem)  (with)
                (demand misses of L1; a prefetched line costs bandwidth, and latency only if it
                came late: late = the sum over first loads of prefetched lines of
                max(0, lat_origin - lat_found - d / IPC), d the instructions between the prefetch
                and the load, IPC the core model's instructions per core cycle (its fastest issue
                rate, so the least latency a prefetch can have hidden); lat_found 0 for a line
                found in L1, lat_L2 for one an L2 prefetch brought)
                groups (cores with `rob`): the demand loads that missed beyond L2 overlap in
                groups, which the plugin counts as interval analysis does (a miss joins the group
                of an earlier one if it came within `rob` instructions of the group's first and the
                group has fewer than MLP; qemu/cache_sim.h cs_long_miss); a group lasts as long as
                its slowest member. `long_mlp` in the result = those misses' latencies / far
                cores with a store buffer and `store_mlp`: the stores that miss L1 when they commit
                (the plugin writes a store into L1 `store_buffer` stores after it ran) wait apart:
                latency = max(the loads' above, (their misses x the same latencies) / store_mlp)
    bandwidth = per interface L2->L1, L3->L2, memory->L3 (or L2 on a core without L3):
                lines moved (fills + dirty write-backs) x line size / bytes per cycle
    L1        = load lines / load ports + L1 lines moved x (line / L2->L1 bandwidth - 1 / load ports)
                (cores with `load_ports`: a line filled into or written back from L1 takes the L1's
                port cycles the loads also need; the L2->L1 bandwidth is measured with one load
                per line, so a kernel that loads a line once costs what the bandwidth term says,
                one that loads it in several pieces pays for the pieces)
    L1 stores = store commits x store_commit_cycles + L1 lines moved x the same fill cycles
                (cores with `store_commit_cycles`: stores write L1 after they retire, one line per
                cycle, two stores in one cycle only when both go to one line; the plugin counts
                those cycles, and a line filled into L1 takes the same write cycles)
    cycles    = max(core + exposed x latency, latency, bandwidth..., L1, L1 stores)
                exposed = 1 on an in-order core (a demand miss stalls it: core + latency); on an
                out-of-order core EXPOSED_OOO x the share of the core cycles that the blocks'
                resources alone explain (llvm-mca's block reciprocal throughput / its cycles): a
                miss hides under a dependency chain the core waits on anyway, and shows where the
                core is busy issuing (its fills take the load ports' cycles)

`bound` names the term that decides it: core, latency, the interface whose bandwidth does, L1 or
L1 stores.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

from harness.measure.model.host_latency import host_latency

LINE = 64
# The fraction of L1 demand-miss latency an out-of-order core does not hide when it is busy issuing
# (throughput-bound). Fitted once, on this host and the project's own validation kernels only
# (regtile_nopack and blocked_avx2_nopack, whose B panels miss L1 on every k step, against
# avx2_expert, which packs: 0.48 from both pairs), then checked on the held-out kernels
# (docs/CYCLE_MODEL.md); the same value for every out-of-order core, having no measurement of the
# others.
EXPOSED_OOO = 0.5
# Instructions per cycle at which the plugin times a prefetch as still in flight when it decides
# whether a load that found an L1-only prefetched line was the demand miss it stood in for (the
# `late=` option: the line is then kept in L2 as a demand miss's is). The plugin cannot know the
# core's rate while it runs; the latency charged for a late prefetch uses the core model's own
# rate after the run (late_cycles).
LATE_FILL_IPC = 2


@dataclass(frozen=True)
class Level:
    size: int                  # bytes (the last level: this core's share)
    ways: int
    latency: float             # load-to-use cycles of a hit at this level
    bandwidth: float           # sustained bytes per cycle into the level above (L1: unused)


@dataclass(frozen=True)
class Hierarchy:
    core: str                  # the llvm-mca core model it belongs to
    levels: tuple[Level, ...]  # L1D, L2, [L3 share]
    mem_latency: float         # cycles of a DRAM access
    mem_bandwidth: float       # sustained bytes per cycle of one core from DRAM
    mlp: float                 # demand misses in flight (fill buffers / miss status registers)
    out_of_order: bool         # misses overlap execution (else a demand miss stalls the core)
    source: str
    line: int = LINE
    prefetch: bool = True
    load_ports: int = 0        # L1 load ports sharing their cycles with line fills (0: no L1 term)
    store_buffer: int = 0      # stores between execution and commit (0: a store writes L1 at once)
    store_commit_cycles: float = 0.0   # L1 cycles per store commit (one line per cycle, two stores
                                       # to one line in one; 0: no L1 stores term)
    store_mlp: float = 0.0     # store misses (RFOs) in flight when stores commit in order (0: counted
                               # with the loads' demand misses and `mlp`)
    physical_index: bool = False   # L2 and below indexed by physical address: each 4 KiB page lands
                                   # at a random colour, drawn afresh for every run (the plugin's phys=)
    l1_prefetch_fills_l2: bool = True  # a line the L1 prefetcher brings is also kept in L2 (False: in
                                       # L1 only; dropped by L1 before use, it is fetched again)
    ip_stride_max: int = 0     # bytes: L1 prefetch as a next-line detector plus an IP-stride one that
                               # sees each execution once, up to this stride (0: one detector fed by
                               # every access and piece, any stride within the page)
    stream_depth: int = 4      # lines the L2 streamer keeps ahead of a stream's last request
    stream_per_lookup: int = 4 # new prefetches it issues per request it sees (its lead ramps up)
    rob: int = 0               # instructions in flight (the reorder buffer): misses beyond L2 overlap
                               # only within this reach of each other (0: all by `mlp`)

    def exposed(self, throughput_share: float = 1.0) -> float:
        """The fraction of the demand-miss latency added to the core's cycles."""
        return EXPOSED_OOO * min(1.0, max(0.0, throughput_share)) if self.out_of_order else 1.0

    def plugin_options(self) -> tuple[str, ...]:
        lv = tuple(f"l{i + 1}={lvl.size}:{lvl.ways}" for i, lvl in enumerate(self.levels))
        sb = (f"sb={self.store_buffer}",) if self.store_buffer else ()
        phys = (f"phys={page_colour_key():x}",) if self.physical_index else ()
        l1pf = () if self.l1_prefetch_fills_l2 else ("l1pf=0", "late=" + ":".join(
            str(round(self.origin_latency(i) * LATE_FILL_IPC)) for i in (1, 2, 3)))
        ip = (f"ipstride={self.ip_stride_max}",) if self.ip_stride_max else ()
        stream = (f"stream={self.stream_depth}:{self.stream_per_lookup}",) if (
            self.stream_depth, self.stream_per_lookup) != (4, 4) else ()
        rob = (f"rob={self.rob}:{round(self.mlp)}",) if self.rob else ()
        return (*lv, f"line={self.line}", f"prefetch={int(self.prefetch)}", *sb, *phys, *l1pf, *ip, *stream, *rob)

    def origin_latency(self, i: int) -> float:
        """The load-to-use cycles of a line from the plugin's level i (1: L2, 2: L3; the levels
        present, then memory)."""
        return self.levels[i].latency if i < len(self.levels) else self.mem_latency

    def to_json(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line: each level's size, ways and hit latency, then DRAM's."""
        lv = ", ".join(f"L{i + 1} {x.size // 1024} KiB {x.ways}-way" + (f" {x.latency:g} cycles" if i else "")
                       for i, x in enumerate(self.levels))
        return f"{lv}, DRAM {self.mem_latency:g} cycles"


def page_colour_key() -> int:
    """The key of a run's page colours: fresh per run, so that no kernel can learn, or choose,
    where its pages land; TENSOROP_PAGE_COLOURS=HEX fixes it (the harness's environment, which
    no kernel sets), to compare two kernels under the same colours or to replay a run."""
    fixed = os.environ.get("TENSOROP_PAGE_COLOURS", "").strip()
    if fixed:
        try:
            return int(fixed, 16) | 1
        except ValueError:
            raise ValueError(f"TENSOROP_PAGE_COLOURS={fixed!r} is not a hexadecimal key") from None
    return secrets.randbits(64) | 1


KiB, MiB = 1024, 1024 * 1024

# Per core: sizes and ways from the vendor's manual (or this host's sysfs), latencies and per-core
# bandwidths from the manual where it gives them, else from published measurements (cited).
HIERARCHIES: dict[str, Hierarchy] = {h.core: h for h in (
    Hierarchy("icelake-server",
              (Level(48 * KiB, 12, 5, 0), Level(1280 * KiB, 20, 14, 48), Level(1536 * KiB, 12, 70, 11)),
              mem_latency=300, mem_bandwidth=3.9, mlp=10, out_of_order=True, load_ports=2,
              store_buffer=72, store_mlp=2, store_commit_cycles=1.1, physical_index=True,
              l1_prefetch_fills_l2=False, ip_stride_max=2048, stream_depth=20, stream_per_lookup=2, rob=352,
              source="Intel 64 and IA-32 Architectures Optimization Reference Manual, Ice Lake Server (48 KiB "
                     "12-way L1D, 1.25 MiB 20-way L2, 1.5 MiB of LLC per core; a 352-entry reorder buffer; 64 B/cycle L2->L1 peak; two "
                     "load ports, whose cycles line fills share: 256-bit loads of a 256 KiB array, four rows "
                     "at a time, run 1.5x slower from L2 than from L1 on this host); one "
                     "core's sustained bandwidths as this host class measures them at its 3.5 GHz FMA clock "
                     "(bench-suite's roofline probes: L2 read 180 GB/s = 51 B/cycle, DRAM read 13.8 GB/s = "
                     "3.9 B/cycle; L3 ~38 GB/s = 11 B/cycle, as published single-core Ice Lake SP figures); "
                     "latencies: L2 14, L3 ~70, DRAM ~85 ns; store buffer: 72 entries (the manual's Sunny "
                     "Cove figure); store misses in flight: 2, measured on a Sapphire-Rapids-class host "
                     "(benchmarks/l1_miss_cost.c: a store that misses L1 and finds its line in L2 costs ~8 "
                     "cycles at strides of 1 KiB and more, a load ~3); store commits: 1.1 cycles per line "
                     "written, two stores to one line in one (benchmarks/store_commit.c); physically indexed L2 and L3, and "
                     "an L1 prefetch kept in L1 only: a register tile without packing whose B (1.6 MiB) "
                     "fills 78% of a 2 MiB L2 runs 1.4-2x slower than with B blocked, varying 30% from "
                     "process to process, as random page colours make it (docs/CYCLE_MODEL.md); L1 "
                     "prefetchers after the manual: the DCU next-line one and the IP-stride one, strides "
                     "up to 2 KiB; the L2 streamer after the manual: up to 20 lines ahead, two prefetches "
                     "per L2 lookup"),
    Hierarchy("sapphirerapids",
              (Level(48 * KiB, 12, 5, 0), Level(2 * MiB, 16, 16, 48), Level(1920 * KiB, 15, 80, 20)),
              mem_latency=300, mem_bandwidth=6, mlp=16, out_of_order=True, physical_index=True,
              l1_prefetch_fills_l2=False, ip_stride_max=2048, stream_depth=20, stream_per_lookup=2, rob=512,
              source="Intel Optimization Reference Manual (Sapphire Rapids: 48 KiB L1D, 2 MiB 16-way L2, "
                     "1.875 MiB of LLC per core, 16 fill buffers, a 512-entry reorder buffer)"),
    Hierarchy("sifive-x280",
              (Level(32 * KiB, 8, 3, 0), Level(512 * KiB, 16, 18, 16)),
              mem_latency=200, mem_bandwidth=4, mlp=4, out_of_order=False,
              source="SpacemiT K1 / X60 datasheet (the board the rv64 devices stand for: 32 KiB 8-way L1D, "
                     "512 KiB 16-way L2 per 4-core cluster, no L3, LPDDR4X at 1.6 GHz); SiFive X280 manual "
                     "(an in-order core: few misses in flight)"),
    Hierarchy("cortex-a76",
              (Level(64 * KiB, 4, 4, 0), Level(512 * KiB, 8, 11, 32), Level(2 * MiB, 16, 35, 16)),
              mem_latency=240, mem_bandwidth=4, mlp=8, out_of_order=True, rob=128,
              source="Arm Cortex-A76 TRM (64 KiB 4-way L1D, 512 KiB 8-way L2; 128 instructions in flight); Raspberry Pi 5 BCM2712 "
                     "(2 MiB shared L3, LPDDR4X-4267) at 2.4 GHz"),
    Hierarchy("neoverse-v1",
              (Level(64 * KiB, 4, 4, 0), Level(1 * MiB, 8, 11, 32)),
              mem_latency=300, mem_bandwidth=8, mlp=16, out_of_order=True, rob=256,
              source="Arm Neoverse V1 TRM (64 KiB 4-way L1D, 1 MiB 8-way L2; a 256-entry reorder buffer); AWS Graviton3's 32 MiB SLC is "
                     "0.5 MiB per core, less than L2, so it is left out; DDR5 at 2.6 GHz"),
)}


@lru_cache(maxsize=None)
def _sysfs_level(level: int) -> tuple[int, int] | None:
    """(size, ways) of this host's data/unified cache at `level`, from sysfs (read once per process:
    every emulated trial asks, twice)."""
    for idx in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if int((idx / "level").read_text()) != level or (idx / "type").read_text().strip() == "Instruction":
                continue
            size = (idx / "size").read_text().strip().upper()
            n = int(size.rstrip("KMG")) * {"K": KiB, "M": MiB}.get(size[-1], 1)
            return n, int((idx / "ways_of_associativity").read_text())
        except (OSError, ValueError):
            return None
    return None


def for_device(device) -> Hierarchy | None:
    """The hierarchy a device is modelled with: its core model's row; `memory: host` takes this
    host's cache sizes from sysfs and its L2 and L3 latencies from a pointer chase on it
    (host_latency.py; the validation device, x86-qemu); `memory: none` turns the memory model off
    (core cycles only)."""
    mode = str(getattr(device, "memory", "") or "")
    if mode == "none":
        return None
    h = HIERARCHIES.get(getattr(device, "core_model", "") or "")
    if h is None or mode != "host":
        return h
    levels = list(h.levels)
    for i in range(len(levels)):
        got = _sysfs_level(i + 1)
        if got and got[0] % (LINE * got[1]) == 0:
            levels[i] = replace(levels[i], size=got[0], ways=got[1])
    # the whole last level, as this host's sysfs shows it: on a VM whose cores see all of it,
    # one core's data stays there (what the kernels measure), not in a per-core share
    source = h.source + "; cache sizes from this host's sysfs"
    lat = host_latency(levels[1].size, levels[2].size if len(levels) > 2 else None) if len(levels) > 1 else None
    if lat:
        levels[1] = replace(levels[1], latency=round(lat.l2, 1))
        if lat.l3 and len(levels) > 2:
            levels[2] = replace(levels[2], latency=round(lat.l3, 1))
        source += (f"; L2/L3 latencies measured on this host (latency_probe.c: {lat.l2:.0f} / "
                   f"{lat.l3 or 0:.0f} cycles at {lat.ghz:.2f} GHz)")
    return replace(h, levels=tuple(levels), source=source)


@dataclass(frozen=True)
class MemoryCost:
    cycles: float              # the combined modelled cycles per call
    core_cycles: float
    memory_cycles: float       # cycles - core_cycles
    latency_cycles: float
    bandwidth_cycles: dict     # interface -> cycles
    bound: str                 # core | latency | "L2->L1" | "L3->L2" | "memory"
    misses: dict               # per call: L1 demand misses served by L2 / L3 / memory, fills per level

    def to_json(self) -> dict:
        return asdict(self)


def late_bucket_start(b: int) -> int:
    """The fewest instructions between a prefetch and its first use in the plugin's `late` bucket b
    (qemu/cache_sim.h cs_used: exact below 8, then 8 buckets per power of two)."""
    if b < 8:
        return b
    octave, sub = divmod(b - 8, 8)
    return (8 + sub) << octave


def late_cycles(mem: dict, h: Hierarchy, ipc: float) -> tuple[float, list[float]]:
    """The latency that prefetches left unhidden (totals over the record's calls): each first load
    of a prefetched line waits for what of its origin's latency has not elapsed, at `ipc`
    instructions per cycle, since the prefetch. Returns (cycles, late uses by origin L2/L3/memory)."""
    lat = [h.origin_latency(i) for i in range(1, len(h.levels) + 1)]   # origin 1.. (cs_n = memory)
    found_at = [0.0, h.levels[1].latency if len(h.levels) > 1 else 0.0]
    total, late = 0.0, [0.0, 0.0, 0.0]
    for at, src, b, n in mem.get("late") or ():
        src = min(int(src), len(lat))
        wait = lat[src - 1] - found_at[int(at)] - late_bucket_start(int(b)) / ipc
        if wait > 0:
            total += n * wait
            late[src - 1 if src < len(lat) else 2] += n
    return total, late


def combine(core_cycles: float, mem: dict, regions: int, h: Hierarchy, throughput_share: float = 1.0,
            insns_per_call: float = 0.0) -> MemoryCost:
    """Core cycles per call plus the memory stalls of the plugin's counts (its record's `mem`,
    totals over `regions` calls): the formula of the module docstring. throughput_share: the
    share of the core cycles the blocks' resources explain (ModelResult.throughput_share);
    insns_per_call: the instructions of one call (with core_cycles, the issue rate late prefetches
    are timed at; 0: prefetches are never late)."""
    r = max(1, regions)
    demand = [x / r for x in mem.get("demand", [0, 0, 0])]
    fill = [x / r for x in mem.get("fill", [0, 0, 0])]
    wb = [x / r for x in mem.get("wb", [0, 0, 0])]
    lv = h.levels
    lat_by_source = [lv[1].latency if len(lv) > 1 else h.mem_latency,
                     lv[2].latency if len(lv) > 2 else h.mem_latency, h.mem_latency]
    late, late_uses = late_cycles(mem, h, insns_per_call / core_cycles) if insns_per_call > 0 and core_cycles > 0 else (0.0, [0.0] * 3)
    far_each = sum(d * lat for d, lat in zip(demand[1:], lat_by_source[1:]))
    far = far_each / h.mlp
    long = mem.get("long") or ()
    if h.rob and len(long) == 3:
        far = max(far, (long[1] * lat_by_source[1] + long[2] * lat_by_source[2]) / r)
    mlp_long = far_each / far if far > 0 else h.mlp
    latency = (demand[0] * lat_by_source[0] + late / r) / h.mlp + far
    store_demand = [x / r for x in mem.get("store_demand", [0, 0, 0])]
    if h.store_mlp:
        # stores that miss when they commit wait in order, few at a time, beside the loads' misses
        latency = max(latency, sum(d * lat for d, lat in zip(store_demand, lat_by_source)) / h.store_mlp)
    else:
        latency += sum(d * lat for d, lat in zip(store_demand, lat_by_source)) / h.mlp
    line = int(mem.get("line") or h.line)
    bw = {}
    names = ["L2->L1", "L3->L2"]
    for i in range(len(lv)):
        moved = (fill[i] + wb[i]) * line
        if i + 1 < len(lv):
            bw[names[i]] = moved / lv[i + 1].bandwidth
    last = len(lv) - 1
    bw["memory"] = (fill[last] + wb[last]) * line / h.mem_bandwidth
    if h.load_ports and len(lv) > 1 and "load_lines" in mem:
        fill_cycles = max(0.0, line / lv[1].bandwidth - 1 / h.load_ports)
        bw["L1"] = mem["load_lines"] / r / h.load_ports + (fill[0] + wb[0]) * fill_cycles
        if h.store_commit_cycles and "store_commits" in mem:
            bw["L1 stores"] = mem["store_commits"] / r * h.store_commit_cycles + (fill[0] + wb[0]) * fill_cycles
    exposed = h.exposed(throughput_share)
    stalled = core_cycles + exposed * latency
    terms = {"core": stalled, "latency": latency, **bw}
    cycles = max(terms.values())
    bound = max(terms, key=terms.get)
    if bound == "core" and exposed * latency > core_cycles:
        bound = "latency"         # the stalls, not the core's own work, are most of it
    misses = {"l1_to_l2": demand[0], "l1_to_l3": demand[1], "l1_to_memory": demand[2],
              "store_misses": store_demand, "late_prefetches": [x / r for x in late_uses],
              "late_prefetch_cycles": late / r, "long_mlp": mlp_long,
              "fills": fill[:len(lv)], "writebacks": wb[:len(lv)],
              "accesses": (mem.get("loads", 0) + mem.get("stores", 0)) / r}
    return MemoryCost(cycles, core_cycles, cycles - core_cycles, latency,
                      {k: round(v, 1) for k, v in bw.items()}, bound, misses)
