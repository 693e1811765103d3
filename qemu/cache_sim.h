/* tensorop QEMU plugin: the memory hierarchy of a modelled core (docs/CYCLE_MODEL.md, "Memory").
 *
 * A trace-driven simulation of set-associative, write-back, write-allocate caches with LRU
 * replacement (the design of QEMU's contrib/plugins/cache.c and of the textbook simulators:
 * per-set tags with use stamps), up to three levels (L1D, L2, the last level's share), fed by the
 * guest's data accesses (virtual addresses: a user-mode process has no other; with phys=, L2 and
 * below place each page at a random colour, as physical indexing does). Fills go into every level
 * on the way (mostly inclusive; with l1pf=0 not an L1 prefetch's); a dirty line evicted from a
 * level is written to the next.
 *
 * Two hardware prefetchers, as the modelled cores have (simplified after Intel's L1 IP-stride
 * prefetcher and L2 streamer, which Arm's and SiFive's cores resemble; both stay in a 4 KiB page):
 *   - stride (L1): per instruction address, a constant stride seen twice in a row prefetches the
 *     line one stride ahead into L1. It learns from QEMU's accesses: a wide or per-element vector
 *     access arrives in pieces 8 or 4 bytes apart, which train it like a stride, so a vector that
 *     ends at a line's end also fetches the next line (what Intel's L1 next-line prefetcher does
 *     for such streams). With ipstride=BYTES (the x86 rows) it is two detectors instead, as
 *     Intel's cores have: that one as a next-line prefetcher (pieces and accesses less than a
 *     line apart) and an IP-stride one that sees each execution once, strides up to BYTES
 *     (cs_stride);
 *   - stream (L2): a demand miss adjacent (within 2 lines) to the previous miss in the same page,
 *     twice in a row, prefetches the lines ahead in that direction into L2: up to DEPTH lines ahead
 *     of the request, at most PER_LOOKUP new ones per request (stream=DEPTH:PER_LOOKUP; default
 *     4:4, Intel's rows 20:2, after its optimisation manual).
 * With rob=INSNS:MLP (out-of-order cores) the loads that miss beyond L2 are also grouped as they
 * would overlap in the core (cs_long_miss). A prefetched line is counted as traffic between the levels (bandwidth). Its latency is hidden only
 * if it arrived in time: each prefetched line carries the instruction clock of its prefetch and the
 * level it came from, and the first demand load that finds it records how many instructions later
 * it came (`late`: a histogram per level found at and level of origin). The harness charges each
 * such use the part of the origin's latency not yet elapsed at the core's issue rate
 * (harness/measure/model/memory.py), so a prefetch triggered a few instructions before its use
 * costs what a demand miss would.
 *
 * Counted only while `counting` (inside the profiled region); the simulation itself runs from the
 * start of the program, so the region starts with the caches as the driver's input generation left
 * them (the data of a small problem warm, as in a repeated timed call), its stores committed. */
#ifndef TENSOROP_CACHE_SIM_H
#define TENSOROP_CACHE_SIM_H

#include <stdint.h>
#include <stdlib.h>

#define CS_LEVELS 3
#define PF_DEPTH 4
#define PF_STRIDE_ENTRIES 256
#define PF_STREAMS 16
#define CS_PAGE_SHIFT 12
#define CS_SB_MAX 512
/* late uses of prefetched lines: buckets of instructions between prefetch and first use, exact
 * below 8, then 8 per power of two up to 2^CS_LATE_LOG2 (a use later than that is never late) */
#define CS_LATE_LOG2 13
#define CS_LATE_BUCKETS (8 + 8 * (CS_LATE_LOG2 - 3))

struct cs_level {
    uint64_t size;               /* bytes; 0 = level absent */
    uint32_t ways, sets;
    uint64_t *tag;               /* line number + 1; 0 = invalid */
    uint64_t *stamp;
    uint8_t *dirty;
};

struct cs_stats {
    uint64_t loads, stores;      /* accesses (one per line touched) in the region */
    uint64_t load_lines;         /* loads as the L1's load ports see them: one per executed load
                                  * instruction and line it touches (QEMU's pieces of one wide or
                                  * per-element access to a line count once) */
    uint64_t fill[CS_LEVELS];    /* lines filled into level i (demand and prefetch) */
    uint64_t wb[CS_LEVELS];      /* dirty lines written back out of level i */
    uint64_t demand[CS_LEVELS + 1]; /* L1 demand misses served by L2 [1], L3 [2], memory [3] (loads,
                                  * and stores when they commit at once) */
    uint64_t store_demand[CS_LEVELS + 1]; /* with a store buffer: stores whose line was not in L1 when
                                  * they committed (an RFO), by the level that served them */
    uint64_t store_commits;      /* the L1's cycles of writing stores: one per store (QEMU's pieces
                                  * of one wide store count once) and line, two in one cycle when
                                  * two stores in a row go to the same line (Intel's cores since
                                  * Ice Lake commit two stores per cycle only to one line) */
    uint64_t late[2][CS_LEVELS + 1][CS_LATE_BUCKETS]; /* first demand loads of prefetched lines, by
                                  * the level they found it in (L1, L2), the level the prefetch
                                  * brought it from, and the instructions between the two */
    uint64_t long_misses;        /* with rob=: demand loads served beyond L2 (L3 or memory) ... */
    uint64_t long_groups[2];     /* ... and the groups they overlap in (cs_long_miss), by the slowest
                                  * level a member went to: [0] L3, [1] memory */
    uint64_t pf_issued;          /* prefetches that brought a line into a cache */
    uint64_t pf_l1_only;         /* of those, L1 prefetches (l1pf=0) of a line from beyond L2, which
                                  * crossed L2 without being kept there */
};

static struct cs_level cs_lv[CS_LEVELS];
static int cs_n;                 /* levels present */
static unsigned cs_line_shift = 6;
static int cs_prefetch = 1;
static uint64_t cs_clock;
static struct cs_stats cs_st;
static int cs_counting_ref;      /* set by the plugin: count into cs_st */
static uint64_t cs_now;          /* set by the plugin: the instruction clock of the current access */
/* per L1 and L2 way: (cs_now << 2 | level of origin) of the prefetch that brought the line, 0 once
 * a demand access has used it or for a line a demand access brought */
static uint64_t *cs_pfm[2];
static uint64_t cs_idx;          /* the way index cs_access_level found or filled last */
static uint64_t cs_hit_idx;      /* the way index cs_fetch found its line at */

/* The store buffer (sb=N): an out-of-order core executes a store (its address trains the
 * prefetchers) but writes it into L1 only when it commits, after it retires, in program order;
 * while the core waits on misses, loads run ahead of the commits by up to the buffer's N stores.
 * A line a load brought in can be gone again by the time the store to it commits (a column walk
 * that reads and writes C[i][j]), and the store misses on its own. N = 0: stores write at once. */
struct cs_pending { uint64_t pc, instance, first, last; };
static struct cs_pending cs_sb[CS_SB_MAX];
static unsigned cs_sb_depth, cs_sb_len, cs_sb_head;

struct pf_stride { uint64_t pc, last, instance; int64_t stride; int conf; };
struct pf_stream { uint64_t page, last, front; int dir, conf; uint64_t use; };
static struct pf_stride pf_st[PF_STRIDE_ENTRIES], pf_ip[PF_STRIDE_ENTRIES];
static int64_t cs_ip_max;        /* ipstride=BYTES: the IP-stride detector's largest stride; 0: one detector */
static struct pf_stream pf_sm[PF_STREAMS];
/* stream=DEPTH:PER_LOOKUP: the streamer keeps up to DEPTH lines ahead of the last request of a
 * stream and issues at most PER_LOOKUP new prefetches on each request it sees, so that a stream's
 * lead ramps up as its requests come (Intel's L2 streamer: up to 20 lines ahead, two prefetches per
 * L2 lookup). Default PF_DEPTH:PF_DEPTH. */
static int cs_stream_depth = PF_DEPTH, cs_stream_issue = PF_DEPTH;

static int cs_init_level(int i, uint64_t size, uint32_t ways)
{
    uint64_t line = 1ull << cs_line_shift;
    if (size == 0) {
        return 1;
    }
    if (ways == 0 || size % (line * ways) != 0) {
        return 0;
    }
    struct cs_level *l = &cs_lv[i];
    l->size = size;
    l->ways = ways;
    l->sets = (uint32_t)(size / (line * ways));
    l->tag = calloc((size_t)l->sets * ways, sizeof *l->tag);
    l->stamp = calloc((size_t)l->sets * ways, sizeof *l->stamp);
    l->dirty = calloc((size_t)l->sets * ways, 1);
    if (i < 2) {
        cs_pfm[i] = calloc((size_t)l->sets * ways, sizeof *cs_pfm[i]);
        if (!cs_pfm[i]) {
            return 0;
        }
    }
    return l->tag && l->stamp && l->dirty;
}

/* Look line `ln` up in level i; on a miss, if `insert`, insert it (evicting the LRU way; a dirty
 * victim is written to the next level) and count it as a fill of level i when `fill` (a line
 * brought from below, not a written-back one arriving from above). Returns 1 on a hit. */
/* The set of line `ln` in level i. L1 is indexed by virtual address (its sets x line fit in a
 * page, as on the modelled cores). With phys=KEY, L2 and below are indexed by physical address as
 * real ones are: Linux gives each 4 KiB page of a process a frame of its own, so which of the
 * level's page colours (sets / lines per page) a page lands in is a random draw per process; the
 * simulation draws it from a hash of the page number keyed by KEY (fresh per run), so that no
 * kernel can know, or choose, the colours of its pages. An array that fills most of L2 then loses
 * some of its lines to colours that got more than `ways` pages, as it does on a real core. */
static uint64_t cs_phys_key;

static uint64_t cs_set_of(int i, uint64_t ln, uint64_t sets)
{
    if (!cs_phys_key || i == 0 || cs_line_shift >= CS_PAGE_SHIFT) {
        return ln % sets;
    }
    uint64_t per_page = 1ull << (CS_PAGE_SHIFT - cs_line_shift);
    uint64_t h = (ln / per_page) ^ cs_phys_key;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;     /* splitmix64's finaliser */
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    return (h * per_page + ln % per_page) % sets;
}

static int cs_access_level(int i, uint64_t ln, int store, int insert, int fill)
{
    struct cs_level *l = &cs_lv[i];
    uint64_t set = cs_set_of(i, ln, l->sets), *tag = l->tag + set * l->ways, *st = l->stamp + set * l->ways;
    uint8_t *d = l->dirty + set * l->ways;
    uint32_t victim = 0;
    for (uint32_t w = 0; w < l->ways; w++) {
        if (tag[w] == ln + 1) {
            st[w] = ++cs_clock;
            d[w] |= (uint8_t)store;
            cs_idx = set * l->ways + w;
            return 1;
        }
        if (st[w] < st[victim]) {
            victim = w;
        }
    }
    if (!insert) {
        return 0;
    }
    if (tag[victim] && d[victim]) {
        if (cs_counting_ref) {
            cs_st.wb[i]++;
        }
        if (i + 1 < cs_n) {
            cs_access_level(i + 1, tag[victim] - 1, 1, 1, 0);   /* written back: dirty there */
        }
    }
    tag[victim] = ln + 1;
    st[victim] = ++cs_clock;
    d[victim] = (uint8_t)store;
    cs_idx = set * l->ways + victim;
    if (i < 2) {
        cs_pfm[i][cs_idx] = 0;
    }
    if (cs_counting_ref && fill) {
        cs_st.fill[i]++;
    }
    return 0;
}

/* Bring line ln into level `into` (0 = L1) from wherever it is; returns the level that had it
 * (cs_n = memory). */
/* l1pf=1: a line the L1 (stride) prefetcher brings in is also filled into L2 and below, as a
 * demand miss's is; l1pf=0: into L1 only (an L2 that is not inclusive of L1 and keeps no copy of
 * what L1 prefetched, as this host behaves: a line prefetched too early and dropped by L1 is fetched
 * again from where it was). */
static int cs_l1pf_fills_below = 1;
/* late=W1:W2:W3 (with l1pf=0): a load or store that uses an L1-prefetched line from level i (2: L3,
 * 3: memory) within Wi instructions of its prefetch found it still in flight and is the demand miss
 * it stood in for (the fill buffer merges the two): the line is kept in L2 as a demand miss's is. */
static uint64_t cs_late_win[CS_LEVELS + 1];

/* Bring line ln into level `into`; `prefetch`: for a prefetcher (an L1 prefetch with l1pf=0 is
 * kept in L1 only: the levels it crossed count the traffic) */
static int cs_fetch(uint64_t ln, int into, int store, int prefetch)
{
    int keep_below = !prefetch || into > 0 || cs_l1pf_fills_below;
    int found = cs_n;
    for (int i = into; i < cs_n; i++) {
        if (cs_access_level(i, ln, i == into ? store : 0, 0, 0)) {
            found = i;
            cs_hit_idx = cs_idx;
            break;
        }
    }
    /* fill the levels between the one that had it and `into` (the fills count as traffic) */
    for (int i = found - 1; i >= into; i--) {
        if (!keep_below && i > into) {
            if (cs_counting_ref) {
                cs_st.fill[i]++;     /* it crossed this level's interface: traffic, not kept */
            }
            continue;
        }
        cs_access_level(i, ln, i == into ? store : 0, 1, 1);
    }
    return found;
}

/* rob=INSNS:MLP (out-of-order cores): how many long-latency demand misses overlap, counted as
 * interval analysis does (Karkhanis & Smith, ISCA 2004; Eyerman et al., TOCS 2009): a load that
 * misses beyond L2 while the core is stalled on an earlier one overlaps it only if it comes within
 * the reorder buffer's INSNS instructions of the group's first miss, and at most MLP misses (the
 * miss buffers) are in flight at once; any other starts a new group. A kernel whose misses come in
 * bursts overlaps them; one whose misses are far apart, between long dependent runs of work, waits
 * for each. A group lasts as long as its slowest member: the groups are counted by the slowest
 * level one of their misses went to (an L3 hit beside a memory miss does not make the group
 * shorter: red team 10). The harness charges each group that level's latency
 * (harness/measure/model/memory.py). */
static uint64_t cs_rob, cs_rob_mlp, cs_cl_start, cs_cl_n;
static int cs_cl_slowest = -1;   /* the open group's slowest level: 0 L3, 1 memory; -1 none yet */

static void cs_long_miss(int from_memory)
{
    cs_st.long_misses++;
    if (cs_cl_slowest < 0 || cs_now - cs_cl_start >= cs_rob || cs_cl_n >= cs_rob_mlp) {
        cs_st.long_groups[from_memory]++;
        cs_cl_slowest = from_memory;
        cs_cl_start = cs_now;
        cs_cl_n = 0;
    } else if (from_memory > cs_cl_slowest) {
        cs_st.long_groups[cs_cl_slowest]--;        /* the open group now lasts a memory access */
        cs_st.long_groups[from_memory]++;
        cs_cl_slowest = from_memory;
    }
    cs_cl_n++;
}

static void cs_stream(uint64_t ln);

static void cs_prefetch_line(uint64_t ln, int into)
{
    if (cs_access_level(into, ln, 0, 0, 0)) {
        return;
    }
    int l1_only = into == 0 && !cs_l1pf_fills_below;
    int found = cs_fetch(ln, into, 0, 1);
    uint64_t mark = cs_now << 2 | (uint64_t)found;
    if (found == 1 && into == 0 && cs_pfm[1][cs_hit_idx]) {
        /* an L2 prefetch of this line has not been used yet: the line may still be on its way from
         * beyond L2, and an L1 prefetch cannot bring it sooner; its copy keeps that prefetch's
         * clock and origin (red team 7) */
        mark = cs_pfm[1][cs_hit_idx];
        cs_pfm[1][cs_hit_idx] = 0;
    }
    cs_pfm[into][cs_idx] = mark;                                 /* cs_fetch filled `into` last */
    if (into == 0 && cs_ip_max) {
        /* Intel's L2 streamer watches L1's requests to L2, its prefetchers' included */
        cs_stream(ln);
    }
    if (cs_counting_ref) {
        cs_st.pf_issued++;
        cs_st.pf_l1_only += l1_only && found > into + 1;
    }
}

static void cs_stream(uint64_t ln)
{
    uint64_t page = ln >> (CS_PAGE_SHIFT - cs_line_shift);
    struct pf_stream *s = NULL, *lru = &pf_sm[0];
    for (int i = 0; i < PF_STREAMS; i++) {
        if (pf_sm[i].page == page + 1) {
            s = &pf_sm[i];
            break;
        }
        if (pf_sm[i].use < lru->use) {
            lru = &pf_sm[i];
        }
    }
    if (!s) {
        s = lru;
        s->page = page + 1;
        s->last = s->front = ln;
        s->dir = 0;
        s->conf = 0;
        s->use = ++cs_clock;
        return;
    }
    s->use = ++cs_clock;
    int64_t d = (int64_t)(ln - s->last);
    int dir = d > 0 ? 1 : d < 0 ? -1 : 0;
    if (dir && d <= 2 && d >= -2) {
        if (dir != s->dir) {
            s->conf = 1;
            s->front = ln;
        } else {
            s->conf++;
        }
        s->dir = dir;
    } else if (dir) {
        s->conf = 0;
        s->front = ln;
    }
    s->last = ln;
    if (s->conf >= 2 && cs_n > 1) {
        /* from the stream's lead (the farthest line it prefetched, if ahead of this request) */
        int64_t lead = (int64_t)(s->front - ln) * s->dir;
        int issued = 0;
        for (int64_t k = lead > 0 ? lead + 1 : 1; k <= cs_stream_depth && issued < cs_stream_issue; k++) {
            uint64_t t = ln + (uint64_t)(k * s->dir);
            if ((t >> (CS_PAGE_SHIFT - cs_line_shift)) != page) {
                break;
            }
            cs_prefetch_line(t, 1);
            s->front = t;
            issued++;
        }
    }
}

/* One stride detector step of table entry e for an access at addr: a stride seen twice in a row
 * (conf 2) fetches the line one stride ahead into L1, within the page, if |stride| <= max_stride. */
static void cs_stride_step(struct pf_stride *e, uint64_t pc, uint64_t addr, int64_t max_stride)
{
    if (e->pc != pc) {
        e->pc = pc;
        e->last = addr;
        e->stride = 0;
        e->conf = 0;
        return;
    }
    int64_t d = (int64_t)(addr - e->last);
    e->last = addr;
    if (d != 0 && d == e->stride) {
        e->conf += e->conf < 3;
    } else {
        e->stride = d;
        e->conf = 0;
        return;
    }
    if (e->conf >= 2 && d <= max_stride && d >= -max_stride) {
        uint64_t t = addr + (uint64_t)d;
        if ((t >> CS_PAGE_SHIFT) == (addr >> CS_PAGE_SHIFT) &&
            (t >> cs_line_shift) != (addr >> cs_line_shift)) {
            cs_prefetch_line(t >> cs_line_shift, 0);
        }
    }
}

/* The L1 prefetchers see every access (QEMU's pieces of a wide one included). Without ipstride=
 * (cs_ip_max 0) one detector per instruction learns from all of them: pieces 8 or 4 bytes apart
 * train it like a stride (a vector that ends at a line's end fetches the next line) and so do the
 * executions' addresses (any stride within the page). With ipstride=BYTES (Intel's cores: 2048,
 * the limit of the IP prefetcher in Intel's optimisation manual) it is two detectors, as those
 * cores have: a next-line one (the DCU prefetcher) that follows pieces and accesses less than a
 * line apart, and an IP-stride one that sees each execution once (its first piece), so a 256-bit
 * load walking rows 1 KiB apart trains it exactly as a scalar load would. */
static void cs_stride(uint64_t pc, uint64_t instance, uint64_t addr)
{
    unsigned slot = (unsigned)((pc ^ (pc >> 9)) % PF_STRIDE_ENTRIES);
    if (!cs_ip_max) {
        cs_stride_step(&pf_st[slot], pc, addr, INT64_MAX);
        return;
    }
    cs_stride_step(&pf_st[slot], pc, addr, (int64_t)1 << cs_line_shift);
    struct pf_stride *e = &pf_ip[slot];
    if (e->pc == pc && e->instance == instance) {
        return;                      /* a later piece of the same execution */
    }
    e->instance = instance;
    cs_stride_step(e, pc, addr, cs_ip_max);
}

/* The line of the previous access, while it is L1's most recently used line: another access to
 * it (the elements of one vector load, QEMU's pieces of a wide access) is a hit that changes
 * nothing but its dirty bit, so it skips the lookup (the stride prefetcher still sees it). */
static uint64_t cs_last_ln = UINT64_MAX, cs_last_clock;
static uint8_t *cs_last_dirty;

/* Note line ln as L1's most recently used (it was just looked up or filled there). */
static void cs_remember(uint64_t ln)
{
    struct cs_level *l = &cs_lv[0];
    uint64_t set = ln % l->sets;
    for (uint32_t w = 0; w < l->ways; w++) {
        if (l->tag[set * l->ways + w] == ln + 1) {
            cs_last_ln = ln;
            cs_last_dirty = &l->dirty[set * l->ways + w];
            cs_last_clock = cs_clock;
            return;
        }
    }
    cs_last_ln = UINT64_MAX;
}

/* The instruction execution and line an access piece was counted for last: QEMU's further pieces
 * of one wide or per-element access to that line are the same access to the L1's ports. */
struct cs_piece { uint64_t pc, instance, ln; };
static struct cs_piece cs_load_piece = {UINT64_MAX, 0, 0}, cs_store_piece = {UINT64_MAX, 0, 0};

/* 1 if (pc, instance, ln) is not the piece counted last in *p (and it is now). */
static int cs_new_piece(struct cs_piece *p, uint64_t pc, uint64_t instance, uint64_t ln)
{
    if (pc == p->pc && instance == p->instance && ln == p->ln) {
        return 0;
    }
    *p = (struct cs_piece){pc, instance, ln};
    return 1;
}

/* The line the last counted store commit wrote, and whether it was already the second of a pair
 * (then the next store to that line starts a new cycle). */
static uint64_t cs_sc_ln = UINT64_MAX;
static int cs_sc_paired;

static void cs_count_store_commit(uint64_t first, uint64_t last)
{
    for (uint64_t ln = first; ln <= last; ln++) {
        if (ln == cs_sc_ln && !cs_sc_paired) {
            cs_sc_paired = 1;
        } else {
            cs_st.store_commits++;
            cs_sc_paired = 0;
        }
        cs_sc_ln = ln;
    }
}

/* The first demand use of prefetched line ln, found in level `at` (0: L1, 1: L2): record how late
 * it came if a load uses it (a store waits in the store buffer anyway); within the late= window,
 * keep an L1-only line in L2 as the demand miss it was. */
static void cs_used(int at, uint64_t idx, uint64_t ln, int store)
{
    uint64_t m = cs_pfm[at][idx];
    if (!m) {
        return;
    }
    cs_pfm[at][idx] = 0;
    uint64_t d = cs_now - (m >> 2);
    if (at == 0 && !cs_l1pf_fills_below && cs_n > 1 && (m & 3) >= 2 && d < cs_late_win[m & 3]) {
        cs_access_level(1, ln, 0, 1, 0);
    }
    if (store || !cs_counting_ref || d >= (1ull << CS_LATE_LOG2)) {
        return;
    }
    unsigned b = (unsigned)d;
    if (d >= 8) {
        unsigned e = 63u - (unsigned)__builtin_clzll(d);
        b = 8 + 8 * (e - 3) + (unsigned)((d >> (e - 3)) & 7);
    }
    cs_st.late[at][m & 3][b]++;
}

/* The cache side of one access to lines first..last: look them up in L1 and fetch what misses.
 * `committed`: a store leaving the store buffer (its misses are store_demand). */
static void cs_touch(uint64_t first, uint64_t last, int store, int committed)
{
    if (first == last && first == cs_last_ln && cs_last_clock == cs_clock) {
        if (cs_counting_ref) {
            if (store) {
                cs_st.stores++;
            } else {
                cs_st.loads++;
            }
        }
        *cs_last_dirty |= (uint8_t)store;
        return;
    }
    for (uint64_t ln = first; ln <= last; ln++) {
        if (cs_counting_ref) {
            if (store) {
                cs_st.stores++;
            } else {
                cs_st.loads++;
            }
        }
        if (cs_access_level(0, ln, store, 0, 0)) {
            cs_used(0, cs_idx, ln, store);
            cs_remember(ln);
            continue;
        }
        int from = cs_fetch(ln, 0, store, 0);
        if (from == 1) {
            cs_used(1, cs_hit_idx, ln, store);
        }
        cs_remember(ln);
        if (cs_counting_ref) {
            (committed ? cs_st.store_demand : cs_st.demand)[from == cs_n ? CS_LEVELS : from]++;
            if (cs_rob && !store && from >= 2) {
                cs_long_miss(from == cs_n);
            }
        }
        if (cs_prefetch) {
            cs_stream(ln);
        }
    }
    cs_last_clock = cs_clock;
}

/* Commit the oldest pending store. */
static void cs_commit_one(void)
{
    struct cs_pending *p = &cs_sb[cs_sb_head];
    cs_sb_head = (cs_sb_head + 1) % CS_SB_MAX;
    cs_sb_len--;
    if (cs_counting_ref) {
        cs_count_store_commit(p->first, p->last);
    }
    cs_touch(p->first, p->last, 1, 1);
}

/* Commit every pending store (the end of the counted region: its stores are its cost). */
static void cs_drain(void)
{
    while (cs_sb_len) {
        cs_commit_one();
    }
}

/* One guest data access of `size` bytes at `addr` by the instruction at `pc`; `instance` tells
 * one execution of that instruction from the next (the plugin's instruction clock at its block's
 * start). */
static void cs_access(uint64_t pc, uint64_t instance, uint64_t addr, unsigned size, int store)
{
    uint64_t first = addr >> cs_line_shift, last = (addr + (size ? size : 1) - 1) >> cs_line_shift;
    if (cs_counting_ref && (!store || !cs_sb_depth)) {
        /* loads: the lines the load ports read; stores without a store buffer write L1 as they run */
        for (uint64_t ln = first; ln <= last; ln++) {
            if (!store && cs_new_piece(&cs_load_piece, pc, instance, ln)) {
                cs_st.load_lines++;
            } else if (store && cs_new_piece(&cs_store_piece, pc, instance, ln)) {
                cs_count_store_commit(ln, ln);
            }
        }
    }
    if (store && cs_sb_depth) {
        /* QEMU's pieces of one wide store are one store buffer entry */
        struct cs_pending *q = cs_sb_len ? &cs_sb[(cs_sb_head + cs_sb_len - 1) % CS_SB_MAX] : NULL;
        if (q && q->pc == pc && q->instance == instance && first <= q->last + 1 && last + 1 >= q->first) {
            q->first = first < q->first ? first : q->first;
            q->last = last > q->last ? last : q->last;
        } else {
            if (cs_sb_len == cs_sb_depth) {
                cs_commit_one();
            }
            cs_sb[(cs_sb_head + cs_sb_len) % CS_SB_MAX] = (struct cs_pending){pc, instance, first, last};
            cs_sb_len++;
        }
    } else {
        cs_touch(first, last, store, 0);
    }
    if (cs_prefetch) {
        cs_stride(pc, instance, addr);
    }
    /* a prefetch may have moved the clock: the fast path holds only if nothing else happened
     * (a deferred store touched nothing: a moved clock turns the fast path off) */
    if (!(store && cs_sb_depth) && cs_last_ln == last) {
        cs_last_clock = cs_clock;
    }
}

#endif
