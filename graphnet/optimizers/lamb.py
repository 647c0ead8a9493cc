"""Lamb (layer-wise adaptive moments), as Keras 3 computes it."""
from .. import ops
from .adam import _power
from .base import Optimizer, read


class Lamb(Optimizer):
    """Lamb: Adam's bias-corrected step scaled per weight by a trust ratio.

    With ``t = iterations + 1``: ``m += (g - m) (1 - beta_1)``; ``u += (g^2 - u) (1 -
    beta_2)``; ``r = (m / (1 - beta_1^t)) / (sqrt(u / (1 - beta_2^t)) + eps)``;
    ``v -= lr * (||v|| / ||r||) * r`` (the ratio 1 where a norm is 0).

    Args:
        learning_rate: float or schedule (0.001).
        beta_1, beta_2: decay rates of the moment estimates (0.9, 0.999).
        epsilon: small constant for stability (1e-7).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)

    def build_slots(self, variables):
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"])

    def update_step(self, gradient, variable, value, lr, context):
        t = context["step"] + 1.0
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        new_m = read(m) + (gradient - read(m)) * (1.0 - self.beta_1)
        new_v = read(v) + (ops.square(gradient) - read(v)) * (1.0 - self.beta_2)
        m_hat = new_m / (1.0 - _power(self.beta_1, t))
        step = m_hat / (ops.sqrt(new_v / (1.0 - _power(self.beta_2, t))) + self.epsilon)
        w_norm = ops.sqrt(ops.sum(ops.square(value)))
        step_norm = ops.sqrt(ops.sum(ops.square(step)))
        one = ops.ones_like(w_norm)
        both = ops.logical_and(ops.greater(w_norm, 0.0), ops.greater(step_norm, 0.0))
        ratio = ops.where(both, w_norm / ops.where(both, step_norm, one), one)
        return value - step * (ratio * lr), [(m, new_m), (v, new_v)]

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
