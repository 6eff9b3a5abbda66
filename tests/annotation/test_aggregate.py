"""Majority vote and Dawid-Skene on hand-computed values, and on simulated people of mixed reliability."""

from __future__ import annotations

import random

import pytest

from baton.annotation.aggregate import (
    dawid_skene,
    dawid_skene_m_step,
    dawid_skene_posteriors,
    log_likelihood,
    majority_labels,
    majority_vote,
)


def test_majority_vote_and_ties():
    assert majority_vote({"a": 1, "b": 1, "c": 0}) == 1
    assert majority_vote({"a": 1, "b": 0}) is None
    assert majority_vote({}) is None
    assert majority_labels({"x": {"a": "tie"}, "y": {"a": 0, "b": 0}}) == {"x": "tie", "y": 0}


def test_e_step_by_hand():
    # A is right 90% of the time, B 60%; prior 1/2. On an item where A says 1 and B says 0:
    # P(1) ∝ 0.5 * 0.9 * 0.4 = 0.18, P(0) ∝ 0.5 * 0.1 * 0.6 = 0.03, so P(1) = 0.18 / 0.21 = 6/7.
    confusions = {
        "A": {0: {0: 0.9, 1: 0.1}, 1: {0: 0.1, 1: 0.9}},
        "B": {0: {0: 0.6, 1: 0.4}, 1: {0: 0.4, 1: 0.6}},
    }
    posteriors = dawid_skene_posteriors({"x": {"A": 1, "B": 0}}, confusions, {0: 0.5, 1: 0.5}, (0, 1))
    assert posteriors["x"][1] == pytest.approx(6 / 7)
    assert posteriors["x"][0] == pytest.approx(1 / 7)
    # The log-likelihood of that answer: log(0.18 + 0.03).
    assert log_likelihood({"x": {"A": 1, "B": 0}}, confusions, {0: 0.5, 1: 0.5}, (0, 1)) == pytest.approx(
        -1.5606477482646683
    )


def test_m_step_by_hand():
    # x1 is surely 1; x2 is 1 or 0 with even odds. A answered 1 on x1 and 0 on x2; B 1 on both.
    table = {"x1": {"A": 1, "B": 1}, "x2": {"A": 0, "B": 1}}
    posteriors = {"x1": {0: 0.0, 1: 1.0}, "x2": {0: 0.5, 1: 0.5}}
    priors, confusions = dawid_skene_m_step(table, posteriors, (0, 1), ["A", "B"], smoothing=0.0)
    assert priors == {0: 0.25, 1: 0.75}
    # A, truth 1: answered 1 with weight 1 (x1) and 0 with weight 0.5 (x2): 2/3 and 1/3.
    assert confusions["A"][1] == pytest.approx({0: 1 / 3, 1: 2 / 3})
    assert confusions["A"][0] == pytest.approx({0: 1.0, 1: 0.0})
    assert confusions["B"][0] == pytest.approx({0: 0.0, 1: 1.0})
    # A pseudo-count of 1 in every cell: A, truth 0: (1 + 0.5) / 2.5 and 1 / 2.5.
    _, smoothed = dawid_skene_m_step(table, posteriors, (0, 1), ["A", "B"], smoothing=1.0)
    assert smoothed["A"][0] == pytest.approx({0: 0.6, 1: 0.4})
    # And 1 more on the diagonal: (2 + 0.5) / 3.5 and 1 / 3.5.
    _, leaning = dawid_skene_m_step(table, posteriors, (0, 1), ["A", "B"], smoothing=1.0, prior_correct=1.0)
    assert leaning["A"][0] == pytest.approx({0: 2.5 / 3.5, 1: 1 / 3.5})


def test_agreeing_annotators_give_the_majority_and_known_items_stay_fixed():
    table = {f"x{i}": {"A": i % 2, "B": i % 2, "C": i % 2} for i in range(10)}
    fitted = dawid_skene(table)
    assert fitted.converged
    assert {item: fitted.label(item) for item in table} == majority_labels(table)
    # An item known to be 0 stays 0 whatever the votes say.
    known = dawid_skene(table, known={"x1": 0})
    assert known.posteriors["x1"] == {0: 1.0, 1: 0.0}
    assert dawid_skene({}).posteriors == {}
    # On a handful of items no class is driven out of the priors: two votes to one still say 1.
    tiny = dawid_skene({"x": {"A": 1, "B": 0, "C": 1}, "y": {"A": 0, "B": 0}})
    assert (tiny.label("x"), tiny.label("y")) == (1, 0)


def test_em_never_lowers_the_likelihood():
    rng = random.Random(3)
    table = {i: {a: int(rng.random() < 0.6) for a in "ABCD" if rng.random() < 0.8} for i in range(40)}
    values = [dawid_skene(table, max_iterations=n, tol=0).log_likelihood for n in (1, 2, 5, 20)]
    assert values == sorted(values)


def simulated_votes(seed, items=300, k=3):
    """Two careful people (95%, 90% right), a so-so one (75%) and four who guess (50-55%); each item
    gets k of them at random. Returns (truth, votes)."""
    rng = random.Random(seed)
    reliability = {"careful-1": 0.95, "careful-2": 0.9, "so-so": 0.75}
    reliability.update({f"guess-{n}": 0.5 + 0.05 * (n % 2) for n in range(4)})
    truth = {i: int(rng.random() < 0.5) for i in range(items)}
    table = {}
    for i in range(items):
        people = rng.sample(sorted(reliability), k)
        table[i] = {p: truth[i] if rng.random() < reliability[p] else 1 - truth[i] for p in people}
    return truth, table


def test_dawid_skene_beats_the_majority_on_people_of_mixed_reliability():
    truth, table = simulated_votes(seed=7)
    majority = majority_labels(table)
    fitted = dawid_skene(table)
    majority_right = sum(majority[i] == truth[i] for i in truth) / len(truth)
    ds_right = sum(fitted.label(i) == truth[i] for i in truth) / len(truth)
    # Measured with this seed: the majority 0.75, Dawid-Skene 0.85.
    assert ds_right - majority_right > 0.08, (majority_right, ds_right)
    # It finds who is careful.
    assert fitted.accuracy("careful-1") > 0.85 and fitted.accuracy("guess-0") < 0.65
