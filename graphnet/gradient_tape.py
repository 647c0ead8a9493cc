"""``gn.GradientTape``: the tape-shaped way to ask for gradients in a traced step.

graphnet's graph is symbolic, so nothing needs recording: the tape marks where the
forward pass is written (as in TensorFlow) and ``tape.gradient(target, sources)`` is
``graphnet.autodiff.gradients`` of the target's graph. Inside a traced step (see
graph/trace.py) a source variable already assigned earlier in the step (a GAN's
discriminator, updated before the generator's pass reads it) is differentiated at its
assigned value, the value the forward pass read.

    with gn.GradientTape() as tape:
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
    grads = tape.gradient(loss, self.trainable_variables)
    self.optimizer.apply(grads, self.trainable_variables)
"""
from .autodiff import gradients
from .graph.tensor import SymbolicTensor
from .graph.trace import current_trace
from .graph.variable import Variable

_UNCONNECTED = ("error", "none", "zero")


class GradientTape:
    """Gradients of a symbolic target with respect to Variables or tensors.

    Args:
        persistent: allow several ``gradient`` calls (False: one, as in TensorFlow).
        watch_accessed_variables: must be True (every variable is watched).
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        if watch_accessed_variables is not True:
            raise ValueError("GradientTape: watch_accessed_variables must be True (graphnet "
                             f"differentiates the whole graph), got {watch_accessed_variables!r}")
        self.persistent = bool(persistent)
        self._used = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def watch(self, tensor):
        """Nothing to record: every tensor of the graph can be differentiated."""
        if not isinstance(tensor, (SymbolicTensor, Variable, list, tuple)):
            raise TypeError(f"GradientTape.watch: expected a symbolic tensor or a Variable, "
                            f"got {type(tensor).__name__}")

    def gradient(self, target, sources, unconnected_gradients="error"):
        """``d target / d source`` for each source (a list for a list, else one tensor).

        Args:
            target: a float symbolic tensor (summed first when not a scalar).
            sources: a Variable or symbolic tensor, or a list of them.
            unconnected_gradients: "error" (default): a source the target does not
                depend on raises ValueError naming it; "none" gives None for it, "zero"
                zeros.
        """
        if unconnected_gradients not in _UNCONNECTED:
            raise ValueError(f"GradientTape.gradient: unconnected_gradients must be one of "
                             f"{_UNCONNECTED}, got {unconnected_gradients!r}")
        if self._used and not self.persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on a "
                               "non-persistent tape; create it with persistent=True")
        self._used = True
        if not isinstance(target, SymbolicTensor):
            raise TypeError(f"GradientTape.gradient: the target must be a symbolic tensor "
                            f"(computed in a traced step), got {type(target).__name__}")
        single = not isinstance(sources, (list, tuple))
        sources = [sources] if single else list(sources)
        for i, s in enumerate(sources):
            if not isinstance(s, (Variable, SymbolicTensor)):
                raise TypeError(f"GradientTape.gradient: sources[{i}] must be a Variable or a "
                                f"symbolic tensor, got {type(s).__name__}")
        trace = current_trace()
        wrt = [_as_read(s, trace) for s in sources]
        mode = "zero" if unconnected_gradients == "zero" else "none"
        grads = gradients(target, wrt, unconnected_gradients=mode)
        if unconnected_gradients == "error":
            missing = [getattr(s, "name", repr(s)) for s, g in zip(sources, grads) if g is None]
            if missing:
                raise ValueError(f"GradientTape.gradient: the target does not depend on "
                                 f"{missing} (not in its graph, or only through "
                                 "non-differentiable ops); pass unconnected_gradients='none' "
                                 "or 'zero' to get None or zeros for them")
        return grads[0] if single else grads


def _as_read(source, trace):
    """The tensor the step reads for a Variable assigned earlier in ``trace``, else it."""
    if isinstance(source, Variable) and trace is not None:
        assigned = trace.read(source)
        if assigned is not None:
            return assigned
    return source
