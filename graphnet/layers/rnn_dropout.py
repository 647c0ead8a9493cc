"""Keras 3's DropoutRNNCell: a cell's dropout masks drawn once per call of its RNN and
reused at every step.

A cell mixing it in calls ``get_dropout_mask(inputs)`` and
``get_recurrent_dropout_mask(state)`` in its ``call``. RNN traces that call once, on
placeholders for one step: a mask drawn there would belong to the step graph and be drawn
anew at every step. So, as Keras 3's RNN does before its loop, RNN draws each mask first,
on tensors of the call (the sequence's first step, zeros of the cell's first state: only
their shapes count); the traced step then reads the cached mask as an input of the loop,
computed once per batch. The masks are dropped after the call (Keras's
``reset_dropout_mask``), so the next call draws its own.
"""
import contextlib

import numpy as np

from .. import ops
from .rnn_cells import StackedRNNCells, flat_state_sizes


class DropoutRNNCell:
    """Mixin for RNN cells with dropout (Keras 3's): caches one input and one recurrent
    dropout mask per call of the RNN, the same at every step.

    The cell sets ``dropout`` and ``recurrent_dropout`` (rates in [0, 1)), optionally
    ``seed`` and ``dropout_mask_count`` (that many masks per kind, e.g. one per gate).
    """

    def _create_dropout_mask(self, step_input, rate):
        count = getattr(self, "dropout_mask_count", None)
        ones = ops.ones_like(step_input)
        masks = [ops.dropout(ones, rate, seed=self._next_mask_seed())
                 for _ in range(1 if count is None else count)]
        return masks[0] if count is None else masks

    def _next_mask_seed(self):
        """The cell's seed, advanced per mask (one seed would draw the same mask twice)."""
        seed = getattr(self, "seed", None)
        if seed is None:
            return None
        drawn = self.__dict__.get("_masks_drawn", 0)
        self._masks_drawn = drawn + 1
        return int(seed) + drawn

    def get_dropout_mask(self, step_input):
        """The input mask of this call (drawn at the first request), or None at rate 0."""
        if self.__dict__.get("_dropout_mask") is None and self.dropout > 0:
            self._dropout_mask = self._create_dropout_mask(step_input, self.dropout)
        return self.__dict__.get("_dropout_mask")

    def get_recurrent_dropout_mask(self, step_input):
        """The recurrent mask of this call (drawn at the first request), or None at 0."""
        if self.__dict__.get("_recurrent_dropout_mask") is None and self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = self._create_dropout_mask(step_input,
                                                                     self.recurrent_dropout)
        return self.__dict__.get("_recurrent_dropout_mask")

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None


@contextlib.contextmanager
def dropout_masks_for_call(cell, x):
    """Within: every DropoutRNNCell in ``cell`` (itself, or a StackedRNNCells' cells) has
    the masks of one call over x (batch, timesteps, ...); after: none."""
    _draw_masks(cell, x[:, 0])
    try:
        yield
    finally:
        _reset_masks(cell)


def _zeros(like, size):
    """Zeros (batch, size) with the batch of ``like`` (batch, ...)."""
    first = like[(slice(None),) + (0,) * (like.ndim - 2) + (slice(0, 1),)]
    return ops.add(ops.zeros_like(first), np.zeros((1, size), like.dtype))


def _draw_masks(cell, step_input):
    if isinstance(cell, StackedRNNCells):
        for inner in cell.cells:   # each cell's input is the previous one's output
            _draw_masks(inner, step_input)
            size = getattr(inner, "output_size", None) or \
                flat_state_sizes(inner.name, inner.state_size)[0]
            step_input = _zeros(step_input, size)
    elif isinstance(cell, DropoutRNNCell):
        cell.get_dropout_mask(step_input)
        cell.get_recurrent_dropout_mask(
            _zeros(step_input, flat_state_sizes(cell.name, cell.state_size)[0]))


def _reset_masks(cell):
    for inner in cell.cells if isinstance(cell, StackedRNNCells) else [cell]:
        if isinstance(inner, StackedRNNCells):
            _reset_masks(inner)
        elif isinstance(inner, DropoutRNNCell):
            inner.reset_dropout_mask()
            inner.reset_recurrent_dropout_mask()
