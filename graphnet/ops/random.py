"""Random ops, drawn by the C counter-based generator (csrc/random.c).

RANDOM(state, like) {dist, a, b, shape}: ``state`` is a 2-element uint64
variable {seed, counter} that each run advances; ``shape`` entries are sizes
or ("in", i) for dim i of ``like``. The NumPy reference draws the same numbers.
"""
import numpy as np

from .registry import RANDOM, Op, OpError, register

DISTS = {"uniform": "GN_RNG_UNIFORM", "normal": "GN_RNG_NORMAL", "bernoulli": "GN_RNG_BERNOULLI"}
_M = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x):
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M
        return x ^ (x >> np.uint64(31))


def _unit(bits):
    u = ((bits >> np.uint64(40)).astype(np.float32) + np.float32(0.5)) * np.float32(
        1.0 / 16777216.0)
    return np.minimum(u, np.float32(1.0 - 2.0 ** -24))   # as csrc/random.c: below 1


def draw(dist, n, a, b, state):
    """The numbers gn_random draws (and the same advance of ``state``, int64 {seed, counter})."""
    state = state.view(np.uint64)
    key = _splitmix64(np.uint64(state[0]) ^ _splitmix64(np.uint64(state[1])))
    state[1] += 1
    with np.errstate(over="ignore"):
        if dist == "normal":
            idx = np.arange(0, n, 2, dtype=np.uint64)
            r = _splitmix64(key + idx)
            u1, u2 = _unit(r), _unit(_splitmix64(r))
            rad = np.sqrt(np.float32(-2.0) * np.log(u1))
            th = np.float32(6.28318530718) * u2
            out = np.empty(len(idx) * 2, np.float32)
            out[0::2] = a + b * rad * np.cos(th)
            out[1::2] = a + b * rad * np.sin(th)
            return out[:n]
        idx = np.arange(n, dtype=np.uint64)  # values 2j, 2j + 1: two parts of hash j
        bits = _splitmix64(key + (idx >> np.uint64(1)))
        u = _unit(np.where(idx & np.uint64(1), bits << np.uint64(24), bits))
    if dist == "uniform":
        return (np.float32(a) + np.float32(b - a) * u).astype(np.float32)
    return np.where(u < np.float32(a), np.float32(b), np.float32(0)).astype(np.float32)


def _shape(spec, like_shape):
    return tuple(like_shape[s[1]] if isinstance(s, tuple) else s for s in spec)


@register
class RandomOp(Op):
    name, group, arity = "RANDOM", RANDOM, 2

    def infer(self, shapes, dtypes, attrs):
        self.check_arity(shapes)
        if dtypes[0] != "int64" or shapes[0] != (2,):
            raise OpError(f"RANDOM needs an int64 state variable of shape (2,), got "
                          f"{dtypes[0]} {shapes[0]}")
        if attrs["dist"] not in DISTS:
            raise OpError(f"RANDOM: unknown distribution {attrs['dist']!r}")
        return _shape(attrs["shape"], shapes[1]), "float32"

    def perform(self, inputs, attrs):
        state, like = inputs
        shape = _shape(attrs["shape"], like.shape)
        n = int(np.prod(shape, dtype=np.int64))
        return draw(attrs["dist"], n, attrs["a"], attrs["b"], state).reshape(shape)

    def grad(self, node, grad_output):
        """Samples carry no gradient (dropout's MUL carries the mask)."""
        return [None, None]

    def lower(self, node, ctx):
        ctx.emit("GN_K_RANDOM", dist=ctx.c(DISTS[node.attrs["dist"]]), n=ctx.numel(node),
                 state=ctx.inp(node.inputs[0]), out=ctx.out(node), a=node.attrs["a"],
                 b=node.attrs["b"])
