"""``gn.random``: Keras 3's ``keras.random`` (names, signatures, seeds).

Each function draws through the RANDOM op (ops/random.py, the C counter-based
generator). Called on shapes and arrays outside any layer it returns numpy arrays,
computed by a small plan cached per function, settings and shapes (the generator state
is an input of the plan). Inside a layer's ``call`` or a traced step, or given a symbolic
tensor, it builds graph nodes instead: each run of the compiled plan draws anew.

``seed``: an int draws the same values on every eager call (Keras 3's rule); a
``SeedGenerator`` draws new values on each call, reproducibly from its seed; None draws
from the session generator (``gn.utils.set_random_seed``). In a graph an int seed, like a
generator, fixes the sequence the plan's runs draw.
"""
import operator

import numpy as np

from . import backend
from .graph.node import Node
from .graph.scope import inside_layer_call, layer_call_scope
from .graph.tensor import SymbolicTensor, placeholder
from .graph.trace import current_trace
from .graph.variable import Variable
from .ops import api
from .ops.dims import size_spec
from .ops.eager import eager_plans
from .ops.random import _splitmix64
from .runtime.function import Function

__all__ = ["SeedGenerator", "normal", "uniform", "truncated_normal", "randint", "dropout",
           "shuffle", "categorical", "binomial"]


class SeedGenerator:
    """A stream of seeds (Keras 3's ``keras.random.SeedGenerator``): pass it as ``seed`` to
    draw new values on every call, reproducibly from ``seed``.

    Args:
        seed: an int (None: drawn from the session generator).
        name: a name for the generator's state variable.
    """

    def __init__(self, seed=None, name=None):
        self._initial_seed = seed
        if seed is None:
            seed = _session_seed()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"SeedGenerator: seed must be an integer, got {seed!r}")
        self.name = name or backend.unique_name("seed_generator")
        self.state = Variable(_seed_state(seed), trainable=False,
                              name=f"{self.name}/seed_generator_state")

    def next(self, ordered=True):
        """The current state ``[seed, counter]`` (an int64 array). ``ordered``: the counter
        advances by one; otherwise both entries move to ``(state + 1) * 5387 % 933199``
        (Keras's sequence of near-unique numbers below 933199)."""
        value = self.state.numpy()
        if ordered:
            self.state.assign(value + np.array([0, 1], np.int64))
        else:
            self.state.assign((value + 1) * 5387 % 933199)
        return value

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _session_seed():
    from .initializers import session_rng
    return int(session_rng().integers(1, 2 ** 62))


def _seed_state(seed):
    """``[seed, 0]`` as int64, any int taken modulo 2**64 (Keras takes any Python int)."""
    return np.array([int(seed) % 2 ** 64, 0], np.uint64).view(np.int64)


def _state_value(seed, what):
    """The generator state ``[seed, counter]`` of one call (int64, 2 elements)."""
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if seed is None:
        return _seed_state(_session_seed())
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"gn.random.{what}: seed must be None, an integer or a "
                         f"gn.random.SeedGenerator, got {seed!r}")
    return _seed_state(seed)


def _symbolic(*values):
    return inside_layer_call() or current_trace() is not None or \
        any(isinstance(v, SymbolicTensor) for v in values)


def _graph_state(seed, what):
    """A state Variable for one random op of a graph: its own stream (the key the eager
    call would use, so two ops of one generator never overlap), advanced by each run."""
    seed_, counter = _state_value(seed, what).view(np.uint64)
    key = _splitmix64(seed_ ^ _splitmix64(counter))
    return api.convert_to_tensor(Variable(np.array([key, 0], np.uint64).view(np.int64),
                                          trainable=False, name="rng_state"))


def _draw(what, build, seed, tensors=(), settings=()):
    """``build(state, *tensors)`` -> SymbolicTensor, as graph nodes (symbolic use) or run
    now on a cached plan with the state and the arrays as its inputs (eager use)."""
    if _symbolic(*tensors):
        return build(_graph_state(seed, what),
                     *[api.convert_to_tensor(t) for t in tensors])
    arrays = [np.asarray(t) for t in tensors]
    arrays = [a.astype(np.float32) if a.dtype == np.float64 else a for a in arrays]
    key = ("gn.random", what, settings, tuple((a.shape, str(a.dtype)) for a in arrays))
    function = eager_plans.get(key)
    if function is None:
        state = placeholder((2,), "int64", name="rng_state")
        holders = [placeholder(a.shape, str(a.dtype), name=f"x{i}") for i, a in
                   enumerate(arrays)]
        with layer_call_scope():
            out = build(state, *holders)
        function = eager_plans.put(key, Function([state] + holders, [out],
                                                 name=f"gn.random.{what}"))
    return function(_state_value(seed, what), *arrays)[0]


def _shape(shape, what):
    """A shape of ints only (the draws whose other arguments broadcast against it)."""
    spec, source = _sized(shape, what)
    if source is not None:
        raise ValueError(f"gn.random.{what}: shape must be a tuple of ints, got {shape!r} "
                         "(sizes only known when the model runs are not supported here)")
    return tuple(spec)


def _sized(shape, what):
    """(spec, source) of a draw's shape: ints, and sizes from gn.ops.shape of a symbolic
    tensor as ("in", axis) of ``source`` (graphnet/ops/dims.py)."""
    spec, source = size_spec(shape, f"gn.random.{what}")
    if any(isinstance(d, int) and d < 0 for d in spec):
        raise ValueError(f"gn.random.{what}: shape must not be negative, got {shape!r}")
    return tuple(spec), source


def _draw_sized(what, shape, seed, settings, build):
    """``_draw`` of ``build(state, spec, source)`` over a shape that may hold Dims."""
    spec, source = _sized(shape, what)
    return _draw(what, lambda state, *src: build(state, spec, src[0] if src else None), seed,
                 tensors=() if source is None else (source,), settings=(spec,) + settings)


def _float_dtype(dtype, what):
    dtype = str(np.dtype(dtype or backend.floatx()))
    if dtype != "float32":
        raise ValueError(f"gn.random.{what}: dtype must be float32 (the C generator's), got "
                         f"{dtype!r}")
    return dtype


def _random_node(state, dist, shape, a, b, like=None):
    like = api.as_node(0.0) if like is None else api.as_node(like)
    return SymbolicTensor(Node("RANDOM", [api.as_node(state), like],
                               {"dist": dist, "shape": tuple(shape), "a": float(a),
                                "b": float(b)}))


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples of the normal distribution N(mean, stddev**2)."""
    _float_dtype(dtype, "normal")
    return _draw_sized("normal", shape, seed, (float(mean), float(stddev)),
                       lambda s, spec, src: _random_node(s, "normal", spec, mean, stddev, src))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples of the uniform distribution on [minval, maxval)."""
    _float_dtype(dtype, "uniform")
    if not float(minval) < float(maxval):
        raise ValueError(f"gn.random.uniform: minval must be below maxval, got {minval} and "
                         f"{maxval}")
    # a + (b - a) u can round up to b in float32: the largest float below b bounds it
    below = float(np.nextafter(np.float32(maxval), np.float32(minval)))

    def build(state, spec, source):
        return api.minimum(_random_node(state, "uniform", spec, minval, maxval, source), below)
    return _draw_sized("uniform", shape, seed, (float(minval), float(maxval)), build)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples within two standard deviations of the mean: as Keras's torch
    backend, each is the first of four standard normal draws inside (-2, 2); where all
    four fall outside (one value in 200,000) the first, clipped to [-2, 2]."""
    _float_dtype(dtype, "truncated_normal")

    def build(state, spec, source):
        draws = _random_node(state, "normal", spec + (4,), 0.0, 1.0, source)
        inside = api.cast(api.less(api.abs(draws), 2.0), "float32")
        first = api.one_hot(api.argmax(inside, axis=-1), 4)
        standard = api.clip(api.sum(api.multiply(draws, first), axis=-1), -2.0, 2.0)
        return api.add(api.multiply(standard, float(stddev)), float(mean))
    return _draw_sized("truncated_normal", shape, seed, (float(mean), float(stddev)), build)


INT_DTYPES = ("int8", "uint8", "int32", "int64")   # graphnet's integer dtypes


def _integer(value, what, name):
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"gn.random.{what}: {name} must be an integer, got {value!r}") \
            from None


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers uniform on [minval, maxval), both within +-2**24: the draws and the
    arithmetic on them are float32 (24 random bits each, integers exact up to 2**24)."""
    low, high = _integer(minval, "randint", "minval"), _integer(maxval, "randint", "maxval")
    if not low < high:
        raise ValueError(f"gn.random.randint: minval must be below maxval, got {minval} and "
                         f"{maxval}")
    if max(abs(low), abs(high)) > 2 ** 24 or high - low > 2 ** 24:
        raise ValueError(f"gn.random.randint: minval and maxval must lie within +-2**24 "
                         f"(16777216), at most 2**24 apart (float32 draws), got {minval} and "
                         f"{maxval}")
    dtype = str(np.dtype(dtype))
    if dtype not in INT_DTYPES:
        raise ValueError(f"gn.random.randint: dtype must be one of {', '.join(INT_DTYPES)}, "
                         f"got {dtype!r}")
    info = np.iinfo(dtype)
    if low < info.min or high - 1 > info.max:
        raise ValueError(f"gn.random.randint: [minval, maxval) = [{low}, {high}) does not fit "
                         f"dtype {dtype} ([{info.min}, {info.max}])")

    def build(state, spec, source):
        offsets = api.floor(_random_node(state, "uniform", spec, 0.0, high - low, source))
        values = api.add(api.clip(offsets, 0.0, float(high - low - 1)), float(low))
        return api.cast(values, dtype)
    return _draw_sized("randint", shape, seed, (low, high, dtype), build)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class indices per row of ``logits`` (batch, classes), drawn with
    probabilities softmax(logits) (the Gumbel-max trick): shape (batch, num_samples)."""
    num_samples = _integer(num_samples, "categorical", "num_samples")
    if num_samples < 1:
        raise ValueError(f"gn.random.categorical: num_samples must be >= 1, got {num_samples}")
    dtype = str(np.dtype(dtype))
    if dtype not in INT_DTYPES:
        raise ValueError(f"gn.random.categorical: dtype must be one of "
                         f"{', '.join(INT_DTYPES)}, got {dtype!r}")
    shape = tuple(logits.shape) if isinstance(logits, SymbolicTensor) else np.shape(logits)
    if len(shape) != 2:
        raise ValueError(f"gn.random.categorical: logits must have shape (batch, classes), "
                         f"got shape {shape}")

    def build(state, x):
        u = _random_node(state, "uniform", (("in", 0), num_samples, ("in", 1)), 0.0, 1.0,
                         like=x)
        gumbel = api.negative(api.log(api.negative(api.log(u))))
        scores = api.add(api.expand_dims(api.cast(x, "float32"), 1), gumbel)
        return api.cast(api.argmax(scores, axis=-1), dtype)
    return _draw("categorical", build, seed, tensors=(logits,), settings=(num_samples, dtype))


def _noise_spec(x, noise_shape):
    """The RANDOM shape of a mask for ``x``: ``noise_shape`` (None entries: x's size), each
    entry x's size or 1 so the mask broadcasts."""
    if noise_shape is None:
        return api._like_spec(x)
    noise_shape = tuple(noise_shape)
    if len(noise_shape) != x.ndim or any(
            d is not None and d != 1 and x.shape[i] is not None and d != x.shape[i]
            for i, d in enumerate(noise_shape)):
        raise ValueError(f"gn.random.dropout: noise_shape must have one entry per dimension "
                         f"of the input, each the input's size, 1 or None; got noise_shape="
                         f"{noise_shape} for an input of shape {tuple(x.shape)}")
    return api._like_spec(x, noise_shape)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """``inputs`` with each element zeroed with probability ``rate`` and the rest scaled by
    1 / (1 - rate); ``noise_shape`` (None entries: the input's size) shares the mask. As
    Keras: rate 0 returns ``inputs``, rate 1 zeros."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
            or not 0.0 <= rate <= 1.0:
        raise ValueError(f"gn.random.dropout: rate must be a number in [0, 1], got {rate!r}")
    rate = float(rate)
    if rate == 0.0:
        return inputs
    if rate == 1.0:
        return api.zeros_like(inputs) if _symbolic(inputs) else \
            np.zeros(np.shape(inputs), np.float32)
    keep = 1.0 - rate

    def build(state, x):
        mask = _random_node(state, "bernoulli", _noise_spec(x, noise_shape), keep, 1.0 / keep,
                            like=x)
        return api.multiply(x, mask)
    settings = (rate, None if noise_shape is None else tuple(noise_shape))
    return _draw("dropout", build, seed, tensors=(inputs,), settings=settings)


def _integral_counts(counts):
    values = np.asarray(counts)
    if values.dtype == bool or values.dtype.kind not in "iuf" or np.any(values < 0) or \
            np.any(values != np.floor(values)):
        raise ValueError(f"gn.random.binomial: counts must be integers >= 0 (a number or an "
                         f"array), got {counts!r}")
    return values.astype(np.int64)


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Successes in ``counts`` trials of probability ``probabilities``; both a number or
    an array broadcasting to ``shape``."""
    shape, _ = _shape(shape, "binomial"), _float_dtype(dtype, "binomial")
    counts = _integral_counts(counts)
    p = np.asarray(probabilities, np.float32)
    if np.any(~((p >= 0) & (p <= 1))):
        raise ValueError(f"gn.random.binomial: probabilities must be in [0, 1], got "
                         f"{probabilities!r}")
    for name, value in (("counts", counts), ("probabilities", p)):
        if not _broadcasts_to(value.shape, shape):
            raise ValueError(f"gn.random.binomial: {name} of shape {value.shape} does not "
                             f"broadcast to shape {shape}")
    trials = int(counts.max(initial=0))
    # trial t of a sample counts where t < its count
    counted = (np.arange(trials) < np.broadcast_to(counts, shape)[..., None]).astype(np.float32)

    def build(state):
        u = _random_node(state, "uniform", shape + (trials,), 0.0, 1.0)
        hits = api.cast(api.less(u, api.expand_dims(api.convert_to_tensor(p), -1)), "float32")
        return api.sum(api.multiply(hits, api.convert_to_tensor(counted)), axis=-1)
    return _draw("binomial", build, seed,
                 settings=(shape, counts.shape, counts.tobytes(), p.shape, p.tobytes()))


def shuffle(x, axis=0, seed=None):
    """``x`` with its entries along ``axis`` in a random order (arrays only: a graph has no
    sort to shuffle with)."""
    if _symbolic(x):
        raise TypeError("gn.random.shuffle: graphs have no sort op, so a symbolic tensor "
                        "cannot be shuffled; shuffle the arrays before feeding them")
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("gn.random.shuffle: x is a scalar; there is no axis to shuffle")
    axis = int(axis)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"gn.random.shuffle: axis {axis} is out of range for rank {x.ndim}")
    keys = uniform((x.shape[axis],), seed=seed)
    return np.take(x, np.argsort(keys, kind="stable"), axis=axis)
