"""``baton world build|info|ship|examples``: the built-in sound world."""

from __future__ import annotations

from pathlib import Path

import typer

from baton.config import field_help
from baton.world.config import ShipConfig, WorldBuildConfig

world_app = typer.Typer(help="Build and inspect the built-in sound world.", no_args_is_help=True)
H = WorldBuildConfig


@world_app.command("build")
def build_command(
    quick: bool = typer.Option(None, "--quick", help=field_help(H, "quick")),
    seed: int = typer.Option(None, "--seed", help=field_help(H, "seed")),
    cache: Path = typer.Option(None, "--cache", help=field_help(H, "cache")),
    force: bool = typer.Option(None, "--force", help=field_help(H, "force")),
    eval_prompts: int = typer.Option(None, "--eval-prompts", help=field_help(H, "eval_prompts")),
    only: list[str] = typer.Option(None, "--only", help=field_help(H, "only") + " Repeat for several."),
    jobs: int = typer.Option(None, "--jobs", help=field_help(H, "jobs")),
    threads: int = typer.Option(None, "--threads", help=field_help(H, "threads")),
    recipe: str = typer.Option(None, "--recipe", help=field_help(H, "recipe")),
    resume: bool = typer.Option(None, "--resume", help=field_help(H, "resume")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    config: Path = typer.Option(None, "--config", help="YAML file of settings; flags override it."),
) -> None:
    """Build the sound world (corpus, T2A model, CLAP, two detectors, base evaluation); cached, resumable.

    Without --recipe, the models the package ships are installed (in seconds) when it ships this world.
    """
    # the command's work, imported when it runs: `baton --help` imports this module
    import time

    from baton.config import load_config
    from baton.console import console
    from baton.world.build import build
    from baton.world.manifest import world_dir, world_flags, world_origin
    from baton.world.report import origin_text

    settings = load_config(
        WorldBuildConfig,
        config,
        {
            "quick": quick,
            "seed": seed,
            "cache": cache,
            "force": force,
            "eval_prompts": eval_prompts,
            "only": only or None,
            "jobs": jobs,
            "threads": threads,
            "recipe": recipe,
            "resume": resume,
            "progress": False if no_progress else None,
        },
    )
    started = time.perf_counter()
    manifest = build(settings)
    flags = world_flags(quick=settings.quick, seed=settings.seed)
    if world_origin(manifest)["kind"] == "shipped":
        how = origin_text(manifest)
    else:
        how = f"its steps took {manifest['total_build_seconds']:.0f} s of work in all"
    console.print(
        f"world ready in [bold]{world_dir(settings.cache, quick=settings.quick, seed=settings.seed)}[/] "
        f"after {time.perf_counter() - started:.0f} s ({how}); `baton world info{flags}` shows its figures"
    )


@world_app.command("info")
def info_command(
    quick: bool = typer.Option(False, "--quick", help="The quick world."),
    seed: int = typer.Option(0, "--seed", help="The world's seed."),
    cache: Path = typer.Option(None, "--cache", help=field_help(H, "cache")),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON."),
    shipped: bool = typer.Option(
        False,
        "--shipped",
        help="The world the package ships ($BATON_SHIPPED_WORLD, else its own), not installed: how it was"
        " made, its figures.",
    ),
) -> None:
    """Print the world's manifest: where it came from, versions, seeds, settings and every quality figure."""
    # the command's work, imported when it runs: `baton --help` imports this module
    import json

    from baton.console import console, warn
    from baton.errors import InputError
    from baton.world.manifest import (
        built_worlds,
        read_manifest,
        stale_steps,
        world_dir,
        world_flags,
        world_origin,
    )
    from baton.world.report import manifest_table

    if shipped:
        # the command's work, imported when it runs: `baton --help` imports this module
        from baton.world.shipping import read_shipped_manifest, shipped_dir, shipped_summary

        folder = shipped_dir()
        found = read_shipped_manifest(folder)
        if found is None:
            raise InputError(
                "this baton ships no world (manifest.json is missing): `baton world build` trains one",
                path=folder,
            )
        if as_json:
            typer.echo(json.dumps(found, indent=2))
            return
        for line in shipped_summary(found, folder):
            console.print(line, soft_wrap=True, markup=False)
        console.print(manifest_table(found, folder, title="its figures, measured before shipping"))
        return
    root = world_dir(cache, quick=quick, seed=seed)
    manifest = read_manifest(root)
    flags = world_flags(quick=quick, seed=seed)
    if manifest is None:
        others = "; ".join(f"`baton world info{f}` shows {name}" for name, f in built_worlds(cache).items())
        raise InputError(
            f"no world is built here; run `baton world build{flags}`"
            + (f" (this cache holds: {others})" if others else ""),
            path=root,
        )
    stale = stale_steps(manifest)
    if stale:
        warn(
            f"built by an older baton: {', '.join(stale)} will be rebuilt by `baton world build{flags}`"
            " (until then it may not load)"
        )
    if as_json:
        typer.echo(json.dumps({**manifest, "origin": world_origin(manifest)}, indent=2))
        return
    console.print(manifest_table(manifest, root))


@world_app.command("ship")
def ship_command(
    world: Path = typer.Option(None, "--world", help=field_help(ShipConfig, "world")),
    to: Path = typer.Option(None, "--to", help=field_help(ShipConfig, "to")),
    dtype: str = typer.Option(None, "--dtype", help=field_help(ShipConfig, "dtype")),
    cache: Path = typer.Option(None, "--cache", help=field_help(ShipConfig, "cache")),
) -> None:
    """Write a built world's models (fp16), figures, manifest and notice into the package, to ship.

    `baton world build` then installs them, in seconds, instead of training the world.
    """
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.world.shipping import ship_world

    ship_world(load_config(ShipConfig, None, {"world": world, "to": to, "dtype": dtype, "cache": cache}))


@world_app.command("examples")
def examples_command(
    out: Path = typer.Option(Path("world-examples"), "--out", help="Folder for the WAV files."),
    seed: int = typer.Option(0, "--seed", help="Seed of the examples."),
) -> None:
    """Write one WAV per sound class and a few composed clips with their captions, to listen to."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.console import console
    from baton.world.report import write_examples

    written = write_examples(out, seed)
    console.print(f"{len(written)} files in [bold]{out}[/]")
