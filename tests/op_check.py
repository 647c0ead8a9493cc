"""``check_op``: the one generic op test (ARCHITECTURE.md, "Testing habits").

For an op (or a small graph) built by ``fn`` on placeholders it checks:

1. forward: the compiled C path against the NumPy reference interpreter (float32),
   and the static shape/dtype against the computed arrays;
2. gradient, float64: the autodiff gradient (run by the reference interpreter on
   float64 arrays) against central finite differences of the same graph, both
   along a random direction and element by element on a sample;
3. gradient, float32: the compiled C gradient against the reference gradient;
4. re-specialization: with the None dims fed at another size, C against reference
   again (forward and gradient), so no gradient graph bakes in a batch size.

The gradient is of ``sum(fn(*x) * ct)`` for a random cotangent ``ct``; it is taken
with respect to every float input and every float variable in the graph.
"""
import numpy as np

import graphnet as gn
from graphnet.engine.input_layer import placeholder
from graphnet.graph.graph import topological_order
from graphnet.runtime.reference import evaluate

FLOAT = "float"


def _spec(value, n, what):
    """A per-input list from one value or a list of n."""
    if isinstance(value, list):
        if len(value) != n:
            raise ValueError(f"check_op: {what} needs {n} entries, got {len(value)}")
        return value
    return [value] * n


def _draw(rng, shape, dtype, domain):
    if dtype == FLOAT:
        if callable(domain):
            return np.asarray(domain(rng, shape), dtype=np.float64)
        lo, hi = domain
        return rng.uniform(lo, hi, size=shape)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    lo, hi = domain if not callable(domain) else (-5, 5)
    return rng.integers(int(np.floor(lo)), int(np.ceil(hi)) + 1, size=shape).astype(dtype)


def _symbolic_shapes(shapes, none_axes):
    """Placeholder shapes: "auto" makes axis 0 None on the highest-rank inputs whose
    axis 0 is the largest among them (never a broadcast axis); or a per-input list."""
    if none_axes == "auto":
        ranks = [len(s) for s in shapes]
        top = max(ranks, default=0)
        if top == 0:
            return [tuple(s) for s in shapes]
        biggest = max(s[0] for s in shapes if len(s) == top)
        return [tuple(None if (i == 0 and len(s) == top and s[0] == biggest) else d
                      for i, d in enumerate(s)) for s in shapes]
    none_axes = _spec(list(none_axes) if none_axes and isinstance(none_axes[0], (list, tuple))
                      else tuple(none_axes), len(shapes), "none_axes")
    return [tuple(None if i in axes else d for i, d in enumerate(s))
            for s, axes in zip(shapes, none_axes)]


class _Build:
    """fn built on placeholders of one float dtype, with its gradient graph."""

    def __init__(self, fn, sym_shapes, dtypes, float_dtype, op, want_grad):
        self.inputs = [placeholder(s, float_dtype if d == FLOAT else d, name=f"x{i}")
                       for i, (s, d) in enumerate(zip(sym_shapes, dtypes))]
        out = fn(*self.inputs)
        if not isinstance(out, gn.SymbolicTensor):
            out = gn.ops.convert_to_tensor(out)
        self.out = out
        order = topological_order([out.node])
        self.op_names = {n.op.name for n in order}
        if op is not None and op not in self.op_names:
            raise AssertionError(f"check_op: {op} does not occur in the graph built by fn "
                                 f"(ops: {sorted(self.op_names)})")
        variables = {}
        for n in order:
            if n.op.name == "VARIABLE":
                variables.setdefault(id(n.attrs["var"]), n.attrs["var"])
        self.variables = list(variables.values())
        self.diff_inputs = [x for x in self.inputs if x.dtype == float_dtype]
        self.diff_vars = [v for v in self.variables if v.dtype == float_dtype]
        self.ct = None
        self.grads = []
        if not want_grad:
            return
        targets = self.diff_inputs + self.diff_vars
        if out.dtype in ("float32", "float64"):
            self.ct = placeholder(out.shape, out.dtype, name="cotangent")
            self.loss = gn.ops.sum(gn.ops.multiply(out, self.ct))
        else:
            self.loss = gn.ops.sum(gn.ops.cast(out, float_dtype))
        self.grads = gn.gradients(self.loss, targets)
        for t, g in zip(targets, self.grads):
            if g is None:
                continue
            assert len(g.shape) == len(t.shape) and all(
                a is None or b is None or a == b for a, b in zip(g.shape, t.shape)), \
                f"gradient shape {g.shape} does not match {t.shape}"
            assert g.dtype == t.dtype, f"gradient dtype {g.dtype} is not {t.dtype}"

    @property
    def feed_inputs(self):
        return self.inputs + ([self.ct] if self.ct is not None else [])


class _Vars:
    """Snapshots of variable values (random state advances every run)."""

    def __init__(self, variables):
        self.saved = [(v, v.numpy()) for v in variables]

    def restore(self):
        for v, value in self.saved:
            v.assign(value)


def _assert_close(actual, expected, rtol, atol, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    if actual.dtype.kind not in "fc":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def _compare_c_reference(build, arrays, training, rtol, atol, grad_rtol, grad_atol, where):
    """C path vs reference, forward and (float32) gradient."""
    snap = _Vars(build.variables)
    outs = [build.out] + [g for g in build.grads if g is not None]
    feed = build.feed_inputs
    results = []
    for backend in ("c", "reference"):
        snap.restore()
        f = gn.function(feed, outs, backend=backend, training=training)
        results.append(f(*arrays))
    snap.restore()
    c, ref = results
    _assert_close(c[0], ref[0], rtol, atol, f"forward C vs reference {where}")
    shape = build.out.shape
    assert len(shape) == ref[0].ndim and all(
        d is None or d == a for d, a in zip(shape, ref[0].shape)), \
        f"static shape {shape} vs computed {ref[0].shape}"
    for k, (gc, gr) in enumerate(zip(c[1:], ref[1:])):
        _assert_close(gc, gr, grad_rtol, grad_atol, f"gradient {k} C vs reference {where}")
    return ref


def _finite_differences(build, arrays, training, eps, rtol, atol, samples, rng):
    """float64: autodiff gradient vs central differences of the loss."""
    snap = _Vars(build.variables)
    feed_nodes = [x.node for x in build.feed_inputs]

    def run(nodes, values, override=None):
        snap.restore()
        if override is not None:
            override[0].assign(override[1])
        feed = {n.attrs["uid"]: a for n, a in zip(feed_nodes, values)}
        return evaluate(nodes, feed, training)

    targets = [("input", i) for i, x in enumerate(build.inputs) if x in build.diff_inputs]
    targets += [("var", v) for v in build.diff_vars]
    grad_nodes = [g.node for g in build.grads if g is not None]
    computed = iter(run(grad_nodes, arrays)) if grad_nodes else iter(())
    analytic = [next(computed) if g is not None else None for g in build.grads]

    def loss_at(kind, key, value):
        if kind == "input":
            values = list(arrays)
            values[key] = value
            return float(run([build.loss.node], values)[0])
        return float(run([build.loss.node], arrays, (key, value))[0])

    for (kind, key), g in zip(targets, analytic):
        x0 = arrays[key] if kind == "input" else key.numpy()
        if g is None:
            g = np.zeros_like(x0)
        name = f"input {key}" if kind == "input" else f"variable {key.name}"
        if x0.size == 0:
            assert g.shape == x0.shape
            continue
        direction = rng.standard_normal(x0.shape)
        fd = (loss_at(kind, key, x0 + eps * direction) -
              loss_at(kind, key, x0 - eps * direction)) / (2 * eps)
        exact = float(np.sum(g * direction))
        scale = max(1.0, float(np.sum(np.abs(g * direction))))
        assert abs(fd - exact) <= atol * scale + rtol * abs(exact), \
            f"gradient of {name}: directional derivative {exact} vs finite differences {fd}"
        picks = rng.choice(x0.size, size=min(samples, x0.size), replace=False)
        for flat in picks:
            idx = np.unravel_index(flat, x0.shape)
            bump = np.zeros_like(x0)
            bump[idx] = eps
            fd = (loss_at(kind, key, x0 + bump) - loss_at(kind, key, x0 - bump)) / (2 * eps)
            scale = max(1.0, abs(float(g[idx])))
            assert abs(fd - g[idx]) <= atol * scale + rtol * abs(g[idx]), \
                f"gradient of {name} at {idx}: autodiff {g[idx]} vs finite differences {fd}"
    snap.restore()
    return analytic


def check_op(fn, shapes, *, dtypes=FLOAT, domain=(-2.0, 2.0), inputs=None, none_axes="auto",
             op=None, training=False, grad=True, rtol=1e-5, atol=1e-5, grad_rtol=1e-4,
             grad_atol=1e-5, fd_eps=1e-6, fd_rtol=1e-5, fd_atol=1e-6, fd_samples=6,
             resize=True, seed=0):
    """Check the op(s) built by ``fn(*tensors)`` on inputs of concrete ``shapes``.

    Args:
        fn: builds the output tensor from one placeholder per shape.
        shapes: concrete input shapes.
        dtypes: "float" (float32, and float64 for finite differences), or an integer or
            "bool" dtype name; one value or one per input.
        domain: (low, high) for uniform inputs, or ``f(rng, shape) -> array`` to keep
            inputs away from kinks; one value or one per input.
        inputs: explicit input arrays (float64 for float inputs) instead of drawn ones.
        none_axes: "auto", () or one tuple of axes per input to leave unknown (None).
        op: the op name ``fn`` must emit (coverage bookkeeping).
        training: the mode IN_TRAIN_PHASE resolves to.
        grad: check gradients (for non-float outputs: that they are all None).
        resize: also feed the unknown dims at another size (C vs reference).
    Returns:
        {"forward": reference output, "grads": float64 autodiff gradients}.
    """
    n = len(shapes)
    dtypes, domains = _spec(dtypes, n, "dtypes"), _spec(domain, n, "domain")
    rng = np.random.default_rng(seed)
    if inputs is None:
        inputs = [_draw(rng, s, d, dom) for s, d, dom in zip(shapes, dtypes, domains)]
    inputs = [np.asarray(a) for a in inputs]
    sym = _symbolic_shapes([tuple(s) for s in shapes], none_axes)

    b32 = _Build(fn, sym, dtypes, "float32", op, grad)
    cast32 = [a.astype(np.float32) if d == FLOAT else a for a, d in zip(inputs, dtypes)]
    out_shape = None
    if b32.ct is not None:
        out_shape = evaluate([b32.out.node], {x.node.attrs["uid"]: a for x, a in
                                              zip(b32.inputs, cast32)}, training)[0].shape
    ct = rng.standard_normal(out_shape) if out_shape is not None else None

    feed32 = cast32 + ([ct.astype(np.float32)] if ct is not None else [])
    ref = _compare_c_reference(b32, feed32, training, rtol, atol, grad_rtol, grad_atol,
                               "(float32)")
    result = {"forward": ref[0], "grads": None}
    if not grad:
        return result
    if b32.ct is None:   # integer or bool output: nothing is differentiable through it
        assert all(g is None for g in b32.grads), \
            f"non-float output {b32.out.dtype}: gradients should be None, got {b32.grads}"
        return result

    b64 = _Build(fn, sym, dtypes, "float64", None, True)
    feed64 = list(inputs) + [ct]
    result["grads"] = _finite_differences(b64, feed64, training, fd_eps, fd_rtol, fd_atol,
                                          fd_samples, rng)

    if resize and any(None in s for s in sym):
        new = {}
        shapes2 = []
        for s, sy in zip(shapes, sym):
            shapes2.append(tuple(new.setdefault(d, 3 if d != 3 else 2) if u is None else d
                                 for d, u in zip(s, sy)))
        arrays2 = [_draw(rng, s, d, dom).astype(np.float32) if d == FLOAT else
                   _draw(rng, s, d, dom) for s, d, dom in zip(shapes2, dtypes, domains)]
        out2 = evaluate([b32.out.node], {x.node.attrs["uid"]: a for x, a in
                                         zip(b32.inputs, arrays2)}, training)[0]
        ct2 = rng.standard_normal(out2.shape).astype(np.float32)
        _compare_c_reference(b32, arrays2 + [ct2], training, rtol, atol, grad_rtol,
                             grad_atol, "(re-specialized)")
    return result
