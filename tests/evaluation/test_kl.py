import math

import numpy as np
import pytest
import torch

from baton.evaluation.kl import kl_divergence, kl_per_pair
from baton.evaluation.scorers import probabilities_to_logits

LN3 = math.log(3.0)
EPS = 1e-6  # added to the generated clip's probabilities, as audioldm_eval does


def test_identical_pairs_are_at_zero():
    logits = np.random.default_rng(0).normal(size=(5, 7))
    assert kl_divergence(logits, logits, "softmax") == pytest.approx(0.0, abs=1e-5)
    assert kl_divergence(logits, logits, "sigmoid") == pytest.approx(0.0, abs=1e-5)


def test_two_class_softmax_by_hand():
    # reference p = softmax(0, 0) = (1/2, 1/2); generated q = softmax(ln 3, 0) = (3/4, 1/4)
    # KL(p || q) = 1/2 ln(1/2 / 3/4) + 1/2 ln(1/2 / 1/4) = 1/2 ln(4/3), eps aside
    value = kl_divergence(np.array([[LN3, 0.0]]), np.array([[0.0, 0.0]]), "softmax")
    assert value == pytest.approx(0.5 * math.log(0.5 / (0.75 + EPS)) + 0.5 * math.log(0.5 / (0.25 + EPS)))
    assert value == pytest.approx(0.5 * math.log(4 / 3), rel=1e-4)


def test_direction_is_reference_to_generated():
    # Swapped: p = (3/4, 1/4), q = (1/2, 1/2): 3/4 ln(3/2) + 1/4 ln(1/2)
    swapped = kl_divergence(np.array([[0.0, 0.0]]), np.array([[LN3, 0.0]]), "softmax")
    assert swapped == pytest.approx(0.75 * math.log(0.75 / (0.5 + EPS)) + 0.25 * math.log(0.25 / (0.5 + EPS)))
    assert swapped != pytest.approx(0.5 * math.log(4 / 3), rel=1e-3)


def test_sigmoid_form_by_hand_can_be_negative():
    # One class: s = sigmoid(0) = 1/2 (reference), r = sigmoid(ln 3) = 3/4: 1/2 ln(1/2) - 1/2 ln(3/4)
    value = kl_divergence(np.array([[LN3]]), np.array([[0.0]]), "sigmoid")
    assert value == pytest.approx(0.5 * math.log(0.5 / (0.75 + EPS)))
    assert value < 0


def test_mean_over_pairs():
    gen = np.array([[0.0, 0.0], [LN3, 0.0]])
    ref = np.array([[0.0, 0.0], [0.0, 0.0]])
    per_pair = kl_per_pair(gen, ref)
    assert per_pair == pytest.approx([0.0, 0.5 * math.log(4 / 3)], abs=1e-5)
    assert kl_divergence(gen, ref) == pytest.approx(0.25 * math.log(4 / 3), rel=1e-4)


def test_matches_audioldm_evals_torch_formulation():
    # audioldm_eval: kl_div((gen.softmax(1) + 1e-6).log(), ref.softmax(1), reduction="sum") / N
    rng = np.random.default_rng(1)
    gen, ref = rng.normal(size=(6, 5)) * 3, rng.normal(size=(6, 5)) * 3
    g, r = torch.from_numpy(gen), torch.from_numpy(ref)
    softmax = torch.nn.functional.kl_div((g.softmax(1) + 1e-6).log(), r.softmax(1), reduction="sum") / 6
    sigmoid = torch.nn.functional.kl_div((g.sigmoid() + 1e-6).log(), r.sigmoid(), reduction="sum") / 6
    assert kl_divergence(gen, ref, "softmax") == pytest.approx(float(softmax), rel=1e-9)
    assert kl_divergence(gen, ref, "sigmoid") == pytest.approx(float(sigmoid), rel=1e-9)


def test_probabilities_round_trip_through_logits():
    p = np.array([[0.1, 0.5, 0.9, 0.999]])
    assert 1 / (1 + np.exp(-probabilities_to_logits(p))) == pytest.approx(p)
    assert np.isfinite(probabilities_to_logits(np.array([[0.0, 1.0]]))).all()


def test_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        kl_divergence(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unknown kind"):
        kl_divergence(np.zeros((2, 3)), np.zeros((2, 3)), kind="bernoulli")
