"""Mean opinion scores with bootstrap intervals over items, and paired differences, checked by hand."""

import pytest

from baton.annotation.mos import choose_base, differences, mean_opinion_score, summarize
from baton.errors import InputError


def test_one_score_or_one_item_has_no_width_and_none_is_an_error():
    assert mean_opinion_score([3]).low == mean_opinion_score([3]).high == 3
    one_item = mean_opinion_score([2, 4, 5], items=["a", "a", "a"])
    assert (one_item.value, one_item.low, one_item.high, one_item.n) == pytest.approx(
        (11 / 3, 11 / 3, 11 / 3, 3)
    )
    with pytest.raises(ValueError):
        mean_opinion_score([])


def test_bounds_stay_on_the_scale():
    # Three ratings 1, 2, 5: the t interval was 2.67 +- 4.303 * 2.08 / sqrt(3) = -2.50 .. 7.84.
    # Every bootstrap resample is a mean of 1-5 scores; the most extreme are 1 (all three draws the
    # 1, probability 1/27 > 2.5%) and 5 (likewise): the 95% bounds are those two.
    estimate = mean_opinion_score([1, 2, 5])
    assert estimate.value == pytest.approx(8 / 3)
    assert (estimate.low, estimate.high) == pytest.approx((1.0, 5.0))


def test_ratings_of_one_item_are_resampled_together():
    # Two items, each rated 1 and 5: every resample of items has mean 3, so the interval is 3 .. 3.
    # Resampling the four ratings one by one would give an interval about 1 .. 5.
    estimate = mean_opinion_score([1, 5, 5, 1], items=["i", "i", "j", "j"])
    assert (estimate.value, estimate.low, estimate.high, estimate.n) == pytest.approx((3.0, 3.0, 3.0, 4))
    spread = mean_opinion_score([1, 5, 5, 1])
    assert spread.low < 2.5 and spread.high > 3.5


def test_summary_per_model_question_and_task():
    rows = [
        ("base", "quality", "integrity", "r1", 3, 1),
        ("base", "quality", "temporal", "r2", 5, 2),
        ("base", "faithfulness", "integrity", "r1", 2, 1),
        ("tuned", "quality", "integrity", "r1", 4, 1),
        ("tuned", "quality", "integrity", "r2", 4, 1),
    ]
    out = {(r.model, r.question, r.task): r for r in summarize(rows)}
    assert out[("base", "quality", None)].estimate.value == pytest.approx(4.0)  # (3 + 5) / 2
    assert out[("base", "quality", None)].raters == 2
    assert out[("base", "quality", None)].items == 2
    assert out[("base", "quality", "temporal")].estimate.value == 5
    assert out[("tuned", "quality", None)].estimate.low == pytest.approx(4.0)  # no spread
    order = [(r.model, r.question, r.task) for r in summarize(rows)]
    assert order[0] == ("base", "quality", None)  # all tasks before each task; quality before faithfulness
    assert order.index(("base", "faithfulness", None)) > order.index(("base", "quality", "temporal"))
    # Rows of five (no item): each rating is its own item, as before.
    assert summarize([row[:5] for row in rows])[0].items == 2


def test_paired_difference_of_item_means():
    # Items 1 and 2, two raters each. Item means: ref 2.0 and 3.5, new 4.0 and 3.5 -> differences
    # 2.0 and 0.0, mean 1.0; resamples of two items have mean 0, 1 or 2 (0 and 2 each with
    # probability 1/4 > 2.5%): the interval is 0 .. 2.
    rows = [
        ("ref", "quality", "integrity", "r1", 2, 1),
        ("ref", "quality", "integrity", "r2", 2, 1),
        ("ref", "quality", "temporal", "r1", 3, 2),
        ("ref", "quality", "temporal", "r2", 4, 2),
        ("new", "quality", "integrity", "r1", 4, 1),
        ("new", "quality", "integrity", "r2", 4, 1),
        ("new", "quality", "temporal", "r1", 4, 2),
        ("new", "quality", "temporal", "r2", 3, 2),
        ("new", "quality", "temporal", "r3", 5, 3),  # an item ref was not rated on: left out
    ]
    out = {(d.model, d.base, d.question, d.task): d.estimate for d in differences(rows, base="ref")}
    overall = out[("new", "ref", "quality", None)]
    assert (overall.value, overall.low, overall.high, overall.n) == pytest.approx((1.0, 0.0, 2.0, 2))
    per_task = out[("new", "ref", "quality", "integrity")]
    assert (per_task.value, per_task.low, per_task.high, per_task.n) == pytest.approx((2.0, 2.0, 2.0, 1))
    assert out[("new", "ref", "quality", "temporal")].value == pytest.approx(0.0)
    # Default base: the first model by name ('new'), so the difference is ref - new.
    (default,) = [d for d in differences(rows) if d.task is None]
    assert (default.model, default.base, default.estimate.value) == ("ref", "new", pytest.approx(-1.0))
    assert differences([r for r in rows if r[0] == "new"]) == []


def test_the_base_is_named_base_first():
    assert choose_base(["tuned", "base", "a"]) == "base"
    assert choose_base(["tuned", "b"]) == "b"
    assert choose_base(["tuned", "b"], "tuned") == "tuned"
    with pytest.raises(InputError, match="no ratings of a model named 'x'"):
        choose_base(["tuned", "b"], "x")
