"""The data-parallel training step.

A gradient plan computes the forward pass, the losses, the metric totals, the layers'
state updates and the gradients, each multiplied by this rank's batch size n; the
gradients are packed into buckets of about BUCKET_BYTES, last layers first, and each
bucket's sum over ranks is started inside the plan (ALLREDUCE_SUM, wait=False) as soon
as the backward pass has computed it, so it runs on the background thread
(background.py) while the plan goes on with the earlier layers. After the run the step
sums [n, n x losses, metric totals] over ranks, waits for the buckets, and runs an update
plan (the optimizer) on the buckets' views times 1 / (the summed n): the gradient of the
global batch's mean loss, and the global batch's mean losses.
"""
import numpy as np

from ..graph.tensor import placeholder
from ..ops import concatenate, reshape
from ..ops.collective import allreduce_sum
from ..runtime.abi import SLOT_KINDS
from ..runtime.function import Function
from ..runtime.kernels import KERNELS

BUCKET_BYTES = 1 << 20   # a bucket closes once it holds 1 MB (PyTorch DDP's first bucket)

_ALLREDUCE = KERNELS["GN_K_ALLREDUCE_SUM"]
_ARG = {arg.name: i for i, arg in enumerate(_ALLREDUCE.args)}


def buckets_of(sizes):
    """Consecutive runs of the gradients of ``sizes`` (float counts, in the order the
    backward pass finishes them), each closed once it holds BUCKET_BYTES."""
    buckets, current, nbytes = [], [], 0
    for i, size in enumerate(sizes):
        current.append(i)
        nbytes += 4 * size
        if nbytes >= BUCKET_BYTES:
            buckets.append(current)
            current, nbytes = [], 0
    return buckets + ([current] if current else [])


def _started_sums_write_outputs(exe):
    """Whether every ALLREDUCE_SUM the plan starts without waiting writes a plan output
    (an arena buffer could be reused by a later step while the thread sums it)."""
    plan = exe.plan
    for step in np.asarray(plan.steps).reshape(-1, 4):
        if step[0] != _ALLREDUCE.id:
            continue
        args = np.asarray(plan.iargs)[step[1]:step[1] + step[3]]
        kind = np.asarray(plan.slots).reshape(-1, 3)[args[_ARG["y"]]][0]
        if not args[_ARG["wait"]] and SLOT_KINDS[kind] != "output":
            return False
    return True


def distributed_step(model, inputs, outputs, total, num_losses):
    """``model``'s training step under the DataParallel distribution set, else None."""
    from . import distribution
    strategy = distribution()
    if strategy is None:
        return None
    return DistributedStep(strategy, model, inputs, outputs, total, num_losses,
                           f"{model.name}_train_step", model._execution.phases)


class DistributedStep:
    """Called like the step Function: ``step(*arrays)`` -> the step's outputs, with the
    losses averaged and the metrics' batch statistics (totals, counts, confusion counts)
    summed over ranks."""

    def __init__(self, strategy, model, inputs, outputs, total, num_losses, name,
                 phases=None):
        from ..autodiff import gradients
        self.strategy, self.num_losses = strategy, num_losses
        variables = [v for v in model.trainable_weights if np.dtype(v.dtype).kind == "f"]
        model.optimizer.build(variables)
        grads = gradients(model.optimizer.scale_loss(total), variables,
                          unconnected_gradients="zero")
        self.num_outputs = len(outputs)
        order = list(reversed(range(len(variables))))   # the backward pass's order
        self.buckets = [[order[j] for j in bucket] for bucket in
                        buckets_of([int(np.prod(variables[i].shape)) for i in order])]
        batch = placeholder((), "float32", name="batch_size")
        sums = [allreduce_sum(concatenate([reshape(grads[i] * batch, (-1,)) for i in bucket])
                              if len(bucket) > 1 else reshape(grads[bucket[0]] * batch, (-1,)),
                              wait=False) for bucket in self.buckets]
        self.gradient_fn = Function(list(inputs) + [batch], list(outputs) + sums,
                                    updates=model.state_updates, training=True,
                                    backend=model._backend, phases=phases,
                                    name=f"{name}_gradients")
        self._checked = set()
        self.update_fn = self._update_function(model, variables, name, phases)

    def _update_function(self, model, variables, name, phases):
        """The optimizer's plan over the buckets' sums and 1 / (the summed batch sizes)."""
        fed = [placeholder((sum(int(np.prod(variables[i].shape)) for i in bucket),),
                           "float32", name=f"bucket_{b}") for b, bucket in enumerate(self.buckets)]
        inverse = placeholder((), "float32", name="inverse_batch_size")
        grads = [None] * len(variables)
        for bucket, summed in zip(self.buckets, fed):
            offset = 0
            for i in bucket:
                size = int(np.prod(variables[i].shape))
                grads[i] = reshape(summed[offset:offset + size], tuple(variables[i].shape)) * \
                    inverse
                offset += size
        return Function(fed + [inverse], [inverse],
                        updates=model.optimizer.build_updates(variables, grads),
                        backend=model._backend, phases=phases, name=f"{name}_update")

    def executable_for(self, arrays):
        return None   # no fast path: every step goes through the allreduce

    def executable(self, shapes):
        raise ValueError("DataParallel: steps_per_execution must be 1 (each step ends "
                         "in an allreduce between two plans)")

    def _run_gradients(self, arrays):
        """The gradient plan's outputs; its bucket sums are started, not finished."""
        fn = self.gradient_fn
        if fn.backend != "c":
            return fn(*arrays)
        arrays = fn.check_inputs(arrays)
        exe = fn.executable([a.shape for a in arrays])
        if id(exe) not in self._checked:
            if not _started_sums_write_outputs(exe):
                raise RuntimeError(f"{fn.name}: a gradient bucket's allreduce writes an "
                                   "arena buffer, not a plan output; it cannot run behind "
                                   "the rest of the plan")
            self._checked.add(id(exe))
        return exe.run(arrays)

    def __call__(self, *arrays):
        n = arrays[0].shape[0] if np.ndim(arrays[0]) else 1
        outs = self._run_gradients(list(arrays) + [np.float32(n)])
        values = outs[:self.num_outputs]   # the losses, then the metrics' batch statistics
        head = np.concatenate([np.float32([n])] + [
            np.asarray(v, "float32").reshape(-1) * (n if i < self.num_losses else 1)
            for i, v in enumerate(values)])
        self.strategy.sum_in_place(head)          # while the buckets are summed
        if self.strategy.background is not None:
            self.strategy.background.wait()
        total_n = head[0]
        head[1:1 + self.num_losses] /= total_n
        self.update_fn(*outs[self.num_outputs:], np.float32(1.0 / total_n))
        summed, offset = [], 1
        for v in values:
            summed.append(head[offset:offset + np.size(v)].reshape(np.shape(v)))
            offset += np.size(v)
        return summed
