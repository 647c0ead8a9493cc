"""Timing, results table and progress display of ``graphnet-bench``.

The timing method is the one of the scripts in bench/ (``median_time`` there):
``warmup`` calls, then calls per repeat calibrated (doubling) until one repeat lasts at
least ``min_repeat_time`` seconds, then ``repeat`` timed repeats; each repeat's time
is divided by its calls. The median is the figure reported; min and max show spread.
"""
import json
import statistics
import sys
import time


def fma_peak(rounds=7, iters=2_000_000):
    """Peak fp32 GFLOP/s of graphnet's SIMD path on its current thread count: the best of
    ``rounds`` runs of ``gn_peak_gflops`` (independent FMA chains in registers on every
    thread, csrc/peak.c), back to back after a warm-up so every worker is awake. The best,
    not the median: on a shared machine a run loses whatever time another tenant takes."""
    from ..runtime.cext import lib
    lib.gn_peak_gflops(iters // 10)
    return max(lib.gn_peak_gflops(iters) for _ in range(max(int(rounds), 1)))


_probed_peaks = {}


def cached_fma_peak():
    """fma_peak() on graphnet's current thread count, measured once per process and count."""
    from ..runtime.cext import lib
    threads = lib.gn_get_num_threads()
    if threads not in _probed_peaks:
        _probed_peaks[threads] = fma_peak()
    return _probed_peaks[threads]


def measure(fn, repeat=25, warmup=5, min_repeat_time=0.02):
    """Seconds per call of ``fn``: {"median", "min", "max", "calls", "repeats"}."""
    for _ in range(warmup):
        fn()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start >= min_repeat_time or calls >= 1 << 16:
            break
        calls *= 2
    times = []
    for _ in range(max(int(repeat), 1)):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "calls": calls, "repeats": len(times)}


class Progress:
    """One self-overwriting status line on stderr, shown only when stderr is a terminal."""

    def __init__(self, total, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total, self.done = total, 0
        self._width = 0

    def update(self, text):
        if not self.enabled:
            return
        line = f"[{self.done + 1}/{self.total}] {text}"
        pad = max(self._width - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._width = len(line)

    def step(self):
        self.done += 1

    def close(self):
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


def fmt_time(seconds):
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:,.2f} ms"
    return f"{seconds:,.3f} s"


BASELINES = (("numpy", "numpy"), ("torch", "PyTorch"), ("onnxruntime", "ONNX Runtime"))


def table(rows, peak):
    """Markdown table: graphnet's median/min/max, GFLOP/s, % of peak, and each baseline's
    median over graphnet's (> 1: graphnet is faster)."""
    shown = [(key, label) for key, label in BASELINES if any(r.get(key) for r in rows)]
    head = ["case", "median", "min", "max", "GFLOP/s", "% peak"] + \
        [f"{label} / graphnet" for _, label in shown]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in rows:
        g = r["graphnet"]
        gflops = r.get("gflops")
        cells = [r["case"], fmt_time(g["median"]), fmt_time(g["min"]), fmt_time(g["max"]),
                 f"{gflops:,.1f}" if gflops else "-",
                 f"{100 * gflops / peak:.0f}%" if gflops and peak else "-"]
        for key, _ in shown:
            b = r.get(key)
            cells.append(f"{b['median'] / g['median']:.2f}x" if b else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_json(document):
    return json.dumps(document, indent=1, sort_keys=False)
