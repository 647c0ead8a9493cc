"""Core layers: Dense, Activation, Dropout."""
from .. import activations, constraints, initializers, ops, regularizers
from ..engine.base_layer import Layer
from ..engine.input_spec import InputSpec


class Dense(Layer):
    """Densely connected layer: ``activation(dot(inputs, kernel) + bias)``.

    Args:
        units: dimensionality of the output space.
        activation: activation name or function (None: linear).
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializers (glorot_uniform, zeros).
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: constraints applied after updates.

    Input shape:
        N-D tensor ``(batch_size, ..., input_dim)``.

    Output shape:
        N-D tensor ``(batch_size, ..., units)``.

    Weights: ``kernel`` of shape ``(input_dim, units)``, then ``bias`` of shape ``(units,)``.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, **kwargs):
        super().__init__(activity_regularizer=regularizers.get(activity_regularizer), **kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Dense '{self.name}': units must be a positive integer, got "
                             f"{units!r}")
        if lora_rank is not None:
            raise ValueError(f"Dense '{self.name}': lora_rank is not supported")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"Dense '{self.name}': the last dimension of the input must be "
                             f"known, got input shape {input_shape}")
        self.kernel = self.add_weight(shape=(input_dim, self.units), name="kernel",
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.units,), name="bias",
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs):
        x = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            x = ops.add(x, self.bias)
        return self.activation(x)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint)})
        return config


class Activation(Layer):
    """Applies an activation function to its input.

    Args:
        activation: activation name or function.

    Input shape: arbitrary. Output shape: same as the input.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


class Dropout(Layer):
    """Sets a fraction ``rate`` of inputs to 0 while training, scaling the rest by
    1 / (1 - rate); the identity at inference.

    Args:
        rate: float in [0, 1): fraction of the inputs to drop.
        noise_shape: shape of the binary mask (None entries follow the input).
        seed: random seed.

    Input shape: arbitrary. Output shape: same as the input.
    """

    supports_masking = True  # as in Keras 3: the mask passes through

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout '{self.name}': rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.noise_shape = tuple(noise_shape) if noise_shape is not None else None
        self.seed = seed

    def call(self, inputs, training=None):
        if training is False or self.rate == 0:
            return inputs
        dropped = ops.dropout(inputs, self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return ops.in_train_phase(dropped, inputs, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed,
                       "noise_shape": list(self.noise_shape) if self.noise_shape else None})
        return config
