"""A tiny world model in the world's folder layout, and feedback files over real world clips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baton.artifacts import LabelRecord, RewardRecord, Vote, write_records
from baton.audio import save_audio

WORLD_RATE = 16000


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """Tiny models on a shared 2-core machine run many times faster without thread hand-offs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory, request) -> Path:
    """A world folder (t2a/, corpus/corpus.{npz,json}) with a model of a few thousand weights.

    Built in seconds from the world's own corpus and trainer; if their API has moved on, the
    session's full quick world (``quick_world``, minutes) is used instead.
    """
    try:
        from baton.world.corpus import CorpusConfig, build_corpus
        from baton.world.t2a import T2ATrainConfig, train_t2a

        root = tmp_path_factory.mktemp("tiny-world")
        corpus = build_corpus(CorpusConfig(n_clips=24, seed=3))
        corpus.save(root / "corpus" / "corpus")
        config = T2ATrainConfig.quick(seed=1)
        config.steps, config.batch_size, config.channels, config.text_dim = 2, 4, [16, 16], 16
        model = train_t2a(corpus, config, progress=False)
        model.save(root / "t2a")
        return root
    except (TypeError, AttributeError, ValueError, ImportError):  # pragma: no cover - fallback
        return request.getfixturevalue("quick_world")


@pytest.fixture
def base(tiny_world) -> str:
    """The tiny world's T2A model folder."""
    return str(tiny_world / "t2a")


@pytest.fixture(scope="session")
def corpus_clips(tiny_world):
    from baton.world.corpus import Corpus

    corpus = Corpus.load(tiny_world / "corpus" / "corpus")
    return corpus.audio, corpus.captions


def write_feedback(folder: Path, audio, captions, prompts: int = 4, per_prompt: int = 3):
    """labels.jsonl (clips alternately 1 and 0 within a prompt) and rewards.jsonl over world clips."""
    folder.mkdir(parents=True, exist_ok=True)
    labels, rewards = [], []
    clip = 0
    for p in range(prompts):
        text = captions[p]
        for k in range(per_prompt):
            path = f"audio/h{p}-{k}.wav"
            save_audio(folder / path, audio[clip % len(audio)], WORLD_RATE)
            clip += 1
            value = float((k + p) % 2 == 0)
            labels.append(
                LabelRecord.from_votes(
                    [Vote(annotator="a", value=value)],
                    sample_id=f"h{p}-{k}",
                    prompt_id=f"hp{p}",
                    text=text,
                    path=path,
                )
            )
        for k in range(per_prompt):
            path = f"audio/r{p}-{k}.wav"
            save_audio(folder / path, audio[clip % len(audio)], WORLD_RATE)
            clip += 1
            probability = [0.9, 0.2, 0.6][k % 3]
            rewards.append(
                RewardRecord(
                    sample_id=f"r{p}-{k}",
                    prompt_id=f"rp{p}",
                    text=captions[prompts + p],
                    path=path,
                    score=probability * 4 - 2,
                    probability=probability,
                )
            )
    write_records(folder / "labels.jsonl", labels)
    write_records(folder / "rewards.jsonl", rewards)
    return folder / "labels.jsonl", folder / "rewards.jsonl"


@pytest.fixture(scope="session")
def feedback(tmp_path_factory, corpus_clips):
    audio, captions = corpus_clips
    return write_feedback(tmp_path_factory.mktemp("feedback"), audio, captions)
