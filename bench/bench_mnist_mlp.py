"""mnist_mlp in graphnet vs PyTorch (eager) vs ONNX Runtime, side by side in one process.

Times (median of many repeats after a warm-up, every framework on the same number of
threads, 2 by default):

* inference at batch 1 and 128: graphnet ``model.predict_on_batch`` (compiled plan),
  PyTorch eager under ``torch.no_grad()``, ONNX Runtime on the model exported from torch;
* one training step at batch 128 with RMSprop, when graphnet has ``fit`` and
  ``train_on_batch``: graphnet ``train_on_batch`` vs PyTorch forward + loss + backward +
  ``optimizer.step()``.

All three run the same weights (copied from the graphnet model), checked to agree.

    python bench/bench_mnist_mlp.py [--threads 2] [--repeats 25] [--min-repeat-time 0.02]
                                    [--pause 0.25] [--skip-train]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(ROOT, "graphnet")):
    sys.path.insert(0, ROOT)  # run from a checkout without installing

import graphnet as gn  # noqa: E402

try:
    import torch
except ImportError:
    torch = None
try:
    import onnxruntime as ort
except ImportError:
    ort = None

BATCHES = (1, 128)
TRAIN_BATCH = 128


# -- timing ---------------------------------------------------------------------------
def _calibrate(fn, min_repeat_time, warmup=5):
    """Calls per repeat so that one repeat lasts at least ``min_repeat_time`` (after a
    warm-up, which also compiles graphnet's plan for this shape)."""
    for _ in range(warmup):
        fn()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start >= min_repeat_time or calls >= 1 << 16:
            return calls
        calls *= 2


#: pause before each framework's repeat, so the previous framework's threads have
#: stopped spinning: ONNX Runtime's workers spin for 100-150 ms after a run, and
#: graphnet timed 20 ms after ONNX Runtime ran twice as slow as on its own
SETTLE_SECONDS = 0.25


#: untimed calls for this long after each pause: on this VM the first milliseconds after
#: an idle spell run up to 30% slow (a 3 ms training step timed over 7 calls right after
#: the pause read 4.4 ms, against 2.8-3.0 ms in a loop)
WARM_SECONDS = 0.05


def median_times(fns, repeats, min_repeat_time):
    """Median seconds per call of each function in ``fns`` (name -> callable).

    Repeats are interleaved (a, b, c, a, b, c, ...) so that every framework sees the
    same background load; each repeat runs a calibrated number of calls after a pause
    and WARM_SECONDS of untimed calls, so no framework pays for another's idle threads
    or for the machine waking up."""
    calls = {name: _calibrate(fn, min_repeat_time) for name, fn in fns.items()}
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            n = calls[name]
            time.sleep(SETTLE_SECONDS)
            fn()
            warm_until = time.perf_counter() + WARM_SECONDS
            while time.perf_counter() < warm_until:
                fn()
            start = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(t) for name, t in times.items()}


# -- the machine ----------------------------------------------------------------------
def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown CPU"


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def machine_line(threads):
    versions = [f"graphnet {gn.__version__}", f"numpy {np.__version__}"]
    if torch is not None:
        versions.append(f"torch {torch.__version__}")
    if ort is not None:
        versions.append(f"onnxruntime {ort.__version__}")
    return (f"machine: {cpu_model()}; {os.cpu_count()} cores; graphnet ISA {gn.isa()}; "
            f"threads {threads}; " + ", ".join(versions))


# -- the models ----------------------------------------------------------------------
def graphnet_model():
    return gn.Sequential([
        gn.Input(shape=(784,), name="pixels"),
        gn.layers.Dense(512, activation="relu"),
        gn.layers.Dropout(0.2),
        gn.layers.Dense(512, activation="relu"),
        gn.layers.Dropout(0.2),
        gn.layers.Dense(10, activation="softmax"),
    ], name="mnist_mlp")


def torch_model(weights, softmax=True):
    """The same network in PyTorch, with graphnet's (Keras-layout) weights."""
    nn = torch.nn
    layers = [nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
              nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 10)]
    if softmax:
        layers.append(nn.Softmax(dim=-1))
    model = nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for linear, kernel, bias in zip(linears, weights[0::2], weights[1::2]):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
            linear.bias.copy_(torch.from_numpy(bias))
    return model


def export_onnx(tmodel, path):
    """Write the torch model to ``path`` as ONNX (input "pixels", output "probs")."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(input_names=["pixels"], output_names=["probs"],
                      dynamic_axes={"pixels": {0: "batch"}, "probs": {0: "batch"}})
        try:   # the TorchScript exporter needs no onnxscript
            torch.onnx.export(tmodel, (torch.zeros(1, 784),), path, dynamo=False, **kwargs)
        except TypeError:
            torch.onnx.export(tmodel, (torch.zeros(1, 784),), path, **kwargs)


def onnx_session(tmodel, path, threads):
    export_onnx(tmodel, path)
    return ort_session(path, threads)


def ort_session(model, threads):
    """An ONNX Runtime session on the CPU with ``threads`` intra-op threads (``model``: a
    file path or the serialized model's bytes)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


# -- the cases -------------------------------------------------------------------------
def bench_inference(model, tmodel, session, args, rng):
    rows = []
    for batch in BATCHES:
        x = rng.random((batch, 784), dtype=np.float32)
        want = model.predict_on_batch(x)
        fns = {"graphnet": lambda: model.predict_on_batch(x)}
        if tmodel is not None:
            xt = torch.from_numpy(x)
            with torch.no_grad():
                np.testing.assert_allclose(tmodel(xt).numpy(), want, atol=1e-5)

            def run_torch():
                with torch.no_grad():
                    tmodel(xt)
            fns["PyTorch"] = run_torch
        if session is not None:
            np.testing.assert_allclose(session.run(None, {"pixels": x})[0], want, atol=1e-5)
            fns["ONNX Runtime"] = lambda: session.run(None, {"pixels": x})
        row = median_times(fns, args.repeats, args.min_repeat_time)
        row["case"] = f"predict, batch {batch}"
        rows.append(row)
    return rows


def bench_training(model, args, rng):
    """One RMSprop step at batch 128, or None (with the reason) if graphnet cannot train."""
    if not (hasattr(model, "fit") and hasattr(model, "train_on_batch")):
        return None, "graphnet has no Model.fit / train_on_batch yet: training not timed"
    x = rng.random((TRAIN_BATCH, 784), dtype=np.float32)
    labels = rng.integers(0, 10, TRAIN_BATCH)
    y = gn.utils.to_categorical(labels, 10)
    tweights = [np.array(w) for w in model.get_weights()]
    model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.RMSprop())
    fns = {"graphnet": lambda: model.train_on_batch(x, y)}
    if torch is not None:
        # PyTorch's idiom for softmax + categorical cross-entropy: logits + CrossEntropyLoss.
        tmodel = torch_model(tweights, softmax=False).train()
        opt = torch.optim.RMSprop(tmodel.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
        loss_fn = torch.nn.CrossEntropyLoss()
        xt, yt = torch.from_numpy(x), torch.from_numpy(labels)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(tmodel(xt), yt)
            loss.backward()
            opt.step()
        fns["PyTorch"] = step
    row = median_times(fns, args.repeats, args.min_repeat_time)
    row["case"] = f"train step (RMSprop), batch {TRAIN_BATCH}"
    return row, None


# -- the compiled plans -----------------------------------------------------------------
def _is_fused(kernel):
    return any(tag in kernel for tag in ("FUSED", "BIAS_ACT", "MULTI"))


def plan_rows(model, input_shape, batches, train_batch):
    """Per compiled plan: kernels (fused ones among them), arena vs every buffer of the
    plan kept apart (unplanned), and the compile time (median of 5 compilations)."""
    from graphnet.compiler import compile_plan
    fns = [(f"predict, batch {b}", model.predict_function(), [(b,) + input_shape])
           for b in batches]
    steps = list(getattr(model, "_step_fns", {}).values())
    if steps:
        step = steps[0]
        shapes = [(train_batch,) + tuple(n.shape[1:]) for n in step.input_nodes]
        fns.append((f"train step, batch {train_batch}", step, shapes))
    rows = []
    for label, fn, shapes in fns:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            plan, _, report = compile_plan(fn.input_nodes, fn.output_nodes, shapes,
                                           training=fn.training, updates=fn.updates)
            times.append(time.perf_counter() - start)
        rows.append({"plan": label, "kernels": plan.kernel_count,
                     "fused": sum(map(_is_fused, plan.kernels)),
                     "arena": plan.arena_bytes, "unplanned": plan.unplanned_bytes,
                     "compile": statistics.median(times)})
    return rows


def plan_table(rows):
    lines = ["| plan | kernels | fused kernels | arena | unplanned | arena / unplanned | "
             "compile |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['plan']} | {r['kernels']} | {r['fused']} | "
                     f"{r['arena'] / 2**20:,.2f} MiB | {r['unplanned'] / 2**20:,.2f} MiB | "
                     f"{r['arena'] / max(r['unplanned'], 1):.0%} | "
                     f"{r['compile'] * 1e3:,.1f} ms |")
    return "\n".join(lines)


# -- report ---------------------------------------------------------------------------
def fmt_time(seconds):
    return f"{seconds * 1e6:,.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def table(rows, others):
    head = ["case", "graphnet"] + others + [f"{o} / graphnet" for o in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] *
                                                               (len(head) - 1)) + "|"]
    for row in rows:
        cells = [row["case"], fmt_time(row["graphnet"])]
        cells += [fmt_time(row[o]) if o in row else "n/a" for o in others]
        cells += [f"{row[o] / row['graphnet']:.2f}x" if o in row else "n/a" for o in others]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--min-repeat-time", type=float, default=0.02,
                        help="seconds each timed repeat lasts at least")
    parser.add_argument("--pause", type=float, default=SETTLE_SECONDS,
                        help="seconds before each timed repeat (other frameworks' threads idle)")
    parser.add_argument("--skip-train", action="store_true", help="time inference only")
    args = parser.parse_args(argv)
    globals()["SETTLE_SECONDS"] = args.pause

    gn.set_num_threads(args.threads)
    missing = [name for name, mod in (("torch", torch), ("onnxruntime", ort)) if mod is None]
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(machine_line(gn.get_num_threads()))
    load_before = load_average()
    if missing:
        print(f"missing (pip install {' '.join(missing)}; or `make install-compare`): "
              f"{', '.join(missing)} -- those columns are skipped")
    if torch is None and ort is not None:
        print("ONNX Runtime needs torch to export the model: skipped too")

    gn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = graphnet_model()
    weights = model.get_weights()
    tmodel = torch_model(weights).eval() if torch is not None else None
    session = None
    with tempfile.TemporaryDirectory() as tmp:
        if torch is not None and ort is not None:
            session = onnx_session(tmodel, os.path.join(tmp, "mnist_mlp.onnx"), args.threads)
        rows = bench_inference(model, tmodel, session, args, rng)
    if args.skip_train:
        train_row, why_not = None, "--skip-train: training not timed"
    else:
        train_row, why_not = bench_training(model, args, rng)
    if train_row is not None:
        rows.append(train_row)

    others = [name for name in ("PyTorch", "ONNX Runtime") if any(name in r for r in rows)]
    print(f"\nmnist_mlp (784-512-512-10), median of {args.repeats} repeats, "
          f"ratios > 1: graphnet is faster\n")
    print(table(rows, others))
    for row in rows:
        if row["case"].startswith("predict"):
            batch = int(row["case"].rsplit(" ", 1)[1])
            print(f"  {row['case']}: graphnet {batch / row['graphnet']:,.0f} images/s")
    print("\ncompiled plans (graphnet):\n")
    print(plan_table(plan_rows(model, (784,), BATCHES, TRAIN_BATCH)))
    if why_not:
        print(f"\n{why_not}")
    load_after = load_average()
    if load_before is not None:
        print(f"\n1-minute load average: {load_before:.2f} before, {load_after:.2f} after")
        if max(load_before, load_after) > 0.5:
            print("warning: other processes were using the CPUs, which inflates the "
                  "figures of every multithreaded framework: rerun on an idle machine")


if __name__ == "__main__":
    main()
