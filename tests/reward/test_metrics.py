import numpy as np
import pytest

from baton.report.run import find_reliability
from baton.reward.evaluate import (
    correct_at,
    expected_calibration_error,
    reliability_bins,
    roc_auc,
    single_annotator_agreement,
    task_figures,
)


def test_accuracy_at_threshold():
    assert correct_at([0.2, 0.5, 0.9, 0.4], [0, 1, 0, 1]).tolist() == [1.0, 1.0, 0.0, 0.0]


def test_roc_auc_by_hand_with_a_tie():
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4) (0.8>0.1) (0.4=0.4 -> half) (0.4>0.1)
    assert roc_auc([0.8, 0.4, 0.4, 0.1], [1, 1, 0, 0]) == pytest.approx(3.5 / 4)
    assert np.isnan(roc_auc([0.3, 0.4], [1, 1]))


def test_reliability_bins_and_ece_by_hand():
    p = [0.05, 0.15, 0.95, 0.85, 1.0]
    y = [0, 1, 1, 1, 0]
    bins = reliability_bins(p, y, n_bins=2)
    assert [b["count"] for b in bins] == [2, 3]
    assert bins[0]["confidence"] == pytest.approx(0.1) and bins[0]["accuracy"] == pytest.approx(0.5)
    assert bins[1]["confidence"] == pytest.approx(2.8 / 3) and bins[1]["accuracy"] == pytest.approx(2 / 3)
    expected = 2 / 5 * abs(0.5 - 0.1) + 3 / 5 * abs(2 / 3 - 2.8 / 3)
    assert expected_calibration_error(p, y, n_bins=2) == pytest.approx(expected)


def test_single_annotator_agreement_leaves_one_out():
    votes = [
        {"a": 1, "b": 1, "c": 0},  # a: others (1, 0) tie -> out; b likewise; c: others 1,1 -> disagrees
        {"a": 1, "b": 1, "c": 1},  # everyone agrees with the others: 3 items of 1
        {"a": 1},  # nobody else: no item
    ]
    items = single_annotator_agreement(votes)
    assert sorted(items.tolist()) == [0.0, 1.0, 1.0, 1.0]


def test_figures_carry_intervals_and_bins_the_report_reads():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60).astype(float)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.15, 60), 0, 1)
    figures = task_figures(p, y, [{"a": v, "b": v, "c": 1 - v} for v in y], resamples=200)
    for key in ("accuracy", "roc_auc", "ece"):
        assert figures[key]["ci_low"] <= figures[key]["value"] <= figures[key]["ci_high"]
        assert figures[key]["n"] == 60
    document = {"ece": figures["ece"], "reliability": figures["reliability"], "tasks": {"temporal": figures}}
    curves, ece = find_reliability(document)
    assert set(curves) == {"all", "temporal"}
    assert sum(b["count"] for b in curves["all"]) == 60
    assert ece["all"] == pytest.approx(figures["ece"]["value"])


def test_bad_probabilities_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        roc_auc([1.5, 0.2], [1, 0])
    with pytest.raises(ValueError, match="0 or 1"):
        correct_at([0.5], [0.5])
