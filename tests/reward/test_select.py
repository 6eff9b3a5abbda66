import math

import numpy as np
import pytest
import torch

from baton.errors import InputError
from baton.reward.heads import FeatureBatch
from baton.reward.select import (
    SelectSettings,
    choose,
    ensemble_probabilities,
    fit_ensemble,
    informativeness,
    preference_probabilities,
    select_batch,
    select_pair_batch,
)

from .helpers import FirstFeatureHead

# Two heads' probabilities of three clips.
P = np.array([[0.5, 0.9, 0.2], [0.5, 0.1, 0.2]])


def test_uncertain_is_the_mean_nearest_one_half():
    # means 0.5, 0.5, 0.2
    assert informativeness(P, "uncertain") == pytest.approx([0.0, 0.0, -0.3])


def test_disagreement_is_the_heads_spread():
    assert informativeness(P, "disagreement") == pytest.approx([0.0, 0.4, 0.0])


def test_bald_by_hand():
    def h(p: float) -> float:
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))

    # Clip 1: the heads agree at 0.5 (no information in its label about the heads): H(0.5) - H(0.5) = 0.
    # Clip 2: they disagree at 0.9 / 0.1: H(0.5) - H(0.9).
    assert informativeness(P, "bald") == pytest.approx([0.0, h(0.5) - h(0.9), 0.0], abs=1e-6)


def test_choose_takes_the_top_scores_and_the_random_share():
    candidates = list(range(100, 120))
    scores = np.arange(20, dtype=float)  # the last candidates score highest
    batch = choose(candidates, scores, 8, 0.25, seed=3)
    assert len(batch) == len(set(batch)) == 8
    drawn, ranked = batch[:2], batch[2:]  # round(0.25 * 8) = 2 at random, first
    assert sorted(ranked, reverse=True) == ranked
    top = sorted(set(candidates) - set(drawn), reverse=True)[:6]
    assert ranked == top
    assert choose(candidates, scores, 8, 0.25, seed=3) == batch  # seeded


def test_choose_all_random_without_scores_and_never_more_than_there_are():
    assert sorted(choose([1, 2, 3], None, 10, 0.0, seed=0)) == [1, 2, 3]
    assert choose(list(range(50)), np.zeros(50), 5, 0.0, seed=1) != list(range(5))  # ties: seeded order


def test_bad_settings_say_which_one():
    with pytest.raises(InputError, match="rule"):
        SelectSettings(rule="smart")
    with pytest.raises(InputError, match="random_share"):
        SelectSettings(random_share=1.5)
    with pytest.raises(InputError, match="members"):
        SelectSettings(rule="disagreement", members=1)


def separable(n: int = 40, seed: int = 0) -> tuple[FeatureBatch, torch.Tensor]:
    """Clips whose label is the sign of their first audio feature."""
    g = torch.Generator().manual_seed(seed)
    audio, text = torch.randn(n, 6, generator=g), torch.randn(n, 4, generator=g)
    audio[:, 1:] *= 0.1  # the other features are small noise
    return FeatureBatch(audio, text), (audio[:, 0] > 0).float()


def test_ensemble_learns_and_asks_about_the_boundary():
    features, targets = separable()
    settings = SelectSettings(rule="uncertain", random_share=0.0, members=3, epochs=60, prior=False)
    labelled = list(range(20))
    heads = fit_ensemble(features, targets, labelled, settings)
    p = ensemble_probabilities(heads, features)
    assert p.shape == (3, 40)
    assert float(((p.mean(0) > 0.5).float() == targets).float().mean()) > 0.8
    batch = select_batch(heads, features, list(range(20, 40)), 4, settings)
    margin = features.audio[:, 0].abs()
    assert float(margin[batch].mean()) < float(margin[20:].mean())  # nearer the boundary than the rest
    again = select_batch(
        fit_ensemble(features, targets, labelled, settings), features, list(range(20, 40)), 4, settings
    )
    assert again == batch  # seeded end to end


def test_preference_probabilities_are_bradley_terry_of_each_head():
    features = FeatureBatch(torch.tensor([[0.0], [1.0], [3.0]]), torch.zeros(3, 1))
    pairs = torch.tensor([[1, 0], [0, 2]])
    p = preference_probabilities([FirstFeatureHead(1.0), FirstFeatureHead(-2.0)], features, pairs)
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    # Head 1: s = 0, 1, 3: P(1 over 0) = sigmoid(1), P(0 over 2) = sigmoid(-3); head 2: s = 0, -2, -6.
    assert p.numpy() == pytest.approx(np.array([[sigmoid(1), sigmoid(-3)], [sigmoid(-2), sigmoid(6)]]))


def test_pairs_are_chosen_by_the_rule_over_their_preference():
    # Clips scored 0, 0.05, 2, -2. Two heads that agree: pair (0, 1) is near an even chance
    # (sigmoid(-0.05)), the others sure (sigmoid(4), sigmoid(-2)): uncertain asks (0, 1).
    features = FeatureBatch(torch.tensor([[0.0], [0.05], [2.0], [-2.0]]), torch.zeros(4, 1))
    pairs = torch.tensor([[2, 3], [0, 1], [0, 2]])
    settings = SelectSettings(rule="uncertain", random_share=0.0)
    assert select_pair_batch([FirstFeatureHead(1.0)] * 2, features, pairs, 1, settings) == [1]
    settings = SelectSettings(rule="bald", random_share=0.0)
    # Heads +1 and -1: both near 0.5 on (0, 1) (an answer tells nothing about which head is right);
    # 0.98 against 0.02 on (2, 3), 0.12 against 0.88 on (0, 2): BALD asks (2, 3).
    assert select_pair_batch(
        [FirstFeatureHead(1.0), FirstFeatureHead(-1.0)], features, pairs, 1, settings
    ) == [0]


def test_the_ensemble_learns_from_peoples_pairs_alone():
    features, _ = separable()
    unknown = torch.full((40,), float("nan"))
    # People preferred the clip with the larger first feature in 15 pairs among the first 30 clips.
    order = features.audio[:30, 0].argsort(descending=True).tolist()
    won = torch.tensor([(order[i], order[i + 15]) for i in range(15)])
    settings = SelectSettings(rule="uncertain", random_share=0.0, members=3, epochs=60, prior=False)
    heads = fit_ensemble(features, unknown, [], settings, human_pairs=won)
    held = torch.tensor([(a, b) for a in range(30, 40) for b in range(30, 40) if a != b])
    p = preference_probabilities(heads, features, held).mean(0)
    truth = (features.audio[held[:, 0], 0] > features.audio[held[:, 1], 0]).float()
    assert float(((p > 0.5).float() == truth).float().mean()) > 0.8  # held-out clips ordered right
    with pytest.raises(InputError, match="labels"):
        fit_ensemble(features, unknown, [], settings)
