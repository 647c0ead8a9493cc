"""Where ops are being defined: inside a layer's ``call`` or outside any layer.

Inside a layer's ``call`` (``Layer.__call__`` enters ``layer_call_scope``), ``gn.ops``
functions build plain op nodes: the layer call is what a model records. Outside, a
``gn.ops`` call on tensors from ``gn.Input`` or layers is itself recorded as a layer
call (engine/op_layer.py), as Keras 3 records an Operation; on arrays it computes at once.
"""
import contextlib
import contextvars

_inside = contextvars.ContextVar("graphnet_inside_layer_call", default=False)


@contextlib.contextmanager
def layer_call_scope():
    """Within the block, ops build plain graph nodes (never op layers or eager results)."""
    token = _inside.set(True)
    try:
        yield
    finally:
        _inside.reset(token)


def inside_layer_call():
    return _inside.get()
