"""ResNet50 inference (gn.applications.ResNet50, 224x224, the classifier included) in
graphnet vs PyTorch eager vs ONNX Runtime, at batch 1 and 32, on the same weights.

* graphnet: ``model.predict_on_batch`` (the compiled plan; BatchNormalization folded into
  the convolutions at inference);
* PyTorch eager: the same network written below as a torch module (NCHW, BatchNorm2d
  kept, as a PyTorch user runs it), under ``torch.inference_mode()``, its weights copied
  from the graphnet model by layer name;
* ONNX Runtime: graphnet's own ONNX export of the model (``gn.export.to_onnx``), with all
  its graph optimizations.

The three are checked to agree before timing. Each library is timed in its own block
after ``--pause`` seconds of idling (so no library's spinning worker threads slow the
next): a warm-up, then ``--repeats`` timed calls; the table gives the median, the
spread (the lowest and highest timed call) and the ratios of the medians (> 1: graphnet is
faster). Every library runs on ``--threads`` threads (2 by default).

    python bench/bench_applications.py [--threads 2] [--repeats 10] [--pause 2]
                                       [--batches 1 32]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_mnist_mlp import gn, load_average, machine_line, ort, ort_session, torch  # noqa

SIZE = 224
STACKS = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))   # (filters, blocks, stride)


# -- ResNet50 in PyTorch, weights from the graphnet (Keras-layout) model ----------------
def torch_resnet50(model):
    """Keras's ResNet50 as a torch module, with ``model``'s weights (found by the Keras
    layer names: conv1_conv, conv2_block1_0_conv, ..., predictions)."""
    nn = torch.nn
    weights = {layer.name: [np.asarray(w) for w in layer.get_weights()]
               for layer in model.layers}

    def conv(name, cin, cout, kernel, stride=1, padding=0):
        module = nn.Conv2d(cin, cout, kernel, stride, padding)
        kernel_hwio, bias = weights[name]
        module.weight.data = torch.from_numpy(np.ascontiguousarray(
            kernel_hwio.transpose(3, 2, 0, 1)))
        module.bias.data = torch.from_numpy(bias)
        return module

    def batch_norm(name, channels):
        module = nn.BatchNorm2d(channels, eps=1.001e-5)
        gamma, beta, mean, var = weights[name]
        for tensor, value in zip((module.weight, module.bias, module.running_mean,
                                  module.running_var), (gamma, beta, mean, var)):
            tensor.data = torch.from_numpy(value.copy())
        return module

    class Block(nn.Module):
        def __init__(self, name, cin, filters, stride, conv_shortcut):
            super().__init__()
            self.shortcut = nn.Sequential(
                conv(f"{name}_0_conv", cin, 4 * filters, 1, stride),
                batch_norm(f"{name}_0_bn", 4 * filters)) if conv_shortcut else nn.Identity()
            self.body = nn.Sequential(
                conv(f"{name}_1_conv", cin, filters, 1, stride),
                batch_norm(f"{name}_1_bn", filters), nn.ReLU(),
                conv(f"{name}_2_conv", filters, filters, 3, 1, 1),
                batch_norm(f"{name}_2_bn", filters), nn.ReLU(),
                conv(f"{name}_3_conv", filters, 4 * filters, 1),
                batch_norm(f"{name}_3_bn", 4 * filters))

        def forward(self, x):
            return torch.relu(self.shortcut(x) + self.body(x))

    layers = [conv("conv1_conv", 3, 64, 7, 2, 3), batch_norm("conv1_bn", 64), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stack, (filters, blocks, stride) in enumerate(STACKS, start=2):
        for block in range(1, blocks + 1):
            layers.append(Block(f"conv{stack}_block{block}", cin, filters,
                                stride if block == 1 else 1, block == 1))
            cin = 4 * filters
    linear = nn.Linear(cin, 1000)
    kernel, bias = weights["predictions"]
    linear.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.T))
    linear.bias.data = torch.from_numpy(bias)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear, nn.Softmax(dim=-1)]
    return nn.Sequential(*layers).eval()


# -- timing ----------------------------------------------------------------------------
def time_block(fn, repeats, pause, warmup=2):
    """Seconds of each of ``repeats`` calls of ``fn`` after ``pause`` s idle and a
    warm-up."""
    time.sleep(pause)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def fmt_ms(seconds):
    return f"{seconds * 1e3:.1f}"


def report(batch, results):
    """Lines of the table of one batch size: median and spread per library and the
    ratios of the medians to graphnet's."""
    ours = statistics.median(results["graphnet"])
    lines = []
    for name, times in results.items():
        median = statistics.median(times)
        ratio = "" if name == "graphnet" else f"{median / ours:.2f}x"
        lines.append(f"| {batch:5d} | {name:12s} | {fmt_ms(median):>8s} | "
                     f"{fmt_ms(min(times)):>7s} - {fmt_ms(max(times)):<7s} | {ratio:>9s} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--pause", type=float, default=2.0,
                        help="seconds idle before each library's block")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args(argv)

    gn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(machine_line(gn.get_num_threads()))
    load_before = load_average()
    gn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = gn.applications.ResNet50(weights=None)
    # Keras's BN starts at mean 0, variance 1: give it statistics so folding is exercised
    for layer in model.layers:
        if isinstance(layer, gn.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                               rng.normal(0, 0.1, beta.shape).astype("float32"),
                               rng.normal(0, 0.1, mean.shape).astype("float32"),
                               rng.uniform(0.5, 1.5, var.shape).astype("float32")])
    tmodel = torch_resnet50(model) if torch is not None else None
    session = None
    if ort is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "resnet50.onnx")
            gn.export.to_onnx(model, path)
            session = ort_session(path, args.threads)
    input_name = session.get_inputs()[0].name if session is not None else None

    lines = ["| batch | library      | median ms | spread ms       | vs graphnet |",
             "|------:|--------------|----------:|-----------------|------------:|"]
    for batch in args.batches:
        x = rng.uniform(-1, 1, (batch, SIZE, SIZE, 3)).astype("float32")
        want = model.predict_on_batch(x)
        fns = {"graphnet": lambda: model.predict_on_batch(x)}
        if tmodel is not None:
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            with torch.inference_mode():
                np.testing.assert_allclose(tmodel(xt).numpy(), want, atol=1e-5)

            def run_torch():
                with torch.inference_mode():
                    tmodel(xt)
            fns["PyTorch"] = run_torch
        if session is not None:
            np.testing.assert_allclose(session.run(None, {input_name: x})[0], want, atol=1e-5)
            fns["ONNX Runtime"] = lambda: session.run(None, {input_name: x})
        results = {name: time_block(fn, args.repeats, args.pause) for name, fn in fns.items()}
        lines += report(batch, results)
    print(f"\nResNet50 inference, {SIZE}x{SIZE}, {args.repeats} calls per library and "
          "batch; ratios > 1: graphnet is faster\n")
    print("\n".join(lines))
    load_after = load_average()
    if load_before is not None:
        print(f"\n1-minute load average: {load_before:.2f} before, {load_after:.2f} after")


if __name__ == "__main__":
    main()
