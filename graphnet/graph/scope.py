"""Where ops are being defined: inside a layer's ``call`` or outside any layer.

Inside a layer's ``call`` (``Layer.__call__`` enters ``layer_call_scope``), ``gn.ops``
functions build plain op nodes: the layer call is what a model records. Outside, a
``gn.ops`` call on tensors from ``gn.Input`` or layers is itself recorded as a layer
call (engine/op_layer.py), as Keras 3 records an Operation; on arrays it computes at once.
"""
import contextlib
import contextvars

_inside = contextvars.ContextVar("graphnet_inside_layer_call", default=False)
_layer = contextvars.ContextVar("graphnet_layer_name", default=None)


@contextlib.contextmanager
def layer_call_scope(layer_name=None):
    """Within the block, ops build plain graph nodes (never op layers or eager results);
    with ``layer_name``, the nodes record it as their origin (runtime errors name it)."""
    token = _inside.set(True)
    named = _layer.set(layer_name) if layer_name is not None else None
    try:
        yield
    finally:
        if named is not None:
            _layer.reset(named)
        _inside.reset(token)


current_layer_name = _layer.get


def inside_layer_call():
    return _inside.get()
