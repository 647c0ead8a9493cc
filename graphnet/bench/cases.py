"""The benchmark cases of ``graphnet-bench``: each builds graphnet's callable and, where
it can, the same computation in numpy, PyTorch and ONNX Runtime (checked to agree)."""
import os
import tempfile
import warnings

import numpy as np

from .timing import measure


class Frameworks:
    """The optional comparison frameworks, imported once (None when missing)."""

    def __init__(self, threads, compare=True):
        self.threads = threads
        self.torch = self.ort = None
        self.missing = []
        if not compare:
            return
        try:
            import torch
            torch.set_num_threads(threads)
            self.torch = torch
        except ImportError:
            self.missing.append("torch")
        try:
            import onnxruntime
            self.ort = onnxruntime
        except ImportError:
            self.missing.append("onnxruntime")
        try:
            import onnx  # noqa: F401  (graphnet's ONNX export needs it)
        except ImportError:
            if self.ort is not None:
                self.missing.append("onnx (needed to export graphnet models for ONNX Runtime)")
                self.ort = None
        try:
            from threadpoolctl import threadpool_limits
            self.numpy_limit = threadpool_limits(limits=threads)
            self.numpy_threads = f"{threads} (threadpoolctl)"
        except ImportError:
            self.numpy_threads = "not controlled (install threadpoolctl)"

    def session(self, proto):
        """An ONNX Runtime session on ``threads`` threads for an ONNX ModelProto."""
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        return self.ort.InferenceSession(proto.SerializeToString(), options,
                                         providers=["CPUExecutionProvider"])


def _check(name, got, want, atol=1e-4, rtol=1e-3):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.allclose(got, want, atol=atol, rtol=rtol,
                                                  equal_nan=True):
        diff = np.max(np.abs(got - want)) if got.shape == want.shape else "shape"
        raise RuntimeError(f"{name} disagrees with graphnet (max difference {diff})")


def plan_flops(plan):
    """Floating-point operations of a plan's GEMM and convolution steps (2 per MAC)."""
    from ..runtime.cext import lib
    ids = {getattr(lib, k): k for k in dir(lib) if k.startswith("GN_K_")}
    total = 0
    for kid, ioff, _, _ in plan.steps.tolist():
        a = plan.iargs[ioff:]
        name = ids.get(kid)
        if name in ("GN_K_GEMM", "GN_K_GEMM_BIAS_ACT"):
            total += 2 * int(a[2]) * int(a[3]) * int(a[4])
        elif name == "GN_K_BATCH_GEMM":
            total += 2 * int(a[2]) * int(a[3]) * int(a[4]) * int(a[11])
        elif name in ("GN_K_CONV", "GN_K_CONV_BACKWARD_INPUT", "GN_K_CONV_BACKWARD_FILTER",
                      "GN_K_CONV_BIAS_ACT", "GN_K_CONV_BIAS_ACT_POOL"):
            # the geometry follows the slots (and the pooling window)
            at = {"GN_K_CONV_BIAS_ACT": 8, "GN_K_CONV_BIAS_ACT_POOL": 10}.get(name, 5)
            g = [int(v) for v in a[at:at + 22]]  # n, in[3], c, out[3], o, k[3], ... groups
            n, c, o, groups = g[0], g[4], g[8], g[21]
            out, k = np.prod(g[5:8]), np.prod(g[9:12])
            total += 2 * n * int(out) * o * int(k) * (c // max(groups, 1))
    return total


class Case:
    """One row: a name, graphnet's callable, optional baselines and a FLOP count."""

    def __init__(self, name, graphnet, flops=None, baselines=None, note=None):
        self.name, self.graphnet, self.flops = name, graphnet, flops
        self.baselines = baselines or {}
        self.note = note

    def run(self, args, progress):
        row = {"case": self.name}
        progress.update(f"{self.name}: graphnet")
        row["graphnet"] = measure(self.graphnet, args.repeat, args.warmup, args.min_repeat_time)
        if self.flops:
            row["flops"] = self.flops
            row["gflops"] = self.flops / row["graphnet"]["median"] / 1e9
        for key, fn in self.baselines.items():
            if fn is None or args.no_compare:
                continue
            progress.update(f"{self.name}: {key}")
            row[key] = measure(fn, args.repeat, args.warmup, args.min_repeat_time)
        if self.note:
            row["note"] = self.note
        return row


# -- gemm -----------------------------------------------------------------------------------
def gemm_case(m, n, k, ta, tb, fw, rng):
    from ..runtime.cext import ffi, lib
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    c = np.zeros((m, n), np.float32)
    pa, pb, pc = (ffi.cast("float *", x.ctypes.data) for x in (a, b, c))
    lda, ldb = a.shape[1], b.shape[1]

    def run(keep=(a, b, c)):   # the arrays must outlive the raw pointers
        lib.gn_sgemm(int(ta), int(tb), m, n, k, 1.0, pa, lda, pb, ldb, 0.0, pc, n)
    run()
    want = c.copy()
    an, bn = (a.T if ta else a), (b.T if tb else b)
    out = np.empty_like(c)
    _check("numpy", np.matmul(an, bn), want)
    baselines = {"numpy": lambda: np.matmul(an, bn, out=out)}
    if fw.torch is not None:
        t = fw.torch
        at, bt = t.from_numpy(a), t.from_numpy(b)
        at, bt = (at.T if ta else at), (bt.T if tb else bt)
        ct = t.empty(m, n)
        _check("PyTorch", t.matmul(at, bt).numpy(), want)
        baselines["torch"] = lambda: t.matmul(at, bt, out=ct)
    if fw.ort is not None:
        from onnx import TensorProto, helper
        graph = helper.make_graph(
            [helper.make_node("Gemm", ["A", "B"], ["C"], transA=int(ta), transB=int(tb))],
            "gemm", [helper.make_tensor_value_info("A", TensorProto.FLOAT, list(a.shape)),
                     helper.make_tensor_value_info("B", TensorProto.FLOAT, list(b.shape))],
            [helper.make_tensor_value_info("C", TensorProto.FLOAT, [m, n])])
        opsets = [helper.make_opsetid("", 17)]
        proto = helper.make_model(graph, opset_imports=opsets,
                                  ir_version=helper.find_min_ir_version_for(opsets))
        sess = fw.session(proto)
        feed = {"A": a, "B": b}
        _check("ONNX Runtime", sess.run(None, feed)[0], want)
        baselines["onnxruntime"] = lambda: sess.run(None, feed)
    name = f"gemm {m}x{n}x{k}" + (" A^T" if ta else "") + (" B^T" if tb else "")
    return Case(name, run, 2.0 * m * n * k, baselines)


def peak_case(size, fw, rng):
    case = gemm_case(size, size, size, False, False, Frameworks(fw.threads, compare=False),
                     rng)
    case.name = f"gn_sgemm {size}^3"
    return case


# -- graphs (eltwise, layer, model): graphnet function + reference + ONNX Runtime ------------
def _function_baselines(fn, inputs, outputs, arrays, fw, want, numpy_ref=True):
    """numpy (graphnet's NumPy reference interpreter) and ONNX Runtime (graphnet's ONNX
    export of the same graph) for a compiled gn.function."""
    from ..runtime.function import Function
    baselines = {}
    if numpy_ref:
        ref = Function(inputs, outputs, backend="reference")
        baselines["numpy"] = lambda: ref(*arrays)
    if fw.ort is not None:
        from ..export.onnx_export import ONNXExportError, to_onnx
        try:
            proto = to_onnx((inputs, outputs))
        except ONNXExportError as exc:
            warnings.warn(f"ONNX Runtime skipped: {exc}")
            return baselines
        sess = fw.session(proto)
        feed = {i.name: a for i, a in zip(sess.get_inputs(), arrays)}
        _check("ONNX Runtime", sess.run(None, feed)[0], want)
        baselines["onnxruntime"] = lambda: sess.run(None, feed)
    return baselines


TORCH_ELTWISE = {
    "RELU": "relu", "SIGMOID": "sigmoid", "TANH": "tanh", "EXP": "exp", "LOG": "log",
    "SQRT": "sqrt", "ABS": "abs", "NEG": "neg", "SIN": "sin", "COS": "cos", "ERF": "erf",
    "ADD": "add", "SUB": "sub", "MUL": "mul", "DIV": "div", "MAXIMUM": "maximum",
    "MINIMUM": "minimum", "POW": "pow", "FLOOR": "floor", "CEIL": "ceil",
}


def eltwise_case(op_name, size, fw, rng):
    import graphnet as gn
    from ..graph.node import Node
    from ..graph.tensor import SymbolicTensor
    from ..ops import all_ops
    name = op_name.upper()
    ops = all_ops()
    if name not in ops or ops[name].group != "elementwise" or ops[name].arity not in (1, 2):
        known = sorted(k for k, o in ops.items() if o.group == "elementwise"
                       and o.arity in (1, 2) and k not in ("CAST", "FULL_LIKE"))
        raise SystemExit(f"eltwise: unknown float elementwise op {op_name!r}; one of: "
                         f"{', '.join(known)}")
    arity = ops[name].arity
    positive = name in ("LOG", "SQRT", "RSQRT", "LOG1P", "POW", "RECIPROCAL")
    arrays = [(np.abs(rng.standard_normal(size)) + 0.5 if positive else
               rng.standard_normal(size)).astype(np.float32) for _ in range(arity)]
    if name.startswith("LOGICAL_"):
        arrays = [a > 0 for a in arrays]
    inputs = [gn.Input(batch_shape=(size,), dtype=str(a.dtype), name=f"x{i}")
              for i, a in enumerate(arrays)]
    out = SymbolicTensor(Node(name, [t.node for t in inputs]))
    fn = gn.function(inputs, out, name=name.lower())
    want = fn(*arrays)
    baselines = _function_baselines(fn, inputs, [out], arrays, fw, want, numpy_ref=False)
    perform = ops[name].perform
    baselines["numpy"] = lambda: perform(arrays, {})
    if fw.torch is not None and name in TORCH_ELTWISE:
        t = fw.torch
        tf = getattr(t, TORCH_ELTWISE[name])
        targs = [t.from_numpy(a) for a in arrays]
        _check("PyTorch", tf(*targs).numpy(), want)
        baselines["torch"] = lambda: tf(*targs)
    case = Case(f"{name.lower()} n={size:,}", lambda: fn(*arrays), float(size), baselines,
                note="GFLOP/s counts one operation per element")
    return case


def layer_case(class_name, kwargs, input_shape, fw, rng):
    import graphnet as gn
    from .. import layers  # noqa: F401  (fills the layer registry)
    from ..engine.base_layer import layer_registry
    try:
        cls = layer_registry.lookup(class_name)
    except ValueError as exc:
        raise SystemExit(f"layer: {exc}") from None
    batch, rest = int(input_shape[0]), tuple(int(d) for d in input_shape[1:])
    x = gn.Input(rest, name="x")
    try:
        layer = cls(**kwargs)
        y = layer(x)
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"layer: cannot build {class_name}(**{kwargs}) on input shape "
                         f"{(batch, *rest)}: {exc}") from None
    model = gn.Model(x, y)
    return model_case(model, batch, fw, rng,
                      f"{class_name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) "
                      f"on {(batch, *rest)}")


def _model_arrays(model, batch, rng):
    arrays = []
    for t in model.inputs:
        shape = tuple(batch if d is None else d for d in t.shape)
        arrays.append(rng.standard_normal(shape).astype(t.dtype) if np.dtype(t.dtype).kind
                      == "f" else rng.integers(0, 3, shape).astype(t.dtype))
    return arrays


def model_case(model, batch, fw, rng, name=None, torch_model=None):
    """predict_on_batch of a graphnet model (as bench/ scripts time it) vs the reference
    interpreter, PyTorch (when a twin is given) and ONNX Runtime (graphnet's export)."""
    arrays = _model_arrays(model, batch, rng)
    fn = model.predict_function()
    want = fn(*arrays)
    want = want if isinstance(want, list) else [want]
    plan = fn.executable([a.shape for a in arrays]).plan
    baselines = _function_baselines(fn, model.inputs, model.outputs, arrays, fw, want[0])
    if torch_model is not None and fw.torch is not None:
        t = fw.torch
        xt = [t.from_numpy(a) for a in arrays]
        with t.no_grad():
            _check("PyTorch", torch_model(*xt).numpy(), want[0])

        def run_torch():
            with t.no_grad():
                torch_model(*xt)
        baselines["torch"] = run_torch
    return Case(name or f"{model.name}, batch {batch}",
                lambda: model.predict_on_batch(arrays if len(arrays) > 1 else arrays[0]),
                float(plan_flops(plan)) or None, baselines)


def compiled_cases(path, batches, rng):
    """A .gnx file's loaded CompiledModel at each of ``batches`` (default 1 and 128), or at
    its fixed batch size (no baselines: the graph is not available)."""
    from ..export import load_compiled
    from ..export.batch_plan import batch_shape
    cm = load_compiled(path)
    if cm.batch_size is not None:
        if batches not in (None, [cm.batch_size]):
            raise SystemExit(f"model: {path} is compiled for batch {cm.batch_size} only; "
                             f"export it with batch_size=None to time batches {batches}")
        batches = [cm.batch_size]
    cases = []
    for n in batches or [1, 128]:
        arrays = [rng.standard_normal(batch_shape(s["shape"], n)).astype(s["dtype"])
                  for s in cm.input_specs]
        plan = cm.executable(n).plan
        cases.append(Case(f"{os.path.basename(path)} (compiled, batch {n})",
                          lambda arrays=arrays: cm.run(*arrays), float(plan_flops(plan)) or None))
    return cases


# -- built-in models ----------------------------------------------------------------------------
def mnist_mlp():
    import graphnet as gn
    return gn.Sequential([
        gn.Input(shape=(784,), name="pixels"),
        gn.layers.Dense(512, activation="relu"), gn.layers.Dropout(0.2),
        gn.layers.Dense(512, activation="relu"), gn.layers.Dropout(0.2),
        gn.layers.Dense(10, activation="softmax")], name="mnist_mlp")


def mnist_cnn():
    """Keras's mnist_cnn example network."""
    import graphnet as gn
    L = gn.layers
    if not hasattr(L, "Conv2D"):
        raise SystemExit("model mnist_cnn: this graphnet has no Conv2D layer yet")
    return gn.Sequential([
        gn.Input(shape=(28, 28, 1), name="pixels"),
        L.Conv2D(32, (3, 3), activation="relu"), L.Conv2D(64, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)), L.Dropout(0.25), L.Flatten(),
        L.Dense(128, activation="relu"), L.Dropout(0.5),
        L.Dense(10, activation="softmax")], name="mnist_cnn")


def torch_twin(model, torch):
    """A PyTorch module computing a Sequential of Dense / Conv2D ('valid' or 'same',
    stride 1) / MaxPooling2D / Flatten / Dropout layers with the model's weights, or None."""
    nn = torch.nn
    mods = []
    for layer in model.layers:
        kind = type(layer).__name__
        act = getattr(getattr(layer, "activation", None), "__name__", "linear")
        if kind == "Dense":
            k, b = layer.get_weights()
            lin = nn.Linear(*k.shape)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(k.T)))
                lin.bias.copy_(torch.from_numpy(b))
            mods.append(lin)
        elif kind == "Conv2D" and tuple(layer.strides) == (1, 1) and \
                layer.padding in ("valid", "same") and layer.use_bias:
            k, b = layer.get_weights()
            conv = nn.Conv2d(k.shape[2], k.shape[3], k.shape[:2], padding=layer.padding)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0,
                                                                                     1))))
                conv.bias.copy_(torch.from_numpy(b))
            mods.append(conv)
        elif kind in ("MaxPooling2D", "MaxPool2D") and layer.padding == "valid":
            mods.append(nn.MaxPool2d(tuple(layer.pool_size), tuple(layer.strides)))
        elif kind == "Flatten":
            mods.append(_NHWCFlatten(torch))
        elif kind == "Dropout":
            continue
        else:
            return None
        if act == "relu":
            mods.append(nn.ReLU())
        elif act == "softmax":
            mods.append(nn.Softmax(dim=-1))
        elif act != "linear":
            return None
    first = model.inputs[0]
    seq = nn.Sequential(*mods).eval()
    if len(first.shape) == 4:   # graphnet is channels-last: NHWC in, NCHW for torch
        return lambda x: seq(x.permute(0, 3, 1, 2))
    return seq


def _NHWCFlatten(torch):
    class Flatten(torch.nn.Module):
        def forward(self, x):   # NCHW back to graphnet's NHWC order before flattening
            return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
    return Flatten()


def saved_model(path):
    from ..saving import load_model
    return load_model(path, compile=False)


def temp_dir():
    return tempfile.TemporaryDirectory()
