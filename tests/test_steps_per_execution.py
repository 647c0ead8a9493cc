"""compile(steps_per_execution=N): N steps per C call, the same results as N calls."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.runtime.executor import Executable

RNG = np.random.default_rng(3)
N_SAMPLES = 170  # batches of 16: ten full ones and a last of 10
X = RNG.normal(size=(N_SAMPLES, 12)).astype("float32")
Y = RNG.integers(0, 3, N_SAMPLES)


def mlp(steps_per_execution, **compile_kwargs):
    gn.utils.set_random_seed(11)
    inputs = gn.Input((12,))
    h = gn.layers.Dense(9, activation="relu")(inputs)
    h = gn.layers.Dropout(0.25, seed=4)(h)
    outputs = gn.layers.Dense(3, activation="softmax")(h)
    model = gn.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution, **compile_kwargs)
    return model


@pytest.fixture
def runs(monkeypatch):
    """The ``runs`` of every Executable.run_steps call."""
    calls = []
    original = Executable.run_steps

    def counting(self, inputs, runs):
        calls.append(runs)
        return original(self, inputs, runs)
    monkeypatch.setattr(Executable, "run_steps", counting)
    return calls


def fit_pair(steps_per_execution, **fit_kwargs):
    one, many = mlp(1), mlp(steps_per_execution)
    many.set_weights(one.get_weights())
    histories = []
    for model in (one, many):
        gn.utils.set_random_seed(5)  # the same shuffles
        histories.append(model.fit(X, Y, batch_size=16, verbose=0, **fit_kwargs).history)
    return one, many, histories


@pytest.mark.parametrize("steps_per_execution", [2, 4, 16])
def test_fit_equals_separate_steps(steps_per_execution, runs):
    one, many, (logs_one, logs_many) = fit_pair(steps_per_execution, epochs=2)
    assert logs_one == logs_many
    for a, b in zip(one.get_weights(), many.get_weights()):
        np.testing.assert_array_equal(a, b)
    # ten full batches per epoch in groups; the last batch of 10 has its own plan
    full = [min(steps_per_execution, 10 - start) for start in range(0, 10, steps_per_execution)]
    grouped = [r for r in full if r > 1]
    assert runs == grouped * 2
    assert one.evaluate(X, Y, batch_size=16, verbose=0) == \
        many.evaluate(X, Y, batch_size=16, verbose=0)


def test_steps_per_epoch_continues_through_the_data(runs):
    one, many, (logs_one, logs_many) = fit_pair(3, epochs=3, steps_per_epoch=7)
    assert logs_one == logs_many
    for a, b in zip(one.get_weights(), many.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sum(runs) > 0


class Batches(gn.utils.PyDataset):
    """X, Y in batches of 16 (the last of 10)."""

    def __len__(self):
        return -(-N_SAMPLES // 16)

    def __getitem__(self, i):
        return X[i * 16:(i + 1) * 16], Y[i * 16:(i + 1) * 16]


def generator():
    for start in range(0, N_SAMPLES, 16):
        yield X[start:start + 16], Y[start:start + 16]


@pytest.mark.parametrize("source", ["generator", "PyDataset"])
def test_data_sources_run_in_groups(source, runs):
    """Batches read from a generator or PyDataset are stacked and run N at a time."""
    one, many = mlp(1), mlp(4)
    many.set_weights(one.get_weights())
    logs = []
    for model in (one, many):
        data = Batches() if source == "PyDataset" else generator()
        logs.append(model.fit(data, epochs=1, verbose=0, shuffle=False).history)
    assert logs[0] == logs[1]
    for a, b in zip(one.get_weights(), many.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert runs == [4, 4, 2]  # ten batches of 16; the last of 10 runs alone


def test_sample_weights_and_validation():
    weights = RNG.random(N_SAMPLES).astype("float32")
    logs = []
    models = [mlp(1), mlp(5)]
    models[1].set_weights(models[0].get_weights())
    for model in models:
        model.compile("sgd", "sparse_categorical_crossentropy", weighted_metrics=["accuracy"],
                      steps_per_execution=model.steps_per_execution)
        logs.append(model.fit(X, Y, sample_weight=weights, batch_size=16, epochs=2,
                              validation_data=(X[:50], Y[:50]), shuffle=False,
                              verbose=0).history)
    assert logs[0] == logs[1]
    assert "val_loss" in logs[1]


def test_callbacks_once_per_group_as_keras():
    seen = []
    record = gn.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs=None: seen.append(("begin", batch)),
        on_train_batch_end=lambda batch, logs=None: seen.append(("end", batch, logs["loss"])))
    many = mlp(4)
    many.fit(X, Y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[record])
    assert [s[:2] for s in seen] == [("begin", 0), ("end", 3), ("begin", 4), ("end", 7),
                                     ("begin", 8), ("end", 10)]
    one = mlp(1)
    ends = []
    one.fit(X, Y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[
        gn.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs=None: ends.append(logs["loss"]))])
    # the logs after a group are the running means after its last step
    assert [s[2] for s in seen if s[0] == "end"] == [ends[3], ends[7], ends[10]]


def test_stop_training_stops_after_the_group():
    model = mlp(3)
    ends = []

    def stop(batch, logs=None):
        ends.append(batch)
        model.stop_training = True
    model.fit(X, Y, batch_size=16, epochs=3, verbose=0,
              callbacks=[gn.callbacks.LambdaCallback(on_train_batch_end=stop)])
    assert ends == [2]


def test_evaluate_groups_and_equals(runs):
    one, many = mlp(1), mlp(6)
    many.set_weights(one.get_weights())
    assert one.evaluate(X, Y, batch_size=16, verbose=0) == \
        many.evaluate(X, Y, batch_size=16, verbose=0)
    assert runs == [6, 4]
    # steps beyond the data start over from its first batch (not consecutive rows)
    assert one.evaluate(X, Y, batch_size=16, steps=14, verbose=0) == \
        many.evaluate(X, Y, batch_size=16, steps=14, verbose=0)


def test_compile_refuses_bad_values():
    model = mlp(1)
    with pytest.raises(ValueError, match="steps_per_execution must be an int >= 1, got 0"):
        model.compile("sgd", "mse", steps_per_execution=0)
    with pytest.raises(TypeError, match="steps_per_execution must be an int >= 1, got '4'"):
        model.compile("sgd", "mse", steps_per_execution="4")
    with pytest.raises(TypeError, match="got True"):
        model.compile("sgd", "mse", steps_per_execution=True)
    model.compile("sgd", "mse", steps_per_execution=np.int64(3))
    assert model.steps_per_execution == 3
    model.steps_per_execution = 7
    assert model.steps_per_execution == 7


def gather_function():
    table = gn.Input((4,), name="table")
    index = gn.Input((2,), dtype="int32", name="index")
    return gn.function([table, index], gn.ops.take(table, index, axis=1))


def test_run_steps_strides_and_shared_inputs():
    fn = gather_function()
    exe = fn.executable([(3, 4), (3, 2)])
    tables = RNG.normal(size=(5, 3, 4)).astype("float32")
    index = np.array([[0, 3]] * 3, dtype="int32")   # shared by every run
    (out,) = exe.run_steps([tables, index], 5)
    assert out.shape == (5, 3, 3, 2)
    for r in range(5):
        np.testing.assert_array_equal(out[r], np.take(tables[r], index, axis=1))


def test_run_steps_errors_name_the_run_and_input():
    fn = gather_function()
    exe = fn.executable([(3, 4), (3, 2)])
    tables = np.zeros((3, 3, 4), "float32")
    index = np.zeros((3, 3, 2), "int32")
    index[1, 0, 0] = 9
    with pytest.raises(IndexError, match="run 1 of 3: plan step"):
        exe.run_steps([tables, index], 3)
    with pytest.raises(ValueError, match=r"input 0 must be a C-contiguous float32 array of "
                                         r"shape \(3, 4\) or \(3, 3, 4\)"):
        exe.run_steps([tables[:2], index], 3)
    with pytest.raises(ValueError, match="runs must be >= 1, got 0"):
        exe.run_steps([tables, index], 0)
