"""The time loop of any recurrent cell, unrolled by the compiler once shapes are known.

RNN_UNROLL(x, [mask], s_1 .. s_n, c_1 .. c_k) {step, go_backwards, mask_mode} runs the
cell's step graph (a ``StepGraph``) over every step of x (batch, T, ...): s_i are the
initial states, c_j the outer values the step reads (weights, values computed before the
loop). Its output is the record Y (batch, T, S): for the k-th step run (input step k, or
T - 1 - k with go_backwards), the step's output then each new state, each flattened after
the batch axis. With a mask (batch, T) a masked step keeps the states and outputs the
previous output (mask_mode MASK_CARRY, Keras's default; zeros before the first unmasked
step) or zeros (MASK_ZERO: ``zero_output_for_mask``).

T is unknown while a model is defined (``Input((None, d))``), so the op stays one node
through autodiff, whose rule is RNN_UNROLL_GRAD(inputs..., gY) {..., wrt}: the gradient
of input ``wrt``. The compiler's simplify phase (graphnet/compiler/unroll.py) replaces
both by their unrolled graphs after specialization: T copies of the step graph, and for
the gradients reverse mode (graphnet/autodiff.py) over those copies, built once for all
the inputs of one loop. The references run those graphs too.
"""
import math

from ..graph.graph import topological_order
from ..graph.node import Node
from .recurrent_layout import MASK_CARRY, MASK_NONE, MASK_ZERO
from .registry import NN, Op, OpError, register


class StepGraph:
    """One step of a cell as a graph: ``params`` are the nodes it reads (placeholders for
    the step's input and each state, then the outer nodes it captured), ``results`` its
    output and each new state (batch first). Compared by identity: a step graph is made
    once per layer call."""

    __slots__ = ("params", "results", "n_states", "inner")

    def __init__(self, params, results, n_states):
        self.params, self.results, self.n_states = tuple(params), tuple(results), n_states
        if len(self.results) != n_states + 1:
            raise ValueError(f"a step graph gives the output and {n_states} state(s), got "
                             f"{len(self.results)} results")
        at_param = {id(p) for p in self.params}
        self.inner = [n for n in topological_order(
            self.results, lambda n: () if id(n) in at_param else n.inputs)
            if id(n) not in at_param]

    @property
    def n_captured(self):
        return len(self.params) - 1 - self.n_states

    def widths(self):
        """Elements per sample of the output and of each state."""
        return [math.prod(r.shape[1:]) for r in self.results]

    def apply(self, values):
        """The results computed from ``values`` (one node per param): a copy of the graph."""
        images = {id(p): v for p, v in zip(self.params, values)}
        for n in self.inner:
            images[id(n)] = n.with_inputs(tuple([images[id(x)] for x in n.inputs]))
        return [images[id(r)] for r in self.results]

    def __repr__(self):
        return (f"StepGraph({len(self.inner)} nodes, {self.n_states} states, "
                f"{self.n_captured} captured)")


def input_names(attrs):
    step = attrs["step"]
    return (["x"] + (["mask"] if attrs["mask_mode"] != MASK_NONE else [])
            + [f"state {i}" for i in range(step.n_states)]
            + [f"captured {j}" for j in range(step.n_captured)])


def split_inputs(inputs, attrs):
    """(x, mask or None, states, captured) of RNN_UNROLL's inputs."""
    step, k = attrs["step"], 2 if attrs["mask_mode"] != MASK_NONE else 1
    x, mask = inputs[0], inputs[1] if k == 2 else None
    return x, mask, list(inputs[k:k + step.n_states]), list(inputs[k + step.n_states:])


def _compatible(got, want):
    return len(got) == len(want) and all(a is None or b is None or a == b
                                         for a, b in zip(got, want))


def _check(op, shapes, dtypes, attrs):
    step = attrs["step"]
    if not isinstance(step, StepGraph):
        raise OpError(f"{op}: step must be a StepGraph, got {type(step).__name__}")
    if attrs["mask_mode"] not in (MASK_NONE, MASK_CARRY, MASK_ZERO):
        raise OpError(f"{op}: mask_mode must be 0, 1 or 2, got {attrs['mask_mode']!r}")
    names = input_names(attrs)
    if len(shapes) != len(names):
        raise OpError(f"{op} takes inputs {names}, got {len(shapes)} inputs")
    x = shapes[0]
    if len(x) < 3:
        raise OpError(f"{op}: the input must have rank 3 or more (batch, timesteps, ...), "
                      f"got shape {x}")
    if x[1] == 0:
        raise OpError(f"{op}: the input must have at least one time step, got shape {x}")
    values = iter(step.params)
    for name, shape, dtype in zip(names, shapes, dtypes):
        if name == "mask":
            if not _compatible(shape, tuple(x[:2])) or dtype != "bool":
                raise OpError(f"{op}: the mask must be bool of shape {tuple(x[:2])}, got "
                              f"{dtype} {shape}")
            continue
        param = next(values)
        got = (x[0],) + tuple(x[2:]) if name == "x" else shape
        if not _compatible(got, param.shape) or dtype != param.dtype:
            what = "a step of the input" if name == "x" else name
            raise OpError(f"{op}: {what} must be {param.dtype} of shape {param.shape} (the "
                          f"cell's step was traced on that), got {dtype} {got}")


@register
class RnnUnroll(Op):
    """RNN_UNROLL: see the module docstring; output Y (batch, T, S)."""
    name, group, arity = "RNN_UNROLL", NN, None

    def infer(self, shapes, dtypes, attrs):
        _check(self.name, shapes, dtypes, attrs)
        step = attrs["step"]
        for r in step.results:
            if any(d is None for d in r.shape[1:]) or r.dtype != step.results[0].dtype:
                raise OpError(f"{self.name}: the cell's output and states must have known "
                              f"sizes after the batch axis and one dtype, got "
                              f"{[(r.shape, r.dtype) for r in step.results]}")
        return (shapes[0][0], shapes[0][1], sum(step.widths())), step.results[0].dtype

    def perform(self, inputs, attrs):
        return _evaluate_unrolled(self.name, inputs, attrs)

    def grad(self, node, grad_output):
        names = input_names(node.attrs)
        return [None if name == "mask" else
                Node("RNN_UNROLL_GRAD", node.inputs + (grad_output,),
                     dict(node.attrs.as_dict(), wrt=i))
                for i, name in enumerate(names)]

    def lower(self, node, ctx):
        raise OpError(f"{self.name} reached lowering: the compiler's simplify phase unrolls "
                      "it (graphnet/compiler/unroll.py)")


@register
class RnnUnrollGrad(Op):
    """RNN_UNROLL_GRAD(RNN_UNROLL's inputs..., gY) {RNN_UNROLL's attrs, wrt}: the gradient
    of input ``wrt`` given the gradient gY of the record."""
    name, group, arity = "RNN_UNROLL_GRAD", NN, None

    def infer(self, shapes, dtypes, attrs):
        forward = {k: v for k, v in attrs.as_dict().items() if k != "wrt"}
        y_shape, y_dtype = RnnUnroll().infer(shapes[:-1], dtypes[:-1], forward)
        if not _compatible(shapes[-1], y_shape) or dtypes[-1] != y_dtype:
            raise OpError(f"{self.name}: the record's gradient must be {y_dtype} {y_shape}, "
                          f"got {dtypes[-1]} {shapes[-1]}")
        wrt = attrs["wrt"]
        if not 0 <= wrt < len(shapes) - 1 or input_names(attrs)[wrt] == "mask":
            raise OpError(f"{self.name}: wrt must index a float input, got {wrt}")
        return shapes[wrt], dtypes[wrt]

    def perform(self, inputs, attrs):
        return _evaluate_unrolled(self.name, inputs, attrs)

    def lower(self, node, ctx):
        raise OpError(f"{self.name} reached lowering: the compiler's simplify phase unrolls "
                      "it (graphnet/compiler/unroll.py)")


def _evaluate_unrolled(op, inputs, attrs):
    """The NumPy reference of RNN_UNROLL / RNN_UNROLL_GRAD: their unrolled graphs over
    constants, run by the reference interpreter."""
    from ..compiler.unroll import unrolled_gradient, unrolled_record
    from ..runtime.reference import evaluate
    from .source import ConstantValue
    consts = tuple(Node("CONSTANT", (), {"value": ConstantValue(a)}) for a in inputs)
    top = unrolled_record(attrs, consts) if op == "RNN_UNROLL" else \
        unrolled_gradient(attrs, consts)
    return evaluate([top], {})[0]
