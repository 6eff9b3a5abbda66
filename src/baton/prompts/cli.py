"""``baton prompts``: the command over :func:`baton.prompts.curate.run`."""

from __future__ import annotations

from pathlib import Path

import typer

from baton.config import field_help
from baton.prompts.config import PromptsConfig

H = PromptsConfig


def prompts_command(
    vocab: str = typer.Option(None, "--vocab", help=field_help(H, "vocab")),
    task: str = typer.Option(None, "--task", help=field_help(H, "task")),
    n: int = typer.Option(None, "--n", help=field_help(H, "n")),
    seed: int = typer.Option(None, "--seed", help=field_help(H, "seed")),
    out: Path = typer.Option(None, "--out", help=field_help(H, "out")),
    from_captions: Path = typer.Option(None, "--from-captions", help=field_help(H, "from_captions")),
    sequence_share: float = typer.Option(None, "--sequence-share", help=field_help(H, "sequence_share")),
    id_prefix: str = typer.Option(None, "--id-prefix", help=field_help(H, "id_prefix")),
    list_vocabs: bool = typer.Option(False, "--list-vocabs", help="List the built-in vocabularies and exit."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings; flags override it."),
) -> None:
    """Write multi-event prompts (integrity: 2 events, temporal: 3 in order) to a prompts file."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.console import console

    if list_vocabs:
        _print_vocabularies()
        return
    settings = load_config(
        PromptsConfig,
        config,
        {
            "vocab": vocab,
            "task": task,
            "n": n,
            "seed": seed,
            "out": out,
            "from_captions": from_captions,
            "sequence_share": sequence_share,
            "id_prefix": id_prefix,
        },
    )
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.prompts.curate import event_usage, run

    records = run(settings)
    kind = settings.task or "untyped"
    if settings.from_captions is not None:
        console.print(f"{len(records)} {kind} prompts from the distinct captions of {settings.from_captions}")
    else:
        # the command's work, imported when it runs: `baton --help` imports this module
        from baton.prompts.vocabulary import load_vocabulary

        vocabulary = load_vocabulary(settings.vocab)
        usage = event_usage(records)
        counts = [usage.get(event_id, 0) for event_id in vocabulary.ids]
        console.print(
            f"{len(records)} {kind} prompts; {sum(c > 0 for c in counts)} of {len(vocabulary)} events of "
            f"'{vocabulary.name}' used ({min(counts)} to {max(counts)} times each)"
        )
    console.print(f"written to [bold]{settings.out}[/]")


def _print_vocabularies() -> None:
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.prompts.vocabulary import list_vocabularies, load_vocabulary

    for name in list_vocabularies():
        vocabulary = load_vocabulary(name)
        summary = " ".join(vocabulary.description.split())
        typer.echo(f"{name}\t{len(vocabulary)} events\t{summary}")
