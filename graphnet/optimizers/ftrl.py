"""FTRL-Proximal ("Follow The Regularized Leader"), as Keras 3 computes it."""
from .. import ops
from .base import Optimizer, read


class Ftrl(Optimizer):
    """FTRL-Proximal with L1, L2 and L2-shrinkage regularization.

    With ``p = -learning_rate_power``: ``n' = n + g^2``;
    ``z += g + 2 * l2_shrinkage * v - (n'^p - n^p) / lr * v``;
    ``v = (clip(z, -l1, l1) - z) / (n'^p / lr + 2 * (l2 + beta / (2 lr)))``.

    Args:
        learning_rate: float or schedule (0.001).
        learning_rate_power: <= 0 (-0.5).
        initial_accumulator_value: >= 0, the accumulators' start (0.1).
        l1_regularization_strength, l2_regularization_strength,
        l2_shrinkage_regularization_strength: >= 0 (0.0).
        beta: added to the L2 strength as ``beta / (2 lr)`` (0.0).
    """

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if initial_accumulator_value < 0.0:
            raise ValueError("`initial_accumulator_value` needs to be positive or zero. "
                             f"Received: initial_accumulator_value={initial_accumulator_value}.")
        if learning_rate_power > 0.0:
            raise ValueError("`learning_rate_power` needs to be negative or zero. Received: "
                             f"learning_rate_power={learning_rate_power}.")
        for name, value in [("l1_regularization_strength", l1_regularization_strength),
                            ("l2_regularization_strength", l2_regularization_strength),
                            ("l2_shrinkage_regularization_strength",
                             l2_shrinkage_regularization_strength)]:
            if value < 0.0:
                raise ValueError(f"`{name}` needs to be positive or zero. Received: "
                                 f"{name}={value}.")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = float(beta)

    def build_slots(self, variables):
        self._accumulators = []
        self._linears = []
        for var in variables:   # Keras's order: each weight's accumulator, then its linear
            self._accumulators.append(self.add_variable_from_reference(
                var, "accumulator", self.initial_accumulator_value))
            self._linears.append(self.add_variable_from_reference(var, "linear"))

    def update_step(self, gradient, variable, value, lr, context):
        accumulator = self._slot(self._accumulators, variable)
        linear = self._slot(self._linears, variable)
        power = -self.learning_rate_power
        l2 = self.l2_regularization_strength
        if self.beta:
            l2 = self.beta / (lr * 2.0) + l2
        shrunk = gradient + value * (2.0 * self.l2_shrinkage_regularization_strength)
        old_acc = read(accumulator)
        new_acc = old_acc + ops.square(gradient)
        new_power = ops.power(new_acc, power)
        new_linear = read(linear) + shrunk - (new_power - ops.power(old_acc, power)) / lr * value
        quadratic = new_power / lr + l2 * 2.0
        l1 = self.l1_regularization_strength
        new_value = (ops.clip(new_linear, -l1, l1) - new_linear) / quadratic
        return new_value, [(linear, new_linear), (accumulator, new_acc)]

    def get_config(self):
        config = super().get_config()
        config.update({
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta})
        return config
