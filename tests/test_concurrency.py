"""Predicting from several threads while set_weights, assign and fit change the weights.

Compiled plans run without the GIL, and inference plans read packed copies of their
weights that a change of version replaces: no run may touch freed or half-repacked memory.
Each prediction must be one the model could give (finite, of the right shape), and once the
writers stop, the compiled path must agree with the reference interpreter again.
"""
import threading

import numpy as np

import graphnet as gn

ROUNDS = 300          # weight changes per writer
FEATURES = 300        # wide enough that the hidden layers' GEMMs prepack B on every CPU


def model_and_data():
    model = gn.Sequential([gn.Input(shape=(FEATURES,)),
                           gn.layers.Dense(800, activation="relu"),
                           gn.layers.Dense(400, activation="tanh"),
                           gn.layers.Dense(4)])
    model.compile(optimizer=gn.optimizers.SGD(0.001), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, FEATURES), dtype=np.float32)
    y = rng.standard_normal((64, 4), dtype=np.float32)
    return model, x, y


def run_threads(targets):
    errors = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                errors.append(exc)
        return run

    threads = [threading.Thread(target=guarded(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_predict_from_threads_while_weights_change():
    model, x, y = model_and_data()
    start = model.get_weights()
    kernel = model.layers[1].kernel
    stop = threading.Event()
    counts = []

    def predictor(rows):
        def run():
            n = 0
            while not stop.is_set():
                out = model.predict_on_batch(x[:rows])
                assert out.shape == (rows, 4) and np.isfinite(out).all()
                n += 1
            counts.append(n)
        return run

    def set_weights():
        for i in range(ROUNDS):
            model.set_weights([w * (1.0 + 0.01 * (i % 5)) for w in start])

    def assign():
        base = kernel.numpy()
        for i in range(ROUNDS):
            kernel.assign(base * (1.0 - 0.001 * (i % 7)))

    def fit():
        for _ in range(ROUNDS // 10):
            model.fit(x, y, batch_size=16, epochs=1, verbose=0)

    def writers():
        try:
            run_threads([set_weights, assign, fit])
        finally:
            stop.set()

    run_threads([predictor(64), predictor(64), predictor(17), writers])
    assert len(counts) == 3 and min(counts) > 0, counts
    want = model.predict_on_batch(x, backend="reference")
    np.testing.assert_allclose(model.predict_on_batch(x), want, rtol=1e-4, atol=1e-5)


def test_train_on_batch_while_predicting_from_threads():
    """The training plan writes the weights in place, counting their versions; predictions
    from other threads repack as they go and end equal to the reference."""
    model, x, y = model_and_data()
    stop = threading.Event()

    def predictor():
        while not stop.is_set():
            out = model.predict_on_batch(x)
            assert np.isfinite(out).all()

    def trainer():
        try:
            for _ in range(ROUNDS):
                loss = model.train_on_batch(x, y)
                assert np.isfinite(loss)
        finally:
            stop.set()

    run_threads([predictor, predictor, trainer])
    want = model.predict_on_batch(x, backend="reference")
    np.testing.assert_allclose(model.predict_on_batch(x), want, rtol=1e-4, atol=1e-5)


def test_weights_read_while_another_thread_sets_attributes():
    """fit sets attributes on the model (its history, its step's state) while another thread
    reads model.weights, which walks the attributes: the walk reads a snapshot."""
    model, _, _ = model_and_data()
    expected = [id(w) for w in model.weights]
    done = threading.Event()

    def setter():
        try:
            for i in range(10000):
                setattr(model, f"scratch_{i % 500}", {"n": i})
                model.__dict__.pop(f"scratch_{(i + 250) % 500}", None)
        finally:
            done.set()

    def reader():
        while not done.is_set():
            assert [id(w) for w in model.weights] == expected
    run_threads([setter, reader, reader])
