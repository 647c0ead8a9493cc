"""Run under mpirun -n 2 (DataParallel, per-rank batch 64) or alone (batch 128): trains
10 steps and, on rank 0, saves the weights to argv[2]. argv[1]: the optimizer."""
import sys

import numpy as np

import graphnet as gn
import graphnet.distribution  # noqa: F401  (gn.distribution)


def build():
    model = gn.Sequential([gn.Input((12,)), gn.layers.Dense(16, activation="relu"),
                           gn.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") * 0.3
                       for w in model.get_weights()])
    return model


def main(optimizer, out, mode):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1280, 12)).astype("float32")
    y = rng.integers(0, 3, size=(1280,)).astype("float32")
    model = build()
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    batch = 128
    if mode == "mpi":
        gn.distribution.set_distribution(gn.distribution.DataParallel())
        batch = 64
    history = model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    if mode != "mpi" or gn.distribution.distribution().rank == 0:
        np.savez(out, *model.get_weights(), loss=history.history["loss"][-1])


if __name__ == "__main__":
    main(*sys.argv[1:4])
