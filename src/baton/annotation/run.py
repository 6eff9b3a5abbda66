"""The Python API of ``baton annotate``: one function per command, each taking its config.

>>> from baton.annotation.run import ExportConfig, export  # doctest: +SKIP
>>> export(ExportConfig(db="sqlite:///annotations.db", out="labels.jsonl"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from baton.annotation.app import AppSettings, create_app
from baton.annotation.config import (
    DEFAULT_BUDGET,
    DEFAULT_LABELS_PER_CLIP,
    DEFAULT_PAIRS_PER_PROMPT,
    DEFAULT_PAIRS_SEED,
    DEFAULT_RANDOM_SHARE,
    DEFAULT_RATERS_PER_ITEM,
    DEFAULT_ROUND_SIZE,
    DEFAULT_SELECT,
    DEFAULT_SERVER_URL,
    DEFAULT_TASKS,
    TASK_CHOICES,
    AddAnnotatorConfig,
    ExportConfig,
    ImportConfig,
    MosConfig,
    ServeConfig,
    SimulateConfig,
    check_selection_has_a_task,
)
from baton.annotation.db import Database, sqlite_file
from baton.annotation.mos import INTERVAL, METRIC_NAMES, differences, summarize
from baton.annotation.pairs import PairQueue
from baton.annotation.rounds import NOUNS, ClipFeatures, RewardChooser, Rounds, RoundSettings
from baton.annotation.rounds import TASKS as ROUND_TASKS
from baton.annotation.routes.context import login_link
from baton.annotation.server import bind_socket, uvicorn_config
from baton.annotation.store import AnnotationStore
from baton.annotation.store.clips import LoadResult, read_samples
from baton.annotation.store.records import ImportCounts
from baton.artifacts import MetricRecord, SampleRecord, write_records
from baton.console import console, warn
from baton.errors import InputError
from baton.interchange.common import Notes
from baton.interchange.label_studio import write_label_studio
from baton.interchange.labels import read_labels
from baton.interchange.tango import write_tango
from baton.stats import excludes_zero

__all__ = [
    "AddAnnotatorConfig",
    "ExportConfig",
    "ImportConfig",
    "MosConfig",
    "ServeConfig",
    "SimulateConfig",
    "add_annotator",
    "export",
    "export_labels",
    "import_labels",
    "mos",
    "open_store",
    "parse_samples_spec",
    "serve",
]


def parse_samples_spec(spec: str | Path) -> tuple[str | None, Path]:
    """``NAME=path/samples.jsonl`` -> (``NAME``, path); a plain path -> (None, path)."""
    text = str(spec)
    name, sep, rest = text.partition("=")
    if sep and name and rest and "/" not in name and "\\" not in name:
        return name, Path(rest)
    return None, Path(text)


NO_DATABASE = "no such database: `baton annotate serve --samples FILE --db URL` makes one"


def open_store(
    db: str,
    *,
    create: bool = True,
    labels_per_clip: int = 3,
    raters_per_item: int = 5,
    lease_minutes: float = 15.0,
    max_labels_per_annotator: int | None = None,
    gold_every: int | None = None,
) -> AnnotationStore:
    """A store over ``db``, migrated to the newest schema.

    With ``create=False`` (the commands that read a database ``serve`` made: export, mos,
    add-annotator) a SQLite file that does not exist, or a database without baton's tables, is
    refused instead of being made: a mistyped ``--db`` must not quietly give an empty export.
    """
    if not create:
        path = sqlite_file(db)
        if path is not None and not path.is_file():
            raise InputError(NO_DATABASE, path=path, field="db")
    database = Database(db)
    try:
        if not create and database.schema_revision() is None:
            raise InputError(
                "holds no annotations (baton's tables are not there): `baton annotate serve --samples "
                "FILE` makes them",
                path=database.describe(),
                field="db",
            )
        database.migrate()
    except BaseException:
        database.dispose()
        raise
    return AnnotationStore(
        database,
        labels_per_clip=labels_per_clip,
        raters_per_item=raters_per_item,
        lease_seconds=lease_minutes * 60.0,
        max_labels_per_annotator=max_labels_per_annotator,
        gold_every=gold_every,
    )


@contextmanager
def using_store(db: str, *, create: bool = True, **settings: object) -> Iterator[AnnotationStore]:
    """:func:`open_store` for one command: its connections are closed at the end."""
    store = open_store(db, create=create, **settings)  # type: ignore[arg-type]
    try:
        yield store
    finally:
        store.db.dispose()


SamplesFile = tuple[str | None, Path, list[tuple[SampleRecord, int]]]


def read_all(samples: list[str]) -> list[SamplesFile]:
    """Each samples file's model name, path and records (with line numbers), every one checked."""
    files = []
    for spec in samples:
        name, path = parse_samples_spec(spec)
        files.append((name, path, read_samples(path)))
    return files


def load_files(store: AnnotationStore, files: list[SamplesFile], *, gold: bool = False) -> list[LoadResult]:
    """Add the clips of samples files :func:`read_all` has read (``gold``: as gold clips)."""
    return [store.load_samples(path, model=name, records=records, gold=gold) for name, path, records in files]


def load_all(store: AnnotationStore, samples: list[str]) -> list[LoadResult]:
    """Add the clips of samples files (``NAME=path`` or ``path``)."""
    return load_files(store, read_all(samples))


# --- serve -------------------------------------------------------------------------------------


@dataclass
class Prepared:
    store: AnnotationStore
    settings: AppSettings
    loaded: list[LoadResult]
    admin_token: str | None  # set when this start made the first admin
    pairs_added: int = 0  # pairs the A/B task formed at this start
    # Active selection (--select other than random): the rounds of each task in rounds (labels, pairs).
    rounds: dict[str, Rounds] = field(default_factory=dict)


NO_CLIPS = "the database holds no clips yet: give a samples file with --samples"


def prepare(config: ServeConfig, *, make_admin: bool = True) -> Prepared:
    """Migrate the database, load the samples, make the first admin: everything but listening.

    The samples files (and gold files) are read and checked first: a bad one leaves no database
    behind. With the A/B task, each prompt's pairs are formed (:meth:`PairQueue.form`)."""
    files = read_all(config.samples)
    gold_files = read_all(config.gold)
    new_file = sqlite_file(config.db)
    if not files and new_file is not None and not new_file.exists():
        raise InputError(NO_CLIPS, path=new_file, field="samples")
    store = open_store(
        config.db,
        lease_minutes=config.lease_minutes,
        max_labels_per_annotator=config.max_labels_per_annotator,
        gold_every=config.gold_every,
    )
    pairs_added = 0
    try:
        campaign = fix_campaign(store, config)
        loaded = load_files(store, files) + load_files(store, gold_files, gold=True)
        if store.count_clips() == 0:
            raise InputError(NO_CLIPS, field="samples")
        tasks = campaign["tasks"].split(",")
        if "pairs" in tasks:
            per_prompt = int(campaign["pairs_per_prompt"]) or None
            pairs_added = PairQueue(store).form(per_prompt, int(campaign["pairs_seed"]))
        rounds = campaign_rounds(store, campaign, config.select_encoder, tasks)
    except BaseException:
        store.db.dispose()
        raise
    settings = AppSettings(tasks=tasks, title=config.title, public_url=config.public_url, rounds=rounds)
    admin = store.ensure_admin() if make_admin else None
    return Prepared(store, settings, loaded, admin, pairs_added, rounds)


def campaign_rounds(
    store: AnnotationStore, campaign: dict[str, str], encoder: str, tasks: list[str]
) -> dict[str, Rounds]:
    """The campaign's rounds of active selection, one per task that goes in rounds (labels, pairs;
    none for ``--select random``), each task's first round chosen if none is yet (a restart goes on
    with the rounds the database holds). The tasks share the encoders and the clips' features."""
    if campaign["select"] == "random":
        return {}
    settings = RoundSettings(
        rule=campaign["select"],
        round_size=int(campaign["round_size"]),
        random_share=float(campaign["random_share"]),
        budget=int(campaign["budget"]),
        encoder=encoder,
    )
    features = ClipFeatures(store, settings)
    features.encoder()  # a wrong --select-encoder fails now, not later
    rounds = {}
    for task in (t for t in ROUND_TASKS if t in tasks):
        rounds[task] = Rounds(store, settings, task, RewardChooser(store, settings, task, features))
        rounds[task].advance()
    return rounds


def fix_campaign(store: AnnotationStore, config: ServeConfig) -> dict[str, str]:
    """The campaign's labels per clip, raters per item, tasks and pairs: those the database's first
    serve stored (given values are refused when they differ, unless ``change_settings``)."""

    def text(value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, list):  # tasks: the same set in any order is the same setting
            return ",".join(t for t in TASK_CHOICES if t in value)
        return str(value)

    given = {
        "labels_per_clip": text(config.labels_per_clip),
        "raters_per_item": text(config.raters_per_item),
        "tasks": text(config.tasks),
        "pairs_per_prompt": text(config.pairs_per_prompt),
        "pairs_seed": text(config.pairs_seed),
        "select": text(config.select),
        "round_size": text(config.round_size),
        "random_share": text(config.random_share),
        "budget": text(config.budget),
    }
    defaults = {
        "labels_per_clip": str(DEFAULT_LABELS_PER_CLIP),
        "raters_per_item": str(DEFAULT_RATERS_PER_ITEM),
        "tasks": text(DEFAULT_TASKS),
        "pairs_per_prompt": str(DEFAULT_PAIRS_PER_PROMPT),
        "pairs_seed": str(DEFAULT_PAIRS_SEED),
        "select": DEFAULT_SELECT,
        "round_size": str(DEFAULT_ROUND_SIZE),
        "random_share": str(DEFAULT_RANDOM_SHARE),
        "budget": str(DEFAULT_BUDGET),
    }
    # The stored tasks and selection are checked together too (a restart may give only one of them).
    return store.fix_campaign(  # type: ignore[arg-type]
        given,
        defaults,
        change=config.change_settings,
        check=lambda campaign: check_selection_has_a_task(campaign["select"], campaign["tasks"].split(",")),
    )


def serve(config: ServeConfig) -> None:
    """Serve the app until interrupted (Ctrl-C).

    The port is bound first, so that a busy one is an error naming it before any link is printed;
    uvicorn then serves on that very socket. The address the links use is kept in the database, for
    ``add-annotator``'s links.
    """
    sock = bind_socket(config.host, config.port)
    try:
        prepared = prepare(config)
        port = sock.getsockname()[1]  # the port given, or the one the system chose for --port 0
        host = f"[{config.host}]" if ":" in config.host else config.host
        base = (config.public_url or f"http://{host}:{port}").rstrip("/")
        prepared.store.remember_url(base)
        for result in prepared.loaded:
            console.print(result.summary())
        console.print(f"{prepared.store.count_clips()} clips in {prepared.store.db.describe()}")
        console.print(
            f"campaign: {prepared.store.k} labels per clip, {prepared.store.raters} raters per item, "
            f"tasks: {', '.join(prepared.settings.tasks)}"
        )
        if "pairs" in prepared.settings.tasks:
            console.print(
                f"pairs: {PairQueue(prepared.store).count()} ({prepared.pairs_added} new), "
                f"{prepared.store.k} answers each"
            )
        for task, rounds in prepared.rounds.items():
            status, noun = rounds.status(), NOUNS[task]
            where = "no round yet" if status.round is None else f"round {status.round + 1}"
            console.print(
                f"active selection of {noun} ({rounds.settings.rule}): {where}, in rounds of "
                f"{rounds.settings.round_size}, {status.complete}/{status.chosen} complete, "
                f"{status.left} {noun} not chosen yet"
            )
        if prepared.admin_token is not None:
            console.print(
                f"admin link (shown once; keep it): [bold]{login_link(base, prepared.admin_token)}[/]"
            )
        console.print(
            f"serving on {base} ; add annotators with: baton annotate add-annotator NAME --db {config.db}"
        )
        app = create_app(prepared.store, prepared.settings)
        server = uvicorn.Server(uvicorn_config(app, config.host, port, config.log_level))
    except BaseException:
        sock.close()
        raise
    server.run(sockets=[sock])


# --- annotators --------------------------------------------------------------------------------


def add_annotator(config: AddAnnotatorConfig) -> str:
    """Create an annotator (or a new secret for one) and return their personal login link."""
    if not config.name:
        raise InputError("give the annotator's name", field="name")
    with using_store(config.db, create=False) as store:
        _, token = store.add_annotator(config.name, admin=config.admin, reset=config.reset)
        url = config.url or store.server_url() or DEFAULT_SERVER_URL
    return login_link(url, token)


# --- export and import -------------------------------------------------------------------------


@dataclass
class ExportResult:
    out: Path
    format: str
    clips: int  # clips, or pairs
    votes: int
    warnings: list[str] = field(default_factory=list)
    what: str = "clips"

    def summary(self) -> str:
        return f"{self.clips} {self.what}, {self.votes} votes -> {self.out} ({self.format})"


def export(config: ExportConfig) -> ExportResult:
    """Write the database's labels as baton labels (``labels.jsonl``), or with ``pairs`` its A/B answers
    as baton pairs (``pairs.jsonl``).

    The formats ``tango`` and ``label-studio`` still work for labels, with a warning: other tools'
    formats are written by one command, ``baton data export`` (:func:`baton.interchange.run.run_export`),
    from the labels or pairs file (``--format audio-alpaca`` for pairs)."""

    if config.format != "baton":
        warn(
            f"--format {config.format} is deprecated in `baton annotate export` and will be removed: "
            f"export labels.jsonl, then `baton data export labels.jsonl --format {config.format} --out ...`"
        )

    out = Path(config.out)
    if config.pairs:
        return export_pairs(config)
    with using_store(config.db, create=False) as store:
        out.parent.mkdir(parents=True, exist_ok=True)
        records = [
            r
            for r in store.label_records(out.parent, model=config.model, drop_early=config.drop_early)
            if len(r.votes) >= config.min_votes
        ]
    notes = Notes()
    if config.format == "baton":
        write_records(out, records)
        count = len(records)
    elif config.format == "tango":
        count = write_tango(out, records, records_dir=out.parent, soft=config.soft, notes=notes)
    else:
        count = write_label_studio(out, records, records_path=out, audio_prefix=config.audio_prefix)
    return ExportResult(out, config.format, count, sum(len(r.votes) for r in records), notes.messages)


def export_pairs(config: ExportConfig) -> ExportResult:
    """The pairs half of :func:`export`."""
    out = Path(config.out)
    with using_store(config.db, create=False) as store:
        out.parent.mkdir(parents=True, exist_ok=True)
        records = [
            r
            for r in PairQueue(store).pair_records(
                out.parent, model=config.model, drop_early=config.drop_early
            )
            if len(r.votes) >= config.min_votes
        ]
    count = write_records(out, records)
    return ExportResult(out, config.format, count, sum(len(r.votes) for r in records), what="pairs")


def export_labels(
    db: str, out: str | Path, format: str = "baton", *, model: str | None = None, min_votes: int = 1
) -> ExportResult:
    """Python shortcut of ``baton annotate export``: write ``out`` from the database ``db``."""
    return export(ExportConfig(db=db, out=Path(out), format=format, model=model, min_votes=min_votes))


def import_labels(config: ImportConfig) -> ImportCounts:
    """Add the votes of a labels file to the database (clips matched by sample id)."""
    if config.input is None:
        raise InputError("give the file to import", field="input")
    path = Path(config.input)
    records = read_labels(path, format=config.format, task=config.task)
    with using_store(config.db) as store:
        return store.import_labels(records, source=path.name, base=path.parent, model=config.model)


# --- listening tests ---------------------------------------------------------------------------


def mos(config: MosConfig) -> list[MetricRecord]:
    """MOS-Q and MOS-F per model (all tasks, then per task) with 95% intervals, then each other model's
    paired difference from the base (metric ``mos_q_diff``/``mos_f_diff``, ``n`` = shared items,
    ``extra["base"]``); optionally written. Intervals: bootstrap over items (:mod:`baton.annotation.mos`)."""
    with using_store(config.db, create=False) as store:
        rows = store.mos_rows()
    records = [
        MetricRecord(
            id=f"{row.model}/{METRIC_NAMES[row.question]}/{row.task or 'all'}",
            model=row.model,
            metric=METRIC_NAMES[row.question],
            task=row.task,
            value=row.estimate.value,
            ci_low=row.estimate.low,
            ci_high=row.estimate.high,
            n=row.estimate.n,
            extra={"raters": row.raters, "items": row.items, "scale": "1-5", "interval": INTERVAL},
        )
        for row in summarize(rows)
    ]
    records += [
        MetricRecord(
            id=f"{d.model}/{METRIC_NAMES[d.question]}_diff/{d.task or 'all'}",
            model=d.model,
            metric=f"{METRIC_NAMES[d.question]}_diff",
            task=d.task,
            value=d.estimate.value,
            ci_low=d.estimate.low,
            ci_high=d.estimate.high,
            n=d.estimate.n,
            extra={
                "base": d.base,
                "paired": "item means",
                "interval": INTERVAL,
                "excludes_zero": excludes_zero(d.estimate.low, d.estimate.high),
            },
        )
        for d in differences(rows, config.base)
    ]
    if config.out is not None:
        write_records(config.out, records)
    return records
