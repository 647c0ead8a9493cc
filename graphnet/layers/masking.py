"""The Masking layer: marks the timesteps whose features all equal ``mask_value``."""
from .. import ops
from ..engine.base_layer import Layer


class Masking(Layer):
    """Masks a sequence by a padding value: a timestep whose features all equal
    ``mask_value`` is masked (its mask entry is False) and its features are set to 0;
    layers downstream that support masking see the mask (``(batch, timesteps)``), and the
    compiled losses and metrics leave the masked timesteps out.

    Args:
        mask_value: the padding value (0.0).

    Input shape:
        ``(batch, ..., features)``: the mask covers every axis but the last.

    Output shape:
        Same as the input.
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        try:
            self.mask_value = float(mask_value)
        except (TypeError, ValueError):
            raise TypeError(f"Masking '{self.name}': mask_value must be a number, got "
                            f"{type(mask_value).__name__} {mask_value!r}") from None

    def _kept(self, inputs, keepdims):
        return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1, keepdims=keepdims)

    def compute_mask(self, inputs, mask=None):
        return self._kept(inputs, keepdims=False)

    def call(self, inputs):
        return ops.where(self._kept(inputs, keepdims=True), inputs, 0.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
