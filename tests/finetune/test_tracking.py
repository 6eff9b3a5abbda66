"""--report-to: accelerate's trackers get train_log.jsonl's scalars and the settings; the model card."""

import importlib.util
import json
from pathlib import Path

import pytest

from baton.finetune import finetune
from baton.finetune.card import base_license, front_matter_of
from tests.finetune.helpers import finetune_config as _config
from tests.tracking import hyperparameters, logged_as_in, scalars


def _log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_tensorboard_holds_the_train_logs_scalars_and_the_model_card_the_run(tmp_path, feedback, base):
    model_dir = finetune(_config(tmp_path, feedback, base, report_to=["tensorboard"]))
    out = tmp_path / "out"
    rows = _log(out)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]

    # Read back with TensorBoard's reader: every number of every line, at its step, and nothing else.
    run = out / "tracking" / "baton-finetune"
    logged = scalars(run)
    assert {"loss", "lr", "grad_norm", "feedback_loss", "pretrain_loss", "val_loss"} <= set(logged)
    assert logged == logged_as_in(rows, "step")
    settings = hyperparameters(run)
    assert (settings["method"], settings["steps"], settings["learning_rate"]) == ("baton", 4, 1e-3)
    assert settings["labels"] == str(feedback[0].resolve())
    assert settings["report_to"] == '["tensorboard"]' and settings["pretrain_batch_size"] == 2
    assert settings["snr_floor"] == "null"  # None as its JSON text: TensorBoard takes no None

    # The model card: front matter a hub reads, then the method, its settings and the data.
    card = (model_dir / "README.md").read_text()
    front = front_matter_of(model_dir / "README.md")
    assert front["base_model"] == str(Path(base).resolve())
    assert front["pipeline_tag"] == "text-to-audio" and front["library_name"] == "baton"
    assert {"text-to-audio", "baton", "rlhf"} <= set(front["tags"])
    assert "license" not in front  # the tiny world names none
    run_file = json.loads((out / "finetune.json").read_text())
    for row in (
        "| beta (pretraining loss weight) | 0.25 |",
        "| optimizer steps | 4 |",
        "| learning rate | 0.001 (linear) |",
        "| human-labelled clips | 12 |",
        "| reward-labelled clips | 12 |",
        f"| feedback clips: training / validation | {run_file['data']['feedback']['train']} / "
        f"{run_file['data']['feedback']['val']} |",
    ):
        assert row in card, row
    assert f"weights of step {run_file['model']['step']}, the best validation loss" in card
    assert "fingerprint unknown" in card and "12 rows" in card  # the rewards file names no model


def test_report_to_none_writes_nothing_and_a_tracker_that_is_not_installed_stops_before_any_work(
    tmp_path, feedback, base, capsys, monkeypatch
):
    from typer.testing import CliRunner

    from baton.cli import build_app, main

    labels, rewards = feedback
    common = ["finetune", "--method", "sft", "--backend", "world", "--model", base, "--labels", str(labels),
              "--rewards", str(rewards), "--steps", "1", "--grad-accum", "1", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(build_app(), [*common, "--out", str(tmp_path / "a"), "--report-to", "none"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "a" / "tracking").exists()
    assert json.loads((tmp_path / "a" / "finetune.json").read_text())["config"]["report_to"] == []
    assert "sft" in front_matter_of(tmp_path / "a" / "model" / "README.md")["tags"]

    with pytest.raises(SystemExit):
        main([*common, "--out", str(tmp_path / "b"), "--report-to", "mlflow"])
    assert "field 'report_to': unknown tracker 'mlflow'" in " ".join(capsys.readouterr().err.split())

    # wandb as if it were not installed (it is never run here): one line saying what to install.
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else find_spec(name, *a)
    )
    with pytest.raises(SystemExit) as exit_info:
        main([*common, "--out", str(tmp_path / "c"), "--report-to", "tensorboard,wandb"])
    assert exit_info.value.code == 1  # a missing package: the environment, not the command line
    assert "--report-to wandb needs the package 'wandb': pip install wandb" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_the_base_models_licence_comes_from_its_card_or_config(tmp_path):
    card, config, neither = tmp_path / "card", tmp_path / "config", tmp_path / "neither"
    for folder in (card, config, neither):
        folder.mkdir()
    (card / "README.md").write_text("---\nlicense: cc-by-nc-4.0\ntags: [audio]\n---\n# A model\n")
    (config / "config.json").write_text(json.dumps({"license": "mit"}))
    (neither / "README.md").write_text("# no front matter\nlicense: not this\n")
    assert base_license(str(card)) == "cc-by-nc-4.0"
    assert base_license(str(config)) == "mit"
    assert base_license(str(neither)) is None
    assert base_license("someone/not-in-the-cache") is None  # never downloaded
