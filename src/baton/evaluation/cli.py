"""``baton evaluate``: the command over :func:`baton.evaluation.run.run`."""

from __future__ import annotations

from pathlib import Path

import typer

from baton.config import field_help
from baton.evaluation.config import EvaluateConfig

H = EvaluateConfig


def evaluate_command(
    model: list[str] = typer.Option(
        None, "--model", help=field_help(H, "models") + " Repeat for each model."
    ),
    prompts: Path = typer.Option(None, "--prompts", help=field_help(H, "prompts")),
    out: Path = typer.Option(None, "--out", help=field_help(H, "out")),
    per_prompt: int = typer.Option(None, "--per-prompt", help=field_help(H, "per_prompt")),
    seed: int = typer.Option(None, "--seed", help=field_help(H, "seed")),
    reference: str = typer.Option(None, "--reference", help=field_help(H, "reference")),
    compare_to: list[str] = typer.Option(
        None, "--compare-to", help=field_help(H, "compare_to") + " Repeat for several."
    ),
    reward_model: Path = typer.Option(None, "--reward-model", help=field_help(H, "reward_model")),
    judge: str = typer.Option(None, "--judge", help=field_help(H, "judge")),
    world: Path = typer.Option(None, "--world", help=field_help(H, "world")),
    clap: str = typer.Option(None, "--clap", help=field_help(H, "clap")),
    classifier: str = typer.Option(None, "--classifier", help=field_help(H, "classifier")),
    fad_embedding: str = typer.Option(None, "--fad-embedding", help=field_help(H, "fad_embedding")),
    steps: int = typer.Option(None, "--steps", help=field_help(H, "steps")),
    guidance_scale: float = typer.Option(None, "--guidance-scale", help=field_help(H, "guidance_scale")),
    batch_size: int = typer.Option(None, "--batch-size", help=field_help(H, "batch_size")),
    device: str = typer.Option(None, "--device", help=field_help(H, "device")),
    dtype: str = typer.Option(None, "--dtype", help=field_help(H, "dtype")),
    fad_infinity: bool = typer.Option(None, "--fad-infinity", help=field_help(H, "fad_infinity")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings; flags override it."),
) -> None:
    """Generate clips of one or several models for the same test prompts and seeds, and compare them."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.console import console
    from baton.evaluation.run import SUMMARY_FILE, run

    settings = load_config(
        EvaluateConfig,
        config,
        {
            "models": list(model) if model else None,
            "prompts": prompts,
            "out": out,
            "per_prompt": per_prompt,
            "seed": seed,
            "reference": reference,
            "compare_to": list(compare_to) if compare_to else None,
            "reward_model": reward_model,
            "judge": judge,
            "world": world,
            "clap": clap,
            "classifier": classifier,
            "fad_embedding": fad_embedding,
            "steps": steps,
            "guidance_scale": guidance_scale,
            "batch_size": batch_size,
            "device": device,
            "dtype": dtype,
            "fad_infinity": fad_infinity,
            "progress": False if no_progress else None,
        },
    )
    summary = run(settings)
    console.print(summary_table(summary))
    for other in summary.get("differences_from", {}):
        console.print(comparison_table(summary, other))
    for role, judge in summary["judges"].items():
        if judge is not None:
            digest = judge.get("weights_sha256") or judge.get("fingerprint") or "no digest"
            console.print(f"[dim]judge ({role}): {judge['name']}, weights {digest[:12]}[/]")
    for note in summary["notes"]:
        console.print(f"[dim]note: {note}[/]")
    console.print(f"figures in [bold]{Path(settings.out) / SUMMARY_FILE}[/]")


def summary_table(summary: dict) -> object:
    """The figures as a rich table: one row per metric and task, one column per model."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from rich.table import Table

    from baton.stats import difference_excludes_zero

    rows: list[tuple[str, str]] = []
    for model in summary["order"]:
        for metric, tasks in summary["metrics"][model].items():
            for task in tasks:
                if (metric, task) not in rows:
                    rows.append((metric, task))
    table = Table(title=f"Δ: paired difference from {summary['base']} [95% interval], * excludes 0")
    table.add_column("metric")
    table.add_column("task")
    for model in summary["order"]:
        table.add_column(model, justify="right")
    for metric, task in rows:
        cells = []
        for model in summary["order"]:
            figure = summary["metrics"][model].get(metric, {}).get(task)
            diff = summary["differences"].get(model, {}).get(metric, {}).get(task)
            text = "" if figure is None else f"{figure['value']:.3f}"
            if diff is not None:
                mark = "*" if difference_excludes_zero(diff) else ""
                text += f"\nΔ {diff['value']:+.3f}{mark} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}]"
            cells.append(text)
        table.add_row(metric, task, *cells)
    return table


def comparison_table(summary: dict, other: str) -> object:
    """Every model's per-clip figures minus ``other``'s (``--compare-to``): one row per model."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from rich.table import Table

    from baton.stats import difference_excludes_zero

    compared = summary["differences_from"][other]
    columns = list(dict.fromkeys((m, t) for d in compared.values() for m, ts in d.items() for t in ts))
    table = Table(title=f"paired difference from {other} [95% interval], * excludes 0")
    table.add_column("model")
    for metric, task in columns:
        table.add_column(f"{metric} {task}", justify="right")
    for model, figures in compared.items():
        cells = []
        for metric, task in columns:
            diff = figures.get(metric, {}).get(task)
            mark = "*" if diff is not None and difference_excludes_zero(diff) else ""
            cells.append(
                ""
                if diff is None
                else f"{diff['value']:+.3f}{mark} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}]"
            )
        table.add_row(model, *cells)
    return table
