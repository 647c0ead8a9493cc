"""SGD with optional (Nesterov) momentum, as Keras 3 computes it."""
from .. import ops
from .base import Optimizer


class SGD(Optimizer):
    """Gradient descent with momentum.

    ``m = momentum * m - lr * g``; then ``v += m`` (or, with ``nesterov``,
    ``v += momentum * m - lr * g``). Without momentum: ``v -= lr * g``.

    Args:
        learning_rate: float or schedule (0.01).
        momentum: float in [0, 1] (0.0).
        nesterov: whether to apply Nesterov momentum (False).
        **kwargs: the base Optimizer's arguments (weight_decay, clipnorm, ...).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        momentum = float(momentum)
        if momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = momentum
        self.nesterov = bool(nesterov)

    def build_slots(self, variables):
        self.momentums = []
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, value, lr, context):
        if self.momentum == 0:
            return value - gradient * lr, []
        m = self._slot(self.momentums, variable)
        new_m = ops.convert_to_tensor(m) * self.momentum - gradient * lr
        if self.nesterov:
            new_value = value + (new_m * self.momentum - gradient * lr)
        else:
            new_value = value + new_m
        return new_value, [(m, new_m)]

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config
