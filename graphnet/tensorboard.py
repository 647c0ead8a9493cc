"""The TensorBoard callback (Keras 3's), writing event files itself
(graphnet/event_file.py): no TensorFlow or other package needed."""
import os
import time
import warnings

import numpy as np

from .callbacks import Callback
from .event_file import (EventFileWriter, histogram_value, scalar_value,
                         text_tensor_value)


def _scalar(name, value):
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "biuf":
        raise ValueError(f"TensorBoard: the log {name!r} is not a number (got "
                         f"{type(value).__name__} of shape {array.shape}); only scalars "
                         "can be written as scalar summaries")
    return float(array.reshape(-1)[0])


class TensorBoard(Callback):
    """Write logs for TensorBoard: ``log_dir/train`` and ``log_dir/validation`` event
    files, as Keras 3 lays them out.

    - per epoch, ``epoch_<log>`` for the training logs and the learning rate (train) and
      the ``val_`` logs without their prefix (validation), at step ``epoch``;
    - with ``update_freq`` "batch" or N, ``batch_<log>`` every N training batches, at
      the step counting them;
    - ``evaluate(callbacks=[tb])``: ``evaluation_<log>_vs_iterations`` (validation) at
      the optimizer's iteration count;
    - ``write_graph``: the model's config (``to_json``) as the "keras" summary the graph
      plugin draws (a Sequential or functional model);
    - ``histogram_freq`` N: every N epochs, a histogram of each weight,
      ``<weight name>/histogram``.

    Args:
        log_dir: the directory of the logs ("logs").
        histogram_freq: 0 (no histograms) or every how many epochs.
        write_graph: write the model's config (True).
        write_images: must be False: graphnet writes no image summaries.
        write_steps_per_second: also write ``epoch_steps_per_second`` (and per batch).
        update_freq: "epoch", "batch" or an integer number of batches.
        profile_batch: must be 0 (no profiler, as Keras on torch).
        embeddings_freq, embeddings_metadata: must be 0 / None (no projector).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        if not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError("TensorBoard: `histogram_freq` must be an integer >= 0, got "
                             f"{histogram_freq!r}")
        if update_freq != "epoch" and update_freq != "batch" and (
                not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError("TensorBoard: `update_freq` must be 'epoch', 'batch' or a "
                             f"positive integer, got {update_freq!r}")
        unsupported = {"write_images": write_images, "profile_batch": profile_batch,
                       "embeddings_freq": embeddings_freq,
                       "embeddings_metadata": embeddings_metadata}
        for name, value in unsupported.items():
            if value:
                raise ValueError(f"TensorBoard: `{name}` must be off (False, 0 or None): "
                                 "graphnet writes scalars, histograms and the model config "
                                 f"only, got {name}={value!r}")
        self.log_dir = str(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = bool(write_graph)
        self.write_images = write_images
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.profile_batch, self.embeddings_freq = profile_batch, embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers = {}
        self._global_train_batch = 0

    def _writer(self, run):
        if run not in self._writers:
            self._writers[run] = EventFileWriter(os.path.join(self.log_dir, run))
        return self._writers[run]

    def _write_scalars(self, run, step, logs, prefix="", suffix=""):
        values = [scalar_value(f"{prefix}{name}{suffix}", _scalar(name, value))
                  for name, value in logs.items()]
        if values:
            self._writer(run).write(step, values)

    def set_model(self, model):
        super().set_model(model)
        self._close_writers()
        if self.write_graph and type(model).__name__ in ("Sequential", "Model", "Functional"):
            try:
                config = model.to_json()
            except (TypeError, ValueError) as exc:   # as Keras: a warning, no summary
                warnings.warn(f"Model failed to serialize as JSON. Ignoring... {exc}")
                return
            self._writer("train").write(0, [text_tensor_value(
                "keras", config, plugin_name="graph_keras_model", content=b"1")])

    # -- training ------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        self._batch_start_time = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        logs = dict(logs or {})
        if self.write_steps_per_second:
            logs["steps_per_second"] = 1.0 / max(time.perf_counter() -
                                                 self._batch_start_time, 1e-9)
        self._write_scalars("train", self._global_train_batch, logs, prefix="batch_")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = (time.perf_counter(), self._iterations())

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            train["learning_rate"] = optimizer.learning_rate
        if self.write_steps_per_second:
            started, iterations = self._epoch_start
            train["steps_per_second"] = (self._iterations() - iterations) / max(
                time.perf_counter() - started, 1e-9)
        self._write_scalars("train", epoch, train, prefix="epoch_")
        self._write_scalars("validation", epoch,
                            {k[4:]: v for k, v in logs.items() if k.startswith("val_")},
                            prefix="epoch_")
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._writer("train").write(epoch, [
                histogram_value(f"{w.name.replace(':', '_')}/histogram", w.numpy())
                for w in self.model.weights])
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        self._close_writers()

    # -- evaluation ----------------------------------------------------------------------
    def on_test_end(self, logs=None):
        if getattr(self.model, "optimizer", None) is not None and logs:
            self._write_scalars("validation", self._iterations(), logs,
                                prefix="evaluation_", suffix="_vs_iterations")
            self._writer("validation").flush()

    def _iterations(self):
        optimizer = getattr(self.model, "optimizer", None)
        return 0 if optimizer is None else int(optimizer.iterations.value)

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
