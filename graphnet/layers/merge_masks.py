"""How the merge layers combine their inputs' masks, as Keras 3's merging layers do.

A mask covers the leading axes of its tensor (``(batch, timesteps)`` of a
``(batch, timesteps, features)`` tensor); the values use it through a trailing axis.
"""
from .. import ops


def check_mask_list(layer, inputs, mask):
    """Keras's checks of ``compute_mask``'s arguments for a merge layer."""
    if not isinstance(mask, (list, tuple)):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `mask` should be a list. "
                         f"Received: mask={mask}")
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': `inputs` should be a list. "
                         f"Received: inputs={inputs}")
    if len(mask) != len(inputs):
        raise ValueError(f"{type(layer).__name__} '{layer.name}': the lists `inputs` and "
                         f"`mask` should have the same length. Received: {len(inputs)} "
                         f"inputs and {len(mask)} masks")


def or_masks(masks):
    """The elementwise merges' output mask: the OR of the inputs' masks, None unless
    every input has one."""
    if any(m is None for m in masks):
        return None
    out = masks[0]
    for m in masks[1:]:
        out = ops.logical_or(out, m)
    return out


def concatenated_mask(inputs, masks, axis):
    """Concatenate's output mask: the masks (all-True for an unmasked input) widened to
    their inputs' rank, joined along ``axis``, then ANY over the last axis."""
    widened = []
    for x, m in zip(inputs, masks):
        all_true = ops.not_equal(ops.ones_like(x), 0.0)
        if m is None:
            widened.append(all_true)
        elif m.ndim < x.ndim:
            widened.append(ops.logical_and(ops.expand_dims(m, -1), all_true))
        else:
            widened.append(m)
    return ops.any(ops.concatenate(widened, axis=axis), axis=-1)


def _value_mask(x):
    """The tensor's mask as a condition over its values (None without a mask)."""
    mask = getattr(x, "mask", None)
    return None if mask is None else ops.expand_dims(mask, -1)


def masked_fold(op, inputs):
    """Keras's ``_apply_merge_op_and_or_mask`` (Maximum, Minimum): a masked entry takes
    the other operand's value, so it never wins."""
    output, output_mask = None, None
    for x in inputs:
        mask = _value_mask(x)
        if output is None:
            output, output_mask = x, mask
            continue
        if mask is not None:
            x = ops.where(mask, x, output)
        if output_mask is not None:
            output = ops.where(output_mask, output, x)
        output_mask = ops.logical_or(output_mask, mask) \
            if mask is not None and output_mask is not None else None
        output = op(output, x)
    return output


def masked_product(inputs):
    """Keras's Multiply with masks: masked entries count as 1 in the product, and when
    every input is masked the entries no input covers are 0."""
    masks = [_value_mask(x) for x in inputs]
    every = all(m is not None for m in masks)
    output, output_mask = None, None
    for x, mask in zip(inputs, masks):
        if mask is not None:
            x = ops.where(mask, x, 1.0)
            if every:
                output_mask = mask if output_mask is None else ops.logical_or(output_mask, mask)
        output = x if output is None else ops.multiply(output, x)
    if every:
        output = ops.where(output_mask, output, 0.0)
    return output
