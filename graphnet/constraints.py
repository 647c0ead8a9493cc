"""Weight constraints, applied to a weight after each optimizer update."""
from . import ops
from .config import epsilon
from .serialization import Registry

_registry = Registry("constraint")


class Constraint:
    """Base: ``constraint(weight_tensor)`` returns the projected weight tensor."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _registry.add(cls)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _norms(w, axis):
    return ops.sqrt(ops.sum(ops.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescale so the L2 norm along ``axis`` is at most ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = ops.clip(norms, 0.0, float(self.max_value))
        return ops.multiply(w, ops.divide(desired, ops.add(norms, epsilon())))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Zero the negative entries."""

    def __call__(self, w):
        return ops.relu(w)


class UnitNorm(Constraint):
    """Rescale to unit L2 norm along ``axis``."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return ops.divide(w, ops.add(_norms(w, self.axis), epsilon()))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move the L2 norm along ``axis`` into [min_value, max_value] at speed ``rate``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        clipped = ops.clip(norms, float(self.min_value), float(self.max_value))
        desired = ops.add(ops.multiply(clipped, float(self.rate)),
                          ops.multiply(norms, 1.0 - float(self.rate)))
        return ops.multiply(w, ops.divide(desired, ops.add(norms, epsilon())))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
for _alias, _cls in {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
                     "min_max_norm": MinMaxNorm}.items():
    _registry.alias(_alias, _cls)


def get(identifier):
    return _registry.get(identifier)


def serialize(constraint):
    return _registry.serialize(constraint)


def deserialize(config, custom_objects=None):
    return _registry.deserialize(config, custom_objects)
