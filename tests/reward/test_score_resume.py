"""``baton reward score`` resumes only with the model that wrote the file: one file, one model."""

import json
import shutil

import pytest

from baton.artifacts import RewardRecord, read_records, write_records
from baton.cli import main
from baton.errors import InputError
from baton.reward.config import RewardTrainConfig
from baton.reward.model import RewardModel
from baton.reward.score import score_samples
from baton.reward.train import train_reward
from tests.reward.helpers import first_prompt_samples


@pytest.fixture
def scored(label_set, tiny_clap_dir, tmp_path):
    """A trained model, a samples file of four clips and the rewards of the first two of them."""
    config = RewardTrainConfig(
        labels=label_set, out=tmp_path / "m1", encoder=f"clap:{tiny_clap_dir}", epochs=1, progress=False,
        seed=0, val_fraction=0.34, cache=tmp_path / "cache",
    )  # fmt: skip
    model_dir = train_reward(config)
    data = label_set.parent
    samples = first_prompt_samples()
    write_records(data / "first.jsonl", samples[:2])
    write_records(data / "samples.jsonl", samples)
    rewards = tmp_path / "rewards.jsonl"
    score_samples(model_dir, data / "first.jsonl", rewards, cache=tmp_path / "cache", progress=False)
    return model_dir, data / "samples.jsonl", rewards


def _score(model_dir, samples, rewards, tmp_path):
    return score_samples(model_dir, samples, rewards, cache=tmp_path / "cache", progress=False)


def test_records_name_the_model_by_fingerprint(scored):
    model_dir, _, rewards = scored
    fingerprint = RewardModel.load(model_dir).fingerprint
    records = read_records(rewards, RewardRecord)
    assert {(r.model, r.model_fingerprint) for r in records} == {("m1", fingerprint)}
    assert json.loads(rewards.read_text().splitlines()[0])["schema"] == "reward/2"


def test_the_same_model_resumes_even_from_another_folder(scored, tmp_path):
    model_dir, samples, rewards = scored
    copy = shutil.copytree(model_dir, tmp_path / "copy")
    before = rewards.read_text()
    _score(copy, samples, rewards, tmp_path)
    after = rewards.read_text()
    assert after.startswith(before)  # nothing scored is rewritten
    assert [r.sample_id for r in read_records(rewards, RewardRecord)] == [f"p0-{k}" for k in range(4)]


def test_another_model_is_refused_and_nothing_is_lost(scored, tmp_path, capsys):
    model_dir, samples, rewards = scored
    other = RewardModel.load(model_dir)
    other.calibration = (2.0, 0.5)  # other scores: another model, whatever the weights
    other.save(tmp_path / "m2")
    before = rewards.read_text()
    with pytest.raises(InputError) as err:
        _score(tmp_path / "m2", samples, rewards, tmp_path)
    message = str(err.value)
    assert err.value.path == str(rewards)
    assert "'m1' (fingerprint " in message and str(tmp_path / "m2") in message
    assert other.fingerprint in message
    assert rewards.read_text() == before
    # The same through the command line: one message, exit 1 (the file holds another model's scores).
    with pytest.raises(SystemExit) as exit_:
        main(["reward", "score", "--reward-model", str(tmp_path / "m2"), "--samples", str(samples), "--out",
              str(rewards), "--cache", str(tmp_path / "cache"), "--no-progress"])  # fmt: skip
    assert exit_.value.code == 1
    assert "another reward model" in capsys.readouterr().err.replace("\n", "")
    assert rewards.read_text() == before


def test_a_file_that_does_not_say_its_model_is_not_resumed(scored, tmp_path):
    model_dir, samples, rewards = scored
    old = []
    for line in rewards.read_text().splitlines():  # as baton wrote it before it kept the fingerprint
        row = json.loads(line)
        row["schema"] = "reward/1"
        del row["model_fingerprint"]
        old.append(json.dumps(row))
    rewards.write_text("".join(f"{line}\n" for line in old))
    assert all(r.model_fingerprint is None for r in read_records(rewards, RewardRecord))  # still readable
    before = rewards.read_text()
    with pytest.raises(InputError, match="2 of its 2 scores do not record which reward model"):
        _score(model_dir, samples, rewards, tmp_path)
    assert rewards.read_text() == before
