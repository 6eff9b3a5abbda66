import numpy as np
import pytest

from baton.stats import bootstrap_groups, group_indices, group_means


def test_group_means_skip_missing_values():
    values = np.array([1.0, 0.0, np.nan, 1.0, np.nan])
    keys = ["a", "a", "b", "b", "c"]
    assert group_means(values, keys) == {"a": 0.5, "b": 1.0}
    assert [list(v) for v in group_indices(keys).values()] == [[0, 1], [2, 3], [4]]


def test_whole_groups_are_resampled():
    # Group 1 = three zeros, group 2 = one 1. Drawing 2 groups gives item means 0, 1/4 or 1 only;
    # drawing the 4 items one by one would give 1/2 and 3/4 too.
    values = np.array([0.0, 0.0, 0.0, 1.0])
    estimate = bootstrap_groups(
        lambda idx: values[idx].mean(), [np.array([0, 1, 2]), np.array([3])], n_resamples=400
    )
    assert estimate.value == pytest.approx(0.25) and estimate.n == 4
    assert (estimate.low, estimate.high) == (pytest.approx(0.0), pytest.approx(1.0))
    seen = set()
    bootstrap_groups(
        lambda idx: seen.add(round(values[idx].mean(), 6)) or 0.0,
        [np.array([0, 1, 2]), np.array([3])],
        n_resamples=200,
    )
    assert seen <= {0.0, 0.25, 1.0}


def test_point_estimate_is_computed_first():
    calls = []
    bootstrap_groups(
        lambda idx: calls.append(len(idx)) or 0.0, [np.array([0]), np.array([1, 2])], n_resamples=3
    )
    assert calls[0] == 3 and len(calls) == 4
