"""fit / evaluate / predict on generators, iterables, gn.utils.PyDataset (threads and
processes) and torch DataLoaders: the same weights as the array path for the same
batches, Keras 3's steps and shuffle rules, and a clear error for each bad input."""
import itertools
import threading
import warnings

import numpy as np
import pytest

import graphnet as gn
from extras import keras, needs, torch

N, BATCH = 48, 16
RNG = np.random.RandomState(0)
X = RNG.rand(N, 5).astype("float32")
Y = RNG.rand(N, 3).astype("float32")
W = RNG.rand(N).astype("float32")


def _model(seed=1, units=3):
    gn.utils.set_random_seed(seed)
    inputs = gn.Input((5,))
    model = gn.Model(inputs, gn.layers.Dense(units)(gn.layers.Dense(4, activation="tanh")(
        inputs)))
    model.compile("sgd", "mse", metrics=["mae"])
    return model


def _batches(*arrays):
    return [tuple(a[i:i + BATCH] for a in arrays) for i in range(0, N, BATCH)]


def _array_weights(epochs=2, **kwargs):
    model = _model()
    model.fit(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0, **kwargs)
    return model.get_weights()


def _assert_same_weights(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def _repeat_forever(batches, counter=None):
    for batch in itertools.cycle(batches):
        if counter is not None:
            counter.append(1)
        yield batch


class Batches(gn.utils.PyDataset):
    """A PyDataset of fixed batches; records the indices read and the epoch ends."""

    def __init__(self, batches, **kwargs):
        super().__init__(**kwargs)
        self.batches, self.read, self.epoch_ends = batches, [], 0

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        self.read.append(index)
        return self.batches[index]

    def on_epoch_end(self):
        self.epoch_ends += 1


class Reiterable:
    """A plain iterable: iterated anew every epoch."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


@pytest.mark.parametrize("kind", ["infinite generator", "iterable", "PyDataset",
                                  "PyDataset, 3 threads", "PyDataset, 2 processes"])
def test_sources_train_like_the_array_path(kind):
    batches = _batches(X, Y)
    model = _model()
    if kind == "infinite generator":
        model.fit(_repeat_forever(batches), steps_per_epoch=3, epochs=2, verbose=0,
                  shuffle=False)
    elif kind == "iterable":
        model.fit(Reiterable(batches), epochs=2, verbose=0, shuffle=False)
    else:
        workers = {"PyDataset": 1, "PyDataset, 3 threads": 3, "PyDataset, 2 processes": 2}
        data = Batches(batches, workers=workers[kind],
                       use_multiprocessing=kind.endswith("processes"), max_queue_size=2)
        model.fit(data, epochs=2, verbose=0, shuffle=False)
        assert data.epoch_ends == 2
        if not kind.endswith("processes"):  # read in this process: each batch once an epoch
            assert sorted(data.read) == [0, 0, 1, 1, 2, 2]
    _assert_same_weights(model.get_weights(), _array_weights())


@needs(torch)
def test_torch_dataloader_trains_like_the_array_path():
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=False)
    model = _model()
    with pytest.warns(UserWarning, match="ignored since the data `x` was provided as a "
                                         "torch DataLoader"):
        model.fit(loader, epochs=2, verbose=0)
    _assert_same_weights(model.get_weights(), _array_weights())
    np.testing.assert_allclose(model.predict(loader, verbose=0), model.predict(X, verbose=0),
                               rtol=1e-6)
    assert model.evaluate(loader, verbose=0) == pytest.approx(model.evaluate(X, Y, verbose=0))


def test_sample_and_class_weights_from_batches():
    model = _model()
    model.fit(_repeat_forever(_batches(X, Y, W)), steps_per_epoch=3, epochs=2, verbose=0,
              shuffle=False)
    _assert_same_weights(model.get_weights(), _array_weights(sample_weight=W))
    labels = (Y[:, :1] > 0.5).astype("float32")
    class_weight = {0: 0.25, 1: 2.0}
    for data in (_repeat_forever(_batches(X, labels)), Batches(_batches(X, labels))):
        model = _model(units=1)
        model.fit(data, steps_per_epoch=3, epochs=2, verbose=0, shuffle=False,
                  class_weight=class_weight)
        reference = _model(units=1)
        reference.fit(X, labels, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                      class_weight=class_weight)
        _assert_same_weights(model.get_weights(), reference.get_weights())


def test_dict_and_list_inputs_from_a_generator():
    def build():
        gn.utils.set_random_seed(3)
        a, b = gn.Input((2,), name="a"), gn.Input((3,), name="b")
        model = gn.Model([a, b], gn.layers.Dense(3)(gn.layers.Concatenate()([a, b])))
        model.compile("sgd", "mse")
        return model
    reference = build()
    reference.fit({"a": X[:, :2], "b": X[:, 2:]}, Y, batch_size=BATCH, shuffle=False,
                  verbose=0)
    by_dict, by_list = build(), build()
    by_dict.fit((({"a": x[:, :2], "b": x[:, 2:]}, y) for x, y in _batches(X, Y)), verbose=0,
                shuffle=False)
    by_list.fit(Reiterable([([x[:, :2], x[:, 2:]], y) for x, y in _batches(X, Y)]),
                verbose=0, shuffle=False)
    _assert_same_weights(by_dict.get_weights(), reference.get_weights())
    _assert_same_weights(by_list.get_weights(), reference.get_weights())


def test_predict_and_evaluate_on_sources():
    model = _model()
    expected = model.predict(X, verbose=0)
    x_only = [(x,) for (x,) in _batches(X)]
    np.testing.assert_allclose(model.predict(iter(x_only), verbose=0), expected, rtol=1e-6)
    bare = Batches([x for (x,) in _batches(X)])  # a PyDataset may return a lone array
    np.testing.assert_allclose(model.predict(bare, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(iter(_batches(X, Y)), verbose=0), expected,
                               rtol=1e-6)  # targets in the batches are ignored
    loss, mae = model.evaluate(X, Y, verbose=0)
    assert model.evaluate(Batches(_batches(X, Y)), verbose=0) == pytest.approx([loss, mae])
    first_two = model.evaluate(X[:32], Y[:32], verbose=0)
    assert model.evaluate(_repeat_forever(_batches(X, Y)), steps=2, verbose=0) == \
        pytest.approx(first_two)
    sequential = gn.Sequential([gn.layers.Dense(2)])  # built from the first batch
    assert sequential.predict(iter(x_only), verbose=0).shape == (N, 2)


def test_steps_per_epoch_continues_the_stream_and_reads_no_batch_ahead():
    counter = []
    stream = _repeat_forever(_batches(X, Y), counter)
    model = _model()
    model.fit(stream, steps_per_epoch=2, epochs=3, verbose=0, shuffle=False)
    assert len(counter) == 6  # two an epoch, and none read ahead and lost
    model.fit(stream, steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
    assert len(counter) == 7
    reference = _model()  # the 6 batches in order, cycling through the data twice
    reference.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    reference.fit(X[:BATCH], Y[:BATCH], batch_size=BATCH, shuffle=False, verbose=0)
    _assert_same_weights(model.get_weights(), reference.get_weights())


def test_a_finite_generator_running_out_ends_the_epoch_then_training():
    seen = []
    model = _model()
    counting = gn.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(batch))
    with pytest.warns(UserWarning, match="Your input ran out of data"):
        history = model.fit((b for b in _batches(X, Y) * 2), steps_per_epoch=4, epochs=5,
                            verbose=0, callbacks=[counting], shuffle=False)
    assert seen == [0, 1, 2, 3, 0, 1]  # 6 batches: 4, then 2 and the warning, then none
    assert history.epoch == [0, 1]
    model = _model()
    history = model.fit(iter(_batches(X, Y)), epochs=1, verbose=0, shuffle=False)
    assert history.epoch == [0]  # one whole pass, no steps_per_epoch: no warning
    _assert_same_weights(model.get_weights(), _array_weights(epochs=1))


def test_pydataset_steps_shuffle_and_epoch_hooks():
    data = Batches(_batches(X, Y))
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a finite PyDataset shuffles: no warning
        model.fit(data, epochs=4, verbose=0)
    assert data.epoch_ends == 4 and len(data.read) == 12
    orders = [tuple(data.read[i:i + 3]) for i in range(0, 12, 3)]
    assert all(sorted(order) == [0, 1, 2] for order in orders)
    assert len(set(orders)) > 1  # reshuffled (the chance of 4 equal orders: 1/216)
    data = Batches(_batches(X, Y))
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(data, steps_per_epoch=2, epochs=3, verbose=0, shuffle=False)
    # Keras's rule: the stream continues; the pass ends epoch 2 early; a new pass follows
    assert data.read == [0, 1, 2, 0, 1]
    data = Batches(_batches(X, Y))
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(data, steps_per_epoch=5, epochs=1, verbose=0, shuffle=False)
    assert data.read == [0, 1, 2]


def test_validation_from_sources():
    model = _model()
    history = model.fit(X, Y, batch_size=BATCH, epochs=4, verbose=0, shuffle=False,
                        validation_data=Batches(_batches(X, Y)), validation_freq=[2, 4])
    assert len(history.history["val_loss"]) == 2
    reference = _model()
    reference_history = reference.fit(X, Y, batch_size=BATCH, epochs=4, verbose=0,
                                      shuffle=False, validation_data=(X, Y),
                                      validation_freq=2)
    np.testing.assert_allclose(history.history["val_loss"],
                               reference_history.history["val_loss"], rtol=1e-6)
    history = model.fit(X, Y, batch_size=BATCH, epochs=2, verbose=0,
                        validation_data=_repeat_forever(_batches(X, Y)), validation_steps=1)
    assert len(history.history["val_mae"]) == 2
    with pytest.raises(ValueError, match="validation_freq must be an integer >= 1"):
        model.fit(X, Y, verbose=0, validation_data=(X, Y), validation_freq=0)


def test_batches_are_read_in_a_background_thread():
    threads = []

    def batches():
        for batch in _batches(X, Y):
            threads.append(threading.current_thread())
            yield batch
    _model().fit(batches(), verbose=0, shuffle=False)
    assert len(threads) == 3 and all(t is not threading.main_thread() for t in threads)


def _fit(data, **kwargs):
    kwargs.setdefault("verbose", 0)
    kwargs.setdefault("shuffle", False)
    return _model().fit(data, **kwargs)


def test_bad_batches_give_clear_errors():
    x, y = X[:BATCH], Y[:BATCH]
    with pytest.raises(ValueError, match="must yield tuples.*Received batch 0 of the "
                                         "generator: list"):
        _fit(iter([[x, y]]))
    with pytest.raises(ValueError, match="batch 1 of the generator is a tuple of 4 items"):
        _fit(iter([(x, y), (x, y, y[:, 0], y)]))
    with pytest.raises(TypeError, match="y of batch 0 of the generator must be an array of "
                                        "numbers with a batch axis, got ndarray of dtype <U1"):
        _fit(iter([(x, np.array(["a"] * BATCH))]))
    with pytest.raises(TypeError, match=r"x of batch 0 of the generator\[1\] must be an "
                                        "array .* got NoneType"):
        _fit(iter([([x, None], y)]))
    with pytest.raises(ValueError, match="fit: batch 1 of the generator: .*the inputs have 16 "
                                         "samples but the target .* has shape \\(8, 3\\)"):
        _fit(iter([(x, y), (x, y[:8])]))
    with pytest.raises(ValueError, match="fit: batch 0 of the generator has inputs only; "
                                         "fit needs targets"):
        _fit(iter([(x,)]))
    with pytest.raises(ValueError, match="evaluate: batch 0 of the PyDataset has inputs "
                                         "only"):
        _model().evaluate(Batches([x]), verbose=0)
    with pytest.raises(ValueError, match="predict: batch 0 of the generator: .*expects 1 "
                                         "input array"):
        _model().predict(iter([([x, x],)]), verbose=0)


def test_bad_arguments_with_sources_give_clear_errors():
    with pytest.raises(ValueError, match="When providing `x` as a generator, `y` should not "
                                         "be passed"):
        _fit(iter(_batches(X, Y)), y=Y)
    with pytest.raises(ValueError, match="When providing `x` as a PyDataset, "
                                         "`sample_weights` should not be passed"):
        _fit(Batches(_batches(X, Y)), sample_weight=W)
    with pytest.raises(ValueError, match="do not pass `batch_size` when `x` is a generator"):
        _fit(iter(_batches(X, Y)), batch_size=16)
    with pytest.raises(ValueError, match="validation_split is only supported for arrays"):
        _fit(iter(_batches(X, Y)), validation_split=0.5)
    with pytest.raises(ValueError, match="workers must be an integer >= 0, got -1"):
        _fit(Batches(_batches(X, Y), workers=-1))
    with pytest.raises(ValueError, match="max_queue_size must be an integer >= 1, got 0"):
        _fit(Batches(_batches(X, Y), max_queue_size=0))
    with pytest.raises(ValueError, match="steps must be >= 1 for a generator, got 0"):
        _fit(iter(_batches(X, Y)), steps_per_epoch=0)
    with pytest.warns(UserWarning, match="`shuffle=True` was passed, but will be ignored "
                                         "since the data `x` was provided as a generator"):
        _fit(iter(_batches(X, Y)), shuffle=True)
    with pytest.raises(ValueError, match="predict: the data gave no batch"):
        _model().predict(iter([]), verbose=0)


def test_an_error_in_the_source_reaches_the_caller():
    class Broken(Batches):
        def __getitem__(self, index):
            if index == 1:
                raise KeyError("no batch 1 here")
            return super().__getitem__(index)
    for workers in (1, 2):
        with pytest.raises(KeyError, match="no batch 1 here"):
            _fit(Broken(_batches(X, Y), workers=workers))

    def failing():
        yield X[:BATCH], Y[:BATCH]
        raise RuntimeError("the generator broke")
    with pytest.raises(RuntimeError, match="the generator broke"):
        _fit(failing())


def test_pydataset_without_super_init_warns_as_keras():
    class NoInit(gn.utils.PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return X[:BATCH], Y[:BATCH]
    with pytest.warns(UserWarning, match="should call `super\\(\\).__init__\\(\\*\\*kwargs\\)`"):
        _fit(NoInit())
    assert gn.utils.Sequence is gn.utils.PyDataset


@needs(keras)
@pytest.mark.parametrize("steps, epochs", [(None, 2), (2, 3), (5, 2), (1, 4)])
def test_pydataset_read_and_trained_as_keras_does(steps, epochs):
    """The batches fit reads (Keras's rules for steps_per_epoch continuing and running
    out) and the weights it trains to, against Keras 3 on the same PyDataset."""
    def fit(base, model):
        class Recording(base):
            def __init__(self):
                super().__init__()
                self.read = []

            def __len__(self):
                return 3

            def __getitem__(self, index):
                self.read.append(index)
                rows = slice(index * BATCH, (index + 1) * BATCH)
                return X[rows], Y[rows]
        data = Recording()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # running out warns in both
            model.fit(data, steps_per_epoch=steps, epochs=epochs, verbose=0, shuffle=False)
        return data.read
    ours = _model()
    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"),
                               keras.layers.Dense(3)])
    theirs.compile("sgd", "mse")
    theirs.set_weights(ours.get_weights())
    keras_reads = fit(keras.utils.PyDataset, theirs)
    assert keras_reads[0] == 0  # Keras reads batch 0 once more first, to build
    assert fit(gn.utils.PyDataset, ours) == keras_reads[1:]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)


def test_sequential_and_subclassed_models_fit_from_a_generator():
    class Net(gn.Model):
        def __init__(self):
            super().__init__()
            self.dense = gn.layers.Dense(3)

        def call(self, inputs):
            return self.dense(inputs)
    for model in (gn.Sequential([gn.layers.Dense(3)]), Net()):
        model.compile("sgd", "mse")
        history = model.fit(iter(_batches(X, Y)), verbose=0, shuffle=False)
        assert len(history.history["loss"]) == 1 and model.built
        assert model.predict(iter([(X,)]), verbose=0).shape == (N, 3)
