"""RMSprop, as Keras 3 computes it."""
from .. import ops
from .base import Optimizer, read


class RMSprop(Optimizer):
    """Divide the gradient by a running root mean square of recent gradients.

    ``vel = rho * vel + (1 - rho) * g^2``; ``inc = lr * g / sqrt(vel + eps)`` (centered:
    ``sqrt(vel - avg_g^2 + eps)`` with ``avg_g = rho * avg_g + (1 - rho) * g``); then
    ``v -= inc``, or with momentum ``mom = momentum * mom + inc; v -= mom``.

    Args:
        learning_rate: float or schedule (0.001).
        rho: discounting factor of the history (0.9).
        momentum: momentum (0.0).
        epsilon: small constant for stability (1e-7).
        centered: normalize by the estimated variance instead of the second moment.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)
        self.centered = bool(centered)

    def build_slots(self, variables):
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        self._momentums = []
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(variables, "momentum")
        self._average_gradients = []
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(variables,
                                                                   "average_gradient")

    def update_step(self, gradient, variable, value, lr, context):
        rho = self.rho
        velocity = self._slot(self._velocities, variable)
        new_velocity = read(velocity) * rho + ops.square(gradient) * (1 - rho)
        updates = [(velocity, new_velocity)]
        if self.centered:
            average = self._slot(self._average_gradients, variable)
            new_average = read(average) * rho + gradient * (1 - rho)
            updates.append((average, new_average))
            denominator = new_velocity - ops.square(new_average) + self.epsilon
        else:
            denominator = new_velocity + self.epsilon
        increment = (gradient * lr) / ops.sqrt(denominator)
        if self.momentum > 0:
            momentum = self._slot(self._momentums, variable)
            new_momentum = read(momentum) * self.momentum + increment
            updates.append((momentum, new_momentum))
            return value - new_momentum, updates
        return value - increment, updates

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                       "centered": self.centered})
        return config
