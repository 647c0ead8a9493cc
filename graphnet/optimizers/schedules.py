"""Learning-rate schedules: ``schedule(step) -> learning rate``, Keras 3's formulas.

Called on the optimizer's ``iterations`` (as a symbolic float32 tensor) a schedule
builds ops, so the learning rate is computed inside the compiled training step;
called on a number it returns a float (evaluated by the NumPy reference
interpreter on the same ops, so both agree).
"""
import math

import numpy as np

from .. import ops
from ..graph.tensor import SymbolicTensor
from ..serialization import Registry

_registry = Registry("learning rate schedule")


class LearningRateSchedule:
    """Base class: subclasses implement ``build(step)`` with ``step`` a float32 tensor."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _registry.add(cls)

    def __call__(self, step):
        if isinstance(step, SymbolicTensor):
            return self.build(ops.cast(step, "float32"))
        from ..runtime.reference import evaluate
        out = self.build(ops.convert_to_tensor(np.float32(step)))
        return float(np.asarray(evaluate([out.node], {})[0]).reshape(-1)[0])

    def build(self, step):
        raise NotImplementedError(f"{type(self).__name__} must implement build(step)")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _const(value):
    return ops.convert_to_tensor(np.float32(value))


def _check_decay_steps(decay_steps):
    if decay_steps <= 0:
        raise ValueError(f"Argument `decay_steps` must be > 0. Received: "
                         f"decay_steps={decay_steps}")


def _progress(step, decay_steps, staircase):
    """``step / decay_steps``, floored when ``staircase``."""
    p = step / float(decay_steps)
    return ops.floor(p) if staircase else p


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent
    floored when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def build(self, step):
        p = _progress(step, self.decay_steps, self.staircase)
        return ops.power(_const(self.decay_rate), p) * float(self.initial_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floored ratio
    when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def build(self, step):
        p = _progress(step, self.decay_steps, self.staircase)
        return _const(self.initial_learning_rate) / (p * float(self.decay_rate) + 1.0)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while step <= boundaries[0], ``values[1]`` while step <=
    boundaries[1], ..., ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError("The length of boundaries should be 1 less than the length of "
                             f"values. Received: boundaries={boundaries} of length "
                             f"{len(boundaries)}, and values={values} of length "
                             f"{len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def build(self, step):
        result = _const(self.values[-1])
        for boundary, value in zip(reversed(self.boundaries), reversed(self.values[:-1])):
            result = ops.where(ops.less_equal(step, float(boundary)), _const(value), result)
        return result

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate`` over
    ``decay_steps`` (``cycle`` restarts it with a longer period)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def build(self, step):
        decay_steps = _const(self.decay_steps)
        if self.cycle:
            # the period grows to the first multiple of decay_steps past step (1 at step 0)
            multiplier = ops.where(ops.equal(step, 0.0), _const(1.0),
                                   ops.ceil(step / float(self.decay_steps)))
            decay_steps = decay_steps * multiplier
        else:
            step = ops.minimum(step, float(self.decay_steps))
        fraction = step / decay_steps
        span = float(self.initial_learning_rate) - float(self.end_learning_rate)
        return ops.power(1.0 - fraction, _const(self.power)) * span + \
            float(self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` to ``alpha * initial_learning_rate``
    over ``decay_steps``, after an optional linear warmup to ``warmup_target`` over
    ``warmup_steps``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step, decay_from):
        fraction = step / float(self.decay_steps)
        cosine = (ops.cos(fraction * math.pi) + 1.0) * 0.5
        decayed = cosine * (1.0 - self.alpha) + float(self.alpha)
        return decayed * float(decay_from)

    def build(self, step):
        if self.warmup_target is None:
            step = ops.minimum(step, float(self.decay_steps))
            return self._decay(step, self.initial_learning_rate)
        step = ops.minimum(step, float(self.decay_steps + self.warmup_steps))
        delta = float(self.warmup_target) - float(self.initial_learning_rate)
        warmup = step / float(max(self.warmup_steps, 1e-30)) * delta + \
            float(self.initial_learning_rate)
        decay = self._decay(step - float(self.warmup_steps), self.warmup_target)
        return ops.where(ops.less(step, float(self.warmup_steps)), warmup, decay)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): a cosine from ``initial_learning_rate``
    to ``alpha`` times it over ``first_decay_steps``, then again over periods
    ``t_mul`` times longer, each starting ``m_mul`` times lower."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        if first_decay_steps <= 0:
            raise ValueError("Argument `first_decay_steps` must be > 0. Received: "
                             f"first_decay_steps={first_decay_steps}")
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def build(self, step):
        fraction = step / float(self.first_decay_steps)
        t_mul = float(self.t_mul)
        if t_mul == 1.0:
            restart = ops.floor(fraction)
            fraction = fraction - restart
        else:   # periods 1, t, t^2, ...: restart i begins at (1 - t^i) / (1 - t)
            restart = ops.floor(ops.log(1.0 - fraction * (1.0 - t_mul)) /
                                ops.log(_const(t_mul)))   # float32 logs, as Keras
            begun = (1.0 - ops.power(_const(t_mul), restart)) / (1.0 - t_mul)
            fraction = (fraction - begun) / ops.power(_const(t_mul), restart)
        cosine = ops.power(_const(self.m_mul), restart) * \
            (ops.cos(fraction * math.pi) + 1.0) * 0.5
        decayed = cosine * (1.0 - float(self.alpha)) + float(self.alpha)
        return decayed * float(self.initial_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


def serialize(schedule):
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config, custom_objects=None):
    return _registry.deserialize(config, custom_objects)


__all__ = ["LearningRateSchedule", "ExponentialDecay", "InverseTimeDecay",
           "PiecewiseConstantDecay", "PolynomialDecay", "CosineDecay", "CosineDecayRestarts",
           "serialize",
           "deserialize"]
