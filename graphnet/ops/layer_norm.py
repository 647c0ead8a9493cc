"""LAYER_NORM: ``layer_normalization`` over the last axis in one kernel
(csrc/layer_norm.c), one pass per row in cache, where the composite takes six kernels and
as many trips through memory (two reductions, three elementwise passes and a broadcast
product). It is a FusedOp: its reference, gradient and ONNX export are those of the
composite it expands to (``api.layer_norm_composite``)."""
from . import api
from .dtypes import require_float
from .elementwise import require_f32
from .fused import FusedOp
from .registry import NN, OpError, register


def fused_layer_norm(x, gamma, beta, axes, epsilon, rms_scaling):
    """LAYER_NORM of ``x`` when the normalization is over its last axis in float32 with
    gamma and beta (each optional) of that axis's size; else None (the composite)."""
    last = x.shape[-1] if x.ndim else None
    if rms_scaling or axes != [x.ndim - 1] or last is None or x.dtype != "float32":
        return None
    params = [api.convert_to_tensor(p) for p in (gamma, beta) if p is not None]
    if any(p.dtype != "float32" or tuple(p.shape) != (last,) for p in params):
        return None
    return api._apply("LAYER_NORM", x, *params, epsilon=float(epsilon),
                      scale=gamma is not None, center=beta is not None)


@register
class LayerNorm(FusedOp):
    """LAYER_NORM(x[, gamma][, beta]) {epsilon, scale, center}: (x - mean) * rsqrt(var +
    epsilon) * gamma + beta over x's last axis, the variance centered (Keras 3's
    layer_normalization); ``scale`` / ``center`` say whether gamma / beta are inputs."""
    name, group, arity = "LAYER_NORM", NN, None

    def _params(self, node, inputs):
        rest = list(inputs[1:])
        gamma = rest.pop(0) if node.attrs["scale"] else None
        beta = rest.pop(0) if node.attrs["center"] else None
        return gamma, beta

    def expand(self, node, inputs):
        x = api._wrap(inputs[0])
        gamma, beta = (None if p is None else api._wrap(p) for p in self._params(node, inputs))
        return api.layer_norm_composite(x, gamma, beta, [len(x.shape) - 1],
                                        node.attrs["epsilon"], False).node

    def infer(self, shapes, dtypes, attrs):
        wanted = 1 + bool(attrs.get("scale")) + bool(attrs.get("center"))
        if len(shapes) != wanted:
            raise OpError(f"LAYER_NORM: scale={attrs.get('scale')} and "
                          f"center={attrs.get('center')} take {wanted} inputs, got "
                          f"{len(shapes)}")
        x = shapes[0]
        if not x:
            raise OpError("LAYER_NORM: x needs at least one axis, got a scalar")
        for p in shapes[1:]:
            if len(p) != 1 or (x[-1] is not None and p[0] is not None and p[0] != x[-1]):
                raise OpError(f"LAYER_NORM: gamma and beta must be ({x[-1]},) like x's last "
                              f"axis, got {p} for x {x}")
        return tuple(x), require_float(self.name, dtypes)

    def lower(self, node, ctx):
        require_f32(node, ctx)
        x = node.inputs[0]
        gamma, beta = self._params(node, node.inputs)
        out = ctx.out(node)
        if not ctx.numel(node):
            return
        n = x.shape[-1]
        ctx.emit("GN_K_LAYER_NORM", rows=ctx.numel(node) // n, n=n, x=ctx.inp(x),
                 gamma=-1 if gamma is None else ctx.inp(gamma),
                 beta=-1 if beta is None else ctx.inp(beta), y=out,
                 epsilon=node.attrs["epsilon"])
