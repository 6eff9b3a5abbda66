"""``baton annotate``: serve the labelling app, manage annotators, export and import, simulate, MOS.

Only typer and the config dataclasses are imported here; the app, the database and the judges are
imported inside each command.
"""

from __future__ import annotations

from pathlib import Path

import typer

from baton.annotation.config import (
    AddAnnotatorConfig,
    ExportConfig,
    GoldConfig,
    ImportConfig,
    MosConfig,
    ServeConfig,
    SimulateConfig,
)
from baton.config import field_help, renamed_option

annotate_app = typer.Typer(
    help=(
        "Collect human labels in a web app: several annotators per clip, keyboard labelling, A/B "
        "preferences between two clips of a prompt, gold clips, agreement statistics, durable storage in "
        "SQLite or PostgreSQL, listening tests (MOS)."
    ),
    no_args_is_help=True,
)

CONFIG_HELP = "YAML file of settings; flags override it."
# `--task` names a prompt's task (integrity, temporal, single) in every command; what a server collects
# (labels, ratings) is `--collect`. The old spelling still works, with a warning.
OLD_TASK_FLAG = typer.Option(None, "--task", hidden=True, help="Deprecated: --collect.")


@annotate_app.command("serve")
def serve_command(
    samples: list[str] = typer.Option(None, "--samples", help=field_help(ServeConfig, "samples")),
    db: str = typer.Option(None, "--db", help=field_help(ServeConfig, "db")),
    host: str = typer.Option(None, "--host", help=field_help(ServeConfig, "host")),
    port: int = typer.Option(None, "--port", help=field_help(ServeConfig, "port")),
    labels_per_clip: int = typer.Option(
        None, "--k", "--labels-per-clip", help=field_help(ServeConfig, "labels_per_clip")
    ),
    raters_per_item: int = typer.Option(
        None, "--raters-per-item", help=field_help(ServeConfig, "raters_per_item")
    ),
    lease_minutes: float = typer.Option(
        None, "--lease-minutes", help=field_help(ServeConfig, "lease_minutes")
    ),
    max_labels: int = typer.Option(
        None, "--max-labels-per-annotator", help=field_help(ServeConfig, "max_labels_per_annotator")
    ),
    tasks: list[str] = typer.Option(
        None, "--collect", help=field_help(ServeConfig, "tasks") + " Repeat for several."
    ),
    old_tasks: list[str] = OLD_TASK_FLAG,
    pairs_per_prompt: int = typer.Option(
        None, "--pairs-per-prompt", help=field_help(ServeConfig, "pairs_per_prompt")
    ),
    pairs_seed: int = typer.Option(None, "--pairs-seed", help=field_help(ServeConfig, "pairs_seed")),
    gold: list[str] = typer.Option(
        None, "--gold", help=field_help(ServeConfig, "gold") + " Repeat for several."
    ),
    gold_every: int = typer.Option(None, "--gold-every", help=field_help(ServeConfig, "gold_every")),
    select: str = typer.Option(None, "--select", help=field_help(ServeConfig, "select")),
    round_size: int = typer.Option(None, "--round-size", help=field_help(ServeConfig, "round_size")),
    random_share: float = typer.Option(None, "--random-share", help=field_help(ServeConfig, "random_share")),
    budget: int = typer.Option(None, "--budget", help=field_help(ServeConfig, "budget")),
    select_encoder: str = typer.Option(
        None, "--select-encoder", help=field_help(ServeConfig, "select_encoder")
    ),
    public_url: str = typer.Option(None, "--public-url", help=field_help(ServeConfig, "public_url")),
    title: str = typer.Option(None, "--title", help=field_help(ServeConfig, "title")),
    log_level: str = typer.Option(None, "--log-level", help=field_help(ServeConfig, "log_level")),
    change_settings: bool = typer.Option(
        False, "--change-settings", help=field_help(ServeConfig, "change_settings")
    ),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Serve the labelling app (loads the samples; the first start prints the admin's link).

    The first start stores the campaign's --k, --raters-per-item, --collect, --pairs-per-prompt, --pairs-seed, --select, --round-size, --random-share and --budget in the database; a restart uses them, and refuses different values unless --change-settings is given."""
    # Start-up: ``baton --help`` imports this module; the command's work is imported when it runs.
    from baton.annotation.run import serve
    from baton.config import load_config

    settings = load_config(
        ServeConfig,
        config,
        {
            "samples": samples or None,
            "db": db,
            "host": host,
            "port": port,
            "labels_per_clip": labels_per_clip,
            "raters_per_item": raters_per_item,
            "lease_minutes": lease_minutes,
            "max_labels_per_annotator": max_labels,
            "tasks": renamed_option(tasks or None, old_tasks, old="--task", new="--collect"),
            "pairs_per_prompt": pairs_per_prompt,
            "pairs_seed": pairs_seed,
            "gold": gold or None,
            "gold_every": gold_every,
            "select": select,
            "round_size": round_size,
            "random_share": random_share,
            "budget": budget,
            "select_encoder": select_encoder,
            "public_url": public_url,
            "title": title,
            "log_level": log_level,
            "change_settings": True if change_settings else None,
        },
    )
    serve(settings)


@annotate_app.command("add-annotator")
def add_annotator_command(
    name: str = typer.Argument(..., help=field_help(AddAnnotatorConfig, "name")),
    db: str = typer.Option(None, "--db", help=field_help(AddAnnotatorConfig, "db")),
    admin: bool = typer.Option(None, "--admin", help=field_help(AddAnnotatorConfig, "admin")),
    reset: bool = typer.Option(None, "--reset", help=field_help(AddAnnotatorConfig, "reset")),
    url: str = typer.Option(None, "--url", help=field_help(AddAnnotatorConfig, "url")),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Add an annotator and print their personal login link (its secret is stored only as a hash)."""
    # Start-up: ``baton --help`` imports this module; the command's work is imported when it runs.
    from baton.annotation.run import add_annotator
    from baton.config import load_config

    settings = load_config(
        AddAnnotatorConfig, config, {"name": name, "db": db, "admin": admin, "reset": reset, "url": url}
    )
    typer.echo(add_annotator(settings))


@annotate_app.command("export")
def export_command(
    db: str = typer.Option(None, "--db", help=field_help(ExportConfig, "db")),
    out: Path = typer.Option(None, "--out", help=field_help(ExportConfig, "out")),
    pairs: bool = typer.Option(None, "--pairs", help=field_help(ExportConfig, "pairs")),
    format: str = typer.Option(None, "--format", help=field_help(ExportConfig, "format")),
    model: str = typer.Option(None, "--model", help=field_help(ExportConfig, "model")),
    min_votes: int = typer.Option(None, "--min-votes", help=field_help(ExportConfig, "min_votes")),
    # Deprecated with the formats they serve (hidden from --help; `baton data export` has them).
    soft: bool = typer.Option(None, "--soft", hidden=True, help=field_help(ExportConfig, "soft")),
    audio_prefix: str = typer.Option(
        None, "--audio-prefix", hidden=True, help=field_help(ExportConfig, "audio_prefix")
    ),
    drop_early: bool = typer.Option(None, "--drop-early", help=field_help(ExportConfig, "drop_early")),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Write the labels (labels.jsonl): per clip every vote, the majority label, the mean and Dawid-Skene;
    with --pairs the A/B answers (pairs.jsonl): both clips, every vote, the preference.

    `baton data export` turns the labels into Tango/BATON JSON Lines, an audiofolder or Label Studio
    tasks, and the pairs into Audio-Alpaca triplets."""
    # Start-up: ``baton --help`` imports this module; the command's work is imported when it runs.
    from baton.annotation.run import export
    from baton.config import load_config
    from baton.console import console

    settings = load_config(
        ExportConfig,
        config,
        {
            "db": db,
            "out": out,
            "pairs": pairs,
            "format": format,
            "model": model,
            "min_votes": min_votes,
            "soft": soft,
            "audio_prefix": audio_prefix,
            "drop_early": drop_early,
        },
    )
    console.print(export(settings).summary())


@annotate_app.command("import")
def import_command(
    input: Path = typer.Argument(..., help=field_help(ImportConfig, "input")),
    db: str = typer.Option(None, "--db", help=field_help(ImportConfig, "db")),
    format: str = typer.Option(None, "--format", help=field_help(ImportConfig, "format")),
    model: str = typer.Option(None, "--model", help=field_help(ImportConfig, "model")),
    task: str = typer.Option(None, "--task", help=field_help(ImportConfig, "task")),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Add the votes of a Label Studio export, a BATON/Tango file or a baton labels file to the database."""
    # Start-up: ``baton --help`` imports this module; the command's work is imported when it runs.
    from baton.annotation.run import import_labels
    from baton.config import load_config
    from baton.console import console, warn

    settings = load_config(
        ImportConfig, config, {"input": input, "db": db, "format": format, "model": model, "task": task}
    )
    counts = import_labels(settings)
    for conflict in counts.conflicts:
        warn(f"left out (a different vote is stored): {conflict}")
    console.print(
        f"{counts.votes} votes added ({counts.duplicates} already there, {len(counts.conflicts)} conflicting); "
        f"{counts.new_clips} new clips, {counts.new_annotators} new annotators"
    )


@annotate_app.command("simulate")
def simulate_command(
    samples: list[str] = typer.Option(None, "--samples", help=field_help(SimulateConfig, "samples")),
    db: str = typer.Option(None, "--db", help=field_help(SimulateConfig, "db")),
    server: str = typer.Option(None, "--server", help=field_help(SimulateConfig, "server")),
    admin_token: str = typer.Option(None, "--admin-token", help=field_help(SimulateConfig, "admin_token")),
    annotators: int = typer.Option(None, "--annotators", help=field_help(SimulateConfig, "annotators")),
    noise: float = typer.Option(None, "--noise", help=field_help(SimulateConfig, "noise")),
    reliability: list[float] = typer.Option(
        None, "--reliability", help=field_help(SimulateConfig, "reliability")
    ),
    skip_rate: float = typer.Option(None, "--skip-rate", help=field_help(SimulateConfig, "skip_rate")),
    judge: str = typer.Option(None, "--judge", help=field_help(SimulateConfig, "judge")),
    world: Path = typer.Option(None, "--world", help=field_help(SimulateConfig, "world")),
    labels_per_clip: int = typer.Option(
        None, "--k", "--labels-per-clip", help=field_help(SimulateConfig, "labels_per_clip")
    ),
    tasks: list[str] = typer.Option(
        None, "--collect", help=field_help(SimulateConfig, "tasks") + " Repeat for several."
    ),
    old_tasks: list[str] = OLD_TASK_FLAG,
    gold: list[str] = typer.Option(None, "--gold", help=field_help(SimulateConfig, "gold")),
    gold_every: int = typer.Option(None, "--gold-every", help=field_help(SimulateConfig, "gold_every")),
    select: str = typer.Option(None, "--select", help=field_help(SimulateConfig, "select")),
    round_size: int = typer.Option(None, "--round-size", help=field_help(SimulateConfig, "round_size")),
    random_share: float = typer.Option(
        None, "--random-share", help=field_help(SimulateConfig, "random_share")
    ),
    budget: int = typer.Option(None, "--budget", help=field_help(SimulateConfig, "budget")),
    select_encoder: str = typer.Option(
        None, "--select-encoder", help=field_help(SimulateConfig, "select_encoder")
    ),
    raters_per_item: int = typer.Option(
        None, "--raters-per-item", help=field_help(SimulateConfig, "raters_per_item")
    ),
    seed: int = typer.Option(None, "--seed", help=field_help(SimulateConfig, "seed")),
    parallel: bool = typer.Option(False, "--parallel", help=field_help(SimulateConfig, "parallel")),
    name_prefix: str = typer.Option(None, "--name-prefix", help=field_help(SimulateConfig, "name_prefix")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Simulated annotators label through the HTTP API (starting a server unless --server is given)."""
    # Start-up: ``baton --help`` imports this module; the command's work is imported when it runs.
    from baton.annotation.simulate import simulate
    from baton.config import load_config
    from baton.console import console, warn

    settings = load_config(
        SimulateConfig,
        config,
        {
            "samples": samples or None,
            "db": db,
            "server": server,
            "admin_token": admin_token,
            "annotators": annotators,
            "noise": noise,
            "reliability": reliability or None,
            "skip_rate": skip_rate,
            "judge": judge,
            "world": world,
            "labels_per_clip": labels_per_clip,
            "tasks": renamed_option(tasks or None, old_tasks, old="--task", new="--collect"),
            "gold": gold or None,
            "gold_every": gold_every,
            "select": select,
            "round_size": round_size,
            "random_share": random_share,
            "budget": budget,
            "select_encoder": select_encoder,
            "raters_per_item": raters_per_item,
            "seed": seed,
            "parallel": True if parallel else None,
            "name_prefix": name_prefix,
            "progress": False if no_progress else None,
        },
    )
    result = simulate(settings)
    for error in result.errors:
        warn(error)
    console.print(result.summary())
    if result.errors:
        raise typer.Exit(1)


@annotate_app.command("gold")
def gold_command(
    out: Path = typer.Option(None, "--out", help=field_help(GoldConfig, "out")),
    prompts: int = typer.Option(None, "--prompts", help=field_help(GoldConfig, "prompts")),
    tasks: list[str] = typer.Option(
        None, "--task", help=field_help(GoldConfig, "tasks") + " Repeat for both."
    ),
    seed: int = typer.Option(None, "--seed", help=field_help(GoldConfig, "seed")),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Make gold clips on the sound world (the synthesizer's own clips, whose answers it knows), for
    `serve --gold`: each annotator's accuracy on them shows on the dashboard."""
    # Start-up: ``baton --help`` imports this module; the command's work is imported when it runs.
    from baton.annotation.gold import world_gold
    from baton.config import load_config
    from baton.console import console

    settings = load_config(
        GoldConfig, config, {"out": out, "prompts": prompts, "tasks": tasks or None, "seed": seed}
    )
    console.print(world_gold(settings.out, settings.prompts, settings.seed, tuple(settings.tasks)).summary())


@annotate_app.command("mos")
def mos_command(
    db: str = typer.Option(None, "--db", help=field_help(MosConfig, "db")),
    out: Path = typer.Option(None, "--out", help=field_help(MosConfig, "out")),
    base: str = typer.Option(None, "--base", help=field_help(MosConfig, "base")),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Listening-test results: MOS-Q and MOS-F per model, and each model's paired difference from the
    base, with 95% intervals (bootstrap over items)."""
    # Start-up: ``baton --help`` imports this module; the command's work is imported when it runs.
    from rich.table import Table

    from baton.annotation.run import mos
    from baton.config import load_config
    from baton.console import console

    settings = load_config(MosConfig, config, {"db": db, "out": out, "base": base})
    records = mos(settings)
    if not records:
        console.print("no ratings yet")
        return
    table = Table("model", "metric", "task", "MOS", "95% interval", "ratings")
    diffs = [r for r in records if r.metric.endswith("_diff")]
    for r in records:
        if r.metric.endswith("_diff"):
            continue
        table.add_row(
            r.model, r.metric.upper().replace("_", "-"), r.task or "all", f"{r.value:.2f}",
            f"{r.ci_low:.2f} – {r.ci_high:.2f}", str(r.n),
        )  # fmt: skip
    console.print(table)
    if diffs:
        table = Table("model", "metric", "task", f"minus {diffs[0].extra['base']}", "95% interval", "items")
        for r in diffs:
            table.add_row(
                r.model, r.metric.removesuffix("_diff").upper().replace("_", "-"), r.task or "all",
                f"{r.value:+.2f}", f"{r.ci_low:+.2f} – {r.ci_high:+.2f}", str(r.n),
            )  # fmt: skip
        console.print(table)
