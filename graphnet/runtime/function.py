"""``gn.function``: a compiled callable from input tensors to output tensors.

Plans are compiled per input signature (shapes and dtypes) and cached. The
compiled path runs on the C kernels only; ``backend="reference"`` runs the
NumPy reference interpreter over the same graph instead.
"""
import numpy as np

from ..graph.graph import topological_order
from ..graph.tensor import SymbolicTensor
from .plan_cache import DEFAULT_MAX_PLANS, CachesPlans, PlanCache
from .reference import evaluate

BACKENDS = ("c", "reference")


def _node(t, what):
    if isinstance(t, SymbolicTensor):
        return t.node
    raise TypeError(f"{what} must be symbolic tensors (from gn.Input or a layer), got "
                    f"{type(t).__name__}")


def _convertible(src, dst):
    """Numbers convert as Keras converts them, except floats into integer or bool inputs."""
    if src.kind not in "biuf" or dst.kind not in "biuf":
        return False
    return not (src.kind == "f" and dst.kind in "biu")


def describe_shape(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


class Function(CachesPlans):
    """Compiled ``outputs = f(inputs)``; call with arrays in the order of ``inputs``.

    One plan is compiled per input signature; the ``max_cached_plans`` most recently used
    are kept (settable; ``clear_cache()`` drops them all)."""

    def __init__(self, inputs, outputs, backend="c", name="function", updates=(),
                 training=False, max_cached_plans=DEFAULT_MAX_PLANS, phases=None):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.name = name
        self.backend = backend
        self.single_output = isinstance(outputs, SymbolicTensor)
        outputs = [outputs] if self.single_output else list(outputs)
        inputs = [inputs] if isinstance(inputs, SymbolicTensor) else list(inputs)
        self.input_nodes = [_node(t, "inputs") for t in inputs]
        self.output_nodes = [_node(t, "outputs") for t in outputs]
        self.input_names = [t.name or n.attrs.get("name", f"input_{i}")
                            for i, (t, n) in enumerate(zip(inputs, self.input_nodes))]
        for n, name in zip(self.input_nodes, self.input_names):
            if n.op.name != "INPUT":
                raise TypeError(f"{self.name}: input {name!r} is not a graph input "
                                "(use gn.Input)")
        fed = {n.attrs["uid"] for n in self.input_nodes}
        for node in topological_order(self.output_nodes):
            if node.op.name == "INPUT" and node.attrs["uid"] not in fed:
                raise ValueError(f"{self.name}: the outputs depend on input "
                                 f"{node.attrs['name']!r}, which is not among the inputs")
        self.updates = [(var, _node(t, "updates") if isinstance(t, SymbolicTensor) else t)
                        for var, t in updates]
        self.training = training
        self.phases = None if phases is None else tuple(phases)  # None: every phase
        self._cache = PlanCache(max_cached_plans)
        self._input_dtypes = [np.dtype(n.dtype) for n in self.input_nodes]
        self.last_report = None

    # -- checking ------------------------------------------------------------
    def check_inputs(self, arrays):
        if len(arrays) != len(self.input_nodes):
            raise ValueError(f"{self.name} expects {len(self.input_nodes)} input(s) "
                             f"({', '.join(self.input_names)}), got {len(arrays)}")
        checked = []
        for array, node, name in zip(arrays, self.input_nodes, self.input_names):
            array = np.asarray(array)
            expected = node.shape
            if array.ndim != len(expected) or any(
                    e is not None and e != a for e, a in zip(expected, array.shape)):
                raise ValueError(
                    f"{self.name}: input {name!r} expects shape {describe_shape(expected)} "
                    f"(None is any size, e.g. the batch), got an array of shape "
                    f"{describe_shape(array.shape)}")
            want = node.dtype
            if not _convertible(array.dtype, np.dtype(want)):
                raise TypeError(f"{self.name}: input {name!r} expects dtype {want}, got "
                                f"{array.dtype} (floats are not silently truncated to ints)")
            checked.append(np.asarray(array, dtype=want, order="C"))  # 0-d stays 0-d
        return checked

    # -- running -------------------------------------------------------------
    def executable(self, shapes):
        """The compiled Executable for these concrete input shapes (compiled once)."""
        from ..compiler import compile_plan
        from .executor import Executable
        key = tuple(tuple(s) for s in shapes)
        exe = self._cache.get(key)
        if exe is None:
            plan, weights, report = compile_plan(self.input_nodes, self.output_nodes, key,
                                                 training=self.training, updates=self.updates,
                                                 **self._phase_argument())
            exe = Executable(plan, weights, written=[var for var, _ in self.updates])
            self._cache.put(key, exe)
            self.last_report = report
        return exe

    def _phase_argument(self):
        """compile_plan's ``phases`` keyword when this function was given its phases."""
        return {} if self.phases is None else {"phases": list(self.phases)}

    def cached_signatures(self):
        """The input shapes whose plans are cached, least recently used first."""
        return self._cache.keys()

    def executable_for(self, arrays):
        """The compiled Executable that runs these arrays as they are (C-contiguous, of
        the inputs' dtypes, in shapes compiled already), or None."""
        return self._fast_inputs(arrays) if self.backend == "c" else None

    def _fast_inputs(self, arrays):
        """The executable and arrays when every input is already a C-contiguous array of
        the right dtype in a shape seen before (the hot path: no checks repeated)."""
        if len(arrays) != len(self._input_dtypes):
            return None
        key = []
        for a, dtype in zip(arrays, self._input_dtypes):
            if type(a) is not np.ndarray or a.dtype != dtype or not a.flags.c_contiguous:
                return None
            key.append(a.shape)
        return self._cache.get(tuple(key))

    def explain(self, shapes):
        """Compile for ``shapes`` keeping the graph after each phase (text and DOT):
        returns the CompileReport (rewrites fired, fused groups, kernels, arena)."""
        from ..compiler import CompileReport, compile_plan
        report = CompileReport(keep_graphs=True)
        compile_plan(self.input_nodes, self.output_nodes, [tuple(s) for s in shapes], report,
                     training=self.training, updates=self.updates, **self._phase_argument())
        return report

    def profile(self, *arrays, repeats=20):
        """Time each step of the compiled plan for these arrays (see runtime/profile.py):
        a PlanProfile (``.table()``, ``.by_kernel()``); weights are left unchanged."""
        from .profile import profile_plan
        arrays = self.check_inputs(arrays)
        return profile_plan(self.executable([a.shape for a in arrays]), arrays, repeats)

    def __call__(self, *arrays):
        if len(arrays) == 1 and isinstance(arrays[0], (list, tuple)) and len(self.input_nodes) != 1:
            arrays = tuple(arrays[0])
        if self.backend == "c":
            exe = self._fast_inputs(arrays)
            if exe is not None:
                outs = exe.run(arrays)
                return outs[0] if self.single_output else outs
        arrays = self.check_inputs(arrays)
        if self.backend == "reference":
            feed = {n.attrs["uid"]: a for n, a in zip(self.input_nodes, arrays)}
            values = evaluate(self.output_nodes + [n for _, n in self.updates], feed,
                              self.training)
            outs = [np.asarray(o) for o in values[:len(self.output_nodes)]]
            for (var, _), value in zip(self.updates, values[len(self.output_nodes):]):
                var.assign(value)
        else:
            outs = self.executable([a.shape for a in arrays]).run(arrays)
        return outs[0] if self.single_output else outs


def function(inputs, outputs, updates=(), backend="c", name="function", training=False,
             max_cached_plans=DEFAULT_MAX_PLANS):
    """Compile ``outputs`` as a function of ``inputs`` (like Keras's ``K.function``).

    ``updates``: (Variable, tensor) pairs assigned after each call. ``training``: the
    mode IN_TRAIN_PHASE nodes (dropout, ...) resolve to. ``max_cached_plans``: how many
    plans (one per input signature) are kept, least recently used dropped first."""
    return Function(inputs, outputs, backend=backend, name=name, updates=updates,
                    training=training, max_cached_plans=max_cached_plans)
