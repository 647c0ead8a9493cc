"""The compiler: specialize -> phases (simplify, fold, fuse, ...) with CSE/DCE -> lower -> Plan.

Rewrites register on import: simplify, fold (constants) and fold_bn (BatchNormalization
into contraction weights), fuse, tile."""
import contextlib
import gc

from ..graph.graph import memoized_orders, rebuild, topological_order
from ..graph.node import Node
from ..ops.phase import resolve_phase
from . import fold, fold_bn, fuse, fuse_multi, simplify, tile, unroll  # noqa: F401  (rewrites)
from .lower import lower
from .phases import PHASES, CompileReport, Respecialize, rewrite, run_phases  # noqa: F401
from .plan import Plan  # noqa: F401


def _bound_inputs(inputs, shapes):
    """Node id -> the INPUT node bound to its concrete shape."""
    bound = {}
    for node, shape in zip(inputs, shapes):
        attrs = node.attrs.as_dict()
        attrs["shape"] = tuple(int(d) for d in shape)
        bound[id(node)] = Node("INPUT", (), attrs)
    return bound


def specialize(inputs, outputs, shapes, training=False):
    """Rebuild the graph with each INPUT bound to a concrete shape (re-inferring every
    shape) and every IN_TRAIN_PHASE resolved for ``training``."""
    bound = _bound_inputs(inputs, shapes)
    new_outputs = rebuild(list(outputs) + list(inputs),
                          lambda n, ins: bound.get(id(n)) or resolve_phase(n, ins, training))
    return new_outputs[len(outputs):], new_outputs[:len(outputs)]


def _respecialize(inputs, outputs, shapes, training, report):
    """specialize's rebuild as a ``Respecialize`` for the first phase's walk, over the
    nodes the specialized graph keeps (IN_TRAIN_PHASE: the branch for ``training``); its
    bound INPUT nodes; and the "input" node count the specialized graph would have."""
    bound = _bound_inputs(inputs, shapes)
    branch = 0 if training else 1

    def kept_inputs(node):
        return (node.inputs[branch],) if node.op.name == "IN_TRAIN_PHASE" else node.inputs

    def replace(node, images):
        if node.op.name == "IN_TRAIN_PHASE":
            return images[id(node.inputs[branch])]
        return bound.get(id(node)) or node.with_inputs(
            tuple([images[id(x)] for x in node.inputs]))

    order = topological_order(outputs, kept_inputs)
    report.node_counts["input"] = sum(1 for n in order if n.op.name != "IN_TRAIN_PHASE")
    return [bound.get(id(n), n) for n in inputs], Respecialize(order, replace)


@contextlib.contextmanager
def _cyclic_gc_paused():
    """Compiling builds a few nodes per kernel and frees them in bulk: the cyclic collector's
    passes rescanned the growing heap (a 20,000-kernel plan took twice as long with it on).
    Compiling makes no reference cycles (tests/test_compile_garbage.py), so what it drops
    is freed at once and nothing is left for the collector."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compile_plan(inputs, outputs, shapes, report=None, training=False, updates=(),
                 phases=PHASES):
    """Compile the graph from INPUT nodes ``inputs`` to ``outputs`` for concrete ``shapes``.

    ``phases``: the rewrite phases to run, in order (a batch-generic export leaves out
    "tile", whose chunk count depends on the batch size).

    ``updates`` are (Variable, Node) pairs: after each run the variable holds the node's
    value (the training step's optimizer updates). Returns ``(plan, weights, report)``:
    weights are the Variables the plan reads or writes, in ``plan.weight_specs`` order.
    """
    with _cyclic_gc_paused(), memoized_orders():
        return _compile(inputs, outputs, shapes, report or CompileReport(), training, updates,
                        phases)


def _compile(inputs, outputs, shapes, report, training, updates, phases):
    update_vars = [v for v, _ in updates]
    nodes = list(outputs) + [n for _, n in updates]
    if phases and not report.keep_graphs:
        # specialize in the first phase's walk (explain() keeps the specialized graph's
        # listing, so it builds that graph)
        with report.timed("specialize"):
            inputs, respecialize = _respecialize(inputs, nodes, shapes, training, report)
        nodes = run_phases(nodes, report, phases, respecialize)
    else:
        with report.timed("specialize"):
            inputs, nodes = specialize(inputs, nodes, shapes, training)
        nodes = run_phases(nodes, report, phases)
    outputs, news = nodes[:len(outputs)], nodes[len(outputs):]
    plan, weights = lower(inputs, outputs, list(zip(update_vars, news)), report)
    report.kernel_count = plan.kernel_count
    report.arena_bytes = plan.arena_bytes
    report.unplanned_bytes = plan.unplanned_bytes
    return plan, weights, report
