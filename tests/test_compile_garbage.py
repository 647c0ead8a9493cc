"""Compiling leaves nothing for the cyclic garbage collector: what a compile builds and
drops is freed by reference counting at once. A reference cycle (a recursive closure in a
pass held the whole graph and its readers map) left a 20,000-kernel compile's graphs
alive until a full collection, which then took most of a second."""
import gc

import numpy as np
import pytest

import graphnet as gn
from graphnet.compiler import compile_plan
from graphnet.runtime.executor import Executable

L = gn.layers


def _chain():
    x = inputs = gn.Input((4,))
    for _ in range(20):
        x = gn.ops.multiply(gn.ops.exp(L.Dense(4, activation="tanh")(x)), x)
    return gn.function(inputs, x), [(3, 4)]


def _training_step():
    model = gn.Sequential([gn.Input((6, 6, 2)), L.Conv2D(3, 3, activation="relu"),
                           L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.1),
                           L.Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    x = np.zeros((4, 6, 6, 2), np.float32)
    model.train_on_batch(x, np.eye(10, dtype=np.float32)[:4])
    step, = model._step_fns.values()
    return step, [(4, 6, 6, 2), (4, 10), (4,)][:len(step.input_nodes)]


@pytest.mark.parametrize("build", [_chain, _training_step])
def test_a_compile_leaves_no_reference_cycles(build):
    fn, shapes = build()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        plan, weights, _ = compile_plan(fn.input_nodes, fn.output_nodes, shapes,
                                        training=fn.training, updates=fn.updates)
        Executable(plan, weights)
        assert plan.kernel_count > 5
        del plan, weights
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()
