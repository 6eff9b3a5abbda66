import json

import pytest

from baton.errors import InputError
from baton.workers import cpu_model
from baton.world.build import WorldBuildConfig, build, step_settings
from baton.world.manifest import CODE_VERSIONS, STEPS, fingerprints, read_manifest, stale_steps, steps_needed


def test_quick_world_has_every_step_and_its_figures(quick_world):
    manifest = read_manifest(quick_world)
    assert manifest["format"] == "baton-world" and manifest["quick"] is True
    assert list(manifest["steps"]) == list(STEPS)
    assert manifest["cpu"] == cpu_model() and manifest["cpu"]  # another kind of CPU may build another world
    for name in ("t2a", "clap", "annotator", "evaluator"):
        assert (quick_world / name / "config.json").is_file()
        assert (quick_world / name / "model.safetensors").is_file()
    base = manifest["steps"]["base_eval"]["figures"]
    for task in ("single", "integrity", "temporal"):
        figure = base[f"{task}_accuracy"]
        assert 0.0 <= figure["ci_low"] <= figure["value"] <= figure["ci_high"] <= 1.0
        assert figure["n"] == 4
    assert base["fad"] >= 0.0
    assert "recall_at_1" in manifest["steps"]["clap"]["figures"]
    assert "macro_f1" in manifest["steps"]["evaluator"]["figures"]


def test_rerun_is_cached_and_a_changed_step_rebuilds_what_depends_on_it(quick_world, capsys):
    cache = quick_world.parent
    before = read_manifest(quick_world)
    build(WorldBuildConfig(quick=True, cache=cache, progress=False, eval_prompts=4))
    out = capsys.readouterr().err
    assert out.count("cached") == len(STEPS)
    assert read_manifest(quick_world)["steps"] == before["steps"]

    # Another evaluation size changes only the base evaluation's settings: only it is redone.
    build(WorldBuildConfig(quick=True, cache=cache, progress=False, eval_prompts=3))
    out = capsys.readouterr().err
    assert out.count("cached") == len(STEPS) - 1
    after = read_manifest(quick_world)
    assert after["steps"]["base_eval"]["figures"]["single_accuracy"]["n"] == 3
    for name in STEPS[:-1]:
        assert after["steps"][name] == before["steps"][name]
    # Put the session's world back as the other tests expect it.
    build(WorldBuildConfig(quick=True, cache=cache, progress=False, eval_prompts=4))


def test_fingerprints_follow_dependencies():
    settings = step_settings(WorldBuildConfig(quick=True))
    base = fingerprints(settings)
    changed = json.loads(json.dumps(settings))
    changed["corpus"]["n_clips"] += 1
    new = fingerprints(changed)
    assert {name for name in STEPS if new[name] != base[name]} == {"corpus", "t2a", "clap", "base_eval"}


def test_info_without_a_world_says_how_to_build_it(tmp_path, capsys):
    from baton.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["world", "info", "--cache", str(tmp_path)])
    assert exit_.value.code == 1
    assert "baton world build" in capsys.readouterr().err


def test_info_without_the_world_names_the_worlds_the_cache_holds(quick_world, capsys):
    from baton.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["world", "info", "--cache", str(quick_world.parent)])
    assert exit_.value.code == 1
    said = " ".join(capsys.readouterr().err.split())
    assert "run `baton world build`" in said and "`baton world info --quick` shows world-quick" in said


def test_commands_without_the_default_world_point_at_the_built_ones(quick_world, monkeypatch):
    from baton.backends.world import WorldBackend
    from baton.finetune.config import FinetuneConfig
    from baton.finetune.run import _pretrain_clips

    monkeypatch.setenv("BATON_CACHE", str(quick_world.parent))
    with pytest.raises(InputError, match=f"this cache holds {quick_world}: point --model or --world"):
        WorldBackend.load(None)
    with pytest.raises(InputError, match="default world, whose corpus it would be, is not built") as err:
        _pretrain_clips(FinetuneConfig(labels="labels.jsonl"))
    assert str(quick_world) in str(err.value) and err.value.field == "pretrain"


def test_info_prints_the_manifest(quick_world, capsys):
    from baton.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["world", "info", "--quick", "--cache", str(quick_world.parent), "--json"])
    assert exit_.value.code == 0
    assert json.loads(capsys.readouterr().out)["steps"]["t2a"]["figures"]["steps"] >= 1
    with pytest.raises(SystemExit):
        main(["world", "info", "--quick", "--cache", str(quick_world.parent)])
    shown = capsys.readouterr().err
    assert "last build:" in shown  # which steps the latest build made, and its time
    assert "built on" in " ".join(shown.split())  # the title may wrap


def test_heldout_integrity_prompts_are_capped_at_the_worlds_66_pairs():
    from baton.world.assess import heldout_prompts

    sets = heldout_prompts(100, seed=0)
    assert [len(sets[t]) for t in ("single", "integrity", "temporal")] == [100, 66, 100]
    assert len({frozenset(p.events) for p in sets["integrity"]}) == 66


def test_a_new_code_version_changes_the_fingerprint_of_its_step_and_dependants():
    settings = step_settings(WorldBuildConfig(quick=True))
    base = fingerprints(settings)
    newer = fingerprints(settings, {**CODE_VERSIONS, "t2a": CODE_VERSIONS["t2a"] + 1})
    assert {name for name in STEPS if newer[name] != base[name]} == {"t2a", "base_eval"}


def test_only_builds_the_named_steps_and_what_they_need(tmp_path, capsys):
    assert steps_needed(["clap"]) == ["corpus", "clap"]
    assert steps_needed(["base_eval"]) == ["corpus", "t2a", "clap", "evaluator", "base_eval"]
    with pytest.raises(ValueError, match="unknown steps dance"):
        WorldBuildConfig(only=["dance"])
    manifest = build(WorldBuildConfig(quick=True, cache=tmp_path, progress=False, only=["corpus"]))
    assert list(manifest["steps"]) == ["corpus"]
    assert manifest["steps"]["corpus"]["code_version"] == CODE_VERSIONS["corpus"]


def test_a_step_built_by_older_code_is_reported_and_rebuilt(tmp_path, capsys):
    from baton.artifacts import write_json
    from baton.cli import main
    from baton.world.manifest import world_dir

    build(WorldBuildConfig(quick=True, cache=tmp_path, progress=False, only=["corpus"]))
    root = world_dir(tmp_path, quick=True)
    manifest = read_manifest(root)
    manifest["steps"]["corpus"]["code_version"] = 0  # as if an older baton had built it
    write_json(root / "manifest.json", manifest)
    assert stale_steps(manifest) == ["corpus"]
    with pytest.raises(SystemExit):
        main(["world", "info", "--quick", "--cache", str(tmp_path)])
    assert "built by an older baton: corpus will be rebuilt" in capsys.readouterr().err
    # The old fingerprint (older code) no longer matches: the step is rebuilt, saying why.
    manifest["steps"]["corpus"]["fingerprint"] = "0" * 16
    write_json(root / "manifest.json", manifest)
    build(WorldBuildConfig(quick=True, cache=tmp_path, progress=False, only=["corpus"]))
    assert "built by older code, version 0: rebuilding" in capsys.readouterr().err
    assert stale_steps(read_manifest(root)) == []


def test_a_step_whose_files_are_gone_is_rebuilt_saying_so(tmp_path, capsys):
    import shutil

    from baton.world.manifest import world_dir

    build(WorldBuildConfig(quick=True, cache=tmp_path, progress=False, only=["corpus"]))
    shutil.rmtree(world_dir(tmp_path, quick=True) / "corpus")
    capsys.readouterr()
    manifest = build(WorldBuildConfig(quick=True, cache=tmp_path, progress=False, only=["corpus"]))
    assert "corpus ... (its files are missing: rebuilding)" in capsys.readouterr().err
    assert (world_dir(tmp_path, quick=True) / "corpus").is_dir()
    assert list(manifest["steps"]) == ["corpus"]


def test_sampling_settings_change_the_base_evaluation_not_the_t2a_model():
    settings = step_settings(WorldBuildConfig(quick=True))
    before = fingerprints(settings)
    for key, value in (("griffin_lim_iters", 2), ("sample_steps", 7), ("guidance_scale", 2.5)):
        changed = json.loads(json.dumps(settings))
        changed["t2a"][key] = value
        after = fingerprints(changed)
        assert after["t2a"] == before["t2a"], key  # no retraining for a sampling default
        assert after["base_eval"] != before["base_eval"], key  # but the base is sampled anew
    changed = json.loads(json.dumps(settings))
    changed["t2a"]["steps"] += 1
    assert fingerprints(changed)["t2a"] != before["t2a"]


def test_sampling_defaults_are_written_into_a_built_model(quick_world, tmp_path):
    import shutil

    from baton.world.build import apply_sampling_defaults
    from baton.world.model import WorldT2A

    model_dir = shutil.copytree(quick_world / "t2a", tmp_path / "t2a")
    built = WorldT2A.load(model_dir).config
    wanted = {"sample_steps": built.default_steps + 1, "guidance_scale": 2.5, "griffin_lim_iters": 3}
    assert apply_sampling_defaults(model_dir, wanted) is True
    config = WorldT2A.load(model_dir).config
    assert (config.default_steps, config.default_guidance, config.griffin_lim_iters) == (
        built.default_steps + 1,
        2.5,
        3,
    )
    assert apply_sampling_defaults(model_dir, wanted) is False  # already so: the file is left alone


def test_the_world_is_the_same_built_in_one_process_or_side_by_side(tmp_path, capsys):
    from baton.world.manifest import world_dir

    # The trained steps built two at a time in worker processes, and one after another in this
    # process: the corpus and every model are the same bytes.
    trained = ["t2a", "clap", "annotator", "evaluator"]
    roots = {}
    for jobs in (2, 1):
        cache = tmp_path / f"jobs{jobs}"
        manifest = build(WorldBuildConfig(quick=True, cache=cache, progress=False, only=trained, jobs=jobs))
        assert ("in its own process" in capsys.readouterr().err) == (jobs == 2)
        assert manifest["last_build"]["jobs"] == jobs and manifest["settings"]["threads"] == 1
        roots[jobs] = world_dir(cache, quick=True)
    for name in trained:
        assert (roots[1] / name / "model.safetensors").read_bytes() == (
            roots[2] / name / "model.safetensors"
        ).read_bytes(), name
    assert (roots[1] / "corpus" / "corpus.npz").read_bytes() == (
        roots[2] / "corpus" / "corpus.npz"
    ).read_bytes()
    assert read_manifest(roots[1])["steps"].keys() == read_manifest(roots[2])["steps"].keys()


def test_the_thread_count_is_part_of_every_trained_steps_fingerprint():
    one = fingerprints(step_settings(WorldBuildConfig(quick=True)))
    two = fingerprints(step_settings(WorldBuildConfig(quick=True, threads=2)))
    assert {name for name in STEPS if one[name] != two[name]} == {
        "t2a",
        "clap",
        "annotator",
        "evaluator",
        "base_eval",
    }
    with pytest.raises(ValueError, match="threads must be at least 1"):
        WorldBuildConfig(threads=0)
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        WorldBuildConfig(jobs=0)


def test_a_step_failing_in_a_worker_keeps_the_steps_that_finished(tmp_path, capsys):
    from baton.errors import InputError
    from baton.world.manifest import world_dir

    # A corpus recorded as built but whose audio is damaged: the T2A step, which reads it, fails in its
    # process; the evaluator, started beside it, is built and recorded all the same; nothing new
    # starts after the failure (the annotator waits for the next build).
    build(WorldBuildConfig(quick=True, cache=tmp_path, progress=False, only=["corpus"]))
    root = world_dir(tmp_path, quick=True)
    (root / "corpus" / "corpus.npz").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match=r"corpus\.npz: not a corpus audio file"):
        build(
            WorldBuildConfig(
                quick=True, cache=tmp_path, progress=False, jobs=2, only=["t2a", "annotator", "evaluator"]
            )
        )
    err = capsys.readouterr().err
    assert "t2a failed" in err
    steps = read_manifest(root)["steps"]
    assert "evaluator" in steps and "t2a" not in steps and "annotator" not in steps
    assert (root / "evaluator" / "model.safetensors").is_file()


def test_the_manifest_keeps_the_wall_time_of_the_run_that_built_every_step(tmp_path):
    from baton.world.build import full_build_seconds

    manifest = build(WorldBuildConfig(quick=True, cache=tmp_path, progress=False, only=["corpus"], jobs=1))
    last = manifest["last_build"]
    assert last["steps"] == ["corpus"] and last["jobs"] == 1 and last["threads"] == 1
    assert full_build_seconds(manifest) == last["wall_seconds"] >= manifest["steps"]["corpus"]["seconds"]
    # A later run that rebuilt only some of the steps says nothing about the whole build's time.
    partial = {"steps": {"corpus": {}, "t2a": {}}, "last_build": {"steps": ["t2a"], "wall_seconds": 5.0}}
    assert full_build_seconds(partial) is None
    assert full_build_seconds({"steps": {"corpus": {}}}) is None
