"""fp32 GEMM benchmark: graphnet's gn_sgemm against numpy and PyTorch, side by side.

Each library is timed in its own block of samples, after a pause: their thread pools
spin-wait for a while after each call (OpenBLAS's for up to ~0.1 s), and a spinning
pool from one library on a small machine steals cores from the next. The table gives
each one's median time per call.

    python bench/bench_gemm.py                 # all shapes, every core
    python bench/bench_gemm.py -t 1 --repeats 21 --shapes 1024x1024x1024

"vs numpy" / "vs torch" are their time divided by graphnet's: above 1 graphnet is faster.
"""
import argparse
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SHAPES = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048),
          (128, 512, 784), (128, 512, 512), (128, 10, 512), (1, 512, 784)]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-t", "--threads", type=int, default=0, help="threads (0: every core)")
    p.add_argument("--repeats", type=int, default=15, help="timed samples per library")
    p.add_argument("--min-sample", type=float, default=0.02,
                   help="seconds each sample lasts at least (small shapes loop inside one)")
    p.add_argument("--pause", type=float, default=0.3,
                   help="seconds to wait before timing each library")
    p.add_argument("--shapes", default="", help="comma list of MxNxK (default: the standard set)")
    p.add_argument("--isa", default="", help="force a SIMD path: avx512, avx2, neon, ref")
    p.add_argument("--peak", type=float, default=None,
                   help="peak GFLOP/s per core for the %%peak column (default: measured "
                        "by graphnet's FMA probe on the same threads)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    return p.parse_args()


def machine_line(threads):
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "machine: %s, %d cores, python %s, %s" % (
        model, os.cpu_count() or 1, platform.python_version(), platform.system())


def time_call(fn, min_sample):
    """Seconds per call: one sample of enough calls to last min_sample."""
    t = time.perf_counter()
    fn()
    once = time.perf_counter() - t
    inner = max(1, int(min_sample / max(once, 1e-7)))
    t = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t) / inner


def main():
    args = parse_args()
    threads = args.threads or os.cpu_count() or 1
    # numpy's BLAS reads its thread count at import
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import numpy as np
    from graphnet._gn_c import ffi, lib
    from graphnet.bench.timing import fma_peak

    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            torch = None

    lib.gn_set_num_threads(threads)
    if args.isa and not lib.gn_set_isa(args.isa.encode()):
        sys.exit("ISA %r is not available on this CPU" % args.isa)
    isa = ffi.string(lib.gn_isa_name()).decode()
    if args.peak:
        peak, peak_source = args.peak * threads, "given by --peak"
    else:
        peak, peak_source = fma_peak(), "measured by the FMA probe"
    shapes = SHAPES
    if args.shapes:
        shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]

    print(machine_line(threads))
    print("graphnet isa: %s, threads: %d (numpy and torch: %d); numpy %s%s"
          % (isa, lib.gn_get_num_threads(), threads, np.__version__,
             ", torch %s" % torch.__version__ if torch else ""))
    print("median of %d samples; %%peak against %.0f GFLOP/s (%s)"
          % (args.repeats, peak, peak_source))
    print()
    head = "| M x N x K | graphnet ms | GFLOP/s | %peak | numpy ms | torch ms | vs numpy | vs torch |"
    print(head)
    print("|" + "|".join("---" for _ in range(head.count("|") - 1)) + "|")

    rng = np.random.default_rng(0)
    for m, n, k in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        c_np = np.empty((m, n), np.float32)
        pa, pb, pc = (ffi.cast("float *", x.ctypes.data) for x in (a, b, c))

        def run_gn():
            lib.gn_sgemm(0, 0, m, n, k, 1.0, pa, k, pb, n, 0.0, pc, n)

        def run_np():
            np.matmul(a, b, out=c_np)

        runs = {"gn": run_gn, "np": run_np}
        if torch is not None:
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty((m, n))
            runs["torch"] = lambda: torch.matmul(ta, tb, out=tc)

        run_gn()
        run_np()
        err = float(np.max(np.abs(c - c_np)) / (np.max(np.abs(c_np)) + 1e-30))
        if err > 1e-4:
            print("warning: %dx%dx%d differs from numpy by %.2e (relative)" % (m, n, k, err))

        med = {}
        for name, fn in runs.items():
            time.sleep(args.pause)  # let the previous library's threads go to sleep
            fn()
            med[name] = statistics.median(time_call(fn, args.min_sample)
                                          for _ in range(args.repeats))
        gflops = 2.0 * m * n * k / med["gn"] / 1e9
        t_torch = med.get("torch")
        print("| %dx%dx%d | %.4f | %.1f | %.0f%% | %.4f | %s | %.2f | %s |" % (
            m, n, k, med["gn"] * 1e3, gflops, 100.0 * gflops / peak, med["np"] * 1e3,
            "%.4f" % (t_torch * 1e3) if t_torch else "-", med["np"] / med["gn"],
            "%.2f" % (t_torch / med["gn"]) if t_torch else "-"))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
