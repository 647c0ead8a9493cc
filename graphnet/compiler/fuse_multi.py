"""Multi-tensor fusion (phase "fuse", after graphnet/compiler/fuse.py): the optimizer
updates of all weights in one kernel call.

An optimizer updates every weight with the same elementwise program over different
tensors (RMSprop: the new velocity, then the new weight from it). ``fuse_multi_tensor``

* joins, per tensor, the elementwise values of one shape that are graph outputs
  (updates) and read one another, with the elementwise values only they read (a
  gradient times the learning rate), into one program with several results, when
  nothing else reads them: such a group is a sink of the graph, so merging groups never
  makes a cycle;
* merges the tensors whose programs are the same into one FUSED_MULTI_ELTWISE (up to
  64 tensors per call), each result read through a MULTI_PART.

Lowering writes each part straight into the variable it updates when nothing reads the
variable's old value afterwards, so the updates need no copies either.
"""
from ..graph.graph import order_and_consumers
from ..graph.node import Node
from ..ops.elementwise import Binary, Unary
from ..ops.fused import MAX_INPUTS, MAX_INSTRUCTIONS
from ..ops.multi_eltwise import MAX_OUTPUTS, MAX_TENSORS, part_offsets
from .phases import graph_pass


def _program_of(node):
    """(inputs, program) of one elementwise node, as FUSED_ELTWISE registers."""
    if node.op.name == "FUSED_ELTWISE":
        return node.inputs, node.attrs["program"]
    alpha, beta = float(node.attrs.get("alpha", 0.0)), float(node.attrs.get("beta", 0.0))
    return node.inputs, ((node.op.name, tuple(range(len(node.inputs))), alpha, beta),)


def _is_elementwise(node):
    """A float32 elementwise node reading only values of its size or single values."""
    op = node.op
    return (op.name == "FUSED_ELTWISE" or isinstance(op, Unary) or
            (isinstance(op, Binary) and op.kind == "float")) and bool(node.size) and \
        node.dtype == "float32" and \
        all(x.dtype == "float32" and x.size in (1, node.size) for x in node.inputs)


def _tensor_groups(order, users, pinned):
    """Per tensor, (nodes in topological order, the graph outputs among them): elementwise
    graph outputs of one shape and the elementwise values only they read (a slot's new
    value, a gradient times the learning rate), joined by reading one another; each
    group read by nothing outside itself."""
    member = {}       # node id -> whether it may join: an output, or read only by members
    for n in reversed(order):
        if _is_elementwise(n):
            member[id(n)] = id(n) in pinned or (bool(users[id(n)]) and all(
                member.get(id(u)) and u.shape == n.shape for u in users[id(n)]))
    nodes = [n for n in order if member.get(id(n))]
    root = {id(n): id(n) for n in nodes}

    def find(i):
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i
    for n in nodes:
        for x in n.inputs:
            if member.get(id(x)) and x.shape == n.shape:
                root[find(id(x))] = find(id(n))
    joined = {}
    for n in nodes:
        joined.setdefault(find(id(n)), []).append(n)
    groups = []
    for group in joined.values():
        ids = {id(n) for n in group}
        results = [n for n in group if id(n) in pinned]
        if results and all(id(u) in ids for n in group for u in users[id(n)]):
            groups.append((group, results))
    return groups


def _joint_program(nodes, results):
    """(inputs, program, result registers) computing ``nodes`` in one pass with the values
    of ``results`` as outputs, or None past the kernel's limits."""
    inputs, input_reg, made, program = [], {}, {}, []
    for node in nodes:
        sub_inputs, sub_program = _program_of(node)
        refs = []
        for x in sub_inputs:
            if id(x) in made:
                refs.append(("op", made[id(x)]))
            else:
                if id(x) not in input_reg:
                    input_reg[id(x)] = len(inputs)
                    inputs.append(x)
                refs.append(("in", input_reg[id(x)]))
        base, k_sub = len(program), len(sub_inputs)
        for name, args, alpha, beta in sub_program:
            program.append((name, tuple(refs[a] if a < k_sub else ("op", base + a - k_sub)
                                        for a in args), alpha, beta))
        made[id(node)] = len(program) - 1
    k = len(inputs)
    if k > MAX_INPUTS or len(program) > MAX_INSTRUCTIONS or len(results) > MAX_OUTPUTS:
        return None
    resolved = tuple((name, tuple(i if kind == "in" else k + i for kind, i in args), alpha, beta)
                     for name, args, alpha, beta in program)
    return inputs, resolved, tuple(k + made[id(n)] for n in results)


@graph_pass("fuse")
def fuse_multi_tensor(outputs, report):
    """Elementwise update groups of several tensors with the same program ->
    FUSED_MULTI_ELTWISE (one call), each result a MULTI_PART of it."""
    pinned = {id(n) for n in outputs}
    if sum(1 for n in {id(n): n for n in outputs}.values() if _is_elementwise(n)) < 2:
        return outputs   # each group holds an elementwise output: no two groups to merge
    order, users = order_and_consumers(outputs)
    by_program = {}
    for nodes, results in _tensor_groups(order, users, pinned):
        joint = _joint_program(nodes, results)
        if joint is not None:
            inputs, program, registers = joint
            by_program.setdefault((program, registers), []).append((nodes, results, inputs))
    calls = []
    for (program, results), tensors in by_program.items():
        # The last tensor's first, as backpropagation makes the gradients: the plan runs
        # in depth-first order from the outputs, so each layer's weight gradient is then
        # computed right after the gradient of the layer's output, while that is in cache,
        # not after the whole chain down to the first layer (mnist_mlp's step ~2% faster).
        tensors = tensors[::-1]
        for i in range(0, len(tensors), MAX_TENSORS):
            chunk = tensors[i:i + MAX_TENSORS]
            if len(chunk) > 1:
                calls.append((program, results, chunk))
    if not calls:
        return outputs
    report.fired["fuse_multi_tensor"] += len(calls)
    merged = {id(n) for _, _, chunk in calls for nodes, _, _ in chunk for n in nodes}
    new_of = {}
    for node in order:   # the merged groups are sinks: nothing else needs them
        if id(node) not in merged:
            new_of[id(node)] = node.with_inputs(tuple(new_of[id(x)] for x in node.inputs))
    for program, results, chunk in calls:
        multi = Node("FUSED_MULTI_ELTWISE", [new_of[id(x)] for _, _, ins in chunk for x in ins],
                     {"program": program, "results": results,
                      "shapes": tuple(nodes[0].shape for nodes, _, _ in chunk)})
        values = [n for _, outs, _ in chunk for n in outs]
        for node, (offset, shape) in zip(values, part_offsets(multi)):
            new_of[id(node)] = Node("MULTI_PART", [multi], {"offset": offset, "shape": shape})
    return [new_of[id(n)] for n in outputs]
