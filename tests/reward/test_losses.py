import math

import pytest
import torch

from baton.reward.losses import bradley_terry_loss, fit_platt, same_prompt_pairs, soft_bce_loss


def test_soft_bce_by_hand():
    logits = torch.tensor([0.0, math.log(3.0)])  # sigmoid: 0.5, 0.75
    targets = torch.tensor([1.0, 2 / 3])  # one sure vote, two of three annotators
    expected = (-math.log(0.5) + -(2 / 3 * math.log(0.75) + 1 / 3 * math.log(0.25))) / 2
    assert float(soft_bce_loss(logits, targets)) == pytest.approx(expected, rel=1e-6)


def test_soft_bce_weights_are_a_weighted_mean():
    logits = torch.tensor([0.0, 0.0])
    targets = torch.tensor([1.0, 0.0])
    weights = torch.tensor([3.0, 1.0])
    assert float(soft_bce_loss(logits, targets, weights)) == pytest.approx(math.log(2.0))


def test_bradley_terry_by_hand():
    winners = torch.tensor([2.0, 0.0])
    losers = torch.tensor([1.0, 0.0])
    # -log sigmoid(1) and -log sigmoid(0)
    expected = (math.log(1 + math.exp(-1.0)) + math.log(2.0)) / 2
    assert float(bradley_terry_loss(winners, losers)) == pytest.approx(expected, rel=1e-6)
    weighted = bradley_terry_loss(winners, losers, torch.tensor([1.0, 0.0]))
    assert float(weighted) == pytest.approx(math.log(1 + math.exp(-1.0)), rel=1e-6)


def test_bradley_terry_is_stable_for_large_gaps():
    loss = bradley_terry_loss(torch.tensor([0.0]), torch.tensor([1000.0]))
    assert float(loss) == pytest.approx(1000.0)


def test_pairs_only_within_a_prompt_and_only_for_different_labels():
    prompts = ["a", "a", "a", "b", "b", "c"]
    targets = [1.0, 0.0, 1.0, 0.2, 0.8, 1.0]
    pairs, weights = same_prompt_pairs(prompts, targets)
    found = {tuple(p) for p in pairs.tolist()}
    # prompt a: 0 > 1 and 2 > 1 (0 and 2 tie); prompt b: 4 > 3 with gap 0.6; prompt c has one clip.
    assert found == {(0, 1), (2, 1), (4, 3)}
    by_pair = {tuple(p): float(w) for p, w in zip(pairs.tolist(), weights, strict=True)}
    assert by_pair[(4, 3)] == pytest.approx(0.6)
    assert by_pair[(0, 1)] == pytest.approx(1.0)


def test_pairs_restricted_to_rows():
    pairs, _ = same_prompt_pairs(["a", "a", "a"], [1.0, 0.0, 0.0], rows=[0, 2])
    assert pairs.tolist() == [[0, 2]]
    empty, weights = same_prompt_pairs(["a", "b"], [1.0, 0.0])
    assert empty.shape == (0, 2) and weights.numel() == 0


def test_platt_recovers_scale_and_shift():
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(2000, generator=generator) * 2
    targets = torch.bernoulli(torch.sigmoid(0.5 * scores - 1.0), generator=generator)
    a, b = fit_platt(scores, targets)
    assert a == pytest.approx(0.5, abs=0.1)
    assert b == pytest.approx(-1.0, abs=0.15)
