"""Weight regularizers (L1, L2, L1L2): penalties added to the training loss."""
from . import ops
from .serialization import Registry

_registry = Registry("regularizer")


class Regularizer:
    """Base: ``regularizer(weight_tensor)`` returns a scalar penalty tensor."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _registry.add(cls)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _check(name, value):
    value = float(value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x**2)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _check("l1", l1), _check("l2", l2)

    def __call__(self, x):
        penalty = None
        if self.l1:
            penalty = ops.multiply(ops.sum(ops.abs(x)), self.l1)
        if self.l2:
            term = ops.multiply(ops.sum(ops.square(x)), self.l2)
            penalty = term if penalty is None else ops.add(penalty, term)
        return penalty if penalty is not None else ops.multiply(ops.sum(x), 0.0)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 * sum(|x|) (default l1 = 0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """l2 * sum(x**2) (default l2 = 0.01)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1=l1, l2=l2)


l1, l2 = L1, L2
for _alias, _cls in {"l1": L1, "l2": L2, "l1_l2": L1L2}.items():
    _registry.alias(_alias, _cls)


def get(identifier):
    return _registry.get(identifier)


def serialize(regularizer):
    return _registry.serialize(regularizer)


def deserialize(config, custom_objects=None):
    return _registry.deserialize(config, custom_objects)
