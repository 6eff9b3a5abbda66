"""The pretrained judges of real audio, on tiny random-weight models built in code and loaded by path."""

import numpy as np
import pytest
import torch

from baton.audio import resample
from baton.errors import InputError
from baton.evaluation.pretrained import AudioSetClassifier, ClapJudge, build_tiny_ast
from baton.evaluation.scorers import AudioEmbedder, AudioTextEmbedder, ClipClassifier
from baton.fingerprints import state_dict_digest
from baton.reward.encoders import build_tiny_clap
from tests.backends.helpers import one_torch_thread


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
    return build_tiny_clap(tmp_path_factory.mktemp("clap"), seed=0, max_length_s=1)


@pytest.fixture(scope="module")
def ast_dir(tmp_path_factory):
    return build_tiny_ast(tmp_path_factory.mktemp("ast"), seed=0, max_seconds=0.5)


@pytest.fixture(scope="module")
def clips():
    """Two clips at 8 kHz: one shorter than either model's window, one longer."""
    rng = np.random.default_rng(0)
    return [(0.3 * rng.standard_normal(n)).astype(np.float32) for n in (2000, 12_000)]


def test_clap_judge_reads_clips_and_texts_as_clap_itself_does(clap_dir, clips):
    from transformers import ClapModel, ClapProcessor

    judge = ClapJudge.load(clap_dir)
    assert isinstance(judge, AudioTextEmbedder) and judge.sample_rate == 48_000
    model, processor = ClapModel.from_pretrained(clap_dir).eval(), ClapProcessor.from_pretrained(clap_dir)
    window = processor.feature_extractor.nb_max_samples
    # CLAP's own preprocessing at its own rate; the longer clip cut to its window at the start.
    at_48k = [resample(clip, 8000, 48_000)[:window] for clip in clips]
    inputs = processor(audio=at_48k, sampling_rate=48_000, return_tensors="pt")
    texts = ["a dog barks", "rain falls on a roof"]
    with torch.no_grad():
        audio = model.get_audio_features(**inputs).pooler_output.numpy()
        text = model.get_text_features(**processor(text=texts, padding=True, return_tensors="pt"))
    np.testing.assert_allclose(judge.embed_audio(clips, 8000), audio, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(judge.embed_text(texts), text.pooler_output.numpy(), rtol=1e-5, atol=1e-6)


def test_ast_features_logits_and_embeddings_are_asts_own(ast_dir, clips):
    from transformers import ASTFeatureExtractor, ASTForAudioClassification

    judge = AudioSetClassifier.load(ast_dir)
    assert isinstance(judge, ClipClassifier) and isinstance(judge, AudioEmbedder)
    assert judge.sample_rate == 16_000 and judge.classes[:2] == ("Speech", "Dog")
    model = ASTForAudioClassification.from_pretrained(ast_dir).eval()
    extractor = ASTFeatureExtractor.from_pretrained(ast_dir)
    # The extractor at 16 kHz on the same audio: it keeps a clip's first max_length frames itself.
    expected = extractor(
        [resample(c, 8000, 16_000) for c in clips], sampling_rate=16_000, return_tensors="pt"
    )
    features = judge.features(clips, 8000)
    torch.testing.assert_close(features, expected["input_values"])
    assert features.shape == (2, extractor.max_length, 16)
    with torch.no_grad():
        output = model(expected["input_values"], output_hidden_states=True)
        states = model.audio_spectrogram_transformer.layernorm(output.hidden_states[-1])  # [B, T, H]
    logits, embeddings = judge.logits_and_embeddings(clips, 8000)
    np.testing.assert_allclose(logits, output.logits.numpy(), rtol=1e-5, atol=1e-6)
    # The embedding is what AST's head reads: the mean of its two CLS tokens.
    cls_mean = ((states[:, 0] + states[:, 1]) / 2).numpy()
    np.testing.assert_allclose(embeddings, cls_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(judge.clip_logits(clips, 8000), logits)


def test_a_judge_names_its_source_and_the_digest_of_its_weights(ast_dir, clap_dir, tmp_path):
    from transformers import ASTForAudioClassification

    ast = AudioSetClassifier.load(ast_dir)
    expected = state_dict_digest(ASTForAudioClassification.from_pretrained(ast_dir)).hex()
    assert ast.identity == {
        "name": f"AST {ast_dir}",
        "source": str(ast_dir.resolve()),
        "weights_sha256": expected,
        "sample_rate": 16_000,
        "classes": 6,
    }
    other = AudioSetClassifier.load(build_tiny_ast(tmp_path / "other", seed=1, max_seconds=0.5))
    assert other.identity["weights_sha256"] != expected
    clap = ClapJudge.load(clap_dir)
    assert clap.identity["source"] == str(clap_dir.resolve()) and len(clap.identity["weights_sha256"]) == 64


def test_weights_that_are_not_here_fail_with_one_line_naming_what_to_download(tmp_path, clap_dir):
    for load, hub_id in (
        (ClapJudge.load, "laion/clap-htsat-unfused"),
        (AudioSetClassifier.load, "MIT/ast-finetuned-audioset-10-10-0.4593"),
    ):
        with pytest.raises(InputError) as error:
            load(hub_id)  # HF_HUB_OFFLINE=1 and an empty cache
        message = str(error.value)
        assert f"hf download {hub_id}" in message and "\n" not in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="cannot load the AST AudioSet classifier from this folder") as error:
        AudioSetClassifier.load(empty)
    assert error.value.path == str(empty) and "\n" not in str(error.value)
    with pytest.raises(InputError, match="this is a 'clap' model; the AST AudioSet classifier is"):
        AudioSetClassifier.load(clap_dir)
    with pytest.raises(InputError, match="no such folder for the CLAP model"):
        ClapJudge.load(tmp_path / "not-here")
