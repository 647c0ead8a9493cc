"""Comparing a layer's outputs with Keras's: Keras's (torch) outputs as arrays, and the
check that graphnet's match them one for one."""
import numpy as np


def keras_arrays(outputs):
    """Keras's outputs as NumPy arrays, nested ones (StackedRNNCells' states) flattened in
    order."""
    if isinstance(outputs, (list, tuple)):
        return [a for o in outputs for a in keras_arrays(o)]
    return [np.asarray(outputs.detach().numpy() if hasattr(outputs, "detach") else outputs)]


def assert_outputs(got, want, atol=1e-5):
    """``got`` (one array or a list) matches the arrays ``want``: as many, same shapes,
    values within ``atol``."""
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=atol)
