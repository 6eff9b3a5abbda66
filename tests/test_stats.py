import numpy as np
import pytest

from baton.stats import bootstrap, bootstrap_mean, paired_difference


def test_constant_values_have_a_point_interval():
    est = bootstrap_mean(np.full(50, 0.7))
    assert (est.value, est.low, est.high, est.n) == (
        pytest.approx(0.7),
        pytest.approx(0.7),
        pytest.approx(0.7),
        50,
    )


def test_width_matches_the_normal_approximation():
    # 400 fair coin flips: half-width about 1.96 * sqrt(0.25 / 400) = 0.049.
    values = np.array([0, 1] * 200)
    est = bootstrap_mean(values, n_resamples=4000)
    assert est.value == 0.5
    assert (est.high - est.low) / 2 == pytest.approx(0.049, abs=0.006)


def test_generic_bootstrap_agrees_with_the_vectorised_mean():
    values = np.random.default_rng(0).normal(size=200)
    a = bootstrap(values, np.mean, seed=3)
    b = bootstrap_mean(values, seed=3)
    assert a.value == pytest.approx(b.value)
    assert a.low == pytest.approx(b.low, abs=0.03) and a.high == pytest.approx(b.high, abs=0.03)


def test_paired_difference_sees_a_consistent_gain():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2, size=300).astype(float)
    tuned = base.copy()
    tuned[rng.choice(np.flatnonzero(base == 0), size=40, replace=False)] = 1.0  # 40 fixed, none broken
    est = paired_difference(tuned, base)
    assert est.value == pytest.approx(40 / 300)
    assert est.excludes_zero() and est.low > 0
    same = paired_difference(base, base)
    assert not same.excludes_zero()


def test_errors():
    with pytest.raises(ValueError, match="empty"):
        bootstrap_mean(np.array([]))
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference(np.ones(3), np.ones(4))


def test_an_interval_excludes_zero_only_when_it_does_as_printed():
    from baton.stats import Estimate, difference_excludes_zero, excludes_zero

    assert excludes_zero(0.01, 0.2) and excludes_zero(-0.2, -0.001)
    assert not excludes_zero(-0.01, 0.2)
    # [0, 0] and float noise around it (printed -0.000 [-0.000, -0.000]) are no difference.
    for low, high in ((0.0, 0.0), (-1e-17, -1e-18), (1e-18, 1e-17), (-0.0003, -0.0001), (0.0004, 0.0004)):
        assert not excludes_zero(low, high), (low, high)
        assert not Estimate(low, low, high, 4).excludes_zero()
    assert not excludes_zero(None, None)
    # A recorded difference is judged by its interval, whatever flag an older file carries.
    noise = {"value": -1e-17, "ci_low": -2e-17, "ci_high": -1e-18, "excludes_zero": True}
    assert not difference_excludes_zero(noise)
    assert difference_excludes_zero({"value": 0.1, "ci_low": 0.05, "ci_high": 0.2})
    assert difference_excludes_zero({"value": 0.1, "excludes_zero": True})  # no interval: the flag
