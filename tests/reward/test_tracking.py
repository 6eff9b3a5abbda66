"""``reward train --report-to``: each epoch's train_log.jsonl row goes to accelerate's trackers too."""

import importlib.util
import json

import pytest

from baton.reward.config import RewardTrainConfig
from baton.reward.train import train_reward
from tests.tracking import hyperparameters, logged_as_in, scalars


def _log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_tensorboard_holds_each_epochs_row_and_a_rerun_starts_afresh(label_set, tiny_clap_dir, tmp_path):
    from typer.testing import CliRunner

    from baton.cli import build_app

    out = tmp_path / "reward"
    args = ["reward", "train", "--labels", str(label_set), "--out", str(out), "--encoder", f"clap:{tiny_clap_dir}",
            "--val-fraction", "0.34", "--patience", "0", "--cache", str(tmp_path / "cache"), "--no-progress",
            "--report-to", "tensorboard"]  # fmt: skip
    result = CliRunner().invoke(build_app(), [*args, "--epochs", "3"])
    assert result.exit_code == 0, result.output
    rows = _log(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    run = out / "tracking" / "baton-reward"
    logged = scalars(run)
    assert set(logged) == {"loss", "val_loss", "val_accuracy", "val_pair_accuracy"}
    assert logged == logged_as_in(rows, "epoch")
    settings = hyperparameters(run)
    assert (settings["head"], settings["resolved.epochs"], settings["resolved.optimizer"]) == (
        "mlp",
        3,
        "adamw",
    )

    # A rerun into the same folder rewrites train_log.jsonl, and its curves replace the first run's.
    result = CliRunner().invoke(build_app(), [*args, "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert scalars(run) == logged_as_in(_log(out), "epoch") and len(scalars(run)["loss"]) == 2

    # Without --report-to: no trackers, no files.
    config = RewardTrainConfig(labels=label_set, out=tmp_path / "plain", encoder=f"clap:{tiny_clap_dir}",
                               epochs=1, cache=tmp_path / "cache", progress=False)  # fmt: skip
    train_reward(config)
    assert (tmp_path / "plain" / "train_log.jsonl").exists() and not (
        tmp_path / "plain" / "tracking"
    ).exists()


def test_an_unknown_or_missing_tracker_stops_before_any_work(
    label_set, tiny_clap_dir, tmp_path, capsys, monkeypatch
):
    from baton.cli import main

    out = tmp_path / "r"
    args = [
        "reward",
        "train",
        "--labels",
        str(label_set),
        "--out",
        str(out),
        "--encoder",
        f"clap:{tiny_clap_dir}",
    ]
    with pytest.raises(SystemExit):
        main([*args, "--report-to", "comet"])
    assert "field 'report_to': unknown tracker 'comet'" in " ".join(capsys.readouterr().err.split())
    find_spec = importlib.util.find_spec  # wandb as if it were not installed; it is never run here
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else find_spec(name, *a)
    )
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--report-to", "wandb"])
    assert exit_info.value.code == 1  # a missing package: the environment, not the command line
    assert "--report-to wandb needs the package 'wandb': pip install wandb" in capsys.readouterr().err
    assert not out.exists()
