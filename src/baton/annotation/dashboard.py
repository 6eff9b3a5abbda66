"""What the admin's dashboard shows: progress, label balance, agreement, time per label, gold accuracy,
early answers, the A/B task's progress and agreement, MOS, and where the rounds of active selection are.

:func:`campaign_stats` reads every answer once and returns plain JSON-able data; the dashboard
page renders it and ``/api/admin/stats`` returns it as it is.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from baton.annotation.agreement import (
    agreement_with_majority,
    fleiss_kappa_of_table,
    krippendorff_alpha_nominal,
    pairwise_cohen,
)
from baton.annotation.mos import METRIC_NAMES, differences, summarize
from baton.annotation.pairs import PairQueue, PreferenceRow, preference_table
from baton.annotation.store import AnnotationStore
from baton.annotation.store.base import iso
from baton.annotation.store.records import LabelRow, label_table

RECENT_FLAGS = 50


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def agreement_summary(rows: list[LabelRow], k: int, task: str | None = None) -> dict[str, Any]:
    """Krippendorff's alpha, Fleiss' kappa (clips with exactly k votes) and pairwise Cohen's kappa."""
    return table_agreement(label_table(rows, task), k, task)


def table_agreement(table: dict[int, dict[str, Any]], k: int, task: str | None) -> dict[str, Any]:
    fleiss, fleiss_items = fleiss_kappa_of_table(table, k)
    return {
        "task": task,
        "clips": sum(len(votes) >= 2 for votes in table.values()),
        "krippendorff_alpha": _round(krippendorff_alpha_nominal(table)),
        "fleiss_kappa": _round(fleiss),
        "fleiss_clips": fleiss_items,
        "cohen": [
            {
                "a": pair.rater_a,
                "b": pair.rater_b,
                "clips": pair.items,
                "agreement": _round(pair.observed),
                "kappa": _round(pair.kappa),
            }
            for pair in pairwise_cohen(table)
        ],
    }


def campaign_stats(store: AnnotationStore, rounds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every figure of the campaign; with ``rounds`` (task -> its
    :class:`baton.annotation.rounds.Rounds`), where each task's rounds of active selection are."""
    every_row = store.all_labels()
    rows = [row for row in every_row if row.clip.gold is None]  # the campaign's answers
    # The clips given out here (with audio), gold clips apart.
    clips = [clip for clip in store.all_clips() if clip.root is not None and clip.gold is None]
    k = store.k
    pairs = PairQueue(store)
    preferences = pairs.all_preferences()

    # Progress of the whole campaign.
    votes_per_clip: dict[int, int] = defaultdict(int)
    for row in rows:
        if not row.label.skipped and row.clip.root is not None:
            votes_per_clip[row.clip.id] += 1
    capped = sum(min(n, k) for n in votes_per_clip.values())
    campaign = {
        "clips": len(clips),
        "labels_per_clip": k,
        "votes": sum(votes_per_clip.values()),
        "needed": len(clips) * k,
        "done": capped,
        "complete_clips": sum(n >= k for n in votes_per_clip.values()),
        "clips_with_votes": len(votes_per_clip),
        "skips": sum(row.label.skipped for row in rows),
        "share_done": _round(capped / (len(clips) * k)) if clips else None,
    }

    # Per annotator: answers, balance, time per label, agreement with the others' majority.
    majority = agreement_with_majority(label_table(rows))
    people: dict[str, dict[str, Any]] = {}
    seconds: dict[str, list[float]] = defaultdict(list)
    for person in store.annotators():
        people[person.name] = {
            "name": person.name,
            "admin": person.is_admin,
            "answers": 0,
            "yes": 0,
            "no": 0,
            "skips": 0,
            "last": None,
            "pair_answers": 0,
            "early": 0,
            "gold_right": 0,
            "gold_answered": 0,
        }
    for row in every_row:
        entry = people[row.annotator]
        entry["answers"] += 1
        if row.label.skipped:
            entry["skips"] += 1
        elif row.label.value == 1:
            entry["yes"] += 1
        else:
            entry["no"] += 1
        entry["last"] = iso(row.label.created_at)
        entry["early"] += bool(row.label.early)
        if row.clip.gold is not None and not row.label.skipped:
            entry["gold_answered"] += 1
            entry["gold_right"] += row.label.value == row.clip.gold
        if row.label.seconds is not None and row.label.source == "app":
            seconds[row.annotator].append(row.label.seconds)
    for pref in preferences:
        entry = people[pref.annotator]
        entry["pair_answers"] += 1
        entry["early"] += bool(pref.preference.early)
        last = iso(pref.preference.created_at)
        entry["last"] = max(entry["last"] or last, last)
        if pref.pair.gold is not None:
            entry["gold_answered"] += 1
            entry["gold_right"] += pref.preference.choice == pref.pair.gold
    for name, entry in people.items():
        times = seconds.get(name, [])
        entry["median_seconds"] = _round(statistics.median(times), 2) if times else None
        entry["mean_seconds"] = _round(statistics.fmean(times), 2) if times else None
        agree = majority.get(name)
        entry["majority_agreement"] = _round(agree.rate) if agree else None
        entry["majority_clips"] = agree.items if agree else 0
        answered = entry["gold_answered"]
        entry["gold_accuracy"] = _round(entry["gold_right"] / answered) if answered else None

    # Label balance per task.
    balance: dict[str, dict[str, Any]] = {}
    clips_per_task: dict[str, int] = defaultdict(int)
    for clip in clips:
        clips_per_task[clip.task or "unspecified"] += 1
    for task, n in sorted(clips_per_task.items()):
        balance[task] = {"task": task, "clips": n, "yes": 0, "no": 0, "skips": 0}
    for row in rows:
        entry = balance.setdefault(
            row.clip.task or "unspecified",
            {"task": row.clip.task or "unspecified", "clips": 0, "yes": 0, "no": 0, "skips": 0},
        )
        key = "skips" if row.label.skipped else ("yes" if row.label.value == 1 else "no")
        entry[key] += 1
    for entry in balance.values():
        votes = entry["yes"] + entry["no"]
        entry["yes_share"] = _round(entry["yes"] / votes) if votes else None

    tasks = sorted({row.clip.task for row in rows if row.clip.task is not None})
    flagged = [
        {
            "sample_id": row.clip.sample_id,
            "model": row.clip.model,
            "text": row.clip.text,
            "annotator": row.annotator,
            "flag": row.label.flag,
            "comment": row.label.comment,
            "when": iso(row.label.created_at),
        }
        for row in reversed(rows)
        if row.label.skipped and (row.label.flag or row.label.comment)
    ][:RECENT_FLAGS]

    ratings = store.mos_rows()
    mos = [
        {
            "model": r.model,
            "metric": METRIC_NAMES[r.question],
            "question": r.question,
            "task": r.task,
            "mean": _round(r.estimate.value),
            "ci_low": _round(r.estimate.low),
            "ci_high": _round(r.estimate.high),
            "ratings": r.estimate.n,
            "raters": r.raters,
            "items": r.items,
        }
        for r in summarize(ratings)
    ]
    # Each other model's paired difference from the base, item by item.
    mos_differences = [
        {
            "model": d.model,
            "base": d.base,
            "metric": METRIC_NAMES[d.question],
            "question": d.question,
            "task": d.task,
            "difference": _round(d.estimate.value),
            "ci_low": _round(d.estimate.low),
            "ci_high": _round(d.estimate.high),
            "items": d.estimate.n,
        }
        for d in differences(ratings)
    ]

    return {
        "campaign": campaign,
        "annotators": sorted(people.values(), key=lambda e: (-e["answers"], e["name"])),
        "balance": list(balance.values()),
        "agreement": [agreement_summary(rows, k)] + [agreement_summary(rows, k, t) for t in tasks],
        "flagged": flagged,
        "mos": mos,
        "mos_differences": mos_differences,
        "pairs": pair_stats(pairs, preferences, k) if pairs.count() else None,
        **({"rounds": {task: r.summary() for task, r in rounds.items()}} if rounds else {}),
    }


def pair_stats(pairs: PairQueue, preferences: list[PreferenceRow], k: int) -> dict[str, Any]:
    """The A/B task: progress, what people chose, how often the clip played first won, agreement."""
    rows = [row for row in preferences if row.pair.gold is None]
    count = pairs.count()
    per_pair: dict[int, int] = defaultdict(int)
    for row in rows:
        per_pair[row.pair.id] += 1
    done = sum(min(n, k) for n in per_pair.values())
    choices = {c: sum(row.preference.choice == c for row in rows) for c in ("first", "second", "tie")}
    # The clip played first is the pair's second when the order was swapped.
    decided = [row for row in rows if row.preference.choice != "tie"]
    played_first = sum((row.preference.choice == "first") != row.preference.swapped for row in decided)
    table = preference_table(rows)
    majority = agreement_with_majority(table)
    tasks = sorted({row.first.task for row in rows if row.first.task is not None})
    return {
        "pairs": count,
        "raters_per_pair": k,
        "answers": len(rows),
        "needed": count * k,
        "done": done,
        "complete_pairs": sum(n >= k for n in per_pair.values()),
        "share_done": _round(done / (count * k)) if count else None,
        "choices": choices,
        "played_first_share": _round(played_first / len(decided)) if decided else None,
        "majority_agreement": {
            name: {"rate": _round(a.rate), "pairs": a.items} for name, a in majority.items()
        },
        "agreement": [table_agreement(table, k, None)]
        + [table_agreement(preference_table(rows, t), k, t) for t in tasks],
    }
