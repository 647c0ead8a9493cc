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

    def __call__(self, *arrays):
        outs = self.gradient_fn(*arrays)
        n = arrays[0].shape[0] if np.ndim(arrays[0]) else 1
        total_n = self.strategy.comm.allreduce(n)
        grads = [np.array(g, dtype="float32") * (n / total_n) for g in outs[self.num_outputs:]]
        values = [np.asarray(o, dtype="float64").reshape(-1)[:1]
                  for o in outs[:self.num_outputs]]
        scalars = np.concatenate(values).astype("float32") if values else np.zeros(0, "float32")
        scalars[:self.num_losses] *= n / total_n
        self.strategy.allreduce_sum(grads + [scalars])
        self.update_fn(*grads)
        return [np.float32(s) for s in scalars]
