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


def run_in_groups(model, training, data, selectors, trackers, callbacks, hook_prefix):
    """Run a step per batch selector (an index array or slice of the samples) of
    ``data`` = (xs, ys, sws), ``model._steps_per_execution`` steps per group; returns
    the logs after the last step."""
    per_group = getattr(model, "_steps_per_execution", 1)
    selectors = iter(selectors)
    logs, step = {}, 0
    while True:
        group = list(itertools.islice(selectors, per_group))
        if not group:
            return logs
        if callbacks is not None:
            getattr(callbacks, f"on_{hook_prefix}_batch_begin")(step)
        logs = _run_group(model, training, data, group, trackers)
        step += len(group)
        if callbacks is not None:
            getattr(callbacks, f"on_{hook_prefix}_batch_end")(step - 1, dict(logs))
        if training and model.stop_training:
            return logs


def _size(selector, n):
    return len(range(n)[selector]) if isinstance(selector, slice) else len(selector)


def _run_group(model, training, data, group, trackers):
    xs, ys, sws = data
    n = xs[0].shape[0]
    sizes = [_size(s, n) for s in group]
    same = next((i for i, size in enumerate(sizes) if size != sizes[0]), len(group))
    logs = None
    if same > 1 and model._backend == "c":
        logs = _run_stacked(model, training, data, group[:same], sizes[0], trackers)
        group = group[same:]
    for selector in group:
        logs = model._run_batch(training, [a[selector] for a in xs],
                                [a[selector] for a in ys],
                                _take(sws, selector), trackers)
    return logs


def _take(sws, selector):
    """The sample weights of the samples ``selector`` (None stays None)."""
    return [None if w is None else w[selector] for w in sws]


def _stacked(array, selectors, runs, dtype):
    """The rows of ``selectors`` as one C-contiguous array of (runs, batch, ...)."""
    if all(isinstance(s, slice) for s in selectors) and all(
            a.stop == b.start for a, b in zip(selectors, selectors[1:])):
        rows = array[selectors[0].start:selectors[-1].stop]  # consecutive: a view
    else:
        rows = array[np.concatenate([np.arange(len(array))[s] for s in selectors])]
    rows = np.ascontiguousarray(rows, dtype=dtype)
    return rows.reshape((runs, -1) + rows.shape[1:])


def _run_stacked(model, training, data, selectors, batch, trackers):
    """The ``selectors``' batches (all of ``batch`` samples) in one C call."""
    xs, ys, sws = data
    first = selectors[0]
    fn, ones = model._step_for_batch(training, [a[first] for a in xs],
                                     [a[first] for a in ys],
                                     _take(sws, first))
    arrays = list(xs) + list(ys) + [w if w is not None else one for w, one in zip(sws, ones)]
    given = [True] * (len(xs) + len(ys)) + [w is not None for w in sws]
    first_arrays = fn.check_inputs([a[first] if g else a for a, g in zip(arrays, given)])
    exe = fn.executable([a.shape for a in first_arrays])
    runs = len(selectors)
    feed = [_stacked(a, selectors, runs, checked.dtype) if g else checked
            for a, g, checked in zip(arrays, given, first_arrays)]
    outs = exe.run_steps(feed, runs)
    for r in range(runs):
        trackers.update([o[r] for o in outs], batch)
    return trackers.logs()
