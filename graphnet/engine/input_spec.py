"""InputSpec: what a layer accepts, checked at call time with Keras's messages."""


class InputSpec:
    """Constraints on a layer input: ``ndim``, ``min_ndim``, ``max_ndim``, ``axes`` ({axis: size})."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None):
        self.dtype = dtype
        self.shape = tuple(shape) if shape is not None else None
        self.ndim = len(shape) if shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        self.name = name

    def __repr__(self):
        parts = [f"{k}={v}" for k, v in (("ndim", self.ndim), ("min_ndim", self.min_ndim),
                                          ("max_ndim", self.max_ndim), ("axes", self.axes))
                 if v]
        return "InputSpec(" + ", ".join(parts) + ")"


def check_input_spec(layer, tensors):
    specs = layer.input_spec
    if specs is None:
        return
    specs = specs if isinstance(specs, (list, tuple)) else [specs]
    if len(specs) != len(tensors):
        raise ValueError(f"Layer '{layer.name}' expects {len(specs)} input(s), but it received "
                         f"{len(tensors)} input tensors.")
    for i, (spec, t) in enumerate(zip(specs, tensors)):
        if spec is None:
            continue
        shape = t.shape
        where = f"Input {i} of layer '{layer.name}' is incompatible with the layer:"
        if spec.ndim is not None and len(shape) != spec.ndim:
            raise ValueError(f"{where} expected ndim={spec.ndim}, found ndim={len(shape)}. "
                             f"Full shape received: {shape}")
        if spec.min_ndim is not None and len(shape) < spec.min_ndim:
            raise ValueError(f"{where} expected min_ndim={spec.min_ndim}, found "
                             f"ndim={len(shape)}. Full shape received: {shape}")
        if spec.max_ndim is not None and len(shape) > spec.max_ndim:
            raise ValueError(f"{where} expected max_ndim={spec.max_ndim}, found "
                             f"ndim={len(shape)}. Full shape received: {shape}")
        for axis, size in spec.axes.items():
            if size is None or -len(shape) > axis or axis >= len(shape):
                continue
            if shape[axis] is not None and shape[axis] != size:
                raise ValueError(f"{where} expected axis {axis} of input shape to have value "
                                 f"{size}, but received input with shape {shape}")
        if spec.shape is not None:
            for expected, got in zip(spec.shape, shape):
                if expected is not None and got is not None and expected != got:
                    raise ValueError(f"{where} expected shape={spec.shape}, found "
                                     f"shape={shape}")
