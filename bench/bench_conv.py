"""2-D convolution: graphnet's CONV op vs PyTorch vs ONNX Runtime, side by side in one process.

The shapes are issue 5's (3x3 64->64 on 56x56 at batch 1 and 8, 3x3 32->64 on 26x26 at
batch 128 -- mnist_cnn's second layer --, 1x1 256->64 on 56x56, 7x7 3->64 on 112x112)
plus, as an extra, ResNet's 7x7 stride-2 stem on 224x224. No bias, no activation; with
``--epilogue`` each convolution adds a bias and applies relu (graphnet: one fused
CONV_BIAS_ACT kernel; PyTorch: conv2d with bias, then relu; ONNX Runtime: Conv with bias
then Relu, which its optimizer fuses).

Each framework runs in its own layout on data prepared beforehand, weights fixed when the
callable is built (as in a model):

* graphnet: ``gn.function`` of ``gn.ops.conv`` over an NHWC input, HWIO weights a constant;
* PyTorch: ``torch.nn.functional.conv2d`` on NCHW / OIHW tensors under ``torch.no_grad()``;
* ONNX Runtime: one ``Conv`` node (NCHW, weights an initializer), built with onnx.helper.

Outputs are checked to agree. Timing: rounds of one sample per framework (a sample is as
many calls as last ``--min-sample`` seconds), each after a ``--pause`` so the previous
library's thread pool is asleep; the median sample over the rounds is reported.

    python bench/bench_conv.py [--threads 2] [--rounds 11] [--epilogue]
        [--shapes N,H,W,C,O,K,stride,pad;...]
    python bench/bench_conv.py --depthwise [--shapes N,H,W,C,M,K,stride,pad;...]

``--depthwise`` times depthwise convolutions (``gn.ops.depthwise_conv``, channel multiplier
M; PyTorch and ONNX Runtime: a grouped convolution with one group per input channel),
forward, then the gradient of both the input and the filter (PyTorch: autograd's
backward; ONNX Runtime has no training rows).

Ratios are the other framework's median over graphnet's: above 1, graphnet is faster.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_mnist_mlp import gn, load_average, machine_line, ort, torch  # noqa: E402
from bench_mnist_mlp import WARM_SECONDS  # noqa: E402
from graphnet.bench.timing import fma_peak  # noqa: E402

# (N, H, W, C, O, K, stride, pad)
SHAPES = [(1, 56, 56, 64, 64, 3, 1, 1), (8, 56, 56, 64, 64, 3, 1, 1),
          (128, 26, 26, 32, 64, 3, 1, 0), (1, 56, 56, 256, 64, 1, 1, 0),
          (1, 112, 112, 3, 64, 7, 1, 3), (1, 224, 224, 3, 64, 7, 2, 3)]
# (N, H, W, C, M, K, stride, pad): mnist-sized at batch 128 and a MobileNet-like layer
DEPTHWISE_SHAPES = [(128, 28, 28, 32, m, 3, 1, 1) for m in (1, 2, 3)] + \
    [(1, 112, 112, 32, m, 3, 1, 1) for m in (1, 2)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=11, help="timed samples per framework")
    p.add_argument("--min-sample", type=float, default=0.05,
                   help="seconds one sample lasts at least")
    p.add_argument("--pause", type=float, default=0.25,
                   help="seconds to wait before each sample (ONNX Runtime's threads spin "
                        "for 100-150 ms after a run)")
    p.add_argument("--peak", type=float, default=None,
                   help="GFLOP/s per core for %%peak (default: measured by graphnet's FMA "
                        "probe on the same threads)")
    p.add_argument("--epilogue", action="store_true",
                   help="add a bias and relu to every convolution")
    p.add_argument("--depthwise", action="store_true",
                   help="depthwise convolutions (forward and gradients) instead")
    p.add_argument("--shapes", default="",
                   help="';'-separated N,H,W,C,O,K,stride,pad (with --depthwise "
                        "N,H,W,C,M,K,stride,pad; default: issue 5's set, or multipliers 1-3)")
    args = p.parse_args(argv)
    if args.depthwise and (args.peak is not None or args.epilogue):
        p.error("--depthwise reports times only: no --peak, no --epilogue")
    return args


def graphnet_conv(x, w, stride, pad, bias=None):
    xi = gn.Input(batch_shape=x.shape, name="x")
    y = gn.ops.conv(xi, w, strides=stride, padding=((pad, pad), (pad, pad)))
    if bias is not None:
        y = gn.ops.relu(gn.ops.add(y, bias))
    fn = gn.function([xi], y, name="conv")
    return lambda: fn(x)


def torch_conv(x, w, stride, pad, bias=None):
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
    bt = None if bias is None else torch.from_numpy(bias)
    F = torch.nn.functional

    def run():
        with torch.no_grad():
            y = F.conv2d(xt, wt, bt, stride=stride, padding=pad)
            return y if bias is None else torch.relu(y)
    return run


def ort_conv(x, w, stride, pad, threads, bias=None, groups=1):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    n, h, ww, c = x.shape
    k, o = w.shape[0], w.shape[3]  # w: (K, K, C / groups, O)
    oh, ow = (h + 2 * pad - k) // stride + 1, (ww + 2 * pad - k) // stride + 1
    inits = [numpy_helper.from_array(np.ascontiguousarray(w.transpose(3, 2, 0, 1)), "W")]
    nodes = [helper.make_node("Conv", ["X", "W"] + (["B"] if bias is not None else []),
                              ["Y" if bias is None else "Z"], kernel_shape=[k, k],
                              strides=[stride, stride], pads=[pad] * 4, group=groups)]
    if bias is not None:
        inits.append(numpy_helper.from_array(bias, "B"))
        nodes.append(helper.make_node("Relu", ["Z"], ["Y"]))
    graph = helper.make_graph(
        nodes, "conv", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [n, c, h, ww])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n, o, oh, ow])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])
    feed = {"X": np.ascontiguousarray(x.transpose(0, 3, 1, 2))}
    return lambda: sess.run(None, feed)[0]


def depthwise_fns(x, w, dy, stride, pad, threads):
    """{"forward": {framework: fn}, "forward + gradients": {...}} for one depthwise
    convolution (x NHWC, w (K, K, C, M), dy the output's shape), the frameworks checked to
    agree."""
    c, k, m = x.shape[3], w.shape[0], w.shape[3]
    xi, wi = gn.Input(batch_shape=x.shape, name="x"), gn.Input(batch_shape=w.shape, name="w")
    gi = gn.Input(batch_shape=dy.shape, name="dy")
    y = gn.ops.depthwise_conv(xi, wi, strides=stride, padding=((pad, pad), (pad, pad)))
    forward = gn.function([xi, wi], y, name="depthwise")
    # the loss sum(y * dy): its gradients are the kernels' input and filter gradients
    train = gn.function([xi, wi, gi], [y] + gn.gradients(gn.ops.multiply(y, gi), [xi, wi]),
                        name="depthwise_grad")
    want = train(x, w, dy)
    np.testing.assert_allclose(forward(x, w), want[0], atol=1e-4, rtol=1e-4)
    fns = {"forward": {"graphnet": lambda: forward(x, w)},
           "forward + gradients": {"graphnet": lambda: train(x, w, dy)}}
    if torch is not None:
        F = torch.nn.functional
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        # output channel c * M + i reads input channel c: torch's (C * M, 1, K, K)
        wt = torch.from_numpy(np.ascontiguousarray(
            w.reshape(k, k, c * m).transpose(2, 0, 1)[:, None]))
        gt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))
        xg, wg = xt.clone().requires_grad_(), wt.clone().requires_grad_()

        def torch_forward():
            with torch.no_grad():
                return F.conv2d(xt, wt, stride=stride, padding=pad, groups=c)

        def torch_train():
            xg.grad = wg.grad = None
            F.conv2d(xg, wg, stride=stride, padding=pad, groups=c).backward(gt)
            return xg.grad, wg.grad

        got_x, got_w = torch_train()
        np.testing.assert_allclose(torch_forward().numpy().transpose(0, 2, 3, 1), want[0],
                                   atol=1e-3, rtol=1e-3)
        np.testing.assert_allclose(got_x.numpy().transpose(0, 2, 3, 1), want[1],
                                   atol=1e-3, rtol=1e-3)
        np.testing.assert_allclose(got_w.numpy()[:, 0].transpose(1, 2, 0).reshape(w.shape),
                                   want[2], atol=1e-3 * float(np.abs(want[2]).max()), rtol=1e-3)
        fns["forward"]["PyTorch"] = torch_forward
        fns["forward + gradients"]["PyTorch"] = torch_train
    if ort is not None:
        fns["forward"]["ONNX Runtime"] = ort_conv(x, w.reshape(k, k, 1, c * m), stride, pad,
                                                  threads, groups=c)
        np.testing.assert_allclose(fns["forward"]["ONNX Runtime"]().transpose(0, 2, 3, 1),
                                   want[0], atol=1e-3, rtol=1e-3)
    return fns


def median_times(fns, args):
    """Median seconds per call of each callable: ``args.rounds`` samples, interleaved
    across the frameworks, each after ``args.pause``."""
    for fn in fns.values():    # warm up
        for _ in range(3):
            fn()
    times = {name: [] for name in fns}
    for _ in range(args.rounds):
        for name, fn in fns.items():
            time.sleep(args.pause)
            times[name].append(sample(fn, args.min_sample))
    return {name: statistics.median(t) for name, t in times.items()}


def depthwise_rows(args, shapes, others):
    rng = np.random.default_rng(0)
    for n, h, w_, c, m, k, stride, pad in shapes:
        x = rng.standard_normal((n, h, w_, c), dtype=np.float32)
        w = rng.standard_normal((k, k, c, m), dtype=np.float32) / np.float32(k)
        oh, ow = (h + 2 * pad - k) // stride + 1, (w_ + 2 * pad - k) // stride + 1
        dy = rng.standard_normal((n, oh, ow, c * m), dtype=np.float32)
        for what, fns in depthwise_fns(x, w, dy, stride, pad, args.threads).items():
            med = median_times(fns, args)
            cells = [f"{n}x{h}x{w_}x{c}, M {m}, {k}x{k}, s{stride}, p{pad}", what,
                     fmt(med["graphnet"])]
            cells += [fmt(med[o]) if o in med else "n/a" for o in others]
            cells += [f"{med[o] / med['graphnet']:.2f}x" if o in med else "n/a"
                      for o in others]
            print("| " + " | ".join(cells) + " |")
            sys.stdout.flush()


def sample(fn, min_sample):
    """Seconds per call over one sample of enough calls to last ``min_sample``, after
    WARM_SECONDS of untimed calls (the machine wakes up from the pause before it)."""
    warm_until = time.perf_counter() + WARM_SECONDS
    while time.perf_counter() < warm_until:
        fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    calls = max(1, int(min_sample / max(once, 1e-7)))
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def fmt(seconds):
    return f"{seconds * 1e6:,.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def main(argv=None):
    args = parse_args(argv)
    gn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    shapes = DEPTHWISE_SHAPES if args.depthwise else SHAPES
    if args.shapes:
        shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";")]
    print(machine_line(gn.get_num_threads()))
    others = [name for name, mod in (("PyTorch", torch), ("ONNX Runtime", ort)) if mod]
    if args.depthwise:
        print(f"median of {args.rounds} samples per framework")
        load_before = load_average()
        head = ["shape (NHWC in, multiplier, KxK, stride, pad)", "pass", "graphnet"] + \
            others + [f"{o} / graphnet" for o in others]
        print("\n| " + " | ".join(head) + " |")
        print("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
        depthwise_rows(args, shapes, others)
        print_load(load_before)
        return
    if args.peak:
        peak, peak_source = args.peak * args.threads, "given by --peak"
    else:
        peak, peak_source = fma_peak(), "measured by the FMA probe"
    print(f"median of {args.rounds} samples per framework; %peak against {peak:.0f} GFLOP/s "
          f"({peak_source}; Winograd counts the direct convolution's FLOPs)")
    load_before = load_average()
    head = ["shape (NHWC in, OxKxK, stride, pad)", "graphnet", "GFLOP/s", "%peak"] + \
        others + [f"{o} / graphnet" for o in others]
    print("\n| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    rng = np.random.default_rng(0)
    for n, h, w_, c, o, k, stride, pad in shapes:
        x = rng.standard_normal((n, h, w_, c), dtype=np.float32)
        w = rng.standard_normal((k, k, c, o), dtype=np.float32) / np.float32(np.sqrt(k * k * c))
        bias = rng.standard_normal(o, dtype=np.float32) if args.epilogue else None
        fns = {"graphnet": graphnet_conv(x, w, stride, pad, bias)}
        want = fns["graphnet"]()
        if torch is not None:
            fns["PyTorch"] = torch_conv(x, w, stride, pad, bias)
            np.testing.assert_allclose(fns["PyTorch"]().numpy().transpose(0, 2, 3, 1), want,
                                       atol=1e-3, rtol=1e-3)
        if ort is not None:
            fns["ONNX Runtime"] = ort_conv(x, w, stride, pad, args.threads, bias)
            np.testing.assert_allclose(fns["ONNX Runtime"]().transpose(0, 2, 3, 1), want,
                                       atol=1e-3, rtol=1e-3)
        med = median_times(fns, args)
        oh, ow = want.shape[1:3]
        gflops = 2.0 * n * oh * ow * o * k * k * c / med["graphnet"] / 1e9
        cells = [f"{n}x{h}x{w_}x{c}, {o}x{k}x{k}, s{stride}, p{pad}", fmt(med["graphnet"]),
                 f"{gflops:.0f}", f"{100 * gflops / peak:.0f}%"]
        cells += [fmt(med[o_]) for o_ in others]
        cells += [f"{med[o_] / med['graphnet']:.2f}x" for o_ in others]
        print("| " + " | ".join(cells) + " |")
        sys.stdout.flush()
    print_load(load_before)


def print_load(load_before):
    load_after = load_average()
    if load_before is not None:
        print(f"\n1-minute load average: {load_before:.2f} before, {load_after:.2f} after")


if __name__ == "__main__":
    main()
