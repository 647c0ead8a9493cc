"""The BackupAndRestore callback (Keras 3's): resume an interrupted ``fit``."""
import json
import os
import shutil

import numpy as np

from .callbacks import Callback


class BackupAndRestore(Callback):
    """Back up the model's weights, the optimizer's state and the epoch reached to
    ``backup_dir`` during ``fit``; a later ``fit`` with the same callback (after the
    first was interrupted) restores them and goes on from the epoch after the last one
    backed up. A ``fit`` that ends normally deletes the backup (``delete_checkpoint``).

    Files in ``backup_dir``: ``latest.weights.npz`` (``save_weights``),
    ``latest.optimizer.npz`` (the optimizer's state arrays) and
    ``training_metadata.json`` (``{"epoch": epochs done, "batch": last batch}``), each
    written whole to a temporary file and then renamed, so an interruption while saving
    leaves the previous backup.

    Args:
        backup_dir: the directory of the backup.
        save_freq: "epoch" (after each epoch) or an integer: after every that many
            batches.
        double_checkpoint: keep the previous backup too (``*.bkp``), used when the
            latest cannot be read.
        delete_checkpoint: delete ``backup_dir`` when training ends normally.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (not isinstance(save_freq, int) or
                                     isinstance(save_freq, bool) or save_freq < 1):
            raise ValueError("BackupAndRestore: invalid value for argument `save_freq`. "
                             f"Received: save_freq={save_freq!r}. Expected either 'epoch' "
                             "or a positive integer.")
        self.backup_dir = str(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._paths = {kind: os.path.join(self.backup_dir, name) for kind, name in (
            ("weights", "latest.weights.npz"), ("optimizer", "latest.optimizer.npz"),
            ("metadata", "training_metadata.json"))}
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0

    # -- restoring -------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        try:
            self._load()
        except (OSError, ValueError):   # unreadable (cut short while saving): the .bkp
            previous = {kind: f"{path}.bkp" for kind, path in self._paths.items()}
            if not os.path.exists(previous["weights"]):
                raise
            for kind, path in self._paths.items():
                if os.path.exists(previous[kind]):
                    shutil.copyfile(previous[kind], path)
                elif os.path.exists(path):
                    os.remove(path)
            self._load()

    def _load(self):
        model = self.model
        if not model.built:
            raise ValueError("To use the BackupAndRestore callback, your model must be built "
                             f"before you call `fit()`. Model {model.name!r} is unbuilt.")
        paths = self._paths
        if os.path.exists(paths["weights"]):
            model.load_weights(paths["weights"])
            if os.path.exists(paths["optimizer"]):
                optimizer = model.optimizer
                optimizer.build([v for v in model.trainable_weights
                                 if np.dtype(v.dtype).kind == "f"])
                with np.load(paths["optimizer"], allow_pickle=False) as state:
                    optimizer.set_weights([state[key] for key in sorted(state.files)])
        if os.path.exists(paths["metadata"]):
            with open(paths["metadata"]) as f:
                epoch = json.load(f)["epoch"]
            if not isinstance(epoch, int) or epoch < 0:
                raise ValueError(f"BackupAndRestore: {paths['metadata']} holds epoch "
                                 f"{epoch!r}, expected an integer >= 0")
            model._initial_epoch = epoch   # fit starts there

    # -- backing up ------------------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # a batch index not past the last one seen starts a new epoch
        seen = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save()

    def _save(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path in self._paths.values():
                if os.path.exists(path):
                    shutil.copyfile(path, f"{path}.bkp")
        partial = os.path.join(self.backup_dir, ".partial")
        self.model.save_weights(f"{partial}.weights.npz")
        os.replace(f"{partial}.weights.npz", self._paths["weights"])
        optimizer = self.model.optimizer
        if optimizer is not None and optimizer.built:
            state = optimizer.get_weights()
            with open(f"{partial}.npz", "wb") as f:
                np.savez(f, **{f"state_{i:05d}": array for i, array in enumerate(state)})
            os.replace(f"{partial}.npz", self._paths["optimizer"])
        with open(f"{partial}.json", "w") as f:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
        os.replace(f"{partial}.json", self._paths["metadata"])

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)
