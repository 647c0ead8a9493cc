"""mnist_cnn (Keras's example) in graphnet vs PyTorch (eager) vs ONNX Runtime, side by side.

The network: Conv2D 32 3x3 relu, Conv2D 64 3x3 relu, MaxPooling2D 2x2, Dropout 0.25,
Flatten, Dense 128 relu, Dropout 0.5, Dense 10 softmax (1,199,882 weights).

Times (median of interleaved repeats after a warm-up, every framework on the same number
of threads, 2 by default; the helpers are bench_mnist_mlp.py's):

* inference at batch 1 and 128: graphnet ``model.predict_on_batch`` (compiled plan),
  PyTorch eager under ``torch.no_grad()``, ONNX Runtime on the model exported from torch;
* one training step at batch 128 with Adadelta(learning_rate=1.0): graphnet
  ``train_on_batch`` vs PyTorch forward + loss + backward + ``optimizer.step()``;
* the convolution kernels alone (graphnet's CONV, input and filter gradients of the
  second layer at batch 128) vs ``torch.nn.functional.conv2d`` and its autograd.

Each timed repeat starts after ``--pause`` seconds: ONNX Runtime's worker threads keep
spinning for 100-150 ms after a run (measured here: graphnet's best batch-128 time doubles
when it starts 50 ms after an ONNX Runtime run, and is unchanged from 150 ms on), so a
shorter pause would time the next framework against them.

All three run the same weights (copied from the graphnet model), checked to agree.

    python bench/bench_mnist_cnn.py [--threads 2] [--repeats 15] [--min-repeat-time 0.05]
                                    [--pause 0.25] [--skip-train]
"""
import argparse
import os
import sys
import tempfile
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_mnist_mlp  # noqa: E402
from bench_mnist_mlp import (gn, load_average, machine_line, median_times, ort,  # noqa: E402
                             plan_rows, plan_table, table, torch)

BATCHES = (1, 128)
TRAIN_BATCH = 128


def graphnet_model():
    L = gn.layers
    return gn.Sequential([
        gn.Input(shape=(28, 28, 1), name="image"),
        L.Conv2D(32, (3, 3), activation="relu"),
        L.Conv2D(64, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)),
        L.Dropout(0.25),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ], name="mnist_cnn")


def torch_model(weights, softmax=True):
    """The same network in PyTorch (NCHW), with graphnet's (Keras-layout) weights; the
    features are flattened in channels-last order so the Dense kernel is shared as is."""
    nn = torch.nn

    class ToNHWC(nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1)

    layers = [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
              nn.Dropout(0.25), ToNHWC(), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
              nn.Dropout(0.5), nn.Linear(128, 10)]
    if softmax:
        layers.append(nn.Softmax(dim=-1))
    model = nn.Sequential(*layers)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for conv, kernel, bias in zip(convs, weights[0:4:2], weights[1:4:2]):
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))))
            conv.bias.copy_(torch.from_numpy(bias))
        for linear, kernel, bias in zip(linears, weights[4::2], weights[5::2]):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
            linear.bias.copy_(torch.from_numpy(bias))
    return model


def onnx_session(tmodel, path, threads):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(input_names=["image"], output_names=["probs"],
                      dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}})
        example = (torch.zeros(1, 1, 28, 28),)
        try:
            torch.onnx.export(tmodel, example, path, dynamo=False, **kwargs)
        except TypeError:
            torch.onnx.export(tmodel, example, path, **kwargs)
    return bench_mnist_mlp.ort_session(path, threads)


def bench_inference(model, tmodel, session, args, rng):
    rows = []
    for batch in BATCHES:
        x = rng.random((batch, 28, 28, 1), dtype=np.float32)
        nchw = np.ascontiguousarray(x.reshape(batch, 1, 28, 28))   # C == 1: same bytes
        want = model.predict_on_batch(x)
        fns = {"graphnet": lambda: model.predict_on_batch(x)}
        if tmodel is not None:
            xt = torch.from_numpy(nchw)
            with torch.no_grad():
                np.testing.assert_allclose(tmodel(xt).numpy(), want, atol=1e-5)

            def run_torch():
                with torch.no_grad():
                    tmodel(xt)
            fns["PyTorch"] = run_torch
        if session is not None:
            np.testing.assert_allclose(session.run(None, {"image": nchw})[0], want, atol=1e-5)
            fns["ONNX Runtime"] = lambda: session.run(None, {"image": nchw})
        row = median_times(fns, args.repeats, args.min_repeat_time)
        row["case"] = f"predict, batch {batch}"
        rows.append(row)
    return rows


def bench_training(model, args, rng):
    if not (hasattr(model, "fit") and hasattr(model, "train_on_batch")):
        return None, "graphnet has no Model.fit / train_on_batch yet: training not timed"
    x = rng.random((TRAIN_BATCH, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, TRAIN_BATCH)
    y = np.eye(10, dtype=np.float32)[labels]
    tweights = [np.array(w) for w in model.get_weights()]
    model.compile(loss="categorical_crossentropy",
                  optimizer=gn.optimizers.Adadelta(learning_rate=1.0))
    fns = {"graphnet": lambda: model.train_on_batch(x, y)}
    if torch is not None:
        tmodel = torch_model(tweights, softmax=False).train()
        opt = torch.optim.Adadelta(tmodel.parameters(), lr=1.0, rho=0.95, eps=1e-7)
        loss_fn = torch.nn.CrossEntropyLoss()
        xt = torch.from_numpy(np.ascontiguousarray(x.reshape(TRAIN_BATCH, 1, 28, 28)))
        yt = torch.from_numpy(labels)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(tmodel(xt), yt)
            loss.backward()
            opt.step()
        fns["PyTorch"] = step
    row = median_times(fns, args.repeats, args.min_repeat_time)
    row["case"] = f"train step (Adadelta), batch {TRAIN_BATCH}"
    return row, None


def bench_conv_kernels(args, rng):
    """The second convolution at batch 128: forward, input gradient, filter gradient."""
    from graphnet.graph.node import Node
    from graphnet.graph.tensor import SymbolicTensor
    from graphnet.engine.input_layer import placeholder
    x = rng.standard_normal((TRAIN_BATCH, 26, 26, 32), dtype=np.float32)
    w = rng.standard_normal((3, 3, 32, 64), dtype=np.float32)
    dy = rng.standard_normal((TRAIN_BATCH, 24, 24, 64), dtype=np.float32)
    attrs = dict(strides=(1, 1), dilations=(1, 1), groups=1, padding="valid")
    cases = [("CONV", (x, w), attrs),
             ("CONV_TRANSPOSE", (dy, w, x), attrs),
             ("CONV_BACKWARD_FILTER", (x, dy), dict(attrs, kernel=(3, 3)))]
    rows = []
    for (op, arrays, at), name in zip(cases, ["forward", "input gradient", "filter gradient"]):
        holders = [placeholder(a.shape) for a in arrays]
        fn = gn.function(holders, SymbolicTensor(Node(op, [h.node for h in holders], at)))
        fns = {"graphnet": lambda fn=fn, arrays=arrays: fn(*arrays)}
        if torch is not None:
            F = torch.nn.functional
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
            dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))
            if name == "forward":
                fns["PyTorch"] = lambda: F.conv2d(xt, wt)
            elif name == "input gradient":
                fns["PyTorch"] = lambda: torch.nn.grad.conv2d_input(xt.shape, wt, dyt)
            else:
                fns["PyTorch"] = lambda: torch.nn.grad.conv2d_weight(xt, wt.shape, dyt)
        row = median_times(fns, args.repeats, args.min_repeat_time)
        flops = 2.0 * TRAIN_BATCH * 24 * 24 * 64 * 3 * 3 * 32
        row["case"] = f"conv 3x3 32->64 {name}, batch {TRAIN_BATCH} " \
                      f"({flops / row['graphnet'] / 1e9:.0f} GFLOP/s)"
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--min-repeat-time", type=float, default=0.05,
                        help="seconds each timed repeat lasts at least")
    parser.add_argument("--pause", type=float, default=0.25,
                        help="seconds before each timed repeat (other frameworks' threads idle)")
    parser.add_argument("--skip-train", action="store_true", help="time inference only")
    args = parser.parse_args(argv)
    bench_mnist_mlp.SETTLE_SECONDS = args.pause

    gn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(machine_line(gn.get_num_threads()))
    load_before = load_average()

    gn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = graphnet_model()
    weights = model.get_weights()
    tmodel = torch_model(weights).eval() if torch is not None else None
    session = None
    with tempfile.TemporaryDirectory() as tmp:
        if torch is not None and ort is not None:
            session = onnx_session(tmodel, os.path.join(tmp, "mnist_cnn.onnx"), args.threads)
        rows = bench_inference(model, tmodel, session, args, rng)
    why_not = None
    if args.skip_train:
        why_not = "--skip-train: training not timed"
    else:
        train_row, why_not = bench_training(model, args, rng)
        if train_row is not None:
            rows.append(train_row)
    rows += bench_conv_kernels(args, rng)

    others = [name for name in ("PyTorch", "ONNX Runtime") if any(name in r for r in rows)]
    print(f"\nmnist_cnn, median of {args.repeats} repeats, ratios > 1: graphnet is faster\n")
    print(table(rows, others))
    print("\ncompiled plans (graphnet):\n")
    print(plan_table(plan_rows(model, (28, 28, 1), BATCHES, TRAIN_BATCH)))
    if why_not:
        print(f"\n{why_not}")
    load_after = load_average()
    if load_before is not None:
        print(f"\n1-minute load average: {load_before:.2f} before, {load_after:.2f} after")
        if max(load_before, load_after) > 0.5:
            print("warning: other processes were using the CPUs; rerun on an idle machine")


if __name__ == "__main__":
    main()
