"""The data-parallel training step: a gradient plan (forward, losses, metric totals,
gradients, the layers' state updates), the gradients summed over ranks weighted by each
rank's batch share, then an update plan (the optimizer) fed the averaged gradients."""
import numpy as np

from ..graph.tensor import placeholder
from ..runtime.function import Function


class DistributedStep:
    """Called like the step Function: ``step(*arrays)`` -> the step's outputs, with the
    losses averaged and the metric totals and counts summed over ranks."""

    def __init__(self, strategy, model, inputs, outputs, total, num_losses, name):
        from ..autodiff import gradients
        self.strategy, self.num_losses = strategy, num_losses
        variables = [v for v in model.trainable_weights if np.dtype(v.dtype).kind == "f"]
        model.optimizer.build(variables)
        grads = gradients(model.optimizer.scale_loss(total), variables,
                          unconnected_gradients="none")
        self.num_outputs = len(outputs)
        self._buffer = None
        self.gradient_fn = Function(inputs, list(outputs) + list(grads),
                                    updates=model.state_updates, training=True,
                                    backend=model._backend, name=f"{name}_gradients")
        fed = [placeholder(tuple(v.shape), "float32", name=f"grad_{i}")
               for i, v in enumerate(variables)]
        self.update_fn = Function(fed, [fed[0]],
                                  updates=model.optimizer.build_updates(variables, fed),
                                  backend=model._backend, name=f"{name}_update")

    def executable_for(self, arrays):
        return None   # no fast path: every step goes through the allreduce

    def executable(self, shapes):
        raise ValueError("DataParallel: steps_per_execution must be 1 (each step ends "
                         "in an allreduce between two plans)")

    def _flat(self, grads):
        """The step's one float32 buffer: [batch size, scalars..., gradients...], each
        gradient a C-contiguous view of it (kept per gradient shapes)."""
        shapes = tuple(g.shape for g in grads)
        if self._buffer is None or self._buffer[0] != shapes:
            head = 1 + self.num_outputs
            flat = np.empty(head + sum(g.size for g in grads), "float32")
            views, offset = [], head
            for g in grads:
                views.append(flat[offset:offset + g.size].reshape(g.shape))
                offset += g.size
            self._buffer = (shapes, flat, views)
        return self._buffer[1], self._buffer[2]

    def __call__(self, *arrays):
        outs = self.gradient_fn(*arrays)
        n = arrays[0].shape[0] if np.ndim(arrays[0]) else 1
        grads = outs[self.num_outputs:]
        flat, views = self._flat(grads)
        # each rank adds n x its mean gradient and n x its losses; the sum over ranks
        # divided by the summed n is the mean over the global batch (no separate
        # collective for the batch sizes)
        flat[0] = n
        for i, o in enumerate(outs[:self.num_outputs]):
            flat[1 + i] = float(np.asarray(o).reshape(-1)[0]) * (n if i < self.num_losses
                                                                   else 1)
        for g, view in zip(grads, views):
            np.multiply(g, np.float32(n), out=view)
        self.strategy.allreduce_sum(flat)
        total_n = flat[0]
        flat[1:1 + self.num_losses] /= total_n
        for view in views:
            view *= np.float32(1.0 / total_n)
        self.update_fn(*views)
        return [np.float32(s) for s in flat[1:1 + self.num_outputs]]
