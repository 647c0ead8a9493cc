"""Identity: Keras 3's placeholder layer that returns its inputs unchanged."""
from ..engine.base_layer import Layer


class Identity(Layer):
    """Returns its input (a tensor or a list of tensors) unchanged, its mask with it; a
    placeholder where a layer is optional.

    Input shape: arbitrary. Output shape: same as the input.
    """

    supports_masking = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True

    def call(self, inputs):
        return inputs
