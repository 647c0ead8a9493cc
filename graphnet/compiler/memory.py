"""Memory planning: place arena buffers by liveness so dead buffers are reused."""

ALIGN = 64


def _aligned(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_arena(buffers):
    """Give each buffer an offset; buffers whose live ranges [first, last] overlap
    never share bytes. Greedy by size (largest first, lowest fitting offset).
    Returns (arena bytes, bytes an unplanned layout would need)."""
    placed = []
    for b in sorted(buffers, key=lambda b: (-b.nbytes, b.first)):
        size = _aligned(max(b.nbytes, 1))
        busy = sorted((p.offset, p.offset + _aligned(max(p.nbytes, 1))) for p in placed
                      if p.first <= b.last and b.first <= p.last)
        offset = 0
        for start, end in busy:
            if offset + size <= start:
                break
            offset = max(offset, end)
        b.offset = offset
        placed.append(b)
    total = max((p.offset + _aligned(max(p.nbytes, 1)) for p in placed), default=0)
    unplanned = sum(_aligned(max(b.nbytes, 1)) for b in buffers)
    return total, unplanned
