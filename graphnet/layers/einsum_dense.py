"""EinsumDense: a dense layer whose product is an einsum equation (Keras 3's layer, its
weight shapes and its rules for the output shape and the bias)."""
import re

from .. import activations, constraints, initializers, ops, regularizers
from ..engine.base_layer import Layer
from ..engine.input_spec import InputSpec


class EinsumDense(Layer):
    """A layer computing ``activation(einsum(equation, inputs, kernel) + bias)``.

    Args:
        equation: an equation ``ab,bc->ac``, ``...ab,bc->...ac`` or ``ab...,bc->ac...``:
            the input's subscripts, the kernel's, the output's.
        output_shape: the output's shape without the batch axis and the axes the
            ellipsis stands for (an int for one axis); None where the input gives it.
        activation: activation name or function (None: linear).
        bias_axes: output subscripts the bias runs along (None: no bias).
        kernel_initializer, bias_initializer: initializers (glorot_uniform, zeros); a
            variance-scaling kernel initializer counts fans over the kernel's input and
            output axes, as Keras does.
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: constraints applied after updates.

    Input shape:
        N-D tensor matching the equation's input subscripts.

    Output shape:
        ``(batch,) + output_shape`` (and the ellipsis axes where the equation puts them).

    Weights: ``kernel`` (sizes from the kernel subscripts), then ``bias`` (the output's
    axes from the first bias axis on, 1 where not a bias axis).
    """

    supports_masking = True  # as Keras 3's: the mask passes through

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 **kwargs):
        super().__init__(activity_regularizer=regularizers.get(activity_regularizer), **kwargs)
        if lora_rank is not None or lora_alpha is not None:
            raise ValueError(f"EinsumDense '{self.name}': lora_rank / lora_alpha are not "
                             "supported")
        if not isinstance(equation, str):
            raise ValueError(f"EinsumDense '{self.name}': equation must be a string, got "
                             f"{equation!r}")
        self.equation = equation
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) \
            else tuple(output_shape)
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        _split_equation(self.name, equation)   # refuse a bad equation now

    def _analysis(self, input_shape):
        try:
            return analyze_einsum_string(self.equation, self.bias_axes, tuple(input_shape),
                                         self.partial_output_shape)
        except ValueError as exc:
            raise ValueError(f"EinsumDense '{self.name}': {exc}") from None

    def build(self, input_shape):
        kernel_shape, bias_shape, _, input_axes, output_axes = self._analysis(input_shape)
        if None in kernel_shape or (bias_shape is not None and None in bias_shape):
            raise ValueError(f"EinsumDense '{self.name}': the kernel shape {kernel_shape} "
                             f"(bias {bias_shape}) must be known; input shape {input_shape}, "
                             f"output_shape {self.partial_output_shape}")
        init = self.kernel_initializer
        if isinstance(init, initializers.VarianceScaling) and \
                (init.input_axes is None or init.output_axes is None):
            config = dict(init.get_config(), input_axes=input_axes, output_axes=output_axes)
            init = type(init).from_config(config)
        self.kernel = self.add_weight(shape=kernel_shape, name="kernel", initializer=init,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = None
        if bias_shape is not None:
            self.bias = self.add_weight(shape=bias_shape, name="bias",
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.input_spec = InputSpec(ndim=len(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(self._analysis(input_shape)[2])

    def call(self, inputs):
        x = ops.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x)

    def get_config(self):
        config = super().get_config()
        config.update({
            "output_shape": list(self.partial_output_shape), "equation": self.equation,
            "activation": activations.serialize(self.activation), "bias_axes": self.bias_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint)})
        return config


_FORMS = [("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", False),
          ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", True),
          ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", False)]


def _split_equation(name, equation):
    """(input, kernel, output subscripts, whether the ellipsis leads) of one of Keras's
    three forms."""
    dotted = re.sub(r"\.\.\.", "0", equation.replace(" ", ""))
    for pattern, left in _FORMS:
        match = re.match(pattern, dotted)
        if match:
            return match.group(1), match.group(2), match.group(3), left
    raise ValueError(f"EinsumDense '{name}': invalid equation {equation!r}; equations must "
                     "be of the form [X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...")


def analyze_einsum_string(equation, bias_axes, input_shape, output_shape):
    """Keras's rule: (kernel shape, bias shape or None, full output shape, the kernel's
    input axes, its output axes) for ``input_shape`` and the partial ``output_shape``."""
    input_spec, weight_spec, output_spec, left = _split_equation("", equation)
    elided = len(input_shape) - len(input_spec)
    if elided < 0 or (elided and not re.search(r"\.\.\.", equation)):
        raise ValueError(f"the equation's input subscripts {input_spec!r} do not fit the "
                         f"input shape {input_shape}")
    out = [input_shape[0]] + list(output_shape)
    if elided > 0 and left:
        for i in range(1, elided):
            out.insert(1, input_shape[i])
    elif elided > 0:
        out += list(input_shape[len(input_shape) - elided:])
    if left:
        in_at = {d: i + elided - len(input_shape) for i, d in enumerate(input_spec)}
        out_at = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        in_at = {d: i for i, d in enumerate(input_spec)}
        out_at = {d: i for i, d in enumerate(output_spec)}
    if len(out) != len(output_spec) + elided:
        raise ValueError(f"output_shape {tuple(output_shape)} makes an output of rank "
                         f"{len(out)} from input shape {input_shape}, but the equation's "
                         f"output {output_spec!r} has rank {len(output_spec) + elided}")
    for d in input_spec:
        if d in out_at:
            want, have = out[out_at[d]], input_shape[in_at[d]]
            if want is not None and want != have:
                raise ValueError(f"input shape and output shape do not match at shared "
                                 f"dimension {d!r}: input {have}, output {want}")
            out[out_at[d]] = have
    for d in output_spec:
        if d not in input_spec and d not in weight_spec:
            raise ValueError(f"dimension {d!r} of the output {output_spec!r} is in neither "
                             f"the input {input_spec!r} nor the weight {weight_spec!r}")
    kernel, input_axes, output_axes = [], [], []
    for i, d in enumerate(weight_spec):
        if d in out_at:
            kernel.append(out[out_at[d]])
            output_axes.append(i)
        elif d in in_at:
            kernel.append(input_shape[in_at[d]])
            input_axes.append(i)
        else:
            raise ValueError(f"weight dimension {d!r} is in neither the input {input_spec!r} "
                             f"nor the output {output_spec!r}")
    bias = None
    if bias_axes is not None:
        lead = elided if left else 0
        sizes = {c: out[i + lead] for i, c in enumerate(output_spec)}
        for c in bias_axes:
            if c not in output_spec:
                raise ValueError(f"bias dimension {c!r} is not in the output {output_spec!r}")
        first = min(output_spec.find(c) for c in bias_axes)
        bias = [sizes[c] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left:
            bias += [1] * elided
    return kernel, bias, out, input_axes, output_axes
