"""InputLayer and ``gn.Input``: where a model's graph starts (on a graph placeholder)."""
from .. import backend
from ..graph.tensor import SymbolicTensor, placeholder
from .base_layer import Layer
from .layer_call import LayerCall


class InputLayer(Layer):
    """The layer behind ``gn.Input``: holds the shape a model is fed with.

    Args:
        shape: shape without the batch dimension (Keras 3 name; ``input_shape`` too).
        batch_size: fixed batch size, or None.
        dtype: input dtype (float32).
        batch_shape: full shape with the batch (``batch_input_shape`` too).
        name: layer (and input) name.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, name=None, input_shape=None, batch_input_shape=None,
                 **kwargs):
        if sparse:
            raise ValueError("InputLayer: sparse inputs are not supported")
        shape = input_shape if shape is None else shape
        batch_shape = batch_input_shape if batch_shape is None else batch_shape
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer needs `shape` (or `batch_shape`)")
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size,) + tuple(shape)
        super().__init__(name=name or backend.unique_name("input_layer"),
                         dtype=dtype or backend.floatx(), **kwargs)
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        for d in self.batch_shape:
            if d is not None and d < 0:
                raise ValueError(f"InputLayer '{self.name}': dimensions must be >= 0 or None, "
                                 f"got shape {self.batch_shape}")
        self.built = True
        if input_tensor is not None:
            tensor = input_tensor
        else:
            tensor = placeholder(self.batch_shape, self.dtype, name=self.name)
        call = LayerCall(self, [], [], {}, False)
        out = SymbolicTensor(tensor.node, history=(call, 0), name=self.name)
        call.outputs.append(out)
        self._calls.append(call)

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype,
                "sparse": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None):
    """A symbolic model input: ``gn.Input(shape=(784,))`` has shape (None, 784).

    Args:
        shape: the shape without the batch dimension.
        batch_size: optional fixed batch size.
        dtype: the input dtype (float32 by default).
        batch_shape: the full shape, batch included (instead of shape).
        name: the input's name (unique).
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, name=name, input_tensor=tensor)
    return layer.output
