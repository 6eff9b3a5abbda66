import json

import numpy as np
import pytest
import torch

from baton.errors import InputError
from baton.reward.encoders import AudioFeatures, TextFeatures
from baton.reward.heads import PooledMLPHead, TemporalHead, build_head, segment_means, stack_features
from baton.reward.model import RewardModel
from tests.reward.helpers import tone


def _model(encoder, kind="mlp", seed=0, prior=False):
    torch.manual_seed(seed)
    settings = {"hidden": 8, **({} if kind == "mlp" else {"segments": [2, 3]}), "prior": prior}
    head = build_head(kind, encoder.audio_dim, encoder.text_dim, settings)
    if prior:  # a head that has learnt something beside its prior
        torch.nn.init.normal_(head.mlp[-1].weight, std=0.1)
    return RewardModel(head, kind, settings, encoder.identity, calibration=(1.5, -0.2), encoder=encoder)


def test_baton_mlp_shape():
    head = PooledMLPHead(512, 512)
    layers = [m for m in head.mlp]
    assert (layers[0].in_features, layers[0].out_features, layers[2].out_features) == (1024, 512, 1)
    assert isinstance(layers[1], torch.nn.ReLU)


def test_temporal_head_hears_order_that_pooling_cannot():
    # Two clips with the same frames in opposite order: identical pooled features, different logits.
    torch.manual_seed(0)
    head = TemporalHead(4, 4, hidden=8).eval()
    frames = torch.eye(4)[:2].repeat_interleave(3, dim=0)  # A A A B B B
    reverse = frames.flip(0)  # B B B A A A
    tokens = torch.eye(4)[:2]
    audio = [AudioFeatures(frames.mean(0), frames), AudioFeatures(reverse.mean(0), reverse)]
    text = [TextFeatures(tokens.mean(0), tokens)] * 2
    batch = stack_features(audio, text)
    logits = head(batch)
    assert not torch.allclose(logits[0], logits[1])
    mlp = PooledMLPHead(4, 4, hidden=8)
    pooled = mlp(batch)
    assert torch.allclose(pooled[0], pooled[1])


def test_segment_means_by_hand():
    x = torch.arange(6, dtype=torch.float32).reshape(1, 6, 1)  # values 0..5
    mask = torch.tensor([[True] * 5 + [False]])  # the last item is padding
    # 5 items in 2 parts: centres (i + 0.5) / 5 -> parts 0, 0, 1, 1, 1
    assert segment_means(x, mask, 2).flatten().tolist() == pytest.approx([0.5, 3.0])
    # 2 items in 3 parts: part 1 is empty and takes the item nearest its centre
    short = torch.tensor([[[1.0], [3.0]]])
    assert segment_means(short, torch.ones(1, 2, dtype=torch.bool), 3).flatten().tolist() == [1.0, 3.0, 3.0]


def test_alignment_map_lights_the_diagonal_when_order_matches():
    head = TemporalHead(2, 2, segments=(2,))
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    tokens = torch.stack([a, a, b, b])  # "A ... then B ..."
    in_order = torch.stack([a, a, a, b, b, b])
    reverse = in_order.flip(0)
    text = [TextFeatures(tokens.mean(0), tokens)] * 2
    audio = [AudioFeatures(in_order.mean(0), in_order), AudioFeatures(reverse.mean(0), reverse)]
    maps = head.alignment(stack_features(audio, text)).detach() / head.scale.detach()
    assert maps[0].tolist() == pytest.approx([1.0, 0.0, 0.0, 1.0])  # [[A~A, A~B], [B~A, B~B]]
    assert maps[1].tolist() == pytest.approx([0.0, 1.0, 1.0, 0.0])


def test_score_with_a_tiny_clap_model(tiny_clap):
    model = _model(tiny_clap)
    clips = [tone(f, 0.6, 16_000, seed=i) for i, f in enumerate((220.0, 440.0, 880.0))]
    texts = ["a dog barks", "a bell rings", "rain falls then wind blows"]
    probabilities = model.score(texts, clips, sample_rate=16_000)
    assert probabilities.shape == (3,) and probabilities.dtype == torch.float32
    assert ((probabilities > 0) & (probabilities < 1)).all()
    # The probability is the sigmoid of the calibrated logit; batches do not change a clip's score.
    torch.testing.assert_close(probabilities, torch.sigmoid(model.logits(texts, clips, 16_000)))
    alone = model.score(texts[1:2], clips[1:2], sample_rate=16_000)
    torch.testing.assert_close(alone, probabilities[1:2], atol=1e-5, rtol=1e-4)


def test_score_refuses_one_string_and_unpaired_lists(tiny_clap):
    model = _model(tiny_clap)
    clips = [tone(220.0, 0.6, 16_000), tone(440.0, 0.6, 16_000)]
    # A string as long as the clip list would otherwise be scored one character a clip.
    for call in (model.score, model.logits):
        with pytest.raises(ValueError, match="not one string"):
            call("ab", clips, 16_000)
        with pytest.raises(ValueError, match="got 1 texts but 2 clips"):
            call(["a dog barks"], clips, 16_000)
        with pytest.raises(ValueError, match="no clips given"):
            call([], [], 16_000)


def test_rank_orders_clips_best_first(tiny_clap):
    model = _model(tiny_clap)
    clips = [tone(f, 0.6, 16_000, seed=i) for i, f in enumerate((220.0, 440.0, 880.0, 660.0))]
    order, probabilities = model.rank("a dog barks", clips, sample_rate=16_000)
    assert sorted(order) == [0, 1, 2, 3]
    assert all(probabilities[order[i]] >= probabilities[order[i + 1]] for i in range(3))


@pytest.mark.parametrize("kind", ["mlp", "temporal"])
def test_a_head_with_the_similarity_prior_starts_from_the_encoders_ranking(kind):
    # Before training, the logit is the prior alone: 10 x the cosine of pooled audio and text.
    torch.manual_seed(0)
    head = build_head(kind, 4, 4, {"hidden": 8, "segments": [2], "prior": True})
    frames = torch.randn(3, 5, 4)
    tokens = torch.randn(3, 2, 4)
    audio = [AudioFeatures(f.mean(0), f) for f in frames]
    text = [TextFeatures(t.mean(0), t) for t in tokens]
    batch = stack_features(audio, text)
    cos = torch.nn.functional.cosine_similarity(batch.audio, batch.text, dim=-1)
    torch.testing.assert_close(head(batch), 10.0 * cos)
    assert build_head(kind, 4, 4, {"hidden": 8, "segments": [2]}).prior is None  # models saved before it


@pytest.mark.parametrize(("kind", "prior"), [("mlp", False), ("temporal", False), ("temporal", True)])
def test_save_load_round_trip(tiny_clap, tiny_clap_dir, tmp_path, kind, prior):
    model = _model(tiny_clap, kind, prior=prior)
    folder = model.save(tmp_path / "reward")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["encoder"]["source"] == str(tiny_clap_dir)
    assert config["encoder"]["fingerprint"] == tiny_clap.identity["fingerprint"]

    loaded = RewardModel.load(folder)  # the encoder is loaded from its recorded source
    clips = [tone(330.0, 0.6, 16_000), tone(990.0, 0.6, 16_000)]
    texts = ["a bell rings", "a dog barks"]
    torch.testing.assert_close(loaded.score(texts, clips, 16_000), model.score(texts, clips, 16_000))
    assert loaded.calibration == (1.5, -0.2)


def test_audio_paths_and_arrays_score_alike(tiny_clap, tmp_path):
    from baton.audio import save_audio

    model = _model(tiny_clap)
    clip = tone(440.0, 0.6, 16_000)
    save_audio(tmp_path / "c.wav", clip, 16_000)
    by_path = model.score(["a bell rings"], [tmp_path / "c.wav"])
    by_array = model.score(["a bell rings"], [clip], sample_rate=16_000)
    torch.testing.assert_close(by_path, by_array, atol=1e-4, rtol=1e-3)


def test_loading_refuses_what_is_not_a_reward_model(tiny_clap, tmp_path):
    with pytest.raises(InputError, match="no such reward model folder"):
        RewardModel.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        RewardModel.load(tmp_path / "empty")
    folder = _model(tiny_clap).save(tmp_path / "reward")
    (folder / "model.safetensors").write_bytes(b"\x80\x04pickle? no")
    with pytest.raises(InputError, match="model.safetensors: not a readable safetensors file"):
        RewardModel.load(folder)


def test_a_different_encoder_is_refused(tiny_clap, tmp_path):
    from baton.reward.encoders import build_tiny_clap, load_encoder

    folder = _model(tiny_clap).save(tmp_path / "reward")
    other = load_encoder(f"clap:{build_tiny_clap(tmp_path / 'other-clap', seed=1, max_length_s=2)}")
    with pytest.raises(InputError, match="not the one this reward model was trained on"):
        RewardModel.load(folder, encoder=other)


def test_evaluation_scorer_reads_the_model(tiny_clap, tmp_path):
    from baton.evaluation.reward_score import load_reward_scorer

    folder = _model(tiny_clap).save(tmp_path / "reward")
    scorer = load_reward_scorer(folder)
    clips = [tone(440.0, 0.6, 16_000), tone(880.0, 0.6, 16_000)]
    values = scorer.probabilities(["a bell rings", "a dog barks"], clips, 16_000)
    assert values.shape == (2,) and np.all((values > 0) & (values < 1))
