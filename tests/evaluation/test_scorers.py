import numpy as np
import pytest
import torch

from baton.errors import InputError
from baton.evaluation.reward_score import RewardModelScorer, load_reward_scorer


class LogitModel:
    """score() gives raw logits, as a torch tensor, and wants the sample rate."""

    def __init__(self):
        self.rates = []

    def score(self, texts, audio, sample_rate=48000):
        self.rates.append(sample_rate)
        return torch.tensor([0.0, 2.0, -2.0])[: len(texts)]


class ProbabilityModel:
    def score(self, texts, audio):
        return np.array([0.25, 0.75])


def test_logit_scores_become_probabilities():
    model = LogitModel()
    p = RewardModelScorer(model, "logits").probabilities(["a", "b", "c"], [np.zeros(4)] * 3, 16000)
    assert p == pytest.approx([0.5, 1 / (1 + np.exp(-2)), 1 / (1 + np.exp(2))])
    assert model.rates == [16000]


def test_probability_scores_are_kept():
    p = RewardModelScorer(ProbabilityModel(), "p").probabilities(["a", "b"], [np.zeros(4)] * 2, 16000)
    assert p == pytest.approx([0.25, 0.75])


def test_missing_reward_model_folder(tmp_path):
    with pytest.raises(InputError, match="no such reward model folder"):
        load_reward_scorer(tmp_path / "nope")
