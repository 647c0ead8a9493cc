"""A text classifier on a generated task with a known answer (issue 17's accuracy list):
Embedding + Conv1D + GlobalMaxPooling1D learns to find one bigram among random tokens."""
import numpy as np

import graphnet as gn


def bigram_task(n, seed, length=20, vocab=50):
    """Token ids 1..vocab-1; label 1 exactly when the bigram (7, 3) occurs (planted in
    every other sequence, removed wherever it occurred by chance)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, size=(n, length)).astype("int32")
    for row in x:
        hits = np.nonzero((row[:-1] == 7) & (row[1:] == 3))[0]
        row[hits + 1] = 4
    y = (np.arange(n) % 2).astype("float32")
    at = rng.integers(0, length - 1, size=n)
    x[y == 1, at[y == 1]] = 7
    x[y == 1, at[y == 1] + 1] = 3
    return x, y


def test_embedding_conv1d_classifier_finds_the_bigram():
    x, y = bigram_task(3000, 1)
    x_held, y_held = bigram_task(1000, 2)
    assert 0 < ((x_held[:, :-1] == 7) & (x_held[:, 1:] == 3)).any(1).sum() == y_held.sum()
    gn.utils.set_random_seed(0)
    i = gn.Input((20,), dtype="int32")
    h = gn.layers.Embedding(50, 16)(i)
    h = gn.layers.Conv1D(32, 2, activation="relu")(h)
    h = gn.layers.GlobalMaxPooling1D()(h)
    model = gn.Model(i, gn.layers.Dense(1, activation="sigmoid")(h))
    model.compile(gn.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=10, verbose=0)
    _, accuracy = model.evaluate(x_held, y_held, verbose=0)
    assert accuracy >= 0.97, accuracy
