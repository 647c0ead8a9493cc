"""Compiled plans are cached per input signature, boundedly: least recently used first out."""
import numpy as np
import pytest

import graphnet as gn
from graphnet.runtime.plan_cache import DEFAULT_MAX_PLANS, PlanCache


def model():
    return gn.Sequential([gn.Input((5,)), gn.layers.Dense(3, activation="relu")])


def test_predicting_many_batch_sizes_keeps_the_newest_plans_only():
    m = model()
    fn = m.predict_function()
    assert fn.max_cached_plans == DEFAULT_MAX_PLANS
    x = np.random.default_rng(0).standard_normal((DEFAULT_MAX_PLANS + 10, 5), np.float32)
    for rows in range(1, DEFAULT_MAX_PLANS + 11):
        m.predict_on_batch(x[:rows])
    sizes = [shapes[0][0] for shapes in fn.cached_signatures()]
    assert sizes == list(range(11, DEFAULT_MAX_PLANS + 11))
    m.predict_on_batch(x[:11])                      # a hit moves it to the newest end
    assert fn.cached_signatures()[-1] == ((11, 5),)
    fn.max_cached_plans = 3                          # shrinking drops the oldest
    assert [s[0][0] for s in fn.cached_signatures()] == [DEFAULT_MAX_PLANS + 9,
                                                         DEFAULT_MAX_PLANS + 10, 11]
    fn.clear_cache()
    assert fn.cached_signatures() == []
    np.testing.assert_allclose(m.predict_on_batch(x[:4]),
                               m.predict_on_batch(x[:4], backend="reference"), rtol=1e-6)


def test_zero_caches_nothing_and_still_runs():
    a = gn.Input((2,))
    f = gn.function(a, a * 2.0, max_cached_plans=0)
    np.testing.assert_array_equal(f(np.ones((3, 2), np.float32)), 2.0)
    assert f.cached_signatures() == []


@pytest.mark.parametrize("bad", [-1, 2.5, True, "8"])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match=r"max_cached_plans must be an integer >= 0.*got"):
        PlanCache(bad)
    fn = model().predict_function()
    with pytest.raises(ValueError, match="max_cached_plans"):
        fn.max_cached_plans = bad
    assert fn.max_cached_plans == DEFAULT_MAX_PLANS, "a refused setting changes nothing"
