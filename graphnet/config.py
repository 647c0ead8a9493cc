"""Session-wide settings, as ``keras.config``: the default float dtype, the fuzz factor
and the image data format. Pure Python, so the op rules read them without the runtime.

They are read where Keras reads them: ``floatx()`` is a new layer's, Input's and
metric's default dtype and the precision Python floats take in ops; ``epsilon()`` is the
fuzz factor of the losses and of ``UnitNormalization``; ``image_data_format()`` is the
data format of the convolution, pooling, upsampling and cropping layers and ops built
with ``data_format=None``.
"""
import numbers

FLOAT_DTYPES = ("float32", "float64")
DATA_FORMATS = ("channels_last", "channels_first")

_settings = {"floatx": "float32", "epsilon": 1e-7, "image_data_format": "channels_last"}


def floatx():
    """The default float dtype, 'float32' unless set."""
    return _settings["floatx"]


def set_floatx(value):
    """Set the default float dtype: 'float32' or 'float64' (graphnet has no float16;
    its C kernels compute in float32, float64 runs on the NumPy reference backend)."""
    name = str(value)
    if name not in FLOAT_DTYPES:
        raise ValueError(f"set_floatx: value must be one of {FLOAT_DTYPES}, got {value!r}")
    _settings["floatx"] = name


def epsilon():
    """The fuzz factor used in numeric expressions, 1e-07 unless set."""
    return _settings["epsilon"]


def set_epsilon(value):
    """Set the fuzz factor (a real number)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"set_epsilon: value must be a real number, got {value!r}")
    _settings["epsilon"] = float(value)


def image_data_format():
    """The default image data format, 'channels_last' unless set."""
    return _settings["image_data_format"]


def set_image_data_format(data_format):
    """Set the default image data format: 'channels_last' or 'channels_first'."""
    value = str(data_format).lower()
    if value not in DATA_FORMATS:
        raise ValueError(f"set_image_data_format: data_format must be one of {DATA_FORMATS}, "
                         f"got {data_format!r}")
    _settings["image_data_format"] = value


def standardize_data_format(data_format):
    """``data_format`` lower-cased and checked; None is ``image_data_format()``."""
    if data_format is None:
        return image_data_format()
    value = str(data_format).lower()
    if value not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    return value


def backend():
    """The name of the backend, as ``keras.config.backend()``: 'graphnet'."""
    return "graphnet"
