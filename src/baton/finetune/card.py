"""The model card of a tuned model: ``OUT/model/README.md``, written by ``baton finetune``.

A Hugging Face style card: YAML front matter (``base_model``, ``library_name``, ``license`` where the
base model's own card or config names one, ``pipeline_tag: text-to-audio``, ``tags``), then what the
run did (method and settings), what it trained on (clips of each kind, the reward model's
fingerprint) and how to load the folder. It is written from the same document as ``finetune.json``
(:func:`write_model_card`), with the Jinja2 templates ``templates/model_card.md.j2`` and
``templates/model_card_evaluation.md.j2`` (the evaluation's section).

``baton evaluate`` adds the figures of each tuned model it judged whose folder baton finetune wrote
(:func:`update_model_card`): an "Evaluation" section between two HTML comments, replaced by a later
evaluation, so that the rest of the card, edits included, is kept.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import try_to_load_from_cache
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from baton.artifacts import atomic_write_text, read_json
from baton.backends import BACKENDS
from baton.finetune.config import FORMAT, MODEL_DIR, RUN_FILE
from baton.stats import difference_excludes_zero

CARD_FILE = "README.md"
TEMPLATE = "model_card.md.j2"
EVALUATION_TEMPLATE = "model_card_evaluation.md.j2"
EVALUATION_BEGIN = "<!-- baton evaluation: begin -->"
EVALUATION_END = "<!-- baton evaluation: end -->"

METHODS = {
    "baton": "BATON: the denoising loss of each feedback clip weighted by its reward, plus beta times the "
    "pretraining loss on captioned clips (Liao et al., 2024)",
    "dpo": "Diffusion-DPO against a frozen copy of the base model (Wallace et al., 2023; Tango 2)",
    "sft": "supervised fine-tuning on the clips labelled 1 (matching their prompt)",
    "control": "fine-tuning on every feedback clip with its label ignored: the control for self-training",
}
METHOD_TAGS = {"baton": ["rlhf"], "dpo": ["dpo", "rlhf"], "sft": ["sft"], "control": ["self-training"]}
# Backends whose folder is a whole diffusers pipeline (DiffusionPipeline.from_pretrained loads it).
PIPELINES = {"audioldm2": "AudioLDM2Pipeline", "stable-audio": "StableAudioPipeline"}
# What each of the evaluation's judges (metrics.json's "scorers") measures.
JUDGES = {
    "events": "event reader (event accuracy)",
    "classifier": "classifier (KL, Inception Score)",
    "embedder": "audio-text embedder (CLAP score)",
    "fad": "embedding of FAD",
    "reward": "reward model (reward)",
}


def _template(name: str = TEMPLATE) -> Any:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        undefined=StrictUndefined,  # a name the template reads and the card lacks is a bug, not a blank
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = _number
    env.filters["figure"] = _figure
    return env.get_template(name)


def _number(value: Any) -> str:
    """A setting as a reader wants it: a float to 4 significant digits (1e-05, 0.25), the rest as is."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return str(value)


def _figure(value: Any, sign: bool = False) -> str:
    """An evaluation figure as ``baton evaluate`` prints it: 3 decimals (:mod:`baton.stats`)."""
    if value is None:
        return "-"
    return f"{float(value):+.3f}" if sign else f"{float(value):.3f}"


# --- what the card says ---------------------------------------------------------------------------


def front_matter_of(path: Path) -> dict[str, Any]:
    """The YAML front matter of a model card (``{}`` where it has none or it does not parse)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
        data = yaml.safe_load("\n".join(lines[1:end]))
    except (StopIteration, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def base_license(model: str | None) -> str | None:
    """The licence the base model's own card (front matter) or config names, if it is at hand.

    A local folder: its README.md, else a ``license`` key of its config.json, model_index.json or
    baton_backend.json. A hub id: its card only if the hub cache already holds it (no download: a
    licence that cannot be known is left out rather than guessed).
    """
    if not model:
        return None
    folder = Path(model).expanduser()
    if folder.is_dir():
        found = front_matter_of(folder / CARD_FILE).get("license")
        for name in ("config.json", "model_index.json", "baton_backend.json"):
            if found:
                break
            try:
                data = read_json(folder / name) if (folder / name).is_file() else None
            except Exception:  # an unreadable config says nothing about the licence
                data = None
            found = data.get("license") if isinstance(data, dict) else None
        return str(found) if found else None
    try:
        cached = try_to_load_from_cache(str(model), CARD_FILE)
    except Exception:  # not a hub id, or no cache: nothing to read
        return None
    if isinstance(cached, str):
        found = front_matter_of(Path(cached)).get("license")
        return str(found) if found else None
    return None


def _default_model(backend: str) -> str | None:
    """The hub id a backend loads when no ``--model`` is given (``None`` for the world's own folder)."""
    target = BACKENDS.get(backend)
    if target is None:
        return None
    try:
        module = importlib.import_module(target.partition(":")[0])
    except ImportError:
        return None
    default = getattr(module, "DEFAULT_MODEL", None)
    return default if isinstance(default, str) else None


def _base_model(config: dict[str, Any]) -> str | None:
    """The base model as the card names it: a hub id, or a local folder's absolute path."""
    model = config.get("model") or _default_model(str(config.get("backend")))
    if not model:
        return None
    folder = Path(model).expanduser()
    return str(folder.resolve()) if folder.is_dir() else str(model)


def _settings(config: dict[str, Any], processes: int) -> list[tuple[str, Any]]:
    """The settings that shaped this method's training, in the order a reader looks for them."""
    method = config["method"]
    rows: list[tuple[str, Any]] = []
    if method == "baton":
        rows += [("beta (pretraining loss weight)", config["beta"]), ("reward mode", config["reward_mode"])]
        if config["reward_mode"] == "hard":
            rows.append(("reward threshold", config["reward_threshold"]))
        if config.get("human_share") is not None:
            rows.append(("human share of a feedback batch", config["human_share"]))
    elif method == "dpo":
        rows += [("DPO beta", config["dpo_beta"]), ("DPO pair margin", config["dpo_margin"])]
    elif method == "sft":
        rows.append(("reward threshold (labelled 1)", config["reward_threshold"]))
    if method != "dpo":
        weighting = config["snr_weighting"]
        if config["snr_gamma"]:
            weighting = f"{weighting}, gamma {_number(config['snr_gamma'])}"
        rows.append(("SNR weighting", weighting if config["snr_gamma"] else "none"))
    rows += [
        ("optimizer steps", config["steps"]),
        ("learning rate", f"{_number(config['learning_rate'])} ({config['lr_schedule']})"),
    ]
    if config["warmup_steps"]:
        rows.append(("warm-up steps", config["warmup_steps"]))
    batch = f"{config['batch_size']} x {config['grad_accum']} accumulated"
    if method == "baton" and config["beta"] > 0:
        pretrain = config.get("pretrain_batch_size") or config["batch_size"]
        batch += f" (+ {pretrain} pretraining clips a micro-batch)"
    rows.append(("batch" + (" (pairs)" if method == "dpo" else ""), batch))
    rows += [
        ("AdamW", f"betas ({config['adam_beta1']}, {config['adam_beta2']}), weight decay "
         f"{_number(config['weight_decay'])}"),
        ("gradient clipping", config["max_grad_norm"] or "off"),
    ]  # fmt: skip
    if config["lora_rank"]:
        alpha = config["lora_alpha"] if config["lora_alpha"] is not None else config["lora_rank"]
        rows.append(("LoRA (merged)", f"rank {config['lora_rank']}, alpha {_number(alpha)}"))
    if config["ema_decay"]:
        rows.append(("EMA decay", config["ema_decay"]))
    if config["train_text_encoder"]:
        rows.append(("text encoder", "trained"))
    if config["text_dropout"]:
        rows.append(("text dropout", config["text_dropout"]))
    if config["train_guidance"] != 1.0:
        rows.append(("guided fitting", f"scale {config['train_guidance']}, rescale "
                     f"{config['train_guidance_rescale']}"))  # fmt: skip
    if config.get("dtype", "float32") != "float32":
        rows.append(("frozen parts' weights", config["dtype"]))
    rows += [
        ("mixed precision", config["mixed_precision"]),
        ("processes", processes),
        ("seed", config["seed"]),
    ]
    return rows


def _data(counts: dict[str, Any]) -> list[tuple[str, Any]]:
    """Clips of each kind the run read and trained on (``finetune.json``'s ``data``)."""
    feedback = counts.get("feedback") or {}
    rows: list[tuple[str, Any]] = [
        ("human-labelled clips", feedback.get("human", 0)),
        ("reward-labelled clips", feedback.get("reward", 0)),
    ]
    if "train" in feedback:
        rows.append(("feedback clips: training / validation", f"{feedback['train']} / {feedback['val']}"))
    for key, what in (
        ("sft", "clips tuned on"),
        ("pairs", "preference pairs"),
        ("pretrain", "pretraining clips"),
    ):
        if key in counts:
            rows.append((f"{what}: training / validation", f"{counts[key]['train']} / {counts[key]['val']}"))
    people = (counts.get("pairs") or {}).get("from_people")
    if people:
        rows.append(
            ("of them people's A/B pairs: training / validation", f"{people['train']} / {people['val']}")
        )
    if feedback.get("dropped_ties"):
        rows.append(("tied clips left out", feedback["dropped_ties"]))
    if feedback.get("in_both_files"):
        rows.append(("clips in both files (human label kept)", feedback["in_both_files"]))
    targets = counts.get("targets")
    if targets:
        rows.append(
            ("trained on sampled latents / encoded audio", f"{targets['latent']} / {targets['audio']}")
        )
    return rows


def card_values(run: dict[str, Any]) -> dict[str, Any]:
    """The template's values for a run's ``finetune.json`` document."""
    config = run["config"]
    method = config["method"]
    backend = str(config["backend"])
    base = _base_model(config)
    tags = ["text-to-audio", "audio", "diffusion", "baton", *METHOD_TAGS.get(method, []), backend]
    if config.get("lora_rank"):
        tags.append("lora")
    model = run.get("model") or {}
    chosen = {
        "step": model.get("step"),
        "select": model.get("select"),
        "val_loss": model.get("val_loss"),
        "ema": bool(model.get("ema")),
    }
    return {
        "front": {
            "base_model": base,
            "library_name": "diffusers" if backend in PIPELINES else "baton",
            "license": base_license(base),
            "pipeline_tag": "text-to-audio",
            "tags": list(dict.fromkeys(tags)),
        },
        "title": Path(str(config["out"])).name,
        "method": method,
        "method_text": METHODS.get(method, method),
        "backend": backend,
        "base": base,
        "settings": _settings(config, int(run.get("processes", 1))),
        "data": _data(run.get("data") or {}),
        "reward_model": (run.get("data") or {}).get("reward_model"),
        "chosen": chosen,
        "baton_version": run.get("baton"),
        "pipeline": PIPELINES.get(backend),
    }


def evaluation_values(metrics: dict[str, Any], name: str, source: str | Path | None = None) -> dict[str, Any]:
    """The template's values for model ``name``'s figures in a ``metrics.json`` document."""
    info = metrics.get("metric_info") or {}
    figures = (metrics.get("metrics") or {}).get(name) or {}
    differences = (metrics.get("differences") or {}).get(name) or {}
    rows = []
    for metric, tasks in figures.items():
        about = info.get(metric) or {}
        for task, figure in tasks.items():
            difference = (differences.get(metric) or {}).get(task)
            verdict = None
            # The one rule of a difference that counts, as `baton evaluate` stars it (3 decimals).
            if difference and difference_excludes_zero(difference) and "higher_is_better" in about:
                better = (difference["value"] > 0) == bool(about["higher_is_better"])
                verdict = "better" if better else "worse"
            rows.append(
                {
                    "metric": about.get("label", metric),
                    "higher": about.get("higher_is_better"),
                    "task": task,
                    "value": figure.get("value"),
                    "low": figure.get("ci_low"),
                    "high": figure.get("ci_high"),
                    "difference": (difference or {}).get("value"),
                    "difference_low": (difference or {}).get("ci_low"),
                    "difference_high": (difference or {}).get("ci_high"),
                    "verdict": verdict,
                }
            )
    scorers = metrics.get("scorers") or {}
    identities = metrics.get("judges") or {}  # name, source and weights' digest of each
    judges = []
    for role, judge in scorers.items():
        if judge:
            digest = (identities.get(role) or {}).get("weights_sha256")
            judges.append(
                (JUDGES.get(role, role), f"{judge} (weights sha256 {digest[:12]})" if digest else judge)
            )
    prompts = metrics.get("prompts") or {}
    return {
        "name": name,
        "base": metrics.get("base"),
        "source": str(Path(source).resolve()) if source is not None else None,
        "judges": judges,
        "prompts": prompts,
        "clips": ((metrics.get("models") or {}).get(name) or {}).get("clips"),
        "reference": metrics.get("reference"),
        "rows": rows,
    }


# --- writing ------------------------------------------------------------------------------------------


def render_card(run: dict[str, Any], evaluation: dict[str, Any] | None = None) -> str:
    """The whole card of a run's ``finetune.json`` document (and an evaluation's values, if any)."""
    return _template().render(**card_values(run), evaluation=evaluation)


def render_evaluation(evaluation: dict[str, Any]) -> str:
    """The "Evaluation" section alone, between its markers."""
    return str(_template(EVALUATION_TEMPLATE).module.evaluation_section(evaluation))  # type: ignore[attr-defined]


def write_model_card(model_dir: str | Path, run: dict[str, Any]) -> Path:
    """Write ``model_dir/README.md`` for the run ``run`` (the ``finetune.json`` document)."""
    path = Path(model_dir) / CARD_FILE
    atomic_write_text(path, render_card(run))
    return path


def finetune_run_of(model_dir: str | Path) -> dict[str, Any] | None:
    """The ``finetune.json`` document of the run that wrote ``model_dir`` (its ``OUT/model``), or
    ``None`` for any other folder (a hub model, a checkpoint, a model trained elsewhere)."""
    folder = Path(model_dir)
    if folder.name != MODEL_DIR or not folder.is_dir() or not (folder.parent / RUN_FILE).is_file():
        return None
    try:
        run = read_json(folder.parent / RUN_FILE)
    except Exception:  # a run file that does not read is no baton run to describe
        return None
    if not isinstance(run, dict) or run.get("format") != FORMAT or run.get("status") != "done":
        return None
    return run


def update_model_card(
    model_dir: str | Path, metrics: dict[str, Any], name: str, *, source: str | Path | None = None
) -> Path | None:
    """Put model ``name``'s figures from ``metrics`` (a ``metrics.json`` document; ``source``: its
    file) into the card of ``model_dir``, a folder ``baton finetune`` wrote; ``None`` for any other
    folder, which is left alone.

    The "Evaluation" section replaces the one a former evaluation wrote, or is appended; the rest of
    the card is kept as it is. A tuned model without a card (written by an older baton) gets one,
    from its ``finetune.json``.
    """
    run = finetune_run_of(model_dir)
    if run is None:
        return None
    evaluation = evaluation_values(metrics, name, source)
    path = Path(model_dir) / CARD_FILE
    if not path.is_file():
        atomic_write_text(path, render_card(run, evaluation))
        return path
    text = path.read_text(encoding="utf-8")
    section = render_evaluation(evaluation).strip("\n")
    begin, end = text.find(EVALUATION_BEGIN), text.find(EVALUATION_END)
    if begin >= 0 and end > begin:
        text = text[:begin] + section + text[end + len(EVALUATION_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    atomic_write_text(path, text)
    return path
