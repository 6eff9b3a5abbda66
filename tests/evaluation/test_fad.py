import warnings

import numpy as np
import pytest

from baton.evaluation.fad import (
    fad_infinity,
    frechet_distance,
    frechet_distance_from_stats,
    trace_sqrt_product,
    trace_sqrt_product_scipy,
)


def test_identical_sets_are_at_distance_zero():
    x = np.random.default_rng(0).normal(size=(300, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_one_dimensional_closed_form():
    # N(1, 2^2) vs N(4, 3^2): (1-4)^2 + 4 + 9 - 2*sqrt(4*9) = 9 + 13 - 12 = 10
    value = frechet_distance_from_stats(
        np.array([1.0]), np.array([[4.0]]), np.array([4.0]), np.array([[9.0]])
    )
    assert value == pytest.approx(10.0)


def test_diagonal_closed_form():
    # |mu_a - mu_b|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2 for diagonal covariances:
    # (1 + 4) + ((1-2)^2 + (3-1)^2) = 5 + 5 = 10
    mu_a, mu_b = np.array([0.0, 0.0]), np.array([1.0, 2.0])
    value = frechet_distance_from_stats(mu_a, np.diag([1.0, 9.0]), mu_b, np.diag([4.0, 1.0]))
    assert value == pytest.approx(10.0)


def test_non_commuting_covariances_match_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    sigma_a, sigma_b = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    assert trace_sqrt_product(sigma_a, sigma_b) == pytest.approx(
        trace_sqrt_product_scipy(sigma_a, sigma_b), rel=1e-8
    )


def test_samples_approach_the_closed_form():
    rng = np.random.default_rng(2)
    a = rng.normal([0.0, 0.0], [1.0, 3.0], size=(200_000, 2))
    b = rng.normal([1.0, 2.0], [2.0, 1.0], size=(200_000, 2))
    assert frechet_distance(a, b) == pytest.approx(10.0, rel=0.02)


def test_singular_covariances_never_go_negative_or_complex():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 32))  # rank-deficient covariance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = frechet_distance(x, x + 1e-9)
    assert isinstance(value, float) and value >= 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="sizes differ"):
        frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((4, 2), np.nan), np.zeros((4, 2)))


def test_fad_infinity_removes_the_small_sample_bias():
    # Same distribution: FAD of a finite sample is biased upward, FAD-infinity should be near 0.
    rng = np.random.default_rng(5)
    ref = rng.normal(size=(20_000, 4))
    evaluated = rng.normal(size=(2_000, 4))
    intercept, slope = fad_infinity(evaluated, ref, min_n=100, steps=10)
    assert slope > 0
    assert abs(intercept) < frechet_distance(evaluated[:100], ref)


def test_fewer_embeddings_than_dimensions_plus_one_warn_but_keep_the_value():
    from baton.evaluation.fad import FewEmbeddingsWarning, frechet_distance

    rng = np.random.default_rng(0)
    few, many = rng.normal(size=(4, 8)), rng.normal(size=(50, 8))
    with pytest.warns(FewEmbeddingsWarning, match=r"4 embeddings of 8 dimensions.*at least 9"):
        value = frechet_distance(few, many)
    assert issubclass(FewEmbeddingsWarning, RuntimeWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert frechet_distance(few, many, check=False) == pytest.approx(value)
    with pytest.warns(FewEmbeddingsWarning, match="the second set has 8 embeddings"):
        frechet_distance(many, many[:8])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewEmbeddingsWarning)
        frechet_distance(many[:9], many)  # D + 1 embeddings: a full-rank covariance is possible
