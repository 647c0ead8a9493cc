"""TensorBoard: event files in TFRecord framing with CRC32C, decoded here by the protobuf
runtime (which onnx brings) from the field numbers of TensorFlow's event.proto and
summary.proto, independently of graphnet's hand encoding."""
import json
import os
import struct

import numpy as np
import pytest

import graphnet as gn
from graphnet.callbacks import TensorBoard
from graphnet.event_file import crc32c, masked_crc32c

rng = np.random.default_rng(2)
X = rng.standard_normal((12, 4)).astype("float32")
Y = rng.integers(0, 2, (12, 1)).astype("float32")


def test_crc32c_check_values():
    """RFC 3720's test vectors (and the common "123456789" check value)."""
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    crc = crc32c(b"abc")
    assert masked_crc32c(b"abc") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _message_classes():
    """Event, Summary & co. from TensorFlow's field numbers, built at run time."""
    descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")
    from google.protobuf import descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="tb_test.proto", package="tbtest")

    def message(name, *fields):
        m = proto.message_type.add(name=name)
        for number, field_name, kind, label, type_name in fields:
            f = m.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                f.type_name = f".tbtest.{type_name}"
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("PluginData", (1, "plugin_name", F.TYPE_STRING, opt, None),
            (2, "content", F.TYPE_BYTES, opt, None))
    message("SummaryMetadata", (1, "plugin_data", F.TYPE_MESSAGE, opt, "PluginData"))
    message("TensorProto", (1, "dtype", F.TYPE_INT32, opt, None),
            (8, "string_val", F.TYPE_BYTES, rep, None))
    message("HistogramProto", (1, "min", F.TYPE_DOUBLE, opt, None),
            (2, "max", F.TYPE_DOUBLE, opt, None), (3, "num", F.TYPE_DOUBLE, opt, None),
            (4, "sum", F.TYPE_DOUBLE, opt, None), (5, "sum_squares", F.TYPE_DOUBLE, opt, None),
            (6, "bucket_limit", F.TYPE_DOUBLE, rep, None),
            (7, "bucket", F.TYPE_DOUBLE, rep, None))
    message("Value", (1, "tag", F.TYPE_STRING, opt, None),
            (2, "simple_value", F.TYPE_FLOAT, opt, None),
            (5, "histo", F.TYPE_MESSAGE, opt, "HistogramProto"),
            (8, "tensor", F.TYPE_MESSAGE, opt, "TensorProto"),
            (9, "metadata", F.TYPE_MESSAGE, opt, "SummaryMetadata"))
    message("Summary", (1, "value", F.TYPE_MESSAGE, rep, "Value"))
    message("Event", (1, "wall_time", F.TYPE_DOUBLE, opt, None),
            (2, "step", F.TYPE_INT64, opt, None), (3, "file_version", F.TYPE_STRING, opt, None),
            (5, "summary", F.TYPE_MESSAGE, opt, "Summary"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tbtest.Event"))


def _read_events(directory):
    """Every Event of the one event file in ``directory``, checking the framing."""
    Event = _message_classes()
    names = [n for n in os.listdir(directory) if n.startswith("events.out.tfevents.")]
    assert len(names) == 1, names
    data = open(os.path.join(directory, names[0]), "rb").read()
    events, at = [], 0
    while at < len(data):
        header = data[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[at + 8:at + 12])[0] == masked_crc32c(header)
        body = data[at + 12:at + 12 + length]
        assert struct.unpack("<I", data[at + 12 + length:at + 16 + length])[0] == \
            masked_crc32c(body)
        events.append(Event.FromString(body))
        at += 16 + length
    assert events[0].file_version == "brain.Event:2"
    return events[1:]


def _scalars(events):
    """{tag: [(step, value), ...]}"""
    out = {}
    for e in events:
        for v in e.summary.value:
            if v.HasField("simple_value"):
                out.setdefault(v.tag, []).append((e.step, v.simple_value))
    return out


def _model():
    gn.utils.set_random_seed(1)
    model = gn.Sequential([gn.Input((4,)), gn.layers.Dense(1, activation="sigmoid")])
    model.compile(gn.optimizers.SGD(0.1), "binary_crossentropy", metrics=["accuracy"])
    return model


def test_fit_writes_epoch_and_batch_scalars_histograms_and_the_model(tmp_path):
    model = _model()
    board = TensorBoard(tmp_path, histogram_freq=2, update_freq=2)
    history = model.fit(X, Y, batch_size=4, epochs=3, verbose=0, validation_data=(X, Y),
                        callbacks=[board]).history
    train = _read_events(tmp_path / "train")
    scalars = _scalars(train)
    np.testing.assert_allclose([v for _, v in scalars["epoch_loss"]], history["loss"],
                               rtol=1e-6)
    assert [s for s, _ in scalars["epoch_accuracy"]] == [0, 1, 2]
    assert [v for _, v in scalars["epoch_learning_rate"]] == pytest.approx([0.1] * 3)
    assert [s for s, _ in scalars["batch_loss"]] == [2, 4, 6, 8]   # every 2nd of 9 batches
    validation = _scalars(_read_events(tmp_path / "validation"))
    np.testing.assert_allclose([v for _, v in validation["epoch_loss"]], history["val_loss"],
                               rtol=1e-6)
    assert "epoch_val_loss" not in validation and "epoch_val_loss" not in scalars
    histograms = [(e.step, v) for e in train for v in e.summary.value if v.HasField("histo")]
    assert sorted({step for step, _ in histograms}) == [0, 2]
    kernel = next(v.histo for step, v in histograms if step == 2 and "kernel" in v.tag)
    weights = model.weights[0].numpy()
    assert kernel.num == weights.size and sum(kernel.bucket) == weights.size
    assert kernel.min == pytest.approx(weights.min()) and kernel.sum == \
        pytest.approx(weights.sum(), rel=1e-6)
    graphs = [v for e in train for v in e.summary.value if v.tag == "keras"]
    assert graphs[0].metadata.plugin_data.plugin_name == "graph_keras_model"
    assert json.loads(graphs[0].tensor.string_val[0])["class_name"] == "Sequential"


def test_evaluate_writes_evaluation_scalars_at_the_iteration(tmp_path):
    model = _model()
    model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    logs = model.evaluate(X, Y, verbose=0, return_dict=True,
                          callbacks=[TensorBoard(tmp_path, write_graph=False)])
    scalars = _scalars(_read_events(tmp_path / "validation"))
    assert scalars["evaluation_loss_vs_iterations"] == [(3, pytest.approx(logs["loss"]))]


@pytest.mark.parametrize("kwargs,message", [
    ({"write_images": True}, "write_images"), ({"profile_batch": 2}, "profile_batch"),
    ({"embeddings_freq": 1}, "embeddings_freq"), ({"update_freq": 0}, "update_freq"),
    ({"histogram_freq": -1}, "histogram_freq"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TensorBoard(**kwargs)


def test_a_non_scalar_log_is_refused_by_name(tmp_path):
    model = _model()
    model.compile("sgd", "binary_crossentropy",
                  metrics=[gn.metrics.Precision(thresholds=[0.3, 0.6])])
    with pytest.raises(ValueError, match="'precision' is not a number"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[TensorBoard(tmp_path)])
