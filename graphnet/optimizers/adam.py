"""Adam and its variants (AdamW, Adamax, Nadam), as Keras 3 computes them."""
import numpy as np

from .. import ops
from .base import Optimizer, read, state_variable


def _power(base, exponent):
    return ops.power(ops.convert_to_tensor(np.float32(base)), exponent)


class _AdamBase(Optimizer):
    """Shared arguments and moment updates of Adam, Adamax and Nadam."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)

    def _first_moment(self, m, gradient):
        """``m + (g - m) * (1 - beta_1)``."""
        return read(m) + (gradient - read(m)) * (1 - self.beta_1)

    def _second_moment(self, v, gradient):
        """``v + (g^2 - v) * (1 - beta_2)``."""
        return read(v) + (ops.square(gradient) - read(v)) * (1 - self.beta_2)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


class Adam(_AdamBase):
    """Adam: adaptive moment estimation.

    With ``t = iterations + 1``: ``m += (g - m) * (1 - beta_1)``;
    ``u += (g^2 - u) * (1 - beta_2)`` (amsgrad: ``u_hat = max(u_hat, u)``);
    ``v -= m * lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) / (sqrt(u) + eps)``.

    Args:
        learning_rate: float or schedule (0.001).
        beta_1, beta_2: decay rates of the moment estimates (0.9, 0.999).
        epsilon: small constant for stability (1e-7).
        amsgrad: use the AMSGrad variant (False).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, **kwargs)
        self.amsgrad = bool(amsgrad)

    def build_slots(self, variables):
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"])
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(variables, "velocity_hat")

    def prepare_step(self, step, lr):
        t = step + 1.0
        beta_1_power = _power(self.beta_1, t)
        beta_2_power = _power(self.beta_2, t)
        alpha = lr * ops.sqrt(1.0 - beta_2_power) / (1.0 - beta_1_power)
        return {"step": step, "alpha": alpha}, []

    def update_step(self, gradient, variable, value, lr, context):
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        new_m = self._first_moment(m, gradient)
        new_v = self._second_moment(v, gradient)
        updates = [(m, new_m), (v, new_v)]
        denom_v = new_v
        if self.amsgrad:
            v_hat = self._slot(self._velocity_hats, variable)
            denom_v = ops.maximum(read(v_hat), new_v)
            updates.append((v_hat, denom_v))
        new_value = value - (new_m * context["alpha"]) / (ops.sqrt(denom_v) + self.epsilon)
        return new_value, updates

    def get_config(self):
        config = super().get_config()
        config["amsgrad"] = self.amsgrad
        return config


class AdamW(Adam):
    """Adam with decoupled weight decay (``weight_decay`` 0.004): each step first does
    ``v -= v * weight_decay * lr``, then Adam's update."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay,
                         **kwargs)
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")


class Adamax(_AdamBase):
    """Adamax: Adam with the infinity norm.

    ``m += (g - m) * (1 - beta_1)``; ``u = max(beta_2 * u, |g|)``;
    ``v -= lr * m / ((1 - beta_1^t) * (u + eps))``.

    Args:
        learning_rate: float or schedule (0.001).
        beta_1, beta_2: decay rates (0.9, 0.999).
        epsilon: small constant for stability (1e-7).
    """

    def build_slots(self, variables):
        self._m, self._u = self.add_optimizer_variables(variables, ["momentum", "norm"])

    def prepare_step(self, step, lr):
        return {"step": step, "beta_1_power": _power(self.beta_1, step + 1.0)}, []

    def update_step(self, gradient, variable, value, lr, context):
        m = self._slot(self._m, variable)
        u = self._slot(self._u, variable)
        new_m = self._first_moment(m, gradient)
        new_u = ops.maximum(read(u) * self.beta_2, ops.abs(gradient))
        new_value = value - (new_m * lr) / ((new_u + self.epsilon) *
                                            (1.0 - context["beta_1_power"]))
        return new_value, [(m, new_m), (u, new_u)]


class Nadam(_AdamBase):
    """Nadam: Adam with Nesterov momentum (Keras 3's schedule of ``u_t``).

    ``u_t = beta_1 * (1 - 0.5 * 0.96^t)``, ``u_{t+1}`` likewise; the running product
    ``u_prod *= u_t``; ``m``, ``v`` as Adam;
    ``m_hat = u_{t+1} m / (1 - u_prod u_{t+1}) + (1 - u_t) g / (1 - u_prod)``;
    ``v_hat = v / (1 - beta_2^t)``; ``v -= lr * m_hat / (sqrt(v_hat) + eps)``.

    Args:
        learning_rate: float or schedule (0.001).
        beta_1, beta_2: decay rates (0.9, 0.999).
        epsilon: small constant for stability (1e-7).
    """

    def build_slots(self, variables):
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"])
        self._u_product = self._track(state_variable(1.0, "u_product", "float32"))

    def prepare_step(self, step, lr):
        t, t_next = step + 1.0, step + 2.0
        u_t = (1.0 - _power(0.96, t) * 0.5) * self.beta_1
        u_t_1 = (1.0 - _power(0.96, t_next) * 0.5) * self.beta_1
        u_product = read(self._u_product) * u_t
        context = {"step": step, "u_t": u_t, "u_t_1": u_t_1, "u_product_t": u_product,
                   "u_product_t_1": u_product * u_t_1,
                   "beta_2_power": _power(self.beta_2, t)}
        return context, [(self._u_product, u_product)]

    def update_step(self, gradient, variable, value, lr, c):
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        new_m = self._first_moment(m, gradient)
        new_v = self._second_moment(v, gradient)
        m_hat = (c["u_t_1"] * new_m) / (1.0 - c["u_product_t_1"]) + \
            ((1.0 - c["u_t"]) * gradient) / (1.0 - c["u_product_t"])
        v_hat = new_v / (1.0 - c["beta_2_power"])
        new_value = value - (m_hat * lr) / (ops.sqrt(v_hat) + self.epsilon)
        return new_value, [(m, new_m), (v, new_v)]
