"""Stage 4: a reward model that learns the human labels and labels far more clips than people could.

>>> from baton.reward import RewardModel  # doctest: +SKIP
>>> RewardModel.load("runs/reward").score(["A bell rings, then a dog barks."], [audio], sample_rate=16000)  # doctest: +SKIP

Modules: :mod:`.encoders` (frozen CLAP encoders behind one interface), :mod:`.cache` (their features
on disk), :mod:`.data` (labels, audio, split by prompt), :mod:`.losses` (BCE on soft labels,
Bradley-Terry), :mod:`.heads` (BATON's MLP, the temporal head), :mod:`.judged` and :mod:`.blend` (the
head blended with the event judge, ``--event-judge``), :mod:`.model` (:class:`RewardModel`: load,
score, rank, save), :mod:`.train`, :mod:`.crossval` (out-of-fold figures), :mod:`.evaluate`,
:mod:`.score` (a reward model's, or a judge's, rewards for every clip), the stage's commands
(:mod:`.cli`). Names are imported lazily, so that ``baton --help`` does not import torch.
"""

from __future__ import annotations

from baton.exports import lazy_exports

# name -> (module, attribute); imported on first use.
_EXPORTS = {
    "RewardModel": ("baton.reward.model", "RewardModel"),
    "RewardTrainConfig": ("baton.reward.config", "RewardTrainConfig"),
    "train_reward": ("baton.reward.train", "train_reward"),
    "cross_validate": ("baton.reward.crossval", "cross_validate"),
    "evaluate_reward": ("baton.reward.evaluate", "evaluate_reward"),
    "score_samples": ("baton.reward.score", "score_samples"),
    "score_with_judge": ("baton.reward.score", "score_with_judge"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
