"""Pooling layers: Max/AveragePooling1D/2D/3D and GlobalMax/GlobalAveragePooling1D/2D/3D."""
from .. import ops
from ..engine.base_layer import Layer
from ..ops.api import standardize_data_format, standardize_tuple


class _Pooling(Layer):
    """Max or average pooling over ``rank`` spatial dims."""

    rank = None
    mode = None

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        what = f"{type(self).__name__} '{self.name}'"
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else \
            standardize_tuple(strides, self.rank, "strides")
        if any(v < 1 for v in self.pool_size + self.strides):
            raise ValueError(f"{what}: pool_size {self.pool_size} and strides {self.strides} "
                             "must be positive")
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{what}: padding must be 'valid' or 'same', got {padding!r}")
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        if inputs.ndim != self.rank + 2:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects inputs of "
                             f"rank {self.rank + 2}, got input shape {tuple(inputs.shape)} "
                             f"(pool_size {self.pool_size})")
        pool = ops.max_pool if self.mode == "max" else ops.average_pool
        return pool(inputs, self.pool_size, self.strides, self.padding, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "padding": self.padding,
                       "strides": self.strides, "data_format": self.data_format})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("pool_size", "strides"):
            if isinstance(config.get(key), list):
                config[key] = tuple(config[key])
        return super().from_config(config)


_POOL_DOC = """{kind} pooling over {rank}D inputs.

    Args:
        pool_size: int or tuple of {rank} ints: the window size{default}.
        strides: int or tuple of {rank} ints; None (default) means ``pool_size``.
        padding: 'valid' or 'same' ({note}).
        data_format: "channels_last" (default) or "channels_first".

    Input shape: {rank2}D ``(batch, {spatial}, channels)`` or channels_first.
    Output shape: {rank2}D with the pooled spatial sizes.
    """


class MaxPooling1D(_Pooling):
    rank, mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Pooling):
    rank, mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pooling):
    rank, mode = 3, "max"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    rank, mode = 1, "avg"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    rank, mode = 2, "avg"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(_Pooling):
    rank, mode = 3, "avg"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


_SPATIAL = {1: "steps", 2: "rows, cols", 3: "depth, rows, cols"}
for _cls in (MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D, AveragePooling2D,
             AveragePooling3D):
    _max = _cls.mode == "max"
    _cls.__doc__ = _POOL_DOC.format(
        kind="Max" if _max else "Average", rank=_cls.rank, rank2=_cls.rank + 2,
        spatial=_SPATIAL[_cls.rank], default=" (default 2 per dim)" if _max else "",
        note="padding never wins the max" if _max else
        "padded positions are not counted in the average")


class _GlobalPooling(Layer):
    """Max or mean over all spatial dims."""

    rank = None
    mode = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = bool(keepdims)

    def call(self, inputs):
        if inputs.ndim != self.rank + 2:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects inputs of "
                             f"rank {self.rank + 2}, got input shape {tuple(inputs.shape)}")
        first = 1 if self.data_format == "channels_last" else 2
        axes = tuple(range(first, first + self.rank))
        reduce = ops.max if self.mode == "max" else ops.mean
        return reduce(inputs, axis=axes, keepdims=self.keepdims)

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


_GLOBAL_DOC = """Global {kind} pooling over {rank}D inputs.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: keep the spatial dims (size 1), as Keras.

    Input shape: {rank2}D ``(batch, {spatial}, channels)`` or channels_first.
    Output shape: ``(batch, channels)``, or with ``keepdims`` the rank of the input.
    """


class GlobalMaxPooling1D(_GlobalPooling):
    rank, mode = 1, "max"


class GlobalMaxPooling2D(_GlobalPooling):
    rank, mode = 2, "max"


class GlobalMaxPooling3D(_GlobalPooling):
    rank, mode = 3, "max"


class GlobalAveragePooling1D(_GlobalPooling):
    rank, mode = 1, "avg"
    supports_masking = True

    def call(self, inputs, mask=None):
        """With a ``(batch, steps)`` mask, the mean over the unmasked steps (Keras 3)."""
        if mask is None:
            return super().call(inputs)
        steps_axis = 1 if self.data_format == "channels_last" else 2
        kept = ops.expand_dims(ops.cast(mask, "bool"), 2 if steps_axis == 1 else 1)
        total = ops.sum(ops.where(kept, inputs, 0.0), axis=steps_axis, keepdims=self.keepdims)
        count = ops.sum(ops.cast(kept, inputs.dtype), axis=steps_axis, keepdims=self.keepdims)
        return ops.divide(total, count)

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalAveragePooling2D(_GlobalPooling):
    rank, mode = 2, "avg"


class GlobalAveragePooling3D(_GlobalPooling):
    rank, mode = 3, "avg"


for _cls in (GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
             GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D):
    _cls.__doc__ = _GLOBAL_DOC.format(kind="max" if _cls.mode == "max" else "average",
                                      rank=_cls.rank, rank2=_cls.rank + 2,
                                      spatial=_SPATIAL[_cls.rank])

MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = (GlobalMaxPooling1D, GlobalMaxPooling2D,
                                                     GlobalMaxPooling3D)
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D)
