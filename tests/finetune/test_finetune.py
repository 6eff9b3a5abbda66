"""End to end on a tiny world model: outputs, exact resume, best checkpoint, LoRA, EMA, the command."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from baton.backends import load_backend
from baton.errors import InputError
from baton.finetune import FinetuneConfig, finetune
from baton.finetune.engine import EMA, learning_rate
from baton.finetune.run import finished_model
from baton.fingerprints import file_digest
from tests.finetune.helpers import finetune_config as _config


def _weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_baton_tunes_the_denoiser_only_and_saves_a_loadable_model(tmp_path, feedback, base):
    from baton.report.run import read_train_log

    before = load_backend("world", base)
    model_dir = finetune(_config(tmp_path, feedback, base))
    assert model_dir == tmp_path / "out" / "model"
    tuned = load_backend("world", model_dir)  # what `baton generate --backend world --model OUT/model` does
    changed = [
        k for k, v in _weights(tuned.denoiser).items() if not torch.equal(v, _weights(before.denoiser)[k])
    ]
    assert changed
    for name in ("text_encoder",):
        old, new = _weights(getattr(before.model, name)), _weights(getattr(tuned.model, name))
        assert all(torch.equal(old[k], new[k]) for k in old)
    rows = _log(tmp_path / "out")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for row in rows:
        assert {"loss", "lr", "feedback_loss", "pretrain_loss", "grad_norm"} <= set(row)
        assert all(isinstance(v, (int, float)) for v in row.values())
    assert any("val_loss" in r for r in rows)
    assert len(read_train_log(tmp_path / "out" / "train_log.jsonl")) == 4  # the report reads it
    # BATON's loss is mean(r L) + beta mean(L_pd): logged parts add up
    for row in rows:
        assert row["loss"] == pytest.approx(row["feedback_loss"] + 0.25 * row["pretrain_loss"], rel=1e-5)
    summary = json.loads((tmp_path / "out" / "finetune.json").read_text())
    assert summary["status"] == "done" and summary["data"]["feedback"]["human"] == 12
    # the rewards file's rows do not name their model (as an older baton wrote them): recorded as unknown
    assert summary["data"]["reward_model"] == {"fingerprint": None, "names": ["unknown"], "rows": 12}
    # the model kept is the best validation loss, as BATON
    val = {r["step"]: r["val_loss"] for r in rows if "val_loss" in r}
    assert summary["model"]["step"] == min(val, key=val.get)


def test_n_steps_equal_n_half_plus_resumed_n_half(tmp_path, feedback, base):
    whole = _config(tmp_path / "a", feedback, base, checkpoint_every=2, select="last", ema_decay=0.5)
    finetune(whole)
    half = _config(
        tmp_path / "b", feedback, base, checkpoint_every=2, select="last", ema_decay=0.5, stop_after=2
    )
    stopped = finetune(half)
    assert stopped.name == "step-00000002" and not (tmp_path / "b" / "out" / "model").exists()
    finetune(
        _config(tmp_path / "b", feedback, base, checkpoint_every=2, select="last", ema_decay=0.5, resume=True)
    )
    one = _weights(load_backend("world", tmp_path / "a" / "out" / "model").denoiser)
    two = _weights(load_backend("world", tmp_path / "b" / "out" / "model").denoiser)
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert _log(tmp_path / "a" / "out") == _log(tmp_path / "b" / "out")


def test_resume_rules(tmp_path, feedback, base):
    finetune(_config(tmp_path, feedback, base, steps=2))
    with pytest.raises(InputError, match="already holds a fine-tuning run: pass --resume"):
        finetune(_config(tmp_path, feedback, base, steps=2))
    with pytest.raises(InputError, match="used seed=0, this one asks for 1") as caught:
        finetune(_config(tmp_path, feedback, base, steps=2, seed=1, resume=True))
    assert caught.value.field == "seed"
    stamp = (tmp_path / "out" / "model" / "model.safetensors").stat().st_mtime_ns
    assert finetune(_config(tmp_path, feedback, base, steps=2, resume=True)) == tmp_path / "out" / "model"
    assert (tmp_path / "out" / "model" / "model.safetensors").stat().st_mtime_ns == stamp  # nothing redone
    # finished_model tells the same without reading the data: a caller skips a finished run with it
    assert (
        finished_model(_config(tmp_path, feedback, base, steps=2, resume=True)) == tmp_path / "out" / "model"
    )
    assert finished_model(_config(tmp_path, feedback, base, steps=3, resume=True)) is None  # a step to go
    assert finished_model(_config(tmp_path / "other", feedback, base, steps=2, resume=True)) is None
    with pytest.raises(InputError, match="used seed=0, this one asks for 1"):
        finished_model(_config(tmp_path, feedback, base, steps=2, seed=1, resume=True))


def test_a_run_resumes_from_any_working_folder_and_an_older_runs_file_from_its_own(
    tmp_path, feedback, base, monkeypatch
):
    """finetune.json holds its file settings absolute (the rule of baton.artifacts): the same files,
    named through other relative paths from another working folder, are the same settings. An older
    baton wrote them as given; those are read from the working folder, as it compared them."""
    labels, rewards = feedback
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    relative = (Path(os.path.relpath(labels)), Path(os.path.relpath(rewards)))
    finetune(_config(Path("../run"), relative, base, steps=2))
    saved = json.loads((tmp_path / "run" / "out" / "finetune.json").read_text())
    assert saved["config"]["labels"] == str(labels.resolve())
    monkeypatch.chdir(tmp_path)
    again = (Path(os.path.relpath(labels)), Path(os.path.relpath(rewards)))
    assert finished_model(_config(Path("run"), again, base, steps=2, resume=True)) == Path("run/out/model")
    # as an older baton wrote it: labels and rewards as given, from the folder the run started in
    saved["config"].update(labels=str(again[0]), rewards=str(again[1]))
    (tmp_path / "run" / "out" / "finetune.json").write_text(json.dumps(saved))
    assert finished_model(_config(Path("run"), again, base, steps=2, resume=True)) == Path("run/out/model")
    with pytest.raises(InputError, match="used labels="):
        finished_model(_config(Path("run"), (rewards, rewards), base, steps=2, resume=True))


def test_a_run_copied_with_its_data_resumes_and_other_data_is_refused(tmp_path, feedback, base):
    """A demo's run folder copied elsewhere: its labels and rewards now have other paths but the
    run's bytes (finetune.json records their digests), so the run is the same; other bytes are not."""
    labels, rewards = feedback
    run = tmp_path / "run"
    shutil.copytree(labels.parent, run / "data")  # the files and the clips they name
    first = (run / "data" / labels.name, run / "data" / rewards.name)
    finetune(_config(run, first, base, steps=2))
    assert json.loads((run / "out" / "finetune.json").read_text())["inputs"]["labels"] == file_digest(labels)
    shutil.copytree(run, tmp_path / "copy")
    copied = (tmp_path / "copy" / "data" / labels.name, tmp_path / "copy" / "data" / rewards.name)
    assert finished_model(_config(tmp_path / "copy", copied, base, steps=2, resume=True)) == (
        tmp_path / "copy" / "out" / "model"
    )
    copied[0].write_text(copied[0].read_text().replace('"text": "', '"text": "another ', 1))
    with pytest.raises(InputError, match="used labels=") as caught:
        finished_model(_config(tmp_path / "copy", copied, base, steps=2, resume=True))
    assert caught.value.field == "labels"


@pytest.mark.parametrize("method", ["dpo", "sft", "control"])
def test_dpo_sft_and_control_train(tmp_path, feedback, base, method):
    before = _weights(load_backend("world", base).denoiser)
    finetune(_config(tmp_path, feedback, base, method=method, steps=2))
    after = _weights(load_backend("world", tmp_path / "out" / "model").denoiser)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    rows = _log(tmp_path / "out")
    if method == "dpo":
        # step 1 starts at the reference: every pair's loss is -log sigmoid(0) = log 2
        assert rows[0]["loss"] == pytest.approx(0.693147, abs=1e-5)
        assert {"implicit_accuracy", "chosen_loss", "rejected_loss"} <= set(rows[0])


def test_lora_trains_adapters_and_saves_merged_plain_weights(tmp_path, feedback, base):
    before = _weights(load_backend("world", base).denoiser)
    finetune(_config(tmp_path, feedback, base, method="dpo", lora_rank=2, steps=2, learning_rate=1e-2))
    after = _weights(load_backend("world", tmp_path / "out" / "model").denoiser)
    assert set(after) == set(before)  # merged: no lora_ keys, the backend's own format
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith("weight") for k in changed)  # only adapted linear weights move
    saved = tmp_path / "out" / "checkpoints"
    from safetensors.torch import load_file

    newest = sorted(saved.glob("step-*"))[-1]
    assert all("lora_" in k for k in load_file(str(newest / "trainable.safetensors")))


def test_ema_update_by_hand():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    ema = EMA({"p": p}, decay=0.75)
    with torch.no_grad():
        p.copy_(torch.tensor([5.0, 6.0]))
    ema.update({"p": p})  # 0.75 * [1, 2] + 0.25 * [5, 6]
    assert ema.shadow["p"].tolist() == [2.0, 3.0]
    with ema.applied({"p": p}):
        assert p.tolist() == [2.0, 3.0]
    assert p.tolist() == [5.0, 6.0]


def test_learning_rate_schedule_by_hand():
    config = FinetuneConfig(labels="x", steps=10, warmup_steps=2, learning_rate=1.0)
    assert [learning_rate(s, config) for s in (0, 1, 2, 6, 9)] == pytest.approx([0.5, 1.0, 1.0, 0.5, 0.125])
    constant = FinetuneConfig(labels="x", steps=10, lr_schedule="constant", learning_rate=1.0)
    assert learning_rate(9, constant) == 1.0


def test_the_command(tmp_path, feedback, base):
    from typer.testing import CliRunner

    from baton.cli import build_app

    labels, rewards = feedback
    common = ["--backend", "world", "--model", base, "--labels", str(labels), "--rewards", str(rewards)]
    args = ["finetune", "--method", "sft", *common, "--steps", "1", "--seed", "0", "--batch-size", "2",
            "--grad-accum", "1", "--out", str(tmp_path / "out"), "--no-progress",
            "--text-dropout", "0.25", "--train-guidance", "3", "--train-guidance-rescale", "0.5",
            "--train-text-encoder", "--timestep-low", "0.5"]  # fmt: skip
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "model" / "config.json").exists()
    saved = json.loads((tmp_path / "out" / "finetune.json").read_text())["config"]
    assert (saved["text_dropout"], saved["train_guidance"], saved["train_guidance_rescale"]) == (
        0.25,
        3.0,
        0.5,
    )
    assert saved["train_text_encoder"] is True
    assert (saved["timestep_low"], saved["timestep_high"]) == (0.5, 1.0)
    assert _log(tmp_path / "out")[0]["step"] == 1

    bad = tmp_path / "bad.jsonl"
    bad.write_text(rewards.read_text().replace('"probability": 0.9', '"probability": 1.9', 1))
    from baton.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "finetune",
                "--rewards",
                str(bad),
                "--model",
                base,
                "--out",
                str(tmp_path / "x"),
                "--no-progress",
            ]
        )
    assert exit_info.value.code == 1  # a bad line of the rewards file


def test_bf16_mixed_precision_and_bad_settings(tmp_path, feedback, base):
    finetune(_config(tmp_path, feedback, base, method="sft", steps=1, grad_accum=1, mixed_precision="bf16"))
    assert (tmp_path / "out" / "model" / "config.json").exists()
    with pytest.raises(InputError, match="fp16 needs a GPU"):
        finetune(_config(tmp_path / "b", feedback, base, mixed_precision="fp16"))
    with pytest.raises(InputError, match="must be in \\[0, 999\\]"):
        finetune(_config(tmp_path / "c", feedback, base, val_timestep=1000))


@pytest.mark.parametrize(
    ("weighting", "floor", "expected"),
    [("min-snr", None, 1.0), ("tango", None, 0.0), ("min-snr", 0.0, 0.0), ("min-snr", 2.0, 2.0)],
)
def test_the_snr_floor_defaults_to_the_backends_pretraining_floor(
    tmp_path, feedback, base, weighting, floor, expected
):
    from types import SimpleNamespace

    from baton.finetune.objectives import Denoising

    backend = load_backend("world", base)
    assert backend.snr_floor == backend.model.report["config"]["snr_floor"] == 1.0  # its pretraining
    config = _config(tmp_path, feedback, base, snr_weighting=weighting, snr_floor=floor)
    tables = SimpleNamespace(x0=torch.zeros(1, 4))
    assert Denoising(backend, tables, config, torch.device("cpu")).floor == expected


def test_the_world_models_floor_is_the_one_it_was_trained_with(tmp_path, feedback, base):
    from types import SimpleNamespace

    from baton.finetune.objectives import Denoising
    from baton.world.t2a import T2ATrainConfig

    backend = load_backend("world", base)
    backend.model.report["config"]["snr_floor"] = 0.5
    config = _config(tmp_path, feedback, base)
    tables = SimpleNamespace(x0=torch.zeros(1, 4))
    assert Denoising(backend, tables, config, torch.device("cpu")).floor == 0.5
    backend.model.report = None  # no training record: the builder's default
    assert backend.snr_floor == T2ATrainConfig().snr_floor


def test_tangos_weighting_takes_no_floor(tmp_path, feedback, base):
    with pytest.raises(InputError, match="no floor") as error:
        _config(tmp_path, feedback, base, snr_weighting="tango", snr_floor=1.0)
    assert error.value.field == "snr_floor"


@pytest.mark.parametrize(
    ("device", "says"), [("cuda", "torch finds no cuda device"), ("potato", "not a device")]
)
def test_the_command_refuses_a_device_this_machine_lacks_before_any_work(
    tmp_path, feedback, base, capsys, device, says
):
    from baton.cli import main

    labels, rewards = feedback
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "--method", "sft", "--backend", "world", "--model", base, "--labels", str(labels),
              "--rewards", str(rewards), "--steps", "1", "--out", str(out), "--no-progress", "--device", device])  # fmt: skip
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "field 'device'" in err and says in err and "this machine has cpu" in err
    assert not out.exists()


def test_a_device_accelerate_cannot_honour_is_refused_and_the_device_used_is_recorded(
    tmp_path, feedback, base, monkeypatch
):
    import baton.workers
    from baton.finetune.engine import check_device_for_accelerate, make_accelerator
    from baton.tracking import release_accelerator

    finetune(_config(tmp_path, feedback, base, method="sft", steps=1, grad_accum=1))
    record = json.loads((tmp_path / "out" / "finetune.json").read_text())
    assert record["device"] == "cpu" and record["config"]["device"] == "cpu"

    # On a machine with two GPUs: accelerate places each process itself, so an index is refused...
    monkeypatch.setattr(baton.workers, "available_devices", lambda: ["cpu", "cuda:0", "cuda:1"])
    assert check_device_for_accelerate("cuda") == "cuda"
    with pytest.raises(InputError, match="each process takes its own cuda device") as error:
        check_device_for_accelerate("cuda:1")
    assert error.value.field == "device"
    # ...and a run whose accelerator lands elsewhere than asked (here: this CPU-only torch) stops
    # instead of training on the CPU while recording cuda.
    with pytest.raises(InputError, match="accelerate runs this process on cpu") as error:
        make_accelerator(_config(tmp_path / "b", feedback, base, device="cuda"))
    assert error.value.field == "device"
    accelerator = make_accelerator(_config(tmp_path / "c", feedback, base))  # the refused one was released
    assert accelerator.device.type == "cpu"
    release_accelerator(accelerator)


def test_gradient_accumulation_equals_one_large_batch(tmp_path, feedback, base, monkeypatch):
    """2 micro-batches of 2 clips make the step one batch of 4 makes: the loss is a mean, each micro-batch's
    share is divided by their number, and the optimiser steps once. Both runs read the same clips (the
    data streams are addressed by position); the noise and timesteps, which each micro-batch otherwise
    draws from its own seed, are made the same for every clip so that only the batching differs."""
    from baton.finetune.objectives import Denoising

    def same_draw_for_every_clip(self, seed, rows):
        noise = torch.randn(self.sample_shape, generator=torch.Generator().manual_seed(0))
        return (
            torch.full((rows,), 300),
            noise.expand(rows, *self.sample_shape).clone(),
            torch.zeros(rows, dtype=torch.bool),
        )

    monkeypatch.setattr(Denoising, "draw", same_draw_for_every_clip)
    common = {"method": "baton", "steps": 2, "select": "last", "ema_decay": 0.0}
    large = finetune(
        _config(
            tmp_path / "large", feedback, base, batch_size=4, pretrain_batch_size=4, grad_accum=1, **common
        )
    )
    accumulated = finetune(
        _config(
            tmp_path / "accumulated",
            feedback,
            base,
            batch_size=2,
            pretrain_batch_size=2,
            grad_accum=2,
            **common,
        )
    )
    start = _weights(load_backend("world", base).denoiser)
    one, two = (_weights(load_backend("world", path).denoiser) for path in (large, accumulated))
    assert any(not torch.equal(one[k], start[k]) for k in start)  # the steps changed the model
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-6)
    # Adam would hide gradients twice too large in the weights; the gradient's norm shows them.
    for key in ("loss", "grad_norm"):
        logged = [[row[key] for row in _log(path.parent)] for path in (large, accumulated)]
        assert logged[1] == pytest.approx(logged[0], rel=1e-5), key


def test_dpo_from_peoples_pairs_alone(tmp_path, feedback, base):
    """`baton finetune --method dpo --pairs pairs.jsonl`: the human A/B answers are the whole feedback."""
    from baton.artifacts import PairRecord, write_records

    labels, _ = feedback
    records = [
        PairRecord.from_votes(
            (f"h{p}-{a}", f"audio/h{p}-{a}.wav"), (f"h{p}-{b}", f"audio/h{p}-{b}.wav"),
            [("ann", "first", None, None), ("bob", "first", None, None)], id=f"h{p}-{a}~{b}", prompt_id=f"hp{p}",
            text=f"caption {p}",
        )
        for p in range(4) for a, b in ((0, 1), (1, 2))
    ]  # fmt: skip
    pairs = labels.parent / "pairs.jsonl"
    write_records(pairs, records)
    before = _weights(load_backend("world", base).denoiser)
    finetune(_config(tmp_path, feedback, base, method="dpo", labels=None, rewards=None, pairs=pairs, steps=2))
    after = _weights(load_backend("world", tmp_path / "out" / "model").denoiser)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    rows = _log(tmp_path / "out")
    assert rows[0]["loss"] == pytest.approx(0.693147, abs=1e-5)  # at the reference: log 2
    data = json.loads((tmp_path / "out" / "finetune.json").read_text())["data"]
    assert data["pairs"]["from_people"]["decided"] == 8
    assert "people's A/B pairs" in (tmp_path / "out" / "model" / "README.md").read_text()
