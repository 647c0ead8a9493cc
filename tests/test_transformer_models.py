"""keras-io's transformer models (examples/text_classification_transformer.py and
examples/mnist_vit.py): they learn in graphnet, and the same source built with Keras 3
gives the same predictions from the same weights.

The ViT's full run (97% held out on the 8,000 / 2,000 MNIST split) takes minutes: its
command and result are in bench/RESULTS.md; here it trains briefly and must be well
above chance."""
import importlib.util
import os

import numpy as np

import graphnet as gn
from conftest import MNIST_DIR, ROOT
from extras import keras, needs


def _example(name):
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


text = _example("text_classification_transformer")
vit = _example("mnist_vit")
TEXT_SIZES = dict(maxlen=32, vocab_size=500)


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=256, verbose=0), -1) == y))


def test_text_transformer_learns_the_review_task():
    x, y = text.synthetic_reviews(3000, seed=0, **TEXT_SIZES)
    x_val, y_val = text.synthetic_reviews(1000, seed=1, **TEXT_SIZES)
    model = text.text_classifier(gn, **TEXT_SIZES)
    names = [type(layer).__name__ for layer in model.layers]
    assert names[1:4] == ["TokenAndPositionEmbedding", "TransformerBlock",
                          "GlobalAveragePooling1D"]
    before = _accuracy(model, x_val, y_val)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    after = _accuracy(model, x_val, y_val)
    assert after > 0.85, f"held-out accuracy {after:.3f} (chance 0.5, untrained {before:.3f})"


def test_vit_learns_mnist_digits():
    (x, y), (x_held, y_held) = vit.load_digits(path=MNIST_DIR)
    model = vit.compile_for_training(gn, vit.vit_classifier(gn))
    assert model.output.shape == (None, 10)
    model.fit(x[:4096], y[:4096], batch_size=128, epochs=2, verbose=0)
    accuracy = _accuracy(model, x_held[:1000], y_held[:1000])
    # 64 steps: about 0.48 (seed 1234) to 0.66 (seed 42); chance is 0.1
    assert accuracy > 0.3, f"held-out accuracy {accuracy:.3f} after 64 steps (chance 0.1)"


def _same_predictions(build, x, atol):
    """Build the model with Keras and with graphnet, give graphnet Keras's weights, and
    compare their predictions."""
    keras.utils.set_random_seed(3)
    theirs = build(keras)
    ours = build(gn)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in
                                                     theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-4, atol=atol)


@needs(keras)
def test_text_transformer_runs_unchanged_in_keras():
    x, _ = text.synthetic_reviews(16, seed=2, **TEXT_SIZES)
    _same_predictions(lambda lib: text.text_classifier(lib, **TEXT_SIZES), x, 1e-5)


@needs(keras)
def test_vit_runs_unchanged_in_keras():
    (x, _), _ = vit.load_digits(n_train=16, path=MNIST_DIR)
    _same_predictions(vit.vit_classifier, x, 1e-4)
