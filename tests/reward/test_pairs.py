"""The reward model on people's pairs: Bradley-Terry beside BCE, pairwise accuracy in training and eval."""

from __future__ import annotations

import json
import math

import pytest
import torch

from baton.interchange.labels import read_labels
from baton.reward.config import RewardTrainConfig
from baton.reward.data import add_pair_clips, labelled_clips, read_pairs
from baton.reward.evaluate import pair_figures, pair_wins
from baton.reward.losses import pairwise_accuracy
from baton.reward.train import train_reward
from tests.reward.helpers import write_pair_set


def test_pairwise_accuracy_by_hand():
    # Won, lost, tied: (1 + 0 + 0.5) / 3.
    assert pairwise_accuracy(torch.tensor([2.0, 0.0, 1.0]), torch.tensor([1.0, 3.0, 1.0])) == pytest.approx(
        0.5
    )
    assert pairwise_accuracy(torch.zeros(0), torch.zeros(0)) is None
    assert list(pair_wins([2.0, 0.0, 1.0], [1.0, 3.0, 1.0])) == [1.0, 0.0, 0.5]
    figures = pair_figures([1.0, 1.0], [0.0, 2.0], ["temporal", None], resamples=50)
    assert figures["pairs"] == 2 and figures["pairwise_accuracy"]["value"] == 0.5
    assert figures["tasks"]["unknown"]["pairwise_accuracy"]["value"] == 0.0


def test_pairs_join_the_labelled_clips(tmp_path):
    pairs_path = write_pair_set(tmp_path)
    labels_path = tmp_path / "labels.jsonl"
    clips = labelled_clips(read_labels(labels_path), labels_path)
    paired = add_pair_clips(clips[:4], read_pairs(pairs_path), pairs_path)
    # 6 prompts x 6 pairs, of which 2 a prompt are ties; the first prompt's clips were labelled already.
    assert len(paired.pairs) == 24 and paired.undecided == 12
    assert len(paired.clips) == 24 and paired.clips[:4] == clips[:4]
    assert all(math.isnan(c.target) for c in paired.clips[4:])
    chosen, rejected, weight = paired.pairs[0]
    assert (paired.clips[chosen].sample_id, paired.clips[rejected].sample_id, weight) == ("p0-0", "p0-1", 1.0)


def _train(tmp_path, tiny_clap_dir, **settings):
    config = RewardTrainConfig(
        out=tmp_path / "reward", encoder=f"clap:{tiny_clap_dir}", epochs=15, patience=0, seed=0,
        val_fraction=0.34, cache=tmp_path / "cache", progress=False, **settings,
    )  # fmt: skip
    out = train_reward(config)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return json.loads((out / "training.json").read_text()), log


def test_train_on_pairs_alone_and_beside_labels(tmp_path, tiny_clap_dir):
    pairs_path = write_pair_set(tmp_path / "data")
    training, log = _train(tmp_path / "a", tiny_clap_dir, pairs=pairs_path)
    assert training["labels"] is None and training["clips"] == 24
    assert training["human_pairs"]["train"] + training["human_pairs"]["validation"] == 24
    assert training["human_pairs"]["validation"] > 0 and training["human_pairs"]["undecided_left_out"] == 12
    # High tones over low ones is easy: the held-out pairs come out right.
    assert log[-1]["val_pair_accuracy"] >= 0.75 and log[-1]["val_accuracy"] is None

    training, log = _train(
        tmp_path / "b", tiny_clap_dir, pairs=pairs_path, labels=tmp_path / "data" / "labels.jsonl"
    )
    assert training["clips"] == 24  # each clip once, labelled and paired
    assert log[-1]["val_accuracy"] is not None and log[-1]["val_pair_accuracy"] is not None


def test_eval_reports_the_pairwise_accuracy(tmp_path, tiny_clap_dir, capsys):
    from baton.cli import main

    pairs_path = write_pair_set(tmp_path / "data")
    _train(tmp_path, tiny_clap_dir, labels=tmp_path / "data" / "labels.jsonl")
    with pytest.raises(SystemExit) as exit_:
        main(["reward", "eval", "--reward-model", str(tmp_path / "reward"), "--pairs", str(pairs_path),
              "--cache", str(tmp_path / "cache"), "--no-progress", "--resamples", "100"])  # fmt: skip
    assert exit_.value.code in (0, None)
    out = " ".join(capsys.readouterr().err.split())
    assert "pairwise accuracy on 24 pairs:" in out
    result = json.loads((tmp_path / "reward" / "eval.json").read_text())
    assert result["labels"] is None and result["pairs"]["pairs"] == 24
    assert set(result["pairs"]["tasks"]) == {"integrity", "temporal"}


def test_neither_labels_nor_pairs_is_one_message():
    from baton.errors import InputError

    with pytest.raises(InputError, match="--labels.*--pairs"):
        RewardTrainConfig(out="x").check()
