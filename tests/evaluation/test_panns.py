"""PANNs CNN14 from a checkpoint file: the released names, the front end, and the judge (tiny random weights)."""

import hashlib

import numpy as np
import pytest
import torch

from baton.audio import resample
from baton.errors import InputError
from baton.evaluation.panns import (
    FRONT_ENDS,
    Cnn14,
    PannsClassifier,
    build_tiny_cnn14,
    slaney_mel_filters,
)
from baton.evaluation.scorers import AudioEmbedder, ClipClassifier
from baton.fingerprints import state_dict_digest
from tests.backends.helpers import one_torch_thread


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_tiny_cnn14(tmp_path_factory.mktemp("panns") / "Cnn14_tiny.pth", seed=0)


@pytest.fixture(scope="module")
def clips():
    """Three clips at 16 kHz: 0.1 s (shorter than CNN14's 0.31 s), 0.5 s and another 0.5 s."""
    rng = np.random.default_rng(0)
    return [(0.3 * rng.standard_normal(n)).astype(np.float32) for n in (1600, 8000, 8000)]


def test_the_full_size_network_has_the_released_checkpoints_names_and_shapes():
    state = Cnn14().state_dict()
    expected = {
        "spectrogram_extractor.stft.conv_real.weight": (513, 1, 1024),
        "spectrogram_extractor.stft.conv_imag.weight": (513, 1, 1024),
        "logmel_extractor.melW": (513, 64),
        "bn0.weight": (64,),
        "bn0.running_var": (64,),
        "conv_block1.conv1.weight": (64, 1, 3, 3),
        "conv_block1.conv2.weight": (64, 64, 3, 3),
        "conv_block1.bn2.running_mean": (64,),
        "conv_block6.conv1.weight": (2048, 1024, 3, 3),
        "conv_block6.bn1.num_batches_tracked": (),
        "fc1.weight": (2048, 2048),
        "fc1.bias": (2048,),
        "fc_audioset.weight": (527, 2048),
        "fc_audioset.bias": (527,),
    }
    for name, shape in expected.items():
        assert tuple(state[name].shape) == shape, name
    # 3 front-end tensors, bn0's 5, 6 blocks of 2 convs and 2 batch norms (5 each), fc1 and fc_audioset.
    assert len(state) == 3 + 5 + 6 * (2 + 2 * 5) + 4
    learned = sum(
        t.numel()
        for name, t in state.items()
        if not name.startswith(("spectrogram_extractor", "logmel_extractor")) and "running" not in name
        and "num_batches" not in name
    )  # fmt: skip
    # The paper's 80.8 M: 9 * sum(c_in * c_out) of the convs, the batch norms, fc1 and fc_audioset.
    assert learned == 80_753_615


def test_log_mel_equals_an_independent_computation_on_the_same_audio(tmp_path):
    """transformers' numpy STFT and its librosa-equivalent Slaney filter bank, against the conv front end."""
    from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

    front_end = FRONT_ENDS[1024]
    filters = mel_filter_bank(
        num_frequency_bins=513, num_mel_filters=64, min_frequency=50.0, max_frequency=14_000.0,
        sampling_rate=32_000, norm="slaney", mel_scale="slaney",
    )  # fmt: skip
    np.testing.assert_allclose(slaney_mel_filters(32_000, 1024, 64, 50.0, 14_000.0), filters, atol=1e-8)
    audio = (0.3 * np.random.default_rng(1).standard_normal(16_000)).astype(np.float32)  # 0.5 s
    expected = spectrogram(
        audio, window_function(1024, "hann", periodic=True), frame_length=1024, hop_length=320, power=2.0,
        center=True, pad_mode="reflect", mel_filters=filters, log_mel="dB", reference=1.0, min_value=1e-10,
        db_range=None,
    )  # fmt: skip  # [M, T]
    model = Cnn14(front_end, widths=(2,) * 6, classes=2)
    log_mel = model.log_mel(torch.from_numpy(audio)[None])  # [1, 1, T, M]
    assert log_mel.shape == (1, 1, 16_000 // 320 + 1, 64)
    np.testing.assert_allclose(log_mel[0, 0].numpy(), expected.T, atol=1e-3)

    # The 16 kHz model's front end (hop 160, up to 8 kHz) from its 512-sample window.
    small = Cnn14(FRONT_ENDS[512], widths=(2,) * 6, classes=2)
    assert tuple(small.state_dict()["spectrogram_extractor.stft.conv_real.weight"].shape) == (257, 1, 512)
    np.testing.assert_allclose(
        small.logmel_extractor.melW.numpy(),
        mel_filter_bank(257, 64, 50.0, 8_000.0, 16_000, norm="slaney", mel_scale="slaney"),
        atol=1e-8,
    )
    # A checkpoint says which front end it was trained with (its STFT window), and half weights load.
    torch.save({"model": {k: v.half() if v.is_floating_point() else v for k, v in small.state_dict().items()}},
               tmp_path / "Cnn14_16k.pth")  # fmt: skip
    judge = PannsClassifier.load(tmp_path / "Cnn14_16k.pth")
    assert judge.sample_rate == 16_000 and judge.front_end.hop_size == 160 and judge.front_end.fmax == 8_000
    assert next(judge.model.parameters()).dtype == torch.float32


def test_a_checkpoint_file_loads_by_path_and_judges_clips_as_the_network_does(checkpoint, clips):
    judge = PannsClassifier.load(checkpoint)
    assert isinstance(judge, ClipClassifier) and isinstance(judge, AudioEmbedder)
    assert judge.sample_rate == 32_000 and len(judge.classes) == 6
    network = Cnn14(widths=(4, 8, 8, 16, 16, 32), classes=6).eval()
    network.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
    assert judge.identity == {
        "name": f"PANNs CNN14 {checkpoint}",
        "source": str(checkpoint.resolve()),
        "weights_sha256": state_dict_digest(network).hex(),
        "sample_rate": 32_000,
        "classes": 6,
        "checkpoint_sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
    }
    logits, embeddings = judge.logits_and_embeddings(clips, 16_000)
    assert logits.shape == (3, 6) and embeddings.shape == (3, 32)
    # Each clip resampled to 32 kHz and passed alone; the 0.1 s clip zero-padded to 31 hops first.
    for i, clip in enumerate(clips):
        at_32k = resample(clip, 16_000, 32_000)
        at_32k = np.pad(at_32k, (0, max(0, 31 * 320 - at_32k.size)))
        with torch.no_grad():
            alone_logits, alone_embedding = network(torch.from_numpy(at_32k)[None])
        np.testing.assert_allclose(logits[i], alone_logits[0].numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(embeddings[i], alone_embedding[0].numpy(), rtol=1e-4, atol=1e-5)
    assert (embeddings >= 0).all()  # the ReLU of fc1: the embedding audioldm_eval's FD reads
    assert not np.allclose(logits[1], logits[2])  # two different clips of one length, batched
    np.testing.assert_array_equal(judge.clip_logits(clips, 16_000), logits)
    np.testing.assert_array_equal(judge.embed_audio(clips, 16_000), embeddings)
    # A bare state dict loads too, with the same weights.
    bare = checkpoint.parent / "bare.pth"
    torch.save(network.state_dict(), bare)
    assert PannsClassifier.load(bare).identity["weights_sha256"] == judge.identity["weights_sha256"]


def test_a_checkpoint_with_numpy_training_state_loads_and_other_objects_do_not(checkpoint, tmp_path):
    """The released files keep training state with numpy arrays beside ``model``, pickled by numpy 1."""
    state = torch.load(checkpoint, weights_only=True)["model"]
    sampler = {
        "indexes": np.arange(5),
        "random_state": np.random.RandomState(0).get_state(),
        "n": np.int64(2),
    }
    released = tmp_path / "released.pth"
    torch.save({"model": state, "iteration": 600_000, "sampler": sampler}, released)
    expected = PannsClassifier.load(checkpoint).identity["weights_sha256"]
    assert PannsClassifier.load(released).identity["weights_sha256"] == expected
    # numpy 1 names its array rebuilder numpy.core.multiarray (the legacy format keeps the pickle bare).
    legacy = tmp_path / "numpy1.pth"
    torch.save({"model": state, "sampler": sampler}, legacy, _use_new_zipfile_serialization=False)
    pickled = legacy.read_bytes()
    assert b"numpy._core.multiarray" in pickled
    legacy.write_bytes(pickled.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert PannsClassifier.load(legacy).identity["weights_sha256"] == expected
    # Anything else that would run code when unpickled is refused, in one line.
    torch.save({"model": state, "hook": print}, tmp_path / "code.pth")
    with pytest.raises(InputError, match="cannot read a CNN14 checkpoint") as error:
        PannsClassifier.load(tmp_path / "code.pth")
    assert "Unsupported global: GLOBAL print" in str(error.value) and "\n" not in str(error.value)


def test_a_missing_or_wrong_checkpoint_fails_with_one_line(tmp_path):
    with pytest.raises(InputError) as error:
        PannsClassifier.load(tmp_path / "Cnn14_mAP=0.431.pth")
    message = str(error.value)
    assert "Cnn14_mAP=0.431.pth" in message and "zenodo.org/record/3987831" in message
    assert "\n" not in message and error.value.path == str(tmp_path / "Cnn14_mAP=0.431.pth")
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="not a PANNs CNN14 checkpoint"):
        PannsClassifier.load(tmp_path / "other.pth")
    state = Cnn14(widths=(2,) * 6, classes=3).state_dict()
    del state["conv_block3.conv2.weight"]
    torch.save({"model": state}, tmp_path / "broken.pth")
    with pytest.raises(InputError, match="not a CNN14 state dict: .*conv_block3.conv2.weight") as error:
        PannsClassifier.load(tmp_path / "broken.pth")
    assert "\n" not in str(error.value)
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(InputError, match="cannot read a CNN14 checkpoint"):
        PannsClassifier.load(tmp_path / "text.pth")
