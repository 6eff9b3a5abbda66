"""The long pretraining of the world T2A model: the stream of fresh clips, checkpoints, exact resume."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from baton.errors import InputError
from baton.world.build import WorldBuildConfig, build, step_settings
from baton.world.corpus import CorpusConfig, stream_captions, stream_clips
from baton.world.manifest import fingerprints, read_manifest
from baton.world.pretrain import T2APretrainConfig, checkpoint_dirs, pretrain_t2a, read_checkpoint_state
from baton.world.t2a import T2ATrainConfig

MIX = {"single_share": 0.5, "pair_share": 0.25, "triple_share": 0.25}


def tiny_config(steps: int = 12, **overrides) -> T2APretrainConfig:
    t2a = T2ATrainConfig.quick(0)
    t2a.steps, t2a.ema_decay = steps, 0.9
    return T2APretrainConfig(
        t2a=t2a, data=CorpusConfig(**MIX), stats_clips=16, vocabulary_clips=64, **overrides
    )


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_stream_clips_are_a_pure_function_of_their_index():
    config = CorpusConfig(**MIX, seed=3)
    whole = stream_clips(config, 0, 40)
    part = stream_clips(config, 25, 10)
    assert np.array_equal(whole.audio[25:35], part.audio)
    assert whole.captions[25:35] == part.captions and whole.events[25:35] == part.events
    assert stream_captions(config, 25, 10) == part.captions  # the same captions, no audio composed
    # Another seed, another stream; the mix's shares hold roughly.
    assert whole.captions != stream_clips(CorpusConfig(**MIX, seed=4), 0, 40).captions
    sizes = [len(labels) for labels in stream_clips(config, 0, 400).labels]
    assert 0.4 < sizes.count(1) / 400 < 0.6 and 0.17 < sizes.count(3) / 400 < 0.33


def test_a_stopped_run_resumes_to_the_same_weights_as_one_never_stopped(tmp_path):
    config = tiny_config()
    whole = pretrain_t2a(config, tmp_path / "whole", progress=False)
    assert pretrain_t2a(config, tmp_path / "parts", progress=False, stop_after=5) is None
    assert read_checkpoint_state(tmp_path / "parts")["step"] == 5
    with pytest.raises(InputError, match="at step 5: pass resume"):
        pretrain_t2a(config, tmp_path / "parts", progress=False)
    assert pretrain_t2a(config, tmp_path / "parts", progress=False, resume=True, stop_after=4) is None
    resumed = pretrain_t2a(config, tmp_path / "parts", progress=False, resume=True)
    assert same_weights(whole, resumed)
    report = json.loads((tmp_path / "parts" / "model" / "training.json").read_text())
    assert report["steps"] == 12 and report["clips_seen"] == 12 * config.t2a.batch_size
    assert report["config"] == config.weight_settings()
    # A rerun of a finished run loads it rather than training again.
    again = pretrain_t2a(config, tmp_path / "parts", progress=False, resume=True)
    assert same_weights(again, resumed)


def test_a_resume_with_other_settings_is_refused_naming_them(tmp_path):
    pretrain_t2a(tiny_config(), tmp_path, progress=False, stop_after=3)
    other = tiny_config()
    other.t2a.learning_rate = 5e-4
    other.data.triple_share, other.data.single_share = 0.35, 0.4
    with pytest.raises(InputError) as refused:
        pretrain_t2a(other, tmp_path, progress=False, resume=True)
    message = str(refused.value)
    assert "t2a.learning_rate (0.001 in the run, 0.0005 now)" in message
    assert "data.triple_share" in message and "data.single_share" in message
    # What does not shape the weights may change.
    pretrain_t2a(
        tiny_config(checkpoint_minutes=1.0, keep_checkpoints=1), tmp_path, progress=False, resume=True
    )
    assert len(checkpoint_dirs(tmp_path)) == 1


def test_a_half_written_checkpoint_is_ignored(tmp_path):
    config = tiny_config()
    pretrain_t2a(config, tmp_path, progress=False, stop_after=6)
    # A kill while the next checkpoint was being written leaves a hidden partial folder behind.
    partial = tmp_path / "checkpoints" / ".step-00000009.partial"
    (partial / "model").mkdir(parents=True)
    (partial / "model" / "model.safetensors").write_bytes(b"\0" * 10)
    assert read_checkpoint_state(tmp_path)["step"] == 6
    resumed = pretrain_t2a(config, tmp_path, progress=False, resume=True)
    assert same_weights(resumed, pretrain_t2a(config, tmp_path / "whole", progress=False))


KILLED_RUN = """
import sys
import torch
sys.path.insert(0, {tests!r})
from test_pretrain import tiny_config
from baton.world.pretrain import pretrain_t2a
torch.set_num_threads(1)
config = tiny_config(steps={steps}, checkpoint_minutes=1e-4)
pretrain_t2a(config, {out!r}, progress=False, resume={resume})
"""


def test_a_killed_process_resumes_exactly(tmp_path):
    """SIGKILL at a moment of the OS's choosing, then the same command with resume."""
    steps, tests = 60, os.path.dirname(__file__)

    def run(out, resume):
        script = KILLED_RUN.format(tests=tests, steps=steps, out=str(out), resume=resume)
        return subprocess.Popen([sys.executable, "-c", script])

    process = run(tmp_path / "killed", False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
        int(p.name.split("-")[1]) >= 10 for p in checkpoint_dirs(tmp_path / "killed")
    ):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stopped_at = read_checkpoint_state(tmp_path / "killed")["step"]
    assert 0 < stopped_at < steps, "the run should have been killed part-way"
    assert run(tmp_path / "killed", True).wait() == 0
    assert run(tmp_path / "whole", False).wait() == 0
    from baton.world.model import WorldT2A

    assert same_weights(
        WorldT2A.load(tmp_path / "killed" / "model"), WorldT2A.load(tmp_path / "whole" / "model")
    )


def test_the_v2_recipe_builds_a_world_whose_t2a_step_is_resumable(tmp_path, capsys):
    cache = tmp_path / "cache"
    config = WorldBuildConfig(quick=True, recipe="v2", cache=cache, jobs=1, progress=False, eval_prompts=2)
    settings = step_settings(config)
    assert settings["recipe"] == "v2" and "stream" in settings["t2a"]
    assert fingerprints(settings)["t2a"] != fingerprints(step_settings(WorldBuildConfig(quick=True)))["t2a"]
    manifest = build(config)
    run = cache / "world-quick" / "t2a-run"
    report = json.loads((cache / "world-quick" / "t2a" / "training.json").read_text())
    # Judged along the way by the world's own evaluator and CLAP, which the v2 T2A step waits for.
    assert [a["step"] for a in report["assessments"]] == [8, 16]
    assert (run / "assessments" / "step-00000008" / "figures.json").is_file()
    assert manifest["steps"]["t2a"]["figures"]["steps"] == 16
    base = manifest["steps"]["base_eval"]["figures"]
    assert base["clips_per_prompt"] == 2 and base["temporal_accuracy"]["n"] == 2  # intervals over prompts
    assert read_manifest(cache / "world-quick")["settings"]["recipe"] == "v2"


def test_heldout_integrity_prompts_can_repeat_the_66_pairs_in_rounds():
    from baton.world.assess import heldout_prompts

    integrity = heldout_prompts(150, seed=0, repeat_sets=True)["integrity"]
    assert len(integrity) == 150 and len({p.id for p in integrity}) == 150
    rounds = [integrity[:66], integrity[66:132], integrity[132:]]
    assert [len({frozenset(p.events) for p in r}) for r in rounds] == [66, 66, 18]
    # Another round says a pair in another order, relation or phrasing.
    assert len({p.text for p in integrity}) > 140


def test_a_constant_schedule_run_can_be_extended_or_finished_at_an_assessed_step(tmp_path):
    """Under the constant schedule the weights at step s do not depend on the number of steps."""

    def assess(model_dir, step):
        return {"looked_at": step}

    def config(steps):
        return tiny_config(steps=steps, lr_schedule="constant", assess_every=3)

    six = pretrain_t2a(config(6), tmp_path / "six", progress=False, assess=assess)
    # Extended: the six-step run, resumed with 12 steps, is a 12-step run.
    twelve = pretrain_t2a(config(12), tmp_path / "twelve", progress=False, assess=assess)
    extended = pretrain_t2a(config(12), tmp_path / "six", progress=False, resume=True, assess=assess)
    assert same_weights(extended, twelve) and not same_weights(six, twelve)
    # Finished early: the 12-step run ended at its assessed step 6 is the six-step run.
    ended = pretrain_t2a(config(6), tmp_path / "twelve", progress=False, resume=True, assess=assess)
    assert same_weights(ended, six)
    report = json.loads((tmp_path / "twelve" / "model" / "training.json").read_text())
    assert report["steps"] == 6 and report["ended_early_from_step"] == 12
    assert [a["step"] for a in report["assessments"]] == [3, 6]
    with pytest.raises(InputError, match="no weights of step 5 are kept.*\\[3, 6, 9, 12\\]"):
        pretrain_t2a(config(5), tmp_path / "twelve", progress=False, resume=True, assess=assess)
    # The cosine schedule's weights depend on the number of steps: it cannot end early.
    pretrain_t2a(tiny_config(steps=8), tmp_path / "cosine", progress=False)
    with pytest.raises(InputError, match="t2a.steps"):
        pretrain_t2a(tiny_config(steps=4), tmp_path / "cosine", progress=False, resume=True)
