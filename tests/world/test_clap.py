"""The world CLAP: tokenizer, loss by hand, shapes, normalisation, determinism, save/load."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch

from baton.errors import InputError
from baton.world.captions import caption
from baton.world.clap import (
    ClapConfig,
    WorldClap,
    clap_config,
    content_key,
    contrastive_loss,
    encode_texts,
    evaluate_clap,
    train_clap,
    world_texts,
)
from baton.world.compose import compose
from baton.world.model import UNK_ID, WordTokenizer, split_words
from baton.world.spec import CLIP_SAMPLES


def tiny_config(seed: int = 0) -> ClapConfig:
    config = clap_config(seed=seed, quick=True)
    config.width = 16
    config.embed_dim = 8
    config.heads = 2
    config.extra_clips = 12
    config.train_steps = 3
    config.batch_size = 6
    config.eval_clips = 8
    config.eval_batch_size = 4
    return config


@pytest.fixture(scope="module")
def clap() -> WorldClap:
    model, _ = train_clap(tiny_config(), progress=False)
    return model


def clips(*requests: tuple[list[str], str], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([compose(labels, relation, rng).audio for labels, relation in requests])


# --- tokenizer and loss -----------------------------------------------------------------------------


def test_texts_are_encoded_with_the_t2a_tokenizer_at_a_fixed_length():
    tokenizer = WordTokenizer.build(["A beep, then rain."])
    ids, mask = encode_texts(tokenizer, ["a beep", "Rain, then a whistle."], length=8)
    assert ids.shape == mask.shape == (2, 8)
    assert mask.sum(dim=1).tolist() == [3, 7]  # [BOS] + words and punctuation
    assert ids[1, 5] == UNK_ID  # "whistle" is not in the vocabulary
    with pytest.raises(ValueError, match="text 1 is empty"):
        encode_texts(tokenizer, ["a beep", "  "], length=8)
    with pytest.raises(ValueError, match="not one string"):
        encode_texts(tokenizer, "a beep", length=8)


def test_the_world_vocabulary_covers_every_caption_word():
    tokenizer = WordTokenizer.build(world_texts())
    rng = random.Random(0)
    requests = ((["beep"], "single"), (["rain", "bell", "tweet"], "sequence"), (["hum", "knock"], "overlap"))
    for labels, relation in requests:
        for _ in range(20):
            text = caption(labels, relation, rng)
            assert UNK_ID not in tokenizer.encode(text), text


def test_contrastive_loss_by_hand():
    eye = torch.eye(2)
    # Scale 1 (logit_scale 0): logits [[1, 0], [0, 1]]; each row's CE is -log(e / (e + 1)).
    expected = math.log(1 + math.exp(-1))
    assert float(contrastive_loss(eye, eye, torch.tensor(0.0))) == pytest.approx(expected)
    # Both pairs marked positive for each other: targets [0.5, 0.5].
    both = torch.ones(2, 2, dtype=torch.bool)
    p = math.exp(1) / (math.exp(1) + 1)
    expected = -0.5 * (math.log(p) + math.log(1 - p))
    assert float(contrastive_loss(eye, eye, torch.tensor(0.0), both)) == pytest.approx(expected)
    # An extra hard-negative text equal to text 1: audio 0 sees logits [1, 0, 0], audio 1 [0, 1, 1];
    # the text-to-audio direction ignores it.
    texts = torch.stack([eye[0], eye[1], eye[1]])
    e = math.e
    audio_to_text = (-math.log(e / (e + 2)) - math.log(e / (2 * e + 1))) / 2
    text_to_audio = math.log(1 + math.exp(-1))
    assert float(contrastive_loss(eye, texts, torch.tensor(0.0))) == pytest.approx(
        (audio_to_text + text_to_audio) / 2
    )
    # A larger scale makes a correct match cheaper.
    assert float(contrastive_loss(eye, eye, torch.tensor(2.0))) < float(
        contrastive_loss(eye, eye, torch.tensor(0.0))
    )


def test_content_key_orders_sequences_but_not_overlaps():
    assert content_key(["beep", "rain"], "sequence") != content_key(["rain", "beep"], "sequence")
    assert content_key(["beep", "rain"], "overlap") == content_key(["rain", "beep"], "overlap")


def test_clips_are_embedded_as_if_cut_or_zero_padded_to_four_seconds(clap):
    rng = np.random.default_rng(3)
    short, long = (
        rng.normal(size=16000).astype(np.float32),
        rng.normal(size=CLIP_SAMPLES + 50).astype(np.float32),
    )
    fitted = np.stack([np.pad(short, (0, CLIP_SAMPLES - short.size)), long[:CLIP_SAMPLES]])
    torch.testing.assert_close(clap.embed_audio([short, long]), clap.embed_audio(fitted))
    torch.testing.assert_close(clap.embed_audio([short]), clap.embed_audio(fitted[:1]))


# --- the model --------------------------------------------------------------------------------------


def test_embeddings_have_the_right_shapes_and_unit_norm(clap):
    audio = clips((["beep"], "single"), (["rain", "bell"], "sequence"), (["hum", "knock"], "overlap"))
    texts = ["A beep sounds.", "Rain falls, then a bell rings.", "A hum drones while someone knocks."]
    a, t = clap.embed_audio(audio), clap.embed_text(texts)
    assert a.shape == (3, clap.embed_dim) and t.shape == (3, clap.embed_dim)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(t.norm(dim=-1), torch.ones(3))
    frames = clap.embed_audio_frames(audio)
    assert frames.shape[0] == 3 and frames.shape[2] == clap.embed_dim
    assert frames.shape[1] * clap.frame_seconds == pytest.approx(4.0, abs=clap.frame_seconds)
    tokens, mask = clap.embed_text_tokens(texts)
    assert tokens.shape[:2] == mask.shape and tokens.shape[2] == clap.embed_dim
    assert mask.sum(dim=1).tolist() == [1 + len(split_words(text)) for text in texts]  # [BOS] + words
    # The score is the cosine of each text with its own clip: the diagonal of the similarity.
    scores = clap.score(texts, audio)
    torch.testing.assert_close(scores, clap.similarity(texts, audio).diagonal())
    assert float(scores.abs().max()) <= 1.0 + 1e-5


def test_an_embedding_does_not_depend_on_the_rest_of_the_batch(clap):
    audio = clips((["beep"], "single"), (["siren"], "single"))
    torch.testing.assert_close(clap.embed_audio(audio)[1:], clap.embed_audio(audio[1:]))
    torch.testing.assert_close(
        clap.embed_text(["A beep sounds.", "A siren wails while rain falls."])[1:],
        clap.embed_text(["A siren wails while rain falls."]),
    )


def test_audio_at_another_rate_is_resampled(clap):
    audio = clips((["whistle"], "single"))[0]
    at_8k = audio[::2].copy()
    assert clap.embed_audio([at_8k], sample_rate=8000).shape == (1, clap.embed_dim)


def test_training_is_repeatable_for_a_seed(clap):
    again, _ = train_clap(tiny_config(), progress=False)
    first = clap.net.state_dict()
    assert all(torch.equal(first[k], v) for k, v in again.net.state_dict().items())
    other, _ = train_clap(tiny_config(seed=1), progress=False)
    assert not all(torch.equal(first[k], v) for k, v in other.net.state_dict().items())


def test_save_load_round_trip_is_identical(clap, tmp_path):
    folder = clap.save(tmp_path / "clap")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded = WorldClap.load(folder)
    audio = clips((["tweet", "engine"], "sequence"))
    texts = ["A bird tweets, then an engine runs."]
    assert torch.equal(loaded.embed_audio(audio), clap.embed_audio(audio))
    assert torch.equal(loaded.embed_text(texts), clap.embed_text(texts))
    assert loaded.tokenizer.words == clap.tokenizer.words and loaded.config == clap.config


def test_load_names_the_bad_file_and_field(clap, tmp_path):
    folder = clap.save(tmp_path / "clap")
    meta = json.loads((folder / "config.json").read_text())
    meta["vocab"] = ["a", "b"]  # not starting with the special tokens
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"config\.json, field 'vocab'"):
        WorldClap.load(folder)
    (folder / "model.safetensors").unlink()
    meta["vocab"] = clap.tokenizer.words
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"model\.safetensors: model weights not found"):
        WorldClap.load(folder)


def test_training_on_a_corpus_and_reporting_retrieval(clap):
    from baton.world.corpus import CorpusConfig, build_corpus

    corpus = build_corpus(CorpusConfig(n_clips=10, seed=3))
    config = tiny_config()
    config.extra_clips = 0
    model, figures = train_clap(config, corpus, progress=False)
    assert figures["corpus_clips"] == 10 and figures["extra_clips"] == 0
    for key in ("recall_at_1", "recall_at_5", "content_recall_at_1"):
        assert 0.0 <= figures[key] <= 1.0
    assert figures["batch_size"] == 4 and figures["eval_clips"] == 8
    assert 0.0 <= figures["order_preference"] <= 1.0
    # With a batch of 4 clips, recall@5 counts every clip as retrieved.
    assert evaluate_clap(model, n_clips=8, seed=9, batch_size=4)["recall_at_5"] == 1.0


def test_config_checks_name_the_field():
    with pytest.raises(InputError, match="field 'width'"):
        ClapConfig(width=30, heads=4)
