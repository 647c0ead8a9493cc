"""LAYER_NORM: ``layer_normalization`` over the last axis in one kernel
(csrc/layer_norm.c), each row in cache, where the composite takes six kernels and as many
trips through memory (two reductions, three elementwise passes and a broadcast product).
It is a FusedOp: its reference and ONNX export are those of the composite it expands to
(``api.layer_norm_composite``). Its gradient is its own: x's from one kernel,
LAYER_NORM_GRAD (a FusedOp too, whose expansion is that gradient in primitives), gamma's and
beta's two sums over the rows; the composite's gradient takes some fifteen kernels."""
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
    own_gradient = True

    def grad(self, node, grad_output):
        x = node.inputs[0]
        gamma, beta = self._params(node, node.inputs)
        eps = node.attrs["epsilon"]
        rows = tuple(range(len(x.shape) - 1))
        g = api._wrap(grad_output)
        dx = api._apply("LAYER_NORM_GRAD", g, *([] if gamma is None else [api._wrap(gamma)]),
                        api._wrap(x), epsilon=eps, scale=gamma is not None).node
        grads = [dx]
        if gamma is not None:
            normalized = api._apply("LAYER_NORM", api._wrap(x), epsilon=eps, scale=False,
                                    center=False)
            grads.append(api.sum(api.multiply(g, normalized), axis=rows).node)
        if beta is not None:
            grads.append(api.sum(g, axis=rows).node)
        return grads

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


@register
class LayerNormGrad(FusedOp):
    """LAYER_NORM_GRAD(dy[, gamma], x) {epsilon, scale}: the gradient of LAYER_NORM with
    respect to x, inv * (g - mean(g) - xhat * mean(g * xhat)) per row of the last axis,
    g = dy * gamma (``scale``: gamma is an input), in one kernel; its reference and its
    own gradient are those of its expansion, that formula in primitives."""
    name, group, arity = "LAYER_NORM_GRAD", NN, None

    def _parts(self, node, inputs):
        return inputs[0], (inputs[1] if node.attrs["scale"] else None), inputs[-1]

    def expand(self, node, inputs):
        dy, gamma, x = (None if t is None else api._wrap(t) for t in self._parts(node, inputs))
        eps, axis = node.attrs["epsilon"], [len(x.shape) - 1]
        mean, var = api.moments(x, axis, keepdims=True)
        inv = api.rsqrt(api.add(var, eps))
        xhat = api.multiply(api.subtract(x, mean), inv)
        g = dy if gamma is None else api.multiply(dy, gamma)
        g_mean = api.mean(g, axis=-1, keepdims=True)
        gx_mean = api.mean(api.multiply(g, xhat), axis=-1, keepdims=True)
        return api.multiply(inv, api.subtract(api.subtract(g, g_mean),
                                              api.multiply(xhat, gx_mean))).node

    def infer(self, shapes, dtypes, attrs):
        wanted = 2 + bool(attrs.get("scale"))
        if len(shapes) != wanted:
            raise OpError(f"LAYER_NORM_GRAD: scale={attrs.get('scale')} takes {wanted} "
                          f"inputs (dy[, gamma], x), got {len(shapes)}")
        dy, x = shapes[0], shapes[-1]
        if not x or len(dy) != len(x) or any(a is not None and b is not None and a != b
                                             for a, b in zip(dy, x)):
            raise OpError(f"LAYER_NORM_GRAD: dy {dy} and x {x} must have one shape of at "
                          "least one axis")
        if wanted == 3 and (len(shapes[1]) != 1 or shapes[1][0] not in (None, x[-1])):
            raise OpError(f"LAYER_NORM_GRAD: gamma must be ({x[-1]},), got {shapes[1]}")
        return tuple(x), require_float(self.name, dtypes)

    def lower(self, node, ctx):
        require_f32(node, ctx)
        dy, gamma, x = self._parts(node, node.inputs)
        out = ctx.out(node)
        if not ctx.numel(node):
            return
        n = x.shape[-1]
        ctx.emit("GN_K_LAYER_NORM_GRAD", rows=ctx.numel(node) // n, n=n, dy=ctx.inp(dy),
                 x=ctx.inp(x), gamma=-1 if gamma is None else ctx.inp(gamma), dx=out,
                 epsilon=node.attrs["epsilon"])
