"""Mean opinion scores with Student's t intervals, computed by hand."""

import math

import pytest

from baton.annotation.mos import mean_opinion_score, summarize


def test_t_interval_of_five_scores():
    # Scores 4 5 3 4 4: mean 4; deviations 0 1 -1 0 0, s^2 = 2 / 4 = 0.5, s = 0.70711;
    # standard error = 0.70711 / sqrt(5) = 0.31623; t(0.975, 4 df) = 2.77645; half width 0.87799.
    estimate = mean_opinion_score([4, 5, 3, 4, 4])
    assert estimate.value == pytest.approx(4.0)
    assert estimate.high - estimate.value == pytest.approx(2.776445 * math.sqrt(0.5 / 5), rel=1e-5)
    assert estimate.low == pytest.approx(4.0 - 0.87799, abs=1e-5)
    assert estimate.n == 5


def test_one_score_has_no_width_and_none_is_an_error():
    assert mean_opinion_score([3]).low == mean_opinion_score([3]).high == 3
    with pytest.raises(ValueError):
        mean_opinion_score([])


def test_summary_per_model_question_and_task():
    rows = [
        ("base", "quality", "integrity", "r1", 3),
        ("base", "quality", "temporal", "r2", 5),
        ("base", "faithfulness", "integrity", "r1", 2),
        ("tuned", "quality", "integrity", "r1", 4),
        ("tuned", "quality", "integrity", "r2", 4),
    ]
    out = {(r.model, r.question, r.task): r for r in summarize(rows)}
    assert out[("base", "quality", None)].estimate.value == pytest.approx(4.0)  # (3 + 5) / 2
    assert out[("base", "quality", None)].raters == 2
    assert out[("base", "quality", "temporal")].estimate.value == 5
    assert out[("tuned", "quality", None)].estimate.low == pytest.approx(4.0)  # no spread
    order = [(r.model, r.question, r.task) for r in summarize(rows)]
    assert order[0] == ("base", "quality", None)  # all tasks before each task; quality before faithfulness
    assert order.index(("base", "faithfulness", None)) > order.index(("base", "quality", "temporal"))
