"""``check_layer``: the one generic test of a layer (Keras 2.2.4's ``layer_test``, plus
graphnet's compiled-vs-reference check and Keras 3 conformance).

For ``layer_cls(**kwargs)`` on inputs of ``input_shape`` (batch included; a list of
shapes for a layer taking a list of inputs) it checks:

1. the output shape the op rules infer == ``compute_output_shape`` (of the built layer
   and of a fresh one) == ``expected_output_shape`` == the shape of the computed output;
2. compiled (C kernels) ``predict`` == ``backend="reference"`` ``predict``;
3. ``get_config`` / ``from_config``: equal configs, JSON-serializable, same output after
   ``set_weights``;
4. ``model.to_json`` / ``gn.models.model_from_json``: equal architecture, same output;
5. Keras 3 (torch backend) conformance when ``keras_cls`` resolves (default: the class of
   the same name in ``keras.layers``): same weight shapes and ``count_params``, same
   output after ``set_weights(keras_model.get_weights())``, Keras's config keys present.
   Where keras is not installed, checks 1-4 run and this one is listed as left out.
"""
import base64
import contextlib
import inspect
import json
import marshal
import types

import numpy as np

import graphnet as gn
from extras import compare_with, keras

ATOL = 1e-5
# Keys Keras 3 puts in some configs that graphnet has no use for
KERAS_ONLY_KEYS = {"quantization_config", "lora_rank", "lora_alpha", "gptq_unpacked_column_size"}

def to_numpy(x):
    if isinstance(x, (list, tuple)):
        return [to_numpy(t) for t in x]
    return np.asarray(keras.ops.convert_to_numpy(x))


def make_data(shapes, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        if np.dtype(dtype).kind in "iu":
            out.append(rng.integers(0, 10, size=shape).astype(dtype))
        else:
            out.append(rng.standard_normal(shape).astype(dtype))
    return out


def _is_multi(input_shape):
    return isinstance(input_shape, list) and all(isinstance(s, (list, tuple))
                                                 for s in input_shape)


def _symbolic(shape):
    return (None,) + tuple(shape[1:])


def _from_config(cls, config, custom_objects):
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        return cls.from_config(config, custom_objects=custom_objects)
    return cls.from_config(config)


def _comparable(config):
    """The config with Python lambdas' bytecode as code objects: marshal's bytes of a
    reloaded code object may differ (reference flags) while the code is equal."""
    if isinstance(config, dict):
        if config.get("class_name") == "__lambda__":
            inner = dict(config["config"])
            inner["code"] = marshal.loads(base64.b64decode(inner["code"]))
            return {"class_name": "__lambda__", "config": inner}
        return {k: _comparable(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return type(config)(_comparable(v) for v in config)
    return config


def _close(actual, expected, what, atol=ATOL):
    actual = actual if isinstance(actual, list) else [actual]
    expected = expected if isinstance(expected, list) else [expected]
    assert len(actual) == len(expected), f"{what}: {len(actual)} vs {len(expected)} outputs"
    for a, e in zip(actual, expected):
        assert np.shape(a) == np.shape(e), f"{what}: shapes {np.shape(a)} vs {np.shape(e)}"
        np.testing.assert_allclose(a, e, rtol=atol, atol=atol, err_msg=what)


def _build(layer, input_shape, input_dtype):
    shapes = input_shape if _is_multi(input_shape) else [input_shape]
    inputs = [gn.Input(batch_shape=_symbolic(s), dtype=input_dtype) for s in shapes]
    outputs = layer(inputs if _is_multi(input_shape) else inputs[0])
    return gn.Model(inputs if _is_multi(input_shape) else inputs[0], outputs)


def _shapes_of(outputs):
    return [tuple(t.shape) for t in outputs] if isinstance(outputs, (list, tuple)) \
        else tuple(outputs.shape)


def check_layer(layer_cls, kwargs=None, input_shape=(2, 3), input_dtype="float32",
                keras_cls="auto", keras_kwargs=None, input_data=None, expected_output=None,
                expected_output_shape=None, custom_objects=None, randomize_keras_weights=True,
                unsafe=False, atol=ATOL):
    """Run the checks above; returns a namespace with ``layer``, ``model``, ``data``, and
    ``output``: the compiled output for the layer's own initial ``weights``.

    Args:
        layer_cls: the graphnet layer class.
        kwargs: constructor arguments.
        input_shape: shape with the batch (the model input's batch is None), or a list.
        input_dtype: dtype of the inputs.
        keras_cls: "auto" conforms to the class of the same name in ``keras.layers`` (no
            Keras check if it has none); a function of the keras module gives the class
            (or None); None skips the Keras checks.
        keras_kwargs: constructor arguments for the Keras layer (default: ``kwargs``), or
            a function of the keras module giving them. Both functions are called only
            where keras is installed.
        input_data: arrays to feed (default: standard normal of ``input_shape``).
        expected_output, expected_output_shape: optional extra expectations.
        custom_objects: for from_config / model_from_json.
        randomize_keras_weights: replace Keras's initial weights by random values first
            (so zero-initialized weights are really compared).
        unsafe: load configs inside ``unsafe_deserialization()`` (Lambda bytecode).
    """
    from graphnet.layers.lambda_layer import unsafe_deserialization
    kwargs = dict(kwargs or {})
    multi = _is_multi(input_shape)
    shapes = input_shape if multi else [input_shape]
    if input_data is None:
        data = make_data(shapes, input_dtype)
    else:
        data = [np.asarray(a) for a in (input_data if multi else [input_data])]
        shapes = [a.shape for a in data]
        input_shape = shapes if multi else shapes[0]
    feed = data if multi else data[0]
    sym_shapes = [_symbolic(s) for s in shapes]
    sym_input = sym_shapes if multi else sym_shapes[0]
    loading = unsafe_deserialization if unsafe else contextlib.nullcontext
    name = layer_cls.__name__

    # 1. shapes: a fresh layer's compute_output_shape, then the op rules when called
    fresh = layer_cls(**kwargs)
    fresh_shape = fresh.compute_output_shape(sym_input)
    layer = layer_cls(**kwargs)
    model = _build(layer, input_shape, input_dtype)
    inferred = _shapes_of(model.outputs if len(model.outputs) > 1 else model.outputs[0])
    assert tuple(layer.compute_output_shape(sym_input)) == inferred, \
        f"{name}: compute_output_shape {layer.compute_output_shape(sym_input)} != op rules " \
        f"{inferred}"
    assert tuple(fresh_shape) == inferred, \
        f"{name}: unbuilt compute_output_shape {fresh_shape} != op rules {inferred}"
    if expected_output_shape is not None:
        assert inferred == tuple(expected_output_shape), \
            f"{name}: output shape {inferred}, expected {tuple(expected_output_shape)}"

    # 2. compiled vs reference
    out = model.predict(feed)
    batch = shapes[0][0]
    assert out.shape == tuple(batch if d is None else d for d in inferred), \
        f"{name}: computed output shape {out.shape} does not match inferred {inferred}"
    assert str(out.dtype) == model.outputs[0].dtype
    ref = model.predict(feed, backend="reference")
    _close(out, ref, f"{name}: compiled vs reference", atol)
    if expected_output is not None:
        _close(out, np.asarray(expected_output, dtype=out.dtype), f"{name}: expected", atol)

    # 3. config round trip
    config = layer.get_config()
    json.dumps(config)
    with loading():
        clone = _from_config(layer_cls, config, custom_objects)
    assert _comparable(clone.get_config()) == _comparable(config), \
        f"{name}: config changed by from_config:\n{config}\n{clone.get_config()}"
    model2 = _build(clone, input_shape, input_dtype)
    model2.set_weights(model.get_weights())
    _close(model2.predict(feed), out, f"{name}: from_config clone", atol)

    # 4. JSON round trip of the model
    text = model.to_json()
    with loading():
        model3 = gn.models.model_from_json(text, custom_objects=custom_objects)
    assert _comparable(json.loads(model3.to_json())) == _comparable(json.loads(text)), \
        f"{name}: JSON round trip"
    model3.set_weights(model.get_weights())
    _close(model3.predict(feed), out, f"{name}: model_from_json", atol)

    # 5. Keras 3 conformance (replaces the model's weights by Keras's)
    weights = model.get_weights()
    if keras_cls is not None and compare_with(keras, f"{name}: Keras conformance"):
        keras_cls = getattr(keras.layers, name, None) if keras_cls == "auto" \
            else keras_cls(keras)
        if callable(keras_kwargs):
            keras_kwargs = keras_kwargs(keras)
        if keras_cls is not None:
            _check_keras(keras_cls, kwargs if keras_kwargs is None else keras_kwargs, layer,
                         model, feed, multi, shapes, input_dtype, randomize_keras_weights,
                         atol)
    return types.SimpleNamespace(layer=layer, model=model, output=out, data=feed,
                                 weights=weights)


def _check_keras(keras_cls, kwargs, layer, model, feed, multi, shapes, input_dtype,
                 randomize, atol):
    name = type(layer).__name__
    k_layer = keras_cls(**kwargs)
    k_inputs = [keras.Input(shape=tuple(s[1:]), dtype=input_dtype) for s in shapes]
    k_out = k_layer(k_inputs if multi else k_inputs[0])
    k_model = keras.Model(k_inputs if multi else k_inputs[0], k_out)
    assert tuple(k_out.shape) == tuple(model.outputs[0].shape), \
        f"{name}: Keras output shape {k_out.shape} != {model.outputs[0].shape}"
    weights = k_model.get_weights()
    assert [w.shape for w in weights] == [tuple(w.shape) for w in model.get_weights()], \
        f"{name}: weight shapes differ from Keras: {[w.shape for w in weights]} vs " \
        f"{[w.shape for w in model.get_weights()]}"
    assert k_layer.count_params() == layer.count_params(), \
        f"{name}: count_params {layer.count_params()} != Keras {k_layer.count_params()}"
    if randomize and weights:
        rng = np.random.default_rng(7)
        weights = [rng.uniform(-1, 1, w.shape).astype(w.dtype) for w in weights]
        k_model.set_weights(weights)
    model.set_weights(k_model.get_weights())
    expected = to_numpy(k_model(feed, training=False))
    _close(model.predict(feed), expected, f"{name}: graphnet vs Keras", atol)
    missing = set(k_layer.get_config()) - set(layer.get_config()) - KERAS_ONLY_KEYS
    assert not missing, f"{name}: config lacks Keras's keys {sorted(missing)}"


def assert_raises_naming(fn, *words, exc=ValueError):
    """``fn()`` raises ``exc`` whose message contains every one of ``words``."""
    try:
        fn()
    except exc as error:
        message = str(error)
        for word in words:
            assert str(word) in message, f"{word!r} not in error message: {message}"
        return message
    raise AssertionError(f"{fn} did not raise {exc.__name__}")
