import shutil

import numpy as np
import pytest
import torch

from baton.audio import resample
from baton.reward.cache import FeatureCache, audio_features, text_features
from tests.reward.helpers import tone


class CountingEncoder:
    """Wraps an encoder and counts how many clips and texts it really encodes."""

    def __init__(self, inner):
        self.inner = inner
        self.identity = inner.identity
        self.sample_rate = inner.sample_rate
        self.audio_dim, self.text_dim = inner.audio_dim, inner.text_dim
        self.clips = 0
        self.texts = 0

    def encode_audio(self, audio, sample_rate):
        self.clips += len(audio)
        return self.inner.encode_audio(audio, sample_rate)

    def encode_text(self, texts):
        self.texts += len(texts)
        return self.inner.encode_text(texts)


def test_tiny_clap_features_have_the_promised_shapes(tiny_clap):
    assert tiny_clap.sample_rate == 48_000
    long, short = tone(440.0, 2.0, 16_000), tone(440.0, 0.5, 16_000)
    features = tiny_clap.encode_audio([long, short], 16_000)
    assert features[0].pooled.shape == (16,)
    assert torch.linalg.norm(features[0].pooled) == pytest.approx(1.0, abs=1e-5)
    # The 2 s clip fills the processor's window; the 0.5 s one covers a quarter of its frames.
    full = features[0].frames.shape[0]
    assert features[1].frames.shape[0] == int(np.ceil(full / 4))
    text = tiny_clap.encode_text(["a dog barks", "rain"])
    assert text[0].pooled.shape == (16,)
    assert text[0].tokens.shape[0] > text[1].tokens.shape[0]  # padding removed


def test_audio_is_resampled_to_48k_before_clap(tiny_clap):
    clip16 = tone(440.0, 1.0, 16_000)
    clip48 = resample(clip16, 16_000, 48_000).astype(np.float32)
    a = tiny_clap.encode_audio([clip16], 16_000)[0]
    b = tiny_clap.encode_audio([clip48], 48_000)[0]
    torch.testing.assert_close(a.pooled, b.pooled)
    torch.testing.assert_close(a.frames, b.frames)


def test_encoding_is_batch_independent(tiny_clap):
    clips = [tone(f, 1.0, 16_000, seed=i) for i, f in enumerate((220.0, 440.0, 880.0))]
    together = tiny_clap.encode_audio(clips, 16_000)
    alone = tiny_clap.encode_audio(clips[1:2], 16_000)
    torch.testing.assert_close(together[1].pooled, alone[0].pooled, atol=1e-5, rtol=1e-4)


def test_cache_hit_does_not_run_the_encoder(tiny_clap, label_set, tmp_path):
    paths = sorted((label_set.parent / "audio").glob("*.wav"))[:5]
    counting = CountingEncoder(tiny_clap)
    cache = FeatureCache(tmp_path / "cache", tiny_clap.identity["fingerprint"])
    first = audio_features(counting, paths, cache, batch_size=2)
    text_features(counting, ["a dog barks", "a dog barks", "rain"], cache)
    assert (counting.clips, counting.texts) == (5, 2)
    assert (cache.hits, cache.misses) == (0, 7)

    # A new cache object over the same folder (another run): everything is read, nothing encoded.
    again = FeatureCache(tmp_path / "cache", tiny_clap.identity["fingerprint"])
    second = audio_features(counting, paths, again)
    text_features(counting, ["rain", "a dog barks"], again)
    assert (counting.clips, counting.texts) == (5, 2)
    assert (again.hits, again.misses) == (7, 0)
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a.pooled, b.pooled)
        torch.testing.assert_close(a.frames, b.frames)


def test_cache_is_keyed_by_content_and_encoder(tiny_clap, label_set, tmp_path):
    source = sorted((label_set.parent / "audio").glob("*.wav"))[0]
    copy = tmp_path / "renamed.wav"
    shutil.copy(source, copy)
    counting = CountingEncoder(tiny_clap)
    cache = FeatureCache(tmp_path / "cache", tiny_clap.identity["fingerprint"])
    audio_features(counting, [source], cache)
    audio_features(counting, [copy], cache)  # same bytes, other name: a hit
    assert counting.clips == 1
    other = FeatureCache(tmp_path / "cache", "another-encoder")
    audio_features(counting, [copy], other)  # other encoder: a miss
    assert counting.clips == 2


def test_unreadable_audio_is_a_clear_error(tiny_clap, tmp_path):
    from baton.errors import InputError

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    cache = FeatureCache(tmp_path / "cache", tiny_clap.identity["fingerprint"])
    with pytest.raises(InputError, match=r"broken\.wav: cannot read audio"):
        audio_features(tiny_clap, [bad], cache)


@pytest.mark.slow
def test_world_clap_encoder_through_public_api(quick_world):
    from baton.reward.encoders import load_encoder

    encoder = load_encoder(f"world:{quick_world}")
    assert encoder.identity["kind"] == "world-clap"
    features = encoder.encode_audio([tone(440.0, 4.0, 16_000), tone(440.0, 1.0, 16_000)], 16_000)
    assert features[0].pooled.shape == (encoder.audio_dim,)
    assert features[0].frames.shape[1] == encoder.audio_dim
    assert features[1].frames.shape[0] < features[0].frames.shape[0]
    text = encoder.encode_text(["A beep sounds, then rain falls."])
    assert text[0].tokens.shape[1] == encoder.text_dim
