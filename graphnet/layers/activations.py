"""Advanced activation layers: ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax."""
import warnings

from .. import activations, constraints, initializers, ops, regularizers
from ..engine.base_layer import Layer
from ..engine.input_spec import InputSpec


def _number(layer, arg, value, allow_none=False, minimum=0.0):
    """A float argument >= minimum (or None when allowed); the error names ``arg``."""
    if value is None and allow_none:
        return None
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) \
            or value < minimum:
        raise ValueError(f"{type(layer).__name__} '{layer.name}': {arg} must be a number "
                         f">= {minimum}{' or None' if allow_none else ''}, got {arg}={value!r}")
    return float(value)


def keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's ``relu`` exactly: x where x > threshold (else 0), capped at ``max_value``,
    plus ``negative_slope * (x - threshold)`` below the threshold."""
    if threshold == 0.0:
        if negative_slope != 0.0:
            out = ops.leaky_relu(x, negative_slope)
            return out if max_value is None else ops.minimum(out, float(max_value))
        if max_value == 6.0:
            return ops.relu6(x)
        out = ops.relu(x)
        return out if max_value is None else ops.minimum(out, float(max_value))
    out = ops.where(ops.greater(x, threshold), x, 0.0)
    if max_value is not None:
        out = ops.minimum(out, float(max_value))
    if negative_slope != 0.0:
        below = ops.multiply(ops.relu(ops.subtract(threshold, x)), negative_slope)
        out = ops.subtract(out, below)
    return out


class ReLU(Layer):
    """Rectified linear unit:
    ``max_value`` if x >= max_value; x if threshold < x < max_value;
    ``negative_slope * (x - threshold)`` otherwise.

    Args:
        max_value: float >= 0, the largest output (None: unbounded).
        negative_slope: float >= 0, the slope below the threshold.
        threshold: float >= 0, the threshold below which values are damped (strictly
            greater inputs pass).

    Input shape:
        Arbitrary.

    Output shape:
        Same as the input.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _number(self, "max_value", max_value, allow_none=True)
        self.negative_slope = _number(self, "negative_slope", negative_slope)
        self.threshold = _number(self, "threshold", threshold)

    def call(self, inputs):
        return keras_relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                       "threshold": self.threshold})
        return config


class LeakyReLU(Layer):
    """Leaky rectified linear unit: x if x >= 0, ``negative_slope * x`` otherwise.

    Args:
        negative_slope: float >= 0, the slope for negative inputs (0.3). Keras 2's name
            ``alpha`` is accepted.

    Input shape:
        Arbitrary.

    Output shape:
        Same as the input.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU: argument alpha is deprecated; use negative_slope",
                          DeprecationWarning, stacklevel=2)
        super().__init__(**kwargs)
        self.negative_slope = _number(self, "negative_slope", negative_slope)

    def call(self, inputs):
        return ops.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


class PReLU(Layer):
    """Parametric ReLU: x if x >= 0, ``alpha * x`` otherwise, with a learned ``alpha``.

    Args:
        alpha_initializer: initializer of the weights (zeros).
        alpha_regularizer: regularizer of the weights.
        alpha_constraint: constraint on the weights.
        shared_axes: axes (1-indexed, batch excluded) along which one alpha is shared,
            e.g. ``[1, 2]`` for one alpha per channel of ``(batch, height, width,
            channels)`` feature maps.

    Input shape:
        Arbitrary, with known non-batch dimensions.

    Output shape:
        Same as the input.

    Weights: ``alpha`` of shape ``input_shape[1:]`` with the shared axes set to 1.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None,
                 alpha_constraint=None, shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) \
                else [shared_axes]
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1
                       for a in axes):
                raise ValueError(f"PReLU '{self.name}': shared_axes must be positive "
                                 f"integers (1-indexed, batch excluded), got "
                                 f"shared_axes={shared_axes!r}")
            self.shared_axes = axes

    def build(self, input_shape):
        param_shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if axis > len(param_shape):
                raise ValueError(f"PReLU '{self.name}': shared_axes={self.shared_axes} is out "
                                 f"of range for input shape {tuple(input_shape)}")
            param_shape[axis - 1] = 1
        if None in param_shape:
            raise ValueError(f"PReLU '{self.name}': the non-shared input dimensions must be "
                             f"known, got input shape {tuple(input_shape)}")
        self.alpha = self.add_weight(shape=param_shape, name="alpha",
                                     initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        axes = {i: input_shape[i] for i in range(1, len(input_shape))
                if i not in (self.shared_axes or [])}
        self.input_spec = InputSpec(ndim=len(input_shape), axes=axes)
        self.built = True

    def call(self, inputs):
        neg = ops.multiply(ops.negative(self.alpha), ops.relu(ops.negative(inputs)))
        return ops.add(ops.relu(inputs), neg)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes})
        return config


class ELU(Layer):
    """Exponential linear unit: x if x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        alpha: float, the scale of the negative part (1.0).

    Input shape:
        Arbitrary.

    Output shape:
        Same as the input.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if alpha is None or isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise ValueError(f"ELU '{self.name}': alpha must be a number, got alpha={alpha!r}")
        self.alpha = float(alpha)

    def call(self, inputs):
        return ops.elu(inputs, self.alpha)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


class ThresholdedReLU(Layer):
    """Thresholded rectified linear unit (Keras 2.2.4): x if x > theta, 0 otherwise.

    Args:
        theta: float >= 0, the threshold location of activation (1.0).

    Input shape:
        Arbitrary.

    Output shape:
        Same as the input.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.theta = _number(self, "theta", theta)

    def call(self, inputs):
        return ops.where(ops.greater(inputs, self.theta), inputs, 0.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["theta"] = self.theta
        return config


class Softmax(Layer):
    """Softmax activation: ``exp(x - max(x)) / sum(exp(x - max(x)))`` along ``axis``.

    Args:
        axis: integer, or list of integers, the axis (axes) the normalization runs over.

    Call arguments:
        inputs: the logits.
        mask: optional boolean (or 0/1) array broadcastable to ``inputs``: positions
            where it is False get probability 0.

    Input shape:
        Arbitrary.

    Output shape:
        Same as the input.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise ValueError(f"Softmax '{self.name}': axis must be an integer or a list of "
                             f"integers, got axis={axis!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def call(self, inputs, mask=None):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -inputs.ndim <= a < inputs.ndim:
                raise ValueError(f"Softmax '{self.name}': axis={self.axis} is out of range for "
                                 f"input shape {inputs.shape}")
        if mask is not None:
            mask = ops.convert_to_tensor(mask)
            self._check_mask(inputs, mask)
            if mask.dtype != "bool":
                mask = ops.greater(mask, 0.5)
            inputs = ops.where(mask, inputs, -1e9)
        if len(axes) > 1:
            out = ops.exp(ops.subtract(inputs, ops.logsumexp(inputs, axis=axes,
                                                             keepdims=True)))
        else:
            out = activations.softmax(inputs, axis=axes[0])
        if mask is not None:
            out = ops.where(mask, out, 0.0)
        return out

    def _check_mask(self, inputs, mask):
        """Keras 3's rule: the mask broadcasts to the inputs (a propagated ``(batch,
        steps)`` mask of ``(batch, steps, features)`` logits does not)."""
        fits = mask.ndim <= inputs.ndim and all(
            m is None or i is None or m in (1, i)
            for m, i in zip(reversed(mask.shape), reversed(inputs.shape)))
        if not fits:
            raise ValueError(f"Softmax '{self.name}': the `mask` must be broadcastable to "
                             "`inputs`: each mask dimension must be 1 or match the "
                             f"input's, from the last. Received: inputs.shape={inputs.shape}, "
                             f"mask.shape={mask.shape}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
