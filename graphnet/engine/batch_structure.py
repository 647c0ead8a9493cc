"""The batch structure fit passes to ``train_step`` and its unpacking (Keras 3's
``keras.utils.pack_x_y_sample_weight`` / ``unpack_x_y_sample_weight``)."""


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch as fit passes it (Keras's rule): a tuple or
    list of 1 to 3 entries, anything else is x alone."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
                     f"`(x, y, sample_weight)`, found a tuple of {len(data)} entries")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch structure fit passes to ``train_step`` (Keras's rule): x alone when
    there is no y (``(x,)`` when x is a tuple), else ``(x, y)`` or ``(x, y, sw)``."""
    if y is None:
        return (x,) if isinstance(x, tuple) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)
