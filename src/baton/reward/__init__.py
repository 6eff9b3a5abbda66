"""Stage 4: a reward model that learns the human labels and labels far more clips than people could.

>>> from baton.reward import RewardModel  # doctest: +SKIP
>>> RewardModel.load("runs/reward").score(["A bell rings, then a dog barks."], [audio], sample_rate=16000)  # doctest: +SKIP

Modules: :mod:`.encoders` (frozen CLAP encoders behind one interface), :mod:`.cache` (their features
on disk), :mod:`.data` (labels, audio, split by prompt), :mod:`.losses` (BCE on soft labels,
Bradley-Terry), :mod:`.heads` (BATON's MLP, the temporal head), :mod:`.model` (:class:`RewardModel`:
load, score, rank, save), :mod:`.train`, :mod:`.crossval` (out-of-fold figures), :mod:`.evaluate`,
:mod:`.score` (a reward model's, or a judge's, rewards for every clip), the stage's commands
(:mod:`.cli`). Names are imported lazily, so that ``baton --help`` does not import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "RewardModel",
    "RewardTrainConfig",
    "cross_validate",
    "evaluate_reward",
    "score_samples",
    "score_with_judge",
    "train_reward",
]


def __getattr__(name: str) -> Any:
    if name == "RewardModel":
        from baton.reward.model import RewardModel

        return RewardModel
    if name == "RewardTrainConfig":
        from baton.reward.config import RewardTrainConfig

        return RewardTrainConfig
    if name == "train_reward":
        from baton.reward.train import train_reward

        return train_reward
    if name == "cross_validate":
        from baton.reward.crossval import cross_validate

        return cross_validate
    if name == "evaluate_reward":
        from baton.reward.evaluate import evaluate_reward

        return evaluate_reward
    if name == "score_samples":
        from baton.reward.score import score_samples

        return score_samples
    if name == "score_with_judge":
        from baton.reward.score import score_with_judge

        return score_with_judge
    raise AttributeError(f"module 'baton.reward' has no attribute {name!r}")
