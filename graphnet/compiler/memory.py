"""Memory planning: place arena buffers by liveness so dead buffers are reused.

A buffer is live from its ``first`` to its ``last`` step (inclusive); two buffers live at
a common step never share bytes. Every offset and every reserved size is a multiple of
ALIGN. Two placements are computed and the smaller arena kept:

* ``best_fit_sweep``, always, in O(n log n): buffers in order of first use (the largest
  first among those starting at one step); a buffer's bytes return to the holes after its
  last step, coalesced with the holes beside them; each buffer takes the smallest hole
  that fits (lowest offset among equal sizes), else grows the arena from the hole at its
  top. It also finds the peak of live bytes, a lower bound no placement beats.
* ``greedy_by_size``, the offline placement that packs plans like mnist's training steps
  tightest: largest first, each at the lowest offset free over its whole live range. It
  looks only at the buffers whose live ranges overlap (``overlapping_pairs``), so it costs
  O(n log n + P log P) for P overlapping pairs; it runs when the sweep missed the lower
  bound and P is at most PAIRS_PER_BUFFER * n, which keeps the whole planner O(n log n).
"""
import bisect
import heapq

ALIGN = 64
PAIRS_PER_BUFFER = 64


def _aligned(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def reserved_bytes(nbytes):
    """The bytes a buffer of ``nbytes`` takes in the arena (empty buffers take ALIGN)."""
    return _aligned(max(nbytes, 1))


def plan_arena(buffers):
    """Give each buffer (``first``, ``last``, ``nbytes``) its ``offset``; buffers whose live
    ranges overlap never share bytes. Returns (arena bytes, bytes an unplanned layout would
    need)."""
    for b in buffers:
        if b.first > b.last or b.first < 0 or b.nbytes < 0:
            raise ValueError(f"buffer live range and size must satisfy 0 <= first <= last "
                             f"and nbytes >= 0, got first={b.first} last={b.last} "
                             f"nbytes={b.nbytes}")
    firsts = [b.first for b in buffers]
    lasts = [b.last for b in buffers]
    sizes = [reserved_bytes(b.nbytes) for b in buffers]
    offsets, total, peak_live = best_fit_sweep(firsts, lasts, sizes)
    if total > peak_live and count_overlapping_pairs(firsts, lasts) <= \
            PAIRS_PER_BUFFER * len(buffers):
        order = sorted(range(len(buffers)), key=lambda i: (-buffers[i].nbytes, firsts[i]))
        greedy_offsets, greedy_total = greedy_by_size(firsts, lasts, sizes, order)
        if greedy_total < total:
            offsets, total = greedy_offsets, greedy_total
    for b, offset in zip(buffers, offsets):
        b.offset = offset
    return total, sum(sizes)


class _Holes:
    """Free byte ranges below the arena's top: by size for best fit, by both ends for
    coalescing."""

    def __init__(self):
        self.by_size = []        # sorted (size, start)
        self.end_at = {}         # start -> end
        self.start_at = {}       # end -> start

    def take(self, start):
        end = self.end_at.pop(start)
        del self.start_at[end]
        del self.by_size[bisect.bisect_left(self.by_size, (end - start, start))]
        return end

    def give(self, start, end):
        """Return [start, end) to the holes, merged with the holes touching it."""
        if end in self.end_at:
            end = self.take(end)
        if start in self.start_at:
            before = self.start_at[start]
            self.take(before)
            start = before
        self.end_at[start] = end
        self.start_at[end] = start
        bisect.insort(self.by_size, (end - start, start))

    def best_fit(self, size):
        """The start of the smallest hole of at least ``size`` bytes, or None."""
        k = bisect.bisect_left(self.by_size, (size, -1))
        return self.by_size[k][1] if k < len(self.by_size) else None


def best_fit_sweep(firsts, lasts, sizes):
    """Offsets by a sweep over first uses with best-fit holes (see the module docstring).
    Returns (offsets, arena bytes, peak of the bytes live at one step)."""
    n = len(sizes)
    offsets = [0] * n
    holes, live = _Holes(), []   # live: heap of (last, offset, size)
    top = live_bytes = peak_live = 0
    for i in sorted(range(n), key=lambda i: (firsts[i], -sizes[i], lasts[i])):
        while live and live[0][0] < firsts[i]:
            _, offset, size = heapq.heappop(live)
            holes.give(offset, offset + size)
            live_bytes -= size
        size = sizes[i]
        offset = holes.best_fit(size)
        if offset is not None:
            end = holes.take(offset)
            if end > offset + size:
                holes.give(offset + size, end)
        elif top in holes.start_at:     # grow the arena from the hole at its top
            offset = holes.start_at[top]
            holes.take(offset)
            top = offset + size
        else:
            offset, top = top, top + size
        offsets[i] = offset
        heapq.heappush(live, (lasts[i], offset, size))
        live_bytes += size
        peak_live = max(peak_live, live_bytes)
    return offsets, top, peak_live


def count_overlapping_pairs(firsts, lasts):
    """How many pairs of buffers are live at a common step, in O(n log n): all pairs less
    those where one's last step comes before the other's first."""
    n = len(firsts)
    ordered_lasts = sorted(lasts)
    apart = sum(bisect.bisect_left(ordered_lasts, f) for f in firsts)
    return n * (n - 1) // 2 - apart


def overlapping_pairs(firsts, lasts):
    """For each buffer, the buffers live at a common step with it (a sweep over first
    uses; O(n log n + P))."""
    neighbours = [[] for _ in firsts]
    live, ending = {}, []        # live: insertion-ordered set; ending: heap of (last, i)
    for i in sorted(range(len(firsts)), key=firsts.__getitem__):
        while ending and ending[0][0] < firsts[i]:
            del live[heapq.heappop(ending)[1]]
        neighbours[i].extend(live)
        for j in live:
            neighbours[j].append(i)
        live[i] = None
        heapq.heappush(ending, (lasts[i], i))
    return neighbours


def greedy_by_size(firsts, lasts, sizes, order):
    """Place buffers in ``order``, each at the lowest offset where it overlaps no placed
    buffer live with it. Returns (offsets, arena bytes)."""
    neighbours = overlapping_pairs(firsts, lasts)
    offsets, placed = [0] * len(sizes), [False] * len(sizes)
    total = 0
    for i in order:
        size, offset = sizes[i], 0
        busy = sorted((offsets[j], offsets[j] + sizes[j]) for j in neighbours[i] if placed[j])
        for start, end in busy:
            if offset + size <= start:
                break
            offset = max(offset, end)
        offsets[i], placed[i] = offset, True
        total = max(total, offset + size)
    return offsets, total
