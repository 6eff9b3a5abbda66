"""The world T2A model: tokenizer, networks, loss weights, training, sampling, files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from baton.errors import InputError
from baton.world.corpus import CorpusConfig, build_corpus
from baton.world.model import (
    BOS_ID,
    PAD_ID,
    UNK_ID,
    Denoiser,
    DenoiserConfig,
    TextEncoder,
    TextEncoderConfig,
    TimeConv,
    WordTokenizer,
    WorldT2A,
    WorldT2AConfig,
    split_words,
)
from baton.world.t2a import (
    T2ATrainConfig,
    diffusion_loss,
    pretrain_text_encoder,
    text_pretraining_captions,
    train_t2a,
)

TEXTS = ["A beep sounds.", "Rain falls, then a bell rings.", "Someone knocks on a door."]


def tiny_config() -> WorldT2AConfig:
    return T2ATrainConfig.quick().model_config()


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(CorpusConfig(n_clips=12, seed=3))


@pytest.fixture(scope="module")
def trained(corpus) -> WorldT2A:
    config = T2ATrainConfig.quick(seed=1)
    config.steps = 6
    return train_t2a(corpus, config, progress=False)


# --- tokenizer ------------------------------------------------------------------------------------


def test_split_words_lowercases_and_splits_punctuation():
    assert split_words("A Dog barks, then it's QUIET.") == [
        "a",
        "dog",
        "barks",
        ",",
        "then",
        "it's",
        "quiet",
        ".",
    ]


def test_tokenizer_vocabulary_is_sorted_by_count_after_the_special_tokens():
    tokenizer = WordTokenizer.build(["b a.", "a c", "a"])
    assert tokenizer.words == ["[PAD]", "[UNK]", "[BOS]", "a", ".", "b", "c"]


def test_tokenizer_round_trip_and_unknown_words():
    tokenizer = WordTokenizer.build(["A beep sounds.", "Rain falls, then a bell rings."])
    ids = tokenizer.encode("Rain falls, then a beep sounds.")
    assert ids[0] == BOS_ID and UNK_ID not in ids
    assert tokenizer.decode(ids) == "rain falls , then a beep sounds ."
    unknown = tokenizer.encode("A dragon sounds.")
    assert unknown == [BOS_ID, tokenizer.index["a"], UNK_ID, tokenizer.index["sounds"], tokenizer.index["."]]
    assert tokenizer.decode(unknown) == "a [UNK] sounds ."
    assert tokenizer.encode("") == [BOS_ID]
    again = WordTokenizer.from_json(json.loads(json.dumps(tokenizer.to_json())))
    assert again.words == tokenizer.words


def test_tokenizer_batch_pads_and_cuts_to_a_fixed_length():
    tokenizer = WordTokenizer.build(["a b c d e"])
    ids, mask = tokenizer.batch(["a b", "a b c d e", ""], length=4)
    a, b, c = (tokenizer.index[w] for w in "abc")
    assert ids.tolist() == [[BOS_ID, a, b, PAD_ID], [BOS_ID, a, b, c], [BOS_ID, PAD_ID, PAD_ID, PAD_ID]]
    assert mask.tolist() == [[True, True, True, False], [True] * 4, [True, False, False, False]]


def test_tokenizer_rejects_a_vocabulary_without_the_special_tokens():
    with pytest.raises(ValueError, match="starts with"):
        WordTokenizer(["a", "b"])


# --- networks -------------------------------------------------------------------------------------


def test_time_conv_equals_conv1d():
    torch.manual_seed(0)
    for kernel, stride in ((3, 1), (3, 2), (1, 1)):
        conv = TimeConv(8, 16, kernel, stride=stride)
        reference = torch.nn.Conv1d(8, 16, kernel, stride=stride, padding=kernel // 2)
        reference.load_state_dict(conv.state_dict())
        x = torch.randn(3, 8, 20)
        torch.testing.assert_close(conv(x), reference(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("frames", [251, 37, 8])
def test_denoiser_keeps_the_shape_of_any_length(frames):
    torch.manual_seed(0)
    denoiser = Denoiser(16, 24, DenoiserConfig(channels=[16, 32], patch=2, heads=2))
    torch.nn.init.normal_(denoiser.output.weight)  # zero-initialised: make the output non-trivial
    x = torch.randn(2, 16, frames)
    text = torch.randn(2, 5, 24)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    out = denoiser(x, torch.tensor([3, 900]), text, mask)
    assert out.shape == (2, 16, frames)
    assert torch.isfinite(out).all()
    # One timestep for the whole batch is accepted as a scalar.
    assert denoiser(x, torch.tensor(10), text, mask).shape == (2, 16, frames)


def test_denoiser_output_starts_at_zero():
    denoiser = Denoiser(16, 24, DenoiserConfig(channels=[16, 32], patch=2, heads=2))
    out = denoiser(torch.randn(1, 16, 40), torch.tensor([5]), torch.randn(1, 3, 24), None)
    assert torch.equal(out, torch.zeros_like(out))


def test_denoiser_listens_to_the_text_and_ignores_padded_tokens():
    torch.manual_seed(0)
    denoiser = Denoiser(16, 24, DenoiserConfig(channels=[16, 32], patch=2, heads=2))
    for parameter in denoiser.parameters():  # move every zero-initialised layer off zero
        torch.nn.init.normal_(parameter, std=0.1)
    x, t = torch.randn(1, 16, 32), torch.tensor([100])
    text = torch.randn(1, 4, 24)
    mask = torch.tensor([[True, True, False, False]])
    base = denoiser(x, t, text, mask)
    changed_padding = text.clone()
    changed_padding[0, 2:] = 5.0
    torch.testing.assert_close(denoiser(x, t, changed_padding, mask), base)
    changed_token = text.clone()
    changed_token[0, 1] = 5.0
    assert not torch.allclose(denoiser(x, t, changed_token, mask), base)


def test_text_encoder_shapes():
    encoder = TextEncoder(10, TextEncoderConfig(dim=16, layers=1, heads=2, max_tokens=6))
    ids = torch.tensor([[BOS_ID, 4, 5, 0, 0, 0]])
    assert encoder(ids, ids != PAD_ID).shape == (1, 6, 16)


# --- loss -----------------------------------------------------------------------------------------


def test_training_steps_reduce_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    tokenizer = WordTokenizer.build(TEXTS)
    model = WorldT2A(tiny_config(), tokenizer)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 64, model.config.n_frames, generator=generator)
    ids, mask = model.tokenize(TEXTS)
    t = torch.tensor([100, 500, 900])
    noise = torch.randn(x0.shape, generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = diffusion_loss(model, x0, ids, mask, t, noise, snr_gamma=5.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction", "epsilon"])
def test_loss_of_a_fresh_model_by_hand(prediction_type):
    config = tiny_config()
    config.scheduler.prediction_type = prediction_type
    model = WorldT2A(config, WordTokenizer.build(TEXTS))
    x0 = torch.full((1, 64, model.config.n_frames), 2.0)
    noise = torch.ones_like(x0)
    t = torch.tensor([500])
    a = model.noise_scheduler.alphas_cumprod[500].double()
    ids, mask = model.tokenize(TEXTS[:1])
    # The fresh denoiser predicts 0, so the loss is w(t) * target^2 with SNR = a / (1 - a).
    snr = a / (1 - a)
    target, weight = {
        "sample": (2.0, min(snr, 5.0)),
        "v_prediction": (a.sqrt() - 2 * (1 - a).sqrt(), min(snr, 5.0) / (snr + 1)),
        "epsilon": (1.0, min(snr, 5.0) / snr),
    }[prediction_type]
    loss = diffusion_loss(model, x0, ids, mask, t, noise, snr_gamma=5.0)
    torch.testing.assert_close(loss.double(), weight * target**2, rtol=1e-5, atol=1e-7)


# --- training -------------------------------------------------------------------------------------


def test_text_pretraining_captions_name_their_events_in_order():
    from baton.world.spec import CLASS_INDEX, CLASSES

    texts, targets = text_pretraining_captions(8, seed=0)
    assert len(texts) == 8 and targets.shape == (8, 3)
    none = len(CLASSES)
    # Kinds in turn: single, sequence of 2, sequence of 3, overlap of 2.
    assert [int((row != none).sum()) for row in targets] == [1, 2, 3, 2] * 2
    for text, row in zip(texts, targets, strict=True):
        assert text and text[0].isupper()
        assert len({int(c) for c in row if c != none}) == int((row != none).sum())  # distinct events
    assert text_pretraining_captions(8, seed=0)[0] == texts
    assert CLASS_INDEX[CLASSES[int(targets[0, 0])]] == int(targets[0, 0])


def test_text_pretraining_teaches_the_encoder_the_events():
    texts, targets = text_pretraining_captions(64, seed=1)
    config = T2ATrainConfig.quick(seed=0)
    config.text_pretrain_steps, config.text_pretrain_batch, config.learning_rate = 40, 16, 3e-3
    model = WorldT2A(config.model_config(), WordTokenizer.build(texts))
    losses = pretrain_text_encoder(model, texts, targets, config, torch.Generator().manual_seed(0))
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_train_t2a_reports_and_sets_statistics(trained, corpus):
    report = trained.report
    assert report["steps"] == 6 and report["clips"] == len(corpus)
    assert len(report["loss_curve"]) == 6 and np.isfinite(report["final_loss"])
    assert report["config"]["seed"] == 1
    assert all(UNK_ID not in trained.tokenizer.encode(text) for text in corpus.captions)
    # The statistics give the corpus's frames mean 0 and standard deviation x0_std.
    x0 = trained.encode_audio(torch.from_numpy(corpus.audio))
    assert x0.shape == (len(corpus), 64, trained.config.n_frames)
    assert abs(float(x0.mean())) < 1e-3
    assert abs(float(x0.std()) - report["config"]["x0_std"]) < 1e-3


def test_train_t2a_is_repeatable_for_a_seed(corpus):
    config = T2ATrainConfig.quick(seed=4)
    config.steps = 3
    a = train_t2a(corpus, config, progress=False)
    b = train_t2a(corpus, config, progress=False)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


@pytest.mark.parametrize("field,value", [("steps", 0), ("channels", [12]), ("text_dropout", 1.0)])
def test_train_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        T2ATrainConfig(**{field: value})


# --- sampling -------------------------------------------------------------------------------------


def test_sampling_is_deterministic_and_independent_of_the_batch(trained):
    seeds = [11, 12, 13]
    together = trained.sample(TEXTS, seeds, steps=3)
    assert together.shape == (3, 64, trained.config.n_frames)
    assert torch.equal(trained.sample(TEXTS, seeds, steps=3), together)
    for i in range(3):
        alone = trained.sample([TEXTS[i]], [seeds[i]], steps=3)
        assert torch.equal(alone[0], together[i])
    assert not torch.equal(trained.sample([TEXTS[0]], [99], steps=3)[0], together[0])


def test_guidance_is_one_batched_pass(trained):
    x = torch.randn(2, 64, trained.config.n_frames, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(400)
    cond = trained.encode_text(TEXTS[:2])
    uncond = trained.encode_text(["", ""])
    calls = []
    hook = trained.denoiser.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    try:
        with torch.no_grad():
            guided = trained.guided_prediction(x, t, cond, uncond, 3.0)
            at_one = trained.guided_prediction(x, t, cond, uncond, 1.0)
            at_zero = trained.guided_prediction(x, t, cond, uncond, 0.0)
    finally:
        hook.remove()
    assert calls == [4, 4, 4]  # unconditional and conditional rows in one pass
    with torch.no_grad():
        c = trained.predict(x, t.expand(2), *cond)
        u = trained.predict(x, t.expand(2), *uncond)
    torch.testing.assert_close(at_one, c, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(at_zero, u, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(guided, u + 3.0 * (c - u), atol=1e-5, rtol=1e-5)


def test_guidance_rescale_pulls_each_clips_spread_to_the_conditional_ones(trained):
    x = torch.randn(2, 64, trained.config.n_frames, generator=torch.Generator().manual_seed(1))
    t = torch.tensor(700)
    cond, uncond = trained.encode_text(TEXTS[:2]), trained.encode_text(["", ""])
    with torch.no_grad():
        c = trained.predict(x, t.expand(2), *cond)
        u = trained.predict(x, t.expand(2), *uncond)
        plain = trained.guided_prediction(x, t, cond, uncond, 5.0)
        full = trained.guided_prediction(x, t, cond, uncond, 5.0, rescale=1.0)
        part = trained.guided_prediction(x, t, cond, uncond, 5.0, rescale=0.7)
    torch.testing.assert_close(plain, u + 5.0 * (c - u), atol=1e-5, rtol=1e-5)
    for i in range(2):  # phi = 1: the guided prediction, scaled to the conditional one's std, per clip
        g = plain[i]
        torch.testing.assert_close(full[i], g * c[i].std() / g.std(), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(full[i].std(), c[i].std(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(part, 0.7 * full + 0.3 * plain, atol=1e-5, rtol=1e-4)


def test_guidance_rescale_is_a_saved_sampling_default(trained, tmp_path):
    assert T2ATrainConfig().model_config().guidance_rescale == 0.7
    with pytest.raises(ValueError, match="guidance_rescale"):
        T2ATrainConfig(guidance_rescale=1.5)
    data = WorldT2AConfig(guidance_rescale=0.5).to_dict()
    assert WorldT2AConfig.from_dict(json.loads(json.dumps(data))).guidance_rescale == 0.5
    del data["guidance_rescale"]  # a model saved before the setting existed samples as it did then
    assert WorldT2AConfig.from_dict(json.loads(json.dumps(data))).guidance_rescale == 0.0
    seeds = [3, 4]
    default = trained.sample(TEXTS[:2], seeds, steps=3)
    assert torch.equal(
        default, trained.sample(TEXTS[:2], seeds, steps=3, guidance_rescale=trained.config.guidance_rescale)
    )
    assert not torch.equal(default, trained.sample(TEXTS[:2], seeds, steps=3, guidance_rescale=1.0))


def test_frames_to_audio_gives_one_clip_per_row(trained):
    frames = trained.sample(TEXTS[:2], [1, 2], steps=2)
    clips = trained.frames_to_audio(frames, [1, 2], n_iter=2)
    assert [c.shape for c in clips] == [(64000,), (64000,)]
    assert all(c.dtype == np.float32 and np.isfinite(c).all() for c in clips)
    # A clip inverted alone equals the same clip inverted in a batch.
    alone = trained.frames_to_audio(frames[1:], [2], n_iter=2)
    assert np.array_equal(alone[0], clips[1])


def test_encode_audio_of_silence_is_the_log_floor(trained):
    x0 = trained.encode_audio(torch.zeros(1, 100))  # shorter than a clip: padded with silence
    floor = torch.log(torch.tensor(trained.config.mel.log_floor))
    expected = (floor - trained.mel_mean) / trained.mel_std
    torch.testing.assert_close(x0[0], expected[:, None].expand_as(x0[0]))
    torch.testing.assert_close(trained.denormalize(x0)[0, 0, 0], floor)


# --- files ----------------------------------------------------------------------------------------


def test_save_load_round_trip_generates_the_same(trained, tmp_path):
    trained.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json",
        "model.safetensors",
        "training.json",
    ]
    loaded = WorldT2A.load(tmp_path / "model")
    assert loaded.tokenizer.words == trained.tokenizer.words
    assert loaded.report == json.loads(json.dumps(trained.report))
    assert torch.equal(loaded.sample(TEXTS, [5, 6, 7], steps=3), trained.sample(TEXTS, [5, 6, 7], steps=3))


def test_load_errors_name_the_file(trained, tmp_path):
    with pytest.raises(InputError, match="config.json is missing") as info:
        WorldT2A.load(tmp_path / "nothing")
    assert info.value.path == str(tmp_path / "nothing" / "config.json")

    trained.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["format"] = "something-else"
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="not a world T2A model") as info:
        WorldT2A.load(tmp_path / "m")
    assert info.value.field == "format"

    trained.save(tmp_path / "w")
    (tmp_path / "w" / "model.safetensors").unlink()
    with pytest.raises(InputError, match="weights are missing"):
        WorldT2A.load(tmp_path / "w")


@pytest.mark.parametrize("query_positions", [False, True])
def test_cross_attention_queries_know_their_place_in_the_clip_only_when_asked(query_positions):
    from baton.world.model import Attention

    torch.manual_seed(0)
    attention = Attention(16, heads=2, context_dim=8, query_positions=query_positions)
    torch.nn.init.normal_(attention.out.weight)  # the output starts at zero; open it
    frames = torch.ones(1, 16, 10)  # every frame the same
    text = torch.randn(1, 3, 8)
    out = attention(frames, text)
    assert out.shape == frames.shape
    spread = float((out - out[:, :, :1]).abs().max())  # how far frames moved apart
    if query_positions:
        assert spread > 1e-3  # the same frame at another time asks the text something else
    else:
        assert spread < 1e-5


def test_a_model_config_from_before_query_positions_loads_without_them():
    data = WorldT2AConfig().to_dict()
    del data["denoiser"]["query_positions"]
    config = WorldT2AConfig.from_dict(json.loads(json.dumps(data)))
    assert config.denoiser.query_positions is False
    names = [n for n, _ in WorldT2A(config, WordTokenizer.build(["a beep"])).named_parameters()]
    assert not any(".position." in n for n in names if ".cross." in n or "mid_cross" in n)
