"""What the recurrent ops (graphnet/ops/recurrent.py) and their C kernels (csrc/recurrent.c)
agree on: the cells, the activations, and the per-step layout of the forward record Y and of
the backward record Z.

Y (batch, T, S) is indexed by input time step. Per step it holds the state after the step,
the output (only with a mask: Keras carries the previous *output*, not the state, over a
masked step), and the activated gates; for GRU with ``reset_after`` also the recurrent
candidate ``h_prev @ R_h + b_rh``. The input projection of every step is written into the
gate slots by one GEMM before the steps run, then replaced by the activated gates.

Z (batch, T, K), written by the backward pass, holds per step the gradients of the gate
pre-activations (input side ``dP``, and for GRU ``reset_after`` the recurrent side ``dR``),
the recurrent product's input (``hr``: the previous state; GRU without ``reset_after`` also
``r * h_prev``; with recurrent dropout, per gate the masked one) and the gradients flowing
into the state before the step (``dh``, ``dc``).
"""
import numpy as np

CELLS = ("simple_rnn", "lstm", "gru")
CELL_CODE = {name: code for code, name in enumerate(CELLS)}
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
#: activations the kernels fuse, with their derivative from the output alone
ACTIVATIONS = ("linear", "tanh", "sigmoid", "relu", "hard_sigmoid")
ACT_CODE = {name: code for code, name in enumerate(ACTIVATIONS)}
MASK_NONE, MASK_CARRY, MASK_ZERO = 0, 1, 2
WRT = ("x", "kernel", "recurrent_kernel", "bias", "h0", "c0")
WRT_CODE = {name: code for code, name in enumerate(WRT)}


def record_layout(cell, units, reset_after, masked):
    """({slot: offset}, S) of the forward record Y; ``gates`` spans GATES[cell] * units."""
    u, at = units, {}
    at["h"] = 0
    width = u
    if cell == "lstm":
        at["c"] = width
        width += u
    if masked:
        at["o"] = width
        width += u
    at["gates"] = width
    width += GATES[cell] * u
    if cell == "gru" and reset_after:
        at["rh"] = width
        width += u
    return at, width


def grad_layout(cell, units, reset_after, rec_masked=False):
    """({slot: offset}, K) of the backward record Z. With recurrent dropout (one mask per
    gate) ``hr`` holds each gate's masked previous state."""
    u, g = units, GATES[cell] * units
    at = {"dp": 0}
    width = g
    if cell == "gru" and reset_after:
        at["dr"] = width
        width += g
    at["hr"] = width
    width += g if rec_masked else 2 * u if cell == "gru" and not reset_after else u
    at["dh"] = width
    width += u
    if cell == "lstm":
        at["dc"] = width
        width += u
    return at, width


def activate(name, x):
    if name == "linear":
        return x
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "relu":
        return np.maximum(x, 0)
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)   # hard_sigmoid: relu6(x + 3) / 6


def derivative_from_output(name, y):
    """d act(x) / dx written with y = act(x)."""
    if name == "linear":
        return np.ones_like(y)
    if name == "tanh":
        return 1.0 - y * y
    if name == "sigmoid":
        return y * (1.0 - y)
    if name == "relu":
        return (y > 0).astype(y.dtype)
    return ((y > 0) & (y < 1)).astype(y.dtype) / 6.0
