"""Several people's answers on one item turned into one label: majority vote and Dawid-Skene.

Pure functions over plain Python values, like :mod:`baton.annotation.agreement`: a table is
``{item: {annotator: category}}`` (the app's yes/no votes are 1 and 0).

* Majority vote: the category most of an item's annotators gave; ``None`` on a tie.
* Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates using the EM
  algorithm". Each annotator ``j`` has a confusion matrix ``theta_j[k, l]``, the probability that
  they answer ``l`` when the truth is ``k``; the classes have prior ``pi_k``. With ``T_ik`` the
  probability that item ``i``'s truth is ``k`` and ``n_ijl`` = 1 when annotator ``j`` answered ``l``
  on item ``i``, EM alternates

      M-step:  pi_k = (a + sum_i T_ik) / (K a + I)
               theta_j[k, l] = (a_kl + sum_i T_ik n_ijl) / sum_l' (a_kl' + sum_i T_ik n_ijl')
      E-step:  T_ik ∝ pi_k prod_j prod_l theta_j[k, l] ^ n_ijl

  starting from the vote shares (a soft majority), until no ``T_ik`` moves by more than ``tol``.
  ``a_kl`` are pseudo-counts (a Dirichlet prior on each row): ``a`` (``smoothing``) in every cell,
  plus ``prior_correct`` on the diagonal; ``a`` also keeps a class that few items have from being
  driven out of the priors altogether on a handful of items. An annotator with few answers keeps a confusion near that
  prior (a little better than chance), so their answers weigh little, instead of a 0 or 1 that
  would make them an oracle. Items whose truth is known (gold clips) keep ``T_ik`` fixed at that
  truth: they pin down the confusions of the people who answered them.

  When the same few groups of people answer every item (five people taking turns, k = 3), who is
  careful is barely identifiable from the answers alone, and the likelihood's best point may rank a
  careless person above a careful one; gold items remove that doubt. (The benchmark
  ``benchmarks/bench_aggregation.py`` measures both cases.)

A person who is right 90% of the time then outweighs two who are right 55% of the time, which the
majority cannot see; and a person who says yes to everything is recognised as telling nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

Category = Hashable
Table = Mapping[Hashable, Mapping[Hashable, Category]]


def majority_vote(votes: Mapping[Hashable, Category]) -> Category | None:
    """The category most annotators gave; ``None`` on a tie (or without votes)."""
    counts = Counter(votes.values()).most_common(2)
    if not counts or (len(counts) == 2 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def majority_labels(table: Table) -> dict[Hashable, Category | None]:
    return {item: majority_vote(votes) for item, votes in table.items()}


@dataclass(frozen=True)
class DawidSkene:
    """The fitted model: ``posteriors[item][k]`` = P(truth k | answers), ``confusions[annotator]
    [k][l]``, ``priors[k]``, the ``classes`` in order, the ``iterations`` run and whether EM
    ``converged`` within them, and the log-likelihood of the answers at the end."""

    classes: tuple[Category, ...]
    posteriors: dict[Hashable, dict[Category, float]]
    confusions: dict[Hashable, dict[Category, dict[Category, float]]]
    priors: dict[Category, float]
    iterations: int
    converged: bool
    log_likelihood: float

    def label(self, item: Hashable) -> Category | None:
        """The most probable class of an item (``None`` when two are equally probable)."""
        ranked = sorted(self.posteriors[item].items(), key=lambda kv: -kv[1])
        if len(ranked) > 1 and math.isclose(ranked[0][1], ranked[1][1], abs_tol=1e-12):
            return None
        return ranked[0][0]

    def accuracy(self, annotator: Hashable) -> float:
        """An annotator's estimated chance of giving the true class: sum_k pi_k theta[k, k]."""
        matrix = self.confusions[annotator]
        return sum(self.priors[k] * matrix[k][k] for k in self.classes)


def dawid_skene(
    table: Table,
    *,
    classes: Sequence[Category] | None = None,
    known: Mapping[Hashable, Category] | None = None,
    smoothing: float = 1.0,
    prior_correct: float = 1.0,
    max_iterations: int = 500,
    tol: float = 1e-6,
) -> DawidSkene:
    """Fit Dawid-Skene to ``table`` by EM (see the module's docstring).

    ``classes``: every category (default: those in the table, sorted); ``known``: items whose true
    class is known, kept fixed; items without answers are left out.
    """
    if smoothing < 0 or prior_correct < 0:
        raise ValueError("smoothing and prior_correct are pseudo-counts: 0 or more")
    known = dict(known or {})
    items = [item for item, votes in table.items() if votes]
    if classes is None:
        found = {c for votes in table.values() for c in votes.values()} | set(known.values())
        classes = sorted(found, key=str)
    classes = tuple(classes)
    if not items or not classes:
        return DawidSkene(classes, {}, {}, {c: 1.0 / max(1, len(classes)) for c in classes}, 0, True, 0.0)
    for item, truth in known.items():
        if truth not in classes:
            raise ValueError(f"item {item!r} is known to be {truth!r}, which is not one of {classes}")
    annotators = sorted({a for item in items for a in table[item]}, key=str)

    # Start from the vote shares; known items at their truth.
    posteriors = {item: _shares(table[item], classes) for item in items}
    for item in items:
        if item in known:
            posteriors[item] = _one_hot(known[item], classes)

    iterations, converged = 0, False
    priors: dict[Category, float] = {}
    confusions: dict[Hashable, dict[Category, dict[Category, float]]] = {}
    while iterations < max_iterations:
        iterations += 1
        priors, confusions = dawid_skene_m_step(
            table, posteriors, classes, annotators, smoothing, prior_correct
        )
        updated = dawid_skene_posteriors(table, confusions, priors, classes)
        for item in known:
            if item in updated:
                updated[item] = _one_hot(known[item], classes)
        change = max(abs(updated[i][k] - posteriors[i][k]) for i in items for k in classes)
        posteriors = updated
        if change <= tol:
            converged = True
            break
    return DawidSkene(
        classes,
        posteriors,
        confusions,
        priors,
        iterations,
        converged,
        log_likelihood(table, confusions, priors, classes),
    )


def dawid_skene_m_step(
    table: Table,
    posteriors: Mapping[Hashable, Mapping[Category, float]],
    classes: Sequence[Category],
    annotators: Sequence[Hashable],
    smoothing: float,
    prior_correct: float = 0.0,
) -> tuple[dict[Category, float], dict[Hashable, dict[Category, dict[Category, float]]]]:
    """The priors and every annotator's confusion matrix given the items' class probabilities."""
    n = len(posteriors)
    priors = {
        k: (smoothing + sum(p[k] for p in posteriors.values())) / (len(classes) * smoothing + n)
        for k in classes
    }
    counts = {
        a: {k: {answer: smoothing + prior_correct * (answer == k) for answer in classes} for k in classes}
        for a in annotators
    }
    for item, p in posteriors.items():
        for annotator, answer in table[item].items():
            for k in classes:
                counts[annotator][k][answer] += p[k]
    confusions = {}
    for annotator, rows in counts.items():
        confusions[annotator] = {}
        for k, row in rows.items():
            total = sum(row.values())
            uniform = 1.0 / len(classes)
            confusions[annotator][k] = {
                answer: (c / total if total > 0 else uniform) for answer, c in row.items()
            }
    return priors, confusions


def dawid_skene_posteriors(
    table: Table,
    confusions: Mapping[Hashable, Mapping[Category, Mapping[Category, float]]],
    priors: Mapping[Category, float],
    classes: Sequence[Category],
) -> dict[Hashable, dict[Category, float]]:
    """E-step: each item's class probabilities, ``pi_k prod_j theta_j[k, answer_j]`` normalised
    (in logs, so that many answers do not underflow)."""
    out = {}
    for item, votes in table.items():
        if not votes:
            continue
        logs = {}
        for k in classes:
            total = _log(priors[k])
            for annotator, answer in votes.items():
                total += _log(confusions[annotator][k][answer])
            logs[k] = total
        top = max(logs.values())
        if top == -math.inf:  # every class impossible: nothing to tell them apart
            out[item] = {k: 1.0 / len(classes) for k in classes}
            continue
        weights = {k: math.exp(v - top) for k, v in logs.items()}
        norm = sum(weights.values())
        out[item] = {k: w / norm for k, w in weights.items()}
    return out


def log_likelihood(
    table: Table,
    confusions: Mapping[Hashable, Mapping[Category, Mapping[Category, float]]],
    priors: Mapping[Category, float],
    classes: Sequence[Category],
) -> float:
    """``sum_i log sum_k pi_k prod_j theta_j[k, answer_j]``: what EM increases."""
    total = 0.0
    for votes in table.values():
        if not votes:
            continue
        logs = [
            _log(priors[k]) + sum(_log(confusions[a][k][answer]) for a, answer in votes.items())
            for k in classes
        ]
        top = max(logs)
        total += top + math.log(sum(math.exp(v - top) for v in logs)) if top > -math.inf else -math.inf
    return total


def _shares(votes: Mapping[Hashable, Category], classes: Sequence[Category]) -> dict[Category, float]:
    counts = Counter(votes.values())
    return {k: counts[k] / len(votes) for k in classes}


def _one_hot(truth: Category, classes: Sequence[Category]) -> dict[Category, float]:
    return {k: float(k == truth) for k in classes}


def _log(value: float) -> float:
    return math.log(value) if value > 0 else -math.inf
