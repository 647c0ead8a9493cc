"""Every 2-rank scenario of tests/test_distributed.py in one ``mpirun -n 2`` launch (each
launch costs seconds of the suite): ``python scenarios.py OUT_DIR``. Rank r writes what
it saw to OUT_DIR/rank<r>.npz; the test runs the same functions (imported from here) in
one process and compares.

- equivalence: 10 steps at per-rank batch 64 against one process at 128, per optimizer,
  with BatchNormalization synchronized (equal) or not (different), with two buckets;
- evaluate and predict on 203 samples (7 batches of 32, dealt 4 + 3) after training;
- fit on a PyDataset (which batches each rank read) and a generator: steps, logs;
- model.save, save_weights and ModelCheckpoint write on rank 0 only; only rank 0 prints;
- BackupAndRestore: rank 0 backs up, every rank resumes at the same epoch;
- a model that differs on rank 1 is refused at fit's start, on every rank.
"""
import contextlib
import io
import os
import sys

import numpy as np

import graphnet as gn
import graphnet.distribution  # noqa: F401  (gn.distribution)

# (optimizer, model): None (12-16-3), "synchronized" / "per-rank" (BatchNormalization
# after the 16, its statistics the global batch's / each rank's own) or "wide" (12-600-600-3:
# 1.4 MB of gradients, two buckets summed while the backward pass runs)
CASES = {"sgd": ("sgd", None), "adam": ("adam", None), "rmsprop": ("rmsprop", None),
         "sgd_bn_synchronized": ("sgd", "synchronized"), "sgd_bn_per_rank": ("sgd", "per-rank"),
         "adam_two_buckets": ("adam", "wide")}
SOURCE_BATCHES = 7   # a PyDataset / generator of 7 batches: a last group of 1 is dropped


def equivalence_model(case):
    optimizer, kind = CASES[case]
    batch_norm = kind in ("synchronized", "per-rank")
    layers = [gn.Input((12,)), gn.layers.Dense(16, activation=None if batch_norm else "relu")]
    if batch_norm:
        layers += [gn.layers.BatchNormalization(synchronized=kind == "synchronized",
                                                momentum=0.5),
                   gn.layers.Activation("relu")]
    if kind == "wide":
        layers[1:] = [gn.layers.Dense(600, activation="relu"),
                      gn.layers.Dense(600, activation="relu")]
    model = gn.Sequential(layers + [gn.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(0)
    scale = 0.05 if kind == "wide" else 0.3
    model.set_weights([rng.normal(size=w.shape).astype("float32") * scale + 1.5 * (
        "variance" in w.name) for w in model.weights])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n=1280, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 12)).astype("float32"),
            rng.integers(0, 3, size=(n,)).astype("float32"))


def trained(case, batch_size):
    """The model after 10 steps of ``batch_size`` (the global batch alone, the per-rank
    batch under DataParallel) and fit's History."""
    model = equivalence_model(case)
    x, y = data()
    history = model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return model, history


def auc_after_training(batch_size):
    """fit's AUC (confusion counts per threshold: array statistics) over 10 steps."""
    model = gn.Sequential([gn.Input((12,)), gn.layers.Dense(1, activation="sigmoid")])
    model.set_weights([np.full((12, 1), 0.1, "float32"), np.zeros(1, "float32")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[gn.metrics.AUC(name="auc")])
    x, y = data()
    history = model.fit(x, (y > 0).astype("float32"), batch_size=batch_size, shuffle=False,
                        verbose=0)
    return history.history["auc"][-1]


class RecordedBatches(gn.utils.PyDataset):
    """SOURCE_BATCHES batches of 8 samples; ``read`` lists the indices asked for."""

    def __init__(self):
        super().__init__()
        self.read = []
        self.x, self.y = data(8 * SOURCE_BATCHES, seed=2)

    def __len__(self):
        return SOURCE_BATCHES

    def __getitem__(self, index):
        self.read.append(index)
        return self.x[index * 8:(index + 1) * 8], self.y[index * 8:(index + 1) * 8]


def generator():
    """SOURCE_BATCHES batches of 8 samples (every rank reads them all)."""
    x, y = data(8 * SOURCE_BATCHES, seed=3)
    for index in range(SOURCE_BATCHES):
        yield x[index * 8:(index + 1) * 8], y[index * 8:(index + 1) * 8]


class BatchCounter(gn.callbacks.Callback):
    """How many training steps fit ran (on_train_batch_end calls)."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def main(out):
    strategy = gn.distribution.DataParallel()
    gn.distribution.set_distribution(strategy)
    rank = strategy.rank
    seen = {}
    models = {}
    for case in CASES:
        models[case], history = trained(case, 64)
        model = models[case]
        for i, w in enumerate(model.get_weights()):
            seen[f"{case}_w{i}"] = w
        seen[f"{case}_loss"] = history.history["loss"][-1]
        seen[f"{case}_accuracy"] = history.history["accuracy"][-1]
    seen["auc"] = auc_after_training(64)
    model = models["rmsprop"]
    x_eval, y_eval = data(203, seed=4)
    seen["evaluate"] = np.array(model.evaluate(x_eval, y_eval, batch_size=32, verbose=0))
    seen["predict"] = model.predict(x_eval, batch_size=32, verbose=0)

    dataset = RecordedBatches()
    counter = BatchCounter()
    seen["pydataset_loss"] = model.fit(dataset, epochs=1, verbose=0, callbacks=[counter],
                                       shuffle=False).history["loss"][-1]
    seen["pydataset_read"] = np.array(dataset.read)
    seen["pydataset_steps"] = counter.batches
    counter = BatchCounter()
    seen["generator_loss"] = model.fit(generator(), epochs=1, verbose=0, shuffle=False,
                                       callbacks=[counter]).history["loss"][-1]
    seen["generator_steps"] = counter.batches

    printed = io.StringIO()
    checkpoint = gn.callbacks.ModelCheckpoint(os.path.join(out, f"ckpt{rank}.weights.npz"),
                                              save_weights_only=True, monitor="loss")
    with contextlib.redirect_stdout(printed):
        model.fit(*data(256), batch_size=64, epochs=1, verbose=2, callbacks=[checkpoint])
    seen["printed"] = printed.getvalue()
    model.save(os.path.join(out, f"model{rank}.graphnet"))
    model.save_weights(os.path.join(out, f"weights{rank}.weights.npz"))

    backup = gn.callbacks.BackupAndRestore(os.path.join(out, "backup"),
                                           delete_checkpoint=False)
    model.fit(*data(256), batch_size=64, epochs=1, verbose=0, callbacks=[backup])
    resumed = model.fit(*data(256), batch_size=64, epochs=3, verbose=0, callbacks=[backup])
    seen["resumed_epochs"] = len(resumed.history["loss"])   # 1 and 2 of 0, 1, 2

    units = 17 if rank == 1 else 16
    other = gn.Sequential([gn.Input((12,)), gn.layers.Dense(units), gn.layers.Dense(3)])
    other.compile(optimizer="sgd", loss="mse")
    try:
        other.fit(*data(128), batch_size=32, verbose=0)
        seen["mismatch"] = "not refused"
    except ValueError as exc:
        seen["mismatch"] = str(exc)
    np.savez(os.path.join(out, f"rank{rank}.npz"), **seen)


if __name__ == "__main__":
    main(sys.argv[1])
