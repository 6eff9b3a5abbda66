"""Stage 1: curate multi-event prompts, from an event vocabulary or from a caption file.

From a vocabulary, each prompt names distinct events (integrity: 2, temporal: 3, single: 1) in a
caption written by :mod:`baton.prompts.phrasing`. The choice of events is:

- seeded: the same config writes the same file;
- without repeats: no event twice in a prompt, and no unordered set of events twice in a file;
- balanced: each prompt takes the events used least so far (ties broken at random), so every event
  is used once before any is used twice, and usage counts stay within 1 of each other except
  where avoiding a repeated set forces a busier event in (then within 2; measured in the tests).

Integrity prompts are ``sequence`` ("X, followed by Y") or ``overlap`` ("X while Y") in the
proportion ``sequence_share``; temporal prompts are 3-event sequences. A record's ``events`` lists
the event ids in time order (for ``overlap``, in the order the text names them).

From a caption file (Tango/BATON JSON Lines), each distinct caption becomes one prompt with no
events; its id is BATON's prompt number from the audio file name (``0088_<caption>_0.wav``) when
there is one.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from baton.artifacts import PromptRecord, id_problem, write_records
from baton.errors import InputError
from baton.interchange.baton_names import try_parse_baton_filename
from baton.interchange.tango import read_caption_file
from baton.prompts.config import DEFAULT_N, PromptsConfig
from baton.prompts.phrasing import compose_text
from baton.prompts.vocabulary import VocabEvent, Vocabulary, load_vocabulary

if TYPE_CHECKING:
    from baton.interchange.tango import CaptionRow

EVENTS_PER_PROMPT: dict[str, int] = {"single": 1, "integrity": 2, "temporal": 3}


def run(config: PromptsConfig) -> list[PromptRecord]:
    """Curate the prompts ``config`` asks for and write them to ``config.out``."""
    if config.from_captions is not None:
        rows = read_caption_file(config.from_captions)
        records = prompts_from_captions(
            rows, task=config.task, n=config.n, seed=config.seed, id_prefix=config.id_prefix
        )
        if not records:
            raise InputError("the caption file holds no captions", path=config.from_captions)
    else:
        if config.task is None:
            raise InputError(
                "choose a task for prompts from a vocabulary: integrity or temporal", field="task"
            )
        vocabulary = load_vocabulary(config.vocab)
        records = curate_prompts(
            vocabulary,
            task=config.task,
            n=DEFAULT_N if config.n is None else config.n,
            seed=config.seed,
            sequence_share=config.sequence_share,
            id_prefix=config.id_prefix,
        )
    write_records(config.out, records)
    return records


# --- prompts from a vocabulary -------------------------------------------------------------------


def max_prompts(vocabulary_size: int, task: str) -> int:
    """How many prompts of ``task`` a vocabulary allows: its number of distinct event sets."""
    return math.comb(vocabulary_size, EVENTS_PER_PROMPT[task])


def curate_prompts(
    vocabulary: Vocabulary,
    *,
    task: str,
    n: int,
    seed: int = 0,
    sequence_share: float = 0.5,
    id_prefix: str | None = None,
) -> list[PromptRecord]:
    """``n`` prompts of ``task`` from ``vocabulary``: seeded, balanced, no event set twice."""
    if task not in EVENTS_PER_PROMPT:
        raise InputError(f"unknown task '{task}' (one of: {', '.join(EVENTS_PER_PROMPT)})", field="task")
    if n < 1:
        raise InputError(f"must be at least 1, got {n}", field="n")
    if not 0.0 <= sequence_share <= 1.0:
        raise InputError(f"must be between 0 and 1, got {sequence_share}", field="sequence_share")
    size = EVENTS_PER_PROMPT[task]
    possible = max_prompts(len(vocabulary), task)
    if n > possible:
        raise InputError(
            f"cannot write {n} {task} prompts: vocabulary '{vocabulary.name}' has {len(vocabulary)} events, "
            f"so only {possible} distinct sets of {size} events",
            field="n",
        )
    rng = random.Random(seed)

    # 1. Which relation each prompt states: an exact share of sequences, in shuffled order.
    if task == "integrity":
        n_sequence = round(n * sequence_share)
        relations = ["sequence"] * n_sequence + ["overlap"] * (n - n_sequence)
        rng.shuffle(relations)
    else:
        relations = ["single" if task == "single" else "sequence"] * n

    # 2. Which events: the least used first, a set never twice, then a random time order.
    picker = BalancedPicker(vocabulary.events, size, rng)
    prefix = id_prefix or task
    width = max(4, len(str(n - 1)))
    check_id_prefix(id_prefix, width)
    records = []
    for number, relation in enumerate(relations):
        events = picker.pick()
        rng.shuffle(events)
        records.append(
            PromptRecord(
                id=f"{prefix}-{number:0{width}d}",
                text=compose_text(events, relation, rng),  # type: ignore[arg-type]
                events=[event.id for event in events],
                task=task,  # type: ignore[arg-type]
                relation=relation,  # type: ignore[arg-type]
                source=vocabulary.name,
            )
        )
    return records


class BalancedPicker:
    """Draws sets of ``size`` distinct events, least used first, never the same set twice.

    Events are ranked by (times used, a random key redrawn each time the event is used): every
    event is used once before any is used twice, and each round pairs events in a fresh random
    order. The first unused set in that ranking is taken; each set passed over is one already used,
    so the search stops after at most (sets used so far + 1) candidates.
    """

    def __init__(self, events: Sequence[VocabEvent], size: int, rng: random.Random) -> None:
        self.events = list(events)
        self.size = size
        self.rng = rng
        self.counts = [0] * len(self.events)
        self.keys = [rng.random() for _ in self.events]
        self.used: set[frozenset[int]] = set()

    def pick(self) -> list[VocabEvent]:
        order = sorted(range(len(self.events)), key=lambda i: (self.counts[i], self.keys[i]))
        for chosen in itertools.combinations(order, self.size):
            key = frozenset(chosen)
            if key not in self.used:
                break
        else:
            raise RuntimeError("every set of events is used")  # curate_prompts checks n first
        self.used.add(key)
        for i in chosen:
            self.counts[i] += 1
            self.keys[i] = self.rng.random()
        return [self.events[i] for i in chosen]


def event_usage(records: Sequence[PromptRecord]) -> Counter[str]:
    """How many prompts name each event."""
    return Counter(event for record in records for event in record.events)


# --- prompts from a caption file -----------------------------------------------------------------


def baton_prompt_number(location: str | None) -> str | None:
    """BATON's prompt number from an audio path (``".../0088_Birds chirp_0.wav"`` -> ``"0088"``)."""
    parsed = try_parse_baton_filename(location)
    return parsed.prompt_id if parsed is not None else None


def prompts_from_captions(
    rows: Sequence[CaptionRow],
    *,
    task: str | None = None,
    n: int | None = None,
    seed: int = 0,
    id_prefix: str | None = None,
) -> list[PromptRecord]:
    """One prompt per distinct caption (first appearance wins), in file order.

    With ``n``, a seeded random ``n`` of them, still in file order. Ids are BATON's prompt numbers
    where the audio path carries one, else ``caption-0000``-style counters; ``id_prefix`` is put in
    front of both.
    """
    if n is not None and n < 1:
        raise InputError(f"must be at least 1, got {n}", field="n")
    first: dict[str, CaptionRow] = {}
    for row in rows:
        text = " ".join(row.text.split())
        if text and text not in first:
            first[text] = row
    chosen = list(first.items())
    if n is not None and n < len(chosen):
        keep = sorted(random.Random(seed).sample(range(len(chosen)), n))
        chosen = [chosen[i] for i in keep]

    taken: set[str] = set()
    wanted = [baton_prompt_number(row.location) for _, row in chosen]
    reserved = {_caption_id(number, id_prefix) for number in wanted if number is not None}
    counter = itertools.count()
    width = max(4, len(str(len(chosen) - 1)))
    check_id_prefix(id_prefix, width)
    records = []
    for (text, row), number in zip(chosen, wanted, strict=True):
        prompt_id = _caption_id(number, id_prefix) if number is not None else ""
        if number is None or prompt_id in taken:
            # No BATON number (or one already given to another caption): the next free counter.
            while True:
                prompt_id = f"{id_prefix or 'caption'}-{next(counter):0{width}d}"
                if prompt_id not in taken and prompt_id not in reserved:
                    break
        taken.add(prompt_id)
        records.append(
            PromptRecord(id=prompt_id, text=text, events=[], task=task, source=row.dataset or None)
        )  # type: ignore[arg-type]
    return records


def check_id_prefix(id_prefix: str | None, width: int) -> None:
    """Refuse a prefix that would make ids that cannot name files (see :func:`baton.artifacts.id_problem`)."""
    if id_prefix:
        problem = id_problem(id_prefix) or id_problem(f"{id_prefix}-{0:0{width}d}")
        if problem is not None:
            raise InputError(problem, field="id_prefix")


def _caption_id(number: str, id_prefix: str | None) -> str:
    return f"{id_prefix}-{number}" if id_prefix else number
