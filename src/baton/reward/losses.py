"""The reward model's objectives, as pure functions of logits, and the pairs the pairwise one needs.

* BATON's pointwise objective: binary cross-entropy of ``sigmoid(s)`` against the label ``y``, where
  ``y`` may be soft (the mean of several annotators' votes)::

      L_bce = -(1/N) sum_i w_i [ y_i log sigmoid(s_i) + (1 - y_i) log(1 - sigmoid(s_i)) ]

* Bradley-Terry over pairs ``(i, j)`` of clips of the same prompt where ``i`` was judged better than
  ``j``: people's own A/B answers (``--pairs``), or a higher mean vote of two labelled clips::

      P(i > j) = sigmoid(s_i - s_j),   L_bt = -(1/P) sum_(i,j) w_ij log sigmoid(s_i - s_j)

  It learns only differences within a prompt, so a prompt that is hard for the T2A model does not
  pull every clip of it down; its scores are put on a probability scale afterwards by Platt scaling
  (:func:`fit_platt`). BATON's own pairwise variant, ``BCE(r_i, 1) + BCE(r_j, 0)`` over the same
  pairs, is just :func:`soft_bce_loss` on the pair members and needs no function of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def soft_bce_loss(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Weighted mean binary cross-entropy of ``logits`` ``[N]`` against targets in [0, 1] ``[N]``."""
    losses = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    if weights is None:
        return losses.mean()
    weights = weights.to(logits.dtype)
    return (losses * weights).sum() / weights.sum().clamp_min(1e-12)


def bradley_terry_loss(
    winner_logits: torch.Tensor, loser_logits: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """``-log sigmoid(s_w - s_l)``, weighted mean over pairs ``[P]`` (``softplus(s_l - s_w)``, stable)."""
    losses = F.softplus(loser_logits - winner_logits)
    if weights is None:
        return losses.mean()
    weights = weights.to(losses.dtype)
    return (losses * weights).sum() / weights.sum().clamp_min(1e-12)


def pairwise_accuracy(winner_scores: torch.Tensor, loser_scores: torch.Tensor) -> float | None:
    """Share of pairs ``[P]`` whose preferred clip scores higher (a tie counts half); ``None`` without pairs."""
    if winner_scores.numel() == 0:
        return None
    wins = (winner_scores > loser_scores).double() + 0.5 * (winner_scores == loser_scores).double()
    return float(wins.mean())


def same_prompt_pairs(
    prompt_ids: Sequence[str], targets: Sequence[float], rows: Sequence[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair of clips of one prompt with different targets: ``[P, 2]`` (better, worse) and weights ``[P]``.

    The weight of a pair is the gap of its targets (1 for hard labels), so two clips whose mean votes
    differ by one annotator in five count a fifth of a clear pair. ``rows`` restricts the clips.
    """
    rows = list(range(len(prompt_ids))) if rows is None else list(rows)
    by_prompt: dict[str, list[int]] = {}
    for row in rows:
        by_prompt.setdefault(prompt_ids[row], []).append(row)
    pairs: list[tuple[int, int]] = []
    weights: list[float] = []
    for members in by_prompt.values():
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1 :]:
                gap = float(targets[a]) - float(targets[b])
                if gap > 0:
                    pairs.append((a, b))
                elif gap < 0:
                    pairs.append((b, a))
                else:
                    continue
                weights.append(abs(gap))
    if not pairs:
        return torch.zeros(0, 2, dtype=torch.long), torch.zeros(0)
    return torch.tensor(pairs, dtype=torch.long), torch.tensor(weights, dtype=torch.float32)


def fit_platt(logits: torch.Tensor, targets: torch.Tensor, steps: int = 200) -> tuple[float, float]:
    """Scale and shift ``(a, b)`` so that ``sigmoid(a s + b)`` fits the targets (Platt, 1999), by L-BFGS."""
    logits = logits.detach().double()
    targets = targets.detach().double()
    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(params[0] * logits + params[1], targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    a, b = (float(v) for v in params.detach())
    if not (abs(a) < 1e6 and abs(b) < 1e6):  # separable data: keep the raw scale rather than infinity
        return 1.0, 0.0
    return a, b
