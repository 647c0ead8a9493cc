"""TextVectorization's adapt and call on an IMDB-sized corpus (25,000 texts of 230 words
drawn from a 20,000-word Zipf vocabulary), in numpy; Keras 3 has no number to set beside it
here (its TextVectorization needs tensorflow, which this machine lacks).

    python bench/bench_text_vectorization.py [--texts 25000] [--words 230] [--repeats 3]
"""
import argparse
import time

import numpy as np

from graphnet.layers import TextVectorization


def corpus(texts, words, vocabulary=20000, seed=0):
    rng = np.random.default_rng(seed)
    names = np.array([f"w{i}" for i in range(vocabulary)])
    ranks = np.minimum(rng.zipf(1.2, size=texts * words), vocabulary) - 1
    return [" ".join(names[ranks[i * words:(i + 1) * words]]) + "." for i in range(texts)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=25000)
    parser.add_argument("--words", type=int, default=230)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = corpus(args.texts, args.words)
    adapt, call = [], []
    for _ in range(args.repeats):
        layer = TextVectorization(max_tokens=20000, output_sequence_length=200)
        start = time.perf_counter()
        layer.adapt(texts)
        middle = time.perf_counter()
        layer(texts)
        adapt.append(middle - start)
        call.append(time.perf_counter() - middle)
    tokens = args.texts * args.words
    for what, times in (("adapt", adapt), ("call", call)):
        best = min(times)
        print(f"{what}: {best:.2f} s best of {args.repeats} [{min(times):.2f}-{max(times):.2f}],"
              f" {tokens / best / 1e6:.2f} M tokens/s")


if __name__ == "__main__":
    main()
