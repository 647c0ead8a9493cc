"""Callbacks: behaviour inside fit, and their rules on scripted logs."""
import csv
import os

import numpy as np
import pytest

import graphnet as gn
from graphnet import callbacks, optimizers


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype("float32")
    y = (x @ rng.standard_normal((4, 1))).astype("float32")
    return x, y


def _model(lr=0.05, optimizer=None):
    model = gn.Sequential([gn.Input((4,)), gn.layers.Dense(8, activation="tanh"),
                           gn.layers.Dense(1)])
    model.compile(optimizer or optimizers.SGD(lr), "mse", metrics=["mae"])
    return model


class ScriptedModel:
    """A stand-in model whose 'weights' are the epoch they were recorded at."""

    def __init__(self):
        self.epoch = 0
        self.stop_training = False
        self.restored = None
        self.optimizer = optimizers.SGD(0.1)

    def get_weights(self):
        return [np.array(self.epoch)]

    def set_weights(self, weights):
        self.restored = int(weights[0])


def _run(callback, values, monitor="val_loss", model=None):
    model = model or ScriptedModel()
    callback.set_model(model)
    callback.on_train_begin()
    stopped = None
    for epoch, value in enumerate(values):
        model.epoch = epoch
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {monitor: value})
        if model.stop_training:
            stopped = epoch
            break
    callback.on_train_end()
    return model, stopped


def test_early_stopping_rules():
    model, stopped = _run(callbacks.EarlyStopping(patience=2, restore_best_weights=True),
                          [1.0, 0.5, 0.6, 0.7, 0.4])
    assert stopped == 3 and model.restored == 1
    model, stopped = _run(callbacks.EarlyStopping(patience=1, min_delta=0.2),
                          [1.0, 0.9, 0.85])
    assert stopped == 1
    model, stopped = _run(callbacks.EarlyStopping(monitor="val_accuracy", patience=1),
                          [0.5, 0.6, 0.55], monitor="val_accuracy")
    assert stopped == 2
    model, stopped = _run(callbacks.EarlyStopping(patience=5, baseline=0.1),
                          [1.0, 0.5, 0.4, 0.3, 0.2, 0.2, 0.2])
    assert stopped == 5
    model, stopped = _run(callbacks.EarlyStopping(patience=0, start_from_epoch=3),
                          [1.0, 2.0, 3.0, 4.0, 5.0])
    assert stopped == 4


def test_early_stopping_restores_best_weights_in_fit():
    x, y = _data()
    model = _model(lr=0.05)
    snapshots = []
    record = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    # after epoch 2 the learning rate explodes, so the loss gets worse from then on
    explode = callbacks.LearningRateScheduler(lambda epoch, lr: 0.05 if epoch < 2 else 3.0)
    stop = callbacks.EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0, shuffle=False,
                        callbacks=[explode, record, stop])
    losses = history.history["loss"]
    best = int(np.argmin(losses))
    assert len(losses) < 10 and stop.stopped_epoch == len(losses) - 1
    assert stop.best_epoch == best
    for a, b in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_best_only_writes_on_improvement(tmp_path):
    path = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.npz")
    check = callbacks.ModelCheckpoint(path, save_best_only=True, save_weights_only=True)
    model = ScriptedModel()
    _run(check, [1.0, 0.5, 0.7, 0.3, 0.3], model=model)
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01-1.00.npz", "ckpt-02-0.50.npz",
                                            "ckpt-04-0.30.npz"]
    with np.load(tmp_path / "ckpt-04-0.30.npz") as saved:
        assert int(saved["arr_0"]) == 3
    check = callbacks.ModelCheckpoint(str(tmp_path / "acc-{epoch}.npz"), monitor="val_acc",
                                      save_best_only=True, save_weights_only=True)
    _run(check, [0.5, 0.4, 0.6], monitor="val_acc")
    assert sorted(f for f in os.listdir(tmp_path) if f.startswith("acc")) == \
        ["acc-1.npz", "acc-3.npz"]


def test_checkpoint_in_fit_writes_loadable_weights(tmp_path):
    x, y = _data()
    model = _model()
    path = str(tmp_path / "w-{epoch}.weights.npz")
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.25,
              callbacks=[callbacks.ModelCheckpoint(path, save_weights_only=True)])
    assert sorted(os.listdir(tmp_path)) == ["w-1.weights.npz", "w-2.weights.npz"]
    if callable(getattr(model, "load_weights", None)):
        other = _model()
        other.load_weights(str(tmp_path / "w-2.weights.npz"))
        restored = other.get_weights()
    else:
        with np.load(tmp_path / "w-2.weights.npz") as saved:
            restored = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    for a, b in zip(restored, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    whole = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}.graphnet"))
    if not callable(getattr(model, "save", None)):
        with pytest.raises(ValueError, match="save_weights_only=True"):
            model.fit(x, y, epochs=1, verbose=0, callbacks=[whole])
        return
    model.fit(x, y, epochs=1, verbose=0, callbacks=[whole])
    loaded = gn.models.load_model(str(tmp_path / "m-1.graphnet"))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_csv_logger_contents(tmp_path):
    x, y = _data()
    model = _model()
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
                        callbacks=[callbacks.CSVLogger(str(path))])
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for key in ("loss", "mae", "val_loss", "val_mae"):
        np.testing.assert_allclose([float(r[key]) for r in rows], history.history[key],
                                   rtol=1e-6)
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[callbacks.CSVLogger(str(path), separator=";", append=True)])
    with open(path) as f:
        lines = f.read().splitlines()
    assert len(lines) == 5 and lines[-1].startswith("0;")


def test_learning_rate_scheduler_sets_the_variable_without_recompiling():
    x, y = _data()
    opt = optimizers.SGD(0.1)
    model = _model(optimizer=opt)
    seen = []
    record = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(float(opt.learning_rate_variable.value)))
    history = model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5), record])
    assert seen == pytest.approx([0.05, 0.025, 0.0125])
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    steps = [fn for key, fn in model._step_fns.items() if key[0]]
    assert len(steps) == 1 and len(steps[0]._cache) <= 1
    with pytest.raises(ValueError, match="should be a float"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.LearningRateScheduler(lambda epoch: "fast")])


def test_reduce_lr_on_plateau():
    model = ScriptedModel()
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.02)
    _run(cb, [1.0, 1.0, 1.0, 1.0, 1.0], model=model)
    # reduced at epochs 1 and 3 (cooldown skips a beat), floor at min_lr
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    _run(cb, [1.0] * 8, model=model)
    assert model.optimizer.learning_rate == pytest.approx(0.02)


def test_terminate_on_nan_and_lambda_callback():
    model = ScriptedModel()
    cb = callbacks.TerminateOnNaN()
    cb.set_model(model)
    cb.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    cb.on_train_batch_end(1, {"loss": float("nan")})
    assert model.stop_training
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        callbacks.TerminateOnNaN(raise_error=True).on_train_batch_end(0, {"loss": np.inf})
    x, y = _data()
    model = _model()
    batches = []
    model.fit(x, y, epochs=2, batch_size=20, verbose=0, callbacks=[callbacks.LambdaCallback(
        on_batch_end=lambda batch, logs: batches.append((batch, sorted(logs))))])
    assert [b for b, _ in batches] == [0, 1, 2, 3] * 2
    assert batches[0][1] == ["loss", "mae"]
    stopper = callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: setattr(model, "stop_training", batch == 1))
    history = model.fit(x, y, epochs=5, batch_size=20, verbose=0, callbacks=[stopper])
    assert history.epoch == [0]


def test_verbose_2_prints_one_line_per_epoch(capsys):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=3, batch_size=16, verbose=2, validation_split=0.25)
    lines = capsys.readouterr().out.splitlines()
    assert [l for l in lines if l.startswith("Epoch")] == ["Epoch 1/3", "Epoch 2/3",
                                                            "Epoch 3/3"]
    summaries = [l for l in lines if not l.startswith("Epoch")]
    assert len(summaries) == 3
    for line in summaries:
        assert line.startswith("3/3 - ") and "/step - loss: " in line and "val_mae: " in line
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_history_and_callback_params():
    x, y = _data()
    model = _model()
    seen = {}

    class Spy(callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.update(self.params)
            seen["model"] = self.model

    history = model.fit(x, y, epochs=2, batch_size=30, verbose=0, callbacks=[Spy()],
                        initial_epoch=0)
    assert seen["epochs"] == 2 and seen["steps"] == 3 and seen["model"] is model
    assert history.epoch == [0, 1] and model.history is history
    assert set(history.history) == {"loss", "mae"}


def _hook_recorder(lib):
    class Hooks(lib.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_test_begin(self, logs=None):
            self.calls.append("test_begin")

        def on_test_batch_end(self, batch, logs=None):
            self.calls.append(f"test_batch_{batch}")

        def on_test_end(self, logs=None):
            self.calls.append(f"test_end:{sorted(logs)}")

        def on_epoch_end(self, epoch, logs=None):
            self.calls.append(f"epoch_end_{epoch}:{sorted(logs)}")
    return Hooks()


def test_fit_validation_calls_the_test_hooks_as_keras():
    """Keras 3's fit validates through evaluate with the fit's callbacks: on_test_begin,
    each test batch, on_test_end with the validation logs (unprefixed), then the epoch's
    end with val_ keys."""
    from extras import compare_with, keras

    def run(lib):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
        hooks = _hook_recorder(lib)
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[hooks],
                  validation_data=(x[:6], y[:6]))
        return hooks.calls
    ours = run(gn)
    assert ours == [call for epoch in (0, 1) for call in (
        "test_begin", "test_batch_0", "test_batch_1", "test_end:['loss', 'mae']",
        f"epoch_end_{epoch}:['loss', 'mae', 'val_loss', 'val_mae']")]
    if compare_with(keras, "the hook order against Keras 3"):
        assert ours == run(keras)
