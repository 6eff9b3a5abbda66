"""Active selection: which clips people should label next, from what the reward model does not know yet.

The reward model here is a small ensemble: ``members`` heads, each fitted on a bootstrap resample of
the labelled clips (cheap: the encoders are frozen, the heads train on cached embeddings in a fraction
of a second). For every candidate clip each head gives a probability that the clip matches its prompt,
``P [M, N]``; a rule turns those into an informativeness score ``[N]`` (higher: ask sooner):

* ``uncertain``: the ensemble's mean probability nearest 0.5, ``-|mean_m P - 0.5|``;
* ``disagreement``: the spread of the heads, ``std_m P`` (query by committee);
* ``bald``: the mutual information between a clip's label and the heads (BALD, Houlsby et al. 2011),
  ``H(mean_m P) - mean_m H(P)``, with ``H`` the binary entropy;
* ``random``: no score; every clip is drawn at random.

Pairs (the A/B task) are scored the same way. Each head's scores give a Bradley-Terry probability that
a pair's first clip is the better, ``P [M, N] = sigmoid(s_m(first) - s_m(second))``, and the rules
above read that Bernoulli preference as they read a clip's label: ``uncertain`` nearest an even
chance, ``disagreement`` the heads' spread, ``bald`` the information an answer gives about the heads
(:func:`preference_probabilities`, :func:`select_pair_batch`). The heads then learn from people's
decided pairs too (``fit_ensemble(human_pairs=...)``, Bradley-Terry beside the labels' loss).

:func:`choose` then takes a batch: ``random_share`` of it drawn uniformly from the candidates (so that
an estimate made from the labels, such as the share of right clips, can still be made without the
rule's bias from those clips alone) and the rest the highest-scoring of the others. Everything is
seeded: the same labels, candidates and seed give the same batch.

Which rule is the default was measured (``benchmarks/bench_label_efficiency.py``; docs/results.md,
"Label efficiency"): on the sound world, with three simulated votes a clip, ``bald`` ended highest and
came to random selection's full-budget ROC AUC soonest (at 87% of the budget); no rule beat random by
more than the seeds' 95% interval, and in the first rounds every rule was below it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from baton.errors import InputError
from baton.reward.heads import FeatureBatch
from baton.reward.train import FitSettings, fit_head

RULES = ("uncertain", "disagreement", "bald", "random")
DEFAULT_RULE = "bald"
DEFAULT_RANDOM_SHARE = 0.25


@dataclass
class SelectSettings:
    """How the next batch is chosen (see the module docstring)."""

    rule: str = DEFAULT_RULE
    random_share: float = DEFAULT_RANDOM_SHARE  # of each batch drawn at random, whatever the rule
    members: int = 4  # heads: the first on the labels, the others each on a bootstrap resample of them
    seed: int = 0
    # The heads: BATON's pooled MLP, a short fixed schedule (no validation split: every label counts
    # in a small labelled set), starting from the encoder's own text-audio similarity.
    head: str = "mlp"
    epochs: int = 30
    learning_rate: float = 3e-3
    hidden: int = 128
    prior: bool = True

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise InputError(f"must be one of {', '.join(RULES)}, got '{self.rule}'", field="rule")
        if not 0.0 <= self.random_share <= 1.0:
            raise InputError(f"must be from 0 to 1, got {self.random_share}", field="random_share")
        least = 2 if self.rule in ("disagreement", "bald") else 1  # a spread needs two heads
        if self.members < least:
            raise InputError(
                f"must be at least {least} for the rule '{self.rule}', got {self.members}", field="members"
            )


def fit_settings(settings: SelectSettings, member: int, round_number: int) -> FitSettings:
    return FitSettings(
        head=settings.head,
        learning_rate=settings.learning_rate,
        epochs=settings.epochs,
        patience=0,
        seed=hash_seed(settings.seed, round_number, member),
        head_settings={"hidden": settings.hidden, **({"prior": True} if settings.prior else {})},
    )


def hash_seed(*parts: object) -> int:
    """A seed from several parts, the same on every run (Python's ``hash`` of a string is not)."""
    return random.Random("/".join(str(p) for p in parts)).randrange(2**31)


def fit_ensemble(
    features: FeatureBatch,
    targets: torch.Tensor,
    labelled: Sequence[int],
    settings: SelectSettings,
    *,
    round_number: int = 0,
    human_pairs: torch.Tensor | None = None,
    human_weights: torch.Tensor | None = None,
) -> list[torch.nn.Module]:
    """``settings.members`` heads, each fitted on a bootstrap resample (with replacement) of the
    ``labelled`` rows of ``features`` (``targets`` ``[N]``: each clip's label or vote mean) and of
    people's decided pairs ``human_pairs`` ``[P, 2]`` (rows of the preferred and the other clip,
    weighted by ``human_weights`` ``[P]``; their rows may have NaN targets)."""
    pairs = human_pairs if human_pairs is not None and human_pairs.shape[0] else None
    if not labelled and pairs is None:
        raise InputError("no labelled clips or decided pairs to fit the reward model on", field="labels")
    weights = None
    pair_rows: list[int] = []
    if pairs is not None:
        weights = torch.ones(pairs.shape[0]) if human_weights is None else human_weights
        # fit_head trains on people's pairs whose clips are among its training rows.
        pair_rows = sorted({int(r) for r in pairs.reshape(-1)} - set(labelled))
    heads = []
    for member in range(settings.members):
        fit = fit_settings(settings, member, round_number)
        rng = random.Random(fit.seed)
        # The first head sees the labels (and pairs) as they are; the others a resample each.
        rows = list(labelled) if member == 0 else [rng.choice(labelled) for _ in labelled]
        member_pairs, member_weights = pairs, weights
        if pairs is not None and member > 0:
            drawn = torch.tensor([rng.randrange(pairs.shape[0]) for _ in range(pairs.shape[0])])
            member_pairs, member_weights = pairs[drawn], weights[drawn]  # type: ignore[index]
        heads.append(
            fit_head(
                features,
                targets,
                ["" for _ in range(len(features))],
                rows + pair_rows,
                [],
                fit,
                human_pairs=member_pairs,
                human_weights=member_weights,
            ).head
        )
    return heads


def ensemble_probabilities(heads: Sequence[torch.nn.Module], features: FeatureBatch) -> torch.Tensor:
    """Each head's probability that each clip matches its prompt, ``[M, N]``."""
    with torch.no_grad():
        return torch.stack([torch.sigmoid(head(features)) for head in heads])


def binary_entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def informativeness(probabilities: np.ndarray, rule: str) -> np.ndarray:
    """The rule's score of each clip from the heads' probabilities ``[M, N]`` -> ``[N]`` (higher: ask sooner)."""
    p = np.asarray(probabilities, dtype=np.float64)
    mean = p.mean(axis=0)
    if rule == "uncertain":
        return -np.abs(mean - 0.5)
    if rule == "disagreement":
        return p.std(axis=0)
    if rule == "bald":
        return binary_entropy(mean) - binary_entropy(p).mean(axis=0)
    if rule == "random":
        return np.zeros(p.shape[1])
    raise InputError(f"must be one of {', '.join(RULES)}, got '{rule}'", field="rule")


def choose(
    candidates: Sequence[int],
    scores: np.ndarray | None,
    size: int,
    random_share: float,
    seed: int,
) -> list[int]:
    """``size`` of ``candidates``: ``round(random_share * size)`` drawn at random, the rest the highest
    ``scores`` (aligned with ``candidates``; ``None``: all at random) of those left. Ties break by a
    seeded random order, not by position, so the load order cannot favour a clip."""
    size = min(size, len(candidates))
    rng = random.Random(f"select:{seed}")
    if scores is None:
        return rng.sample(list(candidates), size)
    if len(scores) != len(candidates):
        raise ValueError(f"got {len(scores)} scores for {len(candidates)} candidates")
    n_random = round(random_share * size)
    drawn = set(rng.sample(range(len(candidates)), n_random))
    tiebreak = [rng.random() for _ in candidates]
    ranked = sorted(
        (i for i in range(len(candidates)) if i not in drawn), key=lambda i: (-scores[i], tiebreak[i])
    )
    chosen = sorted(drawn) + ranked[: size - n_random]
    return [candidates[i] for i in chosen]


def preference_probabilities(
    heads: Sequence[torch.nn.Module], features: FeatureBatch, pairs: torch.Tensor
) -> torch.Tensor:
    """Each head's Bradley-Terry probability that each pair's first clip is the better, ``[M, P]``,
    from ``pairs`` ``[P, 2]`` (rows of ``features``: first, second)."""
    with torch.no_grad():
        scores = torch.stack([head(features.index(pairs.reshape(-1))) for head in heads])  # [M, 2P]
        scores = scores.reshape(len(heads), -1, 2)
        return torch.sigmoid(scores[..., 0] - scores[..., 1])


def select_batch(
    heads: Sequence[torch.nn.Module],
    features: FeatureBatch,
    candidates: Sequence[int],
    size: int,
    settings: SelectSettings,
    *,
    round_number: int = 0,
) -> list[int]:
    """The next ``size`` rows of ``candidates`` to label, by ``settings.rule`` over the ensemble ``heads``."""
    if settings.rule == "random" or not candidates:
        return choose_by_rule(candidates, None, size, settings, round_number)
    rows = torch.tensor(list(candidates), dtype=torch.long)
    probabilities = ensemble_probabilities(heads, features.index(rows)).numpy()
    return choose_by_rule(candidates, probabilities, size, settings, round_number)


def select_pair_batch(
    heads: Sequence[torch.nn.Module],
    features: FeatureBatch,
    pairs: torch.Tensor,
    size: int,
    settings: SelectSettings,
    *,
    round_number: int = 0,
) -> list[int]:
    """The next ``size`` of ``pairs`` ``[P, 2]`` (rows of ``features``) to ask, as indices into
    ``pairs``, by ``settings.rule`` over the heads' preference probabilities."""
    candidates = list(range(pairs.shape[0]))
    if settings.rule == "random" or not candidates:
        return choose_by_rule(candidates, None, size, settings, round_number)
    probabilities = preference_probabilities(heads, features, pairs).numpy()
    return choose_by_rule(candidates, probabilities, size, settings, round_number)


def choose_by_rule(
    candidates: Sequence[int],
    probabilities: np.ndarray | None,
    size: int,
    settings: SelectSettings,
    round_number: int,
) -> list[int]:
    """:func:`choose` with the rule's scores of the heads' probabilities ``[M, N]`` (``None``: all at
    random), seeded by the settings' seed and the round."""
    seed = hash_seed(settings.seed, "round", round_number)
    if probabilities is None:
        return choose(candidates, None, size, 1.0, seed)
    return choose(
        candidates, informativeness(probabilities, settings.rule), size, settings.random_share, seed
    )
