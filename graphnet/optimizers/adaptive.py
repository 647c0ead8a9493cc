"""Adagrad and Adadelta, as Keras 3 computes them."""
from .. import ops
from .base import Optimizer, read


class Adagrad(Optimizer):
    """Per-parameter rates scaled by the accumulated squared gradients.

    ``acc += g^2``; ``v -= lr * g / sqrt(acc + eps)``.

    Args:
        learning_rate: float or schedule (0.001).
        initial_accumulator_value: starting value of the accumulators (0.1).
        epsilon: small constant for stability (1e-7).
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)

    def build_slots(self, variables):
        self._accumulators = self.add_optimizer_variables(
            variables, "accumulator", initializer=self.initial_accumulator_value)

    def update_step(self, gradient, variable, value, lr, context):
        accumulator = self._slot(self._accumulators, variable)
        new_acc = read(accumulator) + ops.square(gradient)
        return value - (gradient * lr) / ops.sqrt(new_acc + self.epsilon), \
            [(accumulator, new_acc)]

    def get_config(self):
        config = super().get_config()
        config.update({"initial_accumulator_value": self.initial_accumulator_value,
                       "epsilon": self.epsilon})
        return config


class Adadelta(Optimizer):
    """Adadelta: step sizes from running averages of squared gradients and updates.

    ``acc_g = rho * acc_g + (1 - rho) * g^2``;
    ``delta = -sqrt(acc_d + eps) * g / sqrt(acc_g + eps)``;
    ``acc_d = rho * acc_d + (1 - rho) * delta^2``; ``v += lr * delta``.

    Args:
        learning_rate: float or schedule (0.001).
        rho: decay rate (0.95).
        epsilon: small constant for stability (1e-7).
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)

    def build_slots(self, variables):
        self._accumulated_grads, self._accumulated_delta_vars = \
            self.add_optimizer_variables(variables, ["accumulated_grad",
                                                     "accumulated_delta_var"])

    def update_step(self, gradient, variable, value, lr, context):
        rho, eps = self.rho, self.epsilon
        acc_g = self._slot(self._accumulated_grads, variable)
        acc_d = self._slot(self._accumulated_delta_vars, variable)
        new_acc_g = read(acc_g) * rho + ops.square(gradient) * (1 - rho)
        delta = ops.negative(ops.sqrt(read(acc_d) + eps) * gradient /
                             ops.sqrt(new_acc_g + eps))
        new_acc_d = read(acc_d) * rho + ops.square(delta) * (1 - rho)
        return value + delta * lr, [(acc_g, new_acc_g), (acc_d, new_acc_d)]

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
