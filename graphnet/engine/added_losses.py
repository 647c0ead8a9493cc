"""``add_loss`` and ``losses``: the loss terms layers add in ``call`` (Keras 3's contract).

``Layer.add_loss(value)`` inside ``call`` records a term (an activity regularizer's
penalty is one too, divided by the batch size as Keras 3 does). Each ``Layer.__call__``
collects the terms its call and its sublayers' calls added, so ``layer.losses`` is
its latest call's terms plus its weights' regularizer penalties, as in Keras 3, where
each outer call clears the previous call's terms. For a model:

- a Functional model's own graph (the calls that built it) gives the terms computed
  from its inputs alone;
- a subclassed model keeps the terms of its traced ``call`` per training mode, so the
  built-in training step reads those of the training trace;
- inside a traced step (graph/trace.py), a model called in that step gives the terms of
  that call (a custom ``train_step``'s ``self(x)``).

The training step and ``compute_loss`` add each term, summed to a scalar, to the loss.
"""
import contextlib
import contextvars

import numpy as np

from .. import ops
from ..graph.graph import topological_order
from ..graph.tensor import SymbolicTensor
from ..graph.trace import current_trace

_collectors = contextvars.ContextVar("graphnet_loss_collectors", default=())
_isolated = contextvars.ContextVar("graphnet_losses_isolated", default=False)


@contextlib.contextmanager
def collecting_losses(layer=None):
    """Within the block every ``add_loss`` term is also appended to the yielded list;
    on a normal exit it becomes ``layer``'s latest call's terms."""
    terms = []
    token = _collectors.set(_collectors.get() + (terms,))
    try:
        yield terms
    finally:
        _collectors.reset(token)
    if layer is not None:
        layer.__dict__["_latest_call_losses"] = (current_trace(), terms)


@contextlib.contextmanager
def isolated_losses():
    """Within the block terms are only collected into the yielded list: not recorded on
    the layers that add them nor in enclosing collectors (a call traced once per training
    mode, whose terms training_mode.py merges and records itself)."""
    terms = []
    tokens = _collectors.set((terms,)), _isolated.set(True)
    try:
        yield terms
    finally:
        _collectors.reset(tokens[0])
        _isolated.reset(tokens[1])


def record_loss(layer, loss):
    """``layer.add_loss(loss)``: a symbolic tensor, or an array or number (a constant)."""
    if not isinstance(loss, SymbolicTensor):
        value = np.asarray(loss)
        if value.dtype.kind not in "fiub":
            raise TypeError(f"Layer '{layer.name}': add_loss expects a tensor or a number, "
                            f"got {type(loss).__name__}")
        loss = np.asarray(value, dtype=layer.dtype if value.dtype.kind == "f" else
                          "float32")
    collectors = _collectors.get()
    if not collectors and not isinstance(loss, SymbolicTensor):
        layer.__dict__.setdefault("_standing_losses", []).append(loss)  # outside any call
        return
    if not _isolated.get():
        layer.__dict__.setdefault("_added_losses", []).append(loss)
    for terms in collectors:
        terms.append(loss)


def add_activity_losses(layer, flat_outputs):
    """The activity regularizer's penalty of each output, as Keras 3's Layer.__call__
    adds it: divided by the batch size for outputs with a batch axis."""
    reg = layer.activity_regularizer
    if reg is None:
        return
    for out in flat_outputs:
        penalty = _as_scalar(ops.convert_to_tensor(reg(out)))
        if out.ndim:
            first = out[(slice(None),) + (0,) * (out.ndim - 1)]
            penalty = penalty / ops.sum(ops.ones_like(ops.cast(first, "float32")))
        record_loss(layer, penalty)


def latest_call_losses(layer):
    """The terms of ``layer``'s latest call ([] before any)."""
    latest = layer.__dict__.get("_latest_call_losses")
    return [] if latest is None else list(latest[1])


def symbolic_call_losses(layer):
    """The symbolic terms of ``layer``'s latest call (what an eager call computes)."""
    return [t for t in latest_call_losses(layer) if isinstance(t, SymbolicTensor)]


def keep_call_loss_values(layer, values):
    """After a call on arrays: the latest call's terms become their computed values
    (the symbolic ones replaced in order, constants kept)."""
    values = iter(values)
    terms = [np.asarray(next(values)) if isinstance(t, SymbolicTensor) else t
             for t in latest_call_losses(layer)]
    layer.__dict__["_latest_call_losses"] = (None, terms)


def graph_losses(model):
    """The terms the layers of a Functional ``model`` (and the model itself) added that
    are computed from its inputs alone (calls on other tensors are left out)."""
    from .functional import _layers_within
    input_uids = {t.node.attrs["uid"] for t in model.inputs}
    found, seen = [], set()
    for layer in _layers_within(model):
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        for term in layer.__dict__.get("_added_losses", ()):
            if not isinstance(term, SymbolicTensor) or all(
                    n.attrs["uid"] in input_uids for n in topological_order([term.node])
                    if n.op.name == "INPUT"):
                found.append(term)
    return found


def layer_losses(layer):
    """``layer.losses``: the add_loss terms (see the module docstring), the constants
    added outside any call, then the trainable weights' regularizer penalties."""
    trace = current_trace()
    terms = _traced_terms(layer, trace) if trace is not None else layer._own_losses()
    terms += list(layer.__dict__.get("_standing_losses", ()))
    for sub in layer._tracked_layers():
        terms += list(sub.__dict__.get("_standing_losses", ()))
    return terms + weight_penalties(layer)


def _traced_terms(layer, trace):
    """The terms of ``layer``'s call in ``trace``; for a layer not called in it (a GAN
    model calling only its sub-models), those of its sublayers called in it (Keras 3's
    ``losses`` gathers the sublayers' own terms)."""
    latest = layer.__dict__.get("_latest_call_losses")
    if latest is not None and latest[0] is trace:
        return list(latest[1])
    terms = []
    for sub in layer._tracked_layers():
        terms += _traced_terms(sub, trace)
    return terms


def weight_penalties(layer):
    """The regularizer penalty of each trainable weight that has one (Keras 3's order)."""
    terms = []
    for w in layer.trainable_weights:
        reg = getattr(w, "regularizer", None)
        if reg is not None:
            terms.append(reg(ops.convert_to_tensor(w)))
    return terms


def summed_loss_terms(terms):
    """Each term as a float scalar tensor (summed as Keras 3 aggregates them)."""
    out = []
    for term in terms:
        t = ops.convert_to_tensor(term)
        if t.dtype not in ("float32", "float16", "bfloat16"):
            t = ops.cast(t, "float32")
        out.append(_as_scalar(ops.sum(t) if t.ndim else t))
    return out


def _as_scalar(t):
    return ops.reshape(t, ()) if t.ndim else t
