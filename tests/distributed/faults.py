"""Run under mpirun -n 2 with argv[1] one of:
"raise": rank 1 raises before fit while rank 0 waits in fit's first collective;
"kill": rank 1 is killed (SIGKILL) in its third training step;
"exit": rank 1 leaves with os._exit(3) in its third training step;
"hang": rank 1 sleeps for an hour in its third training step (a 3 s timeout).
Every rank must stop, and the error name rank 1."""
import os
import signal
import sys
import time

import numpy as np

import graphnet as gn


class DieAtStep(gn.callbacks.Callback):
    def __init__(self, how):
        super().__init__()
        self.how = how

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 2 and self.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if batch == 2 and self.how == "exit":
            os._exit(3)
        if batch == 2 and self.how == "hang":
            time.sleep(3600)


def main(mode):
    gn.distribution.set_distribution(gn.distribution.DataParallel(
        timeout=3 if mode == "hang" else 300))
    rank = gn.distribution.distribution().rank
    model = gn.Sequential([gn.Input((4,)), gn.layers.Dense(8), gn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    if mode == "raise" and rank == 1:
        raise RuntimeError("deliberate failure on this rank")
    x = np.zeros((640, 4), "float32")
    model.fit(x, np.zeros((640, 1), "float32"), batch_size=16, verbose=0,
              callbacks=[DieAtStep(mode)] if rank == 1 else [])


if __name__ == "__main__":
    main(sys.argv[1])
