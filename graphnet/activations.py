"""Activation functions by Keras name: every one in Keras 2.2.4 plus Keras 3's additions."""
from . import ops
from .serialization import Registry

_registry = Registry("activation")


def _register(fn):
    _registry.add(fn)
    return fn


@_register
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, threshold) by default; with ``negative_slope`` below the threshold
    and ``max_value`` as a ceiling (Keras's full relu)."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    x = ops.convert_to_tensor(x)
    if negative_slope == 0.0 and threshold == 0.0 and max_value == 6.0:
        return ops.relu6(x)
    if threshold == 0.0 and negative_slope != 0.0:
        out = ops.leaky_relu(x, negative_slope)
    else:
        below = ops.multiply(ops.subtract(x, threshold), negative_slope) \
            if negative_slope != 0.0 else ops.zeros_like(x)
        out = ops.where(ops.greater(x, threshold), x, below)
    if max_value is not None:
        out = ops.minimum(out, float(max_value))
    return out


@_register
def leaky_relu(x, negative_slope=0.2):
    return ops.leaky_relu(x, negative_slope)


@_register
def relu6(x):
    return ops.relu6(x)


@_register
def elu(x, alpha=1.0):
    return ops.elu(x, alpha)


@_register
def selu(x):
    return ops.selu(x)


@_register
def celu(x, alpha=1.0):
    """max(x, 0) + min(0, alpha * (exp(x / alpha) - 1))."""
    return ops.add(ops.relu(x), ops.minimum(
        ops.multiply(ops.expm1(ops.divide(x, float(alpha))), float(alpha)), 0.0))


@_register
def softplus(x):
    return ops.softplus(x)


@_register
def softsign(x):
    return ops.softsign(x)


@_register
def tanh(x):
    return ops.tanh(x)


@_register
def sigmoid(x):
    return ops.sigmoid(x)


@_register
def hard_sigmoid(x):
    """Keras 3's piecewise-linear sigmoid: relu6(x + 3) / 6."""
    return ops.hard_sigmoid(x)


@_register
def hard_silu(x):
    return ops.hard_silu(x)


@_register
def hard_tanh(x):
    return ops.clip(x, -1.0, 1.0)


@_register
def exponential(x):
    return ops.exp(x)


@_register
def linear(x):
    return x


@_register
def gelu(x, approximate=False):
    """Gaussian error linear unit (exact erf form unless ``approximate``)."""
    return ops.gelu(x, approximate=approximate)


@_register
def silu(x):
    return ops.silu(x)


@_register
def mish(x):
    return ops.mish(x)


@_register
def log_sigmoid(x):
    return ops.log_sigmoid(x)


@_register
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
    return ops.softmax(x, axis=axis)


@_register
def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis=axis)


swish = silu
hard_swish = hard_silu
_registry.alias("swish", silu)
_registry.alias("hard_swish", hard_silu)


def get(identifier):
    """An activation function from a name, None (linear) or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        identifier = identifier.get("config", {}).get("name", identifier.get("class_name"))
    return _registry.get(identifier)


def serialize(activation):
    """The Keras name of an activation function."""
    name = _registry.serialize(activation)
    if isinstance(name, str) and _registry.knows(name):
        return name
    raise ValueError(f"activation {activation!r} is not a registered activation; "
                     "pass it in custom_objects when loading")


def deserialize(name, custom_objects=None):
    return _registry.get(name, custom_objects)
