"""Any-batch .gnx files vs fixed-batch ones: time and arena of the same model at each batch.

For mnist_mlp and mnist_cnn (graphnet.bench.cases), one file exported for any batch size
(``model.export(path)``) and, per batch size, one exported for it (``batch_size=n``), both
loaded with ``gn.load_compiled``. Timing: rounds alternate the two (any, fixed, any, ...);
each sample is as many calls as last ``--min-sample`` seconds; the median sample over the
rounds is reported, with the arena each plan runs over.

    python bench/bench_batch_export.py [--batches 1,32,128,1000] [--rounds 7] [--threads 2]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sample(fn, min_seconds):
    """Seconds per call over as many calls as last ``min_seconds``."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", default="1,32,128,1000")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-sample", type=float, default=0.2)
    args = parser.parse_args(argv)
    import graphnet as gn
    from graphnet.bench.cases import mnist_cnn, mnist_mlp
    gn.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    rng = np.random.default_rng(0)
    print(f"{'model':10} {'batch':>5} {'any (ms)':>9} {'fixed (ms)':>10} {'ratio':>6} "
          f"{'arena any':>10} {'arena fixed':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for build in (mnist_mlp, mnist_cnn):
            model = build()
            model.export(os.path.join(tmp, "any.gnx"))
            generic = gn.load_compiled(os.path.join(tmp, "any.gnx"))
            for n in batches:
                path = os.path.join(tmp, f"fixed{n}.gnx")
                model.export(path, batch_size=n)
                fixed = gn.load_compiled(path)
                x = rng.standard_normal((n,) + tuple(model.inputs[0].shape[1:])).astype("f4")
                np.testing.assert_allclose(generic(x), fixed(x), atol=1e-5, rtol=1e-5)
                times = {"any": [], "fixed": []}
                for _ in range(args.rounds):
                    for name, cm in (("any", generic), ("fixed", fixed)):
                        times[name].append(sample(lambda cm=cm: cm(x), args.min_sample))
                t_any, t_fixed = (statistics.median(times[k]) for k in ("any", "fixed"))
                print(f"{model.name:10} {n:5d} {t_any * 1e3:9.3f} {t_fixed * 1e3:10.3f} "
                      f"{t_fixed / t_any:6.2f} {generic.executable(n).plan.arena_bytes / 1e6:8.2f}"
                      f"MB {fixed.plan.arena_bytes / 1e6:9.2f}MB")


if __name__ == "__main__":
    main()
