"""Which ``training`` value a layer's ``call`` sees, as Keras 3's ``Layer.__call__``
resolves it: the argument passed, else the value of the enclosing layer call (a
subclassed model traced for fit passes ``training=True`` down to every sublayer).

Where neither gives one — a layer called while a Functional model is defined, whose one
graph serves both predict and fit — a layer whose own ``call`` is the user's is traced
twice, with ``training=True`` and ``training=False``, and each output (and each loss
it adds) becomes ``IN_TRAIN_PHASE(train, infer)``, which the compiler resolves to the
branch of the mode it compiles. So ``if training:`` in a user's layer takes the branch
of the plan that runs, as it does in Keras. graphnet's own layers handle
``training=None`` themselves (dropout, batch normalization), and are called once.
"""
import contextlib
import contextvars

from .. import ops
from .added_losses import isolated_losses, record_loss
from .layer_call import flatten, pack_like

_enclosing = contextvars.ContextVar("graphnet_call_training", default=None)


@contextlib.contextmanager
def _mode(training):
    token = _enclosing.set(training)
    try:
        yield
    finally:
        _enclosing.reset(token)


def _users_call(layer):
    """Whether the ``call`` the layer runs is defined outside graphnet."""
    for klass in type(layer).__mro__:
        if "call" in klass.__dict__:
            return not klass.__module__.startswith("graphnet.")
    return False


def call_in_mode(layer, inputs, args, kwargs, params):
    """``layer.call(inputs, *args, **kwargs)`` with ``training`` resolved (see above)."""
    if "training" not in params:
        return layer.call(inputs, *args, **kwargs)
    training = kwargs.get("training")
    if training is None:
        training = _enclosing.get()
    if training is not None or not _users_call(layer):
        with _mode(training):
            return layer.call(inputs, *args, **dict(kwargs, training=training))
    traced = {}
    for mode in (True, False):
        with _mode(mode), isolated_losses() as terms:
            traced[mode] = (layer.call(inputs, *args, **dict(kwargs, training=mode)), terms)
    (train, train_terms), (infer, infer_terms) = traced[True], traced[False]
    flat_train, flat_infer = flatten(train), flatten(infer)
    if len(flat_train) != len(flat_infer):
        raise ValueError(f"Layer '{layer.name}': call returns {len(flat_train)} outputs with "
                         f"training=True but {len(flat_infer)} with training=False")
    for term in _merged_terms(train_terms, infer_terms):
        record_loss(layer, term)
    return pack_like(train, [_either(layer, a, b) for a, b in zip(flat_train, flat_infer)])


def _either(layer, train, infer):
    if train is infer or train.node is infer.node:
        return train
    if tuple(train.shape) != tuple(infer.shape) or train.dtype != infer.dtype:
        raise ValueError(f"Layer '{layer.name}': call returns an output of shape "
                         f"{tuple(train.shape)} ({train.dtype}) with training=True but "
                         f"{tuple(infer.shape)} ({infer.dtype}) with training=False; each "
                         "output must have one shape and dtype in both modes")
    return ops.in_train_phase(train, infer)


def _merged_terms(train_terms, infer_terms):
    """The loss terms of both traces as mode-resolved terms: pairwise when the traces
    added alike terms, else each mode's sum as one term."""
    def shape(t):
        return tuple(ops.convert_to_tensor(t).shape)
    if len(train_terms) == len(infer_terms) and all(
            shape(a) == shape(b) for a, b in zip(train_terms, infer_terms)):
        return [ops.in_train_phase(a, b) for a, b in zip(train_terms, infer_terms)]
    def total(terms):
        return sum((ops.sum(ops.cast(t, "float32")) for t in terms),
                   ops.convert_to_tensor(0.0))
    return [ops.in_train_phase(total(train_terms), total(infer_terms))]
