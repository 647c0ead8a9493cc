"""Checks of one model through its files and exports, for the layer test modules:
``.graphnet`` and ``.keras`` files read back by graphnet, Keras's ``.keras`` files both ways,
and ONNX checked in onnxruntime."""
import numpy as np

import graphnet as gn
from extras import compare_with, keras
from extras import onnxruntime as ort


def _predict(model, x):
    return model.predict(x, verbose=0)


def assert_files_both_ways(tmp_path, build, x, seed=3, atol=1e-5, keras_file_read=True):
    """``build(lib)`` as a graphnet model with Keras's initial weights: saved to
    ``.graphnet`` and ``.keras`` and loaded by graphnet, the same outputs; its ``.keras``
    file loaded by Keras and (``keras_file_read``) Keras's own loaded by graphnet, the
    outputs within ``atol``. Without keras, graphnet's files only (its own weights).

    Keras's file of a model with Embedding(mask_zero) holds the mask's NotEqual op as a
    node, which graphnet's reader refuses: such models pass ``keras_file_read=False``."""
    gm = build(gn)
    with_keras = compare_with(keras, ".keras files to and from Keras")
    if with_keras:
        keras.utils.set_random_seed(seed)
        km = build(keras)
        rng = np.random.default_rng(seed)
        weights = [rng.uniform(-1, 1, w.shape).astype(w.dtype) for w in km.get_weights()]
        km.set_weights(weights)
        gm.set_weights(weights)
        np.testing.assert_allclose(_predict(gm, x), _predict(km, x), atol=atol)
    want = _predict(gm, x)
    for extension in (".graphnet", ".keras"):
        path = str(tmp_path / f"ours{extension}")
        gm.save(path)
        np.testing.assert_array_equal(_predict(gn.models.load_model(path), x), want,
                                      err_msg=f"graphnet's {extension} file in graphnet")
    if not with_keras:
        return
    theirs = keras.models.load_model(str(tmp_path / "ours.keras"))
    np.testing.assert_allclose(_predict(theirs, x), want, atol=atol,
                               err_msg="graphnet's .keras file in Keras")
    if not keras_file_read:
        return
    km.save(str(tmp_path / "theirs.keras"))
    ours = gn.models.load_model(str(tmp_path / "theirs.keras"))
    np.testing.assert_allclose(_predict(ours, x), _predict(km, x), atol=atol,
                               err_msg="Keras's .keras file in graphnet")


def assert_onnx_matches(model, inputs_for_batch, batches=(1, 3), atol=1e-5):
    """``model`` exported to ONNX gives its outputs in onnxruntime for each batch size
    (``inputs_for_batch(b)``: the model's input arrays as a list)."""
    proto = gn.export.to_onnx(model)
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    for batch in batches:
        arrays = inputs_for_batch(batch)
        want = _predict(model, arrays if len(arrays) > 1 else arrays[0])
        feed = {i.name: a for i, a in zip(session.get_inputs(), arrays)}
        np.testing.assert_allclose(session.run(None, feed)[0], want, rtol=1e-5, atol=atol)
