"""Lion (EvoLved Sign Momentum), as Keras 3 computes it."""
from .. import ops
from .base import Optimizer, read


class Lion(Optimizer):
    """Lion: steps of the sign of an interpolated momentum.

    ``v -= lr * sign(m * beta_1 + g * (1 - beta_1))``; ``m = m * beta_2 + g * (1 -
    beta_2)``.

    Args:
        learning_rate: float or schedule (0.001).
        beta_1: the interpolation of momentum and gradient in the step, in (0, 1] (0.9).
        beta_2: the momentum's decay (0.99).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0 < beta_1 <= 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the "
                             f"optimizer degenerates to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)

    def build_slots(self, variables):
        self._momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, value, lr, context):
        m = self._slot(self._momentums, variable)
        direction = ops.sign(read(m) * self.beta_1 + gradient * (1.0 - self.beta_1))
        new_m = read(m) * self.beta_2 + gradient * (1.0 - self.beta_2)
        return value - direction * lr, [(m, new_m)]

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return config
