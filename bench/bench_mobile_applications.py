"""MobileNetV2, MobileNetV3Small and EfficientNetB0 inference: graphnet against ONNX
Runtime on graphnet's own ONNX export of the same model, side by side in one process
without PyTorch (torch is kept out of the process, so neither library shares its pool).

For each model (224x224x3, random weights, ImageNet top) and batch (1 and 32):
graphnet ``model.predict_on_batch`` (compiled plan) and ONNX Runtime (``to_onnx`` with a
fixed batch, CPU provider), both on ``--threads`` threads, outputs checked to agree.
Repeats are interleaved as in bench_mnist_mlp; the table gives the median and the range
over repeats. ``--profile`` adds where graphnet's plan spends its time at the largest
batch, by kernel and by kind of convolution (depthwise or not, kernel size, stride).

    python bench/bench_mobile_applications.py [--threads 2] [--repeats 7]
        [--models MobileNetV2,MobileNetV3Small,EfficientNetB0] [--batches 1,32] [--profile]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if os.path.isdir(os.path.join(ROOT, "graphnet")):
    sys.path.insert(0, ROOT)  # run from a checkout without installing
sys.path.insert(0, HERE)
sys.modules["torch"] = None   # keep PyTorch (and its thread pool) out of this process

import graphnet as gn  # noqa: E402
from bench_mnist_mlp import (SETTLE_SECONDS, WARM_SECONDS, _calibrate,  # noqa: E402
                             load_average, machine_line, ort_session)
from graphnet.export.onnx_export import to_onnx  # noqa: E402

MODELS = ("MobileNetV2", "MobileNetV3Small", "EfficientNetB0")
IMAGE = (224, 224, 3)


def interleaved_times(fns, repeats, min_repeat_time):
    """Seconds per call of each function, one entry per repeat, repeats interleaved."""
    calls = {name: _calibrate(fn, min_repeat_time, warmup=2) for name, fn in fns.items()}
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(SETTLE_SECONDS)
            warm_until = time.perf_counter() + WARM_SECONDS
            while time.perf_counter() < warm_until:
                fn()
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            times[name].append((time.perf_counter() - start) / calls[name])
    return times


def conv_kind(args):
    """'depthwise 3x3 /2'-style label of a GN_K_CONV_BIAS_ACT step (its int arguments:
    8 slots and codes, then the convolution geometry of csrc/graphnet.h)."""
    geom = args[8:]
    channels, kh, kw, stride, groups = geom[4], geom[10], geom[11], geom[13], geom[21]
    kind = "depthwise" if groups == channels and groups > 1 else "conv"
    return f"{kind} {kh}x{kw} /{stride}"


def profile_rows(model, batch, threads):
    """[(what, steps, seconds)] of graphnet's plan at ``batch``, slowest first."""
    x = np.random.default_rng(0).random((batch,) + IMAGE, dtype=np.float32)
    fn = model.predict_function()
    profile = fn.profile(x, repeats=3)
    plan = fn.executable([x.shape]).plan
    groups = {}
    for kernel, step, seconds in zip(plan.kernels, plan.steps, profile.seconds):
        what = kernel
        if kernel == "GN_K_CONV_BIAS_ACT":
            what = conv_kind(plan.iargs[step[1]:step[1] + int(step[3])].tolist())
        n, t = groups.get(what, (0, 0.0))
        groups[what] = (n + 1, t + float(seconds))
    rows = sorted(((w, n, t) for w, (n, t) in groups.items()), key=lambda r: -r[2])
    return rows, profile.total


def fmt(seconds):
    return f"{seconds * 1e3:,.2f} ms"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--min-repeat-time", type=float, default=0.05)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--batches", default="1,32")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        p.error(f"--models: unknown {unknown}; choose from {MODELS}")
    batches = [int(b) for b in args.batches.split(",")]
    gn.set_num_threads(args.threads)
    print(machine_line(args.threads))
    print(f"load average at start: {load_average()}")
    print("| model | batch | graphnet [range] | ONNX Runtime [range] | graphnet / ORT |")
    print("|---|---:|---|---|---:|")
    rng = np.random.default_rng(0)
    profiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            model = getattr(gn.applications, name)(weights=None, input_shape=IMAGE)
            for batch in batches:
                path = os.path.join(tmp, f"{name}_{batch}.onnx")
                to_onnx(model, path, batch_size=batch)
                session = ort_session(path, args.threads)
                feed_name = session.get_inputs()[0].name
                x = (rng.random((batch,) + IMAGE, dtype=np.float32) * 255)
                np.testing.assert_allclose(session.run(None, {feed_name: x})[0],
                                           model.predict_on_batch(x), atol=1e-5)
                times = interleaved_times(
                    {"graphnet": lambda: model.predict_on_batch(x),
                     "ort": lambda: session.run(None, {feed_name: x})},
                    args.repeats, args.min_repeat_time)
                g, o = (statistics.median(times[k]) for k in ("graphnet", "ort"))
                print(f"| {name} | {batch} | {fmt(g)} [{fmt(min(times['graphnet']))}-"
                      f"{fmt(max(times['graphnet']))}] | {fmt(o)} [{fmt(min(times['ort']))}-"
                      f"{fmt(max(times['ort']))}] | {g / o:.2f} |", flush=True)
                del session
            if args.profile:
                profiles.append((name, profile_rows(model, max(batches), args.threads)))
    print(f"load average at end: {load_average()}")
    for name, (rows, total) in profiles:
        print(f"\n{name}, batch {max(batches)}: graphnet's plan by kernel "
              f"(one step at a time, total {fmt(total)})")
        for what, steps, seconds in rows[:8]:
            print(f"  {what:28} {steps:4d} steps {fmt(seconds):>12} {seconds / total:6.1%}")


if __name__ == "__main__":
    main()
