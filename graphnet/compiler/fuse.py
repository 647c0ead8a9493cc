"""Fusion (phase "fuse"): every fusion decision lives here.

One whole-graph pass, ``fuse_groups``, makes these fusions, each deciding on the graph
the ones before it leave:

* ``fuse_matmul_bias_act``: act(matmul(a, b) + bias + residual) -> MATMUL_BIAS_ACT(a, b,
  bias, residual), one GEMM whose epilogue adds the bias and the residual and applies
  the activation; taken only where the intermediate values have no other reader.
* ``fuse_conv_bias_act``: act(conv(x, w) + bias + residual) -> CONV_BIAS_ACT, one
  convolution whose epilogue is applied to each output tile, under the same rule (in
  training the backward pass reads the pre-activation, which then stays a value of
  its own). The chain may also be a FUSED_ELTWISE that computes exactly it. A max
  pooling over non-overlapping windows that reads it (with no residual) joins as
  CONV_BIAS_ACT_POOL: the full-size output is then never stored.
* ``fuse_elementwise``: a tree of float unary/binary ops whose inner values have
  one reader each -> FUSED_ELTWISE(inputs) {program}, one pass over memory.

Graph outputs (and training-step updates) are never swallowed into a group. Without
convolutions, the elementwise trees are found on the graph the matmul fusion starts
from, and one rebuild makes both fusions (``fuse_groups`` says why that is the same).
"""
from ..graph.graph import order_and_consumers, topological_order
from ..graph.node import Node
from ..ops.elementwise import Binary, Unary
from ..ops.elementwise import UNARY
from ..ops.fused import MAX_INPUTS, MAX_INSTRUCTIONS
from .phases import graph_pass


def _readers(outputs):
    order, users = order_and_consumers(outputs)
    return order, users, {id(n) for n in outputs}


def _only_reader(node, users, pinned):
    """The single node reading ``node``, or None (several readers, or a graph output)."""
    readers = users[id(node)]
    if id(node) in pinned or len(readers) != 1:
        return None
    return readers[0]


def _is_float32(node):
    return node.dtype == "float32" and all(x.dtype == "float32" for x in node.inputs)


@graph_pass("fuse")
def fuse_groups(outputs, report):
    """fuse_matmul_bias_act, fuse_conv_bias_act, then fuse_elementwise, each on the graph
    the ones before it leave. A graph without convolutions is rebuilt once for the first
    and the last: the elementwise trees are found on the graph before the matmul fusion,
    each fused matmul's top a leaf standing for its fused node and what it swallowed left
    out. That finds the trees the graph after the matmul fusion has: a swallowed node is
    read only inside its group, so no tree reaches it; and a value outside the groups has
    one reader, a given tree node, in one graph exactly when it has in the other (the
    fused node reads what its group read from outside, and is no tree node)."""
    order, users, pinned = _readers(outputs)
    tops = fuse_matmul_bias_act(order, users, pinned)
    if any(n.op.name == "CONV" for n in order):
        outputs = _fused(outputs, tops, "fuse_matmul_bias_act", report)
        outputs = _fused(outputs, fuse_conv_bias_act(*_readers(outputs)),
                         "fuse_conv_bias_act", report)
        return _fused(outputs, fuse_elementwise(*_readers(outputs)), "fuse_elementwise",
                      report)
    trees = fuse_elementwise(order, users, pinned, tops, _kept(order, outputs, tops))
    for name, roots in (("fuse_matmul_bias_act", tops), ("fuse_elementwise", trees)):
        if roots:
            report.fired[name] += len(roots)
    return _replace_roots(outputs, {**tops, **trees}, order) if tops or trees else outputs


def _fused(outputs, roots, name, report):
    """The graph with ``roots`` (the fusions of pass ``name``) replaced."""
    if not roots:
        return outputs
    report.fired[name] += len(roots)
    return _replace_roots(outputs, roots)


def fuse_matmul_bias_act(order, users, pinned):
    """act(matmul(a, b) + bias + residual) -> MATMUL_BIAS_ACT(a, b, bias, residual) for
    2-D b, a bias with one value per column and a residual shaped like the output, each
    optional (as ``fuse_conv_bias_act``'s epilogue). Returns {top id: (op, inputs,
    attrs)}."""
    tops = {}
    for mm in order:
        if mm.op.name != "MATMUL" or mm.inputs[1].ndim != 2 or not _is_float32(mm) or \
                mm.attrs.get("transpose_a", False) or \
                mm.inputs[0].shape[:-2] != mm.shape[:-2]:
            continue
        top, extra, attrs = _epilogue_after(mm, users, pinned)
        if top is None:
            continue
        attrs["transpose_b"] = mm.attrs.get("transpose_b", False)
        tops[id(top)] = ("MATMUL_BIAS_ACT", list(mm.inputs) + extra, attrs)
    return tops


def _channel_bias(bias, node):
    """Whether ``bias`` holds one float32 per output channel of ``node`` (broadcast on the
    channel axis): shape (O,) or (1, ..., 1, O)."""
    shape = tuple(bias.shape)
    return bias.dtype == "float32" and 1 <= len(shape) <= node.ndim and \
        shape[-1] == node.shape[-1] and all(d == 1 for d in shape[:-1])


def _epilogue_of(node, steps):
    """The longest prefix of ``steps`` (op name, other operand or None, alpha, beta) that
    is an epilogue: ADD of a channel bias, ADD of a residual shaped like the output, then
    a float unary activation, each optional, in that order. Returns (steps used, inputs,
    attrs)."""
    inputs, attrs, used, stage = [], {"bias": False, "residual": False}, 0, 0
    for name, other, alpha, beta in steps:
        if name == "ADD" and other is not None and stage < 1 and _channel_bias(other, node):
            inputs.append(other)
            attrs["bias"], stage = True, 1
        elif name == "ADD" and other is not None and stage < 2 and \
                other.shape == node.shape and other.dtype == "float32":
            inputs.append(other)
            attrs["residual"], stage = True, 2
        elif other is None and stage < 3 and name in UNARY:
            attrs.update(act=name, alpha=float(alpha), beta=float(beta))
            stage = 3
        else:
            break
        used += 1
    return used, inputs, attrs


def _chain_steps(node, users, pinned):
    """The elementwise nodes after ``node``, each the only reader of the one before, as
    (node, step) pairs (at most three: bias, residual, activation)."""
    out, prev = [], node
    while len(out) < 3:
        nxt = _only_reader(prev, users, pinned)
        if nxt is None or nxt.shape != node.shape or nxt.dtype != "float32":
            break
        if nxt.op.name == "ADD" and sum(x is prev for x in nxt.inputs) == 1:
            other = nxt.inputs[1] if nxt.inputs[0] is prev else nxt.inputs[0]
            out.append((nxt, ("ADD", other, 0.0, 0.0)))
        elif isinstance(nxt.op, Unary):
            out.append((nxt, (nxt.op.name, None, nxt.attrs.get("alpha", 0.0),
                              nxt.attrs.get("beta", 0.0))))
        else:
            break
        prev = nxt
    return out


def _eltwise_steps(node, fe):
    """A FUSED_ELTWISE reading ``node`` as the steps of a linear chain from it, or None
    when its program is anything else."""
    at = [i for i, x in enumerate(fe.inputs) if x is node]
    if fe.shape != node.shape or len(at) != 1:
        return None
    k, prev, steps = len(fe.inputs), at[0], []
    for j, (name, args, alpha, beta) in enumerate(fe.attrs["program"]):
        others = [r for r in args if r != prev]
        if len(others) != len(args) - 1 or any(r >= k or r == at[0] for r in others):
            return None
        steps.append((name, fe.inputs[others[0]] if others else None, alpha, beta))
        prev = k + j
    return steps


def _epilogue_after(node, users, pinned):
    """The epilogue a contraction ``node`` can take in from its readers: a chain of
    elementwise nodes, or one FUSED_ELTWISE computing exactly such a chain. Returns (the
    last node swallowed or None, the epilogue's extra inputs, its attrs)."""
    chain = _chain_steps(node, users, pinned)
    used, extra, attrs = _epilogue_of(node, [step for _, step in chain])
    top = chain[used - 1][0] if used else None
    reader = _only_reader(node, users, pinned)
    if not used and reader is not None and reader.op.name == "FUSED_ELTWISE":
        steps = _eltwise_steps(node, reader)
        if steps:
            used, extra, attrs = _epilogue_of(node, steps)
            top = reader if used == len(steps) else None
    return top, extra, attrs


def _tiling_max_pool(node, value):
    """Whether ``node`` is a max POOL of ``value`` over non-overlapping windows (strides
    equal to the window, no padding)."""
    from ..ops.nn import resolve_pads
    if node is None or node.op.name != "POOL" or node.attrs["mode"] != "max" or \
            node.dtype != "float32" or tuple(node.attrs["strides"]) != \
            tuple(node.attrs["window"]):
        return False
    window = tuple(node.attrs["window"])
    pads = resolve_pads(node.attrs["padding"], value.shape[1:-1], window, window,
                        (1,) * len(window))
    return all(p == (0, 0) for p in pads)


def fuse_conv_bias_act(order, users, pinned):
    """act(conv(x, w) + bias + residual) -> CONV_BIAS_ACT(x, w, bias, residual) for a
    bias with one value per channel and a residual shaped like the output, each
    optional; or conv(x, w) read only by a FUSED_ELTWISE computing exactly that;
    maxpool(act(conv(x, w) + bias)) -> CONV_BIAS_ACT_POOL(x, w, bias) {window}. Returns
    {top id: (op, inputs, attrs)}."""
    tops = {}
    for conv in order:
        if conv.op.name != "CONV" or not _is_float32(conv):
            continue
        top, extra, attrs = _epilogue_after(conv, users, pinned)
        op, pool = "CONV_BIAS_ACT", _only_reader(conv if top is None else top, users, pinned)
        if not attrs["residual"] and _tiling_max_pool(pool, conv):
            op, top = "CONV_BIAS_ACT_POOL", pool
            attrs["window"] = tuple(pool.attrs["window"])
        if top is None:
            continue
        attrs.update(conv.attrs.as_dict())
        tops[id(top)] = (op, list(conv.inputs) + extra, attrs)
    return tops


def _kept(order, outputs, roots):
    """The ids of the nodes the graph still reads once each node id in ``roots`` is
    replaced by ``(op, inputs, attrs)``: a walk from the outputs back through the roots'
    inputs."""
    kept = {id(n) for n in outputs}
    for node in reversed(order):
        key = id(node)
        if key in kept:
            root = roots.get(key)
            kept.update(map(id, node.inputs if root is None else root[1]))
    return kept


def _replace_roots(outputs, roots, order=None):
    """Rebuild the graph with each node id in ``roots`` replaced by ``(op, inputs, attrs)``
    over the rebuilt inputs. What the roots swallowed is not rebuilt (``_kept``).
    ``order``: the graph's topological order, when the caller has it."""
    order = topological_order(outputs) if order is None else order
    kept = _kept(order, outputs, roots)
    new_of = {}
    for node in order:
        key = id(node)
        if key not in kept:
            continue
        root = roots.get(key)
        if root is not None:
            op, inputs, attrs = root
            new_of[key] = Node(op, [new_of[id(x)] for x in inputs], attrs)
        else:
            new_of[key] = node.with_inputs(tuple([new_of[id(x)] for x in node.inputs]))
    return [new_of[id(n)] for n in outputs]


def _fusible(node):
    op = node.op
    return (isinstance(op, Unary) or (isinstance(op, Binary) and op.kind == "float")) and \
        _is_float32(node)


class _ElementwiseTree:
    """The tree of fusible nodes under ``root`` whose inner values have one reader (the
    node above) and the root's shape, as a program over its inputs. A class, not nested
    functions: a recursive closure is a reference cycle, which kept the whole graph and
    its readers map alive after the pass until the cyclic collector ran (200,000 objects
    after a 20,000-kernel compile)."""

    def __init__(self, root, users, pinned, leaves):
        self.root, self.users, self.pinned, self.leaves = root, users, pinned, leaves
        self.inputs, self.program, self.reg_of, self.inner_nodes = [], [], {}, []
        self.emit(root, 0)

    def register_input(self, x):
        if id(x) not in self.reg_of:
            self.reg_of[id(x)] = ("in", len(self.inputs))
            self.inputs.append(x)
        return self.reg_of[id(x)]

    def emit(self, node, depth):
        root, program = self.root, self.program
        args = []
        for x in node.inputs:
            inner = (id(x) not in self.leaves and _fusible(x) and x.shape == root.shape and
                     _only_reader(x, self.users, self.pinned) is node and
                     len(program) < MAX_INSTRUCTIONS - 1 and depth < 32)
            args.append(self.emit(x, depth + 1) if inner else self.register_input(x))
        if node is not root:
            self.inner_nodes.append(id(node))
        program.append((node.op.name, tuple(args), float(node.attrs.get("alpha", 0.0)),
                        float(node.attrs.get("beta", 0.0))))
        return ("op", len(program) - 1)


def fuse_elementwise(order, users, pinned, leaves=(), kept=None):
    """A tree of float elementwise ops whose inner values have one reader and the
    root's shape -> FUSED_ELTWISE with the tree as its program. Nodes whose ids are in
    ``leaves`` are no tree's nodes (only inputs); with ``kept``, only nodes whose ids are
    in it are. Returns {root id: (op, inputs, attrs)}."""
    absorbed, groups = set(), {}
    for root in reversed(order):
        key = id(root)
        if key in absorbed or key in leaves or (kept is not None and key not in kept) or \
                not _fusible(root):
            continue
        tree = _ElementwiseTree(root, users, pinned, leaves)
        inputs, program = tree.inputs, tree.program
        if len(program) < 2 or len(inputs) > MAX_INPUTS:
            continue
        absorbed.update(tree.inner_nodes)
        k = len(inputs)
        resolved = tuple((name, tuple(a[1] if a[0] == "in" else k + a[1] for a in args),
                          alpha, beta) for name, args, alpha, beta in program)
        groups[key] = ("FUSED_ELTWISE", inputs, {"program": resolved})
    return groups
