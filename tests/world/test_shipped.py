"""The shipped world: shipping a built world (fp16, manifest, notice), installing it into a cache in
seconds, refusing damaged files, and `baton world build|info` telling where a world came from.

Everything runs on the session's quick world, shipped into temporary folders (never into the package).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

from baton.errors import InputError
from baton.world.build import WorldBuildConfig, build
from baton.world.manifest import STEPS, read_manifest, world_dir
from baton.world.shipping import (
    DTYPES_KEY,
    ENV,
    FP16_MIN_ELEMENTS,
    MODEL_STEPS,
    ShipConfig,
    install_shipped,
    read_shipped_manifest,
    sha256_of,
    ship_world,
    verify_shipped_files,
)


def run_cli(*args: str):
    from baton.cli import build_app

    return CliRunner().invoke(build_app(), list(args))


def cli_error(capsys, *args: str) -> str:
    """The one-line error of a command that fails on bad input (exit code 1), as `baton` prints it."""
    from baton.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    assert exit_.value.code == 1
    return " ".join(capsys.readouterr().err.split())


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary folders (a shipping, installing or replaced world) left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.exists() else []


@pytest.fixture(scope="module")
def shipped(quick_world, tmp_path_factory) -> Path:
    """The quick world shipped (fp16) into a temporary folder, once for this module; tests that damage
    it work on a copy."""
    folder = tmp_path_factory.mktemp("shipped") / "shipped"
    ship_world(ShipConfig(world=quick_world, to=folder), allow_quick=True)
    return folder


@pytest.fixture
def shipped_copy(shipped, tmp_path) -> Path:
    return Path(shutil.copytree(shipped, tmp_path / "shipped-copy"))


# --- shipping -------------------------------------------------------------------------------------


def test_shipping_writes_fp16_weights_records_a_manifest_and_a_notice(quick_world, shipped):
    world = read_manifest(quick_world)
    manifest = read_shipped_manifest(shipped)
    assert (manifest["format"], manifest["version"], manifest["dtype"]) == ("baton-shipped-world", 1, "fp16")
    assert manifest["settings"] == world["settings"] and manifest["recipe"] == "v1"
    assert manifest["code_versions"] == world["code_versions"] and manifest["quick"] is True
    for key in ("cpu", "torch", "numpy", "python", "baton"):
        assert manifest[key] == world[key], key
    for name in STEPS:
        assert manifest["steps"][name]["figures"] == world["steps"][name]["figures"], name
        assert manifest["steps"][name]["seconds"] == world["steps"][name]["seconds"], name
    assert manifest["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", manifest["git_commit"])
    # Every file listed with its digest and size; the models' files, the base figures and the notice.
    listed = set(manifest["files"])
    for name in MODEL_STEPS:
        assert {f"{name}/config.json", f"{name}/model.safetensors"} <= listed
    assert {"t2a/training.json", "base_eval/figures.json", "NOTICE.md"} <= listed
    verify_shipped_files(shipped, manifest)
    notice = (shipped / "NOTICE.md").read_text()
    assert "Apache License 2.0" in notice and "no third-party" in notice.lower()
    assert leftovers(shipped.parent) == []  # the temporary folder was renamed into place

    # Large float tensors in fp16 (their original dtype in the metadata), small ones left fp32.
    source = load_file(str(quick_world / "t2a" / "model.safetensors"))
    stored = load_file(str(shipped / "t2a" / "model.safetensors"))
    with safe_open(str(shipped / "t2a" / "model.safetensors"), framework="pt") as handle:
        original = json.loads(handle.metadata()[DTYPES_KEY])
    halves = {k for k, t in stored.items() if t.dtype == torch.float16}
    assert halves == set(original) and halves
    for key, tensor in source.items():
        big = tensor.is_floating_point() and tensor.numel() >= FP16_MIN_ELEMENTS
        assert (key in halves) == big, key
        assert torch.equal(stored[key], tensor.half() if big else tensor), key
    assert (shipped / "t2a" / "model.safetensors").stat().st_size < (
        0.6 * (quick_world / "t2a" / "model.safetensors").stat().st_size
    )


def test_shipping_in_fp32_keeps_the_weights_as_they_are(quick_world, tmp_path):
    manifest = ship_world(ShipConfig(world=quick_world, to=tmp_path / "s", dtype="fp32"), allow_quick=True)
    assert manifest["dtype"] == "fp32"
    for name in MODEL_STEPS:
        source = load_file(str(quick_world / name / "model.safetensors"))
        stored = load_file(str(tmp_path / "s" / name / "model.safetensors"))
        assert all(torch.equal(stored[k], t) and stored[k].dtype == t.dtype for k, t in source.items())


def test_shipping_refuses_a_quick_an_incomplete_or_too_large_world(
    quick_world, tmp_path, monkeypatch, capsys
):
    import baton.world.shipping as shipped_module

    # A quick world only through the API's allow_quick: the command line refuses it.
    said = cli_error(capsys, "world", "ship", "--world", str(quick_world), "--to", str(tmp_path / "out"))
    assert "a quick world is for tests" in said
    assert not (tmp_path / "out").exists()

    # A step missing: named.
    incomplete = Path(
        shutil.copytree(quick_world, tmp_path / "incomplete", ignore=shutil.ignore_patterns("*.npz"))
    )
    shutil.rmtree(incomplete / "evaluator")
    with pytest.raises(InputError, match="incomplete: step evaluator is not built"):
        ship_world(ShipConfig(world=incomplete, to=tmp_path / "out"), allow_quick=True)

    # Over the size limit: refused naming the size, nothing left behind.
    monkeypatch.setattr(shipped_module, "MAX_SHIPPED_BYTES", 100_000)
    with pytest.raises(InputError, match=r"would be 1\.\d MB, more than the package may carry \(0 MB\)"):
        ship_world(ShipConfig(world=quick_world, to=tmp_path / "out"), allow_quick=True)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


# --- installing -----------------------------------------------------------------------------------


def test_install_into_an_empty_cache_from_relative_paths(quick_world, shipped, tmp_path, monkeypatch, capsys):
    from baton.backends.world import WorldBackend
    from baton.world.clap import WorldClap
    from baton.world.detectors import EventDetector

    # Relative paths, from another working folder.
    work = tmp_path / "work"
    shutil.copytree(shipped, work / "pkg" / "shipped")
    monkeypatch.chdir(work)
    started = time.perf_counter()
    manifest = install_shipped(Path("pkg/shipped"), Path("cache"), progress=False)
    seconds = time.perf_counter() - started
    root = work / "cache" / "world-quick"
    assert read_manifest(root) == manifest
    assert sorted(p.name for p in (work / "cache").iterdir()) == ["world-quick"]  # no temporary folder
    assert "installed from the shipped world in" in capsys.readouterr().err
    assert seconds < 30, seconds  # seconds, not a training (about 2 s on a busy 2-core machine)

    # The world's manifest: where it came from, and the fingerprints a build of its settings gives.
    origin = manifest["origin"]
    assert origin["kind"] == "shipped" and origin["recipe"] == "v1"
    assert origin["manifest_sha256"] == sha256_of(work / "pkg" / "shipped" / "manifest.json")
    source = read_manifest(quick_world)
    for name in STEPS:
        assert manifest["steps"][name]["fingerprint"] == source["steps"][name]["fingerprint"], name
    assert manifest["settings"] == source["settings"]
    # The corpus is made again, the same bytes (fine-tuning's pretraining data).
    assert (root / "corpus" / "corpus.npz").read_bytes() == (
        quick_world / "corpus" / "corpus.npz"
    ).read_bytes()

    # Every model loads from its usual float32 files: the source's weights rounded to fp16, bit for bit.
    for name in MODEL_STEPS:
        original = load_file(str(quick_world / name / "model.safetensors"))
        installed = load_file(str(root / name / "model.safetensors"))
        assert installed.keys() == original.keys()
        for key, tensor in original.items():
            big = tensor.is_floating_point() and tensor.numel() >= FP16_MIN_ELEMENTS
            wanted = tensor.half().to(tensor.dtype) if big else tensor
            assert installed[key].dtype == tensor.dtype and torch.equal(installed[key], wanted), (name, key)
    backend = WorldBackend.load(root / "t2a")
    (clip,) = backend.generate(["a beep then a knock"], [0])
    assert clip.shape == (64000,) and bool(torch.isfinite(torch.from_numpy(clip)).all())
    WorldClap.load(root / "clap")
    EventDetector.load(root / "evaluator")
    EventDetector.load(root / "annotator")

    # A rerun installs nothing.
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    again = install_shipped(Path("pkg/shipped"), Path("cache"), progress=False)
    assert again == manifest and {p: p.stat().st_mtime_ns for p in root.rglob("*")} == mtimes
    assert "installed from the shipped world (cached)" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_a_damaged_file_is_refused_and_nothing_is_installed(shipped_copy, tmp_path, damage):
    weights = shipped_copy / "t2a" / "model.safetensors"
    expected = read_shipped_manifest(shipped_copy)["files"]["t2a/model.safetensors"]["sha256"]
    data = bytearray(weights.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(InputError) as error:
        install_shipped(shipped_copy, cache, progress=False)
    message = str(error.value)
    assert str(weights) in message and expected in message and "\n" not in message
    assert not world_dir(cache, quick=True).exists() and leftovers(cache) == []


def test_an_older_world_is_replaced_only_on_success(shipped, shipped_copy, tmp_path, monkeypatch):
    import baton.world.corpus as corpus_module

    cache = tmp_path / "cache"
    old = world_dir(cache, quick=True)
    (old / "t2a").mkdir(parents=True)
    (old / "t2a" / "model.safetensors").write_bytes(b"an older world's weights")
    (old / "manifest.json").write_text(json.dumps({"format": "baton-world", "version": 1, "steps": {}}))
    before = {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()}

    def unchanged() -> bool:
        now = {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()}
        return now == before and leftovers(cache) == []

    # A damaged shipped world: refused before anything is written.
    (shipped_copy / "clap" / "config.json").write_text("{}")
    with pytest.raises(InputError, match="clap/config.json: damaged"):
        install_shipped(shipped_copy, cache, progress=False)
    assert unchanged()

    # A failure halfway (the corpus step): the half-installed folder goes, the old world stays.
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(corpus_module, "build_world_corpus", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        install_shipped(shipped, cache, progress=False)
    assert unchanged()
    monkeypatch.undo()

    # Success: the new world in its place, the old one gone.
    manifest = install_shipped(shipped, cache, progress=False)
    assert read_manifest(old) == manifest and list(manifest["steps"]) == list(STEPS)
    assert (old / "t2a" / "model.safetensors").read_bytes() != before[Path("t2a/model.safetensors")]
    assert sorted(p.name for p in cache.iterdir()) == ["world-quick"]


def test_a_long_pretraining_in_the_world_folder_is_never_replaced(shipped, tmp_path):
    cache = tmp_path / "cache"
    run = world_dir(cache, quick=True) / "t2a-run" / "checkpoints"
    run.mkdir(parents=True)
    with pytest.raises(InputError, match=r"holds a T2A pretraining of its own \(t2a-run/\)"):
        install_shipped(shipped, cache, progress=False)
    assert run.is_dir()


# --- `baton world build` and `baton world info` -----------------------------------------------------


def test_build_installs_the_shipped_world_unless_a_recipe_is_given(
    quick_world, shipped, shipped_copy, tmp_path, monkeypatch, capsys
):
    cache = tmp_path / "cache"
    monkeypatch.setenv(ENV, str(shipped))
    result = run_cli("world", "build", "--quick", "--cache", str(cache), "--no-progress")
    assert result.exit_code == 0, result.output
    root = world_dir(cache, quick=True)
    assert read_manifest(root)["origin"]["kind"] == "shipped"

    # `world info`: the table and --json say where the world came from.
    result = run_cli("world", "info", "--quick", "--cache", str(cache))
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and "origin: shipped (recipe v1, trained" in said and "commit" in said
    result = run_cli("world", "info", "--quick", "--cache", str(cache), "--json")
    assert json.loads(result.output)["origin"]["recipe"] == "v1"
    # ... and `world info --shipped` the shipped world itself, without installing anything.
    result = run_cli("world", "info", "--shipped")
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and f"shipped world in {shipped}" in said and "weights in fp16" in said

    # A rerun does nothing; a build setting only a training uses is refused, not ignored.
    build(WorldBuildConfig(quick=True, cache=cache, progress=False))
    assert "installed from the shipped world (cached)" in capsys.readouterr().err
    with pytest.raises(
        InputError,
        match=r"field 'eval_prompts': a training's setting \(--eval-prompts\), but without --recipe",
    ):
        build(WorldBuildConfig(quick=True, cache=cache, progress=False, eval_prompts=3))

    # Another shipped manifest (other digest): installed anew.
    manifest = json.loads((shipped_copy / "manifest.json").read_text())
    manifest["shipped"] = "another day"
    (shipped_copy / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv(ENV, str(shipped_copy))
    installed = build(WorldBuildConfig(quick=True, cache=cache, progress=False))
    assert "installed from the shipped world in" in capsys.readouterr().err
    assert installed["origin"]["manifest_sha256"] == sha256_of(shipped_copy / "manifest.json")

    # An explicit recipe trains here, from nothing: the shipped step is trained, the corpus reused.
    trained = build(WorldBuildConfig(quick=True, cache=cache, progress=False, recipe="v1", only=["clap"]))
    err = " ".join(capsys.readouterr().err.split())
    assert "corpus: cached" in err and "clap ... (installed from the shipped world: trained here" in err
    assert "shipped" not in trained["steps"]["clap"] and trained["steps"]["t2a"]["shipped"] is True
    assert trained["origin"]["kind"] == "shipped" and trained["origin"]["trained_here"] == ["clap"]
    # Trained again, the same float32 weights as the source world's (not the shipped fp16 ones).
    retrained = load_file(str(root / "clap" / "model.safetensors"))
    source = load_file(str(quick_world / "clap" / "model.safetensors"))
    assert all(torch.equal(retrained[k], t) for k, t in source.items())
    result = run_cli("world", "info", "--quick", "--cache", str(cache))
    assert "trained here since: clap" in " ".join(result.output.split())


def test_a_world_built_here_says_so_and_no_shipped_world_is_an_error(
    quick_world, tmp_path, monkeypatch, capsys
):
    result = run_cli("world", "info", "--quick", "--cache", str(quick_world.parent))
    assert "origin: built here (recipe v1)" in " ".join(result.output.split())
    monkeypatch.setenv(ENV, str(tmp_path / "none"))
    assert "this baton ships no world" in cli_error(capsys, "world", "info", "--shipped")


def test_the_package_data_carries_a_shipped_world():
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    for pattern in ("world/shipped/*/*.safetensors", "world/shipped/*/*.json", "world/shipped/*.md"):
        assert f'"{pattern}"' in pyproject, pattern


def test_the_packages_own_shipped_world_is_whole_and_readable_by_this_code():
    """Once the package ships a world: every file as its manifest says, built by this code's versions
    (a step's code version raised without shipping anew would make `baton world build` train)."""
    from baton.world.manifest import CODE_VERSIONS
    from baton.world.shipping import package_shipped_dir

    manifest = read_shipped_manifest(package_shipped_dir())
    if manifest is None:
        pytest.skip("this checkout ships no world yet")
    verify_shipped_files(package_shipped_dir(), manifest)
    assert manifest["code_versions"] == CODE_VERSIONS
    assert manifest["quick"] is False and manifest["seed"] == 0


def test_the_shipped_world_is_what_its_recipe_trains():
    """`baton world build --recipe v2` trains the shipped world again: the recipe's settings today are
    the ones it was trained with, so a change to the recipe must ship anew."""
    from baton.world.build import WorldBuildConfig, step_settings
    from baton.world.shipping import package_shipped_dir

    manifest = read_shipped_manifest(package_shipped_dir())
    if manifest is None:
        pytest.skip("this checkout ships no world yet")
    settings = step_settings(WorldBuildConfig(recipe=manifest["recipe"]))
    for name in manifest["steps"]:
        assert manifest["settings"][name] == settings[name], f"{name}: the recipe changed since it shipped"
