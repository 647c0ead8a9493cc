"""Keras 3's progress bar: gn.utils.Progbar and the ProgbarLogger fit / evaluate / predict
print through, compared character for character with Keras 3's on the same updates and
logs, with the clock frozen (every time.time() call advances it by a fixed step)."""
import contextlib
import io
import itertools
import re
import time

import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs


@contextlib.contextmanager
def fake_clock(monkeypatch, step):
    ticks = itertools.count()
    monkeypatch.setattr(time, "time", lambda: 1000.0 + step * next(ticks))
    yield


def printed(monkeypatch, run, step=0.013):
    """What ``run()`` writes to stdout, the clock advancing ``step`` s per reading."""
    out = io.StringIO()
    with fake_clock(monkeypatch, step), contextlib.redirect_stdout(out):
        run()
    return out.getvalue()


def drive_progbar(cls, target, verbose, updates, **kwargs):
    def run():
        bar = cls(target, verbose=verbose, **kwargs)
        for current, values, finalize in updates:
            bar.update(current, values, finalize=finalize)
    return run


LOSSES = [("loss", 0.5), ("accuracy", 0.25), ("tiny", 1e-5)]
UPDATES = [(step, [(k, v / step) for k, v in LOSSES], None) for step in range(1, 8)]
CASES = {
    "known target": (7, 1, UPDATES, {}),
    "known target, averaged": (7, 1, UPDATES, {"stateful_metrics": ["accuracy"]}),
    "unknown target": (None, 1, UPDATES + [(7, LOSSES, True)], {}),
    "one line (verbose 2)": (7, 2, UPDATES, {"stateless_metrics": ["loss"]}),
    "wide and slow": (12345, 1, [(1, LOSSES, None), (2, LOSSES, None),
                                 (12345, LOSSES, None)], {"width": 30}),
}


@needs(keras)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("step", [0.013, 0.0004, 7.0])
def test_progbar_text_matches_keras(monkeypatch, case, step):
    target, verbose, updates, kwargs = CASES[case]
    ours = printed(monkeypatch, drive_progbar(gn.utils.Progbar, target, verbose, updates,
                                              **kwargs), step)
    theirs = printed(monkeypatch, drive_progbar(keras.utils.Progbar, target, verbose,
                                                updates, **kwargs), step)
    assert ours == theirs
    assert ours  # something was drawn


def test_progbar_draws_the_keras_3_bar(monkeypatch):
    text = printed(monkeypatch, drive_progbar(gn.utils.Progbar, 4, 1,
                                              [(4, [("loss", 0.25)], None)]))
    assert "\x1b[1m4/4\x1b[0m \x1b[32m" + "━" * 20 in text
    assert text.endswith(" - loss: 0.2500\n")
    quiet = printed(monkeypatch, drive_progbar(gn.utils.Progbar, 4, 0, UPDATES))
    assert quiet == ""


def test_progbar_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Only one of `stateful_metrics`"):
        gn.utils.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2, got 3"):
        gn.utils.Progbar(3, verbose=3)


def logger_hooks(params, events):
    """A run of ProgbarLogger hooks: ``events`` [(hook, args)]."""
    def run(cls):
        logger = cls()
        logger.set_params(params)
        for hook, args in events:
            getattr(logger, hook)(*args)
    return run


def epoch_events(epochs, steps, with_test=False):
    events = [("on_train_begin", ())]
    for epoch in range(epochs):
        events.append(("on_epoch_begin", (epoch,)))
        for step in range(steps):
            events.append(("on_train_batch_end", (step, {"loss": 1.0 / (step + 1),
                                                          "mae": 0.5 + step})))
        if with_test:  # validation inside fit: silent
            events += [("on_test_begin", ()), ("on_test_batch_end", (0, {"loss": 9.0})),
                       ("on_test_end", ({"loss": 9.0},))]
        events.append(("on_epoch_end", (epoch, {"loss": 0.3, "mae": 0.2, "val_loss": 9.0})))
    return events


LOGGER_RUNS = {
    "fit, 3 epochs": ({"verbose": 1, "epochs": 3, "steps": 4}, epoch_events(3, 4, True)),
    "fit, one epoch": ({"verbose": 1, "epochs": 1, "steps": 4}, epoch_events(1, 4)),
    "fit, verbose 2": ({"verbose": 2, "epochs": 2, "steps": 4}, epoch_events(2, 4, True)),
    "fit, unknown steps": ({"verbose": 1, "epochs": 2, "steps": None}, epoch_events(2, 5)),
    "evaluate": ({"verbose": 1, "epochs": 1, "steps": 3},
                 [("on_test_begin", ())] + [("on_test_batch_end", (i, {"loss": 0.1 * i}))
                                            for i in range(3)]
                 + [("on_test_end", ({"loss": 0.2},))]),
    "predict": ({"verbose": 1, "epochs": 1, "steps": None},
                [("on_predict_begin", ())] + [("on_predict_batch_end", (i, {"outputs": 1}))
                                              for i in range(3)] + [("on_predict_end", ())]),
}


@needs(keras)
@pytest.mark.parametrize("run", sorted(LOGGER_RUNS))
def test_progbar_logger_text_matches_keras(monkeypatch, run):
    params, events = LOGGER_RUNS[run]
    drive = logger_hooks(params, events)
    ours = printed(monkeypatch, lambda: drive(gn.callbacks.ProgbarLogger))
    theirs = printed(monkeypatch, lambda: drive(keras.callbacks.ProgbarLogger))
    assert ours == theirs


def _model():
    inputs = gn.Input((3,))
    model = gn.Model(inputs, gn.layers.Dense(2)(inputs))
    model.compile("sgd", "mse", metrics=["mae"])
    return model


class Recorder(gn.callbacks.Callback):
    """The hooks fit / evaluate / predict call, with their logs."""

    def __init__(self):
        super().__init__()
        self.events = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            return lambda *args: self.events.append((name, args))
        return super().__getattribute__(name)


@pytest.mark.parametrize("verbose", [1, 2])
def test_fit_evaluate_predict_print_what_keras_prints_for_their_logs(monkeypatch, verbose):
    """Our fit's hook calls, replayed into Keras's ProgbarLogger, print what ours printed."""
    x = np.random.RandomState(0).rand(40, 3).astype("float32")
    y = np.random.RandomState(1).rand(40, 2).astype("float32")
    model = _model()
    for method, kwargs in (("fit", {"epochs": 2, "validation_split": 0.25}),
                           ("evaluate", {}), ("predict", {})):
        recorder = Recorder()
        args = (x,) if method == "predict" else (x, y)
        ours = printed(monkeypatch, lambda: getattr(model, method)(
            *args, batch_size=8, verbose=verbose, callbacks=[recorder], **kwargs))
        assert ours.count("\n") >= 1
        if method == "predict":
            assert "5/5" in ours and ours.endswith("/step\n")  # no logs for predict
        steps = 4 if method == "fit" else 5  # fit trains on 30 of the 40 samples
        params = {"verbose": verbose, "epochs": kwargs.get("epochs", 1), "steps": steps}
        assert recorder.params == params
        if compare_with(keras, f"{method}'s progress bar against Keras's ProgbarLogger"):
            replay = logger_hooks(params, recorder.events)
            theirs = printed(monkeypatch, lambda: replay(keras.callbacks.ProgbarLogger))
            # our run reads the clock elsewhere too (the step): compare with times hidden
            assert _without_times(ours) == _without_times(theirs)


def _without_times(text):
    """Times, and the padding their widths change, left out."""
    return re.sub(r" +(?=[\n\b\r]|$)", "", re.sub(r"\d+(us|ms|s)(/step)?", "T", text))


def test_verbose_auto_is_one_line_per_epoch_off_a_terminal(capsys):
    x = np.zeros((10, 3), "float32")
    model = _model()
    model.fit(x, np.zeros((10, 2), "float32"), epochs=2, batch_size=5)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("2/2 - ") and " - loss: " in lines[1]
    model.predict(x, verbose="auto")
    assert capsys.readouterr().out.startswith("1/1 - ")
    with pytest.raises(ValueError, match="predict: verbose must be 'auto', 0, 1 or 2, got 3"):
        model.predict(x, verbose=3)
