"""``compile(steps_per_execution=N)``: N consecutive batches in one C call.

Batches are taken in groups of N consecutive steps, as Keras 3's EpochIterator groups
them; the callbacks see one ``on_*_batch_begin(first step)`` and one
``on_*_batch_end(last step, logs)`` per group, the logs being the running means after
the group's last step. Within a group the batches of the first batch's size run as one
``Executable.run_steps`` call: the plan of one step looped in C over the batches
stacked along a new leading axis, each run reading its own slice and writing its own
losses and metric totals, the weights and optimizer state carried from run to run
exactly as separate calls carry them. The trackers then take each run's outputs in
order, so the logs equal those of separate steps. A smaller last batch of an epoch has
its own plan and runs alone after them.

One repeated plan beats a plan compiled with the step unrolled N times: the plan (and
its compile time and arena) stay those of one step, and one compiled plan serves every
N. What a group saves is the Python around each step (slicing, checks, pointer tables,
the call), which for a small model is most of a step's time.
"""
import itertools

import numpy as np


def run_in_groups(model, training, batches, make_trackers, callbacks, hook_prefix):
    """Run a step per batch of ``batches`` (an iterable of (xs, ys, sws) lists),
    ``model._steps_per_execution`` steps per group; ``make_trackers()`` gives the logs'
    trackers once the first batch is read. Returns the logs after the last step."""
    per_group = getattr(model, "_steps_per_execution", 1)
    batches = iter(batches)
    trackers, logs, step = None, {}, 0
    while True:
        group = list(itertools.islice(batches, per_group))
        if not group:
            return logs
        if trackers is None:  # the first batch resolved the losses and metrics
            trackers = make_trackers()
        if callbacks is not None:
            getattr(callbacks, f"on_{hook_prefix}_batch_begin")(step)
        logs = _run_group(model, training, group, trackers)
        step += len(group)
        if callbacks is not None:
            getattr(callbacks, f"on_{hook_prefix}_batch_end")(step - 1, dict(logs))
        if training and model.stop_training:
            return logs


def _samples(batch):
    xs = batch[0]
    return xs[0].shape[0] if xs and xs[0].ndim else 1


def _run_group(model, training, group, trackers):
    sizes = [_samples(batch) for batch in group]
    same = next((i for i, size in enumerate(sizes) if size != sizes[0]), len(group))
    logs = None
    if same > 1 and model._backend == "c":
        logs = _run_stacked(model, training, group[:same], sizes[0], trackers)
        group = group[same:]
    for xs, ys, sws in group:
        logs = model._run_batch(training, xs, ys, sws, trackers)
    return logs


def _run_stacked(model, training, group, batch, trackers):
    """The ``group``'s batches (all of ``batch`` samples) in one C call: each input
    stacked along a new leading axis."""
    fn, ones = model._step_for_batch(training, *group[0])
    xs, ys, sws = group[0]
    given = [True] * (len(xs) + len(ys)) + [w is not None for w in sws]
    first = fn.check_inputs(list(xs) + list(ys) +
                            [w if w is not None else one for w, one in zip(sws, ones)])
    exe = fn.executable([a.shape for a in first])
    columns = [list(b[0]) + list(b[1]) + list(b[2]) for b in group]
    feed = [np.stack([np.asarray(c[i], dtype=checked.dtype) for c in columns])
            if g else checked for i, (g, checked) in enumerate(zip(given, first))]
    outs = exe.run_steps(feed, len(group))
    for r in range(len(group)):
        trackers.update([o[r] for o in outs], batch)
    return trackers.logs()
