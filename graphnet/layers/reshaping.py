"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector.

All of them keep the batch dimension symbolic: the batch size is copied from the
input (RESHAPE's ("in", 0) entry), never written into the graph.
"""
import math

from .. import ops
from ..engine.base_layer import Layer
from ..config import image_data_format
from ..ops.api import reshape_dims
from ..engine.input_spec import InputSpec

DATA_FORMATS = ("channels_last", "channels_first")


def standardize_data_format(data_format, layer_name):
    """None means gn.config.image_data_format() (channels_last unless set)."""
    if data_format is None:
        return image_data_format()
    value = str(data_format).lower()
    if value not in DATA_FORMATS:
        raise ValueError(f"{layer_name}: data_format must be one of {DATA_FORMATS}, got "
                         f"{data_format!r}")
    return value


def _known(dims):
    return all(d is not None for d in dims)


class Flatten(Layer):
    """Flattens the input. Does not affect the batch size.

    Inputs shaped ``(batch,)`` without a feature axis get one: the output is ``(batch, 1)``.

    Args:
        data_format: ``"channels_last"`` (default) or ``"channels_first"``: the ordering of
            the dimensions in the inputs. With ``"channels_first"`` the input is moved to
            channels-last order before flattening, so the output ordering matches a
            channels-last model (as in Keras).

    Input shape:
        Tensor of rank >= 1 ``(batch_size, ...)``.

    Output shape:
        2D tensor ``(batch_size, product of the other dimensions)``.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, f"Flatten '{self.name}'")
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        rank = inputs.ndim
        if self.data_format == "channels_first" and rank > 2:
            inputs = ops.transpose(inputs, (0, *range(2, rank), 1))
        rest = inputs.shape[1:]
        return reshape_dims(inputs, [("in", 0), math.prod(rest) if _known(rest) else -1])

    def compute_output_shape(self, input_shape):
        rest = tuple(input_shape[1:])
        size = math.prod(rest) if _known(rest) else None
        return (input_shape[0], size)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Reshapes the input (batch excluded) to ``target_shape``.

    Args:
        target_shape: tuple of integers, the shape without the batch dimension. One entry
            may be -1: it is inferred from the size of the input and the other entries.

    Input shape:
        Arbitrary, with as many elements per sample as ``target_shape``.

    Output shape:
        ``(batch_size, *target_shape)``.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if isinstance(target_shape, int):
            target_shape = (target_shape,)
        try:
            target_shape = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError(f"Reshape '{self.name}': target_shape must be a tuple of "
                             f"integers, got {target_shape!r}") from None
        if sum(d == -1 for d in target_shape) > 1 or any(d < 1 and d != -1
                                                          for d in target_shape):
            raise ValueError(f"Reshape '{self.name}': target_shape may hold positive "
                             f"integers and at most one -1, got {target_shape}")
        self.target_shape = target_shape

    def _resolved(self, input_shape):
        """target_shape with the -1 filled in (None when the input sizes are unknown)."""
        rest = tuple(input_shape[1:])
        target = list(self.target_shape)
        if not _known(rest):
            return tuple(None if d == -1 else d for d in target)
        total = math.prod(rest)
        known = math.prod(d for d in target if d != -1)
        if -1 in target:
            if known == 0 or total % known:
                self._fail(input_shape, total)
            target[target.index(-1)] = total // known
        elif known != total:
            self._fail(input_shape, total)
        return tuple(target)

    def _fail(self, input_shape, total):
        raise ValueError(f"Reshape '{self.name}': cannot reshape input shape "
                         f"{tuple(input_shape)} ({total} elements per sample) into "
                         f"target_shape {self.target_shape}")

    def call(self, inputs):
        target = self._resolved(inputs.shape)
        spec = [("in", 0)] + [-1 if d is None else d for d in target]
        return reshape_dims(inputs, spec)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(input_shape)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config


class Permute(Layer):
    """Permutes the dimensions of the input according to ``dims``.

    Args:
        dims: tuple of integers, the permutation of the non-batch axes, indexed from 1.
            ``(2, 1)`` swaps the first and second non-batch axes.

    Input shape:
        Tensor of rank ``len(dims) + 1``.

    Output shape:
        The input shape with the non-batch dimensions re-ordered by ``dims``.
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            raise ValueError(f"Permute '{self.name}': dims must be a tuple of integers, got "
                             f"{dims!r}") from None
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute '{self.name}': invalid permutation argument dims={dims}"
                             f": it must hold each of 1..{len(dims)} once (indexing starts at "
                             "1; the batch axis is not included)")
        self.dims = dims
        self.input_spec = InputSpec(ndim=len(dims) + 1)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        config = super().get_config()
        config["dims"] = self.dims
        return config


class RepeatVector(Layer):
    """Repeats the input ``n`` times along a new axis 1.

    Args:
        n: integer, the repetition factor.

    Input shape:
        2D tensor ``(batch_size, features)``.

    Output shape:
        3D tensor ``(batch_size, n, features)``.
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"RepeatVector '{self.name}': expected an integer value for n, "
                            f"got {type(n).__name__} {n!r}")
        if n <= 0:
            raise ValueError(f"RepeatVector '{self.name}': argument n should be a positive "
                             f"integer, got n={n}")
        self.n = n
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return ops.broadcast_to(ops.expand_dims(inputs, 1), (None, self.n, None))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config
