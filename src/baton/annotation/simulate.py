"""Simulated annotators: several people, each with their own error rate and bias, labelling clips
through the app's HTTP API (the same calls the labelling page makes), so a demo exercises the real
server: assignment, leases, durability, agreement statistics.

What a simulated person hears is a **judge**: a callable ``judge(sample, audio_path) -> p``, the
probability that the clip matches its prompt. Two judges exist:

* :func:`settings_judge`: ground truth written in the sample's ``settings`` (``match_probability``,
  or ``match`` as 0/1/true/false), e.g. by a test or a synthetic data set;
* :class:`WorldJudge`: the sound world's *annotator* event detector (``baton.world.detectors``), which
  listens to the audio and scores the prompt's events (and their order, for the temporal task).

:func:`choose_judge` is the one place that picks the judge: to plug in another detector, change it
(or pass your own callable to :func:`simulate`).

A person with error rate ``e`` and bias ``b`` hears a clip as matching with probability
``q = clip(p + b, 0, 1)`` and then flips what they heard with probability ``e``; a share
``skip_rate`` of clips is skipped. Rates and biases are drawn from the seed: ``e ~ noise * U(0.5,
1.5)`` (at most 0.5), ``b ~ N(0, noise / 2)`` (within +-0.3). With ``reliability`` each person's
chance of hearing right is given instead: ``e = 1 - r``, no bias; a team of mixed reliability is
what Dawid-Skene's aggregation is for (:mod:`baton.annotation.aggregate`).

On a pair (the A/B task) a person hears each of the two clips that way and prefers the one they
heard as matching; when they hear both or neither as matching, they answer "both wrong / equal".
Gold clips (``--gold``) are heard like any other: the judge scores them too.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from baton.annotation.app import create_app
from baton.annotation.config import ServeConfig, SimulateConfig
from baton.annotation.run import parse_samples_spec, prepare
from baton.annotation.server import BackgroundServer
from baton.annotation.store.clips import GOLD_MODEL, read_samples
from baton.artifacts import SampleRecord, resolve_path
from baton.console import make_progress
from baton.errors import InputError
from baton.world.manifest import world_dir

Judge = Callable[[SampleRecord, Path], float]
GROUND_TRUTH_KEYS = ("match_probability", "match", "gold")


# --- judges ------------------------------------------------------------------------------------


def ground_truth(sample: SampleRecord) -> float | None:
    """The match probability a sample's settings state, or ``None``."""
    for key in GROUND_TRUTH_KEYS:
        if key in sample.settings:
            value = sample.settings[key]
            if isinstance(value, bool):
                return float(value)
            if isinstance(value, (int, float)) and 0.0 <= value <= 1.0:
                return float(value)
            raise InputError(
                f"must be a probability from 0 to 1 or true/false, got {value!r}", field=f"settings.{key}"
            )
    return None


def settings_judge(sample: SampleRecord, audio_path: Path) -> float:
    """Ground truth from the sample's settings."""
    value = ground_truth(sample)
    if value is None:
        raise InputError(
            f"sample '{sample.id}' has no ground truth in its settings ({' or '.join(GROUND_TRUTH_KEYS)}); "
            "use --judge world",
            field="settings",
        )
    return value


class WorldJudge:
    """The sound world's annotator detector as a judge (loaded on first use).

    ``judge(sample, audio_path)`` scores one clip; :meth:`many` scores many in batches, which is how
    :func:`simulate` uses it (every clip once, before the simulated people start).
    """

    def __init__(self, world: Path | None = None, batch_size: int = 32) -> None:
        folder = Path(world) if world is not None else world_dir()
        self.detector_dir = folder / "annotator"
        if not (self.detector_dir / "config.json").exists():
            raise InputError(
                "no annotator detector here: build the sound world first (baton world build) or give --world",
                path=self.detector_dir,
            )
        self.batch_size = batch_size
        self._detector: Any = None
        self._lock = threading.Lock()

    def __call__(self, sample: SampleRecord, audio_path: Path) -> float:
        return self.many([(sample, audio_path)])[0]

    def many(self, items: list[tuple[SampleRecord, Path]]) -> list[float]:
        # Start-up: the world's detector (torch) loads only when the world judges the clips.
        from baton.audio import load_audio
        from baton.world.detectors import EventDetector
        from baton.world.spec import SAMPLE_RATE

        with self._lock:
            if self._detector is None:
                self._detector = EventDetector.load(self.detector_dir)
            detector = self._detector
            for sample, _ in items:
                unknown = [event for event in sample.events if event not in detector.classes]
                if not sample.events or unknown:
                    raise InputError(
                        f"sample '{sample.id}': the world's annotator detector cannot judge "
                        + (f"the events {unknown}" if unknown else "a clip without named events")
                        + f" (it knows: {', '.join(detector.classes)}); use --judge settings",
                        field="events",
                    )
            scores: list[float] = []
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                audio = [load_audio(path, sample_rate=SAMPLE_RATE)[0] for _, path in chunk]
                labels = [list(sample.events) for sample, _ in chunk]
                # A single event or a set of events: presence; the temporal task: presence and order.
                tasks = ["temporal" if sample.task == "temporal" else "integrity" for sample, _ in chunk]
                scores.extend(float(p) for p in detector.match_probability(audio, labels, tasks))
            return scores


def world_judge(world: Path | None = None) -> WorldJudge:
    """The sound world's annotator detector as a judge (``world``: the world's folder, default cached)."""
    return WorldJudge(world)


def score_all(judge: Judge, items: list[tuple[SampleRecord, Path]]) -> list[float]:
    """The judge's match probability of every clip (in batches when the judge can)."""
    many = getattr(judge, "many", None)
    scores = many(items) if many is not None else [judge(sample, path) for sample, path in items]
    for (sample, _), p in zip(items, scores, strict=True):
        if not 0.0 <= p <= 1.0:
            raise InputError(f"the judge gave sample '{sample.id}' a probability of {p}, not in [0, 1]")
    return scores


def choose_judge(name: str, samples: list[SampleRecord], world: Path | None = None) -> Judge:
    """The judge called ``name``; ``auto`` takes ground truth when every sample has it, else the world."""
    if name == "settings" or (name == "auto" and all(ground_truth(s) is not None for s in samples)):
        return settings_judge
    return world_judge(world)


# --- people ------------------------------------------------------------------------------------


@dataclass
class SimulatedPerson:
    name: str
    error_rate: float
    bias: float
    skip_rate: float
    rng: random.Random
    answers: int = 0
    skips: int = 0
    ratings: int = 0
    pairs: int = 0
    conflicts: int = 0

    def answer(self, p: float) -> dict[str, Any]:
        """The body of a label request for a clip that matches with probability ``p``."""
        seconds = round(self.rng.lognormvariate(math.log(4.0), 0.4), 2)
        if self.rng.random() < self.skip_rate:
            return {"skip": True, "flag": "unsure", "seconds": seconds}
        return {"value": int(self.hears_match(p)), "seconds": seconds}

    def hears_match(self, p: float) -> bool:
        """Whether this person hears a clip that matches with probability ``p`` as matching."""
        yes = self.rng.random() < min(1.0, max(0.0, p + self.bias))
        if self.rng.random() < self.error_rate:
            yes = not yes
        return yes

    def prefer(self, first: float, second: float) -> int:
        """The key for a pair whose clips (as played) match with probabilities ``first`` and
        ``second``: 1 the first is better, 2 the second, 3 neither (both or none heard as matching)."""
        heard = (self.hears_match(first), self.hears_match(second))
        return {(True, False): 1, (False, True): 2}.get(heard, 3)

    def rate(self, p: float) -> dict[str, int]:
        """1-5 scores: faithfulness follows ``p``, quality is this person's taste plus noise."""
        noise = self.error_rate * 4

        def score(mean: float) -> int:
            return int(min(5, max(1, round(self.rng.gauss(mean, 0.5 + noise)))))

        return {"quality": score(3.6 + self.bias * 2), "faithfulness": score(1.0 + 4.0 * p)}


def make_people(
    n: int,
    noise: float,
    skip_rate: float,
    seed: int,
    prefix: str,
    reliability: list[float] | None = None,
) -> list[SimulatedPerson]:
    """``n`` people with rates and biases drawn around ``noise``, or one per ``reliability`` given."""
    people = []
    for i in range(n if reliability is None else len(reliability)):
        rng = random.Random(f"{seed}/{i}")
        if reliability is None:
            error = min(0.5, noise * rng.uniform(0.5, 1.5))
            bias = max(-0.3, min(0.3, rng.gauss(0.0, noise / 2)))
        else:
            error, bias = 1.0 - reliability[i], 0.0
        people.append(SimulatedPerson(f"{prefix}-{i + 1:02d}", error, bias, skip_rate, rng))
    return people


# --- the simulation ------------------------------------------------------------------------------


@dataclass
class SimulationResult:
    """What a simulation did: ``url`` of the server used, ``db`` (``None`` with ``--server``), the
    people with their drawn error rates and biases and counts, ``errors`` (empty when all went well)."""

    url: str
    people: list[SimulatedPerson]
    seconds: float
    judge: str
    errors: list[str] = field(default_factory=list)
    db: str | None = None

    @property
    def answers(self) -> int:
        return sum(p.answers for p in self.people)

    def summary(self) -> str:
        rate = self.answers / self.seconds if self.seconds > 0 else 0.0
        ratings = sum(p.ratings for p in self.people)
        line = (
            f"{len(self.people)} simulated annotators gave {self.answers} answers "
            f"({sum(p.skips for p in self.people)} skips) in {self.seconds:.1f} s ({rate:.0f}/s) via {self.url}"
        )
        pairs = sum(p.pairs for p in self.people)
        if pairs:
            line += f"; {pairs} pairs compared"
        if ratings:
            line += f"; {ratings} listening-test items rated"
        return line


def simulate(config: SimulateConfig, judge: Judge | None = None) -> SimulationResult:
    """Label (and rate) through the HTTP API with ``config.annotators`` simulated people."""
    if not config.samples:
        raise InputError("give the samples file(s) the simulated annotators listen to", field="samples")
    samples: dict[tuple[str, str], tuple[SampleRecord, Path]] = {}
    for spec, default in [(s, None) for s in config.samples] + [(s, GOLD_MODEL) for s in config.gold]:
        name, path = parse_samples_spec(spec)
        for record, _ in read_samples(path):
            key = (name or default or record.backend, record.id)
            samples[key] = (record, resolve_path(record.path, path.parent))
    judge_name = "custom"
    if judge is None:
        judge = choose_judge(config.judge, [s for s, _ in samples.values()], config.world)
        judge_name = "settings" if judge is settings_judge else "world"
    # Every clip is heard once, up front (the world's detector runs in batches); the simulated
    # people then draw their answers from these probabilities.
    keys = list(samples)
    probabilities = dict(zip(keys, score_all(judge, [samples[key] for key in keys]), strict=True))

    def probability(model: str, sample_id: str) -> float:
        try:
            return probabilities[(model, sample_id)]
        except KeyError:
            raise InputError(
                f"the server gave clip '{sample_id}' of model '{model}', which is in no samples file given"
            ) from None

    people = make_people(
        config.annotators, config.noise, config.skip_rate, config.seed, config.name_prefix, config.reliability
    )
    server = None
    if config.server is None:
        prepared = prepare(
            ServeConfig(
                samples=list(config.samples),
                db=config.db,
                labels_per_clip=config.labels_per_clip,
                raters_per_item=config.raters_per_item,
                tasks=list(config.tasks),
                gold=list(config.gold),
                gold_every=config.gold_every,
                select=config.select,
                round_size=config.round_size,
                random_share=config.random_share,
                budget=config.budget,
                select_encoder=config.select_encoder,
            ),
            make_admin=False,  # a later `serve` of this database still shows its admin's link
        )
        _, admin_token = prepared.store.add_annotator(f"{config.name_prefix}-admin", admin=True, reset=True)
        server = BackgroundServer(create_app(prepared.store, prepared.settings)).start()
        url = server.url
    else:
        if not config.admin_token:
            raise InputError(
                "with --server, give an admin's token (--admin-token) to create the annotators",
                field="admin_token",
            )
        url, admin_token = config.server.rstrip("/"), config.admin_token

    errors: list[str] = []
    start = time.perf_counter()
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=60
        ) as admin:
            tokens = {}
            for person in people:
                reply = admin.post("/api/admin/annotators", json={"name": person.name, "reset": True})
                if reply.status_code != 200:
                    raise InputError(
                        f"the server refused to create '{person.name}': {reply.json().get('error')}"
                    )
                tokens[person.name] = reply.json()["token"]
            # The listening test is blind to raters, not to the admin: the judge needs to know which
            # sample a clip is, so the simulation asks once with the admin's token.
            identities = {
                c["clip"]: (c["model"], c["sample_id"]) for c in _ok(admin.get("/api/admin/clips"))["clips"]
            }
        progress = _Progress(config.progress)
        clients = {
            person.name: httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {tokens[person.name]}"}, timeout=60
            )
            for person in people
        }

        # The tasks answered one item at a time: how to ask for the first, and how to answer one.
        answering = {"probability": probability, "progress": progress}
        steps = {
            "labels": ("/api/next", "clip", partial(_label_one, **answering)),
            "pairs": ("/api/pairs/next", "pair", partial(_compare_one, **answering)),
        }
        turns = [steps[task] for task in ("labels", "pairs") if task in config.tasks]

        def work(person: SimulatedPerson, one_by_one: list = turns) -> None:
            """One person's labels and pairs (``one_by_one``), then their listening test."""
            try:
                for first, key, step in one_by_one:
                    _answer_all(clients[person.name], person, first, key, step)
                if "ratings" in config.tasks:
                    _rate_all(clients[person.name], person, identities, probability)
            except Exception as exc:  # reported with the result; the other people go on
                errors.append(f"{person.name}: {exc}")

        try:
            if config.parallel:
                threads = [threading.Thread(target=work, args=(p,), name=p.name) for p in people]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            else:
                for first, key, step in turns:
                    _answer_in_turns(clients, people, first, key, step, errors)
                for person in people:  # the listening test, one person after another
                    work(person, one_by_one=[])
        finally:
            for client in clients.values():
                client.close()
        progress.close()
    finally:
        if server is not None:
            server.stop()
            prepared.store.revoke(f"{config.name_prefix}-admin")  # its login was for this run only
            prepared.store.db.dispose()
    db = config.db if config.server is None else None
    return SimulationResult(url, people, time.perf_counter() - start, judge_name, errors, db)


Step = Callable[[Any, SimulatedPerson, dict[str, Any]], "dict[str, Any] | None"]


# A campaign in rounds: how often a person with nothing to do asks again while the next round is
# chosen, and how long they wait in all before they say the round cannot end.
WAIT_SECONDS, MAX_WAIT_SECONDS = 0.2, 120.0


def _answer_all(client: Any, person: SimulatedPerson, first: str, key: str, step: Step) -> None:
    """One person answers (``step``) what the server gives (``first``: where to ask) until nothing is
    left (in a campaign in rounds: until the server says no round is to come)."""
    waited = 0.0
    while True:
        reply = _ok(client.get(first))
        item = reply[key]
        if item is None:
            if not reply.get("waiting"):
                return
            if waited >= MAX_WAIT_SECONDS:
                raise RuntimeError(
                    f"waited {waited:.0f} s for the next round: its open {key}s have been answered (or "
                    "skipped) by every simulated person"
                )
            time.sleep(WAIT_SECONDS)
            waited += WAIT_SECONDS
        while item is not None:
            waited = 0.0
            item = step(client, person, item)


def _answer_in_turns(
    clients: dict[str, Any],
    people: list[SimulatedPerson],
    first: str,
    key: str,
    step: Step,
    errors: list[str],
) -> None:
    """Every person in turn answers one item, in a fixed order, until none is left for anyone.

    In a campaign in rounds (the server's replies say ``waiting``), a person with nothing to do asks
    again at their next turn: the answer that completes a round opens the next one."""
    pending: dict[str, dict[str, Any] | None] = {}
    failed: set[str] = set()
    in_rounds = False
    for person in people:
        try:
            reply = _ok(clients[person.name].get(first))
            pending[person.name] = reply[key]
            in_rounds = in_rounds or "waiting" in reply
        except Exception as exc:  # reported with the result; the other people go on
            errors.append(f"{person.name}: {exc}")
            failed.add(person.name)
    while True:
        for person in people:
            if person.name in failed:
                continue
            try:
                item = pending.get(person.name)
                if item is None and in_rounds:
                    item = pending[person.name] = _ok(clients[person.name].get(first))[key]
                if item is not None:
                    pending[person.name] = step(clients[person.name], person, item)
            except Exception as exc:
                errors.append(f"{person.name}: {exc}")
                failed.add(person.name)
        if all(pending.get(p.name) is None or p.name in failed for p in people):
            break
    working = [p for p in people if p.name not in failed]
    if in_rounds and working and _ok(clients[working[0].name].get(first)).get("waiting"):
        errors.append(
            f"the round cannot be completed: its open {key}s have been answered (or skipped) by every "
            "simulated person"
        )


def _label_one(
    client: Any,
    person: SimulatedPerson,
    clip: dict[str, Any],
    probability: Callable[[str, str], float],
    progress: _Progress,
) -> dict[str, Any] | None:
    """Answer ``clip``; the next clip the server gives this person (``None``: nothing left)."""
    body = person.answer(probability(clip["model"], clip["sample_id"]))
    stored, following = _send(
        client, person, "/api/labels", {"clip": clip["clip"], **body}, "/api/next", progress
    )
    if stored:
        person.answers += 1
        person.skips += bool(body.get("skip"))
    return following


def _send(
    client: Any,
    person: SimulatedPerson,
    answer: str,
    body: dict[str, Any],
    next_url: str,
    progress: _Progress,
) -> tuple[bool, dict[str, Any] | None]:
    """Post an answer: (was it stored, the next item the server gives). A 409 (the hold ran out and
    someone else took the slot) stores nothing; the person asks for their next item."""
    reply = client.post(answer, json=body)
    key = "clip" if "clip" in body else "pair"
    if reply.status_code == 409:
        person.conflicts += 1
        return False, _ok(client.get(next_url))[key]
    data = _ok(reply)
    progress.advance()
    return True, data["next"]


def _compare_one(
    client: Any,
    person: SimulatedPerson,
    pair: dict[str, Any],
    probability: Callable[[str, str], float],
    progress: _Progress,
) -> dict[str, Any] | None:
    """Answer ``pair``; the next pair the server gives this person (``None``: nothing left).

    The person hears the clips in the pair's own order (by sample id), whatever order the server
    plays them in, so that a seed gives the same answers on every run."""
    played = [c["sample_id"] for c in pair["clips"]]
    first, second = sorted(played)
    key = person.prefer(probability(pair["model"], first), probability(pair["model"], second))
    if key != 3 and played[0] != first:  # the server plays them the other way round
        key = 3 - key
    seconds = round(person.rng.lognormvariate(math.log(8.0), 0.4), 2)
    body = {"pair": pair["pair"], "choice": key, "seconds": seconds}
    stored, following = _send(client, person, "/api/pairs", body, "/api/pairs/next", progress)
    person.pairs += stored
    return following


def _rate_all(
    client: Any,
    person: SimulatedPerson,
    identities: dict[str, tuple[str, str]],
    probability: Callable[[str, str], float],
) -> None:
    item = _ok(client.get("/api/ratings/next"))["item"]
    while item is not None:
        scores = {clip["clip"]: person.rate(probability(*identities[clip["clip"]])) for clip in item["clips"]}
        data = _ok(client.post("/api/ratings", json={"item": item["item"], "scores": scores}))
        person.ratings += 1
        item = data["next"]


def _ok(reply: Any) -> dict[str, Any]:
    if reply.status_code != 200:
        try:
            message = reply.json().get("error")
        except ValueError:
            message = reply.text[:200]
        raise RuntimeError(f"{reply.request.method} {reply.request.url.path}: {reply.status_code} {message}")
    return reply.json()


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.lock = threading.Lock()
        self.bar = None
        if enabled:
            self.bar = make_progress()
            self.bar.start()
            self.task = self.bar.add_task("simulated labels", total=None)

    def advance(self) -> None:
        if self.bar is not None:
            with self.lock:
                self.bar.advance(self.task)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
