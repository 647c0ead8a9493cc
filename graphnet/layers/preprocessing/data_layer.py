"""The base of the preprocessing layers: they run on data (numpy arrays, lists of strings,
torch tensors), eagerly in numpy, as Keras 3 uses them in a data pipeline. Strings cannot
enter a compiled plan, so only a layer that defines ``call`` over graphnet ops (the
integer-only ones) may also be called on symbolic tensors inside a model."""
import numpy as np

from ...engine.base_layer import Layer
from ...engine.layer_call import flatten
from ...graph.tensor import SymbolicTensor


def as_array(data, what, encoding="utf-8"):
    """``data`` (an array, a torch tensor, a list or scalar) as a numpy array; strings as
    numpy ``str`` (bytes decoded by ``encoding``, object arrays of str/bytes too)."""
    if hasattr(data, "detach") and hasattr(data, "cpu"):  # a torch tensor
        data = data.detach().cpu().numpy()
    array = np.asarray(data)
    if array.dtype.kind == "S":
        return np.char.decode(array, encoding)
    if array.dtype.kind == "O":
        flat = [v.decode(encoding) if isinstance(v, bytes) else v for v in array.reshape(-1)]
        if flat and all(isinstance(v, str) for v in flat):
            return np.array(flat, dtype=str).reshape(array.shape)
        if flat and all(isinstance(v, (int, np.integer)) for v in flat):
            return np.array(flat, dtype="int64").reshape(array.shape)
        raise TypeError(f"{what} must be strings or numbers, got an object array holding "
                        f"{sorted({type(v).__name__ for v in flat})}")
    return array


class DataLayer(Layer):
    """A layer computed in numpy on data by ``call_on_data``; ``__call__`` on symbolic
    tensors goes to ``call`` (graphnet ops) when the subclass supports it
    (``runs_in_graph``), else fails with the reason."""

    runs_in_graph = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if any(isinstance(t, SymbolicTensor) for t in flatten(inputs)):
            if not self.runs_in_graph:
                raise TypeError(
                    f"Layer '{self.name}' ({type(self).__name__}) preprocesses data: call it "
                    "on numpy arrays or lists (before fit, or in a gn.utils.PyDataset), not on "
                    "symbolic tensors; strings and its lookup tables cannot enter a compiled "
                    "model")
            return super().__call__(inputs, *args, **kwargs)
        return self.call_on_data(inputs, *args, **kwargs)

    def call_on_data(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement call_on_data")

    def build(self, input_shape=None):
        self.built = True


def check_choice(layer, name, value, allowed):
    """``value`` if it is one of ``allowed``, else Keras's error naming the argument."""
    if value not in allowed:
        raise ValueError(f"Invalid value for argument `{name}` of {layer}. Expected one of "
                         f"{allowed}. Received: {name}={value!r}")
    return value


def check_not_sparse(layer, sparse, ragged=False):
    if sparse:
        raise ValueError(f"{layer}: `sparse=True` can only be used with the TensorFlow "
                         "backend.")
    if ragged:
        raise ValueError(f"{layer}: `ragged=True` can only be used with the TensorFlow "
                         "backend.")
