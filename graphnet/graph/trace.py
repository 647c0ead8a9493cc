"""Step traces: the record of variable assignments made while a step is traced.

A custom ``train_step`` / ``test_step`` (or a Metric's ``update_state``, an
optimizer's ``apply``) is plain Python that assigns variables. Traced on symbolic
tensors, ``Variable.assign(tensor)`` cannot write anything yet: inside a
``StepTrace`` it records ``(variable, tensor)``, and later reads of that variable
in the same trace see the assigned tensor, so the traced code keeps the meaning
it has when run step by step. The tracer compiles the trace's ``updates`` into the
step's plan, which writes them all after computing every output.
"""
import contextvars

_current = contextvars.ContextVar("graphnet_step_trace", default=None)


class StepTrace:
    """``with StepTrace("train_step") as trace: ...``; then ``trace.updates``."""

    def __init__(self, name="step"):
        self.name = name
        self._latest = {}   # id(variable) -> (variable, tensor), in first-assignment order
        self._assigned = []  # every tensor assigned, earlier values of a variable included
        self._token = None

    def __enter__(self):
        if self._token is not None:
            raise RuntimeError(f"trace {self.name!r} is already active")
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc):
        _current.reset(self._token)
        self._token = None
        return False

    def assign(self, variable, tensor):
        """Record ``variable = tensor`` (a SymbolicTensor of the variable's shape)."""
        if tuple(tensor.shape) != tuple(variable.shape):
            raise ValueError(f"{self.name}: cannot assign a value of shape "
                             f"{tuple(tensor.shape)} to variable {variable.name!r} of shape "
                             f"{tuple(variable.shape)}")
        self._latest[id(variable)] = (variable, tensor)
        self._assigned.append(tensor)

    def read(self, variable):
        """The tensor last assigned to ``variable`` in this trace, or None."""
        entry = self._latest.get(id(variable))
        return None if entry is None else entry[1]

    @property
    def assigned_values(self):
        """Every tensor assigned in this trace, in order (reads of a variable return one
        of them: autodiff treats them as leaves, as an eager step's variable values are)."""
        return list(self._assigned)

    @property
    def updates(self):
        """``[(Variable, SymbolicTensor), ...]``: each assigned variable's final value."""
        return list(self._latest.values())


def current_trace():
    """The active StepTrace, or None outside any traced step."""
    return _current.get()


def trace_state_update(variable, value, training_only=True):
    """A layer's state update (BatchNormalization's moving statistics) recorded while a
    step is traced is assigned in that trace too, taking effect when the step runs in
    training mode (the layer's training flag may be left to the compiled mode), or in
    every mode unless ``training_only`` (a stateful RNN's carried states)."""
    trace = current_trace()
    if trace is None:
        return
    from .. import ops
    if training_only:
        value = ops.in_train_phase(value, variable)
    trace.assign(variable, ops.cast(value, variable.dtype))
