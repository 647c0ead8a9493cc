"""IN_TRAIN_PHASE: one graph for both modes.

A layer called with ``training=None`` emits ``IN_TRAIN_PHASE(train_value,
infer_value)``; compiling for inference or for training resolves every such
node to one branch before any other pass runs (``resolve_phase``), so the
inference plan carries no dropout and the training step carries no
inference-only path.
"""
from .dtypes import broadcast_shapes
from .registry import LAYOUT, Op, OpError, register


@register
class InTrainPhase(Op):
    name, group, arity = "IN_TRAIN_PHASE", LAYOUT, 2

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        if dtypes[0] != dtypes[1]:
            raise OpError(f"IN_TRAIN_PHASE: branches have dtypes {dtypes[0]} and {dtypes[1]}")
        shape = broadcast_shapes(self.name, shapes[0], shapes[1])
        if len(shapes[0]) != len(shapes[1]):
            raise OpError(f"IN_TRAIN_PHASE: branches have shapes {shapes[0]} and {shapes[1]}")
        return shape, dtypes[0]

    def perform(self, inputs, attrs):
        # The reference interpreter runs graphs in inference mode.
        return inputs[1]

    def lower(self, node, ctx):
        # Compiled graphs are resolved first; in an unresolved one the inference branch holds.
        ctx.view(node, node.inputs[1])


def resolve_phase(node, new_inputs, training):
    """The rebuild rule: IN_TRAIN_PHASE(a, b) -> a when training else b."""
    if node.op.name == "IN_TRAIN_PHASE":
        return new_inputs[0] if training else new_inputs[1]
    return node.with_inputs(new_inputs)
