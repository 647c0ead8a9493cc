"""Whole-graph helpers: topological order, rebuilding, printing and DOT."""
import contextlib
import threading

_orders = threading.local()   # .last: (outputs, order) while memoized_orders() is active


@contextlib.contextmanager
def memoized_orders():
    """While active (in this thread), ``topological_order`` of the outputs it was last
    asked about answers from memory: graph nodes are immutable, so the order under the
    same output nodes never changes. The compiler's passes ask for the order of the
    graph the previous pass left several times over (its phases, their graph passes and
    the report each walk it)."""
    outer = getattr(_orders, "last", None)
    _orders.last = ((), [])
    try:
        yield
    finally:
        _orders.last = outer


def topological_order(outputs, inputs_of=None):
    """All nodes reachable from ``outputs``, each after its inputs (iterative DFS);
    ``inputs_of(node)``, when given, names the inputs to follow instead of all of them."""
    outputs = tuple(outputs)
    last = getattr(_orders, "last", None) if inputs_of is None else None
    if last is not None and len(last[0]) == len(outputs) and \
            all(a is b for a, b in zip(last[0], outputs)):
        return list(last[1])
    order = _depth_first(outputs, inputs_of)
    if last is not None:
        _orders.last = (outputs, order)
        return list(order)
    return order


def remember_order(outputs, order):
    """While ``memoized_orders`` is active: ``order`` is ``topological_order(outputs)``,
    known without a walk (a rebuild that made a new node for each node, over the new
    nodes of its inputs, has the old graph's order)."""
    if getattr(_orders, "last", None) is not None:
        _orders.last = (tuple(outputs), order)


def _depth_first(outputs, inputs_of):
    order, done, stack = [], set(), [(n, False) for n in reversed(outputs)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for x in reversed(node.inputs if inputs_of is None else inputs_of(node)):
            if id(x) not in done:
                stack.append((x, False))
    return order


def rebuild(outputs, replace):
    """Rebuild the graph under ``outputs`` with ``replace(node, new_inputs) -> Node``.

    ``replace`` sees each node (in topological order) with its already rebuilt
    inputs and returns the node to use in its place.
    """
    mapping = {}
    for node in topological_order(outputs):
        mapping[id(node)] = replace(node, tuple([mapping[id(x)] for x in node.inputs]))
    return [mapping[id(n)] for n in outputs]


def consumers(order):
    """Map node id -> list of nodes that read it."""
    users = {id(n): [] for n in order}
    for n in order:
        for x in n.inputs:
            users[id(x)].append(n)
    return users


def order_and_consumers(outputs):
    """``topological_order(outputs)`` and its ``consumers`` map, which the caller must only
    read: while ``memoized_orders`` is active the map is computed once per graph and shared
    by the passes that ask (most passes of a compile change nothing, so the next one asks
    about the same graph)."""
    order = topological_order(outputs)
    last = getattr(_orders, "last", None)
    if last is None:
        return order, consumers(order)
    if len(last) < 3:
        last = _orders.last = last + (consumers(order),)
    return order, last[2]


def format_graph(outputs, title=None):
    """A readable listing, one node per line: ``%7 = MATMUL(%3, %5) (None, 10) float32``."""
    order = topological_order(outputs)
    names = {id(n): f"%{i}" for i, n in enumerate(order)}
    lines = [title] if title else []
    for n in order:
        args = ", ".join(names[id(x)] for x in n.inputs)
        attrs = f" {{{n.attrs!r}}}" if n.attrs else ""
        lines.append(f"{names[id(n)]} = {n.op.name}({args}){attrs}  {n.shape} {n.dtype}")
    lines.append("return " + ", ".join(names[id(n)] for n in outputs))
    return "\n".join(lines)


def to_dot(outputs, name="graph"):
    """Graphviz DOT text for the graph under ``outputs``."""
    order = topological_order(outputs)
    index = {id(n): i for i, n in enumerate(order)}
    lines = [f'digraph "{name}" {{', "  node [shape=box, fontname=monospace];"]
    for n in order:
        label = f"{n.op.name}\\n{n.shape}"
        lines.append(f'  n{index[id(n)]} [label="{label}"];')
        for x in n.inputs:
            lines.append(f"  n{index[id(x)]} -> n{index[id(n)]};")
    for k, n in enumerate(outputs):
        lines.append(f'  out{k} [label="output {k}", shape=ellipse];')
        lines.append(f"  n{index[id(n)]} -> out{k};")
    lines.append("}")
    return "\n".join(lines)
