"""BackupAndRestore: an interrupted fit resumes at the right epoch with the weights and
optimizer state it had, ending where an uninterrupted fit ends."""
import json
import os

import numpy as np
import pytest

import graphnet as gn
from graphnet.callbacks import BackupAndRestore, Callback

rng = np.random.default_rng(4)
X = rng.standard_normal((24, 5)).astype("float32")
Y = rng.standard_normal((24, 2)).astype("float32")


def _model():
    gn.utils.set_random_seed(6)
    model = gn.Sequential([gn.Input((5,)), gn.layers.Dense(4, activation="tanh"),
                           gn.layers.Dense(2)])
    model.compile(gn.optimizers.Adam(0.05), "mse")   # Adam: its moments must be restored
    return model


class _Interrupt(Callback):
    def __init__(self, at_epoch, at_batch=None):
        super().__init__()
        self.at_epoch, self.at_batch = at_epoch, at_batch
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if self.at_batch is None and epoch == self.at_epoch:
            raise RuntimeError("interrupted")

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.at_epoch and batch == self.at_batch:
            raise RuntimeError("interrupted")


def _fit(model, callbacks, epochs=5):
    return model.fit(X, Y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
                     callbacks=callbacks)


def test_an_interrupted_fit_resumes_and_ends_like_an_uninterrupted_one(tmp_path):
    reference = _model()
    expected = _fit(reference, []).history["loss"]
    backup = tmp_path / "backup"
    model = _model()
    with pytest.raises(RuntimeError, match="interrupted"):
        _fit(model, [BackupAndRestore(backup), _Interrupt(3)])
    assert json.loads((backup / "training_metadata.json").read_text()) == \
        {"epoch": 3, "batch": 0}
    resumed = _model()   # a fresh process: new weights, a new optimizer
    history = _fit(resumed, [BackupAndRestore(backup)])
    assert history.epoch == [3, 4]
    np.testing.assert_allclose(history.history["loss"], expected[3:], rtol=1e-5)
    for ours, theirs in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not backup.exists()   # a fit that ended deletes its backup
    assert _fit(resumed, [], epochs=1).epoch == [0]   # the next fit starts afresh


class _WeightsAtStart(Callback):
    def on_train_begin(self, logs=None):
        self.weights = self.model.get_weights()
        self.optimizer_state = self.model.optimizer.get_weights()


def test_a_batch_frequency_backs_up_mid_epoch_and_resumes_at_that_epoch(tmp_path):
    """Three batches an epoch, a backup every 2: the last before the interruption at
    epoch 2, batch 1 is that batch's; the resumed fit redoes epoch 2 from those weights
    and optimizer state (as Keras does)."""
    backup = tmp_path / "backup"
    model = _model()
    interrupt = _Interrupt(2, at_batch=1)
    with pytest.raises(RuntimeError, match="interrupted"):
        _fit(model, [BackupAndRestore(backup, save_freq=2), interrupt])
    assert json.loads((backup / "training_metadata.json").read_text()) == \
        {"epoch": 2, "batch": 1}
    resumed, start = _model(), _WeightsAtStart()
    history = _fit(resumed, [BackupAndRestore(backup, save_freq=2), start])
    assert history.epoch == [2, 3, 4]
    for ours, theirs in zip(start.weights, model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(start.optimizer_state, model.optimizer.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_double_checkpoint_falls_back_and_keep_the_backup(tmp_path):
    backup = tmp_path / "b"
    model = _model()
    _fit(model, [BackupAndRestore(backup, double_checkpoint=True, delete_checkpoint=False)],
         epochs=2)
    assert sorted(os.listdir(backup)) == sorted(
        ["latest.weights.npz", "latest.weights.npz.bkp", "latest.optimizer.npz",
         "latest.optimizer.npz.bkp", "training_metadata.json", "training_metadata.json.bkp"])
    (backup / "latest.weights.npz").write_bytes(b"cut short")
    resumed = _model()
    history = _fit(resumed, [BackupAndRestore(backup, delete_checkpoint=False)], epochs=3)
    assert history.epoch == [1, 2]   # the previous backup: one epoch done


def test_bad_arguments():
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndRestore("d", save_freq="batch")
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndRestore("d", save_freq=0)
