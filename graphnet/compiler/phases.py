"""Rewrites in named, ordered phases.

A rewrite is a small function ``rule(node) -> Node | None`` whose docstring is
the rule; it returns None where it does not apply. ``run_phases`` rebuilds the
graph bottom-up once per phase, applying that phase's rules to each node until
none fires, and hash-conses nodes on the way (common-subexpression
elimination); nodes unreachable from the outputs simply vanish (dead-code
elimination).
"""
from collections import Counter
from dataclasses import dataclass, field

from ..graph.graph import format_graph, to_dot, topological_order

PHASES = ["simplify", "fold", "fuse", "tile"]
_RULES = {phase: [] for phase in PHASES}
_GRAPH_PASSES = {phase: [] for phase in PHASES}


def rewrite(phase):
    """Register a rewrite rule into ``phase`` (rules run in registration order)."""
    if phase not in _RULES:
        raise ValueError(f"unknown phase {phase!r}; phases are {PHASES}")

    def deco(fn):
        _RULES[phase].append(fn)
        return fn
    return deco


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
    """What the compiler did: rewrites fired, graphs after each phase, plan figures."""
    fired: Counter = field(default_factory=Counter)
    graphs: dict = field(default_factory=dict)
    dots: dict = field(default_factory=dict)
    node_counts: dict = field(default_factory=dict)
    kernel_count: int = 0
    arena_bytes: int = 0
    unplanned_bytes: int = 0
    keep_graphs: bool = False

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


def run_phase(outputs, phase, report, interned=False):
    """Rebuild ``outputs`` applying ``phase``'s rules to every node, with CSE, then run the
    phase's graph passes. ``interned``: ``outputs`` came out of such a rebuild unchanged
    since, so a phase without node rules has nothing to rebuild. Returns the new outputs
    and whether they are interned (no graph pass changed them)."""
    phase_rules = _RULES[phase]
    result = outputs if interned and not phase_rules else _rebuild(outputs, phase_rules,
                                                                   report)
    rebuilt = result
    for graph_fn in _GRAPH_PASSES[phase]:
        result = graph_fn(result, report)
    report.record(phase, result)
    return result, all(a is b for a, b in zip(result, rebuilt))


def _rebuild(outputs, phase_rules, report):
    mapping, canonical = {}, {}

    def intern(node):
        return canonical.setdefault(node, node)

    for node in topological_order(outputs):
        new = intern(node.with_inputs(tuple(mapping[id(x)] for x in node.inputs)))
        for _ in range(MAX_REWRITES_PER_NODE):
            for rule in phase_rules:
                out = rule(new)
                if out is not None and out is not new:
                    report.fired[rule.__name__] += 1
                    new = intern(out)
                    break
            else:
                break
        mapping[id(node)] = new
    return [mapping[id(n)] for n in outputs]


def run_phases(outputs, report, phases=PHASES):
    report.record("input", outputs)
    interned = False
    for phase in phases:
        outputs, interned = run_phase(outputs, phase, report, interned)
    return outputs
