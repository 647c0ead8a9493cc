"""Training: compile / fit / evaluate / train_on_batch, against keras where it is cheap,
and the Keras mnist_mlp example on real MNIST images."""
import gzip
import os
import time

import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, needs
from graphnet import losses, optimizers, regularizers

L = gn.layers
MNIST_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "shared", "data", "mnist")


def _regression(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype("float32")
    y = np.tanh(x @ rng.standard_normal((6, 2))).astype("float32")
    return x, y


def _classification(n=120, classes=4, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype("float32")
    y = np.argmax(x @ rng.standard_normal((6, classes)), axis=1)
    return x, y


def _mlp(outputs=2, activation=None, **dense):
    return gn.Sequential([gn.Input((6,)), L.Dense(16, activation="relu", **dense),
                          L.Dense(outputs, activation=activation)])


def test_fit_reduces_the_loss_and_returns_history():
    x, y = _regression()
    model = _mlp()
    model.compile(optimizers.Adam(0.01), "mse", metrics=["mae"])
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after[0] < 0.5 * before[0]
    assert history.epoch == list(range(15))
    assert list(history.history) == ["loss", "mae"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.metrics_names == ["loss", "mae"]


def test_unbuilt_sequential_and_string_optimizer():
    x, y = _classification()
    model = gn.Sequential([L.Dense(16, activation="relu"), L.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["acc"])
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert history.history["acc"][-1] > history.history["acc"][0]
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]
    assert isinstance(model.optimizer, optimizers.Adam)


@needs(keras)
def test_training_step_matches_keras():
    """Loss, metrics and weights after a few SGD steps, against keras on the same weights."""
    x, y = _classification(n=64)
    reg = dict(kernel_regularizer=regularizers.L2(0.01))
    model = gn.Sequential([gn.Input((6,)), L.Dense(8, activation="tanh", **reg),
                           L.Dense(4, activation="softmax")])
    kmodel = keras.Sequential([keras.Input((6,)), keras.layers.Dense(
        8, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.01)),
        keras.layers.Dense(4, activation="softmax")])
    kmodel.set_weights(model.get_weights())
    model.compile(optimizers.SGD(0.1, momentum=0.5), "sparse_categorical_crossentropy",
                  metrics=["accuracy", gn.metrics.SparseTopKCategoricalAccuracy(k=2)])
    kmodel.compile(keras.optimizers.SGD(0.1, momentum=0.5), "sparse_categorical_crossentropy",
                   metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2)])
    ours = model.evaluate(x, y, batch_size=20, verbose=0)
    theirs = kmodel.evaluate(x, y, batch_size=20, verbose=0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    h = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    kh = kmodel.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(h.history[key], kh.history[key], rtol=1e-4)
    for a, b in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_multi_output_losses_weights_and_metric_names():
    x, y = _classification(n=60)
    rng = np.random.default_rng(2)
    y_reg = rng.standard_normal((60, 1)).astype("float32")
    inp = gn.Input((6,))
    hidden = L.Dense(8, activation="relu", name="hidden")(inp)
    cls = L.Dense(4, activation="softmax", name="cls")(hidden)
    out_reg = L.Dense(1, name="reg")(hidden)
    model = gn.Model(inp, [cls, out_reg])
    compile_args = dict(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                        loss_weights={"cls": 1.0, "reg": 0.5},
                        metrics={"cls": ["accuracy"], "reg": ["mae"]})
    model.compile("sgd", **compile_args)
    assert model.metrics_names == ["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"]
    ours = model.evaluate(x, [y, y_reg], verbose=0, return_dict=True)
    if compare_with(keras, "evaluate's results against Keras's"):
        kin = keras.Input((6,))
        kh = keras.layers.Dense(8, activation="relu", name="hidden")(kin)
        kmodel = keras.Model(kin, [keras.layers.Dense(4, activation="softmax", name="cls")(kh),
                                   keras.layers.Dense(1, name="reg")(kh)])
        kmodel.set_weights(model.get_weights())
        kmodel.compile("sgd", **compile_args)
        theirs = kmodel.evaluate(x, [y, y_reg], verbose=0, return_dict=True)
        assert set(ours) == set(theirs)
        for key in theirs:
            assert ours[key] == pytest.approx(theirs[key], rel=1e-5), key
    assert ours["loss"] == pytest.approx(ours["cls_loss"] + 0.5 * ours["reg_loss"], rel=1e-6)
    history = model.fit(x, {"cls": y, "reg": y_reg}, epochs=2, verbose=0,
                        validation_split=0.2)
    assert set(history.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy",
                                    "reg_mae", "val_loss", "val_cls_loss", "val_reg_loss",
                                    "val_cls_accuracy", "val_reg_mae"}
    model.compile("sgd", loss=["sparse_categorical_crossentropy", None])
    assert model.metrics_names == ["loss", "cls_loss"]
    loss = model.evaluate(x, [y, y_reg], verbose=0)
    assert loss[0] == pytest.approx(loss[1])


def test_validation_split_uses_the_last_samples():
    x, y = _regression(n=100)
    model = _mlp()
    model.compile(optimizers.SGD(0.05), "mse")
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.2, verbose=0)
    held_out = model.evaluate(x[80:], y[80:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(held_out, rel=1e-6)
    history = model.fit(x, y, epochs=1, validation_data=(x[:10], y[:10], np.ones(10)),
                        verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(
        model.evaluate(x[:10], y[:10], verbose=0), rel=1e-6)
    with pytest.raises(ValueError, match="not sufficient to split"):
        model.fit(x[:1], y[:1], validation_split=0.1, verbose=0)


def test_last_smaller_batch_gets_its_own_plan():
    x, y = _regression(n=70)
    model = _mlp()
    model.compile(optimizers.SGD(0.01), "mse")
    batches = []
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[
        gn.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: batches.append(b))])
    assert batches == [0, 1, 2, 0, 1, 2]
    (train_step,) = [fn for key, fn in model._step_fns.items() if key[0]]
    assert sorted(shape[0][0] for shape in train_step._cache) == [6, 32]
    assert int(model.optimizer.iterations.value) == 6


def test_steps_per_epoch_continues_through_the_data():
    x, y = _regression(n=50)
    model = _mlp()
    model.compile(optimizers.SGD(0.01), "mse")
    seen = []
    model.fit(x, y, epochs=3, batch_size=20, steps_per_epoch=2, shuffle=False, verbose=0,
              callbacks=[gn.callbacks.LambdaCallback(
                  on_train_batch_begin=lambda b, logs: seen.append(b))])
    assert seen == [0, 1] * 3
    (train_step,) = [fn for key, fn in model._step_fns.items() if key[0]]
    # batches of 20, 20, 10 (end of data), then 20, 20, 10 again
    assert sorted(shape[0][0] for shape in train_step._cache) == [10, 20]
    assert int(model.optimizer.iterations.value) == 6


def test_epoch_loss_is_the_batch_size_weighted_mean():
    x, y = _regression(n=40)
    model = _mlp()
    model.compile(optimizers.SGD(0.0), "mse")
    per_batch = []
    history = model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for start in range(0, 40, 16):
        per_batch.append((model.test_on_batch(x[start:start + 16], y[start:start + 16]),
                          len(x[start:start + 16])))
    expected = sum(v * n for v, n in per_batch) / 40
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-6)
    assert model.evaluate(x, y, batch_size=16, verbose=0) == pytest.approx(expected, rel=1e-6)


def test_sample_and_class_weights():
    x, y = _classification(n=40)
    model = gn.Sequential([gn.Input((6,)), L.Dense(4, activation="softmax")])
    model.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    assert model.metrics_names == ["loss", "accuracy", "weighted_accuracy"]
    probs = model.predict(x, verbose=0)
    per_sample = -np.log(np.clip(probs[np.arange(40), y], 1e-7, 1))
    sw = np.random.default_rng(0).random(40).astype("float32")
    loss, acc, weighted_acc = model.evaluate(x, y, sample_weight=sw, batch_size=40,
                                             verbose=0)
    assert loss == pytest.approx(float(np.sum(per_sample * sw) / 40), rel=1e-5)
    hits = (np.argmax(probs, 1) == y).astype("float64")
    assert acc == pytest.approx(float(np.mean(hits)), rel=1e-5)   # metrics: unweighted
    assert weighted_acc == pytest.approx(float(np.sum(hits * sw) / np.sum(sw)), rel=1e-5)
    class_weight = {0: 2.0, 1: 0.5, 3: 0.0}
    weights = np.array([class_weight.get(int(c), 1.0) for c in y], "float32")
    start = model.get_weights()
    model.train_on_batch(x, y, class_weight=class_weight)
    by_class = model.get_weights()
    model.set_weights(start)
    model.train_on_batch(x, y, sample_weight=weights)
    for a, b in zip(by_class, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError, match="class_weight` and `sample_weight"):
        model.fit(x, y, class_weight=class_weight, sample_weight=weights, verbose=0)


def test_regularization_penalties_are_in_the_loss():
    x, y = _regression(n=20)
    model = gn.Sequential([gn.Input((6,)), L.Dense(3, kernel_regularizer=regularizers.L2(0.1),
                                                   activity_regularizer=regularizers.L1(0.01)),
                           L.Dense(2)])
    model.compile(optimizers.SGD(0.0), "mse")
    kernel, bias, k2, b2 = model.get_weights()
    hidden = x @ kernel + bias
    out = hidden @ k2 + b2
    expected = np.mean((out - y) ** 2) + 0.1 * np.sum(kernel ** 2) + \
        0.01 * np.sum(np.abs(hidden)) / 20
    assert model.evaluate(x, y, batch_size=20, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_dropout_is_on_only_while_training():
    x, y = _regression(n=64)
    model = gn.Sequential([gn.Input((6,)), L.Dense(32, activation="relu"), L.Dropout(0.5),
                           L.Dense(2)])
    model.compile(optimizers.SGD(0.0), "mse")
    a = model.evaluate(x, y, verbose=0)
    assert model.evaluate(x, y, verbose=0) == a
    losses_seen = {round(model.train_on_batch(x, y), 6) for _ in range(3)}
    assert len(losses_seen) == 3 and a not in losses_seen


def test_inference_leaves_the_dropout_stream_where_it_was():
    """Predicting (compiled or reference) draws no dropout mask, so it does not move the
    random state: training after it takes the same steps as training without it."""
    x, y = _regression(n=32)

    def losses(predict_backend):
        gn.utils.set_random_seed(9)
        model = gn.Sequential([gn.Input((6,)), L.Dense(16), L.Dropout(0.5), L.Dense(2)])
        model.compile(optimizers.SGD(0.01), "mse")
        if predict_backend:
            model.predict_on_batch(x, backend=predict_backend)
        return [model.train_on_batch(x, y) for _ in range(2)]

    assert losses(None) == losses("c") == losses("reference")


def test_data_of_no_samples_is_refused_as_keras_refuses_it():
    x, y = _regression(n=8)
    model = gn.Sequential([gn.Input((6,)), L.Dense(2)])
    model.compile(optimizers.SGD(0.1), "mse")
    before = model.get_weights()
    empty_x, empty_y = x[:0], y[:0]
    calls = {"fit": lambda: model.fit(empty_x, empty_y, verbose=0),
             "evaluate": lambda: model.evaluate(empty_x, empty_y, verbose=0),
             "train_on_batch": lambda: model.train_on_batch(empty_x, empty_y),
             "test_on_batch": lambda: model.test_on_batch(empty_x, empty_y),
             r"fit \(validation data\)": lambda: model.fit(
                 x, y, validation_data=(empty_x, empty_y), verbose=0)}
    for what, call in calls.items():
        with pytest.raises(ValueError, match=rf"{what} got data of 0 samples \(inputs of "
                                             r"shape \(0, 6\)\); expected at least one"):
            call()
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_accuracy_is_resolved_from_the_loss_and_shapes():
    x, y = _classification(n=40)
    onehot = gn.utils.to_categorical(y, 4)
    binary = (y > 1).astype("float32")[:, None]
    cases = [(_mlp(4, "softmax"), "categorical_crossentropy", onehot, "CategoricalAccuracy"),
             (_mlp(4, "softmax"), "sparse_categorical_crossentropy", y,
              "SparseCategoricalAccuracy"),
             (_mlp(1, "sigmoid"), "binary_crossentropy", binary, "BinaryAccuracy"),
             (_mlp(4, "softmax"), "crossentropy", y, "SparseCategoricalAccuracy")]
    for model, loss, target, expected in cases:
        model.compile("sgd", loss, metrics=["accuracy"])
        model.evaluate(x, target, verbose=0)
        (_, name, metric, _), = model._resolved[1][2]
        assert type(metric).__name__ == expected and name == "accuracy"


def test_train_and_test_on_batch_return_values():
    x, y = _classification(n=32)
    model = _mlp(4, "softmax")
    model.compile("rmsprop", "sparse_categorical_crossentropy")
    assert isinstance(model.train_on_batch(x, y), float)
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    values = model.test_on_batch(x, y)
    assert isinstance(values, list) and len(values) == 2
    logs = model.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}


def _repeated_steps(model, x, y, steps=3, **kwargs):
    return [model.train_on_batch(x, y, **kwargs) for _ in range(steps)], model.get_weights()


def test_repeated_batches_skip_the_checks_with_the_same_results():
    """A batch shaped like a checked one runs the remembered step: the same losses and
    weights as steps that go through every check (sample weights of one)."""
    x, y = _regression(n=32)
    fast, checked = _mlp(2), _mlp(2)
    checked.set_weights(fast.get_weights())
    fast.compile(optimizers.Adam(0.01), "mse")
    checked.compile(optimizers.Adam(0.01), "mse")
    losses, weights = _repeated_steps(fast, x, y)
    assert len(fast._repeat_steps) == 1
    want_losses, want_weights = _repeated_steps(checked, x, y, sample_weight=np.ones(32, "f4"))
    assert checked._repeat_steps == {}
    np.testing.assert_array_equal(losses, want_losses)
    for a, b in zip(weights, want_weights):
        np.testing.assert_array_equal(a, b)


def test_repeated_batches_still_check_what_varies():
    """Sparse labels are checked on every batch; another shape or dtype, or a new
    compile, goes through the checks again."""
    x, y = _classification(n=16)
    model = _mlp(4, "softmax")
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.train_on_batch(x, y.astype("float32"))
    assert model._repeat_steps == {}
    with pytest.raises(ValueError, match="sparse labels must be integers in"):
        model.train_on_batch(x, np.full(16, 7, "float32"))
    model.compile("sgd", "mse")
    target = np.eye(4, dtype="float32")[y]
    model.train_on_batch(x, target)
    with pytest.raises(ValueError, match="incompatible with the output"):
        model.train_on_batch(x, target[:, :3].copy())
    with pytest.raises(ValueError, match="samples"):
        model.train_on_batch(x, target[:8].copy())
    mse = model.test_on_batch(x, target)
    model.compile("sgd", "mae")
    assert model._repeat_steps == {}
    mae = model.test_on_batch(x, target)    # the loss before this step's update
    assert model.train_on_batch(x.astype("float64"), target) == pytest.approx(mae, rel=1e-6)
    assert mae != pytest.approx(mse, rel=1e-3)


def test_compiled_and_reference_steps_agree():
    x, y = _classification(n=48)
    weights = None
    results = {}
    for backend in ("c", "reference"):
        model = _mlp(4, "softmax")
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        model.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                      metrics=["accuracy"], backend=backend)
        history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        results[backend] = (history.history, model.get_weights())
    np.testing.assert_allclose(results["c"][0]["loss"], results["reference"][0]["loss"],
                               rtol=1e-4)
    for a, b in zip(results["c"][1], results["reference"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_error_messages():
    x, y = _classification(n=20)
    model = _mlp(4, "softmax")
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="Unknown loss 'mse2'"):
        model.compile("sgd", "mse2")
    with pytest.raises(ValueError, match="Unknown metric 'accurracy'"):
        model.compile("sgd", "mse", metrics=["accurracy"])
    with pytest.raises(ValueError, match="Unknown optimizer 'sgdd'"):
        model.compile("sgdd", "mse")
    model.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ValueError, match=r"shape \(20, 3\).*output's shape \(None, 4\)"):
        model.fit(x, np.zeros((20, 3)), verbose=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    bad = y.copy()
    bad[7] = 4
    with pytest.raises(ValueError, match=r"in \[0, 4\); got 4 \(sample 7\)"):
        model.fit(x, bad, verbose=0)
    bad = y.astype("float32")
    bad[3] = 1.5
    with pytest.raises(ValueError, match="got 1.5"):
        model.train_on_batch(x, bad)
    with pytest.raises(ValueError, match=r"shape \(20, 2\)"):
        model.evaluate(x, np.zeros((20, 2)), verbose=0)
    with pytest.raises(ValueError, match="20 samples"):
        model.fit(x, y[:10], verbose=0)
    with pytest.raises(ValueError, match="no loss"):
        model.compile("sgd")
        model.fit(x, y, verbose=0)


# ---- the Keras mnist_mlp example on real MNIST images ----------------------------------------

def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _mnist():
    """The first 8,000 t10k images to train on, the last 2,000 held out; x / 255."""
    try:
        from graphnet.datasets.mnist import load_split
    except ImportError:
        load_split = None
    if load_split is not None:
        (x_train, y_train), (x_test, y_test) = load_split(8000, path=MNIST_DIR, download=False)
        x, y = np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])
    else:
        x = _read_idx(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz"))
        y = _read_idx(os.path.join(MNIST_DIR, "t10k-labels-idx1-ubyte.gz"))
    x = x.reshape(len(x), 784).astype("float32") / 255
    return (x[:8000], y[:8000]), (x[8000:], y[8000:])


@pytest.mark.skipif(not os.path.exists(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz")),
                    reason="MNIST files not found")
def test_mnist_mlp_reaches_95_percent():
    (x_train, y_train), (x_test, y_test) = _mnist()
    assert x_train.shape == (8000, 784) and x_test.shape == (2000, 784)
    model = gn.Sequential([gn.Input((784,)), L.Dense(512, activation="relu"), L.Dropout(0.2),
                           L.Dense(512, activation="relu"), L.Dropout(0.2),
                           L.Dense(10, activation="softmax")])
    model.compile(optimizers.RMSprop(), losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    start = time.time()
    history = model.fit(x_train, y_train, batch_size=128, epochs=8, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    elapsed = time.time() - start
    print(f"\nmnist_mlp: held-out accuracy {accuracy:.4f} (loss {loss:.4f}) after 8 epochs "
          f"on 8,000 images, {elapsed:.1f} s")
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy >= 0.95  # (~6-20 s here; timing is printed, not asserted)


def test_fit_updates_batch_normalization_moving_statistics_in_the_step():
    import graphnet as gn
    from graphnet import layers as L
    inp = gn.Input((4,))
    bn = L.BatchNormalization(momentum=0.5)
    model = gn.Model(inp, L.Dense(1)(bn(inp)))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.RandomState(0).randn(16, 4).astype("float32") * 3 + 2
    model.fit(x, np.zeros((16, 1)), batch_size=16, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(bn.moving_mean.value, 0.5 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.value, 0.5 + 0.5 * x.var(0), rtol=1e-4)


# ---- sparse label range ---------------------------------------------------------------

def _sparse_classifier(loss):
    model = gn.Sequential([gn.Input((6,)), L.Dense(4)])
    model.compile(optimizer="sgd", loss=loss)
    return model


def test_sparse_labels_out_of_range_name_the_output_and_value():
    x, y = _classification(n=8)
    y[3] = 4
    model = _sparse_classifier(losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match=r"4 classes.*\[0, 4\); got 4 \(sample 3\)"):
        model.evaluate(x, y, verbose=0)


def test_sparse_labels_equal_to_ignore_class_are_accepted_and_left_out():
    x, y = _classification(n=8)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
    model = _sparse_classifier(loss)
    marked = y.copy()
    marked[[1, 5]] = 255
    kept = marked != 255
    got = model.evaluate(x, marked, verbose=0, batch_size=8)
    want = model.evaluate(x[kept], y[kept], verbose=0, batch_size=8)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    marked[2] = 7  # still out of range and not the ignored label
    with pytest.raises(ValueError, match="got 7"):
        model.evaluate(x, marked, verbose=0)


# ---- weighted_metrics ------------------------------------------------------------------------

def _assert_logs_match(ours, theirs, rtol=1e-5):
    assert set(ours) == set(theirs), (sorted(ours), sorted(theirs))
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=rtol, atol=1e-6, err_msg=key)


@needs(keras)
def test_weighted_metrics_match_keras_single_output():
    """metrics ignore sample_weight / class_weight, weighted_metrics use them; names
    (weighted_ prefix for a taken name, _1 for a repeat) and values as in Keras."""
    x, y = _classification(n=50)
    sw = np.random.default_rng(5).random(50).astype("float32") * 2
    model = gn.Sequential([gn.Input((6,)), L.Dense(8, activation="tanh"),
                           L.Dense(4, activation="softmax")])
    kmodel = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                               keras.layers.Dense(4, activation="softmax")])
    kmodel.set_weights(model.get_weights())
    ignoring = dict(ignore_class=0)   # masked only where weights are given, as in Keras
    model.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  metrics=["accuracy", gn.metrics.SparseCategoricalCrossentropy(**ignoring)],
                  weighted_metrics=["accuracy", "sparse_categorical_crossentropy", "accuracy",
                                    gn.metrics.SparseCategoricalCrossentropy(**ignoring)])
    kmodel.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                   metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(
                       **ignoring)],
                   weighted_metrics=["accuracy", "sparse_categorical_crossentropy",
                                     "accuracy",
                                     keras.metrics.SparseCategoricalCrossentropy(**ignoring)])
    assert model.metrics_names == [
        "loss", "accuracy", "sparse_categorical_crossentropy", "weighted_accuracy",
        "weighted_sparse_categorical_crossentropy", "weighted_accuracy_1",
        "weighted_sparse_categorical_crossentropy_1"]
    for weights in (sw, None):
        ours = model.evaluate(x, y, sample_weight=weights, batch_size=16, verbose=0,
                              return_dict=True)
        theirs = kmodel.evaluate(x, y, sample_weight=weights, batch_size=16, verbose=0,
                                 return_dict=True)
        _assert_logs_match(ours, theirs)
        assert list(ours) == model.metrics_names
    _assert_logs_match(model.test_on_batch(x[:20], y[:20], sample_weight=sw[:20],
                                           return_dict=True),
                       kmodel.test_on_batch(x[:20], y[:20], sample_weight=sw[:20],
                                            return_dict=True))
    _assert_logs_match(model.train_on_batch(x[:20], y[:20], sample_weight=sw[:20],
                                            return_dict=True),
                       kmodel.train_on_batch(x[:20], y[:20], sample_weight=sw[:20],
                                             return_dict=True))
    fit = dict(batch_size=16, epochs=2, shuffle=False, verbose=0,
               validation_data=(x[:10], y[:10], sw[:10]))
    h = model.fit(x, y, sample_weight=sw, **fit)
    kh = kmodel.fit(x, y, sample_weight=sw, **fit)
    _assert_logs_match(h.history, kh.history, rtol=1e-4)
    class_weight = {0: 2.0, 1: 0.5, 3: 0.0}
    h = model.fit(x, y, class_weight=class_weight, **fit)
    kh = kmodel.fit(x, y, class_weight=class_weight, **fit)
    _assert_logs_match(h.history, kh.history, rtol=1e-4)
    _assert_logs_match(model.train_on_batch(x, y, class_weight=class_weight,
                                            return_dict=True),
                       kmodel.train_on_batch(x, y, class_weight=class_weight,
                                             return_dict=True), rtol=1e-4)
    for a, b in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@needs(keras)
@pytest.mark.parametrize("forms", ["dict", "lists"])
def test_weighted_metrics_match_keras_multi_output(forms):
    x, y = _classification(n=60)
    rng = np.random.default_rng(2)
    y_reg = rng.standard_normal((60, 1)).astype("float32")
    sw = rng.random(60).astype("float32")
    inp = gn.Input((6,))
    hidden = L.Dense(8, activation="relu", name="hidden")(inp)
    model = gn.Model(inp, [L.Dense(4, activation="softmax", name="cls")(hidden),
                           L.Dense(1, name="reg")(hidden)])
    kin = keras.Input((6,))
    kh = keras.layers.Dense(8, activation="relu", name="hidden")(kin)
    kmodel = keras.Model(kin, [keras.layers.Dense(4, activation="softmax", name="cls")(kh),
                               keras.layers.Dense(1, name="reg")(kh)])
    kmodel.set_weights(model.get_weights())
    if forms == "dict":
        metric_args = dict(metrics={"cls": ["accuracy"]},
                           weighted_metrics={"cls": ["accuracy"], "reg": ["mae", "mse"]})
        names = ["cls_accuracy", "cls_weighted_accuracy", "reg_mae", "reg_mse"]
    else:
        metric_args = dict(metrics=[["accuracy"], ["mae"]],
                           weighted_metrics=[["accuracy"], ["mae"]])
        names = ["cls_accuracy", "reg_mae", "cls_weighted_accuracy", "reg_weighted_mae"]
    compile_args = dict(loss=["sparse_categorical_crossentropy", "mse"],
                        loss_weights=[1.0, 0.5], **metric_args)
    model.compile(optimizers.SGD(0.05), **compile_args)
    kmodel.compile(keras.optimizers.SGD(0.05), **compile_args)
    assert model.metrics_names == ["loss", "cls_loss", "reg_loss"] + names
    ours = model.evaluate(x, [y, y_reg], sample_weight=sw, verbose=0, return_dict=True)
    theirs = kmodel.evaluate(x, [y, y_reg], sample_weight=sw, verbose=0, return_dict=True)
    _assert_logs_match(ours, theirs)
    fit = dict(batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
    h = model.fit(x, [y, y_reg], sample_weight=sw, **fit)
    kh = kmodel.fit(x, [y, y_reg], sample_weight=sw, **fit)
    _assert_logs_match(h.history, kh.history, rtol=1e-4)


def test_weighted_metrics_per_output_sample_weights():
    """A dict of sample weights weights each output's weighted metrics by its own; an
    output without weights gets the unweighted mean."""
    x, y = _classification(n=30)
    y_reg = np.random.default_rng(4).standard_normal((30, 1)).astype("float32")
    sw = np.random.default_rng(6).random(30).astype("float32")
    inp = gn.Input((6,))
    cls = L.Dense(4, activation="softmax", name="cls")(inp)
    reg = L.Dense(1, name="reg")(inp)
    model = gn.Model(inp, [cls, reg])
    model.compile("sgd", ["sparse_categorical_crossentropy", "mae"],
                  weighted_metrics=[["accuracy"], ["mae"]])
    cls_p, reg_p = model.predict(x, verbose=0)
    logs = model.evaluate(x, [y, y_reg], sample_weight={"cls": sw}, batch_size=30,
                          verbose=0, return_dict=True)
    hits = (np.argmax(cls_p, 1) == y).astype("float64")
    assert logs["cls_accuracy"] == pytest.approx(np.sum(hits * sw) / np.sum(sw), rel=1e-5)
    assert logs["reg_mae"] == pytest.approx(np.mean(np.abs(reg_p - y_reg)), rel=1e-5)


def test_weighted_metrics_bad_input():
    x, y = _classification(n=20)
    model = gn.Sequential([gn.Input((6,)), L.Dense(4, activation="softmax")])
    with pytest.raises(ValueError, match=r"weighted_metrics=\['accuracy', 'nope'\].*"
                                         r"Unknown metric 'nope'"):
        model.compile("sgd", "sparse_categorical_crossentropy",
                      weighted_metrics=["accuracy", "nope"])
    with pytest.raises(ValueError, match=r"compile: metrics=\['nope'\]"):
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["nope"])
    inp = gn.Input((6,))
    two = gn.Model(inp, [L.Dense(4, activation="softmax", name="cls")(inp),
                         L.Dense(1, name="reg")(inp)])
    with pytest.raises(ValueError, match=r"Unknown entries in weighted_metrics dictionary: "
                                         r"\['foo'\].*\['cls', 'reg'\].*"
                                         r"weighted_metrics=\{'foo': \['mae'\]\}"):
        two.compile("sgd", ["sparse_categorical_crossentropy", "mse"],
                    weighted_metrics={"foo": ["mae"]})
    with pytest.raises(ValueError, match=r"one entry per model output.*"
                                         r"weighted_metrics=\[\['accuracy'\]\]"):
        two.compile("sgd", ["sparse_categorical_crossentropy", "mse"],
                    weighted_metrics=[["accuracy"]])
    # a model whose outputs are not known at compile time: the check runs at fit
    lazy = gn.Sequential([L.Dense(4, activation="softmax", name="probs")])
    lazy.compile("sgd", "sparse_categorical_crossentropy",
                 weighted_metrics={"logits": ["accuracy"]})
    with pytest.raises(ValueError, match=r"Unknown entries in weighted_metrics dictionary: "
                                         r"\['logits'\]"):
        lazy.fit(x, y, verbose=0)


def test_compile_keeps_the_inference_plans_unless_jit_compile_changes_their_phases():
    model = gn.Sequential([gn.Input((4,)), gn.layers.Dense(2)])
    x = np.ones((3, 4), "f4")
    model.predict(x, verbose=0)
    first = model.predict_function()
    model.compile(optimizer="sgd", loss="mse")
    assert model.predict_function() is first
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    unfused = model.predict_function()
    assert unfused is not first and "fuse" not in unfused.phases
    np.testing.assert_allclose(unfused(x), first(x), atol=1e-6)
