"""The settings of ``baton evaluate`` (light to import: the command line reads them at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from baton.config import documented, option


@documented
@dataclass
class EvaluateConfig:
    models: list[str] = option(
        [],
        "Models as NAME=BACKEND[:PATH] (e.g. base=world:runs/t2a); the first is the base the others "
        "are compared with.",
    )
    compare_to: list[str] = option(
        [],
        "Models (by name) every other model is also compared with, clip by clip on the same prompts and "
        "seeds, beside the base: e.g. the label-blind control, to see what the labels bring. Accuracies "
        "and the other per-clip figures; metrics.json keeps them under differences_from.",
    )
    prompts: Path = option(Path("prompts.jsonl"), "Test prompts (held out from training).")
    out: Path = option(Path("evaluation"), "Output folder: <name>/ per model, metrics.jsonl, metrics.json.")
    per_prompt: int = option(1, "Clips per prompt and model (the same seeds for every model).")
    seed: int = option(0, "Run seed; every clip's seed derives from it, its prompt id and its index.")
    reference: str | None = option(
        None,
        "Reference clips for FAD and KL: 'real' (world synthesizer renders of the same prompts and "
        "seeds), a samples file, an audio folder, or 'none'. Default: 'real' if every model is a "
        "world model, else none.",
    )
    reward_model: Path | None = option(None, "Reward model folder: adds the reward score.")
    judge: str | None = option(
        None,
        "'events': read the prompts' events with the open-vocabulary event judge (CLAP similarity over "
        "sliding windows, through the evaluation's CLAP) instead of the world's evaluator detector, so "
        "that accuracy and presence can be measured on any backend's clips.",
    )
    world: Path | None = option(
        None, "World folder whose evaluator detector and CLAP judge the clips (default: the cached world)."
    )
    clap: str | None = option(
        None,
        "CLAP for the CLAP score: a transformers ClapModel folder or hub id (laion/clap-htsat-unfused, "
        "48 kHz), or 'world' (the world CLAP, the default).",
    )
    classifier: str | None = option(
        None,
        "Classifier for KL and IS: an ASTForAudioClassification folder or hub id "
        "(MIT/ast-finetuned-audioset-10-10-0.4593, AudioSet's 527 classes, 16 kHz), 'panns:PATH' for a "
        "PANNs CNN14 checkpoint file (Cnn14_mAP=0.431.pth, 32 kHz, audioldm_eval's classifier), or "
        "'world' (the world's evaluator detector, the default).",
    )
    fad_embedding: Literal["clap", "ast", "panns", "world"] = option(
        "clap",
        "FAD's embedding: clap (the --clap judge's audio embeddings), ast (the --classifier AST's pooled"
        " embeddings), panns (the --classifier CNN14's 2048-d embeddings, audioldm_eval's FD) or world"
        " (the world CLAP's). FADs in different embeddings do not compare; every output names the one"
        " used.",
    )
    steps: int | None = option(None, "Sampling steps (default: each backend's).")
    guidance_scale: float | None = option(None, "Classifier-free guidance scale (default: each backend's).")
    batch_size: int = option(8, "Clips generated together.")
    score_batch: int = option(32, "Clips judged together.")
    device: str = option("cpu", "Torch device for generation and the pretrained judges.")
    dtype: Literal["float32", "float16", "bfloat16"] = option(
        "float32",
        "Weights of the generating models (real backends): float16 and bfloat16 take half the memory "
        "of float32 (float16 is for GPUs). The judges run in float32.",
    )
    resamples: int = option(2000, "Bootstrap resamples for per-clip figures.")
    set_resamples: int = option(
        200, "Bootstrap resamples for set figures (FAD, IS), each a full recomputation."
    )
    fad_infinity: bool = option(
        False, "Also report FAD-infinity (needs more clips than embedding dimensions)."
    )
    progress: bool = option(True, "Show progress bars.")
