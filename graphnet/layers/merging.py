"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
and their functional forms (``gn.layers.add([a, b])``, ...).

Broadcasting follows Keras: inputs of lower rank get size-1 axes inserted after the
batch axis until all ranks agree, then numpy broadcasting applies to the non-batch
axes (a size-1 axis stretches; other sizes must match).
"""
import math

from .. import backend, ops
from ..engine.base_layer import Layer
from ..ops.api import reshape_dims
from .merge_masks import check_mask_list, concatenated_mask, masked_fold, masked_product, \
    or_masks


def _show(shapes):
    return ", ".join(str(tuple(s)) for s in shapes)


def _fold(op, inputs):
    """``op(...op(op(inputs[0], inputs[1]), inputs[2])..., inputs[-1])``."""
    out = inputs[0]
    for x in inputs[1:]:
        out = op(out, x)
    return out


def _batch_size(shapes):
    """The batch size the shapes agree on (None when none is known)."""
    batch = {s[0] for s in shapes} - {None}
    return batch.pop() if batch else None


class Merge(Layer):
    """Base of the elementwise merge layers: called on a list of tensors.

    Input shape:
        A list of tensors ``(batch_size, ...)`` whose non-batch shapes broadcast together.

    Output shape:
        ``(batch_size, *broadcast non-batch shape)``.
    """

    supports_masking = True  # compute_mask combines the inputs' masks, as in Keras 3

    #: exact number of inputs the layer takes (None: one or more)
    n_inputs = None

    def _where(self):
        return f"{type(self).__name__} '{self.name}'"

    def _check_list(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not all(
                isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{self._where()}: a merge layer should be called on a list of "
                             f"inputs, got input shape {input_shape}")
        if self.n_inputs is not None and len(input_shape) != self.n_inputs:
            raise ValueError(f"{self._where()}: should be called on exactly {self.n_inputs} "
                             f"inputs, got {len(input_shape)}: {_show(input_shape)}")
        batch = {s[0] for s in input_shape if len(s)} - {None}
        if len(batch) > 1:
            raise ValueError(f"{self._where()}: cannot merge tensors with different batch "
                             f"sizes, got shapes {_show(input_shape)}")
        if any(len(s) == 0 for s in input_shape):
            raise ValueError(f"{self._where()}: inputs need a batch axis, got shapes "
                             f"{_show(input_shape)}")

    def _broadcast(self, shapes):
        """Keras's elementwise output shape (non-batch axes, right-aligned)."""
        rank = max(len(s) for s in shapes) - 1
        out = [1] * rank
        known = [True] * rank
        for shape in shapes:
            rest = list(shape[1:])
            rest = [1] * (rank - len(rest)) + rest
            for i, d in enumerate(rest):
                if d is None:
                    known[i] = False
                elif d != 1:
                    if out[i] not in (1, d):
                        raise ValueError(f"{self._where()}: inputs have incompatible shapes "
                                         f"{_show(shapes)}: axis {i + 1} sizes {out[i]} and "
                                         f"{d} differ")
                    out[i] = d
        return [None if not k and o == 1 else o for o, k in zip(out, known)]

    def build(self, input_shape):
        self._check_list(input_shape)
        self._broadcast(input_shape)
        self.built = True

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self._where()}: a merge layer should be called on a list of "
                             f"inputs, got a single tensor of shape {inputs.shape}")
        shapes = [t.shape for t in inputs]
        self._check_list(shapes)
        self._broadcast(shapes)
        rank = max(t.ndim for t in inputs)
        aligned = []
        for x in inputs:
            for _ in range(rank - x.ndim):
                x = ops.expand_dims(x, 1)
            aligned.append(x)
        return self._merge_function(aligned)

    def _merge_function(self, inputs):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        return (_batch_size(input_shape),) + tuple(self._broadcast(input_shape))

    def compute_mask(self, inputs, mask=None):
        """The OR of the inputs' masks (None unless every input has one), as Keras 3."""
        if mask is None:
            return None
        check_mask_list(self, inputs, mask)
        return or_masks(list(mask))


class Add(Merge):
    """Elementwise sum of a list of inputs.

    Input shape:
        A list of tensors of the same shape (or shapes that broadcast, see ``Merge``).

    Output shape:
        The common (broadcast) shape.
    """

    def _merge_function(self, inputs):
        return _fold(ops.add, inputs)


class Subtract(Merge):
    """Elementwise difference ``inputs[0] - inputs[1]`` of exactly two inputs.

    Input shape:
        A list of 2 tensors of the same (or broadcastable) shape.

    Output shape:
        The common (broadcast) shape.
    """

    n_inputs = 2

    def _merge_function(self, inputs):
        return ops.subtract(inputs[0], inputs[1])


class Multiply(Merge):
    """Elementwise product of a list of inputs.

    Input shape:
        A list of tensors of the same (or broadcastable) shape.

    Output shape:
        The common (broadcast) shape.
    """

    def _merge_function(self, inputs):
        return masked_product(inputs)


class Average(Merge):
    """Elementwise mean of a list of inputs.

    Input shape:
        A list of tensors of the same (or broadcastable) shape.

    Output shape:
        The common (broadcast) shape.
    """

    def _merge_function(self, inputs):
        out = _fold(ops.add, inputs)
        return ops.divide(out, float(len(inputs))) if len(inputs) > 1 else out


class Maximum(Merge):
    """Elementwise maximum of a list of inputs.

    Input shape:
        A list of tensors of the same (or broadcastable) shape.

    Output shape:
        The common (broadcast) shape.
    """

    def _merge_function(self, inputs):
        return masked_fold(ops.maximum, inputs)


class Minimum(Merge):
    """Elementwise minimum of a list of inputs.

    Input shape:
        A list of tensors of the same (or broadcastable) shape.

    Output shape:
        The common (broadcast) shape.
    """

    def _merge_function(self, inputs):
        return masked_fold(ops.minimum, inputs)


class Concatenate(Merge):
    """Concatenates a list of inputs along ``axis``.

    Args:
        axis: the axis to join the inputs along (-1: the last).

    Input shape:
        A list of tensors of the same rank and shape except along ``axis``.

    Output shape:
        The common shape, with the sizes along ``axis`` summed.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Concatenate '{self.name}': axis must be an integer, got "
                            f"{axis!r}")
        self.axis = axis

    def _check(self, shapes):
        self._check_list(shapes)
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(f"{self._where()}: inputs must have the same rank, got shapes "
                             f"{_show(shapes)}")
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self._where()}: axis {self.axis} is out of range for inputs "
                             f"of rank {rank} (shapes {_show(shapes)})")
        axis = self.axis % rank
        if axis == 0:
            raise ValueError(f"{self._where()}: cannot concatenate along the batch axis 0")
        out = list(shapes[0])
        for shape in shapes[1:]:
            for i, (a, b) in enumerate(zip(out, shape)):
                if i == axis:
                    out[i] = None if a is None or b is None else a + b
                elif a is None:
                    out[i] = b
                elif b is not None and a != b:
                    raise ValueError(
                        f"{self._where()}: inputs must have matching shapes except for the "
                        f"concatenation axis {self.axis}, got shapes {_show(shapes)}")
        return tuple(out)

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self._where()}: should be called on a list of inputs, got a "
                             f"single tensor of shape {inputs.shape}")
        self._check([t.shape for t in inputs])
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_output_shape(self, input_shape):
        out = self._check(input_shape)
        if out[0] is None:
            out = (_batch_size(input_shape),) + out[1:]
        return out

    def compute_mask(self, inputs, mask=None):
        """The inputs' masks joined along ``axis`` (an unmasked input counts as all
        True), as Keras 3."""
        if mask is None:
            return None
        check_mask_list(self, inputs, mask)
        if all(m is None for m in mask):
            return None
        return concatenated_mask(list(inputs), list(mask), self.axis)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


def _swap_to(x, src, dst):
    """Move axis ``src`` of x to position ``dst`` (the others keep their order)."""
    if src == dst:
        return x
    perm = [i for i in range(x.ndim) if i != src]
    perm.insert(dst, src)
    return ops.transpose(x, perm)


def _size(dims):
    """The number of elements of ``dims``, or -1 (inferred) when one is unknown."""
    return -1 if None in dims else math.prod(dims)


def batch_dot(x, y, axes, where="batch_dot"):
    """Keras's ``batch_dot``: per-sample dot product of x and y over ``axes`` (x's axis,
    y's axis; neither the batch axis 0).

    The output is x's shape without its summed axis, then y's shape without its batch
    and summed axes; a rank-1 result is returned as ``(batch_size, 1)``.
    """
    x_ndim, y_ndim = x.ndim, y.ndim
    if x_ndim < 2 or y_ndim < 2:
        raise ValueError(f"{where}: cannot do batch_dot on inputs with rank < 2, got shapes "
                         f"{x.shape} and {y.shape}")
    a0, a1 = axes
    a0, a1 = a0 % x_ndim if a0 < 0 else a0, a1 % y_ndim if a1 < 0 else a1
    if not (0 <= a0 < x_ndim and 0 <= a1 < y_ndim):
        raise ValueError(f"{where}: axes {tuple(axes)} are out of range for shapes "
                         f"{x.shape} and {y.shape}")
    if 0 in (a0, a1):
        raise ValueError(f"{where}: cannot take the dot product over the batch axis 0 "
                         f"(axes={tuple(axes)}, shapes {x.shape} and {y.shape})")
    d1, d2 = x.shape[a0], y.shape[a1]
    if d1 is not None and d2 is not None and d1 != d2:
        raise ValueError(f"{where}: incompatible input shapes {x.shape} and {y.shape} for "
                         f"axes ({a0}, {a1}): sizes {d1} != {d2}")
    bx, by = x.shape[0], y.shape[0]
    if bx is not None and by is not None and bx != by:
        raise ValueError(f"{where}: inputs have different batch sizes, shapes {x.shape} and "
                         f"{y.shape}")
    x_rest = [d for i, d in enumerate(x.shape) if i not in (0, a0)]
    y_rest = [d for i, d in enumerate(y.shape) if i not in (0, a1)]
    # x -> (batch, M, K) with the summed axis last; y -> (batch, K, N) with it second
    xm = _swap_to(x, a0, x_ndim - 1)
    ym = _swap_to(y, a1, 1)
    x_mid = {0: [1], 1: [("in", 1)]}.get(len(x_rest), [_size(x_rest)])
    y_mid = {0: [1], 1: [("in", 2)]}.get(len(y_rest), [_size(y_rest)])
    xm = reshape_dims(xm, [("in", 0)] + x_mid + [("in", xm.ndim - 1)])
    ym = reshape_dims(ym, [("in", 0), ("in", 1)] + y_mid)
    out = ops.matmul(xm, ym)
    if len(x_rest) == 1 and len(y_rest) == 1:
        return out
    if not x_rest and not y_rest:
        return reshape_dims(out, [("in", 0), 1])
    # out is (batch, M, N): restore x's and y's remaining axes
    spec = [("in", 0)]
    spec += {0: [], 1: [("in", 1)]}.get(len(x_rest), [-1 if d is None else d for d in x_rest])
    spec += {0: [], 1: [("in", 2)]}.get(len(y_rest), [-1 if d is None else d for d in y_rest])
    if spec.count(-1) > 1:
        raise ValueError(f"{where}: at most one of the non-summed dimensions may be unknown, "
                         f"got shapes {x.shape} and {y.shape}")
    return reshape_dims(out, spec)


def _l2_normalize(x, axis):
    """Keras's ``normalize(x, axis, order=2)``: x * min(rsqrt(sum(x^2)), 1 / epsilon)."""
    inv = ops.rsqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return ops.multiply(x, ops.minimum(inv, 1.0 / backend.epsilon()))


class Dot(Merge):
    """Per-sample dot product of two tensors along ``axes`` (Keras's ``batch_dot``).

    For inputs of shapes ``(batch, 3, 5)`` and ``(batch, 10, 3)`` with ``axes=(1, 2)``
    the output has shape ``(batch, 5, 10)``.

    Args:
        axes: integer, or tuple of two integers: the axis of the first and of the second
            input to take the dot product along (the sizes must match; not the batch
            axis 0). Negative values count from the end of each input.
        normalize: whether to L2-normalize the samples along the dot axes first (the
            output is then the cosine proximity).

    Input shape:
        A list of 2 tensors of rank >= 2.

    Output shape:
        The first input's shape without its dot axis, then the second's without its batch
        and dot axes; ``(batch_size, 1)`` when that leaves only the batch axis.
    """

    n_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError(f"Dot '{self.name}': invalid format for argument axes: it "
                                 f"should contain two elements, got axes={axes}")
            if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
                raise ValueError(f"Dot '{self.name}': axes should be integers, got "
                                 f"axes={axes}")
            axes = list(axes)
        elif isinstance(axes, bool) or not isinstance(axes, int):
            raise TypeError(f"Dot '{self.name}': invalid type for argument axes: it should "
                            f"be a list or an int, got axes={axes!r}")
        self.axes = axes
        self.normalize = bool(normalize)

    def _axes_for(self, shapes):
        axes = [self.axes] * 2 if isinstance(self.axes, int) else list(self.axes)
        out = []
        for a, s in zip(axes, shapes):
            if not -len(s) <= a < len(s):
                raise ValueError(f"{self._where()}: axes={self.axes} is out of range for "
                                 f"input shapes {_show(shapes)}")
            out.append(a % len(s))
        return out

    def _check(self, shapes):
        self._check_list(shapes)
        if any(len(s) < 2 for s in shapes):
            raise ValueError(f"{self._where()}: inputs must have rank >= 2, got shapes "
                             f"{_show(shapes)}")
        a0, a1 = self._axes_for(shapes)
        if 0 in (a0, a1):
            raise ValueError(f"{self._where()}: cannot take the dot product over the batch "
                             f"axis 0 (axes={self.axes}, shapes {_show(shapes)})")
        d1, d2 = shapes[0][a0], shapes[1][a1]
        if d1 is not None and d2 is not None and d1 != d2:
            raise ValueError(f"{self._where()}: incompatible input shapes {_show(shapes)}: "
                             f"size {d1} at axis {a0} != size {d2} at axis {a1}")
        return a0, a1

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self._where()}: should be called on a list of 2 inputs, got a "
                             f"single tensor of shape {inputs.shape}")
        a0, a1 = self._check([t.shape for t in inputs])
        x, y = inputs
        if self.normalize:
            x, y = _l2_normalize(x, a0), _l2_normalize(y, a1)
        return batch_dot(x, y, (a0, a1), where=self._where())

    def compute_mask(self, inputs, mask=None):
        """No mask: the dot product sums over the masked axis (Keras 3)."""
        return None

    def compute_output_shape(self, input_shape):
        a0, a1 = self._check(input_shape)
        s1, s2 = list(input_shape[0]), list(input_shape[1])
        s1.pop(a0)
        s2.pop(a1)
        s2.pop(0)
        out = s1 + s2
        if out[0] is None:
            out[0] = input_shape[1][0]
        return tuple(out + [1] if len(out) == 1 else out)

    def get_config(self):
        config = super().get_config()
        config.update({"axes": self.axes, "normalize": self.normalize})
        return config


def add(inputs, **kwargs):
    """Functional form of ``Add``: ``gn.layers.add([a, b])``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of ``Subtract``: ``inputs[0] - inputs[1]``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of ``Multiply``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of ``Average``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of ``Maximum``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of ``Minimum``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of ``Concatenate``: join ``inputs`` along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    """Functional form of ``Dot``: per-sample dot product of two inputs along ``axes``."""
    return Dot(axes=axes, **kwargs)(inputs)
