"""keras-io's text classification with a transformer, in graphnet or in Keras 3 from the
same source, on a synthetic IMDB-like review task.

The model code is keras-io's (text_classification_with_transformer), unchanged:
``TransformerBlock`` (MultiHeadAttention, Dropout, residual + LayerNormalization, a ReLU
feed-forward Sequential, Dropout, residual + LayerNormalization) and
``TokenAndPositionEmbedding`` (token Embedding plus a position Embedding of
``ops.arange``), as subclassed layers, then GlobalAveragePooling1D, Dropout,
Dense(20, relu), Dropout and a 2-way softmax; Adam on sparse categorical cross-entropy.

IMDB itself is not on the project's machines (no network), so the reviews are synthetic:
word indexes drawn by a Zipf-like law from ``vocab_size`` words, among them a few
"positive" and "negative" words; a review is positive when it holds more positive words
than negative ones. The reviews vary in length and are zero-padded in front to
``maxlen``, as keras-io's ``pad_sequences``. Counting words over the whole review is
what the attention and the average pooling must learn (chance is 50%).

    python examples/text_classification_transformer.py [--epochs 2] [--threads N] [--keras]
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(ROOT, "graphnet")):
    sys.path.insert(0, ROOT)  # run from a checkout without installing

VOCAB_SIZE = 2000   # keras-io: 20000 (IMDB's most frequent words)
MAXLEN = 64         # keras-io: 200
EMBED_DIM = 32      # keras-io's sizes from here on
NUM_HEADS = 2
FF_DIM = 32
SENTIMENT_WORDS = 20   # word indexes 3..22 are positive, 23..42 negative


def text_classifier(keras, maxlen=MAXLEN, vocab_size=VOCAB_SIZE, embed_dim=EMBED_DIM,
                    num_heads=NUM_HEADS, ff_dim=FF_DIM):
    """keras-io's model built with ``keras`` (the ``keras`` module or ``graphnet``)."""
    layers, ops = keras.layers, keras.ops

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential(
                [
                    layers.Dense(ff_dim, activation="relu"),
                    layers.Dense(embed_dim),
                ]
            )
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output)
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            maxlen = ops.shape(x)[-1]
            positions = ops.arange(start=0, stop=maxlen, step=1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    inputs = layers.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def synthetic_reviews(n, seed, maxlen=MAXLEN, vocab_size=VOCAB_SIZE):
    """(x (n, maxlen) int32 word indexes, front-padded with 0; y (n,) int32 labels)."""
    rng = np.random.default_rng(seed)
    first_neutral = 3 + 2 * SENTIMENT_WORDS
    ranks = np.arange(1, vocab_size - first_neutral + 1)
    zipf = 1.0 / ranks / np.sum(1.0 / ranks)
    x = np.zeros((n, maxlen), np.int32)
    y = rng.integers(0, 2, n).astype(np.int32)
    for i in range(n):
        length = int(rng.integers(maxlen // 2, maxlen + 1))
        review = first_neutral + rng.choice(len(ranks), length, p=zipf)
        minority = int(rng.integers(0, 4))
        majority = minority + int(rng.integers(1, 4))
        positive, negative = (majority, minority) if y[i] else (minority, majority)
        at = rng.choice(length, positive + negative, replace=False)
        review[at[:positive]] = 3 + rng.integers(0, SENTIMENT_WORDS, positive)
        review[at[positive:]] = 3 + SENTIMENT_WORDS + rng.integers(0, SENTIMENT_WORDS,
                                                                    negative)
        x[i, maxlen - length:] = review
    return x, y


def keras_or_graphnet(use_keras, threads=None):
    """The ``keras`` module (its backend KERAS_BACKEND, torch by default) or ``graphnet``,
    on ``threads`` threads when given."""
    if use_keras:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras
        if threads:
            import torch
            torch.set_num_threads(threads)
        return keras
    import graphnet
    if threads:
        graphnet.set_num_threads(threads)
    return graphnet


def library_arguments(parser, seed):
    """The options both transformer examples take: --seed, --threads, --keras."""
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads (default: GRAPHNET_NUM_THREADS or all cores)")
    parser.add_argument("--keras", action="store_true", help="run it with Keras 3 instead")
    return parser


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)   # keras-io trains 2 epochs
    parser.add_argument("--train", type=int, default=8000, help="training reviews")
    return library_arguments(parser, seed=0).parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    keras = keras_or_graphnet(args.keras, args.threads)
    keras.utils.set_random_seed(args.seed)
    x_train, y_train = synthetic_reviews(args.train, seed=args.seed)
    x_val, y_val = synthetic_reviews(2000, seed=args.seed + 1)
    model = text_classifier(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs,
              validation_data=(x_val, y_val), verbose=2)
    accuracy = float(np.mean(np.argmax(model.predict(x_val, verbose=0), axis=1) == y_val))
    print(f"held-out accuracy ({len(x_val)} reviews): {accuracy:.4f}; trained "
          f"{args.epochs} epochs in {time.perf_counter() - start:.1f} s")
    return accuracy


if __name__ == "__main__":
    main()
