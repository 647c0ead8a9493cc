"""Unrolling the time loop of a recurrent cell (phase "simplify"): shapes are concrete
here, so the number of steps is known. RNN_UNROLL becomes T copies of the cell's step
graph, RNN_UNROLL_GRAD reverse mode over those copies (graphnet/ops/unrolled.py)."""
import collections
import math
import threading

from ..graph.node import Node
from ..ops.recurrent_layout import MASK_CARRY
from ..ops.unrolled import input_names, split_inputs
from .phases import rewrite


@rewrite("simplify", ops=("RNN_UNROLL", "RNN_UNROLL_GRAD"))
def unroll_recurrence(node):
    """RNN_UNROLL(x, ...) -> T copies of the cell's step graph; RNN_UNROLL_GRAD -> reverse
    mode over those copies."""
    return unrolled(node)


def _step_slice(x, t):
    """x[:, t] of x (batch, T, ...)."""
    rank = len(x.shape)
    node = Node("SLICE", (x,), {"begin": (None, t) + (None,) * (rank - 2),
                                "end": (None, t + 1) + (None,) * (rank - 2),
                                "step": (1,) * rank})
    return Node("RESHAPE", (node,), {"shape": (x.shape[0],) + tuple(x.shape[2:])})


def _flat(node):
    return Node("RESHAPE", (node,), {"shape": (node.shape[0], math.prod(node.shape[1:]))})


def _keep_where(m, new, old):
    """new where the step's mask m (batch,) is set, else old."""
    m = Node("RESHAPE", (m,), {"shape": (m.shape[0],) + (1,) * (len(new.shape) - 1)})
    return Node("WHERE", (m, new, old))


def unrolled(node):
    """The unrolled graph an RNN_UNROLL or RNN_UNROLL_GRAD node stands for (its inputs of
    concrete shapes)."""
    if node.op.name == "RNN_UNROLL":
        return unrolled_record(node.attrs, node.inputs)
    return unrolled_gradient(node.attrs, node.inputs)


class _IdentityCache:
    """The latest graphs built, keyed by the identity of the nodes they were built over:
    a loop's record and its gradients are built once per compile, and equal but distinct
    nodes must not share them (gradients are taken with respect to the very nodes)."""

    def __init__(self, size=16):
        self.size, self.entries = size, collections.OrderedDict()
        self.lock = threading.RLock()   # plans may be compiled from several threads

    def get(self, attrs, inputs, build):
        key = (attrs, tuple(map(id, inputs)))
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None and all(a is b for a, b in zip(hit[0], inputs)):
                self.entries.move_to_end(key)
                return hit[1]
            value = build(attrs, inputs)
            self.entries[key] = (inputs, value)
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
            return value


_RECORDS, _GRADIENTS = _IdentityCache(), _IdentityCache()


def unrolled_record(attrs, inputs):
    """The record Y of RNN_UNROLL over ``inputs`` (nodes of concrete shapes), unrolled."""
    return _RECORDS.get(attrs, tuple(inputs), _unrolled_record)


def _unrolled_record(attrs, inputs):
    step, mode = attrs["step"], attrs["mask_mode"]
    x, mask, states, captured = split_inputs(inputs, attrs)
    T = x.shape[1]
    order = range(T - 1, -1, -1) if attrs["go_backwards"] else range(T)
    rows, previous = [], None
    for t in order:
        output, *new = step.apply([_step_slice(x, t)] + states + captured)
        if mask is not None:
            m = _step_slice(mask, t)
            new = [_keep_where(m, n, s) for n, s in zip(new, states)]
            zeros = Node("FULL_LIKE", (output,), {"value": 0.0})
            held = previous if mode == MASK_CARRY and previous is not None else zeros
            output = previous = _keep_where(m, output, held)
        states = new
        row = Node("CONCATENATE", [_flat(r) for r in [output] + new], {"axis": 1})
        rows.append(Node("RESHAPE", (row,), {"shape": (row.shape[0], 1, row.shape[1])}))
    return Node("CONCATENATE", rows, {"axis": 1}) if len(rows) > 1 else rows[0]


def unrolled_gradient(attrs, inputs):
    """RNN_UNROLL_GRAD's value over ``inputs`` (RNN_UNROLL's, then gY), unrolled: reverse
    mode over the unrolled record, done once for every input of the loop."""
    forward = {k: v for k, v in attrs.as_dict().items() if k != "wrt"}
    g = _GRADIENTS.get(type(attrs)(forward), tuple(inputs), _unrolled_gradients)[attrs["wrt"]]
    return g if g is not None else Node("FULL_LIKE", (inputs[attrs["wrt"]],), {"value": 0.0})


def _unrolled_gradients(attrs, inputs):
    from ..autodiff import backprop   # (the compiler loads without autodiff for inference)
    forward_inputs, gY = inputs[:-1], inputs[-1]
    targets = {id(x) for i, x in enumerate(forward_inputs)
               if input_names(attrs)[i] != "mask"}
    y = unrolled_record(attrs, forward_inputs)
    grads = backprop(y, gY, lambda n: id(n) in targets)
    return tuple(grads.get(id(x)) for x in forward_inputs)   # by input index
