"""keras-io's vision transformer (image_classification_with_vision_transformer), small,
on MNIST digits, in graphnet or in Keras 3 from the same source.

The model code is keras-io's, unchanged but for its sizes (and no data augmentation:
flips and rotations do not suit digits): ``Patches`` (``ops.image.extract_patches``,
reshaped to a sequence), ``PatchEncoder`` (a Dense projection plus a position
Embedding), 4 pre-norm transformer blocks (LayerNormalization, MultiHeadAttention with
dropout, Add, LayerNormalization, a GELU MLP, Add), then LayerNormalization, Flatten,
Dropout, a GELU MLP head and logits; trained with AdamW on sparse categorical
cross-entropy from logits, the learning rate decayed by a cosine over the run.

As the other MNIST examples: the first 8,000 images of the official 10,000-image test set
for training, the last 2,000 held out (never trained on).

    python examples/mnist_vit.py [--epochs 20] [--batch-size 128] [--threads N]
                                 [--data DIR] [--keras]

``--keras`` runs the same code with Keras 3 (KERAS_BACKEND, torch by default).
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(ROOT, "graphnet")):
    sys.path.insert(0, ROOT)  # run from a checkout without installing
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from text_classification_transformer import (  # noqa: E402
    keras_or_graphnet, library_arguments)

NUM_CLASSES = 10
N_TRAIN = 8000
INPUT_SHAPE = (28, 28, 1)
PATCH_SIZE = 7
NUM_PATCHES = (INPUT_SHAPE[0] // PATCH_SIZE) ** 2
PROJECTION_DIM = 64
NUM_HEADS = 4
TRANSFORMER_UNITS = [PROJECTION_DIM * 2, PROJECTION_DIM]
TRANSFORMER_LAYERS = 4
MLP_HEAD_UNITS = [256]


def vit_classifier(keras):
    """keras-io's ViT built with ``keras`` (the ``keras`` module or ``graphnet``)."""
    layers, ops = keras.layers, keras.ops

    def mlp(x, hidden_units, dropout_rate):
        for units in hidden_units:
            x = layers.Dense(units, activation=keras.activations.gelu)(x)
            x = layers.Dropout(dropout_rate)(x)
        return x

    class Patches(layers.Layer):
        def __init__(self, patch_size):
            super().__init__()
            self.patch_size = patch_size

        def call(self, images):
            input_shape = ops.shape(images)
            batch_size = input_shape[0]
            height = input_shape[1]
            width = input_shape[2]
            channels = input_shape[3]
            num_patches_h = height // self.patch_size
            num_patches_w = width // self.patch_size
            patches = keras.ops.image.extract_patches(images, size=self.patch_size)
            patches = ops.reshape(
                patches,
                (
                    batch_size,
                    num_patches_h * num_patches_w,
                    self.patch_size * self.patch_size * channels,
                ),
            )
            return patches

        def get_config(self):
            config = super().get_config()
            config.update({"patch_size": self.patch_size})
            return config

    class PatchEncoder(layers.Layer):
        def __init__(self, num_patches, projection_dim):
            super().__init__()
            self.num_patches = num_patches
            self.projection = layers.Dense(units=projection_dim)
            self.position_embedding = layers.Embedding(
                input_dim=num_patches, output_dim=projection_dim
            )

        def call(self, patch):
            positions = ops.expand_dims(
                ops.arange(start=0, stop=self.num_patches, step=1), axis=0
            )
            projected_patches = self.projection(patch)
            encoded = projected_patches + self.position_embedding(positions)
            return encoded

        def get_config(self):
            config = super().get_config()
            config.update({"num_patches": self.num_patches})
            return config

    inputs = keras.Input(shape=INPUT_SHAPE)
    patches = Patches(PATCH_SIZE)(inputs)
    encoded_patches = PatchEncoder(NUM_PATCHES, PROJECTION_DIM)(patches)
    for _ in range(TRANSFORMER_LAYERS):
        x1 = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
        attention_output = layers.MultiHeadAttention(
            num_heads=NUM_HEADS, key_dim=PROJECTION_DIM, dropout=0.1
        )(x1, x1)
        x2 = layers.Add()([attention_output, encoded_patches])
        x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
        x3 = mlp(x3, hidden_units=TRANSFORMER_UNITS, dropout_rate=0.1)
        encoded_patches = layers.Add()([x3, x2])
    representation = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
    representation = layers.Flatten()(representation)
    representation = layers.Dropout(0.5)(representation)
    features = mlp(representation, hidden_units=MLP_HEAD_UNITS, dropout_rate=0.5)
    logits = layers.Dense(NUM_CLASSES)(features)
    return keras.Model(inputs=inputs, outputs=logits)


def compile_for_training(keras, model, learning_rate=1e-3, weight_decay=1e-4):
    """keras-io's AdamW and sparse categorical cross-entropy from logits."""
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate,
                                         weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def load_digits(n_train=N_TRAIN, path=None):
    """(x_train, y_train), (x_held, y_held): images (N, 28, 28, 1) in [0, 1], int labels."""
    from graphnet.datasets import mnist
    (x_train, y_train), (x_held, y_held) = mnist.load_split(n_train, path=path)

    def images(x):
        return x.reshape((len(x),) + INPUT_SHAPE).astype("float32") / 255.0
    return (images(x_train), y_train.astype("int32")), (images(x_held), y_held.astype("int32"))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--data", default=None, help="directory holding the MNIST IDX files")
    return library_arguments(parser, seed=42).parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    keras = keras_or_graphnet(args.keras, args.threads)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_held, y_held) = load_digits(path=args.data)
    # keras-io's AdamW at 1e-3, here decayed to 0 over the run (a cosine), as a short run
    # on 8,000 images needs to settle
    steps = args.epochs * -(-len(x_train) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=max(steps, 1))
    model = compile_for_training(keras, vit_classifier(keras), learning_rate=schedule)
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_held, y_held), verbose=2)
    seconds = time.perf_counter() - start
    logits = model.predict(x_held, batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_held))
    print(f"held-out accuracy ({len(x_held)} images): {accuracy:.4f}; trained {args.epochs} "
          f"epochs on {len(x_train)} images in {seconds:.1f} s "
          f"({'Keras ' + keras.__version__ if args.keras else 'graphnet'})")
    return accuracy


if __name__ == "__main__":
    main()
