"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax."""
import numpy as np
import pytest

import graphnet as gn
from extras import keras, needs
from layer_check import assert_raises_naming, check_layer, make_data, to_numpy

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
L = gn.layers

# values on and around the interesting points (0, thresholds, max values)
EDGES = np.array([[-3, -1, -0.5, -1e-3, 0, 1e-3, 0.5, 0.7, 1, 1.5, 2, 6, 7]], "float32")


@pytest.mark.parametrize("kwargs", [
    {}, {"max_value": 6.0}, {"max_value": 1.5}, {"max_value": 0.0}, {"negative_slope": 0.1},
    {"threshold": 0.5}, {"negative_slope": 0.2, "max_value": 2.0},
    {"negative_slope": 0.2, "threshold": 0.5, "max_value": 2.0},
], ids=str)
def test_relu(kwargs):
    check_layer(L.ReLU, kwargs, (3, 7))
    check_layer(L.ReLU, kwargs, input_data=EDGES)


@pytest.mark.parametrize("kwargs,input_shape", [
    ({}, (2, 5)), ({"negative_slope": 0.01}, (1, 257)), ({"negative_slope": 0.0}, (3, 13, 1)),
    ({"negative_slope": 1.5}, (0, 3)),
], ids=str)
def test_leaky_relu(kwargs, input_shape):
    result = check_layer(L.LeakyReLU, kwargs, input_shape)
    x = result.data
    np.testing.assert_allclose(result.output,
                               np.where(x >= 0, x, kwargs.get("negative_slope", 0.3) * x),
                               rtol=1e-6)


def test_leaky_relu_keras2_alpha():
    with pytest.warns(DeprecationWarning):
        layer = L.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1
    assert layer.get_config()["negative_slope"] == 0.1
    with pytest.warns(DeprecationWarning):
        check_layer(L.LeakyReLU, {"alpha": 0.2}, (2, 3), keras_kwargs={"negative_slope": 0.2})


@pytest.mark.parametrize("kwargs,input_shape,alpha_shape", [
    ({}, (2, 5), (5,)),
    ({}, (1, 257), (257,)),
    ({"shared_axes": [1]}, (2, 3, 4), (1, 4)),
    ({"shared_axes": 2}, (2, 3, 4), (3, 1)),
    ({"shared_axes": [1, 2]}, (2, 5, 7, 3), (1, 1, 3)),
    ({"alpha_initializer": "ones", "alpha_regularizer": "l2"}, (3, 13), (13,)),
    ({"alpha_constraint": "non_neg"}, (0, 2), (2,)),
], ids=str)
def test_prelu(kwargs, input_shape, alpha_shape):
    result = check_layer(L.PReLU, kwargs, input_shape)
    (alpha,) = result.weights
    assert alpha.shape == alpha_shape
    x = result.data
    np.testing.assert_allclose(result.output, np.where(x >= 0, x, alpha * x), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("kwargs,input_shape", [
    ({}, (2, 5)), ({"alpha": 0.5}, (1, 257)), ({"alpha": 2}, (3, 7, 13)), ({}, (0, 1)),
], ids=str)
def test_elu(kwargs, input_shape):
    check_layer(L.ELU, kwargs, input_shape)
    check_layer(L.ELU, kwargs, input_data=EDGES)


@pytest.mark.parametrize("kwargs", [{}, {"theta": 0.5}, {"theta": 0.0}, {"theta": 2}], ids=str)
def test_thresholded_relu(kwargs):
    """A Keras 2.2.4 layer (not in Keras 3): x if x > theta else 0, checked against NumPy."""
    theta = kwargs.get("theta", 1.0)
    for data in (EDGES, 2 * make_data([(3, 13)])[0]):
        check_layer(L.ThresholdedReLU, kwargs, input_data=data, keras_cls=None,
                    expected_output=np.where(data > theta, data, 0))


@pytest.mark.parametrize("kwargs,input_shape", [
    ({}, (2, 5)), ({}, (1, 257)), ({"axis": 1}, (2, 3, 4)), ({"axis": -2}, (3, 7, 1)),
    ({"axis": [1, 2]}, (2, 3, 4)), ({"axis": (1,)}, (2, 13)), ({}, (0, 3)), ({}, (2, 1)),
], ids=str)
def test_softmax(kwargs, input_shape):
    result = check_layer(L.Softmax, kwargs, input_shape)
    axis = kwargs.get("axis", -1)
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    x = result.data
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    np.testing.assert_allclose(result.output, e / e.sum(axis=axis, keepdims=True), rtol=1e-5,
                               atol=1e-6)


@needs(keras)
def test_softmax_mask():
    x = make_data([(2, 5)])[0]
    mask = np.array([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0]], bool)
    inp = gn.Input((5,))
    fn = gn.function([inp], [L.Softmax()(inp, mask=mask)])
    k_out = to_numpy(keras.layers.Softmax()(x, mask=mask))
    np.testing.assert_allclose(fn(x)[0], k_out, rtol=1e-5, atol=1e-6)


@needs(keras)
def test_activation_layers_in_a_model_match_keras():
    def build(lib):
        a = lib.layers
        x = lib.Input(shape=(4, 7))
        h = a.PReLU(shared_axes=[1])(a.Dense(7)(x))
        h = a.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.2)(h)
        h = a.ELU(alpha=0.7)(a.LeakyReLU(0.05)(h))
        return lib.Model(x, a.Softmax(axis=1)(a.Dense(3)(h)))
    k_model, model = build(keras), build(gn)
    rng = np.random.default_rng(1)
    k_model.set_weights([rng.uniform(-1, 1, w.shape).astype("float32")
                         for w in k_model.get_weights()])
    model.set_weights(k_model.get_weights())
    x = make_data([(5, 4, 7)])[0]
    np.testing.assert_allclose(model.predict(x), to_numpy(k_model(x)), rtol=1e-5, atol=1e-5)


def test_argument_errors():
    assert_raises_naming(lambda: L.ReLU(max_value=-1), "max_value")
    assert_raises_naming(lambda: L.ReLU(negative_slope=-0.1), "negative_slope")
    assert_raises_naming(lambda: L.ReLU(negative_slope=None), "negative_slope")
    assert_raises_naming(lambda: L.ReLU(threshold=-1.0), "threshold")
    assert_raises_naming(lambda: L.LeakyReLU(negative_slope=-0.3), "negative_slope")
    assert_raises_naming(lambda: L.ELU(alpha="big"), "alpha")
    assert_raises_naming(lambda: L.ThresholdedReLU(theta=-1), "theta")
    assert_raises_naming(lambda: L.ThresholdedReLU(theta=None), "theta")
    assert_raises_naming(lambda: L.PReLU(shared_axes=[0]), "shared_axes")
    assert_raises_naming(lambda: L.Softmax(axis="last"), "axis")
    assert_raises_naming(lambda: L.ReLU(bogus=1), "bogus", exc=TypeError)


def test_shape_errors():
    assert_raises_naming(lambda: L.PReLU(shared_axes=[3], name="pr")(gn.Input((3, 4))),
                         "'pr'", "shared_axes", "(None, 3, 4)")
    assert_raises_naming(lambda: L.PReLU(name="pr2")(gn.Input(batch_shape=(None, None, 4))),
                         "'pr2'", "(None, None, 4)")
    prelu = L.PReLU(name="pr3")
    prelu(gn.Input((3, 4)))
    assert_raises_naming(lambda: prelu(gn.Input((3, 5))), "'pr3'", "(None, 3, 5)")
    assert_raises_naming(lambda: L.Softmax(axis=2, name="sm")(gn.Input((3,))), "'sm'",
                         "(None, 3)")
