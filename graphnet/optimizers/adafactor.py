"""Adafactor, as Keras 3 computes it: second moments factored into row and column
averages for weights of rank >= 2."""
from .. import ops
from .base import Optimizer, read


def _rms(x):
    return ops.sqrt(ops.mean(ops.square(x)))


class Adafactor(Optimizer):
    """Adafactor: a memory-light Adam without first moments.

    With ``t = iterations + 1``, ``b = 1 - t^beta_2_decay`` and ``q = g^2 + epsilon_1``:
    weights of rank >= 2 keep ``r = b r + (1 - b) mean(q, -1)`` and ``c = b c + (1 - b)
    mean(q, -2)`` and estimate ``u = r / mean(r) * c`` (outer product); the others keep
    ``u = b u + (1 - b) q``. The step is ``alpha * clip(g / sqrt(u))``, ``alpha =
    max(epsilon_2, rms(v)) * min(lr, 1 / sqrt(t))``, the update's RMS clipped to
    ``clip_threshold``.

    Args:
        learning_rate: float or schedule (0.001).
        beta_2_decay: the second moments' decay exponent (-0.8).
        epsilon_1: added to the squared gradients (1e-30).
        epsilon_2: the least relative step scale (1e-3).
        clip_threshold: the largest RMS of an update before scaling (1.0).
        relative_step: with a constant learning rate, use ``min(lr, 1 / sqrt(t))`` as it
            (True).
    """

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30,
                 epsilon_2=1e-3, clip_threshold=1.0, relative_step=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1 = float(epsilon_1)
        self.epsilon_2 = float(epsilon_2)
        self.clip_threshold = float(clip_threshold)
        self.relative_step = bool(relative_step)

    def build_slots(self, variables):
        self._rows, self._columns, self._velocities = [], [], []
        for var in variables:   # Keras's order: r and c (rank >= 2), then the velocity
            factored = len(var.shape) >= 2
            self._rows.append(self.add_variable(var.shape[:-1], name=f"{var.name}_r")
                              if factored else None)
            self._columns.append(self.add_variable(var.shape[:-2] + var.shape[-1:],
                                                   name=f"{var.name}_c")
                                 if factored else None)
            self._velocities.append(self.add_variable_from_reference(var, "velocity"))

    def update_step(self, gradient, variable, value, lr, context):
        t = context["step"] + 1.0
        inverse_sqrt_t = ops.rsqrt(t)
        if self._schedule is None and self.relative_step:
            lr = ops.minimum(lr, inverse_sqrt_t)
        alpha = ops.maximum(_rms(value), self.epsilon_2) * ops.minimum(lr, inverse_sqrt_t)
        squared = ops.square(gradient) + self.epsilon_1
        b = 1.0 - ops.power(t, self.beta_2_decay)
        velocity = self._slot(self._velocities, variable)
        updates = []
        if len(variable.shape) >= 2:
            r, c = self._slot(self._rows, variable), self._slot(self._columns, variable)
            new_r = read(r) * b + ops.mean(squared, axis=-1) * (1.0 - b)
            new_c = read(c) * b + ops.mean(squared, axis=-2) * (1.0 - b)
            new_velocity = ops.expand_dims(new_r / ops.mean(new_r, axis=-1, keepdims=True),
                                           -1) * ops.expand_dims(new_c, -2)
            updates += [(r, new_r), (c, new_c)]
        else:
            new_velocity = read(velocity) * b + squared * (1.0 - b)
        updates.append((velocity, new_velocity))
        u = gradient / ops.sqrt(new_velocity)
        u = u / ops.maximum(_rms(u) / self.clip_threshold, 1.0)
        return value - u * alpha, updates

    def get_config(self):
        config = super().get_config()
        config.update({"beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                       "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                       "relative_step": self.relative_step})
        return config
