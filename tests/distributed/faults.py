"""Run under mpirun -n 2. argv[1] "mismatch": rank 1 builds a wider model (fit must
refuse, naming rank 1); "raise": rank 1 raises before fit while rank 0 waits in fit's
first collective (every rank must stop, the error naming rank 1)."""
import sys

import numpy as np

import graphnet as gn
import graphnet.distribution  # noqa: F401  (gn.distribution)


def main(mode):
    gn.distribution.set_distribution(gn.distribution.DataParallel())
    rank = gn.distribution.distribution().rank
    units = 9 if mode == "mismatch" and rank == 1 else 8
    model = gn.Sequential([gn.Input((4,)), gn.layers.Dense(units), gn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    if mode == "raise" and rank == 1:
        raise RuntimeError("deliberate failure on this rank")
    x = np.zeros((64, 4), "float32")
    model.fit(x, np.zeros((64, 1), "float32"), batch_size=16, verbose=0)


if __name__ == "__main__":
    main(sys.argv[1])
