"""Keras 3's mask machinery for ``Layer.__call__``.

A symbolic tensor carries the mask the layer that made it computed (``tensor.mask``, a
bool tensor over its leading axes, ``(batch, timesteps)`` for a sequence). A layer call
takes the masks of its inputs (or the ``mask=`` given explicitly), passes them to
``call`` when ``call`` has a ``mask`` argument, and gives its outputs
``compute_mask(inputs, previous_mask)`` when the layer ``supports_masking``; a layer that
does not drops the mask with Keras's warning.
"""
import warnings

import numpy as np

from ..graph.tensor import SymbolicTensor
from .layer_call import flatten, pack_like


def input_masks(inputs):
    """The masks the input tensors carry, in the structure of ``inputs`` (None for a
    tensor without one)."""
    return pack_like(inputs, [getattr(t, "mask", None) for t in flatten(inputs)])


def prepare_mask(layer, inputs, call_params, kwargs):
    """``(call_kwargs, previous_mask)`` for calling ``layer.call(inputs, **call_kwargs)``:
    Keras's step 6. An explicit ``mask=`` is checked against the inputs and must be
    accepted by ``call``; otherwise, when ``call`` takes ``mask``, it gets the inputs'
    masks. ``previous_mask`` is the explicit mask, else the inputs' masks."""
    explicit = kwargs.get("mask")
    if "mask" in kwargs and "mask" not in call_params:
        raise TypeError(f"Layer '{layer.name}' ({type(layer).__name__}): call() got an "
                        "unexpected keyword argument 'mask': this layer's call() takes no "
                        "mask")
    if explicit is not None:
        _check_mask_shapes(layer, inputs, explicit)
        return kwargs, explicit
    carried = input_masks(inputs)
    if "mask" in call_params:
        kwargs = dict(kwargs, mask=carried)
    return kwargs, carried


def call_parents(call):
    """The tensors a layer call reads: its inputs, then the symbolic masks it was given
    as ``mask=`` (Keras 3's node records tensor arguments too), so a model walking its
    calls reaches the layers computing those masks."""
    given = [m for m in flatten(call.kwargs.get("mask")) if isinstance(m, SymbolicTensor)]
    return list(call.inputs) + given


def output_masks(layer, inputs, flat_outputs, previous_mask):
    """The mask of each output tensor (Keras's ``_set_mask_metadata``): a mask the call's
    output already carries is kept (a nested model's); the others come from
    ``layer.compute_mask(inputs, previous_mask)`` when the layer supports masking. A
    layer that does not support masking but was given one warns as Keras 3 does."""
    carried = [getattr(t, "mask", None) for t in flat_outputs]
    if all(m is not None for m in carried):
        return carried
    if not layer.supports_masking:
        if any(m is not None for m in flatten(previous_mask)):
            warnings.warn(
                f"Layer '{layer.name}' (of type {type(layer).__name__}) was passed an input "
                "with a mask attached to it. However, this layer does not support masking "
                "and will therefore destroy the mask information. Downstream layers will "
                "not see the mask.", stacklevel=3)
        return carried
    computed = layer.compute_mask(inputs, previous_mask)
    if computed is None:
        return carried
    computed = flatten(computed)
    if len(computed) != len(flat_outputs):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): compute_mask "
                         f"returned {len(computed)} mask(s) for {len(flat_outputs)} "
                         "output(s)")
    return [c if c is not None else _as_bool_mask(m) for c, m in zip(carried, computed)]


def _as_bool_mask(mask):
    if mask is None:
        return None
    from .. import ops
    mask = ops.convert_to_tensor(mask)
    return mask if mask.dtype == "bool" else ops.not_equal(mask, 0)


def _check_mask_shapes(layer, inputs, mask):
    """An explicit mask must fit its input: cover the input's leading axes (Keras's
    ``(batch, timesteps)`` mask of a ``(batch, timesteps, features)`` tensor) or
    broadcast against it (Softmax's attention masks)."""
    flat_inputs = flatten(inputs)
    flat_masks = flatten(mask) if isinstance(inputs, (list, tuple)) else [mask]
    if len(flat_masks) != len(flat_inputs):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): got "
                         f"{len(flat_masks)} mask(s) for {len(flat_inputs)} input(s); pass "
                         "one mask (or None) per input")
    for x, m in zip(flat_inputs, flat_masks):
        if m is None:
            continue
        shape, mask_shape = tuple(x.shape), tuple(np.shape(m) if not hasattr(m, "shape")
                                                 else m.shape)
        if not (_covers_leading_axes(mask_shape, shape) or _broadcasts(mask_shape, shape)):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}): the mask has shape "
                f"{mask_shape}, which does not fit input shape {shape}: expected the "
                f"input's leading axes {shape[:max(len(shape) - 1, 1)]} (or a shape that "
                "broadcasts to the input's)")


def _same_dim(a, b):
    return a is None or b is None or a == b


def _covers_leading_axes(mask_shape, shape):
    return 0 < len(mask_shape) <= len(shape) and all(
        _same_dim(a, b) for a, b in zip(mask_shape, shape))


def _broadcasts(mask_shape, shape):
    if len(mask_shape) > len(shape):
        return False
    return all(a == 1 or _same_dim(a, b)
               for a, b in zip(reversed(mask_shape), reversed(shape)))


def rebuild_with_masks(outputs, rule):
    """New tensors for ``outputs`` (symbolic tensors) whose graph, and their masks' graph,
    is rebuilt with ``rule`` (``graph.rebuild``): a model called on new tensors gives
    outputs carrying the masks its layers computed, as Keras's outputs do when a nested
    model runs."""
    from ..graph.graph import rebuild
    masks = [t.mask for t in outputs]
    roots = [t.node for t in outputs] + [m.node for m in masks if m is not None]
    nodes = rebuild(roots, rule)
    rebuilt_masks = iter(nodes[len(outputs):])
    return [SymbolicTensor(n, mask=None if m is None else SymbolicTensor(next(rebuilt_masks)))
            for n, m in zip(nodes[:len(outputs)], masks)]


def replay_with_masks(model, inputs, masks, training):
    """The outputs of ``model`` (a Functional) called on ``inputs`` that carry ``masks``
    (one per input, None for an unmasked one): its layer calls run again, in order, on
    the new tensors, so every layer sees the masks that reach it, as Keras 3's nested
    model does when it runs. ``training`` (None: the phase is resolved later) goes to
    the layers that take it."""
    from .input_layer import InputLayer
    values = {id(mine): SymbolicTensor(given.node, history=given.history, mask=mask)
              for mine, given, mask in zip(model.inputs, inputs, masks)}

    def new(value):
        if isinstance(value, (list, tuple)):
            return type(value)(new(v) for v in value)
        return values.get(id(value), value) if isinstance(value, SymbolicTensor) else value

    for call in model._calls_in_order:
        if isinstance(call.layer, InputLayer):
            continue
        kwargs = {k: new(v) for k, v in call.kwargs.items()}
        args = kwargs.pop("args", ())
        if training is not None:
            kwargs["training"] = training
        given = [values[id(t)] for t in call.inputs]
        outputs = call.layer(given if call.list_input else given[0], *args, **kwargs)
        values.update((id(mine), out) for mine, out in zip(call.outputs, flatten(outputs)))
    return [values[id(t)] for t in model.outputs]
