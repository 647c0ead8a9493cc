"""The steps every application shares around its architecture: checking the Keras
arguments, making (or adopting) the image input, pooling the features, finding the
model's source inputs and loading the weights (Keras's ``.h5`` files by layer order)."""
import os
import warnings

from .. import layers
from ..backend import is_keras_tensor
from ..config import image_data_format
from ..engine.input_layer import InputLayer
from ..engine.masking import call_parents
from . import imagenet_utils
from .weights_cache import get_file

POOLING_MODES = (None, "avg", "max")


def make_divisible(v, divisor, min_value=None):
    """``v`` rounded to a multiple of ``divisor`` (at least ``min_value``, default
    ``divisor``), never more than 10% below ``v``: the TensorFlow models' rule for filter
    counts, which Keras's MobileNets and EfficientNets share."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def check_arguments(application, weights, include_top, classes, pooling):
    """Keras's checks of ``weights`` (None, "imagenet" or an existing file) and
    ``classes`` (1000 with the ImageNet top), plus the types Keras assumes; ``pooling``
    must be a mode Keras knows, and is ignored (with a warning) under the top."""
    if not (weights in {"imagenet", None} or
            (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError(f"{application}: the `weights` argument should be either `None` "
                         "(random initialization), `imagenet` (pre-training on ImageNet), "
                         "or the path to the weights file to be loaded.  Received "
                         f"`weights={weights}`")
    if not isinstance(include_top, bool):
        raise ValueError(f"{application}: `include_top` must be True or False, got "
                         f"include_top={include_top!r}")
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"{application}: `classes` must be a positive integer, got "
                         f"classes={classes!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"{application}: if using `weights=\"imagenet\"` with "
                         "`include_top` as true, `classes` should be 1000. Received "
                         f"`classes={classes}`")
    if pooling not in POOLING_MODES:
        raise ValueError(f"{application}: `pooling` must be one of {POOLING_MODES}, got "
                         f"pooling={pooling!r}")
    if include_top and pooling is not None:
        warnings.warn(f"{application}: `pooling={pooling!r}` applies only with "
                      "`include_top=False`; the classification top pools by average",
                      stacklevel=3)


def check_input_tensor(application, input_tensor, input_shape=None):
    """``input_tensor`` must be symbolic, and as wide as ``input_shape`` when both are
    given (the one dimension Keras compares)."""
    if input_tensor is None:
        return
    if not is_keras_tensor(input_tensor):
        raise ValueError(f"{application}: `input_tensor` must be a symbolic tensor "
                         "(gn.Input() or a layer's output on one), got "
                         f"{type(input_tensor).__name__} {input_tensor!r}")
    if input_shape is not None:
        width_axis = 1 if image_data_format() == "channels_first" else 2
        if input_tensor.shape[width_axis] != input_shape[1]:
            raise ValueError(f"{application}: input_tensor.shape[{width_axis}] must equal "
                             f"input_shape[1]; Received `input_tensor.shape="
                             f"{input_tensor.shape}`, `input_shape={input_shape}`")


def obtain_input_shape(input_shape, default_size, include_top, weights):
    """``imagenet_utils.obtain_input_shape`` with the applications' minimum side (32) and
    the configured data format."""
    return imagenet_utils.obtain_input_shape(input_shape, default_size=default_size,
                                             min_size=32, data_format=image_data_format(),
                                             require_flatten=include_top, weights=weights)


def image_input(input_tensor, input_shape):
    """``gn.Input(shape=input_shape)``, or the given ``input_tensor`` itself."""
    return layers.Input(shape=input_shape) if input_tensor is None else input_tensor


def pool_features(x, pooling, avg_name=None, max_name=None):
    """The features of ``x`` globally pooled as ``pooling`` says (None: left as they are)."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def get_source_inputs(tensor):
    """The ``gn.Input`` tensors ``tensor`` is computed from, in the order a depth-first
    walk meets them (Keras's ``operation_utils.get_source_inputs``)."""
    found, seen = [], set()

    def visit(t):
        call = t.history[0]
        if id(call) in seen:
            return
        seen.add(id(call))
        if isinstance(call.layer, InputLayer):
            found.append(t)
        for parent in call_parents(call):
            visit(parent)

    visit(tensor)
    return found


def model_inputs(input_tensor, img_input):
    """What the model is built from: ``input_tensor``'s source inputs, else ``img_input``."""
    return get_source_inputs(input_tensor) if input_tensor is not None else img_input


def load_weights(model, weights, file_name, origin, file_hash=None):
    """Keras's ImageNet file ``file_name`` from ``origin`` through the cache when
    ``weights`` is "imagenet"; the file ``weights`` when it is a path; nothing for None."""
    if weights == "imagenet":
        model.load_weights(get_file(file_name, origin, cache_subdir="models",
                                    file_hash=file_hash))
    elif weights is not None:
        model.load_weights(weights)
    return model


def identity_preprocess_input(x, data_format=None):
    """The identity, for the applications that rescale their inputs themselves
    (MobileNetV3, EfficientNet): Keras keeps ``preprocess_input`` for them so code written
    for the other applications runs unchanged.

    Args:
        x: a floating point ``numpy.array`` or a tensor.
        data_format: None, "channels_last" or "channels_first" (checked; the identity
            does not depend on it).

    Returns:
        ``x``, unchanged.
    """
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError("preprocess_input: expected data_format to be one of "
                         f"`channels_first` or `channels_last`. Received: "
                         f"data_format={data_format}")
    return x
