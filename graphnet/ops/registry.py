"""The primitive op registry.

Each op is one ``Op`` subclass instance registered under an UPPER name, and
carries in one place: its shape/dtype rule (``infer``), its NumPy reference
(``perform``), its gradient (``grad``, ops that build ops) and its lowering to
kernel steps (``lower``). Groups let passes ask "is this elementwise?".
"""

SOURCE = "source"            # INPUT, VARIABLE, CONSTANT: no inputs
ELEMENTWISE = "elementwise"  # same-position in, same-position out (with broadcasting)
REDUCE = "reduce"            # reduces axes
LAYOUT = "layout"            # moves or copies elements without arithmetic
CONTRACTION = "contraction"  # matmul, convolution
NN = "nn"                    # composite kernels with their own rule (softmax, ...)
RANDOM = "random"            # ops that draw random numbers
COLLECTIVE = "collective"    # ops that every process of a data-parallel run runs together

_REGISTRY = {}


class OpError(ValueError):
    """Raised by an op's shape rule: names the op and the offending shapes."""


class Op:
    """Base of every primitive op. Subclasses override what applies to them."""

    name = None
    group = None
    #: number of inputs, or None for variadic ops
    arity = None

    def infer(self, shapes, dtypes, attrs):
        """Return ``(shape, dtype)`` of the output; raise OpError on bad input."""
        raise NotImplementedError(f"{self.name} declares no shape rule")

    def perform(self, inputs, attrs):
        """NumPy reference: compute the output from NumPy arrays."""
        raise NotImplementedError(f"{self.name} has no NumPy reference")

    def grad(self, node, grad_output):
        """Gradients w.r.t. each input (Nodes, or None where not differentiable)."""
        raise NotImplementedError(f"{self.name} has no gradient rule")

    def lower(self, node, ctx):
        """Emit kernel steps computing ``node`` through the lowering context."""
        raise NotImplementedError(f"{self.name} has no lowering to a kernel")

    def check_arity(self, shapes):
        if self.arity is not None and len(shapes) != self.arity:
            raise OpError(f"{self.name} takes {self.arity} inputs, got {len(shapes)}")

    def __repr__(self):
        return f"Op({self.name})"

    def __reduce__(self):
        return (get_op, (self.name,))


def register(op_cls):
    """Class decorator: instantiate and register an Op subclass under its name."""
    op = op_cls()
    if op.name in _REGISTRY:
        raise ValueError(f"op {op.name} registered twice")
    _REGISTRY[op.name] = op
    return op_cls


def register_instance(op):
    if op.name in _REGISTRY:
        raise ValueError(f"op {op.name} registered twice")
    _REGISTRY[op.name] = op
    return op


def get_op(name):
    if isinstance(name, Op):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}") from None


def all_ops():
    return dict(_REGISTRY)


def ops_in_group(group):
    return [op for op in _REGISTRY.values() if op.group == group]
