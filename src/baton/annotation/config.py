"""Settings of the ``baton annotate`` commands (light: the command line imports this at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from baton.config import documented, option
from baton.errors import InputError

DEFAULT_DB = "sqlite:///annotations.db"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
DEFAULT_SERVER_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
TASK_CHOICES = ("labels", "ratings", "pairs")
EXPORT_FORMATS = ("baton", "tango", "label-studio")
IMPORT_FORMATS = ("baton", "tango", "label-studio")
JUDGES = ("auto", "settings", "world")
DEFAULT_LABELS_PER_CLIP, DEFAULT_RATERS_PER_ITEM, DEFAULT_TASKS = 3, 5, ["labels"]
DEFAULT_PAIRS_PER_PROMPT, DEFAULT_PAIRS_SEED, DEFAULT_GOLD_EVERY = 0, 0, 10
# Active selection (baton.annotation.rounds); the rules are baton.reward.select.RULES, named here so
# that the command line stays light.
SELECT_CHOICES = ("random", "uncertain", "disagreement", "bald")
DEFAULT_SELECT, DEFAULT_ROUND_SIZE, DEFAULT_RANDOM_SHARE, DEFAULT_BUDGET = "random", 50, 0.25, 0
SELECT_HELP = (
    "Which clips (and A/B pairs) are asked next: random (every one, in load order) or, in rounds, those "
    "the reward model is least sure of: uncertain (probability nearest 0.5; for a pair, that its first "
    "clip is the better), disagreement (its ensemble's spread) or bald (the information an answer gives "
    "about the ensemble). After each round the reward model is retrained on the labels and pair answers "
    "so far (default: what the database's first serve stored, else random)."
)
ROUND_SIZE_HELP = (
    "With --select other than random: clips (or pairs) a round asks; the next round is chosen once every "
    f"one of this round has its answers (default: stored, else {DEFAULT_ROUND_SIZE})."
)
RANDOM_SHARE_HELP = (
    "With --select: the share of each round drawn at random, so that estimates made from the labels "
    f"can stay unbiased (default: stored, else {DEFAULT_RANDOM_SHARE})."
)
BUDGET_HELP = (
    "With --select: how many clips to label (and pairs to ask) in all, the last round cut to fit; "
    "0 = every one (default: stored, else 0)."
)

GOLD_HELP = (
    "Gold clips: samples file(s) whose every clip states its known answer in settings.gold (1 or true: it "
    "matches its prompt; 0 or false: it does not). They are mixed into the campaign to measure each "
    "annotator (`baton annotate gold` makes them from the sound world's synthesizer; for a real model, "
    "label a few clips yourself)."
)
SAMPLES_HELP = (
    "Samples file(s) to load (samples.jsonl; audio paths relative to its folder). NAME=FILE names the "
    "model that made the file's clips (default: each sample's backend); a listening test compares models."
)


@documented
@dataclass
class ServeConfig:
    samples: list[str] = option([], SAMPLES_HELP)
    db: str = option(DEFAULT_DB, "Database URL: sqlite:///path.db (WAL mode) or postgresql://user@host/db.")
    host: str = option(DEFAULT_HOST, "Address to listen on (0.0.0.0 for every interface).")
    port: int = option(DEFAULT_PORT, "Port to listen on.")
    labels_per_clip: int | None = option(
        None,
        "Yes/no votes each clip gets (and answers each pair gets, for --collect pairs), from that many "
        "different annotators (default: the value the database's first serve stored, else "
        f"{DEFAULT_LABELS_PER_CLIP}).",
    )
    raters_per_item: int | None = option(
        None,
        "Raters per listening-test item (one prompt's clips across models) (default: the value the "
        f"database's first serve stored, else {DEFAULT_RATERS_PER_ITEM}).",
    )
    lease_minutes: float = option(
        15.0, "Minutes a clip stays reserved for the annotator it was given to before others may take it."
    )
    max_labels_per_annotator: int | None = option(
        None, "Stop giving clips to an annotator after this many answers (default: no limit)."
    )
    tasks: list[str] | None = option(
        None,
        "What the server offers: labels (yes/no per clip), pairs (which of two clips of a prompt fits it "
        "better), ratings (MOS listening test), or several (default: what the database's first serve "
        "stored, else labels).",
    )
    pairs_per_prompt: int | None = option(
        None,
        "pairs: how many pairs of each prompt's clips (of one model) to ask about, each clip in about as "
        "many as any other; 0 = every pair (default: what the database's first serve stored, else 0).",
    )
    pairs_seed: int | None = option(
        None,
        "pairs: the seed that chooses and orders each prompt's pairs (default: what the database's first "
        f"serve stored, else {DEFAULT_PAIRS_SEED}).",
    )
    gold: list[str] = option([], GOLD_HELP)
    gold_every: int = option(
        DEFAULT_GOLD_EVERY,
        "With gold clips: an annotator's every N-th answer is on a gold clip (or gold pair) they have not "
        "answered yet.",
    )
    select: str | None = option(None, SELECT_HELP)
    round_size: int | None = option(None, ROUND_SIZE_HELP)
    random_share: float | None = option(None, RANDOM_SHARE_HELP)
    budget: int | None = option(None, BUDGET_HELP)
    select_encoder: str = option(
        "world",
        "With --select: the reward model's frozen encoders, as `baton reward train --encoder` takes them "
        "('world', 'world:DIR', 'clap:SOURCE').",
    )
    public_url: str | None = option(
        None,
        "The address annotators use to reach the server, for the links printed (default http://HOST:PORT).",
    )
    title: str = option("baton annotate", "Title shown on every page.")
    log_level: str = option("warning", "uvicorn's log level (info shows every request).")
    change_settings: bool = option(
        False,
        "Allow --k, --raters-per-item, --collect, --pairs-per-prompt and --pairs-seed to change the "
        "settings the database's first serve stored (without it a different value is refused, so a restart "
        "cannot quietly change the campaign).",
    )

    def __post_init__(self) -> None:
        if self.tasks is not None:
            check_tasks(self.tasks)
        for name in ("labels_per_clip", "raters_per_item"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise_input("must be at least 1", name)
        if self.pairs_per_prompt is not None and self.pairs_per_prompt < 0:
            raise_input("must be 0 (every pair) or more", "pairs_per_prompt")
        if self.gold_every < 2:
            raise_input("must be at least 2", "gold_every")
        check_selection(self.select, self.round_size, self.random_share, self.budget, self.tasks)


@documented
@dataclass
class AddAnnotatorConfig:
    name: str = option("", "The annotator's name (unique).")
    db: str = option(DEFAULT_DB, "Database URL.")
    admin: bool = option(False, "Make an admin: the link also opens the dashboard.")
    reset: bool = option(False, "Give an existing annotator a new link; the old one stops working.")
    url: str | None = option(
        None,
        "The server's address, for the printed link (default: the one the last `baton annotate serve` of "
        f"this database was reached at, else {DEFAULT_SERVER_URL}).",
    )


@documented
@dataclass
class ExportConfig:
    db: str = option(DEFAULT_DB, "Database URL.")
    out: Path = option(Path("labels.jsonl"), "The file to write.")
    pairs: bool = option(
        False, "Export the A/B answers (which of two clips people preferred) instead of the labels."
    )
    format: str = option(
        "baton",
        "baton: labels.jsonl (every vote, majority label, mean, Dawid-Skene), or with --pairs pairs.jsonl "
        "(both clips, every vote, the preference). tango and label-studio are deprecated here: `baton data "
        "export labels.jsonl --format tango|label-studio` writes them (and `--format audio-alpaca` pairs).",
    )
    model: str | None = option(
        None, "Export the clips of this model only (needed when several models were loaded)."
    )
    min_votes: int = option(1, "Leave out clips with fewer votes than this.")
    soft: bool = option(False, "Deprecated with --format tango (see `baton data export --soft`).")
    audio_prefix: str | None = option(
        None, "Deprecated with --format label-studio (see `baton data export --audio-prefix`)."
    )
    drop_early: bool = option(
        False, "Leave out answers given before the clip (or both clips) could have been heard to the end."
    )

    def __post_init__(self) -> None:
        one_of(self.format, EXPORT_FORMATS, "format")
        if self.pairs and self.format != "baton":
            raise_input(
                "pairs are exported as pairs.jsonl (--format baton); `baton data export pairs.jsonl --format "
                "audio-alpaca` writes Tango 2's triplets",
                "format",
            )


@documented
@dataclass
class ImportConfig:
    input: Path | None = option(
        None, "The file to import: baton labels.jsonl, a Tango/BATON JSON file, or a Label Studio export."
    )
    db: str = option(DEFAULT_DB, "Database URL.")
    format: str | None = option(
        None, "baton, tango or label-studio (default: from the file: a 'schema' line is baton, a JSON array "
        "of tasks Label Studio, anything else Tango)."
    )  # fmt: skip
    model: str | None = option(
        None, "The model of the imported clips (matched by sample id; default 'imported')."
    )
    task: str | None = option(None, "tango: the task of every clip (integrity, temporal, single).")

    def __post_init__(self) -> None:
        if self.format is not None:
            one_of(self.format, IMPORT_FORMATS, "format")


@documented
@dataclass
class SimulateConfig:
    samples: list[str] = option([], SAMPLES_HELP + " The judge reads these clips.")
    db: str = option(DEFAULT_DB, "Database URL of the server this command starts (unused with --server).")
    server: str | None = option(
        None, "URL of a running server to label through; by default one is started on a free local port."
    )
    admin_token: str | None = option(
        None, "With --server: an admin's token, to create the simulated annotators."
    )
    annotators: int = option(5, "How many simulated people.")
    noise: float = option(
        0.1, "Typical error rate: each person's own rate is drawn around it, with a bias towards yes or no."
    )
    reliability: list[float] | None = option(
        None,
        "Each simulated person's chance of hearing a clip right, one value per person (their number then "
        "is --annotators'), in place of --noise: 0.95 is careful, 0.5 a coin toss. Repeat the flag.",
    )
    skip_rate: float = option(0.02, "Share of clips a simulated person skips.")
    judge: str = option(
        "auto",
        "What a simulated person hears: settings (ground truth in each sample's settings), world (the sound "
        "world's annotator detector), or auto (settings when every sample has it, else world).",
    )
    world: Path | None = option(
        None, "The sound world's folder for the world judge (default: the cached world)."
    )
    labels_per_clip: int = option(3, "Votes per clip (for the server this command starts).")
    tasks: list[str] = option(
        ["labels"], "labels, pairs, ratings, or several (ratings: a simulated listening test)."
    )
    select: str = option(
        DEFAULT_SELECT, SELECT_HELP.split(" (default")[0] + " (for the server this command starts)."
    )
    round_size: int = option(DEFAULT_ROUND_SIZE, "With --select: clips (or pairs) a round asks.")
    random_share: float = option(
        DEFAULT_RANDOM_SHARE, "With --select: the share of each round drawn at random."
    )
    budget: int = option(
        DEFAULT_BUDGET,
        "With --select: how many clips to label (and pairs to ask) in all, the last round cut to fit; "
        "0 = every one.",
    )
    select_encoder: str = option("world", "With --select: the reward model's frozen encoders.")
    gold: list[str] = option([], GOLD_HELP + " Simulated people hear them like any clip.")
    gold_every: int = option(DEFAULT_GOLD_EVERY, "With gold clips: every N-th answer is on a gold one.")
    raters_per_item: int = option(5, "Raters per listening-test item (for the server this command starts).")
    seed: int = option(0, "Seed of the simulated people's error rates, biases and answers.")
    parallel: bool = option(
        False,
        "People work at once, each in a thread, like a real team: who labels which clip then depends on "
        "timing. Default: they take turns, one clip each, so a seed gives the same votes on every run.",
    )
    name_prefix: str = option("sim", "Simulated annotators are named PREFIX-01, PREFIX-02, ...")
    progress: bool = option(True, "Show a progress bar.")

    def __post_init__(self) -> None:
        check_tasks(self.tasks)
        one_of(self.judge, JUDGES, "judge")
        if self.annotators < 1:
            raise_input("must be at least 1", "annotators")
        if not 0.0 <= self.noise <= 0.5:
            raise_input("must be from 0 to 0.5 (0.5 is a coin toss)", "noise")
        if self.reliability is not None:
            if any(not 0.0 <= r <= 1.0 for r in self.reliability) or not self.reliability:
                raise_input(f"one chance per person, each from 0 to 1, got {self.reliability}", "reliability")
            self.annotators = len(self.reliability)
        if not 0.0 <= self.skip_rate < 1.0:
            raise_input("must be from 0 to below 1", "skip_rate")
        check_selection(self.select, self.round_size, self.random_share, self.budget, self.tasks)


@documented
@dataclass
class GoldConfig:
    out: Path = option(Path("gold"), "Folder of the gold clips: samples.jsonl and audio/.")
    prompts: int = option(20, "Gold prompts to make; each gets a right clip and a wrong one.")
    tasks: list[str] = option(
        ["integrity", "temporal"],
        "Tasks the prompts take in turn: integrity (two events; the wrong clip lacks one) and temporal "
        "(three in order; the wrong clip swaps two).",
    )
    seed: int = option(0, "Seed of the events, captions and clips.")


@documented
@dataclass
class MosConfig:
    db: str = option(DEFAULT_DB, "Database URL.")
    out: Path | None = option(None, "Also write the scores as metric records (JSON Lines) to this file.")
    base: str | None = option(
        None,
        "The model the others are compared with, item by item (default: 'base' if rated, else the first).",
    )


def raise_input(message: str, field: str) -> None:
    raise InputError(message, field=field)


def one_of(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise_input(f"must be one of {', '.join(choices)}, got '{value}'", field)


def check_selection(
    select: str | None,
    round_size: int | None,
    random_share: float | None,
    budget: int | None,
    tasks: list[str] | None = None,
) -> None:
    if select is not None:
        one_of(select, SELECT_CHOICES, "select")
        if tasks is not None:
            check_selection_has_a_task(select, tasks)
    if round_size is not None and round_size < 1:
        raise_input(f"must be at least 1, got {round_size}", "round_size")
    if random_share is not None and not 0.0 <= random_share <= 1.0:
        raise_input(f"must be from 0 to 1, got {random_share}", "random_share")
    if budget is not None and budget < 0:
        raise_input(f"must be 0 (every clip) or more, got {budget}", "budget")


def check_selection_has_a_task(select: str, tasks: list[str]) -> None:
    """Active selection chooses clips to label or pairs to compare: a campaign of ratings alone has
    nothing for it to choose."""
    if select != "random" and not {"labels", "pairs"} & set(tasks):  # baton.annotation.rounds.TASKS
        raise_input(
            f"--select {select} chooses clips to label or pairs to compare, and the tasks asked are "
            f"{', '.join(tasks)} only: add --tasks labels or pairs, or leave --select out",
            "select",
        )


def check_tasks(tasks: list[str]) -> None:
    if not tasks or any(t not in TASK_CHOICES for t in tasks):
        raise_input(f"must be one or more of {', '.join(TASK_CHOICES)}, got {tasks}", "tasks")
