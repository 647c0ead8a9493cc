"""What every ImageNet application shares, as Keras's ``keras.applications.imagenet_utils``:
``preprocess_input`` (modes caffe, tf, torch), ``decode_predictions``, the checks of the
model functions' arguments (``obtain_input_shape``, ``validate_activation``), the steps
around each architecture (input, head, padding, filter rounding, model and weights) and
the fetching of Keras's weight files.

Keras's files (weights, ``imagenet_class_index.json``) are downloaded on first use into
``$GRAPHNET_HOME/models`` (``~/.graphnet/models``) from Keras's URLs by
``gn.utils.get_file`` and checked against Keras's hashes (a cached file whose hash does
not match is fetched again; where Keras publishes no hash, as for MobileNetV2, a cached
file is used as it is). The environment variable ``GRAPHNET_APPLICATIONS_ORIGIN`` (a base
URL or a local directory holding the files under Keras's names) replaces Keras's storage,
for machines without network access.
"""
import json
import os
import warnings

import numpy as np

from .. import activations, backend, file_utils, layers, ops
from ..datasets import download
from ..engine import Input, Model
from ..engine.input_layer import InputLayer
from ..engine.masking import call_parents

CLASS_INDEX_URL = "https://storage.googleapis.com/download.tensorflow.org/data/"
CLASS_INDEX_FILE = "imagenet_class_index.json"
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
ORIGIN_VARIABLE = "GRAPHNET_APPLICATIONS_ORIGIN"
PREPROCESS_MODES = ("caffe", "tf", "torch")
DATA_FORMATS = ("channels_first", "channels_last")
POOLING_MODES = (None, "avg", "max")

_CAFFE_MEAN = (103.939, 116.779, 123.68)       # BGR
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)

_class_index = None


def fetch_keras_file(file_name, base_url, file_hash):
    """The local path of Keras's file ``file_name`` (at ``base_url`` + ``file_name``, or in
    ``$GRAPHNET_APPLICATIONS_ORIGIN``): the copy cached in ``$GRAPHNET_HOME/models`` when
    it matches ``file_hash`` (MD5, or SHA-256 by its length; None: any cached copy), else
    a download that ``gn.utils.get_file`` verifies before it enters the cache (a mismatch
    raises ``DatasetFileError`` and leaves nothing)."""
    origin = download.origin_url(os.environ.get(ORIGIN_VARIABLE) or base_url) + file_name
    try:
        return file_utils.get_file(file_name, origin, cache_subdir="models",
                                   file_hash=file_hash)
    except OSError as e:
        directory = os.path.join(download.graphnet_home(), "models")
        raise FileNotFoundError(f"{file_name} has no verified copy in the cache {directory} "
                                f"and its download failed: {e} (set {ORIGIN_VARIABLE} to a "
                                "directory holding Keras's files when offline)") from e


# ---- preprocess_input ---------------------------------------------------------------------
def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocesses a batch of images (values in [0, 255], 3 colour channels), as Keras.

    Args:
        x: a NumPy array (floating ones are written over, as Keras does) or a symbolic
            tensor, 3D or 4D.
        data_format: "channels_last" or "channels_first"; None is
            ``gn.backend.image_data_format()``.
        mode: "caffe" (RGB to BGR, then each channel zero-centred by ImageNet's mean,
            unscaled), "tf" (scaled to [-1, 1]) or "torch" (scaled to [0, 1], then each
            channel normalized by ImageNet's mean and standard deviation).

    Returns:
        The preprocessed array (float32 for integer input) or tensor.
    """
    if mode not in PREPROCESS_MODES:
        raise ValueError("Expected mode to be one of `caffe`, `tf` or `torch`. "
                         f"Received: mode={mode}")
    if data_format is None:
        data_format = backend.image_data_format()
    elif data_format not in DATA_FORMATS:
        raise ValueError("Expected data_format to be one of `channels_first` or "
                         f"`channels_last`. Received: data_format={data_format}")
    if backend.is_keras_tensor(x):
        return _preprocess_tensor(x, data_format, mode)
    return _preprocess_array(x if isinstance(x, np.ndarray) else np.asarray(x),
                             data_format, mode)


def _channel_shape(ndim, data_format):
    """The broadcast shape of a per-channel constant for an ``ndim``-D image batch."""
    if data_format == "channels_last":
        return (1,) * (ndim - 1) + (3,)
    return (3, 1, 1) if ndim == 3 else (1, 3) + (1,) * (ndim - 2)


def _channel_axis(ndim, data_format):
    if data_format == "channels_last":
        return ndim - 1
    return 0 if ndim == 3 else 1


def _mean_and_std(mode):
    return (_TORCH_MEAN, _TORCH_STD) if mode == "torch" else (_CAFFE_MEAN, None)


def _preprocess_array(x, data_format, mode):
    if not issubclass(x.dtype.type, np.floating):
        x = x.astype(backend.floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
    else:   # caffe: RGB -> BGR (a reversed view, written through as Keras's)
        index = [slice(None)] * x.ndim
        index[_channel_axis(x.ndim, data_format)] = slice(None, None, -1)
        x = x[tuple(index)]
    mean, std = _mean_and_std(mode)
    shape = _channel_shape(x.ndim, data_format)
    x -= np.reshape(np.array(mean, x.dtype), shape)
    if std is not None:
        x /= np.reshape(np.array(std, x.dtype), shape)
    return x


def _preprocess_tensor(x, data_format, mode):
    if not backend.is_float_dtype(x.dtype):   # as the array path: integer pixels to floatx
        x = ops.cast(x, backend.floatx())
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        x = x / 255.0
    else:
        axis = _channel_axis(x.ndim, data_format)
        x = ops.flip(x, axis=axis)
    mean, std = _mean_and_std(mode)
    shape = _channel_shape(x.ndim, data_format)
    x = x + np.reshape(-np.array(mean, x.dtype), shape)
    if std is not None:
        x = x / np.reshape(np.array(std, x.dtype), shape)
    return x


# ---- decode_predictions -------------------------------------------------------------------
def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each row of ``preds`` (shape (samples, 1000)), as
    lists of ``(class_name, class_description, score)``, best first. The class index is
    Keras's ``imagenet_class_index.json``, fetched once into the cache."""
    global _class_index
    preds = np.asarray(preds.numpy() if hasattr(preds, "numpy") else preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError("`decode_predictions` expects a batch of predictions (i.e. a 2D "
                         f"array of shape (samples, 1000)). Received array with shape: "
                         f"{preds.shape}")
    if _class_index is None:
        path = fetch_keras_file(CLASS_INDEX_FILE, CLASS_INDEX_URL, CLASS_INDEX_MD5)
        with open(path) as f:
            _class_index = json.load(f)
    results = []
    for pred in preds:
        best = pred.argsort()[-top:][::-1]
        result = [tuple(_class_index[str(i)]) + (pred[i],) for i in best]
        result.sort(key=lambda entry: entry[2], reverse=True)
        results.append(result)
    return results


# ---- the model functions' arguments -------------------------------------------------------
def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten,
                       weights=None):
    """The image shape (without the batch) a model is built for, checked as Keras's
    ``obtain_input_shape``: the default ``default_size`` square with 3 channels when
    ``input_shape`` is None (None sides when not ``require_flatten``), at least
    ``min_size`` a side, 3 channels for ImageNet weights."""
    channels_first = data_format == "channels_first"
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if channels_first else input_shape[-1]
        if channels not in {1, 3}:
            warnings.warn("This model usually expects 1 or 3 input channels. However, it "
                          f"was passed an input_shape with {channels} input channels.",
                          stacklevel=3)
        default_shape = (channels, default_size, default_size) if channels_first else \
            (default_size, default_size, channels)
    else:
        default_shape = (3, default_size, default_size) if channels_first else \
            (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError("When setting `include_top=True` and loading `imagenet` "
                             f"weights, `input_shape` should be {default_shape}.  "
                             f"Received: input_shape={input_shape}")
        return default_shape
    if input_shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        channels = input_shape[0] if channels_first else input_shape[-1]
        sides = input_shape[1:] if channels_first else input_shape[:2]
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received "
                             f"`input_shape={input_shape}`")
        if any(side is not None and side < min_size for side in sides):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; "
                             f"Received: input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if channels_first else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static "
                         f"`input_shape`. Received: input_shape={input_shape}")
    return input_shape


def validate_activation(classifier_activation, weights):
    """Only None and softmax go with pretrained weights (Keras's rule)."""
    if weights is None:
        return
    if activations.get(classifier_activation) not in {activations.get("softmax"),
                                                       activations.get(None)}:
        raise ValueError("Only `None` and `softmax` activations are allowed for the "
                         "`classifier_activation` argument when using pretrained weights, "
                         "with `include_top=True`; Received: "
                         f"classifier_activation={classifier_activation}")


def validate_arguments(model_name, weights, include_top, classes, pooling):
    """Keras's checks of ``weights`` and ``classes``, and of what Keras leaves unchecked:
    the types of ``include_top`` and ``classes``, and ``pooling``'s value (a misspelt mode
    would silently give the 4D feature map)."""
    if not (weights in {"imagenet", None} or
            (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError("The `weights` argument should be either `None` (random "
                         "initialization), 'imagenet' (pre-training on ImageNet), or the "
                         f"path to the weights file to be loaded.  Received: weights={weights}")
    if not isinstance(include_top, bool):
        raise ValueError(f"{model_name}: `include_top` must be True or False. Received: "
                         f"include_top={include_top!r}")
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"{model_name}: `classes` must be a positive integer. Received: "
                         f"classes={classes!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("If using `weights='imagenet'` with `include_top=True`, `classes` "
                         f"should be 1000.  Received classes={classes}")
    if pooling not in POOLING_MODES:
        raise ValueError(f"{model_name}: `pooling` must be one of {POOLING_MODES}, got "
                         f"pooling={pooling!r}")
    if include_top and pooling is not None:
        warnings.warn(f"{model_name}: `pooling={pooling!r}` applies only when "
                      "include_top=False; the classifier's global average pooling is used",
                      stacklevel=3)


def symbolic_input(input_tensor):
    """``input_tensor``, which must be a symbolic tensor."""
    if not backend.is_keras_tensor(input_tensor):
        raise ValueError("`input_tensor` must be a symbolic tensor (the output of "
                         f"gn.Input() or of a layer on one). Received: {type(input_tensor)}")
    return input_tensor


def image_input(input_tensor, input_shape):
    """The model's image input: ``input_tensor`` (a symbolic tensor) or a new gn.Input."""
    return Input(shape=input_shape) if input_tensor is None else symbolic_input(input_tensor)


def check_input_tensor(model_name, input_tensor, input_shape):
    """Keras's MobileNets' checks, made before ``input_tensor``'s shape is read: a given
    ``input_tensor`` is symbolic and agrees with a requested ``input_shape`` in the one
    dimension Keras compares (``input_shape[1]``)."""
    if input_tensor is None:
        return
    symbolic_input(input_tensor)
    axis = 1 if backend.image_data_format() == "channels_first" else 2
    if input_shape is not None and input_tensor.shape[axis] != input_shape[1]:
        raise ValueError(f"{model_name}: input_tensor.shape[{axis}] must equal "
                         f"input_shape[1]; Received `input_tensor.shape={input_tensor.shape}`"
                         f", `input_shape={input_shape}`")


def source_inputs(tensor):
    """The gn.Input tensors ``tensor`` is computed from, in the order a depth-first walk
    meets them (Keras's ``get_source_inputs``, tensors given as masks included); each
    layer call is visited once, so a many-path graph before ``tensor`` (another model's
    residual features) takes linear time."""
    found, seen, pending = [], set(), [tensor]
    while pending:
        current = pending.pop()
        call = current.history[0] if current.history else None
        key = id(current if call is None else call)
        if key in seen:
            continue
        seen.add(key)
        if call is None or isinstance(call.layer, InputLayer):
            found.append(current)
        else:
            pending.extend(reversed(call_parents(call)))
    return found


def top_or_pooling(x, include_top, pooling, classes, classifier_activation, weights,
                   pooling_names=(None, None)):
    """The model's head on the feature map ``x``: with ``include_top`` global average
    pooling ("avg_pool") and the Dense classifier ("predictions"); else the global
    ``pooling`` ("avg" or "max"; None leaves ``x``), its layers named ``pooling_names``."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        validate_activation(classifier_activation, weights)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return feature_pooling(x, pooling, pooling_names)


def feature_pooling(x, pooling, names=(None, None)):
    """``pooling`` ("avg" or "max", else None) of the feature map ``x``; ``names`` are the
    pooling layers' names (avg, max) as the Keras model gives them."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=names[0])(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=names[1])(x)
    return x


def correct_pad(inputs, kernel_size):
    """The ((top, bottom), (left, right)) zero padding before a strided ``kernel_size``
    convolution with "valid" padding, as TensorFlow's "same" pads (Keras's
    ``correct_pad``): one less before than after on even sides."""
    img_dim = 2 if backend.image_data_format() == "channels_first" else 1
    input_size = inputs.shape[img_dim:img_dim + 2]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if input_size[0] is None else (1 - input_size[0] % 2,
                                                    1 - input_size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


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


def keras_weights_file(weights_name, include_top, base_url, hashes):
    """(file name, base URL, MD5) of Keras's ImageNet weights file of ``weights_name``,
    with or without the top; ``hashes`` holds the two files' MD5s (top, no top)."""
    suffix = "" if include_top else "_notop"
    return (f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5", base_url,
            hashes[0 if include_top else 1])


def application_model(img_input, input_tensor, outputs, name, weights, imagenet_file):
    """The functional model from ``img_input`` (or the inputs ``input_tensor`` comes from)
    to ``outputs``, with ``weights`` loaded: None, a local file, or "imagenet" (Keras's
    ``imagenet_file``, a ``(file_name, base_url, md5)``)."""
    inputs = img_input if input_tensor is None else source_inputs(input_tensor)
    model = Model(inputs, outputs, name=name)
    if weights == "imagenet":
        weights = fetch_keras_file(*imagenet_file)
    if weights is not None:
        model.load_weights(os.fspath(weights))
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
    if data_format not in (None,) + DATA_FORMATS:
        raise ValueError("preprocess_input: expected data_format to be one of "
                         "`channels_first` or `channels_last`. Received: "
                         f"data_format={data_format}")
    return x
