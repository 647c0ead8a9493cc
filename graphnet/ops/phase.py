"""IN_TRAIN_PHASE: one graph for both modes.

A layer called with ``training=None`` emits ``IN_TRAIN_PHASE(train_value,
infer_value)``; compiling for inference or for training resolves every such
node to one branch before any other pass runs (``resolve_phase``), so the
inference plan carries no dropout and the training step carries no
inference-only path.
"""
from . import builders as ad
from .registry import LAYOUT, Op, OpError, register


@register
class InTrainPhase(Op):
    name, group, arity = "IN_TRAIN_PHASE", LAYOUT, 2

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        if dtypes[0] != dtypes[1]:
            raise OpError(f"IN_TRAIN_PHASE: branches have dtypes {dtypes[0]} and {dtypes[1]}")
        # The branches must have one shape (None matches any size): resolving picks one
        # branch as is, so a broadcast shape here would change when the mode is resolved.
        a, b = shapes
        if len(a) != len(b) or any(x is not None and y is not None and x != y
                                   for x, y in zip(a, b)):
            raise OpError(f"IN_TRAIN_PHASE: branches have shapes {a} and {b}; they must match")
        return tuple(x if x is not None else y for x, y in zip(a, b)), dtypes[0]

    def perform(self, inputs, attrs):
        # The reference interpreter runs graphs in inference mode.
        return inputs[1]

    def grad(self, node, grad_output):
        """Each branch gets the gradient in its own mode and zeros in the other:
        IN_TRAIN_PHASE(g, 0) for the training branch, IN_TRAIN_PHASE(0, g) for the other."""
        out = []
        for i, x in enumerate(node.inputs):
            if not ad.is_float(x):
                out.append(None)
                continue
            g = grad_output
            zeros = ad.zeros_like(g)
            out.append(ad.node(self.name, *((g, zeros) if i == 0 else (zeros, g))))
        return out

    def lower(self, node, ctx):
        # Compiled graphs are resolved first; in an unresolved one the inference branch holds.
        ctx.view(node, node.inputs[1])


def resolve_phase(node, new_inputs, training):
    """The rebuild rule: IN_TRAIN_PHASE(a, b) -> a when training else b."""
    if node.op.name == "IN_TRAIN_PHASE":
        return new_inputs[0] if training else new_inputs[1]
    return node.with_inputs(new_inputs)
