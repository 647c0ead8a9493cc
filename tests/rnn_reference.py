"""NumPy references of recurrent layers for the tests: Keras's RNN loop over a step
function, and the N-d convolution ConvLSTM's steps take."""
import math

import numpy as np


def reference_rnn(step, weights, x, states, mask=None, go_backwards=False,
                   zero_output_for_mask=False, return_sequences=False, return_state=False,
                   unroll=False):
    """Keras's RNN loop in NumPy (float64): masked steps keep the states and repeat the
    previous output (zeros before the first unmasked step, or always zeros)."""
    x = x.astype(np.float64)
    states = [s.astype(np.float64) for s in states]
    previous, outputs = None, []
    for t in (range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])):
        output, new = step(weights, x[:, t], states)
        if mask is not None:
            def keep(value, old, t=t):
                return np.where(mask[:, t].reshape((-1,) + (1,) * (value.ndim - 1)), value, old)
            new = [keep(n, s) for n, s in zip(new, states)]
            held = previous if previous is not None and not zero_output_for_mask else 0.0
            output = keep(output, held)
        previous, states = output, new
        outputs.append(output)
    output = np.stack(outputs, axis=1) if return_sequences else outputs[-1]
    return [output] + states if return_state else [output]


def conv(x, w, strides=1, padding="valid", dilation=1):
    """Channels-last N-d convolution of x (batch, *spatial, C) with w (*kernel, C, F), as
    Keras's (TensorFlow's "same": the extra padding after)."""
    kernel = w.shape[:-2]
    rank = len(kernel)
    strides, dilation = [(v,) * rank if isinstance(v, int) else tuple(v)
                         for v in (strides, dilation)]
    pads, sizes = [], []
    for n, k, s, d in zip(x.shape[1:-1], kernel, strides, dilation):
        span = (k - 1) * d + 1
        total = max((math.ceil(n / s) - 1) * s + span - n, 0) if padding == "same" else 0
        pads.append((total // 2, total - total // 2))
        sizes.append((n + total - span) // s + 1)
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    y = np.zeros((x.shape[0], *sizes, w.shape[-1]))
    for offsets in np.ndindex(*kernel):
        window = tuple(slice(o * d, o * d + (m - 1) * s + 1, s)
                       for o, d, m, s in zip(offsets, dilation, sizes, strides))
        y += xp[(slice(None),) + window] @ w[offsets]
    return y
