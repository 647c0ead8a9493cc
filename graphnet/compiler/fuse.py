"""Fusion (phase "fuse"): every fusion decision lives here.

Two whole-graph passes, in order:

* ``fuse_matmul_bias_act``: act(matmul(a, b) + bias) -> MATMUL_BIAS_ACT(a, b, bias),
  one GEMM whose epilogue adds the bias and applies the activation; taken only
  where the intermediate values have no other reader.
* ``fuse_elementwise``: a tree of float unary/binary ops whose inner values have
  one reader each -> FUSED_ELTWISE(inputs) {program}, one pass over memory.

Graph outputs (and training-step updates) are never swallowed into a group.
"""
from ..graph.graph import consumers, rebuild, topological_order
from ..graph.node import Node
from ..ops.elementwise import Binary, Unary
from ..ops.fused import MAX_INPUTS, MAX_INSTRUCTIONS
from .phases import graph_pass


def _readers(outputs):
    order = topological_order(outputs)
    users = consumers(order)
    pinned = {id(n) for n in outputs}
    return order, users, pinned


def _only_reader(node, users, pinned):
    """The single node reading ``node``, or None (several readers, or a graph output)."""
    readers = users[id(node)]
    if id(node) in pinned or len(readers) != 1:
        return None
    return readers[0]


def _is_float32(node):
    return node.dtype == "float32" and all(x.dtype == "float32" for x in node.inputs)


@graph_pass("fuse")
def fuse_matmul_bias_act(outputs, report):
    """act(matmul(a, b) + bias) -> MATMUL_BIAS_ACT(a, b, bias) for 2-D b and a bias of
    shape (n,) (and matmul(a, b) + bias, and act(matmul(a, b)))."""
    order, users, pinned = _readers(outputs)
    tops = {}
    for mm in order:
        if mm.op.name != "MATMUL" or mm.inputs[1].ndim != 2 or not _is_float32(mm) or \
                mm.attrs.get("transpose_a", False) or \
                mm.inputs[0].shape[:-2] != mm.shape[:-2]:
            continue
        inputs, top, attrs = list(mm.inputs), mm, {"transpose_b": mm.attrs.get("transpose_b",
                                                                                False)}
        add = _only_reader(mm, users, pinned)
        if add is not None and add.op.name == "ADD" and add.shape == mm.shape:
            bias = add.inputs[1] if add.inputs[0] is mm else add.inputs[0]
            if bias is not mm and bias.dtype == "float32" and \
                    tuple(bias.shape) in ((mm.shape[-1],), (1, mm.shape[-1])):
                inputs.append(bias)
                top = add
        act = _only_reader(top, users, pinned)
        if act is not None and isinstance(act.op, Unary) and act.dtype == "float32":
            attrs.update(act=act.op.name, alpha=float(act.attrs.get("alpha", 0.0)),
                         beta=float(act.attrs.get("beta", 0.0)))
            top = act
        if top is not mm:
            tops[id(top)] = (inputs, attrs)
    if not tops:
        return outputs
    report.fired["fuse_matmul_bias_act"] += len(tops)
    return _replace_roots(outputs, {k: ("MATMUL_BIAS_ACT", ins, attrs)
                                    for k, (ins, attrs) in tops.items()})


def _replace_roots(outputs, roots):
    """Rebuild the graph with each node id in ``roots`` replaced by ``(op, inputs, attrs)``
    over the rebuilt inputs; what the roots swallowed is left unreferenced."""
    new_of = {}

    def replace(node, new_inputs):
        if id(node) in roots:
            op, inputs, attrs = roots[id(node)]
            new = Node(op, [new_of[id(x)] for x in inputs], attrs)
        else:
            new = node.with_inputs(new_inputs)
        new_of[id(node)] = new
        return new

    return rebuild(outputs, replace)


def _fusible(node):
    op = node.op
    return (isinstance(op, Unary) or (isinstance(op, Binary) and op.kind == "float")) and \
        _is_float32(node)


@graph_pass("fuse")
def fuse_elementwise(outputs, report):
    """A tree of float elementwise ops whose inner values have one reader and the
    root's shape -> FUSED_ELTWISE with the tree as its program."""
    order, users, pinned = _readers(outputs)
    absorbed, groups = set(), {}
    for root in reversed(order):
        if id(root) in absorbed or not _fusible(root):
            continue
        inputs, program, reg_of, inner_nodes = [], [], {}, []

        def register_input(x):
            if id(x) not in reg_of:
                reg_of[id(x)] = ("in", len(inputs))
                inputs.append(x)
            return reg_of[id(x)]

        def emit(node, depth):
            args = []
            for x in node.inputs:
                inner = (_fusible(x) and x.shape == root.shape and
                         _only_reader(x, users, pinned) is node and
                         len(program) < MAX_INSTRUCTIONS - 1 and depth < 32)
                args.append(emit(x, depth + 1) if inner else register_input(x))
            if node is not root:
                inner_nodes.append(id(node))
            program.append((node.op.name, tuple(args), float(node.attrs.get("alpha", 0.0)),
                            float(node.attrs.get("beta", 0.0))))
            return ("op", len(program) - 1)

        emit(root, 0)
        if len(program) < 2 or len(inputs) > MAX_INPUTS:
            continue
        absorbed.update(inner_nodes)
        k = len(inputs)
        resolved = tuple((name, tuple(a[1] if a[0] == "in" else k + a[1] for a in args),
                          alpha, beta) for name, args, alpha, beta in program)
        groups[id(root)] = (inputs, resolved)
    if not groups:
        return outputs
    report.fired["fuse_elementwise"] += len(groups)
    return _replace_roots(outputs, {k: ("FUSED_ELTWISE", ins, {"program": program})
                                    for k, (ins, program) in groups.items()})
