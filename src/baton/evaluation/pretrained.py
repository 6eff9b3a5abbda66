"""Judges of real audio: pretrained models the field measures text-to-audio models with.

* :class:`ClapJudge` (an :class:`~baton.evaluation.scorers.AudioTextEmbedder`): LAION-CLAP through
  transformers (``ClapModel`` + ``ClapProcessor``, e.g. ``laion/clap-htsat-unfused``), for the CLAP
  score and as an embedding for FAD. Clips are resampled to the processor's 48 kHz and cut to its
  window (10 s for the LAION models) at the start; a shorter clip is repeat-padded by the processor.
  This is :class:`baton.reward.encoders.HFClapEncoder`'s preprocessing: the reward model and the
  evaluation read a clip alike.
* :class:`AudioSetClassifier` (a :class:`~baton.evaluation.scorers.ClipClassifier` and an
  :class:`~baton.evaluation.scorers.AudioEmbedder`): the Audio Spectrogram Transformer through
  ``ASTForAudioClassification`` (e.g. ``MIT/ast-finetuned-audioset-10-10-0.4593``, 527 AudioSet
  classes), for KL and IS over AudioSet classes and, with ``--fad-embedding ast``, its pooled
  embedding (the mean of its two CLS tokens, what its classification head reads) for FAD. Clips are
  resampled to its feature extractor's 16 kHz, and the extractor's Kaldi filter bank keeps a clip's
  first ``max_length`` frames (1024 frames, 10.24 s) and zero-pads a shorter one.

Its logits go to :mod:`baton.evaluation.kl` and :mod:`baton.evaluation.inception_score` as PANNs
CNN14's do in audioldm_eval: KL over paired clips of softmax (``kl_softmax``) and of sigmoid
(``kl_sigmoid``) probabilities; AST is trained on AudioSet's multiple labels with a sigmoid, so
``kl_sigmoid`` reads its outputs as it was trained, ``kl_softmax`` and IS read them as audioldm_eval
reads CNN14's. Figures from AST are not figures from CNN14: compare models under one classifier.

PANNs CNN14, which neither transformers nor diffusers has, is written out in
:mod:`baton.evaluation.panns` and loaded from its checkpoint file. Any other classifier plugs in as a
``ClipClassifier`` through ``baton.evaluation.run.run(config, scorers)``. No VGGish embedding is
provided (docs/backends.md says why).

Each judge loads from a folder or a hub id (``HF_HUB_OFFLINE=1``: the hub cache only); weights that
are not there fail with one line naming what to download. Judges run in float32 on the evaluation's
device, whatever dtype the generating model used, so that figures compare across runs.

    clap = ClapJudge.load("laion/clap-htsat-unfused", device="cuda")
    ast = AudioSetClassifier.load("MIT/ast-finetuned-audioset-10-10-0.4593", device="cuda")
    logits, embeddings = ast.logits_and_embeddings(clips, sample_rate)  # [N, 527], [N, 768]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

from baton.artifacts import give_safetensors_plain_mode
from baton.audio import resample
from baton.backends.common import load_pretrained, quiet_progress
from baton.evaluation.scorers import judge_identity
from baton.reward.encoders import HFClapEncoder

DEFAULT_CLAP = "laion/clap-htsat-unfused"
DEFAULT_CLASSIFIER = "MIT/ast-finetuned-audioset-10-10-0.4593"
AST_MODEL_TYPE = "audio-spectrogram-transformer"


class ClapJudge:
    """LAION-CLAP's L2-normalised audio and text embeddings (see the module docstring)."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder  # a baton.reward.encoders.HFClapEncoder
        source = encoder.identity["source"]
        self.name = f"CLAP {source}"
        self.sample_rate = encoder.sample_rate
        self.identity = judge_identity(self.name, source, encoder.model, sample_rate=self.sample_rate)

    @property
    def temperature(self) -> float:
        """The model's learned audio-to-text softmax temperature, ``1 / exp(logit_scale_a)`` (what the
        event judge uses)."""
        return 1.0 / float(self.encoder.model.logit_scale_a.detach().exp())

    @classmethod
    def load(cls, source: str | Path = DEFAULT_CLAP, device: str = "cpu") -> ClapJudge:
        return cls(HFClapEncoder.load(source, device=device))

    def embed_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        features = self.encoder.encode_audio(audio, sample_rate)
        return torch.stack([f.pooled for f in features]).numpy().astype(np.float64)  # [N, D]

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        features = self.encoder.encode_text(texts)
        return torch.stack([f.pooled for f in features]).numpy().astype(np.float64)  # [N, D]


class AudioSetClassifier:
    """``ASTForAudioClassification`` and its ``ASTFeatureExtractor`` (see the module docstring)."""

    embedding = "ast"  # its name for --fad-embedding

    def __init__(self, model: Any, extractor: Any, source: str | Path, batch_size: int = 16) -> None:
        self.model = model.eval().requires_grad_(False)
        self.extractor = extractor
        self.batch_size = batch_size
        self.sample_rate = int(extractor.sampling_rate)
        labels = model.config.id2label
        self.classes = tuple(str(labels[i]) for i in range(model.config.num_labels))
        self.name = f"AST {source}"
        self.identity = judge_identity(
            self.name, source, model, sample_rate=self.sample_rate, classes=len(self.classes)
        )

    @classmethod
    def load(cls, source: str | Path = DEFAULT_CLASSIFIER, device: str = "cpu") -> AudioSetClassifier:
        what = "AST AudioSet classifier"
        # float32 whatever the checkpoint holds (transformers would take its dtype).
        load = partial(ASTForAudioClassification.from_pretrained, dtype=torch.float32)
        model = load_pretrained(load, source, what, model_type=AST_MODEL_TYPE)
        extractor = load_pretrained(
            ASTFeatureExtractor.from_pretrained, source, f"{what}'s feature extractor"
        )
        return cls(model.to(device), extractor, source)

    def features(self, audio: Sequence[np.ndarray], sample_rate: int) -> torch.Tensor:
        """The extractor's normalised log-mel filter banks ``[N, max_length, mel bins]`` at its own rate."""
        clips = [
            resample(np.asarray(clip, dtype=np.float32), sample_rate, self.sample_rate) for clip in audio
        ]
        return self.extractor(clips, sampling_rate=self.sample_rate, return_tensors="pt")["input_values"]

    def logits_and_embeddings(
        self, audio: Sequence[np.ndarray], sample_rate: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class logits ``[N, C]`` and pooled embeddings ``[N, H]`` from one pass of the model."""
        logits, pooled = [], []
        device = self.model.device
        for start in range(0, len(audio), self.batch_size):
            inputs = self.features(audio[start : start + self.batch_size], sample_rate).to(device)
            with torch.no_grad():
                states = self.model.audio_spectrogram_transformer(inputs).pooler_output  # [B, H]
                logits.append(self.model.classifier(states).float().cpu())  # [B, C]
            pooled.append(states.float().cpu())
        return torch.cat(logits).numpy().astype(np.float64), torch.cat(pooled).numpy().astype(np.float64)

    def clip_logits(self, audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        return self.logits_and_embeddings(audio, sample_rate)[0]

    def embed_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        return self.logits_and_embeddings(audio, sample_rate)[1]


# --- a tiny AST built in code ---------------------------------------------------------------------------

TINY_AUDIOSET_LABELS = ("Speech", "Dog", "Bell", "Rain", "Siren", "Engine")


def build_tiny_ast(directory: str | Path, seed: int = 0, max_seconds: float = 1.0) -> Path:
    """Write a tiny random-weight ``ASTForAudioClassification`` + ``ASTFeatureExtractor`` to ``directory``.

    The real architecture at toy size (one layer of width 16 over 16 mel bins, ``max_seconds`` of
    frames, six AudioSet-named classes), for tests and trials on a machine without hub access. Load it
    with ``AudioSetClassifier.load(directory)`` or ``baton evaluate --classifier DIR``.
    """
    frames = max(16, math.ceil(max_seconds * 100))  # the extractor's hop is 10 ms
    torch.manual_seed(seed)
    config = ASTConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        patch_size=16,
        frequency_stride=10,
        time_stride=10,
        max_length=frames,
        num_mel_bins=16,
        id2label=dict(enumerate(TINY_AUDIOSET_LABELS)),
        label2id={label: i for i, label in enumerate(TINY_AUDIOSET_LABELS)},
    )
    directory = Path(directory)
    with quiet_progress():
        ASTForAudioClassification(config).save_pretrained(directory)
        ASTFeatureExtractor(num_mel_bins=16, max_length=frames).save_pretrained(directory)
    give_safetensors_plain_mode(directory)
    return directory
