"""``baton reward eval``: how well a reward model agrees with held-out human labels, per task.

Figures (each with a percentile-bootstrap 95% interval over clips, :mod:`baton.stats`):

* ``accuracy``: share of clips where ``P >= threshold`` (0.5, as BATON judges) equals the majority label;
* ``roc_auc``: probability that a random clip labelled 1 scores above a random clip labelled 0 (ties
  count half; the Mann-Whitney statistic);
* ``ece``: expected calibration error over ``bins`` equal-width bins of the predicted probability,
  ``ECE = sum_b (n_b / N) |observed share of 1 labels in b - mean predicted probability in b|``;
  ``reliability`` holds the bins as ``{confidence, accuracy, count}`` (``accuracy`` is the observed share
  of 1 labels), which ``baton report`` draws;
* ``human_agreement``: the ceiling a person reaches (as HPSv2 reports it): each vote against the
  majority of the *other* votes on its clip (clips where the others tie, or nobody else voted, are
  left out). The model's ``accuracy`` is measured against the majority of all votes;
* with people's pairs (``--pairs``), ``pairs.pairwise_accuracy``: the share of decided pairs whose
  chosen clip the model scores above the rejected one (a tie counts half), all and per task.

Clips whose votes tie have no majority label and are left out of the model's figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

from baton.artifacts import write_json
from baton.cache import cache_dir
from baton.errors import InputError
from baton.interchange.labels import read_labels
from baton.reward.cache import FeatureCache
from baton.reward.data import add_pair_clips, labelled_clips, read_pairs
from baton.reward.model import RewardModel
from baton.reward.train import encode_clips
from baton.stats import bootstrap, bootstrap_mean, ranking_auc
from baton.workers import check_device

if TYPE_CHECKING:
    import torch

EVAL_FILE = "eval.json"


# --- metrics (pure functions) -------------------------------------------------------------------------


def _check(probabilities: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if p.shape != y.shape:
        raise ValueError(f"got {p.size} probabilities but {y.size} labels")
    if p.size and (not np.isfinite(p).all() or p.min() < 0 or p.max() > 1):
        raise ValueError("probabilities must lie in [0, 1]")
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    return p, y


def correct_at(probabilities: Sequence[float], labels: Sequence[int], threshold: float = 0.5) -> np.ndarray:
    """1.0 where ``(p >= threshold)`` equals the label, else 0.0 (``[N]``)."""
    p, y = _check(probabilities, labels)
    return ((p >= threshold).astype(np.float64) == y).astype(np.float64)


def roc_auc(probabilities: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n1 n0), ties counted half); NaN with one class only."""
    p, y = _check(probabilities, labels)
    return ranking_auc(p, y)


def reliability_bins(
    probabilities: Sequence[float], labels: Sequence[int], n_bins: int = 10
) -> list[dict[str, float]]:
    """Equal-width bins of the predicted probability (the last one closed): the non-empty ones, as
    ``{"low", "high", "confidence": mean p, "accuracy": share of 1 labels, "count"}``."""
    p, y = _check(probabilities, labels)
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    index = np.minimum((p * n_bins).astype(int), n_bins - 1)
    bins = []
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        if count:
            bins.append(
                {
                    "low": b / n_bins,
                    "high": (b + 1) / n_bins,
                    "confidence": float(p[members].mean()),
                    "accuracy": float(y[members].mean()),
                    "count": count,
                }
            )
    return bins


def expected_calibration_error(
    probabilities: Sequence[float], labels: Sequence[int], n_bins: int = 10
) -> float:
    """``sum_b (n_b / N) |share of 1 labels in b - mean p in b|`` over equal-width bins."""
    p, _ = _check(probabilities, labels)
    if p.size == 0:
        raise ValueError("the calibration error needs at least one clip")
    bins = reliability_bins(probabilities, labels, n_bins)
    return float(sum(b["count"] / p.size * abs(b["accuracy"] - b["confidence"]) for b in bins))


def single_annotator_agreement(votes: Sequence[dict[str, float]]) -> np.ndarray:
    """Per (vote, clip): 1.0 if the vote agrees with the majority of the other votes of its clip.

    Votes are rounded to 0/1. A vote whose clip has no other vote, or whose other votes tie, gives
    no item. Returns the items ``[M]`` (their mean is the single-annotator agreement).
    """
    items = []
    for clip_votes in votes:
        values = [int(v >= 0.5) for v in clip_votes.values()]
        for i, value in enumerate(values):
            others = Counter(values[:i] + values[i + 1 :])
            if not others or others[0] == others[1]:
                continue
            majority = int(others[1] > others[0])
            items.append(float(value == majority))
    return np.asarray(items, dtype=np.float64)


# --- the evaluation ---------------------------------------------------------------------------------


def pair_wins(chosen: Sequence[float], rejected: Sequence[float]) -> np.ndarray:
    """1.0 where the chosen clip scores higher, 0.5 on a tie, else 0.0 (``[P]``)."""
    c = np.asarray(chosen, dtype=np.float64).reshape(-1)
    r = np.asarray(rejected, dtype=np.float64).reshape(-1)
    if c.shape != r.shape:
        raise ValueError(f"got {c.size} chosen scores but {r.size} rejected ones")
    return (c > r) + 0.5 * (c == r)


def pair_figures(
    chosen: Sequence[float],
    rejected: Sequence[float],
    tasks: Sequence[str | None],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Pairwise accuracy over people's pairs, all and per task, with bootstrap intervals over pairs."""
    wins = pair_wins(chosen, rejected)
    names = np.array([task or "unknown" for task in tasks])

    def figures(rows: np.ndarray) -> dict[str, Any]:
        return {
            "pairs": int(rows.size),
            "pairwise_accuracy": _estimate(bootstrap_mean(rows, n_resamples=resamples, seed=seed))
            if rows.size
            else None,
        }

    return {**figures(wins), "tasks": {name: figures(wins[names == name]) for name in sorted(set(names))}}


def _estimate(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    out = value.as_dict()
    if not np.isfinite(out["value"]):
        return None
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def task_figures(
    probabilities: np.ndarray,
    labels: np.ndarray,
    votes: Sequence[dict[str, float]],
    *,
    threshold: float = 0.5,
    n_bins: int = 10,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy, ROC-AUC, ECE (with 95% intervals), reliability bins and the human ceiling of one group."""
    p, y = _check(probabilities, labels)
    figures: dict[str, Any] = {"clips": int(p.size), "ones": int(y.sum()), "zeros": int(p.size - y.sum())}
    if p.size:
        pairs = np.stack([p, y], axis=1)  # resampled together
        figures["accuracy"] = _estimate(
            bootstrap_mean(correct_at(p, y, threshold), n_resamples=resamples, seed=seed)
        )
        auc = roc_auc(p, y)
        figures["roc_auc"] = (
            None
            if np.isnan(auc)
            else _estimate(
                bootstrap(
                    pairs,
                    lambda v: roc_auc(v[:, 0], v[:, 1]) if 0 < v[:, 1].sum() < len(v) else auc,
                    n_resamples=resamples,
                    seed=seed,
                )
            )
        )
        figures["ece"] = _estimate(
            bootstrap(
                pairs,
                lambda v: expected_calibration_error(v[:, 0], v[:, 1], n_bins),
                n_resamples=resamples,
                seed=seed,
            )
        )
        figures["reliability"] = [
            {k: round(v, 6) if isinstance(v, float) else v for k, v in b.items()}
            for b in reliability_bins(p, y, n_bins)
        ]
        figures["mean_probability"] = round(float(p.mean()), 6)
    agreement = single_annotator_agreement(votes)
    figures["human_agreement"] = (
        _estimate(bootstrap_mean(agreement, n_resamples=resamples, seed=seed)) if agreement.size else None
    )
    if agreement.size == 0:
        figures["human_agreement_note"] = "needs clips with 3 or more votes (one vote per clip here)"
    return figures


def evaluate_reward(
    model_dir: str | Path,
    labels: str | Path | None,
    out: str | Path | None = None,
    *,
    threshold: float = 0.5,
    bins: int = 10,
    resamples: int = 2000,
    seed: int = 0,
    task: str | None = None,
    audio_root: str | Path | None = None,
    cache: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    pairs: str | Path | None = None,
) -> dict[str, Any]:
    """Judge the model in ``model_dir`` on ``labels`` and (or) people's ``pairs``; write the figures
    (``out``, default ``model_dir/eval.json``) and a reliability plot beside them; return the figures.
    ``device``: where the encoder runs."""

    check_figure_settings(threshold, bins)
    device = check_device(device)
    model_dir = Path(model_dir)
    model = RewardModel.load(model_dir, device=device)
    encoder = model.encoder
    feature_cache = FeatureCache(cache_dir(cache), encoder.identity["fingerprint"])

    def probabilities_of_clips(clips: Sequence[Any]) -> np.ndarray:
        features = encode_clips(
            encoder,
            clips,
            feature_cache,
            sequences=model.needs_sequences,
            progress=progress,
            judge=model.event_judge,
        )
        return probabilities_of(model.logits_of, features, range(len(clips)))

    result: dict[str, Any] = {
        # Absolute: read from any folder (the rule of baton.artifacts).
        "model": str(model_dir.resolve()),
        "labels": None if labels is None else str(Path(labels).resolve()),
        "head": model.head_kind,
        "objective": model.objective,
        "encoder": model.encoder_identity.get("kind"),
        "threshold": threshold,
        "bins": bins,
        "resamples": resamples,
    }
    if labels is not None:
        clips = labelled_clips(read_labels(labels, task=task), labels, audio_root)
        result.update(
            clip_figures(
                probabilities_of_clips(clips),
                clips,
                threshold=threshold,
                bins=bins,
                resamples=resamples,
                seed=seed,
            )
        )
    if pairs is not None:
        paired = add_pair_clips([], read_pairs(pairs, task=task), pairs, audio_root)
        p = probabilities_of_clips(paired.clips)
        result["pairs_file"] = str(Path(pairs).resolve())
        result["pairs"] = pair_figures(
            [p[w] for w, _, _ in paired.pairs],
            [p[lose] for _, lose, _ in paired.pairs],
            [paired.clips[w].task for w, _, _ in paired.pairs],
            resamples=resamples,
            seed=seed,
        )
        result["pairs"]["undecided_left_out"] = paired.undecided
    save_figures(result, Path(out) if out is not None else model_dir / EVAL_FILE)
    return result


def check_figure_settings(threshold: float, bins: int) -> None:
    """Refuse a threshold outside (0, 1) or fewer than one reliability bin, before any work."""
    if not 0.0 < threshold < 1.0:
        raise InputError("must be between 0 and 1", field="threshold")
    if bins < 1:
        raise InputError("must be at least 1", field="bins")


def probabilities_of(
    logits_of: Callable[[Any], torch.Tensor], features: Any, rows: Sequence[int], chunk: int = 256
) -> np.ndarray:
    """Probabilities (float64) of the feature ``rows``: sigmoid of ``logits_of`` a batch, ``chunk`` at a time."""
    index = torch.as_tensor(list(rows), dtype=torch.long)
    parts = [
        torch.sigmoid(logits_of(features.index(index[i : i + chunk]))) for i in range(0, len(index), chunk)
    ]
    return torch.cat(parts).double().numpy() if parts else np.zeros(0)


def clip_figures(
    probabilities: Sequence[float],
    clips: Sequence[Any],
    *,
    threshold: float = 0.5,
    bins: int = 10,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`task_figures` over all labelled clips and per task, from one probability per clip.

    ``clips``: anything with ``label`` (None for tied votes), ``task`` and ``votes``. A clip whose
    votes tie is left out of the model's figures, but its votes still count for the human agreement.
    Returns ``tied_clips_left_out``, the figures of all clips, and ``tasks`` (a task of None is
    ``unknown``).
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if len(p) != len(clips):
        raise ValueError(f"got {len(p)} probabilities for {len(clips)} clips")
    decided = [i for i, clip in enumerate(clips) if clip.label is not None]
    names = [clip.task or "unknown" for clip in clips]

    def figures_of(rows: list[int], all_rows: list[int]) -> dict[str, Any]:
        return task_figures(
            p[rows],
            np.array([clips[i].label for i in rows], dtype=np.float64),
            [clips[i].votes for i in all_rows],
            threshold=threshold,
            n_bins=bins,
            resamples=resamples,
            seed=seed,
        )

    return {
        "tied_clips_left_out": len(clips) - len(decided),
        **figures_of(decided, list(range(len(clips)))),
        "tasks": {
            name: figures_of(
                [i for i in decided if names[i] == name], [i for i in range(len(names)) if names[i] == name]
            )
            for name in sorted({names[i] for i in decided})
        },
    }


def save_figures(result: dict[str, Any], out: Path) -> Path:
    """Write ``result`` to ``out`` (JSON) and its reliability plot beside it (``<stem>-reliability.png``,
    named in ``result["plot"]``); return ``out``."""
    plot = out.with_name(f"{out.stem}-reliability.png")
    result["plot"] = plot.name
    write_json(out, result)
    write_reliability_plot(result, plot)
    return out


def write_reliability_plot(result: dict[str, Any], path: Path) -> None:
    """A reliability diagram (one curve per task and one for all clips) as a PNG."""
    matplotlib.use("Agg")

    curves = {"all": result.get("reliability") or []}
    curves.update(
        {task: figures.get("reliability") or [] for task, figures in result.get("tasks", {}).items()}
    )
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8, label="perfect calibration")
    for name, bins in curves.items():
        if not bins:
            continue
        ece = (result if name == "all" else result["tasks"][name]).get("ece") or {}
        label = f"{name} (ECE {ece['value']:.3f})" if "value" in ece else name
        ax.plot(
            [b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", markersize=4, label=label
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed share labelled 1")
    ax.set_title("reward model reliability")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
