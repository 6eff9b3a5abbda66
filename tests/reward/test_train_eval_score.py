import json

import pytest

from baton.artifacts import RewardRecord, read_records, write_records
from baton.cli import main
from baton.errors import InputError
from baton.report.run import find_reliability
from baton.reward.config import RewardTrainConfig
from baton.reward.model import RewardModel
from baton.reward.train import train_reward
from tests.reward.helpers import first_prompt_samples


def _train(label_set, tiny_clap_dir, out, **overrides):
    settings = {"epochs": 12, "patience": 4, "progress": False, "seed": 0, "val_fraction": 0.34}
    settings["cache"] = out.parent / "cache"  # this test's own cache, so hits and misses are its own
    settings.update(overrides)
    config = RewardTrainConfig(labels=label_set, out=out, encoder=f"clap:{tiny_clap_dir}", **settings)
    return train_reward(config)


@pytest.mark.parametrize(
    ("head", "objective"), [("mlp", "bce"), ("mlp", "bradley-terry"), ("temporal", "bce")]
)
def test_train_writes_a_model_that_loads(label_set, tiny_clap_dir, tmp_path, head, objective):
    out = _train(label_set, tiny_clap_dir, tmp_path / "reward", head=head, objective=objective)
    model = RewardModel.load(out)
    assert (model.head_kind, model.objective) == (head, objective)
    training = json.loads((out / "training.json").read_text())
    validation = set(training["validation_prompts"])
    assert validation and training["train_clips"] + training["validation_clips"] == 24
    assert training["class_balance"]["train"]["all"]["prompts"] + len(validation) == 6
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == list(range(1, len(log) + 1))
    assert all(row["val_loss"] is not None for row in log)


def test_second_run_reads_features_from_the_cache(label_set, tiny_clap_dir, tmp_path):
    _train(label_set, tiny_clap_dir, tmp_path / "a", epochs=1)
    first = json.loads((tmp_path / "a" / "training.json").read_text())["cache"]
    _train(label_set, tiny_clap_dir, tmp_path / "b", epochs=1)
    second = json.loads((tmp_path / "b" / "training.json").read_text())["cache"]
    assert first["hits"] == 0 and first["misses"] > 0
    assert second == {**second, "hits": first["misses"], "misses": 0}


def test_baton_preset(label_set, tiny_clap_dir, tmp_path):
    config = RewardTrainConfig(labels=label_set, preset="baton")
    assert config.resolved() == {
        "optimizer": "adam", "learning_rate": 0.01, "weight_decay": 1e-5, "batch_size": 32, "epochs": 51,
        "patience": 0,
    }  # fmt: skip
    out = _train(label_set, tiny_clap_dir, tmp_path / "r", preset="baton", epochs=3, patience=None)
    training = json.loads((out / "training.json").read_text())
    assert training["epochs_run"] == 3 and training["best_epoch"] == 3  # no early stopping: last epoch


def test_eval_writes_figures_the_report_reads(label_set, tiny_clap_dir, tmp_path):
    out = _train(label_set, tiny_clap_dir, tmp_path / "reward")
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "reward",
                "eval",
                "--reward-model",
                str(out),
                "--labels",
                str(label_set),
                "--resamples",
                "100",
                "--no-progress",
            ]
        )
    assert exit_.value.code in (0, None)
    figures = json.loads((out / "eval.json").read_text())
    assert (out / "eval-reliability.png").stat().st_size > 1000
    assert set(figures["tasks"]) == {"integrity", "temporal"}
    for group in (figures, *figures["tasks"].values()):
        for key in ("accuracy", "roc_auc", "ece", "human_agreement"):
            assert group[key]["ci_low"] <= group[key]["value"] <= group[key]["ci_high"]
        assert all({"confidence", "accuracy", "count"} <= set(b) for b in group["reliability"])
    curves, ece = find_reliability(figures)
    assert set(curves) == {"all", "integrity", "temporal"} and set(ece) == set(curves)


def test_score_writes_reward_records_and_resumes(label_set, tiny_clap_dir, tmp_path):
    out = _train(label_set, tiny_clap_dir, tmp_path / "reward", epochs=2)
    data = label_set.parent
    samples = first_prompt_samples()
    write_records(data / "samples.jsonl", samples)
    rewards = tmp_path / "rd" / "rewards.jsonl"
    with pytest.raises(SystemExit) as exit_:
        main(["reward", "score", "--reward-model", str(out), "--samples", str(data / "samples.jsonl"),
              "--out", str(rewards), "--batch-size", "3", "--no-progress"])  # fmt: skip
    assert exit_.value.code in (0, None)
    records = read_records(rewards, RewardRecord)
    assert [r.sample_id for r in records] == [s.id for s in samples]
    model = RewardModel.load(out)
    expected = model.score([s.text for s in samples], [data / s.path for s in samples])
    for record, probability in zip(records, expected.tolist(), strict=True):
        assert record.probability == pytest.approx(probability, abs=1e-5)
        assert (tmp_path / "rd" / record.path).resolve() == (data / f"audio/{record.sample_id}.wav").resolve()
    # A rerun scores nothing again and keeps the file as it is (through the old spelling of the option).
    before = rewards.read_text()
    main_args = [
        "reward",
        "score",
        "--model",
        str(out),
        "--samples",
        str(data / "samples.jsonl"),
        "--out",
        str(rewards),
        "--no-progress",
    ]
    with pytest.raises(SystemExit):
        main(main_args)
    assert rewards.read_text() == before


def test_bad_input_is_one_clear_message(label_set, tiny_clap_dir, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "reward",
                "train",
                "--labels",
                str(empty),
                "--out",
                str(tmp_path / "r"),
                "--encoder",
                f"clap:{tiny_clap_dir}",
            ]
        )
    assert exit_.value.code == 1  # bad input
    assert "empty.jsonl: the labels file is empty" in capsys.readouterr().err.replace("\n", "")
    with pytest.raises(InputError, match="must be one of: mlp, temporal"):
        _train(label_set, tiny_clap_dir, tmp_path / "r", head="transformer")
    (label_set.parent / "audio" / "p1-2.wav").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"p1-2\.wav: cannot read audio"):
        _train(label_set, tiny_clap_dir, tmp_path / "r")


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (["reward", "eval", "--labels", "labels.jsonl"], "--reward-model"),
        (["reward", "eval", "--reward-model", "reward"], "--labels"),
        (["reward", "score", "--samples", "samples.jsonl"], "--reward-model"),
        (["reward", "score", "--reward-model", "reward"], "--samples"),
        (["reward", "score", "--model", "reward"], "--samples"),  # the old spelling: a warning
    ],
)
def test_a_missing_input_is_named(args, missing, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2  # a usage error
    err = " ".join(capsys.readouterr().err.split())
    assert f"({missing})" in err
    assert ("--model is deprecated here and will be removed: use --reward-model" in err) == (
        "--model" in args
    )


@pytest.mark.parametrize("command", ["train", "cross-validate"])
@pytest.mark.parametrize(
    ("device", "says"), [("cuda", "torch finds no cuda device"), ("potato", "not a device")]
)
def test_a_device_this_machine_lacks_is_refused_before_any_work(
    label_set, tiny_clap_dir, tmp_path, capsys, command, device, says
):
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as exit_:
        main(["reward", command, "--labels", str(label_set), "--out", str(out), "--encoder",
              f"clap:{tiny_clap_dir}", "--device", device])  # fmt: skip
    assert exit_.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "field 'device'" in err and says in err and "this machine has cpu" in err
    assert not out.exists()


def _one_class(label_set, value):
    """``label_set`` with every vote ``value``: all clips labelled 1, or all 0."""
    from baton.artifacts import LabelRecord, Vote

    records = read_records(label_set, LabelRecord)
    path = label_set.parent / f"all-{int(value)}.jsonl"
    write_records(
        path,
        [
            LabelRecord.from_votes(
                [Vote(annotator=v.annotator, value=value) for v in r.votes],
                **r.model_dump(include={"sample_id", "prompt_id", "text", "task", "index", "path"}),
            )
            for r in records
        ],
    )
    return path


@pytest.mark.parametrize(("value", "counts"), [(0.0, "0 ones, 24 zeros"), (1.0, "24 ones, 0 zeros")])
def test_labels_of_one_class_are_refused_naming_the_counts(
    label_set, tiny_clap_dir, tmp_path, capsys, value, counts
):
    labels = _one_class(label_set, value)
    with pytest.raises(
        InputError, match=rf"{labels.name}: its 24 clips are labelled {int(value)} only \({counts}\)"
    ):
        _train(labels, tiny_clap_dir, tmp_path / "r")
    assert not (tmp_path / "r").exists()  # refused before any work
    for command in (["reward", "train"], ["reward", "cross-validate", "--folds", "2"]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--labels", str(labels), "--out", str(tmp_path / "r"), "--encoder",
                  f"clap:{tiny_clap_dir}", "--no-progress"])  # fmt: skip
        assert exit_.value.code == 1
        said = " ".join(capsys.readouterr().err.split())
        assert (
            f"({counts}): a reward model learns right from wrong only from clips labelled both ways" in said
        )


def test_a_split_that_trains_on_one_class_is_warned_about(label_set, tiny_clap_dir, tmp_path, capsys):
    from baton.artifacts import LabelRecord, Vote

    # Every prompt's clips are 0 but one prompt's, which the split may hold out: then training would see
    # zeros only, and the run says so loudly (the file itself has both labels, so it goes on).
    records = read_records(label_set, LabelRecord)
    mixed = [
        LabelRecord.from_votes(
            [Vote(annotator="a0", value=float(r.prompt_id == "p0" and r.index % 2 == 0))],
            **r.model_dump(include={"sample_id", "prompt_id", "text", "task", "index", "path"}),
        )
        for r in records
    ]
    labels = label_set.parent / "mostly-0.jsonl"
    write_records(labels, mixed)
    for seed in range(20):  # the first seed whose split holds p0 out
        out = tmp_path / f"r{seed}"
        _train(labels, tiny_clap_dir, out, epochs=1, seed=seed)
        training = json.loads((out / "training.json").read_text())
        if "p0" in training["validation_prompts"]:
            break
    else:
        pytest.fail("no seed held p0 out")
    said = " ".join(capsys.readouterr().err.split())
    assert "the training prompts'" in said and "are labelled 0 only" in said and "another --seed" in said


def test_reward_train_prior_flag_reaches_the_saved_head(label_set, tiny_clap_dir, tmp_path):
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as exit_:
        main(["reward", "train", "--labels", str(label_set), "--out", str(out), "--encoder",
              f"clap:{tiny_clap_dir}", "--prior", "--epochs", "2", "--no-progress"])  # fmt: skip
    assert exit_.value.code == 0
    model = RewardModel.load(out)
    assert model.head.prior is not None
    assert json.loads((out / "config.json").read_text())["head_settings"]["prior"] is True
