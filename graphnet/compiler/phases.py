"""Rewrites in named, ordered phases.

A rewrite is a small function ``rule(node) -> Node | None`` whose docstring is
the rule; it returns None where it does not apply. ``run_phases`` rebuilds the
graph bottom-up once per phase, applying that phase's rules to each node until
none fires, and hash-conses nodes on the way (common-subexpression
elimination); nodes unreachable from the outputs simply vanish (dead-code
elimination).
"""
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field

from ..graph.graph import format_graph, remember_order, to_dot, topological_order
from ..ops.registry import get_op

PHASES = ["simplify", "fold", "fuse", "tile"]
_RULES = {phase: [] for phase in PHASES}   # (rule, op names it applies to or None: all)
_RULES_BY_OP = {phase: {} for phase in PHASES}   # op name -> its rules, filled on demand
_GRAPH_PASSES = {phase: [] for phase in PHASES}


def rewrite(phase, ops=None):
    """Register a rewrite rule into ``phase`` (rules run in registration order). ``ops``:
    the names of the ops the rule can fire on (it is then tried on those nodes only), or
    None for a rule that may fire on any node."""
    if phase not in _RULES:
        raise ValueError(f"unknown phase {phase!r}; phases are {PHASES}")
    if ops is not None:
        if isinstance(ops, str) or not ops:
            raise ValueError(f"rewrite ops must be a non-empty collection of op names, "
                             f"got {ops!r}")
        ops = frozenset(get_op(name).name for name in ops)

    def deco(fn):
        _RULES[phase].append((fn, ops))
        _RULES_BY_OP[phase].clear()
        return fn
    return deco


def _rules_for(phase, op_name):
    """``phase``'s rules that can fire on a node of op ``op_name``, in registration order."""
    by_op = _RULES_BY_OP[phase]
    rules = by_op.get(op_name)
    if rules is None:
        rules = by_op[op_name] = tuple(fn for fn, ops in _RULES[phase]
                                       if ops is None or op_name in ops)
    return rules


def graph_pass(phase):
    """Register a whole-graph pass ``fn(outputs, report) -> outputs`` into ``phase``; it runs
    after the phase's node rules (for decisions that need every reader of a node)."""
    if phase not in _GRAPH_PASSES:
        raise ValueError(f"unknown phase {phase!r}; phases are {PHASES}")

    def deco(fn):
        _GRAPH_PASSES[phase].append(fn)
        return fn
    return deco


@dataclass
class CompileReport:
    """What the compiler did: rewrites fired, graphs after each phase, plan figures, and
    the CPU seconds of each pass (``seconds``: pass name -> seconds, in the order run)."""
    fired: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    graphs: dict = field(default_factory=dict)
    dots: dict = field(default_factory=dict)
    node_counts: dict = field(default_factory=dict)
    kernel_count: int = 0
    arena_bytes: int = 0
    unplanned_bytes: int = 0
    keep_graphs: bool = False

    @contextlib.contextmanager
    def timed(self, name):
        """Add the CPU seconds of the ``with`` body to ``seconds[name]``."""
        start = time.process_time()
        try:
            yield
        finally:
            self.seconds[name] += time.process_time() - start

    def record(self, phase, outputs):
        self.node_counts[phase] = len(topological_order(outputs))
        if self.keep_graphs:
            self.graphs[phase] = format_graph(outputs, title=f"# after {phase}")
            self.dots[phase] = to_dot(outputs, name=f"after {phase}")

    def fused_groups(self):
        """One line per fused node of the final graph: its op and what it computes."""
        final = self.graphs.get(PHASES[-1], "")
        return [line for line in final.splitlines() if "FUSED" in line or "_BIAS_ACT" in line]

    def summary(self):
        lines = [f"nodes per phase: {self.node_counts}",
                 f"rewrites fired: {dict(self.fired) or 'none'}",
                 f"kernels: {self.kernel_count}",
                 f"arena: {self.arena_bytes} bytes (unplanned {self.unplanned_bytes})"]
        return "\n".join(lines)


MAX_REWRITES_PER_NODE = 64


def run_phase(outputs, phase, report, interned=False, respecialize=None):
    """Rebuild ``outputs`` applying ``phase``'s rules to every node, with CSE, then run the
    phase's graph passes. ``interned``: ``outputs`` came out of such a rebuild unchanged
    since (no two of its nodes are equal), so the rebuild starts at the first node a rule
    fires on, and a phase whose rules fire nowhere has nothing to rebuild.
    ``respecialize``: a ``Respecialize`` the graph under ``outputs`` still has to go
    through, done in the same walk as the rules. Returns the new outputs and whether they
    are interned (no graph pass changed them)."""
    with report.timed(f"{phase} rules"):
        result = _rebuild(outputs, phase, report, interned, respecialize)
    rebuilt = result
    for graph_fn in _GRAPH_PASSES[phase]:
        with report.timed(graph_fn.__name__):
            result = graph_fn(result, report)
    with report.timed("record"):
        report.record(phase, result)
    return result, all(a is b for a, b in zip(result, rebuilt))


@dataclass
class Respecialize:
    """A rebuild of a graph that a phase's rebuild can do in its own walk (specialize's:
    graphnet/compiler/__init__.py), so the graph between them is never built.

    ``order``: the nodes to rebuild, each after the inputs it keeps. ``replace(node,
    images)``: ``node`` rebuilt over ``images`` (node id -> the rebuilt node), or the
    image of one of its inputs for a node that stands for that input (IN_TRAIN_PHASE),
    which is then taken as it is."""
    order: list
    replace: object


def _first_firing(order, phase):
    """The index in ``order`` of the first node a rule of ``phase`` rewrites, or len(order)."""
    by_op = _RULES_BY_OP[phase]
    for i, node in enumerate(order):
        rules = by_op.get(node.op.name)
        for rule in rules if rules is not None else _rules_for(phase, node.op.name):
            out = rule(node)
            if out is not None and out is not node:
                return i
    return len(order)


def _rebuild(outputs, phase, report, interned, respecialize=None):
    if respecialize is None and interned and not _RULES[phase]:
        return outputs
    mapping, canonical = {}, {}
    intern = canonical.setdefault
    by_op = _RULES_BY_OP[phase]   # _rules_for's memory, read here without a call per node
    order = topological_order(outputs) if respecialize is None else respecialize.order
    start = _first_firing(order, phase) if interned and respecialize is None else 0
    if start == len(order):
        return outputs
    # In an interned graph each node before the first rewrite rebuilds as itself.
    for node in order[:start]:
        mapping[id(node)] = canonical[node] = node
    node_for_node = True   # each node rebuilt over its inputs' images: no rewrite or merge

    for node in order[start:]:
        if respecialize is None:
            new = node.with_inputs(tuple([mapping[id(x)] for x in node.inputs]))
        else:
            new = respecialize.replace(node, mapping)
            if canonical.get(new) is new:    # an input's image: rebuilt and rewritten already
                mapping[id(node)] = new
                node_for_node = False
                continue
        interned = intern(new, new)
        node_for_node = node_for_node and interned is new
        new = interned
        for _ in range(MAX_REWRITES_PER_NODE):
            rules = by_op.get(new.op.name)
            for rule in rules if rules is not None else _rules_for(phase, new.op.name):
                out = rule(new)
                if out is not None and out is not new:
                    report.fired[rule.__name__] += 1
                    new = intern(out, out)
                    node_for_node = False
                    break
            else:
                break
        mapping[id(node)] = new
    result = [mapping[id(n)] for n in outputs]
    if node_for_node:   # the same graph over new nodes: the same depth-first order
        remember_order(result, [mapping[id(n)] for n in order])
    return result


def run_phases(outputs, report, phases=PHASES, respecialize=None):
    """Run ``phases`` in order over the graph under ``outputs``. With ``respecialize``
    (see ``Respecialize``) the first phase's rebuild also does that rebuild; the caller
    then records the "input" node count itself, as the graph it counts is never built."""
    if respecialize is None:
        with report.timed("record"):
            report.record("input", outputs)
    interned = False
    for phase in phases:
        outputs, interned = run_phase(outputs, phase, report, interned, respecialize)
        respecialize = None
    return outputs
